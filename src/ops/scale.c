// SPDX-License-Identifier: Apache-2.0
// scale: out = a * s elementwise (Gemma's embedding scale, sqrt(n_embd)).
// C reference + dispatch + self-check.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/model_launch.h"
#include "ops/tensor_check.h"

static const char *OP = "scale";

static fd_status validate(const fd_tensor *a, float s, const fd_tensor *out) {
    if (!a || !out)
        return fd__error(FD_ERR_INVALID_ARG, "%s: %s is NULL; pass a tensor", OP, !a ? "a" : "out");
    if (!fd__dtype_in(a->dtype, FD_DT(FD_F32) | FD_DT(FD_F16) | FD_DT(FD_BF16)))
        return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "%s: a has dtype %s; pass f32, f16 or bf16",
                         OP, fd_dtype_name(a->dtype));
    if (out->dtype != a->dtype)
        return fd__error(FD_ERR_INVALID_ARG, "%s: out is %s but a is %s; they must match", OP,
                         fd_dtype_name(out->dtype), fd_dtype_name(a->dtype));
    if (a->ndim < 0 || a->ndim > FD_MAX_DIMS || !fd__same_shape(a, out))
        return fd__error(FD_ERR_INVALID_ARG, "%s: a and out must have the same shape", OP);
    if (!isfinite(s))
        return fd__error(FD_ERR_INVALID_ARG, "%s: s = %g; pass a finite scale", OP, (double)s);
    if (out->data != a->data && fd__tensors_overlap(out, a))
        return fd__error(FD_ERR_INVALID_ARG, "%s: out partly overlaps a; out may only be a "
                         "itself (in place) or a separate buffer", OP);
    return FD_OK;
}

fd_status fd_scale(fd_ctx *ctx, const fd_tensor *a, float s, fd_tensor *out) {
    FD_TRY(validate(a, s, out));
    int64_t n = fd_tensor_numel(a);
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_scale, a->dtype, &variant, &l));
    if (variant == FD_VAR_REF) {
        for (int64_t i = 0; i < n; i++)
            fd__set_f(a->dtype, out->data, i, fd__get_f(a->dtype, a->data, i) * s);
        return FD_OK;
    }
#if FD_BUILT_scale
    if (variant == FD_VAR_scale) return fd__cuda_scale(&l, a->data, s, out->data, n, a->dtype);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: small integers times 0.5 and -3 (exact in every dtype), in
// place, then on CUDA an odd-length random vector against the C reference
// (bit-exact: one rounding of the same f32 product).

static fd_status scale_run(fd_ctx *ctx, fd_dtype dt, int64_t n, void *ah, float s, void *oh,
                           int inplace) {
    fd__cbuf ba, bo;
    memset(&bo, 0, sizeof bo);
    fd_status st = fd__cbuf_new(&ba, ctx, dt, 1, &n, ah);
    if (st == FD_OK && !inplace) st = fd__cbuf_new(&bo, ctx, dt, 1, &n, NULL);
    fd__cbuf *res = inplace ? &ba : &bo;
    if (st == FD_OK) st = fd_scale(ctx, &ba.t, s, &res->t);
    if (st == FD_OK) st = fd_ctx_sync(ctx);
    if (st == FD_OK) st = fd__cbuf_fetch(res);
    if (st == FD_OK) memcpy(oh, res->host, fd_tensor_bytes(&res->t));
    fd__cbuf_free(&ba);
    fd__cbuf_free(&bo);
    return st;
}

static fd_check_result scale_known(fd_ctx *ctx, fd_dtype dt, float *f, int n, char *detail,
                                   size_t nd) {
    float *a = f, *o = f + n, *want = f + 2 * n;
    char why[160];
    for (int inplace = 0; inplace < 2; inplace++) {
        float s = inplace ? -3.0f : 0.5f;
        for (int i = 0; i < n; i++) {
            fd__set_f(dt, a, i, (float)(i % 17 - 8));
            fd__set_f(dt, want, i, (float)(i % 17 - 8) * s);
        }
        if (scale_run(ctx, dt, n, a, s, o, inplace) != FD_OK) {
            snprintf(detail, nd, "known case: %s", fd_last_error());
            return FD_CHECK_FAIL;
        }
        if (fd__compare(dt, o, want, n, 0, 0, why, sizeof why)) {
            snprintf(detail, nd, "known case (s = %g%s): %s", (double)s,
                     inplace ? ", in place" : "", why);
            return FD_CHECK_FAIL;
        }
    }
    return FD_CHECK_PASS;
}

static fd_check_result scale_random(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, float *f, int n,
                                    char *detail, size_t nd) {
    float *a = f, *o = f + n, *o2 = f + 2 * n;
    char why[160];
    uint64_t rng = 11;
    for (int i = 0; i < n; i++) fd__set_f(dt, a, i, fd__rng_uniform(&rng) * 8 - 4);
    const float s = 45.254833f;  // sqrt(2048): Gemma's embedding scale for n_embd 2048
    if (scale_run(ctx, dt, n, a, s, o, 0) != FD_OK || scale_run(cpu, dt, n, a, s, o2, 0) != FD_OK) {
        snprintf(detail, nd, "random: %s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (fd__compare(dt, o, o2, n, 0, 0, why, sizeof why)) {
        snprintf(detail, nd, "random vs C reference: %s", why);
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}

fd_check_result fd__check_scale(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail, size_t nd) {
    enum { N = 1003 };
    float *f = malloc(3 * N * sizeof(float));
    if (!f) {
        snprintf(detail, nd, "out of host memory");
        return FD_CHECK_FAIL;
    }
    fd_check_result r = scale_known(ctx, dt, f, N, detail, nd);
    if (r == FD_CHECK_PASS && ctx != cpu && fd_ctx_is_cuda(ctx))
        r = scale_random(ctx, cpu, dt, f, N, detail, nd);
    free(f);
    return r;
}
