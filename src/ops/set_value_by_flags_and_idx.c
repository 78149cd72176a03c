// SPDX-License-Identifier: Apache-2.0
// set_value_by_flags_and_idx: before sampling, record the token fed into this
// step (the last prompt token of a prefill, or the token sampled last step)
// in the slot's history at its step index. C reference + dispatch.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/postprocess_launch.h"

static const char *OP = "set_value_by_flags_and_idx";

// Where slot b writes (-1 = nothing to write) and the column of input_ids it
// copies; an error for input that would index outside the buffers.
static fd_status ref_target(const fd__set_value_args *a, int64_t b, int64_t *pos, int64_t *col) {
    *pos = -1;
    if (a->stop_flags[b]) return FD_OK;
    int32_t enc = a->enc[b], dec = a->dec[b];
    if (enc == 0 && dec == 0) return FD_OK;  // empty slot
    if (a->step_idx[b] <= 0) return FD_OK;   // nothing generated yet
    if (enc < 0 || enc > a->in_len)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: seq_lens_encoder[%lld] = %d is outside [0, %lld] (input_ids columns)",
                         OP, (long long)b, enc, (long long)a->in_len);
    if (a->in_len < 1)
        return fd__error(FD_ERR_INVALID_ARG, "%s: input_ids has no columns", OP);
    int64_t plen = a->prompt_lens ? a->prompt_lens[b] : 0;
    if (plen < 0)
        return fd__error(FD_ERR_INVALID_ARG, "%s: prompt_lens[%lld] = %lld is negative", OP,
                         (long long)b, (long long)plen);
    int64_t p = plen + a->step_idx[b];
    if (p >= a->len)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: slot %lld writes position %lld (prompt_len %lld + step_idx %lld) "
                         "but pre_ids_all has %lld columns; size it to max_model_len",
                         OP, (long long)b, (long long)p, (long long)plen,
                         (long long)a->step_idx[b], (long long)a->len);
    *pos = p;
    *col = enc > 0 ? enc - 1 : 0;
    return FD_OK;
}

static fd_status ref_set_value(const fd__set_value_args *a) {
    int64_t pos, col;
    for (int64_t b = 0; b < a->bs; b++) FD_TRY(ref_target(a, b, &pos, &col));  // validate first
    for (int64_t b = 0; b < a->bs; b++) {
        ref_target(a, b, &pos, &col);
        if (pos >= 0) a->pre_ids[b * a->len + pos] = a->input_ids[b * a->in_len + col];
    }
    return FD_OK;
}

fd_status fd_set_value_by_flags_and_idx(fd_ctx *ctx, fd_tensor *pre_ids_all,
                                        const fd_tensor *input_ids,
                                        const fd_tensor *seq_lens_this_time,
                                        const fd_tensor *seq_lens_encoder,
                                        const fd_tensor *seq_lens_decoder,
                                        const fd_tensor *prompt_lens,
                                        const fd_tensor *step_idx,
                                        const fd_tensor *stop_flags) {
    FD_TRY(fd__check_slots(OP, "seq_lens_this_time", seq_lens_this_time, FD_I32, 0));
    int64_t bs = seq_lens_this_time->ne[0];
    FD_TRY(FD_CHECK_T(OP, "pre_ids_all", pre_ids_all, FD_I64, -1, -1));
    FD_TRY(FD_CHECK_T(OP, "input_ids", input_ids, FD_I64, -1, -1));
    if (pre_ids_all->ne[0] < bs || input_ids->ne[0] < bs)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: pre_ids_all has %lld rows and input_ids %lld; need >= bs = %lld",
                         OP, (long long)pre_ids_all->ne[0], (long long)input_ids->ne[0],
                         (long long)bs);
    FD_TRY(fd__check_slots(OP, "seq_lens_encoder", seq_lens_encoder, FD_I32, bs));
    FD_TRY(fd__check_slots(OP, "seq_lens_decoder", seq_lens_decoder, FD_I32, bs));
    if (prompt_lens) FD_TRY(fd__check_slots(OP, "prompt_lens", prompt_lens, FD_I64, bs));
    FD_TRY(fd__check_slots(OP, "step_idx", step_idx, FD_I64, bs));
    FD_TRY(fd__check_slots(OP, "stop_flags", stop_flags, FD_BOOL, bs));
    fd__set_value_args a = {pre_ids_all->data, pre_ids_all->ne[1], input_ids->data,
                            input_ids->ne[1], seq_lens_encoder->data, seq_lens_decoder->data,
                            prompt_lens ? prompt_lens->data : NULL, step_idx->data,
                            stop_flags->data, bs};
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_set_value_by_flags_and_idx, FD_I64, &variant, &l));
    if (variant == FD_VAR_REF) return ref_set_value(&a);
#if FD_BUILT_set_value_by_flags_and_idx
    if (variant == FD_VAR_set_value_by_flags_and_idx)
        return fd__cuda_set_value_by_flags_and_idx(&l, &a);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: FastDeploy's corner cases on ctx; on CUDA a random batch
// (bs 64) compared with the C reference, exact.

typedef struct sv_case {
    int64_t bs, len, in_len;
    const int64_t *pre, *ids, *step, *plen;
    const int32_t *enc, *dec;
    const uint8_t *stop;
} sv_case;

static fd_status sv_run(fd_ctx *ctx, const sv_case *c, int64_t *out) {
    fd__cbuf b_pre, b_ids, b_stl, b_enc, b_dec, b_pl, b_step, b_stop;
    int64_t s_pre[2] = {c->bs, c->len}, s_ids[2] = {c->bs, c->in_len}, s_b[2] = {c->bs, 1};
    fd_status s = fd__cbuf_new(&b_pre, ctx, FD_I64, 2, s_pre, c->pre);
    if (s == FD_OK) s = fd__cbuf_new(&b_ids, ctx, FD_I64, 2, s_ids, c->ids);
    if (s == FD_OK) s = fd__cbuf_new(&b_stl, ctx, FD_I32, 1, s_b, c->enc);
    if (s == FD_OK) s = fd__cbuf_new(&b_enc, ctx, FD_I32, 1, s_b, c->enc);
    if (s == FD_OK) s = fd__cbuf_new(&b_dec, ctx, FD_I32, 1, s_b, c->dec);
    if (s == FD_OK) s = fd__cbuf_new(&b_pl, ctx, FD_I64, 2, s_b, c->plen);
    if (s == FD_OK) s = fd__cbuf_new(&b_step, ctx, FD_I64, 1, s_b, c->step);
    if (s == FD_OK) s = fd__cbuf_new(&b_stop, ctx, FD_BOOL, 1, s_b, c->stop);
    if (s == FD_OK)
        s = fd_set_value_by_flags_and_idx(ctx, &b_pre.t, &b_ids.t, &b_stl.t, &b_enc.t, &b_dec.t,
                                          &b_pl.t, &b_step.t, &b_stop.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&b_pre);
    if (s == FD_OK) memcpy(out, b_pre.host, (size_t)(c->bs * c->len) * 8);
    fd__cbuf_free(&b_pre); fd__cbuf_free(&b_ids); fd__cbuf_free(&b_stl); fd__cbuf_free(&b_enc);
    fd__cbuf_free(&b_dec); fd__cbuf_free(&b_pl); fd__cbuf_free(&b_step); fd__cbuf_free(&b_stop);
    return s;
}

static fd_check_result sv_random(fd_ctx *ctx, fd_ctx *cpu, char *detail, size_t n) {
    enum { BS = 64, LEN = 32, IN = 16 };
    int64_t *buf = calloc(4 * BS * LEN + BS * IN + 2 * BS, sizeof *buf);
    int32_t enc[BS], dec[BS];
    uint8_t stop[BS];
    if (!buf) return FD_CHECK_FAIL;
    int64_t *pre = buf, *g = pre + BS * LEN, *c = g + BS * LEN, *ids = c + BS * LEN,
            *step = ids + BS * IN, *plen = step + BS;
    uint64_t rng = 17;
    for (int i = 0; i < BS * LEN; i++) pre[i] = (int64_t)(fd__rng_next(&rng) % 1000);
    for (int i = 0; i < BS * IN; i++) ids[i] = (int64_t)(fd__rng_next(&rng) % 151936);
    for (int b = 0; b < BS; b++) {
        enc[b] = (int32_t)(fd__rng_next(&rng) % (IN + 1));
        dec[b] = (int32_t)(fd__rng_next(&rng) % 3);
        step[b] = (int64_t)(fd__rng_next(&rng) % 16) - 1;
        plen[b] = (int64_t)(fd__rng_next(&rng) % 16);
        stop[b] = fd__rng_next(&rng) % 10 == 0;
    }
    sv_case rc = {BS, LEN, IN, pre, ids, step, plen, enc, dec, stop};
    fd_check_result r = FD_CHECK_PASS;
    if (sv_run(ctx, &rc, g) != FD_OK || sv_run(cpu, &rc, c) != FD_OK) {
        snprintf(detail, n, "random batch: %s", fd_last_error());
        r = FD_CHECK_FAIL;
    } else if (memcmp(g, c, (size_t)BS * LEN * 8)) {
        snprintf(detail, n, "random batch (bs 64): CUDA differs from the C reference");
        r = FD_CHECK_FAIL;
    }
    free(buf);
    return r;
}

fd_check_result fd__check_set_value_by_flags_and_idx(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt,
                                                     char *detail, size_t n) {
    // Slots: prefill at step 0 (no write), decode at step 2 (writes 101 at 2),
    // stopped, empty, step -1.
    static const int64_t ids[5][3] = {{11, 12, 13}, {101, 102}, {5, 6, 7}, {8, 9}, {42, 43}};
    static const int32_t enc[5] = {3, 0, 3, 0, 2}, dec[5] = {0, 2, 0, 0, 1};
    static const int64_t step[5] = {0, 2, 1, 0, -1}, plen[5] = {0};
    static const uint8_t stop[5] = {0, 0, 1, 0, 0};
    int64_t pre[5 * 4] = {0}, out[5 * 4];
    sv_case fc = {5, 4, 3, pre, &ids[0][0], step, plen, enc, dec, stop};
    if (sv_run(ctx, &fc, out) != FD_OK) {
        snprintf(detail, n, "FastDeploy's corner cases: %s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    pre[1 * 4 + 2] = 101;
    if (memcmp(out, pre, sizeof pre)) {
        snprintf(detail, n, "FastDeploy's corner cases: history differs");
        return FD_CHECK_FAIL;
    }
    (void)dt;
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    return sv_random(ctx, cpu, detail, n);
}
