// SPDX-License-Identifier: Apache-2.0
// CPU kernels over ggml-typed weight rows: dequantize, dot products, and the
// matrix-times-activations loop of the CPU backend. SIMD variants are picked
// at run time (GCC target clones: AVX-512, AVX2+FMA, baseline).
#ifndef FD_OPS_QUANT_CPU_H
#define FD_OPS_QUANT_CPU_H

#include <stdint.h>
#include <string.h>
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

// Activations quantized to 8 bits for the integer dot kernels (llama.cpp's
// scheme: x is quantized once per matmul, weights stay in their blocks):
// per 32 values x ~ d * q, and s = d * sum(q) for the Q4/Q5 offset terms.
typedef struct fd__q8_block {
    float d, s;
    int8_t q[32];
} fd__q8_block;

// 1 if fd__matmul_rows_q8 handles rows of type t with k elements on this CPU
// (x86-64 with AVX2+FMA+F16C; Q4_0, Q4_1, Q5_0, Q8_0; k a multiple of 32).
int fd__quant_q8_supported(fd_ggml_type t, int64_t k);
// out[0..n/32) = x[0..n) quantized (n a multiple of 32). Only where
// fd__quant_q8_supported says yes.
void fd__quantize_row_q8(const float *x, int64_t n, fd__q8_block *out);
// y[tok][r] = W[r] . xq[tok] for r in [r0, r1), tokens 0..n_tok-1, with
// integer dot products (u8 x s8 -> s32; AVX-512 VNNI where the CPU has it).
// xq is [n_tok][k/32] blocks from fd__quantize_row_q8.
void fd__matmul_rows_q8(fd_ggml_type t, const void *w, int64_t k, const fd__q8_block *xq, int n_tok,
                        float *y, int64_t ldy, int64_t r0, int64_t r1);

// 1 if fd__matmul_rows_q16 handles rows of type t with k elements: the q8 types,
// plus Q4_K and Q6_K (k a multiple of 256).
int fd__quant_q16_supported(fd_ggml_type t, int64_t k);

// Q4_K's 6-bit scale and min of sub-block j (0..7) from its 12 packed bytes s,
// read as three 32-bit words: byte loads here made GCC spill bytes and reload
// them as words in the AVX kernels (a store-forwarding stall a sub-block).
static inline void fd__k4_scale_min(int j, const uint8_t *s, int *sc, int *m) {
    uint32_t w[3];
    memcpy(w, s, sizeof w);
#define FD_K4_BYTE(b) ((int)((w[(b) >> 2] >> (8 * ((b) & 3))) & 0xff))
    if (j < 4) {
        *sc = FD_K4_BYTE(j) & 63;
        *m = FD_K4_BYTE(j + 4) & 63;
    } else {
        *sc = (FD_K4_BYTE(j + 4) & 0xf) | ((FD_K4_BYTE(j - 4) >> 6) << 4);
        *m = (FD_K4_BYTE(j + 4) >> 4) | ((FD_K4_BYTE(j) >> 6) << 4);
    }
#undef FD_K4_BYTE
}

// The same with 16-bit activations (x ~ d * q, |q| <= 32767): int16 dot
// products (madd; vpdpwssd with VNNI), about as fast in decode and 256x more
// accurate; the CPU forward's default (int8 moves logits by up to ~1).
typedef struct fd__q16_block {
    float d, s;
    int16_t q[32];
} fd__q16_block;
// group: blocks sharing one scale, 1 or 8 (256 values, n % 256 == 0). The
// K-quant rows take the faster kernel when the activations were grouped by 8
// (the matmul's group must be the quantization's); other types take either.
void fd__quantize_row_q16(const float *x, int64_t n, fd__q16_block *out, int group);
void fd__matmul_rows_q16(fd_ggml_type t, const void *w, int64_t k, const fd__q16_block *xq, int n_tok,
                         float *y, int64_t ldy, int64_t r0, int64_t r1, int group);

// y[tok][r] = W[r] . x[tok] for r in [r0, r1), tokens 0..n_tok-1.
// W is a ggml tensor with rows of k elements; x is [n_tok][k] f32; y is
// [n_tok][ldy]. `scratch` holds 4 * k floats (four dequantized rows). Each result
// is summed in fd__dot_f32's order whatever the row/token grouping.
void fd__matmul_rows(fd_ggml_type t, const void *w, int64_t k, const float *x, int n_tok,
                     float *y, int64_t ldy, int64_t r0, int64_t r1, float *scratch, int avx2);

#endif
