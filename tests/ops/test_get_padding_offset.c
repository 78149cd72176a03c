// SPDX-License-Identifier: Apache-2.0
// get_padding_offset on the C reference and on the GPU: FastDeploy's case,
// edge cases, bad input, and random batches against the reference.
#include "fd_test.h"

static fd_test_env env;

typedef struct gpo_out {
    int64_t x[4096];
    int32_t bid[4096], cu_q[300], cu_k[300];
} gpo_out;

static fd_status run(fd_ctx *ctx, const int64_t *ids, int64_t bsz, int64_t max_len,
                     const int32_t *lens, int64_t token_num, gpo_out *o) {
    fd_tbuf b_ids = FD_TBUF(ctx, FD_I64, ids, bsz, max_len);
    fd_tbuf b_len = FD_TBUF(ctx, FD_I32, lens, bsz);
    fd_tbuf b_x = FD_TBUF(ctx, FD_I64, NULL, token_num);
    fd_tbuf b_bid = FD_TBUF(ctx, FD_I32, NULL, token_num);
    fd_tbuf b_q = FD_TBUF(ctx, FD_I32, NULL, bsz + 1);
    fd_tbuf b_k = FD_TBUF(ctx, FD_I32, NULL, bsz + 1);
    fd_status s = fd_get_padding_offset(ctx, &b_ids.t, &b_len.t, token_num, &b_x.t, &b_bid.t,
                                        &b_q.t, &b_k.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) {
        memcpy(o->x, fd_tbuf_fetch(&b_x), (size_t)token_num * 8);
        memcpy(o->bid, fd_tbuf_fetch(&b_bid), (size_t)token_num * 4);
        memcpy(o->cu_q, fd_tbuf_fetch(&b_q), (size_t)(bsz + 1) * 4);
        memcpy(o->cu_k, fd_tbuf_fetch(&b_k), (size_t)(bsz + 1) * 4);
    }
    fd_tbuf_free(&b_ids); fd_tbuf_free(&b_len); fd_tbuf_free(&b_x);
    fd_tbuf_free(&b_bid); fd_tbuf_free(&b_q); fd_tbuf_free(&b_k);
    return s;
}

static void fastdeploy_case_on(fd_ctx *ctx) {
    int64_t ids[3][10] = {{8, 7, 8, 2}, {4, 5, 5}, {7, 6, 1, 7, 2, 6}};
    int32_t lens[3] = {4, 3, 6};
    int64_t want_x[13] = {8, 7, 8, 2, 4, 5, 5, 7, 6, 1, 7, 2, 6};
    int32_t want_bid[13] = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2}, want_cu[4] = {0, 4, 7, 13};
    gpo_out o;
    CHECK_OK(run(ctx, &ids[0][0], 3, 10, lens, 13, &o));
    for (int i = 0; i < 13; i++) {
        CHECK_EQ_I64(o.x[i], want_x[i]);
        CHECK_EQ_I64(o.bid[i], want_bid[i]);
    }
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_I64(o.cu_q[i], want_cu[i]);
        CHECK_EQ_I64(o.cu_k[i], want_cu[i]);
    }
}

// Empty batch, zero-length slots, a slot at max length.
static void edges_on(fd_ctx *ctx) {
    gpo_out o;
    int64_t none[1] = {0};
    int32_t nolen[1] = {0};
    CHECK_OK(run(ctx, none, 0, 4, nolen, 0, &o));
    CHECK_EQ_I64(o.cu_q[0], 0);
    int64_t ids[3][4] = {{1, 2, 3, 4}, {9, 9, 9, 9}, {5, 6, 7, 8}};
    int32_t lens[3] = {4, 0, 4};
    CHECK_OK(run(ctx, &ids[0][0], 3, 4, lens, 8, &o));
    int64_t want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (int i = 0; i < 8; i++) CHECK_EQ_I64(o.x[i], want[i]);
    CHECK_EQ_I64(o.bid[4], 2);
    CHECK_EQ_I64(o.cu_q[1], 4);
    CHECK_EQ_I64(o.cu_q[2], 4);
    CHECK_EQ_I64(o.cu_q[3], 8);
    int32_t zeros[3] = {0, 0, 0};
    CHECK_OK(run(ctx, &ids[0][0], 3, 4, zeros, 0, &o));
    CHECK_EQ_I64(o.cu_q[3], 0);
}

// A length above max_len or a token_num that does not add up is an error.
static void bad_input_on(fd_ctx *ctx) {
    int64_t ids[2][4] = {{1, 2, 3, 4}, {5, 6, 7, 8}};
    int32_t too_long[2] = {5, 1}, lens[2] = {2, 2}, negative[2] = {-1, 3};
    gpo_out o;
    CHECK_STATUS(run(ctx, &ids[0][0], 2, 4, too_long, 6, &o), FD_ERR_INVALID_ARG);
    CHECK_STATUS(run(ctx, &ids[0][0], 2, 4, lens, 3, &o), FD_ERR_INVALID_ARG);
    CHECK_STATUS(run(ctx, &ids[0][0], 2, 4, negative, 2, &o), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "get_padding_offset");
    // token_num larger than the padded grid is refused before any launch.
    CHECK_STATUS(run(ctx, &ids[0][0], 2, 4, lens, 9, &o), FD_ERR_INVALID_ARG);
}

static void cpu_fastdeploy_case(void) { fastdeploy_case_on(env.cpu); }
static void cpu_edges(void) { edges_on(env.cpu); }
static void cpu_bad_input(void) { bad_input_on(env.cpu); }

static void gpu_fastdeploy_case(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "get_padding_offset");
    if (g) fastdeploy_case_on(g);
}
static void gpu_edges(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "get_padding_offset");
    if (g) edges_on(g);
}
static void gpu_bad_input(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "get_padding_offset");
    if (g) bad_input_on(g);
}

// bsz 1 and 256 with random lengths: GPU equals the reference exactly.
static void gpu_random_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "get_padding_offset");
    if (!g) return;
    static int64_t ids[256 * 16];
    static gpo_out a, b;
    uint64_t rng = 1234;
    int64_t sizes[2] = {1, 256};
    for (int k = 0; k < 2; k++) {
        int64_t bsz = sizes[k], tok = 0;
        int32_t lens[256];
        for (int64_t i = 0; i < bsz * 16; i++) ids[i] = (int64_t)(fd_test_rand(&rng) % 151936);
        for (int64_t i = 0; i < bsz; i++) tok += lens[i] = (int32_t)(fd_test_rand(&rng) % 17);
        CHECK_OK(run(env.cpu, ids, bsz, 16, lens, tok, &a));
        CHECK_OK(run(g, ids, bsz, 16, lens, tok, &b));
        CHECK(memcmp(a.x, b.x, (size_t)tok * 8) == 0);
        CHECK(memcmp(a.bid, b.bid, (size_t)tok * 4) == 0);
        CHECK(memcmp(a.cu_q, b.cu_q, (size_t)(bsz + 1) * 4) == 0);
    }
}

static void table_and_info_agree(void) { fd_test_table_agrees(&env, "get_padding_offset", 70); }

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_fastdeploy_case), FD_CASE(cpu_edges),
             FD_CASE(cpu_bad_input), FD_CASE(gpu_fastdeploy_case), FD_CASE(gpu_edges),
             FD_CASE(gpu_bad_input), FD_CASE(gpu_random_vs_reference),
             FD_CASE(table_and_info_agree), FD_CASE(teardown))
