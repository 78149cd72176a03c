// SPDX-License-Identifier: Apache-2.0
// gguf_get_rows kernels (SM70+): embedding lookup from a GGUF-typed table.
// One block per output row; each thread dequantizes whole 32-element units
// (4 pieces of 8) with the shared decoder (gguf_dequant.cuh).
// Roofline: memory bound, T * row_bytes read + T * D * sizeof(out) written;
// tiny next to a matmul (T rows of one table per step).
#include "ops/cuda/gguf_dequant.cuh"
#include "ops/model_launch.h"

#define GR_THREADS 128

template <typename T, int TY>
static __global__ void __launch_bounds__(GR_THREADS)
gr_kernel(const uint8_t *w, int64_t rows, int64_t d, long long row_bytes, const int32_t *ids,
          T *out, int *err, int op) {
    const int64_t i = blockIdx.x;
    const int32_t id = ids[i];
    if (id < 0 || id >= rows) {  // skip the row, report the first bad id
        if (threadIdx.x == 0) fd_kfail(err, op, FD_KERR_INDEX, id, (int)rows);
        return;
    }
    const uint8_t *row = w + (size_t)id * row_bytes;
    T *o = out + i * d;
    for (int64_t k = (int64_t)threadIdx.x * 32; k < d; k += (int64_t)blockDim.x * 32) {
        int u;
        const uint8_t *blk = gq_unit<TY>(row, k, &u);
#pragma unroll
        for (int pc = 0; pc < 4; pc++) {
            float f[8];
            gq_piece<TY>(blk, u, pc, f);
#pragma unroll
            for (int e = 0; e < 8; e++) o[k + pc * 8 + e] = fd_from_f32<T>(f[e]);
        }
    }
}

extern "C" fd_status fd__cuda_gguf_get_rows(const fd__launch *l, const fd__gguf_get_rows_args *a) {
    if (a->t == 0) return FD_OK;
    if ((uintptr_t)a->w % 2)
        return fd__error(FD_ERR_INVALID_ARG, "gguf_get_rows: w at %p is not 2-byte aligned",
                         (const void *)a->w);
    if (a->t > 2147483647LL || a->rows > 2147483647LL)
        return fd__error(FD_ERR_INVALID_ARG, "gguf_get_rows: %lld ids / %lld rows; split the call",
                         (long long)a->t, (long long)a->rows);
    cudaStream_t st = (cudaStream_t)l->stream;
    dim3 grid((unsigned)a->t);
    GQ_DISPATCH_TYPE(a->wtype, {
        if (a->dtype == FD_F16)
            gr_kernel<__half, TY><<<grid, GR_THREADS, 0, st>>>(a->w, a->rows, a->d,
                (long long)a->row_bytes, a->ids, (__half *)a->out, l->err, l->op);
        else
            gr_kernel<float, TY><<<grid, GR_THREADS, 0, st>>>(a->w, a->rows, a->d,
                (long long)a->row_bytes, a->ids, (float *)a->out, l->err, l->op);
    });
    return fd__cuda_after_launch(l);
}
