// SPDX-License-Identifier: Apache-2.0
// Private to the ops layer: the CUDA launchers (C linkage, src/ops/cuda/<stem>.cu)
// that each op's dispatcher calls once the op table picked the variant.
#ifndef FD_OPS_OP_INTERNAL_H
#define FD_OPS_OP_INTERNAL_H

#include <stdint.h>
#include "core/internal.h"
#include "platform/launch.h"
#include "platform/op_table.h"

#ifdef __cplusplus
extern "C" {
#endif

fd_status fd__cuda_get_padding_offset(const fd__launch *l, const int64_t *input_ids,
                                      int64_t bsz, int64_t max_len, const int32_t *seq_len,
                                      int64_t token_num, int64_t *x_remove_padding,
                                      int32_t *batch_id_per_token, int32_t *cu_seqlens_q,
                                      int32_t *cu_seqlens_k);

typedef struct fd__rebuild_padding_args {
    const void *tmp_out;             // [token_num, dim]
    int64_t token_num, dim;
    size_t elem_size;
    const int32_t *cu_seqlens_q, *seq_len_this_time, *seq_lens_decoder, *seq_lens_encoder;
    int64_t bsz;
    const int32_t *output_padding_offset;  // NULL in mode A
    void *first_token_out;                 // NULL or [bsz, dim]
    int max_input_length, enable_logprob;
    void *out;
    int64_t out_rows;
} fd__rebuild_padding_args;

fd_status fd__cuda_rebuild_padding(const fd__launch *l, const fd__rebuild_padding_args *a);

// Every op's self-check (fd_selftest_run), defined at the end of src/ops/<op>.c.
#include "fdeploy/selftest.h"
#define FD_OP(name, dtypes, summary)                                          \
    fd_check_result fd__check_##name(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail, \
                                     size_t detail_size);
#define FD_CUDA(op, stem, min_sm, dtypes)
#include "ops/ops.def"
#undef FD_OP
#undef FD_CUDA

#ifdef __cplusplus
}
#endif
#endif
