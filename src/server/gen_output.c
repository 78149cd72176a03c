// SPDX-License-Identifier: Apache-2.0
// The output of a generation request in OpenAI's shapes: SSE chunks
// (chat.completion.chunk / text_completion) and whole responses
// (chat.completion / text_completion), from the events the engine queued.
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server/gen.h"

#define PIECE_CAP 128

int sbuf_add(sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int sbuf_take(sbuf *b, char *s) {
    if (!s) return -1;
    int rc = sbuf_add(b, s, strlen(s));
    free(s);
    return rc;
}

static void free_events(srv_event *e) {
    for (srv_event *next; e; e = next) {
        next = e->next;
        free(e);
    }
}

// ---- tokens with their spellings, for logprobs

typedef struct tokbuf {
    char piece[PIECE_CAP];
    char top[FD_OAI_MAX_TOP_LOGPROBS][PIECE_CAP];
    const char *top_ptr[FD_OAI_MAX_TOP_LOGPROBS];
    size_t top_len[FD_OAI_MAX_TOP_LOGPROBS];
    int32_t top_id[FD_OAI_MAX_TOP_LOGPROBS];
    float top_lp[FD_OAI_MAX_TOP_LOGPROBS];
} tokbuf;

static size_t piece(const fd_tokenizer *tok, int32_t id, char *buf) {
    size_t len = 0;
    if (fd_tokenizer_decode_token(tok, id, buf, PIECE_CAP, &len) != FD_OK || len > PIECE_CAP)
        return 0;
    return len;
}

static void event_token(const fd_tokenizer *tok, const srv_event *e, tokbuf *b, fd_oai_token *t) {
    memset(t, 0, sizeof *t);
    t->id = e->token;
    t->piece = b->piece;
    t->piece_len = piece(tok, e->token, b->piece);
    t->logprob = e->logprob;
    t->n_top = e->n_top;
    for (int k = 0; k < e->n_top; k++) {
        b->top_id[k] = e->top[k].id;
        b->top_lp[k] = e->top[k].logprob;
        b->top_ptr[k] = b->top[k];
        b->top_len[k] = piece(tok, e->top[k].id, b->top[k]);
    }
    t->top_ids = b->top_id;
    t->top_logprobs = b->top_lp;
    t->top_pieces = b->top_ptr;
    t->top_piece_lens = b->top_len;
}

// The logprobs value of one token event: chat {"content": [..]} or the completions shape.
static json_t *event_logprobs(srv_gen *g, const srv_event *e, size_t text_off) {
    tokbuf *b = malloc(sizeof *b);
    if (!b) return json_null();
    fd_oai_token t;
    event_token(g->s->tok, e, b, &t);
    json_t *lp;
    if (g->req.chat) {
        lp = json_object();
        json_t *content = json_array();
        json_array_append_new(content, fd_oai_chat_logprob(&t));
        json_object_set_new(lp, "content", content);
    } else {
        lp = fd_oai_completion_logprobs(&t, 1, text_off);
    }
    free(b);
    return lp;
}

// ---- streaming

static json_t *chunk(srv_gen *g, json_t **choices) {
    json_t *o = fd_oai_envelope(g->id, g->req.chat ? "chat.completion.chunk" : "text_completion",
                                g->created, g->s->cfg.model_id, (void **)choices);
    if (g->req.include_usage) json_object_set_new(o, "usage", json_null());
    return o;
}

static json_t *stream_choice(srv_gen *g, int index, const srv_event *e, const char *finish) {
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(index));
    json_t *text = e ? fd_oai_text(e->text, e->len) : json_string("");
    if (g->req.chat) {
        json_t *delta = json_object();
        if (e) json_object_set_new(delta, "content", text);
        else json_decref(text);
        json_object_set_new(c, "delta", delta);
    } else {
        json_object_set_new(c, "text", text);
    }
    srv_choice *ch = &g->ch[index];
    json_object_set_new(c, "logprobs",
                        e && g->req.logprobs ? event_logprobs(g, e, ch->text_off) : json_null());
    if (e) ch->text_off += e->len;
    json_object_set_new(c, "finish_reason", finish ? json_string(finish) : json_null());
    return c;
}

void fd_gen_format_stream_start(srv_gen *g) {
    if (!g->req.chat) return;
    for (int i = 0; i < g->req.n; i++) {
        json_t *choices, *o = chunk(g, &choices);
        json_t *c = json_object(), *delta = json_object();
        json_object_set_new(delta, "role", json_string("assistant"));
        json_object_set_new(delta, "content", json_string(""));
        json_object_set_new(c, "index", json_integer(i));
        json_object_set_new(c, "delta", delta);
        json_object_set_new(c, "logprobs", json_null());
        json_object_set_new(c, "finish_reason", json_null());
        json_array_append_new(choices, c);
        sbuf_take(&g->out, fd_oai_dump(o, 1));
    }
}

static void format_finish(srv_gen *g, const srv_event *e) {
    srv_choice *ch = &g->ch[e->choice];
    if (!strcmp(ch->finish_reason, "error")) {
        fd_oai_error err;
        fd_oai_error_set(&err, 500, NULL, NULL, "generation failed: %s", ch->error);
        char *body = fd_oai_error_json(&err);
        sbuf_add(&g->out, "data: ", 6);
        sbuf_take(&g->out, body);
        sbuf_add(&g->out, "\n\n", 2);
    }
    json_t *choices, *o = chunk(g, &choices);
    json_array_append_new(choices, stream_choice(g, e->choice, NULL, ch->finish_reason));
    sbuf_take(&g->out, fd_oai_dump(o, 1));
}

static void format_usage(srv_gen *g) {
    int completion = 0;
    for (int i = 0; i < g->req.n; i++) completion += g->ch[i].completion_tokens;
    json_t *choices, *o = chunk(g, &choices);
    json_object_set_new(o, "usage", fd_oai_usage(g->n_prompt, completion, g->ch[0].cached_tokens));
    sbuf_take(&g->out, fd_oai_dump(o, 1));
}

void fd_gen_format_stream(srv_gen *g, srv_event *events, int last) {
    for (srv_event *e = events; e; e = e->next) {
        if (e->finished) {
            format_finish(g, e);
        } else if (e->len > 0 || g->req.logprobs) {
            json_t *choices, *o = chunk(g, &choices);
            json_array_append_new(choices, stream_choice(g, e->choice, e, NULL));
            sbuf_take(&g->out, fd_oai_dump(o, 1));
        }
    }
    free_events(events);
    if (!last) return;
    if (g->req.include_usage) format_usage(g);
    sbuf_add(&g->out, "data: [DONE]\n\n", 14);
}

// ---- whole responses

// Appends one token's logprobs to a choice's accumulated logprobs value.
static void add_logprobs(srv_gen *g, json_t **acc, const srv_event *e, size_t text_off) {
    json_t *lp = event_logprobs(g, e, text_off);
    if (!*acc) {
        *acc = lp;
        return;
    }
    if (g->req.chat) {
        json_array_extend(json_object_get(*acc, "content"), json_object_get(lp, "content"));
    } else {
        static const char *const keys[] = {"tokens", "token_logprobs", "top_logprobs", "text_offset"};
        for (int k = 0; k < 4; k++)
            json_array_extend(json_object_get(*acc, keys[k]), json_object_get(lp, keys[k]));
    }
    json_decref(lp);
}

static json_t *empty_logprobs(int chat) {
    if (chat) return json_pack("{s:[]}", "content");
    return json_pack("{s:[],s:[],s:[],s:[]}", "tokens", "token_logprobs", "top_logprobs",
                     "text_offset");
}

static json_t *whole_choice(srv_gen *g, int i, const sbuf *text, json_t *lp) {
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(i));
    json_t *t = fd_oai_text(text->p ? text->p : "", text->len);
    if (g->req.chat) {
        json_t *msg = json_object();
        json_object_set_new(msg, "role", json_string("assistant"));
        json_object_set_new(msg, "content", t);
        json_object_set_new(c, "message", msg);
    } else {
        json_object_set_new(c, "text", t);
    }
    if (g->req.logprobs && !lp) lp = empty_logprobs(g->req.chat);
    json_object_set_new(c, "logprobs", lp ? lp : json_null());
    json_object_set_new(c, "finish_reason", json_string(g->ch[i].finish_reason));
    return c;
}

char *fd_gen_format_whole(srv_gen *g, srv_event *events) {
    sbuf text[FD_OAI_MAX_N];
    json_t *lp[FD_OAI_MAX_N];
    memset(text, 0, sizeof text);
    memset(lp, 0, sizeof lp);
    for (srv_event *e = events; e; e = e->next) {
        if (e->finished) continue;
        if (g->req.logprobs) add_logprobs(g, &lp[e->choice], e, text[e->choice].len);
        sbuf_add(&text[e->choice], e->text, e->len);
    }
    free_events(events);
    json_t *choices;
    json_t *o = fd_oai_envelope(g->id, g->req.chat ? "chat.completion" : "text_completion",
                                g->created, g->s->cfg.model_id, (void **)&choices);
    int completion = 0;
    for (int i = 0; i < g->req.n; i++) {
        json_array_append_new(choices, whole_choice(g, i, &text[i], lp[i]));
        completion += g->ch[i].completion_tokens;
        free(text[i].p);
    }
    json_object_set_new(o, "usage", fd_oai_usage(g->n_prompt, completion, g->ch[0].cached_tokens));
    return fd_oai_dump(o, 0);
}
