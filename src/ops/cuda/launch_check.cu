// SPDX-License-Identifier: Apache-2.0
// The check after every kernel launch.
#include <cuda_runtime.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "platform/launch.h"

extern "C" const char *fd_op_name(int op);

extern "C" fd_status fd__cuda_after_launch(const fd__launch *l) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) {
        const char *sync = getenv("FDEPLOY_SYNC");
        if (sync && strcmp(sync, "1") == 0) e = cudaStreamSynchronize((cudaStream_t)l->stream);
    }
    if (e != cudaSuccess)
        return fd__error(FD_ERR_CUDA, "%s: kernel failed on device %d (SM%d): %s",
                         fd_op_name(l->op), l->device, l->sm, cudaGetErrorString(e));
    return FD_OK;
}
