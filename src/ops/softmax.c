// SPDX-License-Identifier: Apache-2.0
// softmax: rows of logits -> f32 probabilities, with a per-row temperature
// (the step before top_k_renorm_probs / rejection_top_p_sampling). C reference,
// dispatch and self-check.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/sampling_launch.h"

static const char *OP = "softmax";

static void ref_softmax_row(fd_dtype dt, const void *x, int64_t v, float t, float *p) {
    float inv = t > 0 ? 1.0f / t : 1.0f, mx = -INFINITY;
    for (int64_t i = 0; i < v; i++) mx = fmaxf(mx, fd__get_f(dt, x, i));
    double sum = 0;
    for (int64_t i = 0; i < v; i++) sum += p[i] = expf((fd__get_f(dt, x, i) - mx) * inv);
    float s = sum > 0 ? (float)(1.0 / sum) : 0.0f;
    for (int64_t i = 0; i < v; i++) p[i] *= s;
}

fd_status fd_softmax(fd_ctx *ctx, const fd_tensor *x, const fd_tensor *temperature, fd_tensor *probs) {
    FD_TRY(FD_CHECK_T(OP, "x", x, -1, -1, -1));
    if (!fd__dtype_in(x->dtype, FD_DT(FD_F32) | FD_DT(FD_F16) | FD_DT(FD_BF16)))
        return fd__error(FD_ERR_INVALID_ARG, "%s: x has dtype %s; pass f32, f16 or bf16 logits", OP,
                         fd_dtype_name(x->dtype));
    int64_t m = x->ne[0], v = x->ne[1];
    if (v <= 0) return fd__error(FD_ERR_INVALID_ARG, "%s: rows of %lld values; need at least 1", OP, (long long)v);
    FD_TRY(FD_CHECK_T(OP, "probs", probs, FD_F32, m, v));
    if (temperature) FD_TRY(FD_CHECK_T(OP, "temperature", temperature, FD_F32, m));
    if (probs->data == x->data && m > 0) return fd__error(FD_ERR_INVALID_ARG, "%s: probs must not alias x", OP);
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_softmax, x->dtype, &variant, &l));
    const float *t = temperature ? temperature->data : NULL;
    if (variant == FD_VAR_REF) {
        size_t row = (size_t)v * fd_dtype_size(x->dtype);
        for (int64_t r = 0; r < m; r++)
            ref_softmax_row(x->dtype, (const char *)x->data + r * row, v, t ? t[r] : 1.0f, (float *)probs->data + r * v);
        return FD_OK;
    }
#if FD_BUILT_softmax
    if (variant == FD_VAR_softmax) return fd__cuda_softmax(&l, x->dtype, x->data, t, m, v, probs->data);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: a known row on ctx; on CUDA random rows vs the reference

fd_check_result fd__check_softmax(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail, size_t n) {
    enum { M = 8, V = 1000 };
    float *x = malloc(sizeof(float) * M * V), *want = malloc(sizeof(float) * M * V), temps[M];
    uint16_t *xh = malloc(sizeof(uint16_t) * M * V);
    fd_check_result res = FD_CHECK_FAIL;
    uint64_t rng = 11;
    for (int i = 0; i < M * V; i++) x[i] = 8.0f * fd__rng_uniform(&rng) - 4.0f;
    for (int r = 0; r < M; r++) temps[r] = r == 0 ? 0.0f : 0.25f * (float)r;
    const void *xin = x;
    if (dt != FD_F32) {
        for (int i = 0; i < M * V; i++) fd__set_f(dt, xh, i, x[i]);
        xin = xh;
    }
    for (int r = 0; r < M; r++) ref_softmax_row(dt, (const char *)xin + (size_t)r * V * fd_dtype_size(dt), V, temps[r], want + r * V);
    fd__cbuf bx, bt, bp;
    int64_t sx[2] = {M, V}, st[1] = {M};
    fd_status s = fd__cbuf_new(&bx, ctx, dt, 2, sx, xin);
    if (s == FD_OK) s = fd__cbuf_new(&bt, ctx, FD_F32, 1, st, temps);
    if (s == FD_OK) s = fd__cbuf_new(&bp, ctx, FD_F32, 2, sx, NULL);
    if (s == FD_OK) s = fd_softmax(ctx, &bx.t, &bt.t, &bp.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&bp);
    if (s != FD_OK) snprintf(detail, n, "%s", fd_last_error());
    else if (!fd__compare(FD_F32, bp.host, want, M * V, 1e-7, 1e-4, detail, n)) res = FD_CHECK_PASS;
    fd__cbuf_free(&bx); fd__cbuf_free(&bt); fd__cbuf_free(&bp);
    free(x); free(want); free(xh);
    (void)cpu;
    return res;
}
