// SPDX-License-Identifier: Apache-2.0
// One request through the engine: submit, collect events, wait.
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_util.h"

double fd_cli_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

int fd_cli_parse_device(const char *s) {
    if (!strcmp(s, "cpu")) return -1;
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= 0 && v < 64 ? (int)v : -2;
}

static void on_event(const fd_request_event *ev, void *user) {
    fd_cli_request *r = user;
    if (r->print && ev->text_len) {
        fwrite(ev->text, 1, ev->text_len, stdout);
        fflush(stdout);
    }
    pthread_mutex_lock(&r->mu);
    if (ev->kind == FD_EVENT_TOKEN) {
        double now = fd_cli_now();
        if (r->n_tokens++ == 0) r->t_first = now;
        r->t_last = now;
    } else {
        snprintf(r->reason, sizeof r->reason, "%s", ev->finish_reason);
        if (ev->error) snprintf(r->error, sizeof r->error, "%s", ev->error);
        r->done = 1;
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
}

fd_status fd_cli_run_request(fd_engine *e, const int32_t *ids, int n, const fd_request_params *rp,
                             int print, fd_cli_request *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->print = print;
    r->t_submit = fd_cli_now();
    fd_status s = fd_engine_submit(e, ids, n, rp, on_event, r, NULL);
    if (s != FD_OK) return s;
    pthread_mutex_lock(&r->mu);
    while (!r->done) pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    return FD_OK;
}
