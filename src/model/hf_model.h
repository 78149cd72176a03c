// SPDX-License-Identifier: Apache-2.0
// A model in the Hugging Face layout: a directory with config.json, the weights in
// model.safetensors or in shards listed by model.safetensors.index.json, tokenizer.json
// and tokenizer_config.json. Read into what the GGUF loader sees: fd_model_info, and
// tensors under GGUF names in ggml order (see hf_model.c for the name map), so the
// model loader and forward pass do not care where the weights came from.
#ifndef FD_MODEL_HF_MODEL_H
#define FD_MODEL_HF_MODEL_H

#include <jansson.h>
#include <stdint.h>

#include "fdeploy/gguf.h"
#include "fdeploy/model.h"
#include "fdeploy/status.h"
#include "fdeploy/tokenizer.h"

typedef struct fd__hf_model fd__hf_model;

// Reads `dir`: config (llama, qwen2, qwen3, gemma3), every shard (mapped, validated, kept mapped
// until fd__hf_close), the tokenizer and the chat template.
fd_status fd__hf_open(const char *dir, fd__hf_model **out);
void fd__hf_close(fd__hf_model *m);

// Hyperparameters; n_vocab is config's vocab_size, `name` the directory's base name,
// `quant` the dominant weight dtype; n_params and weight_bytes are left 0.
const fd_model_info *fd__hf_info(const fd__hf_model *m);
int fd__hf_tie_embeddings(const fd__hf_model *m);  // config tie_word_embeddings
// 1 when the checkpoint's RMSNorm weights are offsets (Gemma: x * (1 + w)).
int fd__hf_norm_plus_one(const fd__hf_model *m);
// config.json (parsed) -> h; path names the file in messages (hf_config.c).
fd_status fd__hf_parse_config(json_t *cfg, const char *path, fd_model_info *h, int *tie_embeddings);

// Tensors under GGUF names ("blk.3.attn_q.weight"), type F32/F16/BF16, ne in ggml order,
// data inside the mapping. NULL if absent.
const fd_gguf_tensor *fd__hf_find(const fd__hf_model *m, const char *gguf_name);
int64_t fd__hf_n_tensors(const fd__hf_model *m);
const fd_gguf_tensor *fd__hf_tensor_at(const fd__hf_model *m, int64_t i);

// The tokenizer (borrowed; lives until fd__hf_close). Its bos/eos follow
// tokenizer_config.json's bos_token / eos_token when they name a vocabulary token.
const fd_tokenizer *fd__hf_tokenizer(const fd__hf_model *m);
// Hands the tokenizer to the caller, who frees it; fd__hf_tokenizer is NULL afterwards.
fd_tokenizer *fd__hf_take_tokenizer(fd__hf_model *m);
// The chat template from tokenizer_config.json ("chat_template") or chat_template.jinja;
// "" if none (borrowed).
const char *fd__hf_chat_template(const fd__hf_model *m);

#endif
