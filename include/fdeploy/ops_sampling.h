// SPDX-License-Identifier: Apache-2.0
// Operators: top_k_renorm_probs, rejection_top_p_sampling. See fdeploy/ops.h for the conventions.
// Per-row vectors ("[bs]") may be given as [bs] or [bs, 1].
#ifndef FDEPLOY_OPS_SAMPLING_H
#define FDEPLOY_OPS_SAMPLING_H

#include <stdint.h>
#include "fdeploy/context.h"
#include "fdeploy/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// Probabilities of each row: p = exp((x - max) / t) / sum, in f32.
//   x [M, V] f32/f16/bf16 logits; temperature [M] f32 or NULL (t <= 0 counts as 1:
//   greedy callers then take the top-1 of p); probs [M, V] f32, not aliasing x.
fd_status fd_softmax(fd_ctx *ctx, const fd_tensor *x, const fd_tensor *temperature, fd_tensor *probs);

// Restricts each probability row to its top-k entries and renormalises them.
//   probs [bs, V] f32; top_k [bs] i64; renorm_probs [bs, V] f32 (may be probs: in place).
// Per row, k = top_k[b]: k <= 0 or k >= V copies the row unchanged. Otherwise
// x = the k-th largest value (counting repeats); entries with p >= x and p > 0
// are kept (ties at x all survive, so more than k may), scaled by 1 / max(sum, 1e-8);
// the rest become 0. NaN and negative entries never survive.
fd_status fd_top_k_renorm_probs(fd_ctx *ctx, const fd_tensor *probs, const fd_tensor *top_k,
                                fd_tensor *renorm_probs);

// Draws one token per row under top-p and optional top-k truncation, without sorting.
//   probs [bs, V] f32 (rows of probabilities, V <= 2^21); top_p [bs] f32;
//   top_k [bs] i64 or NULL; samples [bs] i64 (written).
// Allowed set of row b: tokens t with p_t > 0, (mass of tokens strictly more
// probable than t) < top_p[b], and, with top_k, (their count) < top_k[b] (k <= 0:
// no top-k). The most probable token(s) are always allowed, so top_p <= 0 or k = 1
// is greedy; top_p >= 1 without top-k samples the full distribution. The token is
// drawn from the allowed set with probability proportional to p_t.
// Probabilities are weighted in 2^-42 fixed point (values above 1 count as 1), so
// the result depends only on the inputs and `seed`, not on summation order: the
// C reference and the CUDA kernel return the same tokens. Each row uses its own
// counter-based stream (seed, row); pass a new seed each step (any int64, -1 included;
// fdeploy keeps no hidden generator state).
// Error: a row with no positive probability (all zero / NaN). The C reference then
// writes nothing; on a GPU fd_ctx_sync reports it ("invalid input", value = the row)
// and that row's sample is left unchanged.
fd_status fd_rejection_top_p_sampling(fd_ctx *ctx, const fd_tensor *probs,
                                      const fd_tensor *top_p, const fd_tensor *top_k,
                                      int64_t seed, fd_tensor *samples);

#ifdef __cplusplus
}
#endif
#endif
