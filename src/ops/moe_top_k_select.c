// SPDX-License-Identifier: Apache-2.0
// moe_top_k_select: MoE router. Scores [N, E] -> top-k expert ids and combine
// weights (FastDeploy's moe_topk_select, plus a sigmoid scoring). C reference + dispatch.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/moe_launch.h"

static const char *OP = "moe_top_k_select";

// Row max and exp-sum of a softmax, summed in the order the CUDA warp uses.
static void ref_softmax_stats(const float *x, int e, float *row_max, float *exp_sum) {
    float m = -INFINITY, lane[32], next[32];
    for (int j = 0; j < e; j++) m = fmaxf(m, x[j]);
    for (int l = 0; l < 32; l++) {
        float acc = 0.0f;
        for (int j = l; j < e; j += 32) acc = FD_MOE_ADD(acc, fd__moe_exp(x[j] - m));
        lane[l] = acc;
    }
    for (int o = 16; o > 0; o >>= 1) {
        for (int l = 0; l < 32; l++) next[l] = FD_MOE_ADD(lane[l], lane[l ^ o]);
        memcpy(lane, next, sizeof lane);
    }
    *row_max = m;
    *exp_sum = lane[0];
}

// One row; p and s are scratch [e].
static void ref_row(const fd__moe_top_k_args *a, const float *x, float *p, float *s,
                    int64_t *ids, float *w) {
    float m = 0.0f, sum = 1.0f;
    if (a->scoring == FD_MOE_SOFTMAX) ref_softmax_stats(x, a->e, &m, &sum);
    for (int j = 0; j < a->e; j++) {
        p[j] = fd__moe_prob(x[j], a->scoring, m, sum);
        s[j] = fd__moe_score(p[j], a->bias, j);
    }
    float prev_s = INFINITY, wsum = 0.0f;
    int prev_j = -1;
    for (int r = 0; r < a->k; r++) {
        float bs = -INFINITY;
        int bj = -1;
        for (int j = 0; j < a->e; j++)  // the best expert ranked after the previous pick
            if (fd__moe_better(prev_s, prev_j, s[j], j) && fd__moe_better(s[j], j, bs, bj)) {
                bs = s[j];
                bj = j;
            }
        ids[r] = bj;
        w[r] = p[bj];
        wsum = FD_MOE_ADD(wsum, w[r]);
        prev_s = bs;
        prev_j = bj;
    }
    if (a->renormalize && wsum > 0.0f)
        for (int r = 0; r < a->k; r++) w[r] = FD_MOE_DIV(w[r], wsum);
}

static fd_status ref_moe_top_k_select(const fd__moe_top_k_args *a) {
    float *scratch = malloc(2 * (size_t)a->e * sizeof(float));
    if (!scratch)
        return fd__error(FD_ERR_OOM, "%s: no memory for %d experts of scratch", OP, a->e);
    for (int64_t t = 0; t < a->n; t++)
        ref_row(a, a->logits + t * a->e, scratch, scratch + a->e, a->ids + t * a->k,
                a->weights + t * a->k);
    free(scratch);
    return FD_OK;
}

// Shapes: logits [N, E] or [B, S, E]; bias [E] or [1, E]; outputs [N, k].
static fd_status check_args(const fd_tensor *logits, const fd_tensor *bias, int k, int scoring,
                            const fd_tensor *ids, const fd_tensor *w, fd__moe_top_k_args *a) {
    if (logits && logits->ndim == 3)
        FD_TRY(FD_CHECK_T(OP, "gating_logits", logits, FD_F32, -1, -1, -1));
    else
        FD_TRY(FD_CHECK_T(OP, "gating_logits", logits, FD_F32, -1, -1));
    int64_t e = logits->ne[logits->ndim - 1];
    int64_t n = logits->ndim == 3 ? logits->ne[0] * logits->ne[1] : logits->ne[0];
    if (e < 1 || e > INT32_MAX)
        return fd__error(FD_ERR_INVALID_ARG, "%s: gating_logits has %lld experts; need 1 to %d",
                         OP, (long long)e, INT32_MAX);
    if (k < 1 || k > e)
        return fd__error(FD_ERR_INVALID_ARG, "%s: k = %d is outside [1, num_experts = %lld]",
                         OP, k, (long long)e);
    if (scoring != FD_MOE_SOFTMAX && scoring != FD_MOE_SIGMOID)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: scoring %d is unknown; use FD_MOE_SOFTMAX or FD_MOE_SIGMOID", OP,
                         scoring);
    if (bias && bias->ndim == 2)
        FD_TRY(FD_CHECK_T(OP, "bias", bias, FD_F32, 1, e));
    else if (bias)
        FD_TRY(FD_CHECK_T(OP, "bias", bias, FD_F32, e));
    FD_TRY(FD_CHECK_T(OP, "topk_ids", ids, FD_I64, n, k));
    FD_TRY(FD_CHECK_T(OP, "topk_weights", w, FD_F32, n, k));
    a->logits = logits->data;
    a->bias = bias ? bias->data : NULL;
    a->n = n;
    a->e = (int)e;
    a->k = k;
    a->scoring = scoring;
    a->ids = ids->data;
    a->weights = w->data;
    return FD_OK;
}

fd_status fd_moe_top_k_select(fd_ctx *ctx, const fd_tensor *gating_logits,
                              const fd_tensor *bias, int k, fd_moe_scoring scoring,
                              int renormalize, fd_tensor *topk_ids,
                              fd_tensor *topk_weights) {
    fd__moe_top_k_args a = {0};
    memset(&a, 0, sizeof a);
    FD_TRY(check_args(gating_logits, bias, k, (int)scoring, topk_ids, topk_weights, &a));
    a.renormalize = renormalize != 0;
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_moe_top_k_select, FD_F32, &variant, &l));
    if (a.n == 0) return FD_OK;
    if (variant == FD_VAR_REF) return ref_moe_top_k_select(&a);
#if FD_BUILT_moe_top_k_select
    if (variant == FD_VAR_moe_top_k_select) return fd__cuda_moe_top_k_select(&l, &a);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: a hand-computed case on ctx; on CUDA also random rows
// (E 128, k 8, with bias, renormalized) compared bit for bit with the reference.

static fd_status tk_run(fd_ctx *ctx, const float *logits, const float *bias, int64_t n, int e,
                        int k, int scoring, int renorm, int64_t *ids, float *w) {
    fd__cbuf b_x, b_b, b_i, b_w;
    memset(&b_b, 0, sizeof b_b);
    int64_t s_x[2] = {n, e}, s_b[1] = {e}, s_o[2] = {n, k};
    fd_status s = fd__cbuf_new(&b_x, ctx, FD_F32, 2, s_x, logits);
    if (s == FD_OK && bias) s = fd__cbuf_new(&b_b, ctx, FD_F32, 1, s_b, bias);
    if (s == FD_OK) s = fd__cbuf_new(&b_i, ctx, FD_I64, 2, s_o, NULL);
    if (s == FD_OK) s = fd__cbuf_new(&b_w, ctx, FD_F32, 2, s_o, NULL);
    if (s == FD_OK)
        s = fd_moe_top_k_select(ctx, &b_x.t, bias ? &b_b.t : NULL, k, (fd_moe_scoring)scoring,
                                renorm, &b_i.t, &b_w.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&b_i);
    if (s == FD_OK) s = fd__cbuf_fetch(&b_w);
    if (s == FD_OK) {
        memcpy(ids, b_i.host, (size_t)(n * k) * sizeof *ids);
        memcpy(w, b_w.host, (size_t)(n * k) * sizeof *w);
    }
    fd__cbuf_free(&b_x); fd__cbuf_free(&b_i); fd__cbuf_free(&b_w);
    if (bias) fd__cbuf_free(&b_b);
    return s;
}

static fd_check_result check_random(fd_ctx *ctx, fd_ctx *cpu, char *detail, size_t n) {
    enum { N = 64, E = 128, K = 8 };
    float *x = malloc(sizeof(float) * (N * E + E + 4 * N * K));
    int64_t *ids = malloc(sizeof(int64_t) * 2 * N * K);
    fd_check_result r = FD_CHECK_FAIL;
    if (!x || !ids) {
        snprintf(detail, n, "out of host memory");
        goto done;
    }
    float *bias = x + N * E, *gw = bias + E, *cw = gw + N * K;
    uint64_t rng = 2024;
    for (int i = 0; i < N * E; i++) x[i] = fd__rng_uniform(&rng);
    for (int i = 0; i < E; i++) bias[i] = fd__rng_uniform(&rng) / 10.0f;
    if (tk_run(ctx, x, bias, N, E, K, FD_MOE_SOFTMAX, 1, ids, gw) != FD_OK ||
        tk_run(cpu, x, bias, N, E, K, FD_MOE_SOFTMAX, 1, ids + N * K, cw) != FD_OK) {
        snprintf(detail, n, "%s", fd_last_error());
        goto done;
    }
    if (memcmp(ids, ids + N * K, sizeof(int64_t) * N * K) || memcmp(gw, cw, sizeof(float) * N * K))
        snprintf(detail, n, "random rows (E 128, k 8, bias): CUDA differs from the C reference");
    else
        r = FD_CHECK_PASS;
done:
    free(x);
    free(ids);
    return r;
}

fd_check_result fd__check_moe_top_k_select(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                           size_t n) {
    // softmax([1, 2, 3, 4]) = [.0320586, .0871443, .2368828, .6439143]; the bias
    // lifts expert 0 into the top 2 without changing its weight.
    static const float x[2][4] = {{1, 2, 3, 4}, {1, 2, 3, 4}};
    static const float bias[4] = {0.5f, 0, 0, 0};
    static const int64_t want_ids[2][2] = {{3, 2}, {3, 0}};
    static const float want_w[2][2] = {{.6439143f, .2368828f}, {.6439143f, .0320586f}};
    int64_t ids[2];
    float w[2];
    for (int c = 0; c < 2; c++) {
        if (tk_run(ctx, x[c], c ? bias : NULL, 1, 4, 2, FD_MOE_SOFTMAX, 0, ids, w) != FD_OK) {
            snprintf(detail, n, "%s", fd_last_error());
            return FD_CHECK_FAIL;
        }
        for (int r = 0; r < 2; r++)
            if (ids[r] != want_ids[c][r] || fabsf(w[r] - want_w[c][r]) > 1e-6f) {
                snprintf(detail, n, "case %d: pick %d is expert %lld weight %g, want %lld %g", c,
                         r, (long long)ids[r], (double)w[r], (long long)want_ids[c][r],
                         (double)want_w[c][r]);
                return FD_CHECK_FAIL;
            }
    }
    (void)dt;
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    return check_random(ctx, cpu, detail, n);
}
