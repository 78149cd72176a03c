// SPDX-License-Identifier: Apache-2.0
// fd_tokenizer_encode: UTF-8 check, special tokens kept whole, then each stretch of plain
// text through BPE by rank (tokenizer_bpe.c) or SentencePiece BPE by score (here).
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer_internal.h"

// ---- UTF-8

// Offset of the first invalid UTF-8 sequence in s[0..n), or n if all valid.
static size_t utf8_invalid_at(const char *str, size_t n) {
    const uint8_t *s = (const uint8_t *)str;
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t l = fd__utf8_len(c);
        if (l == 1 || c == 0xC0 || c == 0xC1 || c > 0xF4 || i + l > n) return i;
        for (size_t k = 1; k < l; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        if (c == 0xE0 && s[i + 1] < 0xA0) return i;   // overlong
        if (c == 0xED && s[i + 1] >= 0xA0) return i;  // surrogate
        if (c == 0xF0 && s[i + 1] < 0x90) return i;   // overlong
        if (c == 0xF4 && s[i + 1] >= 0x90) return i;  // > U+10FFFF
        i += l;
    }
    return n;
}

// ---- SentencePiece BPE: merge the adjacent pair whose joined text is the best-scored token

typedef struct spm_pair {
    float score;
    int32_t left, right;
    uint32_t size;
} spm_pair;

typedef struct spm_work {
    fd_i32vec start, len, prev, next;
    spm_pair *heap;
    size_t nheap, capheap;
} spm_work;

static int spm_before(const spm_pair *a, const spm_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static fd_status spm_push(spm_work *w, spm_pair p) {
    if (w->nheap == w->capheap) {
        size_t cap = w->capheap ? w->capheap * 2 : 64;
        spm_pair *h = realloc(w->heap, cap * sizeof *h);
        if (!h) return fd__error(FD_ERR_OOM, "tokenizer: out of memory (merge queue of %zu)", cap);
        w->heap = h;
        w->capheap = cap;
    }
    size_t i = w->nheap++;
    while (i > 0 && spm_before(&p, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = p;
    return FD_OK;
}

static spm_pair spm_pop(spm_work *w) {
    spm_pair top = w->heap[0], x = w->heap[--w->nheap];
    size_t i = 0, n = w->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && spm_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!spm_before(&w->heap[c], &x)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = x;
    return top;
}

static fd_status spm_try(const fd_tokenizer *tok, spm_work *w, const char *text, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return FD_OK;
    uint32_t size = (uint32_t)(w->len.v[l] + w->len.v[r]);
    int32_t id = fd__tok_lookup(tok, text + w->start.v[l], size);
    if (id < 0) return FD_OK;
    return spm_push(w, (spm_pair){tok->scores[id], l, r, size});
}

// A final symbol: its token, or its bytes as <0xXX> tokens, or unk.
static fd_status spm_emit(const fd_tokenizer *tok, const char *s, size_t n, fd_i32vec *out) {
    int32_t id = fd__tok_lookup(tok, s, n);
    if (id >= 0) return fd__i32_push(out, id);
    for (size_t i = 0; i < n; i++) {
        int32_t b = tok->byte_id[(uint8_t)s[i]];
        if (b < 0) {
            if (tok->unk < 0)
                return fd__error(FD_ERR_INVALID_ARG, "tokenizer: text has a character the vocabulary lacks, "
                                 "and it has neither <0xXX> byte tokens nor an unknown token");
            return fd__i32_push(out, tok->unk);
        }
        FD_TRY(fd__i32_push(out, b));
    }
    return FD_OK;
}

static fd_status spm_run(const fd_tokenizer *tok, spm_work *w, const char *text, size_t len,
                         fd_i32vec *out) {
    int32_t n = 0;
    for (size_t i = 0; i < len; n++) {
        size_t l = fd__utf8_len((uint8_t)text[i]);
        FD_TRY(fd__i32_push(&w->start, (int32_t)i));
        FD_TRY(fd__i32_push(&w->len, (int32_t)l));
        FD_TRY(fd__i32_push(&w->prev, n - 1));
        i += l;
        FD_TRY(fd__i32_push(&w->next, i < len ? n + 1 : -1));
    }
    for (int32_t i = 0; i + 1 < n; i++) FD_TRY(spm_try(tok, w, text, i, i + 1));
    int32_t *ln = w->len.v, *prev = w->prev.v, *next = w->next.v;
    while (w->nheap) {
        spm_pair p = spm_pop(w);
        if (!ln[p.left] || !ln[p.right] || next[p.left] != p.right ||
            (uint32_t)(ln[p.left] + ln[p.right]) != p.size)
            continue;  // stale
        ln[p.left] += ln[p.right];
        ln[p.right] = 0;
        next[p.left] = next[p.right];
        if (next[p.right] >= 0) prev[next[p.right]] = p.left;
        FD_TRY(spm_try(tok, w, text, prev[p.left], p.left));
        FD_TRY(spm_try(tok, w, text, p.left, next[p.left]));
    }
    for (int32_t i = 0; i >= 0 && i < n; i = next[i]) FD_TRY(spm_emit(tok, text + w->start.v[i], (size_t)ln[i], out));
    return FD_OK;
}

// Spaces become U+2581 ("▁"), with one in front when the vocabulary wants a prefix space.
static char *spm_escape(const char *text, size_t len, int prefix, size_t *out_len) {
    size_t spaces = (size_t)prefix;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    char *e = malloc(len + spaces * 2 + 1);
    if (!e) return NULL;
    size_t m = 0;
    if (prefix) memcpy(e, "\xE2\x96\x81", 3), m = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(e + m, "\xE2\x96\x81", 3), m += 3;
        else e[m++] = text[i];
    }
    *out_len = m;
    return e;
}

static fd_status spm_encode(const fd_tokenizer *tok, const char *text, size_t len, int prefix,
                            fd_i32vec *out) {
    size_t n;
    char *e = spm_escape(text, len, prefix, &n);
    if (!e) return fd__error(FD_ERR_OOM, "tokenizer: out of memory for %zu bytes of text", len);
    spm_work w = {0};
    fd_status s = tok->n_merges ? fd__tok_bpe_encode(tok, e, n, out) : spm_run(tok, &w, e, n, out);
    free(w.start.v);
    free(w.len.v);
    free(w.prev.v);
    free(w.next.v);
    free(w.heap);
    free(e);
    return s;
}

// ---- special tokens

// The longest special token at text[i..n), or -1. Control tokens only if `parse_special`.
static int32_t special_at(const fd_tokenizer *tok, const char *text, size_t i, size_t n,
                          int parse_special) {
    uint8_t c = (uint8_t)text[i];
    for (int32_t k = tok->special_start[c]; k < tok->special_start[c + 1]; k++) {
        int32_t id = tok->special[k];
        size_t l = tok->len[id];
        if (l > n - i || memcmp(text + i, fd__tok_str(tok, id), l) != 0) continue;
        if (tok->types[id] == FD_TOKTYPE_CONTROL && !parse_special) continue;
        return id;
    }
    return -1;
}

static fd_status encode_text(const fd_tokenizer *tok, const char *text, size_t len, int prefix,
                             fd_i32vec *out) {
    if (!len) return FD_OK;
    if (tok->model == FD_TOK_SPM) return spm_encode(tok, text, len, prefix, out);
    return fd__tok_bpe_encode(tok, text, len, out);
}

static fd_status encode_all(const fd_tokenizer *tok, const char *text, size_t len, unsigned flags,
                            fd_i32vec *out) {
    int parse = (flags & FD_TOKENIZE_PARSE_SPECIAL) != 0;
    // A chat template writes its own BOS text: then it is not added a second time.
    int has_bos = parse && tok->n_special && len && special_at(tok, text, 0, len, 1) == tok->bos;
    if ((flags & FD_TOKENIZE_ADD_SPECIAL) && tok->add_bos && !has_bos) FD_TRY(fd__i32_push(out, tok->bos));
    int prefix = tok->add_space_prefix;  // SentencePiece: at the start and after a special token
    size_t start = 0;
    for (size_t i = 0; i < len;) {
        int32_t id = tok->n_special ? special_at(tok, text, i, len, parse) : -1;
        if (id < 0) {
            i++;
            continue;
        }
        FD_TRY(encode_text(tok, text + start, i - start, prefix && (i > start), out));
        FD_TRY(fd__i32_push(out, id));
        i += tok->len[id];
        start = i;
        prefix = tok->add_space_prefix;
    }
    return encode_text(tok, text + start, len - start, prefix, out);
}

fd_status fd_tokenizer_encode(const fd_tokenizer *tok, const char *text, size_t len,
                              unsigned flags, int32_t *ids, int cap, int *n_out) {
    if (n_out) *n_out = 0;
    if (!tok || !n_out || (!text && len) || cap < 0 || (!ids && cap > 0))
        return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_encode: tok, text, ids or n_out is NULL (len %zu, cap %d)",
                         len, cap);
    if (len > (size_t)INT32_MAX / 4)
        return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_encode: text of %zu bytes is too long (max %d)", len,
                         INT32_MAX / 4);
    size_t bad = utf8_invalid_at(text, len);
    if (bad < len)
        return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_encode: invalid UTF-8 at byte %zu (0x%02X); the text must be UTF-8",
                         bad, (unsigned)(uint8_t)text[bad]);
    fd_i32vec out = {0};
    fd_status s = encode_all(tok, text, len, flags, &out);
    if (s == FD_OK && out.n > (size_t)INT32_MAX) s = fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_encode: too many ids");
    if (s == FD_OK) {
        *n_out = (int)out.n;
        if (out.n > (size_t)cap && !(ids == NULL && cap == 0))
            s = fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_encode: the text needs %zu ids but ids holds %d; pass a larger cap",
                          out.n, cap);
        else if (ids && out.n)
            memcpy(ids, out.v, out.n * sizeof *ids);
    }
    free(out.v);
    return s;
}
