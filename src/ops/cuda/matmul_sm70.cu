// SPDX-License-Identifier: Apache-2.0
// matmul, SM70 variant (f16): HMMA tensor cores through WMMA 16x16x16 f16
// fragments with f32 accumulators, or the GEMV for M <= 8. The kernels' bodies
// and roofline are in matmul_tile.cuh; this file instantiates them for f16.
#include "ops/cuda/matmul_tile.cuh"

FD_MM_KERNELS(mm70)

extern "C" fd_status fd__cuda_matmul_sm70(const fd__launch *l, const fd__matmul_args *a) {
    if (a->dtype != FD_F16 || a->scale)
        return fd__error(FD_ERR_INTERNAL, "matmul_sm70: called with %s%s", fd_dtype_name(a->dtype),
                         a->scale ? " and int8 weights" : "");
    return mm_launch<mm70_kernels, __half, __half>(l, a);
}
