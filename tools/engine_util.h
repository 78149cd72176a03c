// SPDX-License-Identifier: Apache-2.0
// Running one request through the engine and waiting for it (run, bench).
#ifndef FD_TOOLS_ENGINE_UTIL_H
#define FD_TOOLS_ENGINE_UTIL_H

#include <pthread.h>
#include <stdio.h>
#include "fdeploy/engine.h"

typedef struct fd_cli_request {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, n_tokens, print;
    double t_submit, t_first, t_last;
    char reason[16], error[256];
} fd_cli_request;

double fd_cli_now(void);
// Submits and waits; print = stream the text to stdout.
fd_status fd_cli_run_request(fd_engine *e, const int32_t *ids, int n, const fd_request_params *rp,
                             int print, fd_cli_request *out);
// "cpu" -> FD_CPU_DEVICE, "0" -> 0; -2 if not a device.
int fd_cli_parse_device(const char *s);

#endif
