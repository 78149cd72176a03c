// SPDX-License-Identifier: Apache-2.0
// AVX2+FMA dot products of quantized weight rows (Q4_0, Q4_1, Q8_0) with f32
// activations, without materializing the dequantized row: the decode path.
// Compiled for any x86-64 with a target attribute; used only when the CPU
// reports AVX2 and FMA at run time (fd__quant_has_avx2).
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

// Sum of q[i] * x[i] for the 32 4-bit values of a Q4 block (before scale/offset);
// also returns the sum of x in *xs.
FD_AVX2 static inline __m256 q4_block(const uint8_t *qs, const float *x, __m256 *xs) {
    const __m128i mask = _mm_set1_epi8(0x0f);
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m128i lo = _mm_and_si128(raw, mask), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
    __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8);
    __m256 x2 = _mm256_loadu_ps(x + 16), x3 = _mm256_loadu_ps(x + 24);
    __m256 acc = _mm256_mul_ps(cvt8(lo), x0);
    acc = _mm256_fmadd_ps(cvt8(_mm_srli_si128(lo, 8)), x1, acc);
    acc = _mm256_fmadd_ps(cvt8(hi), x2, acc);
    acc = _mm256_fmadd_ps(cvt8(_mm_srli_si128(hi, 8)), x3, acc);
    *xs = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
    return acc;
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

int fd__quant_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
}

int fd__dot_quant_avx2(fd_ggml_type t, const void *row, const float *x, int64_t n, float *out) {
    switch (t) {
    case FD_GGML_Q4_1: *out = dot_q4_1(row, x, n); return 1;
    case FD_GGML_Q4_0: *out = dot_q4_0(row, x, n); return 1;
    case FD_GGML_Q8_0: *out = dot_q8_0(row, x, n); return 1;
    default: return 0;
    }
}

#else
int fd__quant_has_avx2(void) { return 0; }
int fd__dot_quant_avx2(fd_ggml_type t, const void *row, const float *x, int64_t n, float *out) {
    (void)t; (void)row; (void)x; (void)n; (void)out;
    return 0;
}
#endif
