// SPDX-License-Identifier: Apache-2.0
// Status names, the thread-local error message, and the invariant-failure hook.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static _Thread_local char fd_errbuf[1024];

const char *fd_status_str(fd_status s) {
    switch (s) {
#define FD_STATUS_CASE_(name, value, text) case name: return text;
        FD_STATUS_TABLE(FD_STATUS_CASE_)
#undef FD_STATUS_CASE_
    default: return "unknown status";
    }
}

const char *fd_last_error(void) { return fd_errbuf; }

void fd_clear_error(void) { fd_errbuf[0] = '\0'; }

fd_status fd__error(fd_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fd_errbuf, sizeof fd_errbuf, fmt, ap);
    va_end(ap);
    return s;
}

void fd__assert_fail(const char *cond, const char *file, int line, const char *func) {
    fprintf(stderr, "fdeploy: internal error: %s:%d: %s: assertion `%s` failed\n",
            file, line, func, cond);
    abort();
}

void fd__log(fd_log_level lvl, const char *fmt, ...) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    const char *env = getenv("FDEPLOY_LOG");
    int max = FD_LOG_WARN;
    for (int i = 0; env && i < 4; i++)
        if (strcmp(env, names[i]) == 0) max = i;
    if ((int)lvl > max) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fdeploy: %s: ", names[lvl]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
