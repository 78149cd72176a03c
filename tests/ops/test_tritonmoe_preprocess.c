// SPDX-License-Identifier: Apache-2.0
// tritonmoe_preprocess on the C reference and on the GPU: FastDeploy's exact
// case, the layout checks of its newer tests over many shapes, dropped (-1)
// assignments, bad input, and the GPU against the reference (exact).
#include "fd_test.h"

static fd_test_env env;

typedef struct al_out {
    int32_t *sorted, *experts, total;
    int64_t cap, blocks;
} al_out;

static void al_free(al_out *o) {
    free(o->sorted);
    free(o->experts);
    memset(o, 0, sizeof *o);
}

static fd_status run(fd_ctx *ctx, const int64_t *ids, int64_t numel, int64_t e, int64_t m,
                     al_out *o) {
    memset(o, 0, sizeof *o);
    o->cap = fd_tritonmoe_preprocess_capacity(numel, e, m);
    if (o->cap < 0) o->cap = 0;
    o->blocks = m > 0 ? (o->cap + m - 1) / m : 0;
    fd_tbuf b_i = FD_TBUF(ctx, FD_I64, ids, numel);
    fd_tbuf b_s = FD_TBUF(ctx, FD_I32, NULL, o->cap);
    fd_tbuf b_e = FD_TBUF(ctx, FD_I32, NULL, o->blocks);
    fd_tbuf b_t = FD_TBUF(ctx, FD_I32, NULL, 1);
    fd_status s = fd_tritonmoe_preprocess(ctx, &b_i.t, e, m, &b_s.t, &b_e.t, &b_t.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    o->sorted = malloc((size_t)o->cap * 4 + 4);
    o->experts = malloc((size_t)o->blocks * 4 + 4);
    if (s == FD_OK) {
        memcpy(o->sorted, fd_tbuf_fetch(&b_s), (size_t)o->cap * 4);
        memcpy(o->experts, fd_tbuf_fetch(&b_e), (size_t)o->blocks * 4);
        o->total = *(int32_t *)fd_tbuf_fetch(&b_t);
    }
    fd_tbuf_free(&b_i); fd_tbuf_free(&b_s); fd_tbuf_free(&b_e); fd_tbuf_free(&b_t);
    return s;
}

// The layout FastDeploy's newer tests check, plus ascending ids inside a bucket.
static void verify(const int64_t *ids, int64_t numel, int64_t e, int64_t m, const al_out *o) {
    int64_t *cnt = calloc((size_t)e + 1, sizeof *cnt), pos = 0;
    for (int64_t i = 0; i < numel; i++) cnt[ids[i] + 1]++;
    int bad = 0;
    for (int64_t b = 0; b <= e && !bad; b++) {
        int64_t pad = (cnt[b] + m - 1) / m * m, prev = -1;
        for (int64_t q = pos / m; q < (pos + pad) / m; q++) bad |= o->experts[q] != b - 1;
        for (int64_t r = 0; r < pad && !bad; r++) {
            int64_t v = o->sorted[pos + r];
            if (r < cnt[b]) bad |= v <= prev || v >= numel || ids[v] + 1 != b;
            else bad |= v != numel;
            prev = v;
        }
        if (bad) FD_FAILF("bucket of expert %lld (count %lld) is laid out wrong", (long long)(b - 1),
                          (long long)cnt[b]);
        pos += pad;
    }
    CHECK_EQ_I64(o->total, pos);
    CHECK_EQ_I64(o->total % m, 0);
    for (int64_t i = pos; i < o->cap && !bad; i++) bad |= o->sorted[i] != numel;
    for (int64_t q = pos / m; q < o->blocks && !bad; q++) bad |= o->experts[q] != -1;
    CHECK(!bad);
    free(cnt);
}

static void run_verify(fd_ctx *ctx, const int64_t *ids, int64_t numel, int64_t e, int64_t m) {
    al_out o;
    CHECK_OK(run(ctx, ids, numel, e, m, &o));
    if (!fd_test_failed_) verify(ids, numel, e, m, &o);
    al_free(&o);
}

static void fastdeploy_case_on(fd_ctx *ctx) {
    int64_t ids[16] = {7, 6, 5, 4, 1, 2, 3, 4, 0, 1, 2, 3, 0, 3, 2, 1};
    int32_t want[32] = {8, 12, 16, 16, 4, 9, 15, 16, 5, 10, 14, 16, 6, 11, 13, 16,
                        3, 7, 16, 16, 2, 16, 16, 16, 1, 16, 16, 16, 0, 16, 16, 16};
    al_out o;
    CHECK_OK(run(ctx, ids, 16, 8, 4, &o));
    CHECK_EQ_I64(o.cap, 16 + 9 * 3);
    CHECK_EQ_I64(o.blocks, 11);
    CHECK_EQ_I64(o.total, 32);
    for (int i = 0; i < 32; i++) CHECK_EQ_I64(o.sorted[i], want[i]);
    for (int q = 0; q < 8; q++) CHECK_EQ_I64(o.experts[q], q);
    al_free(&o);
}

static int64_t *random_ids(int64_t n, int64_t e, uint64_t seed, int zipf) {
    int64_t *ids = malloc((size_t)n * 8 + 8);
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = fd_test_rand(&seed);
        ids[i] = zipf ? (int64_t)(e * pow((double)(r >> 11) / 9007199254740992.0, 4)) % e
                      : (int64_t)(r % (uint64_t)e);
    }
    return ids;
}

// The shapes of FastDeploy's newer tests, checked for layout.
static void shapes_on(fd_ctx *ctx) {
    int64_t doc[6] = {0, 1, 1, 2, 0, 2}, one[1] = {3}, same[64], topk_all[4 * 8];
    for (int i = 0; i < 64; i++) same[i] = 5;
    for (int i = 0; i < 32; i++) topk_all[i] = i % 8;
    run_verify(ctx, doc, 6, 3, 4);           // docstring-sized example
    run_verify(ctx, one, 1, 8, 16);          // single token
    run_verify(ctx, same, 64, 8, 16);        // all the same expert, exact block boundary
    run_verify(ctx, same, 63, 8, 16);        // one short of the boundary
    run_verify(ctx, topk_all, 32, 8, 4);     // top_k == E
    run_verify(ctx, one, 1, 64, 8);          // fewer tokens than experts
    run_verify(ctx, doc, 6, 3, 1);           // M = 1
    run_verify(ctx, doc, 0, 3, 4);           // empty input
    int64_t zeros[10] = {0};
    run_verify(ctx, zeros, 10, 1, 4);        // one expert
    run_verify(ctx, doc, 6, 3, 256);         // M larger than the token count
    static const int64_t sweep[][3] = {{1, 32, 16}, {256 * 8, 256, 64}, {4096, 1024, 128},
                                       {4096 * 8, 64, 16}, {163840, 1024, 256}};
    for (int c = 0; c < 5; c++) {
        int64_t *ids = random_ids(sweep[c][0], sweep[c][1], 11 + c, 0);
        run_verify(ctx, ids, sweep[c][0], sweep[c][1], sweep[c][2]);
        free(ids);
    }
    int64_t *z = random_ids(20000, 128, 99, 1);  // Zipf-like skew: expert 0 dominates
    run_verify(ctx, z, 20000, 128, 64);
    free(z);
}

// -1 (dropped by expert parallelism) goes to a leading bucket of expert -1.
static void dropped_on(fd_ctx *ctx) {
    int64_t ids[8] = {1, -1, 0, -1, 1, 1, -1, 0};
    al_out o;
    CHECK_OK(run(ctx, ids, 8, 2, 4, &o));
    int32_t want[12] = {1, 3, 6, 8, 2, 7, 8, 8, 0, 4, 5, 8};
    CHECK_EQ_I64(o.total, 12);
    for (int i = 0; i < 12; i++) CHECK_EQ_I64(o.sorted[i], want[i]);
    CHECK_EQ_I64(o.experts[0], -1);
    CHECK_EQ_I64(o.experts[1], 0);
    CHECK_EQ_I64(o.experts[2], 1);
    verify(ids, 8, 2, 4, &o);
    al_free(&o);
}

static void bad_input_on(fd_ctx *ctx) {
    int64_t too_big[4] = {0, 1, 8, 2}, too_small[4] = {0, -2, 1, 2};
    al_out o;
    CHECK_STATUS(run(ctx, too_big, 4, 8, 4, &o), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "tritonmoe_preprocess");
    al_free(&o);
    CHECK_STATUS(run(ctx, too_small, 4, 8, 4, &o), FD_ERR_INVALID_ARG);
    al_free(&o);
    CHECK_STATUS(run(ctx, too_big, 4, 0, 4, &o), FD_ERR_INVALID_ARG);
    al_free(&o);
    CHECK_STATUS(run(ctx, too_big, 4, 8, 0, &o), FD_ERR_INVALID_ARG);
    al_free(&o);
    // Output sized for another capacity, and a non-int64 input.
    fd_tbuf b_i = FD_TBUF(ctx, FD_I64, too_small, 4), b_s = FD_TBUF(ctx, FD_I32, NULL, 10);
    fd_tbuf b_e = FD_TBUF(ctx, FD_I32, NULL, 10), b_t = FD_TBUF(ctx, FD_I32, NULL, 1);
    fd_tbuf b_f = FD_TBUF(ctx, FD_I32, NULL, 4);
    CHECK_STATUS(fd_tritonmoe_preprocess(ctx, &b_i.t, 8, 4, &b_s.t, &b_e.t, &b_t.t),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "sorted_ids");
    CHECK_STATUS(fd_tritonmoe_preprocess(ctx, &b_f.t, 8, 4, &b_s.t, &b_e.t, &b_t.t),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_tritonmoe_preprocess(ctx, NULL, 8, 4, &b_s.t, &b_e.t, &b_t.t),
                 FD_ERR_INVALID_ARG);
    fd_tbuf_free(&b_i); fd_tbuf_free(&b_s); fd_tbuf_free(&b_e); fd_tbuf_free(&b_t);
    fd_tbuf_free(&b_f);
}

static void cpu_fastdeploy_case(void) { fastdeploy_case_on(env.cpu); }
static void cpu_shapes(void) { shapes_on(env.cpu); }
static void cpu_dropped(void) { dropped_on(env.cpu); }
static void cpu_bad_input(void) { bad_input_on(env.cpu); }

static void cpu_capacity(void) {
    CHECK_EQ_I64(fd_tritonmoe_preprocess_capacity(16, 8, 4), 43);
    CHECK_EQ_I64(fd_tritonmoe_preprocess_capacity(5, 8, 4), 20);
    CHECK_EQ_I64(fd_tritonmoe_preprocess_capacity(0, 8, 4), 0);
    CHECK_EQ_I64(fd_tritonmoe_preprocess_capacity(-1, 8, 4), -1);
    CHECK_EQ_I64(fd_tritonmoe_preprocess_capacity(4, 8, 0), -1);
}

static void gpu_fastdeploy_case(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "tritonmoe_preprocess");
    if (g) fastdeploy_case_on(g);
}
static void gpu_shapes(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "tritonmoe_preprocess");
    if (g) shapes_on(g);
}
static void gpu_dropped(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "tritonmoe_preprocess");
    if (g) dropped_on(g);
}
static void gpu_bad_input(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "tritonmoe_preprocess");
    if (g) bad_input_on(g);
}

// Exact equality with the reference, twice (determinism), over batch 1 to 256
// tokens x top-8, E 8 to 1024, with dropped ids; and the GPU's expert limit.
static void gpu_random_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "tritonmoe_preprocess");
    if (!g) return;
    static const int64_t cfg[][3] = {{8, 8, 16}, {256 * 8, 64, 16}, {256 * 8, 256, 64},
                                     {16384 * 8, 1024, 128}, {3000, 6111, 4}};
    for (int c = 0; c < 5; c++) {
        int64_t n = cfg[c][0], e = cfg[c][1], m = cfg[c][2];
        int64_t *ids = random_ids(n, e + 1, 5 + c, 0);
        for (int64_t i = 0; i < n; i++) ids[i] -= 1;  // about 1/(E+1) dropped
        al_out a, b, b2;
        CHECK_OK(run(env.cpu, ids, n, e, m, &a));
        CHECK_OK(run(g, ids, n, e, m, &b));
        CHECK_OK(run(g, ids, n, e, m, &b2));
        CHECK_EQ_I64(a.total, b.total);
        CHECK(memcmp(a.sorted, b.sorted, (size_t)a.cap * 4) == 0);
        CHECK(memcmp(a.experts, b.experts, (size_t)a.blocks * 4) == 0);
        CHECK(memcmp(b.sorted, b2.sorted, (size_t)a.cap * 4) == 0);
        al_free(&a); al_free(&b); al_free(&b2);
        free(ids);
    }
    int64_t ids[4] = {0, 1, 2, 3};
    al_out o;
    CHECK_STATUS(run(g, ids, 4, 6112, 4, &o), FD_ERR_INVALID_ARG);
    al_free(&o);
}

static void table_and_info_agree(void) { fd_test_table_agrees(&env, "tritonmoe_preprocess", 70); }

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_fastdeploy_case), FD_CASE(cpu_shapes),
             FD_CASE(cpu_dropped), FD_CASE(cpu_bad_input), FD_CASE(cpu_capacity),
             FD_CASE(gpu_fastdeploy_case), FD_CASE(gpu_shapes), FD_CASE(gpu_dropped),
             FD_CASE(gpu_bad_input), FD_CASE(gpu_random_vs_reference),
             FD_CASE(table_and_info_agree), FD_CASE(teardown))
