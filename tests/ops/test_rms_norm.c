// SPDX-License-Identifier: Apache-2.0
// rms_norm (optionally with the fused residual add) on the C reference and on the
// GPU: a hand-computed row, the residual stream written back, in-place out = x,
// every float dtype with vector and odd row sizes vs the reference, bad input,
// the op table. Tolerances vs the reference: f32 1e-5, f16 2e-3, bf16 1.6e-2
// (abs + rel); the written-back residual stream is bit-exact.
#include "fd_test.h"
#include "ops/model_launch.h"

static fd_test_env env;

// Runs the op; x is updated in place (host copy too). inplace: out = x.
static fd_status run(fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t d, float *x, const float *res,
                     const float *w, float eps, float *out, int inplace) {
    size_t esz = fd_dtype_size(dt);
    char *h = malloc((size_t)(2 * m * d) * esz);
    for (int64_t i = 0; i < m * d; i++) {
        fd__set_f(dt, h, i, x[i]);
        if (res) fd__set_f(dt, h + m * d * esz, i, res[i]);
    }
    fd_tbuf tx = FD_TBUF(ctx, dt, h, m, d), tr = FD_TBUF(ctx, dt, h + m * d * esz, m, d);
    fd_tbuf tw = FD_TBUF(ctx, FD_F32, w, d), to = FD_TBUF(ctx, dt, NULL, m, d);
    fd_status s = fd_rms_norm(ctx, &tx.t, res ? &tr.t : NULL, &tw.t, eps, inplace ? &tx.t : &to.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) {
        void *xo = fd_tbuf_fetch(&tx), *oo = inplace ? xo : fd_tbuf_fetch(&to);
        for (int64_t i = 0; i < m * d; i++) out[i] = fd__get_f(dt, oo, i);
        if (!inplace)
            for (int64_t i = 0; i < m * d; i++) x[i] = fd__get_f(dt, xo, i);
    }
    free(h);
    fd_tbuf_free(&tx); fd_tbuf_free(&tr); fd_tbuf_free(&tw); fd_tbuf_free(&to);
    return s;
}

// x = (1, 2, 2, 4): mean(x^2) = 6.25, rms 2.5; w = (1, 1, 2, 0.5).
static void known_on(fd_ctx *ctx) {
    float x[4] = {1, 2, 2, 4}, w[4] = {1, 1, 2, 0.5f}, out[4];
    float want[4] = {0.4f, 0.8f, 1.6f, 0.8f};
    fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    for (int d = 0; d < 3; d++) {
        float xc[4] = {1, 2, 2, 4};
        CHECK_OK(run(ctx, dts[d], 1, 4, xc, NULL, w, 0.0f, out, 0));
        for (int i = 0; i < 4; i++) CHECK_NEAR(out[i], want[i], d ? 1e-2 : 1e-6);
        for (int i = 0; i < 4; i++) CHECK(xc[i] == x[i]);  // no residual: x untouched
    }
}

// With residual: x becomes x + residual, out is the norm of that.
static void fused_residual_on(fd_ctx *ctx) {
    float x[4] = {0.5f, 1, 3, 3}, r[4] = {0.5f, 1, -1, 1}, w[4] = {1, 1, 2, 0.5f}, out[4];
    float want[4] = {0.4f, 0.8f, 1.6f, 0.8f}, xs[4] = {1, 2, 2, 4};
    CHECK_OK(run(ctx, FD_F32, 1, 4, x, r, w, 0.0f, out, 0));
    for (int i = 0; i < 4; i++) CHECK(x[i] == xs[i]);
    for (int i = 0; i < 4; i++) CHECK_NEAR(out[i], want[i], 1e-6);
    float x2[4] = {0.5f, 1, 3, 3};
    CHECK_OK(run(ctx, FD_F32, 1, 4, x2, r, w, 0.0f, out, 1));  // out = x
    for (int i = 0; i < 4; i++) CHECK_NEAR(out[i], want[i], 1e-6);
}

static void bad_input(void) {
    static float x[8], w[4], o[8];
    fd_ctx *c = env.cpu;
    fd_tensor tx = fd_tensor_2d(x, FD_F32, 2, 4), tw = fd_tensor_1d(w, FD_F32, 4);
    fd_tensor to = fd_tensor_2d(o, FD_F32, 2, 4);
    CHECK_OK(fd_rms_norm(c, &tx, NULL, &tw, 1e-6f, &to));
    fd_tensor tw3 = fd_tensor_1d(w, FD_F32, 3), tw16 = fd_tensor_1d(w, FD_F16, 4);
    CHECK_STATUS(fd_rms_norm(c, &tx, NULL, &tw3, 1e-6f, &to), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_rms_norm(c, &tx, NULL, &tw16, 1e-6f, &to), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_rms_norm(c, &tx, NULL, &tw, -1.0f, &to), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "eps");
    CHECK_STATUS(fd_rms_norm(c, &tx, NULL, &tw, NAN, &to), FD_ERR_INVALID_ARG);
    fd_tensor to16 = fd_tensor_2d(o, FD_F16, 2, 4), tr_bad = fd_tensor_2d(o, FD_F32, 1, 4);
    CHECK_STATUS(fd_rms_norm(c, &tx, NULL, &tw, 1e-6f, &to16), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_rms_norm(c, &tx, &tr_bad, &tw, 1e-6f, &to), FD_ERR_INVALID_ARG);
    fd_tensor to_shift = fd_tensor_2d(x + 1, FD_F32, 2, 4);  // partial overlap with x
    CHECK_STATUS(fd_rms_norm(c, &tx, NULL, &tw, 1e-6f, &to_shift), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "overlaps");
    fd_tensor ti = fd_tensor_2d(x, FD_I32, 2, 4);
    CHECK_STATUS(fd_rms_norm(c, &ti, NULL, &tw, 1e-6f, &to), FD_ERR_UNSUPPORTED_DTYPE);
}

static void table_agrees(void) {
    CHECK(fd_op_available(env.platform, "rms_norm", FD_CPU_DEVICE, NULL, 0));
    const fd__op_variant *v = fd__op_variant_at(FD_VAR_rms_norm);
    CHECK_EQ_I64(v->min_sm, 70);
    if (!env.gpu) return;
    int var = 0, ok = fd_op_available(env.platform, "rms_norm", fd_ctx_device(env.gpu), NULL, 0);
    int sel = fd__op_select(env.platform, fd_ctx_device(env.gpu), FD_OP_ID_rms_norm, FD_BF16,
                            &var) == FD_OK;  // bf16 too: Volta converts through float
    CHECK_EQ_I64(ok, sel);
    CHECK_EQ_I64(ok, v->built);
}

static void cpu_known(void) { known_on(env.cpu); }
static void cpu_fused_residual(void) { fused_residual_on(env.cpu); }
static void gpu_known(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "rms_norm");
    if (g) known_on(g);
}
static void gpu_fused_residual(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "rms_norm");
    if (g) fused_residual_on(g);
}

// GPU vs the reference: every dtype, D in {4096 (vector), 77 (scalar)}, with and
// without residual.
static void gpu_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "rms_norm");
    if (!g) return;
    enum { M = 9, MAXD = 4096 };
    static float x[M * MAXD], x2[M * MAXD], r[M * MAXD], w[MAXD], o[M * MAXD], o2[M * MAXD];
    static const int64_t ds[2] = {4096, 77};
    fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    double tols[3] = {1e-5, 2e-3, 1.6e-2};
    uint64_t rng = 4;
    for (int t = 0; t < 3; t++)
        for (int s = 0; s < 2; s++)
            for (int withr = 0; withr < 2; withr++) {
                int64_t d = ds[s];
                for (int64_t i = 0; i < M * d; i++) {
                    x[i] = x2[i] = 2 * fd_test_randf(&rng);
                    r[i] = fd_test_randf(&rng);
                }
                for (int64_t j = 0; j < d; j++) w[j] = 1 + 0.5f * fd_test_randf(&rng);
                CHECK_OK(run(env.cpu, dts[t], M, d, x, withr ? r : NULL, w, 1e-5f, o, 0));
                CHECK_OK(run(g, dts[t], M, d, x2, withr ? r : NULL, w, 1e-5f, o2, 0));
                for (int64_t i = 0; i < M * d; i++) {
                    if (x[i] != x2[i] || !(fabs(o[i] - o2[i]) <= tols[t] * (1 + fabs(o[i])))) {
                        FD_FAILF("%s D=%lld residual=%d: element %lld: x %g vs %g, out %g vs %g",
                                 fd_dtype_name(dts[t]), (long long)d, withr, (long long)i, x2[i],
                                 x[i], o2[i], o[i]);
                        break;
                    }
                }
            }
}

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_known), FD_CASE(cpu_fused_residual),
             FD_CASE(bad_input), FD_CASE(table_agrees), FD_CASE(gpu_known),
             FD_CASE(gpu_fused_residual), FD_CASE(gpu_vs_reference), FD_CASE(teardown))
