// SPDX-License-Identifier: Apache-2.0
// Buffers, random inputs and comparison for the ops' self-checks.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "ops/check_util.h"

fd_status fd__cbuf_new(fd__cbuf *b, fd_ctx *ctx, fd_dtype dt, int ndim, const int64_t *ne,
                       const void *init) {
    memset(b, 0, sizeof *b);
    b->ctx = ctx;
    b->t.dtype = dt;
    b->t.ndim = ndim;
    for (int i = 0; i < ndim; i++) b->t.ne[i] = ne[i];
    size_t bytes = fd_tensor_bytes(&b->t);
    b->host = calloc(1, bytes ? bytes : 1);
    if (!b->host) return fd__error(FD_ERR_OOM, "self-check: out of host memory");
    if (init) memcpy(b->host, init, bytes);
    fd_status s = fd_ctx_alloc(ctx, bytes, &b->t.data);
    if (s == FD_OK) s = fd_ctx_upload(ctx, b->t.data, b->host, bytes);
    if (s != FD_OK) fd__cbuf_free(b);
    return s;
}

fd_status fd__cbuf_fetch(fd__cbuf *b) {
    return fd_ctx_download(b->ctx, b->host, b->t.data, fd_tensor_bytes(&b->t));
}

void fd__cbuf_free(fd__cbuf *b) {
    if (b->ctx && b->t.data) fd_ctx_release(b->ctx, b->t.data);
    free(b->host);
    memset(b, 0, sizeof *b);
}

uint64_t fd__rng_next(uint64_t *s) {
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

float fd__rng_uniform(uint64_t *s) { return (float)(fd__rng_next(s) >> 40) / 16777216.0f; }

static double elem(fd_dtype dt, const void *p, int64_t i) {
    switch (dt) {
    case FD_F32: return ((const float *)p)[i];
    case FD_F16: return fd_f16_to_f32(((const uint16_t *)p)[i]);
    case FD_BF16: return fd_bf16_to_f32(((const uint16_t *)p)[i]);
    case FD_I8: return ((const int8_t *)p)[i];
    case FD_I32: return ((const int32_t *)p)[i];
    case FD_I64: return (double)((const int64_t *)p)[i];
    case FD_BOOL:
    case FD_U8: return ((const uint8_t *)p)[i];
    default: return NAN;
    }
}

int fd__compare(fd_dtype dt, const void *a, const void *b, int64_t n, double atol, double rtol,
                char *detail, size_t detail_size) {
    int64_t worst = -1;
    double worst_err = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = elem(dt, a, i), y = elem(dt, b, i);
        double err = fabs(x - y);
        int bad = isnan(x) != isnan(y) || err > atol + rtol * fabs(y);
        if (bad && (worst < 0 || err > worst_err || isnan(err))) {
            worst = i;
            worst_err = err;
        }
    }
    if (worst < 0) return 0;
    snprintf(detail, detail_size, "element %lld: got %.6g, expected %.6g (|err| %.3g > %.3g)",
             (long long)worst, elem(dt, a, worst), elem(dt, b, worst), worst_err,
             atol + rtol * fabs(elem(dt, b, worst)));
    return 1;
}
