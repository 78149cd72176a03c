// SPDX-License-Identifier: Apache-2.0
// scale (out = a * s) on the C reference and on the GPU: products worked out in
// double in every float dtype, Gemma's sqrt(n_embd), in place (out = a), empty
// input, bad input (nothing written), odd lengths and unaligned views vs the
// reference (bit-exact: one rounding of the same f32 product), the op table.
#include "fd_test.h"
#include "ops/model_launch.h"

static fd_test_env env;
static const fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};

// v rounded to what dtype dt holds.
static float round_dt(fd_dtype dt, double v) {
    uint32_t h;
    fd__set_f(dt, &h, 0, (float)v);
    return fd__get_f(dt, &h, 0);
}

// out = a * s on ctx (n elements of dt), views `skew` elements past the buffers' start;
// inplace passes out = a.
static fd_status run(fd_ctx *ctx, fd_dtype dt, int64_t n, const float *a, float s, float *out,
                     int skew, int inplace) {
    size_t esz = fd_dtype_size(dt);
    char *h = malloc((size_t)(n + 1) * esz);
    for (int64_t i = 0; i < n; i++) fd__set_f(dt, h, i, a[i]);
    fd_tbuf ta = FD_TBUF(ctx, dt, NULL, n + 1), to = FD_TBUF(ctx, dt, NULL, n + 1);
    fd_tensor va = fd_tensor_1d((char *)ta.t.data + skew * esz, dt, n);
    fd_tensor vo = fd_tensor_1d((char *)to.t.data + skew * esz, dt, n);
    fd_status st = fd_ctx_upload(ctx, va.data, h, n * esz);
    if (st == FD_OK) st = fd_scale(ctx, &va, s, inplace ? &va : &vo);
    if (st == FD_OK) st = fd_ctx_sync(ctx);
    if (st == FD_OK) st = fd_ctx_download(ctx, h, inplace ? va.data : vo.data, n * esz);
    if (st == FD_OK)
        for (int64_t i = 0; i < n; i++) out[i] = fd__get_f(dt, h, i);
    free(h);
    fd_tbuf_free(&ta); fd_tbuf_free(&to);
    return st;
}

// Small values whose products are exact, times 0.5 / -3 / 1, then Gemma's scale
// sqrt(2048) (want = the double product rounded to the dtype).
static void known_on(fd_ctx *ctx) {
    float a[7] = {1, -2, 0.5f, 100, 0, -0.0f, 3}, o[7];
    const float ss[3] = {0.5f, -3.0f, 1.0f};
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 3; k++)
            for (int inplace = 0; inplace < 2; inplace++) {
                CHECK_OK(run(ctx, dts[d], 7, a, ss[k], o, 0, inplace));
                for (int i = 0; i < 7; i++) CHECK(o[i] == round_dt(dts[d], (double)a[i] * ss[k]));
            }
    CHECK(signbit(o[5]) && !signbit(o[4]));  // -0 * 1 stays -0
    const float g = 45.254834f;  // sqrt(2048), float
    float x[5] = {0.01f, -0.123f, 1.5f, -2.75f, 0.3f}, out[5];
    for (int d = 0; d < 3; d++) {
        float xr[5];
        for (int i = 0; i < 5; i++) xr[i] = round_dt(dts[d], x[i]);
        CHECK_OK(run(ctx, dts[d], 5, xr, g, out, 0, 0));
        for (int i = 0; i < 5; i++) {
            double want = (double)xr[i] * g;
            CHECK_NEAR(out[i], want, (d == 0 ? 1e-7 : d == 1 ? 1e-3 : 8e-3) * fabs(want));
        }
    }
}

static void empty(void) {
    float x[1] = {5}, o[1] = {7};
    fd_tensor t0 = fd_tensor_1d(x, FD_F32, 0), o0 = fd_tensor_1d(o, FD_F32, 0);
    CHECK_OK(fd_scale(env.cpu, &t0, 2.0f, &o0));
    CHECK(x[0] == 5 && o[0] == 7);
}

// Every rejected call leaves out as it was.
static void bad_input(void) {
    static float a[6] = {1, 2, 3, 4, 5, 6}, o[6];
    for (int i = 0; i < 6; i++) o[i] = 7;
    fd_ctx *c = env.cpu;
    fd_tensor ta = fd_tensor_2d(a, FD_F32, 2, 3), to = fd_tensor_2d(o, FD_F32, 2, 3);
    fd_tensor t32 = fd_tensor_2d(o, FD_F32, 3, 2), t16 = fd_tensor_2d(o, FD_F16, 2, 3);
    fd_tensor ti = fd_tensor_2d(a, FD_I32, 2, 3), t1 = fd_tensor_1d(o, FD_F32, 6);
    fd_tensor tshift = fd_tensor_2d(a + 1, FD_F32, 2, 3);
    CHECK_STATUS(fd_scale(c, &ta, 2.0f, &t32), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "same shape");
    CHECK_STATUS(fd_scale(c, &ta, 2.0f, &t1), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_scale(c, &ta, 2.0f, &t16), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_scale(c, &ti, 2.0f, &ti), FD_ERR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(fd_scale(c, NULL, 2.0f, &to), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_scale(c, &ta, 2.0f, NULL), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_scale(c, &ta, NAN, &to), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "finite");
    CHECK_STATUS(fd_scale(c, &ta, INFINITY, &to), FD_ERR_INVALID_ARG);
    for (int i = 0; i < 6; i++) CHECK(o[i] == 7);
    CHECK_STATUS(fd_scale(c, &ta, 2.0f, &tshift), FD_ERR_INVALID_ARG);  // partial overlap
    CHECK_CONTAINS(fd_last_error(), "overlaps");
    for (int i = 0; i < 6; i++) CHECK(a[i] == (float)(i + 1));
    CHECK_OK(fd_scale(c, &ta, 2.0f, &to));
    for (int i = 0; i < 6; i++) CHECK(o[i] == 2.0f * (float)(i + 1));
}

static void table_agrees(void) {
    CHECK(fd_op_available(env.platform, "scale", FD_CPU_DEVICE, NULL, 0));
    const fd__op_variant *v = fd__op_variant_at(FD_VAR_scale);
    CHECK_EQ_I64(v->min_sm, 70);
    if (!env.gpu) return;
    int var = 0, ok = fd_op_available(env.platform, "scale", fd_ctx_device(env.gpu), NULL, 0);
    int sel = fd__op_select(env.platform, fd_ctx_device(env.gpu), FD_OP_ID_scale, FD_BF16,
                            &var) == FD_OK;  // bf16 too: Volta converts through float
    CHECK_EQ_I64(ok, sel);
    CHECK_EQ_I64(ok, v->built);
}

static void cpu_known(void) { known_on(env.cpu); }
static void gpu_known(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "scale");
    if (g) known_on(g);
}

// GPU vs the reference, bit-exact: odd length (vector body + tail), aligned and
// unaligned views (the scalar path), out separate and in place.
static void gpu_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "scale");
    if (!g) return;
    enum { N = 100003 };
    static float a[N], o[N], o2[N];
    uint64_t rng = 12;
    for (int i = 0; i < N; i++) a[i] = 10 * fd_test_randf(&rng);
    for (int d = 0; d < 3; d++)
        for (int skew = 0; skew < 2; skew++)
            for (int inplace = 0; inplace < 2; inplace++) {
                CHECK_OK(run(env.cpu, dts[d], N, a, 45.254834f, o, 0, 0));
                CHECK_OK(run(g, dts[d], N, a, 45.254834f, o2, skew, inplace));
                if (memcmp(o, o2, sizeof o) != 0)
                    FD_FAILF("%s skew %d inplace %d: GPU differs from the C reference",
                             fd_dtype_name(dts[d]), skew, inplace);
            }
}

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_known), FD_CASE(empty), FD_CASE(bad_input),
             FD_CASE(table_agrees), FD_CASE(gpu_known), FD_CASE(gpu_vs_reference),
             FD_CASE(teardown))
