// SPDX-License-Identifier: Apache-2.0
// Tokenizers: byte-level BPE (GPT-2, SmolLM, Llama 3, Qwen2) and SentencePiece-style
// BPE (Llama 2, Gemma), built from vocabulary arrays (a GGUF file's tokenizer.ggml.*
// keys) or from a Hugging Face tokenizer.json.
//
// A tokenizer is immutable after creation: encode and decode may run on many threads.
#ifndef FDEPLOY_TOKENIZER_H
#define FDEPLOY_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "fdeploy/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fd_tokenizer fd_tokenizer;

// tokenizer.ggml.model
typedef enum fd_tok_model {
    FD_TOK_BPE_BYTES = 0,  // "gpt2": byte-level BPE, merges by rank
    FD_TOK_SPM = 1,        // "llama": SentencePiece BPE, spaces as U+2581, byte fallback
} fd_tok_model;

// tokenizer.ggml.token_type, as GGUF numbers them.
typedef enum fd_tok_type {
    FD_TOKTYPE_UNDEFINED = 0,
    FD_TOKTYPE_NORMAL = 1,
    FD_TOKTYPE_UNKNOWN = 2,
    FD_TOKTYPE_CONTROL = 3,
    FD_TOKTYPE_USER_DEFINED = 4,
    FD_TOKTYPE_UNUSED = 5,
    FD_TOKTYPE_BYTE = 6,
} fd_tok_type;

// Everything the tokenizer is built from. The tokenizer copies what it keeps:
// the arrays are borrowed only for the duration of fd_tokenizer_create.
typedef struct fd_tokenizer_desc {
    fd_tok_model model;
    // tokenizer.ggml.pre: "gpt2", "smollm", "llama-bpe" (or "llama3"), "qwen2",
    // "default", ... NULL means "default". Ignored for FD_TOK_SPM.
    const char *pre;
    // Overrides `pre`: the pre-tokenizer as regex stages applied in turn (each
    // splits the pieces of the previous one, keeping the unmatched gaps), e.g. from
    // a tokenizer.json. NULL: derived from `pre`.
    const char *const *pre_regex;
    int n_pre_regex;
    int n_vocab;
    const char *const *tokens;     // n_vocab strings (as stored: byte-level spelling for BPE)
    const size_t *token_lens;      // NULL: tokens are NUL-terminated
    const float *scores;           // may be NULL (needed for FD_TOK_SPM without merges)
    const int32_t *token_types;    // may be NULL: all normal (fd_tok_type values)
    const char *const *merges;     // "a b" strings, by rank; may be NULL for FD_TOK_SPM
    int n_merges;
    int32_t bos, eos, eot, pad, unk;  // -1 if none
    int add_bos;                   // encode adds bos when asked for special tokens
    int add_space_prefix;          // FD_TOK_SPM: prepend U+2581 to text (Llama 2 yes, Gemma no)
    int ignore_merges;             // BPE: a piece that is a whole token skips merging (Llama 3)
} fd_tokenizer_desc;

// Sets defaults: everything zero/NULL, special ids -1.
void fd_tokenizer_desc_init(fd_tokenizer_desc *desc);

// Builds a tokenizer; checks every id, type and merge and says which one is wrong.
fd_status fd_tokenizer_create(const fd_tokenizer_desc *desc, fd_tokenizer **out);

// Reads a Hugging Face tokenizer.json (model type BPE, byte-level or with byte fallback).
fd_status fd_tokenizer_from_json(const char *tokenizer_json_path, fd_tokenizer **out);

void fd_tokenizer_free(fd_tokenizer *tok);

// Flags of fd_tokenizer_encode.
enum {
    FD_TOKENIZE_ADD_SPECIAL = 1,    // add bos (if the vocabulary asks for it and, with
                                    // PARSE_SPECIAL, the text does not start with it)
    FD_TOKENIZE_PARSE_SPECIAL = 2,  // control tokens in the text (<|im_start|>) become one id
};

// Encodes `len` bytes of UTF-8 `text` (invalid UTF-8 is an error naming the offset).
// Writes up to `cap` ids and sets *n_out to the number of ids the text needs; if that
// is more than `cap` it fails with FD_ERR_INVALID_ARG, except that ids == NULL with
// cap == 0 just measures. User-defined tokens in the text are always kept whole.
fd_status fd_tokenizer_encode(const fd_tokenizer *tok, const char *text, size_t len,
                              unsigned flags, int32_t *ids, int cap, int *n_out);

// The bytes token `id` stands for (byte-level decoded, U+2581 as a space, <0xXX> as the
// byte), not NUL-terminated; may be an incomplete UTF-8 sequence. For streaming,
// concatenate and emit only complete UTF-8. *len is set even when cap is too small;
// buf == NULL with cap == 0 just measures.
fd_status fd_tokenizer_decode_token(const fd_tokenizer *tok, int32_t id, char *buf, size_t cap,
                                    size_t *len);

// Decodes `n` ids into `buf` and NUL-terminates it (needs *len + 1 bytes of cap).
fd_status fd_tokenizer_decode(const fd_tokenizer *tok, const int32_t *ids, int n, char *buf,
                              size_t cap, size_t *len);

int fd_tokenizer_n_vocab(const fd_tokenizer *tok);
int32_t fd_tokenizer_bos(const fd_tokenizer *tok);  // -1 if none
int32_t fd_tokenizer_eos(const fd_tokenizer *tok);
int32_t fd_tokenizer_eot(const fd_tokenizer *tok);
// End of generation: eos, eot, and control tokens such as <|im_end|>, <|eot_id|>,
// <end_of_turn>, <|endoftext|>.
int fd_tokenizer_is_eog(const fd_tokenizer *tok, int32_t id);
// Token as stored in the vocabulary (NUL-terminated), NULL for an id out of range.
const char *fd_tokenizer_token_text(const fd_tokenizer *tok, int32_t id);
// fd_tok_type of `id`, -1 out of range.
int fd_tokenizer_token_type(const fd_tokenizer *tok, int32_t id);
// Id of a token spelled exactly `text` (as stored), -1 if none.
int32_t fd_tokenizer_find(const fd_tokenizer *tok, const char *text, size_t len);

#ifdef __cplusplus
}
#endif
#endif
