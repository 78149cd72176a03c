// SPDX-License-Identifier: Apache-2.0
// softmax: known values, temperature, every float dtype, GPU vs the reference,
// bad input.
#include "fd_test.h"

static fd_test_env env;

static fd_status run(fd_ctx *ctx, fd_dtype dt, const float *x, const float *t, int64_t m, int64_t v, float *p) {
    void *xh = malloc((size_t)(m * v) * fd_dtype_size(dt));
    for (int64_t i = 0; i < m * v; i++) {
        if (dt == FD_F32) ((float *)xh)[i] = x[i];
        else ((uint16_t *)xh)[i] = dt == FD_F16 ? fd_f32_to_f16(x[i]) : fd_f32_to_bf16(x[i]);
    }
    fd_tbuf bx = FD_TBUF(ctx, dt, xh, m, v), bt = FD_TBUF(ctx, FD_F32, t, m), bp = FD_TBUF(ctx, FD_F32, NULL, m, v);
    fd_status s = fd_softmax(ctx, &bx.t, t ? &bt.t : NULL, &bp.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) memcpy(p, fd_tbuf_fetch(&bp), (size_t)(m * v) * sizeof(float));
    fd_tbuf_free(&bx); fd_tbuf_free(&bt); fd_tbuf_free(&bp);
    free(xh);
    return s;
}

static void known_values_on(fd_ctx *ctx) {
    float x[6] = {0, logf(3.0f), 0, 1, 1, 1}, t[2] = {1, 0.5f}, p[6];
    CHECK_OK(run(ctx, FD_F32, x, t, 2, 3, p));
    CHECK_NEAR(p[0], 0.2, 1e-6);
    CHECK_NEAR(p[1], 0.6, 1e-6);
    CHECK_NEAR(p[3], 1.0 / 3, 1e-6);  // equal logits stay equal at any temperature
    float t2[2] = {0.5f, 0};          // t = 0.5 squares the ratios; t <= 0 counts as 1
    CHECK_OK(run(ctx, FD_F32, x, t2, 2, 3, p));
    CHECK_NEAR(p[1], 9.0 / 11, 1e-6);
    CHECK_NEAR(p[5], 1.0 / 3, 1e-6);
}

static void cpu_known_values(void) { known_values_on(env.cpu); }

static void gpu_known_values(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "softmax");
    if (g) known_values_on(g);
}

// Batch 1 and 64 over a 151936 vocabulary, every dtype: GPU = reference (rel 1e-4).
static void gpu_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "softmax");
    if (!g) return;
    enum { V = 151936 };
    int64_t ms[2] = {1, 64};
    fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    float *x = malloc(sizeof(float) * 64 * V), *a = malloc(sizeof(float) * 64 * V),
          *b = malloc(sizeof(float) * 64 * V), t[64];
    uint64_t rng = 3;
    for (int64_t i = 0; i < 64 * V; i++) x[i] = 10.0f * fd_test_randf(&rng);
    for (int i = 0; i < 64; i++) t[i] = 0.1f + 0.05f * i;
    for (int k = 0; k < 2; k++)
        for (int d = 0; d < 3; d++) {
            CHECK_OK(run(env.cpu, dts[d], x, t, ms[k], V, a));
            CHECK_OK(run(g, dts[d], x, t, ms[k], V, b));
            double worst = 0;
            for (int64_t i = 0; i < ms[k] * V; i++) worst = fmax(worst, fabs(a[i] - b[i]) / (fabs(a[i]) + 1e-12));
            CHECK(worst < 1e-4);
        }
    free(x); free(a); free(b);
}

static void bad_input(void) {
    float x[4] = {0}, p[4];
    fd_tensor tx = fd_tensor_2d(x, FD_F32, 2, 2), tp = fd_tensor_2d(p, FD_F32, 2, 2), wrong = fd_tensor_2d(p, FD_F16, 2, 2);
    fd_tensor ti = fd_tensor_2d(x, FD_I32, 2, 2), t3 = fd_tensor_1d(x, FD_F32, 3);
    CHECK_STATUS(fd_softmax(env.cpu, &tx, NULL, &wrong), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_softmax(env.cpu, &ti, NULL, &tp), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_softmax(env.cpu, &tx, &t3, &tp), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_softmax(env.cpu, &tx, NULL, &tx), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "softmax");
}

static void table_agrees(void) {
    CHECK(fd_op_available(env.platform, "softmax", FD_CPU_DEVICE, NULL, 0));
    if (env.gpu) CHECK(fd_op_available(env.platform, "softmax", 0, NULL, 0) == (fd_ctx_effective_sm(env.gpu) >= 70));
}

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_known_values), FD_CASE(gpu_known_values), FD_CASE(gpu_vs_reference),
             FD_CASE(bad_input), FD_CASE(table_agrees), FD_CASE(teardown))
