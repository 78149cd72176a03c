// SPDX-License-Identifier: Apache-2.0
// GGUF (llama.cpp's model file format): mapped read-only and validated before
// use — magic, version, every length, tensor bounds, alignment, sizes, types.
// A truncated or hostile file gives an error naming what is wrong, never a crash.
#ifndef FDEPLOY_GGUF_H
#define FDEPLOY_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include "fdeploy/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fd_gguf_type {
    FD_GGUF_U8 = 0, FD_GGUF_I8, FD_GGUF_U16, FD_GGUF_I16, FD_GGUF_U32, FD_GGUF_I32,
    FD_GGUF_F32, FD_GGUF_BOOL, FD_GGUF_STRING, FD_GGUF_ARRAY, FD_GGUF_U64, FD_GGUF_I64,
    FD_GGUF_F64, FD_GGUF_TYPE_COUNT
} fd_gguf_type;

// ggml tensor types fdeploy reads (values are GGUF's).
typedef enum fd_ggml_type {
    FD_GGML_F32 = 0, FD_GGML_F16 = 1, FD_GGML_Q4_0 = 2, FD_GGML_Q4_1 = 3,
    FD_GGML_Q5_0 = 6, FD_GGML_Q8_0 = 8, FD_GGML_Q4_K = 12, FD_GGML_Q6_K = 14, FD_GGML_BF16 = 30,
} fd_ggml_type;

typedef struct fd_gguf fd_gguf;

typedef struct fd_gguf_tensor {
    const char *name;          // NUL-terminated copy
    fd_ggml_type type;
    int n_dims;
    int64_t ne[4];             // ggml order: ne[0] is the contiguous (row) length
    uint64_t offset;           // from the start of the data section
    size_t bytes;
    const void *data;          // inside the mapping
} fd_gguf_tensor;

// Maps and validates `path`. The file stays mapped until fd_gguf_close.
fd_status fd_gguf_open(const char *path, fd_gguf **out);
// Validates an in-memory image (tests, fuzzing); `data` must outlive the handle.
fd_status fd_gguf_open_memory(const void *data, size_t size, const char *name, fd_gguf **out);
void fd_gguf_close(fd_gguf *g);

uint32_t fd_gguf_version(const fd_gguf *g);
size_t fd_gguf_file_size(const fd_gguf *g);

// ---- metadata. Getters return 0 when the key is missing or of another kind.
int64_t fd_gguf_n_kv(const fd_gguf *g);
const char *fd_gguf_key(const fd_gguf *g, int64_t i);
int64_t fd_gguf_find(const fd_gguf *g, const char *key);       // -1 if missing
fd_gguf_type fd_gguf_kv_type(const fd_gguf *g, int64_t i);
// Any integer or bool key, converted.
int fd_gguf_get_int(const fd_gguf *g, const char *key, int64_t *v);
int fd_gguf_get_float(const fd_gguf *g, const char *key, double *v);
// String (not NUL-terminated inside the file: use len).
int fd_gguf_get_str(const fd_gguf *g, const char *key, const char **s, size_t *len);
// Array: element type and count; numeric arrays also give the raw element pointer.
int fd_gguf_get_arr(const fd_gguf *g, const char *key, fd_gguf_type *elem, uint64_t *n,
                    const void **data);
// Element i of a string array.
int fd_gguf_arr_str(const fd_gguf *g, const char *key, uint64_t i, const char **s,
                    size_t *len);

// ---- tensors
int64_t fd_gguf_n_tensors(const fd_gguf *g);
const fd_gguf_tensor *fd_gguf_tensor_at(const fd_gguf *g, int64_t i);
const fd_gguf_tensor *fd_gguf_find_tensor(const fd_gguf *g, const char *name);

// Elements per block and bytes per block of a ggml type; 0 if unknown to fdeploy.
int fd_ggml_block_elems(fd_ggml_type t);
size_t fd_ggml_block_bytes(fd_ggml_type t);
const char *fd_ggml_type_name(fd_ggml_type t);

#ifdef __cplusplus
}
#endif
#endif
