// SPDX-License-Identifier: Apache-2.0
// Operators: silu_and_mul, gelu_tanh_and_mul, matmul, weight-only int8 matmul, the FFN layer. See fdeploy/ops.h for the conventions.
//
// Weight layout (all ops here): W is [N, K] row-major = [out, in], i.e. each output
// channel's K weights are contiguous (what a decode GEMV and per-channel int8 want).
// FastDeploy stores linear weights [in, out]; transpose them once when loading.
// Accumulation is f32; outputs are rounded once to the activation dtype.
// CUDA kernels take f16 (SM70+) and bf16 (SM80+); f32 runs on the C reference only.
//
// FP8 block-wise GEMM (FastDeploy's BlockWiseFP8 config, 128x128 blocks) is not
// implemented: it needs SM89 (FP8), and neither of our two target builds has it.
#ifndef FDEPLOY_OPS_FFN_H
#define FDEPLOY_OPS_FFN_H

#include <stddef.h>
#include <stdint.h>
#include "fdeploy/context.h"
#include "fdeploy/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// SwiGLU activation (Paddle's swiglu / FastDeploy's SiluAndMul):
//   x [M, 2I] f32/f16/bf16 -> out [M, I] same dtype,
//   out[m, j] = silu(x[m, j]) * x[m, I + j], silu(g) = g / (1 + exp(-g)), in f32.
// Errors: odd last dim of x, out not [M, I] of x's dtype.
fd_status fd_silu_and_mul(fd_ctx *ctx, const fd_tensor *x, fd_tensor *out);

// GeGLU activation with tanh-GELU (vLLM's gelu_tanh_and_mul; Gemma's
// gelu_pytorch_tanh MLP):
//   x [M, 2I] f32/f16/bf16 -> out [M, I] same dtype,
//   out[m, j] = gelu_tanh(x[m, j]) * x[m, I + j], in f32, rounded once, with
//   gelu_tanh(a) = 0.5*a*(1 + tanh(0.7978845608*(a + 0.044715*a^3))) (as fd_gelu_tanh).
// Accurate tanhf on every backend (no tanh.approx), so CUDA matches the C
// reference to a few f32 ulps. out must not overlap x (a row of out is written
// while the next rows of x are still to be read).
// Errors: odd last dim of x, out not [M, I] of x's dtype, out overlapping x.
fd_status fd_gelu_tanh_and_mul(fd_ctx *ctx, const fd_tensor *x, fd_tensor *out);

// C[M, N] = A[M, K] * W[N, K]^T.
//   a [M, K] f32/f16/bf16, w [N, K] same dtype, c [M, N] same dtype (written).
// CUDA: f16 on SM70+ (tensor cores via WMMA), f16/bf16 on SM80+; M <= 8 uses a
// GEMV (one warp per output column). bf16 on an SM70 device is
// FD_ERR_UNSUPPORTED_ARCH. M = 0 or N = 0 writes nothing; K = 0 writes zeros.
fd_status fd_matmul(fd_ctx *ctx, const fd_tensor *a, const fd_tensor *w, fd_tensor *c);

// Weight-only int8: C[m, n] = scale[n] * sum_k A[m, k] * Wq[n, k].
//   a [M, K] f32/f16/bf16, wq [N, K] i8, scale [N] f32, c [M, N] a's dtype.
// Weights are dequantized inside the kernel (never expanded in memory).
// CUDA: f16 on SM70+, bf16 on SM80+.
fd_status fd_matmul_wint8(fd_ctx *ctx, const fd_tensor *a, const fd_tensor *wq,
                          const fd_tensor *scale, fd_tensor *c);

// Quantizes host f32 weights w [n, k] into host q [n, k] int8 and scale [n] f32,
// symmetric per output channel: scale = max|w[row]| / 127, q = round(w / scale)
// (round half away from zero), clamped to [-127, 127]. An all-zero row gets
// scale 0 and q 0. Non-finite weights are an error.
fd_status fd_quantize_int8_per_channel(const float *w, int64_t n, int64_t k, int8_t *q,
                                       float *scale);

// The FFN layer's weights (borrowed views in the context's memory).
//   gate_up [2I, H]: rows [0, I) = gate, [I, 2I) = up; x's dtype, or i8 with
//   gate_up_scale [2I] f32. down [H, I]: x's dtype, or i8 with down_scale [H] f32.
typedef struct fd_ffn_weights {
    const fd_tensor *gate_up, *gate_up_scale;   // scale NULL unless gate_up is i8
    const fd_tensor *down, *down_scale;         // scale NULL unless down is i8
} fd_ffn_weights;

// Elements of x's dtype the FFN needs as scratch for M tokens: M * 3I
// ([M, 2I] gate/up projection + [M, I] activation).
int64_t fd_ffn_scratch_elems(int64_t m, int64_t inter);

// y [M, H] = down(silu_and_mul(x [M, H] * gate_up^T))  (FastDeploy's Ernie4_5_MLP).
// scratch: a 1-D tensor of x's dtype with >= fd_ffn_scratch_elems(M, I) elements,
// or NULL: then it is allocated with fd_ctx_alloc, and the call waits for the
// work (fd_ctx_sync) before releasing it — pass scratch in a decode loop.
// Dtypes: f16/bf16 on CUDA (bf16 needs SM80), f32 too on the CPU.
fd_status fd_ffn(fd_ctx *ctx, const fd_tensor *x, const fd_ffn_weights *w,
                 fd_tensor *scratch, fd_tensor *y);

// The FFN compute dtype for ctx: f16 when the kernels run as SM < 80 (Volta has no
// bf16), bf16 on SM80+, f32 on a CPU context. Writes a one-line message saying
// which and why into msg (the caller prints it).
fd_status fd_ffn_pick_dtype(const fd_ctx *ctx, fd_dtype *dtype, char *msg, size_t msg_size);

// The same rule from SM numbers: effective_sm = the arch the kernels were compiled
// for (fd_ctx_effective_sm, 0 = CPU), device_sm = the GPU's own SM (for the message).
void fd_ffn_dtype_for_sm(int effective_sm, int device_sm, fd_dtype *dtype, char *msg,
                         size_t msg_size);

#ifdef __cplusplus
}
#endif
#endif
