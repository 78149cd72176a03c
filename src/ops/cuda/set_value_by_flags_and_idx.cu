// SPDX-License-Identifier: Apache-2.0
// set_value_by_flags_and_idx kernel: one thread per slot, one int64 copied
// per active slot. Latency bound (a few hundred bytes per step); the launch
// is the cost, so it is a single small grid.
#include "ops/cuda/common.cuh"
#include "ops/postprocess_launch.h"

#define SV_THREADS 128

static __global__ void __launch_bounds__(SV_THREADS)
set_value_kernel(fd__set_value_args a, int *err, int op) {
    const int64_t b = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= a.bs || a.stop_flags[b]) return;
    const int32_t enc = a.enc[b], dec = a.dec[b];
    if (enc == 0 && dec == 0) return;
    const int64_t step = a.step_idx[b];
    if (step <= 0) return;
    if (enc < 0 || enc > a.in_len || a.in_len < 1) {
        fd_kfail(err, op, FD_KERR_INDEX, enc, (int)b);
        return;
    }
    const int64_t plen = a.prompt_lens ? a.prompt_lens[b] : 0;
    const int64_t pos = plen + step;
    if (plen < 0 || pos >= a.len) {
        fd_kfail(err, op, FD_KERR_INDEX, (int)pos, (int)a.len);
        return;
    }
    const int64_t col = enc > 0 ? enc - 1 : 0;
    a.pre_ids[b * a.len + pos] = a.input_ids[b * a.in_len + col];
}

extern "C" fd_status fd__cuda_set_value_by_flags_and_idx(const fd__launch *l,
                                                         const fd__set_value_args *a) {
    if (a->bs == 0) return FD_OK;
    if (a->bs > 65535LL * 16 * SV_THREADS)  // the grid below covers every slot
        return fd__error(FD_ERR_INVALID_ARG, "set_value_by_flags_and_idx: bs %lld too large",
                         (long long)a->bs);
    set_value_kernel<<<fd_blocks(a->bs, SV_THREADS), SV_THREADS, 0,
                       (cudaStream_t)l->stream>>>(*a, l->err, l->op);
    return fd__cuda_after_launch(l);
}
