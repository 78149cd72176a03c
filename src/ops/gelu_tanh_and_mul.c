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
#include "ops/tensor_check.h"

static const char *OP = "gelu_tanh_and_mul";

fd_status fd_gelu_tanh_and_mul(fd_ctx *ctx, const fd_tensor *x, fd_tensor *out) {
    int64_t m, inter;
    FD_TRY(fd__gated_act_args(OP, x, out, FD_DT(FD_F32) | FD_DT(FD_F16) | FD_DT(FD_BF16), &m,
                              &inter));
    if (fd__tensors_overlap(x, out))
        return fd__error(FD_ERR_INVALID_ARG, "%s: out overlaps x; pass a separate out buffer", OP);
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_gelu_tanh_and_mul, x->dtype, &variant, &l));
    if (variant == FD_VAR_REF)
        return fd__ref_gated_act(fd__gelu_tanh_ref, x->data, out->data, m, inter, x->dtype);
#if FD_BUILT_gelu_tanh_and_mul
    if (variant == FD_VAR_gelu_tanh_and_mul)
        return fd__cuda_gelu_tanh_and_mul(&l, x->data, out->data, m, inter, x->dtype);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: known values of tanh-GELU times the up half (computed here in
// double), then on CUDA a random [7, 2*300] case (vector body + odd rows) against
// the C reference.

static double gelu_tanh_d(double a) {
    return 0.5 * a * (1.0 + tanh(0.7978845608 * (a + 0.044715 * a * a * a)));
}

fd_check_result fd__check_gelu_tanh_and_mul(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                            size_t n) {
    static const float xk[] = {-3.0f, -0.5f, 0.0f, 1.0f, 4.0f, 2.0f, 1.0f, 5.0f, -0.25f, 0.5f};
    const fd__gated_act g = {fd_gelu_tanh_and_mul, gelu_tanh_d, xk, 5, 1e-5, 19};
    return fd__check_gated_act(&g, ctx, cpu, dt, detail, n);
}
