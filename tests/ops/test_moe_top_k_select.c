// SPDX-License-Identifier: Apache-2.0
// moe_top_k_select on the C reference and on the GPU: FastDeploy's case
// (N 1500, E 128, k 8; bias x renormalize) against a double-precision
// reference, ties, sigmoid, shapes, bad input, and GPU == reference bit for bit.
#include "fd_test.h"

static fd_test_env env;

typedef struct tk_case {
    const float *x, *bias;  // bias may be NULL
    int64_t n;
    int e, k, scoring, renorm, bias_2d, x_3d;
} tk_case;

static fd_status run(fd_ctx *ctx, const tk_case *c, int64_t *ids, float *w) {
    fd_tbuf b_x = c->x_3d ? FD_TBUF(ctx, FD_F32, c->x, 1, c->n, c->e)
                          : FD_TBUF(ctx, FD_F32, c->x, c->n, c->e);
    fd_tbuf b_b = c->bias_2d ? FD_TBUF(ctx, FD_F32, c->bias, 1, c->e)
                             : FD_TBUF(ctx, FD_F32, c->bias, c->e);
    fd_tbuf b_i = FD_TBUF(ctx, FD_I64, NULL, c->n, c->k);
    fd_tbuf b_w = FD_TBUF(ctx, FD_F32, NULL, c->n, c->k);
    fd_status s = fd_moe_top_k_select(ctx, &b_x.t, c->bias ? &b_b.t : NULL, c->k,
                                      (fd_moe_scoring)c->scoring, c->renorm, &b_i.t, &b_w.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) {
        memcpy(ids, fd_tbuf_fetch(&b_i), (size_t)(c->n * c->k) * 8);
        memcpy(w, fd_tbuf_fetch(&b_w), (size_t)(c->n * c->k) * 4);
    }
    fd_tbuf_free(&b_x); fd_tbuf_free(&b_b); fd_tbuf_free(&b_i); fd_tbuf_free(&b_w);
    return s;
}

// Checks one op result against double precision: picks are distinct, ranked by
// score within `eps` (near-ties may come in either order), no unpicked expert
// beats the last pick by more than eps, and weights match to 1e-5 (FastDeploy's rtol/atol).
static void check_vs_double(const tk_case *c, const int64_t *ids, const float *w) {
    const double eps = 1e-6;
    double *p = malloc(sizeof(double) * (size_t)c->e), *s = malloc(sizeof(double) * (size_t)c->e);
    int fails = 0;
    for (int64_t t = 0; t < c->n && fails < 5; t++) {
        const float *x = c->x + t * c->e;
        double m = -INFINITY, sum = 0, wsum = 0;
        for (int j = 0; j < c->e; j++) m = fmax(m, x[j]);
        for (int j = 0; j < c->e; j++) sum += exp((double)x[j] - m);
        for (int j = 0; j < c->e; j++) {
            p[j] = c->scoring == FD_MOE_SIGMOID ? 1 / (1 + exp(-(double)x[j]))
                                                : exp((double)x[j] - m) / sum;
            s[j] = p[j] + (c->bias ? c->bias[j] : 0);
        }
        const int64_t *id = ids + t * c->k;
        const float *wt = w + t * c->k;
        for (int r = 0; r < c->k; r++) {
            int ok = id[r] >= 0 && id[r] < c->e;
            for (int q = 0; ok && q < r; q++) ok = id[q] != id[r] && s[id[q]] >= s[id[r]] - eps;
            if (!ok) { FD_FAILF("row %lld pick %d: expert %lld out of order", (long long)t, r, (long long)id[r]); fails++; break; }
            wsum += p[id[r]];
        }
        if (fails) continue;
        double last = s[id[c->k - 1]];
        for (int j = 0; j < c->e; j++) {
            int picked = 0;
            for (int r = 0; r < c->k; r++) picked |= id[r] == j;
            if (!picked && s[j] > last + eps) { FD_FAILF("row %lld: expert %d (score %g) was skipped", (long long)t, j, s[j]); fails++; break; }
        }
        for (int r = 0; r < c->k; r++) {
            double want = p[id[r]] / (c->renorm ? wsum : 1.0);
            if (fabs(wt[r] - want) > 1e-5 + 1e-5 * fabs(want)) { FD_FAILF("row %lld pick %d: weight %.9g, want %.9g", (long long)t, r, (double)wt[r], want); fails++; break; }
        }
    }
    free(p);
    free(s);
}

static float *rand01(int64_t n, uint64_t seed, float scale) {
    float *v = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) v[i] = (fd_test_randf(&seed) + 1.0f) * 0.5f * scale;
    return v;
}

// FastDeploy's test: N 1500, E 128, k 8, logits in [0, 1), bias/10, renorm x bias.
static void fastdeploy_case_on(fd_ctx *ctx) {
    float *x = rand01(1500 * 128, 2024, 1.0f), *bias = rand01(128, 2025, 0.1f);
    int64_t *ids = malloc(sizeof(int64_t) * 1500 * 8);
    float *w = malloc(sizeof(float) * 1500 * 8);
    for (int combo = 0; combo < 4; combo++) {
        tk_case c = {x, (combo & 1) ? bias : NULL, 1500, 128, 8, FD_MOE_SOFTMAX, combo >> 1, 1, 0};
        CHECK_OK(run(ctx, &c, ids, w));
        check_vs_double(&c, ids, w);
    }
    free(x); free(bias); free(ids); free(w);
}

// Equal scores: the lower expert id first; NaN ranks lowest.
static void ties_on(fd_ctx *ctx) {
    float x[2][8] = {{0, 0, 0, 0, 0, 0, 0, 0}, {1, 5, 1, 5, 1, 1, 5, 1}};
    int64_t ids[6];
    float w[6];
    tk_case c = {&x[0][0], NULL, 2, 8, 3, FD_MOE_SOFTMAX, 0, 0, 0};
    CHECK_OK(run(ctx, &c, ids, w));
    int64_t want[6] = {0, 1, 2, 1, 3, 6};
    for (int i = 0; i < 6; i++) CHECK_EQ_I64(ids[i], want[i]);
    CHECK_NEAR(w[0], 0.125, 1e-7);
    CHECK(w[3] == w[4] && w[4] == w[5]);
    float nan_row[4] = {NAN, NAN, NAN, NAN}, mixed[4] = {0.5f, NAN, 2.0f, NAN};
    tk_case cn = {nan_row, NULL, 1, 4, 2, FD_MOE_SIGMOID, 0, 0, 0};
    CHECK_OK(run(ctx, &cn, ids, w));
    CHECK_EQ_I64(ids[0], 0);
    CHECK_EQ_I64(ids[1], 1);
    cn.x = mixed;
    cn.k = 3;
    CHECK_OK(run(ctx, &cn, ids, w));
    CHECK_EQ_I64(ids[0], 2);
    CHECK_EQ_I64(ids[1], 0);
    CHECK_EQ_I64(ids[2], 1);
}

// Sigmoid scoring with bias (selection only) and renormalization; [1, E] bias, [B, S, E] logits.
static void sigmoid_on(fd_ctx *ctx) {
    float x[4] = {0, 1, -1, 2}, bias[4] = {0, 0, 0.3f, 0};
    int64_t ids[2];
    float w[2];
    tk_case c = {x, NULL, 1, 4, 2, FD_MOE_SIGMOID, 0, 0, 1};
    CHECK_OK(run(ctx, &c, ids, w));
    CHECK_EQ_I64(ids[0], 3);
    CHECK_EQ_I64(ids[1], 1);
    CHECK_NEAR(w[0], 0.880797078, 1e-6);
    CHECK_NEAR(w[1], 0.731058579, 1e-6);
    c.bias = bias;  // sigmoid(-1) + 0.3 = 0.569 < 0.731: no change; 1.3 would lift it
    bias[2] = 1.3f;
    c.bias_2d = 1;
    c.renorm = 1;
    CHECK_OK(run(ctx, &c, ids, w));
    CHECK_EQ_I64(ids[0], 2);
    CHECK_EQ_I64(ids[1], 3);
    CHECK_NEAR(w[0], 0.268941421 / (0.268941421 + 0.880797078), 1e-6);
    CHECK_NEAR(w[0] + w[1], 1.0, 1e-6);
}

// Batch 1 and 256, E 32 to 300 (300: the non-register path), k 1, k = E.
static void shapes_on(fd_ctx *ctx) {
    static const int cfg[][3] = {{1, 32, 1}, {256, 32, 8}, {256, 64, 4}, {256, 256, 8},
                                 {3, 300, 8}, {4, 16, 16}, {2, 256, 256}};
    for (int i = 0; i < 7; i++) {
        int64_t n = cfg[i][0];
        int e = cfg[i][1], k = cfg[i][2];
        float *x = rand01(n * e, 77 + i, 8.0f), *bias = rand01(e, 99 + i, 0.05f);
        int64_t *ids = malloc(sizeof(int64_t) * (size_t)(n * k));
        float *w = malloc(sizeof(float) * (size_t)(n * k));
        for (int v = 0; v < 4; v++) {
            tk_case c = {x, (v & 1) ? bias : NULL, n, e, k, v >> 1, v & 1, 0, 0};
            CHECK_OK(run(ctx, &c, ids, w));
            check_vs_double(&c, ids, w);
        }
        free(x); free(bias); free(ids); free(w);
    }
}

static void bad_input_on(fd_ctx *ctx) {
    float x[8] = {0};
    int64_t ids[8];
    float w[8];
    tk_case c = {x, NULL, 2, 4, 0, FD_MOE_SOFTMAX, 0, 0, 0};
    CHECK_STATUS(run(ctx, &c, ids, w), FD_ERR_INVALID_ARG);  // k = 0
    CHECK_CONTAINS(fd_last_error(), "moe_top_k_select");
    c.k = 5;
    CHECK_STATUS(run(ctx, &c, ids, w), FD_ERR_INVALID_ARG);  // k > E
    CHECK_CONTAINS(fd_last_error(), "k = 5");
    c.k = 2;
    c.scoring = 7;
    CHECK_STATUS(run(ctx, &c, ids, w), FD_ERR_INVALID_ARG);
    fd_tbuf b_x = FD_TBUF(ctx, FD_F32, x, 2, 4), b_h = FD_TBUF(ctx, FD_F16, x, 2, 4);
    fd_tbuf b_b = FD_TBUF(ctx, FD_F32, x, 3), b_i = FD_TBUF(ctx, FD_I64, NULL, 2, 2);
    fd_tbuf b_w = FD_TBUF(ctx, FD_F32, NULL, 2, 2), b_i32 = FD_TBUF(ctx, FD_I32, NULL, 2, 2);
    fd_tbuf b_short = FD_TBUF(ctx, FD_I64, NULL, 1, 2);
    CHECK_STATUS(fd_moe_top_k_select(ctx, &b_h.t, NULL, 2, FD_MOE_SOFTMAX, 0, &b_i.t, &b_w.t),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_moe_top_k_select(ctx, &b_x.t, &b_b.t, 2, FD_MOE_SOFTMAX, 0, &b_i.t, &b_w.t),
                 FD_ERR_INVALID_ARG);  // bias of 3 for 4 experts
    CHECK_CONTAINS(fd_last_error(), "bias");
    CHECK_STATUS(fd_moe_top_k_select(ctx, &b_x.t, NULL, 2, FD_MOE_SOFTMAX, 0, &b_i32.t, &b_w.t),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_moe_top_k_select(ctx, &b_x.t, NULL, 2, FD_MOE_SOFTMAX, 0, &b_short.t, &b_w.t),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_moe_top_k_select(ctx, NULL, NULL, 2, FD_MOE_SOFTMAX, 0, &b_i.t, &b_w.t),
                 FD_ERR_INVALID_ARG);
    fd_tbuf_free(&b_x); fd_tbuf_free(&b_h); fd_tbuf_free(&b_b); fd_tbuf_free(&b_i);
    fd_tbuf_free(&b_w); fd_tbuf_free(&b_i32); fd_tbuf_free(&b_short);
}

static void cpu_fastdeploy_case(void) { fastdeploy_case_on(env.cpu); }
static void cpu_ties(void) { ties_on(env.cpu); }
static void cpu_sigmoid(void) { sigmoid_on(env.cpu); }
static void cpu_shapes(void) { shapes_on(env.cpu); }
static void cpu_bad_input(void) { bad_input_on(env.cpu); }

#define GPU_CASE(name, fn)                                                     \
    static void name(void) {                                                   \
        fd_ctx *g = fd_test_gpu_for(&env, "moe_top_k_select");               \
        if (g) fn(g);                                                          \
    }
GPU_CASE(gpu_fastdeploy_case, fastdeploy_case_on)
GPU_CASE(gpu_ties, ties_on)
GPU_CASE(gpu_sigmoid, sigmoid_on)
GPU_CASE(gpu_shapes, shapes_on)
GPU_CASE(gpu_bad_input, bad_input_on)

// Tolerance: none. Both sides share the exp and the summation order, so ids
// and weights must be bit-identical (E 32..512, batch 1..1500, all modes).
static void gpu_random_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "moe_top_k_select");
    if (!g) return;
    static const int cfg[][3] = {{1, 32, 1}, {256, 64, 6}, {1500, 128, 8}, {256, 160, 8},
                                 {256, 256, 8}, {64, 512, 8}};
    for (int i = 0; i < 6; i++) {
        int64_t n = cfg[i][0];
        int e = cfg[i][1], k = cfg[i][2];
        float *x = rand01(n * e, 5 + i, 4.0f), *bias = rand01(e, 50 + i, 0.1f);
        for (int64_t j = 0; j < n * e; j += 97) x[j] = x[j + 1 < n * e ? j + 1 : j];  // exact ties
        size_t ni = (size_t)(n * k);
        int64_t *ia = malloc(16 * ni);
        float *wa = malloc(8 * ni);
        for (int v = 0; v < 8; v++) {
            tk_case c = {x, (v & 1) ? bias : NULL, n, e, k, (v >> 1) & 1, v >> 2, 0, 0};
            CHECK_OK(run(env.cpu, &c, ia, wa));
            CHECK_OK(run(g, &c, ia + ni, wa + ni));
            if (memcmp(ia, ia + ni, 8 * ni) || memcmp(wa, wa + ni, 4 * ni))
                FD_FAILF("E %d k %d mode %d: GPU differs from the reference", e, k, v);
        }
        free(x); free(bias); free(ia); free(wa);
    }
}

static void table_and_info_agree(void) { fd_test_table_agrees(&env, "moe_top_k_select", 70); }

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_fastdeploy_case), FD_CASE(cpu_ties),
             FD_CASE(cpu_sigmoid), FD_CASE(cpu_shapes), FD_CASE(cpu_bad_input),
             FD_CASE(gpu_fastdeploy_case), FD_CASE(gpu_ties), FD_CASE(gpu_sigmoid),
             FD_CASE(gpu_shapes), FD_CASE(gpu_bad_input), FD_CASE(gpu_random_vs_reference),
             FD_CASE(table_and_info_agree), FD_CASE(teardown))
