// SPDX-License-Identifier: Apache-2.0
// Operator self-test: every op and dtype checked against its C reference on a
// device, with random inputs. What `fdeploy selftest` prints.
#ifndef FDEPLOY_SELFTEST_H
#define FDEPLOY_SELFTEST_H

#include "fdeploy/context.h"
#include "fdeploy/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fd_check_result { FD_CHECK_PASS, FD_CHECK_SKIP, FD_CHECK_FAIL } fd_check_result;

typedef struct fd_check_row {
    const char *op;
    fd_dtype dtype;
    fd_check_result result;
    char detail[256];   // why skipped / what differed / max error
} fd_check_row;

// Called once per (op, dtype) checked.
typedef void (*fd_check_sink)(const fd_check_row *row, void *user);

// Runs every op's self-check on `ctx` against the CPU reference.
// Returns the number of failures.
int fd_selftest_run(fd_ctx *ctx, fd_check_sink sink, void *user);

#ifdef __cplusplus
}
#endif
#endif
