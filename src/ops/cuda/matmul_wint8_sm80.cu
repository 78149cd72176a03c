// SPDX-License-Identifier: Apache-2.0
// matmul_wint8, SM80 variant (f16 and bf16 activations, int8 weights): the
// kernels of matmul_wint8 (matmul_tile.cuh, roofline there) instantiated for bf16
// too, whose 16x16x16 WMMA fragments exist from SM80 on.
#include "ops/cuda/matmul_tile.cuh"

// Bodies only for SM80+: in a mixed build this file is also compiled for sm_70,
// where the op table never launches it.
template <typename T, typename WT, class C, bool VEC>
static __global__ void __launch_bounds__(256) w8_80_tile(mm_params p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    mm_tile<T, WT, C, VEC>(p);
#endif
}

template <typename T, typename WT, int MR, bool VEC>
static __global__ void __launch_bounds__(MM_GEMV_THREADS) w8_80_gemv(mm_params p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    mm_gemv<T, WT, MR, VEC>(p);
#endif
}

struct w8_80_kernels {
    template <typename T, typename WT, class C, bool VEC>
    static void tile(dim3 grid, cudaStream_t st, const mm_params &p) {
        w8_80_tile<T, WT, C, VEC><<<grid, C::THREADS, 0, st>>>(p);
    }
    template <typename T, typename WT, int MR, bool VEC>
    static void gemv(dim3 grid, cudaStream_t st, const mm_params &p) {
        w8_80_gemv<T, WT, MR, VEC><<<grid, MM_GEMV_THREADS, 0, st>>>(p);
    }
};

extern "C" fd_status fd__cuda_matmul_wint8_sm80(const fd__launch *l, const fd__matmul_args *a) {
    if (!a->scale) return fd__error(FD_ERR_INTERNAL, "matmul_wint8_sm80: called without scales");
    if (a->dtype == FD_F16) return mm_launch<w8_80_kernels, __half, int8_t>(l, a);
    if (a->dtype == FD_BF16) return mm_launch<w8_80_kernels, fd_bf16, int8_t>(l, a);
    return fd__error(FD_ERR_INTERNAL, "matmul_wint8_sm80: called with %s", fd_dtype_name(a->dtype));
}
