// SPDX-License-Identifier: Apache-2.0
// moe_top_k_select kernels: one warp per token. Each lane holds experts
// lane, lane+32, ... (in registers for E <= 256, re-read from global above);
// the softmax max/sum are warp butterflies, and each of the k picks is a warp
// arg-max over the experts ranked after the previous pick, so nothing is
// marked or sorted. Memory bound: 4*E bytes in and 12*k out per token (E 128,
// k 8: ~0.6 KB/token); the k butterfly rounds cost ~k*15 shuffles per warp,
// which hides under the row load for k <= 8.
#include "ops/cuda/common.cuh"
#include "fdeploy/ops_moe.h"
#include "ops/moe_launch.h"

#define TK_THREADS 128
#define TK_WARPS (TK_THREADS / 32)

// Candidate (score, expert, probability) travelling through the warp arg-max.
struct tk_cand {
    float s, p;
    int j;
};

static __device__ __forceinline__ tk_cand tk_warp_best(tk_cand c) {
    for (int o = 16; o > 0; o >>= 1) {  // strict total order: every lane ends equal
        tk_cand d;
        d.s = __shfl_xor_sync(0xffffffffu, c.s, o);
        d.p = __shfl_xor_sync(0xffffffffu, c.p, o);
        d.j = __shfl_xor_sync(0xffffffffu, c.j, o);
        if (d.j >= 0 && fd__moe_better(d.s, d.j, c.s, c.j)) c = d;
    }
    return c;
}

// Softmax max and exp-sum in the order the C reference reproduces (lane
// partials over j = lane, lane+32, ... ascending, then the xor butterfly).
template <int VPT>
static __device__ __forceinline__ void tk_softmax_stats(const float *x, int e, int lane,
                                                        const float *reg, float *row_max,
                                                        float *exp_sum) {
    float m = -INFINITY, acc = 0.0f;
    if (VPT) {  // constant register indices: no local-memory array
#pragma unroll
        for (int i = 0; i < (VPT ? VPT : 1); i++)
            if (lane + 32 * i < e) m = fmaxf(m, reg[i]);
    } else {
        for (int j = lane; j < e; j += 32) m = fmaxf(m, x[j]);
    }
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (VPT) {
#pragma unroll
        for (int i = 0; i < (VPT ? VPT : 1); i++)
            if (lane + 32 * i < e) acc = FD_MOE_ADD(acc, fd__moe_exp(reg[i] - m));
    } else {
        for (int j = lane; j < e; j += 32) acc = FD_MOE_ADD(acc, fd__moe_exp(x[j] - m));
    }
    for (int o = 16; o > 0; o >>= 1) acc = FD_MOE_ADD(acc, __shfl_xor_sync(0xffffffffu, acc, o));
    *row_max = m;
    *exp_sum = acc;
}

// VPT > 0: E <= 32*VPT, probabilities and scores cached in registers.
// VPT == 0: any E, recomputed from global memory for every pick.
template <int VPT>
static __global__ void __launch_bounds__(TK_THREADS) moe_top_k_kernel(fd__moe_top_k_args a) {
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * TK_WARPS;
    float xs[VPT ? VPT : 1], ps[VPT ? VPT : 1], ss[VPT ? VPT : 1];
    for (int64_t t = (int64_t)blockIdx.x * TK_WARPS + threadIdx.x / 32; t < a.n; t += warps) {
        const float *x = a.logits + t * a.e;
#pragma unroll
        for (int i = 0; i < (VPT ? VPT : 1); i++) {
            int j = lane + 32 * i;
            xs[i] = (VPT && j < a.e) ? x[j] : 0.0f;
        }
        float m = 0.0f, sum = 1.0f;
        if (a.scoring == FD_MOE_SOFTMAX) tk_softmax_stats<VPT>(x, a.e, lane, xs, &m, &sum);
#pragma unroll
        for (int i = 0; i < (VPT ? VPT : 1); i++) {
            int j = lane + 32 * i;
            ps[i] = fd__moe_prob(xs[i], a.scoring, m, sum);
            ss[i] = (VPT && j < a.e) ? fd__moe_score(ps[i], a.bias, j) : 0.0f;
        }
        tk_cand prev = {INFINITY, 0.0f, -1};
        float wsum = 0.0f;
        for (int r = 0; r < a.k; r++) {
            tk_cand c = {-INFINITY, 0.0f, -1};
            if (VPT) {
#pragma unroll
                for (int i = 0; i < (VPT ? VPT : 1); i++) {
                    int j = lane + 32 * i;
                    if (j < a.e && fd__moe_better(prev.s, prev.j, ss[i], j) &&
                        fd__moe_better(ss[i], j, c.s, c.j))
                        c = tk_cand{ss[i], ps[i], j};
                }
            } else {
                for (int j = lane; j < a.e; j += 32) {
                    float p = fd__moe_prob(x[j], a.scoring, m, sum);
                    float s = fd__moe_score(p, a.bias, j);
                    if (fd__moe_better(prev.s, prev.j, s, j) && fd__moe_better(s, j, c.s, c.j))
                        c = tk_cand{s, p, j};
                }
            }
            prev = tk_warp_best(c);  // j >= 0: k <= E leaves a candidate every round
            wsum = FD_MOE_ADD(wsum, prev.p);
            if (lane == 0) {
                a.ids[t * a.k + r] = prev.j;
                a.weights[t * a.k + r] = prev.p;
            }
        }
        if (a.renormalize && wsum > 0.0f && lane == 0)  // rereads its own stores
            for (int r = 0; r < a.k; r++)
                a.weights[t * a.k + r] = FD_MOE_DIV(a.weights[t * a.k + r], wsum);
    }
}

extern "C" fd_status fd__cuda_moe_top_k_select(const fd__launch *l, const fd__moe_top_k_args *a) {
    cudaStream_t st = (cudaStream_t)l->stream;
    unsigned blocks = fd_blocks(a->n, TK_WARPS);
    if (a->e <= 32)
        moe_top_k_kernel<1><<<blocks, TK_THREADS, 0, st>>>(*a);
    else if (a->e <= 64)
        moe_top_k_kernel<2><<<blocks, TK_THREADS, 0, st>>>(*a);
    else if (a->e <= 128)
        moe_top_k_kernel<4><<<blocks, TK_THREADS, 0, st>>>(*a);
    else if (a->e <= 256)
        moe_top_k_kernel<8><<<blocks, TK_THREADS, 0, st>>>(*a);
    else
        moe_top_k_kernel<0><<<blocks, TK_THREADS, 0, st>>>(*a);
    return fd__cuda_after_launch(l);
}
