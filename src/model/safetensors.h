// SPDX-License-Identifier: Apache-2.0
// safetensors (Hugging Face's weight file): an 8-byte little-endian header length,
// a JSON header {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
// "__metadata__": {...}}, then the data section. Mapped read-only and validated
// before use like GGUF: header bounds, JSON, dtypes, sizes, offsets, overlaps,
// alignment. A truncated or hostile file gives an error naming what is wrong.
#ifndef FD_MODEL_SAFETENSORS_H
#define FD_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "fdeploy/gguf.h"
#include "fdeploy/status.h"

typedef struct fd__st_file fd__st_file;

// Tensors are described with GGUF's struct: `name` is the safetensors name, `type`
// is FD_GGML_F32/F16/BF16, `ne` is in ggml order (ne[0] = the last, contiguous
// safetensors dimension; a [out, in] weight has ne[0] = in, ne[1] = out), `offset`
// counts from the start of the data section and `data` points into the mapping.
// A 0-d (scalar) tensor has n_dims 0 and ne all 1.

// Maps and validates `path`. The file stays mapped until fd__st_close.
fd_status fd__st_open(const char *path, fd__st_file **out);
// Validates an in-memory image (tests); `data` must outlive the handle.
fd_status fd__st_open_memory(const void *data, size_t size, const char *name, fd__st_file **out);
void fd__st_close(fd__st_file *f);

int64_t fd__st_n_tensors(const fd__st_file *f);
const fd_gguf_tensor *fd__st_tensor_at(const fd__st_file *f, int64_t i);
// NULL if `name` is not in the file.
const fd_gguf_tensor *fd__st_find(const fd__st_file *f, const char *name);
// A string from "__metadata__", NULL if missing (borrowed).
const char *fd__st_metadata(const fd__st_file *f, const char *key);
const char *fd__st_name(const fd__st_file *f);

#endif
