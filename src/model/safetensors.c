// SPDX-License-Identifier: Apache-2.0
// safetensors reader: the JSON header is parsed once (jansson) into a table of
// tensors in GGUF's description; data is read in place from the mapping.
// Spec: https://github.com/huggingface/safetensors (README, "Format").
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "model/safetensors.h"

#define ST_MAX_HEADER (100u << 20)  // the reference implementation's limit
#define ST_MAX_DIMS 4

struct fd__st_file {
    const uint8_t *base;
    size_t size;
    int mapped;
    char name[256];
    json_t *root;              // owns the tensor names
    int64_t n_tensors;
    fd_gguf_tensor *tensors;
    size_t data_offset;        // 8 + header length
};

// ---- one tensor entry

static fd_status dtype_of(const fd__st_file *f, const char *tname, json_t *e, fd_ggml_type *type) {
    const char *dt = json_string_value(json_object_get(e, "dtype"));
    if (!dt) return fd__error(FD_ERR_FORMAT, "%s: tensor %s has no \"dtype\" string", f->name, tname);
    if (strcmp(dt, "F32") == 0) *type = FD_GGML_F32;
    else if (strcmp(dt, "F16") == 0) *type = FD_GGML_F16;
    else if (strcmp(dt, "BF16") == 0) *type = FD_GGML_BF16;
    else
        return fd__error(FD_ERR_FORMAT, "%s: tensor %s has dtype %.16s, which fdeploy does not read "
                         "(F32, F16, BF16 are); use an unquantized checkpoint", f->name, tname, dt);
    return FD_OK;
}

// shape (row-major, last dimension contiguous) -> ne in ggml order; *elems = product.
static fd_status shape_of(const fd__st_file *f, fd_gguf_tensor *t, json_t *e, uint64_t *elems) {
    json_t *shape = json_object_get(e, "shape");
    size_t nd = json_array_size(shape);
    if (!json_is_array(shape) || nd > ST_MAX_DIMS)
        return fd__error(FD_ERR_FORMAT, "%s: tensor %s: \"shape\" must be an array of at most %d sizes",
                         f->name, t->name, ST_MAX_DIMS);
    t->n_dims = (int)nd;
    for (int d = 0; d < 4; d++) t->ne[d] = 1;
    uint64_t total = 1;
    for (size_t d = 0; d < nd; d++) {
        json_t *v = json_array_get(shape, d);
        json_int_t n = json_integer_value(v);
        if (!json_is_integer(v) || n < 0 || n > (1ll << 40) || (n && total > (1ull << 48) / (uint64_t)n))
            return fd__error(FD_ERR_FORMAT, "%s: tensor %s has a bad size at shape[%zu]", f->name, t->name, d);
        t->ne[nd - 1 - d] = (int64_t)n;
        total *= (uint64_t)n;
    }
    *elems = total;
    return FD_OK;
}

static fd_status parse_tensor(fd__st_file *f, const char *key, json_t *e, fd_gguf_tensor *t) {
    t->name = key;
    if (!json_is_object(e)) return fd__error(FD_ERR_FORMAT, "%s: header entry %s is not an object", f->name, key);
    FD_TRY(dtype_of(f, key, e, &t->type));
    uint64_t elems = 0;
    FD_TRY(shape_of(f, t, e, &elems));
    json_t *off = json_object_get(e, "data_offsets");
    json_t *b = json_array_get(off, 0), *x = json_array_get(off, 1);
    if (json_array_size(off) != 2 || !json_is_integer(b) || !json_is_integer(x) || json_integer_value(b) < 0 ||
        json_integer_value(x) < json_integer_value(b))
        return fd__error(FD_ERR_FORMAT, "%s: tensor %s: \"data_offsets\" must be [begin, end] with 0 <= begin <= end",
                         f->name, key);
    uint64_t begin = (uint64_t)json_integer_value(b), end = (uint64_t)json_integer_value(x);
    size_t esize = fd_ggml_block_bytes(t->type);
    if (end - begin != elems * esize)
        return fd__error(FD_ERR_FORMAT, "%s: tensor %s has %llu %s elements (%llu bytes) but data_offsets span %llu bytes",
                         f->name, key, (unsigned long long)elems, fd_ggml_type_name(t->type),
                         (unsigned long long)(elems * esize), (unsigned long long)(end - begin));
    size_t avail = f->size - f->data_offset;
    if (end > avail)
        return fd__error(FD_ERR_FORMAT, "%s: tensor %s extends past end of file (offset %llu > size %zu); the file is truncated",
                         f->name, key, (unsigned long long)(f->data_offset + end), f->size);
    if ((f->data_offset + begin) % esize)
        return fd__error(FD_ERR_FORMAT, "%s: tensor %s at file offset %llu is not aligned to its %zu-byte elements; "
                         "re-save the file with the safetensors library", f->name, key,
                         (unsigned long long)(f->data_offset + begin), esize);
    t->offset = begin;
    t->bytes = (size_t)(end - begin);
    t->data = f->base + f->data_offset + begin;
    return FD_OK;
}

// ---- the whole header

static int by_offset(const void *a, const void *b) {
    const fd_gguf_tensor *x = *(const fd_gguf_tensor *const *)a, *y = *(const fd_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

// Two tensors sharing bytes would alias (and the spec forbids it).
static fd_status check_overlaps(fd__st_file *f) {
    if (f->n_tensors < 2) return FD_OK;
    const fd_gguf_tensor **v = malloc((size_t)f->n_tensors * sizeof *v);
    if (!v) return fd__error(FD_ERR_OOM, "%s: out of memory", f->name);
    for (int64_t i = 0; i < f->n_tensors; i++) v[i] = &f->tensors[i];
    qsort(v, (size_t)f->n_tensors, sizeof *v, by_offset);
    fd_status s = FD_OK;
    for (int64_t i = 1; i < f->n_tensors && s == FD_OK; i++)
        if (v[i]->offset < v[i - 1]->offset + v[i - 1]->bytes)
            s = fd__error(FD_ERR_FORMAT, "%s: tensors %s and %s overlap in the data section", f->name,
                          v[i - 1]->name, v[i]->name);
    free(v);
    return s;
}

static fd_status parse_header(fd__st_file *f) {
    uint64_t n;
    if (f->size < 8)
        return fd__error(FD_ERR_FORMAT, "%s: file of %zu bytes has no 8-byte header length; the file is truncated "
                         "or not safetensors", f->name, f->size);
    memcpy(&n, f->base, 8);  // little-endian, as every host fdeploy runs on
    if (n > f->size - 8)
        return fd__error(FD_ERR_FORMAT, "%s: header length %llu extends past the end of the file (size %zu); "
                         "the file is truncated or not safetensors", f->name, (unsigned long long)n, f->size);
    if (n < 2 || n > ST_MAX_HEADER)
        return fd__error(FD_ERR_FORMAT, "%s: header length %llu is outside [2, %u]; not a safetensors file",
                         f->name, (unsigned long long)n, ST_MAX_HEADER);
    f->data_offset = 8 + (size_t)n;
    json_error_t err;
    f->root = json_loadb((const char *)f->base + 8, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    if (!f->root)
        return fd__error(FD_ERR_FORMAT, "%s: header is not valid JSON (at byte %d: %s)", f->name, err.position, err.text);
    if (!json_is_object(f->root)) return fd__error(FD_ERR_FORMAT, "%s: header is not a JSON object", f->name);
    json_t *meta = json_object_get(f->root, "__metadata__");
    if (meta && !json_is_object(meta))
        return fd__error(FD_ERR_FORMAT, "%s: \"__metadata__\" is not an object", f->name);
    f->tensors = calloc(json_object_size(f->root) + 1, sizeof *f->tensors);
    if (!f->tensors) return fd__error(FD_ERR_OOM, "%s: out of memory", f->name);
    const char *key;
    json_t *e;
    json_object_foreach(f->root, key, e) {
        if (strcmp(key, "__metadata__") == 0) continue;
        FD_TRY(parse_tensor(f, key, e, &f->tensors[f->n_tensors]));
        f->n_tensors++;
    }
    return check_overlaps(f);
}

static fd_status open_common(fd__st_file *f, fd__st_file **out) {
    fd_status s = parse_header(f);
    if (s != FD_OK) {
        fd__st_close(f);
        return s;
    }
    *out = f;
    return FD_OK;
}

// ---- public

fd_status fd__st_open_memory(const void *data, size_t size, const char *name, fd__st_file **out) {
    fd__st_file *f = calloc(1, sizeof *f);
    if (!f) return fd__error(FD_ERR_OOM, "safetensors: out of memory");
    f->base = data;
    f->size = size;
    snprintf(f->name, sizeof f->name, "%s", name ? name : "(memory)");
    return open_common(f, out);
}

fd_status fd__st_open(const char *path, fd__st_file **out) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return fd__error(FD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fd__error(FD_ERR_FORMAT, "%s: empty or unreadable file", path);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return fd__error(FD_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
    fd__st_file *f = calloc(1, sizeof *f);
    if (!f) {
        munmap(m, (size_t)st.st_size);
        return fd__error(FD_ERR_OOM, "safetensors: out of memory");
    }
    f->base = m;
    f->size = (size_t)st.st_size;
    f->mapped = 1;
    snprintf(f->name, sizeof f->name, "%s", path);
    return open_common(f, out);
}

void fd__st_close(fd__st_file *f) {
    if (!f) return;
    free(f->tensors);
    json_decref(f->root);
    if (f->mapped) munmap((void *)f->base, f->size);
    free(f);
}

int64_t fd__st_n_tensors(const fd__st_file *f) { return f->n_tensors; }
const char *fd__st_name(const fd__st_file *f) { return f->name; }

const fd_gguf_tensor *fd__st_tensor_at(const fd__st_file *f, int64_t i) {
    return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const fd_gguf_tensor *fd__st_find(const fd__st_file *f, const char *name) {
    for (int64_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *fd__st_metadata(const fd__st_file *f, const char *key) {
    return json_string_value(json_object_get(json_object_get(f->root, "__metadata__"), key));
}
