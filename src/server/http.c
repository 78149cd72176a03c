// SPDX-License-Identifier: Apache-2.0
// The HTTP side: a libmicrohttpd daemon (one thread per connection), the body
// read with a size limit, authentication, routing, and the graceful shutdown on
// SIGINT/SIGTERM.
#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/internal.h"
#include "server/gen.h"

#define DEFAULT_MAX_BODY (4u << 20)

// Per connection (MHD's con_cls): the body read so far and the generation.
typedef struct srv_conn {
    sbuf body;
    size_t received;
    int too_large;
    srv_gen *gen;
} srv_conn;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

double fd_server_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

// ---- responses

enum MHD_Result fd_server_send(struct MHD_Connection *c, int status, const char *type,
                               const char *body, size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result fd_server_send_error(struct MHD_Connection *c, const fd_oai_error *err) {
    char *body = fd_oai_error_json(err);
    if (!body) return MHD_NO;
    enum MHD_Result ret = fd_server_send(c, err->status, "application/json", body, strlen(body));
    free(body);
    return ret;
}

static enum MHD_Result send_errorf(struct MHD_Connection *c, int status, const char *code,
                                   const char *msg) {
    fd_oai_error err;
    fd_oai_error_set(&err, status, NULL, code, "%s", msg);
    return fd_server_send_error(c, &err);
}

// 405 with the Allow header naming the route's method.
static enum MHD_Result send_405(struct MHD_Connection *c, const char *path, const char *method,
                                const char *allow) {
    fd_oai_error err;
    fd_oai_error_set(&err, 405, NULL, "method_not_allowed", "method %.20s is not allowed on %s; use %s",
                     method, path, allow);
    char *body = fd_oai_error_json(&err);
    struct MHD_Response *r = body ? MHD_create_response_from_buffer(strlen(body), body,
                                                                    MHD_RESPMEM_MUST_FREE)
                                  : NULL;
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Allow", allow);
    enum MHD_Result ret = MHD_queue_response(c, 405, r);
    MHD_destroy_response(r);
    return ret;
}

// ---- routes

static enum MHD_Result route_models(fd_server *s, struct MHD_Connection *c) {
    json_t *m = json_pack("{s:s, s:s, s:I, s:s, s:i}", "id", s->cfg.model_id, "object", "model",
                          "created", (json_int_t)s->started, "owned_by", "fdeploy",
                          "max_model_len", s->max_model_len);
    json_t *o = json_pack("{s:s, s:[o]}", "object", "list", "data", m);
    char *body = fd_oai_dump(o, 0);
    if (!body) return MHD_NO;
    enum MHD_Result ret = fd_server_send(c, 200, "application/json", body, strlen(body));
    free(body);
    return ret;
}

static enum MHD_Result route_metrics(fd_server *s, struct MHD_Connection *c) {
    char *body = fd_server_metrics(s);
    if (!body) return MHD_NO;
    enum MHD_Result ret =
        fd_server_send(c, 200, "text/plain; version=0.0.4; charset=utf-8", body, strlen(body));
    free(body);
    return ret;
}

static int authorized(const fd_server *s, struct MHD_Connection *c) {
    if (!s->cfg.api_key || !*s->cfg.api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) return 0;
    const char *k = h + 7, *want = s->cfg.api_key;
    size_t n = strlen(k), m = strlen(want);
    unsigned diff = (unsigned)(n != m);
    for (size_t i = 0; i < n && i < m; i++) diff |= (unsigned)(k[i] ^ want[i]);  // constant time
    return diff == 0;
}

typedef struct route {
    const char *path, *method;
    int kind;  // 0 health, 1 models, 2 metrics, 3 completions, 4 chat
} route;

static const route ROUTES[] = {
    {"/health", "GET", 0},           {"/v1/models", "GET", 1},
    {"/metrics", "GET", 2},          {"/v1/completions", "POST", 3},
    {"/v1/chat/completions", "POST", 4},
};

static enum MHD_Result dispatch(fd_server *s, struct MHD_Connection *c, const char *url,
                                const char *method, srv_conn *cc) {
    const route *r = NULL;
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++)
        if (!strcmp(url, ROUTES[i].path)) r = &ROUTES[i];
    if (!r) {
        char msg[300];
        snprintf(msg, sizeof msg, "no route %.200s %.20s", url, method);
        return send_errorf(c, 404, "not_found", msg);
    }
    if (strcmp(method, r->method) != 0 && !(r->kind == 0 && !strcmp(method, "HEAD")))
        return send_405(c, r->path, method, r->method);
    if (r->kind == 0) return fd_server_send(c, 200, "text/plain", "ok", 2);
    if (!authorized(s, c))
        return send_errorf(c, 401, "invalid_api_key",
                           "missing or wrong API key: send the header 'Authorization: Bearer KEY'");
    if (cc->too_large) {
        char msg[200];
        snprintf(msg, sizeof msg, "the request body is larger than the limit of %zu bytes",
                 s->cfg.max_body_bytes);
        return send_errorf(c, 413, "request_too_large", msg);
    }
    switch (r->kind) {
    case 1: return route_models(s, c);
    case 2: return route_metrics(s, c);
    default:
        return fd_server_generate(s, c, r->kind == 4, cc->body.p ? cc->body.p : "", cc->body.len,
                                  &cc->gen);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    fd_server *s = cls;
    srv_conn *cc = *con_cls;
    if (!cc) {
        if (!(cc = calloc(1, sizeof *cc))) return MHD_NO;
        *con_cls = cc;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        // Count everything, keep at most the limit: a body too large is answered 413
        // once it has been read, and never buffered.
        cc->received += *upload_size;
        if (cc->received > s->cfg.max_body_bytes) cc->too_large = 1;
        if (!cc->too_large && sbuf_add(&cc->body, upload, *upload_size) < 0) cc->too_large = 1;
        if (cc->too_large) {
            free(cc->body.p);
            memset(&cc->body, 0, sizeof cc->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(s, c, url, method, cc);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    srv_conn *cc = *con_cls;
    if (!cc) return;
    fd_server_gen_done(cc->gen, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    free(cc->body.p);
    free(cc);
    *con_cls = NULL;
}

// ---- start, wait, stop

// MHD's messages on stderr, less the one every client that hangs up mid-stream causes.
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    if (strstr(fmt, "application error generating response")) return;
    fputs("fdeploy: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

static int resolve(const char *host, int port, struct sockaddr_storage *ss) {
    struct addrinfo hints = {0}, *res = NULL;
    char ps[16];
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0 || !res) {
        fd__error(FD_ERR_INVALID_ARG, "cannot resolve host '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static fd_status start(fd_server *s) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (resolve(s->cfg.host, s->cfg.port, &ss) < 0) return FD_ERR_INVALID_ARG;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)4000,
                                 MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                                 MHD_OPTION_END);
    if (!s->daemon)
        return fd__error(FD_ERR_INVALID_ARG,
                            "cannot listen on %s:%d (in use, or not an address of this machine)",
                            s->cfg.host, s->cfg.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    int port = di ? di->port : s->cfg.port;
    int v6 = ss.ss_family == AF_INET6;
    printf("fdeploy: serving %s on http://%s%s%s:%d (OpenAI API at /v1)\n", s->cfg.model_id,
           v6 ? "[" : "", s->cfg.host, v6 ? "]" : "", port);
    fflush(stdout);
    return FD_OK;
}

// Waits until no generation is alive or `timeout_s` passed; returns how many are left.
static int wait_live(fd_server *s, double timeout_s) {
    double end = fd_server_now() + timeout_s;
    pthread_mutex_lock(&s->mu);
    while (s->n_live > 0 && fd_server_now() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    int left = s->n_live;
    pthread_mutex_unlock(&s->mu);
    return left;
}

// Returns how many generations the engine still holds (their callbacks need `s`).
static int shutdown_server(fd_server *s) {
    fprintf(stderr, "fdeploy: shutting down: no new connections; waiting up to %.0f s for %d "
                    "request(s)\n", s->cfg.shutdown_grace_s, s->n_live);
    MHD_socket ls = MHD_quiesce_daemon(s->daemon);
    if (ls != MHD_INVALID_SOCKET) close(ls);
    int left = wait_live(s, s->cfg.shutdown_grace_s);
    if (left > 0) {
        fprintf(stderr, "fdeploy: aborting %d request(s) still in flight\n", left);
        atomic_store(&s->aborting, 1);
        wait_live(s, 5.0);
    }
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    return wait_live(s, 1.0);
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not a signal
}

fd_status fd_server_run(fd_engine *e, fd_model *m, const fd_server_config *cfg) {
    fd_server *s = calloc(1, sizeof *s);
    if (!s) return fd__error(FD_ERR_OOM, "out of memory for the server");
    s->engine = e;
    s->model = m;
    s->tok = fd_model_tokenizer(m);
    s->chat_template = fd_model_chat_template(m);
    s->cfg = *cfg;
    if (!s->cfg.max_body_bytes) s->cfg.max_body_bytes = DEFAULT_MAX_BODY;
    if (!s->cfg.host) s->cfg.host = "127.0.0.1";
    if (s->cfg.shutdown_grace_s <= 0) s->cfg.shutdown_grace_s = 5.0;
    s->max_model_len = fd_engine_max_model_len(e);
    s->started = (long long)time(NULL);
    s->last_scrape_s = fd_server_now();
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    g_stop = 0;
    install_signals();
    fd_status st = start(s);
    if (st == FD_OK) {
        struct timespec nap = {0, 50 * 1000000L};
        while (!g_stop) nanosleep(&nap, NULL);
        if (shutdown_server(s) > 0) {
            // The engine still calls back into requests that point here: keep `s` alive.
            fprintf(stderr, "fdeploy: %d request(s) did not finish their abort\n", s->n_live);
            return FD_OK;
        }
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return st;
}
