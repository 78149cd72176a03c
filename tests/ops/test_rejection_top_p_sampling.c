// SPDX-License-Identifier: Apache-2.0
// rejection_top_p_sampling on the C reference and on the GPU: FastDeploy's two
// cases, determinism, the sampled distribution (chi-square over 20480 draws on
// vocab 32), never a token outside the top-p/top-k set (checked by a sort-based
// definition in this file), k = 1 and top_p <= 0 = argmax, p = 1.0 = the full
// distribution, vocab 151936, batch 1 and 256, bad input, GPU vs reference.
// Tokens are integers computed with exact fixed-point arithmetic: the GPU must
// equal the reference exactly (no tolerance).
#include "fd_test.h"

static fd_test_env env;

// Runs the op; top_k may be NULL; samples come back in out[bs].
static fd_status run(fd_ctx *ctx, const float *probs, const float *top_p, const int64_t *top_k,
                     int64_t bs, int64_t V, int64_t seed, int64_t *out) {
    fd_tbuf p = FD_TBUF(ctx, FD_F32, probs, bs, V);
    fd_tbuf tp = FD_TBUF(ctx, FD_F32, top_p, bs);
    fd_tbuf tk = FD_TBUF(ctx, FD_I64, top_k, bs, 1);
    fd_tbuf o = FD_TBUF(ctx, FD_I64, NULL, bs, 1);
    fd_ctx_memset(ctx, o.t.data, 0x55, fd_tensor_bytes(&o.t));
    fd_status s = fd_rejection_top_p_sampling(ctx, &p.t, &tp.t, top_k ? &tk.t : NULL, seed, &o.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) memcpy(out, fd_tbuf_fetch(&o), (size_t)bs * sizeof *out);
    fd_tbuf_free(&p); fd_tbuf_free(&tp); fd_tbuf_free(&tk); fd_tbuf_free(&o);
    return s;
}

static int desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

// The spec's allowed set, by sorting: the smallest value x such that the mass
// and count strictly above x are under top_p and k. Allowed: p >= x, p > 0.
static float min_allowed(const float *row, int64_t V, float top_p, int64_t k) {
    float *s = malloc((size_t)V * sizeof *s);
    int64_t n = 0;
    for (int64_t i = 0; i < V; i++)
        if (row[i] > 0.0f) s[n++] = row[i];
    qsort(s, (size_t)n, sizeof *s, desc);
    double above = 0;
    float x = s[0];
    for (int64_t i = 0; i < n;) {
        if (i > 0 && (above >= top_p || (k > 0 && i >= k))) break;
        x = s[i];
        int64_t j = i;
        while (j < n && s[j] == s[i]) above += s[j++];
        i = j;
    }
    free(s);
    return x;
}

static void random_rows(float *p, int64_t bs, int64_t V, uint64_t *rng, int peaked) {
    for (int64_t b = 0; b < bs; b++) {
        double sum = 0;
        for (int64_t i = 0; i < V; i++) {
            float u = 0.5f * (fd_test_randf(rng) + 1.0f);
            if (peaked) u = u * u * u * u * u * u * u * u;
            sum += p[b * V + i] = u;
        }
        for (int64_t i = 0; i < V; i++) p[b * V + i] = (float)(p[b * V + i] / sum);
    }
}

// Every token lies in [0, V) and in its row's allowed set.
static void check_allowed(const float *p, const float *top_p, const int64_t *top_k, int64_t bs,
                          int64_t V, const int64_t *tok) {
    for (int64_t b = 0; b < bs; b++) {
        if (tok[b] < 0 || tok[b] >= V) {
            FD_FAILF("row %lld: token %lld outside [0, %lld)", (long long)b, (long long)tok[b],
                     (long long)V);
            return;
        }
        float x = min_allowed(p + b * V, V, top_p[b], top_k ? top_k[b] : 0);
        if (!(p[b * V + tok[b]] >= x)) {
            FD_FAILF("row %lld: token %lld (p %g) below the allowed minimum %g", (long long)b,
                     (long long)tok[b], p[b * V + tok[b]], x);
            return;
        }
    }
}

// FastDeploy case 1: bs 10, V 103424, top_p 0.8, top_k 20, seeds 1024, 2033, 2033.
static void fd_case1_on(fd_ctx *ctx) {
    enum { BS = 10, V = 103424 };
    float *p = malloc(sizeof(float) * BS * V), tp[BS];
    int64_t tk[BS], out[3][BS];
    uint64_t rng = 3;
    random_rows(p, BS, V, &rng, 0);
    for (int b = 0; b < BS; b++) tp[b] = 0.8f, tk[b] = 20;
    int64_t seeds[3] = {1024, 2033, 2033};
    for (int j = 0; j < 3; j++) {
        CHECK_OK(run(ctx, p, tp, tk, BS, V, seeds[j], out[j]));
        check_allowed(p, tp, tk, BS, V, out[j]);
    }
    CHECK(memcmp(out[1], out[2], sizeof out[1]) == 0);
    free(p);
}

// FastDeploy case 2: top_p uniform in [0.1, 1), top_k 20, seed -1: valid, > 1 distinct.
static void fd_case2_on(fd_ctx *ctx) {
    enum { BS = 10, V = 103424 };
    float *p = malloc(sizeof(float) * BS * V), tp[BS];
    int64_t tk[BS], out[BS];
    uint64_t rng = 4;
    random_rows(p, BS, V, &rng, 0);
    for (int b = 0; b < BS; b++) tp[b] = 0.1f + 0.45f * (fd_test_randf(&rng) + 1.0f), tk[b] = 20;
    CHECK_OK(run(ctx, p, tp, tk, BS, V, -1, out));
    check_allowed(p, tp, tk, BS, V, out);
    int distinct = 0;
    for (int b = 1; b < BS; b++) distinct += out[b] != out[0];
    CHECK(distinct > 0);
    free(p);
}

// The same seed gives the same tokens; another seed changes some.
static void determinism_on(fd_ctx *ctx) {
    enum { BS = 64, V = 1000 };
    float *p = malloc(sizeof(float) * BS * V), tp[BS];
    int64_t a[BS], b2[BS], c[BS];
    uint64_t rng = 8;
    random_rows(p, BS, V, &rng, 0);
    for (int b = 0; b < BS; b++) tp[b] = 0.9f;
    CHECK_OK(run(ctx, p, tp, NULL, BS, V, 42, a));
    CHECK_OK(run(ctx, p, tp, NULL, BS, V, 42, b2));
    CHECK_OK(run(ctx, p, tp, NULL, BS, V, 43, c));
    CHECK(memcmp(a, b2, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    free(p);
}

// 256 identical rows x 80 seeds = 20480 draws on vocab 32; the histogram must
// match p_t / sum(allowed) (chi-square below dof + 6 sqrt(2 dof) + 10, about
// p < 1e-6 for these dof; the draws are deterministic, so this never flakes)
// and no draw may fall outside the allowed set.
static void distribution_case(fd_ctx *ctx, float top_p, int64_t k) {
    enum { BS = 256, V = 32, SEEDS = 80 };
    float row[V], *p = malloc(sizeof(float) * BS * V), tp[BS];
    int64_t tk[BS], tok[BS], count[V] = {0};
    uint64_t rng = 21;
    double sum = 0;
    for (int i = 0; i < V; i++) sum += row[i] = 0.2f + 0.5f * (fd_test_randf(&rng) + 1.0f);
    for (int i = 0; i < V; i++) row[i] = (float)(row[i] / sum);
    for (int b = 0; b < BS; b++) memcpy(p + b * V, row, sizeof row), tp[b] = top_p, tk[b] = k;
    for (int s = 0; s < SEEDS; s++) {
        CHECK_OK(run(ctx, p, tp, k ? tk : NULL, BS, V, 1000 + s, tok));
        check_allowed(p, tp, k ? tk : NULL, BS, V, tok);
        for (int b = 0; b < BS; b++)
            if (tok[b] >= 0 && tok[b] < V) count[tok[b]]++;
    }
    float x = min_allowed(row, V, top_p, k);
    double mass = 0, chi2 = 0, n = (double)BS * SEEDS;
    int allowed = 0;
    for (int i = 0; i < V; i++)
        if (row[i] >= x) mass += row[i], allowed++;
    for (int i = 0; i < V; i++) {
        if (row[i] < x) continue;
        double e = n * row[i] / mass;
        chi2 += (count[i] - e) * (count[i] - e) / e;
    }
    double dof = allowed - 1, bound = dof + 6 * sqrt(2 * dof) + 10;
    if (!(chi2 < bound))
        FD_FAILF("top_p %g k %lld: chi-square %.1f over %d tokens, bound %.1f", top_p,
                 (long long)k, chi2, allowed, bound);
    free(p);
}

static void distribution_on(fd_ctx *ctx) {
    distribution_case(ctx, 1.0f, 0);   // p = 1.0: the full distribution
    distribution_case(ctx, 0.6f, 0);   // top-p only
    distribution_case(ctx, 0.9f, 5);   // joint top-k and top-p
    distribution_case(ctx, 1.0f, 12);  // top-k only
}

// k = 1, top_p = 0 and a tiny top_p all give the argmax.
static void argmax_on(fd_ctx *ctx) {
    enum { BS = 16, V = 500 };
    float *p = malloc(sizeof(float) * BS * V), tp[BS];
    int64_t tk[BS], tok[BS], arg[BS];
    uint64_t rng = 13;
    random_rows(p, BS, V, &rng, 1);
    for (int b = 0; b < BS; b++) {
        arg[b] = 0;
        for (int i = 1; i < V; i++)
            if (p[b * V + i] > p[b * V + arg[b]]) arg[b] = i;
    }
    float cases[3] = {1.0f, 0.0f, 1e-6f};
    for (int c = 0; c < 3; c++)
        for (int s = 0; s < 4; s++) {
            for (int b = 0; b < BS; b++) tp[b] = cases[c], tk[b] = c == 0 ? 1 : 0;
            CHECK_OK(run(ctx, p, tp, c == 0 ? tk : NULL, BS, V, s, tok));
            CHECK(memcmp(tok, arg, sizeof tok) == 0);
        }
    free(p);
}

// Vocab 151936 (batch 1 and 3), batch 256 on vocab 1000, samples as [bs].
static void sizes_on(fd_ctx *ctx) {
    enum { VL = 151936, BS = 256, VS = 1000 };
    float *p = malloc(sizeof(float) * 3 * VL), tp[BS];
    int64_t tk[BS], tok[BS];
    uint64_t rng = 17;
    random_rows(p, 3, VL, &rng, 1);
    tp[0] = 0.9f, tp[1] = 0.5f, tp[2] = 1.0f, tk[0] = 0, tk[1] = 50, tk[2] = 1000;
    CHECK_OK(run(ctx, p, tp, tk, 1, VL, 5, tok));
    check_allowed(p, tp, tk, 1, VL, tok);
    CHECK_OK(run(ctx, p, tp, tk, 3, VL, 6, tok));
    check_allowed(p, tp, tk, 3, VL, tok);
    free(p);
    p = malloc(sizeof(float) * BS * VS);
    random_rows(p, BS, VS, &rng, 1);
    for (int b = 0; b < BS; b++)
        tp[b] = 0.1f + 0.9f * (float)b / BS, tk[b] = (int64_t)(fd_test_rand(&rng) % 60) - 5;
    CHECK_OK(run(ctx, p, tp, tk, BS, VS, 7, tok));
    check_allowed(p, tp, tk, BS, VS, tok);
    fd_tbuf pb = FD_TBUF(ctx, FD_F32, p, 2, VS), tb = FD_TBUF(ctx, FD_F32, tp, 2);
    fd_tbuf ob = FD_TBUF(ctx, FD_I64, NULL, 2);
    CHECK_OK(fd_rejection_top_p_sampling(ctx, &pb.t, &tb.t, NULL, 9, &ob.t));
    CHECK_OK(fd_ctx_sync(ctx));
    check_allowed(p, tp, NULL, 2, VS, fd_tbuf_fetch(&ob));
    fd_tbuf_free(&pb); fd_tbuf_free(&tb); fd_tbuf_free(&ob);
    free(p);
}

// A row without positive probability (zeros, NaN, negatives) is an error; on the
// CPU nothing is written.
static void no_mass_on(fd_ctx *ctx) {
    float p[3][4] = {{0.5f, 0.5f, 0, 0}, {0, 0, 0, 0}, {NAN, -1.0f, 0, 0}}, tp[3] = {1, 1, 1};
    int64_t tok[3];
    CHECK_STATUS(run(ctx, &p[0][0], tp, NULL, 2, 4, 1, tok), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "rejection_top_p_sampling");
    memcpy(p[1], p[2], sizeof p[1]);
    CHECK_STATUS(run(ctx, &p[0][0], tp, NULL, 2, 4, 1, tok), FD_ERR_INVALID_ARG);
    if (ctx == env.cpu) {
        fd_tbuf pb = FD_TBUF(ctx, FD_F32, p, 2, 4), tb = FD_TBUF(ctx, FD_F32, tp, 2);
        int64_t sentinel[2] = {-7, -7};
        fd_tbuf ob = FD_TBUF(ctx, FD_I64, sentinel, 2);
        CHECK_STATUS(fd_rejection_top_p_sampling(ctx, &pb.t, &tb.t, NULL, 1, &ob.t),
                     FD_ERR_INVALID_ARG);
        CHECK_CONTAINS(fd_last_error(), "row 1");
        int64_t *o = fd_tbuf_fetch(&ob);
        CHECK(o[0] == -7 && o[1] == -7);
        fd_tbuf_free(&pb); fd_tbuf_free(&tb); fd_tbuf_free(&ob);
    }
}

static void bad_shapes(void) {
    float p[8] = {0.5f, 0.5f}, tp[2] = {1, 1};
    int64_t k[2] = {1, 1}, o[2];
    int32_t k32[2] = {1, 1};
    fd_ctx *c = env.cpu;
    fd_tensor tpb = fd_tensor_2d(p, FD_F32, 2, 4), ttp = fd_tensor_1d(tp, FD_F32, 2);
    fd_tensor tk = fd_tensor_1d(k, FD_I64, 2), to = fd_tensor_1d(o, FD_I64, 2);
    fd_tensor p16 = fd_tensor_2d(p, FD_F16, 2, 4), k_i32 = fd_tensor_1d(k32, FD_I32, 2);
    fd_tensor tp_short = fd_tensor_1d(tp, FD_F32, 1), o_i32 = fd_tensor_1d(o, FD_I32, 2);
    fd_tensor huge = fd_tensor_2d(p, FD_F32, 1, (1 << 21) + 1);
    fd_tensor empty = fd_tensor_2d(p, FD_F32, 2, 0);
    CHECK_STATUS(fd_rejection_top_p_sampling(c, &p16, &ttp, &tk, 1, &to), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "rejection_top_p_sampling");
    CHECK_STATUS(fd_rejection_top_p_sampling(c, &tpb, &tp_short, &tk, 1, &to),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "top_p");
    CHECK_STATUS(fd_rejection_top_p_sampling(c, &tpb, &ttp, &k_i32, 1, &to), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "top_k");
    CHECK_STATUS(fd_rejection_top_p_sampling(c, &tpb, &ttp, &tk, 1, &o_i32), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "samples");
    CHECK_STATUS(fd_rejection_top_p_sampling(c, &huge, &ttp, NULL, 1, &to), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "2097153");
    CHECK_STATUS(fd_rejection_top_p_sampling(c, &empty, &ttp, NULL, 1, &to), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_rejection_top_p_sampling(c, NULL, &ttp, NULL, 1, &to), FD_ERR_INVALID_ARG);
}

#define ON_CPU(fn) static void cpu_##fn(void) { fn##_on(env.cpu); }
#define ON_GPU(fn)                                                             \
    static void gpu_##fn(void) {                                               \
        fd_ctx *g = fd_test_gpu_for(&env, "rejection_top_p_sampling");         \
        if (g) fn##_on(g);                                                     \
    }
ON_CPU(fd_case1) ON_CPU(fd_case2) ON_CPU(determinism) ON_CPU(distribution) ON_CPU(argmax)
ON_CPU(sizes) ON_CPU(no_mass)
ON_GPU(fd_case1) ON_GPU(fd_case2) ON_GPU(determinism) ON_GPU(distribution) ON_GPU(argmax)
ON_GPU(sizes) ON_GPU(no_mass)

// Batch 64 x vocab 151936, softmax-like rows, mixed top_p / top_k, 3 seeds:
// the GPU's tokens equal the reference's exactly.
static void gpu_random_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "rejection_top_p_sampling");
    if (!g) return;
    enum { BS = 64, V = 151936 };
    float *p = malloc(sizeof(float) * BS * V), tp[BS];
    int64_t tk[BS], a[BS], b[BS];
    uint64_t rng = 99;
    random_rows(p, BS, V, &rng, 1);
    for (int i = 0; i < BS; i++)
        tp[i] = i % 8 == 7 ? 1.0f : 0.5f * (fd_test_randf(&rng) + 1.0f),
        tk[i] = i % 3 ? 0 : (int64_t)(fd_test_rand(&rng) % 200);
    for (int s = 0; s < 3; s++) {
        CHECK_OK(run(env.cpu, p, tp, s ? tk : NULL, BS, V, 500 + s, a));
        CHECK_OK(run(g, p, tp, s ? tk : NULL, BS, V, 500 + s, b));
        CHECK(memcmp(a, b, sizeof a) == 0);
        check_allowed(p, tp, s ? tk : NULL, BS, V, b);
    }
    free(p);
}

static void table_and_info_agree(void) { fd_test_table_agrees(&env, "rejection_top_p_sampling", 70); }

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_fd_case1), FD_CASE(cpu_fd_case2),
             FD_CASE(cpu_determinism), FD_CASE(cpu_distribution), FD_CASE(cpu_argmax),
             FD_CASE(cpu_sizes), FD_CASE(cpu_no_mass), FD_CASE(bad_shapes),
             FD_CASE(gpu_fd_case1), FD_CASE(gpu_fd_case2), FD_CASE(gpu_determinism),
             FD_CASE(gpu_distribution), FD_CASE(gpu_argmax), FD_CASE(gpu_sizes),
             FD_CASE(gpu_no_mass), FD_CASE(gpu_random_vs_reference),
             FD_CASE(table_and_info_agree), FD_CASE(teardown))
