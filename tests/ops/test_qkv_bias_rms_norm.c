// SPDX-License-Identifier: Apache-2.0
// qkv_bias_rms_norm on the C reference and on the GPU: a hand-computed row; bias
// only / q_norm only / k_norm only / all three, GQA and MQA, head_dim 64/128/256,
// every float dtype, against the same math in double, with the heads that get no
// work left bit-exact; in place on a view (rows around it untouched); bad input
// (nothing written); GPU vs the C reference on random data; the op table.
// Tolerances vs double: |d| <= tol * (|want| + 1e-3), tol = f32 1e-5, f16 2e-3,
// bf16 1.6e-2 (one rounding to the dtype plus f32 math); GPU vs reference the same
// (the f32 sums of squares add in another order).
#include "fd_test.h"
#include "ops/layers_launch.h"

static fd_test_env env;
static const fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
enum { BIAS = 1, QN = 2, KN = 4 };  // which inputs a case passes

typedef struct shape {
    int64_t t;
    int nq, nkv, hd;
} shape;

static int64_t width(const shape *s) { return (int64_t)(s->nq + 2 * s->nkv) * s->hd; }
static double tol_of(fd_dtype dt) { return dt == FD_F32 ? 1e-5 : dt == FD_F16 ? 2e-3 : 1.6e-2; }

static float round_dt(fd_dtype dt, float v) {
    uint32_t h;
    fd__set_f(dt, &h, 0, v);
    return fd__get_f(dt, &h, 0);
}

// Runs the op in place on x (host floats of s->t rows, rounded to dt here), as a
// view of rows [1, t+1) of a buffer with one guard row each side; the guards must
// come back untouched. w = bias | q_norm | k_norm, used as `mask` says.
static fd_status run(fd_ctx *ctx, fd_dtype dt, const shape *s, float *x, const float *w, int mask,
                     float eps) {
    int64_t wd = width(s), n = s->t * wd;
    size_t esz = fd_dtype_size(dt);
    char *h = malloc((size_t)(n + 2 * wd) * esz);
    for (int64_t i = 0; i < n + 2 * wd; i++)
        fd__set_f(dt, h, i, i < wd || i >= n + wd ? 9.0f : x[i - wd]);
    fd_tbuf tx = FD_TBUF(ctx, dt, h, s->t + 2, wd);
    fd_tbuf tb = FD_TBUF(ctx, FD_F32, w, wd), tq = FD_TBUF(ctx, FD_F32, w + wd, s->hd);
    fd_tbuf tk = FD_TBUF(ctx, FD_F32, w + wd + s->hd, s->hd);
    fd_tensor view = fd_tensor_2d((char *)tx.t.data + wd * esz, dt, s->t, wd);
    fd_status st = fd_qkv_bias_rms_norm(ctx, &view, s->nq, s->nkv, s->hd,
                                        mask & BIAS ? &tb.t : NULL, mask & QN ? &tq.t : NULL,
                                        mask & KN ? &tk.t : NULL, eps);
    if (st == FD_OK) st = fd_ctx_sync(ctx);
    if (st == FD_OK) {
        const char *o = fd_tbuf_fetch(&tx);
        for (int64_t i = 0; i < wd; i++)
            if (fd__get_f(dt, o, i) != 9.0f || fd__get_f(dt, o, n + wd + i) != 9.0f) {
                FD_FAILF("a guard row around the qkv view was written (column %lld)", (long long)i);
                break;
            }
        for (int64_t i = 0; i < n; i++) x[i] = fd__get_f(dt, o + wd * esz, i);
    }
    free(h);
    fd_tbuf_free(&tx); fd_tbuf_free(&tb); fd_tbuf_free(&tq); fd_tbuf_free(&tk);
    return st;
}

// The expected rows in double from x (already in dt): bias, then per-head norm.
static void want_double(const shape *s, const float *x, const float *w, int mask, double eps,
                        float *want) {
    int64_t wd = width(s);
    for (int64_t t = 0; t < s->t; t++)
        for (int h = 0; h < s->nq + 2 * s->nkv; h++) {
            int64_t i0 = t * wd + (int64_t)h * s->hd;
            int norm = h < s->nq ? mask & QN : h < s->nq + s->nkv ? mask & KN : 0;
            const float *g = w + wd + (h < s->nq ? 0 : s->hd);
            double v[256], ss = 0;
            for (int j = 0; j < s->hd; j++) {
                v[j] = x[i0 + j] + (mask & BIAS ? (double)w[h * s->hd + j] : 0.0);
                ss += v[j] * v[j];
            }
            double inv = 1.0 / sqrt(ss / s->hd + eps);
            for (int j = 0; j < s->hd; j++) want[i0 + j] = (float)(norm ? v[j] * inv * g[j] : v[j]);
        }
}

// 1 if head h gets neither a bias nor a norm under `mask`.
static int idle_head(const shape *s, int mask, int h) {
    if (mask & BIAS) return 0;
    return !(h < s->nq ? mask & QN : h < s->nq + s->nkv ? mask & KN : 0);
}

// Runs one case on ctx and checks it against double; heads with neither bias nor
// norm must come back bit-exact.
static void check_case(fd_ctx *ctx, fd_dtype dt, const shape *s, int mask, uint64_t seed) {
    int64_t wd = width(s), n = s->t * wd;
    float *x = malloc((size_t)n * 4), *x0 = malloc((size_t)n * 4), *want = malloc((size_t)n * 4);
    float *w = malloc((size_t)(wd + 2 * s->hd) * 4);
    uint64_t rng = seed;
    for (int64_t i = 0; i < n; i++) x[i] = x0[i] = round_dt(dt, 3 * fd_test_randf(&rng));
    for (int64_t i = 0; i < wd; i++) w[i] = fd_test_randf(&rng);                // bias
    for (int64_t i = wd; i < wd + 2 * s->hd; i++) w[i] = 1 + 0.5f * fd_test_randf(&rng);
    want_double(s, x0, w, mask, 1e-6, want);
    char what[96];
    snprintf(what, sizeof what, "%s T=%lld q%d kv%d hd%d%s%s%s", fd_dtype_name(dt),
             (long long)s->t, s->nq, s->nkv, s->hd, mask & BIAS ? " bias" : "",
             mask & QN ? " q_norm" : "", mask & KN ? " k_norm" : "");
    if (run(ctx, dt, s, x, w, mask, 1e-6f) != FD_OK) {
        FD_FAILF("%s: %s", what, fd_last_error());
    } else {
        for (int64_t i = 0; i < n; i++) {
            int h = (int)(i % wd / s->hd), idle = idle_head(s, mask, h);
            double bound = tol_of(dt) * (fabs(want[i]) + 1e-3);
            if (idle ? x[i] != x0[i] : !(fabs(x[i] - want[i]) <= bound)) {
                FD_FAILF("%s: element %lld (head %d): got %.9g, want %.9g%s", what, (long long)i, h,
                         x[i], idle ? x0[i] : want[i], idle ? " (untouched head)" : "");
                break;
            }
        }
    }
    free(x); free(x0); free(want); free(w);
}

// One q, one kv head, head_dim 4, eps 0: q = (1, 2, 2, 4) has rms 2.5; k = (0.5, 1,
// 3, 3) + bias (0.5, 1, -1, 1) is (1, 2, 2, 4) too; v = (1, 2, 3, 4) + 0.5.
static void hand_on(fd_ctx *ctx) {
    static const shape s = {1, 1, 1, 4};
    const float x[12] = {1, 2, 2, 4, 0.5f, 1, 3, 3, 1, 2, 3, 4};
    const float w[20] = {0, 0, 0, 0, 0.5f, 1, -1, 1, 0.5f, 0.5f, 0.5f, 0.5f,  // bias
                         1, 1, 2, 0.5f,                                         // q_norm
                         1, 1, 2, 0.5f};                                        // k_norm
    const float all[12] = {0.4f, 0.8f, 1.6f, 0.8f, 0.4f, 0.8f, 1.6f, 0.8f, 1.5f, 2.5f, 3.5f, 4.5f};
    const float bias_only[12] = {1, 2, 2, 4, 1, 2, 2, 4, 1.5f, 2.5f, 3.5f, 4.5f};
    const float q_only[12] = {0.4f, 0.8f, 1.6f, 0.8f, 0.5f, 1, 3, 3, 1, 2, 3, 4};
    for (int d = 0; d < 3; d++) {
        float y[12];
        memcpy(y, x, sizeof y);
        CHECK_OK(run(ctx, dts[d], &s, y, w, BIAS | QN | KN, 0.0f));
        for (int i = 0; i < 12; i++) CHECK_NEAR(y[i], all[i], tol_of(dts[d]) * all[i]);
        memcpy(y, x, sizeof y);
        CHECK_OK(run(ctx, dts[d], &s, y, w, BIAS, 0.0f));
        for (int i = 0; i < 12; i++) CHECK(y[i] == bias_only[i]);  // exact in every dtype
        memcpy(y, x, sizeof y);
        CHECK_OK(run(ctx, dts[d], &s, y, w, QN, 0.0f));
        for (int i = 0; i < 12; i++) CHECK_NEAR(y[i], q_only[i], tol_of(dts[d]) * q_only[i]);
        for (int i = 4; i < 12; i++) CHECK(y[i] == x[i]);
    }
}

// Every mode on Qwen-like head layouts: GQA 4:2 at head_dim 64, Qwen3's 16:8 at
// 128, MQA 8:1 at 256, and a head_dim (80) that leaves lanes idle.
static void modes_on(fd_ctx *ctx) {
    static const shape shapes[4] = {{5, 4, 2, 64}, {3, 16, 8, 128}, {2, 8, 1, 256}, {3, 2, 1, 80}};
    static const int masks[4] = {BIAS, QN, KN, BIAS | QN | KN};
    for (int d = 0; d < 3; d++)
        for (int s = 0; s < 4; s++)
            for (int m = 0; m < 4; m++)
                check_case(ctx, dts[d], &shapes[s], masks[m], 7 + s * 4 + m);
    check_case(ctx, FD_F16, &shapes[1], QN | KN, 99);  // Qwen3: norms without a bias
}

static void cpu_hand(void) { hand_on(env.cpu); }
static void cpu_modes(void) { modes_on(env.cpu); }

static void empty(void) {
    static const shape s = {0, 2, 1, 4};
    float w[24] = {0};
    CHECK_OK(run(env.cpu, FD_F32, &s, NULL, w, BIAS | QN, 1e-6f));
}

// A call on the CPU that must fail with `want`.
#define BAD(want, ...) CHECK_STATUS(fd_qkv_bias_rms_norm(env.cpu, __VA_ARGS__), want)
#define INVAL FD_ERR_INVALID_ARG

// Every rejected call leaves qkv as it was.
static void bad_input(void) {
    enum { WD = (2 + 2 * 1) * 4 };  // 2 q heads, 1 kv head, head_dim 4
    static float q[2 * WD], q0[2 * WD], b[WD], n4[4], big[2 * 257 * 4];
    for (int i = 0; i < 2 * WD; i++) q[i] = q0[i] = (float)i;
    for (int i = 0; i < 4; i++) n4[i] = 1;
    fd_tensor tq = fd_tensor_2d(q, FD_F32, 2, WD), tb = fd_tensor_1d(b, FD_F32, WD);
    fd_tensor tn = fd_tensor_1d(n4, FD_F32, 4), tn3 = fd_tensor_1d(n4, FD_F32, 3);
    fd_tensor tn16 = fd_tensor_1d(n4, FD_F16, 4), tb_short = fd_tensor_1d(b, FD_F32, WD - 1);
    fd_tensor tq1 = fd_tensor_1d(q, FD_F32, 2 * WD), tq_w = fd_tensor_2d(q, FD_F32, 2, WD - 4);
    fd_tensor tqi = fd_tensor_2d(q, FD_I32, 2, WD), tq3 = fd_tensor_3d(q, FD_F32, 2, 4, 4);
    fd_tensor tb_in_q = fd_tensor_1d(q + 2, FD_F32, WD);
    fd_tensor tbig = fd_tensor_2d(big, FD_F32, 2, 257 * 4), tn257 = fd_tensor_1d(big, FD_F32, 257);
    BAD(INVAL, &tq, 2, 1, 4, NULL, NULL, NULL, 1e-6f);
    CHECK_CONTAINS(fd_last_error(), "at least one");
    BAD(INVAL, NULL, 2, 1, 4, &tb, NULL, NULL, 1e-6f);
    BAD(INVAL, &tq, 0, 1, 4, &tb, NULL, NULL, 1e-6f);
    BAD(INVAL, &tq, 2, -1, 4, &tb, NULL, NULL, 1e-6f);
    BAD(INVAL, &tq, 2, 1, 0, &tb, NULL, NULL, 1e-6f);
    BAD(INVAL, &tbig, 1, 0, 257, NULL, &tn257, NULL, 1e-6f);
    BAD(INVAL, &tbig, 1, 1, 257, NULL, &tn257, NULL, 1e-6f);
    CHECK_CONTAINS(fd_last_error(), "head_dim");
    BAD(INVAL, &tq_w, 2, 1, 4, NULL, &tn, NULL, 1e-6f);
    CHECK_CONTAINS(fd_last_error(), "(2 + 2*1) * 4 = 16");
    BAD(INVAL, &tq1, 2, 1, 4, NULL, &tn, NULL, 1e-6f);
    BAD(INVAL, &tq3, 2, 1, 4, NULL, &tn, NULL, 1e-6f);
    BAD(FD_ERR_UNSUPPORTED_DTYPE, &tqi, 2, 1, 4, NULL, &tn, NULL, 1e-6f);
    BAD(INVAL, &tq, 2, 1, 4, &tb_short, NULL, NULL, 1e-6f);
    BAD(INVAL, &tq, 2, 1, 4, NULL, &tn3, NULL, 1e-6f);
    BAD(INVAL, &tq, 2, 1, 4, NULL, NULL, &tn16, 1e-6f);
    BAD(INVAL, &tq, 2, 1, 4, &tb, &tn, &tn3, 1e-6f);
    BAD(INVAL, &tq, 2, 1, 4, NULL, &tn, NULL, -1.0f);
    CHECK_CONTAINS(fd_last_error(), "eps");
    BAD(INVAL, &tq, 2, 1, 4, NULL, &tn, NULL, NAN);
    BAD(INVAL, &tq, 2, 1, 4, NULL, &tn, NULL, INFINITY);
    BAD(INVAL, &tq, 2, 1, 4, &tb_in_q, NULL, NULL, 1e-6f);
    CHECK_CONTAINS(fd_last_error(), "overlaps");
    CHECK(memcmp(q, q0, sizeof q) == 0);
    CHECK_OK(fd_qkv_bias_rms_norm(env.cpu, &tq, 2, 1, 4, &tb, NULL, NULL, 1e-6f));  // b = 0
    CHECK(memcmp(q, q0, sizeof q) == 0);
}

static void table_agrees(void) {
    CHECK(fd_op_available(env.platform, "qkv_bias_rms_norm", FD_CPU_DEVICE, NULL, 0));
    const fd__op_variant *v = fd__op_variant_at(FD_VAR_qkv_bias_rms_norm);
    CHECK_EQ_I64(v->min_sm, 70);
    if (!env.gpu) return;
    int var = 0;
    int ok = fd_op_available(env.platform, "qkv_bias_rms_norm", fd_ctx_device(env.gpu), NULL, 0);
    int sel = fd__op_select(env.platform, fd_ctx_device(env.gpu), FD_OP_ID_qkv_bias_rms_norm,
                            FD_BF16, &var) == FD_OK;  // bf16 too: Volta converts through float
    CHECK_EQ_I64(ok, sel);
    CHECK_EQ_I64(ok, v->built);
}

static void gpu_hand(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "qkv_bias_rms_norm");
    if (g) hand_on(g);
}

static void gpu_modes(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "qkv_bias_rms_norm");
    if (g) modes_on(g);
}

// GPU vs the C reference on random data: Qwen2-7B's layout (28 q, 4 kv heads x
// 128, bias) and Qwen3's (32 q, 8 kv heads x 128, q/k norms) at prefill size.
static void gpu_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "qkv_bias_rms_norm");
    if (!g) return;
    static const shape shapes[2] = {{37, 28, 4, 128}, {37, 32, 8, 128}};
    static const int masks[2] = {BIAS, QN | KN};
    for (int d = 0; d < 3; d++)
        for (int s = 0; s < 2; s++) {
            int64_t wd = width(&shapes[s]), n = shapes[s].t * wd;
            float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
            float *w = malloc((size_t)(wd + 2 * 128) * 4);
            uint64_t rng = 21 + s;
            for (int64_t i = 0; i < n; i++) x[i] = y[i] = 4 * fd_test_randf(&rng);
            for (int64_t i = 0; i < wd + 2 * 128; i++) w[i] = 1 + fd_test_randf(&rng);
            CHECK_OK(run(env.cpu, dts[d], &shapes[s], x, w, masks[s], 1e-6f));
            CHECK_OK(run(g, dts[d], &shapes[s], y, w, masks[s], 1e-6f));
            for (int64_t i = 0; i < n; i++)
                if (!(fabs(y[i] - x[i]) <= tol_of(dts[d]) * (fabs(x[i]) + 1e-3))) {
                    FD_FAILF("%s layout %d: element %lld: GPU %.9g, C %.9g", fd_dtype_name(dts[d]),
                             s, (long long)i, y[i], x[i]);
                    break;
                }
            free(x); free(y); free(w);
        }
}

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_hand), FD_CASE(cpu_modes), FD_CASE(empty),
             FD_CASE(bad_input), FD_CASE(table_agrees), FD_CASE(gpu_hand), FD_CASE(gpu_modes),
             FD_CASE(gpu_vs_reference), FD_CASE(teardown))
