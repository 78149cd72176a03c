// SPDX-License-Identifier: Apache-2.0
// Thread pool: workers sleep on a condition variable between jobs; a job is
// one range function split into equal chunks, the caller runs chunk 0.
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"
#include "core/threadpool.h"

struct fd_threadpool {
    int n;                  // threads including the caller
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation;    // bumped per job
    int pending, quit;
    fd_range_fn fn;
    void *arg;
    int64_t total, grain;
};

static void chunk(const fd_threadpool *tp, int idx, int64_t *b, int64_t *e) {
    int64_t units = (tp->total + tp->grain - 1) / tp->grain;
    int64_t per = units / tp->n, extra = units % tp->n;
    int64_t ub = idx * per + (idx < extra ? idx : extra);
    int64_t ue = ub + per + (idx < extra ? 1 : 0);
    *b = ub * tp->grain;
    *e = ue * tp->grain < tp->total ? ue * tp->grain : tp->total;
}

typedef struct worker_arg { fd_threadpool *tp; int idx; } worker_arg;

static void *worker_main(void *p) {
    worker_arg *wa = p;
    fd_threadpool *tp = wa->tp;
    int idx = wa->idx;
    free(wa);
    uint64_t seen = 0;
    pthread_mutex_lock(&tp->mu);
    for (;;) {
        while (!tp->quit && tp->generation == seen) pthread_cond_wait(&tp->wake, &tp->mu);
        if (tp->quit) break;
        seen = tp->generation;
        pthread_mutex_unlock(&tp->mu);
        int64_t b, e;
        chunk(tp, idx, &b, &e);
        if (b < e) tp->fn(tp->arg, b, e);
        pthread_mutex_lock(&tp->mu);
        if (--tp->pending == 0) pthread_cond_signal(&tp->done);
    }
    pthread_mutex_unlock(&tp->mu);
    return NULL;
}

fd_status fd__threadpool_create(int n, fd_threadpool **out) {
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    fd_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return fd__error(FD_ERR_OOM, "thread pool: out of memory");
    tp->n = n;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->wake, NULL);
    pthread_cond_init(&tp->done, NULL);
    tp->workers = calloc((size_t)n, sizeof *tp->workers);
    if (!tp->workers) {
        free(tp);
        return fd__error(FD_ERR_OOM, "thread pool: out of memory");
    }
    for (int i = 1; i < n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->tp = tp;
            wa->idx = i;
        }
        if (!wa || pthread_create(&tp->workers[i], NULL, worker_main, wa) != 0) {
            free(wa);
            tp->n = i;  // keep the ones that started
            break;
        }
    }
    *out = tp;
    return FD_OK;
}

void fd__threadpool_free(fd_threadpool *tp) {
    if (!tp) return;
    pthread_mutex_lock(&tp->mu);
    tp->quit = 1;
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 1; i < tp->n; i++) pthread_join(tp->workers[i], NULL);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->wake);
    pthread_cond_destroy(&tp->done);
    free(tp->workers);
    free(tp);
}

int fd__threadpool_size(const fd_threadpool *tp) { return tp ? tp->n : 1; }

void fd__parallel_for(fd_threadpool *tp, int64_t n, int64_t grain, fd_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (!tp || tp->n == 1 || n <= grain) {
        fn(arg, 0, n);
        return;
    }
    pthread_mutex_lock(&tp->mu);
    tp->fn = fn;
    tp->arg = arg;
    tp->total = n;
    tp->grain = grain;
    tp->pending = tp->n - 1;
    tp->generation++;
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);
    int64_t b, e;
    chunk(tp, 0, &b, &e);
    if (b < e) fn(arg, b, e);
    pthread_mutex_lock(&tp->mu);
    while (tp->pending > 0) pthread_cond_wait(&tp->done, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
}
