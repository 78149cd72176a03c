// SPDX-License-Identifier: Apache-2.0
// silu_and_mul on the C reference and the GPU: known values, every float dtype,
// odd widths, empty input, bad shapes.
#include "ffn_test_util.h"

static fd_test_env env;

static fd_status run(fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t inter, const float *x,
                     float *out) {
    void *xh = ffn_to_dt(dt, x, m * 2 * inter);
    fd_tbuf tx = FD_TBUF(ctx, dt, xh, m, 2 * inter), to = FD_TBUF(ctx, dt, NULL, m, inter);
    fd_status s = fd_silu_and_mul(ctx, &tx.t, &to.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) {
        const void *o = fd_tbuf_fetch(&to);
        for (int64_t i = 0; i < m * inter; i++) out[i] = ffn_get(dt, o, i);
    }
    fd_tbuf_free(&tx); fd_tbuf_free(&to);
    free(xh);
    return s;
}

static void check_shape(fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t inter) {
    float *x = ffn_random(m * 3 + inter, m * 2 * inter, 6.0f);
    float *out = malloc((size_t)(m * inter) * 4 + 4), *want = malloc((size_t)(m * inter) * 4 + 4);
    ffn_round(dt, x, m * 2 * inter);
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < inter; j++) {
            double g = x[r * 2 * inter + j], u = x[r * 2 * inter + inter + j];
            want[r * inter + j] = (float)(g / (1.0 + exp(-g)) * u);
        }
    char what[80];
    snprintf(what, sizeof what, "%s M=%lld I=%lld", fd_dtype_name(dt), (long long)m,
             (long long)inter);
    if (run(ctx, dt, m, inter, x, out) != FD_OK) FD_FAILF("%s: %s", what, fd_last_error());
    else ffn_close(what, out, want, m * inter, dt == FD_F32 ? 1e-6 : dt == FD_F16 ? 1e-3 : 8e-3);
    free(x); free(out); free(want);
}

static void shapes_on(fd_ctx *ctx) {
    static const fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    for (int d = 0; d < 3; d++) {
        check_shape(ctx, dts[d], 1, 1);
        check_shape(ctx, dts[d], 3, 37);
        check_shape(ctx, dts[d], 17, 2048);
    }
}

static void known_values(void) {
    float x[8] = {-4.0f, -0.5f, 0.0f, 3.0f, 2.0f, 1.0f, 5.0f, -0.25f}, out[4];
    CHECK_OK(run(env.cpu, FD_F32, 1, 4, x, out));
    CHECK_NEAR(out[0], -4.0 / (1.0 + exp(4.0)) * 2.0, 1e-6);
    CHECK_NEAR(out[1], -0.5 / (1.0 + exp(0.5)) * 1.0, 1e-6);
    CHECK(out[2] == 0.0f);
    CHECK_NEAR(out[3], 3.0 / (1.0 + exp(-3.0)) * -0.25, 1e-6);
}

static void cpu_shapes(void) { shapes_on(env.cpu); }

static void bad_shapes(void) {
    float x[12] = {0}, o[6];
    fd_tensor odd = fd_tensor_2d(x, FD_F32, 4, 3), tx = fd_tensor_2d(x, FD_F32, 2, 6);
    fd_tensor to = fd_tensor_2d(o, FD_F32, 2, 3), bad_o = fd_tensor_2d(o, FD_F32, 3, 2);
    fd_tensor o16 = fd_tensor_2d(o, FD_F16, 2, 3), x0 = fd_tensor_2d(x, FD_F32, 0, 6);
    fd_tensor o0 = fd_tensor_2d(o, FD_F32, 0, 3);
    CHECK_OK(fd_silu_and_mul(env.cpu, &tx, &to));
    CHECK_OK(fd_silu_and_mul(env.cpu, &x0, &o0));
    CHECK_STATUS(fd_silu_and_mul(env.cpu, &odd, &to), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "silu_and_mul");
    CHECK_CONTAINS(fd_last_error(), "odd");
    CHECK_STATUS(fd_silu_and_mul(env.cpu, &tx, &bad_o), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_silu_and_mul(env.cpu, &tx, &o16), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_silu_and_mul(env.cpu, &tx, NULL), FD_ERR_INVALID_ARG);
}

static void table_agrees(void) {
    CHECK(fd_op_available(env.platform, "silu_and_mul", FD_CPU_DEVICE, NULL, 0));
    CHECK_EQ_I64(fd__op_variant_at(FD_VAR_silu_and_mul)->min_sm, 70);
}

static void gpu_shapes(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "silu_and_mul");
    if (g) shapes_on(g);
}

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(known_values), FD_CASE(cpu_shapes), FD_CASE(bad_shapes),
             FD_CASE(table_agrees), FD_CASE(gpu_shapes), FD_CASE(teardown))
