// SPDX-License-Identifier: Apache-2.0
// Private: CUDA launchers (C linkage) of the attention ops, called by
// src/ops/append_attention.c and defined in src/ops/cuda/append_attention_sm*.cu.
#ifndef FD_OPS_ATTENTION_LAUNCH_H
#define FD_OPS_ATTENTION_LAUNCH_H

#include "ops/op_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

// Work split chosen on the host (same for the workspace size query and the launch).
// "small" sequences (seq_lens_this_time * group <= 16: decode, short speculative
// verify) run 16-row query tiles; the others bm_big-row tiles (64, 32 for
// head_dim 256, 128 for the sm_90a wgmma tiles).
// Split s of a tile covers keys [lo + s*chunk, lo + (s+1)*chunk), lo = the
// window start of the tile's first row (0 without a sliding window).
typedef struct fd__attn_plan {
    int splits_small, chunk_small;   // KV splits and keys per split, small tiles
    int splits_big, chunk_big;       // same, big tiles
    int bm_big;                      // query rows of a big tile (the variant's tile)
    int big_wgmma;                   // big tiles on the sm_90a wgmma kernels
    int64_t big_tiles_max;           // upper bound on big (sequence, q tile) pairs
    size_t meta_bytes;               // per-sequence flags + big tile prefix sums
    size_t part_bytes;               // split partials: f32 O and log-sum-exp
} fd__attn_plan;

// Validated arguments (shapes, dtypes, head counts) of append_attention.
typedef struct fd__attn_args {
    const void *qkv;                 // [token_num, (n_q + 2 n_kv) * head_dim]
    void *key_cache, *value_cache;   // [num_blocks, n_kv, block_size, head_dim]
    const int32_t *cu_seqlens_q, *seq_lens_decoder, *seq_lens_this_time, *block_tables;
    const float *rotary;             // [max_position, rot_dim] or NULL
    const float *k_scale, *v_scale;  // [n_kv] when cache_int8
    void *out;                       // [token_num, n_q * head_dim]
    void *workspace;                 // >= meta_bytes + part_bytes (CUDA only)
    fd_dtype dtype;
    int cache_int8, rotary_neox, rot_dim;
    int64_t token_num, bsz, max_blocks_per_seq, num_blocks, max_position;
    int64_t max_q_len, max_kv_len;   // hints, 0 = unknown (max_kv_len resolved by the plan)
    int n_q, n_kv, head_dim, block_size;
    int window;                      // sliding window, 0 = full causal
    float scale;
    fd__attn_plan plan;
} fd__attn_args;

fd_status fd__cuda_append_attention_sm70(const fd__launch *l, const fd__attn_args *a);
fd_status fd__cuda_append_attention_sm80(const fd__launch *l, const fd__attn_args *a);
fd_status fd__cuda_append_attention_sm90a(const fd__launch *l, const fd__attn_args *a);

#ifdef __cplusplus
}
#endif
#endif
