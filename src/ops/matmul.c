// SPDX-License-Identifier: Apache-2.0
// matmul: C[M, N] = A[M, K] * W[N, K]^T, the dense projection of the FFN layer.
// C reference (shared with matmul_wint8) + dispatch + self-check.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/ffn_launch.h"
#include "ops/tensor_check.h"

static const char *OP = "matmul";

float fd__ffn_get(fd_dtype dt, const void *p, int64_t i) {
    switch (dt) {
    case FD_F16: return fd_f16_to_f32(((const uint16_t *)p)[i]);
    case FD_BF16: return fd_bf16_to_f32(((const uint16_t *)p)[i]);
    case FD_I8: return (float)((const int8_t *)p)[i];
    default: return ((const float *)p)[i];
    }
}

void fd__ffn_set(fd_dtype dt, void *p, int64_t i, float v) {
    switch (dt) {
    case FD_F16: ((uint16_t *)p)[i] = fd_f32_to_f16(v); break;
    case FD_BF16: ((uint16_t *)p)[i] = fd_f32_to_bf16(v); break;
    default: ((float *)p)[i] = v; break;
    }
}

void fd__ffn_host_fill(fd_dtype dt, void *dst, const float *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) fd__ffn_set(dt, dst, i, src[i]);
}

fd_status fd__matmul_prepare(const char *op, const fd_tensor *a, const fd_tensor *w,
                             const fd_tensor *scale, const fd_tensor *c,
                             fd__matmul_args *out) {
    FD_TRY(FD_CHECK_T(op, "a", a, -1, -1, -1));
    if (!fd__dtype_in(a->dtype, FD_DT(FD_F32) | FD_DT(FD_F16) | FD_DT(FD_BF16)))
        return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "%s: a has dtype %s; pass f32, f16 or bf16",
                         op, fd_dtype_name(a->dtype));
    int64_t m = a->ne[0], k = a->ne[1];
    FD_TRY(FD_CHECK_T(op, "w", w, scale ? (int)FD_I8 : (int)a->dtype, -1, k));
    int64_t n = w->ne[0];
    if (scale) FD_TRY(FD_CHECK_T(op, "scale", scale, FD_F32, n));
    FD_TRY(FD_CHECK_T(op, "c", c, (int)a->dtype, m, n));
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: M=%lld N=%lld K=%lld; each must be <= 2^31-1, split the call",
                         op, (long long)m, (long long)n, (long long)k);
    size_t cb = fd_tensor_bytes(c);
    if (fd__overlaps(c->data, cb, a->data, fd_tensor_bytes(a)) ||
        fd__overlaps(c->data, cb, w->data, fd_tensor_bytes(w)))
        return fd__error(FD_ERR_INVALID_ARG, "%s: c overlaps a or w; give c its own buffer", op);
    memset(out, 0, sizeof *out);
    out->a = a->data;
    out->w = w->data;
    out->scale = scale ? scale->data : NULL;
    out->c = c->data;
    out->m = m;
    out->n = n;
    out->k = k;
    out->dtype = a->dtype;
    return FD_OK;
}

fd_status fd__ref_matmul(const char *op, const fd__matmul_args *x) {
    if (x->m == 0 || x->n == 0) return FD_OK;
    fd_dtype wdt = x->scale ? FD_I8 : x->dtype;
    float *af = malloc((size_t)(x->m * x->k) * sizeof(float) + 1);
    float *wf = malloc((size_t)x->k * sizeof(float) + 1);
    if (!af || !wf) {
        free(af);
        free(wf);
        return fd__error(FD_ERR_OOM, "%s: reference needs %lld floats of host memory", op,
                         (long long)(x->m * x->k + x->k));
    }
    for (int64_t i = 0; i < x->m * x->k; i++) af[i] = fd__ffn_get(x->dtype, x->a, i);
    for (int64_t n = 0; n < x->n; n++) {
        for (int64_t k = 0; k < x->k; k++) wf[k] = fd__ffn_get(wdt, x->w, n * x->k + k);
        float s = x->scale ? x->scale[n] : 1.0f;
        for (int64_t m = 0; m < x->m; m++) {
            const float *ar = af + m * x->k;
            float acc = 0.0f;
            for (int64_t k = 0; k < x->k; k++) acc += ar[k] * wf[k];
            fd__ffn_set(x->dtype, x->c, m * x->n + n, acc * s);
        }
    }
    free(af);
    free(wf);
    return FD_OK;
}

fd_status fd_matmul(fd_ctx *ctx, const fd_tensor *a, const fd_tensor *w, fd_tensor *c) {
    fd__matmul_args x;
    FD_TRY(fd__matmul_prepare(OP, a, w, NULL, c, &x));
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_matmul, x.dtype, &variant, &l));
    if (variant == FD_VAR_REF) return fd__ref_matmul(OP, &x);
#if FD_BUILT_matmul_sm70
    if (variant == FD_VAR_matmul_sm70) return fd__cuda_matmul_sm70(&l, &x);
#endif
#if FD_BUILT_matmul_sm80
    if (variant == FD_VAR_matmul_sm80) return fd__cuda_matmul_sm80(&l, &x);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: a known-answer case of small integers (exact in every dtype),
// then on CUDA random GEMV and tiled shapes against the C reference.

static fd_status mm_run(fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t n, int64_t k,
                        const void *ah, const void *wh, void *ch) {
    fd__cbuf ba, bw, bc;
    int64_t sa[2] = {m, k}, sw[2] = {n, k}, sc[2] = {m, n};
    memset(&bw, 0, sizeof bw);
    memset(&bc, 0, sizeof bc);
    fd_status s = fd__cbuf_new(&ba, ctx, dt, 2, sa, ah);
    if (s == FD_OK) s = fd__cbuf_new(&bw, ctx, dt, 2, sw, wh);
    if (s == FD_OK) s = fd__cbuf_new(&bc, ctx, dt, 2, sc, NULL);
    if (s == FD_OK) s = fd_matmul(ctx, &ba.t, &bw.t, &bc.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&bc);
    if (s == FD_OK) memcpy(ch, bc.host, fd_tensor_bytes(&bc.t));
    fd__cbuf_free(&ba);
    fd__cbuf_free(&bw);
    fd__cbuf_free(&bc);
    return s;
}

static fd_check_result mm_known(fd_ctx *ctx, fd_dtype dt, char *detail, size_t n_detail) {
    enum { M = 3, N = 5, K = 20 };
    float af[M * K], wf[N * K], want[M * N];
    uint32_t a[M * K], w[N * K], c[M * N], wantd[M * N];
    for (int i = 0; i < M * K; i++) af[i] = (float)((i * 7) % 5 - 2);
    for (int i = 0; i < N * K; i++) wf[i] = (float)((i * 3) % 7 - 3);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)af[m * K + k] * wf[n * K + k];
            want[m * N + n] = (float)s;
        }
    fd__ffn_host_fill(dt, a, af, M * K);
    fd__ffn_host_fill(dt, w, wf, N * K);
    fd__ffn_host_fill(dt, wantd, want, M * N);
    if (mm_run(ctx, dt, M, N, K, a, w, c) != FD_OK) {
        snprintf(detail, n_detail, "known case: %s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    char why[160];
    if (fd__compare(dt, c, wantd, M * N, 0, 0, why, sizeof why)) {
        snprintf(detail, n_detail, "known case: %s", why);
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}

static fd_check_result mm_random(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, int64_t m, int64_t n,
                                 int64_t k, char *detail, size_t n_detail) {
    size_t esz = fd_dtype_size(dt);
    float *af = malloc((size_t)(m * k + n * k) * sizeof(float));
    char *buf = malloc((size_t)(m * k + n * k + 2 * m * n) * esz);
    fd_check_result r = FD_CHECK_FAIL;
    if (!af || !buf) {
        snprintf(detail, n_detail, "out of host memory");
        goto done;
    }
    uint64_t rng = 11;
    for (int64_t i = 0; i < m * k + n * k; i++) af[i] = fd__rng_uniform(&rng) * 2.0f - 1.0f;
    char *a = buf, *w = a + m * k * esz, *c = w + n * k * esz, *ref = c + m * n * esz;
    fd__ffn_host_fill(dt, a, af, m * k);
    fd__ffn_host_fill(dt, w, af + m * k, n * k);
    if (mm_run(ctx, dt, m, n, k, a, w, c) != FD_OK || mm_run(cpu, dt, m, n, k, a, w, ref) != FD_OK) {
        snprintf(detail, n_detail, "random %lldx%lldx%lld: %s", (long long)m, (long long)n,
                 (long long)k, fd_last_error());
        goto done;
    }
    char why[160];
    double tol = dt == FD_BF16 ? 2e-2 : 1e-2;  // |sum| ~ sqrt(K)/3: relative + absolute part
    if (fd__compare(dt, c, ref, m * n, tol * sqrt((double)k) / 3.0, tol, why, sizeof why)) {
        snprintf(detail, n_detail, "random %lldx%lldx%lld vs C reference: %s", (long long)m,
                 (long long)n, (long long)k, why);
        goto done;
    }
    r = FD_CHECK_PASS;
done:
    free(af);
    free(buf);
    return r;
}

fd_check_result fd__check_matmul(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                 size_t n) {
    fd_check_result r = mm_known(ctx, dt, detail, n);
    if (r != FD_CHECK_PASS || ctx == cpu || !fd_ctx_is_cuda(ctx)) return r;
    r = mm_random(ctx, cpu, dt, 3, 70, 200, detail, n);      // GEMV path
    if (r == FD_CHECK_PASS) r = mm_random(ctx, cpu, dt, 37, 90, 136, detail, n);  // tiles
    return r;
}
