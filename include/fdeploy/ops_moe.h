// SPDX-License-Identifier: Apache-2.0
// Operators: moe_top_k_select, tritonmoe_preprocess. See fdeploy/ops.h for the conventions.
#ifndef FDEPLOY_OPS_MOE_H
#define FDEPLOY_OPS_MOE_H

#include <stdint.h>
#include "fdeploy/context.h"
#include "fdeploy/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// How moe_top_k_select turns router logits into expert probabilities.
typedef enum fd_moe_scoring {
    FD_MOE_SOFTMAX = 0,   // softmax over the row (FastDeploy's moe_topk_select)
    FD_MOE_SIGMOID = 1,   // independent sigmoid per expert
} fd_moe_scoring;

// MoE router: picks k experts per token and their combine weights.
//   gating_logits [N, E] or [B, S, E] f32 (rows flattened: N = B*S);
//   bias NULL or [E] / [1, E] f32, the gate correction bias: it is added to the
//   probabilities for *selection* only, the weights stay the unbiased probabilities.
// Writes topk_ids [N, k] i64 (experts in descending order of probability + bias;
// equal scores: the lower expert id first; a NaN score ranks lowest) and
// topk_weights [N, k] f32 (the selected probabilities; with `renormalize` != 0
// divided by their sum, unless that sum is 0). Results are bit-identical on the
// C reference and the GPU. k outside [1, E] or a bad shape/dtype is an error.
fd_status fd_moe_top_k_select(fd_ctx *ctx, const fd_tensor *gating_logits,
                              const fd_tensor *bias, int k, fd_moe_scoring scoring,
                              int renormalize, fd_tensor *topk_ids,
                              fd_tensor *topk_weights);

// Capacity P of tritonmoe_preprocess's sorted_ids for `numel` assignments
// (FastDeploy's bound): numel < E+1 ? numel*M : numel + (E+1)*(M-1).
// experts_ids then has ceil(P / M) entries. -1 on a negative or overflowing input.
int64_t fd_tritonmoe_preprocess_capacity(int64_t numel, int64_t num_experts,
                                         int64_t block_size);

// Groups token->expert assignments by expert for a block-tiled grouped GEMM
// (moe_align_block_size). topk_ids: i64, any shape, numel = tokens*k, flat index
// i = token*k + slot; entries in [0, num_experts), or -1 for an assignment that
// was dropped (expert parallelism): those form a leading bucket of expert -1.
// Each bucket is padded to a multiple of block_size M. Writes
//   sorted_ids [P] i32 (P from fd_tritonmoe_preprocess_capacity): bucket by bucket,
//     the flat indices i of the bucket in ascending order, padding = numel;
//   experts_ids [ceil(P/M)] i32: the expert of each M-row block, -1 past the end;
//   num_tokens_post_pad [1] i32: the padded total.
// An id < -1 or >= num_experts is an error (on a GPU context reported by
// fd_ctx_sync; outputs are then unspecified but nothing is written out of bounds).
// The GPU variant takes num_experts <= 6111 (its counters live in shared memory).
fd_status fd_tritonmoe_preprocess(fd_ctx *ctx, const fd_tensor *topk_ids, int64_t num_experts,
                                  int64_t block_size, fd_tensor *sorted_ids,
                                  fd_tensor *experts_ids, fd_tensor *num_tokens_post_pad);

#ifdef __cplusplus
}
#endif
#endif
