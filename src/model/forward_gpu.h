// SPDX-License-Identifier: Apache-2.0
// The GPU backend's forward pass: the same ragged, paged batch as the CPU
// backend (fd__cpu_batch, host arrays), run with the op table's kernels on a
// CUDA context. Weights are uploaded once in their GGUF block formats and
// dequantized inside the matmul kernels; activations and the KV cache are f16.
#ifndef FD_MODEL_FORWARD_GPU_H
#define FD_MODEL_FORWARD_GPU_H

#include "fdeploy/context.h"
#include "model/forward_cpu.h"

typedef struct fd__gpu_runner fd__gpu_runner;

// KV bytes per block (all layers, K and V, f16).
size_t fd__gpu_kv_block_bytes(const fd_model *m, int block_size);
// Bytes the weights take on the device.
size_t fd__gpu_weight_bytes(const fd_model *m);

fd_status fd__gpu_runner_create(fd_model *m, fd_ctx *ctx, int n_blocks, int block_size,
                                int max_tokens, int max_seqs, int max_model_len,
                                fd__gpu_runner **out);
void fd__gpu_runner_free(fd__gpu_runner *r);
// Logits [n_vocab] f32 (host) for each sequence with want_logits, in order.
fd_status fd__gpu_forward(fd__gpu_runner *r, const fd__cpu_batch *b, float *logits);

// Per-sequence sampling parameters for fd__gpu_forward_sample (temperature <= 0
// or top_k == 1: greedy).
typedef struct fd__gpu_sample_row {
    float temperature, top_p;
    int64_t top_k;   // <= 0: off
    int64_t seed;    // a different value every step of a request
    float repetition, frequency, presence;  // 1, 0, 0: off (token_penalty_multi_scores)
    const int32_t *history;                 // the sequence's tokens: prompt, then output
    int n_prompt, n_tokens;
} fd__gpu_sample_row;

// The forward pass, then sampling on the device (softmax + rejection_top_p_sampling):
// one token per sequence with want_logits, in order; `rows` in the same order.
fd_status fd__gpu_forward_sample(fd__gpu_runner *r, const fd__cpu_batch *b, const fd__gpu_sample_row *rows,
                                 int32_t *tokens);

#endif
