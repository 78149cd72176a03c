// SPDX-License-Identifier: Apache-2.0
// add (out = a + b) on the C reference and on the GPU: exact small values in every
// float dtype, in place (out = a), odd lengths and unaligned views vs the
// reference (bit-exact: one rounding of the same f32 sum), bad input, the op table.
#include "fd_test.h"
#include "ops/model_launch.h"

static fd_test_env env;

// out = a + b on ctx (n elements of dt), views `skew` elements past the buffers' start.
static fd_status run(fd_ctx *ctx, fd_dtype dt, int64_t n, const float *a, const float *b,
                     float *out, int skew, int inplace) {
    size_t esz = fd_dtype_size(dt);
    char *h = malloc((size_t)(2 * n + 2) * esz);
    for (int64_t i = 0; i < n; i++) {
        fd__set_f(dt, h, i, a[i]);
        fd__set_f(dt, h + n * esz, i, b[i]);
    }
    fd_tbuf ta = FD_TBUF(ctx, dt, NULL, n + 1), tb = FD_TBUF(ctx, dt, NULL, n + 1);
    fd_tbuf to = FD_TBUF(ctx, dt, NULL, n + 1);
    fd_tensor va = fd_tensor_1d((char *)ta.t.data + skew * esz, dt, n);
    fd_tensor vb = fd_tensor_1d((char *)tb.t.data + skew * esz, dt, n);
    fd_tensor vo = fd_tensor_1d((char *)to.t.data + skew * esz, dt, n);
    fd_status s = fd_ctx_upload(ctx, va.data, h, n * esz);
    if (s == FD_OK) s = fd_ctx_upload(ctx, vb.data, h + n * esz, n * esz);
    if (s == FD_OK) s = fd_add(ctx, &va, &vb, inplace ? &va : &vo);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd_ctx_download(ctx, h, inplace ? va.data : vo.data, n * esz);
    if (s == FD_OK)
        for (int64_t i = 0; i < n; i++) out[i] = fd__get_f(dt, h, i);
    free(h);
    fd_tbuf_free(&ta); fd_tbuf_free(&tb); fd_tbuf_free(&to);
    return s;
}

static void known_on(fd_ctx *ctx) {
    float a[5] = {1, -2, 0.5f, 100, 0}, b[5] = {2, 2, 0.25f, -1, -0.0f}, o[5];
    fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    for (int d = 0; d < 3; d++)
        for (int inplace = 0; inplace < 2; inplace++) {
            CHECK_OK(run(ctx, dts[d], 5, a, b, o, 0, inplace));
            for (int i = 0; i < 5; i++) CHECK(o[i] == a[i] + b[i]);
        }
}

static void bad_input(void) {
    static float a[6], b[6], o[6];
    fd_ctx *c = env.cpu;
    fd_tensor ta = fd_tensor_2d(a, FD_F32, 2, 3), tb = fd_tensor_2d(b, FD_F32, 2, 3);
    fd_tensor to = fd_tensor_2d(o, FD_F32, 2, 3), t32 = fd_tensor_2d(b, FD_F32, 3, 2);
    fd_tensor t16 = fd_tensor_2d(b, FD_F16, 2, 3), ti = fd_tensor_2d(a, FD_I32, 2, 3);
    fd_tensor tshift = fd_tensor_2d(a + 1, FD_F32, 2, 3);
    CHECK_OK(fd_add(c, &ta, &tb, &to));
    CHECK_STATUS(fd_add(c, &ta, &t32, &to), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "same shape");
    CHECK_STATUS(fd_add(c, &ta, &t16, &to), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_add(c, &ti, &ti, &ti), FD_ERR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(fd_add(c, &ta, &tb, &tshift), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_add(c, NULL, &tb, &to), FD_ERR_INVALID_ARG);
}

static void table_agrees(void) {
    CHECK(fd_op_available(env.platform, "add", FD_CPU_DEVICE, NULL, 0));
    const fd__op_variant *v = fd__op_variant_at(FD_VAR_add);
    CHECK_EQ_I64(v->min_sm, 70);
    if (!env.gpu) return;
    int var = 0, ok = fd_op_available(env.platform, "add", fd_ctx_device(env.gpu), NULL, 0);
    int sel = fd__op_select(env.platform, fd_ctx_device(env.gpu), FD_OP_ID_add, FD_BF16, &var) == FD_OK;
    CHECK_EQ_I64(ok, sel);
    CHECK_EQ_I64(ok, v->built);
}

static void cpu_known(void) { known_on(env.cpu); }
static void gpu_known(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "add");
    if (g) known_on(g);
}

static void gpu_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "add");
    if (!g) return;
    enum { N = 100003 };
    static float a[N], b[N], o[N], o2[N];
    uint64_t rng = 8;
    for (int i = 0; i < N; i++) {
        a[i] = 10 * fd_test_randf(&rng);
        b[i] = 10 * fd_test_randf(&rng);
    }
    fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    for (int d = 0; d < 3; d++)
        for (int skew = 0; skew < 2; skew++) {
            CHECK_OK(run(env.cpu, dts[d], N, a, b, o, 0, 0));
            CHECK_OK(run(g, dts[d], N, a, b, o2, skew, 0));
            CHECK(memcmp(o, o2, sizeof o) == 0);
        }
}

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_known), FD_CASE(bad_input), FD_CASE(table_agrees),
             FD_CASE(gpu_known), FD_CASE(gpu_vs_reference), FD_CASE(teardown))
