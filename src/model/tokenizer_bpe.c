// SPDX-License-Identifier: Apache-2.0
// BPE by merge rank: the pre-tokenizer (Unicode regexes through PCRE2, one stage after
// another as llama.cpp and Hugging Face apply them), the GPT-2 byte alphabet, and the
// merge loop over a linked list of symbols with a binary heap of candidate pairs.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer_internal.h"

// ---- pre-tokenizer regexes (the splits each tokenizer.ggml.pre names, as in llama.cpp)

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                              \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                            \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct pre_entry {
    const char *names;  // space-separated tokenizer.ggml.pre values
    const char *re[4];
    int ignore_merges;
} pre_entry;

static const pre_entry PRE_TABLE[] = {
    {"gpt2 gpt-2 mpt olmo jais trillion", {RE_GPT2}, 0},
    {"smollm starcoder refact command-r codeshell exaone minerva-7b", {"\\p{N}", RE_GPT2}, 0},
    {"llama3 llama-v3 llama-bpe falcon3 pixtral", {RE_LLAMA3}, 1},
    {"dbrx smaug-bpe", {RE_LLAMA3}, 0},
    {"qwen2 stablelm2 deepseek-r1-qwen hunyuan", {RE_QWEN2}, 0},
    {"default",
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
      "\\p{N}+", "[0-9][0-9][0-9]"},
     0},
};

static int name_in(const char *names, const char *name) {
    size_t n = strlen(name);
    for (const char *p = names; *p;) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && memcmp(p, name, n) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static fd_status compile_stage(fd_tokenizer *tok, const char *re) {
    int err;
    PCRE2_SIZE at;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                                     &err, &at, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return fd__error(FD_ERR_FORMAT, "tokenizer: pre-tokenizer regex \"%.60s\" does not compile at offset %zu: %s",
                         re, (size_t)at, (const char *)msg);
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional speed-up; the interpreter still works
    tok->re[tok->n_re++] = code;
    return FD_OK;
}

fd_status fd__tok_regex_init(fd_tokenizer *tok, const char *pre, const char *const *regex,
                             int n_regex) {
    if (regex && n_regex > 0) {
        if (n_regex > FD_TOK_MAX_REGEX)
            return fd__error(FD_ERR_INVALID_ARG, "tokenizer: %d pre-tokenizer regexes (max %d)", n_regex, FD_TOK_MAX_REGEX);
        for (int i = 0; i < n_regex; i++) FD_TRY(compile_stage(tok, regex[i]));
        return FD_OK;
    }
    if (tok->model == FD_TOK_SPM) return FD_OK;  // whole text, no split
    const char *name = pre && *pre ? pre : "default";
    for (size_t k = 0; k < sizeof PRE_TABLE / sizeof PRE_TABLE[0]; k++) {
        if (!name_in(PRE_TABLE[k].names, name)) continue;
        for (int i = 0; i < 4 && PRE_TABLE[k].re[i]; i++) FD_TRY(compile_stage(tok, PRE_TABLE[k].re[i]));
        if (PRE_TABLE[k].ignore_merges) tok->ignore_merges = 1;
        return FD_OK;
    }
    return fd__error(FD_ERR_FORMAT,
                     "tokenizer: unknown pre-tokenizer \"%s\" (tokenizer.ggml.pre); known: gpt2, smollm, "
                     "llama-bpe, llama3, qwen2, dbrx, smaug-bpe, starcoder, default and their aliases",
                     name);
}

void fd__tok_regex_free(fd_tokenizer *tok) {
    for (int i = 0; i < tok->n_re; i++) pcre2_code_free((pcre2_code *)tok->re[i]);
    tok->n_re = 0;
}

uint32_t fd__tok_byte_to_cp(uint8_t b) {
    // GPT-2: printable Latin-1 bytes stand for themselves, the other 68 are 256.. in order.
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    uint32_t n = 0;
    for (uint32_t c = 0; c < b; c++)
        if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174)) n++;
    return 256 + n;
}

// ---- splitting

// Splits each span of `in` (offset, length pairs into text) by regex `code`: matches and the
// gaps between them all become spans of `out`.
static fd_status split_stage(const pcre2_code *code, const char *text, const fd_i32vec *in,
                             fd_i32vec *out, pcre2_match_data *md) {
    out->n = 0;
    for (size_t k = 0; k < in->n; k += 2) {
        const char *s = text + in->v[k];
        PCRE2_SIZE n = (PCRE2_SIZE)in->v[k + 1], pos = 0, last = 0;
        while (pos < n) {
            int rc = pcre2_match(code, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
            if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // the interpreter keeps its frames on the heap
                rc = pcre2_match(code, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                PCRE2_UCHAR msg[200];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return fd__error(FD_ERR_INTERNAL, "tokenizer: pre-tokenizer regex failed: %s", (const char *)msg);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            if (ov[1] == ov[0]) {  // empty match: step over one character
                pos = ov[0] + fd__utf8_len((uint8_t)s[ov[0]]);
                continue;
            }
            if (ov[0] > last) {
                FD_TRY(fd__i32_push(out, in->v[k] + (int32_t)last));
                FD_TRY(fd__i32_push(out, (int32_t)(ov[0] - last)));
            }
            FD_TRY(fd__i32_push(out, in->v[k] + (int32_t)ov[0]));
            FD_TRY(fd__i32_push(out, (int32_t)(ov[1] - ov[0])));
            last = pos = ov[1];
        }
        if (last < n) {
            FD_TRY(fd__i32_push(out, in->v[k] + (int32_t)last));
            FD_TRY(fd__i32_push(out, (int32_t)(n - last)));
        }
    }
    return FD_OK;
}

// ---- merging

typedef struct bpe_pair {
    int32_t rank, left, right, id;
} bpe_pair;

typedef struct bpe_work {
    fd_i32vec sym, prev, next;  // symbol ids and the linked list over them
    bpe_pair *heap;
    size_t nheap, capheap;
} bpe_work;

static int pair_before(const bpe_pair *a, const bpe_pair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static fd_status heap_push(bpe_work *w, bpe_pair p) {
    if (w->nheap == w->capheap) {
        size_t cap = w->capheap ? w->capheap * 2 : 64;
        bpe_pair *h = realloc(w->heap, cap * sizeof *h);
        if (!h) return fd__error(FD_ERR_OOM, "tokenizer: out of memory (merge queue of %zu)", cap);
        w->heap = h;
        w->capheap = cap;
    }
    size_t i = w->nheap++;
    while (i > 0 && pair_before(&p, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = p;
    return FD_OK;
}

static bpe_pair heap_pop(bpe_work *w) {
    bpe_pair top = w->heap[0], x = w->heap[--w->nheap];
    size_t i = 0, n = w->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!pair_before(&w->heap[c], &x)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = x;
    return top;
}

static fd_status try_pair(const fd_tokenizer *tok, bpe_work *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return FD_OK;
    int32_t id;
    int32_t rank = fd__tok_merge_rank(tok, w->sym.v[l], w->sym.v[r], &id);
    if (rank < 0) return FD_OK;
    return heap_push(w, (bpe_pair){rank, l, r, id});
}

// Initial symbols of one piece: bytes (byte-level) or characters, byte fallback for a
// character the vocabulary lacks.
static fd_status piece_symbols(const fd_tokenizer *tok, const char *s, size_t n, fd_i32vec *sym) {
    sym->n = 0;
    for (size_t i = 0; i < n;) {
        if (tok->model == FD_TOK_BPE_BYTES) {
            int32_t id = tok->byte_id[(uint8_t)s[i++]];
            if (id >= 0) FD_TRY(fd__i32_push(sym, id));  // a byte the vocabulary lacks is dropped (HF)
            continue;
        }
        size_t l = fd__utf8_len((uint8_t)s[i]);
        int32_t id = fd__tok_lookup(tok, s + i, l);
        if (id >= 0) {
            FD_TRY(fd__i32_push(sym, id));
        } else {
            for (size_t j = 0; j < l; j++) {
                int32_t b = tok->byte_id[(uint8_t)s[i + j]];
                if (b < 0 && tok->unk < 0)
                    return fd__error(FD_ERR_INVALID_ARG, "tokenizer: character at byte %zu of a piece is not in the "
                                     "vocabulary, which has neither byte tokens nor an unknown token", i);
                if (b >= 0 || j == 0) FD_TRY(fd__i32_push(sym, b >= 0 ? b : tok->unk));
            }
        }
        i += l;
    }
    return FD_OK;
}

static fd_status merge_piece(const fd_tokenizer *tok, bpe_work *w, fd_i32vec *out) {
    int32_t n = (int32_t)w->sym.n;
    w->prev.n = w->next.n = 0;
    w->nheap = 0;
    for (int32_t i = 0; i < n; i++) {
        FD_TRY(fd__i32_push(&w->prev, i - 1));
        FD_TRY(fd__i32_push(&w->next, i + 1 < n ? i + 1 : -1));
    }
    for (int32_t i = 0; i + 1 < n; i++) FD_TRY(try_pair(tok, w, i, i + 1));
    int32_t *sym = w->sym.v, *prev = w->prev.v, *next = w->next.v;
    while (w->nheap) {
        bpe_pair p = heap_pop(w);
        // stale: one side already merged away, or its symbol changed since
        if (sym[p.left] < 0 || sym[p.right] < 0 || next[p.left] != p.right) continue;
        int32_t chk;
        if (fd__tok_merge_rank(tok, sym[p.left], sym[p.right], &chk) != p.rank || chk != p.id) continue;
        sym[p.left] = p.id;
        sym[p.right] = -1;
        next[p.left] = next[p.right];
        if (next[p.right] >= 0) prev[next[p.right]] = p.left;
        FD_TRY(try_pair(tok, w, prev[p.left], p.left));
        FD_TRY(try_pair(tok, w, p.left, next[p.left]));
    }
    for (int32_t i = 0; i >= 0 && i < n; i = next[i]) FD_TRY(fd__i32_push(out, sym[i]));
    return FD_OK;
}

static fd_status encode_pieces(const fd_tokenizer *tok, const char *text, const fd_i32vec *pieces,
                               fd_i32vec *out) {
    bpe_work w = {0};
    fd_status s = FD_OK;
    for (size_t k = 0; k < pieces->n && s == FD_OK; k += 2) {
        const char *p = text + pieces->v[k];
        size_t n = (size_t)pieces->v[k + 1];
        if (tok->ignore_merges && tok->model == FD_TOK_BPE_BYTES) {
            // the piece spelled in the byte alphabet, looked up whole
            char small[256];
            size_t m = 0;
            for (size_t i = 0; i < n && m + 2 <= sizeof small; i++) {
                uint32_t cp = fd__tok_byte_to_cp((uint8_t)p[i]);
                if (cp < 0x80) small[m++] = (char)cp;
                else small[m++] = (char)(0xC0 | (cp >> 6)), small[m++] = (char)(0x80 | (cp & 0x3F));
            }
            int32_t id = m < sizeof small - 1 ? fd__tok_lookup(tok, small, m) : -1;
            if (id >= 0) {
                s = fd__i32_push(out, id);
                continue;
            }
        }
        s = piece_symbols(tok, p, n, &w.sym);
        if (s == FD_OK) s = merge_piece(tok, &w, out);
    }
    free(w.sym.v);
    free(w.prev.v);
    free(w.next.v);
    free(w.heap);
    return s;
}

fd_status fd__tok_bpe_encode(const fd_tokenizer *tok, const char *text, size_t len,
                             fd_i32vec *out) {
    if (!len) return FD_OK;
    fd_i32vec a = {0}, b = {0};
    pcre2_match_data *md = NULL;
    fd_status s = fd__i32_push(&a, 0);
    if (s == FD_OK) s = fd__i32_push(&a, (int32_t)len);
    if (s == FD_OK && tok->n_re) {
        md = pcre2_match_data_create(1, NULL);
        if (!md) s = fd__error(FD_ERR_OOM, "tokenizer: out of memory (regex match data)");
    }
    for (int i = 0; i < tok->n_re && s == FD_OK; i++) {
        s = split_stage((const pcre2_code *)tok->re[i], text, &a, &b, md);
        fd_i32vec t = a;
        a = b;
        b = t;
    }
    if (s == FD_OK) s = encode_pieces(tok, text, &a, out);
    pcre2_match_data_free(md);
    free(a.v);
    free(b.v);
    return s;
}
