// SPDX-License-Identifier: Apache-2.0
// add kernel (SM70+): out = a + b elementwise, f32 math, one rounding.
// Roofline: memory bound, 3 * n * sizeof(T) bytes for n FLOPs; 16-byte
// accesses when the pointers allow, grid-stride loop.
#include "ops/cuda/common.cuh"
#include "ops/model_launch.h"

#define ADD_THREADS 256

template <typename T, int VN> struct __align__(sizeof(T) * VN) add_vec { T v[VN]; };

template <typename T, int VN>
static __global__ void __launch_bounds__(ADD_THREADS)
add_kernel(const T *a, const T *b, T *out, int64_t n) {
    typedef add_vec<T, VN> V;
    const int64_t nv = n / VN, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < nv; i += stride) {
        V x = ((const V *)a)[i], y = ((const V *)b)[i], o;
#pragma unroll
        for (int e = 0; e < VN; e++) o.v[e] = fd_from_f32<T>(fd_to_f32(x.v[e]) + fd_to_f32(y.v[e]));
        ((V *)out)[i] = o;
    }
    for (int64_t i = nv * VN + (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        out[i] = fd_from_f32<T>(fd_to_f32(a[i]) + fd_to_f32(b[i]));  // tail
}

extern "C" fd_status fd__cuda_add(const fd__launch *l, const void *a, const void *b, void *out,
                                  int64_t n, fd_dtype dtype) {
    if (n == 0) return FD_OK;
    cudaStream_t st = (cudaStream_t)l->stream;
    const bool vec = ((uintptr_t)a | (uintptr_t)b | (uintptr_t)out) % 16 == 0;
    FD_DISPATCH_FLOAT(dtype, {
        constexpr int VN = 16 / sizeof(T);
        if (vec)
            add_kernel<T, VN><<<fd_blocks(n / VN + 1, ADD_THREADS), ADD_THREADS, 0, st>>>(
                (const T *)a, (const T *)b, (T *)out, n);
        else
            add_kernel<T, 1><<<fd_blocks(n, ADD_THREADS), ADD_THREADS, 0, st>>>(
                (const T *)a, (const T *)b, (T *)out, n);
    });
    return fd__cuda_after_launch(l);
}
