// SPDX-License-Identifier: Apache-2.0
// token_penalty_multi_scores kernel: one 512-thread block per row.
// Roofline: memory bound. A row reads and writes V logits once (bs 64,
// V 151936, f32: 78 MB, ~25 us at H100's 3.35 TB/s if the 64 blocks can pull
// it; with one block per row only bs SMs stream, hence the unrolled loads)
// and reads its history 3 times per round (usually one round); the per-token
// work is a few flops and two shared-memory loads.
// The history is summarised in shared memory, never in a [bs, V] histogram:
//   seen bitmap  bit v: v is in the prompt or generated and not yet final;
//   gen  bitmap  bit v: v was generated (its final value is written by the
//                fix-up below, so the streaming pass skips it);
//   hash table   generated token -> count, for up to HASH_CAP/2 distinct
//                tokens per round; more distinct tokens take more rounds.
// Order per row: bitmaps, min-length ban, fix-up rounds for generated tokens,
// one streaming pass over V (repetition for prompt-only tokens, temperature),
// bad words. __syncthreads orders the block's global writes between phases.
#include "ops/cuda/common.cuh"
#include "ops/postprocess_launch.h"

#define PEN_THREADS 512
#define HASH_CAP 4096          // entries (power of two); 32 KB
#define HASH_BUDGET (HASH_CAP / 2)   // keeps probes short (load <= 0.5)
#define HASH_BITS 12                 // log2(HASH_CAP)
#define EMPTY_KEY (-1)

struct pen_smem {
    int bad, overflow, used;
};

static __device__ __forceinline__ bool bit(const uint32_t *m, int64_t v) {
    return (m[v >> 5] >> (v & 31)) & 1u;
}

static __device__ __forceinline__ unsigned hash_of(int key) {
    return ((unsigned)key * 2654435761u) >> (32 - HASH_BITS);
}

// Token i of row b's prompt (seg 0) or generated (seg 1) history.
struct row_hist {
    const int64_t *prompt, *gen;
    int64_t n_prompt, n_gen;
};

static __device__ row_hist segments(const fd__penalty_args &a, int64_t b) {
    row_hist h;
    int64_t plen = a.prompt_lens ? a.prompt_lens[b] : 0;
    const int64_t *row = a.hist + b * a.hist_len;
    if (a.prompt) {
        h.prompt = a.prompt + b * a.prompt_stride, h.n_prompt = plen;
        h.gen = row, h.n_gen = a.hist_len;
    } else {
        h.prompt = row, h.n_prompt = plen;
        h.gen = row + plen, h.n_gen = a.hist_len - plen;
    }
    return h;
}

// Fills the bitmaps; flags ids >= V (reported) in s->bad.
static __device__ void build_bitmaps(const fd__penalty_args &a, const row_hist &h,
                                     uint32_t *seen, uint32_t *gen, int64_t words, pen_smem *s,
                                     int *err, int op) {
    for (int64_t i = threadIdx.x; i < words; i += blockDim.x) seen[i] = gen[i] = 0u;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < h.n_prompt + h.n_gen; i += blockDim.x) {
        const bool is_gen = i >= h.n_prompt;
        const int64_t id = is_gen ? h.gen[i - h.n_prompt] : h.prompt[i];
        if (id < 0) continue;
        if (id >= a.vocab) {
            fd_kfail(err, op, FD_KERR_INDEX, (int)(id > 2147483647LL ? 2147483647LL : id),
                     (int)a.vocab);
            s->bad = 1;
            continue;
        }
        atomicOr(&seen[id >> 5], 1u << (id & 31));
        if (is_gen) atomicOr(&gen[id >> 5], 1u << (id & 31));
    }
}

// Inserts key (keys only; counts come in a second pass so that they are
// complete for every key that made it in, even when the budget ran out).
static __device__ void hash_insert(int *keys, int key, pen_smem *s) {
    unsigned slot = hash_of(key);
    bool reserved = false;
    for (int p = 0; p < HASH_CAP; p++, slot = (slot + 1) & (HASH_CAP - 1)) {
        int k = keys[slot];
        if (k == key) return;
        if (k != EMPTY_KEY) continue;
        if (!reserved) {
            if (atomicAdd(&s->used, 1) >= HASH_BUDGET) {
                s->overflow = 1;  // left for a later round
                return;
            }
            reserved = true;
        }
        k = atomicCAS(&keys[slot], EMPTY_KEY, key);
        if (k == EMPTY_KEY || k == key) return;
    }
}

static __device__ int hash_find(const int *keys, int key) {
    unsigned slot = hash_of(key);
    for (int p = 0; p < HASH_CAP; p++, slot = (slot + 1) & (HASH_CAP - 1)) {
        int k = keys[slot];
        if (k == key) return (int)slot;
        if (k == EMPTY_KEY) return -1;
    }
    return -1;
}

template <typename T>
static __device__ float penalized(T *row, int64_t v, int cnt, float alpha, float beta,
                                  float gamma, float temp) {
    float x = fd_to_f32(row[v]);
    x = x < 0.0f ? __fmul_rn(x, alpha) : __fdiv_rn(x, alpha);
    if (cnt > 0) x = __fsub_rn(__fsub_rn(x, __fmul_rn((float)cnt, beta)), gamma);
    return __fdiv_rn(x, temp);
}

// Rounds of: collect pending generated tokens, count them, write their final value.
template <typename T>
static __device__ void fix_up_generated(const fd__penalty_args &a, const row_hist &h, T *row,
                                        uint32_t *seen, int *keys, int *counts, pen_smem *s,
                                        int64_t b) {
    const float alpha = a.alpha[b], beta = a.beta[b], gamma = a.gamma[b], temp = a.temp[b];
    for (;;) {
        for (int i = threadIdx.x; i < HASH_CAP; i += blockDim.x) keys[i] = EMPTY_KEY, counts[i] = 0;
        if (threadIdx.x == 0) s->overflow = 0, s->used = 0;
        __syncthreads();
        for (int64_t i = threadIdx.x; i < h.n_gen; i += blockDim.x) {
            int64_t id = h.gen[i];
            if (id >= 0 && bit(seen, id)) hash_insert(keys, (int)id, s);
        }
        __syncthreads();
        for (int64_t i = threadIdx.x; i < h.n_gen; i += blockDim.x) {
            int64_t id = h.gen[i];
            if (id < 0 || !bit(seen, id)) continue;
            int slot = hash_find(keys, (int)id);
            if (slot >= 0) atomicAdd(&counts[slot], 1);
        }
        __syncthreads();
        for (int i = threadIdx.x; i < HASH_CAP; i += blockDim.x) {
            int id = keys[i];
            if (id == EMPTY_KEY) continue;
            row[id] = fd_from_f32<T>(penalized(row, id, counts[i], alpha, beta, gamma, temp));
            atomicAnd(&seen[id >> 5], ~(1u << (id & 31)));  // final now
        }
        const int again = s->overflow;
        __syncthreads();
        if (!again) break;
    }
}

// The min-length ban value: -1e10, but -1e4 for f16 (finite there), as upstream.
template <typename T> static __device__ __forceinline__ float ban_value() { return -1e10f; }
template <> __device__ __forceinline__ float ban_value<__half>() { return -1e4f; }

// Every token that is not generated: repetition penalty if seen (prompt),
// then temperature. gen == NULL: penalties inactive, temperature only.
// Each thread loads STREAM_UNROLL logits before storing any, so that a block
// keeps enough loads in flight to stream near its share of DRAM bandwidth.
#define STREAM_UNROLL 8
template <typename T>
static __device__ void stream_row(T *row, int64_t vocab, const uint32_t *seen,
                                  const uint32_t *gen, float alpha, float temp) {
    const int64_t step = (int64_t)blockDim.x * STREAM_UNROLL;
    for (int64_t base = threadIdx.x; base < vocab; base += step) {
        float x[STREAM_UNROLL];
#pragma unroll
        for (int k = 0; k < STREAM_UNROLL; k++) {
            const int64_t v = base + (int64_t)k * blockDim.x;
            x[k] = v < vocab ? fd_to_f32(row[v]) : 0.0f;
        }
#pragma unroll
        for (int k = 0; k < STREAM_UNROLL; k++) {
            const int64_t v = base + (int64_t)k * blockDim.x;
            if (v >= vocab || (gen && bit(gen, v))) continue;  // gen: final value already
            float y = x[k];
            if (gen && bit(seen, v)) y = y < 0.0f ? __fmul_rn(y, alpha) : __fdiv_rn(y, alpha);
            row[v] = fd_from_f32<T>(__fdiv_rn(y, temp));
        }
    }
}

template <typename T>
static __global__ void __launch_bounds__(PEN_THREADS)
penalty_kernel(fd__penalty_args a, int64_t words, int *err, int op) {
    extern __shared__ uint32_t smem[];
    __shared__ pen_smem s;
    uint32_t *seen = smem, *gen = smem + words;
    int *keys = (int *)(gen + words), *counts = keys + HASH_CAP;
    const int64_t b = blockIdx.x;
    T *row = (T *)a.logits + b * a.vocab;
    const int64_t cur = a.cur[b];
    const bool active =
        cur >= 0 && !(a.alpha[b] == 1.0f && a.beta[b] == 0.0f && a.gamma[b] == 0.0f);
    const float temp = a.temp[b];
    const row_hist h = segments(a, b);
    if (threadIdx.x == 0) s.bad = 0;
    if (b == 0)  // eos ids are checked once, by row 0
        for (int64_t i = threadIdx.x; i < a.n_eos; i += blockDim.x)
            if (a.eos[i] < 0 || a.eos[i] >= a.vocab)
                fd_kfail(err, op, FD_KERR_INDEX, (int)a.eos[i], (int)a.vocab);
    const int64_t pmax = a.prompt ? a.prompt_stride : a.hist_len;
    if (h.n_prompt < 0 || h.n_prompt > pmax) {
        if (threadIdx.x == 0) fd_kfail(err, op, FD_KERR_LENGTH, (int)h.n_prompt, (int)pmax);
        return;
    }
    __syncthreads();
    if (active) build_bitmaps(a, h, seen, gen, words, &s, err, op);
    __syncthreads();
    if (s.bad) return;  // history holds ids >= V: row left untouched
    if (cur >= 0 && cur < a.min_len[b])
        for (int64_t i = threadIdx.x; i < a.n_eos; i += blockDim.x) {
            const int64_t id = a.eos[i];
            if (id >= 0 && id < a.vocab) row[id] = fd_from_f32<T>(ban_value<T>());
        }
    __syncthreads();
    if (active) fix_up_generated(a, h, row, seen, keys, counts, &s, b);
    if (active || temp != 1.0f) stream_row(row, a.vocab, seen, active ? gen : NULL,
                                           a.alpha[b], temp);
    __syncthreads();
    int64_t nbad = a.bad ? a.bad_len[b] : 0;
    if (nbad > a.bad_w) nbad = a.bad_w;
    for (int64_t i = threadIdx.x; i < nbad; i += blockDim.x) {
        const int64_t id = a.bad[b * a.bad_w + i];
        if (id >= 0 && id < a.vocab) row[id] = fd_from_f32<T>(-1e10f);
    }
}

static int64_t bitmap_words(int64_t vocab) { return (vocab + 31) / 32; }

static size_t smem_bytes(int64_t vocab) {
    return (size_t)bitmap_words(vocab) * 2 * sizeof(uint32_t) + (size_t)HASH_CAP * 2 * sizeof(int);
}

template <typename T>
static fd_status launch(const fd__launch *l, const fd__penalty_args *a) {
    const int64_t words = bitmap_words(a->vocab);
    const size_t bytes = smem_bytes(a->vocab);
    int optin = 0;
    cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, l->device);
    if (bytes + sizeof(pen_smem) > (size_t)optin)
        return fd__error(FD_ERR_INVALID_ARG,
                         "token_penalty_multi_scores: vocabulary %lld needs %zu bytes of shared "
                         "memory per block, the device has %d; use the C reference",
                         (long long)a->vocab, bytes, optin);
    cudaFuncSetAttribute(penalty_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         (int)bytes);
    penalty_kernel<T><<<(unsigned)a->bs, PEN_THREADS, bytes, (cudaStream_t)l->stream>>>(
        *a, words, l->err, l->op);
    return fd__cuda_after_launch(l);
}

extern "C" fd_status fd__cuda_token_penalty_multi_scores(const fd__launch *l,
                                                         const fd__penalty_args *a) {
    if (a->bs == 0 || a->vocab == 0) return FD_OK;
    if (a->bs > 2147483647LL)
        return fd__error(FD_ERR_INVALID_ARG, "token_penalty_multi_scores: bs %lld too large",
                         (long long)a->bs);
    FD_DISPATCH_FLOAT(a->dtype, return launch<T>(l, a));
    return FD_OK;
}
