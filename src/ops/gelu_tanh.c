// SPDX-License-Identifier: Apache-2.0
// gelu_tanh: GELU with the tanh approximation, elementwise, computed in f32.
// C reference + dispatch (SM70+ accurate tanhf variant, SM75+ tanh.approx).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/layers_launch.h"

static const char *OP = "gelu_tanh";

float fd__gelu_tanh_ref(float x) {
    const float k0 = 0.7978845608f, k1 = 0.044715f;  // sqrt(2/pi), FastDeploy's constants
    return 0.5f * x * (1.0f + tanhf(k0 * (x + k1 * x * x * x)));
}

static void ref_gelu_tanh(fd_dtype dt, const void *in, void *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) fd__set_f(dt, out, i, fd__gelu_tanh_ref(fd__get_f(dt, in, i)));
}

fd_status fd_gelu_tanh(fd_ctx *ctx, const fd_tensor *input, fd_tensor *out) {
    if (!input)
        return fd__error(FD_ERR_INVALID_ARG, "%s: input is NULL; pass a f32/f16/bf16 tensor", OP);
    if (input->dtype != FD_F32 && input->dtype != FD_F16 && input->dtype != FD_BF16)
        return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "%s: input is %s; it takes f32, f16 or bf16",
                         OP, fd_dtype_name(input->dtype));
    FD_TRY(fd__check_tensor(OP, "input", input, (int)input->dtype, input->ndim, input->ne));
    FD_TRY(fd__check_tensor(OP, "out", out, (int)input->dtype, input->ndim, input->ne));
    int64_t n = fd_tensor_numel(input);
    size_t bytes = fd_tensor_bytes(input);
    const char *pi = input->data, *po = out->data;
    if (bytes && pi != po && pi < po + bytes && po < pi + bytes)
        return fd__error(FD_ERR_INVALID_ARG, "%s: out partly overlaps input; pass the same "
                         "buffer (in place) or a separate one", OP);
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_gelu_tanh, input->dtype, &variant, &l));
    if (variant == FD_VAR_REF) {
        ref_gelu_tanh(input->dtype, input->data, out->data, n);
        return FD_OK;
    }
#if FD_BUILT_gelu_tanh_sm75
    if (variant == FD_VAR_gelu_tanh_sm75)
        return fd__cuda_gelu_tanh_sm75(&l, input->dtype, input->data, out->data, n);
#endif
#if FD_BUILT_gelu_tanh
    if (variant == FD_VAR_gelu_tanh)
        return fd__cuda_gelu_tanh(&l, input->dtype, input->data, out->data, n);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: known answers (exact GELU-tanh in double) on ctx; on CUDA
// random data against the C reference. The SM75+ variant's tanh.approx.f32
// adds up to 2.5e-4*|x| (checked with 3e-4*|x|).

static int gelu_within(fd_dtype dt, int approx, double x, double got, double want) {
    double rtol = dt == FD_F32 ? 1e-5 : dt == FD_F16 ? 1e-3 : 1e-2;
    double bound = rtol * fabs(want) + 1e-6 * fmax(1.0, fabs(x)) + (approx ? 3e-4 * fabs(x) : 0);
    return fabs(got - want) <= bound;
}

static fd_status gelu_run(fd_ctx *ctx, fd_dtype dt, const float *x, float *y, int64_t n) {
    size_t esz = fd_dtype_size(dt);
    char *h = malloc((size_t)n * esz);
    if (!h) return fd__error(FD_ERR_OOM, "%s: check: host memory", OP);
    for (int64_t i = 0; i < n; i++) fd__set_f(dt, h, i, x[i]);
    fd__cbuf bi, bo;
    memset(&bi, 0, sizeof bi);
    memset(&bo, 0, sizeof bo);
    int64_t ne[1] = {n};
    fd_status s = fd__cbuf_new(&bi, ctx, dt, 1, ne, h);
    if (s == FD_OK) s = fd__cbuf_new(&bo, ctx, dt, 1, ne, NULL);
    if (s == FD_OK) s = fd_gelu_tanh(ctx, &bi.t, &bo.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&bo);
    for (int64_t i = 0; s == FD_OK && i < n; i++) y[i] = fd__get_f(dt, bo.host, i);
    fd__cbuf_free(&bi);
    fd__cbuf_free(&bo);
    free(h);
    return s;
}

fd_check_result fd__check_gelu_tanh(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                    size_t n) {
    // Inputs exact in f16/bf16; outputs from 0.5x(1+tanh(...)) in double.
    static const float xs[11] = {-6, -3, -1, -0.5f, 0, 0.25f, 0.5f, 1, 2, 3, 6};
    static const double want[11] = {
        -8.43964897967453e-11, -0.003637392081860591, -0.1588080093925231,
        -0.15428599017516514, 0.0, 0.1496753507015987, 0.34571400982483486,
        0.841191990607477, 1.9545976940871754, 2.9963626079181394, 5.9999999999156035};
    int approx = fd_ctx_is_cuda(ctx) && fd_ctx_effective_sm(ctx) >= 75;
    float y[11];
    if (gelu_run(ctx, dt, xs, y, 11) != FD_OK) {
        snprintf(detail, n, "%s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    for (int i = 0; i < 11; i++)
        if (!gelu_within(dt, approx, xs[i], y[i], want[i])) {
            snprintf(detail, n, "gelu_tanh(%g) = %.9g, expected %.9g", xs[i], y[i], want[i]);
            return FD_CHECK_FAIL;
        }
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    enum { N = 4099 };  // odd: exercises the vector body and the scalar tail
    float *x = malloc(3 * N * sizeof(float));
    if (!x) {
        snprintf(detail, n, "out of host memory");
        return FD_CHECK_FAIL;
    }
    float *g = x + N, *r = g + N;
    uint64_t rng = 3;
    for (int i = 0; i < N; i++) x[i] = 16 * fd__rng_uniform(&rng) - 8;
    fd_check_result res = FD_CHECK_PASS;
    if (gelu_run(ctx, dt, x, g, N) != FD_OK || gelu_run(cpu, dt, x, r, N) != FD_OK) {
        snprintf(detail, n, "%s", fd_last_error());
        res = FD_CHECK_FAIL;
    }
    for (int i = 0; res == FD_CHECK_PASS && i < N; i++)
        if (!gelu_within(dt, approx, x[i], g[i], r[i])) {
            snprintf(detail, n, "random: gelu_tanh(%g) = %.9g on CUDA, %.9g on the CPU", x[i],
                     g[i], r[i]);
            res = FD_CHECK_FAIL;
        }
    free(x);
    return res;
}
