// SPDX-License-Identifier: Apache-2.0
// Building OpenAI response JSON: envelopes, usage, logprobs in the chat and the
// completions shapes, and the SSE framing.
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/openai.h"

// Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid.
static size_t utf8_seq(const unsigned char *s, size_t n) {
    size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
               : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || len > n || (len == 2 && s[0] < 0xC2)) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (len == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0))) return 0;
    if (len == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || s[0] > 0xF4 || (s[0] == 0xF4 && s[1] >= 0x90)))
        return 0;
    if (len == 1 && s[0] == 0) return 0;  // jansson strings may hold NUL, but clients choke
    return len;
}

void *fd_oai_text(const char *s, size_t len) {
    json_t *j = json_stringn(s, len);
    if (j) return j;
    // Replace each invalid byte by U+FFFD.
    char *buf = malloc(len * 3 + 1);
    if (!buf) return json_string("");
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq(u + i, len - i);
        if (k) {
            memcpy(buf + o, u + i, k);
            o += k;
            i += k;
        } else {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    j = json_stringn(buf, o);
    free(buf);
    return j ? j : json_string("");
}

static json_t *byte_array(const char *s, size_t len) {
    json_t *a = json_array();
    for (size_t i = 0; i < len; i++) json_array_append_new(a, json_integer((unsigned char)s[i]));
    return a;
}

// -inf logprobs (masked tokens) are not JSON; clamp like vLLM does.
static json_t *logprob_real(float lp) {
    return json_real(isfinite(lp) ? (double)lp : -9999.0);
}

void *fd_oai_chat_logprob(const fd_oai_token *t) {
    json_t *o = json_object();
    json_object_set_new(o, "token", fd_oai_text(t->piece, t->piece_len));
    json_object_set_new(o, "logprob", logprob_real(t->logprob));
    json_object_set_new(o, "bytes", byte_array(t->piece, t->piece_len));
    json_t *top = json_array();
    for (int k = 0; k < t->n_top; k++) {
        json_t *a = json_object();
        json_object_set_new(a, "token", fd_oai_text(t->top_pieces[k], t->top_piece_lens[k]));
        json_object_set_new(a, "logprob", logprob_real(t->top_logprobs[k]));
        json_object_set_new(a, "bytes", byte_array(t->top_pieces[k], t->top_piece_lens[k]));
        json_array_append_new(top, a);
    }
    json_object_set_new(o, "top_logprobs", top);
    return o;
}

void *fd_oai_completion_logprobs(const fd_oai_token *toks, int n, size_t text_offset0) {
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    size_t off = text_offset0;
    for (int i = 0; i < n; i++) {
        const fd_oai_token *t = &toks[i];
        json_array_append_new(tokens, fd_oai_text(t->piece, t->piece_len));
        json_array_append_new(lps, logprob_real(t->logprob));
        json_array_append_new(offs, json_integer((json_int_t)off));
        off += t->piece_len;
        json_t *top = json_object();
        for (int k = 0; k < t->n_top; k++) {
            json_t *key = fd_oai_text(t->top_pieces[k], t->top_piece_lens[k]);
            // Two alternatives can share a spelling; keep the first (the likelier).
            if (!json_object_get(top, json_string_value(key)))
                json_object_set_new(top, json_string_value(key), logprob_real(t->top_logprobs[k]));
            json_decref(key);
        }
        json_array_append_new(tops, t->n_top > 0 ? top : json_null());
        if (t->n_top <= 0) json_decref(top);
    }
    json_t *o = json_object();
    json_object_set_new(o, "tokens", tokens);
    json_object_set_new(o, "token_logprobs", lps);
    json_object_set_new(o, "top_logprobs", tops);
    json_object_set_new(o, "text_offset", offs);
    return o;
}

void *fd_oai_usage(int prompt_tokens, int completion_tokens, int cached_tokens) {
    json_t *u = json_object();
    json_object_set_new(u, "prompt_tokens", json_integer(prompt_tokens));
    json_object_set_new(u, "completion_tokens", json_integer(completion_tokens));
    json_object_set_new(u, "total_tokens", json_integer(prompt_tokens + completion_tokens));
    json_t *d = json_object();
    json_object_set_new(d, "cached_tokens", json_integer(cached_tokens));
    json_object_set_new(u, "prompt_tokens_details", d);
    return u;
}

void *fd_oai_envelope(const char *id, const char *object, long long created, const char *model,
                      void **choices) {
    json_t *o = json_object();
    json_t *c = json_array();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "object", json_string(object));
    json_object_set_new(o, "created", json_integer(created));
    json_object_set_new(o, "model", fd_oai_text(model, strlen(model)));
    json_object_set_new(o, "choices", c);
    *choices = c;
    return o;
}

char *fd_oai_dump(void *json, int sse) {
    char *s = json_dumps((json_t *)json, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref((json_t *)json);
    if (!s || !sse) return s;
    size_t n = strlen(s);
    char *out = malloc(n + 9);
    if (out) {
        memcpy(out, "data: ", 6);
        memcpy(out + 6, s, n);
        memcpy(out + 6 + n, "\n\n", 3);
    }
    free(s);
    return out;
}
