// SPDX-License-Identifier: Apache-2.0
// gguf_matmul: y[M, N] = x[M, K] * W^T with W in a GGUF block format, kept
// quantized. C reference (dequantize each row with fd__dequant_row, f32 dots) +
// dispatch + self-check, and the helpers the model ops share.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/quant_cpu.h"
#include "ops/check_util.h"
#include "ops/model_launch.h"
#include "ops/tensor_check.h"

static const char *OP = "gguf_matmul";

int fd__gguf_type_ok(fd_ggml_type t, int *gran) {
    int be = fd_ggml_block_elems(t);
    if (be == 0) return 0;
    *gran = be < 32 ? 32 : be;
    return 1;
}

static float rand_in(uint64_t *rng, float lo, float hi) {
    return lo + (hi - lo) * fd__rng_uniform(rng);
}

static void put_f16(uint8_t *p, float v) {
    uint16_t h = fd_f32_to_f16(v);
    memcpy(p, &h, 2);
}

// One random block of type t at b: random quants, f16 scales in [0.001, 0.05].
static void random_block(fd_ggml_type t, uint8_t *b, size_t bb, uint64_t *rng) {
    for (size_t i = 0; i < bb; i++) b[i] = (uint8_t)(fd__rng_next(rng) >> 32);
    switch (t) {
    case FD_GGML_Q4_0: case FD_GGML_Q5_0: case FD_GGML_Q8_0:
        put_f16(b, rand_in(rng, 0.001f, 0.05f));
        break;
    case FD_GGML_Q4_1:
        put_f16(b, rand_in(rng, 0.001f, 0.05f));
        put_f16(b + 2, rand_in(rng, -0.05f, 0.05f));
        break;
    case FD_GGML_Q4_K:
        put_f16(b, rand_in(rng, 0.001f, 0.05f));
        put_f16(b + 2, rand_in(rng, 0.001f, 0.05f));
        break;
    case FD_GGML_Q6_K: put_f16(b + 208, rand_in(rng, 0.001f, 0.01f)); break;
    case FD_GGML_F32: { float v = rand_in(rng, -1, 1); memcpy(b, &v, 4); } break;
    case FD_GGML_F16: put_f16(b, rand_in(rng, -1, 1)); break;
    case FD_GGML_BF16: {
        uint16_t h = fd_f32_to_bf16(rand_in(rng, -1, 1));
        memcpy(b, &h, 2);
    } break;
    }
}

void fd__gguf_random_rows(fd_ggml_type t, int64_t rows, int64_t k, uint64_t *rng, uint8_t *out) {
    size_t bb = fd_ggml_block_bytes(t), nb = (size_t)(rows * (k / fd_ggml_block_elems(t)));
    for (size_t i = 0; i < nb; i++) random_block(t, out + i * bb, bb, rng);
}

static fd_status ref_gguf_matmul(const fd__gguf_matmul_args *a) {
    if (a->m == 0 || a->n == 0) return FD_OK;
    float *xf = malloc((size_t)(a->m * a->k + a->k) * sizeof(float));
    if (!xf)
        return fd__error(FD_ERR_OOM, "%s: reference needs %lld floats of host memory", OP,
                         (long long)(a->m * a->k + a->k));
    float *wf = xf + a->m * a->k;
    for (int64_t i = 0; i < a->m * a->k; i++) xf[i] = fd__get_f(a->dtype, a->x, i);
    for (int64_t n = 0; n < a->n; n++) {
        fd__dequant_row(a->wtype, a->w + (size_t)n * a->row_bytes, wf, a->k);
        for (int64_t m = 0; m < a->m; m++)
            fd__set_f(a->dtype, a->y, m * a->n + n, fd__dot_f32(xf + m * a->k, wf, a->k));
    }
    free(xf);
    return FD_OK;
}

static fd_status prepare(const fd_tensor *x, const fd_tensor *w, fd_ggml_type wtype, int64_t k,
                         const fd_tensor *y, fd__gguf_matmul_args *a) {
    int gran;
    if (!fd__gguf_type_ok(wtype, &gran))
        return fd__error(FD_ERR_INVALID_ARG, "%s: ggml type %d is not supported; pass F32, F16, "
                         "BF16, Q4_0, Q4_1, Q5_0, Q8_0, Q4_K or Q6_K", OP, (int)wtype);
    if (k <= 0 || k % gran)
        return fd__error(FD_ERR_INVALID_ARG, "%s: K = %lld must be a positive multiple of %d "
                         "for %s weights", OP, (long long)k, gran, fd_ggml_type_name(wtype));
    FD_TRY(FD_CHECK_T(OP, "x", x, -1, -1, k));
    if (x->dtype != FD_F32 && x->dtype != FD_F16)
        return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "%s: x has dtype %s; pass f32 or f16", OP,
                         fd_dtype_name(x->dtype));
    size_t rb = fd__row_bytes(wtype, k);
    FD_TRY(FD_CHECK_T(OP, "w", w, FD_U8, -1, (int64_t)rb));
    FD_TRY(FD_CHECK_T(OP, "y", y, (int)x->dtype, x->ne[0], w->ne[0]));
    if (x->ne[0] > INT32_MAX || w->ne[0] > INT32_MAX || k > INT32_MAX)
        return fd__error(FD_ERR_INVALID_ARG, "%s: M=%lld N=%lld K=%lld; each must be <= 2^31-1, "
                         "split the call", OP, (long long)x->ne[0], (long long)w->ne[0],
                         (long long)k);
    size_t yb = fd_tensor_bytes(y);
    if (fd__overlaps(y->data, yb, x->data, fd_tensor_bytes(x)) ||
        fd__overlaps(y->data, yb, w->data, fd_tensor_bytes(w)))
        return fd__error(FD_ERR_INVALID_ARG, "%s: y overlaps x or w; give y its own buffer", OP);
    memset(a, 0, sizeof *a);
    a->x = x->data;
    a->w = w->data;
    a->y = y->data;
    a->m = x->ne[0];
    a->n = w->ne[0];
    a->k = k;
    a->row_bytes = rb;
    a->wtype = wtype;
    a->dtype = x->dtype;
    return FD_OK;
}

fd_status fd_gguf_matmul(fd_ctx *ctx, const fd_tensor *x, const fd_tensor *w,
                         fd_ggml_type wtype, int64_t k, fd_tensor *y) {
    fd__gguf_matmul_args a = {0};
    FD_TRY(prepare(x, w, wtype, k, y, &a));
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_gguf_matmul, a.dtype, &variant, &l));
    if (variant == FD_VAR_REF) return ref_gguf_matmul(&a);
#if FD_BUILT_gguf_matmul
    if (variant == FD_VAR_gguf_matmul) return fd__cuda_gguf_matmul(&l, &a);
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: a known Q8_0 case of small integers (exact in f32 and f16), then
// on CUDA every type, GEMV (M=3) and tile (M=40) shapes, against the C reference.

static fd_status gm_run(fd_ctx *ctx, fd_dtype dt, fd_ggml_type t, int64_t m, int64_t n,
                        int64_t k, const void *xh, const uint8_t *wh, void *yh) {
    fd__cbuf bx, bw, by;
    int64_t sx[2] = {m, k}, sw[2] = {n, (int64_t)fd__row_bytes(t, k)}, sy[2] = {m, n};
    memset(&bw, 0, sizeof bw);
    memset(&by, 0, sizeof by);
    fd_status s = fd__cbuf_new(&bx, ctx, dt, 2, sx, xh);
    if (s == FD_OK) s = fd__cbuf_new(&bw, ctx, FD_U8, 2, sw, wh);
    if (s == FD_OK) s = fd__cbuf_new(&by, ctx, dt, 2, sy, NULL);
    if (s == FD_OK) s = fd_gguf_matmul(ctx, &bx.t, &bw.t, t, k, &by.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&by);
    if (s == FD_OK) memcpy(yh, by.host, fd_tensor_bytes(&by.t));
    fd__cbuf_free(&bx);
    fd__cbuf_free(&bw);
    fd__cbuf_free(&by);
    return s;
}

static fd_check_result gm_known(fd_ctx *ctx, fd_dtype dt, char *detail, size_t nd) {
    enum { M = 2, N = 3, K = 64, NB = K / 32 };
    uint8_t w[N * NB * 34];
    float xf[M * K], want[M * N];
    uint32_t x[M * K], y[M * N], wantd[M * N];
    for (int i = 0; i < N * NB; i++) {
        put_f16(w + i * 34, (float)(1 + i % 2));  // d = 1 or 2
        for (int j = 0; j < 32; j++) w[i * 34 + 2 + j] = (uint8_t)(int8_t)((i + 3 * j) % 7 - 3);
    }
    for (int i = 0; i < M * K; i++) xf[i] = (float)((i * 5) % 9 - 4);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float s = 0;
            for (int k = 0; k < K; k++) {
                const uint8_t *b = w + (n * NB + k / 32) * 34;
                s += xf[m * K + k] * (float)(1 + (n * NB + k / 32) % 2) * (float)(int8_t)b[2 + k % 32];
            }
            want[m * N + n] = s;
        }
    for (int i = 0; i < M * K; i++) fd__set_f(dt, x, i, xf[i]);
    for (int i = 0; i < M * N; i++) fd__set_f(dt, wantd, i, want[i]);
    char why[160];
    if (gm_run(ctx, dt, FD_GGML_Q8_0, M, N, K, x, w, y) != FD_OK) {
        snprintf(detail, nd, "known case: %s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (fd__compare(dt, y, wantd, M * N, 0, 0, why, sizeof why)) {
        snprintf(detail, nd, "known Q8_0 case: %s", why);
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}

static fd_check_result gm_random(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, fd_ggml_type t,
                                 int64_t m, char *detail, size_t nd) {
    const int64_t n = 70, k = 512;
    size_t esz = fd_dtype_size(dt), rb = fd__row_bytes(t, k);
    uint8_t *w = malloc((size_t)n * rb);
    char *x = malloc((size_t)(m * k) * esz), *y = malloc((size_t)(2 * m * n) * esz);
    fd_check_result r = FD_CHECK_FAIL;
    if (!w || !x || !y) {
        snprintf(detail, nd, "out of host memory");
        goto done;
    }
    uint64_t rng = 21 + (uint64_t)t;
    fd__gguf_random_rows(t, n, k, &rng, w);
    for (int64_t i = 0; i < m * k; i++) fd__set_f(dt, x, i, fd__rng_uniform(&rng) * 2 - 1);
    char *ref = y + m * n * esz, why[160];
    if (gm_run(ctx, dt, t, m, n, k, x, w, y) != FD_OK || gm_run(cpu, dt, t, m, n, k, x, w, ref) != FD_OK) {
        snprintf(detail, nd, "%s M=%lld: %s", fd_ggml_type_name(t), (long long)m, fd_last_error());
        goto done;
    }
    double mag = 0;
    for (int64_t i = 0; i < m * n; i++) mag = fmax(mag, fabs(fd__get_f(dt, ref, i)));
    double tol = (dt == FD_F32 ? 1e-4 : 2e-2) * mag;
    if (fd__compare(dt, y, ref, m * n, tol, 0, why, sizeof why)) {
        snprintf(detail, nd, "%s M=%lld vs C reference: %s", fd_ggml_type_name(t), (long long)m, why);
        goto done;
    }
    r = FD_CHECK_PASS;
done:
    free(w);
    free(x);
    free(y);
    return r;
}

fd_check_result fd__check_gguf_matmul(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                      size_t n) {
    fd_check_result r = gm_known(ctx, dt, detail, n);
    if (r != FD_CHECK_PASS || ctx == cpu || !fd_ctx_is_cuda(ctx)) return r;
    static const fd_ggml_type types[] = {FD_GGML_Q4_0, FD_GGML_Q4_1, FD_GGML_Q5_0, FD_GGML_Q8_0,
                                         FD_GGML_Q4_K, FD_GGML_Q6_K, FD_GGML_F16, FD_GGML_F32,
                                         FD_GGML_BF16};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if ((r = gm_random(ctx, cpu, dt, types[i], 3, detail, n)) != FD_CHECK_PASS) return r;
        if ((r = gm_random(ctx, cpu, dt, types[i], 40, detail, n)) != FD_CHECK_PASS) return r;
    }
    return FD_CHECK_PASS;
}
