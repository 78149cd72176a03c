// SPDX-License-Identifier: Apache-2.0
// Execution context: where operators run (CPU or one CUDA device), its stream,
// and its memory. Tensors passed to ops live in the context's memory.
#ifndef FDEPLOY_CONTEXT_H
#define FDEPLOY_CONTEXT_H

#include <stddef.h>
#include "fdeploy/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fd_ctx fd_ctx;

// device = FD_CPU_DEVICE for the C reference backend, or a CUDA device index.
// Borrows `p`, which must outlive the context.
fd_status fd_ctx_create(const fd_platform *p, int device, fd_ctx **out);
void fd_ctx_free(fd_ctx *ctx);

int fd_ctx_device(const fd_ctx *ctx);            // FD_CPU_DEVICE or CUDA index
int fd_ctx_is_cuda(const fd_ctx *ctx);
int fd_ctx_effective_sm(const fd_ctx *ctx);      // 0 on CPU
const fd_platform *fd_ctx_platform(const fd_ctx *ctx);

// Memory in the context's address space (host or device).
fd_status fd_ctx_alloc(fd_ctx *ctx, size_t bytes, void **out);
void fd_ctx_release(fd_ctx *ctx, void *ptr);
fd_status fd_ctx_upload(fd_ctx *ctx, void *dst, const void *host_src, size_t bytes);
fd_status fd_ctx_download(fd_ctx *ctx, void *host_dst, const void *src, size_t bytes);
fd_status fd_ctx_memset(fd_ctx *ctx, void *dst, int value, size_t bytes);
// Copies `rows` rows of width_bytes within the context's memory, between buffers
// with row pitches dst_pitch / src_pitch (>= width_bytes); queued, no sync.
fd_status fd_ctx_copy_2d(fd_ctx *ctx, void *dst, size_t dst_pitch, const void *src, size_t src_pitch,
                         size_t width_bytes, size_t rows);

// Graphs (CUDA graphs): the work queued on ctx between capture_begin and
// capture_end is recorded instead of run, and fd_graph_launch replays it with one
// launch (same buffers, same shapes; the data in the buffers may change). Nothing
// queued may synchronize meanwhile. capture_end always ends the capture; on failure
// *out is NULL and the error says why. CPU contexts: FD_ERR_UNSUPPORTED_DTYPE.
typedef struct fd_graph fd_graph;
fd_status fd_ctx_capture_begin(fd_ctx *ctx);
fd_status fd_ctx_capture_end(fd_ctx *ctx, fd_graph **out);
fd_status fd_graph_launch(fd_ctx *ctx, fd_graph *g);
void fd_graph_free(fd_graph *g);

// Waits for queued work and reports the first error a kernel raised since the
// last sync (e.g. an out-of-range token id), naming the op.
fd_status fd_ctx_sync(fd_ctx *ctx);

// The CUDA stream (cudaStream_t) ops are queued on; NULL on CPU.
void *fd_ctx_stream(const fd_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
