// SPDX-License-Identifier: Apache-2.0
// Dequantization of ggml block formats (F16, BF16, Q4_0, Q4_1, Q5_0, Q8_0,
// Q4_K, Q6_K; layouts from ggml's docs) and f32 dot products for the CPU backend.
// Roofline: decode reads each weight once, so it is memory bound: a row is
// dequantized into L1 and reused for every token of the batch.
#include <string.h>

#include "core/internal.h"
#include "ops/quant_cpu.h"

// Clones picked by ISA feature: "arch=haswell" clones dispatch on the CPU *model*
// (__builtin_cpu_is), so AMD CPUs with AVX2 ran the default clone. No FMA in the
// clones: mul + add keep the reference's rounding.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FD_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FD_SIMD_CLONES
#endif

static float h2f(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return fd_f16_to_f32(h);
}

size_t fd__row_bytes(fd_ggml_type t, int64_t n) {
    int be = fd_ggml_block_elems(t);
    return be ? (size_t)(n / be) * fd_ggml_block_bytes(t) : 0;
}

static inline __attribute__((always_inline)) void dq_q4_0(const uint8_t *b, float *y) {
    float d = h2f(b);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((b[2 + j] & 0xf) - 8);
        y[j + 16] = d * (float)((b[2 + j] >> 4) - 8);
    }
}

static inline __attribute__((always_inline)) void dq_q4_1(const uint8_t *b, float *y) {
    float d = h2f(b), m = h2f(b + 2);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)(b[4 + j] & 0xf) + m;
        y[j + 16] = d * (float)(b[4 + j] >> 4) + m;
    }
}

// Q5_0: d, then the 5th bits of the 32 weights as one little-endian u32
// (bit j = weight j), then the low nibbles as in Q4_0; weight = d * (q - 16).
static inline __attribute__((always_inline)) void dq_q5_0(const uint8_t *b, float *y) {
    float d = h2f(b);
    uint32_t qh = (uint32_t)b[2] | (uint32_t)b[3] << 8 | (uint32_t)b[4] << 16 | (uint32_t)b[5] << 24;
    for (int j = 0; j < 16; j++) {
        int lo = (b[6 + j] & 0xf) | (int)((qh >> j) & 1) << 4;
        int hi = (b[6 + j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = d * (float)(lo - 16);
        y[j + 16] = d * (float)(hi - 16);
    }
}

static inline __attribute__((always_inline)) void dq_q8_0(const uint8_t *b, float *y) {
    float d = h2f(b);
    const int8_t *q = (const int8_t *)(b + 2);
    for (int j = 0; j < 32; j++) y[j] = d * (float)q[j];
}

// 6-bit scale and min of sub-block j of a Q4_K super-block.
static inline __attribute__((always_inline)) void dq_q4_k(const uint8_t *b, float *y) {
    float d = h2f(b), dmin = h2f(b + 2);
    const uint8_t *scales = b + 4, *q = b + 16;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
        int sc, m;
        fd__k4_scale_min(is, scales, &sc, &m);
        float d1 = d * (float)sc, m1 = dmin * (float)m;
        fd__k4_scale_min(is + 1, scales, &sc, &m);
        float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++) y[j + l] = d1 * (float)(q[l] & 0xf) - m1;
        for (int l = 0; l < 32; l++) y[j + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
    }
}

static inline __attribute__((always_inline)) void dq_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = h2f(b + 208);
    for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[n + l] = d * (float)sc[is] * (float)q1;
            y[n + l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[n + l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[n + l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
    }
}

FD_SIMD_CLONES
void fd__dequant_row(fd_ggml_type t, const void *row, float *y, int64_t n) {
    const uint8_t *b = row;
    switch (t) {
    case FD_GGML_F32: memcpy(y, row, (size_t)n * 4); return;
    case FD_GGML_F16: for (int64_t i = 0; i < n; i++) y[i] = h2f(b + 2 * i); return;
    case FD_GGML_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, b + 2 * i, 2);
            y[i] = fd_bf16_to_f32(h);
        }
        return;
    case FD_GGML_Q4_0: for (int64_t i = 0; i < n; i += 32, b += 18) dq_q4_0(b, y + i); return;
    case FD_GGML_Q4_1: for (int64_t i = 0; i < n; i += 32, b += 20) dq_q4_1(b, y + i); return;
    case FD_GGML_Q5_0: for (int64_t i = 0; i < n; i += 32, b += 22) dq_q5_0(b, y + i); return;
    case FD_GGML_Q8_0: for (int64_t i = 0; i < n; i += 32, b += 34) dq_q8_0(b, y + i); return;
    case FD_GGML_Q4_K: for (int64_t i = 0; i < n; i += 256, b += 144) dq_q4_k(b, y + i); return;
    case FD_GGML_Q6_K: for (int64_t i = 0; i < n; i += 256, b += 210) dq_q6_k(b, y + i); return;
    default: FD_ASSERT(!"type validated at load");
    }
}

// 16 independent partial sums: vectorizes without -ffast-math.
FD_SIMD_CLONES
float fd__dot_f32(const float *a, const float *b, int64_t n) {
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * b[i + j];
    float s = 0;
    for (; i < n; i++) s += a[i] * b[i];
    for (int j = 0; j < 16; j++) s += acc[j];
    return s;
}

// out[r * 4 + t] = w_r . x_t for 4 rows (w, ldw apart) and NT tokens (x, k apart),
// each sum in fd__dot_f32's order (16 lane sums, the tail, then the lanes), so a
// result does not depend on how rows and tokens were grouped; 4x NT accumulators
// reuse every load NT (or 4) times, which a dot per pair cannot.
#define FD_DOT_4XN(NT)                                                                   \
    FD_SIMD_CLONES static void dot_4x##NT(const float *w, int64_t ldw, const float *x, \
                                          int64_t k, float *out) {                      \
        float acc[4][NT][16], tail[4][NT];                                               \
        memset(acc, 0, sizeof acc);                                                      \
        memset(tail, 0, sizeof tail);                                                    \
        int64_t i = 0;                                                                   \
        for (; i + 16 <= k; i += 16)                                                     \
            for (int r = 0; r < 4; r++)                                                  \
                for (int t = 0; t < NT; t++)                                             \
                    for (int j = 0; j < 16; j++)                                         \
                        acc[r][t][j] += w[r * ldw + i + j] * x[t * k + i + j];           \
        for (; i < k; i++)                                                               \
            for (int r = 0; r < 4; r++)                                                  \
                for (int t = 0; t < NT; t++) tail[r][t] += w[r * ldw + i] * x[t * k + i]; \
        for (int r = 0; r < 4; r++)                                                      \
            for (int t = 0; t < NT; t++) {                                               \
                float sum = tail[r][t];                                                  \
                for (int j = 0; j < 16; j++) sum += acc[r][t][j];                        \
                out[r * 4 + t] = sum;                                                    \
            }                                                                            \
    }
FD_DOT_4XN(1)
FD_DOT_4XN(2)
FD_DOT_4XN(3)
FD_DOT_4XN(4)

// Rows [r0, r0 + 4) against every token, their f32 rows in wr (ldw apart).
static void rows4(const float *wr, int64_t ldw, int64_t k, const float *x, int n_tok, float *y,
                  int64_t ldy, int64_t r0) {
    float o[16];
    for (int tk = 0; tk < n_tok; tk += 4) {
        int nt = n_tok - tk < 4 ? n_tok - tk : 4;
        const float *xs = x + tk * k;
        if (nt == 4) dot_4x4(wr, ldw, xs, k, o);
        else if (nt == 3) dot_4x3(wr, ldw, xs, k, o);
        else if (nt == 2) dot_4x2(wr, ldw, xs, k, o);
        else dot_4x1(wr, ldw, xs, k, o);
        for (int r = 0; r < 4; r++)
            for (int t = 0; t < nt; t++) y[(tk + t) * ldy + r0 + r] = o[r * 4 + t];
    }
}

// Few tokens: fused quantized dots (no dequantized row); many: dequantize rows
// into L1 (scratch: 4 rows of k) four at a time and reuse them for every token.
void fd__matmul_rows(fd_ggml_type t, const void *w, int64_t k, const float *x, int n_tok,
                     float *y, int64_t ldy, int64_t r0, int64_t r1, float *scratch, int avx2) {
    size_t rb = fd__row_bytes(t, k);
    float v;
    if (avx2 && fd__dot_quant_avx2(t, w, x, 0, &v)) {
        for (int64_t r = r0; r < r1; r++)
            for (int tk = 0; tk < n_tok; tk++)
                fd__dot_quant_avx2(t, (const uint8_t *)w + r * rb, x + tk * k, k, &y[tk * ldy + r]);
        return;
    }
    for (; r0 + 4 <= r1 && n_tok > 1; r0 += 4) {
        const float *wr = (const float *)((const uint8_t *)w + r0 * rb);
        if (t != FD_GGML_F32)
            for (int r = 0; r < 4; r++) fd__dequant_row(t, (const uint8_t *)w + (r0 + r) * rb, scratch + r * k, k);
        rows4(t == FD_GGML_F32 ? wr : scratch, k, k, x, n_tok, y, ldy, r0);
    }
    for (int64_t r = r0; r < r1; r++) {
        const float *wr = scratch;
        if (t == FD_GGML_F32)
            wr = (const float *)((const uint8_t *)w + r * rb);
        else
            fd__dequant_row(t, (const uint8_t *)w + r * rb, scratch, k);
        for (int tk = 0; tk < n_tok; tk++) y[tk * ldy + r] = fd__dot_f32(wr, x + tk * k, k);
    }
}
