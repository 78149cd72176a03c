// SPDX-License-Identifier: Apache-2.0
// Operators of the GGUF model runtime: matmul and embedding lookup over weights
// kept in their GGUF block format (dequantized inside the kernels), RMSNorm with
// an optional fused residual add, elementwise add and scale. See fdeploy/ops.h
// for the conventions (borrowed views in the context's memory, fd_status,
// fd_last_error).
//
// GGUF weights: a tensor of dtype FD_U8 and shape [rows, row_bytes] holding the
// raw bytes exactly as in the file; row r starts at byte r * row_bytes, and
// row_bytes = (K / block_elems) * block_bytes of the ggml type (fd_ggml_block_elems,
// fd_ggml_block_bytes). Types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q6_K.
// K must be a multiple of 32 (F32/F16/BF16, Q4_0, Q4_1, Q5_0, Q8_0) or 256 (Q4_K, Q6_K).
#ifndef FDEPLOY_OPS_MODEL_H
#define FDEPLOY_OPS_MODEL_H

#include <stdint.h>
#include "fdeploy/context.h"
#include "fdeploy/gguf.h"
#include "fdeploy/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// y[M, N] = x[M, K] * W^T, W = N rows of K elements of ggml type `wtype`.
//   x [M, K] f32 or f16; w [N, row_bytes] u8 (see above); y [M, N] of x's dtype.
// Accumulation is f32. On CUDA: M <= 8 streams each weight row once (GEMV); M > 8
// with f16 uses tensor cores on weights dequantized to f16, with f32 the exact f32
// GEMV over chunks of 8 rows. y must not overlap x or w.
// Errors: unknown/unsupported wtype, K not a multiple of the type's block (or 32),
// w not [N, row_bytes(wtype, K)] u8, y not [M, N] of x's dtype.
fd_status fd_gguf_matmul(fd_ctx *ctx, const fd_tensor *x, const fd_tensor *w,
                         fd_ggml_type wtype, int64_t k, fd_tensor *y);

// Embedding lookup: out[i, :] = dequant(W[ids[i], :]).
//   ids [T] i32; w [V, row_bytes] u8 with rows of D elements of `wtype`;
//   out [T, D] f32 or f16 (D given by out's shape).
// Errors: an id outside [0, V) (the C reference checks every id before writing; a
// kernel skips that row and fd_ctx_sync reports it), D not a multiple of the block,
// w's row_bytes not row_bytes(wtype, D).
fd_status fd_gguf_get_rows(fd_ctx *ctx, const fd_tensor *w, fd_ggml_type wtype,
                           const fd_tensor *ids, fd_tensor *out);

// RMSNorm over rows: out = x / sqrt(mean(x^2) + eps) * w, in f32, rounded once.
//   x [M, D] f32/f16/bf16; w [D] f32 (GGUF norm weights); out [M, D] of x's dtype.
// With residual (NULL = none) [M, D] of x's dtype, the fused residual add of
// llama.cpp / vLLM's fused_add_rms_norm: first x = x + residual is written back
// into x (x is the residual stream, updated in place, rounded to x's dtype), then
// out = rms_norm(new x) * w. residual itself is not written. out may be x itself
// (in place); otherwise out must not overlap x or residual.
// Errors: shapes or dtypes that differ, eps < 0 or not finite.
fd_status fd_rms_norm(fd_ctx *ctx, fd_tensor *x, const fd_tensor *residual,
                      const fd_tensor *w, float eps, fd_tensor *out);

// out = a + b elementwise (same shape, same dtype f32/f16/bf16), sum in f32,
// rounded once. out may be a or b itself (in place).
fd_status fd_add(fd_ctx *ctx, const fd_tensor *a, const fd_tensor *b, fd_tensor *out);

// out = a * s elementwise (same shape, same dtype f32/f16/bf16), product in f32,
// rounded once (Gemma scales the token embeddings by sqrt(n_embd)). out may be
// a itself (in place); otherwise it must not overlap a.
// Errors: shapes or dtypes that differ, s not finite, NULL tensors.
fd_status fd_scale(fd_ctx *ctx, const fd_tensor *a, float s, fd_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
