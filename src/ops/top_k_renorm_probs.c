// SPDX-License-Identifier: Apache-2.0
// top_k_renorm_probs: keep each row's top-k probabilities (ties at the k-th
// value included) and renormalise them. The k-th value comes from the same
// radix threshold search as rejection_top_p_sampling, count only.
// C reference + dispatch.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/op_internal.h"
#include "ops/sampling_launch.h"

static const char *OP = "top_k_renorm_probs";

static void ref_row(const float *row, int64_t V, int64_t k, float *out, uint64_t *hm,
                    int64_t *hc) {
    if (k <= 0 || k >= V) {  // no truncation, no renormalisation
        if (out != row) memmove(out, row, (size_t)V * sizeof *out);
        return;
    }
    fd__smp_threshold t = fd__smp_threshold_ref(row, V, FD_SMP_NO_LIMIT, k, 0, hm, hc);
    double sum = 0;
    for (int64_t i = 0; i < V; i++)
        if (t.found && row[i] > 0.0f && fd__smp_key(row[i]) >= t.key) sum += row[i];
    float s = (float)sum < 1e-8f ? 1e-8f : (float)sum;
    for (int64_t i = 0; i < V; i++) {
        float p = row[i];
        out[i] = t.found && p > 0.0f && fd__smp_key(p) >= t.key ? p / s : 0.0f;
    }
}

static fd_status ref_top_k_renorm_probs(const float *probs, const int64_t *top_k, int64_t bs,
                                        int64_t V, float *out) {
    uint64_t *hm = malloc(FD_SMP_MAX_BINS * sizeof *hm);
    int64_t *hc = malloc(FD_SMP_MAX_BINS * sizeof *hc);
    fd_status s = FD_OK;
    if (!hm || !hc) s = fd__error(FD_ERR_OOM, "%s: out of host memory", OP);
    for (int64_t b = 0; s == FD_OK && b < bs; b++)
        ref_row(probs + b * V, V, top_k[b], out + b * V, hm, hc);
    free(hm);
    free(hc);
    return s;
}

// [bs] or [bs, 1].
static fd_status check_rows(const char *name, const fd_tensor *t, int dt, int64_t bs) {
    if (t && t->ndim == 2) return FD_CHECK_T(OP, name, t, dt, bs, 1);
    return FD_CHECK_T(OP, name, t, dt, bs);
}

fd_status fd_top_k_renorm_probs(fd_ctx *ctx, const fd_tensor *probs, const fd_tensor *top_k,
                                fd_tensor *renorm_probs) {
    FD_TRY(FD_CHECK_T(OP, "probs", probs, FD_F32, -1, -1));
    int64_t bs = probs->ne[0], V = probs->ne[1];
    if (V > (1 << 30))
        return fd__error(FD_ERR_INVALID_ARG, "%s: vocabulary size %lld is above 2^30", OP,
                         (long long)V);
    FD_TRY(check_rows("top_k", top_k, FD_I64, bs));
    FD_TRY(FD_CHECK_T(OP, "renorm_probs", renorm_probs, FD_F32, bs, V));
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_top_k_renorm_probs, FD_F32, &variant, &l));
    if (variant == FD_VAR_REF)
        return ref_top_k_renorm_probs(probs->data, top_k->data, bs, V, renorm_probs->data);
#if FD_BUILT_top_k_renorm_probs
    if (variant == FD_VAR_top_k_renorm_probs)
        return fd__cuda_top_k_renorm_probs(&l, probs->data, top_k->data, bs, V,
                                           renorm_probs->data);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: FastDeploy's two cases on ctx; on CUDA also a random batch
// compared with the C reference (f32, rel 1e-5: only the row sums' order differs).

static fd_status run_case(fd_ctx *ctx, const float *probs, const int64_t *top_k, int64_t bs,
                          int64_t V, float *out) {
    fd__cbuf b_p, b_k, b_out;
    int64_t s_p[2] = {bs, V}, s_b[1] = {bs};
    fd_status s = fd__cbuf_new(&b_p, ctx, FD_F32, 2, s_p, probs);
    if (s == FD_OK) s = fd__cbuf_new(&b_k, ctx, FD_I64, 1, s_b, top_k);
    if (s == FD_OK) s = fd__cbuf_new(&b_out, ctx, FD_F32, 2, s_p, NULL);
    if (s == FD_OK) s = fd_top_k_renorm_probs(ctx, &b_p.t, &b_k.t, &b_out.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&b_out);
    if (s == FD_OK) memcpy(out, b_out.host, (size_t)(bs * V) * sizeof *out);
    fd__cbuf_free(&b_p); fd__cbuf_free(&b_k); fd__cbuf_free(&b_out);
    return s;
}

static fd_check_result fd_cases(fd_ctx *ctx, char *detail, size_t n) {
    // Case 1: 5 random probabilities (sum 1), k = 2: three zeros, sum 1.
    float p5[5] = {0.13f, 0.31f, 0.07f, 0.22f, 0.27f}, o5[5];
    int64_t k2 = 2;
    if (run_case(ctx, p5, &k2, 1, 5, o5) != FD_OK) goto fail;
    float sum = o5[0] + o5[1] + o5[2] + o5[3] + o5[4];
    if (o5[0] != 0 || o5[2] != 0 || o5[3] != 0 || sum < 1 - 1e-6f || sum > 1 + 1e-6f) {
        snprintf(detail, n, "FastDeploy's case 1 (k 2 of 5): wrong entries kept or sum %g", sum);
        return FD_CHECK_FAIL;
    }
    // Case 2: [0.1, 0.3, 0.4, 0.2]: k = 1 keeps only 0.4 (-> 1); k = 4 is the identity.
    float p4[4] = {0.1f, 0.3f, 0.4f, 0.2f}, o4[4];
    int64_t k1 = 1, k4 = 4;
    if (run_case(ctx, p4, &k1, 1, 4, o4) != FD_OK) goto fail;
    if (o4[0] != 0 || o4[1] != 0 || o4[2] != 1.0f || o4[3] != 0) {
        snprintf(detail, n, "FastDeploy's case 2 (k 1): expected [0, 0, 1, 0]");
        return FD_CHECK_FAIL;
    }
    if (run_case(ctx, p4, &k4, 1, 4, o4) != FD_OK) goto fail;
    if (memcmp(o4, p4, sizeof p4)) {
        snprintf(detail, n, "FastDeploy's case 2 (k 4 = V): output differs from the input");
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
fail:
    snprintf(detail, n, "%s", fd_last_error());
    return FD_CHECK_FAIL;
}

fd_check_result fd__check_top_k_renorm_probs(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt,
                                             char *detail, size_t n) {
    (void)dt;
    if (fd_cases(ctx, detail, n) != FD_CHECK_PASS) return FD_CHECK_FAIL;
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    enum { BS = 8, V = 32000 };
    float *p = malloc(sizeof(float) * BS * V * 3);
    if (!p) {
        snprintf(detail, n, "out of host memory");
        return FD_CHECK_FAIL;
    }
    float *g = p + BS * V, *c = g + BS * V;
    static const int64_t k[BS] = {1, 2, 20, 1000, 31999, 0, -5, 32000};
    uint64_t rng = 11;
    for (int i = 0; i < BS * V; i++) p[i] = fd__rng_uniform(&rng) * 1e-4f;
    fd_check_result r = FD_CHECK_PASS;
    if (run_case(ctx, p, k, BS, V, g) != FD_OK || run_case(cpu, p, k, BS, V, c) != FD_OK) {
        snprintf(detail, n, "random batch: %s", fd_last_error());
        r = FD_CHECK_FAIL;
    } else if (fd__compare(FD_F32, g, c, (int64_t)BS * V, 0.0, 1e-5, detail, n)) {
        r = FD_CHECK_FAIL;
    }
    free(p);
    return r;
}
