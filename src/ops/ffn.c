// SPDX-License-Identifier: Apache-2.0
// ffn: FastDeploy's Ernie4_5_MLP, y = down(silu(x Wg) * (x Wu)), composed of the
// matmul / matmul_wint8 and silu_and_mul ops on the caller's context. It has no
// kernel of its own: its op-table rows only say on which SM the composition runs.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/ffn_launch.h"

static const char *OP = "ffn";

int64_t fd_ffn_scratch_elems(int64_t m, int64_t inter) { return m * 3 * inter; }

void fd_ffn_dtype_for_sm(int effective_sm, int device_sm, fd_dtype *dtype, char *msg,
                         size_t msg_size) {
    if (effective_sm <= 0) {
        *dtype = FD_F32;
        snprintf(msg, msg_size, "ffn: dtype f32 (CPU context: the C reference computes in f32)");
    } else if (effective_sm < 80) {
        *dtype = FD_F16;
        if (device_sm >= 80)
            snprintf(msg, msg_size,
                     "ffn: dtype f16 (the device is SM%d but this build's kernels run as SM%d, "
                     "which has no bf16; build with ./build.sh \"[%d]\" for bf16)",
                     device_sm, effective_sm, device_sm);
        else
            snprintf(msg, msg_size, "ffn: dtype f16 (SM%d has no bf16 tensor cores; bf16 needs SM80)",
                     effective_sm);
    } else {
        *dtype = FD_BF16;
        snprintf(msg, msg_size, "ffn: dtype bf16 (SM%d >= 80: bf16 tensor cores, f16's range "
                 "problems avoided, as FastDeploy's default)", effective_sm);
    }
}

fd_status fd_ffn_pick_dtype(const fd_ctx *ctx, fd_dtype *dtype, char *msg, size_t msg_size) {
    if (!ctx || !dtype || !msg || !msg_size)
        return fd__error(FD_ERR_INVALID_ARG, "fd_ffn_pick_dtype: NULL ctx, dtype or msg");
    int dev_sm = 0;
    if (fd_ctx_is_cuda(ctx)) {
        const fd_device_info *d = fd_platform_device(fd_ctx_platform(ctx), fd_ctx_device(ctx));
        dev_sm = d ? d->sm : 0;
    }
    fd_ffn_dtype_for_sm(fd_ctx_effective_sm(ctx), dev_sm, dtype, msg, msg_size);
    return FD_OK;
}

// A projection weight: x's dtype (scale NULL) or i8 with an f32 scale per row.
static fd_status check_weight(const char *name, const fd_tensor *w, const fd_tensor *scale,
                              fd_dtype xdt, int64_t rows, int64_t cols) {
    FD_TRY(FD_CHECK_T(OP, name, w, -1, rows, cols));
    if (w->dtype == FD_I8) {
        if (!scale)
            return fd__error(FD_ERR_INVALID_ARG, "%s: %s is i8 but its scale is NULL; pass "
                             "[%lld] f32 per-channel scales", OP, name, (long long)rows);
        return FD_CHECK_T(OP, "scale", scale, FD_F32, rows);
    }
    if (w->dtype != xdt)
        return fd__error(FD_ERR_INVALID_ARG, "%s: %s has dtype %s but x is %s; pass x's dtype "
                         "or i8 weights with scales", OP, name, fd_dtype_name(w->dtype),
                         fd_dtype_name(xdt));
    if (scale)
        return fd__error(FD_ERR_INVALID_ARG, "%s: %s is %s but a scale was given; scales go "
                         "with i8 weights only", OP, name, fd_dtype_name(w->dtype));
    return FD_OK;
}

static fd_status project(fd_ctx *ctx, const fd_tensor *in, const fd_tensor *w,
                         const fd_tensor *scale, fd_tensor *out) {
    if (w->dtype == FD_I8) return fd_matmul_wint8(ctx, in, w, scale, out);
    return fd_matmul(ctx, in, w, out);
}

static fd_status run_layer(fd_ctx *ctx, const fd_tensor *x, const fd_ffn_weights *w,
                           char *base, int64_t inter, fd_tensor *y) {
    int64_t m = x->ne[0];
    fd_tensor gu = fd_tensor_2d(base, x->dtype, m, 2 * inter);
    fd_tensor act = fd_tensor_2d(base + fd_tensor_bytes(&gu), x->dtype, m, inter);
    FD_TRY(project(ctx, x, w->gate_up, w->gate_up_scale, &gu));
    FD_TRY(fd_silu_and_mul(ctx, &gu, &act));
    return project(ctx, &act, w->down, w->down_scale, y);
}

fd_status fd_ffn(fd_ctx *ctx, const fd_tensor *x, const fd_ffn_weights *w,
                 fd_tensor *scratch, fd_tensor *y) {
    FD_TRY(FD_CHECK_T(OP, "x", x, -1, -1, -1));
    if (!w || !w->gate_up || !w->down)
        return fd__error(FD_ERR_INVALID_ARG, "%s: weights, gate_up and down must be non-NULL", OP);
    int64_t m = x->ne[0], h = x->ne[1];
    FD_TRY(FD_CHECK_T(OP, "gate_up", w->gate_up, -1, -1, h));
    int64_t two_i = w->gate_up->ne[0], inter = two_i / 2;
    if (two_i <= 0 || two_i % 2)
        return fd__error(FD_ERR_INVALID_ARG, "%s: gate_up has %lld rows; it must be 2*I > 0 "
                         "(gate rows, then up rows)", OP, (long long)two_i);
    FD_TRY(check_weight("gate_up", w->gate_up, w->gate_up_scale, x->dtype, two_i, h));
    FD_TRY(check_weight("down", w->down, w->down_scale, x->dtype, h, inter));
    FD_TRY(FD_CHECK_T(OP, "y", y, (int)x->dtype, m, h));
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_ffn, x->dtype, &variant, &l));
    int64_t need = fd_ffn_scratch_elems(m, inter);
    size_t bytes = (size_t)need * fd_dtype_size(x->dtype);
    if (scratch) {
        FD_TRY(FD_CHECK_T(OP, "scratch", scratch, (int)x->dtype, -1));
        if (scratch->ne[0] < need)
            return fd__error(FD_ERR_INVALID_ARG, "%s: scratch has %lld elements, needs %lld "
                             "(fd_ffn_scratch_elems(M=%lld, I=%lld))", OP,
                             (long long)scratch->ne[0], (long long)need, (long long)m,
                             (long long)inter);
        return run_layer(ctx, x, w, scratch->data, inter, y);
    }
    if (need == 0) return FD_OK;
    void *buf = NULL;
    FD_TRY(fd_ctx_alloc(ctx, bytes, &buf));
    fd_status s = run_layer(ctx, x, w, buf, inter, y);
    fd_status s2 = fd_ctx_sync(ctx);  // the kernels must be done before the release
    fd_ctx_release(ctx, buf);
    return s != FD_OK ? s : s2;
}

// ---- self-check: a small layer against a double-precision computation that
// rounds the two intermediates to the dtype as the op does; on CUDA also vs the
// C reference.

enum { CM = 3, CH = 40, CI = 24 };

static fd_status ffn_run(fd_ctx *ctx, fd_dtype dt, const void *x, const void *gu,
                         const void *dn, void *y) {
    fd__cbuf bx, bg, bd, by;
    int64_t sx[2] = {CM, CH}, sg[2] = {2 * CI, CH}, sd[2] = {CH, CI};
    memset(&bg, 0, sizeof bg);
    memset(&bd, 0, sizeof bd);
    memset(&by, 0, sizeof by);
    fd_status s = fd__cbuf_new(&bx, ctx, dt, 2, sx, x);
    if (s == FD_OK) s = fd__cbuf_new(&bg, ctx, dt, 2, sg, gu);
    if (s == FD_OK) s = fd__cbuf_new(&bd, ctx, dt, 2, sd, dn);
    if (s == FD_OK) s = fd__cbuf_new(&by, ctx, dt, 2, sx, NULL);
    fd_ffn_weights w = {&bg.t, NULL, &bd.t, NULL};
    if (s == FD_OK) s = fd_ffn(ctx, &bx.t, &w, NULL, &by.t);
    if (s == FD_OK) s = fd__cbuf_fetch(&by);
    if (s == FD_OK) memcpy(y, by.host, fd_tensor_bytes(&by.t));
    fd__cbuf_free(&bx);
    fd__cbuf_free(&bg);
    fd__cbuf_free(&bd);
    fd__cbuf_free(&by);
    return s;
}

static float round_to(fd_dtype dt, double v) {
    uint32_t tmp;
    fd__ffn_set(dt, &tmp, 0, (float)v);
    return fd__ffn_get(dt, &tmp, 0);
}

static void ffn_expected(fd_dtype dt, const void *x, const void *gu, const void *dn, float *y) {
    float act[CM * CI];
    for (int m = 0; m < CM; m++)
        for (int j = 0; j < CI; j++) {
            double g = 0, u = 0;
            for (int k = 0; k < CH; k++) {
                double xv = fd__ffn_get(dt, x, m * CH + k);
                g += xv * fd__ffn_get(dt, gu, j * CH + k);
                u += xv * fd__ffn_get(dt, gu, (CI + j) * CH + k);
            }
            double gr = round_to(dt, g), ur = round_to(dt, u);
            act[m * CI + j] = round_to(dt, gr / (1.0 + exp(-gr)) * ur);
        }
    for (int m = 0; m < CM; m++)
        for (int n = 0; n < CH; n++) {
            double s = 0;
            for (int j = 0; j < CI; j++) s += (double)act[m * CI + j] * fd__ffn_get(dt, dn, n * CI + j);
            y[m * CH + n] = (float)s;
        }
}

fd_check_result fd__check_ffn(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail, size_t n) {
    float xf[CM * CH], gf[2 * CI * CH], df[CH * CI], want[CM * CH];
    uint32_t x[CM * CH], gu[2 * CI * CH], dn[CH * CI], y[CM * CH], ref[CM * CH], wantd[CM * CH];
    uint64_t rng = 23;
    for (int i = 0; i < CM * CH; i++) xf[i] = fd__rng_uniform(&rng) * 2.0f - 1.0f;
    for (int i = 0; i < 2 * CI * CH; i++) gf[i] = fd__rng_uniform(&rng) - 0.5f;
    for (int i = 0; i < CH * CI; i++) df[i] = fd__rng_uniform(&rng) - 0.5f;
    fd__ffn_host_fill(dt, x, xf, CM * CH);
    fd__ffn_host_fill(dt, gu, gf, 2 * CI * CH);
    fd__ffn_host_fill(dt, dn, df, CH * CI);
    ffn_expected(dt, x, gu, dn, want);
    fd__ffn_host_fill(dt, wantd, want, CM * CH);
    char why[160];
    double rtol = dt == FD_F32 ? 1e-4 : dt == FD_F16 ? 1e-2 : 3e-2;
    if (ffn_run(ctx, dt, x, gu, dn, y) != FD_OK) {
        snprintf(detail, n, "%s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (fd__compare(dt, y, wantd, CM * CH, rtol * 0.1, rtol, why, sizeof why)) {
        snprintf(detail, n, "vs double-precision layer: %s", why);
        return FD_CHECK_FAIL;
    }
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    if (ffn_run(cpu, dt, x, gu, dn, ref) != FD_OK) {
        snprintf(detail, n, "C reference: %s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    if (fd__compare(dt, y, ref, CM * CH, rtol * 0.1, rtol, why, sizeof why)) {
        snprintf(detail, n, "vs C reference: %s", why);
        return FD_CHECK_FAIL;
    }
    return FD_CHECK_PASS;
}
