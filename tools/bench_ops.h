// SPDX-License-Identifier: Apache-2.0
// `fdeploy bench-ops`: what the driver (bench_ops.c: options, timing, the table
// printed, buffer helpers) shares with the per-op setups (bench_ops_cases.c).
#ifndef FD_TOOLS_BENCH_OPS_H
#define FD_TOOLS_BENCH_OPS_H

#include <stddef.h>
#include <stdint.h>
#include "fdeploy/fdeploy.h"

#define BO_MAX_TENSORS 24

// One benchmark row being set up / run: its tensors live in ctx memory and are
// released by the driver after the row.
typedef struct bo_case bo_case;
struct bo_case {
    fd_ctx *ctx;
    fd_dtype dt;                      // activation dtype of the row
    uint64_t rng;                     // xorshift state (fixed seed per row)
    fd_tensor t[BO_MAX_TENSORS];      // t[i].data NULL = unused (an optional input)
    int64_t n[8];                     // integer arguments of the call
    fd_status (*call)(bo_case *c);    // one call of the op
    double bytes;                     // bytes read + written per call, from the shapes
    char shape[96];
    int heavy;                        // CPU: one timed call, no warm-up, unless --iters given
};

// A row of the benchmark table.
typedef struct bo_op {
    const char *op;                   // name in the op table (src/ops/ops.def)
    fd_dtype dt;
    fd_status (*setup)(bo_case *c);   // allocates and fills, sets call/bytes/shape
} bo_op;

extern const bo_op bo_ops[];
extern const int bo_n_ops;

#define BO_TRY(x)                                                                 \
    do {                                                                          \
        fd_status bo_s_ = (x);                                                    \
        if (bo_s_ != FD_OK) return bo_s_;                                         \
    } while (0)

// Allocates c->t[i] in ctx memory: dims n0.. (trailing 0 = absent).
fd_status bo_tensor(bo_case *c, int i, fd_dtype dt, int64_t n0, int64_t n1, int64_t n2,
                    int64_t n3);
// Uploads numel(t[i]) values given as int64 (converted to t[i]'s dtype).
fd_status bo_from_i64(bo_case *c, int i, const int64_t *vals);
// Uploads raw host bytes (fd_tensor_bytes(t[i]) of them).
fd_status bo_upload(bo_case *c, int i, const void *host);
// Floats: uniform in [lo, hi). Integers/bool/u8: uniform integers in [lo, hi).
fd_status bo_fill_rand(bo_case *c, int i, double lo, double hi);
fd_status bo_fill_const(bo_case *c, int i, double v);
// malloc that reports a failure on stderr.
void *bo_host_alloc(size_t bytes);
// Uniform integer in [lo, hi).
int64_t bo_rand_int(bo_case *c, int64_t lo, int64_t hi);
// Fills t[i] (allocated [rows, row_bytes] u8) with Q4_K blocks: random quants and
// scales, small positive f16 d / dmin (no inf/NaN).
fd_status bo_fill_q4k(bo_case *c, int i);

#endif
