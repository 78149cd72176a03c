// SPDX-License-Identifier: Apache-2.0
// The CPU forward pass of the Llama family (Llama, SmolLM, Qwen2 with q/k/v
// bias, Qwen3 with per-head q/k RMSNorm) over one session's tokens, in chunks.
// Matmuls are split by output rows over the thread pool; attention by head.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "model/model_internal.h"

#define FD_CPU_BATCH 64  // tokens per chunk of a prompt

struct fd_session {
    fd_model *m;
    int n_ctx, pos;
    int q_dim, kv_dim;
    float *k_cache, *v_cache;   // [n_layer][n_ctx][kv_dim]
    float *x, *xb, *q, *k, *v, *att_out, *hb, *hb2, *scores;
    float *logits_tmp;          // [n_vocab]
};

// ---- matmul over the pool

typedef struct mm_job {
    const fd_weight *w;
    const float *x;
    int n_tok;
    float *y;
    int64_t ldy;
    int avx2;
} mm_job;

static void mm_range(void *arg, int64_t r0, int64_t r1) {
    const mm_job *j = arg;
    float *scratch = malloc((size_t)j->w->ne0 * sizeof(float));
    if (!scratch) FD_ASSERT(!"out of memory for a row buffer");
    fd__matmul_rows(j->w->type, j->w->data, j->w->ne0, j->x, j->n_tok, j->y, j->ldy, r0, r1, scratch,
                    j->avx2);
    free(scratch);
}

// y[t][0..rows) = W x[t] (+ bias).
static void matmul(fd_model *m, const fd_weight *w, const fd_weight *bias, const float *x, int n_tok,
                   float *y) {
    mm_job j = {w, x, n_tok, y, w->ne1, m->avx2};
    fd__parallel_for(m->pool, w->ne1, 16, mm_range, &j);
    if (bias && bias->data)
        for (int t = 0; t < n_tok; t++)
            for (int64_t r = 0; r < w->ne1; r++) y[t * w->ne1 + r] += ((const float *)bias->data)[r];
}

static void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float inv = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * inv * w[i];
}

// Rotary on one head vector at position pos.
static void rope(float *v, int head_dim, int pos, double base, int neox) {
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        double freq = pow(base, -2.0 * i / head_dim), a = pos * freq;
        float c = (float)cos(a), s = (float)sin(a);
        int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        float x0 = v[i0], x1 = v[i1];
        v[i0] = x0 * c - x1 * s;
        v[i1] = x0 * s + x1 * c;
    }
}

// ---- attention

typedef struct att_job {
    fd_session *s;
    int layer, n_tok, pos0;
} att_job;

static void att_range(void *arg, int64_t b, int64_t e) {
    const att_job *j = arg;
    fd_session *s = j->s;
    const fd_model_info *h = &s->m->info;
    int hd = h->head_dim, group = h->n_head / h->n_head_kv;
    float scale = 1.0f / sqrtf((float)hd);
    const float *kc = s->k_cache + (size_t)j->layer * s->n_ctx * s->kv_dim;
    const float *vc = s->v_cache + (size_t)j->layer * s->n_ctx * s->kv_dim;
    for (int64_t item = b; item < e; item++) {
        int t = (int)(item / h->n_head), head = (int)(item % h->n_head), kvh = head / group;
        int n_ctx = j->pos0 + t + 1;  // causal: up to and including itself
        const float *q = s->q + (size_t)t * s->q_dim + head * hd;
        float *sc = s->scores + (size_t)item * s->n_ctx, mx = -INFINITY, sum = 0;
        for (int p = 0; p < n_ctx; p++) {
            sc[p] = fd__dot_f32(q, kc + (size_t)p * s->kv_dim + kvh * hd, hd) * scale;
            if (sc[p] > mx) mx = sc[p];
        }
        for (int p = 0; p < n_ctx; p++) sum += sc[p] = expf(sc[p] - mx);
        float *o = s->att_out + (size_t)t * s->q_dim + head * hd;
        memset(o, 0, (size_t)hd * sizeof(float));
        for (int p = 0; p < n_ctx; p++) {
            const float *vr = vc + (size_t)p * s->kv_dim + kvh * hd;
            float w = sc[p] / sum;
            for (int i = 0; i < hd; i++) o[i] += w * vr[i];
        }
    }
}

// ---- one layer over a chunk of n tokens at positions pos0..

static void layer_forward(fd_session *s, int l, int n, int pos0) {
    fd_model *m = s->m;
    const fd_model_info *h = &m->info;
    const fd_layer *L = &m->layers[l];
    int d = h->n_embd, hd = h->head_dim;
    for (int t = 0; t < n; t++) rmsnorm(s->xb + t * d, s->x + t * d, L->attn_norm.data, d, h->norm_eps);
    matmul(m, &L->wq, &L->bq, s->xb, n, s->q);
    matmul(m, &L->wk, &L->bk, s->xb, n, s->k);
    matmul(m, &L->wv, &L->bv, s->xb, n, s->v);
    for (int t = 0; t < n; t++) {
        for (int hh = 0; hh < h->n_head; hh++) {
            float *q = s->q + (size_t)t * s->q_dim + hh * hd;
            if (L->q_norm.data) rmsnorm(q, q, L->q_norm.data, hd, h->norm_eps);
            rope(q, hd, pos0 + t, h->rope_base, h->rope_neox);
        }
        for (int hh = 0; hh < h->n_head_kv; hh++) {
            float *k = s->k + (size_t)t * s->kv_dim + hh * hd;
            if (L->k_norm.data) rmsnorm(k, k, L->k_norm.data, hd, h->norm_eps);
            rope(k, hd, pos0 + t, h->rope_base, h->rope_neox);
        }
        size_t at = ((size_t)l * s->n_ctx + pos0 + t) * s->kv_dim;
        memcpy(s->k_cache + at, s->k + (size_t)t * s->kv_dim, (size_t)s->kv_dim * 4);
        memcpy(s->v_cache + at, s->v + (size_t)t * s->kv_dim, (size_t)s->kv_dim * 4);
    }
    att_job aj = {s, l, n, pos0};
    fd__parallel_for(m->pool, (int64_t)n * h->n_head, 1, att_range, &aj);
    matmul(m, &L->wo, NULL, s->att_out, n, s->xb);
    for (int i = 0; i < n * d; i++) s->x[i] += s->xb[i];
    for (int t = 0; t < n; t++) rmsnorm(s->xb + t * d, s->x + t * d, L->ffn_norm.data, d, h->norm_eps);
    matmul(m, &L->w_gate, NULL, s->xb, n, s->hb);
    matmul(m, &L->w_up, NULL, s->xb, n, s->hb2);
    for (int i = 0; i < n * h->n_ff; i++) s->hb[i] = s->hb[i] / (1.0f + expf(-s->hb[i])) * s->hb2[i];
    matmul(m, &L->w_down, NULL, s->hb, n, s->xb);
    for (int i = 0; i < n * d; i++) s->x[i] += s->xb[i];
}

static fd_status eval_chunk(fd_session *s, const int32_t *tokens, int n, float *logits, int all) {
    fd_model *m = s->m;
    const fd_model_info *h = &m->info;
    int d = h->n_embd;
    size_t rb = fd__row_bytes(m->tok_embd.type, d);
    for (int t = 0; t < n; t++)
        fd__dequant_row(m->tok_embd.type, (const uint8_t *)m->tok_embd.data + (size_t)tokens[t] * rb,
                        s->x + (size_t)t * d, d);
    for (int l = 0; l < h->n_layer; l++) layer_forward(s, l, n, s->pos);
    s->pos += n;
    if (!logits) return FD_OK;
    int first = all ? 0 : n - 1;
    for (int t = first; t < n; t++) rmsnorm(s->xb + t * d, s->x + t * d, m->out_norm.data, d, h->norm_eps);
    matmul(m, &m->output, NULL, s->xb + (size_t)first * d, n - first, logits);
    return FD_OK;
}

fd_status fd_session_eval(fd_session *s, const int32_t *tokens, int n, float *logits, int all) {
    const fd_model_info *h = &s->m->info;
    if (n <= 0 || !tokens) return fd__error(FD_ERR_INVALID_ARG, "fd_session_eval: no tokens");
    if (s->pos + n > s->n_ctx)
        return fd__error(FD_ERR_INVALID_ARG, "fd_session_eval: %d tokens at position %d exceed the context of %d; "
                         "start a longer session (n_ctx)", n, s->pos, s->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= h->n_vocab)
            return fd__error(FD_ERR_INVALID_ARG, "fd_session_eval: token %d at index %d is outside the vocabulary (%d)",
                             tokens[i], i, h->n_vocab);
    for (int done = 0; done < n;) {
        int c = n - done < FD_CPU_BATCH ? n - done : FD_CPU_BATCH, last = done + c == n;
        float *out = NULL;
        if (all) out = logits + (size_t)done * h->n_vocab;
        else if (last) out = logits;
        FD_TRY(eval_chunk(s, tokens + done, c, out, all));
        done += c;
    }
    return FD_OK;
}

fd_status fd_session_create(fd_model *m, int n_ctx, fd_session **out) {
    const fd_model_info *h = &m->info;
    if (n_ctx <= 0 || n_ctx > h->n_ctx_train * 4)
        return fd__error(FD_ERR_INVALID_ARG, "fd_session_create: n_ctx %d outside [1, %d]", n_ctx, h->n_ctx_train * 4);
    fd_session *s = calloc(1, sizeof *s);
    if (!s) return fd__error(FD_ERR_OOM, "fd_session_create: out of memory");
    s->m = m;
    s->n_ctx = n_ctx;
    s->q_dim = h->n_head * h->head_dim;
    s->kv_dim = h->n_head_kv * h->head_dim;
    size_t B = FD_CPU_BATCH, kv = (size_t)h->n_layer * n_ctx * s->kv_dim;
    int wide = h->n_embd > s->q_dim ? h->n_embd : s->q_dim;
    s->k_cache = calloc(kv, 4);
    s->v_cache = calloc(kv, 4);
    s->x = calloc(B * h->n_embd, 4);
    s->xb = calloc(B * wide, 4);
    s->q = calloc(B * s->q_dim, 4);
    s->k = calloc(B * s->kv_dim, 4);
    s->v = calloc(B * s->kv_dim, 4);
    s->att_out = calloc(B * s->q_dim, 4);
    s->hb = calloc(B * h->n_ff, 4);
    s->hb2 = calloc(B * h->n_ff, 4);
    s->scores = calloc(B * h->n_head * (size_t)n_ctx, 4);
    if (!s->k_cache || !s->v_cache || !s->x || !s->xb || !s->q || !s->k || !s->v || !s->att_out ||
        !s->hb || !s->hb2 || !s->scores) {
        fd_session_free(s);
        return fd__error(FD_ERR_OOM, "fd_session_create: out of memory for a %d-token context", n_ctx);
    }
    *out = s;
    return FD_OK;
}

void fd_session_free(fd_session *s) {
    if (!s) return;
    free(s->k_cache); free(s->v_cache); free(s->x); free(s->xb); free(s->q); free(s->k);
    free(s->v); free(s->att_out); free(s->hb); free(s->hb2); free(s->scores);
    free(s);
}

int fd_session_pos(const fd_session *s) { return s->pos; }
fd_model *fd_session_model(const fd_session *s) { return s->m; }
size_t fd_session_kv_bytes(const fd_session *s) {
    return 2 * (size_t)s->m->info.n_layer * s->n_ctx * s->kv_dim * sizeof(float);
}

fd_status fd_session_truncate(fd_session *s, int pos) {
    if (pos < 0 || pos > s->pos)
        return fd__error(FD_ERR_INVALID_ARG, "fd_session_truncate: position %d outside [0, %d]", pos, s->pos);
    s->pos = pos;
    return FD_OK;
}
