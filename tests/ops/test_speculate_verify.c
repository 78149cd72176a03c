// SPDX-License-Identifier: Apache-2.0
// speculate_verify on the C reference and on the GPU: a hand-worked case, every
// verification mode, FastDeploy's five test configs (own generator, same ranges),
// edge cases, bad input, and GPU vs the reference (integer outputs: exact).
#include "fd_test.h"

static fd_test_env env;

typedef struct vcase {
    int64_t bsz, cols, rows, cands, n_end;
    int max_seq_len, window;
    unsigned flags;
    uint64_t seed, offset;
    int64_t *draft, *verify, *max_dec, *end, *sampled, *acc, *step;
    int32_t *enc, *stlen, *oco, *acl, *num;
    float *scores, *topp;
    uint8_t *block, *stop;
} vcase;

// Runs the op on ctx; outputs (acc, num, step, stop) are read back into c.
static fd_status run(fd_ctx *ctx, vcase *c) {
    fd_tbuf acc = FD_TBUF(ctx, FD_I64, c->acc, c->bsz, c->cols);
    fd_tbuf num = FD_TBUF(ctx, FD_I32, c->num, c->bsz);
    fd_tbuf step = FD_TBUF(ctx, FD_I64, c->step, c->bsz);
    fd_tbuf stop = FD_TBUF(ctx, FD_BOOL, c->stop, c->bsz);
    fd_tbuf enc = FD_TBUF(ctx, FD_I32, c->enc, c->bsz);
    fd_tbuf draft = FD_TBUF(ctx, FD_I64, c->draft, c->bsz, c->cols);
    fd_tbuf len = FD_TBUF(ctx, FD_I32, c->stlen, c->bsz);
    fd_tbuf ver = FD_TBUF(ctx, FD_I64, c->verify, c->rows, c->cands);
    fd_tbuf sc = FD_TBUF(ctx, FD_F32, c->scores, c->rows, c->cands);
    fd_tbuf maxd = FD_TBUF(ctx, FD_I64, c->max_dec, c->bsz);
    fd_tbuf end = FD_TBUF(ctx, FD_I64, c->end, c->n_end);
    fd_tbuf block = FD_TBUF(ctx, FD_BOOL, c->block, c->bsz);
    fd_tbuf oco = FD_TBUF(ctx, FD_I32, c->oco, c->bsz);
    fd_tbuf acl = FD_TBUF(ctx, FD_I32, c->acl, c->rows);
    fd_tbuf topp = FD_TBUF(ctx, FD_F32, c->topp, c->bsz);
    fd_tbuf smp = FD_TBUF(ctx, FD_I64, c->sampled, c->rows, 1);
    fd_status s = fd_speculate_verify(ctx, &smp.t, &acc.t, &num.t, &step.t, &stop.t, &enc.t,
                                      &draft.t, &len.t, &ver.t, &sc.t, &maxd.t, &end.t, &block.t,
                                      &oco.t, &acl.t, &topp.t, c->max_seq_len, c->window,
                                      c->flags, c->seed, c->offset);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    {  // read back even after an error: the tests check that nothing was written
        memcpy(c->acc, fd_tbuf_fetch(&acc), (size_t)(c->bsz * c->cols) * 8);
        memcpy(c->num, fd_tbuf_fetch(&num), (size_t)c->bsz * 4);
        memcpy(c->step, fd_tbuf_fetch(&step), (size_t)c->bsz * 8);
        memcpy(c->stop, fd_tbuf_fetch(&stop), (size_t)c->bsz);
    }
    fd_tbuf *all[] = {&acc, &num, &step, &stop, &enc, &draft, &len, &ver, &sc, &maxd, &end,
                      &block, &oco, &acl, &topp, &smp};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) fd_tbuf_free(all[k]);
    return s;
}

// Heap case: bsz slots, cols draft columns, rows output rows, all zero.
static vcase *vcase_new(int64_t bsz, int64_t cols, int64_t rows, int64_t cands) {
    vcase *c = calloc(1, sizeof *c);
    c->bsz = bsz; c->cols = cols; c->rows = rows; c->cands = cands; c->n_end = 2;
    c->max_seq_len = (int)cols; c->window = 2;
    c->draft = calloc((size_t)(bsz * cols), 8); c->acc = calloc((size_t)(bsz * cols), 8);
    c->verify = calloc((size_t)(rows * cands), 8); c->scores = calloc((size_t)(rows * cands), 4);
    c->max_dec = calloc((size_t)bsz, 8); c->step = calloc((size_t)bsz, 8);
    c->end = calloc(8, 8); c->sampled = calloc((size_t)rows + 1, 8);
    c->enc = calloc((size_t)bsz, 4); c->stlen = calloc((size_t)bsz, 4);
    c->oco = calloc((size_t)bsz, 4); c->num = calloc((size_t)bsz, 4);
    c->acl = calloc((size_t)rows + 1, 4); c->topp = calloc((size_t)bsz, 4);
    c->block = calloc((size_t)bsz, 1); c->stop = calloc((size_t)bsz, 1);
    for (int64_t b = 0; b < bsz; b++) c->max_dec[b] = 1000;
    for (int64_t r = 0; r < rows; r++) c->acl[r] = (int32_t)cands;
    c->end[0] = 7; c->end[1] = 2;
    return c;
}

static void vcase_free(vcase *c) {
    void *p[] = {c->draft, c->acc, c->verify, c->scores, c->max_dec, c->step, c->end,
                 c->sampled, c->enc, c->stlen, c->oco, c->num, c->acl, c->topp, c->block,
                 c->stop, c};
    for (size_t k = 0; k < sizeof p / sizeof p[0]; k++) free(p[k]);
}

static vcase *vcase_copy(const vcase *s) {
    vcase *c = vcase_new(s->bsz, s->cols, s->rows, s->cands);
    int64_t B = s->bsz, R = s->rows;
    memcpy(c->draft, s->draft, (size_t)(B * s->cols) * 8);
    memcpy(c->acc, s->acc, (size_t)(B * s->cols) * 8);
    memcpy(c->verify, s->verify, (size_t)(R * s->cands) * 8);
    memcpy(c->scores, s->scores, (size_t)(R * s->cands) * 4);
    memcpy(c->max_dec, s->max_dec, (size_t)B * 8); memcpy(c->step, s->step, (size_t)B * 8);
    memcpy(c->end, s->end, 64); memcpy(c->sampled, s->sampled, (size_t)R * 8);
    memcpy(c->enc, s->enc, (size_t)B * 4); memcpy(c->stlen, s->stlen, (size_t)B * 4);
    memcpy(c->oco, s->oco, (size_t)B * 4); memcpy(c->num, s->num, (size_t)B * 4);
    memcpy(c->acl, s->acl, (size_t)R * 4); memcpy(c->topp, s->topp, (size_t)B * 4);
    memcpy(c->block, s->block, (size_t)B); memcpy(c->stop, s->stop, (size_t)B);
    c->n_end = s->n_end; c->max_seq_len = s->max_seq_len; c->window = s->window;
    c->flags = s->flags; c->seed = s->seed; c->offset = s->offset;
    return c;
}

static int same_outputs(const vcase *a, const vcase *b) {
    return !memcmp(a->acc, b->acc, (size_t)(a->bsz * a->cols) * 8) &&
           !memcmp(a->num, b->num, (size_t)a->bsz * 4) &&
           !memcmp(a->step, b->step, (size_t)a->bsz * 8) && !memcmp(a->stop, b->stop, (size_t)a->bsz);
}

// Sets slot b's drafts and lays out its rows right after slot b-1's (packed rows).
static void set_slot(vcase *c, int64_t b, int32_t len, const int64_t *drafts) {
    int64_t base = 0;
    for (int64_t k = 0; k < b; k++) base += c->stlen[k];
    c->stlen[b] = len;
    c->oco[b] = (int32_t)(b * c->max_seq_len - base);
    for (int32_t k = 0; k + 1 < len && k + 1 < c->cols; k++) c->draft[b * c->cols + k + 1] = drafts[k];
}
static int64_t *row_of(vcase *c, int64_t b, int64_t i) {
    return c->verify + (b * c->max_seq_len - c->oco[b] + i) * c->cands;
}

// ---- hand-worked cases

// The self-check's case: accept, accept, reject -> correction; prefill -> end token;
// accept at max_dec_len -> end_tokens[0]; preempted slot untouched.
static void known_answer_on(fd_ctx *ctx) {
    vcase *c = vcase_new(4, 4, 16, 3);
    c->max_seq_len = 4;
    int64_t d0[3] = {10, 11, 12}, d2[2] = {20, 21}, d3[3] = {5, 5, 5};
    set_slot(c, 0, 4, d0);
    c->enc[1] = 5;
    c->stlen[1] = 5;
    c->oco[1] = 0;
    c->oco[2] = 0;
    c->oco[3] = 0;
    c->stlen[2] = 3;
    memcpy(c->draft + 9, d2, 16);
    c->stlen[3] = 4;
    memcpy(c->draft + 13, d3, 24);
    int64_t v[12] = {10, 3, 3, 11, 3, 3, 99, 98, 3};
    memcpy(c->verify, v, sizeof v);
    c->verify[12] = 7;
    c->verify[24] = 20;
    c->max_dec[2] = 10;
    c->step[2] = 9;
    c->block[3] = 1;
    c->num[3] = -1;
    CHECK_OK(run(ctx, c));
    int64_t want_acc[16] = {10, 11, 99, 0, 7, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0};
    int64_t want_step[4] = {3, 1, 10, 0}, want_num[4] = {3, 1, 1, -1}, want_stop[4] = {0, 1, 1, 0};
    for (int i = 0; i < 16; i++) CHECK_EQ_I64(c->acc[i], want_acc[i]);
    for (int b = 0; b < 4; b++) {
        CHECK_EQ_I64(c->step[b], want_step[b]);
        CHECK_EQ_I64(c->num[b], want_num[b]);
        CHECK_EQ_I64(c->stop[b], want_stop[b]);
    }
    vcase_free(c);
}

// One decode slot, 6 columns, drafts 41..44, rows 0..4 (window 2).
static vcase *window_case(void) {
    vcase *c = vcase_new(1, 6, 5, 3);
    int64_t d[4] = {41, 42, 43, 44};
    set_slot(c, 0, 5, d);
    for (int r = 0; r < 5; r++) c->acl[r] = 1;
    int64_t *r0 = row_of(c, 0, 0);
    r0[0] = 90; r0[1] = 41;           // draft 41 is the 2nd candidate: window check
    row_of(c, 0, 1)[0] = 42;
    row_of(c, 0, 2)[0] = 43;
    row_of(c, 0, 3)[0] = 95;          // target token after the window
    return c;
}

static void window_on(fd_ctx *ctx) {
    vcase *c = window_case();  // window accepted: 41 42 43, then 95
    CHECK_OK(run(ctx, c));
    CHECK_EQ_I64(c->num[0], 4);
    CHECK_EQ_I64(c->step[0], 4);
    CHECK_EQ_I64(c->acc[0], 41); CHECK_EQ_I64(c->acc[1], 42);
    CHECK_EQ_I64(c->acc[2], 43); CHECK_EQ_I64(c->acc[3], 95);
    CHECK_EQ_I64(c->stop[0], 0);
    vcase_free(c);
    c = window_case();  // an end token inside the window: upstream counts -1 once
    c->draft[2] = 7;
    row_of(c, 0, 1)[0] = 7;
    CHECK_OK(run(ctx, c));
    CHECK_EQ_I64(c->num[0], 3);
    CHECK_EQ_I64(c->step[0], 2);
    CHECK_EQ_I64(c->acc[0], 41); CHECK_EQ_I64(c->acc[1], 7);
    CHECK_EQ_I64(c->stop[0], 1);
    vcase_free(c);
    c = window_case();  // window broken at its 2nd draft: only the correction
    row_of(c, 0, 2)[0] = 1;
    CHECK_OK(run(ctx, c));
    CHECK_EQ_I64(c->num[0], 1);
    CHECK_EQ_I64(c->step[0], 1);
    CHECK_EQ_I64(c->acc[0], 90);
    vcase_free(c);
    c = window_case();  // TOP1 mode never opens a window
    c->flags = FD_SPEC_VERIFY_TOP1;
    CHECK_OK(run(ctx, c));
    CHECK_EQ_I64(c->num[0], 1);
    CHECK_EQ_I64(c->acc[0], 90);
    vcase_free(c);
}

static void modes_on(fd_ctx *ctx) {
    vcase *c = window_case();  // accept_all: every draft, then row 4's best
    c->flags = FD_SPEC_VERIFY_ACCEPT_ALL;
    row_of(c, 0, 4)[0] = 66;
    CHECK_OK(run(ctx, c));
    CHECK_EQ_I64(c->num[0], 5);
    CHECK_EQ_I64(c->acc[3], 44); CHECK_EQ_I64(c->acc[4], 66);
    vcase_free(c);
    c = window_case();  // target sampling: compare with sampled ids
    c->flags = FD_SPEC_VERIFY_TARGET_SAMPLING | FD_SPEC_VERIFY_TOPP;
    c->sampled[0] = 41; c->sampled[1] = 42; c->sampled[2] = 8;
    CHECK_OK(run(ctx, c));
    CHECK_EQ_I64(c->num[0], 3);
    CHECK_EQ_I64(c->acc[0], 41); CHECK_EQ_I64(c->acc[1], 42); CHECK_EQ_I64(c->acc[2], 8);
    vcase_free(c);
    c = window_case();  // top-1: 41 is not the best candidate
    c->flags = FD_SPEC_VERIFY_TOP1;
    row_of(c, 0, 0)[0] = 41;
    CHECK_OK(run(ctx, c));
    CHECK_EQ_I64(c->num[0], 4);
    CHECK_EQ_I64(c->acc[3], 95);
    vcase_free(c);
    c = window_case();  // benchmark: no draft verified
    c->flags = FD_SPEC_VERIFY_BENCHMARK;
    CHECK_OK(run(ctx, c));
    CHECK_EQ_I64(c->num[0], 1); CHECK_EQ_I64(c->acc[0], 90);
    vcase_free(c);
    c = window_case();  // prefill_one_step_stop: stop flag only
    c->flags = FD_SPEC_VERIFY_PREFILL_ONE_STEP_STOP;
    CHECK_OK(run(ctx, c));
    CHECK_EQ_I64(c->num[0], 4); CHECK_EQ_I64(c->stop[0], 1);
    vcase_free(c);
}

// Top-p: a one-hot distribution, p = 1.0, a single candidate, tiny p, determinism,
// and a 50/50 split over 256 slots.
static void topp_on(fd_ctx *ctx) {
    vcase *c = vcase_new(256, 2, 256, 3);
    c->flags = FD_SPEC_VERIFY_TOPP;
    c->seed = 11;
    for (int b = 0; b < 256; b++) {
        int64_t none[1] = {0};
        set_slot(c, b, 1, none);
        c->topp[b] = 1.0f;
        int64_t *r = row_of(c, b, 0);
        r[0] = 100; r[1] = 200; r[2] = 300;
        float *s = c->scores + (r - c->verify);
        s[0] = 0.5f; s[1] = 0.5f;
    }
    c->scores[0] = 0.0f; c->scores[1] = 1.0f;   // slot 0: one-hot on 200
    c->acl[1] = 1;                              // slot 1: one candidate
    c->topp[2] = 0.01f;                         // slot 2: tiny p keeps the best
    vcase *d = vcase_copy(c);
    CHECK_OK(run(ctx, c));
    CHECK_OK(run(ctx, d));
    CHECK(same_outputs(c, d));
    CHECK_EQ_I64(c->acc[0], 200);
    CHECK_EQ_I64(c->acc[2], 100);
    CHECK_EQ_I64(c->acc[4], 100);
    int second = 0;
    for (int b = 3; b < 256; b++) {
        CHECK(c->acc[b * 2] == 100 || c->acc[b * 2] == 200);
        second += c->acc[b * 2] == 200;
    }
    CHECK(second > 80 && second < 173);  // binomial(253, 1/2): mean 126, sd 8
    vcase_free(d);
    d = vcase_copy(c);
    memset(d->acc, 0, 256 * 2 * 8);
    d->offset = 1;  // a new step draws new numbers
    CHECK_OK(run(ctx, d));
    int diff = 0;
    for (int b = 3; b < 256; b++) diff += d->acc[b * 2] != c->acc[b * 2];
    CHECK(diff > 40);
    vcase_free(c);
    vcase_free(d);
}

// All slots stopped or preempted: nothing is written.
static void all_stopped_on(fd_ctx *ctx) {
    vcase *c = window_case();
    c->stop[0] = 1;
    c->num[0] = 9;
    CHECK_OK(run(ctx, c));
    CHECK_EQ_I64(c->num[0], 9); CHECK_EQ_I64(c->step[0], 0); CHECK_EQ_I64(c->acc[0], 0);
    vcase_free(c);
}

// ---- random batches: FastDeploy's generator ranges (own RNG)

static int64_t rnd(uint64_t *s, int64_t lo, int64_t hi) {  // [lo, hi)
    return lo + (int64_t)(fd_test_rand(s) % (uint64_t)(hi - lo));
}

// stl_max: largest seq_lens_this_time (FastDeploy's test: max_seq_len).
static vcase *gen(int64_t bsz, int64_t cols, int M, int64_t cands, int64_t n_end, int64_t vocab,
                  int64_t stl_max, unsigned flags, uint64_t seed) {
    uint64_t s = seed;
    int32_t *len = calloc((size_t)bsz, 4);
    int64_t rows = 0;
    for (int64_t b = 0; b < bsz; b++) rows += len[b] = (int32_t)rnd(&s, 1, stl_max + 1);
    vcase *c = vcase_new(bsz, cols, rows, cands);
    c->max_seq_len = M;
    c->n_end = n_end;
    c->flags = flags;
    c->seed = seed;
    int64_t blank = 0;
    for (int64_t b = 0; b < bsz; b++) {
        c->enc[b] = (int32_t)rnd(&s, 0, 3);
        c->stlen[b] = len[b];
        c->oco[b] = (int32_t)blank;
        blank += M - len[b];
        c->max_dec[b] = rnd(&s, 16, 64);
        c->block[b] = fd_test_rand(&s) & 1;
        c->topp[b] = (flags & FD_SPEC_VERIFY_TOPP) ? 0.8f + 0.1f * (fd_test_randf(&s) + 1) : 0;
    }
    for (int64_t i = 0; i < bsz * cols; i++) c->draft[i] = rnd(&s, 0, vocab);
    for (int64_t i = 0; i < rows * cands; i++) {
        c->verify[i] = rnd(&s, 0, vocab);
        c->scores[i] = (fd_test_randf(&s) + 1) / 2;
    }
    for (int64_t i = 0; i < rows; i++) {
        c->acl[i] = (int32_t)rnd(&s, 1, cands + 1);
        c->sampled[i] = rnd(&s, 0, vocab);
    }
    for (int64_t k = 0; k < n_end; k++) c->end[k] = rnd(&s, 1, vocab);
    free(len);
    return c;
}

// (real_bsz, D, max_seq_len, C, window, E) of test_speculate_verify.py.
static const int FD_CONFIGS[5][6] = {{1, 9, 11, 4, 2, 5}, {33, 5, 10111, 5, 2, 6},
                                     {6, 4, 10001, 6, 2, 7}, {7, 3, 777, 7, 2, 5},
                                     {55, 5, 31, 9, 2, 3}};

static vcase *fd_config(int k, unsigned flags) {
    const int *p = FD_CONFIGS[k];
    vcase *c = gen(p[0], p[1], p[2], p[3], p[5], 1000, p[2], flags, 42);
    c->window = p[4];
    return c;
}

// The five configs run within bounds (seq_lens_this_time > D never needs the extra
// columns on these draws) and give sane counts.
static void cpu_fastdeploy_configs(void) {
    for (int k = 0; k < 5; k++) {
        vcase *c = fd_config(k, 0);
        CHECK_OK(run(env.cpu, c));
        for (int64_t b = 0; b < c->bsz; b++) {
            if (c->block[b]) {
                CHECK_EQ_I64(c->num[b], 0);
                continue;
            }
            CHECK(c->num[b] >= 1 && c->num[b] <= c->cols);
            CHECK(c->step[b] >= 1 && c->step[b] <= c->max_dec[b]);
        }
        vcase_free(c);
    }
}

static void gpu_matches(fd_ctx *g, vcase *c, const char *what) {
    vcase *d = vcase_copy(c);
    CHECK_OK(run(env.cpu, c));
    CHECK_OK(run(g, d));
    if (!same_outputs(c, d)) FD_FAILF("%s (flags 0x%x): GPU differs from the reference", what, c->flags);
    vcase_free(d);
}

static void gpu_fastdeploy_configs(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "speculate_verify");
    if (!g) return;
    for (int k = 0; k < 5; k++) {
        unsigned fl[2] = {0, FD_SPEC_VERIFY_TOPP};
        for (int m = 0; m < 2; m++) {
            vcase *c = fd_config(k, fl[m]);
            gpu_matches(g, c, "FastDeploy config");
            vcase_free(c);
        }
    }
}

// bsz 1 and 256, vocab 32 (many accepts, windows, end tokens) and 151936, all modes.
static void gpu_random_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "speculate_verify");
    if (!g) return;
    static const unsigned modes[] = {0, FD_SPEC_VERIFY_TOPP, FD_SPEC_VERIFY_TOP1,
                                     FD_SPEC_VERIFY_TOP1 | FD_SPEC_VERIFY_TOPP,
                                     FD_SPEC_VERIFY_TARGET_SAMPLING, FD_SPEC_VERIFY_ACCEPT_ALL,
                                     FD_SPEC_VERIFY_BENCHMARK,
                                     FD_SPEC_VERIFY_PREFILL_ONE_STEP_STOP};
    int64_t sizes[2] = {1, 256}, vocabs[2] = {32, 151936};
    for (int m = 0; m < 8; m++)
        for (int si = 0; si < 2; si++)
            for (int vi = 0; vi < 2; vi++) {
                vcase *c = gen(sizes[si], 6, 8, 4, 2, vocabs[vi], 6, modes[m],
                               (uint64_t)(100 * m + 10 * si + vi + 1));
                for (int64_t b = 0; b < c->bsz; b++) {  // some start stopped or mid-way
                    c->stop[b] = b % 9 == 4;
                    c->step[b] = (int64_t)(fd_test_rand(&c->seed) % 70);
                }
                gpu_matches(g, c, "random batch");
                vcase_free(c);
            }
}

// ---- bad input: an error naming the op, and nothing written

static void expect_error(fd_ctx *ctx, vcase *c, const char *needle) {
    vcase *before = vcase_copy(c);
    CHECK_STATUS(run(ctx, c), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), needle);
    CHECK(same_outputs(c, before));
    vcase_free(before);
}

static void bad_input_on(fd_ctx *ctx, int kernel) {
    vcase *c = window_case();  // a decode slot that needs more than D columns
    c->flags = FD_SPEC_VERIFY_ACCEPT_ALL;
    c->stlen[0] = 9;
    c->num[0] = 5;
    expect_error(ctx, c, kernel ? "speculate_verify" : "must be <= 6 in decode");
    vcase_free(c);
    c = window_case();
    c->stlen[0] = -1;
    expect_error(ctx, c, kernel ? "speculate_verify" : "seq_lens_this_time[0] = -1");
    vcase_free(c);
    c = window_case();
    c->acl[0] = -3;
    expect_error(ctx, c, kernel ? "speculate_verify" : "actual_candidate_len[0] = -3");
    vcase_free(c);
    c = window_case();
    c->oco[0] = -40;  // first row 40 of 5
    expect_error(ctx, c, kernel ? "speculate_verify" : "outside verify_tokens' 5 rows");
    vcase_free(c);
}

static void bad_args_on(fd_ctx *ctx) {
    vcase *c = window_case();
    c->flags = 1u << 9;
    CHECK_STATUS(run(ctx, c), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "unknown flags");
    c->flags = 0;
    c->max_seq_len = 0;
    CHECK_STATUS(run(ctx, c), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "max_seq_len");
    vcase_free(c);
    // wrong dtype and more batch slots than rows of accept_tokens
    fd_tbuf a = FD_TBUF(ctx, FD_I64, NULL, 2, 3), n = FD_TBUF(ctx, FD_I32, NULL, 2);
    fd_tbuf s32 = FD_TBUF(ctx, FD_I32, NULL, 2), f = FD_TBUF(ctx, FD_BOOL, NULL, 2);
    fd_tbuf len3 = FD_TBUF(ctx, FD_I32, NULL, 3), v = FD_TBUF(ctx, FD_I64, NULL, 4, 2);
    fd_tbuf e = FD_TBUF(ctx, FD_I64, NULL, 1), i64 = FD_TBUF(ctx, FD_I64, NULL, 2);
    fd_tbuf acl = FD_TBUF(ctx, FD_I32, NULL, 4);
    CHECK_STATUS(fd_speculate_verify(ctx, NULL, &a.t, &n.t, &s32.t, &f.t, &n.t, &a.t, &n.t, &v.t,
                                     NULL, &i64.t, &e.t, &f.t, &n.t, &acl.t, NULL, 4, 2, 0, 0, 0),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "step_idx has dtype i32");
    CHECK_STATUS(fd_speculate_verify(ctx, NULL, &a.t, &n.t, &i64.t, &f.t, &n.t, &a.t, &len3.t,
                                     &v.t, NULL, &i64.t, &e.t, &f.t, &n.t, &acl.t, NULL, 4, 2, 0,
                                     0, 0),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "more than");
    CHECK_STATUS(fd_speculate_verify(ctx, NULL, &a.t, &n.t, &i64.t, &f.t, &n.t, &a.t, &n.t, &v.t,
                                     NULL, &i64.t, &e.t, &f.t, &n.t, &acl.t, NULL, 4, 2,
                                     FD_SPEC_VERIFY_TOPP, 0, 0),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "verify_scores is NULL");
    fd_tbuf *all[] = {&a, &n, &s32, &f, &len3, &v, &e, &i64, &acl};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) fd_tbuf_free(all[k]);
}

static void cpu_known_answer(void) { known_answer_on(env.cpu); }
static void cpu_window(void) { window_on(env.cpu); }
static void cpu_modes(void) { modes_on(env.cpu); }
static void cpu_topp(void) { topp_on(env.cpu); }
static void cpu_all_stopped(void) { all_stopped_on(env.cpu); }
static void cpu_bad_input(void) { bad_input_on(env.cpu, 0); bad_args_on(env.cpu); }

#define GPU_CASE(name, body)                                                   \
    static void name(void) {                                                   \
        fd_ctx *g = fd_test_gpu_for(&env, "speculate_verify");                 \
        if (g) body;                                                           \
    }
GPU_CASE(gpu_known_answer, known_answer_on(g))
GPU_CASE(gpu_window, window_on(g))
GPU_CASE(gpu_modes, modes_on(g))
GPU_CASE(gpu_topp, topp_on(g))
GPU_CASE(gpu_all_stopped, all_stopped_on(g))
GPU_CASE(gpu_bad_input, (bad_input_on(g, 1), bad_args_on(g)))

// The GPU draws the same top-p numbers as the reference: outputs equal exactly.
static void gpu_topp_matches_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "speculate_verify");
    if (!g) return;
    vcase *c = gen(256, 4, 4, 8, 1, 151936, 1, FD_SPEC_VERIFY_TOPP, 77);
    gpu_matches(g, c, "top-p batch");
    vcase_free(c);
}

static void table_and_info_agree(void) { fd_test_table_agrees(&env, "speculate_verify", 70); }

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_known_answer), FD_CASE(cpu_window), FD_CASE(cpu_modes),
             FD_CASE(cpu_topp), FD_CASE(cpu_all_stopped), FD_CASE(cpu_fastdeploy_configs),
             FD_CASE(cpu_bad_input), FD_CASE(gpu_known_answer), FD_CASE(gpu_window),
             FD_CASE(gpu_modes), FD_CASE(gpu_topp), FD_CASE(gpu_all_stopped),
             FD_CASE(gpu_bad_input), FD_CASE(gpu_fastdeploy_configs),
             FD_CASE(gpu_random_vs_reference), FD_CASE(gpu_topp_matches_reference),
             FD_CASE(table_and_info_agree), FD_CASE(teardown))
