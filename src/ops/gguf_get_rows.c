// SPDX-License-Identifier: Apache-2.0
// gguf_get_rows: embedding lookup from a table kept in its GGUF block format.
// C reference (fd__dequant_row) + dispatch + self-check.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/quant_cpu.h"
#include "ops/check_util.h"
#include "ops/model_launch.h"

static const char *OP = "gguf_get_rows";

static fd_status ref_gguf_get_rows(const fd__gguf_get_rows_args *a) {
    for (int64_t i = 0; i < a->t; i++)  // validate every id before writing anything
        if (a->ids[i] < 0 || a->ids[i] >= a->rows)
            return fd__error(FD_ERR_INVALID_ARG, "%s: ids[%lld] = %d is outside the table's "
                             "%lld rows", OP, (long long)i, a->ids[i], (long long)a->rows);
    if (a->t == 0) return FD_OK;
    float *f = malloc((size_t)a->d * sizeof(float));
    if (!f) return fd__error(FD_ERR_OOM, "%s: reference needs %lld floats", OP, (long long)a->d);
    for (int64_t i = 0; i < a->t; i++) {
        fd__dequant_row(a->wtype, a->w + (size_t)a->ids[i] * a->row_bytes, f, a->d);
        for (int64_t j = 0; j < a->d; j++) fd__set_f(a->dtype, a->out, i * a->d + j, f[j]);
    }
    free(f);
    return FD_OK;
}

fd_status fd_gguf_get_rows(fd_ctx *ctx, const fd_tensor *w, fd_ggml_type wtype,
                           const fd_tensor *ids, fd_tensor *out) {
    int gran;
    if (!fd__gguf_type_ok(wtype, &gran))
        return fd__error(FD_ERR_INVALID_ARG, "%s: ggml type %d is not supported; pass F32, F16, "
                         "BF16, Q4_0, Q4_1, Q5_0, Q8_0, Q4_K or Q6_K", OP, (int)wtype);
    FD_TRY(FD_CHECK_T(OP, "ids", ids, FD_I32, -1));
    FD_TRY(FD_CHECK_T(OP, "out", out, -1, ids->ne[0], -1));
    if (out->dtype != FD_F32 && out->dtype != FD_F16)
        return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "%s: out has dtype %s; pass f32 or f16", OP,
                         fd_dtype_name(out->dtype));
    int64_t d = out->ne[1];
    if (d <= 0 || d % gran)
        return fd__error(FD_ERR_INVALID_ARG, "%s: row length D = %lld must be a positive "
                         "multiple of %d for %s", OP, (long long)d, gran, fd_ggml_type_name(wtype));
    FD_TRY(FD_CHECK_T(OP, "w", w, FD_U8, -1, (int64_t)fd__row_bytes(wtype, d)));
    fd__gguf_get_rows_args a = {w->data, w->ne[0], d, fd__row_bytes(wtype, d), wtype,
                                ids->data, ids->ne[0], out->data, out->dtype};
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_gguf_get_rows, a.dtype, &variant, &l));
    if (variant == FD_VAR_REF) return ref_gguf_get_rows(&a);
#if FD_BUILT_gguf_get_rows
    if (variant == FD_VAR_gguf_get_rows) return fd__cuda_gguf_get_rows(&l, &a);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: a known Q4_0 row (exact), then on CUDA every type vs the C
// reference (exact but for one FMA rounding in Q4_1/Q4_K: rel 1e-6, f16 2^-11).

static fd_status gr_run(fd_ctx *ctx, fd_dtype dt, fd_ggml_type t, int64_t rows, int64_t d,
                        const uint8_t *wh, const int32_t *idh, int64_t n, void *oh) {
    fd__cbuf bw, bi, bo;
    int64_t sw[2] = {rows, (int64_t)fd__row_bytes(t, d)}, si[1] = {n}, so[2] = {n, d};
    memset(&bi, 0, sizeof bi);
    memset(&bo, 0, sizeof bo);
    fd_status s = fd__cbuf_new(&bw, ctx, FD_U8, 2, sw, wh);
    if (s == FD_OK) s = fd__cbuf_new(&bi, ctx, FD_I32, 1, si, idh);
    if (s == FD_OK) s = fd__cbuf_new(&bo, ctx, dt, 2, so, NULL);
    if (s == FD_OK) s = fd_gguf_get_rows(ctx, &bw.t, t, &bi.t, &bo.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&bo);
    if (s == FD_OK) memcpy(oh, bo.host, fd_tensor_bytes(&bo.t));
    fd__cbuf_free(&bw);
    fd__cbuf_free(&bi);
    fd__cbuf_free(&bo);
    return s;
}

static fd_check_result gr_known(fd_ctx *ctx, fd_dtype dt, char *detail, size_t nd) {
    uint8_t w[2 * 18];
    uint32_t out[32], want[32];
    memset(w, 0, sizeof w);
    uint16_t half = fd_f32_to_f16(0.5f);
    memcpy(w + 18, &half, 2);  // row 1: d = 0.5, qs[j] = j | (15 - j) << 4
    for (int j = 0; j < 16; j++) w[18 + 2 + j] = (uint8_t)(j | (15 - j) << 4);
    for (int j = 0; j < 16; j++) {
        fd__set_f(dt, want, j, 0.5f * (float)(j - 8));
        fd__set_f(dt, want, j + 16, 0.5f * (float)(7 - j));
    }
    int32_t id = 1;
    char why[160];
    if (gr_run(ctx, dt, FD_GGML_Q4_0, 2, 32, w, &id, 1, out) != FD_OK) {
        snprintf(detail, nd, "known case: %s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (fd__compare(dt, out, want, 32, 0, 0, why, sizeof why)) {
        snprintf(detail, nd, "known Q4_0 row: %s", why);
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}

static fd_check_result gr_random(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, fd_ggml_type t,
                                 char *detail, size_t nd) {
    enum { ROWS = 9, D = 512, T = 5 };
    static const int32_t ids[T] = {8, 0, 3, 3, 7};
    uint8_t *w = malloc((size_t)ROWS * fd__row_bytes(t, D));
    float *o = malloc(2 * T * D * sizeof(float));
    fd_check_result r = FD_CHECK_FAIL;
    char why[160];
    uint64_t rng = 5 + (uint64_t)t;
    if (!w || !o) {
        snprintf(detail, nd, "out of host memory");
        goto done;
    }
    fd__gguf_random_rows(t, ROWS, D, &rng, w);
    if (gr_run(ctx, dt, t, ROWS, D, w, ids, T, o) != FD_OK ||
        gr_run(cpu, dt, t, ROWS, D, w, ids, T, o + T * D) != FD_OK) {
        snprintf(detail, nd, "%s: %s", fd_ggml_type_name(t), fd_last_error());
        goto done;
    }
    if (fd__compare(dt, o, o + T * D, T * D, 1e-6, dt == FD_F32 ? 1e-6 : 1e-3, why, sizeof why)) {
        snprintf(detail, nd, "%s vs C reference: %s", fd_ggml_type_name(t), why);
        goto done;
    }
    r = FD_CHECK_PASS;
done:
    free(w);
    free(o);
    return r;
}

fd_check_result fd__check_gguf_get_rows(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                        size_t n) {
    fd_check_result r = gr_known(ctx, dt, detail, n);
    if (r != FD_CHECK_PASS || ctx == cpu || !fd_ctx_is_cuda(ctx)) return r;
    static const fd_ggml_type types[] = {FD_GGML_Q4_0, FD_GGML_Q4_1, FD_GGML_Q5_0, FD_GGML_Q8_0,
                                         FD_GGML_Q4_K, FD_GGML_Q6_K, FD_GGML_F16, FD_GGML_F32,
                                         FD_GGML_BF16};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if ((r = gr_random(ctx, cpu, dt, types[i], detail, n)) != FD_CHECK_PASS) return r;
    return FD_CHECK_PASS;
}
