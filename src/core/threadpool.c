// SPDX-License-Identifier: Apache-2.0
// Thread pool: a job is one range function split into equal chunks, the
// caller runs chunk 0. Decode issues a few hundred short jobs per token, so
// both sides spin first: a worker polls the job counter for a while after its
// last job (then sleeps on a condition variable), and the caller polls the
// pending count (then sleeps). The spins are bounded in time, so an idle pool
// or an oversubscribed machine ends up sleeping as before.
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "core/threadpool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

// Waiting: busy-poll for SPIN_NS, then poll with sched_yield (a thread that
// shares the core - ours or another process's - gets it) up to YIELD_NS,
// then sleep on a condition variable.
enum { SPIN_NS = 50000, YIELD_NS = 500000 };

// One poll step i of a wait that started at *t0 (0: not yet read); 0 when it
// is time to sleep.
static int64_t now_ns(void);
static int backoff(int i, int64_t *t0) {
    if ((i & 63) != 63) {
        cpu_relax();
        return 1;
    }
    int64_t t = now_ns();
    if (!*t0) *t0 = t;
    if (t - *t0 < SPIN_NS) return 1;
    if (t - *t0 >= YIELD_NS) return 0;
    sched_yield();
    return 1;
}

struct fd_threadpool {
    int n;                  // threads including the caller
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    _Atomic uint64_t generation;  // bumped per job (release: publishes the job)
    atomic_int pending;           // workers still running the current job
    atomic_int sleepers;          // workers blocked (or about to block) on `wake`
    atomic_int quit;
    fd_range_fn fn;
    void *arg;
    int64_t total, grain;
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void chunk(const fd_threadpool *tp, int idx, int64_t *b, int64_t *e) {
    int64_t units = (tp->total + tp->grain - 1) / tp->grain;
    int64_t per = units / tp->n, extra = units % tp->n;
    int64_t ub = idx * per + (idx < extra ? idx : extra);
    int64_t ue = ub + per + (idx < extra ? 1 : 0);
    *b = ub * tp->grain;
    *e = ue * tp->grain < tp->total ? ue * tp->grain : tp->total;
}

typedef struct worker_arg { fd_threadpool *tp; int idx; } worker_arg;

// Waits until the generation moves past `seen` (or quit); returns the new one.
static uint64_t wait_job(fd_threadpool *tp, uint64_t seen) {
    int64_t t0 = 0;
    for (int i = 0;; i++) {
        uint64_t g = atomic_load_explicit(&tp->generation, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&tp->quit, memory_order_relaxed)) return g;
        if (!backoff(i, &t0)) break;
    }
    pthread_mutex_lock(&tp->mu);
    // seq_cst pairs with the caller's store of generation, load of sleepers:
    // either it sees this sleeper and broadcasts, or this sees its generation.
    atomic_fetch_add(&tp->sleepers, 1);
    uint64_t g;
    while ((g = atomic_load(&tp->generation)) == seen && !atomic_load(&tp->quit))
        pthread_cond_wait(&tp->wake, &tp->mu);
    atomic_fetch_sub(&tp->sleepers, 1);
    pthread_mutex_unlock(&tp->mu);
    return g;
}

static void *worker_main(void *p) {
    worker_arg *wa = p;
    fd_threadpool *tp = wa->tp;
    int idx = wa->idx;
    free(wa);
    uint64_t seen = 0;
    for (;;) {
        seen = wait_job(tp, seen);
        if (atomic_load(&tp->quit)) break;
        int64_t b, e;
        chunk(tp, idx, &b, &e);
        if (b < e) tp->fn(tp->arg, b, e);
        if (atomic_fetch_sub_explicit(&tp->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&tp->mu);  // the caller may be asleep on `done`
            pthread_cond_signal(&tp->done);
            pthread_mutex_unlock(&tp->mu);
        }
    }
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
    atomic_init(&tp->generation, 0);
    atomic_init(&tp->pending, 0);
    atomic_init(&tp->sleepers, 0);
    atomic_init(&tp->quit, 0);
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
    atomic_store(&tp->quit, 1);
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
    // Workers are idle here (the previous job's pending reached 0), so the
    // plain job fields can be written; the generation bump publishes them.
    tp->fn = fn;
    tp->arg = arg;
    tp->total = n;
    tp->grain = grain;
    atomic_store_explicit(&tp->pending, tp->n - 1, memory_order_relaxed);
    atomic_fetch_add(&tp->generation, 1);  // seq_cst: see wait_job
    if (atomic_load(&tp->sleepers) > 0) {
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->wake);
        pthread_mutex_unlock(&tp->mu);
    }
    int64_t b, e;
    chunk(tp, 0, &b, &e);
    if (b < e) fn(arg, b, e);
    int64_t t0 = 0;
    for (int i = 0; atomic_load_explicit(&tp->pending, memory_order_acquire) > 0; i++) {
        if (backoff(i, &t0)) continue;
        pthread_mutex_lock(&tp->mu);
        while (atomic_load_explicit(&tp->pending, memory_order_acquire) > 0)
            pthread_cond_wait(&tp->done, &tp->mu);
        pthread_mutex_unlock(&tp->mu);
        break;
    }
}
