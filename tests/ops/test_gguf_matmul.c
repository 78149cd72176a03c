// SPDX-License-Identifier: Apache-2.0
// gguf_matmul (y = x * dequant(W)^T, W in a GGUF block format) on the C reference
// and on the GPU: every type against an independent double-precision dot of
// fd__dequant_row's rows, hand-made Q4_0 and Q5_0 cases, the CPU backend's AVX2
// and integer row kernels against the same expectation, GPU vs reference for
// M in {1, 2, 7, 8, 9, 33, 128} and ragged N/K, unaligned views, bad input,
// the op table, and a benchmark (FD_BENCH=1).
// Tolerances, relative to the largest |y| of the output row: f32 1e-4, f16 2e-2.
#include <time.h>

#include "fd_test.h"
#include "ops/quant_cpu.h"
#include "ops/model_launch.h"

static fd_test_env env;

static const fd_ggml_type TYPES[] = {FD_GGML_Q4_0, FD_GGML_Q4_1, FD_GGML_Q5_0, FD_GGML_Q8_0,
                                     FD_GGML_Q4_K, FD_GGML_Q6_K, FD_GGML_F16, FD_GGML_F32,
                                     FD_GGML_BF16};
#define N_QUANT 6  // TYPES[0..6) are the block-quantized types
#define N_TYPES ((int)(sizeof TYPES / sizeof TYPES[0]))

// Runs the op on ctx. x: m*k floats (rounded to dt), w: n rows of raw bytes,
// y: m*n floats. xskew/wskew: element/byte offsets of the views (alignment paths).
static fd_status run(fd_ctx *ctx, fd_dtype dt, fd_ggml_type t, int64_t m, int64_t n, int64_t k,
                     const float *x, const uint8_t *w, float *y, int xskew, int wskew) {
    size_t esz = fd_dtype_size(dt), rb = fd__row_bytes(t, k);
    void *xh = malloc((size_t)(m * k) * esz + 1);
    for (int64_t i = 0; i < m * k; i++) fd__set_f(dt, xh, i, x[i]);
    fd_tbuf tx = FD_TBUF(ctx, dt, NULL, m * k + 1);
    fd_tbuf tw = FD_TBUF(ctx, FD_U8, NULL, (int64_t)(n * rb) + 16);
    fd_tbuf ty = FD_TBUF(ctx, dt, NULL, m, n);
    fd_tensor xv = fd_tensor_2d((char *)tx.t.data + xskew * esz, dt, m, k);
    fd_tensor wv = fd_tensor_2d((char *)tw.t.data + wskew, FD_U8, n, (int64_t)rb);
    fd_status s = fd_ctx_upload(ctx, xv.data, xh, (size_t)(m * k) * esz);
    if (s == FD_OK) s = fd_ctx_upload(ctx, wv.data, w, n * rb);
    if (s == FD_OK) s = fd_ctx_memset(ctx, ty.t.data, 0x7f, fd_tensor_bytes(&ty.t));
    if (s == FD_OK) s = fd_gguf_matmul(ctx, &xv, &wv, t, k, &ty.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) {
        void *yh = fd_tbuf_fetch(&ty);
        for (int64_t i = 0; i < m * n; i++) y[i] = fd__get_f(dt, yh, i);
    }
    free(xh);
    fd_tbuf_free(&tx); fd_tbuf_free(&tw); fd_tbuf_free(&ty);
    return s;
}

// Random x in [-1, 1], rounded to dt, and random weight rows.
static void make_inputs(fd_dtype dt, fd_ggml_type t, int64_t m, int64_t n, int64_t k,
                        uint64_t seed, float *x, uint8_t *w) {
    uint64_t rng = seed;
    for (int64_t i = 0; i < m * k; i++) {
        x[i] = fd_test_randf(&rng);
        if (dt == FD_F16) x[i] = fd_f16_to_f32(fd_f32_to_f16(x[i]));
    }
    fd__gguf_random_rows(t, n, k, &rng, w);
}

// Each y[i, j] within tol * max_j |want[i, j]| (plus a tiny floor).
static void check_rows(const float *got, const float *want, int64_t m, int64_t n, double tol,
                       const char *what) {
    for (int64_t i = 0; i < m; i++) {
        double mag = 1e-6;
        for (int64_t j = 0; j < n; j++) mag = fmax(mag, fabs(want[i * n + j]));
        for (int64_t j = 0; j < n; j++) {
            double e = fabs((double)got[i * n + j] - want[i * n + j]);
            if (!(e <= tol * mag)) {
                FD_FAILF("%s: y[%lld, %lld] = %.7g, expected %.7g (|err| %.3g > %.3g)", what,
                         (long long)i, (long long)j, got[i * n + j], want[i * n + j], e, tol * mag);
                return;
            }
        }
    }
}

// Independent expectation: double dots of fd__dequant_row's rows.
static void naive(fd_ggml_type t, int64_t m, int64_t n, int64_t k, const float *x,
                  const uint8_t *w, float *y) {
    float *row = malloc((size_t)k * sizeof(float));
    for (int64_t j = 0; j < n; j++) {
        fd__dequant_row(t, w + j * fd__row_bytes(t, k), row, k);
        for (int64_t i = 0; i < m; i++) {
            double s = 0;
            for (int64_t q = 0; q < k; q++) s += (double)x[i * k + q] * row[q];
            y[i * n + j] = (float)s;
        }
    }
    free(row);
}

static void cpu_reference_every_type(void) {
    enum { M = 3, N = 5, K = 512 };
    static float x[M * K], y[M * N], want[M * N];
    static uint8_t w[N * K * 4];
    fd_dtype dts[2] = {FD_F32, FD_F16};
    for (int d = 0; d < 2; d++)
        for (int ti = 0; ti < N_TYPES; ti++) {
            make_inputs(dts[d], TYPES[ti], M, N, K, 100 + (uint64_t)ti, x, w);
            naive(TYPES[ti], M, N, K, x, w, want);
            CHECK_OK(run(env.cpu, dts[d], TYPES[ti], M, N, K, x, w, y, 0, 0));
            check_rows(y, want, M, N, dts[d] == FD_F32 ? 1e-5 : 2e-3, fd_ggml_type_name(TYPES[ti]));
        }
}

// Q4_0 by hand: d = 0.25, weight j = (j % 16) - 8, x = 1 -> y = 0.25 * sum = exact.
static void known_q4_0_on(fd_ctx *ctx) {
    enum { K = 64 };
    uint8_t w[2 * 18];
    float x[K], y[1];
    double want = 0;
    for (int b = 0; b < 2; b++) {
        uint16_t d = fd_f32_to_f16(0.25f);
        memcpy(w + b * 18, &d, 2);
        for (int j = 0; j < 16; j++) w[b * 18 + 2 + j] = (uint8_t)(j | ((15 - j) << 4));
        for (int j = 0; j < 16; j++) want += 0.25 * (j - 8) * (b + 1) + 0.25 * (7 - j) * 2 * (b + 1);
    }
    for (int i = 0; i < K; i++) x[i] = (float)((i / 32) + 1) * (i % 32 < 16 ? 1.0f : 2.0f);
    CHECK_OK(run(ctx, FD_F32, FD_GGML_Q4_0, 1, 1, K, x, w, y, 0, 0));
    CHECK_NEAR(y[0], want, 0);
}
static void cpu_known_q4_0(void) { known_q4_0_on(env.cpu); }

// Q5_0 by hand: d = 0.5, qh bytes 01 80 f0 0f (5th bit of weights 0, 15, 20..27),
// qs[j] = j | (15 - j) << 4; x[i] = i + 1 -> y = 0.5 * sum (i + 1) * q5[i] (exact).
static void known_q5_0_on(fd_ctx *ctx) {
    static const int q5[32] = {0,  -15, -14, -13, -12, -11, -10, -9, -8, -7, -6,  -5,  -4,  -3, -2, 15,
                               -1, -2,  -3,  -4,  11,  10,  9,   8,  7,  6,  5,   4,   -13, -14, -15, -16};
    uint8_t w[22] = {0, 0, 0x01, 0x80, 0xf0, 0x0f};
    uint16_t d = fd_f32_to_f16(0.5f);
    memcpy(w, &d, 2);
    for (int j = 0; j < 16; j++) w[6 + j] = (uint8_t)(j | ((15 - j) << 4));
    float x[32], y[1];
    double want = 0;
    for (int i = 0; i < 32; i++) {
        x[i] = (float)(i + 1);
        want += 0.5 * (i + 1) * q5[i];
    }
    CHECK_OK(run(ctx, FD_F32, FD_GGML_Q5_0, 1, 1, 32, x, w, y, 0, 0));
    CHECK_NEAR(y[0], want, 0);
}
static void cpu_known_q5_0(void) { known_q5_0_on(env.cpu); }

// y[nt][n] = W x through one CPU row kernel (quant_cpu.h): path 0 scalar dequant +
// dot, 1 fused AVX2 f32, 2 int16 activations, 3 int8 activations, 4 int16
// activations with a scale per 256 values (the K-quants' int32 super-block
// kernels). `scratch` holds k floats, `xq` nt * k / 32 fd__q16_blocks.
static void cpu_rows(int path, fd_ggml_type t, const uint8_t *w, int64_t n, int64_t k,
                     const float *x, int nt, float *y, float *scratch, void *xq) {
    if (path < 2) {
        fd__matmul_rows(t, w, k, x, nt, y, n, 0, n, scratch, path);
    } else if (path == 2 || path == 4) {
        int g = path == 4 ? 8 : 1;
        for (int i = 0; i < nt; i++)
            fd__quantize_row_q16(x + i * k, k, (fd__q16_block *)xq + i * k / 32, g);
        fd__matmul_rows_q16(t, w, k, xq, nt, y, n, 0, n, g);
    } else {
        for (int i = 0; i < nt; i++) fd__quantize_row_q8(x + i * k, k, (fd__q8_block *)xq + i * k / 32);
        fd__matmul_rows_q8(t, w, k, xq, nt, y, n, 0, n);
    }
}

// The f32 path blocks rows and tokens by 4; each result must still be bit-identical
// to the same token run alone (a request's logits must not depend on its batch).
static void same_as_one_by_one(fd_ggml_type t, const uint8_t *w, int64_t n, int64_t k, const float *x,
                               int nt, const float *y, float *scratch, const char *what) {
    float one[64];
    for (int tk = 0; tk < nt; tk++) {
        fd__matmul_rows(t, w, k, x + tk * k, 1, one, n, 0, n, scratch, 0);
        for (int64_t r = 0; r < n; r++)
            if (one[r] != y[tk * n + r]) {
                FD_FAILF("%s: token %d row %lld: %.9g batched, %.9g alone", what, tk, (long long)r,
                         y[tk * n + r], one[r]);
                return;
            }
    }
}

// The CPU backend's row kernels against naive() for every type the integer path
// takes (the K-quants: 16-bit activations only), with 1..5 tokens (tiles of 4 plus
// a remainder) and Gemma-3-like K.
// Tolerances relative to the largest |y|: f32 1e-5, int16 activations 1e-3
// (|x| quantized to 1/32767 of its block's max, or of 256 values' max), int8
// 3e-2 (1/127).
static void cpu_row_kernels(void) {
    static const fd_ggml_type types[] = {FD_GGML_Q4_0, FD_GGML_Q4_1, FD_GGML_Q5_0, FD_GGML_Q8_0,
                                         FD_GGML_Q4_K, FD_GGML_Q6_K};
    static const int64_t ks[] = {1024, 2048};
    static const double tols[] = {1e-5, 1e-5, 1e-3, 3e-2, 1e-3};
    enum { N = 37, T = 5, MAXK = 2048 };
    float *x = malloc(T * MAXK * sizeof(float)), *scratch = malloc(4 * MAXK * sizeof(float));
    float *want = malloc(T * N * sizeof(float)), *y = malloc(T * N * sizeof(float));
    uint8_t *w = malloc((size_t)N * MAXK * 2);
    void *xq = malloc(T * MAXK / 32 * sizeof(fd__q16_block));
    char what[96];
    for (int ti = 0; ti < 6; ti++)
        for (int ki = 0; ki < 2; ki++)
            for (int nt = 1; nt <= T; nt += 2) {
                fd_ggml_type t = types[ti];
                int64_t k = ks[ki];
                make_inputs(FD_F32, t, nt, N, k, 300 + (uint64_t)(ti * 7 + ki * 3 + nt), x, w);
                naive(t, nt, N, k, x, w, want);
                for (int path = 0; path < 5; path++) {
                    if (path > 0 && !fd__quant_q16_supported(t, k)) continue;  // no AVX2: scalar only
                    if (path == 3 && !fd__quant_q8_supported(t, k)) continue;  // K-quants: int16 only
                    snprintf(what, sizeof what, "%s K=%lld tokens=%d path %d", fd_ggml_type_name(t),
                             (long long)k, nt, path);
                    cpu_rows(path, t, w, N, k, x, nt, y, scratch, xq);
                    check_rows(y, want, nt, N, tols[path], what);
                    if (path == 0) same_as_one_by_one(t, w, N, k, x, nt, y, scratch, what);
                }
            }
    if (!fd__quant_q8_supported(FD_GGML_Q5_0, 640))
        fd_test_skip("scalar path checked; this CPU has no AVX2+FMA+F16C for the others");
    free(x); free(scratch); free(want); free(y); free(w); free(xq);
}

static void bad_input(void) {
    static float x[2 * 64], y[2 * 3];
    static uint8_t w[3 * 72];
    fd_ctx *c = env.cpu;
    fd_tensor tx = fd_tensor_2d(x, FD_F32, 2, 64), ty = fd_tensor_2d(y, FD_F32, 2, 3);
    fd_tensor tw = fd_tensor_2d(w, FD_U8, 3, 36);  // Q4_0, K = 64: 2 blocks of 18 bytes
    CHECK_OK(fd_gguf_matmul(c, &tx, &tw, FD_GGML_Q4_0, 64, &ty));
    CHECK_STATUS(fd_gguf_matmul(c, &tx, &tw, (fd_ggml_type)7, 64, &ty), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "not supported");
    CHECK_STATUS(fd_gguf_matmul(c, &tx, &tw, FD_GGML_Q4_0, 48, &ty), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "multiple of 32");
    CHECK_STATUS(fd_gguf_matmul(c, &tx, &tw, FD_GGML_Q4_K, 64, &ty), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "multiple of 256");
    CHECK_STATUS(fd_gguf_matmul(c, &tx, &tw, FD_GGML_Q8_0, 64, &ty), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "w");  // row_bytes 36 != 68
    fd_tensor tw_i8 = fd_tensor_2d(w, FD_I8, 3, 36), ty_bad = fd_tensor_2d(y, FD_F32, 3, 2);
    CHECK_STATUS(fd_gguf_matmul(c, &tx, &tw_i8, FD_GGML_Q4_0, 64, &ty), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_gguf_matmul(c, &tx, &tw, FD_GGML_Q4_0, 64, &ty_bad), FD_ERR_INVALID_ARG);
    fd_tensor tx_bf = fd_tensor_2d(x, FD_BF16, 2, 64), ty_bf = fd_tensor_2d(y, FD_BF16, 2, 3);
    CHECK_STATUS(fd_gguf_matmul(c, &tx_bf, &tw, FD_GGML_Q4_0, 64, &ty_bf), FD_ERR_UNSUPPORTED_DTYPE);
    fd_tensor ty_alias = fd_tensor_2d(x, FD_F32, 2, 3);
    CHECK_STATUS(fd_gguf_matmul(c, &tx, &tw, FD_GGML_Q4_0, 64, &ty_alias), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "overlaps");
    CHECK_STATUS(fd_gguf_matmul(c, NULL, &tw, FD_GGML_Q4_0, 64, &ty), FD_ERR_INVALID_ARG);
}

// The op table and fd_op_available agree for this device.
static void table_agrees(void) {
    CHECK(fd_op_find("gguf_matmul") >= 0);
    CHECK(fd_op_available(env.platform, "gguf_matmul", FD_CPU_DEVICE, NULL, 0));
    const fd__op_variant *v = fd__op_variant_at(FD_VAR_gguf_matmul);
    CHECK_EQ_I64(v->min_sm, 70);
    CHECK_EQ_I64(v->op, FD_OP_ID_gguf_matmul);
    if (!env.gpu) return;
    int var = 0;
    int ok = fd_op_available(env.platform, "gguf_matmul", fd_ctx_device(env.gpu), NULL, 0);
    int sel = fd__op_select(env.platform, fd_ctx_device(env.gpu), FD_OP_ID_gguf_matmul, FD_F16,
                            &var) == FD_OK;
    CHECK_EQ_I64(ok, sel);
    CHECK_EQ_I64(ok, v->built);
    if (sel) CHECK_EQ_I64(var, FD_VAR_gguf_matmul);
}

static void gpu_known_q4_0(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "gguf_matmul");
    if (g) known_q4_0_on(g);
}

static void gpu_known_q5_0(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "gguf_matmul");
    if (g) known_q5_0_on(g);
}

// GPU vs the C reference: every type, f32 and f16, GEMV and tile shapes.
static void gpu_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "gguf_matmul");
    if (!g) return;
    static const int64_t ms[] = {1, 2, 7, 8, 9, 33, 128};
    static const int64_t shapes[][2] = {{70, 256}, {129, 2304}, {33, 768}};  // N, K
    enum { MAXM = 128, MAXN = 129, MAXK = 2304 };
    float *x = malloc(MAXM * MAXK * sizeof(float)), *y = malloc(MAXM * MAXN * sizeof(float));
    float *ref = malloc(MAXM * MAXN * sizeof(float));
    uint8_t *w = malloc((size_t)MAXN * MAXK * 4);
    fd_dtype dts[2] = {FD_F32, FD_F16};
    char what[128];
    for (int d = 0; d < 2; d++)
        for (int ti = 0; ti < N_TYPES; ti++)
            for (int s = 0; s < 3; s++)
                for (int mi = 0; mi < 7; mi++) {
                    int64_t m = ms[mi], n = shapes[s][0], k = shapes[s][1];
                    fd_ggml_type t = TYPES[ti];
                    make_inputs(dts[d], t, m, n, k, 7 + (uint64_t)(ti * 31 + s * 7 + mi), x, w);
                    snprintf(what, sizeof what, "%s %s M=%lld N=%lld K=%lld", fd_dtype_name(dts[d]),
                             fd_ggml_type_name(t), (long long)m, (long long)n, (long long)k);
                    CHECK_OK(run(env.cpu, dts[d], t, m, n, k, x, w, ref, 0, 0));
                    CHECK_OK(run(g, dts[d], t, m, n, k, x, w, y, 0, 0));
                    check_rows(y, ref, m, n, dts[d] == FD_F32 ? 1e-4 : 2e-2, what);
                }
    free(x); free(y); free(ref); free(w);
}

// Views off the 16-byte grid: x one element past it (scalar x loads), w two
// bytes past it (2-byte staging); an odd w address is refused.
static void gpu_unaligned(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "gguf_matmul");
    if (!g) return;
    enum { M = 20, N = 40, K = 512 };
    static float x[M * K], y[M * N], ref[M * N];
    static uint8_t w[N * K * 4];
    fd_dtype dts[2] = {FD_F32, FD_F16};
    for (int d = 0; d < 2; d++)
        for (int ti = 0; ti < N_TYPES; ti++) {
            int64_t m = d ? M : 3;  // f16 at M = 20 goes through the tile kernel
            make_inputs(dts[d], TYPES[ti], m, N, K, 55, x, w);
            CHECK_OK(run(env.cpu, dts[d], TYPES[ti], m, N, K, x, w, ref, 0, 0));
            fd_ggml_type t = TYPES[ti];
            if (t == FD_GGML_F32 || t == FD_GGML_F16 || t == FD_GGML_BF16) {
                // Float rows are read with 16-byte loads: off-grid weights are refused.
                CHECK_STATUS(run(g, dts[d], t, m, N, K, x, w, y, 1, 2), FD_ERR_INVALID_ARG);
                CHECK_CONTAINS(fd_last_error(), "16-byte aligned");
                continue;
            }
            CHECK_OK(run(g, dts[d], t, m, N, K, x, w, y, 1, 2));
            check_rows(y, ref, m, N, d ? 2e-2 : 1e-4, fd_ggml_type_name(t));
        }
    CHECK_STATUS(run(g, FD_F32, FD_GGML_Q8_0, M, N, K, x, w, y, 0, 1), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "aligned");
}

// Seconds per call of gguf_matmul over `iters` calls (after 3 warm-up calls).
static double time_mm(fd_ctx *g, fd_tensor *x, fd_tensor *w, fd_ggml_type t, int64_t k,
                      fd_tensor *y, int iters) {
    for (int i = 0; i < 3; i++) CHECK_OK(fd_gguf_matmul(g, x, w, t, k, y));
    CHECK_OK(fd_ctx_sync(g));
    double t0 = fd_test_now();
    for (int i = 0; i < iters; i++) fd_gguf_matmul(g, x, w, t, k, y);
    CHECK_OK(fd_ctx_sync(g));
    return (fd_test_now() - t0) / iters;
}

// FD_BENCH=1: decode GB/s (weight bytes / time) and prefill (M = 512) TFLOP/s.
static void bench(void) {
    const char *b = getenv("FD_BENCH");
    if (!b || strcmp(b, "1") != 0) {
        fd_test_skip("set FD_BENCH=1 to run the benchmark");
        return;
    }
    fd_ctx *g = fd_test_gpu_for(&env, "gguf_matmul");
    if (!g) return;
    const fd_device_info *dev = fd_platform_device(env.platform, fd_ctx_device(g));
    static const int64_t ns[2] = {4096, 14336};
    const int64_t k = 4096;
    fd_tbuf x = FD_TBUF(g, FD_F16, NULL, 512, k), y = FD_TBUF(g, FD_F16, NULL, 512, 14336);
    for (int ti = 0; ti < N_QUANT; ti++)
        for (int s = 0; s < 2; s++) {
            fd_ggml_type t = TYPES[ti];
            size_t rb = fd__row_bytes(t, k), bytes = (size_t)ns[s] * rb;
            uint8_t *wh = malloc(bytes);
            uint64_t rng = 1;
            fd__gguf_random_rows(t, ns[s], k, &rng, wh);
            fd_tbuf w = FD_TBUF(g, FD_U8, wh, ns[s], (int64_t)rb);
            fd_tensor x1 = fd_tensor_2d(x.t.data, FD_F16, 1, k), y1 = fd_tensor_2d(y.t.data, FD_F16, 1, ns[s]);
            fd_tensor xp = fd_tensor_2d(x.t.data, FD_F16, 512, k), yp = fd_tensor_2d(y.t.data, FD_F16, 512, ns[s]);
            double td = time_mm(g, &x1, &w.t, t, k, &y1, 50);
            double tp = time_mm(g, &xp, &w.t, t, k, &yp, 10);
            printf("  bench %-4s N=%5lld K=%lld: decode M=1 %7.1f us %7.1f GB/s (peak %.0f GB/s, "
                   "%.0f%%); prefill M=512 %6.1f TFLOP/s\n",
                   fd_ggml_type_name(t), (long long)ns[s], (long long)k, td * 1e6, bytes / td / 1e9,
                   dev ? dev->peak_bw_gbs : 0.0,
                   dev && dev->peak_bw_gbs > 0 ? 100.0 * bytes / td / 1e9 / dev->peak_bw_gbs : 0.0,
                   2.0 * 512 * ns[s] * k / tp / 1e12);
            fd_tbuf_free(&w);
            free(wh);
        }
    fd_tbuf_free(&x);
    fd_tbuf_free(&y);
}

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_reference_every_type), FD_CASE(cpu_known_q4_0),
             FD_CASE(cpu_known_q5_0), FD_CASE(cpu_row_kernels), FD_CASE(bad_input),
             FD_CASE(table_agrees), FD_CASE(gpu_known_q4_0), FD_CASE(gpu_known_q5_0),
             FD_CASE(gpu_vs_reference), FD_CASE(gpu_unaligned), FD_CASE(bench),
             FD_CASE(teardown))
