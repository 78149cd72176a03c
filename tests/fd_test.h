// SPDX-License-Identifier: Apache-2.0
// The test harness: a static table of cases, typed checks that print both
// operands with file:line, one line per case, a final "N passed, N failed,
// N skipped" line; exit 0, 1 on failure, 77 when every case skipped.
#ifndef FD_TEST_H
#define FD_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fdeploy/fdeploy.h"

typedef struct fd_test_case {
    const char *name;
    void (*fn)(void);
} fd_test_case;

static int fd_test_failed_;        // checks failed in the current case
static char fd_test_skip_[256];    // non-empty: the current case skipped, why

#define FD_FAILF(...)                                                          \
    do {                                                                       \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                      \
        fprintf(stderr, __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                   \
        fd_test_failed_++;                                                     \
    } while (0)

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) FD_FAILF("CHECK(%s) failed", #cond);                      \
    } while (0)
#define CHECK_EQ_I64(a, b)                                                     \
    do {                                                                       \
        int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                          \
        if (a_ != b_) FD_FAILF("%s == %s: %" PRId64 " != %" PRId64, #a, #b, a_, b_); \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                  \
    do {                                                                       \
        double a_ = (a), b_ = (b);                                             \
        if (!(fabs(a_ - b_) <= (tol)))                                         \
            FD_FAILF("%s ~= %s: %.9g vs %.9g (tol %g)", #a, #b, a_, b_, (double)(tol)); \
    } while (0)
#define CHECK_OK(expr)                                                         \
    do {                                                                       \
        fd_status s_ = (expr);                                                 \
        if (s_ != FD_OK) FD_FAILF("%s: %s: %s", #expr, fd_status_str(s_), fd_last_error()); \
    } while (0)
#define CHECK_STATUS(expr, want)                                               \
    do {                                                                       \
        fd_status s_ = (expr);                                                 \
        if (s_ != (want))                                                      \
            FD_FAILF("%s returned %s, expected %s (%s)", #expr, fd_status_str(s_), \
                     fd_status_str(want), fd_last_error());                    \
    } while (0)
#define CHECK_CONTAINS(hay, needle)                                            \
    do {                                                                       \
        const char *h_ = (hay);                                                \
        if (!h_ || !strstr(h_, (needle)))                                      \
            FD_FAILF("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", needle); \
    } while (0)

// Marks the current case skipped; the caller returns.
static inline void fd_test_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fd_test_skip_, sizeof fd_test_skip_, fmt, ap);
    va_end(ap);
}

static inline int fd_test_run(const fd_test_case *cases, int n) {
    int pass = 0, fail = 0, skip = 0;
    const char *only = getenv("FD_TEST_ONLY");
    for (int i = 0; i < n; i++) {
        int fixture = !strcmp(cases[i].name, "setup") || !strcmp(cases[i].name, "teardown");
        if (only && !fixture && !strstr(cases[i].name, only)) continue;
        fd_test_failed_ = 0;
        fd_test_skip_[0] = '\0';
        fd_clear_error();
        cases[i].fn();
        if (fd_test_failed_) {
            printf("FAIL %s\n", cases[i].name);
            fail++;
        } else if (fd_test_skip_[0]) {
            printf("skip %s: %s\n", cases[i].name, fd_test_skip_);
            skip++;
        } else {
            printf("ok   %s\n", cases[i].name);
            pass++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed, %d skipped\n", pass, fail, skip);
    if (fail) return 1;
    return (skip && !pass) ? 77 : 0;
}

#define FD_TEST_MAIN(...)                                                      \
    int main(void) {                                                           \
        static const fd_test_case cases_[] = {__VA_ARGS__};                    \
        return fd_test_run(cases_, (int)(sizeof cases_ / sizeof cases_[0]));   \
    }
#define FD_CASE(fn) {#fn, fn}

// ---- contexts for op tests: the CPU reference and, when present, GPU 0.

typedef struct fd_test_env {
    fd_platform *platform;
    fd_ctx *cpu;
    fd_ctx *gpu;          // NULL when no usable GPU
    char why_no_gpu[256];
} fd_test_env;

static inline void fd_test_env_open(fd_test_env *e) {
    memset(e, 0, sizeof *e);
    if (fd_platform_open(&e->platform) != FD_OK ||
        fd_ctx_create(e->platform, FD_CPU_DEVICE, &e->cpu) != FD_OK) {
        fprintf(stderr, "cannot open the platform: %s\n", fd_last_error());
        exit(1);
    }
    if (fd_platform_device_count(e->platform) == 0) {
        snprintf(e->why_no_gpu, sizeof e->why_no_gpu, "no GPU (%s)",
                 fd_platform_note(e->platform));
    } else if (fd_ctx_create(e->platform, 0, &e->gpu) != FD_OK) {
        snprintf(e->why_no_gpu, sizeof e->why_no_gpu, "%s", fd_last_error());
        e->gpu = NULL;
    }
}

static inline void fd_test_env_close(fd_test_env *e) {
    fd_ctx_free(e->gpu);
    fd_ctx_free(e->cpu);
    fd_platform_free(e->platform);
}

// The GPU context for a case, or NULL after marking the case skipped with why:
// no GPU, or the op has no variant for this device's SM.
// The op table knows `op`, its C reference runs on the CPU, and GPU 0 (if any)
// has a variant exactly when its effective SM reaches min_sm.
static inline void fd_test_table_agrees(fd_test_env *e, const char *op, int min_sm) {
    char why[512];
    CHECK(fd_op_find(op) >= 0);
    CHECK(fd_op_available(e->platform, op, FD_CPU_DEVICE, why, sizeof why));
    if (e->gpu)
        CHECK(fd_op_available(e->platform, op, 0, why, sizeof why) ==
              (fd_platform_device(e->platform, 0)->effective_sm >= min_sm));
}

static inline fd_ctx *fd_test_gpu_for(fd_test_env *e, const char *op) {
    char why[512];
    if (!e->gpu) {
        fd_test_skip("%s", e->why_no_gpu);
        return NULL;
    }
    if (!fd_op_available(e->platform, op, fd_ctx_device(e->gpu), why, sizeof why)) {
        fd_test_skip("%s", why);
        return NULL;
    }
    return e->gpu;
}

// Device buffer with host mirror, for tests.
typedef struct fd_tbuf {
    fd_tensor t;
    void *host;
    fd_ctx *ctx;
} fd_tbuf;

static inline fd_tbuf fd_tbuf_new(fd_ctx *ctx, fd_dtype dt, int ndim, const int64_t *ne,
                                  const void *init) {
    fd_tbuf b;
    memset(&b, 0, sizeof b);
    b.ctx = ctx;
    b.t.dtype = dt;
    b.t.ndim = ndim;
    for (int i = 0; i < ndim; i++) b.t.ne[i] = ne[i];
    size_t bytes = fd_tensor_bytes(&b.t);
    b.host = calloc(1, bytes + 1);
    if (init) memcpy(b.host, init, bytes);
    if (fd_ctx_alloc(ctx, bytes, &b.t.data) != FD_OK ||
        fd_ctx_upload(ctx, b.t.data, b.host, bytes) != FD_OK) {
        fprintf(stderr, "test buffer: %s\n", fd_last_error());
        exit(1);
    }
    return b;
}
#define FD_TBUF(ctx, dt, init, ...)                                            \
    fd_tbuf_new(ctx, dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                (int64_t[]){__VA_ARGS__}, init)

static inline void *fd_tbuf_fetch(fd_tbuf *b) {
    if (fd_ctx_download(b->ctx, b->host, b->t.data, fd_tensor_bytes(&b->t)) != FD_OK) {
        fprintf(stderr, "test buffer: %s\n", fd_last_error());
        exit(1);
    }
    return b->host;
}

static inline void fd_tbuf_free(fd_tbuf *b) {
    if (b->ctx) fd_ctx_release(b->ctx, b->t.data);
    free(b->host);
    memset(b, 0, sizeof *b);
}

// Deterministic random numbers for tests.
// Seconds on a monotonic clock (timings stated by tests).
static inline double fd_test_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline uint64_t fd_test_rand(uint64_t *s) {
    uint64_t x = *s ? *s : 88172645463325252ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}
static inline float fd_test_randf(uint64_t *s) {  // [-1, 1)
    return (float)(fd_test_rand(s) >> 40) / 8388608.0f - 1.0f;
}

#endif
