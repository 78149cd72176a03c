// SPDX-License-Identifier: Apache-2.0
// Hugging Face model directories: config.json -> fd_model_info, safetensors shards ->
// tensors renamed to GGUF's names (ggml order comes from safetensors.c), tokenizer.json
// + tokenizer_config.json -> tokenizer and chat template.
//
// Name map (N = layer):
//   model.embed_tokens.weight -> token_embd.weight    model.norm.weight -> output_norm.weight
//   lm_head.weight -> output.weight
//   model.layers.N.input_layernorm.weight -> blk.N.attn_norm.weight
//   model.layers.N.self_attn.{q,k,v,o}_proj.weight -> blk.N.attn_{q,k,v,output}.weight
//   model.layers.N.self_attn.{q,k,v}_proj.bias -> blk.N.attn_{q,k,v}.bias          (Qwen2)
//   model.layers.N.self_attn.{q,k}_norm.weight -> blk.N.attn_{q,k}_norm.weight     (Qwen3)
//   model.layers.N.post_attention_layernorm.weight -> blk.N.ffn_norm.weight
//     (Gemma 3: -> post_attention_norm; pre/post_feedforward_layernorm -> ffn_norm, post_ffw_norm)
//   model.layers.N.mlp.{gate,up,down}_proj.weight -> blk.N.ffn_{gate,up,down}.weight
// Other tensors (e.g. old rotary_emb.inv_freq buffers) are ignored; biases the forward
// pass has no place for (o_proj, mlp) are an error rather than silently dropped.
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/internal.h"
#include "model/hf_model.h"
#include "model/safetensors.h"
#include "model/tokenizer_internal.h"

#define HF_PATH_MAX 4096
#define HF_MAX_TEMPLATE (1u << 20)

struct fd__hf_model {
    char dir[HF_PATH_MAX];
    fd_model_info info;
    int tie_embeddings;
    fd__st_file **files;
    char **file_names;         // as the index names them (owned)
    int n_files;
    fd_gguf_tensor *tensors;   // GGUF names (owned), data in the files' mappings
    int64_t n_tensors;
    fd_tokenizer *tok;
    char *chat_template;
};

// ---- small helpers

static fd_status join(char *buf, const char *dir, const char *name) {
    int n = snprintf(buf, HF_PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n >= HF_PATH_MAX) return fd__error(FD_ERR_INVALID_ARG, "%s: path too long", dir);
    return FD_OK;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

// Parses a JSON file; a missing file is FD_ERR_NOT_FOUND when `optional` (no error text).
static fd_status load_json(const char *path, int optional, json_t **out) {
    json_error_t err;
    *out = NULL;
    if (optional && !file_exists(path)) return FD_ERR_NOT_FOUND;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!j && err.line < 0) return fd__error(FD_ERR_IO, "%s: cannot read: %s", path, err.text);
    if (!j) return fd__error(FD_ERR_FORMAT, "%s: line %d: %s", path, err.line, err.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return fd__error(FD_ERR_FORMAT, "%s: not a JSON object", path);
    }
    *out = j;
    return FD_OK;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

// ---- config.json

static fd_status read_config(fd__hf_model *m) {
    char path[HF_PATH_MAX];
    json_t *cfg;
    FD_TRY(join(path, m->dir, "config.json"));
    FD_TRY(load_json(path, 0, &cfg));
    fd_status s = fd__hf_parse_config(cfg, path, &m->info, &m->tie_embeddings);
    json_decref(cfg);
    return s;
}

// ---- tensor names

// GGUF name of HF tensor `hf` into out: 1 mapped, 0 not a tensor fdeploy uses,
// or an error for a layer index out of range or a tensor the forward pass cannot use.
static fd_status map_name(const fd__hf_model *m, const char *hf, char *out, size_t n, int *mapped) {
    static const char *const top[][2] = {
        {"model.embed_tokens.weight", "token_embd.weight"}, {"model.norm.weight", "output_norm.weight"},
        {"lm_head.weight", "output.weight"}};
    // Gemma's post_attention_layernorm normalizes the attention output; Llama's feeds the FFN.
    static const char *const gemma[][2] = {
        {"post_attention_layernorm.weight", "post_attention_norm.weight"},
        {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
        {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"}};
    static const char *const layer[][2] = {
        {"input_layernorm.weight", "attn_norm.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"}, {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"}, {"self_attn.o_proj.weight", "attn_output.weight"},
        {"self_attn.q_proj.bias", "attn_q.bias"}, {"self_attn.k_proj.bias", "attn_k.bias"},
        {"self_attn.v_proj.bias", "attn_v.bias"}, {"self_attn.q_norm.weight", "attn_q_norm.weight"},
        {"self_attn.k_norm.weight", "attn_k_norm.weight"}, {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"}, {"mlp.down_proj.weight", "ffn_down.weight"},
        {"self_attn.o_proj.bias", NULL}, {"mlp.gate_proj.bias", NULL}, {"mlp.up_proj.bias", NULL},
        {"mlp.down_proj.bias", NULL}};
    *mapped = 0;
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (strcmp(hf, top[i][0]) == 0) {
            snprintf(out, n, "%s", top[i][1]);
            *mapped = 1;
            return FD_OK;
        }
    const char *pre = "model.layers.";
    if (strncmp(hf, pre, strlen(pre)) != 0) return FD_OK;
    char *end;
    long li = strtol(hf + strlen(pre), &end, 10);
    if (end == hf + strlen(pre) || *end != '.') return FD_OK;
    const char *gguf = NULL;
    for (size_t i = 0; m->info.post_norms && !gguf && i < sizeof gemma / sizeof gemma[0]; i++)
        if (strcmp(end + 1, gemma[i][0]) == 0) gguf = gemma[i][1];
    for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++) {
        if (!gguf && strcmp(end + 1, layer[i][0]) != 0) continue;
        if (!gguf) gguf = layer[i][1] ? layer[i][1] : "";
        if (li < 0 || li >= m->info.n_layer)
            return fd__error(FD_ERR_FORMAT, "%s: tensor %s is for layer %ld but config.json has %d layers", m->dir,
                             hf, li, m->info.n_layer);
        if (!gguf[0])
            return fd__error(FD_ERR_FORMAT, "%s: tensor %s (a bias the forward pass has no place for) is not "
                             "supported", m->dir, hf);
        snprintf(out, n, "blk.%ld.%s", li, gguf);
        *mapped = 1;
        return FD_OK;
    }
    return FD_OK;
}

// Adds every tensor fdeploy uses from shard `f` under its GGUF name.
static fd_status add_tensors(fd__hf_model *m, const fd__st_file *f) {
    for (int64_t i = 0; i < fd__st_n_tensors(f); i++) {
        const fd_gguf_tensor *t = fd__st_tensor_at(f, i);
        char name[96];
        int mapped;
        FD_TRY(map_name(m, t->name, name, sizeof name, &mapped));
        if (!mapped) {
            fd__log(FD_LOG_DEBUG, "%s: ignoring tensor %s", fd__st_name(f), t->name);
            continue;
        }
        if (fd__hf_find(m, name))
            return fd__error(FD_ERR_FORMAT, "%s: tensor %s appears twice (again in %s)", m->dir, t->name,
                             fd__st_name(f));
        fd_gguf_tensor *d = &m->tensors[m->n_tensors];
        *d = *t;
        if (!(d->name = dup_str(name))) return fd__error(FD_ERR_OOM, "%s: out of memory", m->dir);
        m->n_tensors++;
    }
    return FD_OK;
}

// ---- shards

static fd_status open_shard(fd__hf_model *m, const char *file) {
    char path[HF_PATH_MAX];
    if (!file[0] || file[0] == '.' || strchr(file, '/'))
        return fd__error(FD_ERR_FORMAT, "%s: shard name \"%.64s\" in the index is not a plain file name", m->dir, file);
    FD_TRY(join(path, m->dir, file));
    if (!(m->file_names[m->n_files] = dup_str(file))) return fd__error(FD_ERR_OOM, "out of memory");
    return fd__st_open(path, &m->files[m->n_files++]);
}

// Shards named by model.safetensors.index.json's weight_map; every entry must be in its shard.
static fd_status open_index(fd__hf_model *m, json_t *index, const char *ipath) {
    json_t *wm = json_object_get(index, "weight_map"), *v;
    const char *k;
    if (!json_is_object(wm) || json_object_size(wm) == 0)
        return fd__error(FD_ERR_FORMAT, "%s: no \"weight_map\" object", ipath);
    m->files = calloc(json_object_size(wm), sizeof *m->files);
    m->file_names = calloc(json_object_size(wm), sizeof *m->file_names);
    if (!m->files || !m->file_names) return fd__error(FD_ERR_OOM, "out of memory");
    json_object_foreach(wm, k, v) {
        const char *file = json_string_value(v);
        if (!file) return fd__error(FD_ERR_FORMAT, "%s: weight_map[\"%s\"] is not a file name", ipath, k);
        int seen = -1;
        for (int i = 0; i < m->n_files && seen < 0; i++)
            if (strcmp(m->file_names[i], file) == 0) seen = i;
        if (seen < 0) {
            FD_TRY(open_shard(m, file));
            seen = m->n_files - 1;
        }
        if (!fd__st_find(m->files[seen], k))
            return fd__error(FD_ERR_FORMAT, "%s: the index puts tensor %s in %s, which does not have it; the "
                             "download is incomplete or mixed", m->dir, k, file);
    }
    return FD_OK;
}

static fd_status open_weights(fd__hf_model *m) {
    char path[HF_PATH_MAX];
    json_t *index;
    FD_TRY(join(path, m->dir, "model.safetensors.index.json"));
    fd_status s = load_json(path, 1, &index);
    if (s == FD_OK) {
        s = open_index(m, index, path);
        json_decref(index);
    } else if (s == FD_ERR_NOT_FOUND) {
        FD_TRY(join(path, m->dir, "model.safetensors"));
        if (!file_exists(path))
            return fd__error(FD_ERR_NOT_FOUND, "%s: no model.safetensors or model.safetensors.index.json; download "
                             "the safetensors weights (PyTorch .bin checkpoints are not read)", m->dir);
        m->files = calloc(1, sizeof *m->files);
        m->file_names = calloc(1, sizeof *m->file_names);
        if (!m->files || !m->file_names) return fd__error(FD_ERR_OOM, "out of memory");
        s = open_shard(m, "model.safetensors");
    }
    FD_TRY(s);
    int64_t total = 0;
    for (int i = 0; i < m->n_files; i++) total += fd__st_n_tensors(m->files[i]);
    if (!(m->tensors = calloc((size_t)total + 1, sizeof *m->tensors)))
        return fd__error(FD_ERR_OOM, "%s: out of memory", m->dir);
    for (int i = 0; i < m->n_files; i++) FD_TRY(add_tensors(m, m->files[i]));
    const fd_gguf_tensor *te = fd__hf_find(m, "token_embd.weight");
    if (!te) return fd__error(FD_ERR_FORMAT, "%s: no model.embed_tokens.weight in the weights", m->dir);
    if (te->ne[1] != m->info.n_vocab)
        return fd__error(FD_ERR_FORMAT, "%s: model.embed_tokens.weight has %lld rows but config.json says "
                         "vocab_size %d", m->dir, (long long)te->ne[1], m->info.n_vocab);
    if (!m->tie_embeddings && !fd__hf_find(m, "output.weight"))
        return fd__error(FD_ERR_FORMAT, "%s: no lm_head.weight though config.json says tie_word_embeddings is "
                         "false; the download is incomplete", m->dir);
    return FD_OK;
}

// The dominant weight dtype, by bytes.
static void pick_quant(fd__hf_model *m) {
    size_t by[3] = {0, 0, 0};
    fd_ggml_type types[3] = {FD_GGML_F32, FD_GGML_F16, FD_GGML_BF16};
    for (int64_t i = 0; i < m->n_tensors; i++)
        for (int k = 0; k < 3; k++)
            if (m->tensors[i].type == types[k]) by[k] += m->tensors[i].bytes;
    int best = by[1] > by[0] ? 1 : 0;
    if (by[2] > by[best]) best = 2;
    snprintf(m->info.quant, sizeof m->info.quant, "%s", fd_ggml_type_name(types[best]));
}

// ---- tokenizer and chat template

// A special token named in tokenizer_config.json: "text" or {"content": "text"}; -1 if none.
static int32_t config_token(const fd_tokenizer *tok, json_t *tc, const char *key) {
    json_t *v = json_object_get(tc, key);
    const char *s = json_is_object(v) ? json_string_value(json_object_get(v, "content")) : json_string_value(v);
    return s ? fd_tokenizer_find(tok, s, strlen(s)) : -1;
}

// tokenizer.json alone guesses bos/eos from common names; the config says which they are
// (e.g. eos <|im_end|> for chat models). Done before the tokenizer is shared.
static void apply_config_specials(fd_tokenizer *tok, json_t *tc) {
    int32_t bos = config_token(tok, tc, "bos_token"), eos = config_token(tok, tc, "eos_token");
    if (bos >= 0) tok->bos = bos;
    if (eos >= 0) {
        tok->eos = eos;
        tok->eog[eos] = 1;
    }
    json_t *add = json_object_get(tc, "add_bos_token");
    if (json_is_boolean(add)) tok->add_bos = json_is_true(add) && tok->bos >= 0;
}

static fd_status read_text(const char *path, char **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return fd__error(FD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = malloc(HF_MAX_TEMPLATE + 1);
    size_t n = buf ? fread(buf, 1, HF_MAX_TEMPLATE + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf) return fd__error(FD_ERR_OOM, "out of memory");
    if (bad || n > HF_MAX_TEMPLATE) {
        free(buf);
        return fd__error(FD_ERR_FORMAT, "%s: unreadable or larger than %u bytes", path, HF_MAX_TEMPLATE);
    }
    buf[n] = '\0';
    *out = buf;
    return FD_OK;
}

// "chat_template": a string, or a list of {"name", "template"} (the "default" one).
static fd_status read_template(fd__hf_model *m, json_t *tc) {
    json_t *ct = json_object_get(tc, "chat_template"), *e;
    size_t i;
    const char *s = json_string_value(ct);
    json_array_foreach(ct, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        if (!s && name && strcmp(name, "default") == 0) s = json_string_value(json_object_get(e, "template"));
    }
    if (s) {
        if (!(m->chat_template = dup_str(s))) return fd__error(FD_ERR_OOM, "out of memory");
        return FD_OK;
    }
    char path[HF_PATH_MAX];
    FD_TRY(join(path, m->dir, "chat_template.jinja"));
    if (file_exists(path)) return read_text(path, &m->chat_template);
    if (!(m->chat_template = dup_str(""))) return fd__error(FD_ERR_OOM, "out of memory");
    return FD_OK;
}

static fd_status read_tokenizer(fd__hf_model *m) {
    char path[HF_PATH_MAX];
    json_t *tc = NULL;
    FD_TRY(join(path, m->dir, "tokenizer.json"));
    if (!file_exists(path))
        return fd__error(FD_ERR_NOT_FOUND, "%s: no tokenizer.json; download it with the weights", m->dir);
    FD_TRY(fd_tokenizer_from_json(path, &m->tok));
    FD_TRY(join(path, m->dir, "tokenizer_config.json"));
    fd_status s = load_json(path, 1, &tc);
    if (s == FD_ERR_NOT_FOUND) return read_template(m, NULL);
    FD_TRY(s);
    apply_config_specials(m->tok, tc);
    s = read_template(m, tc);
    json_decref(tc);
    return s;
}

// ---- public

fd_status fd__hf_open(const char *dir, fd__hf_model **out) {
    if (!dir || !out) return fd__error(FD_ERR_INVALID_ARG, "fd__hf_open: dir and out are required");
    *out = NULL;
    fd__hf_model *m = calloc(1, sizeof *m);
    if (!m) return fd__error(FD_ERR_OOM, "fd__hf_open: out of memory");
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    if (n >= sizeof m->dir) {
        free(m);
        return fd__error(FD_ERR_INVALID_ARG, "%s: path too long", dir);
    }
    memcpy(m->dir, dir, n);
    const char *base = strrchr(m->dir, '/');
    snprintf(m->info.name, sizeof m->info.name, "%.127s", base ? base + 1 : m->dir);
    fd_status s = read_config(m);
    if (s == FD_OK) s = open_weights(m);
    if (s == FD_OK) s = read_tokenizer(m);
    if (s != FD_OK) {
        fd__hf_close(m);
        return s;
    }
    pick_quant(m);
    *out = m;
    return FD_OK;
}

void fd__hf_close(fd__hf_model *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->n_tensors; i++) free((void *)m->tensors[i].name);
    free(m->tensors);
    for (int i = 0; i < m->n_files; i++) {
        fd__st_close(m->files[i]);
        free(m->file_names[i]);
    }
    free(m->files);
    free(m->file_names);
    fd_tokenizer_free(m->tok);
    free(m->chat_template);
    free(m);
}

const fd_model_info *fd__hf_info(const fd__hf_model *m) { return &m->info; }
int fd__hf_tie_embeddings(const fd__hf_model *m) { return m->tie_embeddings; }
int fd__hf_norm_plus_one(const fd__hf_model *m) { return strcmp(m->info.arch, "gemma3") == 0; }
int64_t fd__hf_n_tensors(const fd__hf_model *m) { return m->n_tensors; }
const fd_tokenizer *fd__hf_tokenizer(const fd__hf_model *m) { return m->tok; }

fd_tokenizer *fd__hf_take_tokenizer(fd__hf_model *m) {
    fd_tokenizer *t = m->tok;
    m->tok = NULL;
    return t;
}
const char *fd__hf_chat_template(const fd__hf_model *m) { return m->chat_template; }

const fd_gguf_tensor *fd__hf_tensor_at(const fd__hf_model *m, int64_t i) {
    return i >= 0 && i < m->n_tensors ? &m->tensors[i] : NULL;
}

const fd_gguf_tensor *fd__hf_find(const fd__hf_model *m, const char *gguf_name) {
    for (int64_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, gguf_name) == 0) return &m->tensors[i];
    return NULL;
}
