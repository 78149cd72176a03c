// SPDX-License-Identifier: Apache-2.0
// Private: CUDA launchers (C linkage) of the ffn ops, called by src/ops/<op>.c
// and defined in src/ops/cuda/<stem>.cu, plus the shared C reference GEMM.
#ifndef FD_OPS_FFN_LAUNCH_H
#define FD_OPS_FFN_LAUNCH_H

#include "ops/op_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

// One GEMM: c[M, N] = a[M, K] * w[N, K]^T (* scale[n] when w is int8).
typedef struct fd__matmul_args {
    const void *a;         // [m, k] of dtype
    const void *w;         // [n, k] of dtype, or int8 when scale != NULL
    const float *scale;    // [n] per output channel, NULL for float weights
    void *c;               // [m, n] of dtype
    int64_t m, n, k;
    fd_dtype dtype;        // activations and output
} fd__matmul_args;

// The C reference (src/ops/matmul.c): f32 accumulation, one rounding at the end.
fd_status fd__ref_matmul(const char *op, const fd__matmul_args *a);

// Host element access for the float dtypes (f32/f16/bf16), used by the references
// and self-checks of this group; fd__ffn_host_fill converts n floats into dtype dt.
float fd__ffn_get(fd_dtype dt, const void *p, int64_t i);
void fd__ffn_set(fd_dtype dt, void *p, int64_t i, float v);
void fd__ffn_host_fill(fd_dtype dt, void *dst, const float *src, int64_t n);

// The C reference of a gated activation: out[r, j] = act(x[r, j]) * x[r, I + j]
// for x [m, 2I], computed in f32, rounded once (gated_act.c).
fd_status fd__ref_gated_act(float (*act)(float), const void *x, void *out, int64_t m, int64_t inter,
                            fd_dtype dt);

// The shared argument checks of a gated activation: x [m, 2I] (of dtypes, when
// not 0), out [m, I] of x's dtype; sets *m and *inter = I.
fd_status fd__gated_act_args(const char *op, const fd_tensor *x, const fd_tensor *out,
                             unsigned dtypes, int64_t *m, int64_t *inter);

// A gated activation (out = act(x[:, :I]) * x[:, I:]) for the shared self-check
// (gated_act.c): known[2 * n_known] gate values then up values (n_known <= 8),
// act in double, the f32 tolerance, and the random case's seed.
typedef struct fd__gated_act {
    fd_status (*op)(fd_ctx *ctx, const fd_tensor *x, fd_tensor *out);
    double (*act)(double);
    const float *known;
    int n_known;
    double tol_f32;
    uint64_t seed;
} fd__gated_act;
fd_check_result fd__check_gated_act(const fd__gated_act *g, fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt,
                                    char *detail, size_t n);

// Validates a matmul's tensors (shared by matmul and matmul_wint8) and fills *out.
fd_status fd__matmul_prepare(const char *op, const fd_tensor *a, const fd_tensor *w,
                             const fd_tensor *scale, const fd_tensor *c,
                             fd__matmul_args *out);

fd_status fd__cuda_matmul_sm70(const fd__launch *l, const fd__matmul_args *a);
fd_status fd__cuda_matmul_sm80(const fd__launch *l, const fd__matmul_args *a);
fd_status fd__cuda_matmul_wint8(const fd__launch *l, const fd__matmul_args *a);
fd_status fd__cuda_matmul_wint8_sm80(const fd__launch *l, const fd__matmul_args *a);

fd_status fd__cuda_silu_and_mul(const fd__launch *l, const void *x, void *out, int64_t m,
                                int64_t inter, fd_dtype dtype);
fd_status fd__cuda_gelu_tanh_and_mul(const fd__launch *l, const void *x, void *out, int64_t m,
                                     int64_t inter, fd_dtype dtype);

#ifdef __cplusplus
}
#endif
#endif
