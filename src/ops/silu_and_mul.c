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

static float silu(float g) { return g / (1.0f + expf(-g)); }

fd_status fd_silu_and_mul(fd_ctx *ctx, const fd_tensor *x, fd_tensor *out) {
    int64_t m, inter;
    FD_TRY(fd__gated_act_args(OP, x, out, 0, &m, &inter));
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_silu_and_mul, x->dtype, &variant, &l));
    if (variant == FD_VAR_REF) return fd__ref_gated_act(silu, x->data, out->data, m, inter, x->dtype);
#if FD_BUILT_silu_and_mul
    if (variant == FD_VAR_silu_and_mul)
        return fd__cuda_silu_and_mul(&l, x->data, out->data, m, inter, x->dtype);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: known values of silu (computed here in double), then on CUDA a
// random [7, 2*300] case against the C reference.

static double silu_d(double a) { return a / (1.0 + exp(-a)); }

fd_check_result fd__check_silu_and_mul(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                       size_t n) {
    static const float xk[] = {-4.0f, -0.5f, 0.0f, 3.0f, 2.0f, 1.0f, 5.0f, -0.25f};
    const fd__gated_act g = {fd_silu_and_mul, silu_d, xk, 4, 1e-6, 17};
    return fd__check_gated_act(&g, ctx, cpu, dt, detail, n);
}
