// SPDX-License-Identifier: Apache-2.0
// CPU kernels over ggml-typed weight rows: dequantize, dot products, and the
// matrix-times-activations loop of the CPU backend. SIMD variants are picked
// at run time (GCC target clones: AVX-512, AVX2+FMA, baseline).
#ifndef FD_OPS_QUANT_CPU_H
#define FD_OPS_QUANT_CPU_H

#include <stdint.h>
#include "fdeploy/gguf.h"

// Bytes of one row of n elements of type t.
size_t fd__row_bytes(fd_ggml_type t, int64_t n);
// out[0..n) = row (n a multiple of the type's block).
void fd__dequant_row(fd_ggml_type t, const void *row, float *out, int64_t n);
float fd__dot_f32(const float *a, const float *b, int64_t n);

// 1 if this CPU runs the AVX2+FMA+F16C kernels.
int fd__quant_has_avx2(void);
// Fused dot of a quantized row with f32 x (AVX2); 0 if the type has no fused kernel.
int fd__dot_quant_avx2(fd_ggml_type t, const void *row, const float *x, int64_t n, float *out);

// y[tok][r] = W[r] . x[tok] for r in [r0, r1), tokens 0..n_tok-1.
// W is a ggml tensor with rows of k elements; x is [n_tok][k] f32; y is
// [n_tok][ldy]. `scratch` holds k floats (one dequantized row).
void fd__matmul_rows(fd_ggml_type t, const void *w, int64_t k, const float *x, int n_tok,
                     float *y, int64_t ldy, int64_t r0, int64_t r1, float *scratch, int avx2);

#endif
