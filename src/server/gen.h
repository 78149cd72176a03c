// SPDX-License-Identifier: Apache-2.0
// One generation request as the server holds it: n engine requests (choices), the
// events their callbacks queue, and the output being streamed. Shared by
// generation.c (life cycle, engine side) and gen_output.c (JSON and SSE).
#ifndef FD_SERVER_GEN_H
#define FD_SERVER_GEN_H

#include <pthread.h>
#include <stdint.h>

#include "server/server_internal.h"

// One event from the engine, copied out of the callback.
typedef struct srv_event {
    struct srv_event *next;
    int choice;
    int finished;                   // FD_EVENT_FINISHED (the choice's record has the rest)
    int32_t token;
    float logprob;
    int n_top;
    fd_token_logprob top[FD_OAI_MAX_TOP_LOGPROBS];
    size_t len;
    char text[];                    // the text released by the token
} srv_event;

typedef struct srv_choice {
    struct srv_gen *g;
    int index;
    uint64_t rid;                   // engine request id, valid when submitted
    int submitted, finished;
    char finish_reason[16];
    char error[256];
    int prompt_tokens, completion_tokens, cached_tokens;
    size_t text_off;                // streamed text so far (completions' text_offset)
} srv_choice;

typedef struct sbuf { char *p; size_t len, cap; } sbuf;

struct srv_gen {
    fd_server *s;
    fd_oai_request req;
    int n_prompt;
    char id[48];
    long long created;
    int fd;                         // the client's socket, to notice a hang-up while waiting
    pthread_mutex_t mu;             // guards what follows, down to `aborted`
    pthread_cond_t cv;
    int refs;                       // the connection, the stream response, each engine request
    srv_choice ch[FD_OAI_MAX_N];
    int n_finished;
    srv_event *head, *tail;
    int aborted;
    // streaming state (the connection's thread only)
    sbuf out;
    size_t out_pos;
    int stream_done;
    double abort_at;                // when the shutdown abort was sent
};

int sbuf_add(sbuf *b, const char *s, size_t n);
// Appends and frees `s` (NULL is an out-of-memory error).
int sbuf_take(sbuf *b, char *s);

// Formats the chunks of `events` (a detached list) into g->out; frees the events.
// With `last`, adds the usage chunk (if asked) and "data: [DONE]".
void fd_gen_format_stream(srv_gen *g, srv_event *events, int last);
// The role chunks that open a chat stream.
void fd_gen_format_stream_start(srv_gen *g);
// The whole (non-streamed) response body from the queued events; frees them.
char *fd_gen_format_whole(srv_gen *g, srv_event *events);

#endif
