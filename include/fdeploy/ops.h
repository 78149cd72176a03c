// SPDX-License-Identifier: Apache-2.0
// Serving operators. Each runs on the context's backend (the C reference on a
// CPU context, the best compiled CUDA variant on a GPU context) and returns
// FD_ERR_UNSUPPORTED_ARCH with the reason when neither exists there.
// All tensors are borrowed views in the context's memory. Semantics follow
// FastDeploy 2.x's custom ops of the same name (docs/ops/).
#ifndef FDEPLOY_OPS_H
#define FDEPLOY_OPS_H

#include <stdint.h>
#include "fdeploy/context.h"
#include "fdeploy/tensor.h"
#include "fdeploy/ops_postprocess.h"
#include "fdeploy/ops_layers.h"
#include "fdeploy/ops_speculate.h"
#include "fdeploy/ops_moe.h"
#include "fdeploy/ops_sampling.h"
#include "fdeploy/ops_ffn.h"
#include "fdeploy/ops_attention.h"
#include "fdeploy/ops_model.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- padding removal and rebuild

// Packs the padded ids of each slot into one token stream.
//   input_ids [bsz, max_len] i64, seq_len [bsz] i32 (tokens this step),
//   token_num = sum(seq_len) (the caller knows it; it sizes the outputs).
// Writes x_remove_padding [token_num] i64, batch_id_per_token [token_num] i32,
// cu_seqlens_q and cu_seqlens_k [bsz+1] i32 (both the prefix sum of seq_len).
// A seq_len outside [0, max_len] or a sum that is not token_num is an error.
fd_status fd_get_padding_offset(fd_ctx *ctx, const fd_tensor *input_ids,
                                const fd_tensor *seq_len, int64_t token_num,
                                fd_tensor *x_remove_padding,
                                fd_tensor *batch_id_per_token,
                                fd_tensor *cu_seqlens_q, fd_tensor *cu_seqlens_k);

// Gathers the hidden row(s) whose logits are needed from the packed stream.
//   tmp_out [token_num, dim] f32/f16/bf16; cu_seqlens_q [bsz+1] i32;
//   seq_len_this_time, seq_lens_decoder, seq_lens_encoder [bsz] i32.
// Without output_padding_offset (NULL): out [bsz, dim], one row per slot
// (last prompt token of a prefill, the token of a decode), zero for idle slots.
// With it (speculative decoding): out [out_rows, dim] where out_rows comes from
// fd_rebuild_padding_out_rows(); row t reads slot (t + offset[t]) / max_input_length.
// first_token_out [bsz, dim] (may be NULL) receives the row before a prefill's
// last token when enable_logprob is set. A source row outside tmp_out is an error.
fd_status fd_rebuild_padding(fd_ctx *ctx, const fd_tensor *tmp_out,
                             const fd_tensor *cu_seqlens_q,
                             const fd_tensor *seq_len_this_time,
                             const fd_tensor *seq_lens_decoder,
                             const fd_tensor *seq_lens_encoder,
                             const fd_tensor *output_padding_offset,
                             fd_tensor *first_token_out, int max_input_length,
                             int enable_logprob, fd_tensor *out);

// Rows of rebuild_padding's speculative output: token_num minus, for every
// slot in prefill, its prompt tokens but one. `seq_lens_encoder` is host memory.
int64_t fd_rebuild_padding_out_rows(const int32_t *seq_lens_encoder, int64_t bsz,
                                    int64_t token_num);

#ifdef __cplusplus
}
#endif
#endif
