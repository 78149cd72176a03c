// SPDX-License-Identifier: Apache-2.0
// What the server's files share: the server state, the generation handlers and
// the metrics page.
#ifndef FD_SERVER_INTERNAL_H
#define FD_SERVER_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "fdeploy/engine.h"
#include "fdeploy/tokenizer.h"
#include "server/openai.h"
#include "server/server.h"

typedef struct fd_server {
    fd_engine *engine;
    fd_model *model;
    const fd_tokenizer *tok;
    const char *chat_template;
    fd_server_config cfg;
    int max_model_len;
    long long started;              // unix time
    struct MHD_Daemon *daemon;
    pthread_mutex_t mu;             // guards n_live and the metrics' last scrape
    pthread_cond_t cv;              // signalled when n_live drops
    int n_live;                     // generation requests alive (HTTP side or engine side)
    atomic_int aborting;            // shutdown: abort everything in flight
    atomic_ullong next_id;
    double last_scrape_s;
    uint64_t last_scrape_tokens;
} fd_server;

double fd_server_now(void);

// Queues the response of an error.
enum MHD_Result fd_server_send_error(struct MHD_Connection *c, const fd_oai_error *err);
// Queues a response with a body (copied) and a content type.
enum MHD_Result fd_server_send(struct MHD_Connection *c, int status, const char *type,
                               const char *body, size_t len);

// POST /v1/completions and /v1/chat/completions: parses, submits, answers
// (streamed or whole). *gen_out receives the generation for the connection
// (a reference the connection drops with fd_server_gen_done), or NULL.
typedef struct srv_gen srv_gen;
enum MHD_Result fd_server_generate(fd_server *s, struct MHD_Connection *c, int chat,
                                   const char *body, size_t len, srv_gen **gen_out);
// The connection is over: when it ended early (ok == 0), aborts what is still
// generating; drops the connection's reference.
void fd_server_gen_done(srv_gen *g, int ok);

// GET /metrics: the Prometheus text page (malloc'ed).
char *fd_server_metrics(fd_server *s);

#endif
