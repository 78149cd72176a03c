// SPDX-License-Identifier: Apache-2.0
// The tokenizer's tables, shared by tokenizer.c (build, decode), tokenizer_bpe.c
// (pre-tokenizer regexes, merges by rank) and tokenizer_encode.c (special tokens,
// SentencePiece merges by score, the public encode).
#ifndef FD_MODEL_TOKENIZER_INTERNAL_H
#define FD_MODEL_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/internal.h"
#include "fdeploy/tokenizer.h"

#define FD_TOK_MAX_REGEX 8

// One merge: the pair (left id, right id) makes token `id` with priority `rank`.
typedef struct fd_tok_merge {
    uint64_t key;  // left << 32 | right; 0 = empty slot (id pair 0,0 is stored +1)
    int32_t rank;
    int32_t id;
} fd_tok_merge;

// A growable array of int32 (ids, offsets): the scratch of one encode call.
typedef struct fd_i32vec {
    int32_t *v;
    size_t n, cap;
} fd_i32vec;

struct fd_tokenizer {
    fd_tok_model model;
    int n_vocab;
    char *pool;          // all token strings, NUL-separated
    uint32_t *off;       // token i is pool + off[i], len[i] bytes
    uint32_t *len;
    float *scores;       // n_vocab (0 when not given)
    uint8_t *types;      // fd_tok_type
    uint8_t *eog;        // 1 = ends generation
    uint32_t *hmap;      // text -> id + 1, open addressing; 0 = empty
    size_t hcap;         // power of two
    fd_tok_merge *merges;
    size_t mcap;         // power of two, 0 = no merges
    int n_merges;
    int32_t byte_id[256];  // byte-level: the id of each byte's symbol; SPM: <0xXX>; -1 none
    uint8_t cp_byte[324];  // byte-level decode: code point (< 324) -> byte
    uint8_t cp_valid[324];
    void *re[FD_TOK_MAX_REGEX];  // pcre2_code_8 *, one per pre-tokenizer stage
    int n_re;
    int32_t *special;    // ids matched whole in text (control, user-defined)
    int n_special;
    int32_t special_start[257];  // special[special_start[b] ..] start with byte b, longest first
    int32_t bos, eos, eot, pad, unk;
    int add_bos, add_space_prefix, ignore_merges;
};

// --- tokenizer.c
uint64_t fd__tok_hash(const char *s, size_t n);
int32_t fd__tok_lookup(const fd_tokenizer *tok, const char *s, size_t n);
static inline const char *fd__tok_str(const fd_tokenizer *tok, int32_t id) {
    return tok->pool + tok->off[id];
}
// Rank and result of merging ids (a, b); rank -1 when no such merge.
int32_t fd__tok_merge_rank(const fd_tokenizer *tok, int32_t a, int32_t b, int32_t *id);
fd_status fd__i32_push(fd_i32vec *v, int32_t x);

// --- tokenizer_bpe.c
// Compiles the pre-tokenizer stages for `pre` (or the explicit `regex` list).
fd_status fd__tok_regex_init(fd_tokenizer *tok, const char *pre, const char *const *regex,
                             int n_regex);
void fd__tok_regex_free(fd_tokenizer *tok);
// Byte-level / char-level BPE of one span of raw text (no special tokens inside).
fd_status fd__tok_bpe_encode(const fd_tokenizer *tok, const char *text, size_t len,
                             fd_i32vec *out);
// GPT-2's byte -> code point table.
uint32_t fd__tok_byte_to_cp(uint8_t b);
// Length of the UTF-8 sequence starting with byte `c` (1 for stray bytes).
static inline size_t fd__utf8_len(uint8_t c) {
    return c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
}


#endif
