// SPDX-License-Identifier: Apache-2.0
// speculate_verify: accept the longest valid prefix of each slot's draft tokens,
// then append one target token (correction or bonus). C reference + dispatch.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/speculate_launch.h"

static const char *OP = "speculate_verify";
typedef fd__spec_verify_args sv_args;

// Per-slot progress: step counter, tokens written, stop flag to store, and
// whether verification ended on a stop (then no target token is appended).
typedef struct sv_state {
    int64_t step;
    int32_t n;
    int stop_flag, stopped;
} sv_state;

enum { SV_NEG_LEN = 1, SV_COLS, SV_ROW, SV_CAND };
typedef struct sv_err {
    int kind;
    int64_t slot, value, limit;
} sv_err;

static int fail(sv_err *e, int kind, int64_t slot, int64_t value, int64_t limit) {
    e->kind = kind;
    e->slot = slot;
    e->value = value;
    e->limit = limit;
    return -1;
}

static int need_col(const sv_args *a, int64_t b, int64_t col, sv_err *e) {
    return col < a->draft_cols ? 0 : fail(e, SV_COLS, b, col, a->draft_cols);
}
static int need_row(const sv_args *a, int64_t b, int64_t row, sv_err *e) {
    return row >= 0 && row < a->total_out ? 0 : fail(e, SV_ROW, b, row, a->total_out);
}
static int cand_len(const sv_args *a, int64_t b, int64_t row, int64_t *len, sv_err *e) {
    int32_t v = a->actual_candidate_len[row];
    if (v < 0) return fail(e, SV_CAND, b, row, v);
    *len = v < a->cands ? v : a->cands;
    return 0;
}

static int is_end(const sv_args *a, int64_t tok) {
    for (int64_t k = 0; k < a->end_len; k++)
        if (a->end_tokens[k] == tok) return 1;
    return 0;
}

// Stores tok at column pos (end_tokens[0] once max_dec_len is reached, as
// upstream does); returns 1 when the slot stops there.
static int put(const sv_args *a, int64_t b, int64_t pos, int64_t tok, sv_state *s, int commit) {
    int at_max = s->step >= a->max_dec_len[b];
    if (commit) a->accept_tokens[b * a->draft_cols + pos] = at_max ? a->end_tokens[0] : tok;
    if (at_max || is_end(a, tok)) {
        s->stop_flag = s->stopped = 1;
        return 1;
    }
    return 0;
}

static int64_t topp_pick(const int64_t *ids, const float *scores, int64_t len, float p,
                         float u) {
    float sum = 0.0f;
    for (int64_t k = 0; k < len; k++) sum += scores[k];
    float r = u * (sum < p ? sum : p);
    sum = 0.0f;
    for (int64_t k = 0; k < len; k++) {
        sum += scores[k];
        if (r <= sum) return ids[k];
    }
    return ids[0];
}

// The draft at column i+1 was rejected but is the 2nd candidate: accept it and the
// next verify_window drafts if each of those is the best candidate. Advances *pi
// past the accepted drafts (CUDA semantics); upstream's stop quirk kept (-1 always).
static int window(const sv_args *a, int64_t b, int64_t base, int64_t *pi, sv_state *s,
                  int commit, sv_err *e) {
    const int64_t C = a->cands, w = a->verify_window, last = a->seq_lens_this_time[b] - 1;
    const int64_t *draft = a->draft_tokens + b * a->draft_cols;
    int64_t i = *pi, ii = i + 1, j = 0;
    if (C < 2 || a->verify_tokens[(base + i) * C + 1] != draft[i + 1]) return 0;
    for (; j < w && ii < last; j++, ii++) {
        if (need_col(a, b, ii + 1, e) || need_row(a, b, base + ii, e)) return -1;
        if (a->verify_tokens[(base + ii) * C] != draft[ii + 1]) break;
    }
    if (j < w) return 0;
    s->n += (int32_t)(w + 1);  // w + 1 <= D here: every window draft had a column
    s->step += w + 1;
    for (; i < ii; i++) {
        if (put(a, b, i, draft[i + 1], s, commit)) {
            s->n--;
            s->step--;
            break;
        }
    }
    *pi = i;
    return 0;
}

// Verifies the drafts of slot b; *pi = the column of the target token.
static int verify_drafts(const sv_args *a, int64_t b, int64_t base, int64_t *pi, sv_state *s,
                         int commit, sv_err *e) {
    const int64_t C = a->cands, last = a->seq_lens_this_time[b] - 1;
    const int64_t *draft = a->draft_tokens + b * a->draft_cols;
    const unsigned f = a->flags;
    int64_t i = 0;
    for (; i < last; i++) {
        if ((f & FD_SPEC_VERIFY_BENCHMARK) || a->seq_lens_encoder[b] != 0) break;
        if (need_col(a, b, i + 1, e)) return -1;
        int64_t d = draft[i + 1], row = base + i, len;
        int ok = 1;
        if (!(f & FD_SPEC_VERIFY_ACCEPT_ALL)) {
            if (need_row(a, b, row, e)) return -1;
            if (f & FD_SPEC_VERIFY_TARGET_SAMPLING) {
                ok = a->sampled[row] == d;
            } else if (f & FD_SPEC_VERIFY_TOP1) {
                ok = a->verify_tokens[row * C] == d;
            } else {
                if (cand_len(a, b, row, &len, e)) return -1;
                ok = 0;
                for (int64_t k = 0; k < len && !ok; k++) ok = a->verify_tokens[row * C + k] == d;
                if (!ok) {
                    if (window(a, b, base, &i, s, commit, e)) return -1;
                    break;
                }
            }
        }
        if (!ok) break;
        s->step++;
        if (put(a, b, i, d, s, commit)) break;
        s->n++;
    }
    *pi = i;
    return 0;
}

// Appends the target token at column i: sampled, top-p sampled, or the best candidate.
static int target_token(const sv_args *a, int64_t b, int64_t base, int64_t i, sv_state *s,
                        int commit, sv_err *e) {
    const int64_t C = a->cands, row = base + i;
    if (need_col(a, b, i, e) || need_row(a, b, row, e)) return -1;
    int64_t tok, len;
    s->step++;
    if (a->flags & FD_SPEC_VERIFY_TARGET_SAMPLING) {
        tok = a->sampled[row];
    } else if (a->flags & FD_SPEC_VERIFY_TOPP) {
        if (cand_len(a, b, row, &len, e)) return -1;
        tok = topp_pick(a->verify_tokens + row * C, a->verify_scores + row * C, len, a->topp[b],
                        fd__spec_uniform(a->seed, a->offset, b));
    } else {
        tok = a->verify_tokens[row * C];
    }
    if (a->flags & FD_SPEC_VERIFY_PREFILL_ONE_STEP_STOP) s->stop_flag = 1;
    put(a, b, i, tok, s, commit);
    return 0;
}

// One slot; with commit = 0 only checks that every access is in range.
static int verify_slot(const sv_args *a, int64_t b, int commit, sv_err *e) {
    if (a->seq_lens_this_time[b] < 0)
        return fail(e, SV_NEG_LEN, b, a->seq_lens_this_time[b], 0);
    if (a->is_block_step[b] || a->stop_flags[b]) return 0;
    int64_t base = b * (int64_t)a->max_seq_len - a->output_cum_offsets[b], i;
    sv_state s = {a->step_idx[b], 1, 0, 0};
    if (verify_drafts(a, b, base, &i, &s, commit, e)) return -1;
    if (!s.stopped && target_token(a, b, base, i, &s, commit, e)) return -1;
    if (commit) {
        a->step_idx[b] = s.step;
        if (s.stop_flag) a->stop_flags[b] = 1;
        a->accept_num[b] = s.n;
    }
    return 0;
}

static fd_status report(const sv_args *a, const sv_err *e) {
    long long b = (long long)e->slot, v = (long long)e->value, lim = (long long)e->limit;
    switch (e->kind) {
    case SV_NEG_LEN:
        return fd__error(FD_ERR_INVALID_ARG, "%s: seq_lens_this_time[%lld] = %lld is negative; "
                         "pass 0 for an idle slot", OP, b, v);
    case SV_COLS:
        return fd__error(FD_ERR_INVALID_ARG, "%s: slot %lld needs column %lld of draft_tokens, "
                         "which has %lld; seq_lens_this_time[%lld] = %d must be <= %lld in decode",
                         OP, b, v, lim, b, a->seq_lens_this_time[b], lim);
    case SV_ROW:
        return fd__error(FD_ERR_INVALID_ARG, "%s: slot %lld reads output row %lld, outside "
                         "verify_tokens' %lld rows; check output_cum_offsets[%lld] and "
                         "max_seq_len", OP, b, v, lim, b);
    default:
        return fd__error(FD_ERR_INVALID_ARG, "%s: actual_candidate_len[%lld] = %lld (slot %lld) "
                         "is negative", OP, v, lim, b);
    }
}

static fd_status ref_speculate_verify(const sv_args *a) {
    sv_err e = {0};
    for (int commit = 0; commit < 2; commit++)  // check every slot before writing any
        for (int64_t b = 0; b < a->real_bsz; b++)
            if (verify_slot(a, b, commit, &e)) return report(a, &e);
    return FD_OK;
}

// A per-slot vector: [n] or [n, 1] (n < 0: any length).
static fd_status check_vec(const char *name, const fd_tensor *t, int dt, int64_t n) {
    if (t && t->ndim == 2) return FD_CHECK_T(OP, name, t, dt, n, 1);
    return FD_CHECK_T(OP, name, t, dt, n);
}

static fd_status check_args(const fd_tensor *accept_tokens, const fd_tensor *seq_lens_this_time,
                            const fd_tensor *verify_tokens, const fd_tensor *end_tokens,
                            int max_seq_len, int verify_window, sv_args *a) {
    FD_TRY(FD_CHECK_T(OP, "accept_tokens", accept_tokens, FD_I64, -1, -1));
    FD_TRY(check_vec("seq_lens_this_time", seq_lens_this_time, FD_I32, -1));
    FD_TRY(FD_CHECK_T(OP, "verify_tokens", verify_tokens, FD_I64, -1, -1));
    FD_TRY(check_vec("end_tokens", end_tokens, FD_I64, -1));
    a->bsz = accept_tokens->ne[0];
    a->draft_cols = accept_tokens->ne[1];
    a->real_bsz = seq_lens_this_time->ne[0];
    a->total_out = verify_tokens->ne[0];
    a->cands = verify_tokens->ne[1];
    a->end_len = end_tokens->ne[0];
    if (a->draft_cols < 1 || a->cands < 1 || a->end_len < 1)
        return fd__error(FD_ERR_INVALID_ARG, "%s: accept_tokens columns (%lld), verify_tokens "
                         "candidates (%lld) and end_tokens (%lld) must each be >= 1", OP,
                         (long long)a->draft_cols, (long long)a->cands, (long long)a->end_len);
    if (a->real_bsz > a->bsz)
        return fd__error(FD_ERR_INVALID_ARG, "%s: seq_lens_this_time has %lld slots, more than "
                         "accept_tokens' %lld", OP, (long long)a->real_bsz, (long long)a->bsz);
    if (a->bsz > INT32_MAX || a->total_out > INT32_MAX || a->draft_cols > INT32_MAX)
        return fd__error(FD_ERR_INVALID_ARG, "%s: sizes must fit in int32 (bsz %lld, rows %lld)",
                         OP, (long long)a->bsz, (long long)a->total_out);
    if (max_seq_len <= 0 || verify_window < 0)
        return fd__error(FD_ERR_INVALID_ARG, "%s: max_seq_len must be > 0 (got %d) and "
                         "verify_window >= 0 (got %d)", OP, max_seq_len, verify_window);
    a->max_seq_len = max_seq_len;
    a->verify_window = verify_window;
    return FD_OK;
}

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
                              uint64_t seed, uint64_t offset) {
    sv_args a;
    memset(&a, 0, sizeof a);
    FD_TRY(check_args(accept_tokens, seq_lens_this_time, verify_tokens, end_tokens, max_seq_len,
                      verify_window, &a));
    const int64_t bsz = a.bsz;
    FD_TRY(FD_CHECK_T(OP, "draft_tokens", draft_tokens, FD_I64, bsz, a.draft_cols));
    FD_TRY(check_vec("accept_num", accept_num, FD_I32, bsz));
    FD_TRY(check_vec("step_idx", step_idx, FD_I64, bsz));
    FD_TRY(check_vec("stop_flags", stop_flags, FD_BOOL, bsz));
    FD_TRY(check_vec("seq_lens_encoder", seq_lens_encoder, FD_I32, bsz));
    FD_TRY(check_vec("max_dec_len", max_dec_len, FD_I64, bsz));
    FD_TRY(check_vec("is_block_step", is_block_step, FD_BOOL, bsz));
    FD_TRY(check_vec("output_cum_offsets", output_cum_offsets, FD_I32, bsz));
    FD_TRY(check_vec("actual_candidate_len", actual_candidate_len, FD_I32, a.total_out));
    if (flags & ~0x3fu)
        return fd__error(FD_ERR_INVALID_ARG, "%s: unknown flags 0x%x; use FD_SPEC_VERIFY_*", OP,
                         flags);
    if (flags & FD_SPEC_VERIFY_TARGET_SAMPLING) {
        FD_TRY(check_vec("sampled_token_ids", sampled_token_ids, FD_I64, a.total_out));
        a.sampled = sampled_token_ids->data;
    }
    if (flags & FD_SPEC_VERIFY_TOPP) {
        FD_TRY(FD_CHECK_T(OP, "verify_scores", verify_scores, FD_F32, a.total_out, a.cands));
        FD_TRY(check_vec("topp", topp, FD_F32, bsz));
        a.verify_scores = verify_scores->data;
        a.topp = topp->data;
    }
    a.accept_tokens = accept_tokens->data;
    a.accept_num = accept_num->data;
    a.step_idx = step_idx->data;
    a.stop_flags = stop_flags->data;
    a.seq_lens_encoder = seq_lens_encoder->data;
    a.draft_tokens = draft_tokens->data;
    a.seq_lens_this_time = seq_lens_this_time->data;
    a.verify_tokens = verify_tokens->data;
    a.max_dec_len = max_dec_len->data;
    a.end_tokens = end_tokens->data;
    a.is_block_step = is_block_step->data;
    a.output_cum_offsets = output_cum_offsets->data;
    a.actual_candidate_len = actual_candidate_len->data;
    a.flags = flags;
    a.seed = seed;
    a.offset = offset;
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_speculate_verify, FD_I64, &variant, &l));
    if (variant == FD_VAR_REF) return ref_speculate_verify(&a);
#if FD_BUILT_speculate_verify
    if (variant == FD_VAR_speculate_verify) return fd__cuda_speculate_verify(&l, &a);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: a hand-worked case on ctx (accept, reject + correction, prefill,
// end token, max_dec_len, preempted slot); on CUDA also random batches in every mode
// compared with the C reference, exactly.

typedef struct sv_case {
    int64_t bsz, cols, real_bsz, rows, cands, n_end;
    int max_seq_len, window;
    unsigned flags;
    const int64_t *draft, *verify, *max_dec, *end, *sampled;
    const int32_t *enc, *stlen, *oco, *acl;
    const float *scores, *topp;
    const uint8_t *block;
} sv_case;

// In/out state of a run: uploaded before, downloaded after.
typedef struct sv_io {
    int64_t *accept_tokens, *step;
    int32_t *accept_num;
    uint8_t *stop;
} sv_io;

enum { B_ACC, B_NUM, B_STEP, B_STOP, B_ENC, B_DRAFT, B_LEN, B_VER, B_SCORE, B_MAX, B_END,
       B_BLOCK, B_OCO, B_ACL, B_TOPP, B_SAMPLED, B_COUNT };

static fd_status sv_run(fd_ctx *ctx, const sv_case *c, sv_io *io, uint64_t offset) {
    fd__cbuf buf[B_COUNT];
    memset(buf, 0, sizeof buf);
    const int64_t sh[B_COUNT][2] = {
        {c->bsz, c->cols}, {c->bsz}, {c->bsz}, {c->bsz}, {c->bsz}, {c->bsz, c->cols},
        {c->real_bsz}, {c->rows, c->cands}, {c->rows, c->cands}, {c->bsz}, {c->n_end},
        {c->bsz}, {c->bsz}, {c->rows}, {c->bsz}, {c->rows}};
    const fd_dtype dt[B_COUNT] = {FD_I64, FD_I32, FD_I64, FD_BOOL, FD_I32, FD_I64, FD_I32,
                                  FD_I64, FD_F32, FD_I64, FD_I64, FD_BOOL, FD_I32, FD_I32,
                                  FD_F32, FD_I64};
    const void *init[B_COUNT] = {io->accept_tokens, io->accept_num, io->step, io->stop, c->enc,
                                 c->draft, c->stlen, c->verify, c->scores, c->max_dec, c->end,
                                 c->block, c->oco, c->acl, c->topp, c->sampled};
    fd_status s = FD_OK;
    for (int k = 0; k < B_COUNT && s == FD_OK; k++)
        s = fd__cbuf_new(&buf[k], ctx, dt[k], (k == B_ACC || k == B_DRAFT || k == B_VER ||
                                               k == B_SCORE) ? 2 : 1, sh[k], init[k]);
    if (s == FD_OK)
        s = fd_speculate_verify(ctx, &buf[B_SAMPLED].t, &buf[B_ACC].t, &buf[B_NUM].t,
                                &buf[B_STEP].t, &buf[B_STOP].t, &buf[B_ENC].t, &buf[B_DRAFT].t,
                                &buf[B_LEN].t, &buf[B_VER].t, &buf[B_SCORE].t, &buf[B_MAX].t,
                                &buf[B_END].t, &buf[B_BLOCK].t, &buf[B_OCO].t, &buf[B_ACL].t,
                                &buf[B_TOPP].t, c->max_seq_len, c->window, c->flags, 7, offset);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    for (int k = B_ACC; k <= B_STOP && s == FD_OK; k++) s = fd__cbuf_fetch(&buf[k]);
    if (s == FD_OK) {
        memcpy(io->accept_tokens, buf[B_ACC].host, (size_t)(c->bsz * c->cols) * 8);
        memcpy(io->accept_num, buf[B_NUM].host, (size_t)c->bsz * 4);
        memcpy(io->step, buf[B_STEP].host, (size_t)c->bsz * 8);
        memcpy(io->stop, buf[B_STOP].host, (size_t)c->bsz);
    }
    for (int k = 0; k < B_COUNT; k++) fd__cbuf_free(&buf[k]);
    return s;
}

// 4 slots, D = 4, C = 3, max_seq_len 4, end tokens {7, 2}.
static fd_check_result sv_known_answer(fd_ctx *ctx, char *detail, size_t n) {
    static const int64_t draft[16] = {1, 10, 11, 12, 0, 0, 0, 0, 1, 20, 21, 0, 1, 5, 5, 5};
    static const int64_t verify[48] = {
        10, 3, 3, 11, 3, 3, 99, 98, 3, 0, 0, 0,  // slot 0: accept, accept, reject 12 -> 99
        7, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0,      // slot 1: prefill, target token = end 7
        20, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0,     // slot 2: accept 20 at max_dec_len
        5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5};     // slot 3: preempted
    static const int64_t max_dec[4] = {100, 100, 10, 100}, end[2] = {7, 2};
    static const int32_t enc[4] = {0, 5, 0, 0}, stlen[4] = {4, 5, 3, 4}, oco[4] = {0, 0, 0, 0};
    static const int32_t acl[16] = {3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t block[4] = {0, 0, 0, 1};
    const sv_case c = {4, 4, 4, 16, 3, 2, 4, 2, 0, draft, verify, max_dec, end, NULL,
                       enc, stlen, oco, acl, NULL, NULL, block};
    int64_t acc[16] = {0}, step[4] = {0, 0, 9, 0};
    int32_t num[4] = {0, 0, 0, -1};
    uint8_t stop[4] = {0};
    sv_io io = {acc, step, num, stop};
    static const int64_t want_acc[16] = {10, 11, 99, 0, 7, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0};
    static const int64_t want_step[4] = {3, 1, 10, 0};
    static const int32_t want_num[4] = {3, 1, 1, -1};
    static const uint8_t want_stop[4] = {0, 1, 1, 0};
    if (sv_run(ctx, &c, &io, 0) != FD_OK) {
        snprintf(detail, n, "%s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (memcmp(acc, want_acc, sizeof acc) || memcmp(step, want_step, sizeof step) ||
        memcmp(num, want_num, sizeof num) || memcmp(stop, want_stop, sizeof stop)) {
        snprintf(detail, n, "hand-worked case: accept_tokens/accept_num/step_idx/stop_flags differ");
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}

// Random batch (tokens in [0, vocab) so drafts are often accepted; every slot fits
// its D columns). Arrays are heap-allocated in one block.
typedef struct sv_rand {
    sv_case c;
    void *mem;
    sv_io io;
} sv_rand;

static int sv_rand_new(sv_rand *r, int64_t bsz, int64_t cols, int64_t cands, int64_t vocab,
                       uint64_t seed) {
    uint64_t rng = seed;
    int64_t rows = 1, *s64;
    int32_t *len = calloc((size_t)bsz, 4);
    if (!len) return -1;
    for (int64_t b = 0; b < bsz; b++) rows += len[b] = (int32_t)(fd__rng_next(&rng) % (cols + 1));
    size_t n64 = (size_t)(2 * bsz * cols + rows * cands + 2 * bsz + 2 + rows + bsz);
    size_t n32 = (size_t)(4 * bsz + rows), nf = (size_t)(rows * cands + bsz);
    char *m = calloc(1, n64 * 8 + n32 * 4 + nf * 4 + 2 * (size_t)bsz);
    if (!m) { free(len); return -1; }
    memset(r, 0, sizeof *r);
    r->mem = m;
    s64 = (int64_t *)m;
    int64_t *draft = s64, *acc = draft + bsz * cols, *ver = acc + bsz * cols;
    int64_t *maxd = ver + rows * cands, *step = maxd + bsz, *end = step + bsz, *smp = end + 2;
    int32_t *enc = (int32_t *)(smp + rows), *oco = enc + bsz, *acl = oco + bsz, *num = acl + rows;
    int32_t *stl = num + bsz;
    float *sc = (float *)(stl + bsz), *topp = sc + rows * cands;
    uint8_t *block = (uint8_t *)(topp + bsz), *stop = block + bsz;
    int64_t base = 0;
    for (int64_t b = 0; b < bsz; b++) {
        stl[b] = len[b];
        enc[b] = fd__rng_next(&rng) % 4 == 0 ? 1 + (int32_t)(fd__rng_next(&rng) % 8) : 0;
        oco[b] = (int32_t)(b * cols - base);
        base += len[b];
        step[b] = (int64_t)(fd__rng_next(&rng) % 50);
        maxd[b] = step[b] + 1 + (int64_t)(fd__rng_next(&rng) % 6);
        block[b] = fd__rng_next(&rng) % 8 == 0;
        stop[b] = fd__rng_next(&rng) % 8 == 0;
        topp[b] = 0.5f + 0.5f * fd__rng_uniform(&rng);
        num[b] = -1;
    }
    for (int64_t i = 0; i < bsz * cols; i++) draft[i] = (int64_t)(fd__rng_next(&rng) % vocab);
    for (int64_t i = 0; i < rows * cands; i++) {
        ver[i] = (int64_t)(fd__rng_next(&rng) % vocab);
        sc[i] = fd__rng_uniform(&rng);
    }
    for (int64_t i = 0; i < rows; i++) {
        acl[i] = (int32_t)(fd__rng_next(&rng) % (cands + 2));
        smp[i] = (int64_t)(fd__rng_next(&rng) % vocab);
    }
    end[0] = vocab - 1;
    end[1] = vocab + 5;
    free(len);
    sv_case c = {bsz, cols, bsz, rows, cands, 2, (int)cols, 1, 0, draft, ver, maxd, end, smp,
                 enc, stl, oco, acl, sc, topp, block};
    r->c = c;
    r->io.accept_tokens = acc;
    r->io.step = step;
    r->io.accept_num = num;
    r->io.stop = stop;
    return 0;
}

static fd_check_result sv_random_vs_cpu(fd_ctx *ctx, fd_ctx *cpu, char *detail, size_t n) {
    static const unsigned modes[] = {0, FD_SPEC_VERIFY_TOPP, FD_SPEC_VERIFY_TOP1,
                                     FD_SPEC_VERIFY_TARGET_SAMPLING, FD_SPEC_VERIFY_ACCEPT_ALL};
    fd_check_result res = FD_CHECK_PASS;
    for (int m = 0; m < 5 && res == FD_CHECK_PASS; m++) {
        sv_rand g, c;
        if (sv_rand_new(&g, 200, 6, 4, 4, 99 + (uint64_t)m) ||
            sv_rand_new(&c, 200, 6, 4, 4, 99 + (uint64_t)m)) {
            snprintf(detail, n, "out of host memory");
            return FD_CHECK_FAIL;
        }
        g.c.flags = c.c.flags = modes[m];
        if (sv_run(ctx, &g.c, &g.io, 5) != FD_OK || sv_run(cpu, &c.c, &c.io, 5) != FD_OK) {
            snprintf(detail, n, "%s", fd_last_error());
            res = FD_CHECK_FAIL;
        } else if (memcmp(g.mem, c.mem,
                          (size_t)((char *)g.io.stop - (char *)g.mem) + (size_t)g.c.bsz)) {
            snprintf(detail, n, "random batch (bsz 200, flags 0x%x): CUDA differs from the C "
                     "reference", modes[m]);
            res = FD_CHECK_FAIL;
        }
        free(g.mem);
        free(c.mem);
    }
    return res;
}

fd_check_result fd__check_speculate_verify(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                           size_t n) {
    (void)dt;
    if (sv_known_answer(ctx, detail, n) != FD_CHECK_PASS) return FD_CHECK_FAIL;
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    return sv_random_vs_cpu(ctx, cpu, detail, n);
}
