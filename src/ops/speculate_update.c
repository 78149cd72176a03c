// SPDX-License-Identifier: Apache-2.0
// speculate_update: after verification, grow each slot's KV length by the accepted
// tokens, adapt its draft count, move prefills to decode, seed the next draft row
// and decide whether the serving loop goes on. C reference + dispatch.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/speculate_launch.h"

static const char *OP = "speculate_update";
typedef fd__spec_update_args su_args;

// Next draft count: grow by 2 (or 1) after a full accept, else shrink; within [1, D-1].
static int32_t next_draft_count(int64_t cur, int64_t accepted, int64_t cols) {
    if (accepted - 1 == cur) {
        if (cur + 2 <= cols - 1) return (int32_t)(cur + 2);
        if (cur + 1 <= cols - 1) return (int32_t)(cur + 1);
        return (int32_t)(cols - 1);
    }
    return cur - 1 >= 1 ? (int32_t)(cur - 1) : 1;
}

static void update_slot(const su_args *a, int64_t b) {
    const int64_t an = a->accept_num[b], enc = a->seq_lens_encoder[b], D = a->draft_cols;
    const int stop = a->stop_flags[b] != 0, len = a->seq_lens_this_time[b];
    int64_t dec = a->seq_lens_decoder[b];
    if (a->mode == FD_SPEC_UPDATE_ROLLBACK) {
        if (!stop && enc == 0) dec += an;
        a->mask_rollback[b] = stop || enc != 0 ? 0 : (int32_t)(len - an);
    } else if (enc == 0) {
        dec += an;  // older versions grow stopped decode slots too
    }
    if (enc == 0 && len > 1)
        a->actual_draft_token_nums[b] = next_draft_count(a->actual_draft_token_nums[b], an, D);
    if (enc != 0) {
        dec += enc;
        a->seq_lens_encoder[b] = 0;
    }
    if (an >= 1) a->draft_tokens[b * D] = a->accept_tokens[b * D + an - 1];
    if (a->mode == FD_SPEC_UPDATE_V3 && stop) dec = 0;
    a->seq_lens_decoder[b] = (int32_t)dec;
}

static fd_status ref_speculate_update(const su_args *a) {
    for (int64_t b = 0; b < a->real_bsz; b++)  // check every slot before writing any
        if (!a->is_block_step[b] && (a->accept_num[b] < 0 || a->accept_num[b] > a->draft_cols))
            return fd__error(FD_ERR_INVALID_ARG, "%s: accept_num[%lld] = %d is outside [0, %lld] "
                             "(the columns of accept_tokens); pass speculate_verify's output",
                             OP, (long long)b, a->accept_num[b], (long long)a->draft_cols);
    int64_t stopped = 0;
    for (int64_t b = 0; b < a->max_bsz; b++) {
        if (b >= a->real_bsz) {
            stopped++;  // slots past the batch count as stopped
            continue;
        }
        if (a->is_block_step[b]) continue;
        stopped += a->stop_flags[b] != 0;
        update_slot(a, b);
    }
    a->not_need_stop[0] = stopped < a->stop_nums[0];
    return FD_OK;
}

// A per-slot vector: [n] or [n, 1] (n < 0: any length).
static fd_status check_vec(const char *name, const fd_tensor *t, int dt, int64_t n) {
    if (t && t->ndim == 2) return FD_CHECK_T(OP, name, t, dt, n, 1);
    return FD_CHECK_T(OP, name, t, dt, n);
}

fd_status fd_speculate_update(fd_ctx *ctx, fd_tensor *seq_lens_encoder,
                              fd_tensor *seq_lens_decoder, fd_tensor *not_need_stop,
                              fd_tensor *draft_tokens, fd_tensor *actual_draft_token_nums,
                              const fd_tensor *accept_tokens, const fd_tensor *accept_num,
                              const fd_tensor *stop_flags,
                              const fd_tensor *seq_lens_this_time,
                              const fd_tensor *is_block_step, const fd_tensor *stop_nums,
                              fd_tensor *mask_rollback, fd_spec_update_mode mode) {
    FD_TRY(check_vec("seq_lens_encoder", seq_lens_encoder, FD_I32, -1));
    FD_TRY(FD_CHECK_T(OP, "draft_tokens", draft_tokens, FD_I64, -1, -1));
    su_args a;
    memset(&a, 0, sizeof a);
    a.max_bsz = seq_lens_encoder->ne[0];
    a.draft_cols = draft_tokens->ne[1];
    FD_TRY(check_vec("seq_lens_this_time", seq_lens_this_time, FD_I32, -1));
    a.real_bsz = seq_lens_this_time->ne[0];
    if (a.real_bsz > a.max_bsz || a.max_bsz > INT32_MAX || a.draft_cols < 1)
        return fd__error(FD_ERR_INVALID_ARG, "%s: seq_lens_this_time has %lld slots, max_bsz "
                         "is %lld, draft_tokens has %lld columns; need real_bsz <= max_bsz and "
                         ">= 1 column", OP, (long long)a.real_bsz, (long long)a.max_bsz,
                         (long long)a.draft_cols);
    if (mode != FD_SPEC_UPDATE_ROLLBACK && mode != FD_SPEC_UPDATE_V1 && mode != FD_SPEC_UPDATE_V3)
        return fd__error(FD_ERR_INVALID_ARG, "%s: unknown mode %d; use FD_SPEC_UPDATE_*", OP,
                         (int)mode);
    const int64_t n = a.max_bsz;
    FD_TRY(check_vec("seq_lens_decoder", seq_lens_decoder, FD_I32, n));
    FD_TRY(check_vec("not_need_stop", not_need_stop, FD_BOOL, 1));
    FD_TRY(FD_CHECK_T(OP, "draft_tokens", draft_tokens, FD_I64, n, a.draft_cols));
    FD_TRY(check_vec("actual_draft_token_nums", actual_draft_token_nums, FD_I32, n));
    FD_TRY(FD_CHECK_T(OP, "accept_tokens", accept_tokens, FD_I64, n, a.draft_cols));
    FD_TRY(check_vec("accept_num", accept_num, FD_I32, n));
    FD_TRY(check_vec("stop_flags", stop_flags, FD_BOOL, n));
    FD_TRY(check_vec("is_block_step", is_block_step, FD_BOOL, n));
    FD_TRY(check_vec("stop_nums", stop_nums, FD_I64, 1));
    if (mode == FD_SPEC_UPDATE_ROLLBACK) {
        FD_TRY(check_vec("mask_rollback", mask_rollback, FD_I32, n));
        a.mask_rollback = mask_rollback->data;
    }
    a.seq_lens_encoder = seq_lens_encoder->data;
    a.seq_lens_decoder = seq_lens_decoder->data;
    a.not_need_stop = not_need_stop->data;
    a.draft_tokens = draft_tokens->data;
    a.actual_draft_token_nums = actual_draft_token_nums->data;
    a.accept_tokens = accept_tokens->data;
    a.accept_num = accept_num->data;
    a.stop_flags = stop_flags->data;
    a.is_block_step = is_block_step->data;
    a.seq_lens_this_time = seq_lens_this_time->data;
    a.stop_nums = stop_nums->data;
    a.mode = (int)mode;
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_speculate_update, FD_I32, &variant, &l));
    if (variant == FD_VAR_REF) return ref_speculate_update(&a);
#if FD_BUILT_speculate_update
    if (variant == FD_VAR_speculate_update) return fd__cuda_speculate_update(&l, &a);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: a hand-worked case (decode, prefill, stopped, preempted, idle slot,
// accept_num 0) on ctx; on CUDA also random batches in each mode vs the C reference.

typedef struct su_case {
    int64_t max_bsz, real_bsz, cols, stop_nums;
    int32_t *enc, *dec, *ndraft, *num, *len, *mask;
    int64_t *draft, *acc;
    uint8_t *stop, *block, not_need_stop;
} su_case;

enum { U_ENC, U_DEC, U_NNS, U_DRAFT, U_NDRAFT, U_ACC, U_NUM, U_STOP, U_LEN, U_BLOCK, U_SNUM,
       U_MASK, U_COUNT };

// Runs the op on ctx with c's arrays as input; writes the outputs back into c.
static fd_status su_run(fd_ctx *ctx, su_case *c, fd_spec_update_mode mode) {
    fd__cbuf buf[U_COUNT];
    memset(buf, 0, sizeof buf);
    const int64_t B = c->max_bsz, sh[U_COUNT][2] = {{B}, {B}, {1}, {B, c->cols}, {B},
                                                   {B, c->cols}, {B}, {B}, {c->real_bsz},
                                                   {B}, {1}, {B}};
    const fd_dtype dt[U_COUNT] = {FD_I32, FD_I32, FD_BOOL, FD_I64, FD_I32, FD_I64, FD_I32,
                                  FD_BOOL, FD_I32, FD_BOOL, FD_I64, FD_I32};
    const void *init[U_COUNT] = {c->enc, c->dec, &c->not_need_stop, c->draft, c->ndraft, c->acc,
                                 c->num, c->stop, c->len, c->block, &c->stop_nums, c->mask};
    void *back[U_COUNT] = {c->enc, c->dec, &c->not_need_stop, c->draft, c->ndraft, NULL, NULL,
                           NULL, NULL, NULL, NULL, c->mask};
    fd_status s = FD_OK;
    for (int k = 0; k < U_COUNT && s == FD_OK; k++)
        s = fd__cbuf_new(&buf[k], ctx, dt[k], (k == U_DRAFT || k == U_ACC) ? 2 : 1, sh[k],
                         init[k]);
    if (s == FD_OK)
        s = fd_speculate_update(ctx, &buf[U_ENC].t, &buf[U_DEC].t, &buf[U_NNS].t,
                                &buf[U_DRAFT].t, &buf[U_NDRAFT].t, &buf[U_ACC].t, &buf[U_NUM].t,
                                &buf[U_STOP].t, &buf[U_LEN].t, &buf[U_BLOCK].t, &buf[U_SNUM].t,
                                &buf[U_MASK].t, mode);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    for (int k = 0; k < U_COUNT && s == FD_OK; k++) {
        if (!back[k]) continue;
        s = fd__cbuf_fetch(&buf[k]);
        if (s == FD_OK) memcpy(back[k], buf[k].host, fd_tensor_bytes(&buf[k].t));
    }
    for (int k = 0; k < U_COUNT; k++) fd__cbuf_free(&buf[k]);
    return s;
}

static fd_check_result su_known_answer(fd_ctx *ctx, char *detail, size_t n) {
    int32_t enc[6] = {0, 7, 0, 0, 0, 0}, dec[6] = {10, 0, 20, 30, 5, 40};
    int32_t ndraft[6] = {1, 2, 2, 2, 2, 2}, num[6] = {2, 1, 1, 9, 0, 1}, len[5] = {4, 7, 1, 4, 3};
    int32_t mask[6] = {-1, -1, -1, -1, -1, -1};
    int64_t draft[24] = {0}, acc[24];
    uint8_t stop[6] = {0, 0, 1, 0, 0, 0}, block[6] = {0, 0, 0, 1, 0, 0};
    for (int i = 0; i < 24; i++) acc[i] = 100 + i;
    su_case c = {6, 5, 4, 3, enc, dec, ndraft, num, len, mask, draft, acc, stop, block, 0};
    static const int32_t want_enc[6] = {0, 0, 0, 0, 0, 0}, want_dec[6] = {12, 7, 20, 30, 5, 40};
    static const int32_t want_nd[6] = {3, 2, 2, 2, 1, 2}, want_mask[6] = {2, 0, 0, -1, 3, -1};
    static const int64_t want_d0[6] = {101, 104, 108, 0, 0, 0};
    if (su_run(ctx, &c, FD_SPEC_UPDATE_ROLLBACK) != FD_OK) {
        snprintf(detail, n, "%s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    int bad = memcmp(enc, want_enc, sizeof enc) || memcmp(dec, want_dec, sizeof dec) ||
              memcmp(ndraft, want_nd, sizeof ndraft) || memcmp(mask, want_mask, sizeof mask) ||
              c.not_need_stop != 1;
    for (int b = 0; b < 6; b++) bad |= draft[b * 4] != want_d0[b];
    if (bad) {
        snprintf(detail, n, "hand-worked case: lengths/draft counts/draft tokens differ");
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}

// Random state for max_bsz slots (FastDeploy's generator ranges, own RNG), one heap block.
static void *su_rand_new(su_case *c, int64_t max_bsz, int64_t real_bsz, int64_t cols,
                         uint64_t seed) {
    char *m = calloc(1, (size_t)max_bsz * (6 * 4 + 2 * 8 * (size_t)cols + 2));
    if (!m) return NULL;
    uint64_t rng = seed;
    memset(c, 0, sizeof *c);
    c->max_bsz = max_bsz;
    c->real_bsz = real_bsz;
    c->cols = cols;
    c->stop_nums = 5;
    c->draft = (int64_t *)m;
    c->acc = c->draft + max_bsz * cols;
    c->enc = (int32_t *)(c->acc + max_bsz * cols);
    c->dec = c->enc + max_bsz;
    c->ndraft = c->dec + max_bsz;
    c->num = c->ndraft + max_bsz;
    c->len = c->num + max_bsz;
    c->mask = c->len + max_bsz;
    c->stop = (uint8_t *)(c->mask + max_bsz);
    c->block = c->stop + max_bsz;
    for (int64_t i = 0; i < max_bsz * cols; i++) {
        c->draft[i] = (int64_t)(fd__rng_next(&rng) % 1000);
        c->acc[i] = (int64_t)(fd__rng_next(&rng) % 1000);
    }
    for (int64_t b = 0; b < max_bsz; b++) {
        c->enc[b] = (int32_t)(fd__rng_next(&rng) % 3);
        c->dec[b] = (int32_t)(fd__rng_next(&rng) % 20);
        c->ndraft[b] = 1 + (int32_t)(fd__rng_next(&rng) % (uint64_t)(cols - 1));
        c->num[b] = 1 + (int32_t)(fd__rng_next(&rng) % (uint64_t)(cols - 1));
        c->len[b] = 1 + (int32_t)(fd__rng_next(&rng) % (uint64_t)(cols - 1));
        c->stop[b] = fd__rng_next(&rng) & 1;
        c->block[b] = fd__rng_next(&rng) & 1;
    }
    return m;
}

fd_check_result fd__check_speculate_update(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                           size_t n) {
    (void)dt;
    if (su_known_answer(ctx, detail, n) != FD_CHECK_PASS) return FD_CHECK_FAIL;
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    const size_t bytes = 512 * (6 * 4 + 2 * 8 * 32 + 2);
    for (int mode = 0; mode < 3; mode++) {
        su_case g, c;
        void *mg = su_rand_new(&g, 512, 201, 32, 2022), *mc = su_rand_new(&c, 512, 201, 32, 2022);
        fd_check_result r = FD_CHECK_PASS;
        if (!mg || !mc) {
            snprintf(detail, n, "out of host memory");
            r = FD_CHECK_FAIL;
        } else if (su_run(ctx, &g, (fd_spec_update_mode)mode) != FD_OK ||
                   su_run(cpu, &c, (fd_spec_update_mode)mode) != FD_OK) {
            snprintf(detail, n, "%s", fd_last_error());
            r = FD_CHECK_FAIL;
        } else if (memcmp(mg, mc, bytes) || g.not_need_stop != c.not_need_stop) {
            snprintf(detail, n, "random batch (mode %d): CUDA differs from the C reference", mode);
            r = FD_CHECK_FAIL;
        }
        free(mg);
        free(mc);
        if (r != FD_CHECK_PASS) return r;
    }
    return FD_CHECK_PASS;
}
