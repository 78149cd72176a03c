// SPDX-License-Identifier: Apache-2.0
// matmul, SM70 variant (f16): HMMA tensor cores through WMMA 16x16x16 f16
// fragments with f32 accumulators, or the GEMV for M <= 8. The kernels' bodies
// and roofline are in matmul_tile.cuh; this file instantiates them for f16.
#include "ops/cuda/matmul_tile.cuh"

template <typename T, typename WT, class C, bool VEC>
static __global__ void __launch_bounds__(256) mm70_tile(mm_params p) {
    mm_tile<T, WT, C, VEC>(p);
}

template <typename T, typename WT, int MR, bool VEC>
static __global__ void __launch_bounds__(MM_GEMV_THREADS) mm70_gemv(mm_params p) {
    mm_gemv<T, WT, MR, VEC>(p);
}

struct mm70_kernels {
    template <typename T, typename WT, class C, bool VEC>
    static void tile(dim3 grid, cudaStream_t st, const mm_params &p) {
        mm70_tile<T, WT, C, VEC><<<grid, C::THREADS, 0, st>>>(p);
    }
    template <typename T, typename WT, int MR, bool VEC>
    static void gemv(dim3 grid, cudaStream_t st, const mm_params &p) {
        mm70_gemv<T, WT, MR, VEC><<<grid, MM_GEMV_THREADS, 0, st>>>(p);
    }
};

extern "C" fd_status fd__cuda_matmul_sm70(const fd__launch *l, const fd__matmul_args *a) {
    if (a->dtype != FD_F16 || a->scale)
        return fd__error(FD_ERR_INTERNAL, "matmul_sm70: called with %s%s", fd_dtype_name(a->dtype),
                         a->scale ? " and int8 weights" : "");
    return mm_launch<mm70_kernels, __half, __half>(l, a);
}
