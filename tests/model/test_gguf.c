// SPDX-License-Identifier: Apache-2.0
// GGUF reader: a file written here is read back; every truncation, a bad
// magic/version/type/offset is an error, never a crash; the default model loads.
#include <stdint.h>
#include <unistd.h>

#include "fd_test.h"
#include "fdeploy/gguf.h"

typedef struct wbuf { uint8_t b[4096]; size_t n; } wbuf;

static void put(wbuf *w, const void *p, size_t n) { memcpy(w->b + w->n, p, n); w->n += n; }
static void put_u32(wbuf *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(wbuf *w, uint64_t v) { put(w, &v, 8); }
static void put_str(wbuf *w, const char *s) { put_u64(w, strlen(s)); put(w, s, strlen(s)); }

// A small valid file: 3 keys (u32, string, string array) and two tensors.
static void make_file(wbuf *w, uint32_t version, uint32_t type1, uint64_t off1) {
    memset(w, 0, sizeof *w);
    put(w, "GGUF", 4);
    put_u32(w, version);
    put_u64(w, 2);  // tensors
    put_u64(w, 3);  // keys
    put_str(w, "llama.block_count"); put_u32(w, FD_GGUF_U32); put_u32(w, 30);
    put_str(w, "general.name"); put_u32(w, FD_GGUF_STRING); put_str(w, "tiny");
    put_str(w, "tokenizer.ggml.tokens"); put_u32(w, FD_GGUF_ARRAY); put_u32(w, FD_GGUF_STRING);
    put_u64(w, 2); put_str(w, "a"); put_str(w, "bc");
    put_str(w, "w.f32"); put_u32(w, 2); put_u64(w, 4); put_u64(w, 2); put_u32(w, FD_GGML_F32); put_u64(w, 0);
    put_str(w, "w.q8"); put_u32(w, 1); put_u64(w, 32); put_u32(w, type1); put_u64(w, off1);
    while (w->n % 32) w->b[w->n++] = 0;
    float f[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    put(w, f, sizeof f);
    while (w->n < 32 * ((w->n + 31) / 32)) w->b[w->n++] = 0;
    for (int i = 0; i < 34; i++) w->b[w->n++] = (uint8_t)i;  // one Q8_0 block
}

static void reads_back(void) {
    wbuf w;
    make_file(&w, 3, FD_GGML_Q8_0, 32);
    fd_gguf *g;
    CHECK_OK(fd_gguf_open_memory(w.b, w.n, "tiny.gguf", &g));
    if (!g) return;
    int64_t v;
    CHECK(fd_gguf_get_int(g, "llama.block_count", &v));
    CHECK_EQ_I64(v, 30);
    const char *s;
    size_t len;
    CHECK(fd_gguf_get_str(g, "general.name", &s, &len) && len == 4 && !memcmp(s, "tiny", 4));
    CHECK(fd_gguf_arr_str(g, "tokenizer.ggml.tokens", 1, &s, &len) && len == 2 && !memcmp(s, "bc", 2));
    CHECK(!fd_gguf_arr_str(g, "tokenizer.ggml.tokens", 2, &s, &len));
    CHECK(!fd_gguf_get_int(g, "missing", &v));
    const fd_gguf_tensor *t = fd_gguf_find_tensor(g, "w.f32");
    CHECK(t && t->ne[0] == 4 && t->ne[1] == 2 && t->bytes == 32);
    if (t) CHECK(((const float *)t->data)[7] == 8.0f);
    t = fd_gguf_find_tensor(g, "w.q8");
    CHECK(t && t->bytes == 34 && ((const uint8_t *)t->data)[33] == 33);
    fd_gguf_close(g);
}

// Q5_0 (ggml type 6, Gemma 3's attn_q/attn_k/ffn_gate/ffn_up) is read: 22 bytes
// per 32 weights; its neighbour Q5_1 (7) is still refused by name.
static void reads_q5_0(void) {
    wbuf w;
    make_file(&w, 3, FD_GGML_Q5_0, 32);
    fd_gguf *g;
    CHECK_OK(fd_gguf_open_memory(w.b, w.n, "q5.gguf", &g));
    if (!g) return;
    const fd_gguf_tensor *t = fd_gguf_find_tensor(g, "w.q8");
    CHECK(t && t->type == FD_GGML_Q5_0 && t->bytes == 22);
    CHECK_EQ_I64(fd_ggml_block_elems(FD_GGML_Q5_0), 32);
    CHECK_EQ_I64((int64_t)fd_ggml_block_bytes(FD_GGML_Q5_0), 22);
    CHECK(strcmp(fd_ggml_type_name(FD_GGML_Q5_0), "Q5_0") == 0);
    fd_gguf_close(g);
    make_file(&w, 3, 7, 32);
    CHECK_STATUS(fd_gguf_open_memory(w.b, w.n, "q5_1.gguf", &g), FD_ERR_FORMAT);
    CHECK_CONTAINS(fd_last_error(), "ggml type 7");
}

// Every prefix of a valid file is refused with a message, never read past.
static void every_truncation_is_an_error(void) {
    wbuf w;
    make_file(&w, 3, FD_GGML_Q8_0, 32);
    for (size_t n = 0; n < w.n; n++) {
        uint8_t *copy = malloc(n ? n : 1);  // exact size: ASan catches any over-read
        memcpy(copy, w.b, n);
        fd_gguf *g = NULL;
        fd_status s = fd_gguf_open_memory(copy, n, "cut.gguf", &g);
        if (s == FD_OK) {
            FD_FAILF("prefix of %zu bytes accepted", n);
            fd_gguf_close(g);
        }
        free(copy);
    }
}

static void hostile_headers(void) {
    wbuf w;
    fd_gguf *g = NULL;
    make_file(&w, 3, FD_GGML_Q8_0, 32);
    w.b[0] = 'X';
    CHECK_STATUS(fd_gguf_open_memory(w.b, w.n, "x.gguf", &g), FD_ERR_FORMAT);
    CHECK_CONTAINS(fd_last_error(), "not a GGUF file");
    make_file(&w, 7, FD_GGML_Q8_0, 32);
    CHECK_STATUS(fd_gguf_open_memory(w.b, w.n, "x.gguf", &g), FD_ERR_FORMAT);
    CHECK_CONTAINS(fd_last_error(), "version 7");
    make_file(&w, 3, 99, 32);
    CHECK_STATUS(fd_gguf_open_memory(w.b, w.n, "x.gguf", &g), FD_ERR_FORMAT);
    CHECK_CONTAINS(fd_last_error(), "ggml type 99");
    make_file(&w, 3, FD_GGML_Q8_0, 40);  // misaligned
    CHECK_STATUS(fd_gguf_open_memory(w.b, w.n, "x.gguf", &g), FD_ERR_FORMAT);
    CHECK_CONTAINS(fd_last_error(), "not aligned");
    make_file(&w, 3, FD_GGML_Q8_0, 1u << 20);  // past the end
    CHECK_STATUS(fd_gguf_open_memory(w.b, w.n, "x.gguf", &g), FD_ERR_FORMAT);
    CHECK_CONTAINS(fd_last_error(), "extends past end of file");
    make_file(&w, 3, FD_GGML_Q8_0, 32);
    uint64_t huge = UINT64_MAX / 2;  // tensor count
    memcpy(w.b + 8, &huge, 8);
    CHECK_STATUS(fd_gguf_open_memory(w.b, w.n, "x.gguf", &g), FD_ERR_FORMAT);
    CHECK_STATUS(fd_gguf_open("/nonexistent/model.gguf", &g), FD_ERR_IO);
}

static void default_model(void) {
    const char *path = getenv("FDEPLOY_TEST_MODEL");
    if (!path) path = FD_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
    if (access(path, R_OK) != 0) {
        fd_test_skip("no model at %s (scripts/setup.sh installs it)", path);
        return;
    }
    fd_gguf *g;
    CHECK_OK(fd_gguf_open(path, &g));
    if (!g) return;
    int64_t v;
    CHECK(fd_gguf_get_int(g, "llama.block_count", &v) && v == 30);
    CHECK(fd_gguf_find_tensor(g, "blk.0.attn_q.weight") != NULL);
    CHECK(fd_gguf_n_tensors(g) > 200);
    fd_gguf_close(g);
}

FD_TEST_MAIN(FD_CASE(reads_back), FD_CASE(reads_q5_0), FD_CASE(every_truncation_is_an_error),
             FD_CASE(hostile_headers), FD_CASE(default_model))
