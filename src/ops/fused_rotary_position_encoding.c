// SPDX-License-Identifier: Apache-2.0
// fused_rotary_position_encoding: rotate q and k in place by each token's
// position, from a precomputed cos/sin table (NeoX half-split or GPT-J
// interleaved pairs, partial rotary, GQA). C reference + dispatch, and the
// helper that builds the table from a rope base.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/layers_launch.h"
#include "ops/tensor_check.h"

static const char *OP = "fused_rotary_position_encoding";

// FastDeploy's tests require more tokens than this to raise.
#define ROPE_MAX_TOKENS 65536

static float round_to(fd_dtype dt, float v) {
    if (dt == FD_F32) return v;
    uint16_t h;
    fd__set_f(dt, &h, 0, v);
    return fd__get_f(dt, &h, 0);
}

// Rotates the first rot_dim columns of one head; c/s = this position's cos/sin row halves.
static void ref_rotate_head(fd_dtype dt, void *base, int64_t off, const float *c,
                            const float *s, int half, int is_neox) {
    for (int i = 0; i < half; i++) {
        int64_t xi = off + (is_neox ? i : 2 * i), yi = off + (is_neox ? half + i : 2 * i + 1);
        float x = fd__get_f(dt, base, xi), y = fd__get_f(dt, base, yi);
        fd__set_f(dt, base, xi, x * c[i] - y * s[i]);
        fd__set_f(dt, base, yi, y * c[i] + x * s[i]);
    }
}

static fd_status ref_rotary(const fd__rotary_args *a) {
    for (int64_t t = 0; t < a->num_tokens; t++) {  // validate before writing anything
        int32_t p = a->position_ids[t];
        if (p < 0 || p >= a->max_position)
            return fd__error(FD_ERR_INVALID_ARG,
                             "%s: position_ids[%lld] = %d is outside [0, %lld); the cos_sin_cache "
                             "needs a row for every position (build it with max_position > %d)",
                             OP, (long long)t, p, (long long)a->max_position, p);
    }
    int half = a->rot_dim / 2;
    float *cs = malloc((size_t)a->rot_dim * sizeof(float));
    if (!cs) return fd__error(FD_ERR_OOM, "%s: out of host memory", OP);
    int64_t qs = (int64_t)a->n_q_heads * a->head_size, ks = (int64_t)a->n_kv_heads * a->head_size;
    for (int64_t t = 0; t < a->num_tokens; t++) {
        int64_t row = (int64_t)a->position_ids[t] * a->rot_dim;
        for (int i = 0; i < a->rot_dim; i++) cs[i] = fd__get_f(a->cache_dtype, a->cache, row + i);
        for (int h = 0; h < a->n_q_heads; h++)
            ref_rotate_head(a->dtype, a->query, t * qs + (int64_t)h * a->head_size, cs,
                            cs + half, half, a->is_neox);
        for (int h = 0; h < a->n_kv_heads; h++)
            ref_rotate_head(a->dtype, a->key, t * ks + (int64_t)h * a->head_size, cs, cs + half,
                            half, a->is_neox);
    }
    free(cs);
    return FD_OK;
}

// Checks q or k: [N, H, head_size] or [N, H*head_size]; sets *heads.
static fd_status check_heads(const char *name, const fd_tensor *t, int dt, int64_t n,
                             int head_size, int *heads) {
    if (t && t->ndim == 3) {
        FD_TRY(FD_CHECK_T(OP, name, t, dt, n, -1, head_size));
    } else {
        FD_TRY(FD_CHECK_T(OP, name, t, dt, n, -1));
    }
    int64_t width = t->ndim == 3 ? t->ne[1] * t->ne[2] : t->ne[1];
    if (width % head_size != 0 || width / head_size > INT32_MAX)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: %s has %lld columns per token, not a multiple of head_size %d",
                         OP, name, (long long)width, head_size);
    *heads = (int)(width / head_size);
    return FD_OK;
}

static fd_status check_cache(const fd_tensor *cache, fd_dtype dt, int head_size) {
    if (cache && cache->dtype != FD_F32 && cache->dtype != dt)
        return fd__error(FD_ERR_INVALID_ARG, "%s: cos_sin_cache is %s; it must be f32 or %s "
                         "(the query's dtype)", OP, fd_dtype_name(cache->dtype), fd_dtype_name(dt));
    FD_TRY(FD_CHECK_T(OP, "cos_sin_cache", cache, -1, -1, -1));
    int64_t rot = cache->ne[1];
    if (rot < 2 || rot % 2 != 0 || rot > head_size)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: cos_sin_cache has %lld columns (rot_dim); it must be even and in "
                         "[2, head_size = %d]", OP, (long long)rot, head_size);
    if (cache->ne[0] < 1 || cache->ne[0] > INT32_MAX)
        return fd__error(FD_ERR_INVALID_ARG, "%s: cos_sin_cache has %lld rows; it needs 1 to "
                         "2^31-1 (one per position)", OP, (long long)cache->ne[0]);
    return FD_OK;
}

fd_status fd_fused_rotary_position_encoding(fd_ctx *ctx, fd_tensor *query, fd_tensor *key,
                                            const fd_tensor *position_ids,
                                            const fd_tensor *cos_sin_cache, int head_size,
                                            int is_neox) {
    if (head_size <= 0)
        return fd__error(FD_ERR_INVALID_ARG, "%s: head_size must be > 0, got %d", OP, head_size);
    if (!query || query->ndim < 1)
        return fd__error(FD_ERR_INVALID_ARG, "%s: query must be [num_tokens, ...]", OP);
    fd__rotary_args a = {0};
    memset(&a, 0, sizeof a);
    a.num_tokens = query->ne[0];
    a.dtype = query->dtype;
    if (a.num_tokens > ROPE_MAX_TOKENS)
        return fd__error(FD_ERR_INVALID_ARG, "%s: %lld tokens; at most %d per call, split the "
                         "batch", OP, (long long)a.num_tokens, ROPE_MAX_TOKENS);
    FD_TRY(check_heads("query", query, -1, a.num_tokens, head_size, &a.n_q_heads));
    if (key) FD_TRY(check_heads("key", key, (int)a.dtype, a.num_tokens, head_size, &a.n_kv_heads));
    if (key && fd__tensors_overlap(query, key))
        return fd__error(FD_ERR_INVALID_ARG, "%s: key overlaps query; pass separate buffers "
                         "(or key = NULL)", OP);
    FD_TRY(FD_CHECK_T(OP, "position_ids", position_ids, FD_I32, a.num_tokens));
    FD_TRY(check_cache(cos_sin_cache, a.dtype, head_size));
    a.query = query->data;
    a.key = key ? key->data : NULL;
    a.position_ids = position_ids->data;
    a.cache = cos_sin_cache->data;
    a.cache_dtype = cos_sin_cache->dtype;
    a.max_position = cos_sin_cache->ne[0];
    a.head_size = head_size;
    a.rot_dim = (int)cos_sin_cache->ne[1];
    a.is_neox = is_neox != 0;
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_fused_rotary_position_encoding, a.dtype, &variant, &l));
    if (a.num_tokens == 0) return FD_OK;
    if (variant == FD_VAR_REF) return ref_rotary(&a);
#if FD_BUILT_fused_rotary_position_encoding
    if (variant == FD_VAR_fused_rotary_position_encoding)
        return fd__cuda_fused_rotary_position_encoding(&l, &a);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// Checks the table's dtype and shape; *half = rot_dim / 2.
static fd_status check_cache_table(const char *fn, const fd_tensor *cache, int64_t *half) {
    FD_TRY(FD_CHECK_T(fn, "cos_sin_cache", cache, -1, -1, -1));
    if (cache->dtype != FD_F32 && cache->dtype != FD_F16 && cache->dtype != FD_BF16)
        return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "%s: cos_sin_cache is %s; use f32, f16 or bf16",
                         fn, fd_dtype_name(cache->dtype));
    if (cache->ne[1] < 2 || cache->ne[1] % 2 != 0)
        return fd__error(FD_ERR_INVALID_ARG, "%s: rot_dim (columns) must be even and >= 2, got "
                         "%lld", fn, (long long)cache->ne[1]);
    *half = cache->ne[1] / 2;
    return FD_OK;
}

fd_status fd_rotary_cos_sin_cache_init_freqs(fd_ctx *ctx, fd_tensor *cache, const double *inv_freq) {
    static const char *FN = "rotary_cos_sin_cache_init_freqs";
    int64_t half, rows = cache ? cache->ne[0] : 0, rot = cache ? cache->ne[1] : 0;
    FD_TRY(check_cache_table(FN, cache, &half));
    for (int64_t i = 0; inv_freq && i < half; i++)
        if (!(inv_freq[i] >= 0.0) || !isfinite(inv_freq[i]))
            return fd__error(FD_ERR_INVALID_ARG, "%s: inv_freq[%lld] = %g; frequencies must be finite and >= 0",
                             FN, (long long)i, inv_freq[i]);
    if (!inv_freq) return fd__error(FD_ERR_INVALID_ARG, "%s: inv_freq is required", FN);
    size_t bytes = fd_tensor_bytes(cache);
    void *host = malloc(bytes ? bytes : 1);
    if (!host) return fd__error(FD_ERR_OOM, "%s: %zu bytes of host memory", FN, bytes);
    for (int64_t i = 0; i < half; i++)
        for (int64_t p = 0; p < rows; p++) {
            fd__set_f(cache->dtype, host, p * rot + i, (float)cos((double)p * inv_freq[i]));
            fd__set_f(cache->dtype, host, p * rot + half + i, (float)sin((double)p * inv_freq[i]));
        }
    fd_status s = fd_ctx_upload(ctx, cache->data, host, bytes);
    free(host);
    return s;
}

fd_status fd_rotary_cos_sin_cache_init(fd_ctx *ctx, fd_tensor *cache, double base) {
    static const char *FN = "rotary_cos_sin_cache_init";
    int64_t half;
    FD_TRY(check_cache_table(FN, cache, &half));
    if (!(base > 0.0) || !isfinite(base))
        return fd__error(FD_ERR_INVALID_ARG, "%s: base must be > 0 and finite, got %g", FN, base);
    double *f = malloc((size_t)half * sizeof *f);
    if (!f) return fd__error(FD_ERR_OOM, "%s: out of host memory", FN);
    for (int64_t i = 0; i < half; i++) f[i] = pow(base, -(double)(2 * i) / (double)(2 * half));
    fd_status s = fd_rotary_cos_sin_cache_init_freqs(ctx, cache, f);
    free(f);
    return s;
}

// ---- self-check: FastDeploy's three known-answer cases (positions 0..N-1,
// base 10000) against exact rotation in double; on CUDA a random GQA batch
// against the C reference.

typedef struct rope_case {
    int n, hq, hk, head, rot, neox;
} rope_case;

// Runs the op on ctx; q/k are host floats (rounded to dt on upload), rewritten in place.
static fd_status rope_run(fd_ctx *ctx, fd_dtype dt, const rope_case *c, const int32_t *pos,
                          int max_pos, float *q, float *k) {
    int64_t nq = (int64_t)c->n * c->hq * c->head, nk = (int64_t)c->n * c->hk * c->head;
    size_t esz = fd_dtype_size(dt);
    char *hq = malloc((size_t)nq * esz), *hk = malloc((size_t)nk * esz);
    fd__cbuf bq, bk, bp, bc;
    memset(&bq, 0, sizeof bq); memset(&bk, 0, sizeof bk);
    memset(&bp, 0, sizeof bp); memset(&bc, 0, sizeof bc);
    fd_status s = hq && hk ? FD_OK : fd__error(FD_ERR_OOM, "%s: check: host memory", OP);
    for (int64_t i = 0; s == FD_OK && i < nq; i++) fd__set_f(dt, hq, i, q[i]);
    for (int64_t i = 0; s == FD_OK && i < nk; i++) fd__set_f(dt, hk, i, k[i]);
    int64_t sq[2] = {c->n, (int64_t)c->hq * c->head}, sk[2] = {c->n, (int64_t)c->hk * c->head},
            sp[1] = {c->n}, sc[2] = {max_pos, c->rot};
    if (s == FD_OK) s = fd__cbuf_new(&bq, ctx, dt, 2, sq, hq);
    if (s == FD_OK) s = fd__cbuf_new(&bk, ctx, dt, 2, sk, hk);
    if (s == FD_OK) s = fd__cbuf_new(&bp, ctx, FD_I32, 1, sp, pos);
    if (s == FD_OK) s = fd__cbuf_new(&bc, ctx, FD_F32, 2, sc, NULL);
    if (s == FD_OK) s = fd_rotary_cos_sin_cache_init(ctx, &bc.t, 10000.0);
    if (s == FD_OK)
        s = fd_fused_rotary_position_encoding(ctx, &bq.t, &bk.t, &bp.t, &bc.t, c->head, c->neox);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&bq);
    if (s == FD_OK) s = fd__cbuf_fetch(&bk);
    for (int64_t i = 0; s == FD_OK && i < nq; i++) q[i] = fd__get_f(dt, bq.host, i);
    for (int64_t i = 0; s == FD_OK && i < nk; i++) k[i] = fd__get_f(dt, bk.host, i);
    fd__cbuf_free(&bq); fd__cbuf_free(&bk); fd__cbuf_free(&bp); fd__cbuf_free(&bc);
    free(hq);
    free(hk);
    return s;
}

// Exact rotation (double angles) of n rows of `heads` heads, positions = row index.
static void rope_expected(const rope_case *c, int heads, const float *in, float *want) {
    int half = c->rot / 2;
    memcpy(want, in, (size_t)c->n * heads * c->head * sizeof(float));
    for (int t = 0; t < c->n; t++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++) {
                double a = t * pow(10000.0, -(double)i / half);
                int64_t o = ((int64_t)t * heads + h) * c->head;
                int64_t xi = o + (c->neox ? i : 2 * i), yi = o + (c->neox ? half + i : 2 * i + 1);
                double x = in[xi], y = in[yi];
                want[xi] = (float)(x * cos(a) - y * sin(a));
                want[yi] = (float)(y * cos(a) + x * sin(a));
            }
}

static fd_check_result rope_check_case(fd_ctx *ctx, fd_dtype dt, const rope_case *c, char *detail,
                                       size_t n) {
    enum { MAXN = 16, MAXW = 2 * 8 };
    float q[MAXN * MAXW], k[MAXN * MAXW], wq[MAXN * MAXW], wk[MAXN * MAXW];
    int32_t pos[MAXN];
    uint64_t rng = 11;
    int64_t nq = (int64_t)c->n * c->hq * c->head, nk = (int64_t)c->n * c->hk * c->head;
    // Inputs rounded to dt, so that the expected values start from what the op sees.
    for (int64_t i = 0; i < nq; i++) q[i] = round_to(dt, 2 * fd__rng_uniform(&rng) - 1);
    for (int64_t i = 0; i < nk; i++) k[i] = round_to(dt, 2 * fd__rng_uniform(&rng) - 1);
    for (int i = 0; i < c->n; i++) pos[i] = i;
    rope_expected(c, c->hq, q, wq);
    rope_expected(c, c->hk, k, wk);
    if (rope_run(ctx, dt, c, pos, c->n, q, k) != FD_OK) {
        snprintf(detail, n, "%s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    double tol = dt == FD_F32 ? 1e-5 : dt == FD_F16 ? 1e-3 : 1e-2;
    if (fd__compare(FD_F32, q, wq, nq, tol, tol, detail, n) ||
        fd__compare(FD_F32, k, wk, nk, tol, tol, detail, n))
        return FD_CHECK_FAIL;
    return FD_CHECK_PASS;
}

// Random GQA batch (positions up to 4095, partial rotary): CUDA vs the C reference.
static fd_check_result rope_check_random(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, int neox,
                                         char *detail, size_t n) {
    const rope_case c = {33, 4, 2, 64, 48, neox};
    int64_t nq = (int64_t)c.n * c.hq * c.head, nk = (int64_t)c.n * c.hk * c.head;
    float *buf = malloc((size_t)(nq + nk) * 2 * sizeof(float));
    if (!buf) {
        snprintf(detail, n, "out of host memory");
        return FD_CHECK_FAIL;
    }
    float *q = buf, *k = q + nq, *rq = k + nk, *rk = rq + nq;
    int32_t pos[33];
    uint64_t rng = 5;
    for (int64_t i = 0; i < nq + nk; i++) buf[i] = 4 * fd__rng_uniform(&rng) - 2;
    for (int i = 0; i < c.n; i++) pos[i] = (int32_t)(fd__rng_next(&rng) % 4096);
    memcpy(rq, q, (size_t)(nq + nk) * sizeof(float));
    fd_check_result r = FD_CHECK_PASS;
    if (rope_run(ctx, dt, &c, pos, 4096, q, k) != FD_OK ||
        rope_run(cpu, dt, &c, pos, 4096, rq, rk) != FD_OK) {
        snprintf(detail, n, "%s", fd_last_error());
        r = FD_CHECK_FAIL;
    } else {
        double tol = dt == FD_F32 ? 1e-5 : dt == FD_F16 ? 1e-3 : 1e-2;
        if (fd__compare(FD_F32, q, rq, nq, tol, tol, detail, n) ||
            fd__compare(FD_F32, k, rk, nk, tol, tol, detail, n))
            r = FD_CHECK_FAIL;
    }
    free(buf);
    return r;
}

fd_check_result fd__check_fused_rotary_position_encoding(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt,
                                                         char *detail, size_t n) {
    static const rope_case cases[3] = {
        {4, 2, 2, 6, 4, 0}, {3, 2, 2, 8, 8, 1}, {10, 2, 2, 4, 4, 0}};
    for (int i = 0; i < 3; i++)
        if (rope_check_case(ctx, dt, &cases[i], detail, n) != FD_CHECK_PASS) return FD_CHECK_FAIL;
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    for (int neox = 0; neox < 2; neox++)
        if (rope_check_random(ctx, cpu, dt, neox, detail, n) != FD_CHECK_PASS)
            return FD_CHECK_FAIL;
    return FD_CHECK_PASS;
}
