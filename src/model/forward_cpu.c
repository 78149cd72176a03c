// SPDX-License-Identifier: Apache-2.0
// The CPU forward pass of the Llama family (Llama, SmolLM, Qwen2 with q/k/v
// bias, Qwen3 with per-head q/k RMSNorm, Gemma 3 with post-norms, GELU and
// sliding-window layers) over a ragged batch with a paged KV pool. Matmuls are split by output rows over the thread pool (each weight
// row is read once for all tokens of the batch); attention by (token, head).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "model/forward_cpu.h"
#include "model/model_internal.h"

#define KT_KEYS 16  // keys a K tile scores at once (one AVX-512 vector); divides block
                    // sizes and head_dim
#define KT_HEADS 4  // query heads a K tile is read for at once
_Static_assert(KT_HEADS == 4, "att_group's switches take 1 to 4 heads");

struct fd__cpu_scratch {
    int max_tokens, q_dim, kv_dim;
    float *x, *xb, *q, *k, *v, *att_out, *hb, *hb2;
    int *tok_seq, *tok_pos;   // per token: its sequence, its position
    float *rope, *rope_swa;   // per token: head_dim/2 cosines, then head_dim/2 sines
    double *inv_freq[2];      // rotary frequencies of full / sliding-window layers
    void *xq;                 // a matmul's input quantized (fd__q16_block or fd__q8_block)
    int64_t xq_blocks;
};

// ---- matmul over the pool

// Up to 3 weights with the same input (q/k/v, gate/up) run as one pool job
// over their concatenated rows: one wake-up, and x is quantized once.
enum { MM_MAX = 3 };

typedef struct mm_job {
    int n_w;
    const fd_weight *w[MM_MAX];
    float *y[MM_MAX];
    int64_t row0[MM_MAX + 1];  // first row of weight i in the concatenation
    const float *x;
    const void *xq;            // x quantized (integer kernels), or NULL
    int act8;                  // xq holds fd__q8_block (else fd__q16_block)
    int group;                 // fd__q16_block groups sharing a scale (8: every weight a K-quant)
    int n_tok, avx2;
} mm_job;

// Activations of the integer kernels: 16-bit by default; FDEPLOY_ACT_INT8=1
// picks 8-bit ones (llama.cpp's choice: a bit faster, logits off by up to ~1).
static int act_int8(void) {
    static int v = -1;  // benign race: every thread computes the same value
    if (v < 0) {
        const char *e = getenv("FDEPLOY_ACT_INT8");
        v = e && *e && strcmp(e, "0") != 0;
    }
    return v;
}

static void mm_range(void *arg, int64_t r0, int64_t r1) {
    const mm_job *j = arg;
    for (int i = 0; i < j->n_w; i++) {
        int64_t b = r0 > j->row0[i] ? r0 : j->row0[i], e = r1 < j->row0[i + 1] ? r1 : j->row0[i + 1];
        if (b >= e) continue;
        const fd_weight *w = j->w[i];
        b -= j->row0[i];
        e -= j->row0[i];
        if (j->xq && j->act8) {
            fd__matmul_rows_q8(w->type, w->data, w->ne0, j->xq, j->n_tok, j->y[i], w->ne1, b, e);
            continue;
        }
        if (j->xq) {
            fd__matmul_rows_q16(w->type, w->data, w->ne0, j->xq, j->n_tok, j->y[i], w->ne1, b, e,
                                j->group);
            continue;
        }
        float *scratch = malloc(4 * (size_t)w->ne0 * sizeof(float));  // 4 dequantized rows
        if (!scratch) FD_ASSERT(!"out of memory for a row buffer");
        fd__matmul_rows(w->type, w->data, w->ne0, j->x, j->n_tok, j->y[i], w->ne1, b, e, scratch, j->avx2);
        free(scratch);
    }
}

// y_i[t][0..rows_i) = W_i x[t] (+ bias_i) for the n_w weights (same row length).
static void matmul_n(fd_model *m, fd__cpu_scratch *s, int n_w, const fd_weight *const *w,
                     const fd_weight *const *bias, const float *x, int n_tok, float *const *y) {
    mm_job j = {.n_w = n_w, .x = x, .n_tok = n_tok, .avx2 = m->avx2};
    // integer kernels for every weight: 8- / 16-bit activations (K-quants: 16-bit only;
    // at any token count: faster than f32 on dequantized rows, pp128 of Gemma 3 +11%)
    int q8 = m->avx2, q16 = m->avx2, kq = 1;
    for (int i = 0; i < n_w; i++) {
        j.w[i] = w[i];
        j.y[i] = y[i];
        j.row0[i + 1] = j.row0[i] + w[i]->ne1;
        q8 = q8 && fd__quant_q8_supported(w[i]->type, w[i]->ne0);
        q16 = q16 && fd__quant_q16_supported(w[i]->type, w[i]->ne0);
        kq = kq && (w[i]->type == FD_GGML_Q4_K || w[i]->type == FD_GGML_Q6_K);
    }
    int64_t k = w[0]->ne0, nb = k / 32;
    if (q16 && (int64_t)n_tok * nb <= s->xq_blocks) {
        j.act8 = q8 && act_int8();  // the K-quants have 16-bit kernels only
        j.group = kq ? 8 : 1;  // K-quants: one scale per super-block, int32 sums across it
        for (int t = 0; t < n_tok; t++)
            if (j.act8)
                fd__quantize_row_q8(x + t * k, k, (fd__q8_block *)s->xq + t * nb);
            else
                fd__quantize_row_q16(x + t * k, k, (fd__q16_block *)s->xq + t * nb, j.group);
        j.xq = s->xq;
    }
    fd__parallel_for(m->pool, j.row0[n_w], 16, mm_range, &j);
    for (int i = 0; i < n_w; i++)
        if (bias && bias[i] && bias[i]->data)
            for (int t = 0; t < n_tok; t++)
                for (int64_t r = 0; r < w[i]->ne1; r++)
                    y[i][t * w[i]->ne1 + r] += ((const float *)bias[i]->data)[r];
}

static void matmul(fd_model *m, fd__cpu_scratch *s, const fd_weight *w, const float *x, int n_tok,
                   float *y) {
    matmul_n(m, s, 1, &w, NULL, x, n_tok, &y);
}

static void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float inv = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * inv * w[i];
}

// Cosines and sines of the rotary angles at position pos (head_dim/2 each).
static void rope_table(float *cs, int head_dim, int pos, const double *inv_freq) {
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        double a = pos * inv_freq[i];
        cs[i] = (float)cos(a);
        cs[half + i] = (float)sin(a);
    }
}

// Rotary on n_heads head vectors (table from rope_table).
static void rope_heads(float *v, int n_heads, int head_dim, const float *cs, int neox) {
    int half = head_dim / 2;
    const float *c = cs, *s = cs + half;
    for (int h = 0; h < n_heads; h++, v += head_dim)
        for (int i = 0; i < half; i++) {
            int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
            float x0 = v[i0], x1 = v[i1];
            v[i0] = x0 * c[i] - x1 * s[i];
            v[i1] = x0 * s[i] + x1 * c[i];
        }
}

// ---- paged KV

size_t fd__cpu_kv_block_bytes(const fd_model *m, int block_size) {
    const fd_model_info *h = &m->info;
    return 2 * (size_t)h->n_layer * block_size * h->n_head_kv * h->head_dim * sizeof(float);
}

fd_status fd__cpu_kv_alloc(const fd_model *m, int n_blocks, int block_size, fd__cpu_kv *kv) {
    const fd_model_info *h = &m->info;
    memset(kv, 0, sizeof *kv);
    if (block_size <= 0 || block_size % KT_KEYS)
        return fd__error(FD_ERR_INVALID_ARG, "KV cache: block size %d must be a positive multiple of %d",
                         block_size, KT_KEYS);
    if (h->head_dim % KT_KEYS)
        return fd__error(FD_ERR_INVALID_ARG, "CPU attention: head_dim %d is not a multiple of %d; "
                         "run this model on a GPU", h->head_dim, KT_KEYS);
    kv->n_blocks = n_blocks;
    kv->block_size = block_size;
    kv->kv_dim = h->n_head_kv * h->head_dim;
    kv->n_layer = h->n_layer;
    size_t n = (size_t)h->n_layer * n_blocks * block_size * kv->kv_dim;
    kv->k = calloc(n, sizeof(float));
    kv->v = calloc(n, sizeof(float));
    if (!kv->k || !kv->v) {
        fd__cpu_kv_release(kv);
        return fd__error(FD_ERR_OOM, "KV cache: cannot allocate %d blocks (%.1f MiB)", n_blocks,
                         2.0 * n * sizeof(float) / 1048576.0);
    }
    return FD_OK;
}

void fd__cpu_kv_release(fd__cpu_kv *kv) {
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}

// Start of the block holding position p in layer l's K pool. K blocks are
// stored transposed, [kv_dim][block_size]: a dimension of KT_KEYS consecutive
// keys is one vector, so scores take one FMA per dimension for KT_KEYS keys.
static float *k_block(const fd__cpu_kv *kv, const int32_t *blocks, int l, int p) {
    size_t blk = (size_t)blocks[p / kv->block_size];
    return kv->k + ((size_t)l * kv->n_blocks + blk) * kv->block_size * kv->kv_dim;
}

// Row of token position p of a sequence in layer l's V pool.
static size_t kv_row(const fd__cpu_kv *kv, const int32_t *blocks, int l, int p) {
    size_t blk = (size_t)blocks[p / kv->block_size];
    return (((size_t)l * kv->n_blocks + blk) * kv->block_size + (size_t)(p % kv->block_size)) * kv->kv_dim;
}

// ---- attention

typedef struct att_job {
    fd_model *m;
    fd__cpu_kv *kv;
    fd__cpu_scratch *s;
    const fd__cpu_batch *b;
    int layer, window;   // window: sliding-window length, 0 = whole context
} att_job;

// ---- one layer over the batch's n tokens

static void qk_prepare(fd_model *m, fd__cpu_kv *kv, fd__cpu_scratch *s, const fd__cpu_batch *b,
                       int l, int n) {
    const fd_model_info *h = &m->info;
    const fd_layer *L = &m->layers[l];
    int hd = h->head_dim;
    const float *rope = fd_model_layer_is_swa(h, l) ? s->rope_swa : s->rope;
    for (int t = 0; t < n; t++) {
        float *q = s->q + (size_t)t * s->q_dim, *k = s->k + (size_t)t * s->kv_dim;
        for (int hh = 0; L->q_norm.data && hh < h->n_head; hh++)
            rmsnorm(q + hh * hd, q + hh * hd, L->q_norm.data, hd, h->norm_eps);
        for (int hh = 0; L->k_norm.data && hh < h->n_head_kv; hh++)
            rmsnorm(k + hh * hd, k + hh * hd, L->k_norm.data, hd, h->norm_eps);
        const float *cs = rope + (size_t)t * hd;
        rope_heads(q, h->n_head, hd, cs, h->rope_neox);
        rope_heads(k, h->n_head_kv, hd, cs, h->rope_neox);
        const int32_t *blocks = b->blocks[s->tok_seq[t]];
        int p = s->tok_pos[t], bs = kv->block_size;
        float *kb = k_block(kv, blocks, l, p) + p % bs;
        for (int i = 0; i < s->kv_dim; i++) kb[(size_t)i * bs] = k[i];
        memcpy(kv->v + kv_row(kv, blocks, l, p), s->v + (size_t)t * s->kv_dim,
               (size_t)s->kv_dim * sizeof(float));
    }
}

// x += y, with y first RMS-normed by post_norm when the model has post-norms (Gemma).
static void add_residual(const fd_model_info *h, float *x, float *y, const float *post_norm, int n) {
    int d = h->n_embd;
    for (int t = 0; post_norm && t < n; t++) rmsnorm(y + (size_t)t * d, y + (size_t)t * d, post_norm, d, h->norm_eps);
    for (size_t i = 0; i < (size_t)n * d; i++) x[i] += y[i];
}

// The activation loops: selects become blends only without FP trap semantics
// (this code raises none that anyone reads); clones by ISA below.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

// exp(x) for x <= 0 without a libm call (so the loops below vectorise): 2^n by
// the exponent bits times a degree-6 polynomial on [-ln2/2, ln2/2]; within 2
// ulp of expf, 0 below -87 (where expf is denormal or 0).
static inline float exp_neg(float x) {
    x = x < -87.0f ? -87.0f : x;
    const float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;  // round to nearest
    const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;  // ln2 in two parts
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union { float f; int32_t i; } two = {.i = ((int32_t)n + 127) << 23};
    return p * two.f;
}

typedef struct act_job {
    float *g;
    const float *u;
    int gelu;
} act_job;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FD_ACT_SIMD __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FD_ACT_SIMD
#endif

// g = act(g) * u on [i0, i1): both as g * sigmoid(a) = g / (1 + exp(-a)), a = g
// for SiLU, a = 2 sqrt(2/pi) (g + 0.044715 g^3) for GELU-tanh (0.5 (1 + tanh(a/2))
// is sigmoid(a)); exp(-|a|) keeps the argument in exp_neg's range.
FD_ACT_SIMD static void act_range(void *arg, int64_t i0, int64_t i1) {
    const act_job *j = arg;
    float *g = j->g;
    const float *u = j->u;
    const float c = j->gelu ? 2 * 0.7978845608028654f : 1.0f, k = j->gelu ? 0.044715f : 0.0f;
    for (int64_t i = i0; i < i1; i++) {
        const float x = g[i], a = c * (x + k * x * x * x);
        const float e = exp_neg(-fabsf(a));  // exp(-|a|)
        const float num = a >= 0 ? 1.0f : e;  // sigmoid(a), either sign
        g[i] = x * (num / (1.0f + e)) * u[i];
    }
}

// KT_KEYS floats as one GCC vector: the clones below lower it to one AVX-512
// register, two AVX2 ones or four SSE ones.
typedef float kt_vec __attribute__((vector_size(KT_KEYS * sizeof(float))));

// acc[g][k] = q_g . key k for the KT_KEYS keys of a transposed K block (row i
// of kt: dimension i of those keys, rows bs apart) and NG query heads q (hd
// apart). Each sum runs over the dimensions in order whatever the tile, so a
// score does not depend on which keys or tokens share it.
static inline __attribute__((always_inline)) void kt_scores(const int NG, const float *q,
                                                            const float *kt, int bs, int hd,
                                                            kt_vec acc[KT_HEADS]) {
    kt_vec odd[KT_HEADS];  // odd dimensions: two chains, shorter and more accurate
    for (int g = 0; g < NG; g++) acc[g] = odd[g] = (kt_vec){0};
    for (int i = 0; i < hd; i += 2) {
        kt_vec r0, r1;
        memcpy(&r0, kt + (size_t)i * bs, sizeof r0);
        memcpy(&r1, kt + (size_t)(i + 1) * bs, sizeof r1);
        for (int g = 0; g < NG; g++) {
            acc[g] += q[g * hd + i] * r0;
            odd[g] += q[g * hd + i + 1] * r1;
        }
    }
    for (int g = 0; g < NG; g++) acc[g] += odd[g];
}

// o_g[c .. c+KT_KEYS) = sum over the n keys, in order, of w_g[p] * V[p][c ..]
// for NG heads (weights n apart, outputs hd apart): V read once for all heads,
// the sums held in registers across the keys.
static inline __attribute__((always_inline)) void pv_chunk(const int NG, const float *w, int n,
                                                           const float *const *vrow, int c,
                                                           float *o, int hd) {
    kt_vec acc[KT_HEADS];
    for (int g = 0; g < NG; g++) acc[g] = (kt_vec){0};
    for (int p = 0; p < n; p++) {
        kt_vec v;
        memcpy(&v, vrow[p] + c, sizeof v);
        for (int g = 0; g < NG; g++) acc[g] += w[g * n + p] * v;
    }
    for (int g = 0; g < NG; g++) memcpy(o + g * hd + c, &acc[g], sizeof acc[g]);
}

// One token's attention for the G query heads of kv head kvh, which share its
// K and V (each loaded once for all of them): scores KT_KEYS keys at a time
// from the transposed K blocks, the softmax with exp_neg, P V KT_KEYS
// dimensions at a time (clones by ISA). sc holds G x (context) floats, vrow
// the context's V rows. Per token, so batch-invariant.
FD_ACT_SIMD static void att_group(const att_job *j, int t, int kvh, float *sc, const float **vrow) {
    const fd_model_info *h = &j->m->info;
    fd__cpu_scratch *s = j->s;
    const int hd = h->head_dim, G = h->n_head / h->n_head_kv, n_ctx = s->tok_pos[t] + 1;
    const int p0 = j->window && n_ctx > j->window ? n_ctx - j->window : 0, n = n_ctx - p0;
    const int bs = j->kv->block_size;
    const int32_t *blocks = j->b->blocks[s->tok_seq[t]];
    const float *q = s->q + (size_t)t * s->q_dim + (size_t)kvh * G * hd;
    float *o = s->att_out + (size_t)t * s->q_dim + (size_t)kvh * G * hd;
    for (int g0 = 0; g0 < G; g0 += KT_HEADS) {
        const int ng = G - g0 < KT_HEADS ? G - g0 : KT_HEADS;
        for (int c0 = p0 - p0 % KT_KEYS; c0 < n_ctx; c0 += KT_KEYS) {
            const float *kt = k_block(j->kv, blocks, j->layer, c0) + (size_t)kvh * hd * bs + c0 % bs;
            kt_vec acc[KT_HEADS];
            switch (ng) {  // constant head counts: the sums stay in registers
            case 1: kt_scores(1, q + g0 * hd, kt, bs, hd, acc); break;
            case 2: kt_scores(2, q + g0 * hd, kt, bs, hd, acc); break;
            case 3: kt_scores(3, q + g0 * hd, kt, bs, hd, acc); break;
            default: kt_scores(4, q + g0 * hd, kt, bs, hd, acc); break;
            }
            for (int g = 0; g < ng; g++)
                for (int k = 0; k < KT_KEYS; k++)
                    if (c0 + k >= p0 && c0 + k < n_ctx)
                        sc[(g0 + g) * n + c0 + k - p0] = acc[g][k] * h->attn_scale;
        }
    }
    for (int g = 0; g < G; g++) {
        float *r = sc + g * n, mx = -INFINITY, sum = 0;
        for (int p = 0; p < n; p++) mx = r[p] > mx ? r[p] : mx;
        for (int p = 0; p < n; p++) r[p] = exp_neg(r[p] - mx);
        for (int p = 0; p < n; p++) sum += r[p];
        const float inv = 1.0f / sum;
        for (int p = 0; p < n; p++) r[p] *= inv;
    }
    for (int p = 0; p < n; p++)
        vrow[p] = j->kv->v + kv_row(j->kv, blocks, j->layer, p0 + p) + (size_t)kvh * hd;
    for (int g0 = 0; g0 < G; g0 += KT_HEADS)
        for (int c = 0; c < hd; c += KT_KEYS) {
            const float *w = sc + g0 * n;
            float *og = o + g0 * hd;
            switch (G - g0 < KT_HEADS ? G - g0 : KT_HEADS) {
            case 1: pv_chunk(1, w, n, vrow, c, og, hd); break;
            case 2: pv_chunk(2, w, n, vrow, c, og, hd); break;
            case 3: pv_chunk(3, w, n, vrow, c, og, hd); break;
            default: pv_chunk(4, w, n, vrow, c, og, hd); break;
            }
        }
}

// Items [b, e) of (token, kv head), token-major.
static void att_range(void *arg, int64_t b, int64_t e) {
    const att_job *j = arg;
    const fd_model_info *h = &j->m->info;
    int n_kv = h->n_head_kv, max_ctx = 0;
    for (int64_t it = b; it < e; it++)
        if (j->s->tok_pos[it / n_kv] + 1 > max_ctx) max_ctx = j->s->tok_pos[it / n_kv] + 1;
    float *sc = malloc((size_t)(max_ctx ? max_ctx : 1) * (h->n_head / n_kv) * sizeof(float));
    const float **vrow = malloc((size_t)(max_ctx ? max_ctx : 1) * sizeof *vrow);
    if (!sc || !vrow) FD_ASSERT(!"out of memory for attention scores");
    for (int64_t it = b; it < e; it++) att_group(j, (int)(it / n_kv), (int)(it % n_kv), sc, vrow);
    free(sc);
    free(vrow);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

// g = act(g) * u: SiLU (SwiGLU) or GELU with the tanh approximation (Gemma's GeGLU),
// on the pool.
static void gated_act(fd_model *m, float *g, const float *u, size_t n) {
    act_job j = {.g = g, .u = u, .gelu = m->info.ffn_gelu};
    if (n < 16384) act_range(&j, 0, (int64_t)n);  // a decode step: waking the pool costs more
    else fd__parallel_for(m->pool, (int64_t)n, 8192, act_range, &j);
}

static void layer_forward(fd_model *m, fd__cpu_kv *kv, fd__cpu_scratch *s, const fd__cpu_batch *b,
                          int l, int n) {
    const fd_model_info *h = &m->info;
    const fd_layer *L = &m->layers[l];
    int d = h->n_embd;
    for (int t = 0; t < n; t++) rmsnorm(s->xb + (size_t)t * d, s->x + (size_t)t * d, L->attn_norm.data, d, h->norm_eps);
    const fd_weight *qkv[3] = {&L->wq, &L->wk, &L->wv}, *qkv_b[3] = {&L->bq, &L->bk, &L->bv};
    float *qkv_y[3] = {s->q, s->k, s->v};
    matmul_n(m, s, 3, qkv, qkv_b, s->xb, n, qkv_y);
    qk_prepare(m, kv, s, b, l, n);
    att_job aj = {m, kv, s, b, l, fd_model_layer_is_swa(h, l) ? h->sliding_window : 0};
    fd__parallel_for(m->pool, (int64_t)n * h->n_head_kv, 1, att_range, &aj);
    matmul(m, s, &L->wo, s->att_out, n, s->xb);
    add_residual(h, s->x, s->xb, L->post_attn_norm.data, n);
    for (int t = 0; t < n; t++) rmsnorm(s->xb + (size_t)t * d, s->x + (size_t)t * d, L->ffn_norm.data, d, h->norm_eps);
    const fd_weight *gu[2] = {&L->w_gate, &L->w_up};
    float *gu_y[2] = {s->hb, s->hb2};
    matmul_n(m, s, 2, gu, NULL, s->xb, n, gu_y);
    gated_act(m, s->hb, s->hb2, (size_t)n * h->n_ff);
    matmul(m, s, &L->w_down, s->hb, n, s->xb);
    add_residual(h, s->x, s->xb, L->post_ffn_norm.data, n);
}

// Checks the batch and fills the per-token sequence/position tables.
static fd_status plan(const fd_model *m, const fd__cpu_kv *kv, fd__cpu_scratch *s,
                      const fd__cpu_batch *b, int *n_out) {
    int n = 0;
    for (int i = 0; i < b->n_seqs; i++) {
        if (b->n_new[i] < 0 || b->n_past[i] < 0)
            return fd__error(FD_ERR_INVALID_ARG, "forward: sequence %d has negative lengths", i);
        if (n + b->n_new[i] > s->max_tokens)
            return fd__error(FD_ERR_INVALID_ARG, "forward: batch exceeds %d tokens", s->max_tokens);
        for (int j = 0; j < b->n_new[i]; j++, n++) {
            int32_t tok = b->tokens[n];
            int p = b->n_past[i] + j, blk = b->blocks[i][p / kv->block_size];
            if (tok < 0 || tok >= m->info.n_vocab)
                return fd__error(FD_ERR_INVALID_ARG, "forward: token %d outside the vocabulary (%d)", tok, m->info.n_vocab);
            if (blk < 0 || blk >= kv->n_blocks)
                return fd__error(FD_ERR_INVALID_ARG, "forward: sequence %d position %d maps to block %d of %d", i, p, blk, kv->n_blocks);
            s->tok_seq[n] = i;
            s->tok_pos[n] = p;
        }
    }
    *n_out = n;
    return FD_OK;
}

fd_status fd__cpu_forward(fd_model *m, fd__cpu_kv *kv, fd__cpu_scratch *s, const fd__cpu_batch *b,
                          float *logits) {
    const fd_model_info *h = &m->info;
    int n = 0, d = h->n_embd;
    FD_TRY(plan(m, kv, s, b, &n));
    size_t rb = fd__row_bytes(m->tok_embd.type, d);
    for (int t = 0; t < n; t++)
        fd__dequant_row(m->tok_embd.type, (const uint8_t *)m->tok_embd.data + (size_t)b->tokens[t] * rb,
                        s->x + (size_t)t * d, d);
    for (size_t i = 0; h->embd_scale != 1.0f && i < (size_t)n * d; i++) s->x[i] *= h->embd_scale;
    for (int t = 0; t < n; t++) {
        size_t at = (size_t)t * h->head_dim;
        rope_table(s->rope + at, h->head_dim, s->tok_pos[t], s->inv_freq[0]);
        if (h->sliding_window) rope_table(s->rope_swa + at, h->head_dim, s->tok_pos[t], s->inv_freq[1]);
    }
    for (int l = 0; l < h->n_layer; l++) layer_forward(m, kv, s, b, l, n);
    int n_out = 0;
    for (int i = 0, end = 0; i < b->n_seqs; i++) {
        end += b->n_new[i];
        if (!b->want_logits[i] || b->n_new[i] == 0) continue;
        rmsnorm(s->xb + (size_t)n_out * d, s->x + (size_t)(end - 1) * d, m->out_norm.data, d, h->norm_eps);
        n_out++;
    }
    if (n_out) matmul(m, s, &m->output, s->xb, n_out, logits);
    return FD_OK;
}

fd_status fd__cpu_scratch_create(const fd_model *m, int max_tokens, fd__cpu_scratch **out) {
    const fd_model_info *h = &m->info;
    fd__cpu_scratch *s = calloc(1, sizeof *s);
    if (!s) return fd__error(FD_ERR_OOM, "forward: out of memory");
    size_t T = (size_t)max_tokens;
    s->max_tokens = max_tokens;
    s->q_dim = h->n_head * h->head_dim;
    s->kv_dim = h->n_head_kv * h->head_dim;
    int wide = h->n_embd > s->q_dim ? h->n_embd : s->q_dim;
    s->x = calloc(T * h->n_embd, 4);
    s->xb = calloc(T * wide, 4);
    s->q = calloc(T * s->q_dim, 4);
    s->k = calloc(T * s->kv_dim, 4);
    s->v = calloc(T * s->kv_dim, 4);
    s->att_out = calloc(T * s->q_dim, 4);
    s->hb = calloc(T * h->n_ff, 4);
    s->hb2 = calloc(T * h->n_ff, 4);
    s->tok_seq = calloc(T, sizeof(int));
    s->tok_pos = calloc(T, sizeof(int));
    s->rope = calloc(T * h->head_dim, 4);
    s->rope_swa = calloc(T * h->head_dim, 4);
    s->inv_freq[0] = calloc((size_t)h->head_dim / 2, sizeof(double));
    s->inv_freq[1] = calloc((size_t)h->head_dim / 2, sizeof(double));
    int64_t widest = wide > h->n_ff ? wide : h->n_ff;  // longest matmul input
    s->xq_blocks = (int64_t)T * (widest / 32);
    s->xq = calloc((size_t)s->xq_blocks + 1, sizeof(fd__q16_block));  // the larger block
    if (!s->rope || !s->rope_swa || !s->inv_freq[0] || !s->inv_freq[1] || !s->xq ||
        !s->x || !s->xb || !s->q || !s->k || !s->v || !s->att_out || !s->hb || !s->hb2 || !s->tok_seq || !s->tok_pos) {
        fd__cpu_scratch_free(s);
        return fd__error(FD_ERR_OOM, "forward: out of memory for %d-token batches", max_tokens);
    }
    fd_model_rope_freqs(m, 0, s->inv_freq[0]);
    fd_model_rope_freqs(m, 1, s->inv_freq[1]);
    *out = s;
    return FD_OK;
}

void fd__cpu_scratch_free(fd__cpu_scratch *s) {
    if (!s) return;
    free(s->x); free(s->xb); free(s->q); free(s->k); free(s->v); free(s->att_out);
    free(s->hb); free(s->hb2); free(s->tok_seq); free(s->tok_pos); free(s->rope); free(s->xq);
    free(s->rope_swa); free(s->inv_freq[0]); free(s->inv_freq[1]);
    free(s);
}

int fd__cpu_scratch_max_tokens(const fd__cpu_scratch *s) { return s->max_tokens; }
