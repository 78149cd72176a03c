// SPDX-License-Identifier: Apache-2.0
// The FFN layer (FastDeploy's test_ffn.py as a numeric test): y = down(silu(x Wg)
// * (x Wu)) vs a double-precision layer, scratch given or allocated, int8
// weights, bad input, dtype choice per SM, H = 4096 / I = 2048 on the GPU.
// FD_BENCH=1 adds the matmul benchmark sweep (M 1, 16, 256, 4096; H 4096, I 2048).
#include "ffn_test_util.h"

static fd_test_env env;

typedef struct layer {
    int64_t h, inter;
    float *gu, *dn;        // [2I, H], [H, I]
} layer;

static layer layer_make(int64_t h, int64_t inter) {
    layer l = {h, inter, ffn_random(h + 1, 2 * inter * h, 1.0f / sqrtf((float)h)),
               ffn_random(inter + 2, h * inter, 1.0f / sqrtf((float)inter))};
    return l;
}
static void layer_free(layer *l) { free(l->gu); free(l->dn); }

// Expected y with the op's roundings (gate/up and activation stored in dt).
static void expected(fd_dtype dt, const layer *l, const float *x, int64_t m, float *y) {
    int64_t h = l->h, in = l->inter;
    float *gu = malloc((size_t)(m * 2 * in) * 4), *act = malloc((size_t)(m * in) * 4);
    ffn_gemm_ref(x, l->gu, gu, m, 2 * in, h);
    ffn_round(dt, gu, m * 2 * in);
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < in; j++) {
            double g = gu[r * 2 * in + j];
            act[r * in + j] = (float)(g / (1.0 + exp(-g)) * gu[r * 2 * in + in + j]);
        }
    ffn_round(dt, act, m * in);
    ffn_gemm_ref(act, l->dn, y, m, h, in);
    free(gu); free(act);
}

// Runs the layer on ctx (weights rounded to dt, or int8 when q8), scratch or NULL.
static fd_status run(fd_ctx *ctx, fd_dtype dt, const layer *l, const float *x, int64_t m,
                     int with_scratch, int q8, float *y) {
    int64_t h = l->h, in = l->inter;
    void *xh = ffn_to_dt(dt, x, m * h);
    fd_tbuf tx = FD_TBUF(ctx, dt, xh, m, h), ty = FD_TBUF(ctx, dt, NULL, m, h);
    fd_tbuf ts = FD_TBUF(ctx, dt, NULL, fd_ffn_scratch_elems(m, in) + 1);
    fd_tbuf tg, td, tgs, tds;
    memset(&tgs, 0, sizeof tgs);
    memset(&tds, 0, sizeof tds);
    if (q8) {
        int8_t *qg = malloc((size_t)(2 * in * h)), *qd = malloc((size_t)(h * in));
        float *sg = malloc((size_t)(2 * in) * 4), *sd = malloc((size_t)h * 4);
        CHECK_OK(fd_quantize_int8_per_channel(l->gu, 2 * in, h, qg, sg));
        CHECK_OK(fd_quantize_int8_per_channel(l->dn, h, in, qd, sd));
        tg = FD_TBUF(ctx, FD_I8, qg, 2 * in, h);
        td = FD_TBUF(ctx, FD_I8, qd, h, in);
        tgs = FD_TBUF(ctx, FD_F32, sg, 2 * in);
        tds = FD_TBUF(ctx, FD_F32, sd, h);
        free(qg); free(qd); free(sg); free(sd);
    } else {
        void *gh = ffn_to_dt(dt, l->gu, 2 * in * h), *dh = ffn_to_dt(dt, l->dn, h * in);
        tg = FD_TBUF(ctx, dt, gh, 2 * in, h);
        td = FD_TBUF(ctx, dt, dh, h, in);
        free(gh); free(dh);
    }
    fd_ffn_weights w = {&tg.t, q8 ? &tgs.t : NULL, &td.t, q8 ? &tds.t : NULL};
    fd_status s = fd_ffn(ctx, &tx.t, &w, with_scratch ? &ts.t : NULL, &ty.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) {
        const void *o = fd_tbuf_fetch(&ty);
        for (int64_t i = 0; i < m * h; i++) y[i] = ffn_get(dt, o, i);
    }
    fd_tbuf_free(&tx); fd_tbuf_free(&ty); fd_tbuf_free(&ts); fd_tbuf_free(&tg);
    fd_tbuf_free(&td); fd_tbuf_free(&tgs); fd_tbuf_free(&tds);
    free(xh);
    return s;
}

static void layer_case(fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t h, int64_t in,
                       int with_scratch, int q8) {
    layer l = layer_make(h, in);
    float *x = ffn_random(m + 99, m * h, 1.0f), *y = malloc((size_t)(m * h) * 4 + 4);
    float *want = malloc((size_t)(m * h) * 4 + 4);
    ffn_round(dt, x, m * h);
    if (q8) {  // the reference uses the dequantized weights
        int8_t *q = malloc((size_t)(2 * in * h) + 1);
        float *s = malloc((size_t)(2 * in + h) * 4);
        fd_quantize_int8_per_channel(l.gu, 2 * in, h, q, s);
        for (int64_t i = 0; i < 2 * in * h; i++) l.gu[i] = q[i] * s[i / h];
        fd_quantize_int8_per_channel(l.dn, h, in, q, s);
        for (int64_t i = 0; i < h * in; i++) l.dn[i] = q[i] * s[i / in];
        free(q); free(s);
    } else {
        ffn_round(dt, l.gu, 2 * in * h);
        ffn_round(dt, l.dn, h * in);
    }
    expected(dt, &l, x, m, want);
    char what[112];
    snprintf(what, sizeof what, "ffn %s M=%lld H=%lld I=%lld%s%s", fd_dtype_name(dt),
             (long long)m, (long long)h, (long long)in, with_scratch ? "" : " (own scratch)",
             q8 ? " int8" : "");
    if (run(ctx, dt, &l, x, m, with_scratch, q8, y) != FD_OK)
        FD_FAILF("%s: %s", what, fd_last_error());
    else
        ffn_close(what, y, want, m * h, 2 * ffn_rtol(dt));
    free(x); free(y); free(want);
    layer_free(&l);
}

static void cpu_layer(void) {
    static const fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    for (int d = 0; d < 3; d++) {
        layer_case(env.cpu, dts[d], 3, 40, 24, 1, 0);
        layer_case(env.cpu, dts[d], 1, 33, 17, 0, 0);
        layer_case(env.cpu, dts[d], 17, 64, 48, 1, 1);
    }
}

static void pick_dtype(void) {
    fd_dtype dt;
    char msg[256];
    CHECK_OK(fd_ffn_pick_dtype(env.cpu, &dt, msg, sizeof msg));
    CHECK_EQ_I64(dt, FD_F32);
    CHECK_CONTAINS(msg, "f32");
    fd_ffn_dtype_for_sm(70, 70, &dt, msg, sizeof msg);
    CHECK_EQ_I64(dt, FD_F16);
    CHECK_CONTAINS(msg, "SM70");
    fd_ffn_dtype_for_sm(70, 90, &dt, msg, sizeof msg);  // a [70] build on an H100
    CHECK_EQ_I64(dt, FD_F16);
    CHECK_CONTAINS(msg, "./build.sh");
    fd_ffn_dtype_for_sm(90, 90, &dt, msg, sizeof msg);
    CHECK_EQ_I64(dt, FD_BF16);
    CHECK_CONTAINS(msg, "bf16");
    if (env.gpu) {
        CHECK_OK(fd_ffn_pick_dtype(env.gpu, &dt, msg, sizeof msg));
        printf("  %s\n", msg);
    }
}

static void bad_input(void) {
    enum { M = 2, H = 4, I = 3 };
    float x[M * H] = {0}, gu[2 * I * H] = {0}, dn[H * I] = {0}, y[M * H], scr[3 * M * I];
    fd_tensor tx = fd_tensor_2d(x, FD_F32, M, H), tg = fd_tensor_2d(gu, FD_F32, 2 * I, H);
    fd_tensor td = fd_tensor_2d(dn, FD_F32, H, I), ty = fd_tensor_2d(y, FD_F32, M, H);
    fd_tensor ts = fd_tensor_1d(scr, FD_F32, 3 * M * I), small = fd_tensor_1d(scr, FD_F32, 5);
    fd_tensor g_odd = fd_tensor_2d(gu, FD_F32, 2 * I - 1, H), d_bad = fd_tensor_2d(dn, FD_F32, I, H);
    fd_tensor g_i8 = fd_tensor_2d(gu, FD_I8, 2 * I, H), y16 = fd_tensor_2d(y, FD_F16, M, H);
    fd_tensor sc = fd_tensor_1d(scr, FD_F32, 2 * I);
    fd_ffn_weights w = {&tg, NULL, &td, NULL};
    CHECK_OK(fd_ffn(env.cpu, &tx, &w, &ts, &ty));
    CHECK_STATUS(fd_ffn(env.cpu, &tx, &w, &small, &ty), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "scratch");
    CHECK_STATUS(fd_ffn(env.cpu, &tx, &w, &ts, &y16), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_ffn(env.cpu, &tx, NULL, &ts, &ty), FD_ERR_INVALID_ARG);
    fd_ffn_weights w_odd = {&g_odd, NULL, &td, NULL}, w_down = {&tg, NULL, &d_bad, NULL};
    fd_ffn_weights w_noscale = {&g_i8, NULL, &td, NULL}, w_extra = {&tg, &sc, &td, NULL};
    CHECK_STATUS(fd_ffn(env.cpu, &tx, &w_odd, &ts, &ty), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "2*I");
    CHECK_STATUS(fd_ffn(env.cpu, &tx, &w_down, &ts, &ty), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "down");
    CHECK_STATUS(fd_ffn(env.cpu, &tx, &w_noscale, &ts, &ty), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "scale");
    CHECK_STATUS(fd_ffn(env.cpu, &tx, &w_extra, &ts, &ty), FD_ERR_INVALID_ARG);
}

static void dtype_gating(void) {
    fd_platform *v100 = ffn_sim_platform(70, 70);
    int var = 0;
    CHECK(v100 != NULL);
    if (!v100) return;
    CHECK_STATUS(fd__op_select(v100, 0, FD_OP_ID_ffn, FD_BF16, &var), FD_ERR_UNSUPPORTED_ARCH);
    CHECK_CONTAINS(fd_last_error(), "ffn");
    CHECK_CONTAINS(fd_last_error(), "SM80");
    fd_platform_free(v100);
    CHECK(fd_op_available(env.platform, "ffn", FD_CPU_DEVICE, NULL, 0));
}

static void gpu_layer(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "ffn");
    if (!g) return;
    fd_dtype dt;
    char msg[256];
    CHECK_OK(fd_ffn_pick_dtype(g, &dt, msg, sizeof msg));
    printf("  %s\n", msg);
    layer_case(g, dt, 3, 40, 24, 1, 0);
    layer_case(g, dt, 17, 72, 40, 0, 0);
    layer_case(g, dt, 40, 136, 104, 1, 1);
    layer_case(g, dt, 5, 4096, 2048, 1, 0);   // FastDeploy's shape, decode-sized
    layer_case(g, dt, 24, 4096, 2048, 0, 1);  // tiled path, int8 weights, own scratch
}

// ---- FD_BENCH=1: matmul TFLOP/s (wall clock around fd_ctx_sync).

static void bench_one(fd_ctx *g, fd_dtype dt, int64_t m, int64_t n, int64_t k, int q8,
                      double peak_gbs) {
    fd_tbuf a = FD_TBUF(g, dt, NULL, m, k), c = FD_TBUF(g, dt, NULL, m, n);
    fd_tbuf w = FD_TBUF(g, q8 ? FD_I8 : dt, NULL, n, k), s = FD_TBUF(g, FD_F32, NULL, n);
    int iters = 0;
    double t0 = 0, dt_s = 0;
    for (int rep = 0; rep < 2; rep++) {  // rep 0 warms up
        int want = rep ? 20 : 3;
        t0 = fd_test_now();
        for (iters = 0; iters < want; iters++) {
            fd_status st = q8 ? fd_matmul_wint8(g, &a.t, &w.t, &s.t, &c.t)
                              : fd_matmul(g, &a.t, &w.t, &c.t);
            if (st != FD_OK) { FD_FAILF("bench: %s", fd_last_error()); goto out; }
        }
        CHECK_OK(fd_ctx_sync(g));
        dt_s = (fd_test_now() - t0) / iters;
    }
    {
        double flops = 2.0 * m * n * k, bytes = (double)n * k * (q8 ? 1 : 2) + 2.0 * (m * k + m * n);
        printf("  %-5s %s M=%-5lld N=%lld K=%lld: %8.3f ms  %7.2f TFLOP/s  %7.1f GB/s (DRAM peak %.0f)\n",
               q8 ? "wint8" : "dense", fd_dtype_name(dt), (long long)m, (long long)n,
               (long long)k, dt_s * 1e3, flops / dt_s * 1e-12, bytes / dt_s * 1e-9, peak_gbs);
    }
out:
    fd_tbuf_free(&a); fd_tbuf_free(&c); fd_tbuf_free(&w); fd_tbuf_free(&s);
}

static void bench(void) {
    if (!getenv("FD_BENCH") || strcmp(getenv("FD_BENCH"), "1") != 0) {
        fd_test_skip("set FD_BENCH=1 to run the matmul benchmark");
        return;
    }
    fd_ctx *g = fd_test_gpu_for(&env, "matmul");
    if (!g) return;
    fd_dtype dt;
    char msg[256];
    CHECK_OK(fd_ffn_pick_dtype(g, &dt, msg, sizeof msg));
    const fd_device_info *d = fd_platform_device(env.platform, fd_ctx_device(g));
    printf("  %s; %s\n", d ? d->name : "?", msg);
    static const int64_t ms[4] = {1, 16, 256, 4096};
    for (int i = 0; i < 4; i++) {
        bench_one(g, dt, ms[i], 4096, 4096, 0, d ? d->peak_bw_gbs : 0);  // up_gate: 2I x H
        bench_one(g, dt, ms[i], 4096, 2048, 0, d ? d->peak_bw_gbs : 0);  // down: H x I
        bench_one(g, dt, ms[i], 4096, 4096, 1, d ? d->peak_bw_gbs : 0);
    }
}

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_layer), FD_CASE(pick_dtype), FD_CASE(bad_input),
             FD_CASE(dtype_gating), FD_CASE(gpu_layer), FD_CASE(bench), FD_CASE(teardown))
