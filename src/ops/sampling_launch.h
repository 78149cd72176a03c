// SPDX-License-Identifier: Apache-2.0
// Private: CUDA launchers (C linkage) of the sampling ops, called by src/ops/<op>.c
// and defined in src/ops/cuda/<stem>.cu, and the arithmetic that the C
// references and the kernels share so that both pick the same tokens.
#ifndef FD_OPS_SAMPLING_LAUNCH_H
#define FD_OPS_SAMPLING_LAUNCH_H

#include "ops/op_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __CUDACC__
#define FD_SMP_HD static inline __host__ __device__
#else
#define FD_SMP_HD static inline
#endif

// Probabilities are weighted in fixed point, 2^-42 per unit, so that sums are
// exact integers whatever the summation order. V <= 2^21 keeps sums below 2^63.
#define FD_SMP_FIX_ONE 4398046511104.0f  // 2^42
#define FD_SMP_MAX_VOCAB (1 << 21)
#define FD_SMP_NO_LIMIT 0xffffffffffffffffull

// Radix passes over the 31-bit key of a positive float (its bit pattern,
// monotonic in the value): bits [30:20], [19:10], [9:0].
#define FD_SMP_PASSES 3
#define FD_SMP_MAX_BINS 2048
FD_SMP_HD int fd__smp_pass_shift(int pass) { return pass == 0 ? 20 : pass == 1 ? 10 : 0; }
FD_SMP_HD int fd__smp_pass_bits(int pass) { return pass == 0 ? 11 : 10; }

FD_SMP_HD uint32_t fd__smp_key(float p) {  // p > 0
#ifdef __CUDA_ARCH__
    return __float_as_uint(p);
#else
    union { float f; uint32_t u; } c;
    c.f = p;
    return c.u;
#endif
}

FD_SMP_HD uint64_t fd__smp_weight(float p) {  // p > 0; truncation, exact on host and device
    return p >= 1.0f ? (uint64_t)FD_SMP_FIX_ONE : (uint64_t)(p * FD_SMP_FIX_ONE);
}

// The mass limit for top_p: mass_above < limit <=> mass_above < top_p (in fixed point).
// top_p <= 0 or NaN keeps only the most probable value; top_p >= 1 keeps everything.
FD_SMP_HD uint64_t fd__smp_mass_limit(float top_p) {
    if (!(top_p > 0.0f)) return 1;
    if (top_p >= 1.0f) return FD_SMP_NO_LIMIT;
    float x = top_p * FD_SMP_FIX_ONE;  // exact: scaling by a power of two
    uint64_t f = (uint64_t)x;
    return f + ((float)f < x ? 1u : 0u);  // ceil; >= 1 since x > 0
}

FD_SMP_HD int64_t fd__smp_count_limit(int64_t k) { return k <= 0 ? INT64_MAX : k; }

// splitmix64's finaliser: a counter-based generator, one stream per (seed, row).
FD_SMP_HD uint64_t fd__smp_mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
FD_SMP_HD uint64_t fd__smp_rand64(int64_t seed, int64_t row) {
    return fd__smp_mix(fd__smp_mix((uint64_t)seed) + (uint64_t)row);
}

// floor(a * b / 2^64): maps a uniform 64-bit draw onto [0, b) without modulo bias.
FD_SMP_HD uint64_t fd__smp_mulhi(uint64_t a, uint64_t b) {
    uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
    uint64_t lo = a0 * b0, m1 = a1 * b0, m2 = a0 * b1, hi = a1 * b1;
    uint64_t mid = (lo >> 32) + (m1 & 0xffffffffu) + (m2 & 0xffffffffu);
    return hi + (m1 >> 32) + (m2 >> 32) + (mid >> 32);
}

// Result of the threshold search over one row: the allowed set is every p > 0
// with key >= key; above_* = mass/count of keys > key, key_mass = mass at key.
typedef struct fd__smp_threshold {
    uint32_t key;
    int found;  // 0: the row has no positive entry
    uint64_t above_mass, key_mass;
    int64_t above_count;
} fd__smp_threshold;

// C reference of the search (rejection_top_p_sampling.c): the smallest key v
// present in the row with mass(> v) < mass_limit and count(> v) < count_limit.
// `with_mass` = 0 skips the weights (count only). hist: FD_SMP_MAX_BINS entries each.
fd__smp_threshold fd__smp_threshold_ref(const float *row, int64_t V, uint64_t mass_limit,
                                        int64_t count_limit, int with_mass, uint64_t *hist_mass,
                                        int64_t *hist_count);

fd_status fd__cuda_top_k_renorm_probs(const fd__launch *l, const float *probs,
                                      const int64_t *top_k, int64_t bs, int64_t V, float *out);
fd_status fd__cuda_rejection_top_p_sampling(const fd__launch *l, const float *probs,
                                            const float *top_p, const int64_t *top_k,
                                            int64_t bs, int64_t V, int64_t seed,
                                            int64_t *samples);

fd_status fd__cuda_softmax(const fd__launch *l, fd_dtype dt, const void *x, const float *temp,
                           int64_t m, int64_t v, float *probs);

#ifdef __cplusplus
}
#endif
#endif
