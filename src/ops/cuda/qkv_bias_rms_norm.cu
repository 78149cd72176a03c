// SPDX-License-Identifier: Apache-2.0
// qkv_bias_rms_norm kernel (SM70+): one warp per (token, head) that has work; the
// head's head_dim <= 256 values stay in registers (<= 8 per lane), so the bias-add
// and the norm read and write qkv once, in place. f32 math (bf16 through float),
// one rounding. Lanes take elements lane, lane + 32, ...: each warp access is
// contiguous (coalesced), and no head straddles warps, so a shuffle reduction is
// the whole sum.
// Roofline: memory bound, 2 * sizeof(T) bytes per element of the heads touched
// (q+k heads for Qwen3's norms; all heads with a bias) for ~5 FLOPs: 1.25
// flop/byte in f16, far under the ridge. bias/q_norm/k_norm are read per head but
// are a few KB, so they stay in L1/L2. At decode sizes (tens of tokens x tens of
// heads) the launch, not DRAM, is the cost.
#include "ops/cuda/common.cuh"
#include "ops/layers_launch.h"

#define QN_THREADS 256
#define QN_WARPS (QN_THREADS / 32)
#define QN_PER_LANE (256 / 32)  // head_dim <= 256, checked by the caller

template <typename T>
static __global__ void __launch_bounds__(QN_THREADS)
qkv_norm_kernel(fd__qkv_norm_args a, int h0, int nh) {
    const int lane = threadIdx.x % 32, nq = a.n_q_heads, nkv = a.n_kv_heads, hd = a.head_dim;
    const int64_t width = (int64_t)(nq + 2 * nkv) * hd, works = a.t * nh;
    // w is the same for the 32 lanes of a warp, so the loop and the shuffles are warp-uniform.
    for (int64_t w = (int64_t)blockIdx.x * QN_WARPS + threadIdx.x / 32; w < works;
         w += (int64_t)gridDim.x * QN_WARPS) {
        const int64_t tok = w / nh;
        const int h = h0 + (int)(w - tok * nh);
        T *p = (T *)a.qkv + tok * width + (int64_t)h * hd;
        const float *b = a.bias ? a.bias + (int64_t)h * hd : nullptr;
        const float *g = h < nq ? a.q_norm : h < nq + nkv ? a.k_norm : nullptr;
        float v[QN_PER_LANE], ss = 0.0f;
#pragma unroll
        for (int k = 0; k < QN_PER_LANE; k++) {
            const int j = lane + 32 * k;
            v[k] = 0.0f;
            if (j < hd) {
                v[k] = fd_to_f32(p[j]);
                if (b) v[k] += b[j];
                ss = fmaf(v[k], v[k], ss);
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
        const float inv = g ? 1.0f / sqrtf(ss / (float)hd + a.eps) : 1.0f;
#pragma unroll
        for (int k = 0; k < QN_PER_LANE; k++) {
            const int j = lane + 32 * k;
            if (j < hd) p[j] = fd_from_f32<T>(g ? v[k] * inv * g[j] : v[k]);
        }
    }
}

extern "C" fd_status fd__cuda_qkv_bias_rms_norm(const fd__launch *l, const fd__qkv_norm_args *a) {
    int h0, h1;
    fd__qkv_norm_heads(a, &h0, &h1);
    if (a->t == 0 || h1 <= h0) return FD_OK;
    const unsigned grid = fd_blocks(a->t * (h1 - h0), QN_WARPS);
    cudaStream_t st = (cudaStream_t)l->stream;
    FD_DISPATCH_FLOAT(a->dtype,
                      qkv_norm_kernel<T><<<grid, QN_THREADS, 0, st>>>(*a, h0, h1 - h0));
    return fd__cuda_after_launch(l);
}
