// SPDX-License-Identifier: Apache-2.0
// AVX2 dot products of quantized weight rows (Q4_0, Q4_1, Q5_0, Q8_0), without
// materializing the dequantized row. Two paths:
//  - integer (the default for these types, as llama.cpp does it): the
//    activation row is quantized to 8-bit blocks once per matmul
//    (fd__quantize_row_q8), then each weight block is one u8 x s8 multiply-add
//    (maddubs + madd, or one vpdpbusd with AVX-512 VNNI) and one FMA of the
//    int32 sums by the two scales; the unsigned weights' offset (-8 d for
//    Q4_0, -16 d for Q5_0, the min m for Q4_1) multiplies the block sum of x,
//    kept with the activation block. With 16-bit activations (signed x signed)
//    Q5_0 uses its signed values and needs no offset term.
//  - fused f32 (fd__dot_quant_avx2): 4/5-bit values converted to float and FMA'd
//    with f32 activations; the fallback.
// Compiled for any x86-64 with target attributes; used only when the CPU
// reports AVX2, FMA and F16C at run time (fd__quant_has_avx2), VNNI only
// where it reports AVX512-VL and AVX512-VNNI.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "ops/quant_cpu.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define FD_AVX2 __attribute__((target("avx2,fma,f16c")))

FD_AVX2 static inline __m256 cvt8(__m128i bytes8) {  // 8 unsigned bytes -> 8 floats
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes8));
}

FD_AVX2 static inline float half(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

FD_AVX2 static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// 32 4-bit values of a Q4 block as unsigned bytes in element order (low
// nibbles are elements 0..15, high nibbles 16..31).
FD_AVX2 static inline __m256i nibbles(const uint8_t *qs) {
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m256i both = _mm256_insertf128_si256(_mm256_castsi128_si256(raw), _mm_srli_epi16(raw, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// Byte j = 0xff where the 5th bit of weight j of the Q5_0 block at b (bit j of
// the little-endian u32 qh) is set, else 0.
FD_AVX2 static inline __m256i q5_high(const uint8_t *b) {
    uint32_t qh;
    memcpy(&qh, b + 2, 4);
    // byte j takes qh's byte j / 8 (the shuffle stays in each 128-bit lane, and
    // every lane holds qh), then keeps bit j % 8 of it
    const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL,
                                              0x0303030303030303LL);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), spread);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

// The 32 5-bit values q (0..31) of the Q5_0 block at b as unsigned bytes in
// element order: the nibbles, plus 16 where the 5th bit is set.
FD_AVX2 static inline __m256i q5_values(const uint8_t *b) {
    return _mm256_or_si256(nibbles(b + 6), _mm256_and_si256(q5_high(b), _mm256_set1_epi8(0x10)));
}

// The same as signed weights q - 16 (-16..15): 0xf0 OR'd onto the nibble where
// the 5th bit is clear.
FD_AVX2 static inline __m256i q5_signed(const uint8_t *b) {
    __m256i clear = _mm256_andnot_si256(q5_high(b), _mm256_set1_epi8((char)0xf0));
    return _mm256_or_si256(nibbles(b + 6), clear);
}

// Sum of q[i] * x[i] for the 32 unsigned values of a block (lo: elements 0..15,
// hi: 16..31; before scale/offset); also returns the sum of x in *xs.
FD_AVX2 static inline __m256 u8_block(__m128i lo, __m128i hi, const float *x, __m256 *xs) {
    __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8);
    __m256 x2 = _mm256_loadu_ps(x + 16), x3 = _mm256_loadu_ps(x + 24);
    __m256 acc = _mm256_mul_ps(cvt8(lo), x0);
    acc = _mm256_fmadd_ps(cvt8(_mm_srli_si128(lo, 8)), x1, acc);
    acc = _mm256_fmadd_ps(cvt8(hi), x2, acc);
    acc = _mm256_fmadd_ps(cvt8(_mm_srli_si128(hi, 8)), x3, acc);
    *xs = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
    return acc;
}

FD_AVX2 static inline __m256 q4_block(const uint8_t *qs, const float *x, __m256 *xs) {
    const __m128i mask = _mm_set1_epi8(0x0f);
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    return u8_block(_mm_and_si128(raw, mask), _mm_and_si128(_mm_srli_epi16(raw, 4), mask), x, xs);
}

FD_AVX2 static float dot_q4_1(const uint8_t *b, const float *x, int64_t n) {
    __m256 total = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 32, b += 20) {
        __m256 xs, acc = q4_block(b + 4, x + i, &xs);
        total = _mm256_fmadd_ps(acc, _mm256_set1_ps(half(b)), total);
        total = _mm256_fmadd_ps(xs, _mm256_set1_ps(half(b + 2)), total);
    }
    return hsum(total);
}

FD_AVX2 static float dot_q4_0(const uint8_t *b, const float *x, int64_t n) {
    __m256 total = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 32, b += 18) {
        __m256 xs, acc = q4_block(b + 2, x + i, &xs);
        float d = half(b);
        total = _mm256_fmadd_ps(acc, _mm256_set1_ps(d), total);
        total = _mm256_fmadd_ps(xs, _mm256_set1_ps(-8.0f * d), total);  // q - 8
    }
    return hsum(total);
}

FD_AVX2 static float dot_q5_0(const uint8_t *b, const float *x, int64_t n) {
    __m256 total = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 32, b += 22) {
        __m256i u = q5_values(b);
        __m256 xs, acc = u8_block(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1), x + i, &xs);
        float d = half(b);
        total = _mm256_fmadd_ps(acc, _mm256_set1_ps(d), total);
        total = _mm256_fmadd_ps(xs, _mm256_set1_ps(-16.0f * d), total);  // q - 16
    }
    return hsum(total);
}

FD_AVX2 static float dot_q8_0(const uint8_t *b, const float *x, int64_t n) {
    __m256 total = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 32, b += 34) {
        __m256 acc = _mm256_setzero_ps();
        for (int j = 0; j < 32; j += 8) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(b + 2 + j));
            __m256 qf = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
            acc = _mm256_fmadd_ps(qf, _mm256_loadu_ps(x + i + j), acc);
        }
        total = _mm256_fmadd_ps(acc, _mm256_set1_ps(half(b)), total);
    }
    return hsum(total);
}


// ---- integer path: 8-bit activations

// max |x| over 32 values.
FD_AVX2 static inline __attribute__((always_inline)) float block_amax(const float *x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x)),
                             _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8)));
    a = _mm256_max_ps(a, _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)),
                                       _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24))));
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

// 32 values of x scaled to integers of at most qmax in magnitude (rounded to nearest)
// for a range whose max |x| is amax, as four int32 vectors; *d = the scale back,
// *s = d * their sum (for offset terms).
FD_AVX2 static inline __attribute__((always_inline)) void scale_block(const float *x, float amax,
                                                                      float qmax, __m256i *i,
                                                                      float *d, float *s) {
    __m256 v[4];
    for (int k = 0; k < 4; k++) v[k] = _mm256_loadu_ps(x + 8 * k);
    *d = amax / qmax;
    __m256 mul = _mm256_set1_ps(amax > 0 ? qmax / amax : 0.0f);
    for (int k = 0; k < 4; k++) i[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], mul));
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
    *s = *d * (float)_mm_cvtsi128_si32(t);
}

FD_AVX2 static void quantize_q8(const float *x, int64_t n, fd__q8_block *out) {
    for (int64_t i = 0; i < n; i += 32, out++) {
        __m256i v[4];
        scale_block(x + i, block_amax(x + i), 127.0f, v, &out->d, &out->s);
        // packs interleave the 128-bit lanes; the permute restores element order
        __m256i q = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
        q = _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)out->q, q);
    }
}

// Block bytes of the integer-path types; a constant in the tiles, where type is.
static inline int q_block_bytes(int type) {
    return type == FD_GGML_Q4_0 ? 18 : type == FD_GGML_Q4_1 ? 20 : type == FD_GGML_Q5_0 ? 22 : 34;
}

// The unsigned values of a Q4_0/Q4_1/Q5_0 block at w in element order, and in
// *mx what every value is offset by (weight = dx * q + mx).
FD_AVX2 static inline __attribute__((always_inline)) __m256i q_unsigned(int type, const uint8_t *w,
                                                                        float dx, float *mx) {
    if (type == FD_GGML_Q5_0) {
        *mx = -16.0f * dx;
        return q5_values(w);
    }
    *mx = type == FD_GGML_Q4_1 ? half(w + 2) : -8.0f * dx;
    return nibbles(w + (type == FD_GGML_Q4_1 ? 4 : 2));
}

// A Q4_0/Q4_1/Q5_0 block's values widened to int16, elements 0..15 in *wl and
// 16..31 in *wh, offset by *mx as in q_unsigned. Q5_0's are the signed q - 16
// (int16 x int16 needs no unsigned side), which saves the offset term of every
// token: 10-15% faster than unsigned values, as fast as Q4_0 at 16 tokens.
FD_AVX2 static inline __attribute__((always_inline)) void q_int16(int type, const uint8_t *w,
                                                                  float dx, float *mx,
                                                                  __m256i *wl, __m256i *wh) {
    if (type == FD_GGML_Q5_0) {
        __m256i s = q5_signed(w);
        *wl = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(s));
        *wh = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(s, 1));
        *mx = 0;
        return;
    }
    const __m128i mask = _mm_set1_epi8(0x0f);
    __m128i raw = _mm_loadu_si128((const __m128i *)(w + (type == FD_GGML_Q4_1 ? 4 : 2)));
    *wl = _mm256_cvtepu8_epi16(_mm_and_si128(raw, mask));
    *wh = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), mask));
    *mx = type == FD_GGML_Q4_1 ? half(w + 2) : -8.0f * dx;
}

// Sums of adjacent 4-byte groups of u (unsigned) x s (signed) as 8 int32.
#define MULSUM_AVX2(u, s) _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1))
#define MULSUM_VNNI(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), (u), (s))

// The [r0, r1) x [0, n_tok) loop around a tile kernel, in blocks of 16 weight
// rows x 32 tokens: a tile's tokens (up to MAXT) run against the block's 16
// rows in turn, so their activations are read from L1 (tokens outside rows
// measured 3-5% faster than rows outside tokens); the switch turns (type,
// tokens in the tile) into compile-time constants.
#define FD_TILE_CASES(TILE, T)                                                                   \
    case T * 16 + 1: TILE(T, 1, wr, xs, nb, o); break;                                           \
    case T * 16 + 2: TILE(T, 2, wr, xs, nb, o); break;                                           \
    case T * 16 + 3: TILE(T, 3, wr, xs, nb, o); break;                                           \
    case T * 16 + 4: TILE(T, 4, wr, xs, nb, o); break;
#define FD_TILE_CASES8(TILE, T)                                                                  \
    FD_TILE_CASES(TILE, T)                                                                       \
    case T * 16 + 5: TILE(T, 5, wr, xs, nb, o); break;                                           \
    case T * 16 + 6: TILE(T, 6, wr, xs, nb, o); break;                                           \
    case T * 16 + 7: TILE(T, 7, wr, xs, nb, o); break;                                           \
    case T * 16 + 8: TILE(T, 8, wr, xs, nb, o); break;
#define FD_ROWS_KERNEL(NAME, TGT, TILE, BLOCK, MAXT, CASES)                                       \
    TGT static void NAME(fd_ggml_type t, const uint8_t *w, size_t rb, int64_t nb, const BLOCK *xq, \
                         int n_tok, float *y, int64_t ldy, int64_t r0, int64_t r1) {             \
        for (int64_t rc = r0; rc < r1; rc += 16) {                                              \
            int64_t re = rc + 16 < r1 ? rc + 16 : r1;                                           \
            for (int tc = 0; tc < n_tok; tc += 32) {                                            \
                int te = tc + 32 < n_tok ? tc + 32 : n_tok;                                     \
                for (int tk = tc; tk < te; tk += MAXT)                                          \
                    for (int64_t r = rc; r < re; r++) {                                         \
                        int nt = te - tk < MAXT ? te - tk : MAXT;                               \
                        const BLOCK *xs[MAXT];                                                  \
                        float o[MAXT];                                                          \
                        for (int j = 0; j < nt; j++) xs[j] = xq + (int64_t)(tk + j) * nb;       \
                        const uint8_t *wr = w + r * rb;                                         \
                        switch (t * 16 + nt) {                                                  \
                            CASES                                                               \
                        default: FD_ASSERT(!"type checked by fd__quant_q8_supported");          \
                        }                                                                       \
                        for (int j = 0; j < nt; j++) y[(int64_t)(tk + j) * ldy + r] = o[j];     \
                    }                                                                           \
            }                                                                                   \
        }                                                                                       \
    }

// tile: one weight row of type TYPE against NT (1..4) activation rows xs[j]:
// out[j] = W . x_j; the weight block is unpacked once for all NT rows. TYPE
// and NT are constants at every call (always inlined), so branches fold.
#define FD_Q8_KERNELS(SFX, TGT, MULSUM)                                                          \
    TGT static inline __attribute__((always_inline)) void tile_##SFX(                            \
        const int type, const int nt, const uint8_t *w, const fd__q8_block *const *xs,          \
        int64_t nb, float *out) {                                                               \
        const int bb = q_block_bytes(type);                                                     \
        __m256 acc[4];                                                                          \
        float mins[4] = {0, 0, 0, 0};                                                           \
        for (int j = 0; j < nt; j++) acc[j] = _mm256_setzero_ps();                              \
        for (int64_t i = 0; i < nb; i++, w += bb) {                                             \
            float dx = half(w), mx = 0;                                                         \
            __m256i u, wq = _mm256_setzero_si256();                                             \
            if (type == FD_GGML_Q8_0) {                                                         \
                wq = _mm256_loadu_si256((const __m256i *)(w + 2));                              \
                u = _mm256_sign_epi8(wq, wq); /* |w|; the sign moves to x */                    \
            } else {                                                                            \
                u = q_unsigned(type, w, dx, &mx);                                               \
            }                                                                                   \
            for (int j = 0; j < nt; j++) {                                                      \
                const fd__q8_block *b = &xs[j][i];                                              \
                __m256i s = _mm256_loadu_si256((const __m256i *)b->q);                          \
                if (type == FD_GGML_Q8_0) s = _mm256_sign_epi8(s, wq);                          \
                __m256 p = _mm256_cvtepi32_ps(MULSUM(u, s));                                    \
                acc[j] = _mm256_fmadd_ps(p, _mm256_set1_ps(dx * b->d), acc[j]);                 \
                if (type != FD_GGML_Q8_0) mins[j] += mx * b->s;                                 \
            }                                                                                   \
        }                                                                                       \
        for (int j = 0; j < nt; j++) out[j] = hsum(acc[j]) + mins[j];                           \
    }                                                                                           \
    FD_ROWS_KERNEL(rows_##SFX, TGT, tile_##SFX, fd__q8_block, 4,                                \
                   FD_TILE_CASES(tile_##SFX, FD_GGML_Q4_0) FD_TILE_CASES(tile_##SFX, FD_GGML_Q4_1) \
                   FD_TILE_CASES(tile_##SFX, FD_GGML_Q5_0) FD_TILE_CASES(tile_##SFX, FD_GGML_Q8_0))

#define FD_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))
FD_Q8_KERNELS(avx2, FD_AVX2, MULSUM_AVX2)
FD_Q8_KERNELS(vnni, FD_VNNI, MULSUM_VNNI)

// ---- 16-bit activations: as above with int16 x (madd / vpdpwssd); the
// quantization error is 256x smaller than with int8 (int8 activations move
// SmolLM2's logits by up to ~1, int16 by ~0.005).

// group blocks of 32 share one scale (their max |x|): 8 for the K-quant kernels.
FD_AVX2 static void quantize_q16(const float *x, int64_t n, fd__q16_block *out, int group) {
    float amax = 0;
    for (int64_t i = 0; i < n; i += 32, out++) {
        if ((i / 32) % group == 0) {
            amax = block_amax(x + i);
            for (int g = 1; g < group; g++) amax = fmaxf(amax, block_amax(x + i + 32 * g));
        }
        __m256i v[4];
        scale_block(x + i, amax, 32767.0f, v, &out->d, &out->s);
        __m256i p0 = _mm256_permute4x64_epi64(_mm256_packs_epi32(v[0], v[1]), 0xd8);
        __m256i p1 = _mm256_permute4x64_epi64(_mm256_packs_epi32(v[2], v[3]), 0xd8);
        _mm256_storeu_si256((__m256i *)out->q, p0);
        _mm256_storeu_si256((__m256i *)(out->q + 16), p1);
    }
}

// ---- K-quants (Q4_K, Q6_K) with 16-bit activations: a 256-value super-block is
// eight 32-value blocks; block j's integers come out already multiplied by their
// sub-block scale (Q4_K: q * sc <= 945; Q6_K: (q - 32) * sc, |.| <= 4096, so two
// int16 x int16 pairs stay far inside int32), leaving one float scale (d) per
// block and, for Q4_K, the min term -dmin * m times the block sum of x.
static inline int kq_super_bytes(int type) { return type == FD_GGML_Q4_K ? 144 : 210; }

FD_AVX2 static inline __attribute__((always_inline)) void kq_int16(int type, const uint8_t *sb, int j,
                                                                   float *dx, float *mx,
                                                                   __m256i *wl, __m256i *wh) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    if (type == FD_GGML_Q4_K) {  // d, dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
        int sc, m;
        fd__k4_scale_min(j, sb + 4, &sc, &m);
        __m256i raw = _mm256_loadu_si256((const __m256i *)(sb + 16 + (j / 2) * 32));
        __m256i q = _mm256_and_si256(j & 1 ? _mm256_srli_epi16(raw, 4) : raw, m4);
        __m256i scv = _mm256_set1_epi16((int16_t)sc);
        *wl = _mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm256_castsi256_si128(q)), scv);
        *wh = _mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm256_extracti128_si256(q, 1)), scv);
        *dx = half(sb);
        *mx = -half(sb + 2) * (float)m;
        return;
    }
    // Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16] (one per 16), d
    int n = j / 4, qd = j % 4;
    __m256i lo = _mm256_loadu_si256((const __m256i *)(sb + n * 64 + (qd & 1) * 32));
    lo = _mm256_and_si256(qd >= 2 ? _mm256_srli_epi16(lo, 4) : lo, m4);
    __m256i hi = _mm256_loadu_si256((const __m256i *)(sb + 128 + n * 32));
    hi = _mm256_and_si256(_mm256_srli_epi16(hi, 2 * qd), _mm256_set1_epi8(3));
    __m256i q = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));  // 0..63, no carry across bytes
    const int8_t *scales = (const int8_t *)(sb + 192) + n * 8 + qd * 2;
    const __m256i off = _mm256_set1_epi16(32);
    *wl = _mm256_mullo_epi16(_mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm256_castsi256_si128(q)), off),
                             _mm256_set1_epi16(scales[0]));
    *wh = _mm256_mullo_epi16(_mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm256_extracti128_si256(q, 1)), off),
                             _mm256_set1_epi16(scales[1]));
    *dx = half(sb + 208);
    *mx = 0;
}

#define MADD2_AVX2(a, b, c, d) _mm256_add_epi32(_mm256_madd_epi16((a), (b)), _mm256_madd_epi16((c), (d)))
#define MADD2_VNNI(a, b, c, d) _mm256_dpwssd_epi32(_mm256_dpwssd_epi32(_mm256_setzero_si256(), (a), (b)), (c), (d))

#define FD_Q16_KERNELS(SFX, TGT, MADD2, MAXT, TCASES)                                           \
    TGT static inline __attribute__((always_inline)) void tile16_##SFX(                          \
        const int type, const int nt, const uint8_t *w, const fd__q16_block *const *xs,         \
        int64_t nb, float *out) {                                                               \
        const int kq = type == FD_GGML_Q4_K || type == FD_GGML_Q6_K;                            \
        const int bb = kq ? 0 : q_block_bytes(type);                                            \
        const uint8_t *w0 = w;                                                                  \
        __m256 acc[MAXT];                                                                       \
        float mins[MAXT] = {0};                                                                 \
        for (int j = 0; j < nt; j++) acc[j] = _mm256_setzero_ps();                              \
        for (int64_t i = 0; i < nb; i++, w += bb) {                                             \
            float dx = 0, mx = 0;                                                               \
            __m256i wl, wh;                                                                     \
            if (kq) {                                                                           \
                kq_int16(type, w0 + (i / 8) * kq_super_bytes(type), (int)(i % 8), &dx, &mx, &wl, &wh); \
            } else if (type == FD_GGML_Q8_0) {                                                  \
                dx = half(w);                                                                   \
                wl = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + 2)));           \
                wh = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + 18)));          \
            } else {                                                                            \
                dx = half(w);                                                                   \
                q_int16(type, w, dx, &mx, &wl, &wh);                                            \
            }                                                                                   \
            for (int j = 0; j < nt; j++) {                                                      \
                const fd__q16_block *b = &xs[j][i];                                             \
                __m256i xl = _mm256_loadu_si256((const __m256i *)b->q);                         \
                __m256i xh = _mm256_loadu_si256((const __m256i *)(b->q + 16));                  \
                __m256 p = _mm256_cvtepi32_ps(MADD2(wl, xl, wh, xh));                           \
                acc[j] = _mm256_fmadd_ps(p, _mm256_set1_ps(dx * b->d), acc[j]);                 \
                if (type == FD_GGML_Q4_0 || type == FD_GGML_Q4_1 || type == FD_GGML_Q4_K)      \
                    mins[j] += mx * b->s;                                                       \
            }                                                                                   \
        }                                                                                       \
        for (int j = 0; j < nt; j++) out[j] = hsum(acc[j]) + mins[j];                           \
    }                                                                                           \
    FD_ROWS_KERNEL(rows16_##SFX, TGT, tile16_##SFX, fd__q16_block, MAXT,                        \
                   TCASES(tile16_##SFX, FD_GGML_Q4_0) TCASES(tile16_##SFX, FD_GGML_Q4_1)        \
                   TCASES(tile16_##SFX, FD_GGML_Q5_0) TCASES(tile16_##SFX, FD_GGML_Q8_0)        \
                   TCASES(tile16_##SFX, FD_GGML_Q4_K) TCASES(tile16_##SFX, FD_GGML_Q6_K))

FD_Q16_KERNELS(avx2, FD_AVX2, MADD2_AVX2, 4, FD_TILE_CASES)  // 16 ymm registers
FD_Q16_KERNELS(vnni, FD_VNNI, MADD2_VNNI, 8, FD_TILE_CASES8)

// K-quants against activations quantized with one scale per 256 values
// (quantize_q16 group 8, aligned with the super-blocks): the sub-blocks'
// integer products add up in int32 and one FMA per super-block applies both
// scales, instead of a conversion and an FMA per 32 values. Bounds: Q4_K
// |q sc| <= 945, so a lane's 32 products of at most 945 * 32767 stay below
// 2^31; Q6_K |(q - 32) sc| <= 4064, flushed to float every 2 sub-blocks (8
// products a lane).
#define ACC2_AVX2(acc, a, b, c, d) _mm256_add_epi32((acc), MADD2_AVX2(a, b, c, d))
#define ACC2_VNNI(acc, a, b, c, d) _mm256_dpwssd_epi32(_mm256_dpwssd_epi32((acc), (a), (b)), (c), (d))
#define FD_Q16K_KERNELS(SFX, TGT, ACC2, MAXT, TCASES)                                          \
    TGT static inline __attribute__((always_inline)) void tile16k_##SFX(                          \
        const int type, const int nt, const uint8_t *w, const fd__q16_block *const *xs,         \
        int64_t nb, float *out) {                                                               \
        const int q4 = type == FD_GGML_Q4_K, run = q4 ? 8 : 2; /* sub-blocks per int32 run */   \
        __m256 acc[MAXT];                                                                       \
        __m256i isum[MAXT];                                                                     \
        float mins[MAXT] = {0};                                                                 \
        for (int j = 0; j < nt; j++) acc[j] = _mm256_setzero_ps(), isum[j] = _mm256_setzero_si256(); \
        for (int64_t i = 0; i < nb; i += 8, w += kq_super_bytes(type)) {                        \
            for (int sub = 0; sub < 8; sub++) {                                                 \
                float dx = 0, mx = 0;                                                           \
                __m256i wl, wh;                                                                 \
                kq_int16(type, w, sub, &dx, &mx, &wl, &wh);                                     \
                for (int j = 0; j < nt; j++) {                                                  \
                    const fd__q16_block *b = &xs[j][i + sub];                                   \
                    if (sub % run == 0) isum[j] = _mm256_setzero_si256();                       \
                    isum[j] = ACC2(isum[j], wl, _mm256_loadu_si256((const __m256i *)b->q), wh,   \
                                   _mm256_loadu_si256((const __m256i *)(b->q + 16)));           \
                    if (q4) mins[j] += mx * b->s;                                               \
                    if (sub % run == run - 1)                                                   \
                        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]),                   \
                                                 _mm256_set1_ps(dx * b->d), acc[j]);            \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
        for (int j = 0; j < nt; j++) out[j] = hsum(acc[j]) + mins[j];                           \
    }                                                                                           \
    FD_ROWS_KERNEL(rows16k_##SFX, TGT, tile16k_##SFX, fd__q16_block, MAXT,                      \
                   TCASES(tile16k_##SFX, FD_GGML_Q4_K) TCASES(tile16k_##SFX, FD_GGML_Q6_K))

FD_Q16K_KERNELS(avx2, FD_AVX2, ACC2_AVX2, 4, FD_TILE_CASES)
FD_Q16K_KERNELS(vnni, FD_VNNI, ACC2_VNNI, 8, FD_TILE_CASES8)

static int has_vnni(void) {
    static int cached = -1;  // benign race: every thread computes the same value
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
                 !getenv("FDEPLOY_NO_VNNI");
    }
    return cached;
}

int fd__quant_q8_supported(fd_ggml_type t, int64_t k) {
    return (t == FD_GGML_Q4_0 || t == FD_GGML_Q4_1 || t == FD_GGML_Q5_0 || t == FD_GGML_Q8_0) &&
           k % 32 == 0 && fd__quant_has_avx2();
}

int fd__quant_q16_supported(fd_ggml_type t, int64_t k) {
    if (t == FD_GGML_Q4_K || t == FD_GGML_Q6_K) return k % 256 == 0 && fd__quant_has_avx2();
    return fd__quant_q8_supported(t, k);
}

void fd__quantize_row_q8(const float *x, int64_t n, fd__q8_block *out) { quantize_q8(x, n, out); }

void fd__matmul_rows_q8(fd_ggml_type t, const void *w, int64_t k, const fd__q8_block *xq, int n_tok,
                        float *y, int64_t ldy, int64_t r0, int64_t r1) {
    size_t rb = fd__row_bytes(t, k);
    if (has_vnni())
        rows_vnni(t, w, rb, k / 32, xq, n_tok, y, ldy, r0, r1);
    else
        rows_avx2(t, w, rb, k / 32, xq, n_tok, y, ldy, r0, r1);
}

void fd__quantize_row_q16(const float *x, int64_t n, fd__q16_block *out, int group) {
    FD_ASSERT((group == 1 || group == 8) && n % (32 * group) == 0);
    quantize_q16(x, n, out, group);
}

void fd__matmul_rows_q16(fd_ggml_type t, const void *w, int64_t k, const fd__q16_block *xq, int n_tok,
                         float *y, int64_t ldy, int64_t r0, int64_t r1, int group) {
    size_t rb = fd__row_bytes(t, k);
    if (group == 8 && (t == FD_GGML_Q4_K || t == FD_GGML_Q6_K)) {
        if (has_vnni())
            rows16k_vnni(t, w, rb, k / 32, xq, n_tok, y, ldy, r0, r1);
        else
            rows16k_avx2(t, w, rb, k / 32, xq, n_tok, y, ldy, r0, r1);
    } else if (has_vnni())
        rows16_vnni(t, w, rb, k / 32, xq, n_tok, y, ldy, r0, r1);
    else
        rows16_avx2(t, w, rb, k / 32, xq, n_tok, y, ldy, r0, r1);
}

int fd__quant_has_avx2(void) {
    static int cached = -1;
    if (cached >= 0) return cached;
    __builtin_cpu_init();
    cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    return cached;
}

int fd__dot_quant_avx2(fd_ggml_type t, const void *row, const float *x, int64_t n, float *out) {
    switch (t) {
    case FD_GGML_Q4_1: *out = dot_q4_1(row, x, n); return 1;
    case FD_GGML_Q4_0: *out = dot_q4_0(row, x, n); return 1;
    case FD_GGML_Q5_0: *out = dot_q5_0(row, x, n); return 1;
    case FD_GGML_Q8_0: *out = dot_q8_0(row, x, n); return 1;
    default: return 0;
    }
}

#else
int fd__quant_has_avx2(void) { return 0; }
int fd__quant_q8_supported(fd_ggml_type t, int64_t k) {
    (void)t; (void)k;
    return 0;
}
int fd__quant_q16_supported(fd_ggml_type t, int64_t k) {
    (void)t; (void)k;
    return 0;
}
void fd__quantize_row_q8(const float *x, int64_t n, fd__q8_block *out) {
    (void)x; (void)n; (void)out;
    FD_ASSERT(!"no integer kernels on this CPU");
}
void fd__matmul_rows_q8(fd_ggml_type t, const void *w, int64_t k, const fd__q8_block *xq, int n_tok,
                        float *y, int64_t ldy, int64_t r0, int64_t r1) {
    (void)t; (void)w; (void)k; (void)xq; (void)n_tok; (void)y; (void)ldy; (void)r0; (void)r1;
    FD_ASSERT(!"no integer kernels on this CPU");
}
void fd__quantize_row_q16(const float *x, int64_t n, fd__q16_block *out, int group) {
    (void)x; (void)n; (void)out; (void)group;
    FD_ASSERT(!"no integer kernels on this CPU");
}
void fd__matmul_rows_q16(fd_ggml_type t, const void *w, int64_t k, const fd__q16_block *xq, int n_tok,
                         float *y, int64_t ldy, int64_t r0, int64_t r1, int group) {
    (void)t; (void)w; (void)k; (void)xq; (void)n_tok; (void)y; (void)ldy; (void)r0; (void)r1;
    (void)group;
    FD_ASSERT(!"no integer kernels on this CPU");
}
int fd__dot_quant_avx2(fd_ggml_type t, const void *row, const float *x, int64_t n, float *out) {
    (void)t; (void)row; (void)x; (void)n; (void)out;
    return 0;
}
#endif
