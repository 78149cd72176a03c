// SPDX-License-Identifier: Apache-2.0
// matmul_wint8 and the per-channel int8 quantizer: quantizer properties, the op
// vs the product with dequantized weights (C reference and GPU), odd shapes,
// K = 4096, bad input, dtype gating.
#include "ffn_test_util.h"

static fd_test_env env;

typedef struct w8 {
    int64_t n, k;
    int8_t *q;
    float *scale, *deq;  // deq[n, k] = q * scale
} w8;

static w8 w8_make(uint64_t seed, int64_t n, int64_t k) {
    w8 w = {n, k, malloc((size_t)(n * k) + 1), malloc((size_t)n * 4 + 4),
            malloc((size_t)(n * k) * 4 + 4)};
    float *f = ffn_random(seed, n * k, 1.0f / sqrtf((float)k));
    CHECK_OK(fd_quantize_int8_per_channel(f, n, k, w.q, w.scale));
    for (int64_t i = 0; i < n * k; i++) w.deq[i] = w.q[i] * w.scale[i / k];
    free(f);
    return w;
}
static void w8_free(w8 *w) { free(w->q); free(w->scale); free(w->deq); }

static fd_status run(fd_ctx *ctx, fd_dtype dt, int64_t m, const float *a, const w8 *w,
                     float *out) {
    void *ah = ffn_to_dt(dt, a, m * w->k);
    fd_tbuf ta = FD_TBUF(ctx, dt, ah, m, w->k), tq = FD_TBUF(ctx, FD_I8, w->q, w->n, w->k);
    fd_tbuf ts = FD_TBUF(ctx, FD_F32, w->scale, w->n), tc = FD_TBUF(ctx, dt, NULL, m, w->n);
    fd_status s = fd_matmul_wint8(ctx, &ta.t, &tq.t, &ts.t, &tc.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) {
        const void *c = fd_tbuf_fetch(&tc);
        for (int64_t i = 0; i < m * w->n; i++) out[i] = ffn_get(dt, c, i);
    }
    fd_tbuf_free(&ta); fd_tbuf_free(&tq); fd_tbuf_free(&ts); fd_tbuf_free(&tc);
    free(ah);
    return s;
}

// The op vs A * dequant(W)^T in double (inputs rounded to dt).
static void shape_on(fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t n, int64_t k) {
    w8 w = w8_make(n * 13 + k, n, k);
    float *a = ffn_random(m + 5, m * k, 1.0f), *c = malloc((size_t)(m * n) * 4 + 4);
    float *want = malloc((size_t)(m * n) * 4 + 4);
    ffn_round(dt, a, m * k);
    ffn_gemm_ref(a, w.deq, want, m, n, k);
    char what[96];
    snprintf(what, sizeof what, "wint8 %s M=%lld N=%lld K=%lld", fd_dtype_name(dt),
             (long long)m, (long long)n, (long long)k);
    if (run(ctx, dt, m, a, &w, c) != FD_OK) FD_FAILF("%s: %s", what, fd_last_error());
    else ffn_close(what, c, want, m * n, ffn_rtol(dt));
    free(a); free(c); free(want);
    w8_free(&w);
}

static void quantizer(void) {
    enum { N = 4, K = 50 };
    float *f = ffn_random(9, N * K, 3.0f);
    int8_t q[N * K];
    float s[N];
    for (int i = 0; i < K; i++) f[2 * K + i] = 0.0f;  // an all-zero row
    f[K + 7] = -5.0f;                                  // row 1's max magnitude, negative
    CHECK_OK(fd_quantize_int8_per_channel(f, N, K, q, s));
    CHECK(s[2] == 0.0f);
    CHECK_NEAR(s[1], 5.0 / 127.0, 1e-7);
    CHECK_EQ_I64(q[K + 7], -127);
    for (int r = 0; r < N; r++)
        for (int i = 0; i < K; i++) {
            CHECK(q[r * K + i] >= -127 && q[r * K + i] <= 127);
            CHECK(fabsf(q[r * K + i] * s[r] - f[r * K + i]) <= 0.5f * s[r] * 1.0001f + 1e-7f);
        }
    f[3] = NAN;
    CHECK_STATUS(fd_quantize_int8_per_channel(f, N, K, q, s), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "not finite");
    CHECK_STATUS(fd_quantize_int8_per_channel(f, N, K, NULL, s), FD_ERR_INVALID_ARG);
    free(f);
}

static void cpu_shapes(void) {
    static const int64_t ms[3] = {1, 3, 17};
    static const fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    for (int d = 0; d < 3; d++)
        for (int i = 0; i < 3; i++) shape_on(env.cpu, dts[d], ms[i], 37, 45);
}

// f32 wint8 equals f32 matmul on the dequantized weights (same reference sums).
static void cpu_equals_dequantized_matmul(void) {
    enum { M = 3, N = 21, K = 33 };
    w8 w = w8_make(4, N, K);
    float *a = ffn_random(8, M * K, 1.0f), c1[M * N], c2[M * N];
    fd_tensor ta = fd_tensor_2d(a, FD_F32, M, K), td = fd_tensor_2d(w.deq, FD_F32, N, K);
    fd_tensor tc = fd_tensor_2d(c2, FD_F32, M, N);
    CHECK_OK(run(env.cpu, FD_F32, M, a, &w, c1));
    CHECK_OK(fd_matmul(env.cpu, &ta, &td, &tc));
    ffn_close("wint8 vs matmul(dequantized)", c1, c2, M * N, 1e-5);
    free(a);
    w8_free(&w);
}

static void bad_input(void) {
    float a[12] = {0}, s[3] = {1, 1, 1}, c[9];
    int8_t q[12] = {0};
    fd_tensor ta = fd_tensor_2d(a, FD_F32, 3, 4), tq = fd_tensor_2d(q, FD_I8, 3, 4);
    fd_tensor ts = fd_tensor_1d(s, FD_F32, 3), tc = fd_tensor_2d(c, FD_F32, 3, 3);
    fd_tensor ts2 = fd_tensor_1d(s, FD_F32, 2), ts_f16 = fd_tensor_1d(s, FD_F16, 3);
    fd_tensor tq_f32 = fd_tensor_2d(a, FD_F32, 3, 4);
    CHECK_OK(fd_matmul_wint8(env.cpu, &ta, &tq, &ts, &tc));
    CHECK_STATUS(fd_matmul_wint8(env.cpu, &ta, &tq, NULL, &tc), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "matmul_wint8");
    CHECK_STATUS(fd_matmul_wint8(env.cpu, &ta, &tq, &ts2, &tc), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "scale");
    CHECK_STATUS(fd_matmul_wint8(env.cpu, &ta, &tq, &ts_f16, &tc), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_matmul_wint8(env.cpu, &ta, &tq_f32, &ts, &tc), FD_ERR_INVALID_ARG);
}

static void dtype_gating(void) {
    fd_platform *v100 = ffn_sim_platform(70, 70);
    int var = 0;
    CHECK(v100 != NULL);
    if (!v100) return;
    CHECK_STATUS(fd__op_select(v100, 0, FD_OP_ID_matmul_wint8, FD_BF16, &var),
                 FD_ERR_UNSUPPORTED_ARCH);
    CHECK_CONTAINS(fd_last_error(), "SM80");
    if (fd__op_variant_at(FD_VAR_matmul_wint8)->built) {
        CHECK_OK(fd__op_select(v100, 0, FD_OP_ID_matmul_wint8, FD_F16, &var));
        CHECK_EQ_I64(var, FD_VAR_matmul_wint8);
    }
    CHECK(fd_op_available(env.platform, "matmul_wint8", FD_CPU_DEVICE, NULL, 0));
    fd_platform_free(v100);
}

static void gpu_shapes(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "matmul_wint8");
    if (!g) return;
    fd_dtype dts[2] = {FD_F16, FD_BF16};
    int nd = fd_ctx_effective_sm(g) >= 80 ? 2 : 1;
    static const int64_t ms[6] = {1, 3, 8, 17, 40, 530};
    for (int d = 0; d < nd; d++) {
        for (int i = 0; i < 6; i++) {
            shape_on(g, dts[d], ms[i], 37, 45);
            shape_on(g, dts[d], ms[i], 130, 136);
        }
        shape_on(g, dts[d], 1, 300, 4096);
        shape_on(g, dts[d], 17, 100, 4096);
        shape_on(g, dts[d], 600, 64, 4096);
    }
}

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(quantizer), FD_CASE(cpu_shapes),
             FD_CASE(cpu_equals_dequantized_matmul), FD_CASE(bad_input),
             FD_CASE(dtype_gating), FD_CASE(gpu_shapes), FD_CASE(teardown))
