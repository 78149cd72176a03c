// SPDX-License-Identifier: Apache-2.0
// qkv_bias_rms_norm: in place on the stacked q/k/v rows between the qkv matmul and
// attention: + bias (Qwen2), then RMSNorm of each q and k head over head_dim
// (Qwen3's q_norm / k_norm). C reference + dispatch + self-check.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/layers_launch.h"
#include "ops/tensor_check.h"

static const char *OP = "qkv_bias_rms_norm";

enum { QN_MAX_HEAD_DIM = 256 };  // the kernel keeps a head in one warp's registers

// The norm weight of head h: q_norm for q heads, k_norm for k heads, none for v.
static const float *norm_of(const fd__qkv_norm_args *a, int h) {
    if (h < a->n_q_heads) return a->q_norm;
    return h < a->n_q_heads + a->n_kv_heads ? a->k_norm : NULL;
}

// One head at element i0: bias-add and norm in f32, one rounding at the end.
static void ref_head(const fd__qkv_norm_args *a, int64_t i0, const float *b, const float *w) {
    float v[QN_MAX_HEAD_DIM], ss = 0.0f;
    for (int j = 0; j < a->head_dim; j++) {
        v[j] = fd__get_f(a->dtype, a->qkv, i0 + j);
        if (b) v[j] += b[j];  // not + 0.0f without a bias: that would turn -0 into +0
        ss += v[j] * v[j];
    }
    float inv = w ? 1.0f / sqrtf(ss / (float)a->head_dim + a->eps) : 1.0f;
    for (int j = 0; j < a->head_dim; j++)
        fd__set_f(a->dtype, a->qkv, i0 + j, w ? v[j] * inv * w[j] : v[j]);
}

static fd_status ref_qkv_bias_rms_norm(const fd__qkv_norm_args *a) {
    int h0, h1;
    fd__qkv_norm_heads(a, &h0, &h1);
    int64_t width = (int64_t)(a->n_q_heads + 2 * a->n_kv_heads) * a->head_dim;
    for (int64_t t = 0; t < a->t; t++)
        for (int h = h0; h < h1; h++)
            ref_head(a, t * width + (int64_t)h * a->head_dim,
                     a->bias ? a->bias + (int64_t)h * a->head_dim : NULL, norm_of(a, h));
    return FD_OK;
}

static fd_status check_heads(int nq, int nkv, int hd) {
    if (nq < 1 || nkv < 1)
        return fd__error(FD_ERR_INVALID_ARG, "%s: n_q_heads = %d, n_kv_heads = %d; both must be "
                         ">= 1", OP, nq, nkv);
    if (hd < 1 || hd > QN_MAX_HEAD_DIM)
        return fd__error(FD_ERR_INVALID_ARG, "%s: head_dim = %d; it must be in [1, %d]", OP, hd,
                         QN_MAX_HEAD_DIM);
    return FD_OK;
}

// Checks one optional f32 input: its shape, and that it does not overlap qkv.
static fd_status check_input(const char *name, const fd_tensor *t, int64_t n,
                             const fd_tensor *qkv) {
    if (!t) return FD_OK;
    FD_TRY(FD_CHECK_T(OP, name, t, FD_F32, n));
    if (fd__tensors_overlap(t, qkv))
        return fd__error(FD_ERR_INVALID_ARG, "%s: %s overlaps qkv; pass a separate buffer", OP,
                         name);
    return FD_OK;
}

static fd_status validate(const fd_tensor *qkv, int nq, int nkv, int hd, const fd_tensor *bias,
                          const fd_tensor *q_norm, const fd_tensor *k_norm, float eps) {
    if (!bias && !q_norm && !k_norm)
        return fd__error(FD_ERR_INVALID_ARG, "%s: bias, q_norm and k_norm are all NULL; pass at "
                         "least one (or skip the call)", OP);
    FD_TRY(check_heads(nq, nkv, hd));
    FD_TRY(FD_CHECK_T(OP, "qkv", qkv, -1, -1, -1));
    if (!fd__dtype_in(qkv->dtype, FD_DT(FD_F32) | FD_DT(FD_F16) | FD_DT(FD_BF16)))
        return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "%s: qkv has dtype %s; pass f32, f16 or bf16",
                         OP, fd_dtype_name(qkv->dtype));
    int64_t width = ((int64_t)nq + 2 * (int64_t)nkv) * hd;
    if (qkv->ne[1] != width)
        return fd__error(FD_ERR_INVALID_ARG, "%s: qkv rows have %lld elements, but (n_q_heads + "
                         "2*n_kv_heads) * head_dim = (%d + 2*%d) * %d = %lld", OP,
                         (long long)qkv->ne[1], nq, nkv, hd, (long long)width);
    if (!(eps >= 0.0f) || isinf(eps))
        return fd__error(FD_ERR_INVALID_ARG, "%s: eps = %g must be finite and >= 0", OP,
                         (double)eps);
    FD_TRY(check_input("bias", bias, width, qkv));
    FD_TRY(check_input("q_norm", q_norm, hd, qkv));
    return check_input("k_norm", k_norm, hd, qkv);
}

fd_status fd_qkv_bias_rms_norm(fd_ctx *ctx, fd_tensor *qkv, int n_q_heads, int n_kv_heads,
                               int head_dim, const fd_tensor *bias, const fd_tensor *q_norm,
                               const fd_tensor *k_norm, float eps) {
    FD_TRY(validate(qkv, n_q_heads, n_kv_heads, head_dim, bias, q_norm, k_norm, eps));
    fd__qkv_norm_args a = {qkv->data, bias ? bias->data : NULL, q_norm ? q_norm->data : NULL,
                           k_norm ? k_norm->data : NULL, qkv->ne[0], n_q_heads, n_kv_heads,
                           head_dim, eps, qkv->dtype};
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_qkv_bias_rms_norm, a.dtype, &variant, &l));
    if (variant == FD_VAR_REF) return ref_qkv_bias_rms_norm(&a);
#if FD_BUILT_qkv_bias_rms_norm
    if (variant == FD_VAR_qkv_bias_rms_norm) return fd__cuda_qkv_bias_rms_norm(&l, &a);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: a small GQA case (2 q heads, 1 kv head, head_dim 4) with bias,
// q_norm and k_norm against the same math in double; then on CUDA random cases
// (head_dim 128 with all three, head_dim 64 with k_norm only) against the C
// reference.

typedef struct qn_case {
    int64_t t;
    int nq, nkv, hd;
    int with_bias, with_q, with_k;
} qn_case;

static int64_t qn_width(const qn_case *c) { return (int64_t)(c->nq + 2 * c->nkv) * c->hd; }

// Runs the op on ctx over host x (dtype dt, updated in place); w holds bias, then
// q_norm, then k_norm (each used only when the case asks for it).
static fd_status qn_run(fd_ctx *ctx, fd_dtype dt, const qn_case *c, void *x, const float *w) {
    int64_t sx[2] = {c->t, qn_width(c)}, sb = qn_width(c), sn = c->hd;
    fd__cbuf bx, bb, bq, bk;
    memset(&bb, 0, sizeof bb);
    memset(&bq, 0, sizeof bq);
    memset(&bk, 0, sizeof bk);
    fd_status s = fd__cbuf_new(&bx, ctx, dt, 2, sx, x);
    if (s == FD_OK && c->with_bias) s = fd__cbuf_new(&bb, ctx, FD_F32, 1, &sb, w);
    if (s == FD_OK && c->with_q) s = fd__cbuf_new(&bq, ctx, FD_F32, 1, &sn, w + sb);
    if (s == FD_OK && c->with_k) s = fd__cbuf_new(&bk, ctx, FD_F32, 1, &sn, w + sb + sn);
    if (s == FD_OK)
        s = fd_qkv_bias_rms_norm(ctx, &bx.t, c->nq, c->nkv, c->hd, c->with_bias ? &bb.t : NULL,
                                 c->with_q ? &bq.t : NULL, c->with_k ? &bk.t : NULL, 1e-6f);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&bx);
    if (s == FD_OK) memcpy(x, bx.host, fd_tensor_bytes(&bx.t));
    fd__cbuf_free(&bx); fd__cbuf_free(&bb); fd__cbuf_free(&bq); fd__cbuf_free(&bk);
    return s;
}

// The expected result in double (f32 out) from x in dtype dt.
static void qn_want(fd_dtype dt, const qn_case *c, const void *x, const float *w, float *want) {
    int64_t width = qn_width(c);
    for (int64_t t = 0; t < c->t; t++)
        for (int h = 0; h < c->nq + 2 * c->nkv; h++) {
            int64_t i0 = t * width + (int64_t)h * c->hd;
            const float *g = h < c->nq ? (c->with_q ? w + width : NULL)
                           : h < c->nq + c->nkv ? (c->with_k ? w + width + c->hd : NULL) : NULL;
            double ss = 0;
            for (int j = 0; j < c->hd; j++) {
                double v = fd__get_f(dt, x, i0 + j) + (c->with_bias ? w[h * c->hd + j] : 0.0);
                want[i0 + j] = (float)v;
                ss += v * v;
            }
            double inv = 1.0 / sqrt(ss / c->hd + 1e-6);
            for (int j = 0; g && j < c->hd; j++) want[i0 + j] = (float)(want[i0 + j] * inv * g[j]);
        }
}

static fd_check_result qn_known(fd_ctx *ctx, fd_dtype dt, char *detail, size_t nd) {
    static const qn_case c = {2, 2, 1, 4, 1, 1, 1};
    enum { N = 2 * 16, W = 16 + 4 + 4 };
    float w[W], want[N], got[N];
    uint32_t x[N];
    for (int i = 0; i < N; i++) fd__set_f(dt, x, i, (float)(i % 7) - 3.0f);
    for (int i = 0; i < 16; i++) w[i] = 0.25f * (float)(i % 5) - 0.5f;
    for (int i = 0; i < 8; i++) w[16 + i] = 0.5f + 0.25f * (float)i;
    qn_want(dt, &c, x, w, want);
    if (qn_run(ctx, dt, &c, x, w) != FD_OK) {
        snprintf(detail, nd, "known case: %s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    for (int i = 0; i < N; i++) got[i] = fd__get_f(dt, x, i);
    double tol = dt == FD_F32 ? 1e-5 : dt == FD_F16 ? 2e-3 : 1.6e-2;
    char why[160];
    if (fd__compare(FD_F32, got, want, N, 1e-6, tol, why, sizeof why)) {
        snprintf(detail, nd, "known case: %s", why);
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}

static fd_check_result qn_random(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, const qn_case *c,
                                 char *detail, size_t nd) {
    int64_t n = c->t * qn_width(c), nw = qn_width(c) + 2 * c->hd;
    size_t bytes = (size_t)n * fd_dtype_size(dt);
    char *x = malloc(2 * bytes);
    float *w = malloc((size_t)nw * sizeof(float));
    fd_check_result r = FD_CHECK_FAIL;
    char why[160];
    if (!x || !w) {
        snprintf(detail, nd, "out of host memory");
        goto done;
    }
    uint64_t rng = 5;
    for (int64_t i = 0; i < n; i++) fd__set_f(dt, x, i, fd__rng_uniform(&rng) * 8 - 4);
    for (int64_t i = 0; i < nw; i++) w[i] = fd__rng_uniform(&rng) + 0.5f;
    memcpy(x + bytes, x, bytes);
    if (qn_run(ctx, dt, c, x, w) != FD_OK || qn_run(cpu, dt, c, x + bytes, w) != FD_OK) {
        snprintf(detail, nd, "random head_dim %d: %s", c->hd, fd_last_error());
        goto done;
    }
    double tol = dt == FD_F32 ? 1e-5 : dt == FD_F16 ? 2e-3 : 1.6e-2;
    if (fd__compare(dt, x, x + bytes, n, tol, tol, why, sizeof why)) {
        snprintf(detail, nd, "random head_dim %d vs C reference: %s", c->hd, why);
        goto done;
    }
    r = FD_CHECK_PASS;
done:
    free(x);
    free(w);
    return r;
}

fd_check_result fd__check_qkv_bias_rms_norm(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                            size_t n) {
    static const qn_case all = {5, 4, 2, 128, 1, 1, 1}, k_only = {3, 8, 1, 64, 0, 0, 1};
    fd_check_result r = qn_known(ctx, dt, detail, n);
    if (r != FD_CHECK_PASS || ctx == cpu || !fd_ctx_is_cuda(ctx)) return r;
    if ((r = qn_random(ctx, cpu, dt, &all, detail, n)) != FD_CHECK_PASS) return r;
    return qn_random(ctx, cpu, dt, &k_only, detail, n);
}
