// SPDX-License-Identifier: Apache-2.0
// Helpers for the ops' self-checks (fd_selftest_run): buffers that live on a
// context, filled from the host, and result comparison.
#ifndef FD_OPS_CHECK_UTIL_H
#define FD_OPS_CHECK_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include "fdeploy/context.h"
#include "fdeploy/selftest.h"
#include "fdeploy/tensor.h"

// A tensor on a context with a host mirror.
typedef struct fd__cbuf {
    fd_tensor t;     // t.data is in the context's memory
    void *host;      // host copy, t bytes
    fd_ctx *ctx;
} fd__cbuf;

// Allocates a tensor of `ndim` dims on ctx; uploads `init` (host, may be NULL = zeros).
fd_status fd__cbuf_new(fd__cbuf *b, fd_ctx *ctx, fd_dtype dt, int ndim, const int64_t *ne,
                       const void *init);
// Downloads the context copy into b->host.
fd_status fd__cbuf_fetch(fd__cbuf *b);
void fd__cbuf_free(fd__cbuf *b);

// Deterministic xorshift generator for check inputs.
uint64_t fd__rng_next(uint64_t *s);
float fd__rng_uniform(uint64_t *s);   // [0, 1)

// Compares n elements of dtype dt; 0 if all |a-b| <= atol + rtol*|b|,
// else writes the worst element into `detail`.
int fd__compare(fd_dtype dt, const void *a, const void *b, int64_t n, double atol,
                double rtol, char *detail, size_t detail_size);

// Signature every op's self-check has (declared from ops.def in selftest.c).
typedef fd_check_result (*fd__check_fn)(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt,
                                        char *detail, size_t detail_size);

#endif
