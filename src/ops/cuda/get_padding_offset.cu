// SPDX-License-Identifier: Apache-2.0
// get_padding_offset kernels: one block per slot computes the slot's offset
// (a block-wide sum over the slots before it: bsz is small, a few hundred at
// most) and copies its ids. Memory bound; bytes moved = 2 * token_num * 12.
#include "ops/cuda/common.cuh"
#include "ops/op_internal.h"

#define GPO_THREADS 128

static __global__ void __launch_bounds__(GPO_THREADS)
get_padding_offset_kernel(const int64_t *__restrict__ ids, int64_t bsz, int64_t max_len,
                          const int32_t *__restrict__ seq_len, int64_t token_num,
                          int64_t *__restrict__ x, int32_t *__restrict__ bid,
                          int32_t *__restrict__ cu_q, int32_t *__restrict__ cu_k, int *err,
                          int op) {
    __shared__ int64_t partial[GPO_THREADS];
    const int64_t b = blockIdx.x;
    int64_t sum = 0;
    for (int64_t i = threadIdx.x; i < b; i += blockDim.x) sum += seq_len[i];
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int s = GPO_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
        __syncthreads();
    }
    const int64_t start = partial[0];
    const int32_t len = seq_len[b];
    if (len < 0 || len > max_len) {
        if (threadIdx.x == 0) fd_kfail(err, op, FD_KERR_LENGTH, len, (int)max_len);
        return;
    }
    if (threadIdx.x == 0) {
        if (b == 0) cu_q[0] = cu_k[0] = 0;
        cu_q[b + 1] = cu_k[b + 1] = (int32_t)(start + len);
        if (b == bsz - 1 && start + len != token_num)
            fd_kfail(err, op, FD_KERR_LENGTH, (int)(start + len), (int)token_num);
    }
    for (int32_t j = threadIdx.x; j < len; j += blockDim.x) {
        int64_t dst = start + j;
        if (dst >= token_num) break;  // lengths exceed token_num: reported above
        x[dst] = ids[b * max_len + j];
        bid[dst] = (int32_t)b;
    }
}

extern "C" fd_status fd__cuda_get_padding_offset(const fd__launch *l, const int64_t *ids,
                                                 int64_t bsz, int64_t max_len,
                                                 const int32_t *seq_len, int64_t token_num,
                                                 int64_t *x, int32_t *bid, int32_t *cu_q,
                                                 int32_t *cu_k) {
    cudaStream_t st = (cudaStream_t)l->stream;
    if (bsz == 0) {  // only cu[0] = 0 to write
        cudaMemsetAsync(cu_q, 0, sizeof(int32_t), st);
        cudaMemsetAsync(cu_k, 0, sizeof(int32_t), st);
        return fd__cuda_after_launch(l);
    }
    if (bsz > 2147483647LL)
        return fd__error(FD_ERR_INVALID_ARG, "get_padding_offset: bsz %lld too large", (long long)bsz);
    get_padding_offset_kernel<<<(unsigned)bsz, GPO_THREADS, 0, st>>>(
        ids, bsz, max_len, seq_len, token_num, x, bid, cu_q, cu_k, l->err, l->op);
    return fd__cuda_after_launch(l);
}
