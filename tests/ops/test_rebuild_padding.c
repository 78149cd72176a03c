// SPDX-License-Identifier: Apache-2.0
// rebuild_padding on the C reference and on the GPU: FastDeploy's two cases,
// every float dtype, odd row sizes, idle slots, empty batch, bad input.
#include "fd_test.h"

static fd_test_env env;

typedef struct rp_in {
    int64_t token_num, dim, bsz, out_rows;
    const int32_t *cu, *lens, *dec, *enc, *offsets;
    int64_t n_offsets;
    int max_input_length, enable_logprob;
    fd_dtype dt;
    const void *hidden;   // [token_num, dim] of dt
} rp_in;

// Runs the op; out/first receive the results (first may be NULL = not passed).
static fd_status run(fd_ctx *ctx, const rp_in *in, void *out, void *first) {
    int64_t b = in->bsz;
    fd_tbuf h = FD_TBUF(ctx, in->dt, in->hidden, in->token_num, in->dim);
    fd_tbuf cu = FD_TBUF(ctx, FD_I32, in->cu, b + 1);
    fd_tbuf len = FD_TBUF(ctx, FD_I32, in->lens, b);
    fd_tbuf dec = FD_TBUF(ctx, FD_I32, in->dec, b);
    fd_tbuf enc = FD_TBUF(ctx, FD_I32, in->enc, b);
    fd_tbuf off = FD_TBUF(ctx, FD_I32, in->offsets, in->offsets ? in->n_offsets : 1);
    fd_tbuf o = FD_TBUF(ctx, in->dt, NULL, in->out_rows, in->dim);
    fd_tbuf f = FD_TBUF(ctx, in->dt, NULL, b, in->dim);
    fd_ctx_memset(ctx, o.t.data, 0x55, fd_tensor_bytes(&o.t));  // zero rows must be written
    fd_status s = fd_rebuild_padding(ctx, &h.t, &cu.t, &len.t, &dec.t, &enc.t,
                                     in->offsets ? &off.t : NULL, first ? &f.t : NULL,
                                     in->max_input_length, in->enable_logprob, &o.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) {
        memcpy(out, fd_tbuf_fetch(&o), fd_tensor_bytes(&o.t));
        if (first) memcpy(first, fd_tbuf_fetch(&f), fd_tensor_bytes(&f.t));
    }
    fd_tbuf_free(&h); fd_tbuf_free(&cu); fd_tbuf_free(&len); fd_tbuf_free(&dec);
    fd_tbuf_free(&enc); fd_tbuf_free(&off); fd_tbuf_free(&o); fd_tbuf_free(&f);
    return s;
}

enum { TOK = 100, DIM = 256, BSZ = 8 };
static const int32_t CU[BSZ + 1] = {0, 1, 21, 22, 42, 43, 63, 64, 84};
static const int32_t LENS[BSZ] = {1, 20, 1, 20, 1, 20, 1, 20};
static const int32_t ENC[BSZ] = {0, 20, 0, 20, 0, 20, 0, 20};
static const int32_t DEC[BSZ] = {21, 0, 21, 0, 21, 0, 21, 0};
static float hidden[TOK * DIM], out[TOK * DIM], out2[TOK * DIM];

static void fill_hidden(void) {
    uint64_t rng = 99;
    for (int i = 0; i < TOK * DIM; i++) hidden[i] = fd_test_randf(&rng);
}

// Case 1 of FastDeploy's test: out[b] = hidden[cu[b] + (enc[b] - 1 or 0)].
static void case_no_offsets_on(fd_ctx *ctx) {
    fill_hidden();
    rp_in in = {TOK, DIM, BSZ, BSZ, CU, LENS, DEC, ENC, NULL, 0, 512, 0, FD_F32, hidden};
    CHECK_OK(run(ctx, &in, out, NULL));
    for (int b = 0; b < BSZ; b++) {
        int src = CU[b] + (ENC[b] > 0 ? ENC[b] - 1 : 0);
        CHECK(memcmp(&out[b * DIM], &hidden[src * DIM], DIM * 4) == 0);
    }
}

// Case 2: speculative offsets; 24 output rows, all in decode slot 0.
static void case_offsets_on(fd_ctx *ctx) {
    fill_hidden();
    int32_t offsets[80];
    uint64_t rng = 5;
    for (int i = 0; i < 80; i++) offsets[i] = (int32_t)(fd_test_rand(&rng) % 10);
    int64_t rows = fd_rebuild_padding_out_rows(ENC, BSZ, TOK);
    CHECK_EQ_I64(rows, 24);
    rp_in in = {TOK, DIM, BSZ, rows, CU, LENS, DEC, ENC, offsets, 80, 512, 0, FD_F32, hidden};
    CHECK_OK(run(ctx, &in, out, NULL));
    for (int t = 0; t < rows; t++)
        CHECK(memcmp(&out[t * DIM], &hidden[(t + offsets[t]) * DIM], DIM * 4) == 0);
}

// Idle slots (len 0, or enc = dec = 0) give zero rows; bsz 0 gives nothing.
static void idle_and_empty_on(fd_ctx *ctx) {
    fill_hidden();
    int32_t cu[4] = {0, 0, 3, 3}, lens[3] = {0, 3, 0}, enc[3] = {0, 3, 0}, dec[3] = {5, 0, 0};
    rp_in in = {3, 7, 3, 3, cu, lens, dec, enc, NULL, 0, 16, 0, FD_F32, hidden};
    CHECK_OK(run(ctx, &in, out, NULL));
    for (int i = 0; i < 7; i++) {
        CHECK(out[i] == 0.0f);
        CHECK(out[7 + i] == hidden[2 * 7 + i]);
        CHECK(out[14 + i] == 0.0f);
    }
    int32_t cu0[1] = {0}, none[1] = {0};
    rp_in empty = {3, 7, 0, 0, cu0, none, none, none, NULL, 0, 16, 0, FD_F32, hidden};
    CHECK_OK(run(ctx, &empty, out, NULL));
}

// f16/bf16 rows of odd size (3 elements = 6 bytes) are copied bit-exactly.
static void half_types_odd_dim_on(fd_ctx *ctx) {
    uint16_t h[6 * 3], o[2 * 3];
    for (int i = 0; i < 18; i++) h[i] = (uint16_t)(0x3c00 + i);
    int32_t cu[3] = {0, 4, 6}, lens[2] = {4, 2}, enc[2] = {4, 0}, dec[2] = {0, 9};
    fd_dtype dts[2] = {FD_F16, FD_BF16};
    for (int k = 0; k < 2; k++) {
        rp_in in = {6, 3, 2, 2, cu, lens, dec, enc, NULL, 0, 16, 0, dts[k], h};
        CHECK_OK(run(ctx, &in, o, NULL));
        CHECK(memcmp(&o[0], &h[3 * 3], 6) == 0);   // slot 0: prefill, last of 4 tokens
        CHECK(memcmp(&o[3], &h[4 * 3], 6) == 0);   // slot 1: decode, first token
    }
}

// enable_logprob writes, for a prefill slot, the row before its last token.
static void first_token_out_on(fd_ctx *ctx) {
    fill_hidden();
    int32_t cu[3] = {0, 5, 6}, lens[2] = {5, 1}, enc[2] = {5, 0}, dec[2] = {0, 3};
    int32_t offsets[2] = {4, 0};  // rows: slot 0 local 0 (+4 -> its last token), ...
    // row 0: ori 4 -> slot 0, local 4? no: ori = t + off = 4, b = 4/16 = 0, local 4,
    // src = cu[0] + 4 + (enc-1) = 8 > 5 tokens -> use offset 0 instead.
    offsets[0] = 0;
    offsets[1] = 15;  // row 1: ori 16 -> slot 1, local 0, src = cu[1] = 5
    rp_in in = {6, 4, 2, 2, cu, lens, dec, enc, offsets, 2, 16, 1, FD_F32, hidden};
    float first[2 * 4];
    CHECK_OK(run(ctx, &in, out, first));
    CHECK(memcmp(&out[0], &hidden[4 * 4], 16) == 0);   // slot 0 last prompt token
    CHECK(memcmp(&out[4], &hidden[5 * 4], 16) == 0);
    CHECK(memcmp(&first[0], &hidden[3 * 4], 16) == 0); // the one before it
}

// Source rows outside tmp_out and offsets past the last slot are errors.
static void bad_input_on(fd_ctx *ctx) {
    fill_hidden();
    int32_t cu[3] = {0, 150, 200}, lens[2] = {1, 1}, enc[2] = {0, 0}, dec[2] = {1, 1};
    rp_in in = {100, 4, 2, 2, cu, lens, dec, enc, NULL, 0, 16, 0, FD_F32, hidden};
    CHECK_STATUS(run(ctx, &in, out, NULL), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "rebuild_padding");
    int32_t cu2[3] = {0, 1, 2}, offsets[2] = {0, 40};
    rp_in in2 = {100, 4, 2, 2, cu2, lens, dec, enc, offsets, 2, 16, 0, FD_F32, hidden};
    CHECK_STATUS(run(ctx, &in2, out, NULL), FD_ERR_INVALID_ARG);
}

static void bad_shapes(void) {
    fill_hidden();
    fd_ctx *c = env.cpu;
    fd_tensor h = fd_tensor_2d(hidden, FD_F32, TOK, DIM);
    fd_tensor cu = fd_tensor_1d((void *)CU, FD_I32, BSZ + 1);
    fd_tensor l = fd_tensor_1d((void *)LENS, FD_I32, BSZ);
    fd_tensor wrong_len = fd_tensor_1d((void *)LENS, FD_I32, BSZ - 1);
    fd_tensor o = fd_tensor_2d(out, FD_F32, BSZ, DIM);
    fd_tensor o_f16 = fd_tensor_2d(out, FD_F16, BSZ, DIM);
    CHECK_STATUS(fd_rebuild_padding(c, &h, &cu, &wrong_len, &l, &l, NULL, NULL, 512, 0, &o),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "seq_len_this_time");
    CHECK_STATUS(fd_rebuild_padding(c, &h, &cu, &l, &l, &l, NULL, NULL, 512, 0, &o_f16),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_rebuild_padding(c, NULL, &cu, &l, &l, &l, NULL, NULL, 512, 0, &o),
                 FD_ERR_INVALID_ARG);
}

#define ON_CPU(fn) static void cpu_##fn(void) { fn##_on(env.cpu); }
#define ON_GPU(fn)                                                             \
    static void gpu_##fn(void) {                                               \
        fd_ctx *g = fd_test_gpu_for(&env, "rebuild_padding");                  \
        if (g) fn##_on(g);                                                     \
    }
ON_CPU(case_no_offsets) ON_CPU(case_offsets) ON_CPU(idle_and_empty)
ON_CPU(half_types_odd_dim) ON_CPU(first_token_out) ON_CPU(bad_input)
ON_GPU(case_no_offsets) ON_GPU(case_offsets) ON_GPU(idle_and_empty)
ON_GPU(half_types_odd_dim) ON_GPU(first_token_out) ON_GPU(bad_input)

// Random f32/f16/bf16 batches: GPU equals the reference bit for bit.
static void gpu_random_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "rebuild_padding");
    if (!g) return;
    fill_hidden();
    fd_dtype dts[3] = {FD_F32, FD_F16, FD_BF16};
    for (int k = 0; k < 3; k++) {
        rp_in in = {TOK, 130, BSZ, BSZ, CU, LENS, DEC, ENC, NULL, 0, 512, 0, dts[k], hidden};
        CHECK_OK(run(env.cpu, &in, out, NULL));
        CHECK_OK(run(g, &in, out2, NULL));
        CHECK(memcmp(out, out2, (size_t)BSZ * 130 * fd_dtype_size(dts[k])) == 0);
    }
}

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_case_no_offsets), FD_CASE(cpu_case_offsets),
             FD_CASE(cpu_idle_and_empty), FD_CASE(cpu_half_types_odd_dim),
             FD_CASE(cpu_first_token_out), FD_CASE(cpu_bad_input), FD_CASE(bad_shapes),
             FD_CASE(gpu_case_no_offsets), FD_CASE(gpu_case_offsets),
             FD_CASE(gpu_idle_and_empty), FD_CASE(gpu_half_types_odd_dim),
             FD_CASE(gpu_first_token_out), FD_CASE(gpu_bad_input),
             FD_CASE(gpu_random_vs_reference), FD_CASE(teardown))
