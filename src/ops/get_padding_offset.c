// SPDX-License-Identifier: Apache-2.0
// get_padding_offset: padded ids [bsz, max_len] -> packed token stream,
// per-token slot ids and cumulative lengths. C reference + dispatch.
#include <stdio.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/op_internal.h"

static const char *OP = "get_padding_offset";

static fd_status ref_get_padding_offset(const int64_t *ids, int64_t bsz, int64_t max_len,
                                        const int32_t *seq_len, int64_t token_num,
                                        int64_t *x, int32_t *bid, int32_t *cu_q,
                                        int32_t *cu_k) {
    int64_t total = 0;
    for (int64_t b = 0; b < bsz; b++) {
        if (seq_len[b] < 0 || seq_len[b] > max_len)
            return fd__error(FD_ERR_INVALID_ARG, "%s: seq_len[%lld] = %d is outside [0, %lld]",
                             OP, (long long)b, seq_len[b], (long long)max_len);
        total += seq_len[b];
    }
    if (total != token_num)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: token_num is %lld but the sequence lengths add up to %lld",
                         OP, (long long)token_num, (long long)total);
    int32_t cu = 0;
    cu_q[0] = cu_k[0] = 0;
    for (int64_t b = 0; b < bsz; b++) {
        for (int32_t j = 0; j < seq_len[b]; j++) {
            x[cu + j] = ids[b * max_len + j];
            bid[cu + j] = (int32_t)b;
        }
        cu += seq_len[b];
        cu_q[b + 1] = cu_k[b + 1] = cu;
    }
    return FD_OK;
}

fd_status fd_get_padding_offset(fd_ctx *ctx, const fd_tensor *input_ids,
                                const fd_tensor *seq_len, int64_t token_num,
                                fd_tensor *x_remove_padding, fd_tensor *batch_id_per_token,
                                fd_tensor *cu_seqlens_q, fd_tensor *cu_seqlens_k) {
    FD_TRY(FD_CHECK_T(OP, "input_ids", input_ids, FD_I64, -1, -1));
    int64_t bsz = input_ids->ne[0], max_len = input_ids->ne[1];
    if (token_num < 0 || token_num > bsz * max_len || token_num > INT32_MAX)
        return fd__error(FD_ERR_INVALID_ARG, "%s: token_num %lld is outside [0, bsz*max_len = %lld]",
                         OP, (long long)token_num, (long long)(bsz * max_len));
    FD_TRY(FD_CHECK_T(OP, "seq_len", seq_len, FD_I32, bsz));
    FD_TRY(FD_CHECK_T(OP, "x_remove_padding", x_remove_padding, FD_I64, token_num));
    FD_TRY(FD_CHECK_T(OP, "batch_id_per_token", batch_id_per_token, FD_I32, token_num));
    FD_TRY(FD_CHECK_T(OP, "cu_seqlens_q", cu_seqlens_q, FD_I32, bsz + 1));
    FD_TRY(FD_CHECK_T(OP, "cu_seqlens_k", cu_seqlens_k, FD_I32, bsz + 1));
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_get_padding_offset, FD_I64, &variant, &l));
    if (variant == FD_VAR_REF)
        return ref_get_padding_offset(input_ids->data, bsz, max_len, seq_len->data, token_num,
                                      x_remove_padding->data, batch_id_per_token->data,
                                      cu_seqlens_q->data, cu_seqlens_k->data);
#if FD_BUILT_get_padding_offset
    if (variant == FD_VAR_get_padding_offset)
        return fd__cuda_get_padding_offset(&l, input_ids->data, bsz, max_len, seq_len->data,
                                           token_num, x_remove_padding->data,
                                           batch_id_per_token->data, cu_seqlens_q->data,
                                           cu_seqlens_k->data);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: FastDeploy's test case on ctx, then a random batch vs the reference

static fd_check_result run_case(fd_ctx *ctx, const int64_t *ids, int64_t bsz, int64_t max_len,
                                const int32_t *lens, int64_t token_num, int64_t *x_out,
                                int32_t *bid_out, int32_t *cu_out, char *detail, size_t n) {
    fd__cbuf b_ids, b_len, b_x, b_bid, b_cq, b_ck;
    int64_t s_ids[2] = {bsz, max_len}, s_len[1] = {bsz}, s_tok[1] = {token_num},
            s_cu[1] = {bsz + 1};
    fd_status s = fd__cbuf_new(&b_ids, ctx, FD_I64, 2, s_ids, ids);
    if (s == FD_OK) s = fd__cbuf_new(&b_len, ctx, FD_I32, 1, s_len, lens);
    if (s == FD_OK) s = fd__cbuf_new(&b_x, ctx, FD_I64, 1, s_tok, NULL);
    if (s == FD_OK) s = fd__cbuf_new(&b_bid, ctx, FD_I32, 1, s_tok, NULL);
    if (s == FD_OK) s = fd__cbuf_new(&b_cq, ctx, FD_I32, 1, s_cu, NULL);
    if (s == FD_OK) s = fd__cbuf_new(&b_ck, ctx, FD_I32, 1, s_cu, NULL);
    if (s == FD_OK)
        s = fd_get_padding_offset(ctx, &b_ids.t, &b_len.t, token_num, &b_x.t, &b_bid.t, &b_cq.t,
                                  &b_ck.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&b_x);
    if (s == FD_OK) s = fd__cbuf_fetch(&b_bid);
    if (s == FD_OK) s = fd__cbuf_fetch(&b_cq);
    if (s == FD_OK) s = fd__cbuf_fetch(&b_ck);
    if (s == FD_OK) {
        memcpy(x_out, b_x.host, (size_t)token_num * 8);
        memcpy(bid_out, b_bid.host, (size_t)token_num * 4);
        memcpy(cu_out, b_cq.host, (size_t)(bsz + 1) * 4);
        if (memcmp(b_cq.host, b_ck.host, (size_t)(bsz + 1) * 4) != 0) {
            snprintf(detail, n, "cu_seqlens_k differs from cu_seqlens_q");
            s = FD_ERR_INTERNAL;
        }
    } else {
        snprintf(detail, n, "%s", fd_last_error());
    }
    fd__cbuf_free(&b_ids); fd__cbuf_free(&b_len); fd__cbuf_free(&b_x);
    fd__cbuf_free(&b_bid); fd__cbuf_free(&b_cq); fd__cbuf_free(&b_ck);
    return s == FD_OK ? FD_CHECK_PASS : FD_CHECK_FAIL;
}

fd_check_result fd__check_get_padding_offset(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt,
                                             char *detail, size_t n) {
    static const int64_t ids[3][10] = {{8, 7, 8, 2}, {4, 5, 5}, {7, 6, 1, 7, 2, 6}};
    static const int32_t lens[3] = {4, 3, 6};
    static const int64_t want_x[13] = {8, 7, 8, 2, 4, 5, 5, 7, 6, 1, 7, 2, 6};
    static const int32_t want_bid[13] = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2};
    static const int32_t want_cu[4] = {0, 4, 7, 13};
    int64_t x[13];
    int32_t bid[13], cu[4];
    if (run_case(ctx, &ids[0][0], 3, 10, lens, 13, x, bid, cu, detail, n) != FD_CHECK_PASS)
        return FD_CHECK_FAIL;
    if (memcmp(x, want_x, sizeof x) || memcmp(bid, want_bid, sizeof bid) ||
        memcmp(cu, want_cu, sizeof cu)) {
        snprintf(detail, n, "FastDeploy's case: packed ids/batch ids/cu_seqlens differ");
        return FD_CHECK_FAIL;
    }
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    enum { BSZ = 64, MAXLEN = 96 };
    int64_t rids[BSZ * MAXLEN];
    int32_t rlens[BSZ];
    int64_t tok = 0;
    uint64_t rng = 42;
    for (int i = 0; i < BSZ * MAXLEN; i++) rids[i] = (int64_t)(fd__rng_next(&rng) % 151936);
    for (int b = 0; b < BSZ; b++) tok += rlens[b] = (int32_t)(fd__rng_next(&rng) % (MAXLEN + 1));
    int64_t gx[BSZ * MAXLEN], cx[BSZ * MAXLEN];
    int32_t gb[BSZ * MAXLEN], cb[BSZ * MAXLEN], gcu[BSZ + 1], ccu[BSZ + 1];
    if (run_case(ctx, rids, BSZ, MAXLEN, rlens, tok, gx, gb, gcu, detail, n) != FD_CHECK_PASS ||
        run_case(cpu, rids, BSZ, MAXLEN, rlens, tok, cx, cb, ccu, detail, n) != FD_CHECK_PASS)
        return FD_CHECK_FAIL;
    if (memcmp(gx, cx, (size_t)tok * 8) || memcmp(gb, cb, (size_t)tok * 4) ||
        memcmp(gcu, ccu, sizeof gcu)) {
        snprintf(detail, n, "random batch (bsz 64): CUDA differs from the C reference");
        return FD_CHECK_FAIL;
    }
    (void)dt;
    return FD_CHECK_PASS;
}
