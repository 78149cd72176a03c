// SPDX-License-Identifier: Apache-2.0
// The OpenAI wire format, without any network: parsing and checking the bodies of
// /v1/completions and /v1/chat/completions, and building the JSON of responses,
// stream chunks and errors. Pure functions; the unit test drives them directly.
#ifndef FD_SERVER_OPENAI_H
#define FD_SERVER_OPENAI_H

#include <stddef.h>
#include <stdint.h>

#include "fdeploy/chat.h"
#include "fdeploy/sampler.h"

#define FD_OAI_MAX_STOPS 4
#define FD_OAI_MAX_N 16
#define FD_OAI_MAX_TOP_LOGPROBS 20

// An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
typedef struct fd_oai_error {
    int status;             // HTTP status
    char message[512];
    char param[64];         // "" = null
    const char *type;       // "invalid_request_error", ...
    const char *code;       // NULL = null
} fd_oai_error;

typedef struct fd_oai_request {
    int chat;                       // 1: /v1/chat/completions
    char *model;                    // NULL when not given
    // completions: a text prompt or token ids (one of the two)
    char *prompt;
    int32_t *prompt_ids;
    int n_prompt_ids;
    // chat: the messages (role and content owned)
    fd_chat_message *msgs;
    int n_msgs;
    int stream, include_usage;
    int n;
    int max_tokens;                 // -1: not given
    int logprobs;                   // chat: bool; completions: the number of alternatives asked + 1 flag
    int top_logprobs;               // alternatives per token
    int ignore_eos;
    int has_seed;
    fd_sampling_params sampling;    // OpenAI's defaults: temperature 1, top_p 1, top_k/min_p off
    char *stops[FD_OAI_MAX_STOPS];
    int n_stops;
} fd_oai_request;

// Sets *err (status, message, param, code).
void fd_oai_error_set(fd_oai_error *err, int status, const char *param, const char *code,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
// The error body (malloc'ed JSON text).
char *fd_oai_error_json(const fd_oai_error *err);

// Parses and checks a request body. Returns 0, or -1 with *err filled (the request is
// freed then). `chat` selects the chat schema.
int fd_oai_parse(const char *body, size_t len, int chat, fd_oai_request *out, fd_oai_error *err);
void fd_oai_request_free(fd_oai_request *r);

// ---- responses (json_t * from jansson, as void * so this header needs no jansson)

// One generated token as the response builders see it.
typedef struct fd_oai_token {
    int32_t id;
    const char *piece;       // the token's bytes (may be partial UTF-8)
    size_t piece_len;
    float logprob;
    int n_top;
    const int32_t *top_ids;
    const float *top_logprobs;
    const char *const *top_pieces;
    const size_t *top_piece_lens;
} fd_oai_token;

// A JSON string for `len` bytes; invalid UTF-8 becomes U+FFFD (jansson refuses it).
void *fd_oai_text(const char *s, size_t len);
// The logprobs object of one token, chat shape ({token, logprob, bytes, top_logprobs}).
void *fd_oai_chat_logprob(const fd_oai_token *t);
// Completions logprobs ({tokens, token_logprobs, top_logprobs, text_offset}) for n tokens.
void *fd_oai_completion_logprobs(const fd_oai_token *toks, int n, size_t text_offset0);
// {"prompt_tokens", "completion_tokens", "total_tokens"[, "prompt_tokens_details"]}.
void *fd_oai_usage(int prompt_tokens, int completion_tokens, int cached_tokens);
// The envelope {"id", "object", "created", "model", "choices": []}; returns it and
// sets *choices to its (borrowed) choices array.
void *fd_oai_envelope(const char *id, const char *object, long long created, const char *model,
                      void **choices);
// Serializes and frees `json`: "data: {...}\n\n" when sse, else the bare text.
char *fd_oai_dump(void *json, int sse);

#endif
