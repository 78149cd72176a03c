// SPDX-License-Identifier: Apache-2.0
// rms_norm: out = x / sqrt(mean(x^2) + eps) * w over rows, with the optional fused
// residual add (x += residual written back first). C reference + dispatch + self-check.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/model_launch.h"
#include "ops/tensor_check.h"

static const char *OP = "rms_norm";

static fd_status ref_rms_norm(const fd__rms_norm_args *a) {
    for (int64_t m = 0; m < a->m; m++) {
        float ss = 0.0f;
        for (int64_t j = 0; j < a->d; j++) {
            int64_t i = m * a->d + j;
            if (a->residual) {  // round the new residual stream to x's dtype first
                float s = fd__get_f(a->dtype, a->x, i) + fd__get_f(a->dtype, a->residual, i);
                fd__set_f(a->dtype, a->x, i, s);
            }
            float v = fd__get_f(a->dtype, a->x, i);
            ss += v * v;
        }
        float inv = 1.0f / sqrtf(ss / (float)a->d + a->eps);
        for (int64_t j = 0; j < a->d; j++) {
            int64_t i = m * a->d + j;
            fd__set_f(a->dtype, a->out, i, fd__get_f(a->dtype, a->x, i) * inv * a->w[j]);
        }
    }
    return FD_OK;
}

fd_status fd_rms_norm(fd_ctx *ctx, fd_tensor *x, const fd_tensor *residual, const fd_tensor *w,
                      float eps, fd_tensor *out) {
    FD_TRY(FD_CHECK_T(OP, "x", x, -1, -1, -1));
    if (!fd__dtype_in(x->dtype, FD_DT(FD_F32) | FD_DT(FD_F16) | FD_DT(FD_BF16)))
        return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "%s: x has dtype %s; pass f32, f16 or bf16",
                         OP, fd_dtype_name(x->dtype));
    int64_t m = x->ne[0], d = x->ne[1];
    if (d <= 0) return fd__error(FD_ERR_INVALID_ARG, "%s: x rows are empty (D = %lld)", OP, (long long)d);
    if (!(eps >= 0.0f) || isinf(eps))
        return fd__error(FD_ERR_INVALID_ARG, "%s: eps = %g must be finite and >= 0", OP, (double)eps);
    if (residual) FD_TRY(FD_CHECK_T(OP, "residual", residual, (int)x->dtype, m, d));
    FD_TRY(FD_CHECK_T(OP, "w", w, FD_F32, d));
    FD_TRY(FD_CHECK_T(OP, "out", out, (int)x->dtype, m, d));
    size_t ob = fd_tensor_bytes(out);
    if ((out->data != x->data && fd__overlaps(out->data, ob, x->data, ob)) ||
        (residual && fd__overlaps(out->data, ob, residual->data, ob)) ||
        (residual && fd__overlaps(x->data, ob, residual->data, ob)))
        return fd__error(FD_ERR_INVALID_ARG, "%s: out overlaps x or residual, or x overlaps "
                         "residual; out may only be x itself", OP);
    fd__rms_norm_args a = {x->data, residual ? residual->data : NULL, w->data, out->data,
                           m, d, eps, x->dtype};
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_rms_norm, a.dtype, &variant, &l));
    if (variant == FD_VAR_REF) return ref_rms_norm(&a);
#if FD_BUILT_rms_norm
    if (variant == FD_VAR_rms_norm) return fd__cuda_rms_norm(&l, &a);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: a known row (x = 3, 4 -> rms 3.5355), the fused residual add,
// then on CUDA random rows (odd and vector sizes) against the C reference.

static fd_status rn_run(fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t d, void *xh,
                        const void *rh, const float *wh, float eps, void *oh) {
    fd__cbuf bx, br, bw, bo;
    int64_t s2[2] = {m, d}, s1[1] = {d};
    memset(&br, 0, sizeof br);
    memset(&bw, 0, sizeof bw);
    memset(&bo, 0, sizeof bo);
    fd_status s = fd__cbuf_new(&bx, ctx, dt, 2, s2, xh);
    if (s == FD_OK && rh) s = fd__cbuf_new(&br, ctx, dt, 2, s2, rh);
    if (s == FD_OK) s = fd__cbuf_new(&bw, ctx, FD_F32, 1, s1, wh);
    if (s == FD_OK) s = fd__cbuf_new(&bo, ctx, dt, 2, s2, NULL);
    if (s == FD_OK) s = fd_rms_norm(ctx, &bx.t, rh ? &br.t : NULL, &bw.t, eps, &bo.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&bo);
    if (s == FD_OK) s = fd__cbuf_fetch(&bx);
    if (s == FD_OK) {
        memcpy(oh, bo.host, fd_tensor_bytes(&bo.t));
        memcpy(xh, bx.host, fd_tensor_bytes(&bx.t));
    }
    fd__cbuf_free(&bx); fd__cbuf_free(&br); fd__cbuf_free(&bw); fd__cbuf_free(&bo);
    return s;
}

static fd_check_result rn_known(fd_ctx *ctx, fd_dtype dt, char *detail, size_t nd) {
    float w[2] = {1.0f, 2.0f};
    uint32_t x[2], r[2], o[2];
    fd__set_f(dt, x, 0, 1.0f); fd__set_f(dt, x, 1, 3.0f);
    fd__set_f(dt, r, 0, 2.0f); fd__set_f(dt, r, 1, 1.0f);  // x + r = 3, 4
    if (rn_run(ctx, dt, 1, 2, x, r, w, 0.0f, o) != FD_OK) {
        snprintf(detail, nd, "known case: %s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    float inv = 1.0f / sqrtf(12.5f), tol = dt == FD_F32 ? 1e-6f : 1e-2f;
    if (fd__get_f(dt, x, 0) != 3.0f || fd__get_f(dt, x, 1) != 4.0f ||
        fabsf(fd__get_f(dt, o, 0) - 3.0f * inv) > tol ||
        fabsf(fd__get_f(dt, o, 1) - 8.0f * inv) > tol) {
        snprintf(detail, nd, "known case: x = %g %g, out = %g %g; expected 3 4, %g %g",
                 fd__get_f(dt, x, 0), fd__get_f(dt, x, 1), fd__get_f(dt, o, 0),
                 fd__get_f(dt, o, 1), 3.0f * inv, 8.0f * inv);
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}

static fd_check_result rn_random(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, int64_t m, int64_t d,
                                 char *detail, size_t nd) {
    size_t esz = fd_dtype_size(dt), bytes = (size_t)(m * d) * esz;
    char *buf = malloc(6 * bytes);
    float *w = malloc((size_t)d * sizeof(float));
    fd_check_result r = FD_CHECK_FAIL;
    char why[160];
    if (!buf || !w) {
        snprintf(detail, nd, "out of host memory");
        goto done;
    }
    char *x = buf, *x2 = buf + bytes, *res = buf + 2 * bytes, *o = buf + 3 * bytes,
         *o2 = buf + 4 * bytes;
    uint64_t rng = 3;
    for (int64_t i = 0; i < m * d; i++) {
        fd__set_f(dt, x, i, fd__rng_uniform(&rng) * 4 - 2);
        fd__set_f(dt, res, i, fd__rng_uniform(&rng) * 2 - 1);
    }
    for (int64_t j = 0; j < d; j++) w[j] = fd__rng_uniform(&rng) + 0.5f;
    memcpy(x2, x, bytes);
    if (rn_run(ctx, dt, m, d, x, res, w, 1e-6f, o) != FD_OK ||
        rn_run(cpu, dt, m, d, x2, res, w, 1e-6f, o2) != FD_OK) {
        snprintf(detail, nd, "random %lldx%lld: %s", (long long)m, (long long)d, fd_last_error());
        goto done;
    }
    double tol = dt == FD_F32 ? 1e-5 : dt == FD_F16 ? 2e-3 : 1.6e-2;
    if (fd__compare(dt, x, x2, m * d, 0, 0, why, sizeof why) ||
        fd__compare(dt, o, o2, m * d, tol, tol, why, sizeof why)) {
        snprintf(detail, nd, "random %lldx%lld vs C reference: %s", (long long)m, (long long)d, why);
        goto done;
    }
    r = FD_CHECK_PASS;
done:
    free(buf);
    free(w);
    return r;
}

fd_check_result fd__check_rms_norm(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                   size_t n) {
    fd_check_result r = rn_known(ctx, dt, detail, n);
    if (r != FD_CHECK_PASS || ctx == cpu || !fd_ctx_is_cuda(ctx)) return r;
    if ((r = rn_random(ctx, cpu, dt, 5, 4096, detail, n)) != FD_CHECK_PASS) return r;
    return rn_random(ctx, cpu, dt, 3, 77, detail, n);
}
