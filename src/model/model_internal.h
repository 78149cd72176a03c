// SPDX-License-Identifier: Apache-2.0
// The model's private structure, shared by loading and the forward pass.
#ifndef FD_MODEL_INTERNAL_H
#define FD_MODEL_INTERNAL_H

#include "core/threadpool.h"
#include "fdeploy/gguf.h"
#include "fdeploy/model.h"
#include "fdeploy/tokenizer.h"
#include "ops/quant_cpu.h"

typedef struct fd_weight {
    fd_ggml_type type;
    const void *data;   // NULL = absent (optional tensors)
    int64_t ne0, ne1;   // row length, rows
} fd_weight;

typedef struct fd_layer {
    fd_weight attn_norm, wq, wk, wv, wo, bq, bk, bv, q_norm, k_norm;
    fd_weight ffn_norm, w_gate, w_up, w_down;
    fd_weight post_attn_norm, post_ffn_norm;   // Gemma (info.post_norms)
} fd_layer;

struct fd__hf_model;

struct fd_model {
    fd_model_info info;
    // Where the tensors live: exactly one is set (model_load.c's find_tensor picks).
    fd_gguf *gguf;              // a GGUF file
    struct fd__hf_model *hf;    // a Hugging Face directory (safetensors)
    float *f32_copies;          // norms/biases not stored as F32, converted at load
    size_t f32_used, f32_cap;   // floats
    fd_weight tok_embd, out_norm, output;
    fd_weight rope_freqs;   // GGUF per-frequency divisors (Llama 3.1+), optional
    fd_layer *layers;     // n_layer
    fd_threadpool *pool;
    int avx2;             // CPU has AVX2+FMA+F16C (fused quantized dots)
    struct fd_tokenizer *tok;
    char *chat_template;  // NUL-terminated copy, "" if none
};

#endif
