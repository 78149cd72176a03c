// SPDX-License-Identifier: Apache-2.0
// The rows of `fdeploy bench-ops`: one setup per op at serving sizes (batch 64),
// random but valid inputs (ids < vocab, lengths that add up), the call timed,
// and the bytes one call must read + write (for GB/s). Tensor slots c->t[i] are
// numbered per setup in the order of the op's arguments.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_ops.h"

#define BS 64               // batch (sequences / slots / tokens)
#define VOCAB 151936        // Qwen2 vocabulary
#define HIDDEN 4096
#define INTER 14336         // gelu / silu_and_mul width (Llama-3 8B)
#define FFN_INTER 11008     // fd_ffn intermediate (Llama-2 7B), smaller than 14336 for the CPU run
#define NQ 32
#define NKV 8
#define HEAD 128
#define MAX_POS 4096
#define T(c, i) (&(c)->t[i])
#define OPT(c, i) ((c)->t[i].data ? &(c)->t[i] : NULL)

static double esz(fd_dtype dt) { return (double)fd_dtype_size(dt); }

// ---- padding

// 64 sequences of 1..512 tokens; writes the lengths, returns their sum.
static int64_t mixed_lengths(bo_case *c, int64_t *len) {
    int64_t sum = 0;
    for (int b = 0; b < BS; b++) sum += len[b] = bo_rand_int(c, 1, 513);
    return sum;
}

static fd_status call_get_padding_offset(bo_case *c) {
    return fd_get_padding_offset(c->ctx, T(c, 0), T(c, 1), c->n[0], T(c, 2), T(c, 3), T(c, 4),
                                 T(c, 5));
}
static fd_status setup_get_padding_offset(bo_case *c) {
    int64_t len[BS], tok = mixed_lengths(c, len);
    BO_TRY(bo_tensor(c, 0, FD_I64, BS, 512, 0, 0));           // input_ids
    BO_TRY(bo_fill_rand(c, 0, 0, VOCAB));
    BO_TRY(bo_tensor(c, 1, FD_I32, BS, 0, 0, 0));             // seq_len
    BO_TRY(bo_from_i64(c, 1, len));
    BO_TRY(bo_tensor(c, 2, FD_I64, tok, 0, 0, 0));            // x_remove_padding
    BO_TRY(bo_tensor(c, 3, FD_I32, tok, 0, 0, 0));            // batch_id_per_token
    BO_TRY(bo_tensor(c, 4, FD_I32, BS + 1, 0, 0, 0));         // cu_seqlens_q
    BO_TRY(bo_tensor(c, 5, FD_I32, BS + 1, 0, 0, 0));         // cu_seqlens_k
    c->n[0] = tok;
    c->call = call_get_padding_offset;
    c->bytes = BS * 4.0 + tok * (8.0 + 8 + 4) + 2 * (BS + 1) * 4.0;
    snprintf(c->shape, sizeof c->shape, "bsz %d, max_len 512, tokens %lld", BS, (long long)tok);
    return FD_OK;
}

static fd_status call_rebuild_padding(bo_case *c) {
    return fd_rebuild_padding(c->ctx, T(c, 0), T(c, 1), T(c, 2), T(c, 3), T(c, 4), NULL, NULL,
                              512, 0, T(c, 5));
}
static fd_status setup_rebuild_padding(bo_case *c) {
    // Slots of one token decode (history 1..2047); longer ones are prefill chunks.
    int64_t len[BS], tok = mixed_lengths(c, len), cu[BS + 1] = {0}, enc[BS], dec[BS];
    for (int b = 0; b < BS; b++) {
        cu[b + 1] = cu[b] + len[b];
        enc[b] = len[b] > 1 ? len[b] : 0;
        dec[b] = len[b] > 1 ? 0 : bo_rand_int(c, 1, 2048);
    }
    BO_TRY(bo_tensor(c, 0, c->dt, tok, HIDDEN, 0, 0));        // tmp_out
    BO_TRY(bo_fill_rand(c, 0, -1, 1));
    BO_TRY(bo_tensor(c, 1, FD_I32, BS + 1, 0, 0, 0));         // cu_seqlens_q
    BO_TRY(bo_from_i64(c, 1, cu));
    BO_TRY(bo_tensor(c, 2, FD_I32, BS, 0, 0, 0));             // seq_len_this_time
    BO_TRY(bo_from_i64(c, 2, len));
    BO_TRY(bo_tensor(c, 3, FD_I32, BS, 0, 0, 0));             // seq_lens_decoder
    BO_TRY(bo_from_i64(c, 3, dec));
    BO_TRY(bo_tensor(c, 4, FD_I32, BS, 0, 0, 0));             // seq_lens_encoder
    BO_TRY(bo_from_i64(c, 4, enc));
    BO_TRY(bo_tensor(c, 5, c->dt, BS, HIDDEN, 0, 0));         // out
    c->call = call_rebuild_padding;
    c->bytes = 2.0 * BS * HIDDEN * esz(c->dt) + BS * 4.0 * 4;
    snprintf(c->shape, sizeof c->shape, "%lld tokens -> [%d, %d]", (long long)tok, BS, HIDDEN);
    return FD_OK;
}

// ---- postprocess

static fd_status call_set_value(bo_case *c) {
    return fd_set_value_by_flags_and_idx(c->ctx, T(c, 0), T(c, 1), T(c, 2), T(c, 3), T(c, 4),
                                         NULL, T(c, 5), T(c, 6));
}
static fd_status setup_set_value(bo_case *c) {
    int64_t step[BS], dec[BS];
    for (int b = 0; b < BS; b++) dec[b] = 100 + (step[b] = bo_rand_int(c, 1, 2048));
    BO_TRY(bo_tensor(c, 0, FD_I64, BS, 2048, 0, 0));          // pre_ids_all
    BO_TRY(bo_fill_rand(c, 0, 0, VOCAB));
    BO_TRY(bo_tensor(c, 1, FD_I64, BS, 512, 0, 0));           // input_ids
    BO_TRY(bo_fill_rand(c, 1, 0, VOCAB));
    BO_TRY(bo_tensor(c, 2, FD_I32, BS, 0, 0, 0));             // seq_lens_this_time
    BO_TRY(bo_fill_const(c, 2, 1));
    BO_TRY(bo_tensor(c, 3, FD_I32, BS, 0, 0, 0));             // seq_lens_encoder
    BO_TRY(bo_fill_const(c, 3, 0));
    BO_TRY(bo_tensor(c, 4, FD_I32, BS, 0, 0, 0));             // seq_lens_decoder
    BO_TRY(bo_from_i64(c, 4, dec));
    BO_TRY(bo_tensor(c, 5, FD_I64, BS, 0, 0, 0));             // step_idx
    BO_TRY(bo_from_i64(c, 5, step));
    BO_TRY(bo_tensor(c, 6, FD_BOOL, BS, 0, 0, 0));            // stop_flags
    BO_TRY(bo_fill_const(c, 6, 0));
    c->call = call_set_value;
    c->bytes = BS * (4.0 * 3 + 8 + 1 + 8 + 8);
    snprintf(c->shape, sizeof c->shape, "%d slots, history 2048, decode", BS);
    return FD_OK;
}

static fd_status call_stop_generation(bo_case *c) {
    return fd_stop_generation_multi_ends(c->ctx, T(c, 0), T(c, 1), T(c, 2), T(c, 3), T(c, 4),
                                         T(c, 5), T(c, 6), T(c, 7), T(c, 8), T(c, 9), T(c, 10),
                                         NULL, T(c, 11), 0, 0);
}
static fd_status setup_stop_generation(bo_case *c) {
    // Sampled/history tokens < VOCAB-100; end ids, stop tokens and stop sequences above
    // that: nothing stops, so every call sees the same state.
    enum { L = 1024, S = 4, M = 8, K = 4 };
    int64_t end_ids[2] = {VOCAB - 1, VOCAB - 2}, step[BS];
    for (int b = 0; b < BS; b++) step[b] = bo_rand_int(c, M, L + 1);
    BO_TRY(bo_tensor(c, 0, FD_I64, BS, 1, 0, 0));             // topk_ids
    BO_TRY(bo_fill_rand(c, 0, 0, VOCAB - 100));
    BO_TRY(bo_tensor(c, 1, FD_BOOL, BS, 0, 0, 0));            // stop_flags
    BO_TRY(bo_fill_const(c, 1, 0));
    BO_TRY(bo_tensor(c, 2, FD_I32, BS, 0, 0, 0));             // seq_lens
    BO_TRY(bo_fill_const(c, 2, 1));
    BO_TRY(bo_tensor(c, 3, FD_I64, 2, 0, 0, 0));              // end_ids
    BO_TRY(bo_from_i64(c, 3, end_ids));
    BO_TRY(bo_tensor(c, 4, FD_I64, BS, 0, 0, 0));             // next_tokens
    BO_TRY(bo_tensor(c, 5, FD_I64, BS, L, 0, 0));             // pre_ids
    BO_TRY(bo_fill_rand(c, 5, 0, VOCAB - 100));
    BO_TRY(bo_tensor(c, 6, FD_I64, BS, 0, 0, 0));             // step_idx
    BO_TRY(bo_from_i64(c, 6, step));
    BO_TRY(bo_tensor(c, 7, FD_I64, BS, S, M, 0));             // stop_seqs
    BO_TRY(bo_fill_rand(c, 7, VOCAB - 100, VOCAB - 2));
    BO_TRY(bo_tensor(c, 8, FD_I32, BS, S, 0, 0));             // stop_seqs_len
    BO_TRY(bo_fill_rand(c, 8, 1, M + 1));
    BO_TRY(bo_tensor(c, 9, FD_I64, BS, K, 0, 0));             // stop_token_ids
    BO_TRY(bo_fill_rand(c, 9, VOCAB - 100, VOCAB - 2));
    BO_TRY(bo_tensor(c, 10, FD_I32, BS, 0, 0, 0));            // stop_token_ids_len
    BO_TRY(bo_fill_const(c, 10, K));
    BO_TRY(bo_tensor(c, 11, FD_I64, BS, 0, 0, 0));            // max_tokens
    BO_TRY(bo_fill_const(c, 11, 1 << 20));
    c->call = call_stop_generation;
    c->bytes = BS * (8.0 * 2 + 1 * 2 + 4 + 8 + 8 + 8 + S * (M * 8.0 * 2 + 4) + K * 8.0 + 4) + 16;
    snprintf(c->shape, sizeof c->shape, "%d slots, %d stop seqs x %d, %d stop ids", BS, S, M, K);
    return FD_OK;
}

static fd_status call_token_penalty(bo_case *c) {
    return fd_token_penalty_multi_scores(c->ctx, T(c, 0), NULL, NULL, T(c, 1), T(c, 2), T(c, 3),
                                         T(c, 4), T(c, 5), T(c, 6), T(c, 7), T(c, 8), T(c, 9),
                                         T(c, 10));
}
static fd_status setup_token_penalty(bo_case *c) {
    // In place on the logits: the penalties (1.05, 0.1, 0.1) and temperatures in
    // [0.95, 1) keep them finite over the warm-up + timed calls.
    enum { L = 1024, W = 8 };
    int64_t eos[2] = {VOCAB - 1, VOCAB - 2};
    BO_TRY(bo_tensor(c, 0, FD_I64, BS, L, 0, 0));             // pre_ids (all generated)
    BO_TRY(bo_fill_rand(c, 0, 0, VOCAB));
    BO_TRY(bo_tensor(c, 1, c->dt, BS, VOCAB, 0, 0));          // logits
    BO_TRY(bo_fill_rand(c, 1, -8, 8));
    BO_TRY(bo_tensor(c, 2, FD_F32, BS, 0, 0, 0));             // penalty_scores
    BO_TRY(bo_fill_const(c, 2, 1.05));
    BO_TRY(bo_tensor(c, 3, FD_F32, BS, 0, 0, 0));             // frequency_scores
    BO_TRY(bo_fill_const(c, 3, 0.1));
    BO_TRY(bo_tensor(c, 4, FD_F32, BS, 0, 0, 0));             // presence_scores
    BO_TRY(bo_fill_const(c, 4, 0.1));
    BO_TRY(bo_tensor(c, 5, FD_F32, BS, 0, 0, 0));             // temperatures
    BO_TRY(bo_fill_rand(c, 5, 0.95, 1.0));
    BO_TRY(bo_tensor(c, 6, FD_I64, BS, W, 0, 0));             // bad_tokens
    BO_TRY(bo_fill_rand(c, 6, 0, VOCAB));
    BO_TRY(bo_tensor(c, 7, FD_I64, BS, 0, 0, 0));             // bad_tokens_len
    BO_TRY(bo_fill_const(c, 7, W));
    BO_TRY(bo_tensor(c, 8, FD_I64, BS, 0, 0, 0));             // cur_len
    BO_TRY(bo_fill_const(c, 8, L));
    BO_TRY(bo_tensor(c, 9, FD_I64, BS, 0, 0, 0));             // min_len
    BO_TRY(bo_fill_const(c, 9, 1));
    BO_TRY(bo_tensor(c, 10, FD_I64, 2, 0, 0, 0));             // eos_token_id
    BO_TRY(bo_from_i64(c, 10, eos));
    c->call = call_token_penalty;
    c->bytes = 2.0 * BS * VOCAB * esz(c->dt) + BS * L * 8.0 + BS * (W * 8.0 + 4 * 4 + 3 * 8);
    snprintf(c->shape, sizeof c->shape, "[%d, %d], history %d", BS, VOCAB, L);
    return FD_OK;
}

// ---- layers

static fd_status call_rotary(bo_case *c) {
    return fd_fused_rotary_position_encoding(c->ctx, T(c, 0), T(c, 1), T(c, 2), T(c, 3), HEAD, 1);
}
static fd_status setup_rotary(bo_case *c) {
    BO_TRY(bo_tensor(c, 0, c->dt, BS, NQ * HEAD, 0, 0));      // query (in place)
    BO_TRY(bo_fill_rand(c, 0, -1, 1));
    BO_TRY(bo_tensor(c, 1, c->dt, BS, NKV * HEAD, 0, 0));     // key (in place)
    BO_TRY(bo_fill_rand(c, 1, -1, 1));
    BO_TRY(bo_tensor(c, 2, FD_I32, BS, 0, 0, 0));             // position_ids
    BO_TRY(bo_fill_rand(c, 2, 0, MAX_POS));
    BO_TRY(bo_tensor(c, 3, FD_F32, MAX_POS, HEAD, 0, 0));     // cos_sin_cache
    BO_TRY(fd_rotary_cos_sin_cache_init(c->ctx, T(c, 3), 1e6));
    c->call = call_rotary;
    c->bytes = 2.0 * BS * (NQ + NKV) * HEAD * esz(c->dt) + BS * (HEAD * 4.0 + 4);
    snprintf(c->shape, sizeof c->shape, "%d tok, q %dx%d, k %dx%d, neox", BS, NQ, HEAD, NKV, HEAD);
    return FD_OK;
}

static fd_status call_gelu(bo_case *c) { return fd_gelu_tanh(c->ctx, T(c, 0), T(c, 1)); }
static fd_status setup_gelu(bo_case *c) {
    BO_TRY(bo_tensor(c, 0, c->dt, BS, INTER, 0, 0));
    BO_TRY(bo_fill_rand(c, 0, -4, 4));
    BO_TRY(bo_tensor(c, 1, c->dt, BS, INTER, 0, 0));
    c->call = call_gelu;
    c->bytes = 2.0 * BS * INTER * esz(c->dt);
    snprintf(c->shape, sizeof c->shape, "[%d, %d]", BS, INTER);
    return FD_OK;
}

// Qwen3's per-head q/k norms (no bias: repeated calls keep the values bounded).
static fd_status call_qkv_norm(bo_case *c) {
    return fd_qkv_bias_rms_norm(c->ctx, T(c, 0), NQ, NKV, HEAD, NULL, T(c, 1), T(c, 2), 1e-6f);
}
static fd_status setup_qkv_norm(bo_case *c) {
    BO_TRY(bo_tensor(c, 0, c->dt, BS, (NQ + 2 * NKV) * HEAD, 0, 0));   // qkv, in place
    BO_TRY(bo_fill_rand(c, 0, -1, 1));
    for (int i = 1; i <= 2; i++) {                                      // q_norm, k_norm
        BO_TRY(bo_tensor(c, i, FD_F32, HEAD, 0, 0, 0));
        BO_TRY(bo_fill_rand(c, i, 0.5, 1.5));
    }
    c->call = call_qkv_norm;
    c->bytes = 2.0 * BS * (NQ + NKV) * HEAD * esz(c->dt) + 2 * HEAD * 4.0;  // v heads untouched
    snprintf(c->shape, sizeof c->shape, "[%d, (%d+2*%d)*%d], q/k norm", BS, NQ, NKV, HEAD);
    return FD_OK;
}

// ---- speculate: 64 decode slots, 4 draft tokens each (D = 5 columns)

enum { SPEC_D = 5, SPEC_C = 8, SPEC_MAXLEN = 2048 };

static fd_status call_speculate_verify(bo_case *c) {
    return fd_speculate_verify(c->ctx, NULL, T(c, 0), T(c, 1), T(c, 2), T(c, 3), T(c, 4),
                               T(c, 5), T(c, 6), T(c, 7), NULL, T(c, 8), T(c, 9), T(c, 10),
                               T(c, 11), T(c, 12), NULL, SPEC_MAXLEN, 2, 0, 42,
                               (uint64_t)c->n[0]++);
}
static fd_status setup_speculate_verify(bo_case *c) {
    // Drafts match the target's best candidate 70% of the time; nothing stops.
    enum { ROWS = BS * SPEC_D };
    int64_t verify[ROWS * SPEC_C], draft[BS * SPEC_D];
    int64_t offs[BS], end[2] = {VOCAB - 1, VOCAB - 2};
    for (int k = 0; k < ROWS * SPEC_C; k++) verify[k] = bo_rand_int(c, 0, VOCAB - 2);
    for (int b = 0; b < BS; b++) {
        offs[b] = (int64_t)b * (SPEC_MAXLEN - SPEC_D);  // slot b's rows start at b*D
        for (int j = 0; j < SPEC_D; j++)
            draft[b * SPEC_D + j] = j > 0 && bo_rand_int(c, 0, 10) < 7
                                        ? verify[(b * SPEC_D + j - 1) * SPEC_C]
                                        : bo_rand_int(c, 0, VOCAB - 2);
    }
    BO_TRY(bo_tensor(c, 0, FD_I64, BS, SPEC_D, 0, 0));        // accept_tokens
    BO_TRY(bo_tensor(c, 1, FD_I32, BS, 0, 0, 0));             // accept_num
    BO_TRY(bo_tensor(c, 2, FD_I64, BS, 0, 0, 0));             // step_idx
    BO_TRY(bo_fill_rand(c, 2, 1, 1024));
    BO_TRY(bo_tensor(c, 3, FD_BOOL, BS, 0, 0, 0));            // stop_flags
    BO_TRY(bo_fill_const(c, 3, 0));
    BO_TRY(bo_tensor(c, 4, FD_I32, BS, 0, 0, 0));             // seq_lens_encoder
    BO_TRY(bo_fill_const(c, 4, 0));
    BO_TRY(bo_tensor(c, 5, FD_I64, BS, SPEC_D, 0, 0));        // draft_tokens
    BO_TRY(bo_from_i64(c, 5, draft));
    BO_TRY(bo_tensor(c, 6, FD_I32, BS, 0, 0, 0));             // seq_lens_this_time
    BO_TRY(bo_fill_const(c, 6, SPEC_D));
    BO_TRY(bo_tensor(c, 7, FD_I64, ROWS, SPEC_C, 0, 0));      // verify_tokens
    BO_TRY(bo_from_i64(c, 7, verify));
    BO_TRY(bo_tensor(c, 8, FD_I64, BS, 0, 0, 0));             // max_dec_len
    BO_TRY(bo_fill_const(c, 8, 1 << 30));
    BO_TRY(bo_tensor(c, 9, FD_I64, 2, 0, 0, 0));              // end_tokens
    BO_TRY(bo_from_i64(c, 9, end));
    BO_TRY(bo_tensor(c, 10, FD_BOOL, BS, 0, 0, 0));           // is_block_step
    BO_TRY(bo_fill_const(c, 10, 0));
    BO_TRY(bo_tensor(c, 11, FD_I32, BS, 0, 0, 0));            // output_cum_offsets
    BO_TRY(bo_from_i64(c, 11, offs));
    BO_TRY(bo_tensor(c, 12, FD_I32, ROWS, 0, 0, 0));          // actual_candidate_len
    BO_TRY(bo_fill_rand(c, 12, 1, SPEC_C + 1));
    c->call = call_speculate_verify;
    c->bytes = ROWS * (SPEC_C * 8.0 + 4) + BS * (2 * SPEC_D * 8.0 + 4 + 2 * 8 + 2 + 4 * 3 + 8);
    snprintf(c->shape, sizeof c->shape, "%d slots, %d drafts, %d candidates", BS, SPEC_D - 1,
             SPEC_C);
    return FD_OK;
}

static fd_status call_speculate_update(bo_case *c) {
    return fd_speculate_update(c->ctx, T(c, 0), T(c, 1), T(c, 2), T(c, 3), T(c, 4), T(c, 5),
                               T(c, 6), T(c, 7), T(c, 8), T(c, 9), T(c, 10), T(c, 11),
                               FD_SPEC_UPDATE_ROLLBACK);
}
static fd_status setup_speculate_update(bo_case *c) {
    BO_TRY(bo_tensor(c, 0, FD_I32, BS, 0, 0, 0));             // seq_lens_encoder
    BO_TRY(bo_fill_const(c, 0, 0));
    BO_TRY(bo_tensor(c, 1, FD_I32, BS, 0, 0, 0));             // seq_lens_decoder
    BO_TRY(bo_fill_rand(c, 1, 100, 2000));
    BO_TRY(bo_tensor(c, 2, FD_BOOL, 1, 0, 0, 0));             // not_need_stop
    BO_TRY(bo_tensor(c, 3, FD_I64, BS, SPEC_D, 0, 0));        // draft_tokens
    BO_TRY(bo_fill_rand(c, 3, 0, VOCAB));
    BO_TRY(bo_tensor(c, 4, FD_I32, BS, 0, 0, 0));             // actual_draft_token_nums
    BO_TRY(bo_fill_const(c, 4, SPEC_D - 1));
    BO_TRY(bo_tensor(c, 5, FD_I64, BS, SPEC_D, 0, 0));        // accept_tokens
    BO_TRY(bo_fill_rand(c, 5, 0, VOCAB));
    BO_TRY(bo_tensor(c, 6, FD_I32, BS, 0, 0, 0));             // accept_num
    BO_TRY(bo_fill_rand(c, 6, 1, SPEC_D + 1));
    BO_TRY(bo_tensor(c, 7, FD_BOOL, BS, 0, 0, 0));            // stop_flags
    BO_TRY(bo_fill_const(c, 7, 0));
    BO_TRY(bo_tensor(c, 8, FD_I32, BS, 0, 0, 0));             // seq_lens_this_time
    BO_TRY(bo_fill_const(c, 8, SPEC_D));
    BO_TRY(bo_tensor(c, 9, FD_BOOL, BS, 0, 0, 0));            // is_block_step
    BO_TRY(bo_fill_const(c, 9, 0));
    BO_TRY(bo_tensor(c, 10, FD_I64, 1, 0, 0, 0));             // stop_nums
    BO_TRY(bo_fill_const(c, 10, BS));
    BO_TRY(bo_tensor(c, 11, FD_I32, BS, 0, 0, 0));            // mask_rollback
    c->call = call_speculate_update;
    c->bytes = BS * (4.0 * 2 * 2 + 8 * 2 + 4 * 2 + 8 * SPEC_D + 4 + 2 + 4 + 4) + 9;
    snprintf(c->shape, sizeof c->shape, "%d slots, %d drafts, rollback", BS, SPEC_D - 1);
    return FD_OK;
}

// ---- moe: 64 tokens, 128 experts, top 8

enum { EXPERTS = 128, TOPK = 8, MOE_BLOCK = 64 };

static fd_status call_moe_top_k(bo_case *c) {
    return fd_moe_top_k_select(c->ctx, T(c, 0), NULL, TOPK, FD_MOE_SOFTMAX, 1, T(c, 1), T(c, 2));
}
static fd_status setup_moe_top_k(bo_case *c) {
    BO_TRY(bo_tensor(c, 0, FD_F32, BS, EXPERTS, 0, 0));       // gating_logits
    BO_TRY(bo_fill_rand(c, 0, -4, 4));
    BO_TRY(bo_tensor(c, 1, FD_I64, BS, TOPK, 0, 0));          // topk_ids
    BO_TRY(bo_tensor(c, 2, FD_F32, BS, TOPK, 0, 0));          // topk_weights
    c->call = call_moe_top_k;
    c->bytes = BS * EXPERTS * 4.0 + BS * TOPK * 12.0;
    snprintf(c->shape, sizeof c->shape, "[%d, %d] softmax, k %d", BS, EXPERTS, TOPK);
    return FD_OK;
}

static fd_status call_tritonmoe(bo_case *c) {
    return fd_tritonmoe_preprocess(c->ctx, T(c, 0), EXPERTS, MOE_BLOCK, T(c, 1), T(c, 2),
                                   T(c, 3));
}
static fd_status setup_tritonmoe(bo_case *c) {
    int64_t ids[BS * TOPK];
    for (int b = 0; b < BS; b++)  // k distinct experts per token
        for (int j = 0; j < TOPK; j++) {
            int64_t e, dup;
            do {
                e = bo_rand_int(c, 0, EXPERTS);
                dup = 0;
                for (int q = 0; q < j; q++) dup |= ids[b * TOPK + q] == e;
            } while (dup);
            ids[b * TOPK + j] = e;
        }
    int64_t p = fd_tritonmoe_preprocess_capacity(BS * TOPK, EXPERTS, MOE_BLOCK);
    int64_t blocks = (p + MOE_BLOCK - 1) / MOE_BLOCK;
    BO_TRY(bo_tensor(c, 0, FD_I64, BS, TOPK, 0, 0));          // topk_ids
    BO_TRY(bo_from_i64(c, 0, ids));
    BO_TRY(bo_tensor(c, 1, FD_I32, p, 0, 0, 0));              // sorted_ids
    BO_TRY(bo_tensor(c, 2, FD_I32, blocks, 0, 0, 0));         // experts_ids
    BO_TRY(bo_tensor(c, 3, FD_I32, 1, 0, 0, 0));              // num_tokens_post_pad
    c->call = call_tritonmoe;
    c->bytes = BS * TOPK * 8.0 + (p + blocks + 1) * 4.0;
    snprintf(c->shape, sizeof c->shape, "%d assignments, %d experts, block %d", BS * TOPK,
             EXPERTS, MOE_BLOCK);
    return FD_OK;
}

// ---- sampling: probability rows over the whole vocabulary

// Probabilities exp(12 u) normalised per row: a few hundred tokens carry the mass.
static fd_status fill_probs(bo_case *c, int i) {
    BO_TRY(bo_tensor(c, i, FD_F32, BS, VOCAB, 0, 0));
    float *host = bo_host_alloc(sizeof(float) * BS * VOCAB);
    if (!host) return FD_ERR_OOM;
    for (int b = 0; b < BS; b++) {
        float *row = host + (size_t)b * VOCAB;
        double sum = 0;
        for (int v = 0; v < VOCAB; v++)
            sum += row[v] = expf(12.0f * (float)bo_rand_int(c, 0, 1 << 20) / (1 << 20));
        for (int v = 0; v < VOCAB; v++) row[v] = (float)(row[v] / sum);
    }
    fd_status s = bo_upload(c, i, host);
    free(host);
    return s;
}

static fd_status call_top_k_renorm(bo_case *c) {
    return fd_top_k_renorm_probs(c->ctx, T(c, 0), T(c, 1), T(c, 2));
}
static fd_status setup_top_k_renorm(bo_case *c) {
    BO_TRY(fill_probs(c, 0));                                  // probs
    BO_TRY(bo_tensor(c, 1, FD_I64, BS, 0, 0, 0));             // top_k
    BO_TRY(bo_fill_rand(c, 1, 20, 101));
    BO_TRY(bo_tensor(c, 2, FD_F32, BS, VOCAB, 0, 0));         // renorm_probs
    c->call = call_top_k_renorm;
    c->bytes = 2.0 * BS * VOCAB * 4 + BS * 8.0;
    snprintf(c->shape, sizeof c->shape, "[%d, %d], k 20..100", BS, VOCAB);
    return FD_OK;
}

static fd_status call_rejection_sampling(bo_case *c) {
    return fd_rejection_top_p_sampling(c->ctx, T(c, 0), T(c, 1), T(c, 2), c->n[0]++, T(c, 3));
}
static fd_status setup_rejection_sampling(bo_case *c) {
    BO_TRY(fill_probs(c, 0));                                  // probs
    BO_TRY(bo_tensor(c, 1, FD_F32, BS, 0, 0, 0));             // top_p
    BO_TRY(bo_fill_rand(c, 1, 0.8, 0.95));
    BO_TRY(bo_tensor(c, 2, FD_I64, BS, 0, 0, 0));             // top_k
    BO_TRY(bo_fill_rand(c, 2, 20, 101));
    BO_TRY(bo_tensor(c, 3, FD_I64, BS, 0, 0, 0));             // samples
    c->call = call_rejection_sampling;
    c->bytes = BS * VOCAB * 4.0 + BS * (4.0 + 8 + 8);
    snprintf(c->shape, sizeof c->shape, "[%d, %d], top_p 0.8..0.95, k 20..100", BS, VOCAB);
    return FD_OK;
}

// ---- ffn

static fd_status call_silu(bo_case *c) { return fd_silu_and_mul(c->ctx, T(c, 0), T(c, 1)); }
static fd_status setup_silu(bo_case *c) {
    BO_TRY(bo_tensor(c, 0, c->dt, BS, 2 * INTER, 0, 0));
    BO_TRY(bo_fill_rand(c, 0, -4, 4));
    BO_TRY(bo_tensor(c, 1, c->dt, BS, INTER, 0, 0));
    c->call = call_silu;
    c->bytes = 3.0 * BS * INTER * esz(c->dt);
    snprintf(c->shape, sizeof c->shape, "[%d, 2*%d] -> [%d, %d]", BS, INTER, BS, INTER);
    return FD_OK;
}

static fd_status call_gelu_mul(bo_case *c) {
    return fd_gelu_tanh_and_mul(c->ctx, T(c, 0), T(c, 1));
}
static fd_status setup_gelu_mul(bo_case *c) {
    BO_TRY(bo_tensor(c, 0, c->dt, BS, 2 * INTER, 0, 0));
    BO_TRY(bo_fill_rand(c, 0, -4, 4));
    BO_TRY(bo_tensor(c, 1, c->dt, BS, INTER, 0, 0));
    c->call = call_gelu_mul;
    c->bytes = 3.0 * BS * INTER * esz(c->dt);
    snprintf(c->shape, sizeof c->shape, "[%d, 2*%d] -> [%d, %d]", BS, INTER, BS, INTER);
    return FD_OK;
}

// Weights [n, k] of dtype dt: i8 in [-127, 127], or floats scaled for unit-size outputs.
static fd_status weights(bo_case *c, int i, fd_dtype dt, int64_t n, int64_t k) {
    double r = 1.7 / sqrt((double)k);
    BO_TRY(bo_tensor(c, i, dt, n, k, 0, 0));
    return dt == FD_I8 ? bo_fill_rand(c, i, -127, 128) : bo_fill_rand(c, i, -r, r);
}

static fd_status call_matmul(bo_case *c) { return fd_matmul(c->ctx, T(c, 0), T(c, 1), T(c, 2)); }
static fd_status setup_matmul(bo_case *c) {
    BO_TRY(bo_tensor(c, 0, c->dt, BS, HIDDEN, 0, 0));         // a
    BO_TRY(bo_fill_rand(c, 0, -1, 1));
    BO_TRY(weights(c, 1, c->dt, HIDDEN, HIDDEN));              // w
    BO_TRY(bo_tensor(c, 2, c->dt, BS, HIDDEN, 0, 0));         // c
    c->call = call_matmul;
    c->bytes = esz(c->dt) * (2.0 * BS * HIDDEN + (double)HIDDEN * HIDDEN);
    snprintf(c->shape, sizeof c->shape, "M %d, N %d, K %d", BS, HIDDEN, HIDDEN);
    c->heavy = 1;
    return FD_OK;
}

static fd_status call_matmul_wint8(bo_case *c) {
    return fd_matmul_wint8(c->ctx, T(c, 0), T(c, 1), T(c, 2), T(c, 3));
}
static fd_status setup_matmul_wint8(bo_case *c) {
    BO_TRY(bo_tensor(c, 0, c->dt, BS, HIDDEN, 0, 0));         // a
    BO_TRY(bo_fill_rand(c, 0, -1, 1));
    BO_TRY(weights(c, 1, FD_I8, HIDDEN, HIDDEN));              // wq
    BO_TRY(bo_tensor(c, 2, FD_F32, HIDDEN, 0, 0, 0));         // scale
    BO_TRY(bo_fill_rand(c, 2, 1e-4, 3e-4));
    BO_TRY(bo_tensor(c, 3, c->dt, BS, HIDDEN, 0, 0));         // c
    c->call = call_matmul_wint8;
    c->bytes = 2.0 * BS * HIDDEN * esz(c->dt) + (double)HIDDEN * HIDDEN + HIDDEN * 4.0;
    snprintf(c->shape, sizeof c->shape, "M %d, N %d, K %d, w i8", BS, HIDDEN, HIDDEN);
    c->heavy = 1;
    return FD_OK;
}

static fd_status call_ffn(bo_case *c) {
    fd_ffn_weights w = {T(c, 1), NULL, T(c, 2), NULL};
    return fd_ffn(c->ctx, T(c, 0), &w, T(c, 3), T(c, 4));
}
static fd_status setup_ffn(bo_case *c) {
    int64_t scratch = fd_ffn_scratch_elems(BS, FFN_INTER);
    BO_TRY(bo_tensor(c, 0, c->dt, BS, HIDDEN, 0, 0));         // x
    BO_TRY(bo_fill_rand(c, 0, -1, 1));
    BO_TRY(weights(c, 1, c->dt, 2 * FFN_INTER, HIDDEN));       // gate_up
    BO_TRY(weights(c, 2, c->dt, HIDDEN, FFN_INTER));           // down
    BO_TRY(bo_tensor(c, 3, c->dt, scratch, 0, 0, 0));         // scratch
    BO_TRY(bo_tensor(c, 4, c->dt, BS, HIDDEN, 0, 0));         // y
    c->call = call_ffn;
    // weights once, x and y, scratch written and read back (gate/up, activation)
    c->bytes = esz(c->dt) * (3.0 * FFN_INTER * HIDDEN + 2.0 * BS * HIDDEN +
                             2.0 * BS * 3 * FFN_INTER);
    snprintf(c->shape, sizeof c->shape, "M %d, H %d, I %d", BS, HIDDEN, FFN_INTER);
    c->heavy = 1;
    return FD_OK;
}

// ---- attention: 64 decode sequences at 2048 context, paged cache (block 64)

enum { ATT_CTX = 2048, ATT_BLOCK = 64, ATT_BPS = ATT_CTX / ATT_BLOCK, ATT_BLOCKS = BS * ATT_BPS };

static fd_status call_attention(bo_case *c) {
    fd_attention_opts o = {0};
    o.rotary = T(c, 7);
    o.rotary_neox = 1;
    o.max_q_len = 1;
    o.max_kv_len = ATT_CTX;
    o.workspace = OPT(c, 8);
    return fd_append_attention(c->ctx, T(c, 0), T(c, 1), T(c, 2), T(c, 3), T(c, 4), T(c, 5),
                               T(c, 6), &o, 1.0f / sqrtf((float)HEAD), T(c, 9));
}
static fd_status setup_attention(bo_case *c) {
    int64_t table[ATT_BLOCKS];
    int64_t cu[BS + 1];
    for (int k = 0; k < ATT_BLOCKS; k++) table[k] = k;
    for (int k = ATT_BLOCKS - 1; k > 0; k--) {  // blocks scattered over the pool
        int64_t j = bo_rand_int(c, 0, k + 1), x = table[k];
        table[k] = table[j];
        table[j] = x;
    }
    for (int b = 0; b <= BS; b++) cu[b] = b;
    BO_TRY(bo_tensor(c, 0, c->dt, BS, (NQ + 2 * NKV) * HEAD, 0, 0));   // qkv
    BO_TRY(bo_fill_rand(c, 0, -1, 1));
    for (int i = 1; i <= 2; i++) {                                      // key/value cache
        BO_TRY(bo_tensor(c, i, c->dt, ATT_BLOCKS, NKV, ATT_BLOCK, HEAD));
        BO_TRY(bo_fill_rand(c, i, -1, 1));
    }
    BO_TRY(bo_tensor(c, 3, FD_I32, BS + 1, 0, 0, 0));         // cu_seqlens_q
    BO_TRY(bo_from_i64(c, 3, cu));
    BO_TRY(bo_tensor(c, 4, FD_I32, BS, 0, 0, 0));             // seq_lens_decoder
    BO_TRY(bo_fill_const(c, 4, ATT_CTX - 1));
    BO_TRY(bo_tensor(c, 5, FD_I32, BS, 0, 0, 0));             // seq_lens_this_time
    BO_TRY(bo_fill_const(c, 5, 1));
    BO_TRY(bo_tensor(c, 6, FD_I32, BS, ATT_BPS, 0, 0));       // block_tables
    BO_TRY(bo_from_i64(c, 6, table));
    BO_TRY(bo_tensor(c, 7, FD_F32, MAX_POS, HEAD, 0, 0));     // rotary table
    BO_TRY(fd_rotary_cos_sin_cache_init(c->ctx, T(c, 7), 1e6));
    size_t ws = fd_append_attention_workspace_size(c->ctx, BS, BS, NQ, NKV, HEAD, ATT_BPS,
                                                   ATT_BLOCK, ATT_CTX);
    if (ws) BO_TRY(bo_tensor(c, 8, FD_U8, (int64_t)ws, 0, 0, 0));      // workspace
    BO_TRY(bo_tensor(c, 9, c->dt, BS, NQ * HEAD, 0, 0));      // out
    c->call = call_attention;
    c->bytes = esz(c->dt) * (2.0 * BS * ATT_CTX * NKV * HEAD + BS * (NQ + 2 * NKV) * HEAD +
                             BS * NQ * HEAD) +
               BS * (ATT_BPS * 4.0 + 12) + BS * HEAD * 4.0;
    snprintf(c->shape, sizeof c->shape, "%d seqs x ctx %d, %d/%d heads x %d, blk %d", BS,
             ATT_CTX, NQ, NKV, HEAD, ATT_BLOCK);
    c->heavy = 1;
    return FD_OK;
}

// ---- model (GGUF runtime)

static fd_status call_gguf_matmul(bo_case *c) {
    return fd_gguf_matmul(c->ctx, T(c, 0), T(c, 1), FD_GGML_Q4_K, HIDDEN, T(c, 2));
}
static fd_status setup_gguf_matmul_m(bo_case *c, int64_t m) {
    int64_t row = HIDDEN / fd_ggml_block_elems(FD_GGML_Q4_K) *
                  (int64_t)fd_ggml_block_bytes(FD_GGML_Q4_K);
    BO_TRY(bo_tensor(c, 0, c->dt, m, HIDDEN, 0, 0));          // x
    BO_TRY(bo_fill_rand(c, 0, -1, 1));
    BO_TRY(bo_tensor(c, 1, FD_U8, HIDDEN, row, 0, 0));        // w (Q4_K rows)
    BO_TRY(bo_fill_q4k(c, 1));
    BO_TRY(bo_tensor(c, 2, c->dt, m, HIDDEN, 0, 0));          // y
    c->call = call_gguf_matmul;
    c->bytes = (double)HIDDEN * row + 2.0 * m * HIDDEN * esz(c->dt);
    snprintf(c->shape, sizeof c->shape, "M %lld, N %d, K %d, Q4_K", (long long)m, HIDDEN,
             HIDDEN);
    c->heavy = m > 1;
    return FD_OK;
}
static fd_status setup_gguf_matmul(bo_case *c) { return setup_gguf_matmul_m(c, BS); }
static fd_status setup_gguf_matmul_m1(bo_case *c) { return setup_gguf_matmul_m(c, 1); }

static fd_status call_gguf_get_rows(bo_case *c) {
    return fd_gguf_get_rows(c->ctx, T(c, 0), FD_GGML_Q4_K, T(c, 1), T(c, 2));
}
static fd_status setup_gguf_get_rows(bo_case *c) {
    int64_t row = HIDDEN / fd_ggml_block_elems(FD_GGML_Q4_K) *
                  (int64_t)fd_ggml_block_bytes(FD_GGML_Q4_K);
    BO_TRY(bo_tensor(c, 0, FD_U8, VOCAB, row, 0, 0));         // token_embd (Q4_K)
    BO_TRY(bo_fill_q4k(c, 0));
    BO_TRY(bo_tensor(c, 1, FD_I32, BS, 0, 0, 0));             // ids
    BO_TRY(bo_fill_rand(c, 1, 0, VOCAB));
    BO_TRY(bo_tensor(c, 2, c->dt, BS, HIDDEN, 0, 0));         // out
    c->call = call_gguf_get_rows;
    c->bytes = BS * (double)row + BS * 4.0 + BS * HIDDEN * esz(c->dt);
    snprintf(c->shape, sizeof c->shape, "%d ids of [%d, %d] Q4_K", BS, VOCAB, HIDDEN);
    return FD_OK;
}

static fd_status call_rms_norm(bo_case *c) {
    return fd_rms_norm(c->ctx, T(c, 0), NULL, T(c, 1), 1e-6f, T(c, 2));
}
static fd_status setup_rms_norm(bo_case *c) {
    BO_TRY(bo_tensor(c, 0, c->dt, BS, HIDDEN, 0, 0));         // x
    BO_TRY(bo_fill_rand(c, 0, -2, 2));
    BO_TRY(bo_tensor(c, 1, FD_F32, HIDDEN, 0, 0, 0));         // w
    BO_TRY(bo_fill_rand(c, 1, 0.5, 1.5));
    BO_TRY(bo_tensor(c, 2, c->dt, BS, HIDDEN, 0, 0));         // out
    c->call = call_rms_norm;
    c->bytes = 2.0 * BS * HIDDEN * esz(c->dt) + HIDDEN * 4.0;
    snprintf(c->shape, sizeof c->shape, "[%d, %d]", BS, HIDDEN);
    return FD_OK;
}

static fd_status call_add(bo_case *c) { return fd_add(c->ctx, T(c, 0), T(c, 1), T(c, 2)); }
static fd_status setup_add(bo_case *c) {
    for (int i = 0; i < 3; i++) BO_TRY(bo_tensor(c, i, c->dt, BS, HIDDEN, 0, 0));
    BO_TRY(bo_fill_rand(c, 0, -1, 1));
    BO_TRY(bo_fill_rand(c, 1, -1, 1));
    c->call = call_add;
    c->bytes = 3.0 * BS * HIDDEN * esz(c->dt);
    snprintf(c->shape, sizeof c->shape, "[%d, %d]", BS, HIDDEN);
    return FD_OK;
}

static fd_status call_scale(bo_case *c) { return fd_scale(c->ctx, T(c, 0), 64.0f, T(c, 1)); }
static fd_status setup_scale(bo_case *c) {
    BO_TRY(bo_tensor(c, 0, c->dt, BS, HIDDEN, 0, 0));         // a (embeddings)
    BO_TRY(bo_fill_rand(c, 0, -1, 1));
    BO_TRY(bo_tensor(c, 1, c->dt, BS, HIDDEN, 0, 0));         // out
    c->call = call_scale;
    c->bytes = 2.0 * BS * HIDDEN * esz(c->dt);
    snprintf(c->shape, sizeof c->shape, "[%d, %d] * sqrt(%d)", BS, HIDDEN, HIDDEN);
    return FD_OK;
}

// ---- the table, in op table order (src/ops/ops.def)

const bo_op bo_ops[] = {
    {"get_padding_offset", FD_I64, setup_get_padding_offset},
    {"rebuild_padding", FD_F16, setup_rebuild_padding},
    {"set_value_by_flags_and_idx", FD_I64, setup_set_value},
    {"stop_generation_multi_ends", FD_I64, setup_stop_generation},
    {"token_penalty_multi_scores", FD_F16, setup_token_penalty},
    {"fused_rotary_position_encoding", FD_F16, setup_rotary},
    {"gelu_tanh", FD_F16, setup_gelu},
    {"qkv_bias_rms_norm", FD_F16, setup_qkv_norm},
    {"speculate_verify", FD_I64, setup_speculate_verify},
    {"speculate_update", FD_I32, setup_speculate_update},
    {"moe_top_k_select", FD_F32, setup_moe_top_k},
    {"tritonmoe_preprocess", FD_I64, setup_tritonmoe},
    {"top_k_renorm_probs", FD_F32, setup_top_k_renorm},
    {"rejection_top_p_sampling", FD_F32, setup_rejection_sampling},
    {"silu_and_mul", FD_F16, setup_silu},
    {"gelu_tanh_and_mul", FD_F16, setup_gelu_mul},
    {"matmul", FD_F16, setup_matmul},
    {"matmul_wint8", FD_F16, setup_matmul_wint8},
    {"ffn", FD_F16, setup_ffn},
    {"append_attention", FD_F16, setup_attention},
    {"gguf_matmul", FD_F16, setup_gguf_matmul},
    {"gguf_matmul", FD_F16, setup_gguf_matmul_m1},
    {"gguf_get_rows", FD_F16, setup_gguf_get_rows},
    {"rms_norm", FD_F16, setup_rms_norm},
    {"add", FD_F16, setup_add},
    {"scale", FD_F16, setup_scale},
};
const int bo_n_ops = (int)(sizeof bo_ops / sizeof bo_ops[0]);
