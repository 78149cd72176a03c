// SPDX-License-Identifier: Apache-2.0
// add: out = a + b elementwise (the residual connections of the model runtime).
// C reference + dispatch + self-check.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/model_launch.h"
#include "ops/tensor_check.h"

static const char *OP = "add";

fd_status fd_add(fd_ctx *ctx, const fd_tensor *a, const fd_tensor *b, fd_tensor *out) {
    if (!a || !b || !out)
        return fd__error(FD_ERR_INVALID_ARG, "%s: %s is NULL; pass a tensor", OP,
                         !a ? "a" : !b ? "b" : "out");
    if (!fd__dtype_in(a->dtype, FD_DT(FD_F32) | FD_DT(FD_F16) | FD_DT(FD_BF16)))
        return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "%s: a has dtype %s; pass f32, f16 or bf16",
                         OP, fd_dtype_name(a->dtype));
    if (b->dtype != a->dtype || out->dtype != a->dtype)
        return fd__error(FD_ERR_INVALID_ARG, "%s: dtypes differ (a %s, b %s, out %s)", OP,
                         fd_dtype_name(a->dtype), fd_dtype_name(b->dtype), fd_dtype_name(out->dtype));
    if (!fd__same_shape(a, b) || !fd__same_shape(a, out) || a->ndim < 0 || a->ndim > FD_MAX_DIMS)
        return fd__error(FD_ERR_INVALID_ARG, "%s: a, b and out must have the same shape", OP);
    int64_t n = fd_tensor_numel(a);
    size_t bytes = fd_tensor_bytes(a);
    if ((out->data != a->data && fd__overlaps(out->data, bytes, a->data, bytes)) ||
        (out->data != b->data && fd__overlaps(out->data, bytes, b->data, bytes)))
        return fd__error(FD_ERR_INVALID_ARG, "%s: out partly overlaps a or b; out may only be "
                         "a or b itself", OP);
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_add, a->dtype, &variant, &l));
    if (variant == FD_VAR_REF) {
        for (int64_t i = 0; i < n; i++)
            fd__set_f(a->dtype, out->data, i,
                          fd__get_f(a->dtype, a->data, i) + fd__get_f(a->dtype, b->data, i));
        return FD_OK;
    }
#if FD_BUILT_add
    if (variant == FD_VAR_add) return fd__cuda_add(&l, a->data, b->data, out->data, n, a->dtype);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: small integers (exact), then on CUDA an odd-length random
// vector against the C reference (exact: one rounding of the same f32 sum).

static fd_status add_run(fd_ctx *ctx, fd_dtype dt, int64_t n, const void *ah, const void *bh,
                         void *oh) {
    fd__cbuf ba, bb, bo;
    memset(&bb, 0, sizeof bb);
    memset(&bo, 0, sizeof bo);
    fd_status s = fd__cbuf_new(&ba, ctx, dt, 1, &n, ah);
    if (s == FD_OK) s = fd__cbuf_new(&bb, ctx, dt, 1, &n, bh);
    if (s == FD_OK) s = fd__cbuf_new(&bo, ctx, dt, 1, &n, NULL);
    if (s == FD_OK) s = fd_add(ctx, &ba.t, &bb.t, &bo.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&bo);
    if (s == FD_OK) memcpy(oh, bo.host, fd_tensor_bytes(&bo.t));
    fd__cbuf_free(&ba); fd__cbuf_free(&bb); fd__cbuf_free(&bo);
    return s;
}

fd_check_result fd__check_add(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail, size_t nd) {
    enum { N = 1003 };
    float *f = malloc(5 * N * sizeof(float));
    if (!f) {
        snprintf(detail, nd, "out of host memory");
        return FD_CHECK_FAIL;
    }
    float *a = f, *b = f + N, *o = f + 2 * N, *want = f + 3 * N, *o2 = f + 4 * N;
    for (int i = 0; i < N; i++) {
        fd__set_f(dt, a, i, (float)(i % 17 - 8));
        fd__set_f(dt, b, i, (float)(i % 5) * 0.5f);
        fd__set_f(dt, want, i, (float)(i % 17 - 8) + (float)(i % 5) * 0.5f);
    }
    char why[160];
    fd_check_result r = FD_CHECK_FAIL;
    if (add_run(ctx, dt, N, a, b, o) != FD_OK) {
        snprintf(detail, nd, "known case: %s", fd_last_error());
    } else if (fd__compare(dt, o, want, N, 0, 0, why, sizeof why)) {
        snprintf(detail, nd, "known case: %s", why);
    } else if (ctx != cpu && fd_ctx_is_cuda(ctx)) {
        uint64_t rng = 9;
        for (int i = 0; i < N; i++) {
            fd__set_f(dt, a, i, fd__rng_uniform(&rng) * 8 - 4);
            fd__set_f(dt, b, i, fd__rng_uniform(&rng) * 8 - 4);
        }
        if (add_run(ctx, dt, N, a, b, o) != FD_OK || add_run(cpu, dt, N, a, b, o2) != FD_OK)
            snprintf(detail, nd, "random: %s", fd_last_error());
        else if (fd__compare(dt, o, o2, N, 0, 0, why, sizeof why))
            snprintf(detail, nd, "random vs C reference: %s", why);
        else
            r = FD_CHECK_PASS;
    } else {
        r = FD_CHECK_PASS;
    }
    free(f);
    return r;
}
