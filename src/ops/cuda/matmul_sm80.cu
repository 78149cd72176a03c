// SPDX-License-Identifier: Apache-2.0
// matmul, SM80 variant (f16 and bf16): the same WMMA tile GEMM / GEMV as
// matmul_sm70 (matmul_tile.cuh, roofline there), instantiated for bf16 too,
// whose 16x16x16 WMMA fragments exist from SM80 on.
#include "ops/cuda/matmul_tile.cuh"

FD_MM_KERNELS(mm80)

extern "C" fd_status fd__cuda_matmul_sm80(const fd__launch *l, const fd__matmul_args *a) {
    if (a->scale) return fd__error(FD_ERR_INTERNAL, "matmul_sm80: called with int8 weights");
    if (a->dtype == FD_F16) return mm_launch<mm80_kernels, __half, __half>(l, a);
    if (a->dtype == FD_BF16) return mm_launch<mm80_kernels, fd_bf16, fd_bf16>(l, a);
    return fd__error(FD_ERR_INTERNAL, "matmul_sm80: called with %s", fd_dtype_name(a->dtype));
}
