// SPDX-License-Identifier: Apache-2.0
// speculate_verify kernel: one thread per slot walks its drafts (at most D of them,
// each compared with up to C candidates). Latency bound, not bandwidth bound: it
// reads ~D*(C+1)*8 bytes per slot and does no arithmetic to speak of; one launch of
// ceil(bsz/128) blocks. Each thread first checks every access of its slot, then
// writes, so a slot with bad input is left untouched (reported via fd_kfail).
#include "ops/cuda/common.cuh"
#include "ops/speculate_launch.h"

#define SV_THREADS 128

typedef fd__spec_verify_args sv_args;

struct sv_slot {
    int64_t b, base, step;
    int32_t n;
    bool stop_flag, stopped, commit;
};

// Reports a bad access once (first error wins) and returns false.
static __device__ bool sv_fail(const fd__launch &l, int kind, int64_t v, int64_t lim) {
    fd_kfail(l.err, l.op, kind, (int)(v > INT32_MAX ? INT32_MAX : v), (int)lim);
    return false;
}

static __device__ bool sv_col_ok(const sv_args &a, const fd__launch &l, int64_t col) {
    return col < a.draft_cols || sv_fail(l, FD_KERR_INDEX, col, a.draft_cols);
}
static __device__ bool sv_row_ok(const sv_args &a, const fd__launch &l, int64_t row) {
    return (row >= 0 && row < a.total_out) || sv_fail(l, FD_KERR_INDEX, row, a.total_out);
}
static __device__ bool sv_cands(const sv_args &a, const fd__launch &l, int64_t row,
                                int64_t *len) {
    int32_t v = a.actual_candidate_len[row];
    if (v < 0) return sv_fail(l, FD_KERR_LENGTH, v, a.cands);
    *len = v < a.cands ? v : a.cands;
    return true;
}

// Stores tok at column pos (end_tokens[0] at max_dec_len); true when the slot stops.
static __device__ bool sv_put(const sv_args &a, sv_slot &s, int64_t pos, int64_t tok) {
    bool at_max = s.step >= a.max_dec_len[s.b], end = false;
    for (int64_t k = 0; k < a.end_len && !end; k++) end = a.end_tokens[k] == tok;
    if (s.commit) a.accept_tokens[s.b * a.draft_cols + pos] = at_max ? a.end_tokens[0] : tok;
    if (at_max || end) s.stop_flag = s.stopped = true;
    return at_max || end;
}

// Top-2 window after a rejected draft at column i+1 (see the C reference).
static __device__ bool sv_window(const sv_args &a, const fd__launch &l, sv_slot &s,
                                 int64_t *pi) {
    const int64_t C = a.cands, w = a.verify_window, last = a.seq_lens_this_time[s.b] - 1;
    const int64_t *draft = a.draft_tokens + s.b * a.draft_cols;
    int64_t i = *pi, ii = i + 1, j = 0;
    if (C < 2 || a.verify_tokens[(s.base + i) * C + 1] != draft[i + 1]) return true;
    for (; j < w && ii < last; j++, ii++) {
        if (!sv_col_ok(a, l, ii + 1) || !sv_row_ok(a, l, s.base + ii)) return false;
        if (a.verify_tokens[(s.base + ii) * C] != draft[ii + 1]) break;
    }
    if (j < w) return true;
    s.n += (int32_t)(w + 1);
    s.step += w + 1;
    for (; i < ii; i++) {
        if (sv_put(a, s, i, draft[i + 1])) {
            s.n--;
            s.step--;
            break;
        }
    }
    *pi = i;
    return true;
}

static __device__ bool sv_drafts(const sv_args &a, const fd__launch &l, sv_slot &s,
                                 int64_t *pi) {
    const int64_t C = a.cands, last = a.seq_lens_this_time[s.b] - 1;
    const int64_t *draft = a.draft_tokens + s.b * a.draft_cols;
    int64_t i = 0;
    for (; i < last; i++) {
        if ((a.flags & FD_SPEC_VERIFY_BENCHMARK) || a.seq_lens_encoder[s.b] != 0) break;
        if (!sv_col_ok(a, l, i + 1)) return false;
        const int64_t d = draft[i + 1], row = s.base + i;
        bool ok = true;
        if (!(a.flags & FD_SPEC_VERIFY_ACCEPT_ALL)) {
            if (!sv_row_ok(a, l, row)) return false;
            if (a.flags & FD_SPEC_VERIFY_TARGET_SAMPLING) {
                ok = a.sampled[row] == d;
            } else if (a.flags & FD_SPEC_VERIFY_TOP1) {
                ok = a.verify_tokens[row * C] == d;
            } else {
                int64_t len;
                if (!sv_cands(a, l, row, &len)) return false;
                ok = false;
                for (int64_t k = 0; k < len && !ok; k++) ok = a.verify_tokens[row * C + k] == d;
                if (!ok) {
                    if (!sv_window(a, l, s, &i)) return false;
                    break;
                }
            }
        }
        if (!ok) break;
        s.step++;
        if (sv_put(a, s, i, d)) break;
        s.n++;
    }
    *pi = i;
    return true;
}

// Same float operations in the same order as the C reference: identical picks.
static __device__ int64_t sv_topp(const int64_t *ids, const float *scores, int64_t len,
                                  float p, float u) {
    float sum = 0.0f;
    for (int64_t k = 0; k < len; k++) sum = __fadd_rn(sum, scores[k]);
    float r = __fmul_rn(u, sum < p ? sum : p);
    sum = 0.0f;
    for (int64_t k = 0; k < len; k++) {
        sum = __fadd_rn(sum, scores[k]);
        if (r <= sum) return ids[k];
    }
    return ids[0];
}

static __device__ bool sv_target(const sv_args &a, const fd__launch &l, sv_slot &s,
                                 int64_t i) {
    const int64_t C = a.cands, row = s.base + i;
    if (!sv_col_ok(a, l, i) || !sv_row_ok(a, l, row)) return false;
    int64_t tok, len;
    s.step++;
    if (a.flags & FD_SPEC_VERIFY_TARGET_SAMPLING) {
        tok = a.sampled[row];
    } else if (a.flags & FD_SPEC_VERIFY_TOPP) {
        if (!sv_cands(a, l, row, &len)) return false;
        tok = sv_topp(a.verify_tokens + row * C, a.verify_scores + row * C, len, a.topp[s.b],
                      fd__spec_uniform(a.seed, a.offset, s.b));
    } else {
        tok = a.verify_tokens[row * C];
    }
    if (a.flags & FD_SPEC_VERIFY_PREFILL_ONE_STEP_STOP) s.stop_flag = true;
    sv_put(a, s, i, tok);
    return true;
}

static __device__ bool sv_run_slot(const sv_args &a, const fd__launch &l, int64_t b,
                                   bool commit) {
    sv_slot s;
    s.b = b;
    s.base = b * (int64_t)a.max_seq_len - a.output_cum_offsets[b];
    s.step = a.step_idx[b];
    s.n = 1;
    s.stop_flag = s.stopped = false;
    s.commit = commit;
    int64_t i = 0;
    if (!sv_drafts(a, l, s, &i)) return false;
    if (!s.stopped && !sv_target(a, l, s, i)) return false;
    if (commit) {
        a.step_idx[b] = s.step;
        if (s.stop_flag) a.stop_flags[b] = 1;
        a.accept_num[b] = s.n;
    }
    return true;
}

static __global__ void __launch_bounds__(SV_THREADS)
speculate_verify_kernel(const sv_args a, const fd__launch l) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t b = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; b < a.real_bsz;
         b += stride) {
        const int32_t len = a.seq_lens_this_time[b];
        if (len < 0) {
            fd_kfail(l.err, l.op, FD_KERR_LENGTH, len, 0);
            continue;
        }
        if (a.is_block_step[b] || a.stop_flags[b]) continue;
        if (sv_run_slot(a, l, b, false)) sv_run_slot(a, l, b, true);
    }
}

extern "C" fd_status fd__cuda_speculate_verify(const fd__launch *l, const fd__spec_verify_args *a) {
    if (a->real_bsz == 0) return FD_OK;
    speculate_verify_kernel<<<fd_blocks(a->real_bsz, SV_THREADS), SV_THREADS, 0,
                              (cudaStream_t)l->stream>>>(*a, *l);
    return fd__cuda_after_launch(l);
}
