// SPDX-License-Identifier: Apache-2.0
// gelu_tanh_and_mul: the GeGLU activation between Gemma's FFN projections,
// out[m, j] = gelu_tanh(x[m, j]) * x[m, I + j]. C reference + dispatch + self-check.
// The tanh-GELU itself is gelu_tanh's (fd__gelu_tanh_ref), not a second copy.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/ffn_launch.h"
#include "ops/layers_launch.h"

static const char *OP = "gelu_tanh_and_mul";

static fd_status ref_gelu_tanh_and_mul(const void *x, void *out, int64_t m, int64_t inter,
                                       fd_dtype dt) {
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < inter; j++) {
            float g = fd__ffn_get(dt, x, r * 2 * inter + j);
            float u = fd__ffn_get(dt, x, r * 2 * inter + inter + j);
            fd__ffn_set(dt, out, r * inter + j, fd__gelu_tanh_ref(g) * u);
        }
    return FD_OK;
}

static int overlaps(const void *p, size_t pn, const void *q, size_t qn) {
    const char *a = p, *b = q;
    return pn && qn && a < b + qn && b < a + pn;
}

fd_status fd_gelu_tanh_and_mul(fd_ctx *ctx, const fd_tensor *x, fd_tensor *out) {
    FD_TRY(FD_CHECK_T(OP, "x", x, -1, -1, -1));
    if (!fd__dtype_in(x->dtype, FD_DT(FD_F32) | FD_DT(FD_F16) | FD_DT(FD_BF16)))
        return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "%s: x has dtype %s; pass f32, f16 or bf16",
                         OP, fd_dtype_name(x->dtype));
    int64_t m = x->ne[0], two_i = x->ne[1];
    if (two_i % 2)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: x's last dim is %lld, odd; it must be 2*I (gate half, up half)",
                         OP, (long long)two_i);
    FD_TRY(FD_CHECK_T(OP, "out", out, (int)x->dtype, m, two_i / 2));
    if (overlaps(x->data, fd_tensor_bytes(x), out->data, fd_tensor_bytes(out)))
        return fd__error(FD_ERR_INVALID_ARG, "%s: out overlaps x; pass a separate out buffer", OP);
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_gelu_tanh_and_mul, x->dtype, &variant, &l));
    if (variant == FD_VAR_REF)
        return ref_gelu_tanh_and_mul(x->data, out->data, m, two_i / 2, x->dtype);
#if FD_BUILT_gelu_tanh_and_mul
    if (variant == FD_VAR_gelu_tanh_and_mul)
        return fd__cuda_gelu_tanh_and_mul(&l, x->data, out->data, m, two_i / 2, x->dtype);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: known values of tanh-GELU times the up half (computed here in
// double), then on CUDA a random [7, 2*300] case (vector body + odd rows) against
// the C reference.

static double gelu_tanh_d(double a) {
    return 0.5 * a * (1.0 + tanh(0.7978845608 * (a + 0.044715 * a * a * a)));
}

static fd_status gm_run(fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t inter, const void *xh,
                        void *oh) {
    fd__cbuf bx, bo;
    int64_t sx[2] = {m, 2 * inter}, so[2] = {m, inter};
    memset(&bo, 0, sizeof bo);
    fd_status s = fd__cbuf_new(&bx, ctx, dt, 2, sx, xh);
    if (s == FD_OK) s = fd__cbuf_new(&bo, ctx, dt, 2, so, NULL);
    if (s == FD_OK) s = fd_gelu_tanh_and_mul(ctx, &bx.t, &bo.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&bo);
    if (s == FD_OK) memcpy(oh, bo.host, fd_tensor_bytes(&bo.t));
    fd__cbuf_free(&bx);
    fd__cbuf_free(&bo);
    return s;
}

fd_check_result fd__check_gelu_tanh_and_mul(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                            size_t n) {
    enum { KI = 5, RM = 7, RI = 300 };
    static const float xk[2 * KI] = {-3.0f, -0.5f, 0.0f, 1.0f, 4.0f,
                                     2.0f, 1.0f, 5.0f, -0.25f, 0.5f};
    float want[KI], xr[RM * 2 * RI];
    uint32_t x[RM * 2 * RI], out[RM * RI], ref[RM * RI], wantd[KI];
    for (int j = 0; j < KI; j++) want[j] = (float)(gelu_tanh_d(xk[j]) * xk[KI + j]);
    fd__ffn_host_fill(dt, x, xk, 2 * KI);
    fd__ffn_host_fill(dt, wantd, want, KI);
    char why[160];
    double tol = dt == FD_F32 ? 1e-5 : dt == FD_F16 ? 2e-3 : 1.6e-2;
    if (gm_run(ctx, dt, 1, KI, x, out) != FD_OK) {
        snprintf(detail, n, "%s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (fd__compare(dt, out, wantd, KI, 1e-6, tol, why, sizeof why)) {
        snprintf(detail, n, "known values: %s", why);
        return FD_CHECK_FAIL;
    }
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    uint64_t rng = 19;
    for (int i = 0; i < RM * 2 * RI; i++) xr[i] = fd__rng_uniform(&rng) * 12.0f - 6.0f;
    fd__ffn_host_fill(dt, x, xr, RM * 2 * RI);
    if (gm_run(ctx, dt, RM, RI, x, out) != FD_OK || gm_run(cpu, dt, RM, RI, x, ref) != FD_OK) {
        snprintf(detail, n, "random: %s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (fd__compare(dt, out, ref, RM * RI, 1e-5, tol, why, sizeof why)) {
        snprintf(detail, n, "random vs C reference: %s", why);
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}
