// SPDX-License-Identifier: Apache-2.0
// token_penalty_multi_scores (FastDeploy's get_token_penalty_multi_scores):
// before sampling, ban end ids under the minimum length, apply repetition /
// frequency / presence penalties from the slot's history, divide by the
// temperature, ban bad words. In place on the logits. C reference + dispatch.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/postprocess_launch.h"

static const char *OP = "token_penalty_multi_scores";

// ---- element access for the three float dtypes

// ---- per-row history segments

typedef struct row_hist {
    const int64_t *prompt, *gen;
    int64_t n_prompt, n_gen;
} row_hist;

static row_hist row_segments(const fd__penalty_args *a, int64_t b) {
    row_hist h;
    int64_t plen = a->prompt_lens ? a->prompt_lens[b] : 0;
    const int64_t *row = a->hist + b * a->hist_len;
    if (a->prompt) {
        h.prompt = a->prompt + b * a->prompt_stride, h.n_prompt = plen;
        h.gen = row, h.n_gen = a->hist_len;
    } else {
        h.prompt = row, h.n_prompt = plen;
        h.gen = row + plen, h.n_gen = a->hist_len - plen;
    }
    return h;
}

// Penalties are active for a row unless they are the identity (or the row is inactive).
static int row_active(const fd__penalty_args *a, int64_t b) {
    return a->cur[b] >= 0 && !(a->alpha[b] == 1.0f && a->beta[b] == 0.0f && a->gamma[b] == 0.0f);
}

static fd_status check_ids(const int64_t *ids, int64_t n, int64_t vocab, int64_t b,
                           const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (ids[i] >= vocab)
            return fd__error(FD_ERR_INVALID_ARG,
                             "%s: %s of row %lld holds token id %lld at %lld, outside the "
                             "vocabulary [0, %lld); -1 marks empty positions",
                             OP, what, (long long)b, (long long)ids[i], (long long)i,
                             (long long)vocab);
    return FD_OK;
}

static fd_status ref_validate(const fd__penalty_args *a) {
    for (int64_t i = 0; i < a->n_eos; i++)
        if (a->eos[i] < 0 || a->eos[i] >= a->vocab)
            return fd__error(FD_ERR_INVALID_ARG, "%s: eos_token_id[%lld] = %lld is outside [0, %lld)",
                             OP, (long long)i, (long long)a->eos[i], (long long)a->vocab);
    int64_t pmax = a->prompt ? a->prompt_stride : a->hist_len;
    for (int64_t b = 0; b < a->bs; b++) {
        int64_t plen = a->prompt_lens ? a->prompt_lens[b] : 0;
        if (plen < 0 || plen > pmax)
            return fd__error(FD_ERR_INVALID_ARG,
                             "%s: prompt_lens[%lld] = %lld is outside [0, %lld] (prompt columns)",
                             OP, (long long)b, (long long)plen, (long long)pmax);
        if (!row_active(a, b)) continue;
        row_hist h = row_segments(a, b);
        FD_TRY(check_ids(h.prompt, h.n_prompt, a->vocab, b, "the prompt"));
        FD_TRY(check_ids(h.gen, h.n_gen, a->vocab, b, "the generated history"));
    }
    return FD_OK;
}

// One row: cnt[v] = times v was generated, seen[v] = v in prompt or generated.
static void ref_row(const fd__penalty_args *a, int64_t b, int32_t *cnt, uint8_t *seen) {
    void *lg = (char *)a->logits + (size_t)(b * a->vocab) * fd_dtype_size(a->dtype);
    const int64_t cur = a->cur[b];
    if (cur >= 0 && cur < a->min_len[b]) {
        float neg = a->dtype == FD_F16 ? -1e4f : -1e10f;
        for (int64_t i = 0; i < a->n_eos; i++) fd__set_f(a->dtype, lg, a->eos[i], neg);
    }
    const float alpha = a->alpha[b], beta = a->beta[b], gamma = a->gamma[b], t = a->temp[b];
    const int active = row_active(a, b);
    row_hist h = row_segments(a, b);
    if (active) {
        for (int64_t i = 0; i < h.n_prompt; i++)
            if (h.prompt[i] >= 0) seen[h.prompt[i]] = 1;
        for (int64_t i = 0; i < h.n_gen; i++)
            if (h.gen[i] >= 0) cnt[h.gen[i]]++, seen[h.gen[i]] = 1;
    }
    if (active || t != 1.0f) {
        for (int64_t v = 0; v < a->vocab; v++) {
            float x = fd__get_f(a->dtype, lg, v);
            if (active && seen[v]) x = x < 0 ? x * alpha : x / alpha;
            if (active && cnt[v] > 0) x = x - (float)cnt[v] * beta - gamma;
            fd__set_f(a->dtype, lg, v, x / t);
        }
    }
    if (active) {  // clear only what this row touched
        for (int64_t i = 0; i < h.n_prompt; i++)
            if (h.prompt[i] >= 0) seen[h.prompt[i]] = 0;
        for (int64_t i = 0; i < h.n_gen; i++)
            if (h.gen[i] >= 0) cnt[h.gen[i]] = 0, seen[h.gen[i]] = 0;
    }
    int64_t nbad = a->bad ? a->bad_len[b] : 0;
    if (nbad > a->bad_w) nbad = a->bad_w;
    for (int64_t i = 0; i < nbad; i++) {
        int64_t id = a->bad[b * a->bad_w + i];
        if (id >= 0 && id < a->vocab) fd__set_f(a->dtype, lg, id, -1e10f);
    }
}

static fd_status ref_penalty(const fd__penalty_args *a) {
    FD_TRY(ref_validate(a));
    int32_t *cnt = calloc((size_t)a->vocab + 1, sizeof *cnt);
    uint8_t *seen = calloc((size_t)a->vocab + 1, 1);
    if (!cnt || !seen) {
        free(cnt);
        free(seen);
        return fd__error(FD_ERR_OOM, "%s: no memory for counts over a vocabulary of %lld", OP,
                         (long long)a->vocab);
    }
    for (int64_t b = 0; b < a->bs; b++) ref_row(a, b, cnt, seen);
    free(cnt);
    free(seen);
    return FD_OK;
}

// Checks the history tensors into *a.
static fd_status check_history(fd__penalty_args *a, const fd_tensor *pre_ids,
                               const fd_tensor *prompt_ids, const fd_tensor *prompt_lens) {
    FD_TRY(FD_CHECK_T(OP, "pre_ids", pre_ids, FD_I64, -1, -1));
    if (pre_ids->ne[0] < a->bs)
        return fd__error(FD_ERR_INVALID_ARG, "%s: pre_ids has %lld rows, need >= bs = %lld", OP,
                         (long long)pre_ids->ne[0], (long long)a->bs);
    a->hist = pre_ids->data;
    a->hist_len = pre_ids->ne[1];
    if (prompt_ids) {
        if (!prompt_lens)
            return fd__error(FD_ERR_INVALID_ARG, "%s: prompt_ids needs prompt_lens", OP);
        FD_TRY(FD_CHECK_T(OP, "prompt_ids", prompt_ids, FD_I64, -1, -1));
        if (prompt_ids->ne[0] < a->bs)
            return fd__error(FD_ERR_INVALID_ARG, "%s: prompt_ids has %lld rows, need >= bs = %lld",
                             OP, (long long)prompt_ids->ne[0], (long long)a->bs);
        a->prompt = prompt_ids->data;
        a->prompt_stride = prompt_ids->ne[1];
    }
    if (prompt_lens) {
        FD_TRY(fd__check_slots(OP, "prompt_lens", prompt_lens, FD_I64, a->bs));
        a->prompt_lens = prompt_lens->data;
    }
    return FD_OK;
}

fd_status fd_token_penalty_multi_scores(fd_ctx *ctx, const fd_tensor *pre_ids,
                                        const fd_tensor *prompt_ids,
                                        const fd_tensor *prompt_lens, fd_tensor *logits,
                                        const fd_tensor *penalty_scores,
                                        const fd_tensor *frequency_scores,
                                        const fd_tensor *presence_scores,
                                        const fd_tensor *temperatures,
                                        const fd_tensor *bad_tokens,
                                        const fd_tensor *bad_tokens_len,
                                        const fd_tensor *cur_len, const fd_tensor *min_len,
                                        const fd_tensor *eos_token_id) {
    FD_TRY(FD_CHECK_T(OP, "logits", logits, -1, -1, -1));
    if (logits->dtype != FD_F32 && logits->dtype != FD_F16 && logits->dtype != FD_BF16)
        return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "%s: logits have dtype %s; use f32, f16 or bf16",
                         OP, fd_dtype_name(logits->dtype));
    fd__penalty_args a = {0};
    memset(&a, 0, sizeof a);
    a.logits = logits->data;
    a.dtype = logits->dtype;
    a.bs = logits->ne[0];
    a.vocab = logits->ne[1];
    if (a.vocab > INT32_MAX)
        return fd__error(FD_ERR_INVALID_ARG, "%s: vocabulary %lld is too large", OP,
                         (long long)a.vocab);
    FD_TRY(check_history(&a, pre_ids, prompt_ids, prompt_lens));
    FD_TRY(fd__check_slots(OP, "penalty_scores", penalty_scores, FD_F32, a.bs));
    FD_TRY(fd__check_slots(OP, "frequency_scores", frequency_scores, FD_F32, a.bs));
    FD_TRY(fd__check_slots(OP, "presence_scores", presence_scores, FD_F32, a.bs));
    FD_TRY(fd__check_slots(OP, "temperatures", temperatures, FD_F32, a.bs));
    FD_TRY(fd__check_slots(OP, "cur_len", cur_len, FD_I64, a.bs));
    FD_TRY(fd__check_slots(OP, "min_len", min_len, FD_I64, a.bs));
    FD_TRY(fd__check_slots(OP, "eos_token_id", eos_token_id, FD_I64, 0));
    if (!bad_tokens != !bad_tokens_len)
        return fd__error(FD_ERR_INVALID_ARG, "%s: pass bad_tokens and bad_tokens_len together", OP);
    if (bad_tokens) {
        FD_TRY(FD_CHECK_T(OP, "bad_tokens", bad_tokens, FD_I64, -1, -1));
        FD_TRY(fd__check_slots(OP, "bad_tokens_len", bad_tokens_len, FD_I64, a.bs));
        if (bad_tokens->ne[0] < a.bs)
            return fd__error(FD_ERR_INVALID_ARG, "%s: bad_tokens has %lld rows, need >= bs = %lld",
                             OP, (long long)bad_tokens->ne[0], (long long)a.bs);
        a.bad = bad_tokens->data;
        a.bad_len = bad_tokens_len->data;
        a.bad_w = bad_tokens->ne[1];
    }
    a.alpha = penalty_scores->data;
    a.beta = frequency_scores->data;
    a.gamma = presence_scores->data;
    a.temp = temperatures->data;
    a.cur = cur_len->data;
    a.min_len = min_len->data;
    a.eos = eos_token_id->data;
    a.n_eos = eos_token_id->ne[0];
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_token_penalty_multi_scores, a.dtype, &variant, &l));
    if (variant == FD_VAR_REF) return ref_penalty(&a);
#if FD_BUILT_token_penalty_multi_scores
    if (variant == FD_VAR_token_penalty_multi_scores)
        return fd__cuda_token_penalty_multi_scores(&l, &a);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: a FastDeploy-style case (alpha 1.05, beta 0.5, gamma 0.3,
// T 0.8, min length ban) against an independent naive formula; on CUDA a
// random batch against the C reference (f32 1e-5, f16 1e-3, bf16 1e-2 rel).

typedef struct pen_case {
    int64_t bs, vocab, hist_len;
    const int64_t *hist, *plen, *cur, *min_len, *eos;
    int64_t n_eos;
    const float *alpha, *beta, *gamma, *temp;
} pen_case;

static fd_status pen_run(fd_ctx *ctx, const pen_case *c, fd_dtype dt, const float *in,
                         float *out) {
    size_t n = (size_t)(c->bs * c->vocab), es = fd_dtype_size(dt);
    char *raw = malloc(n * es);
    if (!raw) return fd__error(FD_ERR_OOM, "%s: self-check buffer", OP);
    for (size_t i = 0; i < n; i++) fd__set_f(dt, raw, (int64_t)i, in[i]);
    fd__cbuf lg, h, pl, cu, mn, eo, al, be, ga, te;
    int64_t s_lg[2] = {c->bs, c->vocab}, s_h[2] = {c->bs, c->hist_len}, s_b[2] = {c->bs, 1},
            s_e[1] = {c->n_eos};
    fd_status s = fd__cbuf_new(&lg, ctx, dt, 2, s_lg, raw);
    if (s == FD_OK) s = fd__cbuf_new(&h, ctx, FD_I64, 2, s_h, c->hist);
    if (s == FD_OK) s = fd__cbuf_new(&pl, ctx, FD_I64, 2, s_b, c->plen);
    if (s == FD_OK) s = fd__cbuf_new(&cu, ctx, FD_I64, 2, s_b, c->cur);
    if (s == FD_OK) s = fd__cbuf_new(&mn, ctx, FD_I64, 2, s_b, c->min_len);
    if (s == FD_OK) s = fd__cbuf_new(&eo, ctx, FD_I64, 1, s_e, c->eos);
    if (s == FD_OK) s = fd__cbuf_new(&al, ctx, FD_F32, 2, s_b, c->alpha);
    if (s == FD_OK) s = fd__cbuf_new(&be, ctx, FD_F32, 2, s_b, c->beta);
    if (s == FD_OK) s = fd__cbuf_new(&ga, ctx, FD_F32, 2, s_b, c->gamma);
    if (s == FD_OK) s = fd__cbuf_new(&te, ctx, FD_F32, 2, s_b, c->temp);
    if (s == FD_OK)  // token_ids_all layout: prompt leads each history row
        s = fd_token_penalty_multi_scores(ctx, &h.t, NULL, &pl.t, &lg.t, &al.t, &be.t, &ga.t,
                                          &te.t, NULL, NULL, &cu.t, &mn.t, &eo.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&lg);
    if (s == FD_OK)
        for (size_t i = 0; i < n; i++) out[i] = fd__get_f(dt, lg.host, (int64_t)i);
    fd__cbuf *all[10] = {&lg, &h, &pl, &cu, &mn, &eo, &al, &be, &ga, &te};
    for (int i = 0; i < 10; i++) fd__cbuf_free(all[i]);
    free(raw);
    return s;
}

static void pen_fill(pen_case *c, int64_t *hist, int64_t *plen, int64_t *cur, uint64_t *r) {
    for (int64_t b = 0; b < c->bs; b++) {
        plen[b] = (int64_t)(fd__rng_next(r) % (uint64_t)(c->hist_len / 2));
        cur[b] = (int64_t)(fd__rng_next(r) % 4);
        for (int64_t i = 0; i < c->hist_len; i++) {
            int empty = i >= plen[b] + cur[b] * 8;
            hist[b * c->hist_len + i] =
                empty ? -1 : 3 + (int64_t)(fd__rng_next(r) % (uint64_t)(c->vocab - 3));
        }
    }
}

// Expected logits by the naive O(V * history) formula of FastDeploy's test.
static void pen_expected(const pen_case *c, const float *in, float *want, float neg) {
    for (int64_t b = 0; b < c->bs; b++) {
        int64_t plen = c->plen[b];
        const int64_t *row = c->hist + b * c->hist_len;
        for (int64_t v = 0; v < c->vocab; v++) {
            float x = in[b * c->vocab + v];
            if (c->cur[b] < c->min_len[b] && v == c->eos[0]) x = neg;
            int prompt = 0, times = 0;
            for (int64_t i = 0; i < c->hist_len; i++) {
                if (row[i] != v) continue;
                if (i < plen) prompt = 1;
                else times++;
            }
            if (prompt || times) x = x > 0 ? x / c->alpha[b] : x * c->alpha[b];
            x = x - (float)times * c->beta[b] - (times ? c->gamma[b] : 0.0f);
            want[b * c->vocab + v] = x / c->temp[b];
        }
    }
}

fd_check_result fd__check_token_penalty_multi_scores(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt,
                                                     char *detail, size_t n) {
    enum { BS = 4, V = 1031, HL = 96 };
    static const int64_t eos[1] = {2};
    int64_t hist[BS * HL], plen[BS], cur[BS], mn[BS] = {1, 1, 1, 1};
    float al[BS], be[BS], ga[BS], te[BS];
    float *buf = malloc(sizeof(float) * BS * V * 4);
    if (!buf) return FD_CHECK_FAIL;
    float *in = buf, *out = in + BS * V, *want = out + BS * V, *ref = want + BS * V;
    uint64_t r = 2024;
    pen_case c = {BS, V, HL, hist, plen, cur, mn, eos, 1, al, be, ga, te};
    pen_fill(&c, hist, plen, cur, &r);
    for (int b = 0; b < BS; b++) al[b] = 1.05f, be[b] = 0.5f, ga[b] = 0.3f, te[b] = 0.8f;
    for (int i = 0; i < BS * V; i++)  // values representable in every dtype
        in[i] = fd__get_f(FD_BF16, (uint16_t[]){fd_f32_to_bf16(fd__rng_uniform(&r) * 8 - 4)}, 0);
    double tol = dt == FD_F32 ? 1e-5 : dt == FD_F16 ? 1e-3 : 1e-2;
    fd_check_result res = FD_CHECK_PASS;
    pen_expected(&c, in, want, dt == FD_F16 ? -1e4f : -1e10f);
    if (pen_run(ctx, &c, dt, in, out) != FD_OK) {
        snprintf(detail, n, "FastDeploy-style case: %s", fd_last_error());
        res = FD_CHECK_FAIL;
    } else if (fd__compare(FD_F32, out, want, BS * V, tol, tol, detail, n)) {
        res = FD_CHECK_FAIL;
    } else if (ctx != cpu && fd_ctx_is_cuda(ctx)) {
        for (int b = 0; b < BS; b++) al[b] = 1.0f + (float)b * 0.2f, te[b] = 1.0f + (float)b * 0.5f;
        cur[0] = -1;  // inactive row: temperature only
        if (pen_run(ctx, &c, dt, in, out) != FD_OK || pen_run(cpu, &c, dt, in, ref) != FD_OK) {
            snprintf(detail, n, "random batch: %s", fd_last_error());
            res = FD_CHECK_FAIL;
        } else if (fd__compare(FD_F32, out, ref, BS * V, tol, tol, detail, n)) {
            res = FD_CHECK_FAIL;
        }
    }
    free(buf);
    return res;
}
