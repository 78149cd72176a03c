// SPDX-License-Identifier: Apache-2.0
// stop_generation_multi_ends (FastDeploy's set_stop_value_multi_ends): after
// sampling, decide which slots finish (end ids, stop tokens, max tokens, stop
// sequences, min-token guard) and emit end_ids[0] for them. C reference + dispatch.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/postprocess_launch.h"

static const char *OP = "stop_generation_multi_ends";

typedef struct stop_slot {
    int64_t topk, next;
    uint8_t stop;
} stop_slot;

static int in_list(int64_t id, const int64_t *list, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (list[i] == id) return 1;
    return 0;
}

// Does one of slot b's stop sequences end at history position step_idx - 1?
static fd_status ref_stop_seq_match(const fd__stop_args *a, int64_t b, int *match) {
    const int64_t step = a->step_idx[b];
    *match = 0;
    for (int64_t s = 0; s < a->n_seq && !*match; s++) {
        int64_t n = a->stop_seqs_len[b * a->n_seq + s];
        if (n <= 0) continue;
        if (n > a->seq_max) n = a->seq_max;
        if (step > a->len)
            return fd__error(FD_ERR_INVALID_ARG,
                             "%s: step_idx[%lld] = %lld exceeds pre_ids' %lld columns", OP,
                             (long long)b, (long long)step, (long long)a->len);
        const int64_t *seq = a->stop_seqs + (b * a->n_seq + s) * a->seq_max;
        const int64_t *hist = a->pre_ids + b * a->len;
        int ok = step - n >= 0;
        for (int64_t k = 0; ok && k < n; k++) ok = hist[step - 1 - k] == seq[n - 1 - k];
        *match = ok;
    }
    return FD_OK;
}

// The new state of slot b, without writing it.
static fd_status ref_slot(const fd__stop_args *a, int64_t b, stop_slot *o) {
    o->topk = a->topk_ids[b];
    o->next = a->next_tokens[b];
    o->stop = a->stop_flags[b] != 0;
    const int64_t step = a->step_idx[b], end0 = a->end_ids[0];
    if (a->prefill_one_step_stop) {
        o->stop = 1;
        if (a->seq_lens[b] == 0) o->topk = -1;
        o->next = o->topk;
        return FD_OK;
    }
    const int was_stopped = o->stop;
    if (was_stopped) {
        if (a->seq_lens[b] == 0) o->topk = -1;  // idle slot
        else o->topk = o->next = end0;
    } else {
        o->next = o->topk;
    }
    const int can_stop = !a->min_tokens || step >= a->min_tokens[b];
    int stop = !a->beam_search && can_stop && in_list(o->topk, a->end_ids, a->n_end);
    if (!stop && !was_stopped) {
        if (!a->beam_search && can_stop && a->stop_tokens) {
            int64_t n = a->stop_tokens_len[b];
            n = n < 0 ? 0 : (n > a->n_stop_tok ? a->n_stop_tok : n);
            stop = in_list(o->topk, a->stop_tokens + b * a->n_stop_tok, n);
        }
        if (!stop && a->max_tokens) stop = step >= a->max_tokens[b];
        if (!stop && can_stop && a->stop_seqs) FD_TRY(ref_stop_seq_match(a, b, &stop));
    }
    if (stop) {
        o->stop = 1;
        o->topk = o->next = end0;
    }
    return FD_OK;
}

static fd_status ref_stop(const fd__stop_args *a) {
    stop_slot o;
    for (int64_t b = 0; b < a->bs; b++) FD_TRY(ref_slot(a, b, &o));  // validate first
    for (int64_t b = 0; b < a->bs; b++) {
        ref_slot(a, b, &o);
        a->topk_ids[b] = o.topk;
        a->next_tokens[b] = o.next;
        a->stop_flags[b] = o.stop;
    }
    return FD_OK;
}

// Checks the optional stop-sequence and stop-token tensors into *a.
static fd_status check_stop_lists(fd__stop_args *a, const fd_tensor *pre_ids,
                                  const fd_tensor *stop_seqs, const fd_tensor *stop_seqs_len,
                                  const fd_tensor *stop_token_ids,
                                  const fd_tensor *stop_token_ids_len) {
    if (!!pre_ids + !!stop_seqs + !!stop_seqs_len != 0 && (!pre_ids || !stop_seqs || !stop_seqs_len))
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: pass pre_ids, stop_seqs and stop_seqs_len together (or none)", OP);
    if (stop_seqs) {
        FD_TRY(FD_CHECK_T(OP, "pre_ids", pre_ids, FD_I64, -1, -1));
        FD_TRY(FD_CHECK_T(OP, "stop_seqs", stop_seqs, FD_I64, -1, -1, -1));
        FD_TRY(FD_CHECK_T(OP, "stop_seqs_len", stop_seqs_len, FD_I32, -1, stop_seqs->ne[1]));
        if (pre_ids->ne[0] < a->bs || stop_seqs->ne[0] < a->bs || stop_seqs_len->ne[0] < a->bs)
            return fd__error(FD_ERR_INVALID_ARG,
                             "%s: pre_ids, stop_seqs and stop_seqs_len need >= bs = %lld rows",
                             OP, (long long)a->bs);
        a->pre_ids = pre_ids->data;
        a->len = pre_ids->ne[1];
        a->stop_seqs = stop_seqs->data;
        a->stop_seqs_len = stop_seqs_len->data;
        a->n_seq = stop_seqs->ne[1];
        a->seq_max = stop_seqs->ne[2];
    }
    if (!stop_token_ids != !stop_token_ids_len)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: pass stop_token_ids and stop_token_ids_len together (or neither)", OP);
    if (stop_token_ids) {
        FD_TRY(FD_CHECK_T(OP, "stop_token_ids", stop_token_ids, FD_I64, -1, -1));
        FD_TRY(fd__check_slots(OP, "stop_token_ids_len", stop_token_ids_len, FD_I32, a->bs));
        if (stop_token_ids->ne[0] < a->bs)
            return fd__error(FD_ERR_INVALID_ARG, "%s: stop_token_ids needs >= bs = %lld rows",
                             OP, (long long)a->bs);
        a->stop_tokens = stop_token_ids->data;
        a->stop_tokens_len = stop_token_ids_len->data;
        a->n_stop_tok = stop_token_ids->ne[1];
    }
    return FD_OK;
}

fd_status fd_stop_generation_multi_ends(fd_ctx *ctx, fd_tensor *topk_ids, fd_tensor *stop_flags,
                                        const fd_tensor *seq_lens, const fd_tensor *end_ids,
                                        fd_tensor *next_tokens, const fd_tensor *pre_ids,
                                        const fd_tensor *step_idx, const fd_tensor *stop_seqs,
                                        const fd_tensor *stop_seqs_len,
                                        const fd_tensor *stop_token_ids,
                                        const fd_tensor *stop_token_ids_len,
                                        const fd_tensor *min_tokens,
                                        const fd_tensor *max_tokens, int beam_search,
                                        int prefill_one_step_stop) {
    FD_TRY(fd__check_slots(OP, "topk_ids", topk_ids, FD_I64, 0));
    fd__stop_args a = {0};
    memset(&a, 0, sizeof a);
    a.bs = topk_ids->ne[0];
    FD_TRY(fd__check_slots(OP, "stop_flags", stop_flags, FD_BOOL, a.bs));
    FD_TRY(fd__check_slots(OP, "seq_lens", seq_lens, FD_I32, a.bs));
    FD_TRY(fd__check_slots(OP, "end_ids", end_ids, FD_I64, 1));
    FD_TRY(fd__check_slots(OP, "next_tokens", next_tokens, FD_I64, a.bs));
    FD_TRY(fd__check_slots(OP, "step_idx", step_idx, FD_I64, a.bs));
    if (min_tokens) FD_TRY(fd__check_slots(OP, "min_tokens", min_tokens, FD_I64, a.bs));
    if (max_tokens) FD_TRY(fd__check_slots(OP, "max_tokens", max_tokens, FD_I64, a.bs));
    FD_TRY(check_stop_lists(&a, pre_ids, stop_seqs, stop_seqs_len, stop_token_ids,
                            stop_token_ids_len));
    a.topk_ids = topk_ids->data;
    a.next_tokens = next_tokens->data;
    a.stop_flags = stop_flags->data;
    a.seq_lens = seq_lens->data;
    a.end_ids = end_ids->data;
    a.n_end = end_ids->ne[0];
    a.step_idx = step_idx->data;
    a.min_tokens = min_tokens ? min_tokens->data : NULL;
    a.max_tokens = max_tokens ? max_tokens->data : NULL;
    a.beam_search = beam_search != 0;
    a.prefill_one_step_stop = prefill_one_step_stop != 0;
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_stop_generation_multi_ends, FD_I64, &variant, &l));
    if (variant == FD_VAR_REF) return ref_stop(&a);
#if FD_BUILT_stop_generation_multi_ends
    if (variant == FD_VAR_stop_generation_multi_ends)
        return fd__cuda_stop_generation_multi_ends(&l, &a);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: FastDeploy's cases (stop sequence; min_tokens; stop token
// ids and max_tokens) on ctx; on CUDA a random batch vs the C reference.

typedef struct st_case {
    int64_t bs, len, n_seq, seq_max, n_tok;
    const int64_t *topk, *next, *pre, *step, *seqs, *toks, *min_t, *max_t;
    const uint8_t *stop;
    const int32_t *lens, *seqs_len, *toks_len;
    int beam, prefill;
} st_case;

typedef struct st_out {
    int64_t *topk, *next;
    uint8_t *stop;
} st_out;

static fd_status st_run(fd_ctx *ctx, const st_case *c, st_out *o) {
    static const int64_t end_ids[2] = {2, 7};
    fd__cbuf k, f, sl, e, nx, pre, st, sq, sql, tk, tkl, mn, mx;
    int64_t s_b1[2] = {c->bs, 1}, s_e[1] = {2}, s_pre[2] = {c->bs, c->len},
            s_sq[3] = {c->bs, c->n_seq, c->seq_max}, s_sql[2] = {c->bs, c->n_seq},
            s_tk[2] = {c->bs, c->n_tok};
    fd_status s = fd__cbuf_new(&k, ctx, FD_I64, 2, s_b1, c->topk);
    if (s == FD_OK) s = fd__cbuf_new(&f, ctx, FD_BOOL, 2, s_b1, c->stop);
    if (s == FD_OK) s = fd__cbuf_new(&sl, ctx, FD_I32, 2, s_b1, c->lens);
    if (s == FD_OK) s = fd__cbuf_new(&e, ctx, FD_I64, 1, s_e, end_ids);
    if (s == FD_OK) s = fd__cbuf_new(&nx, ctx, FD_I64, 2, s_b1, c->next);
    if (s == FD_OK) s = fd__cbuf_new(&pre, ctx, FD_I64, 2, s_pre, c->pre);
    if (s == FD_OK) s = fd__cbuf_new(&st, ctx, FD_I64, 2, s_b1, c->step);
    if (s == FD_OK) s = fd__cbuf_new(&sq, ctx, FD_I64, 3, s_sq, c->seqs);
    if (s == FD_OK) s = fd__cbuf_new(&sql, ctx, FD_I32, 2, s_sql, c->seqs_len);
    if (s == FD_OK) s = fd__cbuf_new(&tk, ctx, FD_I64, 2, s_tk, c->toks);
    if (s == FD_OK) s = fd__cbuf_new(&tkl, ctx, FD_I32, 1, s_b1, c->toks_len);
    if (s == FD_OK) s = fd__cbuf_new(&mn, ctx, FD_I64, 2, s_b1, c->min_t);
    if (s == FD_OK) s = fd__cbuf_new(&mx, ctx, FD_I64, 2, s_b1, c->max_t);
    if (s == FD_OK)
        s = fd_stop_generation_multi_ends(ctx, &k.t, &f.t, &sl.t, &e.t, &nx.t, &pre.t, &st.t,
                                          &sq.t, &sql.t, &tk.t, &tkl.t, &mn.t, &mx.t, c->beam,
                                          c->prefill);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&k);
    if (s == FD_OK) s = fd__cbuf_fetch(&nx);
    if (s == FD_OK) s = fd__cbuf_fetch(&f);
    if (s == FD_OK) {
        memcpy(o->topk, k.host, (size_t)c->bs * 8);
        memcpy(o->next, nx.host, (size_t)c->bs * 8);
        memcpy(o->stop, f.host, (size_t)c->bs);
    }
    fd__cbuf *all[13] = {&k, &f, &sl, &e, &nx, &pre, &st, &sq, &sql, &tk, &tkl, &mn, &mx};
    for (int i = 0; i < 13; i++) fd__cbuf_free(all[i]);
    return s;
}

// FastDeploy's stop-sequence case: row 0's history ends with 8038 61502.
static fd_check_result st_fastdeploy(fd_ctx *ctx, char *detail, size_t n) {
    enum { L = 64, S = 5, M = 8 };
    int64_t topk[2] = {61502, 2}, next[2] = {61502, 2}, step[2] = {10, 0}, zero[2] = {0, 0},
            big[2] = {100, 100}, toks[2 * 4], pre[2 * L], seqs[2 * S * M];
    int32_t lens[2] = {1, 0}, seqs_len[2 * S], toks_len[2] = {0, 0};
    uint8_t stop[2] = {0, 1};
    for (int i = 0; i < 2 * L; i++) pre[i] = -1;
    for (int i = 0; i < 10; i++) pre[i] = i < 8 ? 21 + i : (i == 8 ? 8038 : 61502);
    for (int i = 0; i < 2 * S * M; i++) seqs[i] = -1;
    for (int i = 0; i < 2 * S; i++) seqs_len[i] = 10;  // > M: counts as M
    for (int i = 0; i < 8; i++) toks[i] = -1;
    seqs[0] = 8038, seqs[1] = 61502, seqs_len[0] = 2;
    int64_t ok_topk[3], ok_next[3];
    uint8_t ok_stop[3];
    st_out o = {ok_topk, ok_next, ok_stop};
    st_case c = {2, L, S, M, 4, topk, next, pre, step, seqs, toks, zero, big, stop,
                 lens, seqs_len, toks_len, 0, 0};
    if (st_run(ctx, &c, &o) != FD_OK) {
        snprintf(detail, n, "stop-sequence case: %s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (!ok_stop[0] || ok_topk[0] != 2 || ok_next[0] != 2 || ok_topk[1] != -1) {
        snprintf(detail, n, "stop-sequence case: got stop %d topk %lld, want 1, 2", ok_stop[0],
                 (long long)ok_topk[0]);
        return FD_CHECK_FAIL;
    }
    // min_tokens [10,0,5] with EOS at step 5 must not stop row 0; max_tokens 50 stops row 1.
    int64_t t3[3] = {2, 100, 200}, s3[3] = {5, 50, 10}, mn3[3] = {10, 0, 5},
            mx3[3] = {100, 50, 100}, tk3[3 * 4] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
            pre3[3 * L], sq3[3 * S * M];
    int32_t l3[3] = {1, 1, 1}, sql3[3 * S] = {0}, tkl3[3] = {0, 0, 0};
    uint8_t f3[3] = {0, 0, 0};
    for (int i = 0; i < 3 * L; i++) pre3[i] = -1;
    for (int i = 0; i < 3 * S * M; i++) sq3[i] = -1;
    st_case c3 = {3, L, S, M, 4, t3, t3, pre3, s3, sq3, tk3, mn3, mx3, f3,
                  l3, sql3, tkl3, 0, 0};
    if (st_run(ctx, &c3, &o) != FD_OK || ok_stop[0] || !ok_stop[1] || ok_topk[1] != 2 ||
        ok_stop[2]) {
        snprintf(detail, n, "min/max tokens case: wrong stop flags");
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}

static fd_check_result st_random(fd_ctx *ctx, fd_ctx *cpu, char *detail, size_t n) {
    enum { BS = 64, L = 24, S = 3, M = 4, K = 3 };
    int64_t *buf = malloc(sizeof(int64_t) * (size_t)(BS * (8 + L + S * M + K) + 4 * BS));
    if (!buf) return FD_CHECK_FAIL;
    int64_t *topk = buf, *next = topk + BS, *step = next + BS, *mn = step + BS, *mx = mn + BS,
            *pre = mx + BS, *seqs = pre + BS * L, *toks = seqs + BS * S * M,
            *out = toks + BS * K;
    int32_t lens[BS], seqs_len[BS * S], toks_len[BS];
    uint8_t stop[BS], fg[BS], fc[BS];
    uint64_t r = 3;
    for (int b = 0; b < BS; b++) {
        topk[b] = (int64_t)(fd__rng_next(&r) % 10);
        next[b] = (int64_t)(fd__rng_next(&r) % 10);
        step[b] = (int64_t)(fd__rng_next(&r) % (L + 1));
        mn[b] = (int64_t)(fd__rng_next(&r) % 8);
        mx[b] = (int64_t)(fd__rng_next(&r) % 40);
        lens[b] = (int32_t)(fd__rng_next(&r) % 3);
        toks_len[b] = (int32_t)(fd__rng_next(&r) % (K + 2));
        stop[b] = fd__rng_next(&r) % 6 == 0;
    }
    for (int i = 0; i < BS * L; i++) pre[i] = (int64_t)(fd__rng_next(&r) % 4);
    for (int i = 0; i < BS * S * M; i++) seqs[i] = (int64_t)(fd__rng_next(&r) % 4);
    for (int i = 0; i < BS * S; i++) seqs_len[i] = (int32_t)(fd__rng_next(&r) % (M + 2)) - 1;
    for (int i = 0; i < BS * K; i++) toks[i] = (int64_t)(fd__rng_next(&r) % 10);
    st_out og = {out, out + BS, fg}, oc = {out + 2 * BS, out + 3 * BS, fc};
    st_case c = {BS, L, S, M, K, topk, next, pre, step, seqs, toks, mn, mx, stop,
                 lens, seqs_len, toks_len, 0, 0};
    fd_check_result res = FD_CHECK_PASS;
    if (st_run(ctx, &c, &og) != FD_OK || st_run(cpu, &c, &oc) != FD_OK) {
        snprintf(detail, n, "random batch: %s", fd_last_error());
        res = FD_CHECK_FAIL;
    } else if (memcmp(out, out + 2 * BS, 2 * BS * 8) || memcmp(fg, fc, BS)) {
        snprintf(detail, n, "random batch (bs 64): CUDA differs from the C reference");
        res = FD_CHECK_FAIL;
    }
    free(buf);
    return res;
}

fd_check_result fd__check_stop_generation_multi_ends(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt,
                                                     char *detail, size_t n) {
    (void)dt;
    if (st_fastdeploy(ctx, detail, n) != FD_CHECK_PASS) return FD_CHECK_FAIL;
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    return st_random(ctx, cpu, detail, n);
}
