// SPDX-License-Identifier: Apache-2.0
// set_value_by_flags_and_idx on the C reference and on the GPU: FastDeploy's
// six cases (random batch + five corner cases), prompt_lens offsets, batch of
// 1 and 256, bad input, random batches GPU vs reference (exact).
#include "fd_test.h"

static fd_test_env env;

typedef struct sv_in {
    int64_t bs, len, in_len;
    const int64_t *ids, *step, *plen;  // plen may be NULL
    const int32_t *enc, *dec;
    const uint8_t *stop;
} sv_in;

// Runs the op on pre (bs x len, in/out) and returns its status.
static fd_status run(fd_ctx *ctx, const sv_in *in, int64_t *pre) {
    int64_t bs = in->bs;
    fd_tbuf p = FD_TBUF(ctx, FD_I64, pre, bs, in->len);
    fd_tbuf ids = FD_TBUF(ctx, FD_I64, in->ids, bs, in->in_len);
    fd_tbuf stl = FD_TBUF(ctx, FD_I32, in->enc, bs);
    fd_tbuf enc = FD_TBUF(ctx, FD_I32, in->enc, bs);
    fd_tbuf dec = FD_TBUF(ctx, FD_I32, in->dec, bs);
    fd_tbuf pl = FD_TBUF(ctx, FD_I64, in->plen, bs, 1);
    fd_tbuf st = FD_TBUF(ctx, FD_I64, in->step, bs);
    fd_tbuf fl = FD_TBUF(ctx, FD_BOOL, in->stop, bs, 1);
    fd_status s = fd_set_value_by_flags_and_idx(ctx, &p.t, &ids.t, &stl.t, &enc.t, &dec.t,
                                                in->plen ? &pl.t : NULL, &st.t, &fl.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) memcpy(pre, fd_tbuf_fetch(&p), (size_t)(bs * in->len) * 8);
    fd_tbuf_free(&p); fd_tbuf_free(&ids); fd_tbuf_free(&stl); fd_tbuf_free(&enc);
    fd_tbuf_free(&dec); fd_tbuf_free(&pl); fd_tbuf_free(&st); fd_tbuf_free(&fl);
    return s;
}

// The numpy reference of FastDeploy's test, written independently.
static void expected(const sv_in *in, int64_t *pre) {
    for (int64_t b = 0; b < in->bs; b++) {
        if (in->stop[b] || (in->enc[b] == 0 && in->dec[b] == 0) || in->step[b] <= 0) continue;
        int64_t col = in->enc[b] > 0 ? in->enc[b] - 1 : 0;
        int64_t pos = in->step[b] + (in->plen ? in->plen[b] : 0);
        pre[b * in->len + pos] = in->ids[b * in->in_len + col];
    }
}

// FastDeploy's random case: bs 10, L 10, input length 15, prompt_lens zeros.
static void random_case_on(fd_ctx *ctx) {
    enum { BS = 10, L = 10, IN = 15 };
    int64_t pre[BS * L], want[BS * L], ids[BS * IN], step[BS], plen[BS] = {0};
    int32_t enc[BS], dec[BS];
    uint8_t stop[BS];
    uint64_t r = 42;
    for (int i = 0; i < BS * L; i++) pre[i] = want[i] = (int64_t)(fd_test_rand(&r) % 1000);
    for (int i = 0; i < BS * IN; i++) ids[i] = (int64_t)(fd_test_rand(&r) % 1000);
    for (int b = 0; b < BS; b++) {
        enc[b] = (int32_t)(fd_test_rand(&r) % IN);
        dec[b] = (int32_t)(fd_test_rand(&r) % IN);
        step[b] = (int64_t)(fd_test_rand(&r) % L);
        stop[b] = fd_test_rand(&r) % 10 == 0;
    }
    sv_in in = {BS, L, IN, ids, step, plen, enc, dec, stop};
    expected(&in, want);
    CHECK_OK(run(ctx, &in, pre));
    CHECK(memcmp(pre, want, sizeof pre) == 0);
}

// One-slot corner case; want_pos < 0 = nothing may change.
static void corner(fd_ctx *ctx, int64_t len, const int64_t *ids, int64_t in_len, int32_t enc,
                   int32_t dec, int64_t step, uint8_t stop, int64_t want_pos, int64_t want) {
    int64_t pre[8] = {0}, plen[1] = {0};
    sv_in in = {1, len, in_len, ids, &step, plen, &enc, &dec, &stop};
    CHECK_OK(run(ctx, &in, pre));
    for (int64_t i = 0; i < len; i++) CHECK_EQ_I64(pre[i], i == want_pos ? want : 0);
}

static void corner_cases_on(fd_ctx *ctx) {
    const int64_t a[3] = {11, 12, 13}, d[2] = {101, 102}, s[3] = {5, 6, 7}, z[3] = {8, 9, 10},
                  n[3] = {42, 43, 44};
    corner(ctx, 5, a, 3, 3, 0, 0, 0, -1, 0);    // encoder at step 0: no write
    corner(ctx, 4, d, 2, 0, 2, 2, 0, 2, 101);   // decoder: first input token at step 2
    corner(ctx, 3, s, 3, 3, 0, 1, 1, -1, 0);    // stopped
    corner(ctx, 3, z, 3, 0, 0, 0, 0, -1, 0);    // enc = dec = 0
    corner(ctx, 3, n, 3, 2, 1, -1, 0, -1, 0);   // step -1
    corner(ctx, 5, a, 3, 3, 0, 4, 0, 4, 13);    // prefill: last prompt token, last column
}

// prompt_lens shift the position (token_ids_all layout).
static void prompt_lens_on(fd_ctx *ctx) {
    int64_t ids[2 * 2] = {7, 8, 9, 10}, step[2] = {1, 3}, plen[2] = {4, 0}, pre[2 * 8] = {0};
    int32_t enc[2] = {0, 2}, dec[2] = {5, 0};
    uint8_t stop[2] = {0, 0};
    sv_in in = {2, 8, 2, ids, step, plen, enc, dec, stop};
    CHECK_OK(run(ctx, &in, pre));
    CHECK_EQ_I64(pre[5], 7);
    CHECK_EQ_I64(pre[8 + 3], 10);
    int64_t pre2[2 * 8] = {0};
    in.plen = NULL;  // no prompt_lens: position = step_idx
    CHECK_OK(run(ctx, &in, pre2));
    CHECK_EQ_I64(pre2[1], 7);
}

// All stopped: nothing changes. bs 1 and 256.
static void sizes_on(fd_ctx *ctx) {
    static int64_t pre[256 * 16], want[256 * 16], ids[256 * 4], step[256];
    static int32_t enc[256], dec[256];
    static uint8_t stop[256];
    uint64_t r = 9;
    int64_t sizes[2] = {1, 256};
    for (int k = 0; k < 2; k++) {
        int64_t bs = sizes[k];
        for (int64_t i = 0; i < bs * 16; i++) pre[i] = want[i] = -1;
        for (int64_t i = 0; i < bs * 4; i++) ids[i] = (int64_t)(fd_test_rand(&r) % 151936);
        for (int64_t b = 0; b < bs; b++) {
            enc[b] = (int32_t)(fd_test_rand(&r) % 5);
            dec[b] = (int32_t)(fd_test_rand(&r) % 3);
            step[b] = (int64_t)(fd_test_rand(&r) % 16);
            stop[b] = fd_test_rand(&r) % 4 == 0;
        }
        sv_in in = {bs, 16, 4, ids, step, NULL, enc, dec, stop};
        expected(&in, want);
        CHECK_OK(run(ctx, &in, pre));
        CHECK(memcmp(pre, want, (size_t)bs * 16 * 8) == 0);
        memset(stop, 1, sizeof stop);
        CHECK_OK(run(ctx, &in, pre));
        CHECK(memcmp(pre, want, (size_t)bs * 16 * 8) == 0);
    }
}

// Out-of-range positions and lengths are errors; the CPU writes nothing.
static void bad_input_on(fd_ctx *ctx) {
    int64_t ids[2 * 3] = {1, 2, 3, 4, 5, 6}, pre[2 * 4] = {0}, step[2] = {1, 4}, plen[2] = {0, 0};
    int32_t enc[2] = {0, 0}, dec[2] = {1, 1};
    uint8_t stop[2] = {0, 0};
    sv_in in = {2, 4, 3, ids, step, plen, enc, dec, stop};
    CHECK_STATUS(run(ctx, &in, pre), FD_ERR_INVALID_ARG);  // step 4 == L
    CHECK_CONTAINS(fd_last_error(), "set_value_by_flags_and_idx");
    if (!fd_ctx_is_cuda(ctx)) CHECK_EQ_I64(pre[1], 0);      // validated before writing
    step[1] = 1;
    enc[1] = 4;  // past input_ids' 3 columns
    CHECK_STATUS(run(ctx, &in, pre), FD_ERR_INVALID_ARG);
    enc[1] = 0;
    plen[1] = -2;
    CHECK_STATUS(run(ctx, &in, pre), FD_ERR_INVALID_ARG);
    plen[1] = 3;  // 3 + 1 == L
    CHECK_STATUS(run(ctx, &in, pre), FD_ERR_INVALID_ARG);
}

static void bad_shapes(void) {
    int64_t pre[8] = {0}, ids[4] = {0}, step[2] = {1, 1};
    int32_t lens[2] = {1, 1};
    uint8_t stop[2] = {0, 0};
    fd_ctx *c = env.cpu;
    fd_tensor p = fd_tensor_2d(pre, FD_I64, 2, 4), i = fd_tensor_2d(ids, FD_I64, 2, 2),
              l = fd_tensor_1d(lens, FD_I32, 2), l1 = fd_tensor_1d(lens, FD_I32, 1),
              st = fd_tensor_1d(step, FD_I64, 2), st32 = fd_tensor_1d(step, FD_I32, 2),
              f = fd_tensor_1d(stop, FD_BOOL, 2), p1 = fd_tensor_2d(pre, FD_I64, 1, 8);
    CHECK_OK(fd_set_value_by_flags_and_idx(c, &p, &i, &l, &l, &l, NULL, &st, &f));
    CHECK_STATUS(fd_set_value_by_flags_and_idx(c, &p, &i, &l, &l1, &l, NULL, &st, &f),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "seq_lens_encoder");
    CHECK_STATUS(fd_set_value_by_flags_and_idx(c, &p, &i, &l, &l, &l, NULL, &st32, &f),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_set_value_by_flags_and_idx(c, &p1, &i, &l, &l, &l, NULL, &st, &f),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_set_value_by_flags_and_idx(c, &p, &i, &l, &l, &l, NULL, &st, NULL),
                 FD_ERR_INVALID_ARG);
}

#define ON_CPU(fn) static void cpu_##fn(void) { fn##_on(env.cpu); }
#define ON_GPU(fn)                                                             \
    static void gpu_##fn(void) {                                               \
        fd_ctx *g = fd_test_gpu_for(&env, "set_value_by_flags_and_idx");       \
        if (g) fn##_on(g);                                                     \
    }
ON_CPU(random_case) ON_CPU(corner_cases) ON_CPU(prompt_lens) ON_CPU(sizes) ON_CPU(bad_input)
ON_GPU(random_case) ON_GPU(corner_cases) ON_GPU(prompt_lens) ON_GPU(sizes) ON_GPU(bad_input)

// Random batches with prompt offsets: GPU equals the reference exactly.
static void gpu_random_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "set_value_by_flags_and_idx");
    if (!g) return;
    static int64_t a[256 * 40], b[256 * 40], ids[256 * 8], step[256], plen[256];
    static int32_t enc[256], dec[256];
    static uint8_t stop[256];
    uint64_t r = 77;
    for (int i = 0; i < 256 * 40; i++) a[i] = b[i] = (int64_t)(fd_test_rand(&r) % 100);
    for (int i = 0; i < 256 * 8; i++) ids[i] = (int64_t)(fd_test_rand(&r) % 151936);
    for (int i = 0; i < 256; i++) {
        enc[i] = (int32_t)(fd_test_rand(&r) % 9);
        dec[i] = (int32_t)(fd_test_rand(&r) % 2);
        step[i] = (int64_t)(fd_test_rand(&r) % 20) - 2;
        plen[i] = (int64_t)(fd_test_rand(&r) % 20);
        stop[i] = fd_test_rand(&r) % 8 == 0;
    }
    sv_in in = {256, 40, 8, ids, step, plen, enc, dec, stop};
    CHECK_OK(run(env.cpu, &in, a));
    CHECK_OK(run(g, &in, b));
    CHECK(memcmp(a, b, sizeof a) == 0);
}

static void table_and_info_agree(void) { fd_test_table_agrees(&env, "set_value_by_flags_and_idx", 70); }

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_random_case), FD_CASE(cpu_corner_cases),
             FD_CASE(cpu_prompt_lens), FD_CASE(cpu_sizes), FD_CASE(cpu_bad_input),
             FD_CASE(bad_shapes), FD_CASE(gpu_random_case), FD_CASE(gpu_corner_cases),
             FD_CASE(gpu_prompt_lens), FD_CASE(gpu_sizes), FD_CASE(gpu_bad_input),
             FD_CASE(gpu_random_vs_reference), FD_CASE(table_and_info_agree),
             FD_CASE(teardown))
