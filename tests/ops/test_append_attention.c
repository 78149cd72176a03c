// SPDX-License-Identifier: Apache-2.0
// append_attention: the C reference against an independent dense oracle
// (double, contiguous history, brute-force masked softmax) on mixed
// prefill/decode/chunked batches over shuffled block tables, rotary (NeoX and
// interleaved), GQA, int8 cache, sliding windows, the cache contents written,
// bad input; the GPU against the reference over block sizes 16/64/128, GQA
// 1/4/8, head dims 64/128/256, contexts to 16k, sliding windows with every
// prefill kernel; and, with FD_BENCH=1, decode/prefill timings.
#include <time.h>

#include "fd_test.h"

static fd_test_env env;
static const char *OP = "append_attention";

// ---- a batch: lengths, shapes, and host copies of every input

typedef struct aa_t {
    int bsz;
    int32_t dec[320], len[320], cu[321];
    int n_q, n_kv, hd, bs, rot, neox, int8, quick_fill;  // quick_fill: constant caches (bench)
    int window;             // fd_attention_opts.sliding_window
    fd_dtype dt;
    int64_t token_num, nblk, mbps, max_pos;
    int32_t *bt;
    void *qkv, *kc, *vc;    // dt (caches: dt or i8)
    float *rotary, ks[16], vs[16];
} aa_t;

static float ld(fd_dtype dt, const void *p, int64_t i) {
    if (dt == FD_F32) return ((const float *)p)[i];
    if (dt == FD_I8) return ((const int8_t *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return dt == FD_F16 ? fd_f16_to_f32(h) : fd_bf16_to_f32(h);
}

static void st(fd_dtype dt, void *p, int64_t i, float v) {
    if (dt == FD_F32) ((float *)p)[i] = v;
    else if (dt == FD_I8) ((int8_t *)p)[i] = (int8_t)v;
    else ((uint16_t *)p)[i] = dt == FD_F16 ? fd_f32_to_f16(v) : fd_f32_to_bf16(v);
}

static fd_dtype cache_dt(const aa_t *c) { return c->int8 ? FD_I8 : c->dt; }
static int64_t cols(const aa_t *c) { return (int64_t)(c->n_q + 2 * c->n_kv) * c->hd; }
static int64_t cache_n(const aa_t *c) { return c->nblk * c->n_kv * c->bs * c->hd; }
static int64_t out_n(const aa_t *c) { return c->token_num * c->n_q * c->hd; }

// Fills everything from the lengths and shapes: shuffled block table, random
// qkv and caches (history and garbage alike), rotary table, int8 scales.
static void aa_init(aa_t *c, uint64_t seed) {
    uint64_t rng = seed;
    c->token_num = 0;
    c->mbps = 1;
    c->nblk = 3;  // spare blocks nobody owns: must stay untouched
    for (int b = 0; b < c->bsz; b++) {
        c->cu[b] = (int32_t)c->token_num;
        c->token_num += c->len[b];
        int64_t nb = (c->dec[b] + c->len[b] + c->bs - 1) / c->bs;
        c->nblk += nb;
        if (nb + 1 > c->mbps) c->mbps = nb + 1;
    }
    c->cu[c->bsz] = (int32_t)c->token_num;
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)c->nblk);
    for (int64_t i = 0; i < c->nblk; i++) perm[i] = (int32_t)i;
    for (int64_t i = c->nblk - 1; i > 0; i--) {
        int64_t j = (int64_t)(fd_test_rand(&rng) % (uint64_t)(i + 1));
        int32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    c->bt = malloc(sizeof(int32_t) * (size_t)(c->bsz * c->mbps + 1));
    int64_t next = 0;
    for (int b = 0; b < c->bsz; b++)
        for (int64_t k = 0; k < c->mbps; k++)
            c->bt[b * c->mbps + k] = k < (c->dec[b] + c->len[b] + c->bs - 1) / c->bs
                                         ? perm[next++] : -7;  // unused entries are never read
    free(perm);
    size_t esz = fd_dtype_size(c->dt), csz = fd_dtype_size(cache_dt(c));
    c->qkv = malloc(esz * (size_t)((c->token_num + 1) * cols(c)));
    c->kc = malloc(csz * (size_t)cache_n(c));
    c->vc = malloc(csz * (size_t)cache_n(c));
    for (int64_t i = 0; i < c->token_num * cols(c); i++) st(c->dt, c->qkv, i, fd_test_randf(&rng));
    if (c->quick_fill) {
        memset(c->kc, 0x11, csz * (size_t)cache_n(c));
        memset(c->vc, 0x11, csz * (size_t)cache_n(c));
    }
    for (int64_t i = 0; i < cache_n(c) && !c->quick_fill; i++) {
        float k = fd_test_randf(&rng), v = fd_test_randf(&rng);
        st(cache_dt(c), c->kc, i, c->int8 ? rintf(k * 127) : k);
        st(cache_dt(c), c->vc, i, c->int8 ? rintf(v * 127) : v);
    }
    for (int h = 0; h < c->n_kv; h++) {
        c->ks[h] = (1.2f + 0.1f * h) / 127;  // |rotated k| <= sqrt(2)
        c->vs[h] = (1.0f + 0.05f * h) / 127;
    }
    c->max_pos = 0;
    for (int b = 0; b < c->bsz; b++)
        if (c->dec[b] + c->len[b] > c->max_pos) c->max_pos = c->dec[b] + c->len[b];
    c->rotary = NULL;
    if (c->rot) {
        c->rotary = malloc(sizeof(float) * (size_t)(c->max_pos * c->rot));
        for (int64_t p = 0; p < c->max_pos; p++)
            for (int i = 0; i < c->rot / 2; i++) {
                double a = (double)p * pow(10000.0, -2.0 * i / c->rot);
                c->rotary[p * c->rot + i] = (float)cos(a);
                c->rotary[p * c->rot + c->rot / 2 + i] = (float)sin(a);
            }
    }
}

static void aa_free(aa_t *c) {
    free(c->bt); free(c->qkv); free(c->kc); free(c->vc); free(c->rotary);
}

typedef struct aa_out {
    void *out, *kc, *vc;
} aa_out;

static void aa_out_alloc(const aa_t *c, aa_out *o) {
    size_t csz = fd_dtype_size(cache_dt(c));
    o->out = calloc((size_t)out_n(c) + 1, fd_dtype_size(c->dt));
    o->kc = malloc(csz * (size_t)cache_n(c));
    o->vc = malloc(csz * (size_t)cache_n(c));
}
static void aa_out_free(aa_out *o) { free(o->out); free(o->kc); free(o->vc); }

// Runs the op on ctx from the host inputs; o receives out and both caches.
static fd_status aa_run(fd_ctx *ctx, const aa_t *c, const fd_attention_opts *extra, aa_out *o) {
    fd_dtype cdt = cache_dt(c);
    fd_tbuf qkv = FD_TBUF(ctx, c->dt, c->qkv, c->token_num, cols(c));
    fd_tbuf kc = FD_TBUF(ctx, cdt, c->kc, c->nblk, c->n_kv, c->bs, c->hd);
    fd_tbuf vc = FD_TBUF(ctx, cdt, c->vc, c->nblk, c->n_kv, c->bs, c->hd);
    fd_tbuf cu = FD_TBUF(ctx, FD_I32, c->cu, c->bsz + 1);
    fd_tbuf dec = FD_TBUF(ctx, FD_I32, c->dec, c->bsz);
    fd_tbuf len = FD_TBUF(ctx, FD_I32, c->len, c->bsz);
    fd_tbuf bt = FD_TBUF(ctx, FD_I32, c->bt, c->bsz, c->mbps);
    fd_tbuf rot = FD_TBUF(ctx, FD_F32, c->rotary, c->rot ? c->max_pos : 1, c->rot ? c->rot : 1);
    fd_tbuf ks = FD_TBUF(ctx, FD_F32, c->ks, c->n_kv);
    fd_tbuf vs = FD_TBUF(ctx, FD_F32, c->vs, c->n_kv);
    fd_tbuf out = FD_TBUF(ctx, c->dt, NULL, c->token_num, (int64_t)c->n_q * c->hd);
    fd_attention_opts opts;
    memset(&opts, 0, sizeof opts);
    if (extra) opts = *extra;
    opts.rotary = c->rot ? &rot.t : NULL;
    opts.rotary_neox = c->neox;
    opts.k_scale = &ks.t;
    opts.v_scale = &vs.t;
    opts.sliding_window = c->window;
    fd_status s = fd_append_attention(ctx, &qkv.t, &kc.t, &vc.t, &cu.t, &dec.t, &len.t, &bt.t,
                                      &opts, 1.0f / sqrtf((float)c->hd), &out.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    size_t cb = (size_t)cache_n(c) * fd_dtype_size(cdt);
    if (o) {  // fetched even on error: the caller checks nothing was written
        memcpy(o->out, fd_tbuf_fetch(&out), (size_t)out_n(c) * fd_dtype_size(c->dt));
        memcpy(o->kc, fd_tbuf_fetch(&kc), cb);
        memcpy(o->vc, fd_tbuf_fetch(&vc), cb);
    }
    fd_tbuf_free(&qkv); fd_tbuf_free(&kc); fd_tbuf_free(&vc); fd_tbuf_free(&cu);
    fd_tbuf_free(&dec); fd_tbuf_free(&len); fd_tbuf_free(&bt); fd_tbuf_free(&rot);
    fd_tbuf_free(&ks); fd_tbuf_free(&vs); fd_tbuf_free(&out);
    return s;
}

// ---- the oracle: dense double-precision attention over a contiguous history

static int64_t coff(const aa_t *c, int b, int64_t pos, int h) {
    int64_t blk = c->bt[b * c->mbps + pos / c->bs];
    return ((blk * c->n_kv + h) * c->bs + pos % c->bs) * c->hd;
}

// Head h of token t (qkv head index), rotated at pos when asked, in double.
static void head(const aa_t *c, int64_t t, int h, int64_t pos, int rotate, double *x) {
    const int64_t base = t * cols(c) + (int64_t)h * c->hd;
    for (int d = 0; d < c->hd; d++) x[d] = ld(c->dt, c->qkv, base + d);
    if (!rotate || !c->rot) return;
    int half = c->rot / 2;
    for (int i = 0; i < half; i++) {
        int a = c->neox ? i : 2 * i, b = c->neox ? i + half : 2 * i + 1;
        double cs = c->rotary[pos * c->rot + i], sn = c->rotary[pos * c->rot + half + i];
        double xa = x[a], xb = x[b];
        x[a] = xa * cs - xb * sn;
        x[b] = xb * cs + xa * sn;
    }
}

// Whether a query at pos sees key k: causal, and within the last `window`
// positions (Gemma 3 / llama.cpp LLAMA_SWA_TYPE_STANDARD: pos - k < window).
static int visible(const aa_t *c, int64_t pos, int64_t k) {
    return k <= pos && (c->window == 0 || pos - k < c->window);
}

static float to_cache(const aa_t *c, double v, float scale) {
    if (!c->int8) return (float)v;
    double q = nearbyint(v / scale);
    return (float)(q > 127 ? 127 : q < -127 ? -127 : q);
}

// Expected caches (kc/vc, cache dtype) and output (out, f32) of case c.
static void oracle(const aa_t *c, void *kc, void *vc, float *out) {
    fd_dtype cdt = cache_dt(c);
    size_t cb = (size_t)cache_n(c) * fd_dtype_size(cdt);
    memcpy(kc, c->kc, cb);
    memcpy(vc, c->vc, cb);
    double *x = malloc(sizeof(double) * (size_t)c->hd * 3), *o = x + c->hd, *q = o + c->hd;
    double *s = malloc(sizeof(double) * (size_t)(c->max_pos + 1));
    for (int b = 0; b < c->bsz; b++)
        for (int j = 0; j < c->len[b]; j++)
            for (int h = 0; h < c->n_kv; h++) {
                int64_t t = c->cu[b] + j, pos = c->dec[b] + j, off = coff(c, b, pos, h);
                head(c, t, c->n_q + h, pos, 1, x);
                for (int d = 0; d < c->hd; d++) st(cdt, kc, off + d, to_cache(c, x[d], c->ks[h]));
                head(c, t, c->n_q + c->n_kv + h, pos, 0, x);
                for (int d = 0; d < c->hd; d++) st(cdt, vc, off + d, to_cache(c, x[d], c->vs[h]));
            }
    for (int b = 0; b < c->bsz; b++)
        for (int j = 0; j < c->len[b]; j++)
            for (int qh = 0; qh < c->n_q; qh++) {
                int64_t t = c->cu[b] + j, pos = c->dec[b] + j;
                int h = qh / (c->n_q / c->n_kv);
                head(c, t, qh, pos, 1, q);
                for (int d = 0; d < c->hd; d++) {  // q is held in the dtype after rotary
                    float r;
                    st(c->dt, &r, 0, (float)q[d]);
                    q[d] = ld(c->dt, &r, 0);
                }
                double m = -INFINITY, l = 0, ksc = c->int8 ? c->ks[h] : 1, vsc = c->int8 ? c->vs[h] : 1;
                for (int64_t k = 0; k <= pos; k++) {  // every key scored, masked ones -inf
                    double acc = 0;
                    for (int d = 0; d < c->hd; d++) acc += q[d] * ld(cdt, kc, coff(c, b, k, h) + d) * ksc;
                    s[k] = visible(c, pos, k) ? acc / sqrt((double)c->hd) : -INFINITY;
                    if (s[k] > m) m = s[k];
                }
                for (int d = 0; d < c->hd; d++) o[d] = 0;
                for (int64_t k = 0; k <= pos; k++) {
                    double p = exp(s[k] - m);  // 0 for a masked key
                    l += p;
                    for (int d = 0; d < c->hd; d++) o[d] += p * ld(cdt, vc, coff(c, b, k, h) + d) * vsc;
                }
                for (int d = 0; d < c->hd; d++) out[(t * c->n_q + qh) * c->hd + d] = (float)(o[d] / l);
            }
    free(x);
    free(s);
}

// max |a - b| over n elements (a, b of dtype dt) against atol + rtol |b|; reports the worst.
static int close_to(fd_dtype dt, const void *a, fd_dtype bdt, const void *b, int64_t n,
                    double atol, double rtol, const char *what) {
    int64_t worst = -1;
    double werr = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = ld(dt, a, i), y = ld(bdt, b, i), e = fabs(x - y) - (atol + rtol * fabs(y));
        if (!(e <= 0) && (worst < 0 || !(e <= werr))) worst = i, werr = e;
    }
    if (worst >= 0)
        FD_FAILF("%s: element %lld: %g vs %g (atol %g, rtol %g)", what, (long long)worst,
                 (double)ld(dt, a, worst), (double)ld(bdt, b, worst), atol, rtol);
    return worst < 0;
}

// Tolerances: output / K cache against a reference of higher precision.
static double out_tol(fd_dtype dt) { return dt == FD_F32 ? 1e-4 : dt == FD_F16 ? 4e-3 : 2e-2; }
static double cache_tol(const aa_t *c) {
    return c->int8 ? 1.0 : c->dt == FD_F32 ? 1e-5 : c->dt == FD_F16 ? 1e-3 : 8e-3;
}

// The C reference against the oracle: output, both caches (incl. untouched blocks).
static void ref_vs_oracle(aa_t *c, uint64_t seed) {
    aa_init(c, seed);
    aa_out got, want;
    aa_out_alloc(c, &got);
    aa_out_alloc(c, &want);
    float *wout = malloc(sizeof(float) * (size_t)(out_n(c) + 1));
    CHECK_OK(aa_run(env.cpu, c, NULL, &got));
    oracle(c, want.kc, want.vc, wout);
    fd_dtype cdt = cache_dt(c);
    close_to(c->dt, got.out, FD_F32, wout, out_n(c), out_tol(c->dt), out_tol(c->dt), "out");
    close_to(cdt, got.kc, cdt, want.kc, cache_n(c), cache_tol(c), cache_tol(c), "key_cache");
    close_to(cdt, got.vc, cdt, want.vc, cache_n(c), c->int8 ? 1.0 : 0, 0, "value_cache");
    free(wout);
    aa_out_free(&got);
    aa_out_free(&want);
    aa_free(c);
}

// Fresh prefill, chunked prefill over a cache, decode ending on a block edge, idle slot.
static void cpu_mixed_batch(void) {
    aa_t c = {.bsz = 4, .dec = {0, 45, 63, 9}, .len = {37, 20, 1, 0}, .n_q = 8, .n_kv = 2,
              .hd = 64, .bs = 16, .rot = 64, .neox = 1, .dt = FD_F32};
    ref_vs_oracle(&c, 1);
}

// Interleaved partial rotary, MHA, head_dim 128, block 64; context 1 (first token).
static void cpu_interleaved_mha(void) {
    aa_t c = {.bsz = 3, .dec = {0, 0, 64}, .len = {1, 5, 2}, .n_q = 2, .n_kv = 2, .hd = 128,
              .bs = 64, .rot = 32, .neox = 0, .dt = FD_F32};
    ref_vs_oracle(&c, 2);
}

// f16 and bf16 storage, head_dim 256, GQA 8, block 128, no rotary.
static void cpu_half_types(void) {
    fd_dtype dts[2] = {FD_F16, FD_BF16};
    for (int k = 0; k < 2; k++) {
        aa_t c = {.bsz = 2, .dec = {120, 0}, .len = {9, 3}, .n_q = 8, .n_kv = 1, .hd = 256,
                  .bs = 128, .dt = dts[k]};
        ref_vs_oracle(&c, 3 + k);
    }
}

// int8 cache with per-head scales: quantised on write, dequantised on read.
static void cpu_int8_cache(void) {
    aa_t c = {.bsz = 2, .dec = {30, 0}, .len = {4, 17}, .n_q = 4, .n_kv = 2, .hd = 64,
              .bs = 16, .rot = 64, .neox = 1, .int8 = 1, .dt = FD_F32};
    ref_vs_oracle(&c, 5);
    aa_t h = {.bsz = 1, .dec = {33}, .len = {2}, .n_q = 4, .n_kv = 1, .hd = 128, .bs = 32,
              .int8 = 1, .dt = FD_F16};
    ref_vs_oracle(&h, 6);
}

// Sliding windows, reference vs the oracle's masked softmax: window 1, a
// block edge (16: the decode at 63 starts its window on block 3), not a
// multiple of the block (23), several KV tiles (70), on a mixed batch (fresh
// prefill longer than the window, chunk over a cache, decode, idle slot, GQA
// 4); f16/bf16 at Gemma 3's head_dim 256, 4 q / 1 kv heads; an int8 cache.
static void cpu_sliding_window(void) {
    static const int wins[4] = {1, 16, 23, 70};
    for (int i = 0; i < 4; i++) {
        aa_t c = {.bsz = 4, .dec = {0, 45, 63, 9}, .len = {37, 20, 1, 0}, .n_q = 8, .n_kv = 2,
                  .hd = 64, .bs = 16, .rot = 64, .neox = 1, .dt = FD_F32, .window = wins[i]};
        ref_vs_oracle(&c, 10 + (uint64_t)i);
    }
    fd_dtype dts[2] = {FD_F16, FD_BF16};
    for (int k = 0; k < 2; k++) {
        aa_t c = {.bsz = 2, .dec = {600, 0}, .len = {1, 40}, .n_q = 4, .n_kv = 1, .hd = 256,
                  .bs = 64, .rot = 256, .neox = 1, .dt = dts[k], .window = 32};
        ref_vs_oracle(&c, 14 + (uint64_t)k);
    }
    aa_t q = {.bsz = 2, .dec = {100, 0}, .len = {3, 30}, .n_q = 4, .n_kv = 2, .hd = 128,
              .bs = 32, .int8 = 1, .dt = FD_F16, .window = 9};
    ref_vs_oracle(&q, 16);
}

// A window as long as the longest context gives exactly the result of none
// (with max_kv_len = that context the GPU's work split is the same too).
static void window_covers_all_on(fd_ctx *ctx) {
    fd_dtype dt = ctx == env.cpu ? FD_F32 : FD_F16;
    aa_t c = {.bsz = 3, .dec = {200, 0, 70}, .len = {1, 90, 30}, .n_q = 8, .n_kv = 2, .hd = 128,
              .bs = 16, .rot = 128, .neox = 1, .dt = dt};
    aa_init(&c, 20);
    aa_out full, win;
    aa_out_alloc(&c, &full);
    aa_out_alloc(&c, &win);
    fd_attention_opts hint;
    memset(&hint, 0, sizeof hint);
    hint.max_kv_len = c.max_pos;
    CHECK_OK(aa_run(ctx, &c, &hint, &full));
    c.window = (int)c.max_pos;
    CHECK_OK(aa_run(ctx, &c, &hint, &win));
    CHECK(memcmp(full.out, win.out, (size_t)out_n(&c) * fd_dtype_size(dt)) == 0);
    aa_out_free(&full);
    aa_out_free(&win);
    aa_free(&c);
}

// A batch with no tokens at all, and bsz 0.
static void empty_on(fd_ctx *ctx) {
    aa_t c = {.bsz = 2, .dec = {5, 0}, .len = {0, 0}, .n_q = 2, .n_kv = 1, .hd = 64, .bs = 16,
              .dt = ctx == env.cpu ? FD_F32 : FD_F16};
    aa_init(&c, 7);
    c.token_num = 1;  // one padding row, never written
    aa_out o;
    aa_out_alloc(&c, &o);
    CHECK_OK(aa_run(ctx, &c, NULL, &o));
    CHECK(memcmp(o.kc, c.kc, (size_t)cache_n(&c) * fd_dtype_size(c.dt)) == 0);
    aa_out_free(&o);
    c.bsz = 0;
    CHECK_OK(aa_run(ctx, &c, NULL, NULL));
    aa_free(&c);
}

// Bad data: the error names the op and (C reference) nothing is written.
static void bad_data_on(fd_ctx *ctx) {
    fd_dtype dt = ctx == env.cpu ? FD_F32 : FD_F16;
    aa_t c = {.bsz = 2, .dec = {20, 3}, .len = {3, 1}, .n_q = 4, .n_kv = 2, .hd = 64, .bs = 16,
              .rot = 64, .neox = 1, .dt = dt};
    aa_init(&c, 8);
    aa_out o;
    aa_out_alloc(&c, &o);
    size_t cb = (size_t)cache_n(&c) * fd_dtype_size(dt);
    int32_t saved = c.bt[1];
    c.bt[1] = (int32_t)c.nblk;  // sequence 0's second block: out of range
    CHECK_STATUS(aa_run(ctx, &c, NULL, &o), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), OP);
    if (ctx == env.cpu) CHECK(memcmp(o.kc, c.kc, cb) == 0 && memcmp(o.vc, c.vc, cb) == 0);
    c.bt[1] = -1;
    CHECK_STATUS(aa_run(ctx, &c, NULL, &o), FD_ERR_INVALID_ARG);
    c.bt[1] = saved;
    c.len[1] = 2;  // lengths no longer add up to cu_seqlens_q
    CHECK_STATUS(aa_run(ctx, &c, NULL, &o), FD_ERR_INVALID_ARG);
    c.len[1] = 1;
    c.dec[1] = (int32_t)(c.mbps * c.bs);  // context past the block table
    CHECK_STATUS(aa_run(ctx, &c, NULL, &o), FD_ERR_INVALID_ARG);
    c.dec[1] = 3;
    fd_attention_opts hint;
    memset(&hint, 0, sizeof hint);
    hint.max_kv_len = 10;  // sequence 0 reaches 23
    CHECK_STATUS(aa_run(ctx, &c, &hint, &o), FD_ERR_INVALID_ARG);
    c.max_pos = 20;  // rotary table too short for position 22
    CHECK_STATUS(aa_run(ctx, &c, NULL, &o), FD_ERR_INVALID_ARG);
    c.max_pos = 23;
    c.window = -1;
    CHECK_STATUS(aa_run(ctx, &c, NULL, &o), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "sliding_window -1");
    if (ctx == env.cpu) CHECK(memcmp(o.kc, c.kc, cb) == 0 && memcmp(o.vc, c.vc, cb) == 0);
    c.window = 0;
    CHECK_OK(aa_run(ctx, &c, NULL, &o));
    aa_out_free(&o);
    aa_free(&c);
}

// Bad shapes: head counts, head_dim, block size, dtypes, missing scales.
static void bad_shapes(void) {
    fd_ctx *ctx = env.cpu;
    static float qkv[4 * 8 * 64], kc[4 * 2 * 16 * 64], vc[4 * 2 * 16 * 64], out[4 * 4 * 64];
    static int32_t cu[2] = {0, 1}, one[1] = {1}, zero[1] = {0}, bt[4] = {0, 1, 2, 3};
    fd_tensor q = fd_tensor_2d(qkv, FD_F32, 1, 8 * 64);
    fd_tensor k = {kc, FD_F32, 4, {4, 2, 16, 64}}, v = {vc, FD_F32, 4, {4, 2, 16, 64}};
    fd_tensor c = fd_tensor_1d(cu, FD_I32, 2), d = fd_tensor_1d(zero, FD_I32, 1),
              l = fd_tensor_1d(one, FD_I32, 1), b = fd_tensor_2d(bt, FD_I32, 1, 4),
              o = fd_tensor_2d(out, FD_F32, 1, 4 * 64);
    CHECK_OK(fd_append_attention(ctx, &q, &k, &v, &c, &d, &l, &b, NULL, 0.125f, &o));
    fd_tensor q7 = fd_tensor_2d(qkv, FD_F32, 1, 7 * 64);  // 3 q heads over 2 kv heads
    fd_tensor o3 = fd_tensor_2d(out, FD_F32, 1, 3 * 64);
    CHECK_STATUS(fd_append_attention(ctx, &q7, &k, &v, &c, &d, &l, &b, NULL, 0.125f, &o3),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "multiple of the kv heads");
    fd_tensor k96 = {kc, FD_F32, 4, {4, 2, 16, 96}}, v96 = {vc, FD_F32, 4, {4, 2, 16, 96}};
    CHECK_STATUS(fd_append_attention(ctx, &q, &k96, &v96, &c, &d, &l, &b, NULL, 0.125f, &o),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "head_dim 96");
    fd_tensor k24 = {kc, FD_F32, 4, {2, 2, 24, 64}}, v24 = {vc, FD_F32, 4, {2, 2, 24, 64}};
    CHECK_STATUS(fd_append_attention(ctx, &q, &k24, &v24, &c, &d, &l, &b, NULL, 0.125f, &o),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "block_size 24");
    fd_tensor v16 = {vc, FD_F16, 4, {4, 2, 16, 64}};
    CHECK_STATUS(fd_append_attention(ctx, &q, &k, &v16, &c, &d, &l, &b, NULL, 0.125f, &o),
                 FD_ERR_INVALID_ARG);
    fd_tensor k8 = {kc, FD_I8, 4, {4, 2, 16, 64}}, v8 = {vc, FD_I8, 4, {4, 2, 16, 64}};
    CHECK_STATUS(fd_append_attention(ctx, &q, &k8, &v8, &c, &d, &l, &b, NULL, 0.125f, &o),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "k_scale");
    fd_tensor o_bad = fd_tensor_2d(out, FD_F32, 1, 2 * 64);
    CHECK_STATUS(fd_append_attention(ctx, &q, &k, &v, &c, &d, &l, &b, NULL, 0.125f, &o_bad),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_append_attention(ctx, &q, &k, &v, &c, &d, &l, &b, NULL, NAN, &o),
                 FD_ERR_INVALID_ARG);
    fd_tensor rot_odd = fd_tensor_2d(qkv, FD_F32, 8, 63);
    fd_attention_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.rotary = &rot_odd;
    CHECK_STATUS(fd_append_attention(ctx, &q, &k, &v, &c, &d, &l, &b, &opts, 0.125f, &o),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "rot_dim");
    CHECK(fd_append_attention_workspace_size(ctx, 10, 2, 4, 2, 64, 4, 16, 0) == 0);
}

static void table_and_info_agree(void) { fd_test_table_agrees(&env, OP, 70); }

static void cpu_empty(void) { empty_on(env.cpu); }
static void cpu_window_covers_all(void) { window_covers_all_on(env.cpu); }
static void cpu_bad_data(void) { bad_data_on(env.cpu); }

// ---- GPU against the C reference

// Runs c on the GPU and on the reference; compares out and both caches.
// Skips (returns 0) when the GPU has no variant for c's dtype.
static int gpu_vs_ref(fd_ctx *g, aa_t *c, uint64_t seed, const fd_attention_opts *extra) {
    aa_init(c, seed);
    aa_out got, want;
    aa_out_alloc(c, &got);
    aa_out_alloc(c, &want);
    fd_status s = aa_run(g, c, extra, &got);
    int ran = s != FD_ERR_UNSUPPORTED_DTYPE && s != FD_ERR_UNSUPPORTED_ARCH;
    if (ran) {
        CHECK_OK(s);
        CHECK_OK(aa_run(env.cpu, c, NULL, &want));
        fd_dtype cdt = cache_dt(c);
        char what[160];
        const char *mode = getenv("FDEPLOY_ATTN_PREFILL");
        snprintf(what, sizeof what, "%s bs %d G %d hd %d%s window %d prefill %s: out",
                 fd_dtype_name(c->dt), c->bs, c->n_q / c->n_kv, c->hd, c->int8 ? " int8" : "",
                 c->window, mode ? mode : "default");
        double tol = c->dt == FD_F16 ? 1e-2 : 3e-2;  // P is rounded to the dtype on the GPU
        close_to(c->dt, got.out, c->dt, want.out, out_n(c), tol, tol, what);
        close_to(cdt, got.kc, cdt, want.kc, cache_n(c), cache_tol(c), cache_tol(c), "key_cache");
        close_to(cdt, got.vc, cdt, want.vc, cache_n(c), 0, 0, "value_cache");
    }
    aa_out_free(&got);
    aa_out_free(&want);
    aa_free(c);
    return ran;
}

// Block sizes x GQA ratios x head dims, each a mixed batch: decodes (one on a
// block edge), a chunked prefill over a cache, a fresh prefill, an idle slot.
static void gpu_random_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, OP);
    if (!g) return;
    static const int bss[3] = {16, 64, 128}, gs[3] = {1, 4, 8}, hds[3] = {64, 128, 256};
    fd_dtype dts[2] = {FD_F16, FD_BF16};
    uint64_t seed = 100;
    for (int di = 0; di < 2; di++)
        for (int bi = 0; bi < 3; bi++)
            for (int gi = 0; gi < 3; gi++)
                for (int hi = 0; hi < 3; hi++) {
                    int bs = bss[bi];
                    aa_t c = {.bsz = 5, .dec = {bs * 3 - 1, 300, 130, 0, 17},
                              .len = {1, 1, 45, 40, 0}, .n_q = 2 * gs[gi], .n_kv = 2,
                              .hd = hds[hi], .bs = bs, .rot = hds[hi], .neox = (int)(seed & 1),
                              .dt = dts[di]};
                    if (!gpu_vs_ref(g, &c, seed++, NULL)) break;  // no bf16 here
                }
}

// int8 caches on the GPU, decode + prefill, with and without rotary.
static void gpu_int8_cache(void) {
    fd_ctx *g = fd_test_gpu_for(&env, OP);
    if (!g) return;
    for (int k = 0; k < 3; k++) {
        aa_t c = {.bsz = 3, .dec = {200, 64, 0}, .len = {1, 30, 70}, .n_q = 8, .n_kv = 2,
                  .hd = 64 << k, .bs = 64, .rot = k == 1 ? 0 : 32, .neox = k == 2,
                  .int8 = 1, .dt = FD_F16};
        gpu_vs_ref(g, &c, 300 + k, NULL);
    }
}

// Long contexts: 16k-token decodes (split KV + merge) and a chunk over 8k.
static void gpu_long_context(void) {
    fd_ctx *g = fd_test_gpu_for(&env, OP);
    if (!g) return;
    aa_t c = {.bsz = 3, .dec = {16383, 9000, 8192}, .len = {1, 1, 64}, .n_q = 8, .n_kv = 2,
              .hd = 128, .bs = 64, .rot = 128, .neox = 1, .dt = FD_F16};
    gpu_vs_ref(g, &c, 400, NULL);
    aa_t d = {.bsz = 1, .dec = {16000}, .len = {4}, .n_q = 32, .n_kv = 4, .hd = 64, .bs = 128,
              .dt = FD_F16};
    gpu_vs_ref(g, &d, 401, NULL);  // 4 tokens x G 8 = 32 rows: big tiles, split
}

// Hints and a caller-provided workspace give the same results.
static void gpu_workspace_and_hints(void) {
    fd_ctx *g = fd_test_gpu_for(&env, OP);
    if (!g) return;
    aa_t c = {.bsz = 2, .dec = {3000, 100}, .len = {1, 50}, .n_q = 16, .n_kv = 2, .hd = 128,
              .bs = 64, .rot = 128, .neox = 1, .dt = FD_F16};
    size_t bytes = fd_append_attention_workspace_size(g, 51, 2, 16, 2, 128, 50, 64, 3100);
    CHECK(bytes > 0);
    void *ws = NULL;
    CHECK_OK(fd_ctx_alloc(g, bytes, &ws));
    fd_tensor wt = fd_tensor_1d(ws, FD_U8, (int64_t)bytes);
    fd_attention_opts o;
    memset(&o, 0, sizeof o);
    o.max_q_len = 50;
    o.max_kv_len = 3100;
    o.workspace = &wt;
    gpu_vs_ref(g, &c, 500, &o);
    aa_t w = c;  // the size query knows no window: a windowed plan must fit too
    w.window = 100;
    gpu_vs_ref(g, &w, 502, &o);
    wt.ne[0] = 16;  // too small
    aa_t d = c;
    aa_init(&d, 501);
    CHECK_STATUS(aa_run(g, &d, &o, NULL), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "workspace");
    aa_free(&d);
    fd_ctx_release(g, ws);
}

// Sliding windows on the GPU vs the reference with every prefill kernel
// (FDEPLOY_ATTN_PREFILL unset, wmma, mma2, fa2): windows 1, the block size (the
// first decode's window starts on a block edge), 37 (a multiple of nothing),
// 128 (several KV tiles); f16/bf16, head dims 64/128/256 with block sizes
// 16/64/128 and GQA 1/4/8; each a mixed batch: decode, a 3-token verify
// (small tile of several tokens), a chunk over a cache, a fresh prefill
// longer than every window, an idle slot.
static void gpu_window_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, OP);
    if (!g) return;
    static const char *modes[4] = {NULL, "wmma", "mma2", "fa2"};
    static const int wins[4] = {1, 0, 37, 128}, hds[3] = {64, 128, 256}, bss[3] = {16, 64, 128},
                     gs[3] = {1, 4, 8};
    fd_dtype dts[2] = {FD_F16, FD_BF16};
    char saved[64] = "";
    const char *env_mode = getenv("FDEPLOY_ATTN_PREFILL");
    if (env_mode) snprintf(saved, sizeof saved, "%s", env_mode);
    uint64_t seed = 600;
    for (int mi = 0; mi < 4; mi++) {
        if (modes[mi]) setenv("FDEPLOY_ATTN_PREFILL", modes[mi], 1);
        else unsetenv("FDEPLOY_ATTN_PREFILL");
        for (int di = 0; di < 2; di++)
            for (int hi = 0; hi < 3; hi++)
                for (int wi = 0; wi < 4; wi++) {
                    int bs = bss[hi], grp = gs[(hi + wi) % 3];
                    aa_t c = {.bsz = 5, .dec = {bs * 3 - 1, 300, 130, 0, 17},
                              .len = {1, 3, 45, 150, 0}, .n_q = 2 * grp, .n_kv = 2,
                              .hd = hds[hi], .bs = bs, .rot = hds[hi], .neox = (int)(seed & 1),
                              .dt = dts[di], .window = wins[wi] ? wins[wi] : bs};
                    if (!gpu_vs_ref(g, &c, seed++, NULL)) break;  // no bf16 here
                }
    }
    if (env_mode) setenv("FDEPLOY_ATTN_PREFILL", saved, 1);
    else unsetenv("FDEPLOY_ATTN_PREFILL");
}

// Window 512 over long contexts: Gemma 3 shapes (head_dim 256, 4 q / 1 kv
// heads) with 4k decodes (KV splits over the window, not the context), a
// fresh 700-token prefill and a chunk over a 3000-token cache (big tiles,
// split); GQA 8 at head_dim 128 with the length hints; a lone 4k decode (the
// most splits); f16 and bf16.
static void gpu_window_long_context(void) {
    fd_ctx *g = fd_test_gpu_for(&env, OP);
    if (!g) return;
    fd_dtype dts[2] = {FD_F16, FD_BF16};
    for (int di = 0; di < 2; di++) {
        aa_t c = {.bsz = 4, .dec = {4095, 4000, 0, 3000}, .len = {1, 1, 700, 200}, .n_q = 4,
                  .n_kv = 1, .hd = 256, .bs = 64, .rot = 256, .neox = 1, .dt = dts[di],
                  .window = 512};
        if (!gpu_vs_ref(g, &c, 700 + (uint64_t)di, NULL)) break;  // no bf16 here
        aa_t d = {.bsz = 2, .dec = {4095, 2000}, .len = {1, 300}, .n_q = 16, .n_kv = 2,
                  .hd = 128, .bs = 128, .rot = 128, .dt = dts[di], .window = 512};
        fd_attention_opts o;
        memset(&o, 0, sizeof o);
        o.max_q_len = 300;
        o.max_kv_len = 4096;
        gpu_vs_ref(g, &d, 710 + (uint64_t)di, &o);
        aa_t e = {.bsz = 1, .dec = {4095}, .len = {1}, .n_q = 4, .n_kv = 1, .hd = 256, .bs = 16,
                  .dt = dts[di], .window = 512};
        gpu_vs_ref(g, &e, 720 + (uint64_t)di, NULL);
    }
}

// Long prefills, the default prefill kernel (on an H100 the sm_90a wgmma tiles
// of 128 rows x 128 keys), four ways: warp-specialised with K/V by TMA and the
// warpgroup ping-pong (the default), without the ping-pong
// (FDEPLOY_ATTN_PINGPONG=0), the lockstep CTA (FDEPLOY_ATTN_WS=0) and K/V by
// cp.async (FDEPLOY_ATTN_TMA=0): a fresh 700-token prompt (several KV tiles,
// and KV splits: few tiles), a 300-token chunk over a 1000-token cache, a
// 129-token chunk over 63 (tile and block edges off by one; a warpgroup with
// no rows); head dims 64/128, GQA 1/4, f16/bf16, full and 300-token windows
// (tiles off the TMA box grid), block sizes 64 and 16 (the other modes: f16,
// head_dim 128, no window). Then a bad block id inside a long prompt: reported,
// in every mode.
static void gpu_prefill_tiles(void) {
    fd_ctx *g = fd_test_gpu_for(&env, OP);
    if (!g) return;
    static const char *envs[4][2] = {{NULL, NULL}, {"FDEPLOY_ATTN_PINGPONG", "0"},
                                     {"FDEPLOY_ATTN_WS", "0"}, {"FDEPLOY_ATTN_TMA", "0"}};
    fd_dtype dts[2] = {FD_F16, FD_BF16};
    uint64_t seed = 850;
    for (int m = 0; m < 4; m++) {
        if (envs[m][0]) setenv(envs[m][0], envs[m][1], 1);
        for (int di = 0; di < (m ? 1 : 2); di++)  // the others: f16
            for (int k = 0; k < 16; k++) {
                if (m && (k & 5) != 1) continue;  // the others: head_dim 128, no window
                int hd = k & 1 ? 128 : 64, grp = k & 2 ? 4 : 1, win = k & 4 ? 300 : 0;
                aa_t c = {.bsz = 3, .dec = {0, 1000, 63}, .len = {700, 300, 129},
                          .n_q = 2 * grp, .n_kv = 2, .hd = hd, .bs = k & 8 ? 16 : 64, .rot = hd,
                          .neox = k & 1, .dt = dts[di], .window = win};
                if (!gpu_vs_ref(g, &c, seed++, NULL)) break;  // no bf16 here
            }
        aa_t c = {.bsz = 1, .dec = {0}, .len = {600}, .n_q = 4, .n_kv = 2, .hd = 128, .bs = 64,
                  .rot = 128, .dt = FD_F16};
        aa_init(&c, 890 + (uint64_t)m);
        aa_out o;
        aa_out_alloc(&c, &o);
        c.bt[5] = (int32_t)c.nblk;  // keys 320..383: out of range
        CHECK_STATUS(aa_run(g, &c, NULL, &o), FD_ERR_INVALID_ARG);
        CHECK_CONTAINS(fd_last_error(), OP);
        aa_out_free(&o);
        aa_free(&c);
        if (envs[m][0]) unsetenv(envs[m][0]);
    }
}

// 300 sequences, more than the plan's CTA takes at once (its scan runs in
// chunks of 128): decodes, idle slots and every 7th a 20-40-token prompt chunk
// (big tiles, whose start offsets the scan carries across chunks); f16 and bf16.
static void gpu_many_sequences(void) {
    fd_ctx *g = fd_test_gpu_for(&env, OP);
    if (!g) return;
    fd_dtype dts[2] = {FD_F16, FD_BF16};
    for (int di = 0; di < 2; di++) {
        aa_t c = {.bsz = 300, .n_q = 4, .n_kv = 2, .hd = 64, .bs = 16, .rot = 64, .neox = 1,
                  .dt = dts[di]};
        uint64_t r = 77;
        for (int b = 0; b < c.bsz; b++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            c.dec[b] = (int32_t)((r >> 33) % 200);
            c.len[b] = b % 7 == 3 ? 20 + (int32_t)((r >> 20) % 21) : b % 11 == 5 ? 0 : 1;
        }
        if (!gpu_vs_ref(g, &c, 900 + (uint64_t)di, NULL)) break;  // no bf16 here
    }
}

// int8 caches with a window: decode and prefill, head dims 64/128/256.
static void gpu_window_int8(void) {
    fd_ctx *g = fd_test_gpu_for(&env, OP);
    if (!g) return;
    static const int wins[3] = {100, 64, 47};
    for (int k = 0; k < 3; k++) {
        aa_t c = {.bsz = 3, .dec = {700, 64, 0}, .len = {1, 30, 150}, .n_q = 8, .n_kv = 2,
                  .hd = 64 << k, .bs = 64, .rot = 32, .neox = 1, .int8 = 1, .dt = FD_F16,
                  .window = wins[k]};
        gpu_vs_ref(g, &c, 800 + (uint64_t)k, NULL);
    }
}

#define ON_GPU(fn)                                                             \
    static void gpu_##fn(void) {                                               \
        fd_ctx *g = fd_test_gpu_for(&env, OP);                                 \
        if (g) fn##_on(g);                                                     \
    }
ON_GPU(empty) ON_GPU(bad_data) ON_GPU(window_covers_all)

// ---- FD_BENCH=1: decode and prefill timings (f16, 32 q / 8 kv heads, head_dim 128)

// ms per call of batch c on g (20 timed iterations after 3 warm-ups).
static double bench_case(fd_ctx *g, aa_t *c) {
    fd_dtype cdt = cache_dt(c);
    fd_tbuf qkv = FD_TBUF(g, c->dt, c->qkv, c->token_num, cols(c));
    fd_tbuf kc = FD_TBUF(g, cdt, c->kc, c->nblk, c->n_kv, c->bs, c->hd);
    fd_tbuf vc = FD_TBUF(g, cdt, c->vc, c->nblk, c->n_kv, c->bs, c->hd);
    fd_tbuf cu = FD_TBUF(g, FD_I32, c->cu, c->bsz + 1);
    fd_tbuf dec = FD_TBUF(g, FD_I32, c->dec, c->bsz);
    fd_tbuf len = FD_TBUF(g, FD_I32, c->len, c->bsz);
    fd_tbuf bt = FD_TBUF(g, FD_I32, c->bt, c->bsz, c->mbps);
    fd_tbuf out = FD_TBUF(g, c->dt, NULL, c->token_num, (int64_t)c->n_q * c->hd);
    int64_t max_q = 0, max_kv = 0;
    for (int b = 0; b < c->bsz; b++) {
        if (c->len[b] > max_q) max_q = c->len[b];
        if (c->dec[b] + c->len[b] > max_kv) max_kv = c->dec[b] + c->len[b];
    }
    size_t bytes = fd_append_attention_workspace_size(g, c->token_num, c->bsz, c->n_q, c->n_kv,
                                                      c->hd, c->mbps, c->bs, max_kv);
    void *ws = NULL;
    CHECK_OK(fd_ctx_alloc(g, bytes ? bytes : 1, &ws));
    fd_tensor wt = fd_tensor_1d(ws, FD_U8, (int64_t)(bytes ? bytes : 1));
    fd_attention_opts o;
    memset(&o, 0, sizeof o);
    o.max_q_len = max_q;
    o.max_kv_len = max_kv;
    o.workspace = &wt;
    o.sliding_window = c->window;
    double t0 = 0;
    for (int it = 0; it < 23; it++) {
        if (it == 3) {
            CHECK_OK(fd_ctx_sync(g));
            t0 = fd_test_now();
        }
        CHECK_OK(fd_append_attention(g, &qkv.t, &kc.t, &vc.t, &cu.t, &dec.t, &len.t, &bt.t, &o,
                                     0.088f, &out.t));
    }
    CHECK_OK(fd_ctx_sync(g));
    double ms = (fd_test_now() - t0) * 1e3 / 20;
    fd_ctx_release(g, ws);
    fd_tbuf_free(&qkv); fd_tbuf_free(&kc); fd_tbuf_free(&vc); fd_tbuf_free(&cu);
    fd_tbuf_free(&dec); fd_tbuf_free(&len); fd_tbuf_free(&bt); fd_tbuf_free(&out);
    return ms;
}

static void bench(void) {
    if (!getenv("FD_BENCH")) {
        fd_test_skip("set FD_BENCH=1 to time decode and prefill");
        return;
    }
    fd_ctx *g = fd_test_gpu_for(&env, OP);
    if (!g) return;
    const fd_device_info *dev = fd_platform_device(env.platform, fd_ctx_device(g));
    printf("# append_attention f16, 32 q / 8 kv heads, head_dim 128, block 64 on %s (SM%d kernels)\n",
           dev->name, dev->effective_sm);
    printf("%-8s %6s %7s %7s %10s %10s %10s\n", "kind", "batch", "ctx", "tokens", "ms", "GB/s",
           "peak GB/s");
    static const int batches[3] = {1, 16, 64}, ctxs[3] = {512, 4096, 16384};
    for (int bi = 0; bi < 3; bi++)
        for (int ci = 0; ci < 3; ci++) {
            aa_t c = {.bsz = batches[bi], .n_q = 32, .n_kv = 8, .hd = 128, .bs = 64,
                      .quick_fill = 1, .dt = FD_F16};
            for (int b = 0; b < c.bsz; b++) c.dec[b] = ctxs[ci] - 1, c.len[b] = 1;
            aa_init(&c, 900);
            double ms = bench_case(g, &c);
            double gb = 2.0 * c.bsz * ctxs[ci] * c.n_kv * c.hd * 2 / 1e9;
            printf("%-8s %6d %7d %7lld %10.4f %10.1f %10.1f\n", "decode", c.bsz, ctxs[ci],
                   (long long)c.token_num, ms, gb / (ms * 1e-3), dev->peak_bw_gbs);
            aa_free(&c);
        }
    // Gemma 3's shapes (4 q / 1 kv heads, head_dim 256): whole context vs its 512 window.
    for (int wi = 0; wi < 2; wi++) {
        aa_t c = {.bsz = 16, .n_q = 4, .n_kv = 1, .hd = 256, .bs = 64, .quick_fill = 1, .dt = FD_F16,
                  .window = wi ? 512 : 0};
        for (int b = 0; b < c.bsz; b++) c.dec[b] = 4095, c.len[b] = 1;
        aa_init(&c, 902);
        double ms = bench_case(g, &c);
        double gb = 2.0 * c.bsz * (wi ? 512 : 4096) * c.n_kv * c.hd * 2 / 1e9;
        printf("%-8s %6d %7d %7lld %10.4f %10.1f %10.1f  (4q/1kv hd256, window %d)\n", "decode", c.bsz, 4096,
               (long long)c.token_num, ms, gb / (ms * 1e-3), dev->peak_bw_gbs, c.window);
        aa_free(&c);
    }
    static const int plens[2] = {512, 4096};
    for (int pi = 0; pi < 2; pi++) {
        aa_t c = {.bsz = 1, .dec = {0}, .len = {plens[pi]}, .n_q = 32, .n_kv = 8, .hd = 128,
                  .bs = 64, .quick_fill = 1, .dt = FD_F16};
        aa_init(&c, 901);
        double ms = bench_case(g, &c);
        double flops = 4.0 * c.n_q * c.hd * (double)plens[pi] * (plens[pi] + 1) / 2;
        printf("%-8s %6d %7d %7d %10.4f %10.1f TFLOP/s (causal)\n", "prefill", 1, plens[pi],
               plens[pi], ms, flops / (ms * 1e-3) / 1e12);
        aa_free(&c);
    }
}

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_mixed_batch), FD_CASE(cpu_interleaved_mha),
             FD_CASE(cpu_half_types), FD_CASE(cpu_int8_cache), FD_CASE(cpu_sliding_window),
             FD_CASE(cpu_window_covers_all), FD_CASE(cpu_empty), FD_CASE(cpu_bad_data),
             FD_CASE(bad_shapes), FD_CASE(table_and_info_agree),
             FD_CASE(gpu_random_vs_reference), FD_CASE(gpu_int8_cache),
             FD_CASE(gpu_long_context), FD_CASE(gpu_many_sequences), FD_CASE(gpu_prefill_tiles), FD_CASE(gpu_workspace_and_hints),
             FD_CASE(gpu_window_vs_reference), FD_CASE(gpu_window_long_context),
             FD_CASE(gpu_window_int8), FD_CASE(gpu_window_covers_all), FD_CASE(gpu_empty),
             FD_CASE(gpu_bad_data), FD_CASE(bench), FD_CASE(teardown))
