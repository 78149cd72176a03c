// SPDX-License-Identifier: Apache-2.0
// GPU forward pass of the Llama family, Qwen2/3 and Gemma 3 over a ragged, paged
// batch, built from the op table's kernels: gguf_get_rows (+ scale for Gemma),
// rms_norm (with the residual add fused), gguf_matmul (q/k/v and gate/up stacked
// into one weight each when their types agree, else run apart into column slices),
// qkv_bias_rms_norm (Qwen2 biases, Qwen3/Gemma q/k norms), append_attention
// (rotary + paged cache write + causal or sliding-window attention),
// silu_and_mul / gelu_tanh_and_mul, rebuild_padding and the LM head.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "fdeploy/ops.h"
#include "model/forward_gpu.h"
#include "model/model_internal.h"

typedef struct gweight {   // a GGUF weight on the device
    fd_tensor t;            // u8 [rows, row_bytes]
    fd_ggml_type type;
    int64_t k;
} gweight;

typedef struct gweights {   // weights with one input: stacked when their types agree
    gweight w[3];
    int n;                  // matmuls to run: 1 (stacked), else one per part
} gweights;

typedef struct glayer {
    fd_tensor attn_norm, ffn_norm;   // f32 [d]
    fd_tensor post_attn_norm, post_ffn_norm, q_norm, k_norm, qkv_bias;  // f32; data NULL = absent
    gweights qkv, gate_up;
    gweight o, down;
    fd_tensor k_cache, v_cache;      // f16 [n_blocks, n_kv, bs, hd]
} glayer;

struct fd__gpu_runner {
    fd_model *m;
    fd_ctx *ctx;
    int n_blocks, block_size, max_tokens, max_seqs, max_blocks_per_seq, max_model_len;
    int qkv_dim, q_dim;
    glayer *L;
    gweight embd, output;
    fd_tensor out_norm, rotary, rotary_swa, workspace;
    fd_tensor split;                                           // f16 [T, widest part] (split groups)
    int64_t split_cols;
    fd_graph **graphs;   // [max_seqs + 1]: decode step of batch size S (NULL = not yet); NULL = off
    // Gemma's residual stream outgrows f16 (~1e5 in Gemma 3 270M): it is kept scaled by
    // res_scale, folded into the embedding scale and the post-norm weights (every other
    // norm is scale-invariant, and eps stays negligible).
    float res_scale;
    fd_tensor x, h, qkv, att, o, gu, a, last, logits;           // f16 activations
    fd_tensor meta;                                            // i32: the regions below
    fd_tensor ids, cu, dec, this_time, enc, blocks;            // i32 metadata, in meta
    fd_tensor probs, temp, top_p, top_k, samples;              // device sampling
    fd_tensor hist, plen, cur, minl, eos, pen, freq, pres;     // penalties
    float *h_temp, *h_top_p, *h_pen, *h_freq, *h_pres;
    int64_t *h_top_k, *h_samples, *h_hist, *h_plen, *h_cur;
    int32_t *h_meta;                                           // host staging of meta
    int32_t *h_cu, *h_dec, *h_tt, *h_enc, *h_blocks, *h_ids;   // its regions
    uint16_t *h_logits;
    void **allocs;
    int n_allocs, cap_allocs;
};

// ---- device memory

static fd_status dalloc(fd__gpu_runner *r, fd_tensor *t, fd_dtype dt, int ndim, const int64_t *ne) {
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->ne[i] = ne[i];
    if (r->n_allocs == r->cap_allocs) {
        int cap = r->cap_allocs ? 2 * r->cap_allocs : 256;
        void **a = realloc(r->allocs, (size_t)cap * sizeof *a);
        if (!a) return fd__error(FD_ERR_OOM, "gpu runner: out of host memory");
        r->allocs = a;
        r->cap_allocs = cap;
    }
    FD_TRY(fd_ctx_alloc(r->ctx, fd_tensor_bytes(t), &t->data));
    r->allocs[r->n_allocs++] = t->data;
    return FD_OK;
}
#define DALLOC(r, t, dt, ...)                                                  \
    dalloc(r, t, dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

// Uploads host weights (rows of k elements of one ggml type) stacked in order.
static fd_status upload_stacked(fd__gpu_runner *r, gweight *g, const fd_weight *const *parts, int n) {
    int64_t rows = 0;
    size_t rb = fd__row_bytes(parts[0]->type, parts[0]->ne0);
    for (int i = 0; i < n; i++) rows += parts[i]->ne1;
    FD_TRY(DALLOC(r, &g->t, FD_U8, rows, (int64_t)rb));
    g->type = parts[0]->type;
    g->k = parts[0]->ne0;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t bytes = rb * (size_t)parts[i]->ne1;
        FD_TRY(fd_ctx_upload(r->ctx, (uint8_t *)g->t.data + off, parts[i]->data, bytes));
        off += bytes;
    }
    return FD_OK;
}

// An f32 vector times `scale` (1 = as is); an absent optional tensor stays absent (data NULL).
static fd_status upload_f32_scaled(fd__gpu_runner *r, fd_tensor *t, const fd_weight *w, float scale) {
    if (!w->data) return FD_OK;
    FD_TRY(DALLOC(r, t, FD_F32, w->ne0));
    float *host = malloc((size_t)w->ne0 * sizeof(float));
    if (!host) return fd__error(FD_ERR_OOM, "gpu runner: out of host memory");
    for (int64_t i = 0; i < w->ne0; i++) host[i] = ((const float *)w->data)[i] * scale;
    fd_status s = fd_ctx_upload(r->ctx, t->data, host, (size_t)w->ne0 * sizeof(float));
    free(host);
    return s;
}

static fd_status upload_f32(fd__gpu_runner *r, fd_tensor *t, const fd_weight *w) {
    return upload_f32_scaled(r, t, w, 1.0f);
}

// Weights sharing an input: one stacked matmul when the types agree; otherwise
// (llama.cpp's K-quant mixes, Gemma's Q5_0 q/k with Q8_0 v) one per part.
static fd_status upload_group(fd__gpu_runner *r, gweights *g, const fd_weight *const *parts, int n) {
    int same = 1;
    for (int i = 1; i < n; i++) same &= parts[i]->type == parts[0]->type;
    if (same) {
        g->n = 1;
        return upload_stacked(r, &g->w[0], parts, n);
    }
    g->n = n;
    for (int i = 0; i < n; i++) {
        FD_TRY(upload_stacked(r, &g->w[i], &parts[i], 1));
        if (parts[i]->ne1 > r->split_cols) r->split_cols = parts[i]->ne1;
    }
    return FD_OK;
}

// q/k/v biases (Qwen2) as one f32 vector over the fused qkv columns (absent parts 0).
static fd_status upload_qkv_bias(fd__gpu_runner *r, glayer *g, const fd_layer *L) {
    const fd_weight *b[3] = {&L->bq, &L->bk, &L->bv}, *w[3] = {&L->wq, &L->wk, &L->wv};
    if (!b[0]->data && !b[1]->data && !b[2]->data) return FD_OK;
    float *host = calloc((size_t)r->qkv_dim, sizeof(float));
    if (!host) return fd__error(FD_ERR_OOM, "gpu runner: out of host memory");
    for (int i = 0, at = 0; i < 3; at += (int)w[i]->ne1, i++)
        if (b[i]->data) memcpy(host + at, b[i]->data, (size_t)w[i]->ne1 * sizeof(float));
    fd_status s = DALLOC(r, &g->qkv_bias, FD_F32, r->qkv_dim);
    if (s == FD_OK) s = fd_ctx_upload(r->ctx, g->qkv_bias.data, host, (size_t)r->qkv_dim * sizeof(float));
    free(host);
    return s;
}

static fd_status upload_layer(fd__gpu_runner *r, int l) {
    const fd_model_info *h = &r->m->info;
    const fd_layer *L = &r->m->layers[l];
    glayer *g = &r->L[l];
    const fd_weight *qkv[3] = {&L->wq, &L->wk, &L->wv}, *gu[2] = {&L->w_gate, &L->w_up};
    const fd_weight *o[1] = {&L->wo}, *dn[1] = {&L->w_down};
    FD_TRY(upload_f32(r, &g->attn_norm, &L->attn_norm));
    FD_TRY(upload_f32(r, &g->ffn_norm, &L->ffn_norm));
    FD_TRY(upload_f32_scaled(r, &g->post_attn_norm, &L->post_attn_norm, r->res_scale));
    FD_TRY(upload_f32_scaled(r, &g->post_ffn_norm, &L->post_ffn_norm, r->res_scale));
    FD_TRY(upload_f32(r, &g->q_norm, &L->q_norm));
    FD_TRY(upload_f32(r, &g->k_norm, &L->k_norm));
    FD_TRY(upload_qkv_bias(r, g, L));
    FD_TRY(upload_group(r, &g->qkv, qkv, 3));
    FD_TRY(upload_stacked(r, &g->o, o, 1));
    FD_TRY(upload_group(r, &g->gate_up, gu, 2));
    FD_TRY(upload_stacked(r, &g->down, dn, 1));
    FD_TRY(DALLOC(r, &g->k_cache, FD_F16, r->n_blocks, h->n_head_kv, r->block_size, h->head_dim));
    return DALLOC(r, &g->v_cache, FD_F16, r->n_blocks, h->n_head_kv, r->block_size, h->head_dim);
}

// Rotary cos/sin tables from the model's frequencies (scaling included): one for
// full-attention layers, one for sliding-window layers when the model has them.
static fd_status rotary_tables(fd__gpu_runner *r) {
    const fd_model_info *h = &r->m->info;
    double f[512];
    if (h->head_dim / 2 > 512) return fd__error(FD_ERR_UNSUPPORTED_ARCH, "head_dim %d is too large", h->head_dim);
    for (int swa = 0; swa <= (h->sliding_window > 0); swa++) {
        fd_tensor *t = swa ? &r->rotary_swa : &r->rotary;
        FD_TRY(DALLOC(r, t, FD_F32, r->max_model_len, h->head_dim));
        fd_model_rope_freqs(r->m, swa, f);
        FD_TRY(fd_rotary_cos_sin_cache_init_freqs(r->ctx, t, f));
    }
    return FD_OK;
}

// A step's metadata in one device buffer and one host staging buffer of the
// same layout (cu | dec | this_time | enc | blocks | ids, each 64-int aligned),
// so a step uploads it with one copy (each copy waits for the stream).
static fd_status alloc_meta(fd__gpu_runner *r) {
    const int64_t T = r->max_tokens, S = r->max_seqs, mb = r->max_blocks_per_seq;
    fd_tensor *t[6] = {&r->cu, &r->dec, &r->this_time, &r->enc, &r->blocks, &r->ids};
    const int64_t n[6] = {S + 1, S, S, S, S * mb, T};
    int64_t at[7] = {0};
    for (int i = 0; i < 6; i++) at[i + 1] = at[i] + (n[i] + 63) / 64 * 64;
    FD_TRY(DALLOC(r, &r->meta, FD_I32, at[6]));
    if (!(r->h_meta = calloc((size_t)at[6], sizeof *r->h_meta)))
        return fd__error(FD_ERR_OOM, "gpu runner: out of host memory");
    int32_t **h[6] = {&r->h_cu, &r->h_dec, &r->h_tt, &r->h_enc, &r->h_blocks, &r->h_ids};
    for (int i = 0; i < 6; i++) {
        *t[i] = fd_tensor_1d((int32_t *)r->meta.data + at[i], FD_I32, n[i]);
        *h[i] = r->h_meta + at[i];
    }
    r->blocks = fd_tensor_2d(r->blocks.data, FD_I32, S, mb);
    return FD_OK;
}

static fd_status alloc_activations(fd__gpu_runner *r) {
    const fd_model_info *h = &r->m->info;
    int64_t T = r->max_tokens, S = r->max_seqs, d = h->n_embd;
    FD_TRY(DALLOC(r, &r->x, FD_F16, T, d));
    FD_TRY(DALLOC(r, &r->h, FD_F16, T, d));
    FD_TRY(DALLOC(r, &r->qkv, FD_F16, T, r->qkv_dim));
    FD_TRY(DALLOC(r, &r->att, FD_F16, T, r->q_dim));
    FD_TRY(DALLOC(r, &r->o, FD_F16, T, d));
    FD_TRY(DALLOC(r, &r->gu, FD_F16, T, 2 * (int64_t)h->n_ff));
    FD_TRY(DALLOC(r, &r->a, FD_F16, T, h->n_ff));
    FD_TRY(DALLOC(r, &r->last, FD_F16, S, d));
    FD_TRY(DALLOC(r, &r->logits, FD_F16, S, h->n_vocab));
    FD_TRY(alloc_meta(r));
    FD_TRY(DALLOC(r, &r->probs, FD_F32, S, h->n_vocab));
    FD_TRY(DALLOC(r, &r->temp, FD_F32, S));
    FD_TRY(DALLOC(r, &r->top_p, FD_F32, S));
    FD_TRY(DALLOC(r, &r->top_k, FD_I64, S));
    FD_TRY(DALLOC(r, &r->samples, FD_I64, S));
    FD_TRY(DALLOC(r, &r->hist, FD_I64, S, r->max_model_len));
    FD_TRY(DALLOC(r, &r->plen, FD_I64, S));
    FD_TRY(DALLOC(r, &r->cur, FD_I64, S));
    FD_TRY(DALLOC(r, &r->minl, FD_I64, S));
    FD_TRY(DALLOC(r, &r->eos, FD_I64, 1));
    FD_TRY(DALLOC(r, &r->pen, FD_F32, S));
    FD_TRY(DALLOC(r, &r->freq, FD_F32, S));
    FD_TRY(DALLOC(r, &r->pres, FD_F32, S));
    FD_TRY(fd_ctx_memset(r->ctx, r->minl.data, 0, (size_t)S * sizeof(int64_t)));  // no min-length ban
    FD_TRY(fd_ctx_memset(r->ctx, r->eos.data, 0, sizeof(int64_t)));
    FD_TRY(rotary_tables(r));
    if (r->split_cols) FD_TRY(DALLOC(r, &r->split, FD_F16, T, r->split_cols));
    size_t ws = fd_append_attention_workspace_size(r->ctx, T, S, h->n_head, h->n_head_kv, h->head_dim,
                                                   r->max_blocks_per_seq, r->block_size, r->max_model_len);
    FD_TRY(DALLOC(r, &r->workspace, FD_U8, (int64_t)(ws ? ws : 1)));
    r->h_logits = malloc((size_t)(S * h->n_vocab) * sizeof *r->h_logits);
    r->h_temp = malloc((size_t)S * sizeof *r->h_temp);
    r->h_top_p = malloc((size_t)S * sizeof *r->h_top_p);
    r->h_top_k = malloc((size_t)S * sizeof *r->h_top_k);
    r->h_samples = malloc((size_t)S * sizeof *r->h_samples);
    r->h_pen = malloc((size_t)S * sizeof(float));
    r->h_freq = malloc((size_t)S * sizeof(float));
    r->h_pres = malloc((size_t)S * sizeof(float));
    r->h_hist = malloc((size_t)S * r->max_model_len * sizeof(int64_t));
    r->h_plen = malloc((size_t)S * sizeof(int64_t));
    r->h_cur = malloc((size_t)S * sizeof(int64_t));
    if (!r->h_logits || !r->h_temp || !r->h_top_p || !r->h_top_k ||
        !r->h_samples || !r->h_pen || !r->h_freq || !r->h_pres || !r->h_hist || !r->h_plen || !r->h_cur)
        return fd__error(FD_ERR_OOM, "gpu runner: out of host memory");
    return FD_OK;
}

size_t fd__gpu_kv_block_bytes(const fd_model *m, int block_size) {
    const fd_model_info *h = fd_model_get_info(m);
    return 2 * (size_t)h->n_layer * block_size * h->n_head_kv * h->head_dim * 2;
}

size_t fd__gpu_weight_bytes(const fd_model *m) { return fd_model_get_info(m)->weight_bytes; }

fd_status fd__gpu_runner_create(fd_model *m, fd_ctx *ctx, int n_blocks, int block_size, int max_tokens,
                                int max_seqs, int max_model_len, fd__gpu_runner **out) {
    const fd_model_info *h = &m->info;
    fd__gpu_runner *r = calloc(1, sizeof *r);
    if (!r) return fd__error(FD_ERR_OOM, "gpu runner: out of host memory");
    r->m = m;
    r->ctx = ctx;
    r->n_blocks = n_blocks;
    r->block_size = block_size;
    r->max_tokens = max_tokens;
    r->max_seqs = max_seqs;
    r->max_model_len = max_model_len;
    r->max_blocks_per_seq = (max_model_len + block_size - 1) / block_size;
    r->q_dim = h->n_head * h->head_dim;
    r->res_scale = h->post_norms ? 1.0f / 64 : 1.0f;
    r->qkv_dim = r->q_dim + 2 * h->n_head_kv * h->head_dim;
    fd_status s = (r->L = calloc((size_t)h->n_layer, sizeof *r->L)) ? FD_OK
                                                                      : fd__error(FD_ERR_OOM, "gpu runner: out of memory");
    const fd_weight *embd[1] = {&m->tok_embd}, *outw[1] = {&m->output};
    for (int l = 0; s == FD_OK && l < h->n_layer; l++) s = upload_layer(r, l);
    if (s == FD_OK) s = upload_stacked(r, &r->embd, embd, 1);
    if (s == FD_OK) s = upload_stacked(r, &r->output, outw, 1);
    if (s == FD_OK) s = upload_f32(r, &r->out_norm, &m->out_norm);
    if (s == FD_OK) s = alloc_activations(r);
    const char *eg = getenv("FDEPLOY_CUDA_GRAPH");
    if (s == FD_OK && !(eg && strcmp(eg, "0") == 0) && !(r->graphs = calloc((size_t)max_seqs + 1, sizeof *r->graphs)))
        s = fd__error(FD_ERR_OOM, "gpu runner: out of host memory");
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s != FD_OK) {
        fd__gpu_runner_free(r);
        return s;
    }
    *out = r;
    return FD_OK;
}

// Frees every recorded graph; graphs are off afterwards.
static void drop_graphs(fd__gpu_runner *r) {
    for (int i = 0; r->graphs && i <= r->max_seqs; i++) fd_graph_free(r->graphs[i]);
    free(r->graphs);
    r->graphs = NULL;
}

void fd__gpu_runner_free(fd__gpu_runner *r) {
    if (!r) return;
    drop_graphs(r);
    for (int i = 0; i < r->n_allocs; i++) fd_ctx_release(r->ctx, r->allocs[i]);
    free(r->allocs);
    free(r->L);
    free(r->h_meta); free(r->h_logits);
    free(r->h_temp); free(r->h_top_p); free(r->h_top_k); free(r->h_samples);
    free(r->h_pen); free(r->h_freq); free(r->h_pres); free(r->h_hist); free(r->h_plen); free(r->h_cur);
    free(r);
}

// A view of the first `rows` rows of a 2-D buffer.
static fd_tensor rows_of(const fd_tensor *t, int64_t rows) {
    fd_tensor v = *t;
    v.ne[0] = rows;
    return v;
}

static fd_status matmul(fd__gpu_runner *r, const fd_tensor *x, const gweight *w, fd_tensor *y, int64_t T) {
    fd_tensor xv = rows_of(x, T), yv = rows_of(y, T);
    yv.ne[1] = w->t.ne[0];
    return fd_gguf_matmul(r->ctx, &xv, &w->t, w->type, w->k, &yv);
}

// y[:, parts side by side] = x * group^T: one matmul when stacked, else each part
// into the scratch and then into its column slice of y.
static fd_status matmul_group(fd__gpu_runner *r, const fd_tensor *x, const gweights *g, fd_tensor *y, int64_t T) {
    if (g->n == 1) return matmul(r, x, &g->w[0], y, T);
    size_t pitch = (size_t)y->ne[1] * 2, col = 0;  // f16 rows
    for (int i = 0; i < g->n; i++) {
        size_t w = (size_t)g->w[i].t.ne[0] * 2;
        FD_TRY(matmul(r, x, &g->w[i], &r->split, T));
        FD_TRY(fd_ctx_copy_2d(r->ctx, (char *)y->data + col, pitch, r->split.data, w, w, (size_t)T));
        col += w;
    }
    return FD_OK;
}

// Host batch -> device metadata.
static fd_status upload_batch(fd__gpu_runner *r, const fd__cpu_batch *b, int T) {
    int S = b->n_seqs, mb = r->max_blocks_per_seq;
    r->h_cu[0] = 0;
    for (int i = 0; i < S; i++) {
        r->h_cu[i + 1] = r->h_cu[i] + b->n_new[i];
        r->h_enc[i] = b->n_new[i];  // rebuild_padding then picks each sequence's last new token
        int need = (b->n_past[i] + b->n_new[i] + r->block_size - 1) / r->block_size;
        if (need > mb) return fd__error(FD_ERR_INVALID_ARG, "gpu forward: sequence %d exceeds max_model_len", i);
        memcpy(r->h_blocks + (size_t)i * mb, b->blocks[i], (size_t)need * sizeof(int32_t));
    }
    memcpy(r->h_dec, b->n_past, (size_t)S * sizeof(int32_t));
    memcpy(r->h_tt, b->n_new, (size_t)S * sizeof(int32_t));
    memcpy(r->h_ids, b->tokens, (size_t)T * sizeof(int32_t));
    size_t n = (size_t)(r->h_ids - r->h_meta + T);  // every region up to this step's ids
    return fd_ctx_upload(r->ctx, r->meta.data, r->h_meta, n * sizeof(int32_t));
}

static fd_status attention(fd__gpu_runner *r, glayer *g, int l, int T, int S) {
    const fd_model_info *h = &r->m->info;
    int swa = fd_model_layer_is_swa(h, l);
    fd_tensor qkv = rows_of(&r->qkv, T), att = rows_of(&r->att, T), cu = rows_of(&r->cu, S + 1);
    fd_tensor dec = rows_of(&r->dec, S), tt = rows_of(&r->this_time, S), bt = rows_of(&r->blocks, S);
    fd_attention_opts o = {0};
    o.rotary = swa ? &r->rotary_swa : &r->rotary;
    o.rotary_neox = h->rope_neox;
    o.sliding_window = swa ? h->sliding_window : 0;
    o.max_kv_len = r->max_model_len;
    o.workspace = &r->workspace;
    if (g->qkv_bias.data || g->q_norm.data || g->k_norm.data)
        FD_TRY(fd_qkv_bias_rms_norm(r->ctx, &qkv, h->n_head, h->n_head_kv, h->head_dim,
                                    g->qkv_bias.data ? &g->qkv_bias : NULL, g->q_norm.data ? &g->q_norm : NULL,
                                    g->k_norm.data ? &g->k_norm : NULL, h->norm_eps));
    return fd_append_attention(r->ctx, &qkv, &g->k_cache, &g->v_cache, &cu, &dec, &tt, &bt, &o, h->attn_scale,
                               &att);
}

// Gemma's post-norm of a block's output (in place) before it joins the residual.
static fd_status post_norm(fd__gpu_runner *r, const fd_tensor *w, fd_tensor *y) {
    return w->data ? fd_rms_norm(r->ctx, y, NULL, w, r->m->info.norm_eps, y) : FD_OK;
}

// One layer: x is the residual stream; `pending` (NULL for layer 0) is the
// previous layer's FFN output still to be added into x.
static fd_status layer(fd__gpu_runner *r, int l, int T, int S, const fd_tensor *pending) {
    const fd_model_info *h = &r->m->info;
    glayer *g = &r->L[l];
    fd_tensor x = rows_of(&r->x, T), hh = rows_of(&r->h, T), o = rows_of(&r->o, T);
    fd_tensor gu = rows_of(&r->gu, T), a = rows_of(&r->a, T);
    FD_TRY(fd_rms_norm(r->ctx, &x, pending, &g->attn_norm, h->norm_eps, &hh));
    FD_TRY(matmul_group(r, &r->h, &g->qkv, &r->qkv, T));
    FD_TRY(attention(r, g, l, T, S));
    FD_TRY(matmul(r, &r->att, &g->o, &r->o, T));
    FD_TRY(post_norm(r, &g->post_attn_norm, &o));
    FD_TRY(fd_rms_norm(r->ctx, &x, &o, &g->ffn_norm, h->norm_eps, &hh));
    FD_TRY(matmul_group(r, &r->h, &g->gate_up, &r->gu, T));
    FD_TRY(h->ffn_gelu ? fd_gelu_tanh_and_mul(r->ctx, &gu, &a) : fd_silu_and_mul(r->ctx, &gu, &a));
    FD_TRY(matmul(r, &r->a, &g->down, &r->o, T));
    return post_norm(r, &g->post_ffn_norm, &o);
}

// Final norm, one row per sequence (its last new token), logits [S, V] on the device.
static fd_status lm_head(fd__gpu_runner *r, int T, int S) {
    const fd_model_info *h = &r->m->info;
    fd_tensor x = rows_of(&r->x, T), hh = rows_of(&r->h, T), o = rows_of(&r->o, T), last = rows_of(&r->last, S);
    fd_tensor cu = rows_of(&r->cu, S + 1), tt = rows_of(&r->this_time, S), dec = rows_of(&r->dec, S),
              enc = rows_of(&r->enc, S);
    FD_TRY(fd_rms_norm(r->ctx, &x, &o, &r->out_norm, h->norm_eps, &hh));
    FD_TRY(fd_rebuild_padding(r->ctx, &hh, &cu, &tt, &dec, &enc, NULL, NULL, 0, 0, &last));
    return matmul(r, &r->last, &r->output, &r->logits, S);
}

static fd_status download_logits(fd__gpu_runner *r, const fd__cpu_batch *b, int S, float *logits) {
    const fd_model_info *h = &r->m->info;
    FD_TRY(fd_ctx_download(r->ctx, r->h_logits, r->logits.data, (size_t)S * h->n_vocab * sizeof(uint16_t)));
    int n_out = 0;
    for (int i = 0; i < S; i++) {
        if (!b->want_logits[i] || b->n_new[i] == 0) continue;
        fd__f16_to_f32_row(r->h_logits + (size_t)i * h->n_vocab, logits + (size_t)n_out++ * h->n_vocab,
                           h->n_vocab);
    }
    return FD_OK;
}

// The kernels of one step, metadata already on the device: embeddings, layers, LM head.
static fd_status run_kernels(fd__gpu_runner *r, int T, int S) {
    fd_tensor ids = rows_of(&r->ids, T), x = rows_of(&r->x, T);
    FD_TRY(fd_gguf_get_rows(r->ctx, &r->embd.t, r->embd.type, &ids, &x));
    float es = r->m->info.embd_scale * r->res_scale;
    if (es != 1.0f) FD_TRY(fd_scale(r->ctx, &x, es, &x));
    for (int l = 0; l < r->m->info.n_layer; l++) {
        fd_tensor o = rows_of(&r->o, T);
        FD_TRY(layer(r, l, T, S, l ? &o : NULL));
    }
    return lm_head(r, T, S);
}

// Decode steps (one token per sequence) replay a CUDA graph of run_kernels recorded
// for that batch size: one launch instead of ~11 per layer, which is what bounds a
// small model's decode. Every buffer and shape is fixed per size; only the data the
// step uploaded changes. If recording fails, graphs are turned off and the step runs
// eagerly (FDEPLOY_CUDA_GRAPH=0 turns them off from the start).
static fd_status decode_graph(fd__gpu_runner *r, int S) {
    if (!r->graphs[S]) {
        fd_graph *g = NULL;
        FD_TRY(fd_ctx_capture_begin(r->ctx));
        fd_status s = run_kernels(r, S, S), e = fd_ctx_capture_end(r->ctx, &g);
        if (s != FD_OK || e != FD_OK) {
            fd__log(FD_LOG_WARN, "CUDA graphs off, decode steps run kernel by kernel: %s", fd_last_error());
            drop_graphs(r);  // the sizes recorded so far too: one mode for every step
            return run_kernels(r, S, S);
        }
        r->graphs[S] = g;
    }
    return fd_graph_launch(r->ctx, r->graphs[S]);
}

// Everything up to the logits on the device; *T_out = tokens in the batch (0: nothing to run).
static fd_status forward_to_logits(fd__gpu_runner *r, const fd__cpu_batch *b, int *T_out) {
    int T = 0, S = b->n_seqs;
    for (int i = 0; i < S; i++) T += b->n_new[i];
    if (T == 0) return FD_OK;
    if (T > r->max_tokens || S > r->max_seqs)
        return fd__error(FD_ERR_INVALID_ARG, "gpu forward: %d tokens / %d sequences exceed %d / %d", T, S,
                         r->max_tokens, r->max_seqs);
    FD_TRY(upload_batch(r, b, T));
    *T_out = T;
    if (T == S && S <= r->max_seqs && r->graphs) return decode_graph(r, S);
    return run_kernels(r, T, S);
}

fd_status fd__gpu_forward(fd__gpu_runner *r, const fd__cpu_batch *b, float *logits) {
    int T = 0;
    FD_TRY(forward_to_logits(r, b, &T));
    if (T == 0) return FD_OK;
    FD_TRY(download_logits(r, b, b->n_seqs, logits));
    return fd_ctx_sync(r->ctx);
}

// token_penalty_multi_scores over the logits when any sampled sequence asks for
// a penalty: each row's history in the token_ids_all layout (prompt, output,
// -1 after), its output length as cur_len; it divides by the temperature too.
static fd_status penalties(fd__gpu_runner *r, const fd__cpu_batch *b, const fd__gpu_sample_row *rows,
                           int *done) {
    int S = b->n_seqs, L = r->max_model_len, any = 0, n_rows = 0;
    for (int i = 0; i < S; i++) n_rows += b->want_logits[i] && b->n_new[i] > 0;
    for (int k = 0; k < n_rows; k++)
        any |= rows[k].repetition != 1 || rows[k].frequency != 0 || rows[k].presence != 0;
    *done = any;
    if (!any) return FD_OK;  // the common case costs nothing
    for (int i = 0, k = 0; i < S; i++) {
        int want = b->want_logits[i] && b->n_new[i] > 0;
        const fd__gpu_sample_row *q = want ? &rows[k++] : NULL;
        int64_t *h = r->h_hist + (size_t)i * L;
        int n = q ? (q->n_tokens < L ? q->n_tokens : L) : 0;
        for (int j = 0; j < n; j++) h[j] = q->history[j];
        for (int j = n; j < L; j++) h[j] = -1;
        r->h_plen[i] = q ? (q->n_prompt < n ? q->n_prompt : n) : 0;
        r->h_cur[i] = q ? n - r->h_plen[i] : -1;  // -1: inactive row, temperature only
        r->h_pen[i] = q ? q->repetition : 1.0f;
        r->h_freq[i] = q ? q->frequency : 0.0f;
        r->h_pres[i] = q ? q->presence : 0.0f;
    }
    FD_TRY(fd_ctx_upload(r->ctx, r->hist.data, r->h_hist, (size_t)S * L * sizeof(int64_t)));
    FD_TRY(fd_ctx_upload(r->ctx, r->plen.data, r->h_plen, (size_t)S * sizeof(int64_t)));
    FD_TRY(fd_ctx_upload(r->ctx, r->cur.data, r->h_cur, (size_t)S * sizeof(int64_t)));
    FD_TRY(fd_ctx_upload(r->ctx, r->pen.data, r->h_pen, (size_t)S * sizeof(float)));
    FD_TRY(fd_ctx_upload(r->ctx, r->freq.data, r->h_freq, (size_t)S * sizeof(float)));
    FD_TRY(fd_ctx_upload(r->ctx, r->pres.data, r->h_pres, (size_t)S * sizeof(float)));
    fd_tensor lg = rows_of(&r->logits, S), hist = rows_of(&r->hist, S), plen = rows_of(&r->plen, S);
    fd_tensor pen = rows_of(&r->pen, S), freq = rows_of(&r->freq, S), pres = rows_of(&r->pres, S);
    fd_tensor temp = rows_of(&r->temp, S), cur = rows_of(&r->cur, S), minl = rows_of(&r->minl, S);
    return fd_token_penalty_multi_scores(r->ctx, &hist, NULL, &plen, &lg, &pen, &freq, &pres, &temp, NULL, NULL,
                                         &cur, &minl, &r->eos);
}

// Samples every sequence that wants logits on the device with the operator
// suite: token_penalty_multi_scores (when asked), softmax (per-row temperature),
// then rejection_top_p_sampling per row
// with that row's own seed (so a request's draws do not depend on its batch).
fd_status fd__gpu_forward_sample(fd__gpu_runner *r, const fd__cpu_batch *b, const fd__gpu_sample_row *rows,
                                 int32_t *tokens) {
    int T = 0, S = b->n_seqs, n_out = 0;
    FD_TRY(forward_to_logits(r, b, &T));
    if (T == 0) return FD_OK;
    const int V = r->m->info.n_vocab;
    for (int i = 0, k = 0; i < S; i++) {  // per-sequence parameters, in batch order
        int want = b->want_logits[i] && b->n_new[i] > 0;
        r->h_temp[i] = want ? rows[k].temperature : 1.0f;
        r->h_top_p[i] = want ? rows[k].top_p : 1.0f;
        r->h_top_k[i] = want ? rows[k].top_k : 0;
        k += want;
    }
    FD_TRY(fd_ctx_upload(r->ctx, r->temp.data, r->h_temp, (size_t)S * sizeof(float)));
    FD_TRY(fd_ctx_upload(r->ctx, r->top_p.data, r->h_top_p, (size_t)S * sizeof(float)));
    FD_TRY(fd_ctx_upload(r->ctx, r->top_k.data, r->h_top_k, (size_t)S * sizeof(int64_t)));
    fd_tensor lg = rows_of(&r->logits, S), pr = rows_of(&r->probs, S), tp = rows_of(&r->temp, S);
    int penalized = 0;
    FD_TRY(penalties(r, b, rows, &penalized));  // also divides by the temperature
    FD_TRY(fd_softmax(r->ctx, &lg, penalized ? NULL : &tp, &pr));
    for (int i = 0, k = 0; i < S; i++) {
        if (!b->want_logits[i] || b->n_new[i] == 0) continue;
        fd_tensor p1 = fd_tensor_2d((float *)r->probs.data + (size_t)i * V, FD_F32, 1, V);
        fd_tensor q1 = fd_tensor_1d((float *)r->top_p.data + i, FD_F32, 1);
        fd_tensor k1 = fd_tensor_1d((int64_t *)r->top_k.data + i, FD_I64, 1);
        fd_tensor s1 = fd_tensor_1d((int64_t *)r->samples.data + i, FD_I64, 1);
        FD_TRY(fd_rejection_top_p_sampling(r->ctx, &p1, &q1, &k1, rows[k++].seed, &s1));
    }
    FD_TRY(fd_ctx_download(r->ctx, r->h_samples, r->samples.data, (size_t)S * sizeof(int64_t)));
    FD_TRY(fd_ctx_sync(r->ctx));
    for (int i = 0; i < S; i++)
        if (b->want_logits[i] && b->n_new[i] > 0) tokens[n_out++] = (int32_t)r->h_samples[i];
    return FD_OK;
}
