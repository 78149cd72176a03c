// SPDX-License-Identifier: Apache-2.0
// tritonmoe_preprocess kernel: one 1024-thread block does the whole counting
// sort in shared memory. The input is cut into S contiguous segments, one warp
// each; per-(segment, bucket) counters give every segment its own cursor, and
// inside a warp __match_any_sync ranks equal buckets by lane, so the order
// within an expert is ascending flat index with no atomics deciding it.
// Latency bound on one SM: numel*16 bytes read (ids twice), P*4 written; for a
// decode batch (numel <= 2048) it is a few microseconds, like upstream's
// single-block alignment kernel.
#include <limits.h>

#include "ops/cuda/common.cuh"
#include "ops/moe_launch.h"

#define AL_THREADS 1024
#define AL_SMEM_INTS (48 * 1024 / 4)

static __device__ __forceinline__ int al_clamp(int64_t v) {
    return (int)(v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : v);
}

// Bucket of an id (0 = dropped, -1 as id), or -1 when the id is invalid.
static __device__ __forceinline__ int al_bucket(int64_t id, int e) {
    return (id >= -1 && id < e) ? (int)id + 1 : -1;
}

// Exclusive scan of v[0..n) in place by the whole block; returns the total.
static __device__ int al_block_scan(int *v, int n, int *warp_sums) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int per = (n + AL_THREADS - 1) / AL_THREADS, lo = tid * per;
    const int hi = min(lo + per, n);
    int local = 0;
    for (int b = lo; b < hi; b++) local += v[b];
    int incl = local;
    for (int o = 1; o < 32; o <<= 1) {
        int y = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += y;
    }
    if (lane == 31) warp_sums[warp] = incl;
    __syncthreads();
    if (warp == 0) {
        int w = warp_sums[lane], wi = w;
        for (int o = 1; o < 32; o <<= 1) {
            int y = __shfl_up_sync(0xffffffffu, wi, o);
            if (lane >= o) wi += y;
        }
        warp_sums[lane] = wi - w;  // exclusive prefix of the warps
        if (lane == 31) warp_sums[32] = wi;
    }
    __syncthreads();
    int run = warp_sums[warp] + incl - local;
    for (int b = lo; b < hi; b++) {
        int c = v[b];
        v[b] = run;
        run += c;
    }
    int total = warp_sums[32];
    __syncthreads();
    return total;
}

// Largest bucket whose start offset is <= row (off is non-decreasing, off[0] = 0).
static __device__ __forceinline__ int al_bucket_of_row(const int *off, int nb, int64_t row) {
    int lo = 0, hi = nb;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (off[mid] <= row) lo = mid + 1; else hi = mid;
    }
    return lo - 1;
}

static __global__ void __launch_bounds__(AL_THREADS)
moe_align_kernel(const int64_t *__restrict__ ids, int64_t numel, int e, int m, int nseg,
                 int32_t *__restrict__ sorted, int64_t cap, int32_t *__restrict__ experts,
                 int64_t blocks, int32_t *__restrict__ total_out, int *err, int op) {
    extern __shared__ int smem[];
    const int nb = e + 1, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    int *seg = smem, *off = smem + nseg * nb, *warp_sums = off + nb;  // [nseg][nb], [nb], [33]
    for (int i = tid; i < nseg * nb; i += AL_THREADS) seg[i] = 0;
    __syncthreads();
    const int64_t len = (numel + nseg - 1) / nseg;
    const int64_t beg = (int64_t)warp * len, end = min(beg + len, numel);
    if (warp < nseg)  // 1. count per (segment, bucket)
        for (int64_t i = beg + lane; i < end; i += 32) {
            int b = al_bucket(ids[i], e);
            if (b < 0) fd_kfail(err, op, FD_KERR_INDEX, al_clamp(ids[i]), e);
            else atomicAdd(&seg[warp * nb + b], 1);
        }
    __syncthreads();
    for (int b = tid; b < nb; b += AL_THREADS) {  // 2. segment prefix; padded bucket size
        int run = 0;
        for (int s = 0; s < nseg; s++) {
            int c = seg[s * nb + b];
            seg[s * nb + b] = run;
            run += c;
        }
        off[b] = (int)(((int64_t)run + m - 1) / m * m);  // <= cap <= INT32_MAX
    }
    __syncthreads();
    const int total = al_block_scan(off, nb, warp_sums);  // 3. bucket start offsets
    if (tid == 0) total_out[0] = total;
    for (int64_t q = tid; q < blocks; q += AL_THREADS)   // 4. expert per block, sentinels
        experts[q] = q * m < total ? al_bucket_of_row(off, nb, q * m) - 1 : -1;
    for (int64_t i = tid; i < cap; i += AL_THREADS) sorted[i] = (int32_t)numel;
    for (int i = tid; i < nseg * nb; i += AL_THREADS) seg[i] += off[i % nb];
    __syncthreads();  // the sentinel stores are visible block-wide before the scatter
    if (warp >= nseg) return;
    const unsigned lt = (1u << lane) - 1u;
    for (int64_t base = beg; base < end; base += 32) {  // 5. stable scatter
        int64_t i = base + lane;
        int b = i < end ? al_bucket(ids[i], e) : -1;
        unsigned peers = __match_any_sync(0xffffffffu, b);
        int *cursor = &seg[warp * nb + (b < 0 ? 0 : b)];
        if (b >= 0) {
            int64_t dst = (int64_t)*cursor + __popc(peers & lt);
            if (dst < cap) sorted[dst] = (int32_t)i;
            else fd_kfail(err, op, FD_KERR_LENGTH, al_clamp(dst), (int)cap);
        }
        __syncwarp();
        if (b >= 0 && (peers & lt) == 0) *cursor += __popc(peers);
        __syncwarp();
    }
}

extern "C" fd_status fd__cuda_tritonmoe_preprocess(const fd__launch *l, const int64_t *topk_ids,
                                                   int64_t numel, int num_experts,
                                                   int block_size, int32_t *sorted_ids,
                                                   int64_t capacity, int32_t *experts_ids,
                                                   int64_t num_blocks,
                                                   int32_t *num_tokens_post_pad) {
    const int nb = num_experts + 1;
    int nseg = (AL_SMEM_INTS - 33) / nb - 1;  // counters, offsets and warp sums fit 48 KiB
    if (nseg < 1)
        return fd__error(FD_ERR_INVALID_ARG, "tritonmoe_preprocess: %d experts exceed the %d "
                         "the CUDA variant holds in shared memory", num_experts,
                         FD_MOE_ALIGN_MAX_EXPERTS);
    int64_t useful = (numel + 31) / 32;  // no more segments than warps' worth of work
    if (nseg > AL_THREADS / 32) nseg = AL_THREADS / 32;
    if (nseg > useful) nseg = useful < 1 ? 1 : (int)useful;
    size_t smem = ((size_t)(nseg + 1) * nb + 33) * sizeof(int);
    moe_align_kernel<<<1, AL_THREADS, smem, (cudaStream_t)l->stream>>>(
        topk_ids, numel, num_experts, block_size, nseg, sorted_ids, capacity, experts_ids,
        num_blocks, num_tokens_post_pad, l->err, l->op);
    return fd__cuda_after_launch(l);
}
