// SPDX-License-Identifier: Apache-2.0
// scale kernel (SM70+): out = a * s elementwise, f32 product, one rounding
// (bf16 through float: Volta has no bf16 arithmetic).
// Roofline: memory bound, 2 * n * sizeof(T) bytes for n FLOPs (0.25 flop/byte
// in f16); 16-byte accesses when the pointers allow, grid-stride loop.
#include "ops/cuda/common.cuh"
#include "ops/model_launch.h"

#define SCALE_THREADS 256

template <typename T, int VN> struct __align__(sizeof(T) * VN) scale_vec { T v[VN]; };

// a == out is allowed: each element is read and written by the same thread.
template <typename T, int VN>
static __global__ void __launch_bounds__(SCALE_THREADS)
scale_kernel(const T *a, float s, T *out, int64_t n) {
    typedef scale_vec<T, VN> V;
    const int64_t nv = n / VN, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < nv; i += stride) {
        V x = ((const V *)a)[i], o;
#pragma unroll
        for (int e = 0; e < VN; e++) o.v[e] = fd_from_f32<T>(fd_to_f32(x.v[e]) * s);
        ((V *)out)[i] = o;
    }
    for (int64_t i = nv * VN + (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        out[i] = fd_from_f32<T>(fd_to_f32(a[i]) * s);  // tail
}

extern "C" fd_status fd__cuda_scale(const fd__launch *l, const void *a, float s, void *out,
                                    int64_t n, fd_dtype dtype) {
    if (n == 0) return FD_OK;
    cudaStream_t st = (cudaStream_t)l->stream;
    const bool vec = ((uintptr_t)a | (uintptr_t)out) % 16 == 0;
    FD_DISPATCH_FLOAT(dtype, {
        constexpr int VN = 16 / sizeof(T);
        if (vec)
            scale_kernel<T, VN><<<fd_blocks(n / VN + 1, SCALE_THREADS), SCALE_THREADS, 0, st>>>(
                (const T *)a, s, (T *)out, n);
        else
            scale_kernel<T, 1><<<fd_blocks(n, SCALE_THREADS), SCALE_THREADS, 0, st>>>(
                (const T *)a, s, (T *)out, n);
    });
    return fd__cuda_after_launch(l);
}
