// SPDX-License-Identifier: Apache-2.0
// rejection_top_p_sampling: one token per row under top-p (and optional top-k)
// truncation. Instead of FastDeploy's rejection loop we find the truncation
// threshold directly (a 3-pass radix search over the float bits with exact
// fixed-point masses), then draw from the allowed set with one counter-based
// random number; the CUDA kernel runs the same integer arithmetic, so both
// return the same token. C reference + dispatch, and the shared search.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/op_internal.h"
#include "ops/sampling_launch.h"

static const char *OP = "rejection_top_p_sampling";

// Picks, from one pass's histogram, the lowest bucket whose largest key is still
// allowed (mass and count above it under the limits). -1: the histogram is empty.
static int pick_bucket(const uint64_t *hm, const int64_t *hc, int nb, uint64_t mass_limit,
                       int64_t count_limit, fd__smp_threshold *t) {
    int pick = -1;
    uint64_t m = t->above_mass, pm = 0;
    int64_t c = t->above_count, pc = 0;
    for (int d = nb - 1; d >= 0; d--) {
        if (hc[d] == 0) continue;
        if (!(m < mass_limit && c < count_limit)) break;  // lower buckets only add mass
        pick = d, pm = m, pc = c;
        m += hm[d];
        c += hc[d];
    }
    if (pick >= 0) t->above_mass = pm, t->above_count = pc, t->key_mass = hm[pick];
    return pick;
}

fd__smp_threshold fd__smp_threshold_ref(const float *row, int64_t V, uint64_t mass_limit,
                                        int64_t count_limit, int with_mass, uint64_t *hm,
                                        int64_t *hc) {
    fd__smp_threshold t;
    memset(&t, 0, sizeof t);
    uint32_t prefix = 0;
    for (int pass = 0; pass < FD_SMP_PASSES; pass++) {
        int shift = fd__smp_pass_shift(pass), bits = fd__smp_pass_bits(pass), nb = 1 << bits;
        memset(hm, 0, (size_t)nb * sizeof *hm);
        memset(hc, 0, (size_t)nb * sizeof *hc);
        for (int64_t i = 0; i < V; i++) {
            float p = row[i];
            if (!(p > 0.0f)) continue;  // zeros, negatives and NaN are never allowed
            uint32_t k = fd__smp_key(p);
            if ((k >> (shift + bits)) != prefix) continue;
            int d = (int)((k >> shift) & (uint32_t)(nb - 1));
            hc[d]++;
            if (with_mass) hm[d] += fd__smp_weight(p);
        }
        int pick = pick_bucket(hm, hc, nb, mass_limit, count_limit, &t);
        if (pick < 0) return t;  // only possible in pass 0: no positive entry
        prefix = (prefix << bits) | (uint32_t)pick;
    }
    t.key = prefix;
    t.found = 1;
    return t;
}

// The token of one row, or -1 when the allowed set has no mass.
static int64_t ref_sample_row(const float *row, int64_t V, float top_p, int64_t k,
                              int64_t seed, int64_t b, uint64_t *hm, int64_t *hc) {
    fd__smp_threshold t = fd__smp_threshold_ref(row, V, fd__smp_mass_limit(top_p),
                                                fd__smp_count_limit(k), 1, hm, hc);
    uint64_t total = t.above_mass + t.key_mass;
    if (!t.found || total == 0) return -1;
    uint64_t r = fd__smp_mulhi(fd__smp_rand64(seed, b), total), acc = 0;
    for (int64_t i = 0; i < V; i++) {
        float p = row[i];
        if (!(p > 0.0f) || fd__smp_key(p) < t.key) continue;
        acc += fd__smp_weight(p);
        if (r < acc) return i;
    }
    return -1;  // unreachable: r < total
}

static fd_status ref_rejection_top_p_sampling(const float *probs, const float *top_p,
                                              const int64_t *top_k, int64_t bs, int64_t V,
                                              int64_t seed, int64_t *samples) {
    uint64_t *hm = malloc(FD_SMP_MAX_BINS * sizeof *hm);
    int64_t *hc = malloc(FD_SMP_MAX_BINS * sizeof *hc);
    int64_t *tok = malloc((size_t)(bs > 0 ? bs : 1) * sizeof *tok);
    fd_status s = FD_OK;
    if (!hm || !hc || !tok) s = fd__error(FD_ERR_OOM, "%s: out of host memory", OP);
    for (int64_t b = 0; s == FD_OK && b < bs; b++) {
        tok[b] = ref_sample_row(probs + b * V, V, top_p[b], top_k ? top_k[b] : 0, seed, b,
                                hm, hc);
        if (tok[b] < 0)
            s = fd__error(FD_ERR_INVALID_ARG,
                          "%s: row %lld of probs has no probability mass (entries all zero, "
                          "negative, NaN or below 2^-42); check the logits and softmax",
                          OP, (long long)b);
    }
    if (s == FD_OK) memcpy(samples, tok, (size_t)bs * sizeof *tok);  // nothing written on error
    free(hm);
    free(hc);
    free(tok);
    return s;
}

// [bs] or [bs, 1].
static fd_status check_rows(const char *name, const fd_tensor *t, int dt, int64_t bs) {
    if (t && t->ndim == 2) return FD_CHECK_T(OP, name, t, dt, bs, 1);
    return FD_CHECK_T(OP, name, t, dt, bs);
}

fd_status fd_rejection_top_p_sampling(fd_ctx *ctx, const fd_tensor *probs,
                                      const fd_tensor *top_p, const fd_tensor *top_k,
                                      int64_t seed, fd_tensor *samples) {
    FD_TRY(FD_CHECK_T(OP, "probs", probs, FD_F32, -1, -1));
    int64_t bs = probs->ne[0], V = probs->ne[1];
    if (V < 1 || V > FD_SMP_MAX_VOCAB)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: vocabulary size %lld is outside [1, %d]; fixed-point sums need "
                         "V <= 2^21",
                         OP, (long long)V, FD_SMP_MAX_VOCAB);
    FD_TRY(check_rows("top_p", top_p, FD_F32, bs));
    if (top_k) FD_TRY(check_rows("top_k", top_k, FD_I64, bs));
    FD_TRY(check_rows("samples", samples, FD_I64, bs));
    const int64_t *k = top_k ? top_k->data : NULL;
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_rejection_top_p_sampling, FD_F32, &variant, &l));
    if (variant == FD_VAR_REF)
        return ref_rejection_top_p_sampling(probs->data, top_p->data, k, bs, V, seed,
                                            samples->data);
#if FD_BUILT_rejection_top_p_sampling
    if (variant == FD_VAR_rejection_top_p_sampling)
        return fd__cuda_rejection_top_p_sampling(&l, probs->data, top_p->data, k, bs, V, seed,
                                                 samples->data);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: FastDeploy's case (bs 10, V 103424, top_p 0.8, top_k 20,
// seeds 1024, 2033, 2033) on ctx; every token must be in its row's allowed set
// and a repeated seed must repeat the tokens; on CUDA a random batch vs the reference.

static fd_status run_case(fd_ctx *ctx, const float *probs, const float *top_p,
                          const int64_t *top_k, int64_t bs, int64_t V, int64_t seed,
                          int64_t *out) {
    fd__cbuf b_p, b_tp, b_tk, b_out;
    int64_t s_p[2] = {bs, V}, s_b[1] = {bs};
    memset(&b_tk, 0, sizeof b_tk);
    fd_status s = fd__cbuf_new(&b_p, ctx, FD_F32, 2, s_p, probs);
    if (s == FD_OK) s = fd__cbuf_new(&b_tp, ctx, FD_F32, 1, s_b, top_p);
    if (s == FD_OK && top_k) s = fd__cbuf_new(&b_tk, ctx, FD_I64, 1, s_b, top_k);
    if (s == FD_OK) s = fd__cbuf_new(&b_out, ctx, FD_I64, 1, s_b, NULL);
    if (s == FD_OK)
        s = fd_rejection_top_p_sampling(ctx, &b_p.t, &b_tp.t, top_k ? &b_tk.t : NULL, seed,
                                        &b_out.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&b_out);
    if (s == FD_OK) memcpy(out, b_out.host, (size_t)bs * sizeof *out);
    fd__cbuf_free(&b_p); fd__cbuf_free(&b_tp); fd__cbuf_free(&b_tk); fd__cbuf_free(&b_out);
    return s;
}

// 1 if `tok` is in the allowed set of `row` by the definition (not the search).
static int allowed(const float *row, int64_t V, int64_t tok, float top_p, int64_t k) {
    if (tok < 0 || tok >= V || !(row[tok] > 0.0f)) return 0;
    double above = 0;
    int64_t rank = 0;
    for (int64_t i = 0; i < V; i++)
        if (row[i] > row[tok]) above += row[i], rank++;
    return above < (double)top_p + 1e-6 && (k <= 0 || rank < k);
}

static fd_check_result fd_case(fd_ctx *ctx, float *probs, char *detail, size_t n) {
    enum { BS = 10, V = 103424 };
    float top_p[BS];
    int64_t top_k[BS], out[3][BS];
    static const int64_t seeds[3] = {1024, 2033, 2033};
    for (int b = 0; b < BS; b++) top_p[b] = 0.8f, top_k[b] = 20;
    for (int j = 0; j < 3; j++)
        if (run_case(ctx, probs, top_p, top_k, BS, V, seeds[j], out[j]) != FD_OK) {
            snprintf(detail, n, "FastDeploy's case, seed %lld: %s", (long long)seeds[j],
                     fd_last_error());
            return FD_CHECK_FAIL;
        }
    for (int j = 0; j < 3; j++)
        for (int b = 0; b < BS; b++)
            if (!allowed(probs + (int64_t)b * V, V, out[j][b], 0.8f, 20)) {
                snprintf(detail, n, "FastDeploy's case: row %d drew token %lld outside top-k 20",
                         b, (long long)out[j][b]);
                return FD_CHECK_FAIL;
            }
    if (memcmp(out[1], out[2], sizeof out[1])) {
        snprintf(detail, n, "FastDeploy's case: seed 2033 twice gave different tokens");
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}

static void random_probs(float *p, int64_t bs, int64_t V, uint64_t *rng) {
    for (int64_t b = 0; b < bs; b++) {
        double sum = 0;
        for (int64_t i = 0; i < V; i++) sum += p[b * V + i] = fd__rng_uniform(rng);
        for (int64_t i = 0; i < V; i++) p[b * V + i] = (float)(p[b * V + i] / sum);
    }
}

fd_check_result fd__check_rejection_top_p_sampling(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt,
                                                   char *detail, size_t n) {
    enum { BS = 10, V = 103424, RBS = 16 };
    float *probs = malloc((size_t)RBS * V * sizeof *probs);  // RBS > BS
    if (!probs) {
        snprintf(detail, n, "out of host memory");
        return FD_CHECK_FAIL;
    }
    uint64_t rng = 2024;
    random_probs(probs, BS, V, &rng);
    fd_check_result r = fd_case(ctx, probs, detail, n);
    if (r == FD_CHECK_PASS && ctx != cpu && fd_ctx_is_cuda(ctx)) {
        // Peaked rows (softmax-like) with mixed limits: the same tokens, exactly.
        for (int64_t i = 0; i < (int64_t)RBS * V; i++) {
            float u = fd__rng_uniform(&rng);
            probs[i] = u * u * u * u * u * u * u * u;
        }
        for (int b = 0; b < RBS; b++) {
            double sum = 0;
            for (int64_t i = 0; i < V; i++) sum += probs[(int64_t)b * V + i];
            for (int64_t i = 0; i < V; i++) probs[(int64_t)b * V + i] /= (float)sum;
        }
        float top_p[RBS];
        int64_t top_k[RBS], g[RBS], c[RBS];
        for (int b = 0; b < RBS; b++) top_p[b] = 0.05f * (float)(b + 1), top_k[b] = b % 4 * 50;
        if (run_case(ctx, probs, top_p, top_k, RBS, V, 77, g) != FD_OK ||
            run_case(cpu, probs, top_p, top_k, RBS, V, 77, c) != FD_OK) {
            snprintf(detail, n, "random batch: %s", fd_last_error());
            r = FD_CHECK_FAIL;
        } else if (memcmp(g, c, sizeof g)) {
            snprintf(detail, n, "random batch (bs 16, V 103424): CUDA tokens differ from the "
                                "C reference");
            r = FD_CHECK_FAIL;
        }
    }
    free(probs);
    (void)dt;
    return r;
}
