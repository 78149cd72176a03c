// SPDX-License-Identifier: Apache-2.0
// config.json -> fd_model_info for the Hugging Face architectures fdeploy runs:
// Llama, Qwen2, Qwen3, Gemma 3 (text). Rope parameters come in transformers 4's
// ("rope_theta", "rope_scaling") or 5's ("rope_parameters", per layer type for
// Gemma 3) spelling. What the forward pass does not implement is refused.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "model/hf_model.h"

static fd_status cfg_arch(json_t *cfg, const char *path, char *arch, size_t n) {
    static const char *const names[][3] = {
        {"LlamaForCausalLM", "llama", "llama"}, {"Qwen2ForCausalLM", "qwen2", "qwen2"},
        {"Qwen3ForCausalLM", "qwen3", "qwen3"}, {"Gemma3ForCausalLM", "gemma3_text", "gemma3"}};
    const char *a = json_string_value(json_array_get(json_object_get(cfg, "architectures"), 0));
    const char *mt = json_string_value(json_object_get(cfg, "model_type"));
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((a && strcmp(a, names[i][0]) == 0) || (!a && mt && strcmp(mt, names[i][1]) == 0)) {
            snprintf(arch, n, "%s", names[i][2]);
            return FD_OK;
        }
    return fd__error(FD_ERR_FORMAT, "%s: architecture '%.64s' is not supported (LlamaForCausalLM, "
                     "Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma3ForCausalLM are)", path, a ? a : mt ? mt : "(none)");
}

// An integer in [1, 2^24]; `def` < 0 means required.
static fd_status cfg_int(json_t *cfg, const char *path, const char *key, int def, int *out) {
    json_t *v = json_object_get(cfg, key);
    if ((!v || json_is_null(v)) && def >= 0) {
        *out = def;
        return FD_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > (1 << 24))
        return fd__error(FD_ERR_FORMAT, "%s: \"%s\" is missing or not an integer in [1, 16777216]", path, key);
    *out = (int)json_integer_value(v);
    return FD_OK;
}

static double cfg_num(json_t *cfg, const char *key, double def) {
    json_t *v = json_object_get(cfg, key);
    return json_is_number(v) && json_number_value(v) > 0 ? json_number_value(v) : def;
}

// The FFN activation: SiLU, or GELU with the tanh approximation.
static fd_status cfg_act(json_t *cfg, const char *path, fd_model_info *h) {
    const char *act = json_string_value(json_object_get(cfg, "hidden_activation"));
    if (!act) act = json_string_value(json_object_get(cfg, "hidden_act"));
    if (!act || strcmp(act, "silu") == 0) return FD_OK;
    if (strcmp(act, "gelu_pytorch_tanh") == 0 || strcmp(act, "gelu_tanh") == 0) {
        h->ffn_gelu = 1;
        return FD_OK;
    }
    return fd__error(FD_ERR_FORMAT, "%s: activation \"%.32s\" is not supported (silu, gelu_pytorch_tanh are)",
                     path, act);
}

// One rope parameter object (rope_scaling, or rope_parameters[layer type]): its theta
// into *base, its scaling into h (only full-attention layers may scale).
static fd_status cfg_rope_obj(json_t *rp, const char *path, fd_model_info *h, double *base, int scaled) {
    if (!json_is_object(rp)) return FD_OK;
    *base = cfg_num(rp, "rope_theta", *base);
    const char *t = json_string_value(json_object_get(rp, "rope_type"));
    if (!t) t = json_string_value(json_object_get(rp, "type"));
    if (!t || strcmp(t, "default") == 0) return FD_OK;
    double f = cfg_num(rp, "factor", 0);
    if (scaled && f > 0 && strcmp(t, "linear") == 0) {
        snprintf(h->rope_scaling, sizeof h->rope_scaling, "linear");
        h->rope_factor = (float)f;
        return FD_OK;
    }
    if (scaled && f > 0 && strcmp(t, "llama3") == 0) {
        snprintf(h->rope_scaling, sizeof h->rope_scaling, "llama3");
        h->rope_factor = (float)f;
        h->rope_low_freq = (float)cfg_num(rp, "low_freq_factor", 1.0);
        h->rope_high_freq = (float)cfg_num(rp, "high_freq_factor", 4.0);
        h->rope_orig_ctx = (int)cfg_num(rp, "original_max_position_embeddings", 8192);
        if (h->rope_high_freq > h->rope_low_freq) return FD_OK;
    }
    return fd__error(FD_ERR_FORMAT, "%s: rope scaling \"%.32s\" is not supported here (linear and llama3 with a "
                     "factor > 0 are, on full-attention layers)", path, t);
}

static fd_status cfg_rope(json_t *cfg, const char *path, fd_model_info *h) {
    json_t *rp = json_object_get(cfg, "rope_parameters");
    if (!json_is_object(rp)) rp = json_object_get(cfg, "rope_scaling");
    h->rope_base = cfg_num(cfg, "rope_theta", 10000.0);
    h->rope_base_swa = cfg_num(cfg, "rope_local_base_freq", 10000.0);
    json_t *full = json_object_get(rp, "full_attention"), *swa = json_object_get(rp, "sliding_attention");
    if (!full && !swa) return cfg_rope_obj(rp, path, h, &h->rope_base, 1);
    FD_TRY(cfg_rope_obj(full, path, h, &h->rope_base, 1));
    return cfg_rope_obj(swa, path, h, &h->rope_base_swa, 0);
}

// Gemma 3's layer_types must be the regular pattern (pattern-1 sliding, 1 full).
static fd_status cfg_gemma3(json_t *cfg, const char *path, fd_model_info *h) {
    FD_TRY(cfg_int(cfg, path, "sliding_window", 512, &h->sliding_window));
    h->swa_pattern = 6;
    json_t *lt = json_object_get(cfg, "layer_types"), *e;
    size_t i;
    json_array_foreach(lt, i, e) {
        if (strcmp(json_string_value(e) ? json_string_value(e) : "", "full_attention") != 0) continue;
        h->swa_pattern = (int)i + 1;
        break;
    }
    json_array_foreach(lt, i, e) {
        int swa = strcmp(json_string_value(e) ? json_string_value(e) : "", "sliding_attention") == 0;
        if (swa != fd_model_layer_is_swa(h, (int)i))
            return fd__error(FD_ERR_FORMAT, "%s: layer_types is not %d-1 sliding/full layers repeated; other "
                             "layouts are not supported", path, h->swa_pattern - 1);
    }
    const char *caps[] = {"final_logit_softcapping", "attn_logit_softcapping"};
    for (int k = 0; k < 2; k++)
        if (json_is_number(json_object_get(cfg, caps[k])))
            return fd__error(FD_ERR_FORMAT, "%s: %s is not supported", path, caps[k]);
    if (json_is_true(json_object_get(cfg, "use_bidirectional_attention")))
        return fd__error(FD_ERR_FORMAT, "%s: use_bidirectional_attention is not supported", path);
    h->embd_scale = sqrtf((float)h->n_embd);
    h->attn_scale = (float)(1.0 / sqrt(cfg_num(cfg, "query_pre_attn_scalar", h->head_dim)));
    h->post_norms = 1;
    return FD_OK;
}

fd_status fd__hf_parse_config(json_t *cfg, const char *path, fd_model_info *h, int *tie_embeddings) {
    int gemma = 0;
    FD_TRY(cfg_arch(cfg, path, h->arch, sizeof h->arch));
    gemma = strcmp(h->arch, "gemma3") == 0;
    FD_TRY(cfg_act(cfg, path, h));
    if (json_is_true(json_object_get(cfg, "use_sliding_window")))
        return fd__error(FD_ERR_FORMAT, "%s: use_sliding_window is not supported", path);
    FD_TRY(cfg_int(cfg, path, "num_hidden_layers", -1, &h->n_layer));
    FD_TRY(cfg_int(cfg, path, "hidden_size", -1, &h->n_embd));
    FD_TRY(cfg_int(cfg, path, "num_attention_heads", -1, &h->n_head));
    FD_TRY(cfg_int(cfg, path, "intermediate_size", -1, &h->n_ff));
    FD_TRY(cfg_int(cfg, path, "vocab_size", -1, &h->n_vocab));
    FD_TRY(cfg_int(cfg, path, "num_key_value_heads", h->n_head, &h->n_head_kv));
    FD_TRY(cfg_int(cfg, path, "head_dim", h->n_embd / h->n_head, &h->head_dim));
    FD_TRY(cfg_int(cfg, path, "max_position_embeddings", 4096, &h->n_ctx_train));
    FD_TRY(cfg_rope(cfg, path, h));
    if (!gemma) h->rope_base_swa = 0;
    h->norm_eps = (float)cfg_num(cfg, "rms_norm_eps", 1e-6);
    h->rope_neox = 1;  // HF checkpoints rotate halves (rotate_half); only GGUF permutes Llama's q/k
    json_t *tie = json_object_get(cfg, "tie_word_embeddings");
    *tie_embeddings = json_is_true(tie) || (gemma && !tie);  // Gemma ties by default
    if (h->n_head % h->n_head_kv || h->head_dim % 2)
        return fd__error(FD_ERR_FORMAT, "%s: bad head counts (%d q heads, %d kv heads, head dim %d)", path,
                         h->n_head, h->n_head_kv, h->head_dim);
    return gemma ? cfg_gemma3(cfg, path, h) : FD_OK;
}
