// SPDX-License-Identifier: Apache-2.0
// Shared by every kernel file: error reporting from kernels, grid sizing,
// and element load/store for the float dtypes.
#ifndef FD_OPS_CUDA_COMMON_CUH
#define FD_OPS_CUDA_COMMON_CUH

#include <cuda_fp16.h>
#include <stdint.h>

#include "core/internal.h"
#include "platform/launch.h"

// Named SM facts (FD_VARIANT_MIN_SM comes from CMake, per kernel file).
#define FD_SM_VOLTA 70
#define FD_SM_TURING 75
#define FD_SM_AMPERE 80
#define FD_SM_ADA 89
#define FD_SM_HOPPER 90

// Records the first bad input a kernel met; the kernel then skips the element.
static __device__ __forceinline__ void fd_kfail(int *err, int op, int kind, int a, int b) {
    if (atomicCAS(err, 0, op + 1) == 0) {
        err[1] = kind;
        err[2] = a;
        err[3] = b;
    }
}

static inline unsigned fd_blocks(int64_t n, int threads, unsigned cap = 65535u * 16u) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    return (unsigned)(b > (int64_t)cap ? cap : b);
}

// Float dtypes stored as f32, f16 (__half) or bf16 (raw bits: works on every
// arch, Volta has no bf16 instructions).
struct fd_bf16 { uint16_t bits; };

static __device__ __forceinline__ float fd_to_f32(float x) { return x; }
static __device__ __forceinline__ float fd_to_f32(__half x) { return __half2float(x); }
static __device__ __forceinline__ float fd_to_f32(fd_bf16 x) {
    return __uint_as_float((uint32_t)x.bits << 16);
}
template <typename T> static __device__ __forceinline__ T fd_from_f32(float x);
template <> __device__ __forceinline__ float fd_from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ __half fd_from_f32<__half>(float x) {
    return __float2half_rn(x);
}
template <> __device__ __forceinline__ fd_bf16 fd_from_f32<fd_bf16>(float x) {
    uint32_t u = __float_as_uint(x);
    fd_bf16 r;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        r.bits = (uint16_t)((u >> 16) | 0x40u);
    } else {
        u += 0x7fffu + ((u >> 16) & 1u);
        r.bits = (uint16_t)(u >> 16);
    }
    return r;
}

// Dispatches `body` with T bound to the element type of `dt`.
#define FD_DISPATCH_FLOAT(dt, ...)                                            \
    switch (dt) {                                                             \
    case FD_F32: { typedef float T; __VA_ARGS__; } break;                    \
    case FD_F16: { typedef __half T; __VA_ARGS__; } break;                   \
    case FD_BF16: { typedef fd_bf16 T; __VA_ARGS__; } break;                 \
    default: return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "dtype %s", fd_dtype_name(dt)); \
    }

#endif
