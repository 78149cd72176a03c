// SPDX-License-Identifier: Apache-2.0
// fd_selftest_run: every op of the table, every dtype its reference takes,
// checked on a context (known answers, and the CUDA result vs the C reference).
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "ops/check_util.h"
#include "ops/op_internal.h"

static const fd__check_fn checks[] = {
#define FD_OP(name, dtypes, summary) fd__check_##name,
#define FD_CUDA(op, stem, min_sm, dtypes)
#include "ops/ops.def"
#undef FD_OP
#undef FD_CUDA
};

int fd_selftest_run(fd_ctx *ctx, fd_check_sink sink, void *user) {
    fd_ctx *cpu = NULL;
    int failures = 0;
    if (fd_ctx_create(fd_ctx_platform(ctx), FD_CPU_DEVICE, &cpu) != FD_OK) return 1;
    for (int op = 0; op < FD_OP_ID_COUNT; op++) {
        const fd__op_desc *d = fd__op_desc_at(op);
        for (int dt = 0; dt < FD_DTYPE_COUNT; dt++) {
            if (!(d->ref_dtypes & FD_DT(dt))) continue;
            fd_check_row row = {d->name, (fd_dtype)dt, FD_CHECK_PASS, ""};
            int variant;
            fd__launch l;
            if (fd__ctx_begin(ctx, op, (fd_dtype)dt, &variant, &l) != FD_OK) {
                row.result = FD_CHECK_SKIP;
                snprintf(row.detail, sizeof row.detail, "%s", fd_last_error());
            } else {
                fd_clear_error();
                row.result = checks[op](ctx, cpu, (fd_dtype)dt, row.detail, sizeof row.detail);
                if (row.result == FD_CHECK_PASS && !row.detail[0])
                    snprintf(row.detail, sizeof row.detail, "%s",
                             variant == FD_VAR_REF ? "C reference"
                                                   : fd__op_variant_at(variant)->stem);
            }
            failures += row.result == FD_CHECK_FAIL;
            if (sink) sink(&row, user);
        }
    }
    fd_ctx_free(cpu);
    return failures;
}
