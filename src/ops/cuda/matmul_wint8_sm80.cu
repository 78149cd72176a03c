// SPDX-License-Identifier: Apache-2.0
// matmul_wint8, SM80 variant (f16 and bf16 activations, int8 weights): the
// kernels of matmul_wint8 (matmul_tile.cuh, roofline there) instantiated for bf16
// too, whose 16x16x16 WMMA fragments exist from SM80 on.
#include "ops/cuda/matmul_tile.cuh"

FD_MM_KERNELS(w8_80)

extern "C" fd_status fd__cuda_matmul_wint8_sm80(const fd__launch *l, const fd__matmul_args *a) {
    if (!a->scale) return fd__error(FD_ERR_INTERNAL, "matmul_wint8_sm80: called without scales");
    if (a->dtype == FD_F16) return mm_launch<w8_80_kernels, __half, int8_t>(l, a);
    if (a->dtype == FD_BF16) return mm_launch<w8_80_kernels, fd_bf16, int8_t>(l, a);
    return fd__error(FD_ERR_INTERNAL, "matmul_wint8_sm80: called with %s", fd_dtype_name(a->dtype));
}
