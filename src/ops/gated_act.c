// SPDX-License-Identifier: Apache-2.0
// What the gated activations (silu_and_mul, gelu_tanh_and_mul) share: the
// argument checks, the C reference loop, and the self-check (known values against the activation in
// double, then on CUDA a random [7, 2*300] case against the C reference).
#include <stdio.h>
#include <string.h>

#include "ops/check_util.h"
#include "ops/ffn_launch.h"

fd_status fd__gated_act_args(const char *op, const fd_tensor *x, const fd_tensor *out,
                             unsigned dtypes, int64_t *m, int64_t *inter) {
    FD_TRY(FD_CHECK_T(op, "x", x, -1, -1, -1));
    if (dtypes && !fd__dtype_in(x->dtype, dtypes))
        return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "%s: x has dtype %s; pass f32, f16 or bf16",
                         op, fd_dtype_name(x->dtype));
    int64_t two_i = x->ne[1];
    if (two_i % 2)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: x's last dim is %lld, odd; it must be 2*I (gate half, up half)",
                         op, (long long)two_i);
    FD_TRY(FD_CHECK_T(op, "out", out, (int)x->dtype, x->ne[0], two_i / 2));
    *m = x->ne[0];
    *inter = two_i / 2;
    return FD_OK;
}

fd_status fd__ref_gated_act(float (*act)(float), const void *x, void *out, int64_t m, int64_t inter,
                            fd_dtype dt) {
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < inter; j++) {
            float g = fd__ffn_get(dt, x, r * 2 * inter + j);
            float u = fd__ffn_get(dt, x, r * 2 * inter + inter + j);
            fd__ffn_set(dt, out, r * inter + j, act(g) * u);
        }
    return FD_OK;
}

static fd_status ga_run(const fd__gated_act *g, fd_ctx *ctx, fd_dtype dt, int64_t m, int64_t inter,
                        const void *xh, void *oh) {
    fd__cbuf bx, bo;
    int64_t sx[2] = {m, 2 * inter}, so[2] = {m, inter};
    memset(&bo, 0, sizeof bo);
    fd_status s = fd__cbuf_new(&bx, ctx, dt, 2, sx, xh);
    if (s == FD_OK) s = fd__cbuf_new(&bo, ctx, dt, 2, so, NULL);
    if (s == FD_OK) s = g->op(ctx, &bx.t, &bo.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&bo);
    if (s == FD_OK) memcpy(oh, bo.host, fd_tensor_bytes(&bo.t));
    fd__cbuf_free(&bx);
    fd__cbuf_free(&bo);
    return s;
}

fd_check_result fd__check_gated_act(const fd__gated_act *g, fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt,
                                    char *detail, size_t n) {
    enum { KI = 8, RM = 7, RI = 300 };
    float want[KI], xr[RM * 2 * RI];
    uint32_t x[RM * 2 * RI], out[RM * RI], ref[RM * RI], wantd[KI];
    for (int j = 0; j < g->n_known; j++) want[j] = (float)(g->act(g->known[j]) * g->known[g->n_known + j]);
    fd__ffn_host_fill(dt, x, g->known, 2 * g->n_known);
    fd__ffn_host_fill(dt, wantd, want, g->n_known);
    char why[160];
    double tol = dt == FD_F32 ? g->tol_f32 : dt == FD_F16 ? 2e-3 : 1.6e-2;
    if (g->n_known > KI || ga_run(g, ctx, dt, 1, g->n_known, x, out) != FD_OK) {
        snprintf(detail, n, "%s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (fd__compare(dt, out, wantd, g->n_known, 1e-6, tol, why, sizeof why)) {
        snprintf(detail, n, "known values: %s", why);
        return FD_CHECK_FAIL;
    }
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    uint64_t rng = g->seed;
    for (int i = 0; i < RM * 2 * RI; i++) xr[i] = fd__rng_uniform(&rng) * 12.0f - 6.0f;
    fd__ffn_host_fill(dt, x, xr, RM * 2 * RI);
    if (ga_run(g, ctx, dt, RM, RI, x, out) != FD_OK || ga_run(g, cpu, dt, RM, RI, x, ref) != FD_OK) {
        snprintf(detail, n, "random: %s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (fd__compare(dt, out, ref, RM * RI, 1e-5, tol, why, sizeof why)) {
        snprintf(detail, n, "random vs C reference: %s", why);
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}
