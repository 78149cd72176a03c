// SPDX-License-Identifier: Apache-2.0
// Operators: fused_rotary_position_encoding, qkv_bias_rms_norm, gelu_tanh.
// See fdeploy/ops.h for the conventions.
#ifndef FDEPLOY_OPS_LAYERS_H
#define FDEPLOY_OPS_LAYERS_H

#include <stdint.h>
#include "fdeploy/context.h"
#include "fdeploy/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- rotary position embedding

// Fills a rotary cos/sin table for fd_fused_rotary_position_encoding:
//   cos_sin_cache [max_position, rot_dim] f32/f16/bf16 in ctx's memory, rot_dim even;
//   row p = cos(p*f_i) at column i, sin(p*f_i) at column rot_dim/2 + i, for
//   i < rot_dim/2, f_i = base^(-2i/rot_dim) (Llama/Qwen: base 10000 or 1e6).
// Computed in double on the host and uploaded: call it once at load time.
// base must be > 0 and finite.
fd_status fd_rotary_cos_sin_cache_init(fd_ctx *ctx, fd_tensor *cos_sin_cache, double base);
// The same table from explicit frequencies: inv_freq[rot_dim/2] (finite, >= 0), row p
// = cos(p*inv_freq[i]), sin(p*inv_freq[i]). For scaled rope (linear, Llama 3.1's).
fd_status fd_rotary_cos_sin_cache_init_freqs(fd_ctx *ctx, fd_tensor *cos_sin_cache, const double *inv_freq);

// Rotates query and key in place by the angle of each token's position
// (FastDeploy's fused_rotary_position_encoding; vLLM's rotary_embedding).
//   query [N, Hq, head_size] or [N, Hq*head_size] f32/f16/bf16;
//   key   [N, Hk, head_size] or [N, Hk*head_size], query's dtype; NULL = query
//         only. Hk may differ from Hq (GQA/MQA);
//   position_ids [N] i32, each in [0, max_position);
//   cos_sin_cache [max_position, rot_dim], f32 or query's dtype (see
//         fd_rotary_cos_sin_cache_init); rot_dim even, 2 <= rot_dim <= head_size.
// is_neox != 0: half-split pairs (h[i], h[rot_dim/2 + i]) (Llama, Qwen);
// is_neox == 0: interleaved pairs (h[2i], h[2i+1]) (GPT-J). Each pair
// (x, y) becomes (x*cos - y*sin, y*cos + x*sin), computed in f32; columns from
// rot_dim on are left as they are (partial rotary).
// Errors: N > 65536 (FastDeploy's limit: split the batch), a position outside
// [0, max_position) (on CUDA, reported by fd_ctx_sync; that token is left as
// it was), shapes/dtypes that do not match, key overlapping query.
fd_status fd_fused_rotary_position_encoding(fd_ctx *ctx, fd_tensor *query, fd_tensor *key,
                                            const fd_tensor *position_ids,
                                            const fd_tensor *cos_sin_cache, int head_size,
                                            int is_neox);

// ---- q/k/v bias and per-head q/k RMSNorm (between the qkv matmul and attention)

// In place on the stacked q/k/v rows that fd_append_attention reads:
//   qkv [T, (n_q_heads + 2*n_kv_heads) * head_dim] f32/f16/bf16, each row the
//       n_q_heads q heads, then the n_kv_heads k heads, then the n_kv_heads v
//       heads, head_dim contiguous elements each (GQA/MQA: n_kv_heads < n_q_heads);
//   bias   [(n_q_heads + 2*n_kv_heads) * head_dim] f32 or NULL: added to every
//          row (Qwen2's q/k/v projection biases);
//   q_norm [head_dim] f32 or NULL: each q head h becomes
//          h / sqrt(mean(h^2) + eps) * q_norm (Qwen3's per-head q RMSNorm);
//   k_norm [head_dim] f32 or NULL: the same for each k head. v heads are never
//          normed (only biased).
// Per element: v = x + bias (f32), then the norm over the head's f32 values,
// rounded once to qkv's dtype at the end (no rounding between bias and norm).
// Heads that get neither a bias nor a norm are not read or written.
// Errors: all of bias, q_norm and k_norm NULL; n_q_heads or n_kv_heads < 1;
// head_dim outside [1, 256]; shapes/dtypes that do not match the above; eps < 0
// or not finite; bias/q_norm/k_norm overlapping qkv. On an error nothing is written.
fd_status fd_qkv_bias_rms_norm(fd_ctx *ctx, fd_tensor *qkv, int n_q_heads, int n_kv_heads,
                               int head_dim, const fd_tensor *bias, const fd_tensor *q_norm,
                               const fd_tensor *k_norm, float eps);

// ---- activations

// GELU, tanh approximation (Gemma-style MLPs):
//   out = 0.5*x*(1 + tanh(0.7978845608*(x + 0.044715*x^3))), computed in f32.
//   input any shape f32/f16/bf16; out the same shape and dtype; out may be
//   input itself (in place) but may not partly overlap it.
// On SM75+ the CUDA kernel uses the hardware tanh.approx.f32 (|error| <=
// 2.5e-4*|x| beyond f32 rounding); below SM75 and on the CPU, accurate tanhf.
fd_status fd_gelu_tanh(fd_ctx *ctx, const fd_tensor *input, fd_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
