// SPDX-License-Identifier: Apache-2.0
// Device dequantization of the GGUF block formats, shared by gguf_matmul and
// gguf_get_rows. Matches src/ops/quant_cpu.c (fd__dequant_row) value for value
// (same products in the same order; Q4_1/Q4_K may differ by one FMA rounding).
//
// Unit of work: a "piece" = 8 consecutive weights of a 32-element unit. For the
// 32-element formats (Q4_0, Q4_1, Q5_0, Q8_0) the unit is a block; for the K-quants
// (Q4_K, Q6_K: 256-element super-blocks) it is sub-block `u` (0..7); for the float
// types it is 32 elements starting at `b`. Only 2-byte loads touch quantized
// blocks (block sizes 18/20/22/34/144/210 bytes keep only 2-byte alignment).
// Integer -> float uses the 2^23 magic number (one LOP + one FADD, full rate)
// instead of I2F, which runs at a quarter rate and would bound the decode GEMV.
#ifndef FD_OPS_CUDA_GGUF_DEQUANT_CUH
#define FD_OPS_CUDA_GGUF_DEQUANT_CUH

#include "fdeploy/gguf.h"
#include "ops/cuda/common.cuh"

// Block geometry per ggml type (values of fd_ggml_type).
template <int TY> struct gq_traits;
template <> struct gq_traits<FD_GGML_F32> { enum { BE = 1, BB = 4, FLT = 1 }; };
template <> struct gq_traits<FD_GGML_F16> { enum { BE = 1, BB = 2, FLT = 1 }; };
template <> struct gq_traits<FD_GGML_BF16> { enum { BE = 1, BB = 2, FLT = 1 }; };
template <> struct gq_traits<FD_GGML_Q4_0> { enum { BE = 32, BB = 18, FLT = 0 }; };
template <> struct gq_traits<FD_GGML_Q4_1> { enum { BE = 32, BB = 20, FLT = 0 }; };
template <> struct gq_traits<FD_GGML_Q5_0> { enum { BE = 32, BB = 22, FLT = 0 }; };
template <> struct gq_traits<FD_GGML_Q8_0> { enum { BE = 32, BB = 34, FLT = 0 }; };
template <> struct gq_traits<FD_GGML_Q4_K> { enum { BE = 256, BB = 144, FLT = 0 }; };
template <> struct gq_traits<FD_GGML_Q6_K> { enum { BE = 256, BB = 210, FLT = 0 }; };

// Calls `body` with the constant TY bound to the ggml type `t`.
#define GQ_DISPATCH_TYPE(t, ...)                                               \
    switch (t) {                                                               \
    case FD_GGML_F32: { constexpr int TY = FD_GGML_F32; __VA_ARGS__; } break;  \
    case FD_GGML_F16: { constexpr int TY = FD_GGML_F16; __VA_ARGS__; } break;  \
    case FD_GGML_BF16: { constexpr int TY = FD_GGML_BF16; __VA_ARGS__; } break; \
    case FD_GGML_Q4_0: { constexpr int TY = FD_GGML_Q4_0; __VA_ARGS__; } break; \
    case FD_GGML_Q4_1: { constexpr int TY = FD_GGML_Q4_1; __VA_ARGS__; } break; \
    case FD_GGML_Q5_0: { constexpr int TY = FD_GGML_Q5_0; __VA_ARGS__; } break; \
    case FD_GGML_Q8_0: { constexpr int TY = FD_GGML_Q8_0; __VA_ARGS__; } break; \
    case FD_GGML_Q4_K: { constexpr int TY = FD_GGML_Q4_K; __VA_ARGS__; } break; \
    case FD_GGML_Q6_K: { constexpr int TY = FD_GGML_Q6_K; __VA_ARGS__; } break; \
    default: return fd__error(FD_ERR_INTERNAL, "ggml type %d reached a kernel", (int)(t)); \
    }

// Exact float of an integer q in [0, 2^23) minus `off` (a float holding an integer).
static __device__ __forceinline__ float gq_i2f(uint32_t q, float off) {
    return __uint_as_float(0x4B000000u | q) - (8388608.0f + off);
}
static __device__ __forceinline__ uint32_t gq_u16(const uint8_t *p) {
    return *(const uint16_t *)p;
}
static __device__ __forceinline__ float gq_h(const uint8_t *p) {
    return __half2float(__ushort_as_half((unsigned short)gq_u16(p)));
}
// 8 bytes at a 2-byte aligned p as two little-endian words.
static __device__ __forceinline__ void gq_bytes8(const uint8_t *p, uint32_t w[2]) {
    w[0] = gq_u16(p) | (gq_u16(p + 2) << 16);
    w[1] = gq_u16(p + 4) | (gq_u16(p + 6) << 16);
}
static __device__ __forceinline__ uint32_t gq_byte(const uint32_t w[2], int e) {
    return (w[e >> 2] >> (8 * (e & 3))) & 0xffu;
}

// 6-bit scale and min of sub-block j of a Q4_K super-block (ggml's get_scale_min_k4).
static __device__ __forceinline__ void gq_k4_scale_min(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

// Piece p (weights 8p..8p+7) of unit u of the block at b, as floats.
template <int TY>
static __device__ __forceinline__ void gq_piece(const uint8_t *b, int u, int p, float w[8]) {
    uint32_t q[2];
    if constexpr (TY == FD_GGML_Q4_0) {
        const float d = gq_h(b);
        gq_bytes8(b + 2 + (p & 1) * 8, q);
        const int sh = (p >> 1) * 4;
#pragma unroll
        for (int e = 0; e < 8; e++) w[e] = d * gq_i2f((gq_byte(q, e) >> sh) & 0xf, 8.0f);
    } else if constexpr (TY == FD_GGML_Q4_1) {
        const float d = gq_h(b), m = gq_h(b + 2);
        gq_bytes8(b + 4 + (p & 1) * 8, q);
        const int sh = (p >> 1) * 4;
#pragma unroll
        for (int e = 0; e < 8; e++) w[e] = d * gq_i2f((gq_byte(q, e) >> sh) & 0xf, 0.0f) + m;
    } else if constexpr (TY == FD_GGML_Q5_0) {
        // qh (bytes 2..5) holds bit 4 of weight j at bit j; piece p covers weights 8p..8p+7
        const float d = gq_h(b);
        const uint32_t hb = (gq_u16(b + 2) | (gq_u16(b + 4) << 16)) >> (p * 8);
        gq_bytes8(b + 6 + (p & 1) * 8, q);
        const int sh = (p >> 1) * 4;
#pragma unroll
        for (int e = 0; e < 8; e++)
            w[e] = d * gq_i2f(((gq_byte(q, e) >> sh) & 0xf) | (((hb >> e) & 1) << 4), 16.0f);
    } else if constexpr (TY == FD_GGML_Q8_0) {
        const float d = gq_h(b);
        gq_bytes8(b + 2 + p * 8, q);
#pragma unroll
        for (int e = 0; e < 8; e++) w[e] = d * gq_i2f(gq_byte(q, e) ^ 0x80u, 128.0f);
    } else if constexpr (TY == FD_GGML_Q4_K) {
        int sc, mn;
        gq_k4_scale_min(u, b + 4, &sc, &mn);
        const float d1 = gq_h(b) * (float)sc, m1 = gq_h(b + 2) * (float)mn;
        gq_bytes8(b + 16 + (u >> 1) * 32 + p * 8, q);
        const int sh = (u & 1) * 4;
#pragma unroll
        for (int e = 0; e < 8; e++) w[e] = d1 * gq_i2f((gq_byte(q, e) >> sh) & 0xf, 0.0f) - m1;
    } else if constexpr (TY == FD_GGML_Q6_K) {
        const int n = u >> 2, grp = u & 3, l0 = p * 8;
        const float ds = gq_h(b + 208) * (float)(int8_t)b[192 + n * 8 + (l0 >> 4) + 2 * grp];
        uint32_t h[2];
        gq_bytes8(b + n * 64 + (grp & 1) * 32 + l0, q);
        gq_bytes8(b + 128 + n * 32 + l0, h);
        const int sl = (grp >> 1) * 4, shh = 2 * grp;
#pragma unroll
        for (int e = 0; e < 8; e++) {
            uint32_t v = ((gq_byte(q, e) >> sl) & 0xf) | (((gq_byte(h, e) >> shh) & 3) << 4);
            w[e] = ds * gq_i2f(v, 32.0f);
        }
    } else if constexpr (TY == FD_GGML_F32) {
        const float *f = (const float *)b + p * 8;
        if (((uintptr_t)f & 15) == 0) {
            float4 a = *(const float4 *)f, c = *(const float4 *)(f + 4);
            w[0] = a.x; w[1] = a.y; w[2] = a.z; w[3] = a.w;
            w[4] = c.x; w[5] = c.y; w[6] = c.z; w[7] = c.w;
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++) w[e] = f[e];
        }
    } else {  // F16, BF16
        const uint16_t *h = (const uint16_t *)b + p * 8;
        uint16_t v[8];
        if (((uintptr_t)h & 15) == 0) {
            uint4 t = *(const uint4 *)h;
            memcpy(v, &t, sizeof t);
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++) v[e] = h[e];
        }
#pragma unroll
        for (int e = 0; e < 8; e++)
            w[e] = TY == FD_GGML_F16 ? __half2float(__ushort_as_half(v[e]))
                                     : __uint_as_float((uint32_t)v[e] << 16);
    }
}

// Block pointer and unit of the 32-element unit starting at element k of a row.
template <int TY>
static __device__ __forceinline__ const uint8_t *gq_unit(const uint8_t *row, int64_t k, int *u) {
    typedef gq_traits<TY> G;
    *u = (int)((k % G::BE) / 32);
    return row + (k / G::BE) * G::BB;
}

#endif
