// SPDX-License-Identifier: Apache-2.0
// Private: CUDA launchers (C linkage) of the postprocess ops, called by src/ops/<op>.c
// and defined in src/ops/cuda/<stem>.cu.
#ifndef FD_OPS_POSTPROCESS_LAUNCH_H
#define FD_OPS_POSTPROCESS_LAUNCH_H

#include "ops/op_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fd__set_value_args {
    int64_t *pre_ids;              // [>= bs, len]
    int64_t len;
    const int64_t *input_ids;      // [>= bs, in_len]
    int64_t in_len;
    const int32_t *enc, *dec;
    const int64_t *prompt_lens;    // NULL = 0
    const int64_t *step_idx;
    const uint8_t *stop_flags;     // bool as bytes
    int64_t bs;
} fd__set_value_args;

fd_status fd__cuda_set_value_by_flags_and_idx(const fd__launch *l, const fd__set_value_args *a);

typedef struct fd__stop_args {
    int64_t *topk_ids, *next_tokens;
    uint8_t *stop_flags;
    const int32_t *seq_lens;
    const int64_t *end_ids;
    int64_t n_end;
    const int64_t *pre_ids;        // [>= bs, len]; NULL without stop sequences
    int64_t len;
    const int64_t *step_idx;
    const int64_t *stop_seqs;      // [>= bs, n_seq, seq_max]
    const int32_t *stop_seqs_len;  // [>= bs, n_seq]
    int64_t n_seq, seq_max;
    const int64_t *stop_tokens;    // [>= bs, n_stop_tok]; NULL = none
    const int32_t *stop_tokens_len;
    int64_t n_stop_tok;
    const int64_t *min_tokens, *max_tokens;  // NULL = no bound
    int beam_search, prefill_one_step_stop;
    int64_t bs;
} fd__stop_args;

fd_status fd__cuda_stop_generation_multi_ends(const fd__launch *l, const fd__stop_args *a);

typedef struct fd__penalty_args {
    void *logits;                  // [bs, vocab]
    fd_dtype dtype;
    int64_t bs, vocab;
    const int64_t *hist;           // [>= bs, hist_len]
    int64_t hist_len;
    const int64_t *prompt;         // [>= bs, prompt_stride]; NULL: prompt leads hist rows
    int64_t prompt_stride;
    const int64_t *prompt_lens;    // NULL = 0
    const float *alpha, *beta, *gamma, *temp;
    const int64_t *bad, *bad_len;  // [>= bs, bad_w], [>= bs]; NULL = none
    int64_t bad_w;
    const int64_t *cur, *min_len, *eos;
    int64_t n_eos;
} fd__penalty_args;

fd_status fd__cuda_token_penalty_multi_scores(const fd__launch *l, const fd__penalty_args *a);

#ifndef __cplusplus
// Per-slot vector: [n] or [n, 1] with n >= bs (state buffers are often max_bsz long).
static inline fd_status fd__check_slots(const char *op, const char *name, const fd_tensor *t,
                                        fd_dtype dt, int64_t bs) {
    if (t && t->ndim == 2 && t->ne[1] == 1) {
        FD_TRY(FD_CHECK_T(op, name, t, (int)dt, -1, 1));
    } else {
        FD_TRY(FD_CHECK_T(op, name, t, (int)dt, -1));
    }
    if (t->ne[0] < bs)
        return fd__error(FD_ERR_INVALID_ARG, "%s: %s has %lld entries, need one per slot (%lld)",
                         op, name, (long long)t->ne[0], (long long)bs);
    return FD_OK;
}
#endif

#ifdef __cplusplus
}
#endif
#endif
