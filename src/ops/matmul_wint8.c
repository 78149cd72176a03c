// SPDX-License-Identifier: Apache-2.0
// matmul_wint8: weight-only int8 GEMM, C = A * (Wq * scale[n])^T, with the host
// quantizer that makes Wq and scale. Dispatch + self-check; the C reference is
// fd__ref_matmul (src/ops/matmul.c), which applies the scale after the f32 sum.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/ffn_launch.h"

static const char *OP = "matmul_wint8";

fd_status fd_quantize_int8_per_channel(const float *w, int64_t n, int64_t k, int8_t *q,
                                       float *scale) {
    if (n < 0 || k < 0 || ((!w || !q) && n * k > 0) || (!scale && n > 0))
        return fd__error(FD_ERR_INVALID_ARG,
                         "fd_quantize_int8_per_channel: n=%lld k=%lld with a NULL buffer; "
                         "pass w, q and scale of n*k, n*k and n elements",
                         (long long)n, (long long)k);
    for (int64_t r = 0; r < n; r++) {
        float amax = 0.0f;
        for (int64_t i = 0; i < k; i++) {
            float v = w[r * k + i];
            if (!isfinite(v))
                return fd__error(FD_ERR_INVALID_ARG,
                                 "fd_quantize_int8_per_channel: w[%lld][%lld] = %g is not "
                                 "finite; fix the weights before quantizing",
                                 (long long)r, (long long)i, (double)v);
            amax = fmaxf(amax, fabsf(v));
        }
        float s = amax / 127.0f;
        scale[r] = s;
        for (int64_t i = 0; i < k; i++) {
            float v = s > 0.0f ? roundf(w[r * k + i] / s) : 0.0f;
            q[r * k + i] = (int8_t)fmaxf(-127.0f, fminf(127.0f, v));
        }
    }
    return FD_OK;
}

fd_status fd_matmul_wint8(fd_ctx *ctx, const fd_tensor *a, const fd_tensor *wq,
                          const fd_tensor *scale, fd_tensor *c) {
    if (!scale)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: scale is NULL; pass the [N] f32 per-channel scales "
                         "(fd_quantize_int8_per_channel makes them)", OP);
    fd__matmul_args x;
    FD_TRY(fd__matmul_prepare(OP, a, wq, scale, c, &x));
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_matmul_wint8, x.dtype, &variant, &l));
    if (variant == FD_VAR_REF) return fd__ref_matmul(OP, &x);
#if FD_BUILT_matmul_wint8
    if (variant == FD_VAR_matmul_wint8) return fd__cuda_matmul_wint8(&l, &x);
#endif
#if FD_BUILT_matmul_wint8_sm80
    if (variant == FD_VAR_matmul_wint8_sm80) return fd__cuda_matmul_wint8_sm80(&l, &x);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: quantize random weights, run the op, compare with
// A * dequant(Wq)^T summed in double here (and on CUDA with the C reference).

typedef struct w8_case {
    int64_t m, n, k;
    fd_dtype dt;
    const void *a;       // [m, k] of dt
    const int8_t *q;     // [n, k]
    const float *scale;  // [n]
} w8_case;

static fd_status w8_run(fd_ctx *ctx, const w8_case *c, void *out) {
    fd__cbuf ba, bq, bs, bc;
    int64_t sa[2] = {c->m, c->k}, sq[2] = {c->n, c->k}, ss[1] = {c->n}, sc[2] = {c->m, c->n};
    memset(&bq, 0, sizeof bq);
    memset(&bs, 0, sizeof bs);
    memset(&bc, 0, sizeof bc);
    fd_status s = fd__cbuf_new(&ba, ctx, c->dt, 2, sa, c->a);
    if (s == FD_OK) s = fd__cbuf_new(&bq, ctx, FD_I8, 2, sq, c->q);
    if (s == FD_OK) s = fd__cbuf_new(&bs, ctx, FD_F32, 1, ss, c->scale);
    if (s == FD_OK) s = fd__cbuf_new(&bc, ctx, c->dt, 2, sc, NULL);
    if (s == FD_OK) s = fd_matmul_wint8(ctx, &ba.t, &bq.t, &bs.t, &bc.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&bc);
    if (s == FD_OK) memcpy(out, bc.host, fd_tensor_bytes(&bc.t));
    fd__cbuf_free(&ba);
    fd__cbuf_free(&bq);
    fd__cbuf_free(&bs);
    fd__cbuf_free(&bc);
    return s;
}

fd_check_result fd__check_matmul_wint8(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                       size_t n_detail) {
    enum { M = 9, N = 33, K = 72 };  // M > 8: the tiled path on CUDA
    float wf[N * K], af[M * K], scale[N], want[M * N];
    int8_t q[N * K];
    uint32_t a[M * K], c[M * N], ref[M * N], wantd[M * N];
    uint64_t rng = 3;
    for (int i = 0; i < N * K; i++) wf[i] = fd__rng_uniform(&rng) - 0.5f;
    for (int i = 0; i < M * K; i++) af[i] = fd__rng_uniform(&rng) * 2.0f - 1.0f;
    if (fd_quantize_int8_per_channel(wf, N, K, q, scale) != FD_OK) {
        snprintf(detail, n_detail, "%s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    fd__ffn_host_fill(dt, a, af, M * K);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)fd__ffn_get(dt, a, m * K + k) * q[n * K + k];
            want[m * N + n] = (float)(s * scale[n]);
        }
    fd__ffn_host_fill(dt, wantd, want, M * N);
    w8_case cs = {M, N, K, dt, a, q, scale};
    char why[160];
    double tol = dt == FD_F32 ? 1e-5 : dt == FD_F16 ? 2e-3 : 1e-2;  // one output rounding
    if (w8_run(ctx, &cs, c) != FD_OK) {
        snprintf(detail, n_detail, "%s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (fd__compare(dt, c, wantd, M * N, 1e-4, tol, why, sizeof why)) {
        snprintf(detail, n_detail, "vs dequantized reference: %s", why);
        return FD_CHECK_FAIL;
    }
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    cs.m = 2;  // GEMV path
    if (w8_run(ctx, &cs, c) != FD_OK || w8_run(cpu, &cs, ref) != FD_OK) {
        snprintf(detail, n_detail, "M=2: %s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (fd__compare(dt, c, ref, 2 * N, 1e-4, tol, why, sizeof why)) {
        snprintf(detail, n_detail, "M=2 vs C reference: %s", why);
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}
