// SPDX-License-Identifier: Apache-2.0
// rebuild_padding: pick, from the packed hidden states, the row(s) whose
// logits are needed (one per slot, or one per output token when speculating).
// C reference + dispatch.
#include <stdio.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/op_internal.h"

static const char *OP = "rebuild_padding";

int64_t fd_rebuild_padding_out_rows(const int32_t *enc, int64_t bsz, int64_t token_num) {
    int64_t drop = 0;
    for (int64_t b = 0; b < bsz; b++)
        if (enc[b] > 0) drop += enc[b] - 1;
    return token_num - drop;
}

// Source row of output row t, or -1 when the row stays zero. Sets *slot.
static int64_t ref_source_row(const fd__rebuild_padding_args *a, int64_t t, int64_t *slot,
                              fd_status *err) {
    int64_t b = t, local = 0;
    *err = FD_OK;
    if (a->output_padding_offset) {
        int64_t ori = t + a->output_padding_offset[t];
        b = ori / a->max_input_length;
        local = ori - b * a->max_input_length;
        if (ori < 0 || b >= a->bsz) {
            *err = fd__error(FD_ERR_INVALID_ARG,
                             "%s: output_padding_offset[%lld] = %d maps to slot %lld of %lld",
                             OP, (long long)t, a->output_padding_offset[t], (long long)b,
                             (long long)a->bsz);
            return -1;
        }
    }
    *slot = b;
    if (a->seq_len_this_time[b] == 0) return -1;
    if (a->seq_lens_decoder[b] == 0 && a->seq_lens_encoder[b] == 0) return -1;
    int64_t off = a->seq_lens_encoder[b] > 0 ? a->seq_lens_encoder[b] - 1 : 0;
    int64_t src = (int64_t)a->cu_seqlens_q[b] + local + off;
    if (src < 0 || src >= a->token_num) {
        *err = fd__error(FD_ERR_INVALID_ARG,
                         "%s: output row %lld reads hidden row %lld, outside tmp_out's %lld rows "
                         "(check cu_seqlens_q and seq_lens_encoder of slot %lld)",
                         OP, (long long)t, (long long)src, (long long)a->token_num,
                         (long long)b);
        return -1;
    }
    return src;
}

static fd_status ref_rebuild_padding(const fd__rebuild_padding_args *a) {
    size_t row = (size_t)a->dim * a->elem_size;
    int64_t slot;
    fd_status err;
    for (int64_t t = 0; t < a->out_rows; t++) {  // validate before writing anything
        ref_source_row(a, t, &slot, &err);
        if (err != FD_OK) return err;
    }
    char *out = a->out;
    const char *in = a->tmp_out;
    for (int64_t t = 0; t < a->out_rows; t++) {
        int64_t src = ref_source_row(a, t, &slot, &err);
        if (src < 0) {
            memset(out + t * row, 0, row);
            continue;
        }
        memcpy(out + t * row, in + src * row, row);
        if (a->output_padding_offset && a->enable_logprob && a->first_token_out &&
            a->seq_lens_encoder[slot] > 0 && src > 0)
            memcpy((char *)a->first_token_out + slot * row, in + (src - 1) * row, row);
    }
    return FD_OK;
}

fd_status fd_rebuild_padding(fd_ctx *ctx, const fd_tensor *tmp_out,
                             const fd_tensor *cu_seqlens_q, const fd_tensor *seq_len_this_time,
                             const fd_tensor *seq_lens_decoder,
                             const fd_tensor *seq_lens_encoder,
                             const fd_tensor *output_padding_offset,
                             fd_tensor *first_token_out, int max_input_length,
                             int enable_logprob, fd_tensor *out) {
    FD_TRY(FD_CHECK_T(OP, "tmp_out", tmp_out, -1, -1, -1));
    FD_TRY(FD_CHECK_T(OP, "cu_seqlens_q", cu_seqlens_q, FD_I32, -1));
    fd__rebuild_padding_args a = {0};
    a.tmp_out = tmp_out->data;
    a.token_num = tmp_out->ne[0];
    a.dim = tmp_out->ne[1];
    a.elem_size = fd_dtype_size(tmp_out->dtype);
    a.bsz = cu_seqlens_q->ne[0] - 1;
    if (a.bsz < 0)
        return fd__error(FD_ERR_INVALID_ARG, "%s: cu_seqlens_q must have bsz+1 >= 1 entries", OP);
    FD_TRY(FD_CHECK_T(OP, "seq_len_this_time", seq_len_this_time, FD_I32, a.bsz));
    FD_TRY(FD_CHECK_T(OP, "seq_lens_decoder", seq_lens_decoder, FD_I32, a.bsz));
    FD_TRY(FD_CHECK_T(OP, "seq_lens_encoder", seq_lens_encoder, FD_I32, a.bsz));
    FD_TRY(FD_CHECK_T(OP, "out", out, (int)tmp_out->dtype, -1, a.dim));
    a.out_rows = out->ne[0];
    if (output_padding_offset) {
        FD_TRY(FD_CHECK_T(OP, "output_padding_offset", output_padding_offset, FD_I32, -1));
        if (output_padding_offset->ne[0] < a.out_rows)
            return fd__error(FD_ERR_INVALID_ARG,
                             "%s: output_padding_offset has %lld entries, out has %lld rows",
                             OP, (long long)output_padding_offset->ne[0], (long long)a.out_rows);
        if (max_input_length <= 0)
            return fd__error(FD_ERR_INVALID_ARG, "%s: max_input_length must be > 0, got %d", OP,
                             max_input_length);
        a.output_padding_offset = output_padding_offset->data;
    } else if (a.out_rows != a.bsz) {
        return fd__error(FD_ERR_INVALID_ARG, "%s: out has %lld rows, expected bsz = %lld", OP,
                         (long long)a.out_rows, (long long)a.bsz);
    }
    if (first_token_out) {
        FD_TRY(FD_CHECK_T(OP, "first_token_out", first_token_out, (int)tmp_out->dtype, a.bsz, a.dim));
        a.first_token_out = first_token_out->data;
    }
    a.cu_seqlens_q = cu_seqlens_q->data;
    a.seq_len_this_time = seq_len_this_time->data;
    a.seq_lens_decoder = seq_lens_decoder->data;
    a.seq_lens_encoder = seq_lens_encoder->data;
    a.max_input_length = max_input_length;
    a.enable_logprob = enable_logprob;
    a.out = out->data;
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_rebuild_padding, tmp_out->dtype, &variant, &l));
    if (variant == FD_VAR_REF) return ref_rebuild_padding(&a);
#if FD_BUILT_rebuild_padding
    if (variant == FD_VAR_rebuild_padding) return fd__cuda_rebuild_padding(&l, &a);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: FastDeploy's two cases (decode/prefill mix, speculative
// offsets) on ctx; on CUDA compared with the C reference, exact.

typedef struct rp_case {
    int64_t token_num, dim, bsz, out_rows;
    const int32_t *cu, *lens, *dec, *enc, *offsets;  // offsets may be NULL
    int64_t n_offsets;
    int max_input_length;
} rp_case;

static fd_status rp_run(fd_ctx *ctx, const rp_case *c, fd_dtype dt, const void *in, void *out,
                        void *first) {
    fd__cbuf b_in, b_cu, b_len, b_dec, b_enc, b_off, b_out, b_first;
    memset(&b_off, 0, sizeof b_off);
    int64_t s_in[2] = {c->token_num, c->dim}, s_cu[1] = {c->bsz + 1}, s_b[1] = {c->bsz},
            s_off[1] = {c->n_offsets}, s_out[2] = {c->out_rows, c->dim},
            s_first[2] = {c->bsz, c->dim};
    fd_status s = fd__cbuf_new(&b_in, ctx, dt, 2, s_in, in);
    if (s == FD_OK) s = fd__cbuf_new(&b_cu, ctx, FD_I32, 1, s_cu, c->cu);
    if (s == FD_OK) s = fd__cbuf_new(&b_len, ctx, FD_I32, 1, s_b, c->lens);
    if (s == FD_OK) s = fd__cbuf_new(&b_dec, ctx, FD_I32, 1, s_b, c->dec);
    if (s == FD_OK) s = fd__cbuf_new(&b_enc, ctx, FD_I32, 1, s_b, c->enc);
    if (s == FD_OK && c->offsets) s = fd__cbuf_new(&b_off, ctx, FD_I32, 1, s_off, c->offsets);
    if (s == FD_OK) s = fd__cbuf_new(&b_out, ctx, dt, 2, s_out, NULL);
    if (s == FD_OK) s = fd__cbuf_new(&b_first, ctx, dt, 2, s_first, NULL);
    if (s == FD_OK)
        s = fd_rebuild_padding(ctx, &b_in.t, &b_cu.t, &b_len.t, &b_dec.t, &b_enc.t,
                               c->offsets ? &b_off.t : NULL, &b_first.t, c->max_input_length,
                               1, &b_out.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&b_out);
    if (s == FD_OK) s = fd__cbuf_fetch(&b_first);
    if (s == FD_OK) {
        memcpy(out, b_out.host, fd_tensor_bytes(&b_out.t));
        memcpy(first, b_first.host, fd_tensor_bytes(&b_first.t));
    }
    fd__cbuf_free(&b_in); fd__cbuf_free(&b_cu); fd__cbuf_free(&b_len); fd__cbuf_free(&b_dec);
    fd__cbuf_free(&b_enc); fd__cbuf_free(&b_off); fd__cbuf_free(&b_out); fd__cbuf_free(&b_first);
    return s;
}

// Expected output of FastDeploy's cases, computed independently of the op.
static void rp_expected(const rp_case *c, size_t esz, const char *in, char *want) {
    size_t row = (size_t)c->dim * esz;
    for (int64_t t = 0; t < c->out_rows; t++) {
        int64_t src = c->offsets ? t + c->offsets[t]
                                 : c->cu[t] + (c->enc[t] > 0 ? c->enc[t] - 1 : 0);
        memcpy(want + t * row, in + src * row, row);
    }
}

fd_check_result fd__check_rebuild_padding(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                          size_t n) {
    enum { TOK = 100, DIM = 256, BSZ = 8, NOFF = 80 };
    static const int32_t cu[BSZ + 1] = {0, 1, 21, 22, 42, 43, 63, 64, 84};
    static const int32_t lens[BSZ] = {1, 20, 1, 20, 1, 20, 1, 20};
    static const int32_t enc[BSZ] = {0, 20, 0, 20, 0, 20, 0, 20};
    static const int32_t dec[BSZ] = {21, 0, 21, 0, 21, 0, 21, 0};
    size_t esz = fd_dtype_size(dt);
    uint64_t rng = 7;
    int32_t offsets[NOFF];
    for (int i = 0; i < NOFF; i++) offsets[i] = (int32_t)(fd__rng_next(&rng) % 10);
    rp_case cases[2] = {
        {TOK, DIM, BSZ, BSZ, cu, lens, dec, enc, NULL, 0, 512},
        {TOK, DIM, BSZ, fd_rebuild_padding_out_rows(enc, BSZ, TOK), cu, lens, dec, enc, offsets,
         NOFF, 512},
    };
    char in[TOK * DIM * 4], out[TOK * DIM * 4], want[TOK * DIM * 4], first[BSZ * DIM * 4],
        ref_out[TOK * DIM * 4], ref_first[BSZ * DIM * 4];
    for (size_t i = 0; i < (size_t)TOK * DIM * esz; i++) in[i] = (char)(fd__rng_next(&rng) >> 24);
    if (dt != FD_F32)  // keep f16/bf16 bit patterns finite so comparisons mean something
        for (size_t i = 1; i < (size_t)TOK * DIM * esz; i += 2) in[i] &= 0x3f;
    else
        for (size_t i = 3; i < (size_t)TOK * DIM * esz; i += 4) in[i] &= 0x3f;
    for (int k = 0; k < 2; k++) {
        const rp_case *c = &cases[k];
        size_t bytes = (size_t)c->out_rows * DIM * esz;
        if (rp_run(ctx, c, dt, in, out, first) != FD_OK) {
            snprintf(detail, n, "case %d: %s", k + 1, fd_last_error());
            return FD_CHECK_FAIL;
        }
        rp_expected(c, esz, in, want);
        if (memcmp(out, want, bytes)) {
            snprintf(detail, n, "FastDeploy's case %d: output rows differ", k + 1);
            return FD_CHECK_FAIL;
        }
        if (ctx == cpu || !fd_ctx_is_cuda(ctx)) continue;
        if (rp_run(cpu, c, dt, in, ref_out, ref_first) != FD_OK ||
            memcmp(out, ref_out, bytes) || memcmp(first, ref_first, (size_t)BSZ * DIM * esz)) {
            snprintf(detail, n, "case %d: CUDA differs from the C reference", k + 1);
            return FD_CHECK_FAIL;
        }
    }
    return FD_CHECK_PASS;
}
