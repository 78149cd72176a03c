// SPDX-License-Identifier: Apache-2.0
// The CPU backend's forward pass over a ragged batch of sequences whose K/V
// live in a paged pool (blocks of block_size tokens), as the engine schedules
// them: some sequences bring a prompt chunk, others one new token.
#ifndef FD_MODEL_FORWARD_CPU_H
#define FD_MODEL_FORWARD_CPU_H

#include "fdeploy/model.h"

// K and V of every layer: [n_layer][n_blocks][block_size][kv_dim] f32.
typedef struct fd__cpu_kv {
    int n_blocks, block_size, kv_dim, n_layer;
    float *k, *v;
} fd__cpu_kv;

fd_status fd__cpu_kv_alloc(const fd_model *m, int n_blocks, int block_size, fd__cpu_kv *kv);
void fd__cpu_kv_release(fd__cpu_kv *kv);
size_t fd__cpu_kv_block_bytes(const fd_model *m, int block_size);

typedef struct fd__cpu_batch {
    int n_seqs;
    const int32_t *tokens;            // [sum n_new], sequence after sequence
    const int *n_past, *n_new;        // [n_seqs]: tokens cached before / fed now
    const int32_t *const *blocks;     // [n_seqs]: each sequence's block table
    const int *want_logits;           // [n_seqs]: 1 = logits of its last new token
} fd__cpu_batch;

// Scratch for batches of up to max_tokens tokens.
typedef struct fd__cpu_scratch fd__cpu_scratch;
fd_status fd__cpu_scratch_create(const fd_model *m, int max_tokens, fd__cpu_scratch **out);
void fd__cpu_scratch_free(fd__cpu_scratch *s);
int fd__cpu_scratch_max_tokens(const fd__cpu_scratch *s);

// Runs the batch (at most max_tokens tokens), writing K/V into kv, and logits
// ([n_vocab] per sequence with want_logits, in order) into `logits`.
fd_status fd__cpu_forward(fd_model *m, fd__cpu_kv *kv, fd__cpu_scratch *s, const fd__cpu_batch *b,
                          float *logits);

#endif
