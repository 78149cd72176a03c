// SPDX-License-Identifier: Apache-2.0
// gguf_get_rows (embedding lookup from a GGUF-typed table) on the C reference and
// on the GPU: every type against fd__dequant_row, repeated ids, hand-made Q8_0
// and Q5_0 rows, out-of-range ids (an error, no write out of bounds), bad shapes, the op table.
// Tolerances: f32 exact up to one FMA rounding (rel 1e-6); f16 one rounding (2^-11).
#include "fd_test.h"
#include "ops/quant_cpu.h"
#include "ops/model_launch.h"

static fd_test_env env;

static const fd_ggml_type TYPES[] = {FD_GGML_Q4_0, FD_GGML_Q4_1, FD_GGML_Q5_0, FD_GGML_Q8_0,
                                     FD_GGML_Q4_K, FD_GGML_Q6_K, FD_GGML_F16, FD_GGML_F32,
                                     FD_GGML_BF16};
#define N_TYPES ((int)(sizeof TYPES / sizeof TYPES[0]))

// out (t*d floats) = the op on ctx; the output buffer starts as 0x7f bytes.
static fd_status run(fd_ctx *ctx, fd_dtype dt, fd_ggml_type ty, int64_t rows, int64_t d,
                     const uint8_t *w, const int32_t *ids, int64_t t, float *out) {
    fd_tbuf tw = FD_TBUF(ctx, FD_U8, w, rows, (int64_t)fd__row_bytes(ty, d));
    fd_tbuf ti = FD_TBUF(ctx, FD_I32, ids, t > 0 ? t : 1);
    fd_tbuf to = FD_TBUF(ctx, dt, NULL, t > 0 ? t : 1, d);
    ti.t.ne[0] = t;
    to.t.ne[0] = t;
    fd_status s = fd_ctx_memset(ctx, to.t.data, 0x7f, fd_tensor_bytes(&to.t));
    if (s == FD_OK) s = fd_gguf_get_rows(ctx, &tw.t, ty, &ti.t, &to.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) {
        void *h = fd_tbuf_fetch(&to);
        for (int64_t i = 0; i < t * d; i++) out[i] = fd__get_f(dt, h, i);
    }
    fd_tbuf_free(&tw); fd_tbuf_free(&ti); fd_tbuf_free(&to);
    return s;
}

enum { ROWS = 11, D = 768, T = 6 };
static const int32_t IDS[T] = {10, 0, 4, 4, 9, 1};

static void every_type_on(fd_ctx *ctx) {
    static uint8_t w[ROWS * D * 4];
    static float out[T * D], row[D];
    fd_dtype dts[2] = {FD_F32, FD_F16};
    for (int d = 0; d < 2; d++)
        for (int ti = 0; ti < N_TYPES; ti++) {
            uint64_t rng = 3 + (uint64_t)ti;
            fd__gguf_random_rows(TYPES[ti], ROWS, D, &rng, w);
            CHECK_OK(run(ctx, dts[d], TYPES[ti], ROWS, D, w, IDS, T, out));
            for (int i = 0; i < T; i++) {
                fd__dequant_row(TYPES[ti], w + IDS[i] * fd__row_bytes(TYPES[ti], D), row, D);
                for (int j = 0; j < D; j++) {
                    double want = dts[d] == FD_F16 ? fd_f16_to_f32(fd_f32_to_f16(row[j])) : row[j];
                    double tol = dts[d] == FD_F16 ? 1e-3 * fabs(want) + 1e-6 : 1e-6 * fabs(want) + 1e-7;
                    if (!(fabs(out[i * D + j] - want) <= tol)) {
                        FD_FAILF("%s %s: out[%d, %d] = %.7g, expected %.7g", fd_dtype_name(dts[d]),
                                 fd_ggml_type_name(TYPES[ti]), i, j, out[i * D + j], want);
                        break;
                    }
                }
            }
        }
}

// Q8_0 by hand: d = 0.5, q[j] = j - 16 -> out[j] = (j - 16) / 2.
static void known_q8_0_on(fd_ctx *ctx) {
    uint8_t w[2 * 34];
    float out[32];
    memset(w, 0, sizeof w);
    uint16_t h = fd_f32_to_f16(0.5f);
    memcpy(w + 34, &h, 2);
    for (int j = 0; j < 32; j++) w[34 + 2 + j] = (uint8_t)(int8_t)(j - 16);
    int32_t id = 1;
    CHECK_OK(run(ctx, FD_F32, FD_GGML_Q8_0, 2, 32, w, &id, 1, out));
    for (int j = 0; j < 32; j++) CHECK_NEAR(out[j], (j - 16) * 0.5, 0);
}

// Q5_0 by hand: d = 0.25, qh bytes 01 80 f0 0f (the 5th bit of weights 0, 15 and
// 20..27), qs[j] = j | (15 - j) << 4 -> out[j] = q5[j] / 4.
static void known_q5_0_on(fd_ctx *ctx) {
    static const int q5[32] = {0,  -15, -14, -13, -12, -11, -10, -9, -8, -7, -6,  -5,  -4,  -3, -2, 15,
                               -1, -2,  -3,  -4,  11,  10,  9,   8,  7,  6,  5,   4,   -13, -14, -15, -16};
    uint8_t w[2 * 22];
    float out[32];
    memset(w, 0, sizeof w);
    uint16_t h = fd_f32_to_f16(0.25f);
    memcpy(w + 22, &h, 2);
    memcpy(w + 22 + 2, "\x01\x80\xf0\x0f", 4);
    for (int j = 0; j < 16; j++) w[22 + 6 + j] = (uint8_t)(j | (15 - j) << 4);
    int32_t id = 1;
    CHECK_OK(run(ctx, FD_F32, FD_GGML_Q5_0, 2, 32, w, &id, 1, out));
    for (int j = 0; j < 32; j++) CHECK_NEAR(out[j], q5[j] * 0.25, 0);
}

// An id outside [0, rows) is an error; the reference writes nothing.
static void bad_ids_on(fd_ctx *ctx) {
    static uint8_t w[ROWS * 72];
    float out[3 * 64];
    int32_t ids[3] = {0, ROWS, 1}, neg[1] = {-1};
    CHECK_STATUS(run(ctx, FD_F32, FD_GGML_Q4_0, ROWS, 64, w, ids, 3, out), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "gguf_get_rows");
    CHECK_STATUS(run(ctx, FD_F32, FD_GGML_Q4_0, ROWS, 64, w, neg, 1, out), FD_ERR_INVALID_ARG);
    CHECK_OK(run(ctx, FD_F32, FD_GGML_Q4_0, ROWS, 64, w, ids, 0, out));  // no ids: nothing
}

static void bad_shapes(void) {
    static uint8_t w[4 * 36];
    static float out[2 * 64];
    int32_t ids[2] = {0, 1};
    fd_ctx *c = env.cpu;
    fd_tensor tw = fd_tensor_2d(w, FD_U8, 4, 36), ti = fd_tensor_1d(ids, FD_I32, 2);
    fd_tensor to = fd_tensor_2d(out, FD_F32, 2, 64);
    CHECK_OK(fd_gguf_get_rows(c, &tw, FD_GGML_Q4_0, &ti, &to));
    CHECK_STATUS(fd_gguf_get_rows(c, &tw, FD_GGML_Q8_0, &ti, &to), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_gguf_get_rows(c, &tw, (fd_ggml_type)7, &ti, &to), FD_ERR_INVALID_ARG);
    fd_tensor to_odd = fd_tensor_2d(out, FD_F32, 2, 48), to_bf = fd_tensor_2d(out, FD_BF16, 2, 64);
    CHECK_STATUS(fd_gguf_get_rows(c, &tw, FD_GGML_Q4_0, &ti, &to_odd), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "multiple of 32");
    CHECK_STATUS(fd_gguf_get_rows(c, &tw, FD_GGML_Q4_0, &ti, &to_bf), FD_ERR_UNSUPPORTED_DTYPE);
    fd_tensor ti_i64 = fd_tensor_1d(ids, FD_I64, 1), to_rows = fd_tensor_2d(out, FD_F32, 1, 64);
    CHECK_STATUS(fd_gguf_get_rows(c, &tw, FD_GGML_Q4_0, &ti_i64, &to_rows), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_gguf_get_rows(c, &tw, FD_GGML_Q4_0, &ti, &to_rows), FD_ERR_INVALID_ARG);
}

static void table_agrees(void) {
    CHECK(fd_op_find("gguf_get_rows") >= 0);
    CHECK(fd_op_available(env.platform, "gguf_get_rows", FD_CPU_DEVICE, NULL, 0));
    const fd__op_variant *v = fd__op_variant_at(FD_VAR_gguf_get_rows);
    CHECK_EQ_I64(v->min_sm, 70);
    if (!env.gpu) return;
    int var = 0;
    int ok = fd_op_available(env.platform, "gguf_get_rows", fd_ctx_device(env.gpu), NULL, 0);
    int sel = fd__op_select(env.platform, fd_ctx_device(env.gpu), FD_OP_ID_gguf_get_rows, FD_F32,
                            &var) == FD_OK;
    CHECK_EQ_I64(ok, sel);
    CHECK_EQ_I64(ok, v->built);
    if (sel) CHECK_EQ_I64(var, FD_VAR_gguf_get_rows);
}

#define ON_CPU(fn) static void cpu_##fn(void) { fn##_on(env.cpu); }
#define ON_GPU(fn)                                                             \
    static void gpu_##fn(void) {                                               \
        fd_ctx *g = fd_test_gpu_for(&env, "gguf_get_rows");                    \
        if (g) fn##_on(g);                                                     \
    }
ON_CPU(every_type) ON_CPU(known_q8_0) ON_CPU(known_q5_0) ON_CPU(bad_ids)
ON_GPU(every_type) ON_GPU(known_q8_0) ON_GPU(known_q5_0) ON_GPU(bad_ids)

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_every_type), FD_CASE(cpu_known_q8_0),
             FD_CASE(cpu_known_q5_0), FD_CASE(cpu_bad_ids), FD_CASE(bad_shapes),
             FD_CASE(table_agrees), FD_CASE(gpu_every_type), FD_CASE(gpu_known_q8_0),
             FD_CASE(gpu_known_q5_0), FD_CASE(gpu_bad_ids),
             FD_CASE(teardown))
