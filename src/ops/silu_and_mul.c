// SPDX-License-Identifier: Apache-2.0
// silu_and_mul: the SwiGLU activation between the FFN's two projections,
// out[m, j] = silu(x[m, j]) * x[m, I + j]. C reference + dispatch + self-check.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/ffn_launch.h"

static const char *OP = "silu_and_mul";

static fd_status ref_silu_and_mul(const void *x, void *out, int64_t m, int64_t inter,
                                  fd_dtype dt) {
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < inter; j++) {
            float g = fd__ffn_get(dt, x, r * 2 * inter + j);
            float u = fd__ffn_get(dt, x, r * 2 * inter + inter + j);
            fd__ffn_set(dt, out, r * inter + j, g / (1.0f + expf(-g)) * u);
        }
    return FD_OK;
}

fd_status fd_silu_and_mul(fd_ctx *ctx, const fd_tensor *x, fd_tensor *out) {
    FD_TRY(FD_CHECK_T(OP, "x", x, -1, -1, -1));
    int64_t m = x->ne[0], two_i = x->ne[1];
    if (two_i % 2)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: x's last dim is %lld, odd; it must be 2*I (gate half, up half)",
                         OP, (long long)two_i);
    FD_TRY(FD_CHECK_T(OP, "out", out, (int)x->dtype, m, two_i / 2));
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_silu_and_mul, x->dtype, &variant, &l));
    if (variant == FD_VAR_REF) return ref_silu_and_mul(x->data, out->data, m, two_i / 2, x->dtype);
#if FD_BUILT_silu_and_mul
    if (variant == FD_VAR_silu_and_mul)
        return fd__cuda_silu_and_mul(&l, x->data, out->data, m, two_i / 2, x->dtype);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: known values of silu (computed here in double), then on CUDA a
// random [7, 2*300] case against the C reference.

static fd_status sm_run(fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t inter, const void *xh,
                        void *oh) {
    fd__cbuf bx, bo;
    int64_t sx[2] = {m, 2 * inter}, so[2] = {m, inter};
    memset(&bo, 0, sizeof bo);
    fd_status s = fd__cbuf_new(&bx, ctx, dt, 2, sx, xh);
    if (s == FD_OK) s = fd__cbuf_new(&bo, ctx, dt, 2, so, NULL);
    if (s == FD_OK) s = fd_silu_and_mul(ctx, &bx.t, &bo.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&bo);
    if (s == FD_OK) memcpy(oh, bo.host, fd_tensor_bytes(&bo.t));
    fd__cbuf_free(&bx);
    fd__cbuf_free(&bo);
    return s;
}

fd_check_result fd__check_silu_and_mul(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                       size_t n) {
    enum { KI = 4, RM = 7, RI = 300 };
    static const float xk[2 * KI] = {-4.0f, -0.5f, 0.0f, 3.0f, 2.0f, 1.0f, 5.0f, -0.25f};
    float want[KI], xr[RM * 2 * RI];
    uint32_t x[RM * 2 * RI], out[RM * RI], ref[RM * RI], wantd[KI];
    for (int j = 0; j < KI; j++)
        want[j] = (float)(xk[j] / (1.0 + exp(-(double)xk[j])) * xk[KI + j]);
    fd__ffn_host_fill(dt, x, xk, 2 * KI);
    fd__ffn_host_fill(dt, wantd, want, KI);
    char why[160];
    double tol = dt == FD_F32 ? 1e-6 : dt == FD_F16 ? 2e-3 : 1.6e-2;
    if (sm_run(ctx, dt, 1, KI, x, out) != FD_OK) {
        snprintf(detail, n, "%s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (fd__compare(dt, out, wantd, KI, 1e-6, tol, why, sizeof why)) {
        snprintf(detail, n, "known values: %s", why);
        return FD_CHECK_FAIL;
    }
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    uint64_t rng = 17;
    for (int i = 0; i < RM * 2 * RI; i++) xr[i] = fd__rng_uniform(&rng) * 12.0f - 6.0f;
    fd__ffn_host_fill(dt, x, xr, RM * 2 * RI);
    if (sm_run(ctx, dt, RM, RI, x, out) != FD_OK || sm_run(cpu, dt, RM, RI, x, ref) != FD_OK) {
        snprintf(detail, n, "random: %s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (fd__compare(dt, out, ref, RM * RI, 1e-5, tol, why, sizeof why)) {
        snprintf(detail, n, "random vs C reference: %s", why);
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}
