// SPDX-License-Identifier: Apache-2.0
// gelu_tanh_and_mul kernels (SM70+): out[m, j] = gelu_tanh(x[m, j]) * x[m, I + j],
// math in f32 (bf16 through float), the tanh-GELU of gelu_tanh.cuh with the
// accurate tanhf (Volta has no tanh.approx; vLLM's gelu_tanh_and_mul uses tanhf
// too, and it keeps the C reference within a few ulps on every arch).
// Roofline: memory bound, reads 2*M*I and writes M*I elements (3*sizeof(T)
// bytes per output) for ~12 FLOPs plus one tanhf (~20 more): ~5 flop/byte in
// f16, under the ~17-20 flop/byte f32 ridge of V100/H100. 16-byte vectors when I
// and the pointers allow, grid-stride, coalesced along j.
#include "ops/cuda/gelu_tanh.cuh"
#include "ops/ffn_launch.h"

#define GM_THREADS 256

struct gm_tanh_accurate {
    static __device__ __forceinline__ float f(float x) { return tanhf(x); }
};

// VN elements per access; requires I % VN == 0 and 16-byte aligned x and out
// when VN > 1 (then every gate, up and out vector is aligned).
template <typename T, int VN>
static __global__ void __launch_bounds__(GM_THREADS)
gelu_tanh_and_mul_kernel(const T *__restrict__ x, T *__restrict__ out, int64_t m,
                         int64_t inter) {
    typedef gelu_vec<T, VN> V;
    const int64_t iv = inter / VN, total = m * iv;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / iv, j = (i - r * iv) * VN;
        const V g = *(const V *)(x + r * 2 * inter + j);
        const V u = *(const V *)(x + r * 2 * inter + inter + j);
        V o;
#pragma unroll
        for (int e = 0; e < VN; e++) {
            const float a = gelu_f<gm_tanh_accurate>(fd_to_f32(g.v[e]));
            o.v[e] = fd_from_f32<T>(a * fd_to_f32(u.v[e]));
        }
        *(V *)(out + r * inter + j) = o;
    }
}

extern "C" fd_status fd__cuda_gelu_tanh_and_mul(const fd__launch *l, const void *x, void *out,
                                                int64_t m, int64_t inter, fd_dtype dtype) {
    if (m == 0 || inter == 0) return FD_OK;
    cudaStream_t st = (cudaStream_t)l->stream;
    const bool aligned = ((uintptr_t)x | (uintptr_t)out) % 16 == 0;
    FD_DISPATCH_FLOAT(dtype, {
        constexpr int VN = 16 / sizeof(T);
        if (aligned && inter % VN == 0)
            gelu_tanh_and_mul_kernel<T, VN>
                <<<fd_blocks(m * inter / VN, GM_THREADS), GM_THREADS, 0, st>>>(
                    (const T *)x, (T *)out, m, inter);
        else
            gelu_tanh_and_mul_kernel<T, 1><<<fd_blocks(m * inter, GM_THREADS), GM_THREADS, 0, st>>>(
                (const T *)x, (T *)out, m, inter);
    });
    return fd__cuda_after_launch(l);
}
