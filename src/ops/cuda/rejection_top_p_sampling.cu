// SPDX-License-Identifier: Apache-2.0
// rejection_top_p_sampling kernel: one block of 1024 threads per row.
// 3 radix passes find the truncation threshold (histograms of count and
// fixed-point mass in shared memory), then one draw r in [0, allowed mass) and
// a tiled block scan locate the token; the scan stops at the tile holding r.
// Memory bound: about 4 reads of the row (V * 4 bytes each, the later ones
// mostly from L2: 64 rows of V 151936 are 39 MB), ~5 integer ops per element
// per pass; no sort, no rejection loop. Integer arithmetic only, so the token
// equals the C reference's.
#include "ops/cuda/sampling_select.cuh"

#define SMP_ITEMS 8  // consecutive elements per thread per tile of the final scan

static __device__ __forceinline__ uint64_t allowed_weight(const float *row, int V, int i,
                                                          uint32_t key) {
    if (i >= V) return 0;
    const float p = __ldg(row + i);
    return p > 0.0f && fd__smp_key(p) >= key ? fd__smp_weight(p) : 0;
}

// The first index whose inclusive prefix of allowed weight exceeds r (r < total).
static __device__ int locate(const float *row, int V, uint32_t key, uint64_t r,
                             smp_shared &sh) {
    if (threadIdx.x == 0) sh.token = -1;  // read only after the scan's barriers
    uint64_t run = 0;
    for (int base = 0; base < V; base += SMP_THREADS * SMP_ITEMS) {
        const int start = base + threadIdx.x * SMP_ITEMS;
        uint64_t local = 0, total;
        for (int j = 0; j < SMP_ITEMS; j++) local += allowed_weight(row, V, start + j, key);
        const uint64_t before = run + smp_scan_excl(local, sh, &total);
        if (local > 0 && before <= r && r < before + local) {  // exactly one thread
            uint64_t acc = before;
            for (int j = 0; j < SMP_ITEMS; j++) {
                acc += allowed_weight(row, V, start + j, key);
                if (r < acc) {
                    sh.token = start + j;
                    break;
                }
            }
        }
        run += total;
        __syncthreads();
        if (sh.token >= 0) break;  // uniform: every thread reads the same value
    }
    return sh.token;
}

static __global__ void __launch_bounds__(SMP_THREADS, 1)
rejection_top_p_kernel(const float *__restrict__ probs, const float *__restrict__ top_p,
                       const int64_t *__restrict__ top_k, int V, int64_t seed,
                       int64_t *__restrict__ samples, int *err, int op) {
    __shared__ smp_shared sh;
    const int64_t b = blockIdx.x;
    const float *row = probs + b * V;
    const uint64_t mass_limit = fd__smp_mass_limit(top_p[b]);
    const int64_t count_limit = fd__smp_count_limit(top_k ? top_k[b] : 0);
    const fd__smp_threshold t = smp_find_threshold<true>(row, V, mass_limit, count_limit, sh);
    const uint64_t total = t.above_mass + t.key_mass;
    if (!t.found || total == 0) {  // no probability mass: report, leave samples[b]
        if (threadIdx.x == 0) fd_kfail(err, op, SMP_KERR_BAD_ROW, (int)b, V);
        return;
    }
    const uint64_t r = fd__smp_mulhi(fd__smp_rand64(seed, b), total);
    const int tok = locate(row, V, t.key, r, sh);
    if (threadIdx.x == 0) {
        if (tok >= 0)
            samples[b] = tok;
        else  // unreachable while r < total; never write a bad id
            fd_kfail(err, op, SMP_KERR_BAD_ROW, (int)b, V);
    }
}

extern "C" fd_status fd__cuda_rejection_top_p_sampling(const fd__launch *l, const float *probs,
                                                       const float *top_p,
                                                       const int64_t *top_k, int64_t bs,
                                                       int64_t V, int64_t seed,
                                                       int64_t *samples) {
    if (bs == 0) return FD_OK;
    if (bs > 2147483647LL || V < 1 || V > FD_SMP_MAX_VOCAB)
        return fd__error(FD_ERR_INVALID_ARG,
                         "rejection_top_p_sampling: bs %lld or V %lld out of range",
                         (long long)bs, (long long)V);
    rejection_top_p_kernel<<<(unsigned)bs, SMP_THREADS, 0, (cudaStream_t)l->stream>>>(
        probs, top_p, top_k, (int)V, seed, samples, l->err, l->op);
    return fd__cuda_after_launch(l);
}
