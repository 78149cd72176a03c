// SPDX-License-Identifier: Apache-2.0
// top_k_renorm_probs on the C reference and on the GPU: FastDeploy's two cases,
// ties, zeros, NaN/negative entries, no-truncation k values, batch 1 and 256,
// vocab 32 and 151936, in place, [bs, 1] top_k, bad input, GPU vs reference.
// Expected values come from an independent sort-based reference in this file.
// Tolerance: f32, 1e-5 relative (+1e-12 absolute): only summation order differs.
#include "fd_test.h"

static fd_test_env env;

// Runs the op; out receives [bs, V]. k_2d passes top_k as [bs, 1].
static fd_status run(fd_ctx *ctx, const float *probs, const int64_t *k, int64_t bs, int64_t V,
                     int k_2d, float *out) {
    fd_tbuf p = FD_TBUF(ctx, FD_F32, probs, bs, V);
    fd_tbuf kb = k_2d ? FD_TBUF(ctx, FD_I64, k, bs, 1) : FD_TBUF(ctx, FD_I64, k, bs);
    fd_tbuf o = FD_TBUF(ctx, FD_F32, NULL, bs, V);
    fd_ctx_memset(ctx, o.t.data, 0x55, fd_tensor_bytes(&o.t));  // every entry must be written
    fd_status s = fd_top_k_renorm_probs(ctx, &p.t, &kb.t, &o.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) memcpy(out, fd_tbuf_fetch(&o), fd_tensor_bytes(&o.t));
    fd_tbuf_free(&p); fd_tbuf_free(&kb); fd_tbuf_free(&o);
    return s;
}

static int desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

// The spec, by sorting: x = k-th largest positive value; keep p >= x, p > 0.
static void expect_row(const float *row, int64_t V, int64_t k, float *want) {
    if (k <= 0 || k >= V) {
        memcpy(want, row, (size_t)V * sizeof *want);
        return;
    }
    float *s = malloc((size_t)V * sizeof *s);
    int64_t npos = 0;
    for (int64_t i = 0; i < V; i++)
        if (row[i] > 0.0f) s[npos++] = row[i];
    qsort(s, (size_t)npos, sizeof *s, desc);
    float x = npos >= k ? s[k - 1] : 0.0f;
    double sum = 0;
    for (int64_t i = 0; i < V; i++)
        if (row[i] > 0.0f && row[i] >= x) sum += row[i];
    float d = (float)sum < 1e-8f ? 1e-8f : (float)sum;
    for (int64_t i = 0; i < V; i++) want[i] = row[i] > 0.0f && row[i] >= x ? row[i] / d : 0.0f;
    free(s);
}

static int close_all(const float *got, const float *want, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= 1e-12f + 1e-5f * fabsf(want[i]))) {
            FD_FAILF("element %lld: got %.9g, want %.9g", (long long)i, got[i], want[i]);
            return 0;
        }
    return 1;
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

// FastDeploy case 1: rand 1x5 normalised, k 2 -> non-top-2 entries 0, sum 1 (6 places).
static void fd_case1_on(fd_ctx *ctx) {
    float p[5], o[5];
    uint64_t rng = 31;
    random_rows(p, 1, 5, &rng, 0);
    int64_t k = 2;
    CHECK_OK(run(ctx, p, &k, 1, 5, 0, o));
    float s[5];
    memcpy(s, p, sizeof s);
    qsort(s, 5, sizeof *s, desc);
    double sum = 0;
    for (int i = 0; i < 5; i++) {
        if (p[i] < s[1]) CHECK_NEAR(o[i], 0.0, 1e-6);
        sum += o[i];
    }
    CHECK_NEAR(sum, 1.0, 1e-6);
}

// FastDeploy case 2: [0.1, 0.3, 0.4, 0.2]; k 1 -> one non-zero, sum 1; k 4 -> input.
static void fd_case2_on(fd_ctx *ctx) {
    float p[4] = {0.1f, 0.3f, 0.4f, 0.2f}, o[4];
    int64_t k1 = 1, k4 = 4;
    CHECK_OK(run(ctx, p, &k1, 1, 4, 0, o));
    int nz = 0;
    for (int i = 0; i < 4; i++) nz += o[i] != 0.0f;
    CHECK_EQ_I64(nz, 1);
    CHECK_NEAR(o[2], 1.0, 1e-6);
    CHECK_OK(run(ctx, p, &k4, 1, 4, 0, o));
    for (int i = 0; i < 4; i++) CHECK_NEAR(o[i], p[i], 1e-6 + 1e-6 * p[i]);
}

// Ties at the k-th value all survive; zeros, negatives and NaN never do.
static void ties_zeros_nan_on(fd_ctx *ctx) {
    float p[3][4] = {{0.1f, 0.2f, 0.2f, 0.5f}, {0.5f, 0.0f, 0.5f, 0.0f},
                     {-0.1f, NAN, 0.3f, 0.1f}};
    int64_t k[3] = {2, 3, 2};
    float o[3][4];
    CHECK_OK(run(ctx, &p[0][0], k, 3, 4, 0, &o[0][0]));
    CHECK(o[0][0] == 0.0f);
    CHECK_NEAR(o[0][1], 0.2 / 0.9, 1e-6);
    CHECK_NEAR(o[0][2], 0.2 / 0.9, 1e-6);
    CHECK_NEAR(o[0][3], 0.5 / 0.9, 1e-6);
    CHECK(o[1][0] == 0.5f && o[1][1] == 0.0f && o[1][2] == 0.5f && o[1][3] == 0.0f);
    CHECK(o[2][0] == 0.0f && o[2][1] == 0.0f);
    CHECK_NEAR(o[2][2], 0.75, 1e-6);
    CHECK_NEAR(o[2][3], 0.25, 1e-6);
}

// k <= 0 and k >= V copy the row bit for bit, normalised or not.
static void no_truncation_on(fd_ctx *ctx) {
    float p[4][6], o[4][6];
    for (int i = 0; i < 24; i++) p[i / 6][i % 6] = (float)(i % 7) * 0.37f;
    int64_t k[4] = {0, -3, 6, 100};
    CHECK_OK(run(ctx, &p[0][0], k, 4, 6, 0, &o[0][0]));
    CHECK(memcmp(o, p, sizeof p) == 0);
}

// Batch 1 and 256 (vocab 32, k from -2 to 34), vocab 151936, top_k as [bs, 1].
static void sizes_on(fd_ctx *ctx) {
    enum { V1 = 32, BS = 256, VL = 151936 };
    float *p = malloc(sizeof(float) * 2 * VL), *o = malloc(sizeof(float) * 2 * VL),
          *w = malloc(sizeof(float) * 2 * VL);
    int64_t k[BS];
    uint64_t rng = 5;
    for (int b = 0; b < BS; b++) k[b] = (int64_t)(fd_test_rand(&rng) % 37) - 2;
    float *pb = malloc(sizeof(float) * BS * V1), *ob = malloc(sizeof(float) * BS * V1),
          *wb = malloc(sizeof(float) * BS * V1);
    random_rows(pb, BS, V1, &rng, 1);
    int64_t sizes[2] = {1, BS};
    for (int s = 0; s < 2; s++) {
        CHECK_OK(run(ctx, pb, k, sizes[s], V1, s, ob));
        for (int64_t b = 0; b < sizes[s]; b++) expect_row(pb + b * V1, V1, k[b], wb + b * V1);
        CHECK(close_all(ob, wb, sizes[s] * V1));
    }
    random_rows(p, 2, VL, &rng, 1);
    int64_t kl[2] = {50, 100000};
    CHECK_OK(run(ctx, p, kl, 2, VL, 0, o));
    for (int b = 0; b < 2; b++) expect_row(p + b * VL, VL, kl[b], w + b * VL);
    CHECK(close_all(o, w, 2 * VL));
    free(p); free(o); free(w); free(pb); free(ob); free(wb);
}

// renorm_probs may be probs.
static void in_place_on(fd_ctx *ctx) {
    float p[2][8] = {{0.05f, 0.1f, 0.15f, 0.2f, 0.25f, 0.1f, 0.1f, 0.05f},
                     {0.3f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f}};
    float want[2][8];
    int64_t k[2] = {3, 2};
    expect_row(p[0], 8, k[0], want[0]);
    expect_row(p[1], 8, k[1], want[1]);
    fd_tbuf pb = FD_TBUF(ctx, FD_F32, p, 2, 8);
    fd_tbuf kb = FD_TBUF(ctx, FD_I64, k, 2);
    CHECK_OK(fd_top_k_renorm_probs(ctx, &pb.t, &kb.t, &pb.t));
    CHECK_OK(fd_ctx_sync(ctx));
    CHECK(close_all(fd_tbuf_fetch(&pb), &want[0][0], 16));
    fd_tbuf_free(&pb); fd_tbuf_free(&kb);
}

static void bad_shapes(void) {
    float p[8] = {0};
    int64_t k[2] = {1, 1};
    int32_t k32[2] = {1, 1};
    fd_ctx *c = env.cpu;
    fd_tensor tp = fd_tensor_2d(p, FD_F32, 2, 4), tk = fd_tensor_1d(k, FD_I64, 2);
    fd_tensor o = fd_tensor_2d(p, FD_F32, 2, 4);
    fd_tensor p16 = fd_tensor_2d(p, FD_F16, 2, 4), k_i32 = fd_tensor_1d(k32, FD_I32, 2);
    fd_tensor k_short = fd_tensor_1d(k, FD_I64, 1), o_wide = fd_tensor_2d(p, FD_F32, 1, 8);
    CHECK_STATUS(fd_top_k_renorm_probs(c, &p16, &tk, &o), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "top_k_renorm_probs");
    CHECK_STATUS(fd_top_k_renorm_probs(c, &tp, &k_i32, &o), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "top_k");
    CHECK_STATUS(fd_top_k_renorm_probs(c, &tp, &k_short, &o), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_top_k_renorm_probs(c, &tp, &tk, &o_wide), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "renorm_probs");
    CHECK_STATUS(fd_top_k_renorm_probs(c, NULL, &tk, &o), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_top_k_renorm_probs(c, &tp, NULL, &o), FD_ERR_INVALID_ARG);
}

#define ON_CPU(fn) static void cpu_##fn(void) { fn##_on(env.cpu); }
#define ON_GPU(fn)                                                             \
    static void gpu_##fn(void) {                                               \
        fd_ctx *g = fd_test_gpu_for(&env, "top_k_renorm_probs");               \
        if (g) fn##_on(g);                                                     \
    }
ON_CPU(fd_case1) ON_CPU(fd_case2) ON_CPU(ties_zeros_nan) ON_CPU(no_truncation)
ON_CPU(sizes) ON_CPU(in_place)
ON_GPU(fd_case1) ON_GPU(fd_case2) ON_GPU(ties_zeros_nan) ON_GPU(no_truncation)
ON_GPU(sizes) ON_GPU(in_place)

// Batch 64 x vocab 151936, softmax-like rows, k from 1 to 151936: GPU vs reference.
static void gpu_random_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "top_k_renorm_probs");
    if (!g) return;
    enum { BS = 64, V = 151936 };
    float *p = malloc(sizeof(float) * BS * V), *a = malloc(sizeof(float) * BS * V),
          *b = malloc(sizeof(float) * BS * V);
    int64_t k[BS];
    uint64_t rng = 77;
    random_rows(p, BS, V, &rng, 1);
    for (int i = 0; i < BS; i++) k[i] = i < 8 ? i + 1 : (int64_t)(fd_test_rand(&rng) % (V + 2));
    CHECK_OK(run(env.cpu, p, k, BS, V, 0, a));
    CHECK_OK(run(g, p, k, BS, V, 0, b));
    CHECK(close_all(b, a, (int64_t)BS * V));
    free(p); free(a); free(b);
}

static void table_and_info_agree(void) { fd_test_table_agrees(&env, "top_k_renorm_probs", 70); }

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_fd_case1), FD_CASE(cpu_fd_case2),
             FD_CASE(cpu_ties_zeros_nan), FD_CASE(cpu_no_truncation), FD_CASE(cpu_sizes),
             FD_CASE(cpu_in_place), FD_CASE(bad_shapes), FD_CASE(gpu_fd_case1),
             FD_CASE(gpu_fd_case2), FD_CASE(gpu_ties_zeros_nan), FD_CASE(gpu_no_truncation),
             FD_CASE(gpu_sizes), FD_CASE(gpu_in_place), FD_CASE(gpu_random_vs_reference),
             FD_CASE(table_and_info_agree), FD_CASE(teardown))
