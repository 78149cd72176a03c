// SPDX-License-Identifier: Apache-2.0
// A session: one sequence over the CPU forward pass, with a private KV pool
// whose block table is the identity (block i holds positions [i*bs, (i+1)*bs)).
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "model/forward_cpu.h"
#include "model/model_internal.h"

#define SESSION_BLOCK 64
#define SESSION_CHUNK 64  // tokens per forward when feeding a long prompt

struct fd_session {
    fd_model *m;
    int n_ctx, pos;
    fd__cpu_kv kv;
    fd__cpu_scratch *scratch;
    int32_t *blocks;
};

fd_status fd_session_create(fd_model *m, int n_ctx, fd_session **out) {
    const fd_model_info *h = &m->info;
    if (n_ctx <= 0 || n_ctx > h->n_ctx_train * 4)
        return fd__error(FD_ERR_INVALID_ARG, "fd_session_create: n_ctx %d outside [1, %d]", n_ctx, h->n_ctx_train * 4);
    fd_session *s = calloc(1, sizeof *s);
    if (!s) return fd__error(FD_ERR_OOM, "fd_session_create: out of memory");
    s->m = m;
    s->n_ctx = n_ctx;
    int nb = (n_ctx + SESSION_BLOCK - 1) / SESSION_BLOCK;
    fd_status st = (s->blocks = malloc((size_t)nb * sizeof *s->blocks))
                       ? fd__cpu_kv_alloc(m, nb, SESSION_BLOCK, &s->kv)
                       : fd__error(FD_ERR_OOM, "fd_session_create: out of memory");
    if (st == FD_OK) st = fd__cpu_scratch_create(m, SESSION_CHUNK, &s->scratch);
    if (st != FD_OK) {
        fd_session_free(s);
        return st;
    }
    for (int i = 0; i < nb; i++) s->blocks[i] = i;
    *out = s;
    return FD_OK;
}

void fd_session_free(fd_session *s) {
    if (!s) return;
    fd__cpu_kv_release(&s->kv);
    fd__cpu_scratch_free(s->scratch);
    free(s->blocks);
    free(s);
}

int fd_session_pos(const fd_session *s) { return s->pos; }
fd_model *fd_session_model(const fd_session *s) { return s->m; }
size_t fd_session_kv_bytes(const fd_session *s) {
    return fd__cpu_kv_block_bytes(s->m, SESSION_BLOCK) * (size_t)s->kv.n_blocks;
}

fd_status fd_session_truncate(fd_session *s, int pos) {
    if (pos < 0 || pos > s->pos)
        return fd__error(FD_ERR_INVALID_ARG, "fd_session_truncate: position %d outside [0, %d]", pos, s->pos);
    s->pos = pos;
    return FD_OK;
}

// Feeds one chunk; all = logits for every token of it (one forward per token
// keeps each token's logits: the batch API returns a sequence's last only).
static fd_status feed(fd_session *s, const int32_t *tokens, int n, float *logits, int want) {
    const int32_t *blk = s->blocks;
    fd__cpu_batch b = {1, tokens, &s->pos, &n, &blk, &want};
    FD_TRY(fd__cpu_forward(s->m, &s->kv, s->scratch, &b, logits));
    s->pos += n;
    return FD_OK;
}

fd_status fd_session_eval(fd_session *s, const int32_t *tokens, int n, float *logits, int all) {
    const fd_model_info *h = &s->m->info;
    if (n <= 0 || !tokens) return fd__error(FD_ERR_INVALID_ARG, "fd_session_eval: no tokens");
    if (s->pos + n > s->n_ctx)
        return fd__error(FD_ERR_INVALID_ARG, "fd_session_eval: %d tokens at position %d exceed the context of %d; "
                         "start a longer session (n_ctx)", n, s->pos, s->n_ctx);
    for (int done = 0; done < n;) {
        int c = all ? 1 : (n - done < SESSION_CHUNK ? n - done : SESSION_CHUNK);
        int last = done + c == n;
        float *out = all ? logits + (size_t)done * h->n_vocab : (last ? logits : NULL);
        FD_TRY(feed(s, tokens + done, c, out, out != NULL));
        done += c;
    }
    return FD_OK;
}
