// SPDX-License-Identifier: Apache-2.0
// tritonmoe_preprocess (moe_align_block_size): counting sort of the token->expert
// assignments by expert, each expert's run padded to a multiple of the GEMM
// block height. C reference + dispatch.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/check_util.h"
#include "ops/moe_launch.h"

static const char *OP = "tritonmoe_preprocess";

int64_t fd_tritonmoe_preprocess_capacity(int64_t numel, int64_t num_experts,
                                         int64_t block_size) {
    if (numel < 0 || num_experts < 1 || block_size < 1 || numel > INT32_MAX ||
        num_experts >= INT32_MAX || block_size > INT32_MAX)
        return -1;  // bounded so that the products below fit in int64
    if (numel < num_experts + 1) return numel * block_size;
    return numel + (num_experts + 1) * (block_size - 1);
}

typedef struct align_args {
    const int64_t *ids;
    int64_t numel, e, m, cap, blocks;
    int32_t *sorted, *experts, *total;
} align_args;

// Buckets: 0 holds the dropped assignments (id -1), b >= 1 holds expert b-1.
static fd_status ref_tritonmoe_preprocess(const align_args *a) {
    for (int64_t i = 0; i < a->numel; i++)  // validate before writing anything
        if (a->ids[i] < -1 || a->ids[i] >= a->e)
            return fd__error(FD_ERR_INVALID_ARG,
                             "%s: topk_ids[%lld] = %lld is outside [-1, num_experts = %lld); "
                             "pass the router's expert ids",
                             OP, (long long)i, (long long)a->ids[i], (long long)a->e);
    int64_t nb = a->e + 1;
    int64_t *cursor = calloc((size_t)nb, sizeof *cursor);
    if (!cursor) return fd__error(FD_ERR_OOM, "%s: no memory for %lld counters", OP, (long long)nb);
    for (int64_t i = 0; i < a->numel; i++) cursor[a->ids[i] + 1]++;
    for (int64_t q = 0; q < a->blocks; q++) a->experts[q] = -1;
    int64_t off = 0;
    for (int64_t b = 0; b < nb; b++) {  // counts -> start offsets; blocks -> expert ids
        int64_t pad = (cursor[b] + a->m - 1) / a->m * a->m;
        for (int64_t q = off / a->m; q < (off + pad) / a->m; q++) a->experts[q] = (int32_t)(b - 1);
        cursor[b] = off;
        off += pad;
    }
    // off <= cap by the capacity bound; every write below stays below off.
    for (int64_t i = 0; i < a->cap; i++) a->sorted[i] = (int32_t)a->numel;
    for (int64_t i = 0; i < a->numel; i++) a->sorted[cursor[a->ids[i] + 1]++] = (int32_t)i;
    a->total[0] = (int32_t)off;
    free(cursor);
    return FD_OK;
}

fd_status fd_tritonmoe_preprocess(fd_ctx *ctx, const fd_tensor *topk_ids, int64_t num_experts,
                                  int64_t block_size, fd_tensor *sorted_ids,
                                  fd_tensor *experts_ids, fd_tensor *num_tokens_post_pad) {
    if (!topk_ids || topk_ids->dtype != FD_I64)
        return fd__error(FD_ERR_INVALID_ARG, "%s: topk_ids must be an int64 tensor (got %s)", OP,
                         topk_ids ? fd_dtype_name(topk_ids->dtype) : "NULL");
    align_args a;
    memset(&a, 0, sizeof a);
    a.numel = fd_tensor_numel(topk_ids);
    a.e = num_experts;
    a.m = block_size;
    if (num_experts < 1 || num_experts >= INT32_MAX || block_size < 1 || block_size > INT32_MAX)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: num_experts = %lld and block_size = %lld must be in [1, 2^31-1)",
                         OP, (long long)num_experts, (long long)block_size);
    a.cap = fd_tritonmoe_preprocess_capacity(a.numel, num_experts, block_size);
    if (a.cap < 0 || a.cap > INT32_MAX)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: %lld assignments need %lld sorted slots, more than int32 holds; "
                         "split the batch",
                         OP, (long long)a.numel, (long long)a.cap);
    a.blocks = (a.cap + block_size - 1) / block_size;
    FD_TRY(FD_CHECK_T(OP, "sorted_ids", sorted_ids, FD_I32, a.cap));
    FD_TRY(FD_CHECK_T(OP, "experts_ids", experts_ids, FD_I32, a.blocks));
    FD_TRY(FD_CHECK_T(OP, "num_tokens_post_pad", num_tokens_post_pad, FD_I32, 1));
    a.ids = topk_ids->data;
    a.sorted = sorted_ids->data;
    a.experts = experts_ids->data;
    a.total = num_tokens_post_pad->data;
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_tritonmoe_preprocess, FD_I64, &variant, &l));
    if (variant == FD_VAR_REF) return ref_tritonmoe_preprocess(&a);
#if FD_BUILT_tritonmoe_preprocess
    if (variant == FD_VAR_tritonmoe_preprocess) {
        if (num_experts > FD_MOE_ALIGN_MAX_EXPERTS)
            return fd__error(FD_ERR_INVALID_ARG,
                             "%s: the CUDA variant takes up to %d experts, got %lld; "
                             "run it on a CPU context",
                             OP, FD_MOE_ALIGN_MAX_EXPERTS, (long long)num_experts);
        return fd__cuda_tritonmoe_preprocess(&l, a.ids, a.numel, (int)a.e, (int)a.m, a.sorted,
                                             a.cap, a.experts, a.blocks, a.total);
    }
#endif
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
}

// ---- self-check: FastDeploy's exact-value case (E 8, M 4) on ctx; on CUDA
// also random ids with dropped (-1) entries compared exactly with the reference.

static fd_status al_run(fd_ctx *ctx, const int64_t *ids, int64_t numel, int64_t e, int64_t m,
                        int32_t *sorted, int32_t *experts, int32_t *total) {
    int64_t cap = fd_tritonmoe_preprocess_capacity(numel, e, m);
    int64_t s_i[1] = {numel}, s_c[1] = {cap}, s_b[1] = {(cap + m - 1) / m}, s_t[1] = {1};
    fd__cbuf b_i, b_s, b_e, b_t;
    fd_status s = fd__cbuf_new(&b_i, ctx, FD_I64, 1, s_i, ids);
    if (s == FD_OK) s = fd__cbuf_new(&b_s, ctx, FD_I32, 1, s_c, NULL);
    if (s == FD_OK) s = fd__cbuf_new(&b_e, ctx, FD_I32, 1, s_b, NULL);
    if (s == FD_OK) s = fd__cbuf_new(&b_t, ctx, FD_I32, 1, s_t, NULL);
    if (s == FD_OK) s = fd_tritonmoe_preprocess(ctx, &b_i.t, e, m, &b_s.t, &b_e.t, &b_t.t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&b_s);
    if (s == FD_OK) s = fd__cbuf_fetch(&b_e);
    if (s == FD_OK) s = fd__cbuf_fetch(&b_t);
    if (s == FD_OK) {
        memcpy(sorted, b_s.host, (size_t)cap * 4);
        memcpy(experts, b_e.host, (size_t)s_b[0] * 4);
        *total = *(int32_t *)b_t.host;
    }
    fd__cbuf_free(&b_i); fd__cbuf_free(&b_s); fd__cbuf_free(&b_e); fd__cbuf_free(&b_t);
    return s;
}

static fd_check_result check_random(fd_ctx *ctx, fd_ctx *cpu, char *detail, size_t n) {
    enum { NUMEL = 4096, E = 64, M = 16, CAP = NUMEL + (E + 1) * (M - 1), NB = (CAP + M - 1) / M };
    int64_t *ids = malloc(sizeof(int64_t) * NUMEL);
    int32_t *buf = malloc(sizeof(int32_t) * 2 * (CAP + NB));
    fd_check_result r = FD_CHECK_FAIL;
    int32_t gt = 0, ct = 0;
    uint64_t rng = 7;
    if (!ids || !buf) {
        snprintf(detail, n, "out of host memory");
        goto done;
    }
    for (int i = 0; i < NUMEL; i++) ids[i] = (int64_t)(fd__rng_next(&rng) % (E + 1)) - 1;
    if (al_run(ctx, ids, NUMEL, E, M, buf, buf + CAP, &gt) != FD_OK ||
        al_run(cpu, ids, NUMEL, E, M, buf + CAP + NB, buf + 2 * CAP + NB, &ct) != FD_OK) {
        snprintf(detail, n, "%s", fd_last_error());
        goto done;
    }
    if (gt != ct || memcmp(buf, buf + CAP + NB, sizeof(int32_t) * (CAP + NB)))
        snprintf(detail, n, "random ids (4096, E 64, M 16): CUDA differs from the C reference");
    else
        r = FD_CHECK_PASS;
done:
    free(ids);
    free(buf);
    return r;
}

fd_check_result fd__check_tritonmoe_preprocess(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt,
                                               char *detail, size_t n) {
    static const int64_t ids[16] = {7, 6, 5, 4, 1, 2, 3, 4, 0, 1, 2, 3, 0, 3, 2, 1};
    static const int32_t want[32] = {8, 12, 16, 16, 4, 9, 15, 16, 5, 10, 14, 16, 6, 11, 13, 16,
                                     3, 7, 16, 16, 2, 16, 16, 16, 1, 16, 16, 16, 0, 16, 16, 16};
    int32_t sorted[43], experts[11], total = 0;  // capacity 16 + 9*3 = 43, 11 blocks
    if (al_run(ctx, ids, 16, 8, 4, sorted, experts, &total) != FD_OK) {
        snprintf(detail, n, "%s", fd_last_error());
        return FD_CHECK_FAIL;
    }
    int ok = total == 32 && memcmp(sorted, want, sizeof want) == 0;
    for (int i = 32; i < 43; i++) ok = ok && sorted[i] == 16;
    for (int q = 0; q < 11; q++) ok = ok && experts[q] == (q < 8 ? q : -1);
    if (!ok) {
        snprintf(detail, n, "FastDeploy's case (E 8, M 4): sorted ids or expert ids differ");
        return FD_CHECK_FAIL;
    }
    (void)dt;
    if (ctx == cpu || !fd_ctx_is_cuda(ctx)) return FD_CHECK_PASS;
    return check_random(ctx, cpu, detail, n);
}
