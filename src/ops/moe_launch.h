// SPDX-License-Identifier: Apache-2.0
// Private: CUDA launchers (C linkage) of the moe ops, called by src/ops/<op>.c
// and defined in src/ops/cuda/<stem>.cu, and the router arithmetic both sides share.
#ifndef FD_OPS_MOE_LAUNCH_H
#define FD_OPS_MOE_LAUNCH_H

#include <math.h>
#include "ops/op_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fd__moe_top_k_args {
    const float *logits;   // [n, e]
    const float *bias;     // [e] or NULL
    int64_t n;
    int e, k, scoring, renormalize;
    int64_t *ids;          // [n, k]
    float *weights;        // [n, k]
} fd__moe_top_k_args;

fd_status fd__cuda_moe_top_k_select(const fd__launch *l, const fd__moe_top_k_args *a);

fd_status fd__cuda_tritonmoe_preprocess(const fd__launch *l, const int64_t *topk_ids,
                                        int64_t numel, int num_experts, int block_size,
                                        int32_t *sorted_ids, int64_t capacity,
                                        int32_t *experts_ids, int64_t num_blocks,
                                        int32_t *num_tokens_post_pad);

// Largest num_experts the CUDA tritonmoe_preprocess takes (48 KiB of shared counters).
#define FD_MOE_ALIGN_MAX_EXPERTS 6111

// ---- Router arithmetic, compiled identically for the C reference and the
// kernels so that both pick the same experts bit for bit (ties included).
// Every rounding step is explicit: the _rn intrinsics keep nvcc from fusing a
// multiply into a following add, fmaf is the only fused operation, and the
// softmax sum uses the warp's order (lane j%32 partials, xor butterfly).
#if defined(__CUDACC__)
#define FD_MOE_FN static __host__ __device__ __forceinline__
#else
#define FD_MOE_FN static inline
#endif
#if defined(__CUDA_ARCH__)
#define FD_MOE_MUL(a, b) __fmul_rn(a, b)
#define FD_MOE_ADD(a, b) __fadd_rn(a, b)
#define FD_MOE_DIV(a, b) __fdiv_rn(a, b)
#define FD_MOE_FMA(a, b, c) __fmaf_rn(a, b, c)
#else
FD_MOE_FN float fd__moe_mul(float a, float b) { return a * b; }
FD_MOE_FN float fd__moe_add(float a, float b) { return a + b; }
FD_MOE_FN float fd__moe_div(float a, float b) { return a / b; }
#define FD_MOE_MUL(a, b) fd__moe_mul(a, b)
#define FD_MOE_ADD(a, b) fd__moe_add(a, b)
#define FD_MOE_DIV(a, b) fd__moe_div(a, b)
#define FD_MOE_FMA(a, b, c) fmaf(a, b, c)
#endif

// exp(x) to ~1 ulp: x = n*ln2 + r (Cody-Waite split, |r| <= ln2/2), degree-7
// Taylor polynomial of exp(r), times 2^n built from bits. Results below
// FLT_MIN flush to 0 so that denormal handling cannot differ.
FD_MOE_FN float fd__moe_exp(float x) {
    if (!(x == x)) return x;
    if (x > 88.7f) return INFINITY;
    if (x < -87.3f) return 0.0f;
    float n = rintf(FD_MOE_MUL(x, 1.44269504f));
    float r = FD_MOE_FMA(n, -0.693359375f, x);
    r = FD_MOE_FMA(n, 2.12194440e-4f, r);
    float p = 1.98412698e-4f;                   // 1/7!
    p = FD_MOE_FMA(p, r, 1.38888889e-3f);        // 1/6!
    p = FD_MOE_FMA(p, r, 8.33333333e-3f);
    p = FD_MOE_FMA(p, r, 4.16666667e-2f);
    p = FD_MOE_FMA(p, r, 1.66666667e-1f);
    p = FD_MOE_FMA(p, r, 0.5f);
    p = FD_MOE_FMA(p, r, 1.0f);
    p = FD_MOE_FMA(p, r, 1.0f);
    int e = (int)n;                              // in [-126, 128] by the bounds above
    union { unsigned u; float f; } s;
    if (e == 128) {                              // 2^128 is not a float: scale twice
        s.u = 254u << 23;
        return FD_MOE_MUL(FD_MOE_MUL(p, s.f), 2.0f);
    }
    s.u = (unsigned)(e + 127) << 23;             // 2^e, normal for e >= -126
    return FD_MOE_MUL(p, s.f);
}

// Probability of one expert: softmax (given the row max and exp-sum) or sigmoid.
FD_MOE_FN float fd__moe_prob(float x, int scoring, float row_max, float exp_sum) {
    if (scoring == 1) return FD_MOE_DIV(1.0f, FD_MOE_ADD(1.0f, fd__moe_exp(-x)));
    return FD_MOE_DIV(fd__moe_exp(x - row_max), exp_sum);
}

// Selection score: probability + bias; NaN ranks lowest (as -inf).
FD_MOE_FN float fd__moe_score(float p, const float *bias, int j) {
    float s = bias ? FD_MOE_ADD(p, bias[j]) : p;
    return s == s ? s : -INFINITY;
}

// Strict total order of (score, expert): higher score first, then lower id.
// j_b < 0 marks "no candidate yet".
FD_MOE_FN int fd__moe_better(float s_a, int j_a, float s_b, int j_b) {
    return j_b < 0 || s_a > s_b || (s_a == s_b && j_a < j_b);
}

#ifdef __cplusplus
}
#endif
#endif
