// SPDX-License-Identifier: Apache-2.0
// Private: CUDA launchers (C linkage) of the speculate ops, called by src/ops/<op>.c
// and defined in src/ops/cuda/<stem>.cu, and what both sides must compute alike.
#ifndef FD_OPS_SPECULATE_LAUNCH_H
#define FD_OPS_SPECULATE_LAUNCH_H

#include "fdeploy/ops_speculate.h"
#include "ops/op_internal.h"

#ifdef __CUDACC__
#define FD_SPEC_HD static __host__ __device__ __forceinline__
#else
#define FD_SPEC_HD static inline
#endif

#ifdef __cplusplus
extern "C" {
#endif

// speculate_verify's inputs, validated by src/ops/speculate_verify.c. Bools are bytes.
typedef struct fd__spec_verify_args {
    const int64_t *sampled;              // [total_out] or NULL
    int64_t *accept_tokens;              // [bsz, D]
    int32_t *accept_num;
    int64_t *step_idx;
    uint8_t *stop_flags;
    const int32_t *seq_lens_encoder;
    const int64_t *draft_tokens;         // [bsz, D]
    const int32_t *seq_lens_this_time;   // [real_bsz]
    const int64_t *verify_tokens;        // [total_out, C]
    const float *verify_scores;          // [total_out, C] or NULL
    const int64_t *max_dec_len;
    const int64_t *end_tokens;           // [end_len]
    const uint8_t *is_block_step;
    const int32_t *output_cum_offsets;
    const int32_t *actual_candidate_len; // [total_out]
    const float *topp;                   // [bsz] or NULL
    int64_t bsz, real_bsz, draft_cols, total_out, cands, end_len;
    int max_seq_len, verify_window;
    unsigned flags;
    uint64_t seed, offset;
} fd__spec_verify_args;

fd_status fd__cuda_speculate_verify(const fd__launch *l, const fd__spec_verify_args *a);

// The top-p uniform in (0, 1] of slot b: a counter hash (splitmix64 finaliser) of
// (seed, offset, slot), so the CPU reference and the kernel draw the same number.
FD_SPEC_HD uint64_t fd__spec_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}
FD_SPEC_HD float fd__spec_uniform(uint64_t seed, uint64_t offset, int64_t slot) {
    uint64_t h = fd__spec_mix64(seed ^ fd__spec_mix64(offset ^ fd__spec_mix64(
                                            (uint64_t)slot + 0x9e3779b97f4a7c15ull)));
    return (float)((h >> 40) + 1) * (1.0f / 16777216.0f);  // exact: 24-bit integer * 2^-24
}

// speculate_update's inputs, validated by src/ops/speculate_update.c.
typedef struct fd__spec_update_args {
    int32_t *seq_lens_encoder, *seq_lens_decoder;
    uint8_t *not_need_stop;              // [1]
    int64_t *draft_tokens;               // [max_bsz, D]
    int32_t *actual_draft_token_nums;
    const int64_t *accept_tokens;        // [max_bsz, D]
    const int32_t *accept_num;
    const uint8_t *stop_flags, *is_block_step;
    const int32_t *seq_lens_this_time;   // [real_bsz]
    const int64_t *stop_nums;            // [1]
    int32_t *mask_rollback;              // [max_bsz] or NULL
    int64_t max_bsz, real_bsz, draft_cols;
    int mode;                            // fd_spec_update_mode
} fd__spec_update_args;

fd_status fd__cuda_speculate_update(const fd__launch *l, const fd__spec_update_args *a);

#ifdef __cplusplus
}
#endif
#endif
