// SPDX-License-Identifier: Apache-2.0
// Generation requests: from a parsed body to prompt tokens, n engine requests,
// the engine callback that queues events, and the answer: a streamed response
// read from the queue, or one JSON body once every choice has finished. A client
// that hangs up (noticed by peeking its socket while waiting, or by MHD when a
// write fails) gets its engine requests aborted so their KV blocks are freed.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "fdeploy/chat.h"
#include "server/gen.h"

#define WAIT_SLICE_S 0.1
#define SHUTDOWN_ABORT_WAIT_S 3.0

// ---- life cycle

static srv_gen *gen_new(fd_server *s, fd_oai_request *req, int fd) {
    srv_gen *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->s = s;
    g->req = *req;
    memset(req, 0, sizeof *req);
    g->fd = fd;
    g->refs = 1;
    g->created = (long long)time(NULL);
    unsigned long long n = atomic_fetch_add(&s->next_id, 1);
    snprintf(g->id, sizeof g->id, "%s-%llx%08llx", g->req.chat ? "chatcmpl" : "cmpl",
             (unsigned long long)s->started, n);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    for (int i = 0; i < FD_OAI_MAX_N; i++) {
        g->ch[i].g = g;
        g->ch[i].index = i;
    }
    pthread_mutex_lock(&s->mu);
    s->n_live++;
    pthread_mutex_unlock(&s->mu);
    return g;
}

static void gen_unref(srv_gen *g) {
    pthread_mutex_lock(&g->mu);
    int left = --g->refs;
    pthread_mutex_unlock(&g->mu);
    if (left > 0) return;
    fd_server *s = g->s;
    for (srv_event *e = g->head, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    free(g->out.p);
    fd_oai_request_free(&g->req);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
    pthread_mutex_lock(&s->mu);
    s->n_live--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

// Aborts every choice still generating (not holding g->mu: the engine may call back).
static void gen_abort(srv_gen *g) {
    uint64_t ids[FD_OAI_MAX_N];
    int n = 0;
    pthread_mutex_lock(&g->mu);
    g->aborted = 1;
    for (int i = 0; i < g->req.n; i++)
        if (g->ch[i].submitted && !g->ch[i].finished) ids[n++] = g->ch[i].rid;
    pthread_mutex_unlock(&g->mu);
    for (int i = 0; i < n; i++) fd_engine_abort(g->s->engine, ids[i]);
}

void fd_server_gen_done(srv_gen *g, int ok) {
    if (!g) return;
    if (!ok) gen_abort(g);
    gen_unref(g);
}

// ---- the engine side (runs on the engine's thread)

static void on_event(const fd_request_event *ev, void *user) {
    srv_choice *c = user;
    srv_gen *g = c->g;
    size_t len = ev->kind == FD_EVENT_TOKEN ? ev->text_len : 0;
    srv_event *e = malloc(sizeof *e + len);
    pthread_mutex_lock(&g->mu);
    if (e) {
        memset(e, 0, sizeof *e);
        e->choice = c->index;
        e->finished = ev->kind == FD_EVENT_FINISHED;
        e->token = ev->token;
        e->logprob = ev->logprob;
        e->n_top = ev->n_top < FD_OAI_MAX_TOP_LOGPROBS ? ev->n_top : FD_OAI_MAX_TOP_LOGPROBS;
        if (e->n_top > 0 && ev->top) memcpy(e->top, ev->top, (size_t)e->n_top * sizeof e->top[0]);
        else e->n_top = 0;
        e->len = len;
        if (len) memcpy(e->text, ev->text, len);
        if (g->tail) g->tail->next = e;
        else g->head = e;
        g->tail = e;
    }
    int finished = ev->kind == FD_EVENT_FINISHED;
    if (finished) {
        c->finished = 1;
        g->n_finished++;
        snprintf(c->finish_reason, sizeof c->finish_reason, "%s",
                 ev->finish_reason ? ev->finish_reason : "stop");
        snprintf(c->error, sizeof c->error, "%s", ev->error ? ev->error : "");
        if (!e) snprintf(c->error, sizeof c->error, "out of memory for the output");
        c->prompt_tokens = ev->prompt_tokens;
        c->completion_tokens = ev->completion_tokens;
        c->cached_tokens = ev->cached_tokens;
    }
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (finished) gen_unref(g);  // the engine request's reference
}

// ---- waiting (the connection's thread)

// 1 when the client has closed its end (a read would return EOF or an error).
static int client_gone(int fd) {
    if (fd < 0) return 0;
    char b;
    ssize_t r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void timed_wait(srv_gen *g) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(WAIT_SLICE_S * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&g->cv, &g->mu, &ts);
}

// Waits (g->mu held) until `ready(g)` or something to give up for: returns 0 when
// ready, -1 when the client left or the shutdown abort timed out.
static int wait_until(srv_gen *g, int (*ready)(const srv_gen *)) {
    while (!ready(g)) {
        timed_wait(g);
        if (ready(g)) break;
        int aborting = atomic_load(&g->s->aborting);
        if (client_gone(g->fd) || (aborting && g->abort_at > 0 &&
                                   fd_server_now() - g->abort_at > SHUTDOWN_ABORT_WAIT_S)) {
            pthread_mutex_unlock(&g->mu);
            gen_abort(g);
            pthread_mutex_lock(&g->mu);
            return -1;
        }
        if (aborting && g->abort_at == 0) {
            g->abort_at = fd_server_now();
            pthread_mutex_unlock(&g->mu);
            gen_abort(g);
            pthread_mutex_lock(&g->mu);
        }
    }
    return 0;
}

static int has_events(const srv_gen *g) { return g->head != NULL || g->n_finished == g->req.n; }
static int all_finished(const srv_gen *g) { return g->n_finished == g->req.n; }

// Detaches the queued events (g->mu held).
static srv_event *take_events(srv_gen *g) {
    srv_event *e = g->head;
    g->head = g->tail = NULL;
    return e;
}

// MHD's content reader for a streamed response.
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    srv_gen *g = cls;
    while (g->out_pos == g->out.len) {
        g->out.len = g->out_pos = 0;
        if (g->stream_done) return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&g->mu);
        int rc = wait_until(g, has_events);
        srv_event *ev = take_events(g);
        int last = all_finished(g);
        pthread_mutex_unlock(&g->mu);
        if (rc < 0) {
            for (srv_event *next; ev; ev = next) {
                next = ev->next;
                free(ev);
            }
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        fd_gen_format_stream(g, ev, last);
        if (last) g->stream_done = 1;
    }
    size_t n = g->out.len - g->out_pos;
    if (n > max) n = max;
    memcpy(buf, g->out.p + g->out_pos, n);
    g->out_pos += n;
    return (ssize_t)n;
}

static void stream_free(void *cls) { gen_unref(cls); }

// ---- from the request to prompt tokens

static int tokenize(fd_server *s, const char *text, int32_t **ids, int *n, fd_oai_error *err) {
    unsigned fl = FD_TOKENIZE_ADD_SPECIAL | FD_TOKENIZE_PARSE_SPECIAL;
    size_t len = strlen(text);
    if (fd_tokenizer_encode(s->tok, text, len, fl, NULL, 0, n) != FD_OK ||
        !(*ids = malloc((size_t)(*n > 0 ? *n : 1) * sizeof **ids)) ||
        fd_tokenizer_encode(s->tok, text, len, fl, *ids, *n, n) != FD_OK) {
        fd_oai_error_set(err, 400, NULL, NULL, "cannot tokenize the prompt: %s", fd_last_error());
        return -1;
    }
    return 0;
}

// The prompt's token ids (malloc'ed), checked against the vocabulary and the context.
static int32_t *prompt_tokens(fd_server *s, fd_oai_request *r, int *n, fd_oai_error *err) {
    int32_t *ids = NULL;
    const char *param = r->chat ? "messages" : "prompt";
    *n = 0;
    if (r->chat) {
        char *text = NULL;
        if (fd_chat_apply(s->chat_template, r->msgs, r->n_msgs, 1, &text) != FD_OK) {
            fd_oai_error_set(err, 400, "messages", NULL, "cannot apply the chat template: %s",
                             fd_last_error());
            return NULL;
        }
        int rc = tokenize(s, text, &ids, n, err);
        free(text);
        if (rc < 0) goto fail;
    } else if (r->prompt) {
        if (tokenize(s, r->prompt, &ids, n, err) < 0) goto fail;
    } else {
        int nv = fd_tokenizer_n_vocab(s->tok);
        for (int i = 0; i < r->n_prompt_ids; i++)
            if (r->prompt_ids[i] >= nv) {
                fd_oai_error_set(err, 400, "prompt", NULL, "'prompt[%d]' is token %d; the vocabulary has %d",
                                 i, r->prompt_ids[i], nv);
                return NULL;
            }
        ids = r->prompt_ids;
        r->prompt_ids = NULL;
        *n = r->n_prompt_ids;
    }
    if (*n == 0) {
        fd_oai_error_set(err, 400, param, NULL, "the prompt is empty (0 tokens)");
        goto fail;
    }
    if (*n >= s->max_model_len) {
        fd_oai_error_set(err, 400, param, "context_length_exceeded",
                         "This model's maximum context length is %d tokens. However, your prompt "
                         "has %d tokens; shorten it to at most %d tokens.",
                         s->max_model_len, *n, s->max_model_len - 1);
        goto fail;
    }
    return ids;
fail:
    free(ids);
    return NULL;
}

// max_tokens: checked against the context left after the prompt, or its default.
static int resolve_max_tokens(fd_server *s, fd_oai_request *r, int n_prompt, fd_oai_error *err) {
    int room = s->max_model_len - n_prompt;
    if (r->max_tokens < 0) {
        r->max_tokens = r->chat ? room : (room < 16 ? room : 16);
        return 0;
    }
    if (r->max_tokens > room) {
        fd_oai_error_set(err, 400, "max_tokens", "context_length_exceeded",
                         "max_tokens is %d, but the prompt has %d tokens and this model's maximum "
                         "context length is %d tokens: at most %d tokens can be generated.",
                         r->max_tokens, n_prompt, s->max_model_len, room);
        return -1;
    }
    return 0;
}

// ---- submitting

static void request_params(const srv_gen *g, int i, fd_request_params *p) {
    fd_request_params_default(p);
    p->sampling = g->req.sampling;
    p->sampling.seed = g->req.sampling.seed + (uint64_t)i;
    p->max_tokens = g->req.max_tokens;
    p->stops = (const char *const *)g->req.stops;
    p->n_stops = g->req.n_stops;
    p->ignore_eos = g->req.ignore_eos;
    p->logprobs = g->req.logprobs;
    p->top_logprobs = g->req.top_logprobs;
}

static int submit_all(srv_gen *g, const int32_t *ids, int n, fd_oai_error *err) {
    if (!g->req.has_seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        g->req.sampling.seed = (uint64_t)ts.tv_nsec * 2654435761u ^ (uint64_t)ts.tv_sec ^
                               atomic_fetch_add(&g->s->next_id, 1) << 32;
    }
    for (int i = 0; i < g->req.n; i++) {
        fd_request_params p;
        request_params(g, i, &p);
        uint64_t rid = 0;
        pthread_mutex_lock(&g->mu);
        g->refs++;
        pthread_mutex_unlock(&g->mu);
        fd_status st = fd_engine_submit(g->s->engine, ids, n, &p, on_event, &g->ch[i], &rid);
        if (st != FD_OK) {
            fd_oai_error_set(err, st == FD_ERR_INVALID_ARG ? 400 : 500, NULL, NULL, "%s",
                             fd_last_error());
            gen_unref(g);
            gen_abort(g);
            return -1;
        }
        pthread_mutex_lock(&g->mu);
        g->ch[i].rid = rid;
        g->ch[i].submitted = 1;
        pthread_mutex_unlock(&g->mu);
    }
    return 0;
}

// ---- answering

static enum MHD_Result answer_stream(srv_gen *g, struct MHD_Connection *c) {
    fd_gen_format_stream_start(g);
    pthread_mutex_lock(&g->mu);
    g->refs++;  // the response's
    pthread_mutex_unlock(&g->mu);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, g, stream_free);
    if (!r) {
        gen_unref(g);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result answer_whole(srv_gen *g, struct MHD_Connection *c) {
    pthread_mutex_lock(&g->mu);
    int rc = wait_until(g, all_finished);
    srv_event *ev = take_events(g);
    pthread_mutex_unlock(&g->mu);
    if (rc < 0) {
        for (srv_event *next; ev; ev = next) {
            next = ev->next;
            free(ev);
        }
        return MHD_NO;  // the client left: close
    }
    for (int i = 0; i < g->req.n; i++) {
        if (!strcmp(g->ch[i].finish_reason, "error")) {
            fd_oai_error err;
            fd_oai_error_set(&err, 500, NULL, NULL, "generation failed: %s", g->ch[i].error);
            for (srv_event *next; ev; ev = next) {
                next = ev->next;
                free(ev);
            }
            return fd_server_send_error(c, &err);
        }
    }
    char *body = fd_gen_format_whole(g, ev);
    if (!body) return MHD_NO;
    enum MHD_Result ret = fd_server_send(c, 200, "application/json", body, strlen(body));
    free(body);
    return ret;
}

static int client_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? (int)ci->connect_fd : -1;
}

enum MHD_Result fd_server_generate(fd_server *s, struct MHD_Connection *c, int chat,
                                   const char *body, size_t len, srv_gen **gen_out) {
    fd_oai_request req;
    fd_oai_error err;
    int n = 0;
    int32_t *ids = NULL;
    *gen_out = NULL;
    if (fd_oai_parse(body, len, chat, &req, &err) < 0) return fd_server_send_error(c, &err);
    if (req.model && strcmp(req.model, s->cfg.model_id) != 0) {
        fd_oai_error_set(&err, 404, "model", "model_not_found",
                         "The model '%.200s' does not exist; this server serves '%.200s'",
                         req.model, s->cfg.model_id);
        goto fail;
    }
    if (!(ids = prompt_tokens(s, &req, &n, &err)) || resolve_max_tokens(s, &req, n, &err) < 0)
        goto fail;
    srv_gen *g = gen_new(s, &req, client_fd(c));
    if (!g) {
        fd_oai_error_set(&err, 500, NULL, NULL, "out of memory");
        goto fail;
    }
    g->n_prompt = n;
    *gen_out = g;
    int rc = submit_all(g, ids, n, &err);
    free(ids);
    if (rc < 0) return fd_server_send_error(c, &err);
    return g->req.stream ? answer_stream(g, c) : answer_whole(g, c);
fail:
    free(ids);
    fd_oai_request_free(&req);
    return fd_server_send_error(c, &err);
}
