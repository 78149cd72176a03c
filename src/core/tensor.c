// SPDX-License-Identifier: Apache-2.0
// dtype facts, tensor views and their argument checks, half-precision conversion.
#include <stdio.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "core/internal.h"

const char *fd_dtype_name(fd_dtype d) {
    switch (d) {
#define FD_DTYPE_NAME_(name, text, size) case name: return text;
        FD_DTYPE_TABLE(FD_DTYPE_NAME_)
#undef FD_DTYPE_NAME_
    default: return "?";
    }
}

size_t fd_dtype_size(fd_dtype d) {
    switch (d) {
#define FD_DTYPE_SIZE_(name, text, size) case name: return size;
        FD_DTYPE_TABLE(FD_DTYPE_SIZE_)
#undef FD_DTYPE_SIZE_
    default: return 0;
    }
}

int64_t fd_tensor_numel(const fd_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->ne[i];
    return n;
}

size_t fd_tensor_bytes(const fd_tensor *t) {
    return (size_t)fd_tensor_numel(t) * fd_dtype_size(t->dtype);
}

fd_tensor fd_tensor_1d(void *data, fd_dtype dt, int64_t n0) {
    fd_tensor t = {data, dt, 1, {n0, 0, 0, 0}};
    return t;
}

fd_tensor fd_tensor_2d(void *data, fd_dtype dt, int64_t n0, int64_t n1) {
    fd_tensor t = {data, dt, 2, {n0, n1, 0, 0}};
    return t;
}

fd_tensor fd_tensor_3d(void *data, fd_dtype dt, int64_t n0, int64_t n1, int64_t n2) {
    fd_tensor t = {data, dt, 3, {n0, n1, n2, 0}};
    return t;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *ne) {
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && len < n; i++) {
        if (ne[i] < 0)
            len += (size_t)snprintf(buf + len, n - len, "%s*", i ? ", " : "");
        else
            len += (size_t)snprintf(buf + len, n - len, "%s%lld", i ? ", " : "",
                                    (long long)ne[i]);
    }
    if (len < n) snprintf(buf + len, n - len, "]");
}

fd_status fd__check_tensor(const char *op, const char *name, const fd_tensor *t,
                           int dt, int ndim, const int64_t *ne) {
    char want[96], got[96];
    if (!t) return fd__error(FD_ERR_INVALID_ARG, "%s: %s is NULL; pass a tensor", op, name);
    if (dt >= 0 && t->dtype != (fd_dtype)dt)
        return fd__error(FD_ERR_INVALID_ARG, "%s: %s has dtype %s, expected %s", op, name,
                         fd_dtype_name(t->dtype), fd_dtype_name((fd_dtype)dt));
    shape_str(want, sizeof want, ndim, ne);
    if (t->ndim < 0 || t->ndim > FD_MAX_DIMS)
        return fd__error(FD_ERR_INVALID_ARG, "%s: %s has %d dims, expected shape %s", op,
                         name, t->ndim, want);
    shape_str(got, sizeof got, t->ndim, t->ne);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->ne[i] >= 0 && (ne[i] < 0 || t->ne[i] == ne[i]);
    if (!ok)
        return fd__error(FD_ERR_INVALID_ARG, "%s: %s has shape %s, expected %s", op, name,
                         got, want);
    if (!t->data && fd_tensor_numel(t) > 0)
        return fd__error(FD_ERR_INVALID_ARG, "%s: %s has no data pointer", op, name);
    return FD_OK;
}

// ---- IEEE half and bfloat16, round to nearest even

uint16_t fd_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) return (uint16_t)(sign | (absx > 0x7f800000u ? 0x7e00u : 0x7c00u));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // overflows to inf
    if (absx < 0x38800000u) {  // subnormal or zero in f16
        if (absx < 0x33000000u) return (uint16_t)sign;
        uint32_t m = (absx & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(absx >> 23);  // value = m24 * 2^-24 >> shift
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((absx - 0x38000000u) >> 13);
    uint32_t rem = absx & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

float fd_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ffu, x;
    if (exp == 0) {
        if (man == 0) {
            x = sign;
        } else {
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400u));
            x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        x = sign | 0x7f800000u | (man << 13);
    } else {
        x = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

uint16_t fd_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);  // quiet NaN
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float fd_bf16_to_f32(uint16_t h) {
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

float fd__get_f(fd_dtype dt, const void *p, int64_t i) {
    switch (dt) {
    case FD_F16: return fd_f16_to_f32(((const uint16_t *)p)[i]);
    case FD_BF16: return fd_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
    }
}

void fd__set_f(fd_dtype dt, void *p, int64_t i, float v) {
    switch (dt) {
    case FD_F16: ((uint16_t *)p)[i] = fd_f32_to_f16(v); break;
    case FD_BF16: ((uint16_t *)p)[i] = fd_f32_to_bf16(v); break;
    default: ((float *)p)[i] = v; break;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx,f16c"))) static void f16_row_f16c(const uint16_t *in, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i))));
    for (; i < n; i++) out[i] = fd_f16_to_f32(in[i]);
}
#endif

void fd__f16_to_f32_row(const uint16_t *in, float *out, int64_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("f16c")) {
        f16_row_f16c(in, out, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) out[i] = fd_f16_to_f32(in[i]);
}
