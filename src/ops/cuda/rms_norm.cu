// SPDX-License-Identifier: Apache-2.0
// rms_norm kernels (SM70+): one block per row; optional fused residual add
// (x += residual written back, then normalized). 16-byte loads when the row
// size and pointers allow, element loads otherwise; f32 math, bf16 via float.
// Roofline: memory bound, 2 (3 with residual, +1 write-back) * M*D*sizeof(T)
// bytes for ~4 FLOPs per element; the second pass re-reads the row from L1/L2.
#include "ops/cuda/common.cuh"
#include "ops/model_launch.h"

#define RN_THREADS 256

// Sum over the block (all threads get it).
static __device__ float rn_block_sum(float v) {
    __shared__ float part[RN_THREADS / 32];
    __shared__ float total;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        float s = threadIdx.x < blockDim.x / 32 ? part[threadIdx.x] : 0.0f;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (threadIdx.x == 0) total = s;
    }
    __syncthreads();
    return total;
}

// VN elements per access: 16 / sizeof(T) (VEC) or 1.
template <typename T, int VN>
struct __align__(sizeof(T) * VN) rn_vec { T v[VN]; };

template <typename T, int VN>
static __global__ void __launch_bounds__(RN_THREADS) rn_kernel(fd__rms_norm_args a) {
    typedef rn_vec<T, VN> V;
    const int64_t row = blockIdx.x, nv = a.d / VN;
    V *x = (V *)a.x + row * nv;
    const V *res = a.residual ? (const V *)a.residual + row * nv : nullptr;
    V *out = (V *)a.out + row * nv;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < nv; i += blockDim.x) {
        V xv = x[i];
        if (res) {
            V rv = res[i];
#pragma unroll
            for (int e = 0; e < VN; e++) xv.v[e] = fd_from_f32<T>(fd_to_f32(xv.v[e]) + fd_to_f32(rv.v[e]));
            x[i] = xv;
        }
#pragma unroll
        for (int e = 0; e < VN; e++) {
            float f = fd_to_f32(xv.v[e]);
            ss = fmaf(f, f, ss);
        }
    }
    const float inv = 1.0f / sqrtf(rn_block_sum(ss) / (float)a.d + a.eps);
    for (int64_t i = threadIdx.x; i < nv; i += blockDim.x) {
        V xv = x[i], ov;
#pragma unroll
        for (int e = 0; e < VN; e++)
            ov.v[e] = fd_from_f32<T>(fd_to_f32(xv.v[e]) * inv * a.w[i * VN + e]);
        out[i] = ov;
    }
}

static bool rn_aligned(const void *p) { return p == nullptr || (uintptr_t)p % 16 == 0; }

extern "C" fd_status fd__cuda_rms_norm(const fd__launch *l, const fd__rms_norm_args *a) {
    if (a->m == 0) return FD_OK;
    if (a->m > 2147483647LL)
        return fd__error(FD_ERR_INVALID_ARG, "rms_norm: %lld rows; split the call", (long long)a->m);
    cudaStream_t st = (cudaStream_t)l->stream;
    const bool vec = (a->d * (int64_t)fd_dtype_size(a->dtype)) % 16 == 0 && rn_aligned(a->x) &&
                     rn_aligned(a->residual) && rn_aligned(a->out);
    FD_DISPATCH_FLOAT(a->dtype, {
        if (vec) rn_kernel<T, 16 / sizeof(T)><<<(unsigned)a->m, RN_THREADS, 0, st>>>(*a);
        else rn_kernel<T, 1><<<(unsigned)a->m, RN_THREADS, 0, st>>>(*a);
    });
    return fd__cuda_after_launch(l);
}
