// SPDX-License-Identifier: Apache-2.0
// What an op needs to queue a kernel: the stream, the device SM it runs as,
// and where a kernel reports bad input it refused to act on.
#ifndef FD_PLATFORM_LAUNCH_H
#define FD_PLATFORM_LAUNCH_H

#include "fdeploy/context.h"

#ifdef __cplusplus
extern "C" {
#endif

// Kinds of input error a kernel can raise (fd_ctx_sync turns them into messages).
enum {
    FD_KERR_NONE = 0,
    FD_KERR_INDEX = 1,      // an index/id outside its range: value a, slot b
    FD_KERR_LENGTH = 2,     // a length that does not add up: value a, expected b
    FD_KERR_VALUE = 3,      // data the op cannot use (e.g. a row with no positive probability): a, b
};

// Device status word: {op id + 1, kind, a, b}; first error wins.
#define FD_KERR_WORDS 4

typedef struct fd__launch {
    void *stream;      // cudaStream_t
    int *err;          // device int[FD_KERR_WORDS]
    int op;            // FD_OP_ID_* of the op launching
    int sm;            // effective SM of the kernels
    int device;
} fd__launch;

// Picks the variant for (op, dtype) on ctx; on CUDA fills *launch.
fd_status fd__ctx_begin(fd_ctx *ctx, int op, fd_dtype dtype, int *variant,
                        fd__launch *launch);

// Checks a launch (cudaGetLastError) and, with FDEPLOY_SYNC=1, waits for it so
// that an asynchronous fault names its op. Implemented in ops/cuda/launch_check.cu.
fd_status fd__cuda_after_launch(const fd__launch *l);

#ifdef __cplusplus
}
#endif
#endif
