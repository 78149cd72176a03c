// SPDX-License-Identifier: Apache-2.0
// Block-level pieces shared by the sampling kernels (top_k_renorm_probs,
// rejection_top_p_sampling): one block of SMP_THREADS per row, block scans and
// sums, and the radix threshold search whose C twin is fd__smp_threshold_ref.
// All integer arithmetic, so a block finds exactly the key the reference finds.
#ifndef FD_OPS_CUDA_SAMPLING_SELECT_CUH
#define FD_OPS_CUDA_SAMPLING_SELECT_CUH

#include "ops/cuda/common.cuh"
#include "ops/sampling_launch.h"

#define SMP_THREADS 1024  // a multiple of 32 that divides 1024, the smallest histogram
#define SMP_WARPS (SMP_THREADS / 32)

// A row the kernel could not sample from; fd_ctx_sync reports "invalid input"
// with the row index and V.
#define SMP_KERR_BAD_ROW 3

struct smp_shared {
    unsigned long long mass[FD_SMP_MAX_BINS];
    unsigned int count[FD_SMP_MAX_BINS];
    unsigned long long scan[SMP_WARPS];
    float fsum[SMP_WARPS];
    fd__smp_threshold t;
    int pick;
    int token;
};

// Exclusive prefix sum of v in thread order; *total = the block's sum.
// Every thread must call it (it synchronises).
static __device__ __forceinline__ uint64_t smp_scan_excl(uint64_t v, smp_shared &sh,
                                                         uint64_t *total) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    uint64_t x = v;
    for (int o = 1; o < 32; o <<= 1) {
        uint64_t y = __shfl_up_sync(0xffffffffu, x, o);
        if (lane >= o) x += y;
    }
    if (lane == 31) sh.scan[warp] = x;
    __syncthreads();
    if (warp == 0) {
        uint64_t w = lane < SMP_WARPS ? sh.scan[lane] : 0;
        for (int o = 1; o < 32; o <<= 1) {
            uint64_t y = __shfl_up_sync(0xffffffffu, w, o);
            if (lane >= o) w += y;
        }
        if (lane < SMP_WARPS) sh.scan[lane] = w;
    }
    __syncthreads();
    const uint64_t before = warp ? sh.scan[warp - 1] : 0;
    *total = sh.scan[SMP_WARPS - 1];
    __syncthreads();  // sh.scan is reused by the next call
    return before + x - v;
}

// Sum of v over the block, the same value in every thread (fixed order).
static __device__ __forceinline__ float smp_sum(float v, smp_shared &sh) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) sh.fsum[warp] = v;
    __syncthreads();
    float s = 0.0f;
    for (int w = 0; w < SMP_WARPS; w++) s += sh.fsum[w];
    __syncthreads();
    return s;
}

// Histogram (count and, with MASS, fixed-point mass) of the positive entries
// whose key matches `prefix` above this pass's digit.
template <bool MASS>
static __device__ __forceinline__ void smp_histogram(const float *row, int V, int pass,
                                                     uint32_t prefix, smp_shared &sh) {
    const int shift = fd__smp_pass_shift(pass), bits = fd__smp_pass_bits(pass), nb = 1 << bits;
    for (int i = threadIdx.x; i < nb; i += SMP_THREADS) {
        sh.count[i] = 0;
        if (MASS) sh.mass[i] = 0;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < V; i += SMP_THREADS) {
        const float p = __ldg(row + i);
        if (!(p > 0.0f)) continue;
        const uint32_t k = fd__smp_key(p);
        if ((k >> (shift + bits)) != prefix) continue;
        const uint32_t d = (k >> shift) & (uint32_t)(nb - 1);
        atomicAdd(&sh.count[d], 1u);
        if (MASS) atomicAdd(&sh.mass[d], (unsigned long long)fd__smp_weight(p));
    }
    __syncthreads();
}

// The lowest non-empty bin whose largest key is allowed (the serial scan of the
// reference, done as a block suffix scan + atomicMin); updates t. -1: no bin.
template <bool MASS>
static __device__ __forceinline__ int smp_pick(int nb, uint64_t mass_limit,
                                               int64_t count_limit, smp_shared &sh,
                                               fd__smp_threshold &t) {
    const int per = nb / SMP_THREADS, j0 = threadIdx.x * per;  // bins in descending order
    uint64_t lc = 0, lm = 0, total;
    for (int i = 0; i < per; i++) {
        lc += sh.count[nb - 1 - (j0 + i)];
        if (MASS) lm += sh.mass[nb - 1 - (j0 + i)];
    }
    if (threadIdx.x == 0) sh.pick = nb;
    uint64_t cb = smp_scan_excl(lc, sh, &total);
    uint64_t mb = MASS ? smp_scan_excl(lm, sh, &total) : 0;
    int mine = nb;
    uint64_t my_m = 0;
    int64_t my_c = 0;
    for (int i = 0; i < per; i++) {
        const int d = nb - 1 - (j0 + i);
        const uint32_t c = sh.count[d];
        const uint64_t m_before = t.above_mass + mb;
        const int64_t c_before = t.above_count + (int64_t)cb;
        if (c > 0 && m_before < mass_limit && c_before < count_limit)
            mine = d, my_m = m_before, my_c = c_before;
        cb += c;
        if (MASS) mb += sh.mass[d];
    }
    if (mine < nb) atomicMin(&sh.pick, mine);
    __syncthreads();
    const int pick = sh.pick;
    if (pick < nb && mine == pick) {
        sh.t.above_mass = my_m;
        sh.t.above_count = my_c;
        sh.t.key_mass = MASS ? (uint64_t)sh.mass[pick] : 0;
    }
    __syncthreads();
    if (pick == nb) return -1;
    t.above_mass = sh.t.above_mass;
    t.above_count = sh.t.above_count;
    t.key_mass = sh.t.key_mass;
    return pick;
}

// The smallest key v in the row with mass(> v) < mass_limit and count(> v) < count_limit.
template <bool MASS>
static __device__ __forceinline__ fd__smp_threshold
smp_find_threshold(const float *row, int V, uint64_t mass_limit, int64_t count_limit,
                   smp_shared &sh) {
    fd__smp_threshold t;
    t.key = 0;
    t.found = 0;
    t.above_mass = t.key_mass = 0;
    t.above_count = 0;
    uint32_t prefix = 0;
    for (int pass = 0; pass < FD_SMP_PASSES; pass++) {
        smp_histogram<MASS>(row, V, pass, prefix, sh);
        const int pick = smp_pick<MASS>(1 << fd__smp_pass_bits(pass), mass_limit, count_limit,
                                        sh, t);
        if (pick < 0) return t;  // pass 0 only: no positive entry
        prefix = (prefix << fd__smp_pass_bits(pass)) | (uint32_t)pick;
    }
    t.key = prefix;
    t.found = 1;
    return t;
}

#endif
