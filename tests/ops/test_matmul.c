// SPDX-License-Identifier: Apache-2.0
// matmul (C = A * W^T, W stored [N, K]) on the C reference and on the GPU:
// exact small-integer case, odd shapes (M = 1, 3, 17; N, K not multiples of 16),
// K = 4096 sums, unaligned views, bad shapes, and dtype gating per SM.
#include "ffn_test_util.h"

static fd_test_env env;

// Runs fd_matmul on ctx; a/w are floats already representable in dt.
// skew = 1 places A one element past an aligned address (non-vector path).
static fd_status run(fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t n, int64_t k,
                     const float *a, const float *w, float *out, int skew) {
    void *ah = ffn_to_dt(dt, a, m * k), *wh = ffn_to_dt(dt, w, n * k);
    size_t esz = fd_dtype_size(dt);
    fd_tbuf ta = FD_TBUF(ctx, dt, NULL, m * k + 1), tw = FD_TBUF(ctx, dt, wh, n, k);
    fd_tbuf tc = FD_TBUF(ctx, dt, NULL, m, n);
    fd_tensor av = fd_tensor_2d((char *)ta.t.data + skew * esz, dt, m, k);
    fd_status s = fd_ctx_upload(ctx, av.data, ah, (size_t)(m * k) * esz);
    if (s == FD_OK) s = fd_ctx_memset(ctx, tc.t.data, 0x7f, fd_tensor_bytes(&tc.t));
    if (s == FD_OK) s = fd_matmul(ctx, &av, &tw.t, &tc.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) {
        const void *c = fd_tbuf_fetch(&tc);
        for (int64_t i = 0; i < m * n; i++) out[i] = ffn_get(dt, c, i);
    }
    fd_tbuf_free(&ta); fd_tbuf_free(&tw); fd_tbuf_free(&tc);
    free(ah); free(wh);
    return s;
}

static const fd_dtype DTS[3] = {FD_F32, FD_F16, FD_BF16};

// Small integers: every dtype holds inputs and sums exactly.
static void known_on(fd_ctx *ctx, fd_dtype dt) {
    enum { M = 3, N = 5, K = 20 };
    float a[M * K], w[N * K], c[M * N], want[M * N];
    for (int i = 0; i < M * K; i++) a[i] = (float)((i * 7) % 5 - 2);
    for (int i = 0; i < N * K; i++) w[i] = (float)((i * 3) % 7 - 3);
    ffn_gemm_ref(a, w, want, M, N, K);
    CHECK_OK(run(ctx, dt, M, N, K, a, w, c, 0));
    for (int i = 0; i < M * N; i++) CHECK(c[i] == want[i]);
}

// One shape vs the double-precision product of the dt-rounded inputs.
static void shape_on(fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t n, int64_t k, int skew) {
    float *a = ffn_random(m * 31 + k, m * k, 1.0f), *w = ffn_random(n + 7, n * k, 1.0f);
    float *c = malloc((size_t)(m * n) * 4 + 4), *want = malloc((size_t)(m * n) * 4 + 4);
    ffn_round(dt, a, m * k);
    ffn_round(dt, w, n * k);
    ffn_gemm_ref(a, w, want, m, n, k);
    char what[96];
    snprintf(what, sizeof what, "%s M=%lld N=%lld K=%lld skew=%d", fd_dtype_name(dt),
             (long long)m, (long long)n, (long long)k, skew);
    fd_status s = run(ctx, dt, m, n, k, a, w, c, skew);
    if (s != FD_OK) FD_FAILF("%s: %s", what, fd_last_error());
    else ffn_close(what, c, want, m * n, ffn_rtol(dt));
    free(a); free(w); free(c); free(want);
}

static void cpu_known(void) {
    for (int d = 0; d < 3; d++) known_on(env.cpu, DTS[d]);
}

static void cpu_odd_shapes(void) {
    static const int64_t ms[3] = {1, 3, 17};
    for (int d = 0; d < 3; d++)
        for (int i = 0; i < 3; i++) shape_on(env.cpu, DTS[d], ms[i], 37, 45, 0);
    shape_on(env.cpu, FD_F16, 2, 19, 300, 1);
}

// K = 0 writes zeros; M = 0 or N = 0 is a no-op.
static void cpu_empty_dims(void) {
    float c[6] = {1, 1, 1, 1, 1, 1}, dummy[1] = {0};
    fd_tensor a = fd_tensor_2d(dummy, FD_F32, 2, 0), w = fd_tensor_2d(dummy, FD_F32, 3, 0);
    fd_tensor ct = fd_tensor_2d(c, FD_F32, 2, 3);
    CHECK_OK(fd_matmul(env.cpu, &a, &w, &ct));
    for (int i = 0; i < 6; i++) CHECK(c[i] == 0.0f);
    fd_tensor a0 = fd_tensor_2d(dummy, FD_F32, 0, 4), w0 = fd_tensor_2d(dummy, FD_F32, 3, 4);
    fd_tensor c0 = fd_tensor_2d(c, FD_F32, 0, 3);
    CHECK_OK(fd_matmul(env.cpu, &a0, &w0, &c0));
}

static void bad_shapes(void) {
    float a[12], w[12], c[16];
    memset(a, 0, sizeof a); memset(w, 0, sizeof w);
    fd_tensor ta = fd_tensor_2d(a, FD_F32, 3, 4), tw = fd_tensor_2d(w, FD_F32, 3, 4);
    fd_tensor tc = fd_tensor_2d(c, FD_F32, 3, 3);
    fd_tensor w_k5 = fd_tensor_2d(w, FD_F32, 2, 5), c_bad = fd_tensor_2d(c, FD_F32, 3, 4);
    fd_tensor c_f16 = fd_tensor_2d(c, FD_F16, 3, 3), w_f16 = fd_tensor_2d(w, FD_F16, 3, 4);
    fd_tensor a_i32 = fd_tensor_2d(a, FD_I32, 3, 4), a_1d = fd_tensor_1d(a, FD_F32, 12);
    fd_tensor c_alias = fd_tensor_2d(a, FD_F32, 3, 3);
    CHECK_STATUS(fd_matmul(env.cpu, &ta, &w_k5, &tc), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "matmul");
    CHECK_CONTAINS(fd_last_error(), "w");
    CHECK_STATUS(fd_matmul(env.cpu, &ta, &tw, &c_bad), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "c");
    CHECK_STATUS(fd_matmul(env.cpu, &ta, &tw, &c_f16), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_matmul(env.cpu, &ta, &w_f16, &tc), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_matmul(env.cpu, &a_i32, &tw, &tc), FD_ERR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(fd_matmul(env.cpu, &a_1d, &tw, &tc), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_matmul(env.cpu, NULL, &tw, &tc), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_matmul(env.cpu, &ta, &tw, &c_alias), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "overlaps");
}

// bf16 on an SM70 device (or a [70] build on an H100) is refused with the reason.
static void dtype_gating(void) {
    fd_platform *v100 = ffn_sim_platform(70, 70), *jit = ffn_sim_platform(70, 90);
    fd_platform *h100 = ffn_sim_platform(90, 90);
    int var = 0;
    CHECK(v100 && jit && h100);
    if (!v100 || !jit || !h100) return;
    CHECK_STATUS(fd__op_select(v100, 0, FD_OP_ID_matmul, FD_BF16, &var), FD_ERR_UNSUPPORTED_ARCH);
    CHECK_CONTAINS(fd_last_error(), "matmul");
    CHECK_CONTAINS(fd_last_error(), "SM80");
    CHECK_STATUS(fd__op_select(jit, 0, FD_OP_ID_matmul, FD_BF16, &var), FD_ERR_UNSUPPORTED_ARCH);
    CHECK_STATUS(fd__op_select(v100, 0, FD_OP_ID_matmul, FD_F32, &var), FD_ERR_UNSUPPORTED_DTYPE);
    const fd__op_variant *v80 = fd__op_variant_at(FD_VAR_matmul_sm80);
    const fd__op_variant *v70 = fd__op_variant_at(FD_VAR_matmul_sm70);
    CHECK_EQ_I64(v70->min_sm, 70);
    CHECK_EQ_I64(v80->min_sm, 80);
    if (v80->built) {  // a build with SM80+ kernels: H100 takes bf16 and f16 through sm80
        CHECK_OK(fd__op_select(h100, 0, FD_OP_ID_matmul, FD_BF16, &var));
        CHECK_EQ_I64(var, FD_VAR_matmul_sm80);
    } else {
        CHECK_STATUS(fd__op_select(h100, 0, FD_OP_ID_matmul, FD_BF16, &var),
                     FD_ERR_UNSUPPORTED_ARCH);
    }
    if (v70->built) {
        CHECK_OK(fd__op_select(jit, 0, FD_OP_ID_matmul, FD_F16, &var));
        CHECK_EQ_I64(var, FD_VAR_matmul_sm70);
    }
    fd_platform_free(v100); fd_platform_free(jit); fd_platform_free(h100);
}

// The op table and fd_op_available agree for this device.
static void table_agrees(void) {
    CHECK(fd_op_find("matmul") >= 0);
    CHECK(fd_op_available(env.platform, "matmul", FD_CPU_DEVICE, NULL, 0));
    if (!env.gpu) return;
    int var = 0, sm = fd_ctx_effective_sm(env.gpu);
    int ok = fd_op_available(env.platform, "matmul", fd_ctx_device(env.gpu), NULL, 0);
    int sel = fd__op_select(env.platform, fd_ctx_device(env.gpu), FD_OP_ID_matmul, FD_F16, &var) == FD_OK;
    CHECK_EQ_I64(ok, sel);
    if (sel) CHECK_EQ_I64(var, sm >= 80 && fd__op_variant_at(FD_VAR_matmul_sm80)->built
                                   ? FD_VAR_matmul_sm80 : FD_VAR_matmul_sm70);
}

// GPU dtypes: f16 always, bf16 when the kernels run as SM80+ (else the error).
static int gpu_dtypes(fd_ctx *g, fd_dtype *out) {
    int n = 0;
    out[n++] = FD_F16;
    if (fd_ctx_effective_sm(g) >= 80) {
        out[n++] = FD_BF16;
    } else {
        float a[16] = {0}, c[4];
        CHECK_STATUS(run(g, FD_BF16, 2, 2, 4, a, a, c, 0), FD_ERR_UNSUPPORTED_ARCH);
        CHECK_CONTAINS(fd_last_error(), "SM80");
    }
    return n;
}

static void gpu_known(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "matmul");
    fd_dtype dts[2];
    if (!g) return;
    for (int d = 0, n = gpu_dtypes(g, dts); d < n; d++) known_on(g, dts[d]);
}

// GEMV (M <= 8) and the three tile sizes, vector and guarded paths.
static void gpu_odd_shapes(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "matmul");
    fd_dtype dts[2];
    if (!g) return;
    static const int64_t ms[6] = {1, 3, 8, 17, 40, 530};
    for (int d = 0, nd = gpu_dtypes(g, dts); d < nd; d++)
        for (int i = 0; i < 6; i++) {
            shape_on(g, dts[d], ms[i], 37, 45, 0);     // K % 8 != 0: guarded loads
            shape_on(g, dts[d], ms[i], 130, 136, 0);   // vector loads, N not % 16
            shape_on(g, dts[d], ms[i], 33, 64, 1);     // unaligned A: guarded loads
        }
}

// Decode- and prefill-sized K = 4096 sums (f16 ~1e-2, bf16 ~2e-2 relative).
static void gpu_k4096(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "matmul");
    fd_dtype dts[2];
    if (!g) return;
    for (int d = 0, nd = gpu_dtypes(g, dts); d < nd; d++) {
        shape_on(g, dts[d], 1, 200, 4096, 0);
        shape_on(g, dts[d], 17, 200, 4096, 0);
        shape_on(g, dts[d], 600, 72, 4096, 0);
        shape_on(g, dts[d], 5, 40, 4093, 0);
    }
}

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_known), FD_CASE(cpu_odd_shapes),
             FD_CASE(cpu_empty_dims), FD_CASE(bad_shapes), FD_CASE(dtype_gating),
             FD_CASE(table_agrees), FD_CASE(gpu_known), FD_CASE(gpu_odd_shapes),
             FD_CASE(gpu_k4096), FD_CASE(teardown))
