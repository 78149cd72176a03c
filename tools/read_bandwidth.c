// SPDX-License-Identifier: Apache-2.0
// The host's streaming read bandwidth, measured: the CPU roofline of decode,
// which reads every weight once a token. Threads sum disjoint parts of a 256 MiB
// buffer (larger than any cache); the best of three passes counts.
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

typedef struct rd_part {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} rd_part;

static void *rd_run(void *arg) {
    rd_part *r = arg;
    uint64_t s[4] = {0, 0, 0, 0};  // four chains: the loads, not the adds, set the pace
    for (size_t i = 0; i + 4 <= r->n; i += 4)
        for (int k = 0; k < 4; k++) s[k] += r->p[i + k];
    r->sum = s[0] + s[1] + s[2] + s[3];
    return NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double fd_cli_read_gbs(int threads) {
    enum { MAX_THREADS = 256 };
    const size_t bytes = (size_t)256 << 20, words = bytes / 8;
    if (threads <= 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    uint64_t *buf = malloc(bytes);
    if (!buf) return 0;
    memset(buf, 1, bytes);  // touch every page before timing
    double best = 0;
    for (int pass = 0; pass < 3; pass++) {
        pthread_t tid[MAX_THREADS];
        rd_part part[MAX_THREADS];
        size_t per = words / (size_t)threads;
        double t0 = now_s();
        int started = 0;
        for (int t = 0; t < threads; t++) {
            part[t] = (rd_part){buf + (size_t)t * per, per, 0};
            if (pthread_create(&tid[t], NULL, rd_run, &part[t]) != 0) break;
            started++;
        }
        for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
        double dt = now_s() - t0, gbs = started ? (double)per * 8 * started / dt / 1e9 : 0;
        if (gbs > best) best = gbs;
    }
    free(buf);
    return best;
}
