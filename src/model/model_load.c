// SPDX-License-Identifier: Apache-2.0
// Loading a model: a GGUF file (hyperparameters from metadata) or a Hugging Face
// directory (config.json + safetensors, through hf_model.c, which names tensors as
// GGUF does). Weight tensors are found by GGUF name, each checked for the shape the
// architecture needs. Matmul weights stay in the mapping (zero copy); only the small
// 1-D tensors (norms, biases) that are not F32 get an f32 copy, since the forward
// pass reads them as f32.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "model/hf_model.h"
#include "model/model_internal.h"
#include "model/tokenizer_gguf.h"

// The tensor source: the GGUF file or the HF directory, whichever the model came from.
static const fd_gguf_tensor *find_tensor(const fd_model *m, const char *name) {
    return m->hf ? fd__hf_find(m->hf, name) : fd_gguf_find_tensor(m->gguf, name);
}

static int meta_int(const fd_gguf *g, const char *arch, const char *key, int64_t *v) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    return fd_gguf_get_int(g, full, v);
}

static fd_status need_int(const fd_gguf *g, const char *path, const char *arch, const char *key,
                          int *out) {
    int64_t v;
    if (!meta_int(g, arch, key, &v) || v <= 0 || v > (1 << 24))
        return fd__error(FD_ERR_FORMAT, "%s: metadata %s.%s is missing or out of range", path, arch, key);
    *out = (int)v;
    return FD_OK;
}

// Rope scaling keys of llama.cpp's converter; Llama 3.1's blend arrives as the
// rope_freqs tensor instead (load_weights).
static fd_status read_rope_scaling(fd_model *m, const char *path) {
    fd_model_info *h = &m->info;
    char key[128];
    const char *s;
    size_t len;
    snprintf(key, sizeof key, "%s.rope.scaling.type", h->arch);
    if (!fd_gguf_get_str(m->gguf, key, &s, &len) || (len == 4 && memcmp(s, "none", 4) == 0)) return FD_OK;
    double f = 0;
    snprintf(key, sizeof key, "%s.rope.scaling.factor", h->arch);
    if (len != 6 || memcmp(s, "linear", 6) != 0 || !fd_gguf_get_float(m->gguf, key, &f) || !(f > 0))
        return fd__error(FD_ERR_FORMAT, "%s: rope scaling '%.*s' is not supported (linear with a factor > 0, and "
                         "Llama 3's rope_freqs, are)", path, (int)len, s);
    snprintf(h->rope_scaling, sizeof h->rope_scaling, "linear");
    h->rope_factor = (float)f;
    return FD_OK;
}

// Gemma 3 (llama.cpp's conventions): five sliding-window layers with rotary base 10000
// for each global one, embeddings scaled by sqrt(n_embd), GELU FFN, post-norms. The
// converter already folded Gemma's (1 + w) into the norm weights.
static void gemma3_hparams(fd_model *m) {
    fd_model_info *h = &m->info;
    int64_t v;
    h->sliding_window = meta_int(m->gguf, h->arch, "attention.sliding_window", &v) && v > 0 ? (int)v : 512;
    h->swa_pattern = 6;
    h->rope_base_swa = 10000.0;
    h->embd_scale = sqrtf((float)h->n_embd);
    h->ffn_gelu = 1;
    h->post_norms = 1;
}

static fd_status read_hparams(fd_model *m, const char *path) {
    fd_model_info *h = &m->info;
    const char *s;
    size_t len;
    if (!fd_gguf_get_str(m->gguf, "general.architecture", &s, &len) || len >= sizeof h->arch)
        return fd__error(FD_ERR_FORMAT, "%s: no general.architecture in the metadata", path);
    memcpy(h->arch, s, len);
    if (strcmp(h->arch, "llama") && strcmp(h->arch, "qwen2") && strcmp(h->arch, "qwen3") &&
        strcmp(h->arch, "gemma3"))
        return fd__error(FD_ERR_FORMAT, "%s: architecture '%s' is not supported (llama, qwen2, qwen3, gemma3 are)",
                         path, h->arch);
    if (fd_gguf_get_str(m->gguf, "general.name", &s, &len))
        snprintf(h->name, sizeof h->name, "%.*s", (int)len, s);
    FD_TRY(need_int(m->gguf, path, h->arch, "block_count", &h->n_layer));
    FD_TRY(need_int(m->gguf, path, h->arch, "embedding_length", &h->n_embd));
    FD_TRY(need_int(m->gguf, path, h->arch, "feed_forward_length", &h->n_ff));
    FD_TRY(need_int(m->gguf, path, h->arch, "attention.head_count", &h->n_head));
    h->n_head_kv = h->n_head;
    int64_t v;
    if (meta_int(m->gguf, h->arch, "attention.head_count_kv", &v)) h->n_head_kv = (int)v;
    h->head_dim = h->n_embd / h->n_head;
    if (meta_int(m->gguf, h->arch, "attention.key_length", &v)) h->head_dim = (int)v;
    h->n_ctx_train = 4096;
    if (meta_int(m->gguf, h->arch, "context_length", &v)) h->n_ctx_train = (int)v;
    char key[128];
    double f = 10000.0;
    snprintf(key, sizeof key, "%s.rope.freq_base", h->arch);
    fd_gguf_get_float(m->gguf, key, &f);
    h->rope_base = f;
    f = 1e-6;
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", h->arch);
    fd_gguf_get_float(m->gguf, key, &f);
    h->norm_eps = (float)f;
    // llama.cpp's converter permutes Llama's q/k rows to interleaved pairs; Qwen and Gemma keep NeoX.
    h->rope_neox = strcmp(h->arch, "llama") != 0;
    FD_TRY(read_rope_scaling(m, path));
    if (strcmp(h->arch, "gemma3") == 0) gemma3_hparams(m);
    if (h->n_head_kv <= 0 || h->n_head % h->n_head_kv || h->head_dim <= 0 || h->head_dim % 2)
        return fd__error(FD_ERR_FORMAT, "%s: bad head counts (%d q heads, %d kv heads, head dim %d)",
                         path, h->n_head, h->n_head_kv, h->head_dim);
    return FD_OK;
}

// Finds a tensor and checks its shape (ggml order: ne0 = row length).
static fd_status get_w(fd_model *m, const char *path, const char *name, int64_t ne0, int64_t ne1,
                       int optional, fd_weight *w) {
    const fd_gguf_tensor *t = find_tensor(m, name);
    memset(w, 0, sizeof *w);
    if (!t) {
        if (optional) return FD_OK;
        return fd__error(FD_ERR_FORMAT, "%s: tensor %s is missing", path, name);
    }
    int64_t want1 = ne1 ? ne1 : 1;
    if (t->ne[0] != ne0 || t->ne[1] != want1 || t->ne[2] != 1)
        return fd__error(FD_ERR_FORMAT, "%s: tensor %s has shape [%lld, %lld, %lld], expected [%lld, %lld]",
                         path, name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                         (long long)ne0, (long long)want1);
    w->type = t->type;
    w->data = t->data;
    w->ne0 = t->ne[0];
    w->ne1 = t->ne[1];
    m->info.n_params += t->ne[0] * t->ne[1];
    m->info.weight_bytes += t->bytes;
    return FD_OK;
}

// Room for f32 copies of every norm and bias (the most load_layer can ask for).
static fd_status alloc_f32_copies(fd_model *m, const char *path) {
    const fd_model_info *h = &m->info;
    size_t q = (size_t)h->n_head * h->head_dim, kv = (size_t)h->n_head_kv * h->head_dim;
    m->f32_cap = (size_t)h->n_layer * (4 * (size_t)h->n_embd + q + 2 * kv + 2 * (size_t)h->head_dim) +
                 h->n_embd + (size_t)h->head_dim;
    if (!(m->f32_copies = malloc(m->f32_cap * sizeof(float))))
        return fd__error(FD_ERR_OOM, "%s: out of memory for norm weights", path);
    return FD_OK;
}

// The forward pass reads norms and biases as f32: other types (safetensors' BF16/F16,
// a GGUF with F16 norms) are converted once into the model's f32_copies.
// Hugging Face Gemma norms compute x * (1 + w): those get the 1 added here (GGUF's
// converter already added it).
static fd_status to_f32(fd_model *m, fd_weight *w, int is_norm) {
    int plus1 = is_norm && m->hf && fd__hf_norm_plus_one(m->hf);
    if (!w->data || (w->type == FD_GGML_F32 && !plus1)) return FD_OK;
    size_t n = (size_t)(w->ne0 * w->ne1);
    FD_ASSERT(m->f32_used + n <= m->f32_cap);
    float *dst = m->f32_copies + m->f32_used;
    fd__dequant_row(w->type, w->data, dst, (int64_t)n);
    for (size_t i = 0; plus1 && i < n; i++) dst[i] += 1.0f;
    m->f32_used += n;
    w->type = FD_GGML_F32;
    w->data = dst;
    return FD_OK;
}

static fd_status load_layer(fd_model *m, const char *path, int i) {
    const fd_model_info *h = &m->info;
    fd_layer *L = &m->layers[i];
    int64_t q = (int64_t)h->n_head * h->head_dim, kv = (int64_t)h->n_head_kv * h->head_dim;
    char n[96];
#define W(suffix, a, b, opt, dst)                                                 \
    snprintf(n, sizeof n, "blk.%d.%s", i, suffix);                                \
    FD_TRY(get_w(m, path, n, a, b, opt, dst));
    W("attn_norm.weight", h->n_embd, 0, 0, &L->attn_norm);
    W("attn_q.weight", h->n_embd, q, 0, &L->wq);
    W("attn_k.weight", h->n_embd, kv, 0, &L->wk);
    W("attn_v.weight", h->n_embd, kv, 0, &L->wv);
    W("attn_output.weight", q, h->n_embd, 0, &L->wo);
    W("attn_q.bias", q, 0, 1, &L->bq);
    W("attn_k.bias", kv, 0, 1, &L->bk);
    W("attn_v.bias", kv, 0, 1, &L->bv);
    W("attn_q_norm.weight", h->head_dim, 0, 1, &L->q_norm);
    W("attn_k_norm.weight", h->head_dim, 0, 1, &L->k_norm);
    W("ffn_norm.weight", h->n_embd, 0, 0, &L->ffn_norm);
    W("ffn_gate.weight", h->n_embd, h->n_ff, 0, &L->w_gate);
    W("ffn_up.weight", h->n_embd, h->n_ff, 0, &L->w_up);
    W("ffn_down.weight", h->n_ff, h->n_embd, 0, &L->w_down);
    W("post_attention_norm.weight", h->n_embd, 0, !h->post_norms, &L->post_attn_norm);
    W("post_ffw_norm.weight", h->n_embd, 0, !h->post_norms, &L->post_ffn_norm);
#undef W
    fd_weight *norms[] = {&L->attn_norm, &L->ffn_norm, &L->q_norm, &L->k_norm, &L->post_attn_norm,
                          &L->post_ffn_norm};
    fd_weight *biases[] = {&L->bq, &L->bk, &L->bv};
    for (size_t k = 0; k < sizeof norms / sizeof norms[0]; k++) FD_TRY(to_f32(m, norms[k], 1));
    for (size_t k = 0; k < sizeof biases / sizeof biases[0]; k++) FD_TRY(to_f32(m, biases[k], 0));
    return FD_OK;
}

static void pick_quant_name(fd_model *m) {
    if (m->hf) return;  // fd__hf_info named it
    size_t best = 0;
    fd_ggml_type bt = FD_GGML_F32;
    size_t by_type[32] = {0};
    for (int64_t i = 0; i < fd_gguf_n_tensors(m->gguf); i++) {
        const fd_gguf_tensor *t = fd_gguf_tensor_at(m->gguf, i);
        if ((unsigned)t->type < 32 && (by_type[t->type] += t->bytes) > best) {
            best = by_type[t->type];
            bt = t->type;
        }
    }
    snprintf(m->info.quant, sizeof m->info.quant, "%s", fd_ggml_type_name(bt));
}

static void progress(int on, int done, int total) {
    if (!on) return;
    int w = 30, fill = total ? done * w / total : w;
    fprintf(stderr, "\rloading [%.*s%*s] %d/%d layers", fill, "==============================", w - fill, "",
            done, total);
    if (done == total) fputc('\n', stderr);
}

static fd_status load_weights(fd_model *m, const char *path, int show) {
    const fd_model_info *h = &m->info;
    const fd_gguf_tensor *te = find_tensor(m, "token_embd.weight");
    if (!te || te->ne[1] <= 0 || te->ne[1] > (1 << 24))
        return fd__error(FD_ERR_FORMAT, "%s: tensor token_embd.weight is missing or malformed", path);
    m->info.n_vocab = (int)te->ne[1];
    FD_TRY(get_w(m, path, "token_embd.weight", h->n_embd, m->info.n_vocab, 0, &m->tok_embd));
    FD_TRY(alloc_f32_copies(m, path));
    FD_TRY(get_w(m, path, "output_norm.weight", h->n_embd, 0, 0, &m->out_norm));
    FD_TRY(to_f32(m, &m->out_norm, 1));
    FD_TRY(get_w(m, path, "rope_freqs.weight", h->head_dim / 2, 0, 1, &m->rope_freqs));
    FD_TRY(to_f32(m, &m->rope_freqs, 0));
    if (m->rope_freqs.data && !m->info.rope_scaling[0]) snprintf(m->info.rope_scaling, 16, "freqs");
    FD_TRY(get_w(m, path, "output.weight", h->n_embd, m->info.n_vocab, 1, &m->output));
    if (!m->output.data) m->output = m->tok_embd;  // tied embeddings
    m->layers = calloc((size_t)h->n_layer, sizeof *m->layers);
    if (!m->layers) return fd__error(FD_ERR_OOM, "%s: out of memory", path);
    for (int i = 0; i < h->n_layer; i++) {
        FD_TRY(load_layer(m, path, i));
        progress(show, i + 1, h->n_layer);
    }
    // a decode step reads every weight once, but of an untied embedding table one row
    m->info.decode_bytes = m->info.weight_bytes;
    if (m->output.data != m->tok_embd.data)
        m->info.decode_bytes -=
            fd__row_bytes(m->tok_embd.type, h->n_embd) * (size_t)(m->info.n_vocab - 1);
    return FD_OK;
}

static fd_status copy_chat_template(fd_model *m, const char *s, size_t len) {
    if (!(m->chat_template = malloc(len + 1))) return fd__error(FD_ERR_OOM, "out of memory");
    memcpy(m->chat_template, s, len);
    m->chat_template[len] = '\0';
    return FD_OK;
}

static fd_status open_gguf(fd_model *m, const char *path) {
    const char *s;
    size_t len = 0;
    FD_TRY(fd_gguf_open(path, &m->gguf));
    FD_TRY(read_hparams(m, path));
    FD_TRY(fd__tokenizer_from_gguf(m->gguf, &m->tok));
    if (!fd_gguf_get_str(m->gguf, "tokenizer.chat_template", &s, &len)) s = "";
    // Gemma base checkpoints ship no template but know Gemma's turn tokens (as llama.cpp assumes).
    if (!*s && fd_tokenizer_find(m->tok, "<start_of_turn>", 15) >= 0) {
        s = "{{ '<start_of_turn>' + role + '\n' + content + '<end_of_turn>\n' }}";
        len = strlen(s);
    }
    return copy_chat_template(m, s, len);
}

static fd_status open_hf(fd_model *m, const char *dir) {
    FD_TRY(fd__hf_open(dir, &m->hf));
    m->info = *fd__hf_info(m->hf);
    m->tok = fd__hf_take_tokenizer(m->hf);
    const char *t = fd__hf_chat_template(m->hf);
    return copy_chat_template(m, t, strlen(t));
}

// A Hugging Face model is a directory, or its config.json; anything else is GGUF.
static int hf_dir_of(const char *path, char *dir, size_t n) {
    struct stat st;
    size_t len = strlen(path), cl = strlen("config.json");
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(dir, n, "%s", path);
        return len < n;
    }
    if (len < cl || strcmp(path + len - cl, "config.json") != 0 || (len > cl && path[len - cl - 1] != '/'))
        return 0;
    if (len == cl) snprintf(dir, n, ".");
    else snprintf(dir, n, "%.*s", (int)(len - cl - 1), path);
    return len < n;
}

fd_status fd_model_load(const char *path, const fd_model_params *params, fd_model **out) {
    if (!path || !out) return fd__error(FD_ERR_INVALID_ARG, "fd_model_load: path and out are required");
    fd_model_params def = {0, 0};
    if (!params) params = &def;
    fd_model *m = calloc(1, sizeof *m);
    if (!m) return fd__error(FD_ERR_OOM, "fd_model_load: out of memory");
    char dir[4096];
    fd_status s = hf_dir_of(path, dir, sizeof dir) ? open_hf(m, dir) : open_gguf(m, path);
    if (s == FD_OK) s = load_weights(m, path, params->progress && isatty(2));
    if (s == FD_OK) s = fd__threadpool_create(params->n_threads, &m->pool);
    if (s != FD_OK) {
        fd_model_free(m);
        return s;
    }
    pick_quant_name(m);
    if (!(m->info.embd_scale > 0)) m->info.embd_scale = 1.0f;
    if (!(m->info.attn_scale > 0)) m->info.attn_scale = 1.0f / sqrtf((float)m->info.head_dim);
    m->avx2 = getenv("FDEPLOY_NO_SIMD") ? 0 : fd__quant_has_avx2();
    *out = m;
    return FD_OK;
}

void fd_model_free(fd_model *m) {
    if (!m) return;
    fd_tokenizer_free(m->tok);
    free(m->chat_template);
    fd__threadpool_free(m->pool);
    free(m->layers);
    free(m->f32_copies);
    fd_gguf_close(m->gguf);
    fd__hf_close(m->hf);
    free(m);
}

const fd_model_info *fd_model_get_info(const fd_model *m) { return &m->info; }
const struct fd_gguf *fd_model_gguf(const fd_model *m) { return m->gguf; }
const struct fd_tokenizer *fd_model_tokenizer(const fd_model *m) { return m->tok; }
const char *fd_model_chat_template(const fd_model *m) { return m->chat_template; }

void fd_model_summary(const fd_model *m, int n_ctx, char *buf, size_t n) {
    const fd_model_info *h = &m->info;
    double kv = 2.0 * h->n_layer * n_ctx * h->n_head_kv * h->head_dim * 4 / 1048576.0;
    snprintf(buf, n, "%s (%s), %.0fM params, %s, %.1f MiB weights, KV cache %.1f MiB for %d tokens, "
             "CPU %d threads (%s)",
             h->name[0] ? h->name : "model", h->arch, h->n_params / 1e6, h->quant,
             h->weight_bytes / 1048576.0, kv, n_ctx, fd__threadpool_size(m->pool), m->avx2 ? "AVX2" : "scalar");
}
