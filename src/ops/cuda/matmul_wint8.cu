// SPDX-License-Identifier: Apache-2.0
// matmul_wint8, SM70 variant (f16 activations, int8 weights): HMMA tensor cores
// through WMMA 16x16x16 f16 fragments with f32 accumulators, or the GEMV for
// M <= 8. Int8 weights are
// converted to f16 (exact) on their way to shared memory / registers and the
// per-channel scale is applied to the f32 sum: never expanded in memory. Weight
// bytes are half of f16, so decode (memory bound) runs up to 2x faster. See
// matmul_tile.cuh for the kernels and roofline.
#include "ops/cuda/matmul_tile.cuh"

template <typename T, typename WT, class C, bool VEC>
static __global__ void __launch_bounds__(256) w8_70_tile(mm_params p) {
    mm_tile<T, WT, C, VEC>(p);
}

template <typename T, typename WT, int MR, bool VEC>
static __global__ void __launch_bounds__(MM_GEMV_THREADS) w8_70_gemv(mm_params p) {
    mm_gemv<T, WT, MR, VEC>(p);
}

struct w8_70_kernels {
    template <typename T, typename WT, class C, bool VEC>
    static void tile(dim3 grid, cudaStream_t st, const mm_params &p) {
        w8_70_tile<T, WT, C, VEC><<<grid, C::THREADS, 0, st>>>(p);
    }
    template <typename T, typename WT, int MR, bool VEC>
    static void gemv(dim3 grid, cudaStream_t st, const mm_params &p) {
        w8_70_gemv<T, WT, MR, VEC><<<grid, MM_GEMV_THREADS, 0, st>>>(p);
    }
};

extern "C" fd_status fd__cuda_matmul_wint8(const fd__launch *l, const fd__matmul_args *a) {
    if (a->dtype != FD_F16 || !a->scale)
        return fd__error(FD_ERR_INTERNAL, "matmul_wint8: called with %s%s", fd_dtype_name(a->dtype),
                         a->scale ? "" : " and no scale");
    return mm_launch<w8_70_kernels, __half, int8_t>(l, a);
}
