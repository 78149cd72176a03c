// SPDX-License-Identifier: Apache-2.0
// fused_rotary_position_encoding on the C reference and on the GPU:
// FastDeploy's cases (exact rotation in double), the 65537-token limit, GQA,
// partial rotary, key = NULL, f32/f16/bf16 with f32 or same-dtype cos/sin
// tables, the table builder, bad input, and GPU vs the reference.
//
// Tolerances against exact math (inputs already rounded to the dtype):
//   f32 atol = rtol = 1e-5; f16 1e-3 (f32 table) or 2e-3 (f16 table: its
//   cos/sin carry 2^-11 each); bf16 1e-2 (f32 table) or 2e-2 (bf16 table).
// GPU vs reference: f32 1e-5, f16 1e-3, bf16 1e-2 (atol = rtol; one rounding
// step apart at most, both compute in f32).
#include "fd_test.h"

static fd_test_env env;
static const char *OP = "fused_rotary_position_encoding";

typedef struct rope {
    int n, hq, hk, head, rot, neox;
    int max_pos;
    double base;
    fd_dtype dt, cache_dt;
    int key_null, three_d;
} rope;

static float to_dt(fd_dtype dt, float v) {
    if (dt == FD_F16) return fd_f16_to_f32(fd_f32_to_f16(v));
    if (dt == FD_BF16) return fd_bf16_to_f32(fd_f32_to_bf16(v));
    return v;
}

static void *pack(fd_dtype dt, const float *x, int64_t n) {
    void *p = calloc((size_t)n + 1, fd_dtype_size(dt));
    for (int64_t i = 0; i < n; i++) {
        if (dt == FD_F32) ((float *)p)[i] = x[i];
        else if (dt == FD_F16) ((uint16_t *)p)[i] = fd_f32_to_f16(x[i]);
        else ((uint16_t *)p)[i] = fd_f32_to_bf16(x[i]);
    }
    return p;
}

static void unpack(fd_dtype dt, const void *p, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (dt == FD_F32) x[i] = ((const float *)p)[i];
        else if (dt == FD_F16) x[i] = fd_f16_to_f32(((const uint16_t *)p)[i]);
        else x[i] = fd_bf16_to_f32(((const uint16_t *)p)[i]);
    }
}

// Runs the op on ctx with a table built by fd_rotary_cos_sin_cache_init; q/k rewritten.
static fd_status run(fd_ctx *ctx, const rope *r, const int32_t *pos, float *q, float *k) {
    int64_t nq = (int64_t)r->n * r->hq * r->head, nk = (int64_t)r->n * r->hk * r->head;
    void *hq = pack(r->dt, q, nq), *hk = pack(r->dt, k, nk);
    fd_tbuf bq = r->three_d ? FD_TBUF(ctx, r->dt, hq, r->n, r->hq, r->head)
                            : FD_TBUF(ctx, r->dt, hq, r->n, (int64_t)r->hq * r->head);
    fd_tbuf bk = FD_TBUF(ctx, r->dt, hk, r->n, (int64_t)r->hk * r->head);
    fd_tbuf bp = FD_TBUF(ctx, FD_I32, pos, r->n);
    fd_tbuf bc = FD_TBUF(ctx, r->cache_dt, NULL, r->max_pos, r->rot);
    fd_status s = fd_rotary_cos_sin_cache_init(ctx, &bc.t, r->base);
    if (s == FD_OK)
        s = fd_fused_rotary_position_encoding(ctx, &bq.t, r->key_null ? NULL : &bk.t, &bp.t,
                                              &bc.t, r->head, r->neox);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK || !fd_ctx_is_cuda(ctx)) {  // on the CPU, also to see nothing was written
        unpack(r->dt, fd_tbuf_fetch(&bq), q, nq);
        unpack(r->dt, fd_tbuf_fetch(&bk), k, nk);
    }
    fd_tbuf_free(&bq); fd_tbuf_free(&bk); fd_tbuf_free(&bp); fd_tbuf_free(&bc);
    free(hq);
    free(hk);
    return s;
}

// Exact rotation in double, written independently of the op.
static void expected(const rope *r, int heads, const int32_t *pos, const float *in, float *want) {
    int half = r->rot / 2;
    memcpy(want, in, (size_t)r->n * heads * r->head * sizeof(float));
    for (int t = 0; t < r->n; t++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++) {
                double a = pos[t] * pow(r->base, -2.0 * i / r->rot);
                int64_t o = ((int64_t)t * heads + h) * r->head;
                int64_t xi = o + (r->neox ? i : 2 * i), yi = o + (r->neox ? half + i : 2 * i + 1);
                double x = in[xi], y = in[yi];
                want[xi] = (float)(x * cos(a) - y * sin(a));
                want[yi] = (float)(y * cos(a) + x * sin(a));
            }
}

static int64_t near_all(const float *got, const float *want, int64_t n, double tol) {
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol + tol * fabs(want[i]))) {
            FD_FAILF("element %lld: %.9g vs %.9g (tol %g)", (long long)i, got[i], want[i], tol);
            return i;
        }
    return -1;
}

static float *rand_buf(int64_t n, fd_dtype dt, uint64_t seed) {
    float *x = malloc((size_t)n * sizeof(float) + 4);
    for (int64_t i = 0; i < n; i++) x[i] = to_dt(dt, fd_test_randf(&seed));
    return x;
}

// Runs r on ctx against exact math; positions given or 0..n-1.
static void check_exact(fd_ctx *ctx, const rope *r, const int32_t *given_pos, double tol) {
    int64_t nq = (int64_t)r->n * r->hq * r->head, nk = (int64_t)r->n * r->hk * r->head;
    float *q = rand_buf(nq, r->dt, 17), *k = rand_buf(nk, r->dt, 29);
    float *wq = malloc((size_t)nq * 4 + 4), *wk = malloc((size_t)nk * 4 + 4);
    int32_t *pos = malloc((size_t)r->n * 4 + 4);
    for (int i = 0; i < r->n; i++) pos[i] = given_pos ? given_pos[i] : i;
    expected(r, r->hq, pos, q, wq);
    if (r->key_null)
        memcpy(wk, k, (size_t)nk * 4);
    else
        expected(r, r->hk, pos, k, wk);
    CHECK_OK(run(ctx, r, pos, q, k));
    near_all(q, wq, nq, tol);
    near_all(k, wk, nk, tol);
    free(q); free(k); free(wq); free(wk); free(pos);
}

// FastDeploy's three cases: f32, positions 0..N-1, base 10000, rtol 1e-5.
static void fastdeploy_cases_on(fd_ctx *ctx) {
    const rope cases[3] = {
        {4, 2, 2, 6, 4, 0, 4, 10000.0, FD_F32, FD_F32, 0, 0},
        {3, 2, 2, 8, 8, 1, 3, 10000.0, FD_F32, FD_F32, 0, 1},
        {10, 2, 2, 4, 4, 0, 10, 10000.0, FD_F32, FD_F32, 0, 0},
    };
    for (int i = 0; i < 3; i++) check_exact(ctx, &cases[i], NULL, 1e-5);
}

// FastDeploy's fourth case: 65537 tokens must raise; 65536 is accepted.
static void token_limit_on(fd_ctx *ctx) {
    rope r = {65537, 1, 1, 4, 4, 0, 8, 10000.0, FD_F32, FD_F32, 0, 0};
    int32_t *pos = calloc(65537, 4);
    float *q = calloc(65537 * 4, 4), *k = calloc(65537 * 4, 4);
    CHECK_STATUS(run(ctx, &r, pos, q, k), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), OP);
    CHECK_CONTAINS(fd_last_error(), "65537");
    r.n = 65536;
    CHECK_OK(run(ctx, &r, pos, q, k));
    free(pos); free(q); free(k);
}

// Llama/Qwen shape: NeoX, GQA 8:2, partial rotary 64 of 128, base 1e6, random
// positions, 3-D query; every dtype with f32 and same-dtype tables. Batch 1 and 256.
static void gqa_partial_all_dtypes_on(fd_ctx *ctx) {
    const fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    const double tol32[3] = {1e-5, 1e-3, 1e-2}, tolsame[3] = {1e-5, 2e-3, 2e-2};
    const int ns[2] = {1, 256};
    int32_t pos[256];
    uint64_t rng = 77;
    for (int i = 0; i < 256; i++) pos[i] = (int32_t)(fd_test_rand(&rng) % 32768);
    for (int d = 0; d < 3; d++)
        for (int c = 0; c < 2; c++)
            for (int b = 0; b < 2; b++) {
                rope r = {ns[b], 8, 2, 128, 64, 1, 32768, 1e6, dts[d], c ? dts[d] : FD_F32, 0, 1};
                check_exact(ctx, &r, pos, c ? tolsame[d] : tol32[d]);
                r.neox = 0;  // GPT-J pairs, same shapes
                check_exact(ctx, &r, pos, c ? tolsame[d] : tol32[d]);
            }
}

// key = NULL rotates only the query; MQA (one kv head); rot = head_size.
static void key_null_and_mqa_on(fd_ctx *ctx) {
    rope r = {5, 4, 1, 64, 64, 1, 16, 10000.0, FD_F16, FD_F32, 1, 0};
    check_exact(ctx, &r, NULL, 1e-3);
    r.key_null = 0;
    check_exact(ctx, &r, NULL, 1e-3);
}

// A position outside the table is an error; on the CPU nothing is written.
static void bad_positions_on(fd_ctx *ctx) {
    rope r = {3, 2, 1, 8, 8, 1, 4, 10000.0, FD_F32, FD_F32, 0, 0};
    const int32_t bad[2][3] = {{0, 4, 1}, {-1, 0, 0}};
    for (int k = 0; k < 2; k++) {
        float q[48], kk[24], q0[48];
        for (int i = 0; i < 48; i++) q[i] = q0[i] = (float)i;
        for (int i = 0; i < 24; i++) kk[i] = (float)i;
        CHECK_STATUS(run(ctx, &r, bad[k], q, kk), FD_ERR_INVALID_ARG);
        CHECK_CONTAINS(fd_last_error(), OP);
        if (!fd_ctx_is_cuda(ctx)) CHECK(memcmp(q, q0, sizeof q) == 0);
    }
    CHECK_OK(fd_ctx_sync(ctx));  // the error was reported once, the context works on
}

static void cpu_fastdeploy_cases(void) { fastdeploy_cases_on(env.cpu); }
static void cpu_token_limit(void) { token_limit_on(env.cpu); }
static void cpu_gqa_partial_all_dtypes(void) { gqa_partial_all_dtypes_on(env.cpu); }
static void cpu_key_null_and_mqa(void) { key_null_and_mqa_on(env.cpu); }
static void cpu_bad_positions(void) { bad_positions_on(env.cpu); }
#define ON_GPU(fn)                                                             \
    static void gpu_##fn(void) {                                               \
        fd_ctx *g = fd_test_gpu_for(&env, OP);                                 \
        if (g) fn##_on(g);                                                     \
    }
ON_GPU(fastdeploy_cases) ON_GPU(token_limit) ON_GPU(gqa_partial_all_dtypes)
ON_GPU(key_null_and_mqa) ON_GPU(bad_positions)

// The table builder: row 0 is cos 1 / sin 0, row p column i is cos/sin(p*base^(-2i/rot)).
static void cache_init(void) {
    float c[5 * 8];
    fd_tensor t = fd_tensor_2d(c, FD_F32, 5, 8);
    CHECK_OK(fd_rotary_cos_sin_cache_init(env.cpu, &t, 1e6));
    for (int i = 0; i < 4; i++) {
        CHECK(c[i] == 1.0f);
        CHECK(c[4 + i] == 0.0f);
    }
    for (int p = 0; p < 5; p++)
        for (int i = 0; i < 4; i++) {
            double a = p * pow(1e6, -2.0 * i / 8);
            CHECK_NEAR(c[p * 8 + i], cos(a), 1e-7);
            CHECK_NEAR(c[p * 8 + 4 + i], sin(a), 1e-7);
        }
    fd_tensor odd = fd_tensor_2d(c, FD_F32, 5, 7), i32 = fd_tensor_2d(c, FD_I32, 5, 8);
    CHECK_STATUS(fd_rotary_cos_sin_cache_init(env.cpu, &odd, 1e4), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_rotary_cos_sin_cache_init(env.cpu, &t, 0.0), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_rotary_cos_sin_cache_init(env.cpu, &t, NAN), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_rotary_cos_sin_cache_init(env.cpu, &i32, 1e4), FD_ERR_UNSUPPORTED_DTYPE);
}

// Shapes, dtypes and scalars that do not fit are errors naming the op.
static void bad_shapes(void) {
    fd_ctx *c = env.cpu;
    static float q[4 * 16], k[4 * 16], cache[8 * 8];
    static int32_t pos[4];
    fd_tensor tq = fd_tensor_2d(q, FD_F32, 4, 16), tk = fd_tensor_2d(k, FD_F32, 4, 8);
    fd_tensor tp = fd_tensor_1d(pos, FD_I32, 4), tc = fd_tensor_2d(cache, FD_F32, 8, 8);
    CHECK_OK(fd_fused_rotary_position_encoding(c, &tq, &tk, &tp, &tc, 8, 1));
    fd_tensor odd_rot = fd_tensor_2d(cache, FD_F32, 8, 7);
    fd_tensor big_rot = fd_tensor_2d(cache, FD_F32, 4, 16);
    fd_tensor c_i32 = fd_tensor_2d(cache, FD_I32, 8, 8), k_f16 = fd_tensor_2d(k, FD_F16, 4, 8);
    fd_tensor k_rows = fd_tensor_2d(k, FD_F32, 3, 8), q_w = fd_tensor_2d(q, FD_F32, 4, 12);
    fd_tensor p_i64 = fd_tensor_1d(pos, FD_I64, 4), q_3d = fd_tensor_3d(q, FD_F32, 4, 2, 8);
    fd_tensor k_alias = fd_tensor_2d(q + 8, FD_F32, 4, 8), q_i32 = fd_tensor_2d(q, FD_I32, 4, 16);
    CHECK_OK(fd_fused_rotary_position_encoding(c, &q_3d, &tk, &tp, &tc, 8, 0));
    CHECK_STATUS(fd_fused_rotary_position_encoding(c, &q_3d, &tk, &tp, &tc, 4, 0),
                 FD_ERR_INVALID_ARG);  // 3-D head dim must equal head_size
    CHECK_STATUS(fd_fused_rotary_position_encoding(c, &tq, &tk, &tp, &odd_rot, 8, 1),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "even");
    CHECK_STATUS(fd_fused_rotary_position_encoding(c, &tq, &tk, &tp, &big_rot, 8, 1),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_fused_rotary_position_encoding(c, &tq, &tk, &tp, &c_i32, 8, 1),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_fused_rotary_position_encoding(c, &tq, &k_f16, &tp, &tc, 8, 1),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_fused_rotary_position_encoding(c, &tq, &k_rows, &tp, &tc, 8, 1),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_fused_rotary_position_encoding(c, &q_w, &tk, &tp, &tc, 8, 1),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "multiple of head_size");
    CHECK_STATUS(fd_fused_rotary_position_encoding(c, &tq, &tk, &p_i64, &tc, 8, 1),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_fused_rotary_position_encoding(c, &tq, &k_alias, &tp, &tc, 8, 1),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "overlaps");
    CHECK_STATUS(fd_fused_rotary_position_encoding(c, &tq, &tk, &tp, &tc, 0, 1),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_fused_rotary_position_encoding(c, &tq, &tk, NULL, &tc, 8, 1),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_fused_rotary_position_encoding(c, &tq, &tk, &tp, NULL, 8, 1),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_fused_rotary_position_encoding(c, NULL, &tk, &tp, &tc, 8, 1),
                 FD_ERR_INVALID_ARG);
    CHECK(fd_fused_rotary_position_encoding(c, &q_i32, NULL, &tp, &tc, 8, 1) != FD_OK);
    fd_tensor q0 = fd_tensor_2d(q, FD_F32, 0, 16), k0 = fd_tensor_2d(k, FD_F32, 0, 8),
              p0 = fd_tensor_1d(pos, FD_I32, 0);
    CHECK_OK(fd_fused_rotary_position_encoding(c, &q0, &k0, &p0, &tc, 8, 1));  // no tokens
}

// Random batches (1 and 256 tokens, odd and aligned shapes, both layouts,
// every dtype and table dtype): GPU equals the reference within tolerance.
static void gpu_random_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, OP);
    if (!g) return;
    const fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    const double tol[3] = {1e-5, 1e-3, 1e-2};
    const int shapes[3][4] = {{16, 2, 128, 128}, {5, 3, 6, 4}, {4, 4, 80, 40}};  // hq hk head rot
    int32_t pos[256];
    uint64_t rng = 9;
    for (int i = 0; i < 256; i++) pos[i] = (int32_t)(fd_test_rand(&rng) % 4096);
    for (int d = 0; d < 3; d++)
        for (int s = 0; s < 3; s++)
            for (int m = 0; m < 4; m++) {
                rope r = {(m & 1) ? 256 : 1, shapes[s][0], shapes[s][1], shapes[s][2],
                          shapes[s][3], m >> 1, 4096, 1e6, dts[d], s == 2 ? dts[d] : FD_F32, 0, 0};
                int64_t nq = (int64_t)r.n * r.hq * r.head, nk = (int64_t)r.n * r.hk * r.head;
                float *q = rand_buf(nq, r.dt, 3), *k = rand_buf(nk, r.dt, 4);
                float *rq = malloc((size_t)nq * 4), *rk = malloc((size_t)nk * 4);
                memcpy(rq, q, (size_t)nq * 4);
                memcpy(rk, k, (size_t)nk * 4);
                CHECK_OK(run(g, &r, pos, q, k));
                CHECK_OK(run(env.cpu, &r, pos, rq, rk));
                near_all(q, rq, nq, tol[d]);
                near_all(k, rk, nk, tol[d]);
                free(q); free(k); free(rq); free(rk);
            }
}

static void table_and_info_agree(void) { fd_test_table_agrees(&env, OP, 70); }

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_fastdeploy_cases), FD_CASE(cpu_token_limit),
             FD_CASE(cpu_gqa_partial_all_dtypes), FD_CASE(cpu_key_null_and_mqa),
             FD_CASE(cpu_bad_positions), FD_CASE(cache_init), FD_CASE(bad_shapes),
             FD_CASE(gpu_fastdeploy_cases), FD_CASE(gpu_token_limit),
             FD_CASE(gpu_gqa_partial_all_dtypes), FD_CASE(gpu_key_null_and_mqa),
             FD_CASE(gpu_bad_positions), FD_CASE(gpu_random_vs_reference),
             FD_CASE(table_and_info_agree), FD_CASE(teardown))
