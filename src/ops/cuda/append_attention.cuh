// SPDX-License-Identifier: Apache-2.0
// append_attention: what both CUDA variants share. Per call, on one stream:
//   1. plan  (1 CTA): validates each sequence's lengths, flags bad ones, and
//      prefix-sums the big query tiles per sequence (device data, no host sync);
//   2. write (1 CTA per token): rotary on K, optional int8 quantisation, scatter
//      K/V into the paged cache; memory-bound, ~3 * n_kv * head_dim * 2 bytes/token;
//   3. attention tiles (append_attention_tile.cuh): small tiles for decode-like
//      sequences, big tiles for prefill chunks, each possibly split over the KV range;
//   4. merge (a CTA per output row, the splits read in parallel): log-sum-exp
//      merge of the splits; memory-bound, splits * (head_dim + 1) * 4 bytes per row.
// Sliding window: a tile's keys (and so its splits) start at its first row's
// window start aa_win_lo; each row masks the keys before its own.
#ifndef FD_OPS_CUDA_APPEND_ATTENTION_CUH
#define FD_OPS_CUDA_APPEND_ATTENTION_CUH

#include <cuda_bf16.h>
#include "ops/attention_launch.h"
#include "ops/cuda/common.cuh"

struct aa_params {
    fd__attn_args a;
    int *seq_ok;       // [bsz] 1 = lengths valid
    int *big_start;    // [bsz+1] first big tile of each sequence
    float *part_o;     // [splits, token_num, n_q, head_dim]
    float *part_lse;   // [splits, token_num, n_q], log2 domain
    int *err;
    int op, group, bs_shift;
    int win;           // sliding window, INT_MAX when off: pos - win never overflows
};

// First key a query at position pos sees (0 without a sliding window).
static __device__ __forceinline__ int aa_win_lo(const aa_params &p, int pos) {
    return max(0, pos - p.win + 1);
}

// Element type the tensor cores take for a storage dtype.
template <typename T> struct aa_mt;
template <> struct aa_mt<__half> { typedef __half type; };
template <> struct aa_mt<fd_bf16> { typedef __nv_bfloat16 type; };

// f32 -> the bits of T (round to nearest even).
template <typename T> static __device__ __forceinline__ uint16_t aa_bits(float v);
template <> __device__ __forceinline__ uint16_t aa_bits<__half>(float v) {
    return __half_as_ushort(__float2half_rn(v));
}
template <> __device__ __forceinline__ uint16_t aa_bits<fd_bf16>(float v) {
    return fd_from_f32<fd_bf16>(v).bits;
}

// Element d of head x after rotary (cs = the position's cos | sin row, or NULL).
template <typename T>
static __device__ __forceinline__ float aa_rope(const T *x, int d, const float *cs, int rot,
                                                int neox) {
    float v = fd_to_f32(x[d]);
    if (!cs || d >= rot) return v;
    int half = rot / 2, first = neox ? d < half : (d & 1) == 0;
    int i = neox ? (first ? d : d - half) : d / 2;
    float y = fd_to_f32(x[neox ? (first ? d + half : d - half) : d ^ 1]);
    float c = cs[i], s = cs[half + i];
    return first ? v * c - y * s : v * c + y * s;
}

template <typename T> struct aa_is_half { static constexpr bool value = false; };
template <> struct aa_is_half<__half> { static constexpr bool value = true; };

// 16 int8 cache values -> 16 exact T values (the scale is applied to S and O).
template <typename T>
static __device__ __forceinline__ void aa_store_i8x16(uint16_t *dst, uint4 raw) {
    const int8_t *q = (const int8_t *)&raw;
    uint16_t h[16];
#pragma unroll
    for (int e = 0; e < 16; e++)  // |q| <= 127 is exact in bf16: truncating is rounding
        h[e] = sizeof(T) == 2 && !aa_is_half<T>::value ? (uint16_t)(__float_as_uint((float)q[e]) >> 16)
                                                      : aa_bits<T>((float)q[e]);
    ((uint4 *)dst)[0] = ((const uint4 *)h)[0];
    ((uint4 *)dst)[1] = ((const uint4 *)h)[1];
}

// Sequence of token t: the last b with cu[b] <= t (callers check t < cu[b+1]).
static __device__ __forceinline__ int aa_seq_of(const int32_t *cu, int n, int64_t t) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (cu[mid] <= t) lo = mid; else hi = mid - 1;
    }
    return lo;
}

// 1 if sequence b's lengths are consistent and fit the cache and hints; else reports.
static __device__ int aa_seq_valid(const aa_params &p, int b) {
    const fd__attn_args &a = p.a;
    int len = a.seq_lens_this_time[b], dec = a.seq_lens_decoder[b];
    int c0 = a.cu_seqlens_q[b], c1 = a.cu_seqlens_q[b + 1];
    if (len < 0 || dec < 0 || c0 < 0 || (b == 0 && c0 != 0) || c1 - c0 != len ||
        c1 > a.token_num) {
        fd_kfail(p.err, p.op, FD_KERR_LENGTH, c1 - c0, len);
        return 0;
    }
    int64_t tot = (int64_t)dec + len;
    if (len > 0 && (tot > a.max_blocks_per_seq * a.block_size || tot > a.max_kv_len ||
                    (a.max_q_len > 0 && len > a.max_q_len) ||
                    (a.rotary && tot > a.max_position))) {
        fd_kfail(p.err, p.op, FD_KERR_LENGTH, (int)tot, (int)a.max_kv_len);
        return 0;
    }
    return 1;
}

// Threads of the plan-and-write CTAs: a token's K/V writes are short, and
// small CTAs keep many tokens in flight (1024-thread ones made a 4096-token
// prefill's writes take 2.5x longer).
#define AA_PREP_NT 128

// The plan, by one CTA of AA_PREP_NT threads: flags and big-tile prefix sums
// (block scan in chunks of AA_PREP_NT).
static __device__ void aa_plan(const aa_params &p) {
    const int bm_big = p.a.plan.bm_big;
    constexpr int NW = AA_PREP_NT / 32;
    __shared__ int warp_sum[NW];
    __shared__ int carry;
    const int n = (int)p.a.bsz, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (threadIdx.x == 0) carry = 0;
    __syncthreads();
    for (int base = 0; base < n; base += AA_PREP_NT) {
        int b = base + threadIdx.x, tiles = 0;
        if (b < n) {
            int ok = aa_seq_valid(p, b), rows = p.a.seq_lens_this_time[b] * p.group;
            p.seq_ok[b] = ok;
            if (ok && rows > 16) tiles = (rows + bm_big - 1) / bm_big;
        }
        int x = tiles;
#pragma unroll
        for (int o = 1; o < 32; o *= 2) {
            int y = __shfl_up_sync(0xffffffffu, x, o);
            if (lane >= o) x += y;
        }
        if (lane == 31) warp_sum[warp] = x;
        __syncthreads();
        if (warp == 0) {
            int w = lane < NW ? warp_sum[lane] : 0;
#pragma unroll
            for (int o = 1; o < NW; o *= 2) {
                int y = __shfl_up_sync(0xffffffffu, w, o);
                if (lane >= o) w += y;
            }
            if (lane < NW) warp_sum[lane] = w;
        }
        __syncthreads();
        int excl = carry + (warp ? warp_sum[warp - 1] : 0) + x - tiles;
        if (b < n) p.big_start[b] = excl;
        __syncthreads();
        if (threadIdx.x == AA_PREP_NT - 1) carry = excl + tiles;
        __syncthreads();
    }
    if (threadIdx.x == 0) p.big_start[n] = carry;
}

// Launches kernel k on g x nt threads with smem bytes of dynamic shared memory,
// above the 48 KB default once its attribute allows that.
template <typename... P, typename... A>
static cudaError_t aa_launch_smem(void (*k)(P...), dim3 g, int nt, int smem, cudaStream_t st,
                                  const A &...args) {
    cudaError_t e = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (e == cudaSuccess) k<<<g, nt, smem, st>>>(args...);
    return e;
}

// Token t's K (rotated) and V into the cache, quantised for an int8 cache, by
// one CTA. It checks its sequence itself (the plan's flags are being written
// in the same launch; an error is reported once: the first is kept).
template <typename T>
static __device__ void aa_write(const aa_params &p, int64_t t) {
    const fd__attn_args &a = p.a;
    const int b = aa_seq_of(a.cu_seqlens_q, (int)a.bsz, t);
    if (!aa_seq_valid(p, b) || t < a.cu_seqlens_q[b] || t >= a.cu_seqlens_q[b + 1]) return;
    const int pos = a.seq_lens_decoder[b] + (int)(t - a.cu_seqlens_q[b]);
    const int blk = a.block_tables[(int64_t)b * a.max_blocks_per_seq + (pos >> p.bs_shift)];
    if (blk < 0 || blk >= a.num_blocks) {
        if (threadIdx.x == 0) fd_kfail(p.err, p.op, FD_KERR_INDEX, blk, (int)a.num_blocks);
        return;
    }
    const int hd = a.head_dim;
    const int64_t stride = (int64_t)(a.n_q + 2 * a.n_kv) * hd;
    const T *row = (const T *)a.qkv + t * stride;
    const float *cs = a.rotary ? a.rotary + (int64_t)pos * a.rot_dim : nullptr;
    for (int i = threadIdx.x; i < a.n_kv * hd; i += blockDim.x) {
        int h = i / hd, d = i % hd;
        float k = aa_rope(row + (int64_t)(a.n_q + h) * hd, d, cs, a.rot_dim, a.rotary_neox);
        float v = fd_to_f32(row[(int64_t)(a.n_q + a.n_kv + h) * hd + d]);
        int64_t off = (((int64_t)blk * a.n_kv + h) * a.block_size + (pos & (a.block_size - 1))) *
                      hd + d;
        if (a.cache_int8) {
            float qk = fminf(fmaxf(rintf(k / a.k_scale[h]), -127.f), 127.f);
            float qv = fminf(fmaxf(rintf(v / a.v_scale[h]), -127.f), 127.f);
            ((int8_t *)a.key_cache)[off] = (int8_t)qk;
            ((int8_t *)a.value_cache)[off] = (int8_t)qv;
        } else {
            ((T *)a.key_cache)[off] = fd_from_f32<T>(k);
            ((T *)a.value_cache)[off] = fd_from_f32<T>(v);
        }
    }
}

// CTA 0 plans, CTA 1 + t writes token t's K/V: one launch where there were
// two (a decode step runs one per layer; it is bound by launches).
template <typename T>
static __global__ void __launch_bounds__(AA_PREP_NT) aa_prep_kernel(aa_params p) {
    if (blockIdx.x == 0)
        aa_plan(p);
    else
        aa_write<T>(p, (int64_t)blockIdx.x - 1);
}

// Log-sum-exp merge of the KV splits of one output row (token t, q head qh):
// a CTA of 128 threads per row, HD/4 threads per split row (one float4 each),
// 128/(HD/4) split groups striding over the splits, so a long context's 128
// splits are read with many loads in flight instead of one after another.
// k0: the tile's first key (split s starts at k0 + s * chunk).
template <typename T, int HD>
static __device__ __forceinline__ void aa_merge_row(const aa_params &p, int64_t t, int qh,
                                                    int pos, int k0, int splits, int chunk) {
    constexpr int CPR = HD / 4, SG = 128 / CPR;
    static_assert(CPR <= 128 && 128 % CPR == 0, "merge mapping");
    __shared__ float4 red[128];
    __shared__ float wred[4], dred[SG];
    const fd__attn_args &a = p.a;
    const int tid = threadIdx.x, lane = tid & 31, c = tid % CPR, g = tid / CPR;
    const int64_t row = t * a.n_q + qh, split_stride = a.token_num * a.n_q;
    // Splits [s0, ns): from the one with the row's first visible key to the one
    // with the row itself; the others hold none of its keys (and one starting
    // past the tile's last row did not run: its partials are garbage).
    const int s0 = (aa_win_lo(p, pos) - k0) / chunk, ns = min((pos - k0) / chunk + 1, splits);
    float mx = -INFINITY;
    for (int s = s0 + tid; s < ns; s += 128) mx = fmaxf(mx, p.part_lse[s * split_stride + row]);
#pragma unroll
    for (int o = 16; o > 0; o /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if (lane == 0) wred[tid / 32] = mx;
    __syncthreads();
    mx = fmaxf(fmaxf(wred[0], wred[1]), fmaxf(wred[2], wred[3]));
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    float den = 0.f;
#pragma unroll 4
    for (int s = s0 + g; s < ns; s += SG) {
        const float lse = p.part_lse[s * split_stride + row];
        const float w = lse == -INFINITY ? 0.f : exp2f(lse - mx);
        const float4 v = *(const float4 *)(p.part_o + (s * split_stride + row) * HD + c * 4);
        den += w;
        acc.x += w * v.x;
        acc.y += w * v.y;
        acc.z += w * v.z;
        acc.w += w * v.w;
    }
    red[tid] = acc;
    if (c == 0) dred[g] = den;
    __syncthreads();
    if (g != 0) return;
    den = 0.f;
#pragma unroll
    for (int i = 0; i < SG; i++) den += dred[i];
#pragma unroll
    for (int i = 1; i < SG; i++) {
        const float4 v = red[i * CPR + c];
        acc.x += v.x;
        acc.y += v.y;
        acc.z += v.z;
        acc.w += v.w;
    }
    const float inv = den > 0.f ? 1.f / den : 0.f;
    __align__(8) uint16_t h[4] = {aa_bits<T>(acc.x * inv), aa_bits<T>(acc.y * inv), aa_bits<T>(acc.z * inv),
                     aa_bits<T>(acc.w * inv)};
    *(uint2 *)((uint16_t *)a.out + row * HD + c * 4) = *(const uint2 *)h;
}

// Rows of small tiles: blockIdx = (sequence, kv head, tile row), as the tiles.
template <typename T, int HD>
static __global__ void __launch_bounds__(128) aa_merge_small_kernel(aa_params p) {
    const fd__attn_args &a = p.a;
    const int b = blockIdx.x, kvh = blockIdx.y, r = blockIdx.z, len = a.seq_lens_this_time[b];
    if (!p.seq_ok[b] || len <= 0 || len * p.group > 16 || r >= len * p.group) return;
    const int j = r / p.group, qh = kvh * p.group + r % p.group, dec = a.seq_lens_decoder[b];
    aa_merge_row<T, HD>(p, (int64_t)a.cu_seqlens_q[b] + j, qh, dec + j, aa_win_lo(p, dec),
                        a.plan.splits_small, a.plan.chunk_small);
}

// Rows of big tiles: blockIdx = (big tile, kv head, tile row), as the tiles.
template <typename T, int HD>
static __global__ void __launch_bounds__(128) aa_merge_big_kernel(aa_params p, int bm) {
    const fd__attn_args &a = p.a;
    const int tile = blockIdx.x, n = (int)a.bsz;
    if (tile >= p.big_start[n]) return;
    int lo = 0, hi = n - 1;  // last b with big_start[b] <= tile
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (p.big_start[mid] <= tile) lo = mid; else hi = mid - 1;
    }
    const int row0 = (tile - p.big_start[lo]) * bm, r = row0 + (int)blockIdx.z;
    if (r >= a.seq_lens_this_time[lo] * p.group) return;
    const int j = r / p.group, qh = (int)blockIdx.y * p.group + r % p.group;
    const int dec = a.seq_lens_decoder[lo], k0 = aa_win_lo(p, dec + row0 / p.group);
    aa_merge_row<T, HD>(p, (int64_t)a.cu_seqlens_q[lo] + j, qh, dec + j, k0, a.plan.splits_big,
                        a.plan.chunk_big);
}

#endif
