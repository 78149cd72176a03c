// SPDX-License-Identifier: Apache-2.0
// Tokenizer construction from vocabulary arrays, lookups, decoding and accessors.
// Encoding lives in tokenizer_encode.c, tokenizer_bpe.c and tokenizer_spm.c.
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer_internal.h"

// ---- small helpers

uint64_t fd__tok_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

fd_status fd__i32_push(fd_i32vec *v, int32_t x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->v, cap * sizeof *p);
        if (!p) return fd__error(FD_ERR_OOM, "tokenizer: out of memory growing a buffer to %zu ids", cap);
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return FD_OK;
}

int32_t fd__tok_lookup(const fd_tokenizer *tok, const char *s, size_t n) {
    size_t mask = tok->hcap - 1;
    for (size_t i = fd__tok_hash(s, n) & mask;; i = (i + 1) & mask) {
        uint32_t e = tok->hmap[i];
        if (!e) return -1;
        int32_t id = (int32_t)e - 1;
        if (tok->len[id] == n && memcmp(fd__tok_str(tok, id), s, n) == 0) return id;
    }
}

static uint64_t merge_key(int32_t a, int32_t b) {
    return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;  // +1: 0 marks empty
}

static size_t merge_slot(uint64_t key, size_t mask) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & mask;
}

int32_t fd__tok_merge_rank(const fd_tokenizer *tok, int32_t a, int32_t b, int32_t *id) {
    if (!tok->mcap) return -1;
    uint64_t key = merge_key(a, b);
    size_t mask = tok->mcap - 1;
    for (size_t i = merge_slot(key, mask);; i = (i + 1) & mask) {
        const fd_tok_merge *m = &tok->merges[i];
        if (!m->key) return -1;
        if (m->key == key) {
            *id = m->id;
            return m->rank;
        }
    }
}

// ---- building

static fd_status copy_vocab(fd_tokenizer *tok, const fd_tokenizer_desc *d) {
    size_t total = 0, n = (size_t)d->n_vocab;
    for (size_t i = 0; i < n; i++) {
        if (!d->tokens[i])
            return fd__error(FD_ERR_INVALID_ARG, "tokenizer: token %zu is NULL", i);
        total += (d->token_lens ? d->token_lens[i] : strlen(d->tokens[i])) + 1;
    }
    if (total > UINT32_MAX)
        return fd__error(FD_ERR_INVALID_ARG, "tokenizer: vocabulary text is %zu bytes (max 4 GiB)", total);
    tok->pool = malloc(total);
    tok->off = malloc(n * sizeof *tok->off);
    tok->len = malloc(n * sizeof *tok->len);
    tok->scores = calloc(n, sizeof *tok->scores);
    tok->types = malloc(n);
    tok->eog = calloc(n, 1);
    tok->hcap = pow2_at_least(n * 2);
    tok->hmap = calloc(tok->hcap, sizeof *tok->hmap);
    if (!tok->pool || !tok->off || !tok->len || !tok->scores || !tok->types || !tok->eog || !tok->hmap)
        return fd__error(FD_ERR_OOM, "tokenizer: out of memory for %zu tokens", n);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = d->token_lens ? d->token_lens[i] : strlen(d->tokens[i]);
        memcpy(tok->pool + pos, d->tokens[i], l);
        tok->pool[pos + l] = '\0';
        tok->off[i] = (uint32_t)pos;
        tok->len[i] = (uint32_t)l;
        pos += l + 1;
        int t = d->token_types ? d->token_types[i] : FD_TOKTYPE_NORMAL;
        if (t < 0 || t > FD_TOKTYPE_BYTE)
            return fd__error(FD_ERR_INVALID_ARG, "tokenizer: token %zu has type %d (valid: 0..6)", i, t);
        tok->types[i] = (uint8_t)(t == FD_TOKTYPE_UNDEFINED ? FD_TOKTYPE_NORMAL : t);
        if (d->scores) tok->scores[i] = d->scores[i];
    }
    // Insert in reverse so that of two tokens spelled alike the lower id wins.
    size_t mask = tok->hcap - 1;
    for (size_t k = n; k-- > 0;) {
        size_t i = fd__tok_hash(fd__tok_str(tok, (int32_t)k), tok->len[k]) & mask;
        while (tok->hmap[i] && !(tok->len[tok->hmap[i] - 1] == tok->len[k] &&
                                 memcmp(fd__tok_str(tok, (int32_t)(tok->hmap[i] - 1)),
                                        fd__tok_str(tok, (int32_t)k), tok->len[k]) == 0))
            i = (i + 1) & mask;
        tok->hmap[i] = (uint32_t)k + 1;
    }
    return FD_OK;
}

static fd_status add_merge(fd_tokenizer *tok, int rank, const char *m) {
    const char *sp = strchr(m, ' ');
    if (!sp || sp == m || !sp[1])
        return fd__error(FD_ERR_INVALID_ARG, "tokenizer: merge %d \"%.40s\" is not \"left right\"", rank, m);
    size_t la = (size_t)(sp - m), lb = strlen(sp + 1);
    int32_t a = fd__tok_lookup(tok, m, la), b = fd__tok_lookup(tok, sp + 1, lb);
    char *cat = malloc(la + lb + 1);
    if (!cat) return fd__error(FD_ERR_OOM, "tokenizer: out of memory");
    memcpy(cat, m, la);
    memcpy(cat + la, sp + 1, lb);
    int32_t c = fd__tok_lookup(tok, cat, la + lb);
    free(cat);
    // HF skips nothing here, but a merge whose parts or result are not tokens can never fire.
    if (a < 0 || b < 0 || c < 0) return FD_OK;
    uint64_t key = merge_key(a, b);
    size_t mask = tok->mcap - 1, i = merge_slot(key, mask);
    while (tok->merges[i].key && tok->merges[i].key != key) i = (i + 1) & mask;
    if (tok->merges[i].key) return FD_OK;  // a duplicate keeps its first (best) rank
    tok->merges[i] = (fd_tok_merge){key, rank, c};
    return FD_OK;
}

static fd_status build_merges(fd_tokenizer *tok, const fd_tokenizer_desc *d) {
    if (d->n_merges <= 0) return FD_OK;
    if (!d->merges) return fd__error(FD_ERR_INVALID_ARG, "tokenizer: n_merges is %d but merges is NULL", d->n_merges);
    tok->mcap = pow2_at_least((size_t)d->n_merges * 2);
    tok->merges = calloc(tok->mcap, sizeof *tok->merges);
    if (!tok->merges) return fd__error(FD_ERR_OOM, "tokenizer: out of memory for %d merges", d->n_merges);
    for (int r = 0; r < d->n_merges; r++) {
        if (!d->merges[r]) return fd__error(FD_ERR_INVALID_ARG, "tokenizer: merge %d is NULL", r);
        FD_TRY(add_merge(tok, r, d->merges[r]));
    }
    tok->n_merges = d->n_merges;
    return FD_OK;
}

// Byte symbols: byte-level spells byte b as one code point; SPM has <0xXX> tokens.
static fd_status build_byte_tables(fd_tokenizer *tok) {
    for (int b = 0; b < 256; b++) {
        char s[8];
        size_t n;
        if (tok->model == FD_TOK_BPE_BYTES) {
            uint32_t cp = fd__tok_byte_to_cp((uint8_t)b);
            tok->cp_byte[cp] = (uint8_t)b;
            tok->cp_valid[cp] = 1;
            n = cp < 0x80 ? (s[0] = (char)cp, 1)
                          : (s[0] = (char)(0xC0 | (cp >> 6)), s[1] = (char)(0x80 | (cp & 0x3F)), 2);
        } else {
            static const char hex[] = "0123456789ABCDEF";
            memcpy(s, "<0x", 3);
            s[3] = hex[b >> 4], s[4] = hex[b & 15], s[5] = '>';
            n = 6;
        }
        // -1 when missing (SmolLM2 lacks a few control bytes): such bytes are dropped, as HF does
        tok->byte_id[b] = fd__tok_lookup(tok, s, n);
    }
    return FD_OK;
}

typedef struct special_key {
    uint32_t first, len;
    int32_t id;
} special_key;

static int cmp_special(const void *pa, const void *pb) {
    const special_key *a = pa, *b = pb;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int is_special_type(int t) {
    return t == FD_TOKTYPE_CONTROL || t == FD_TOKTYPE_USER_DEFINED;
}

// Control and user-defined tokens, matched whole in the text: grouped by first byte
// (special_start[b] .. special_start[b + 1]), longest first within a group.
static fd_status build_specials(fd_tokenizer *tok) {
    int n = 0;
    for (int i = 0; i < tok->n_vocab; i++) n += is_special_type(tok->types[i]) && tok->len[i];
    special_key *keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
    tok->special = malloc((size_t)(n ? n : 1) * sizeof *tok->special);
    if (!keys || !tok->special) {
        free(keys);
        return fd__error(FD_ERR_OOM, "tokenizer: out of memory");
    }
    n = 0;
    for (int i = 0; i < tok->n_vocab; i++)
        if (is_special_type(tok->types[i]) && tok->len[i])
            keys[n++] = (special_key){(uint8_t)fd__tok_str(tok, i)[0], tok->len[i], i};
    qsort(keys, (size_t)n, sizeof *keys, cmp_special);
    memset(tok->special_start, 0, sizeof tok->special_start);
    for (int i = 0; i < n; i++) {
        tok->special[i] = keys[i].id;
        tok->special_start[keys[i].first + 1] = i + 1;
    }
    for (int b = 1; b <= 256; b++)
        if (tok->special_start[b] < tok->special_start[b - 1]) tok->special_start[b] = tok->special_start[b - 1];
    tok->n_special = n;
    free(keys);
    return FD_OK;
}

// End-of-generation marks: eos, eot and the control tokens chat templates end turns with.
static void build_eog(fd_tokenizer *tok) {
    static const char *const names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                        "<|endoftext|>", "<|eom_id|>", "<EOT>", "<|end_of_text|>",
                                        "<|return|>", "<|call|>"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        int32_t id = fd__tok_lookup(tok, names[k], strlen(names[k]));
        if (id < 0 || tok->types[id] != FD_TOKTYPE_CONTROL) continue;
        tok->eog[id] = 1;
        if (tok->eot < 0 && k < 4) tok->eot = id;
    }
    if (tok->eos >= 0) tok->eog[tok->eos] = 1;
    if (tok->eot >= 0) tok->eog[tok->eot] = 1;
}

static fd_status check_special_id(const fd_tokenizer_desc *d, const char *name, int32_t id) {
    if (id < -1 || id >= d->n_vocab)
        return fd__error(FD_ERR_INVALID_ARG, "tokenizer: %s id %d is out of range (vocabulary has %d tokens)",
                         name, (int)id, d->n_vocab);
    return FD_OK;
}

static fd_status check_desc(const fd_tokenizer_desc *d) {
    if (!d) return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_create: desc is NULL");
    if (d->model != FD_TOK_BPE_BYTES && d->model != FD_TOK_SPM)
        return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_create: unknown model kind %d", (int)d->model);
    if (d->n_vocab <= 0 || d->n_vocab >= INT32_MAX / 2 || !d->tokens)
        return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_create: n_vocab is %d and tokens %s",
                         d->n_vocab, d->tokens ? "set" : "NULL");
    if (d->model == FD_TOK_BPE_BYTES && d->n_merges <= 0)
        return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_create: byte-level BPE needs merges (tokenizer.ggml.merges)");
    FD_TRY(check_special_id(d, "bos", d->bos));
    FD_TRY(check_special_id(d, "eos", d->eos));
    FD_TRY(check_special_id(d, "eot", d->eot));
    FD_TRY(check_special_id(d, "pad", d->pad));
    FD_TRY(check_special_id(d, "unk", d->unk));
    if (d->add_bos && d->bos < 0)
        return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_create: add_bos is set but there is no bos id");
    return FD_OK;
}

static fd_status build(fd_tokenizer *tok, const fd_tokenizer_desc *d) {
    tok->model = d->model;
    tok->n_vocab = d->n_vocab;
    tok->bos = d->bos, tok->eos = d->eos, tok->eot = d->eot, tok->pad = d->pad, tok->unk = d->unk;
    tok->add_bos = d->add_bos;
    tok->add_space_prefix = d->add_space_prefix;
    tok->ignore_merges = d->ignore_merges;
    FD_TRY(copy_vocab(tok, d));
    FD_TRY(build_merges(tok, d));
    FD_TRY(build_byte_tables(tok));
    FD_TRY(build_specials(tok));
    build_eog(tok);
    if (tok->model == FD_TOK_BPE_BYTES || tok->n_merges)
        FD_TRY(fd__tok_regex_init(tok, d->pre, d->pre_regex, d->n_pre_regex));
    return FD_OK;
}

// ---- public entry points

void fd_tokenizer_desc_init(fd_tokenizer_desc *desc) {
    if (!desc) return;
    memset(desc, 0, sizeof *desc);
    desc->bos = desc->eos = desc->eot = desc->pad = desc->unk = -1;
}

fd_status fd_tokenizer_create(const fd_tokenizer_desc *desc, fd_tokenizer **out) {
    if (!out) return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_create: out is NULL");
    *out = NULL;
    FD_TRY(check_desc(desc));
    fd_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return fd__error(FD_ERR_OOM, "fd_tokenizer_create: out of memory");
    fd_status s = build(tok, desc);
    if (s != FD_OK) {
        fd_tokenizer_free(tok);
        return s;
    }
    *out = tok;
    return FD_OK;
}

void fd_tokenizer_free(fd_tokenizer *tok) {
    if (!tok) return;
    fd__tok_regex_free(tok);
    free(tok->pool);
    free(tok->off);
    free(tok->len);
    free(tok->scores);
    free(tok->types);
    free(tok->eog);
    free(tok->hmap);
    free(tok->merges);
    free(tok->special);
    free(tok);
}

int fd_tokenizer_n_vocab(const fd_tokenizer *tok) { return tok ? tok->n_vocab : 0; }
int32_t fd_tokenizer_bos(const fd_tokenizer *tok) { return tok ? tok->bos : -1; }
int32_t fd_tokenizer_eos(const fd_tokenizer *tok) { return tok ? tok->eos : -1; }
int32_t fd_tokenizer_eot(const fd_tokenizer *tok) { return tok ? tok->eot : -1; }

int fd_tokenizer_is_eog(const fd_tokenizer *tok, int32_t id) {
    return tok && id >= 0 && id < tok->n_vocab && tok->eog[id];
}

const char *fd_tokenizer_token_text(const fd_tokenizer *tok, int32_t id) {
    return tok && id >= 0 && id < tok->n_vocab ? fd__tok_str(tok, id) : NULL;
}

int fd_tokenizer_token_type(const fd_tokenizer *tok, int32_t id) {
    return tok && id >= 0 && id < tok->n_vocab ? tok->types[id] : -1;
}

int32_t fd_tokenizer_find(const fd_tokenizer *tok, const char *text, size_t len) {
    return tok && text ? fd__tok_lookup(tok, text, len) : -1;
}

// ---- decoding

// Appends `n` bytes at *pos if they fit; always advances *pos (to measure).
static void put(char *buf, size_t cap, size_t *pos, const char *s, size_t n) {
    if (buf && *pos + n <= cap) memcpy(buf + *pos, s, n);
    *pos += n;
}

static void decode_bytes_level(const fd_tokenizer *tok, const char *s, size_t n, char *buf,
                               size_t cap, size_t *pos) {
    for (size_t i = 0; i < n;) {
        size_t l = fd__utf8_len((uint8_t)s[i]);
        if (i + l > n) l = n - i;
        uint32_t cp = l == 1 ? (uint8_t)s[i] : l == 2 ? ((uint32_t)(s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F) : 0xFFFFFFFFu;
        if (cp < 324 && tok->cp_valid[cp]) {
            char b = (char)tok->cp_byte[cp];
            put(buf, cap, pos, &b, 1);
        } else {
            put(buf, cap, pos, s + i, l);  // not a byte symbol: keep it as written
        }
        i += l;
    }
}

// `strip`: drop a leading space (SentencePiece's prefix space in front of the first word).
static void decode_spm(const fd_tokenizer *tok, int32_t id, const char *s, size_t n, char *buf,
                       size_t cap, size_t *pos, int strip) {
    if (tok->types[id] == FD_TOKTYPE_BYTE && n == 6) {
        char b = (char)strtol(s + 3, NULL, 16);
        put(buf, cap, pos, &b, 1);
        return;
    }
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            if (!(strip && i == 0)) put(buf, cap, pos, " ", 1);
            i += 3;
        } else {
            put(buf, cap, pos, s + i, 1);
            i++;
        }
    }
}

static void decode_one(const fd_tokenizer *tok, int32_t id, char *buf, size_t cap, size_t *pos,
                       int strip) {
    const char *s = fd__tok_str(tok, id);
    size_t n = tok->len[id];
    int t = tok->types[id];
    if (t == FD_TOKTYPE_CONTROL || t == FD_TOKTYPE_USER_DEFINED || t == FD_TOKTYPE_UNKNOWN)
        put(buf, cap, pos, s, n);
    else if (tok->model == FD_TOK_BPE_BYTES)
        decode_bytes_level(tok, s, n, buf, cap, pos);
    else
        decode_spm(tok, id, s, n, buf, cap, pos, strip);
}

fd_status fd_tokenizer_decode_token(const fd_tokenizer *tok, int32_t id, char *buf, size_t cap,
                                    size_t *len) {
    if (!tok || !len) return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_decode_token: tok or len is NULL");
    *len = 0;
    if (id < 0 || id >= tok->n_vocab)
        return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_decode_token: id %d is out of range (vocabulary has %d tokens)",
                         (int)id, tok->n_vocab);
    decode_one(tok, id, buf, cap, len, 0);
    if (!buf && !cap) return FD_OK;  // measuring
    if (*len > cap || (!buf && *len))
        return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_decode_token: token %d needs %zu bytes, buffer has %zu",
                         (int)id, *len, cap);
    return FD_OK;
}

fd_status fd_tokenizer_decode(const fd_tokenizer *tok, const int32_t *ids, int n, char *buf,
                              size_t cap, size_t *len) {
    if (!tok || !len || (n > 0 && !ids) || n < 0)
        return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_decode: tok, ids or len is NULL (n = %d)", n);
    size_t pos = 0;
    int strip = tok->model == FD_TOK_SPM && tok->add_space_prefix;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_vocab)
            return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_decode: ids[%d] = %d is out of range (vocabulary has %d tokens)",
                             i, (int)ids[i], tok->n_vocab);
        decode_one(tok, ids[i], buf, cap, &pos, strip);
        if (tok->types[ids[i]] != FD_TOKTYPE_CONTROL) strip = 0;  // only before the first word
    }
    *len = pos;
    if (!buf || pos + 1 > cap)
        return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_decode: text needs %zu bytes + NUL, buffer has %zu",
                         pos, cap);
    buf[pos] = '\0';
    return FD_OK;
}
