// SPDX-License-Identifier: Apache-2.0
// softmax kernel: one block per row, three passes over the row (max, sum of
// exponentials, scaled write). Memory bound: reads V logits twice (L2-resident
// for vocabularies up to a few MB per row batch), writes V f32.
#include <math.h>

#include "ops/cuda/common.cuh"
#include "ops/sampling_launch.h"

#define SM_THREADS 512

static __device__ float block_reduce(float v, bool is_max, float *sh) {
    for (int o = 16; o > 0; o >>= 1) {
        float w = __shfl_xor_sync(0xffffffffu, v, o);
        v = is_max ? fmaxf(v, w) : v + w;
    }
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < (int)(blockDim.x / 32) ? sh[lane] : (is_max ? -INFINITY : 0.0f);
        for (int o = 16; o > 0; o >>= 1) {
            float w = __shfl_xor_sync(0xffffffffu, v, o);
            v = is_max ? fmaxf(v, w) : v + w;
        }
        if (lane == 0) sh[0] = v;
    }
    __syncthreads();
    float r = sh[0];
    __syncthreads();
    return r;
}

template <typename T>
static __global__ void __launch_bounds__(SM_THREADS)
softmax_kernel(const T *__restrict__ x, const float *__restrict__ temp, int64_t v, float *__restrict__ p) {
    __shared__ float sh[32];
    const T *row = x + blockIdx.x * v;
    float *out = p + blockIdx.x * v;
    float t = temp ? temp[blockIdx.x] : 1.0f, inv = t > 0 ? 1.0f / t : 1.0f, mx = -INFINITY, sum = 0;
    for (int64_t i = threadIdx.x; i < v; i += blockDim.x) mx = fmaxf(mx, fd_to_f32(row[i]));
    mx = block_reduce(mx, true, sh);
    for (int64_t i = threadIdx.x; i < v; i += blockDim.x) {
        float e = expf((fd_to_f32(row[i]) - mx) * inv);
        out[i] = e;
        sum += e;
    }
    sum = block_reduce(sum, false, sh);
    float s = sum > 0 ? 1.0f / sum : 0.0f;
    for (int64_t i = threadIdx.x; i < v; i += blockDim.x) out[i] *= s;
}

extern "C" fd_status fd__cuda_softmax(const fd__launch *l, fd_dtype dt, const void *x, const float *temp,
                                      int64_t m, int64_t v, float *probs) {
    if (m == 0) return FD_OK;
    if (m > 2147483647LL) return fd__error(FD_ERR_INVALID_ARG, "softmax: too many rows (%lld)", (long long)m);
    cudaStream_t st = (cudaStream_t)l->stream;
    FD_DISPATCH_FLOAT(dt, softmax_kernel<T><<<(unsigned)m, SM_THREADS, 0, st>>>((const T *)x, temp, v, probs));
    return fd__cuda_after_launch(l);
}
