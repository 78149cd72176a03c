// SPDX-License-Identifier: Apache-2.0
// Operators: speculate_verify, speculate_update. See fdeploy/ops.h for the conventions.
// Per-slot vectors ([bsz]) may also be given as [bsz, 1], as FastDeploy keeps them.
#ifndef FDEPLOY_OPS_SPECULATE_H
#define FDEPLOY_OPS_SPECULATE_H

#include <stdint.h>
#include "fdeploy/context.h"
#include "fdeploy/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- speculate_verify

// Modes of fd_speculate_verify (bit flags; FastDeploy's arguments and env switches).
enum {
    // Sample the correction/bonus token by top-p over the candidates (enable_topp);
    // otherwise take the best candidate (greedy).
    FD_SPEC_VERIFY_TOPP = 1u << 0,
    // Accept a draft only if it is the best candidate (SPECULATE_VERIFY_USE_TOPK=1);
    // otherwise any of the first actual_candidate_len candidates, plus the top-2 window.
    FD_SPEC_VERIFY_TOP1 = 1u << 1,
    // Compare drafts with, and take the bonus from, sampled_token_ids
    // (SPECULATE_VERIFY_USE_TARGET_SAMPLING=1). Takes precedence over TOP1/TOPP.
    FD_SPEC_VERIFY_TARGET_SAMPLING = 1u << 2,
    FD_SPEC_VERIFY_ACCEPT_ALL = 1u << 3,     // accept every draft (accept_all_drafts)
    FD_SPEC_VERIFY_BENCHMARK = 1u << 4,      // verify no draft (benchmark_mode)
    FD_SPEC_VERIFY_PREFILL_ONE_STEP_STOP = 1u << 5,  // stop every slot after one token
};

// Verifies the draft tokens of each slot against the target model's candidates:
// accepts the longest valid prefix, then appends one target token (correction or
// bonus); counts steps and stops on end tokens and max_dec_len.
//   bsz = accept_tokens.ne[0], D = draft columns, real_bsz = seq_lens_this_time.ne[0]
//   (<= bsz), total_out = verify_tokens.ne[0] (output rows), C = candidates per row.
//   sampled_token_ids  [total_out] (or [total_out,1]) i64, only with TARGET_SAMPLING (else NULL ok)
//   accept_tokens      [bsz, D] i64   out: accepted drafts then the target token
//   accept_num         [bsz] i32      out: tokens written to accept_tokens
//   step_idx           [bsz] i64      in/out: generated-token counter
//   stop_flags         [bsz] bool     in/out
//   seq_lens_encoder   [bsz] i32      != 0: prefill slot, no drafts verified
//   draft_tokens       [bsz, D] i64   column 0 = last accepted token, drafts from column 1
//   seq_lens_this_time [real_bsz] i32 1 + number of drafts (decode)
//   verify_tokens      [total_out, C] i64  target candidates per output row, best first
//   verify_scores      [total_out, C] f32  their probabilities (only with TOPP, else NULL ok)
//   max_dec_len        [bsz] i64;  end_tokens [E] i64, E >= 1 (end_tokens[0] replaces a
//                                  token that reaches max_dec_len)
//   is_block_step      [bsz] bool     preempted slots are skipped
//   output_cum_offsets [bsz] i32      first output row of slot b = b*max_seq_len - offset[b]
//   actual_candidate_len [total_out] i32  valid candidates per row (clamped to C)
//   topp               [bsz] f32      only with TOPP (else NULL ok)
// Slots that are stopped, preempted or >= real_bsz are left untouched. Top-p sampling is
// deterministic: the uniform of slot b comes from a counter hash of (seed, offset, b),
// identical on every backend (advance offset every step).
// Errors: a negative seq_lens_this_time or actual_candidate_len, an output row outside
// verify_tokens, or a decode slot that needs more than D columns
// (seq_lens_this_time > D). The C reference checks every slot before writing any.
fd_status fd_speculate_verify(fd_ctx *ctx, const fd_tensor *sampled_token_ids,
                              fd_tensor *accept_tokens, fd_tensor *accept_num,
                              fd_tensor *step_idx, fd_tensor *stop_flags,
                              const fd_tensor *seq_lens_encoder, const fd_tensor *draft_tokens,
                              const fd_tensor *seq_lens_this_time,
                              const fd_tensor *verify_tokens, const fd_tensor *verify_scores,
                              const fd_tensor *max_dec_len, const fd_tensor *end_tokens,
                              const fd_tensor *is_block_step,
                              const fd_tensor *output_cum_offsets,
                              const fd_tensor *actual_candidate_len, const fd_tensor *topp,
                              int max_seq_len, int verify_window, unsigned flags,
                              uint64_t seed, uint64_t offset);

// ---- speculate_update

// FastDeploy's three versions of the update.
typedef enum fd_spec_update_mode {
    FD_SPEC_UPDATE_ROLLBACK = 0,  // current: stopped slots keep their length; mask_rollback
    FD_SPEC_UPDATE_V1 = 1,        // older: decode slots grow even when stopped; no mask_rollback
    FD_SPEC_UPDATE_V3 = 2,        // V1, then a stopped slot's seq_lens_decoder becomes 0
} fd_spec_update_mode;

// Advances the speculative state after verification, for slots b < real_bsz that are
// not preempted: a decode slot's seq_lens_decoder grows by accept_num; the draft count
// adapts (+2/+1 when every draft was accepted, else -1, kept in [1, D-1]); a prefill
// slot moves to decode (dec += enc, enc = 0); draft_tokens[b][0] becomes the last
// accepted token (kept when accept_num is 0). not_need_stop[0] = (stopped slots +
// slots >= real_bsz) < stop_nums[0].
//   seq_lens_encoder, seq_lens_decoder [max_bsz] i32 in/out; not_need_stop [1] bool out
//   (context memory: the caller downloads it); draft_tokens [max_bsz, D] i64 in/out;
//   actual_draft_token_nums [max_bsz] i32 in/out; accept_tokens [max_bsz, D] i64;
//   accept_num [max_bsz] i32; stop_flags, is_block_step [max_bsz] bool;
//   seq_lens_this_time [real_bsz] i32 (real_bsz <= max_bsz); stop_nums [1] i64;
//   mask_rollback [max_bsz] i32 out (ROLLBACK mode: tokens to roll back; NULL otherwise).
// Errors: an accept_num outside [0, D] in a slot that is updated.
fd_status fd_speculate_update(fd_ctx *ctx, fd_tensor *seq_lens_encoder,
                              fd_tensor *seq_lens_decoder, fd_tensor *not_need_stop,
                              fd_tensor *draft_tokens, fd_tensor *actual_draft_token_nums,
                              const fd_tensor *accept_tokens, const fd_tensor *accept_num,
                              const fd_tensor *stop_flags,
                              const fd_tensor *seq_lens_this_time,
                              const fd_tensor *is_block_step, const fd_tensor *stop_nums,
                              fd_tensor *mask_rollback, fd_spec_update_mode mode);

#ifdef __cplusplus
}
#endif
#endif
