// SPDX-License-Identifier: Apache-2.0
// token_penalty_multi_scores on the C reference and on the GPU: FastDeploy's
// case (alpha 1.05, beta 0.5, gamma 0.3, T 0.8, min length, eos 2) in both
// history layouts, f32/f16/bf16, inactive rows, bad words, vocab 32 and
// 151936, batch 1 and 256, more distinct generated tokens than the GPU's
// hash holds per round, bad input, GPU vs reference with per-dtype tolerances.
#include "fd_test.h"

static fd_test_env env;

typedef struct pen_in {
    int64_t bs, vocab, hist_len, prompt_w, bad_w, n_eos;
    const int64_t *hist, *prompt, *plen;   // prompt NULL: token_ids_all layout
    const float *alpha, *beta, *gamma, *temp;
    const int64_t *bad, *bad_len;          // NULL = none
    const int64_t *cur, *min_len, *eos;
    fd_dtype dt;
} pen_in;

static fd_status run(fd_ctx *ctx, const pen_in *in, const float *logits, float *out) {
    int64_t bs = in->bs, n = bs * in->vocab;
    size_t es = fd_dtype_size(in->dt);
    uint16_t *raw16 = malloc((size_t)n * es + 1);
    const void *raw = in->dt == FD_F32 ? (const void *)logits : raw16;
    for (int64_t i = 0; in->dt != FD_F32 && i < n; i++)
        raw16[i] = in->dt == FD_F16 ? fd_f32_to_f16(logits[i]) : fd_f32_to_bf16(logits[i]);
    fd_tbuf lg = FD_TBUF(ctx, in->dt, raw, bs, in->vocab);
    fd_tbuf h = FD_TBUF(ctx, FD_I64, in->hist, bs, in->hist_len);
    fd_tbuf p = FD_TBUF(ctx, FD_I64, in->prompt, bs, in->prompt_w);
    fd_tbuf pl = FD_TBUF(ctx, FD_I64, in->plen, bs, 1);
    fd_tbuf al = FD_TBUF(ctx, FD_F32, in->alpha, bs, 1);
    fd_tbuf be = FD_TBUF(ctx, FD_F32, in->beta, bs, 1);
    fd_tbuf ga = FD_TBUF(ctx, FD_F32, in->gamma, bs, 1);
    fd_tbuf te = FD_TBUF(ctx, FD_F32, in->temp, bs, 1);
    fd_tbuf bd = FD_TBUF(ctx, FD_I64, in->bad, bs, in->bad_w);
    fd_tbuf bl = FD_TBUF(ctx, FD_I64, in->bad_len, bs, 1);
    fd_tbuf cu = FD_TBUF(ctx, FD_I64, in->cur, bs, 1);
    fd_tbuf mn = FD_TBUF(ctx, FD_I64, in->min_len, bs, 1);
    fd_tbuf eo = FD_TBUF(ctx, FD_I64, in->eos, in->n_eos, 1);
    fd_status s = fd_token_penalty_multi_scores(
        ctx, &h.t, in->prompt ? &p.t : NULL, in->plen ? &pl.t : NULL, &lg.t, &al.t, &be.t,
        &ga.t, &te.t, in->bad ? &bd.t : NULL, in->bad ? &bl.t : NULL, &cu.t, &mn.t, &eo.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) {
        const void *got = fd_tbuf_fetch(&lg);
        for (int64_t i = 0; i < n; i++)
            out[i] = in->dt == FD_F32   ? ((const float *)got)[i]
                     : in->dt == FD_F16 ? fd_f16_to_f32(((const uint16_t *)got)[i])
                                        : fd_bf16_to_f32(((const uint16_t *)got)[i]);
    }
    fd_tbuf *all[13] = {&lg, &h, &p, &pl, &al, &be, &ga, &te, &bd, &bl, &cu, &mn, &eo};
    for (int i = 0; i < 13; i++) fd_tbuf_free(all[i]);
    free(raw16);
    return s;
}

// The reference of FastDeploy's test, with dense counts (written independently).
static void expected(const pen_in *in, const float *logits, float *want) {
    int32_t *times = calloc((size_t)in->vocab, 4);
    uint8_t *prompt = calloc((size_t)in->vocab, 1);
    for (int64_t b = 0; b < in->bs; b++) {
        const int64_t *row = in->hist + b * in->hist_len;
        int64_t plen = in->plen ? in->plen[b] : 0, cur = in->cur[b];
        memset(times, 0, (size_t)in->vocab * 4);
        memset(prompt, 0, (size_t)in->vocab);
        for (int64_t i = 0; cur >= 0 && i < plen; i++) {
            int64_t id = in->prompt ? in->prompt[b * in->prompt_w + i] : row[i];
            if (id >= 0) prompt[id] = 1;
        }
        for (int64_t i = in->prompt ? 0 : plen; cur >= 0 && i < in->hist_len; i++)
            if (row[i] >= 0) times[row[i]]++;
        for (int64_t v = 0; v < in->vocab; v++) {
            float x = logits[b * in->vocab + v];
            if (in->dt != FD_F32)
                x = in->dt == FD_F16 ? fd_f16_to_f32(fd_f32_to_f16(x)) : fd_bf16_to_f32(fd_f32_to_bf16(x));
            for (int64_t e = 0; e < in->n_eos; e++)
                if (cur >= 0 && cur < in->min_len[b] && v == in->eos[e])
                    x = in->dt == FD_F16 ? -1e4f : -1e10f;
            if (prompt[v] || times[v]) x = x > 0 ? x / in->alpha[b] : x * in->alpha[b];
            if (times[v]) x = x - (float)times[v] * in->beta[b] - in->gamma[b];
            want[b * in->vocab + v] = x / in->temp[b];
        }
        int64_t nb = in->bad ? in->bad_len[b] : 0;
        for (int64_t i = 0; i < nb && i < in->bad_w; i++) {
            int64_t id = in->bad[b * in->bad_w + i];
            if (id >= 0 && id < in->vocab) want[b * in->vocab + id] = -1e10f;
        }
    }
    free(times);
    free(prompt);
}

static double tol_of(fd_dtype dt) { return dt == FD_F32 ? 1e-5 : dt == FD_F16 ? 1e-3 : 1e-2; }

// |got - want| <= tol * (1 + |want|) everywhere; -inf/-1e10 compare by value.
static void check_close(const float *got, const float *want, int64_t n, double tol) {
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        if (w <= -1e9 && (g <= -1e9)) continue;  // bans: -1e10 (or -inf in f16)
        if (!(fabs(g - w) <= tol * (1.0 + fabs(w)))) bad++, first = first < 0 ? i : first;
    }
    if (bad) FD_FAILF("%lld values differ; first at %lld: %.9g vs %.9g", (long long)bad,
                      (long long)first, got[first], want[first]);
}

// Random inputs in FastDeploy's style: prompt lengths < 100, steps < 100,
// token ids in [3, V), logits in [-1, 1).
typedef struct pen_data {
    int64_t *hist, *prompt, plen[256], cur[256], min_len[256], bad[256 * 4], bad_len[256];
    float *logits, *out, *want, alpha[256], beta[256], gamma[256], temp[256];
} pen_data;

static void fill(pen_data *d, pen_in *in, int layout_prompt_ids, uint64_t seed) {
    uint64_t r = seed;
    int64_t n = in->bs * in->vocab, hl = in->hist_len;
    d->hist = malloc((size_t)(in->bs * hl) * 8);
    d->prompt = malloc((size_t)(in->bs * 128) * 8);
    d->logits = malloc((size_t)n * 4), d->out = malloc((size_t)n * 4), d->want = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) d->logits[i] = fd_test_randf(&r);
    for (int64_t b = 0; b < in->bs; b++) {
        d->plen[b] = (int64_t)(fd_test_rand(&r) % 100);
        d->cur[b] = (int64_t)(fd_test_rand(&r) % 100);
        d->min_len[b] = 1;
        d->alpha[b] = 1.05f, d->beta[b] = 0.5f, d->gamma[b] = 0.3f, d->temp[b] = 0.8f;
        d->bad_len[b] = 0;
        int64_t gen0 = layout_prompt_ids ? 0 : d->plen[b];
        for (int64_t i = 0; i < hl; i++) {
            int filled = layout_prompt_ids ? i < d->cur[b] : i < d->plen[b] + d->cur[b];
            d->hist[b * hl + i] = filled ? 3 + (int64_t)(fd_test_rand(&r) % (uint64_t)(in->vocab - 3)) : -1;
        }
        for (int64_t i = 0; i < 128; i++)
            d->prompt[b * 128 + i] = 3 + (int64_t)(fd_test_rand(&r) % (uint64_t)(in->vocab - 3));
        (void)gen0;
    }
    in->hist = d->hist, in->prompt = layout_prompt_ids ? d->prompt : NULL;
    in->prompt_w = layout_prompt_ids ? 128 : 1;
    in->plen = d->plen, in->cur = d->cur, in->min_len = d->min_len;
    in->alpha = d->alpha, in->beta = d->beta, in->gamma = d->gamma, in->temp = d->temp;
    in->bad = d->bad, in->bad_len = d->bad_len, in->bad_w = 4;
}

static void release(pen_data *d) {
    free(d->hist), free(d->prompt), free(d->logits), free(d->out), free(d->want);
}

static const int64_t EOS[1] = {2};

// FastDeploy's case: bs 4, V 103424, token_ids_all rows of 32768 (and the
// pre_ids + prompt_ids layout), every dtype.
static void fastdeploy_case_on(fd_ctx *ctx) {
    static pen_data d;
    fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    for (int layout = 0; layout < 2; layout++)
        for (int k = 0; k < 3; k++) {
            pen_in in = {.bs = 4, .vocab = 103424, .hist_len = layout ? 256 : 32768, .n_eos = 1};
            in.eos = EOS, in.dt = dts[k];
            fill(&d, &in, layout, 2024 + (uint64_t)layout);
            d.cur[0] = 0;  // below min_len 1: eos banned
            expected(&in, d.logits, d.want);
            CHECK_OK(run(ctx, &in, d.logits, d.out));
            check_close(d.out, d.want, in.bs * in.vocab, tol_of(in.dt));
            CHECK(d.out[2] < -1e3f);
            release(&d);
        }
}

// Inactive row (cur < 0): temperature only; identity penalties with T = 1:
// untouched; bad words after temperature, out-of-range ones ignored.
static void rows_and_bans_on(fd_ctx *ctx) {
    static pen_data d;
    pen_in in = {.bs = 3, .vocab = 32, .hist_len = 16, .n_eos = 1};
    in.eos = EOS, in.dt = FD_F32;
    fill(&d, &in, 0, 7);
    for (int b = 0; b < 3; b++) d.plen[b] = 2, d.cur[b] = 3;
    for (int64_t i = 0; i < 3 * 16; i++) d.hist[i] = i % 16 < 5 ? 5 + i % 3 : -1;
    d.cur[0] = -1, d.temp[0] = 2.0f;
    d.alpha[1] = 1.0f, d.beta[1] = 0.0f, d.gamma[1] = 0.0f, d.temp[1] = 1.0f, d.cur[1] = 5;
    d.bad_len[2] = 9;  // more than W = 4: clamped
    int64_t bad[4] = {9, -1, 32, 9};
    memcpy(&d.bad[8], bad, sizeof bad);
    expected(&in, d.logits, d.want);
    CHECK_OK(run(ctx, &in, d.logits, d.out));
    check_close(d.out, d.want, 3 * 32, 1e-6);
    for (int v = 0; v < 32; v++) {
        CHECK_NEAR(d.out[v], d.logits[v] / 2.0f, 1e-7);
        CHECK(d.out[32 + v] == d.logits[32 + v]);
    }
    CHECK(d.out[64 + 9] == -1e10f);
    release(&d);
}

// Vocab 151936 with batch 1 and 2; vocab 32 with batch 256.
static void sizes_on(fd_ctx *ctx) {
    static pen_data d;
    int64_t shapes[3][2] = {{1, 151936}, {2, 151936}, {256, 32}};
    for (int k = 0; k < 3; k++) {
        pen_in in = {.bs = shapes[k][0], .vocab = shapes[k][1], .hist_len = 300, .n_eos = 1};
        in.eos = EOS, in.dt = FD_F32;
        fill(&d, &in, 0, 100 + (uint64_t)k);
        expected(&in, d.logits, d.want);
        CHECK_OK(run(ctx, &in, d.logits, d.out));
        check_close(d.out, d.want, in.bs * in.vocab, 1e-5);
        release(&d);
    }
}

// 6000 distinct generated tokens, each 1-3 times: more than one GPU round.
static void many_distinct_on(fd_ctx *ctx) {
    static pen_data d;
    pen_in in = {.bs = 2, .vocab = 151936, .hist_len = 16384, .n_eos = 1};
    in.eos = EOS, in.dt = FD_BF16;
    fill(&d, &in, 0, 31);
    for (int b = 0; b < 2; b++) {
        d.plen[b] = 50, d.cur[b] = 200;
        for (int64_t i = 0; i < 16384; i++) {
            int64_t j = i < 50 ? 6000 + i : (i - 50) % 6000;  // prompt ids differ
            d.hist[b * 16384 + i] = i < 50 + 15000 ? 3 + j * 23 : -1;
        }
    }
    expected(&in, d.logits, d.want);
    CHECK_OK(run(ctx, &in, d.logits, d.out));
    check_close(d.out, d.want, in.bs * in.vocab, 1e-2);
    release(&d);
}

// Out-of-range eos and history ids, prompt lengths past the history: errors,
// logits untouched on the CPU. An inactive row's history is not read.
static void bad_input_on(fd_ctx *ctx) {
    static pen_data d;
    pen_in in = {.bs = 2, .vocab = 32, .hist_len = 8, .n_eos = 1};
    in.eos = EOS, in.dt = FD_F32;
    fill(&d, &in, 0, 3);
    for (int b = 0; b < 2; b++) d.plen[b] = 2, d.cur[b] = 1;
    int64_t big_eos[1] = {32};
    in.eos = big_eos;
    CHECK_STATUS(run(ctx, &in, d.logits, d.out), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "token_penalty_multi_scores");
    in.eos = EOS;
    d.cur[1] = 1, d.hist[8 + 7] = 40;
    CHECK_STATUS(run(ctx, &in, d.logits, d.out), FD_ERR_INVALID_ARG);
    d.cur[1] = -1;  // inactive: its history is not read
    CHECK_OK(run(ctx, &in, d.logits, d.out));
    d.hist[8 + 7] = -1, d.cur[1] = 1, d.plen[0] = 9;
    CHECK_STATUS(run(ctx, &in, d.logits, d.out), FD_ERR_INVALID_ARG);
    release(&d);
}

static void bad_shapes(void) {
    float lg[4] = {0};
    int64_t ids[4] = {0}, one[2] = {1, 1};
    float par[2] = {1, 1};
    fd_ctx *c = env.cpu;
    fd_tensor l = fd_tensor_2d(lg, FD_F32, 2, 2), li = fd_tensor_2d(ids, FD_I64, 2, 2),
              h = fd_tensor_2d(ids, FD_I64, 2, 2), h1 = fd_tensor_2d(ids, FD_I64, 1, 4),
              p = fd_tensor_1d(par, FD_F32, 2), p1 = fd_tensor_1d(par, FD_F32, 1),
              i64 = fd_tensor_1d(one, FD_I64, 2), e = fd_tensor_1d(one, FD_I64, 1);
    CHECK_OK(fd_token_penalty_multi_scores(c, &h, NULL, NULL, &l, &p, &p, &p, &p, NULL, NULL,
                                           &i64, &i64, &e));
    CHECK_STATUS(fd_token_penalty_multi_scores(c, &h, NULL, NULL, &li, &p, &p, &p, &p, NULL,
                                               NULL, &i64, &i64, &e),
                 FD_ERR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(fd_token_penalty_multi_scores(c, &h1, NULL, NULL, &l, &p, &p, &p, &p, NULL,
                                               NULL, &i64, &i64, &e),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_token_penalty_multi_scores(c, &h, NULL, NULL, &l, &p, &p, &p1, &p, NULL,
                                               NULL, &i64, &i64, &e),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "presence_scores");
    CHECK_STATUS(fd_token_penalty_multi_scores(c, &h, &h, NULL, &l, &p, &p, &p, &p, NULL, NULL,
                                               &i64, &i64, &e),
                 FD_ERR_INVALID_ARG);  // prompt_ids without prompt_lens
    CHECK_STATUS(fd_token_penalty_multi_scores(c, &h, NULL, NULL, &l, &p, &p, &p, &p, &h, NULL,
                                               &i64, &i64, &e),
                 FD_ERR_INVALID_ARG);  // bad_tokens without lengths
}

#define ON_CPU(fn) static void cpu_##fn(void) { fn##_on(env.cpu); }
#define ON_GPU(fn)                                                             \
    static void gpu_##fn(void) {                                               \
        fd_ctx *g = fd_test_gpu_for(&env, "token_penalty_multi_scores");       \
        if (g) fn##_on(g);                                                     \
    }
ON_CPU(fastdeploy_case) ON_CPU(rows_and_bans) ON_CPU(sizes) ON_CPU(many_distinct)
ON_CPU(bad_input)
ON_GPU(fastdeploy_case) ON_GPU(rows_and_bans) ON_GPU(sizes) ON_GPU(many_distinct)
ON_GPU(bad_input)

// Batch 64, vocab 151936, mixed per-row parameters, every dtype: GPU vs the
// C reference (f32 1e-5, f16 1e-3, bf16 1e-2 relative).
static void gpu_random_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "token_penalty_multi_scores");
    if (!g) return;
    static pen_data d;
    fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    for (int k = 0; k < 3; k++) {
        pen_in in = {.bs = 64, .vocab = 151936, .hist_len = 2048, .n_eos = 1};
        in.eos = EOS, in.dt = dts[k];
        fill(&d, &in, k == 1, 500 + (uint64_t)k);
        uint64_t r = 9;
        for (int b = 0; b < 64; b++) {
            d.alpha[b] = 1.0f + (float)(fd_test_rand(&r) % 5) * 0.1f;
            d.temp[b] = 0.5f + (float)(fd_test_rand(&r) % 4) * 0.5f;
            d.cur[b] = (int64_t)(fd_test_rand(&r) % 100) - 10;
            d.bad_len[b] = (int64_t)(fd_test_rand(&r) % 5);
            for (int i = 0; i < 4; i++) d.bad[b * 4 + i] = (int64_t)(fd_test_rand(&r) % 160000);
        }
        float *ref = malloc((size_t)(64 * 151936) * 4);
        CHECK_OK(run(env.cpu, &in, d.logits, ref));
        CHECK_OK(run(g, &in, d.logits, d.out));
        check_close(d.out, ref, 64 * 151936, tol_of(in.dt));
        free(ref);
        release(&d);
    }
}

static void table_and_info_agree(void) { fd_test_table_agrees(&env, "token_penalty_multi_scores", 70); }

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_fastdeploy_case), FD_CASE(cpu_rows_and_bans),
             FD_CASE(cpu_sizes), FD_CASE(cpu_many_distinct), FD_CASE(cpu_bad_input),
             FD_CASE(bad_shapes), FD_CASE(gpu_fastdeploy_case), FD_CASE(gpu_rows_and_bans),
             FD_CASE(gpu_sizes), FD_CASE(gpu_many_distinct), FD_CASE(gpu_bad_input),
             FD_CASE(gpu_random_vs_reference), FD_CASE(table_and_info_agree),
             FD_CASE(teardown))
