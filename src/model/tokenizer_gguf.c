// SPDX-License-Identifier: Apache-2.0
// A tokenizer from a GGUF file's tokenizer.ggml.* metadata.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "fdeploy/gguf.h"
#include "fdeploy/tokenizer.h"
#include "model/tokenizer_gguf.h"

static int32_t special(const fd_gguf *g, const char *key) {
    int64_t v;
    return fd_gguf_get_int(g, key, &v) ? (int32_t)v : -1;
}

// String array `key` as pointer/length arrays into the mapping.
static fd_status str_array(const fd_gguf *g, const char *key, int required, const char ***s,
                           size_t **lens, int *n) {
    fd_gguf_type et;
    uint64_t count;
    *s = NULL;
    *lens = NULL;
    *n = 0;
    if (!fd_gguf_get_arr(g, key, &et, &count, NULL) || et != FD_GGUF_STRING) {
        if (!required) return FD_OK;
        return fd__error(FD_ERR_FORMAT, "model has no %s string array; it cannot be tokenized", key);
    }
    if (count > (1u << 24)) return fd__error(FD_ERR_FORMAT, "%s has %llu entries", key, (unsigned long long)count);
    *s = malloc((count ? count : 1) * sizeof **s);
    *lens = malloc((count ? count : 1) * sizeof **lens);
    if (!*s || !*lens) return fd__error(FD_ERR_OOM, "tokenizer: out of memory");
    for (uint64_t i = 0; i < count; i++) fd_gguf_arr_str(g, key, i, &(*s)[i], &(*lens)[i]);
    *n = (int)count;
    return FD_OK;
}

// Merges must be NUL-terminated for the tokenizer: copy them into one block.
static fd_status merges_cstr(const char **m, const size_t *ml, int n, char **block, const char ***out) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += ml[i] + 1;
    *block = malloc(total ? total : 1);
    *out = malloc((size_t)(n ? n : 1) * sizeof **out);
    if (!*block || !*out) return fd__error(FD_ERR_OOM, "tokenizer: out of memory");
    char *p = *block;
    for (int i = 0; i < n; i++) {
        memcpy(p, m[i], ml[i]);
        p[ml[i]] = '\0';
        (*out)[i] = p;
        p += ml[i] + 1;
    }
    return FD_OK;
}

fd_status fd__tokenizer_from_gguf(const fd_gguf *g, fd_tokenizer **out) {
    fd_tokenizer_desc d;
    fd_tokenizer_desc_init(&d);
    const char *s, **toks = NULL, **merges = NULL, **mz = NULL;
    size_t len, *tl = NULL, *ml = NULL;
    char model[32] = "", pre[64] = "default", *mblock = NULL;
    float *scores = NULL;
    int32_t *types = NULL;
    if (fd_gguf_get_str(g, "tokenizer.ggml.model", &s, &len)) snprintf(model, sizeof model, "%.*s", (int)len, s);
    if (fd_gguf_get_str(g, "tokenizer.ggml.pre", &s, &len)) snprintf(pre, sizeof pre, "%.*s", (int)len, s);
    if (strcmp(model, "gpt2") == 0) d.model = FD_TOK_BPE_BYTES;
    else if (strcmp(model, "llama") == 0) d.model = FD_TOK_SPM;
    else return fd__error(FD_ERR_FORMAT, "tokenizer.ggml.model '%s' is not supported (gpt2, llama are)", model);
    d.pre = pre;
    int n_merges = 0;
    fd_status st = str_array(g, "tokenizer.ggml.tokens", 1, &toks, &tl, &d.n_vocab);
    if (st == FD_OK) st = str_array(g, "tokenizer.ggml.merges", 0, &merges, &ml, &n_merges);
    if (st == FD_OK && n_merges) st = merges_cstr(merges, ml, n_merges, &mblock, &mz);
    if (st == FD_OK) {
        fd_gguf_type et;
        uint64_t n;
        const void *data;
        d.tokens = toks;
        d.token_lens = tl;
        d.merges = mz;
        d.n_merges = n_merges;
        // Arrays in the file need not be aligned for their element type: copy them.
        if (fd_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n, &data) && et == FD_GGUF_F32 &&
            n == (uint64_t)d.n_vocab && (scores = malloc(n * sizeof *scores))) {
            memcpy(scores, data, n * sizeof *scores);
            d.scores = scores;
        }
        if (fd_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n, &data) && et == FD_GGUF_I32 &&
            n == (uint64_t)d.n_vocab && (types = malloc(n * sizeof *types))) {
            memcpy(types, data, n * sizeof *types);
            d.token_types = types;
        }
        d.bos = special(g, "tokenizer.ggml.bos_token_id");
        d.eos = special(g, "tokenizer.ggml.eos_token_id");
        d.eot = special(g, "tokenizer.ggml.eot_token_id");
        d.pad = special(g, "tokenizer.ggml.padding_token_id");
        d.unk = special(g, "tokenizer.ggml.unknown_token_id");
        int64_t v;
        d.add_bos = fd_gguf_get_int(g, "tokenizer.ggml.add_bos_token", &v) ? (int)v : d.model == FD_TOK_SPM;
        d.add_space_prefix = fd_gguf_get_int(g, "tokenizer.ggml.add_space_prefix", &v) ? (int)v : d.model == FD_TOK_SPM;
        st = fd_tokenizer_create(&d, out);
    }
    free(toks); free(tl); free(merges); free(ml); free(mz); free(mblock); free(scores); free(types);
    return st;
}
