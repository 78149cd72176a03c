// SPDX-License-Identifier: Apache-2.0
// speculate_update kernel: one block strides over the slots (a few hundred to a
// few thousand) and counts the stopped ones with a shared-memory tree reduction,
// so not_need_stop needs no second launch and the sum is deterministic. Latency
// bound: ~40 bytes per slot, no arithmetic.
#include "ops/cuda/common.cuh"
#include "ops/speculate_launch.h"

#define SU_THREADS 1024

typedef fd__spec_update_args su_args;

static __device__ int32_t su_next_draft_count(int64_t cur, int64_t accepted, int64_t cols) {
    if (accepted - 1 == cur) {
        if (cur + 2 <= cols - 1) return (int32_t)(cur + 2);
        if (cur + 1 <= cols - 1) return (int32_t)(cur + 1);
        return (int32_t)(cols - 1);
    }
    return cur - 1 >= 1 ? (int32_t)(cur - 1) : 1;
}

// Updates slot b (not preempted, b < real_bsz, accept_num checked); 1 if stopped.
static __device__ int su_slot(const su_args &a, int64_t b) {
    const int64_t an = a.accept_num[b], enc = a.seq_lens_encoder[b], D = a.draft_cols;
    const bool stop = a.stop_flags[b] != 0;
    const int32_t len = a.seq_lens_this_time[b];
    int64_t dec = a.seq_lens_decoder[b];
    if (a.mode == FD_SPEC_UPDATE_ROLLBACK) {
        if (!stop && enc == 0) dec += an;
        a.mask_rollback[b] = stop || enc != 0 ? 0 : (int32_t)(len - an);
    } else if (enc == 0) {
        dec += an;
    }
    if (enc == 0 && len > 1)
        a.actual_draft_token_nums[b] = su_next_draft_count(a.actual_draft_token_nums[b], an, D);
    if (enc != 0) {
        dec += enc;
        a.seq_lens_encoder[b] = 0;
    }
    if (an >= 1) a.draft_tokens[b * D] = a.accept_tokens[b * D + an - 1];
    if (a.mode == FD_SPEC_UPDATE_V3 && stop) dec = 0;
    a.seq_lens_decoder[b] = (int32_t)dec;
    return stop ? 1 : 0;
}

static __global__ void __launch_bounds__(SU_THREADS)
speculate_update_kernel(const su_args a, int *err, int op) {
    __shared__ int64_t part[SU_THREADS];
    int64_t stopped = 0;
    for (int64_t b = threadIdx.x; b < a.max_bsz; b += SU_THREADS) {
        if (b >= a.real_bsz) {
            stopped++;
            continue;
        }
        if (a.is_block_step[b]) continue;
        const int32_t an = a.accept_num[b];
        if (an < 0 || an > a.draft_cols) {  // bad slot: left untouched, reported
            fd_kfail(err, op, FD_KERR_INDEX, an, (int)a.draft_cols);
            continue;
        }
        stopped += su_slot(a, b);
    }
    part[threadIdx.x] = stopped;
    __syncthreads();
    for (int s = SU_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) a.not_need_stop[0] = part[0] < a.stop_nums[0];
}

extern "C" fd_status fd__cuda_speculate_update(const fd__launch *l, const fd__spec_update_args *a) {
    speculate_update_kernel<<<1, SU_THREADS, 0, (cudaStream_t)l->stream>>>(*a, l->err, l->op);
    return fd__cuda_after_launch(l);
}
