// SPDX-License-Identifier: Apache-2.0
// Operators: append_attention (paged KV cache write + causal attention over a
// ragged prefill/decode batch). See fdeploy/ops.h for the conventions.
#ifndef FDEPLOY_OPS_ATTENTION_H
#define FDEPLOY_OPS_ATTENTION_H

#include <stddef.h>
#include <stdint.h>
#include "fdeploy/context.h"
#include "fdeploy/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// Optional inputs of fd_append_attention (a zeroed struct, or NULL, = none).
typedef struct fd_attention_opts {
    // Rotary embedding fused into the cache write (K) and the Q load: NULL =
    // none, else a [max_position, rot_dim] f32 table laid out as
    // fd_rotary_cos_sin_cache_init writes it (cos at column i, sin at
    // rot_dim/2 + i). rot_dim even, <= head_dim; columns from rot_dim on are
    // not rotated. Token j of sequence b sits at position seq_lens_decoder[b] + j.
    const fd_tensor *rotary;
    int rotary_neox;            // 1: pairs (i, i + rot_dim/2); 0: pairs (2i, 2i+1)
    // int8 cache: per-kv-head f32 scales [n_kv]; stored q = clamp(rint(x / s), ±127),
    // read back as q * s. Required when the caches are i8, ignored otherwise.
    const fd_tensor *k_scale, *v_scale;
    // Host-side hints, 0 = unknown. max_q_len >= every seq_lens_this_time;
    // max_kv_len >= every seq_lens_decoder + seq_lens_this_time (sizes the
    // KV split; 0 = block table capacity). A sequence that exceeds a given hint
    // is an error. Pass the same max_kv_len to fd_append_attention_workspace_size.
    int64_t max_q_len, max_kv_len;
    // Sliding-window (local) attention: 0 = off (full causal); W > 0 = a query
    // at position p sees only keys k with p - W < k <= p (itself and the W-1
    // before it: Hugging Face Gemma 3's mask, llama.cpp's LLAMA_SWA_TYPE_STANDARD).
    // The cache write is unchanged (every position is stored); negative = error.
    int sliding_window;
    // Scratch in ctx memory of at least fd_append_attention_workspace_size bytes
    // (any dtype, contiguous). NULL = the op allocates and frees one per call.
    fd_tensor *workspace;
} fd_attention_opts;

// Scratch bytes fd_append_attention needs on ctx for these shapes (0 on CPU).
// max_kv_len as in fd_attention_opts (0 = capacity max_blocks_per_seq * block_size).
// The size holds for any sliding_window (a window never needs more scratch).
size_t fd_append_attention_workspace_size(const fd_ctx *ctx, int64_t token_num, int64_t bsz,
                                          int n_q_heads, int n_kv_heads, int head_dim,
                                          int64_t max_blocks_per_seq, int block_size,
                                          int64_t max_kv_len);

// One layer, one step of paged attention over a ragged batch (FastDeploy's
// append_attention): writes this step's K/V into the paged cache (after rotary
// on K), then every new query attends causally over its sequence's whole
// context (cached history + new tokens up to itself), or over its last
// opts->sliding_window positions.
//   qkv [token_num, (n_q + 2*n_kv) * head_dim] f16/bf16/f32: q heads, k heads, v heads;
//   cu_seqlens_q [bsz+1] i32: token offsets of each sequence (cu[0] = 0,
//       cu[b+1] - cu[b] = seq_lens_this_time[b], cu[bsz] <= token_num; rows
//       from cu[bsz] on are not written);
//   seq_lens_decoder [bsz] i32: tokens already cached; seq_lens_this_time [bsz] i32
//       (0 = idle slot, 1 = decode, more = prefill chunk);
//   block_tables [bsz, max_blocks_per_seq] i32: physical block of each logical block;
//   key_cache, value_cache [num_blocks, n_kv, block_size, head_dim], qkv's dtype or
//       i8 (both the same); block_size a power of two in [16, 128];
//   scale: softmax scale (usually 1/sqrt(head_dim));
//   out [token_num, n_q * head_dim], qkv's dtype.
// n_kv comes from the cache, n_q = qkv columns / head_dim - 2 n_kv; n_q must be
// a multiple of n_kv (GQA/MQA); head_dim 64, 128 or 256.
// Token t of sequence b at position p = seq_lens_decoder[b] + j goes to block
// block_tables[b][p / block_size], slot p % block_size.
// CUDA: f16 on SM70+, bf16 on SM80+; f32 runs on the CPU reference only.
// Errors: shapes/dtypes that do not match, an unsupported head_dim or block_size,
// lengths that do not add up, a context longer than the block table or a hint,
// a block table entry outside [0, num_blocks) for a block in use, a position
// outside the rotary table, a negative sliding_window. The C reference checks
// before writing anything; on CUDA these are reported by fd_ctx_sync and the
// offending sequence (or cache block) is skipped, never read or written out
// of bounds.
fd_status fd_append_attention(fd_ctx *ctx, const fd_tensor *qkv, fd_tensor *key_cache,
                              fd_tensor *value_cache, const fd_tensor *cu_seqlens_q,
                              const fd_tensor *seq_lens_decoder,
                              const fd_tensor *seq_lens_this_time,
                              const fd_tensor *block_tables, const fd_attention_opts *opts,
                              float scale, fd_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
