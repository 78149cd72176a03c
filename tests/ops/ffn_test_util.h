// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the ffn group's tests (matmul, matmul_wint8, silu_and_mul,
// ffn): host float <-> dtype buffers, a double-precision GEMM, and a tolerance
// comparison that reports the worst element.
#ifndef FD_FFN_TEST_UTIL_H
#define FD_FFN_TEST_UTIL_H

#include <time.h>

#include "fd_test.h"
#include "platform/op_table.h"

static inline float ffn_get(fd_dtype dt, const void *p, int64_t i) {
    if (dt == FD_F16) return fd_f16_to_f32(((const uint16_t *)p)[i]);
    if (dt == FD_BF16) return fd_bf16_to_f32(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

// n floats -> a new host buffer of dtype dt (caller frees).
static inline void *ffn_to_dt(fd_dtype dt, const float *src, int64_t n) {
    char *p = malloc((size_t)n * fd_dtype_size(dt) + 4);
    for (int64_t i = 0; i < n; i++) {
        if (dt == FD_F16) ((uint16_t *)p)[i] = fd_f32_to_f16(src[i]);
        else if (dt == FD_BF16) ((uint16_t *)p)[i] = fd_f32_to_bf16(src[i]);
        else ((float *)p)[i] = src[i];
    }
    return p;
}

// Rounds n floats in place to what dtype dt can hold.
static inline void ffn_round(fd_dtype dt, float *v, int64_t n) {
    void *p = ffn_to_dt(dt, v, n);
    for (int64_t i = 0; i < n; i++) v[i] = ffn_get(dt, p, i);
    free(p);
}

static inline float *ffn_random(uint64_t seed, int64_t n, float scale) {
    float *v = calloc((size_t)n + 1, sizeof(float));
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) v[i] = fd_test_randf(&s) * scale;
    return v;
}

// c[m, n] = sum_k a[m, k] * w[n, k] in double.
static inline void ffn_gemm_ref(const float *a, const float *w, float *c, int64_t m,
                                int64_t n, int64_t k) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t e = 0; e < k; e++) s += (double)a[i * k + e] * w[j * k + e];
            c[i * n + j] = (float)s;
        }
}

// Passes when every |got - want| <= rtol * (|want| + rms(want)); names the worst.
static inline int ffn_close(const char *what, const float *got, const float *want, int64_t n,
                            double rtol) {
    double rms = 0;
    for (int64_t i = 0; i < n; i++) rms += (double)want[i] * want[i];
    rms = n ? sqrt(rms / (double)n) : 0;
    int64_t worst = -1;
    double wexcess = 0;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]), lim = rtol * (fabs(want[i]) + rms);
        if (!(err <= lim) && (worst < 0 || err - lim > wexcess || isnan(err))) {
            worst = i;
            wexcess = err - lim;
        }
    }
    if (worst < 0) return 1;
    FD_FAILF("%s: element %lld: got %.6g, want %.6g (rtol %g, rms %.3g)", what,
             (long long)worst, got[worst], want[worst], rtol, rms);
    return 0;
}

static inline double ffn_rtol(fd_dtype dt) {
    return dt == FD_F32 ? 1e-4 : dt == FD_F16 ? 1e-2 : 2e-2;
}

// A [70] or [90]-style simulated platform with one device of SM `sm`.
static inline fd_platform *ffn_sim_platform(int build_arch, int sm) {
    fd_build_info b;
    memset(&b, 0, sizeof b);
    b.cuda = 1;
    b.n_archs = 1;
    b.archs[0] = build_arch;
    b.ptx_arch = build_arch;
    snprintf(b.toolkit, sizeof b.toolkit, "sim");
    fd_device_info d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "SM%d (simulated)", sm);
    d.sm = sm;
    fd_platform *p = NULL;
    if (fd_platform_open_simulated(&b, &d, 1, &p) != FD_OK) return NULL;
    return p;
}


#endif
