// SPDX-License-Identifier: Apache-2.0
// GGUF reader: one validating pass over the header builds an index of keys,
// string arrays and tensors; values are then read in place from the mapping.
// Spec: ggml's docs/gguf.md (version 2 and 3; little-endian).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "fdeploy/gguf.h"

#define GGUF_MAX_KEY 65536u
#define GGUF_MAX_DIMS 4

typedef struct gguf_kv {
    const char *key;        // NUL-terminated copy
    fd_gguf_type type;
    const uint8_t *val;     // start of the value in the file
    fd_gguf_type elem;      // arrays: element type
    uint64_t n;             // arrays: element count
    uint64_t *str_off;      // string arrays: offset of each element's length field
} gguf_kv;

struct fd_gguf {
    const uint8_t *base;
    size_t size;
    int mapped;
    char name[256];
    uint32_t version;
    int64_t n_kv, n_tensors;
    gguf_kv *kv;
    fd_gguf_tensor *tensors;
    size_t data_offset;
};

typedef struct cursor {
    const uint8_t *p, *end;
    fd_gguf *g;
} cursor;

static fd_status truncated(const cursor *c, const char *what) {
    return fd__error(FD_ERR_FORMAT, "%s: file ends inside %s at offset %zu (size %zu); the file is truncated",
                     c->g->name, what, (size_t)(c->p - c->g->base), c->g->size);
}

static fd_status take(cursor *c, size_t n, const char *what, const uint8_t **out) {
    if ((size_t)(c->end - c->p) < n) return truncated(c, what);
    *out = c->p;
    c->p += n;
    return FD_OK;
}

static fd_status rd_u32(cursor *c, const char *what, uint32_t *v) {
    const uint8_t *p = NULL;
    FD_TRY(take(c, 4, what, &p));
    memcpy(v, p, 4);
    return FD_OK;
}

static fd_status rd_u64(cursor *c, const char *what, uint64_t *v) {
    const uint8_t *p = NULL;
    FD_TRY(take(c, 8, what, &p));
    memcpy(v, p, 8);
    return FD_OK;
}

// A GGUF string: u64 length + bytes. Returns a pointer into the file.
static fd_status rd_str(cursor *c, const char *what, const char **s, uint64_t *len) {
    FD_TRY(rd_u64(c, what, len));
    const uint8_t *p = NULL;
    FD_TRY(take(c, (size_t)*len, what, &p));
    if (*len > c->g->size) return truncated(c, what);
    *s = (const char *)p;
    return FD_OK;
}

static size_t scalar_size(fd_gguf_type t) {
    switch (t) {
    case FD_GGUF_U8: case FD_GGUF_I8: case FD_GGUF_BOOL: return 1;
    case FD_GGUF_U16: case FD_GGUF_I16: return 2;
    case FD_GGUF_U32: case FD_GGUF_I32: case FD_GGUF_F32: return 4;
    case FD_GGUF_U64: case FD_GGUF_I64: case FD_GGUF_F64: return 8;
    default: return 0;
    }
}

static char *dup_str(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static fd_status parse_array(cursor *c, gguf_kv *kv) {
    uint32_t et;
    FD_TRY(rd_u32(c, "an array type", &et));
    FD_TRY(rd_u64(c, "an array length", &kv->n));
    kv->elem = (fd_gguf_type)et;
    kv->val = c->p;
    size_t es = scalar_size(kv->elem);
    if (es) {
        const uint8_t *p = NULL;
        if (kv->n > c->g->size / es) return truncated(c, kv->key);
        return take(c, (size_t)(kv->n * es), kv->key, &p);
    }
    if (kv->elem != FD_GGUF_STRING)
        return fd__error(FD_ERR_FORMAT, "%s: key %s is an array of type %u; only scalar and string arrays are supported",
                         c->g->name, kv->key, et);
    if (kv->n > c->g->size / 8) return truncated(c, kv->key);
    kv->str_off = malloc((size_t)(kv->n ? kv->n : 1) * sizeof *kv->str_off);
    if (!kv->str_off) return fd__error(FD_ERR_OOM, "%s: out of memory indexing %s", c->g->name, kv->key);
    for (uint64_t i = 0; i < kv->n; i++) {
        const char *s;
        uint64_t len;
        kv->str_off[i] = (uint64_t)(c->p - c->g->base);
        FD_TRY(rd_str(c, kv->key, &s, &len));
    }
    return FD_OK;
}

static fd_status parse_kv(cursor *c, gguf_kv *kv) {
    const char *k;
    uint64_t klen;
    uint32_t t;
    FD_TRY(rd_str(c, "a metadata key", &k, &klen));
    if (klen == 0 || klen > GGUF_MAX_KEY)
        return fd__error(FD_ERR_FORMAT, "%s: metadata key of length %llu", c->g->name, (unsigned long long)klen);
    if (!(kv->key = dup_str(k, (size_t)klen))) return fd__error(FD_ERR_OOM, "%s: out of memory", c->g->name);
    FD_TRY(rd_u32(c, kv->key, &t));
    if (t >= FD_GGUF_TYPE_COUNT)
        return fd__error(FD_ERR_FORMAT, "%s: key %s has unknown value type %u", c->g->name, kv->key, t);
    kv->type = (fd_gguf_type)t;
    kv->val = c->p;
    if (kv->type == FD_GGUF_ARRAY) return parse_array(c, kv);
    if (kv->type == FD_GGUF_STRING) {
        const char *s;
        uint64_t len;
        return rd_str(c, kv->key, &s, &len);
    }
    const uint8_t *p = NULL;
    return take(c, scalar_size(kv->type), kv->key, &p);
}

int fd_ggml_block_elems(fd_ggml_type t) {
    switch (t) {
    case FD_GGML_F32: case FD_GGML_F16: case FD_GGML_BF16: return 1;
    case FD_GGML_Q4_0: case FD_GGML_Q4_1: case FD_GGML_Q5_0: case FD_GGML_Q8_0: return 32;
    case FD_GGML_Q4_K: case FD_GGML_Q6_K: return 256;
    default: return 0;
    }
}

size_t fd_ggml_block_bytes(fd_ggml_type t) {
    switch (t) {
    case FD_GGML_F32: return 4;
    case FD_GGML_F16: case FD_GGML_BF16: return 2;
    case FD_GGML_Q4_0: return 18;
    case FD_GGML_Q4_1: return 20;
    case FD_GGML_Q5_0: return 22;
    case FD_GGML_Q8_0: return 34;
    case FD_GGML_Q4_K: return 144;
    case FD_GGML_Q6_K: return 210;
    default: return 0;
    }
}

const char *fd_ggml_type_name(fd_ggml_type t) {
    switch (t) {
    case FD_GGML_F32: return "F32";
    case FD_GGML_F16: return "F16";
    case FD_GGML_BF16: return "BF16";
    case FD_GGML_Q4_0: return "Q4_0";
    case FD_GGML_Q4_1: return "Q4_1";
    case FD_GGML_Q5_0: return "Q5_0";
    case FD_GGML_Q8_0: return "Q8_0";
    case FD_GGML_Q4_K: return "Q4_K";
    case FD_GGML_Q6_K: return "Q6_K";
    default: return "unsupported";
    }
}

static fd_status parse_tensor_info(cursor *c, fd_gguf_tensor *t) {
    const char *name;
    uint64_t nlen, ne;
    uint32_t nd, type;
    FD_TRY(rd_str(c, "a tensor name", &name, &nlen));
    if (!(t->name = dup_str(name, (size_t)nlen))) return fd__error(FD_ERR_OOM, "%s: out of memory", c->g->name);
    FD_TRY(rd_u32(c, t->name, &nd));
    if (nd == 0 || nd > GGUF_MAX_DIMS)
        return fd__error(FD_ERR_FORMAT, "%s: tensor %s has %u dims (1..4 allowed)", c->g->name, t->name, nd);
    t->n_dims = (int)nd;
    uint64_t total = 1;
    for (int d = 0; d < 4; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        FD_TRY(rd_u64(c, t->name, &ne));
        if (ne == 0 || ne > (1ull << 40) || total > (1ull << 48) / ne)
            return fd__error(FD_ERR_FORMAT, "%s: tensor %s has a bad dimension %llu", c->g->name, t->name, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
        total *= ne;
    }
    FD_TRY(rd_u32(c, t->name, &type));
    t->type = (fd_ggml_type)type;
    FD_TRY(rd_u64(c, t->name, &t->offset));
    int be = fd_ggml_block_elems(t->type);
    if (!be)
        return fd__error(FD_ERR_FORMAT, "%s: tensor %s has ggml type %u, which fdeploy does not read (supported: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q8_0 Q4_K Q6_K)",
                         c->g->name, t->name, type);
    if (t->ne[0] % be)
        return fd__error(FD_ERR_FORMAT, "%s: tensor %s row of %lld is not a multiple of the %s block (%d)",
                         c->g->name, t->name, (long long)t->ne[0], fd_ggml_type_name(t->type), be);
    t->bytes = (size_t)(total / (uint64_t)be) * fd_ggml_block_bytes(t->type);
    return FD_OK;
}

static fd_status check_tensor_data(fd_gguf *g, size_t align) {
    for (int64_t i = 0; i < g->n_tensors; i++) {
        fd_gguf_tensor *t = &g->tensors[i];
        if (t->offset % align)
            return fd__error(FD_ERR_FORMAT, "%s: tensor %s offset %llu is not aligned to %zu",
                             g->name, t->name, (unsigned long long)t->offset, align);
        size_t avail = g->size - g->data_offset;
        if (t->offset > avail || t->bytes > avail - t->offset)
            return fd__error(FD_ERR_FORMAT, "%s: tensor %s extends past end of file (offset %zu + %zu bytes > size %zu); the file is truncated",
                             g->name, t->name, (size_t)(g->data_offset + t->offset), t->bytes, g->size);
        t->data = g->base + g->data_offset + t->offset;
    }
    return FD_OK;
}

static fd_status parse(fd_gguf *g) {
    cursor c = {g->base, g->base + g->size, g};
    const uint8_t *magic = NULL;
    uint64_t n_tensors, n_kv;
    FD_TRY(take(&c, 4, "the magic", &magic));
    if (memcmp(magic, "GGUF", 4) != 0)
        return fd__error(FD_ERR_FORMAT, "%s: not a GGUF file (magic %02x %02x %02x %02x, expected \"GGUF\")",
                         g->name, magic[0], magic[1], magic[2], magic[3]);
    FD_TRY(rd_u32(&c, "the version", &g->version));
    if (g->version < 2 || g->version > 3)
        return fd__error(FD_ERR_FORMAT, "%s: GGUF version %u is not supported (2 and 3 are)", g->name, g->version);
    FD_TRY(rd_u64(&c, "the tensor count", &n_tensors));
    FD_TRY(rd_u64(&c, "the metadata count", &n_kv));
    if (n_tensors > g->size / 24 || n_kv > g->size / 12)
        return fd__error(FD_ERR_FORMAT, "%s: header claims %llu tensors and %llu keys, more than the file can hold",
                         g->name, (unsigned long long)n_tensors, (unsigned long long)n_kv);
    g->kv = calloc((size_t)n_kv + 1, sizeof *g->kv);
    g->tensors = calloc((size_t)n_tensors + 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) return fd__error(FD_ERR_OOM, "%s: out of memory", g->name);
    for (g->n_kv = 0; g->n_kv < (int64_t)n_kv; g->n_kv++) FD_TRY(parse_kv(&c, &g->kv[g->n_kv]));
    for (g->n_tensors = 0; g->n_tensors < (int64_t)n_tensors; g->n_tensors++)
        FD_TRY(parse_tensor_info(&c, &g->tensors[g->n_tensors]));
    int64_t align = 32;
    if (fd_gguf_get_int(g, "general.alignment", &align) && (align <= 0 || (align & (align - 1))))
        return fd__error(FD_ERR_FORMAT, "%s: general.alignment %lld is not a power of two", g->name, (long long)align);
    size_t off = (size_t)(c.p - g->base);
    g->data_offset = (off + (size_t)align - 1) / (size_t)align * (size_t)align;
    if (g->data_offset > g->size) g->data_offset = g->size;
    return check_tensor_data(g, (size_t)align);
}

static fd_status open_common(fd_gguf *g, fd_gguf **out) {
    fd_status s = parse(g);
    if (s != FD_OK) {
        fd_gguf_close(g);
        return s;
    }
    *out = g;
    return FD_OK;
}

fd_status fd_gguf_open_memory(const void *data, size_t size, const char *name, fd_gguf **out) {
    fd_gguf *g = calloc(1, sizeof *g);
    if (!g) return fd__error(FD_ERR_OOM, "gguf: out of memory");
    g->base = data;
    g->size = size;
    snprintf(g->name, sizeof g->name, "%s", name ? name : "(memory)");
    return open_common(g, out);
}

fd_status fd_gguf_open(const char *path, fd_gguf **out) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return fd__error(FD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        close(fd);
        return fd__error(FD_ERR_FORMAT, "%s: empty or unreadable file", path);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return fd__error(FD_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
    fd_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        munmap(m, (size_t)st.st_size);
        return fd__error(FD_ERR_OOM, "gguf: out of memory");
    }
    g->base = m;
    g->size = (size_t)st.st_size;
    g->mapped = 1;
    snprintf(g->name, sizeof g->name, "%s", path);
    return open_common(g, out);
}

void fd_gguf_close(fd_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; g->kv && i <= g->n_kv; i++) {
        free((void *)g->kv[i].key);
        free(g->kv[i].str_off);
    }
    for (int64_t i = 0; g->tensors && i <= g->n_tensors; i++) free((void *)g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    if (g->mapped) munmap((void *)g->base, g->size);
    free(g);
}

uint32_t fd_gguf_version(const fd_gguf *g) { return g->version; }
size_t fd_gguf_file_size(const fd_gguf *g) { return g->size; }
int64_t fd_gguf_n_kv(const fd_gguf *g) { return g->n_kv; }
const char *fd_gguf_key(const fd_gguf *g, int64_t i) { return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL; }
fd_gguf_type fd_gguf_kv_type(const fd_gguf *g, int64_t i) { return g->kv[i].type; }
int64_t fd_gguf_n_tensors(const fd_gguf *g) { return g->n_tensors; }

const fd_gguf_tensor *fd_gguf_tensor_at(const fd_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

int64_t fd_gguf_find(const fd_gguf *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key, key) == 0) return i;
    return -1;
}

const fd_gguf_tensor *fd_gguf_find_tensor(const fd_gguf *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

// Reads a numeric scalar of type t at p as int64 / double.
static int num_at(fd_gguf_type t, const uint8_t *p, int64_t *iv, double *fv) {
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            float f32; uint64_t u64; int64_t i64; double f64; } u;
    size_t n = scalar_size(t);
    if (!n) return 0;
    memcpy(&u, p, n);
    switch (t) {
    case FD_GGUF_U8: case FD_GGUF_BOOL: *iv = u.u8; break;
    case FD_GGUF_I8: *iv = u.i8; break;
    case FD_GGUF_U16: *iv = u.u16; break;
    case FD_GGUF_I16: *iv = u.i16; break;
    case FD_GGUF_U32: *iv = u.u32; break;
    case FD_GGUF_I32: *iv = u.i32; break;
    case FD_GGUF_U64: *iv = (int64_t)u.u64; break;
    case FD_GGUF_I64: *iv = u.i64; break;
    case FD_GGUF_F32: *fv = u.f32; *iv = (int64_t)u.f32; return 2;
    case FD_GGUF_F64: *fv = u.f64; *iv = (int64_t)u.f64; return 2;
    default: return 0;
    }
    *fv = (double)*iv;
    return 1;
}

int fd_gguf_get_int(const fd_gguf *g, const char *key, int64_t *v) {
    int64_t i = fd_gguf_find(g, key);
    double f;
    return i >= 0 && num_at(g->kv[i].type, g->kv[i].val, v, &f) == 1;
}

int fd_gguf_get_float(const fd_gguf *g, const char *key, double *v) {
    int64_t i = fd_gguf_find(g, key), iv;
    return i >= 0 && num_at(g->kv[i].type, g->kv[i].val, &iv, v) != 0;
}

int fd_gguf_get_str(const fd_gguf *g, const char *key, const char **s, size_t *len) {
    int64_t i = fd_gguf_find(g, key);
    if (i < 0 || g->kv[i].type != FD_GGUF_STRING) return 0;
    uint64_t n;
    memcpy(&n, g->kv[i].val, 8);
    *s = (const char *)g->kv[i].val + 8;
    *len = (size_t)n;
    return 1;
}

int fd_gguf_get_arr(const fd_gguf *g, const char *key, fd_gguf_type *elem, uint64_t *n,
                    const void **data) {
    int64_t i = fd_gguf_find(g, key);
    if (i < 0 || g->kv[i].type != FD_GGUF_ARRAY) return 0;
    *elem = g->kv[i].elem;
    *n = g->kv[i].n;
    if (data) *data = g->kv[i].elem == FD_GGUF_STRING ? NULL : g->kv[i].val;
    return 1;
}

int fd_gguf_arr_str(const fd_gguf *g, const char *key, uint64_t idx, const char **s,
                    size_t *len) {
    int64_t i = fd_gguf_find(g, key);
    if (i < 0 || g->kv[i].type != FD_GGUF_ARRAY || g->kv[i].elem != FD_GGUF_STRING ||
        idx >= g->kv[i].n)
        return 0;
    const uint8_t *p = g->base + g->kv[i].str_off[idx];
    uint64_t n;
    memcpy(&n, p, 8);
    *s = (const char *)p + 8;
    *len = (size_t)n;
    return 1;
}
