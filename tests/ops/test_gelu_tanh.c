// SPDX-License-Identifier: Apache-2.0
// gelu_tanh on the C reference and on the GPU: FastDeploy's f16 case, known
// answers in every dtype, in place, odd sizes and unaligned views (scalar
// tail/path), large and NaN inputs, bad input, GPU vs the reference.
//
// Tolerance: |got - want| <= rtol*|want| + 1e-6*max(1,|x|) (+ 3e-4*|x| when
// the GPU runs the SM75+ tanh.approx.f32 variant, whose max relative error
// 2^-11 gives at most 2.5e-4*|x|), rtol = 1e-5 f32, 1e-3 f16, 1e-2 bf16.
// FastDeploy's own case uses rtol = atol = 1e-3 in f16.
#include "fd_test.h"

static fd_test_env env;
static const char *OP = "gelu_tanh";

static double gelu_exact(double x) {
    return 0.5 * x * (1.0 + tanh(0.7978845608 * (x + 0.044715 * x * x * x)));
}

static float to_dt(fd_dtype dt, double v) {
    if (dt == FD_F16) return fd_f16_to_f32(fd_f32_to_f16((float)v));
    if (dt == FD_BF16) return fd_bf16_to_f32(fd_f32_to_bf16((float)v));
    return (float)v;
}

static void *pack(fd_dtype dt, const float *x, int64_t n) {
    void *p = calloc((size_t)n + 8, fd_dtype_size(dt));
    for (int64_t i = 0; i < n; i++) {
        if (dt == FD_F32) ((float *)p)[i] = x[i];
        else if (dt == FD_F16) ((uint16_t *)p)[i] = fd_f32_to_f16(x[i]);
        else ((uint16_t *)p)[i] = fd_f32_to_bf16(x[i]);
    }
    return p;
}

static float elem(fd_dtype dt, const void *p, int64_t i) {
    if (dt == FD_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return dt == FD_F16 ? fd_f16_to_f32(h) : fd_bf16_to_f32(h);
}

// The SM75+ variant (tanh.approx) runs iff the kernels run as SM75 or newer.
static int approx_on(fd_ctx *ctx) { return fd_ctx_is_cuda(ctx) && fd_ctx_effective_sm(ctx) >= 75; }

static int within(fd_dtype dt, int approx, double x, double got, double want, double rtol) {
    if (isnan(want)) return isnan(got);
    if (rtol < 0) rtol = dt == FD_F32 ? 1e-5 : dt == FD_F16 ? 1e-3 : 1e-2;
    double bound = rtol * fabs(want) + 1e-6 * fmax(1.0, fabs(x)) + (approx ? 3e-4 * fabs(x) : 0);
    return fabs(got - want) <= bound;
}

// Runs the op on n elements of x (already in dt); y gets the result. `shift`
// elements of offset make the views unaligned; in_place passes out = input.
static fd_status run(fd_ctx *ctx, fd_dtype dt, const float *x, float *y, int64_t n, int shift,
                     int in_place) {
    void *h = pack(dt, x, n);
    void *hs = calloc((size_t)n + 8, fd_dtype_size(dt));
    memcpy((char *)hs + shift * fd_dtype_size(dt), h, (size_t)n * fd_dtype_size(dt));
    fd_tbuf bi = FD_TBUF(ctx, dt, hs, n + 8), bo = FD_TBUF(ctx, dt, NULL, n + 8);
    fd_tensor ti = fd_tensor_1d((char *)bi.t.data + shift * fd_dtype_size(dt), dt, n);
    fd_tensor to = fd_tensor_1d((char *)bo.t.data + shift * fd_dtype_size(dt), dt, n);
    fd_status s = fd_gelu_tanh(ctx, &ti, in_place ? &ti : &to);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) {
        const char *p = fd_tbuf_fetch(in_place ? &bi : &bo);
        for (int64_t i = 0; i < n; i++) y[i] = elem(dt, p + shift * fd_dtype_size(dt), i);
    }
    fd_tbuf_free(&bi); fd_tbuf_free(&bo);
    free(h);
    free(hs);
    return s;
}

static void check_all(fd_ctx *ctx, fd_dtype dt, const float *x, const float *y, int64_t n,
                      double rtol) {
    int approx = approx_on(ctx);
    for (int64_t i = 0; i < n; i++) {
        double want = to_dt(dt, gelu_exact(x[i]));
        if (!within(dt, approx, x[i], y[i], want, rtol)) {
            FD_FAILF("%s gelu_tanh(%.9g) = %.9g, expected %.9g", fd_dtype_name(dt), x[i], y[i],
                     want);
            return;
        }
    }
}

// FastDeploy's test: f16 randn of {1,32,64,128,1024} x {4096,7168}, rtol = atol = 1e-3.
static void fastdeploy_case_on(fd_ctx *ctx) {
    const int64_t rows[5] = {1, 32, 64, 128, 1024}, cols[2] = {4096, 7168};
    float *x = malloc(1024 * 7168 * sizeof(float)), *y = malloc(1024 * 7168 * sizeof(float));
    uint64_t rng = 2024;
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 2; c++) {
            int64_t n = rows[r] * cols[c];
            for (int64_t i = 0; i < n; i += 2) {  // Box-Muller normal pairs
                double u = (fd_test_rand(&rng) >> 11) * 0x1p-53 + 0x1p-54;
                double v = (fd_test_rand(&rng) >> 11) * 0x1p-53;
                double m = sqrt(-2 * log(u));
                x[i] = to_dt(FD_F16, m * cos(6.283185307179586 * v));
                if (i + 1 < n) x[i + 1] = to_dt(FD_F16, m * sin(6.283185307179586 * v));
            }
            CHECK_OK(run(ctx, FD_F16, x, y, n, 0, 0));
            check_all(ctx, FD_F16, x, y, n, 1e-3);
        }
    free(x);
    free(y);
}

// Known points in every dtype, including saturation (+-100) and NaN.
static void known_values_on(fd_ctx *ctx) {
    const float xs[14] = {-6, -3, -1, -0.5f, 0, 0.25f, 0.5f, 1, 2, 3, 6, -100, 100, NAN};
    const fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    float y[14];
    for (int d = 0; d < 3; d++) {
        CHECK_OK(run(ctx, dts[d], xs, y, 14, 0, 0));
        check_all(ctx, dts[d], xs, y, 14, -1);
        CHECK(y[12] == 100.0f);
        CHECK(fabsf(y[11]) <= 0.03f);
        CHECK(isnan(y[13]));
    }
}

// In place, 1 and 7 elements (under one vector), odd sizes, unaligned views.
static void sizes_and_in_place_on(fd_ctx *ctx) {
    const int64_t ns[5] = {1, 7, 8, 4099, 256 * 151};
    const fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    float *x = malloc(256 * 151 * sizeof(float)), *y = malloc(256 * 151 * sizeof(float));
    uint64_t rng = 8;
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 5; k++)
            for (int mode = 0; mode < 3; mode++) {  // plain, in place, shifted by one element
                for (int64_t i = 0; i < ns[k]; i++) x[i] = to_dt(dts[d], 8 * fd_test_randf(&rng));
                CHECK_OK(run(ctx, dts[d], x, y, ns[k], mode == 2, mode == 1));
                check_all(ctx, dts[d], x, y, ns[k], -1);
            }
    free(x);
    free(y);
}

static void cpu_fastdeploy_case(void) { fastdeploy_case_on(env.cpu); }
static void cpu_known_values(void) { known_values_on(env.cpu); }
static void cpu_sizes_and_in_place(void) { sizes_and_in_place_on(env.cpu); }
#define ON_GPU(fn)                                                             \
    static void gpu_##fn(void) {                                               \
        fd_ctx *g = fd_test_gpu_for(&env, OP);                                 \
        if (g) fn##_on(g);                                                     \
    }
ON_GPU(fastdeploy_case) ON_GPU(known_values) ON_GPU(sizes_and_in_place)

// 2-D/3-D shapes are accepted; mismatched out, other dtypes, partial overlap are errors.
static void bad_input(void) {
    fd_ctx *c = env.cpu;
    static float a[64], b[64];
    fd_tensor in3 = fd_tensor_3d(a, FD_F32, 2, 4, 8), out3 = fd_tensor_3d(b, FD_F32, 2, 4, 8);
    CHECK_OK(fd_gelu_tanh(c, &in3, &out3));
    fd_tensor out2 = fd_tensor_2d(b, FD_F32, 8, 8), out_f16 = fd_tensor_3d(b, FD_F16, 2, 4, 8);
    fd_tensor in_i32 = fd_tensor_1d(a, FD_I32, 64), o_i32 = fd_tensor_1d(b, FD_I32, 64);
    fd_tensor in_lo = fd_tensor_1d(a, FD_F32, 32), out_hi = fd_tensor_1d(a + 16, FD_F32, 32);
    CHECK_STATUS(fd_gelu_tanh(c, &in3, &out2), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), OP);
    CHECK_STATUS(fd_gelu_tanh(c, &in3, &out_f16), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_gelu_tanh(c, &in_i32, &o_i32), FD_ERR_UNSUPPORTED_DTYPE);
    CHECK_CONTAINS(fd_last_error(), "i32");
    CHECK_STATUS(fd_gelu_tanh(c, &in_lo, &out_hi), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "overlaps");
    CHECK_STATUS(fd_gelu_tanh(c, NULL, &out3), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_gelu_tanh(c, &in3, NULL), FD_ERR_INVALID_ARG);
    fd_tensor e_in = fd_tensor_2d(a, FD_F32, 0, 8), e_out = fd_tensor_2d(b, FD_F32, 0, 8);
    CHECK_OK(fd_gelu_tanh(c, &e_in, &e_out));  // empty
}

// Batch 1 and 256 of width 4096, every dtype: GPU vs the C reference.
static void gpu_random_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, OP);
    if (!g) return;
    const fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    const int64_t ns[2] = {4096, 256 * 4096};
    float *x = malloc(256 * 4096 * sizeof(float)), *yg = malloc(256 * 4096 * sizeof(float)),
          *yc = malloc(256 * 4096 * sizeof(float));
    uint64_t rng = 31;
    int approx = approx_on(g);
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 2; k++) {
            for (int64_t i = 0; i < ns[k]; i++) x[i] = to_dt(dts[d], 10 * fd_test_randf(&rng));
            CHECK_OK(run(g, dts[d], x, yg, ns[k], 0, 0));
            CHECK_OK(run(env.cpu, dts[d], x, yc, ns[k], 0, 0));
            for (int64_t i = 0; i < ns[k]; i++)
                if (!within(dts[d], approx, x[i], yg[i], yc[i], -1)) {
                    FD_FAILF("%s x=%.9g: GPU %.9g, CPU %.9g", fd_dtype_name(dts[d]), x[i], yg[i],
                             yc[i]);
                    break;
                }
        }
    free(x); free(yg); free(yc);
}

static void table_and_info_agree(void) { fd_test_table_agrees(&env, OP, 70); }

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_fastdeploy_case), FD_CASE(cpu_known_values),
             FD_CASE(cpu_sizes_and_in_place), FD_CASE(bad_input), FD_CASE(gpu_fastdeploy_case),
             FD_CASE(gpu_known_values), FD_CASE(gpu_sizes_and_in_place),
             FD_CASE(gpu_random_vs_reference), FD_CASE(table_and_info_agree),
             FD_CASE(teardown))
