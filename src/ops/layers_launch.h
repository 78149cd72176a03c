// SPDX-License-Identifier: Apache-2.0
// Private: CUDA launchers (C linkage) of the layers ops, called by src/ops/<op>.c
// and defined in src/ops/cuda/<stem>.cu.
#ifndef FD_OPS_LAYERS_LAUNCH_H
#define FD_OPS_LAYERS_LAUNCH_H

#include "ops/op_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

// fused_rotary_position_encoding, validated by the caller (shapes, dtypes,
// rot_dim even and <= head_size, num_tokens <= 65536). Positions are checked
// by the kernel (fd_kfail) because they live in device memory.
typedef struct fd__rotary_args {
    void *query;                    // [num_tokens, n_q_heads * head_size]
    void *key;                      // [num_tokens, n_kv_heads * head_size] or NULL
    const int32_t *position_ids;    // [num_tokens]
    const void *cache;              // [max_position, rot_dim]: cos | sin
    fd_dtype dtype, cache_dtype;    // cache_dtype: f32 or dtype
    int64_t num_tokens, max_position;
    int n_q_heads, n_kv_heads, head_size, rot_dim, is_neox;
} fd__rotary_args;

fd_status fd__cuda_fused_rotary_position_encoding(const fd__launch *l, const fd__rotary_args *a);

// gelu_tanh over n elements; out may equal in.
fd_status fd__cuda_gelu_tanh(const fd__launch *l, fd_dtype dt, const void *in, void *out,
                             int64_t n);
fd_status fd__cuda_gelu_tanh_sm75(const fd__launch *l, fd_dtype dt, const void *in, void *out,
                                  int64_t n);

#ifdef __cplusplus
}
#endif
#endif
