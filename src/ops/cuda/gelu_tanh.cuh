// SPDX-License-Identifier: Apache-2.0
// gelu_tanh kernel body shared by its two variants (gelu_tanh.cu: accurate
// tanhf, SM70+; gelu_tanh_sm75.cu: tanh.approx.f32, SM75+), which differ only
// in the Tanh functor. Elementwise, flat over the tensor: a grid-stride loop of
// 16-byte vectors, then the < 16/sizeof(T) leftover elements one by one.
// Roofline: memory bound, 2*sizeof(T) bytes per element for ~10 flops plus
// one tanh (tanhf ~20 more): <= ~8 flop/byte in f16, under the ~17-20 flop/byte
// f32 ridge of V100/H100, so the kernel aims at DRAM bandwidth.
#ifndef FD_OPS_CUDA_GELU_TANH_CUH
#define FD_OPS_CUDA_GELU_TANH_CUH

#include "ops/cuda/common.cuh"
#include "ops/layers_launch.h"

#define GELU_THREADS 256
#define GELU_MAX_BLOCKS 4096   // enough waves for any GPU; the loop covers the rest

template <typename T, int N> struct alignas(sizeof(T) * N) gelu_vec { T v[N]; };

template <typename Tanh>
static __device__ __forceinline__ float gelu_f(float x) {
    const float k0 = 0.7978845608f, k1 = 0.044715f;  // sqrt(2/pi), FastDeploy's constants
    return 0.5f * x * (1.0f + Tanh::f(k0 * (x + k1 * x * x * x)));
}

// in == out is allowed: each element is read and written by the same thread.
template <typename T, int N, typename Tanh>
static __global__ void __launch_bounds__(GELU_THREADS)
gelu_tanh_kernel(const T *in, T *out, int64_t n) {
    const int64_t nv = n / N, stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t i0 = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    for (int64_t i = i0; i < nv; i += stride) {
        gelu_vec<T, N> v = reinterpret_cast<const gelu_vec<T, N> *>(in)[i];
#pragma unroll
        for (int k = 0; k < N; k++) v.v[k] = fd_from_f32<T>(gelu_f<Tanh>(fd_to_f32(v.v[k])));
        reinterpret_cast<gelu_vec<T, N> *>(out)[i] = v;
    }
    const int64_t tail = nv * N + i0;  // the grid has >= N threads
    if (tail < n) out[tail] = fd_from_f32<T>(gelu_f<Tanh>(fd_to_f32(in[tail])));
}

template <typename Tanh>
static fd_status gelu_tanh_launch(const fd__launch *l, fd_dtype dt, const void *in, void *out,
                                  int64_t n) {
    if (n == 0) return FD_OK;
    cudaStream_t st = (cudaStream_t)l->stream;
    const bool vec = (uintptr_t)in % 16 == 0 && (uintptr_t)out % 16 == 0;
    FD_DISPATCH_FLOAT(dt, {
        constexpr int N = 16 / sizeof(T);
        if (vec)
            gelu_tanh_kernel<T, N, Tanh>
                <<<fd_blocks(n / N, GELU_THREADS, GELU_MAX_BLOCKS), GELU_THREADS, 0, st>>>(
                    (const T *)in, (T *)out, n);
        else
            gelu_tanh_kernel<T, 1, Tanh>
                <<<fd_blocks(n, GELU_THREADS, GELU_MAX_BLOCKS), GELU_THREADS, 0, st>>>(
                    (const T *)in, (T *)out, n);
    });
    return fd__cuda_after_launch(l);
}

#endif
