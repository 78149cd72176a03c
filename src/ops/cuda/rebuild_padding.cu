// SPDX-License-Identifier: Apache-2.0
// rebuild_padding kernels: one block per output row, copying the row with the
// widest vector (16, 4 or 2 bytes) that the row size and pointers allow.
// dtype-agnostic: a row is dim * elem_size bytes. Memory bound.
#include "ops/cuda/common.cuh"
#include "ops/op_internal.h"

#define RP_THREADS 128

// Source row of output row t, -1 = zero row, -2 = bad input (reported).
static __device__ int64_t source_row(const fd__rebuild_padding_args &a, int64_t t,
                                     int64_t *slot, int *err, int op) {
    int64_t b = t, local = 0;
    if (a.output_padding_offset) {
        int64_t ori = t + a.output_padding_offset[t];
        b = ori / a.max_input_length;
        local = ori - b * a.max_input_length;
        if (ori < 0 || b >= a.bsz) {
            fd_kfail(err, op, FD_KERR_INDEX, (int)ori, (int)t);
            return -2;
        }
    }
    *slot = b;
    if (a.seq_len_this_time[b] == 0) return -1;
    if (a.seq_lens_decoder[b] == 0 && a.seq_lens_encoder[b] == 0) return -1;
    int64_t off = a.seq_lens_encoder[b] > 0 ? a.seq_lens_encoder[b] - 1 : 0;
    int64_t src = (int64_t)a.cu_seqlens_q[b] + local + off;
    if (src < 0 || src >= a.token_num) {
        fd_kfail(err, op, FD_KERR_INDEX, (int)src, (int)a.token_num);
        return -2;
    }
    return src;
}

template <typename V>
static __global__ void __launch_bounds__(RP_THREADS)
rebuild_padding_kernel(fd__rebuild_padding_args a, int *err, int op) {
    const int64_t t = blockIdx.x;
    const int64_t n = (int64_t)(a.dim * a.elem_size / sizeof(V));
    __shared__ int64_t s_src, s_slot;
    if (threadIdx.x == 0) {
        int64_t slot = 0;
        s_src = source_row(a, t, &slot, err, op);
        s_slot = slot;
    }
    __syncthreads();
    const int64_t src = s_src;
    if (src == -2) return;  // bad input: leave the row untouched
    V *out = (V *)a.out + t * n;
    const V *in = (const V *)a.tmp_out;
    if (src < 0) {
        V zero;
        memset(&zero, 0, sizeof zero);
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) out[i] = zero;
        return;
    }
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) out[i] = in[src * n + i];
    if (a.output_padding_offset && a.enable_logprob && a.first_token_out &&
        a.seq_lens_encoder[s_slot] > 0 && src > 0) {
        V *first = (V *)a.first_token_out + s_slot * n;
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) first[i] = in[(src - 1) * n + i];
    }
}

static int aligned(const void *p, size_t a) { return ((uintptr_t)p % a) == 0; }

extern "C" fd_status fd__cuda_rebuild_padding(const fd__launch *l,
                                              const fd__rebuild_padding_args *a) {
    if (a->out_rows == 0) return FD_OK;
    if (a->out_rows > 2147483647LL)
        return fd__error(FD_ERR_INVALID_ARG, "rebuild_padding: too many rows");
    size_t row = (size_t)a->dim * a->elem_size;
    int ok16 = row % 16 == 0 && aligned(a->tmp_out, 16) && aligned(a->out, 16) &&
               (!a->first_token_out || aligned(a->first_token_out, 16));
    int ok4 = row % 4 == 0 && aligned(a->tmp_out, 4) && aligned(a->out, 4) &&
              (!a->first_token_out || aligned(a->first_token_out, 4));
    dim3 grid((unsigned)a->out_rows);
    cudaStream_t st = (cudaStream_t)l->stream;
    if (ok16)
        rebuild_padding_kernel<uint4><<<grid, RP_THREADS, 0, st>>>(*a, l->err, l->op);
    else if (ok4)
        rebuild_padding_kernel<uint32_t><<<grid, RP_THREADS, 0, st>>>(*a, l->err, l->op);
    else
        rebuild_padding_kernel<uint16_t><<<grid, RP_THREADS, 0, st>>>(*a, l->err, l->op);
    return fd__cuda_after_launch(l);
}
