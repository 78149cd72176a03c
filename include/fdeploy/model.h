// SPDX-License-Identifier: Apache-2.0
// Models: load a GGUF file or a Hugging Face directory (Llama family, Qwen2/2.5,
// Qwen3, Gemma 3) and run it.
// A model is read-only and shared; a session is one sequence: its KV cache,
// its position and its scratch buffers.
#ifndef FDEPLOY_MODEL_H
#define FDEPLOY_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "fdeploy/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fd_model fd_model;
typedef struct fd_session fd_session;

typedef struct fd_model_info {
    char arch[32];            // "llama", "qwen2", "qwen3", "gemma3"
    char name[128];
    char quant[32];           // dominant weight type, e.g. "Q4_1"
    int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx_train;
    double rope_base;
    float norm_eps;
    int rope_neox;            // 1: rotate halves (NeoX); 0: interleaved pairs
    // Rope scaling of the (full-attention) layers: "" none, "linear" (every frequency
    // / rope_factor), "llama3" (Llama 3.1's by-wavelength blend), "freqs" (GGUF's
    // rope_freqs tensor divides each frequency).
    char rope_scaling[16];
    float rope_factor, rope_low_freq, rope_high_freq;
    int rope_orig_ctx;
    // Gemma 3: every layer but each swa_pattern-th attends only to the last
    // sliding_window positions and uses rotary base rope_base_swa (0 = no such layers).
    int sliding_window, swa_pattern;
    double rope_base_swa;
    float embd_scale;         // token embeddings are multiplied by this (Gemma: sqrt(n_embd))
    float attn_scale;         // softmax scale (1/sqrt(head_dim) unless the model says otherwise)
    int ffn_gelu;             // FFN gate activation: 1 GELU (tanh approximation), 0 SiLU
    int post_norms;           // Gemma: RMSNorm on the attention and FFN outputs before the residual add
    int64_t n_params;
    size_t weight_bytes;
    size_t decode_bytes;      // weight bytes one decode step reads (the roofline of decode)
} fd_model_info;

typedef struct fd_model_params {
    int n_threads;            // CPU threads; 0 = all online CPUs
    int progress;             // draw a progress bar on stderr while loading
} fd_model_params;

// `path`: a GGUF file, or a Hugging Face model directory (config.json, *.safetensors,
// tokenizer.json, tokenizer_config.json) or that directory's config.json.
fd_status fd_model_load(const char *path, const fd_model_params *params, fd_model **out);
void fd_model_free(fd_model *m);
const fd_model_info *fd_model_get_info(const fd_model *m);
// The GGUF file the model was loaded from (borrowed; metadata for tokenizers etc.);
// NULL for a model loaded from a Hugging Face directory.
const struct fd_gguf *fd_model_gguf(const fd_model *m);
// The model's tokenizer (borrowed; lives as long as the model).
const struct fd_tokenizer *fd_model_tokenizer(const fd_model *m);
// The chat template text from the metadata ("" if none).
const char *fd_model_chat_template(const fd_model *m);
// 1 when layer l attends only to the last info.sliding_window positions.
int fd_model_layer_is_swa(const fd_model_info *h, int l);
// The rotary frequencies of layer kind swa (0 full, 1 sliding) into inv_freq[head_dim/2]:
// base^(-2i/head_dim) with the model's rope scaling applied.
void fd_model_rope_freqs(const fd_model *m, int swa, double *inv_freq);
// One line: arch, params, quant, backend...
void fd_model_summary(const fd_model *m, int n_ctx, char *buf, size_t n);

// A sequence with room for n_ctx tokens (KV cache f32 on the CPU backend).
fd_status fd_session_create(fd_model *m, int n_ctx, fd_session **out);
void fd_session_free(fd_session *s);
int fd_session_pos(const fd_session *s);
fd_model *fd_session_model(const fd_session *s);
size_t fd_session_kv_bytes(const fd_session *s);
// Forgets every token from position `pos` on (0 = start over).
fd_status fd_session_truncate(fd_session *s, int pos);
// Appends n tokens and runs the model over them. logits receives n_vocab
// floats for the last token, or n * n_vocab for all of them when all_logits.
fd_status fd_session_eval(fd_session *s, const int32_t *tokens, int n, float *logits,
                          int all_logits);

#ifdef __cplusplus
}
#endif
#endif
