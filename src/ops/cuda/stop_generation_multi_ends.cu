// SPDX-License-Identifier: Apache-2.0
// stop_generation_multi_ends kernel: one thread per slot (a batch is at most
// a few hundred slots; each reads a handful of ids plus S*M stop-sequence
// tokens). Latency bound: the launch dominates, so one small grid and no
// shared-memory staging.
#include "ops/cuda/common.cuh"
#include "ops/postprocess_launch.h"

#define ST_THREADS 128

static __device__ bool in_list(int64_t id, const int64_t *list, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (list[i] == id) return true;
    return false;
}

// 1 on a match, 0 on none, -1 on bad input (reported).
static __device__ int stop_seq_match(const fd__stop_args &a, int64_t b, int *err, int op) {
    const int64_t step = a.step_idx[b];
    for (int64_t s = 0; s < a.n_seq; s++) {
        int64_t n = a.stop_seqs_len[b * a.n_seq + s];
        if (n <= 0) continue;
        if (n > a.seq_max) n = a.seq_max;
        if (step > a.len) {
            fd_kfail(err, op, FD_KERR_INDEX, (int)step, (int)a.len);
            return -1;
        }
        const int64_t *seq = a.stop_seqs + (b * a.n_seq + s) * a.seq_max;
        const int64_t *hist = a.pre_ids + b * a.len;
        bool ok = step - n >= 0;
        for (int64_t k = 0; ok && k < n; k++) ok = hist[step - 1 - k] == seq[n - 1 - k];
        if (ok) return 1;
    }
    return 0;
}

static __global__ void __launch_bounds__(ST_THREADS)
stop_kernel(fd__stop_args a, int *err, int op) {
    const int64_t b = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= a.bs) return;
    int64_t topk = a.topk_ids[b], next = a.next_tokens[b];
    const int64_t step = a.step_idx[b], end0 = a.end_ids[0];
    const bool was_stopped = a.stop_flags[b] != 0;
    if (a.prefill_one_step_stop) {
        if (a.seq_lens[b] == 0) topk = -1;
        a.topk_ids[b] = topk;
        a.next_tokens[b] = topk;
        a.stop_flags[b] = 1;
        return;
    }
    if (was_stopped) {
        if (a.seq_lens[b] == 0) topk = -1;
        else topk = next = end0;
    } else {
        next = topk;
    }
    const bool can_stop = !a.min_tokens || step >= a.min_tokens[b];
    bool stop = !a.beam_search && can_stop && in_list(topk, a.end_ids, a.n_end);
    if (!stop && !was_stopped) {
        if (!a.beam_search && can_stop && a.stop_tokens) {
            int64_t n = a.stop_tokens_len[b];
            n = n < 0 ? 0 : (n > a.n_stop_tok ? a.n_stop_tok : n);
            stop = in_list(topk, a.stop_tokens + b * a.n_stop_tok, n);
        }
        if (!stop && a.max_tokens) stop = step >= a.max_tokens[b];
        if (!stop && can_stop && a.stop_seqs) {
            int m = stop_seq_match(a, b, err, op);
            if (m < 0) return;  // bad input: the slot is left untouched
            stop = m == 1;
        }
    }
    if (stop) topk = next = end0;
    a.topk_ids[b] = topk;
    a.next_tokens[b] = next;
    a.stop_flags[b] = (uint8_t)(was_stopped || stop);
}

extern "C" fd_status fd__cuda_stop_generation_multi_ends(const fd__launch *l,
                                                         const fd__stop_args *a) {
    if (a->bs == 0) return FD_OK;
    if (a->bs > 65535LL * 16 * ST_THREADS)  // the grid below covers every slot
        return fd__error(FD_ERR_INVALID_ARG, "stop_generation_multi_ends: bs %lld too large",
                         (long long)a->bs);
    stop_kernel<<<fd_blocks(a->bs, ST_THREADS), ST_THREADS, 0, (cudaStream_t)l->stream>>>(
        *a, l->err, l->op);
    return fd__cuda_after_launch(l);
}
