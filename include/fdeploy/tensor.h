// SPDX-License-Identifier: Apache-2.0
// Data types and the tensor view every operator takes.
// A tensor is a borrowed view: fdeploy never frees `data`.
#ifndef FDEPLOY_TENSOR_H
#define FDEPLOY_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FD_DTYPE_TABLE(X)                                                     \
    X(FD_F32, "f32", 4)                                                       \
    X(FD_F16, "f16", 2)                                                       \
    X(FD_BF16, "bf16", 2)                                                     \
    X(FD_I8, "i8", 1)                                                         \
    X(FD_I32, "i32", 4)                                                       \
    X(FD_I64, "i64", 8)                                                       \
    X(FD_BOOL, "bool", 1)                                                     \
    X(FD_U8, "u8", 1)

typedef enum fd_dtype {
#define FD_DTYPE_ENUM_(name, text, size) name,
    FD_DTYPE_TABLE(FD_DTYPE_ENUM_)
#undef FD_DTYPE_ENUM_
    FD_DTYPE_COUNT
} fd_dtype;

// Bit set of dtypes, used by the op table.
#define FD_DT(d) (1u << (d))

const char *fd_dtype_name(fd_dtype d);
size_t fd_dtype_size(fd_dtype d);

#define FD_MAX_DIMS 4

// Row-major view: ne[0] is the outermost dimension, ne[ndim-1] is contiguous.
typedef struct fd_tensor {
    void *data;            // host pointer on a CPU context, device pointer on CUDA
    fd_dtype dtype;
    int ndim;              // 0 = scalar
    int64_t ne[FD_MAX_DIMS];
} fd_tensor;

// Number of elements (1 for a scalar).
int64_t fd_tensor_numel(const fd_tensor *t);
size_t fd_tensor_bytes(const fd_tensor *t);

// Convenience constructors (no allocation).
fd_tensor fd_tensor_1d(void *data, fd_dtype dt, int64_t n0);
fd_tensor fd_tensor_2d(void *data, fd_dtype dt, int64_t n0, int64_t n1);
fd_tensor fd_tensor_3d(void *data, fd_dtype dt, int64_t n0, int64_t n1, int64_t n2);

// Host-side scalar conversions (round to nearest even).
uint16_t fd_f32_to_f16(float f);
float fd_f16_to_f32(uint16_t h);
uint16_t fd_f32_to_bf16(float f);
float fd_bf16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif
