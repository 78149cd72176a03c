// SPDX-License-Identifier: Apache-2.0
// Operators: set_value_by_flags_and_idx, stop_generation_multi_ends, token_penalty_multi_scores. See fdeploy/ops.h for the conventions.
// Per-slot vectors ("[bs]") may be given as [n] or [n, 1] with n >= bs; only
// the first bs entries are read or written.
#ifndef FDEPLOY_OPS_POSTPROCESS_H
#define FDEPLOY_OPS_POSTPROCESS_H

#include <stdint.h>
#include "fdeploy/context.h"
#include "fdeploy/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// Records the token fed into this step in each slot's history (in place on
// pre_ids_all), before sampling, so penalties and stop sequences can see it.
//   pre_ids_all [max_bsz, L] i64 (max_bsz >= bs), input_ids [max_bsz, max_input_len] i64,
//   seq_lens_this_time [bs] i32 (defines bs; only its length is used),
//   seq_lens_encoder, seq_lens_decoder [bs] i32, step_idx [bs] i64, stop_flags [bs] bool,
//   prompt_lens [bs] i64 or NULL. With prompt_lens the buffer is laid out as
//   token_ids_all (prompt first) and the position is prompt_lens[b] + step_idx[b];
//   without it the position is step_idx[b].
// For each slot that is not stopped, not empty (enc or dec > 0) and has
// step_idx > 0: writes input_ids[b][enc - 1] (prefill) or input_ids[b][0] (decode).
// Errors (nothing written): enc outside [0, max_input_len], a negative
// prompt length, a position >= L.
fd_status fd_set_value_by_flags_and_idx(fd_ctx *ctx, fd_tensor *pre_ids_all,
                                        const fd_tensor *input_ids,
                                        const fd_tensor *seq_lens_this_time,
                                        const fd_tensor *seq_lens_encoder,
                                        const fd_tensor *seq_lens_decoder,
                                        const fd_tensor *prompt_lens,
                                        const fd_tensor *step_idx,
                                        const fd_tensor *stop_flags);

// Decides which slots finish after sampling (FastDeploy's set_stop_value_multi_ends).
//   topk_ids [bs, 1] i64 (sampled tokens, in/out; defines bs), stop_flags [bs] bool (in/out),
//   seq_lens [bs] i32 (seq_lens_this_time), end_ids [E] i64 (E >= 1),
//   next_tokens [bs] i64 (out), step_idx [bs] i64,
//   pre_ids [bs, L] i64, stop_seqs [bs, S, M] i64, stop_seqs_len [bs, S] i32:
//   all three NULL for no stop sequences (lengths <= 0 are unused entries,
//   lengths > M count as M, as upstream's tests expect);
//   stop_token_ids [bs, K] i64 + stop_token_ids_len [bs] i32, both or neither;
//   min_tokens, max_tokens [bs] i64 or NULL (no minimum / no maximum).
// A slot may stop by token only once step_idx >= min_tokens. An already stopped
// slot emits end_ids[0] (-1 if idle, seq_lens 0). A live slot stops when (unless
// beam_search) it sampled an end id or one of its stop_token_ids, when
// step_idx >= max_tokens, or when a stop sequence matches the history ending at
// pre_ids[b][step_idx - 1]. A slot that stops emits end_ids[0] in topk_ids
// and next_tokens. prefill_one_step_stop (disaggregated prefill node): every
// slot stops now. Error (nothing written): step_idx > L for a slot whose stop
// sequences are examined.
fd_status fd_stop_generation_multi_ends(fd_ctx *ctx, fd_tensor *topk_ids, fd_tensor *stop_flags,
                                        const fd_tensor *seq_lens, const fd_tensor *end_ids,
                                        fd_tensor *next_tokens, const fd_tensor *pre_ids,
                                        const fd_tensor *step_idx, const fd_tensor *stop_seqs,
                                        const fd_tensor *stop_seqs_len,
                                        const fd_tensor *stop_token_ids,
                                        const fd_tensor *stop_token_ids_len,
                                        const fd_tensor *min_tokens,
                                        const fd_tensor *max_tokens, int beam_search,
                                        int prefill_one_step_stop);

// Adjusts logits before sampling, in place (FastDeploy's get_token_penalty_multi_scores):
// min-length ban of end ids, repetition (alpha), frequency (beta) and presence
// (gamma) penalties, temperature, bad words.
//   logits [bs, V] f32/f16/bf16 (defines bs and V);
//   pre_ids [bs, L] i64: the history, -1 = empty;
//   prompt_ids [bs, Lp] i64 or NULL; prompt_lens [bs] i64 or NULL (= 0).
//     With prompt_ids: generated = all of pre_ids[b], prompt = prompt_ids[b][0, plen).
//     Without (token_ids_all layout): prompt = pre_ids[b][0, plen), generated = the rest.
//   penalty_scores, frequency_scores, presence_scores, temperatures [bs] f32;
//   bad_tokens [bs, W] i64 and bad_tokens_len [bs] i64, or both NULL;
//   cur_len [bs] i64 (step_idx; < 0 = inactive row: only the temperature applies),
//   min_len [bs] i64, eos_token_id [E] i64.
// Per row: if cur < min, end ids get -1e10 (-1e4 for f16); then for each token v
// with x = logit: seen in prompt or generated -> x < 0 ? x*alpha : x/alpha;
// generated n > 0 times -> x -= n*beta + gamma; x /= temperature; finally the
// first bad_tokens_len ids in [0, V) get -1e10 (ids outside are ignored).
// Temperature and alpha must be > 0 (not checked, as upstream).
// Errors: an eos id outside [0, V), a history id >= V in a row whose
// penalties are active, a prompt length outside the history.
fd_status fd_token_penalty_multi_scores(fd_ctx *ctx, const fd_tensor *pre_ids,
                                        const fd_tensor *prompt_ids,
                                        const fd_tensor *prompt_lens, fd_tensor *logits,
                                        const fd_tensor *penalty_scores,
                                        const fd_tensor *frequency_scores,
                                        const fd_tensor *presence_scores,
                                        const fd_tensor *temperatures,
                                        const fd_tensor *bad_tokens,
                                        const fd_tensor *bad_tokens_len,
                                        const fd_tensor *cur_len, const fd_tensor *min_len,
                                        const fd_tensor *eos_token_id);

#ifdef __cplusplus
}
#endif
#endif
