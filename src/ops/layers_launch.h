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

// qkv_bias_rms_norm, validated by the caller: at least one of bias, q_norm,
// k_norm is set, 1 <= head_dim <= 256, no input overlaps qkv.
typedef struct fd__qkv_norm_args {
    void *qkv;                      // [t, (n_q_heads + 2*n_kv_heads) * head_dim], in place
    const float *bias;              // [(n_q_heads + 2*n_kv_heads) * head_dim] or NULL
    const float *q_norm, *k_norm;   // [head_dim] or NULL
    int64_t t;
    int n_q_heads, n_kv_heads, head_dim;
    float eps;
    fd_dtype dtype;
} fd__qkv_norm_args;

// Heads [*h0, *h1) of a row that have work: all of them with a bias; without
// one, the q heads (if q_norm) through the k heads (if k_norm). Every head in
// the range has a bias or a norm; the rest are neither read nor written.
static inline void fd__qkv_norm_heads(const fd__qkv_norm_args *a, int *h0, int *h1) {
    int nq = a->n_q_heads, nkv = a->n_kv_heads;
    *h0 = a->bias || a->q_norm ? 0 : nq;
    *h1 = a->bias ? nq + 2 * nkv : a->k_norm ? nq + nkv : nq;
}

fd_status fd__cuda_qkv_bias_rms_norm(const fd__launch *l, const fd__qkv_norm_args *a);

// The C side's tanh-GELU of one f32 value (src/ops/gelu_tanh.c), shared with
// gelu_tanh_and_mul's reference.
float fd__gelu_tanh_ref(float x);

// gelu_tanh over n elements; out may equal in.
fd_status fd__cuda_gelu_tanh(const fd__launch *l, fd_dtype dt, const void *in, void *out,
                             int64_t n);
fd_status fd__cuda_gelu_tanh_sm75(const fd__launch *l, fd_dtype dt, const void *in, void *out,
                                  int64_t n);

#ifdef __cplusplus
}
#endif
#endif
