// SPDX-License-Identifier: Apache-2.0
// gelu_tanh_and_mul on the C reference and on the GPU: known values (tanh-GELU in
// double), every float dtype with odd and vector widths vs double, empty input,
// bad shapes / dtypes / NULLs / overlap (nothing written), GPU vs the C reference
// on random data (aligned and unaligned views), the op table.
// Tolerances vs double: rtol * (|want| + rms) + 1e-6 * max(1, |g|) * |u|, rtol =
// f32 1e-5, f16 1e-3, bf16 8e-3; the second term is gelu_tanh's own (for a very
// negative gate, 1 + tanh cancels in f32 and leaves ~ulp(1) * |g| absolute error).
// GPU vs reference (|d| <= atol + rtol*|ref|): f32 1e-5/1e-5, f16
// 1e-5/2e-3, bf16 1e-5/1.6e-2 (tanhf differs by a few ulps, so a rounding can
// land one dtype ulp apart).
#include "ffn_test_util.h"

static fd_test_env env;
static const fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};

static double gelu_d(double a) {
    return 0.5 * a * (1.0 + tanh(0.7978845608 * (a + 0.044715 * a * a * a)));
}

// Runs the op with x and out as views `skew` elements into their buffers.
static fd_status run_skew(fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t inter, const float *x,
                          float *out, int skew) {
    size_t esz = fd_dtype_size(dt);
    void *xh = ffn_to_dt(dt, x, m * 2 * inter);
    fd_tbuf tx = FD_TBUF(ctx, dt, NULL, m * 2 * inter + 1);
    fd_tbuf to = FD_TBUF(ctx, dt, NULL, m * inter + 1);
    fd_tensor vx = fd_tensor_2d((char *)tx.t.data + skew * esz, dt, m, 2 * inter);
    fd_tensor vo = fd_tensor_2d((char *)to.t.data + skew * esz, dt, m, inter);
    fd_status s = fd_ctx_upload(ctx, vx.data, xh, fd_tensor_bytes(&vx));
    if (s == FD_OK) s = fd_gelu_tanh_and_mul(ctx, &vx, &vo);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) {
        const char *o = (const char *)fd_tbuf_fetch(&to) + skew * esz;
        for (int64_t i = 0; i < m * inter; i++) out[i] = ffn_get(dt, o, i);
    }
    fd_tbuf_free(&tx); fd_tbuf_free(&to);
    free(xh);
    return s;
}

static fd_status run(fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t inter, const float *x,
                     float *out) {
    return run_skew(ctx, dt, m, inter, x, out, 0);
}

// Compares out with double; names the first element outside the bound.
static void close_to_double(const char *what, fd_dtype dt, const float *x, const float *out,
                            int64_t m, int64_t inter) {
    double rtol = dt == FD_F32 ? 1e-5 : dt == FD_F16 ? 1e-3 : 8e-3, rms = 0;
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < inter; j++) {
            double g = x[r * 2 * inter + j], u = x[r * 2 * inter + inter + j];
            rms += gelu_d(g) * u * gelu_d(g) * u / (double)(m * inter);
        }
    rms = sqrt(rms);
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < inter; j++) {
            double g = x[r * 2 * inter + j], u = x[r * 2 * inter + inter + j], want = gelu_d(g) * u;
            double got = out[r * inter + j];
            double bound = rtol * (fabs(want) + rms) + 1e-6 * fmax(1, fabs(g)) * fabs(u);
            if (!(fabs(got - want) <= bound)) {
                FD_FAILF("%s: row %lld col %lld: gate %.6g up %.6g: got %.9g, want %.9g", what,
                         (long long)r, (long long)j, g, u, got, want);
                return;
            }
        }
}

static void check_shape(fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t inter) {
    float *x = ffn_random(m * 5 + inter, m * 2 * inter, 5.0f);
    float *out = malloc((size_t)(m * inter) * 4 + 4);
    ffn_round(dt, x, m * 2 * inter);
    char what[80];
    snprintf(what, sizeof what, "%s M=%lld I=%lld", fd_dtype_name(dt), (long long)m,
             (long long)inter);
    if (run(ctx, dt, m, inter, x, out) != FD_OK) FD_FAILF("%s: %s", what, fd_last_error());
    else close_to_double(what, dt, x, out, m, inter);
    free(x); free(out);
}

// I = 1 and 37 take the scalar kernel, 8 and 2048 the 16-byte vector one.
static void shapes_on(fd_ctx *ctx) {
    for (int d = 0; d < 3; d++) {
        check_shape(ctx, dts[d], 1, 1);
        check_shape(ctx, dts[d], 3, 37);
        check_shape(ctx, dts[d], 2, 8);
        check_shape(ctx, dts[d], 17, 2048);
    }
}

// gelu_tanh(g) * u worked out in double: g = -3 (tail, ~-0.0036), -0.5, 0, 1, 4.
static void known_on(fd_ctx *ctx) {
    float x[10] = {-3.0f, -0.5f, 0.0f, 1.0f, 4.0f, 2.0f, 1.0f, 5.0f, -0.25f, 0.5f}, out[5];
    const double want[5] = {-0.007274784163721182, -0.15428599017516514, 0.0,
                            -0.21029799765186924, 1.9999648770259024};
    for (int j = 0; j < 5; j++) CHECK_NEAR(gelu_d(x[j]) * x[5 + j], want[j], 1e-12);
    for (int d = 0; d < 3; d++) {
        double tol = d == 0 ? 1e-6 : d == 1 ? 1e-3 : 8e-3;
        CHECK_OK(run(ctx, dts[d], 1, 5, x, out));
        for (int j = 0; j < 5; j++) {
            double cancel = 1e-6 * fmax(1, fabs(x[j])) * fabs(x[5 + j]);
            CHECK_NEAR(out[j], want[j], tol * fabs(want[j]) + cancel);
        }
        CHECK(out[2] == 0.0f);
    }
}

static void cpu_known(void) { known_on(env.cpu); }
static void cpu_shapes(void) { shapes_on(env.cpu); }

static void empty(void) {
    float x[4] = {0}, o[2] = {7, 7};
    fd_tensor x0 = fd_tensor_2d(x, FD_F32, 0, 4), o0 = fd_tensor_2d(o, FD_F32, 0, 2);
    fd_tensor xi0 = fd_tensor_2d(x, FD_F32, 2, 0), oi0 = fd_tensor_2d(o, FD_F32, 2, 0);
    CHECK_OK(fd_gelu_tanh_and_mul(env.cpu, &x0, &o0));
    CHECK_OK(fd_gelu_tanh_and_mul(env.cpu, &xi0, &oi0));
    CHECK(o[0] == 7 && o[1] == 7);
}

// Every rejected call leaves out (and x) as they were.
static void bad_shapes(void) {
    static float x[12], o[6];
    for (int i = 0; i < 12; i++) x[i] = (float)i;
    for (int i = 0; i < 6; i++) o[i] = 7;
    fd_tensor odd = fd_tensor_2d(x, FD_F32, 4, 3), tx = fd_tensor_2d(x, FD_F32, 2, 6);
    fd_tensor bad_o = fd_tensor_2d(o, FD_F32, 3, 2), o16 = fd_tensor_2d(o, FD_F16, 2, 3);
    fd_tensor x1 = fd_tensor_1d(x, FD_F32, 12), xi = fd_tensor_2d(x, FD_I32, 2, 6);
    fd_tensor oi = fd_tensor_2d(o, FD_I32, 2, 3), to = fd_tensor_2d(o, FD_F32, 2, 3);
    fd_tensor o_in_x = fd_tensor_2d(x + 3, FD_F32, 2, 3);  // out inside x
    CHECK_STATUS(fd_gelu_tanh_and_mul(env.cpu, &odd, &to), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "gelu_tanh_and_mul");
    CHECK_CONTAINS(fd_last_error(), "odd");
    CHECK_STATUS(fd_gelu_tanh_and_mul(env.cpu, &tx, &bad_o), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_gelu_tanh_and_mul(env.cpu, &tx, &o16), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_gelu_tanh_and_mul(env.cpu, &x1, &to), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_gelu_tanh_and_mul(env.cpu, &xi, &oi), FD_ERR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(fd_gelu_tanh_and_mul(env.cpu, &tx, NULL), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_gelu_tanh_and_mul(env.cpu, NULL, &to), FD_ERR_INVALID_ARG);
    for (int i = 0; i < 6; i++) CHECK(o[i] == 7);
    CHECK_STATUS(fd_gelu_tanh_and_mul(env.cpu, &tx, &o_in_x), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "overlaps");
    for (int i = 0; i < 12; i++) CHECK(x[i] == (float)i);
    CHECK_OK(fd_gelu_tanh_and_mul(env.cpu, &tx, &to));
    CHECK_NEAR(o[1], gelu_d(1.0) * 4.0, 1e-6);
}

static void table_agrees(void) {
    CHECK(fd_op_available(env.platform, "gelu_tanh_and_mul", FD_CPU_DEVICE, NULL, 0));
    const fd__op_variant *v = fd__op_variant_at(FD_VAR_gelu_tanh_and_mul);
    CHECK_EQ_I64(v->min_sm, 70);
    if (!env.gpu) return;
    int var = 0;
    int ok = fd_op_available(env.platform, "gelu_tanh_and_mul", fd_ctx_device(env.gpu), NULL, 0);
    int sel = fd__op_select(env.platform, fd_ctx_device(env.gpu), FD_OP_ID_gelu_tanh_and_mul,
                            FD_BF16, &var) == FD_OK;  // bf16 too: Volta converts through float
    CHECK_EQ_I64(ok, sel);
    CHECK_EQ_I64(ok, v->built);
}

static void gpu_known(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "gelu_tanh_and_mul");
    if (g) known_on(g);
}

static void gpu_shapes(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "gelu_tanh_and_mul");
    if (g) shapes_on(g);
}

// GPU vs the C reference on random data: Gemma-3-1B's I = 6912 (vector kernel),
// I = 301 (scalar kernel), and a view one element off 16-byte alignment.
static void gpu_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "gelu_tanh_and_mul");
    if (!g) return;
    static const int64_t shapes[3][3] = {{9, 6912, 0}, {5, 301, 0}, {4, 512, 1}};  // M, I, skew
    for (int d = 0; d < 3; d++) {
        double rtol = d == 0 ? 1e-5 : d == 1 ? 2e-3 : 1.6e-2;
        for (int s = 0; s < 3; s++) {
            int64_t m = shapes[s][0], inter = shapes[s][1];
            float *x = ffn_random(31 + s, m * 2 * inter, 6.0f);
            float *ref = malloc((size_t)(m * inter) * 4), *got = malloc((size_t)(m * inter) * 4);
            CHECK_OK(run(env.cpu, dts[d], m, inter, x, ref));
            CHECK_OK(run_skew(g, dts[d], m, inter, x, got, (int)shapes[s][2]));
            for (int64_t i = 0; i < m * inter; i++)
                if (!(fabs(got[i] - ref[i]) <= 1e-5 + rtol * fabs(ref[i]))) {
                    FD_FAILF("%s M=%lld I=%lld skew %lld: element %lld: GPU %.9g, C %.9g",
                             fd_dtype_name(dts[d]), (long long)m, (long long)inter,
                             (long long)shapes[s][2], (long long)i, got[i], ref[i]);
                    break;
                }
            free(x); free(ref); free(got);
        }
    }
}

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_known), FD_CASE(cpu_shapes), FD_CASE(empty),
             FD_CASE(bad_shapes), FD_CASE(table_agrees), FD_CASE(gpu_known),
             FD_CASE(gpu_shapes), FD_CASE(gpu_vs_reference), FD_CASE(teardown))
