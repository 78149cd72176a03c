// SPDX-License-Identifier: Apache-2.0
// Test-only: reads the tokenizer.ggml.* keys of a GGUF file into an fd_tokenizer_desc,
// so the tokenizer tests run before (and independently of) the library's GGUF loader.
#ifndef FD_TEST_TOK_GGUF_VOCAB_H
#define FD_TEST_TOK_GGUF_VOCAB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/tokenizer.h"

typedef struct tgv_vocab {
    fd_tokenizer_desc desc;
    char **tokens, **merges;
    float *scores;
    int32_t *types;
    char model[32], pre[64];
    char *chat_template;
} tgv_vocab;

static int tgv_read(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n; }

static char *tgv_str(FILE *f) {
    uint64_t n;
    if (!tgv_read(f, &n, 8) || n > (1u << 24)) return NULL;
    char *s = malloc(n + 1);
    if (!s || !tgv_read(f, s, n)) {
        free(s);
        return NULL;
    }
    s[n] = '\0';
    return s;
}

static const int tgv_size[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static int tgv_skip(FILE *f, uint32_t type) {
    if (type == 8) {
        free(tgv_str(f));
        return 1;
    }
    if (type == 9) {
        uint32_t et;
        uint64_t n;
        if (!tgv_read(f, &et, 4) || !tgv_read(f, &n, 8) || et > 12) return 0;
        for (uint64_t i = 0; i < n; i++)
            if (!tgv_skip(f, et)) return 0;
        return 1;
    }
    if (type > 12) return 0;
    return fseek(f, tgv_size[type], SEEK_CUR) == 0;
}

// Reads an array of strings / int32 / f32 into a fresh array; returns its length or -1.
static int64_t tgv_array(FILE *f, uint32_t want, void **out) {
    uint32_t et;
    uint64_t n;
    if (!tgv_read(f, &et, 4) || !tgv_read(f, &n, 8) || n > (1u << 24)) return -1;
    if (et != want) return -1;
    size_t sz = want == 8 ? sizeof(char *) : 4;
    char *a = calloc(n ? n : 1, sz);
    if (!a) return -1;
    for (uint64_t i = 0; i < n; i++) {
        if (want == 8) {
            char *s = tgv_str(f);
            if (!s) return -1;
            ((char **)a)[i] = s;
        } else if (!tgv_read(f, a + i * 4, 4)) {
            return -1;
        }
    }
    *out = a;
    return (int64_t)n;
}

static int tgv_scalar_i32(FILE *f, uint32_t type, int32_t *v) {
    uint64_t x = 0;
    if (type > 12 || type == 8 || type == 9 || !tgv_read(f, &x, (size_t)tgv_size[type])) return 0;
    *v = (int32_t)x;
    return 1;
}

static int tgv_kv(FILE *f, tgv_vocab *v, const char *key, uint32_t type) {
    fd_tokenizer_desc *d = &v->desc;
    void *arr = NULL;
    int64_t n;
    if (!strcmp(key, "tokenizer.ggml.tokens")) {
        if ((n = tgv_array(f, 8, &arr)) < 0) return 0;
        v->tokens = arr, d->n_vocab = (int)n;
    } else if (!strcmp(key, "tokenizer.ggml.merges")) {
        if ((n = tgv_array(f, 8, &arr)) < 0) return 0;
        v->merges = arr, d->n_merges = (int)n;
    } else if (!strcmp(key, "tokenizer.ggml.scores")) {
        if (tgv_array(f, 6, &arr) < 0) return 0;
        v->scores = arr;
    } else if (!strcmp(key, "tokenizer.ggml.token_type")) {
        if (tgv_array(f, 5, &arr) < 0) return 0;
        v->types = arr;
    } else if (!strcmp(key, "tokenizer.ggml.model") || !strcmp(key, "tokenizer.ggml.pre") ||
               !strcmp(key, "tokenizer.chat_template")) {
        char *s = type == 8 ? tgv_str(f) : NULL;
        if (!s) return 0;
        if (!strcmp(key, "tokenizer.chat_template")) {
            v->chat_template = s;
            return 1;
        }
        snprintf(key[15] == 'm' ? v->model : v->pre, key[15] == 'm' ? sizeof v->model : sizeof v->pre, "%s", s);
        free(s);
    } else if (!strcmp(key, "tokenizer.ggml.bos_token_id")) return tgv_scalar_i32(f, type, &d->bos);
    else if (!strcmp(key, "tokenizer.ggml.eos_token_id")) return tgv_scalar_i32(f, type, &d->eos);
    else if (!strcmp(key, "tokenizer.ggml.eot_token_id")) return tgv_scalar_i32(f, type, &d->eot);
    else if (!strcmp(key, "tokenizer.ggml.padding_token_id")) return tgv_scalar_i32(f, type, &d->pad);
    else if (!strcmp(key, "tokenizer.ggml.unknown_token_id")) return tgv_scalar_i32(f, type, &d->unk);
    else if (!strcmp(key, "tokenizer.ggml.add_bos_token")) return tgv_scalar_i32(f, type, &d->add_bos);
    else if (!strcmp(key, "tokenizer.ggml.add_space_prefix")) return tgv_scalar_i32(f, type, &d->add_space_prefix);
    else return tgv_skip(f, type);
    return 1;
}

static void tgv_free(tgv_vocab *v) {
    for (int i = 0; v->tokens && i < v->desc.n_vocab; i++) free(v->tokens[i]);
    for (int i = 0; v->merges && i < v->desc.n_merges; i++) free(v->merges[i]);
    free(v->tokens), free(v->merges), free(v->scores), free(v->types), free(v->chat_template);
    memset(v, 0, sizeof *v);
}

// 0 on success; fills v->desc (arrays owned by v). Byte flags: SPM defaults as llama.cpp.
static int tgv_load(const char *path, tgv_vocab *v) {
    memset(v, 0, sizeof *v);
    fd_tokenizer_desc_init(&v->desc);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char magic[4];
    uint32_t version;
    uint64_t n_tensors, n_kv;
    int ok = tgv_read(f, magic, 4) && !memcmp(magic, "GGUF", 4) && tgv_read(f, &version, 4) &&
             version >= 2 && tgv_read(f, &n_tensors, 8) && tgv_read(f, &n_kv, 8);
    v->desc.add_space_prefix = -1;
    for (uint64_t i = 0; ok && i < n_kv; i++) {
        char *key = tgv_str(f);
        uint32_t type;
        ok = key && tgv_read(f, &type, 4) && tgv_kv(f, v, key, type);
        free(key);
    }
    fclose(f);
    if (!ok || !v->tokens) {
        tgv_free(v);
        return -1;
    }
    fd_tokenizer_desc *d = &v->desc;
    d->model = strcmp(v->model, "llama") == 0 ? FD_TOK_SPM : FD_TOK_BPE_BYTES;
    if (d->add_space_prefix < 0) d->add_space_prefix = d->model == FD_TOK_SPM;
    d->pre = v->pre[0] ? v->pre : NULL;
    d->tokens = (const char *const *)v->tokens;
    d->merges = (const char *const *)v->merges;
    d->scores = v->scores;
    d->token_types = v->types;
    return 0;
}

#endif
