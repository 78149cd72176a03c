// SPDX-License-Identifier: Apache-2.0
// Private: CUDA launchers (C linkage) of the model ops (gguf_matmul,
// gguf_get_rows, rms_norm, add, scale), called by src/ops/<op>.c and defined in
// src/ops/cuda/<stem>.cu, plus host helpers shared by their references.
#ifndef FD_OPS_MODEL_LAUNCH_H
#define FD_OPS_MODEL_LAUNCH_H

#include "fdeploy/gguf.h"
#include "ops/op_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

// y[m, n] = x[m, :] . dequant(w row n), rows of w are row_bytes apart.
typedef struct fd__gguf_matmul_args {
    const void *x;          // [m, k] of dtype
    const uint8_t *w;       // [n, row_bytes]
    void *y;                // [m, n] of dtype
    int64_t m, n, k;
    size_t row_bytes;
    fd_ggml_type wtype;
    fd_dtype dtype;         // f32 or f16
} fd__gguf_matmul_args;

typedef struct fd__gguf_get_rows_args {
    const uint8_t *w;       // [rows, row_bytes]
    int64_t rows, d;
    size_t row_bytes;
    fd_ggml_type wtype;
    const int32_t *ids;     // [t]
    int64_t t;
    void *out;              // [t, d] of dtype
    fd_dtype dtype;
} fd__gguf_get_rows_args;

typedef struct fd__rms_norm_args {
    void *x;                // [m, d]; updated in place when residual != NULL
    const void *residual;   // [m, d] or NULL
    const float *w;         // [d]
    void *out;              // [m, d]
    int64_t m, d;
    float eps;
    fd_dtype dtype;
} fd__rms_norm_args;

// 1 if `t` is a ggml type these ops take; its K granularity (32 or 256) in *gran.
int fd__gguf_type_ok(fd_ggml_type t, int *gran);

// Fills `rows` rows of k elements of type t with random blocks (random quants,
// f16 scales in [0.001, 0.05]; float types uniform in [-1, 1]). Self-checks, tests.
void fd__gguf_random_rows(fd_ggml_type t, int64_t rows, int64_t k, uint64_t *rng, uint8_t *out);



fd_status fd__cuda_gguf_matmul(const fd__launch *l, const fd__gguf_matmul_args *a);
fd_status fd__cuda_gguf_get_rows(const fd__launch *l, const fd__gguf_get_rows_args *a);
fd_status fd__cuda_rms_norm(const fd__launch *l, const fd__rms_norm_args *a);
fd_status fd__cuda_add(const fd__launch *l, const void *a, const void *b, void *out,
                       int64_t n, fd_dtype dtype);
fd_status fd__cuda_scale(const fd__launch *l, const void *a, float s, void *out, int64_t n,
                         fd_dtype dtype);

#ifdef __cplusplus
}
#endif
#endif
