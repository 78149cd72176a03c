// SPDX-License-Identifier: Apache-2.0
// top_k_renorm_probs kernel: one block of 1024 threads per row. 3 radix
// passes (count histograms in shared memory) find the k-th largest value, then
// a block sum of the kept entries and a scaling pass. Rows with no truncation
// are a plain copy (or nothing, in place). Memory bound: 5 reads + 1 write of
// the row (V * 4 bytes each; the repeated reads mostly hit L2), a few integer
// ops per element per pass.
#include "ops/cuda/sampling_select.cuh"

static __device__ __forceinline__ bool kept(float p, const fd__smp_threshold &t) {
    return t.found && p > 0.0f && fd__smp_key(p) >= t.key;
}

// probs and out may be the same buffer: each element is read before the one
// thread that owns it writes it, after every other read of the row.
static __global__ void __launch_bounds__(SMP_THREADS, 1)
top_k_renorm_kernel(const float *probs, const int64_t *__restrict__ top_k, int V, float *out) {
    __shared__ smp_shared sh;
    const int64_t b = blockIdx.x;
    const float *row = probs + b * V;
    float *orow = out + b * V;
    const int64_t k = top_k[b];
    if (k <= 0 || k >= V) {
        if (orow != row)
            for (int i = threadIdx.x; i < V; i += SMP_THREADS) orow[i] = row[i];
        return;
    }
    const fd__smp_threshold t = smp_find_threshold<false>(row, V, FD_SMP_NO_LIMIT, k, sh);
    float local = 0.0f;
    for (int i = threadIdx.x; i < V; i += SMP_THREADS) {
        const float p = row[i];
        if (kept(p, t)) local += p;
    }
    float s = smp_sum(local, sh);
    s = s < 1e-8f ? 1e-8f : s;
    for (int i = threadIdx.x; i < V; i += SMP_THREADS) {
        const float p = row[i];
        orow[i] = kept(p, t) ? p / s : 0.0f;
    }
}

extern "C" fd_status fd__cuda_top_k_renorm_probs(const fd__launch *l, const float *probs,
                                                 const int64_t *top_k, int64_t bs, int64_t V,
                                                 float *out) {
    if (bs == 0 || V == 0) return FD_OK;
    if (bs > 2147483647LL || V > 2147483647LL)
        return fd__error(FD_ERR_INVALID_ARG, "top_k_renorm_probs: bs %lld or V %lld too large",
                         (long long)bs, (long long)V);
    top_k_renorm_kernel<<<(unsigned)bs, SMP_THREADS, 0, (cudaStream_t)l->stream>>>(
        probs, top_k, (int)V, out);
    return fd__cuda_after_launch(l);
}
