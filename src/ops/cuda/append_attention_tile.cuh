// SPDX-License-Identifier: Apache-2.0
// append_attention: the attention tile (flash attention, online softmax) shared
// by the SM70 and SM80 variants. One CTA = one (sequence, kv head, KV split)
// and BM query rows; GQA packs the group's q heads as rows (row = token*G + g),
// so each K/V tile is read once per group. Per KV tile of BN keys:
//   S = Q K^T (WMMA 16x16x16, f32 accumulate) -> smem, online softmax by row
//   owners (P in the compute dtype), O = alpha*O + P V (WMMA, O in registers;
//   the alpha rescale round-trips through smem only when a row max moved).
// Roofline: decode (BM=16) reads every cached K/V byte once per kv head and does
// ~2*G flops per K/V element: memory-bound, 16-byte loads, split-KV to fill the
// GPU. Prefill (BM=64) does 4*BM flops per K/V element loaded: tensor-core bound.
// Sliding window: the KV range starts at the first row's window start (tiles
// wholly before every row's window are never loaded); rows mask the rest.
#ifndef FD_OPS_CUDA_APPEND_ATTENTION_TILE_CUH
#define FD_OPS_CUDA_APPEND_ATTENTION_TILE_CUH

#include <mma.h>
#include <string.h>
#include <type_traits>
#include "ops/cuda/append_attention.cuh"

// Tile shape: BM query rows x BN keys, WM x WN warps. Leading dims padded so
// rows start on different banks and every WMMA pointer stays 32-byte aligned.
template <typename T_, bool INT8_, int HD_, int BM_, int BN_, int WM_, int WN_>
struct aa_cfg {
    typedef T_ T;
    typedef typename aa_mt<T_>::type MT;
    static constexpr bool INT8 = INT8_;
    static constexpr int HD = HD_, BM = BM_, BN = BN_, WM = WM_, WN = WN_;
    static constexpr int NT = 32 * WM * WN, TPR = NT / BM;          // softmax threads per row
    static constexpr int LDQ = HD + 8, LDS = BN + 4, LDP = BN + 8;   // halves, floats, halves
    static constexpr int FS = BN / WN / 16, FO = HD / WN / 16;        // S / O fragments per warp
    static constexpr int Q_OFF = 0;
    static constexpr int K_OFF = Q_OFF + BM * LDQ * 2;
    static constexpr int V_OFF = K_OFF + BN * LDQ * 2;
    static constexpr int S_OFF = V_OFF + BN * LDQ * 2;
    static constexpr int P_OFF = S_OFF + BM * LDS * 4;
    static constexpr int R_OFF = P_OFF + BM * LDP * 2;
    static constexpr int SMEM = R_OFF + 3 * BM * 4;
    // element (row r, dim d) of sQ / sK / sV
    static __device__ __forceinline__ int sidx(int r, int d) { return r * LDQ + d; }
    static_assert(BM == 16 * WM, "one warp row per 16 query rows");
    static_assert(FS >= 1 && FO >= 1 && BN % (16 * WN) == 0 && HD % (16 * WN) == 0, "warp tiling");
    static_assert(TPR >= 1 && TPR <= 32 && BN % TPR == 0, "softmax mapping");
    static_assert(WM * WN * 256 <= BM * LDS, "a 16x16 f32 slot per warp fits in S");
    static_assert(SMEM <= 96 * 1024, "Volta's shared memory per block");
    static_assert((BM * LDQ * 2) % 128 == 0 && (BN * LDQ * 2) % 128 == 0 &&
                  (BM * LDS * 4) % 128 == 0, "region alignment");
};

// Query rows [row0, row0+rows) of sequence b into sQ, rotated, zero-padded to BM.
// 16-byte chunks of 8 dims per thread when qkv is 16-byte aligned and the rotary
// half (rot_dim/2) is a multiple of 8 (a chunk never straddles rot_dim or the
// neox halves); else one element per thread. Same arithmetic as aa_rope.
template <class C>
static __device__ void aa_load_q(const aa_params &p, uint16_t *sQ, int b, int kvh, int row0,
                                 int rows) {
    typedef typename C::T T;
    const fd__attn_args &a = p.a;
    const int cu0 = a.cu_seqlens_q[b], dec = a.seq_lens_decoder[b];
    const int64_t stride = (int64_t)(a.n_q + 2 * a.n_kv) * C::HD;
    if ((uintptr_t)a.qkv % 16 == 0 && (!a.rotary || a.rot_dim % 16 == 0)) {
        constexpr int CPR = C::HD / 8;
        for (int i = threadIdx.x; i < C::BM * CPR; i += C::NT) {
            const int r = i / CPR, d0 = (i % CPR) * 8;
            uint4 outv = make_uint4(0, 0, 0, 0);
            if (r < rows) {
                const int j = (row0 + r) / p.group, qh = kvh * p.group + (row0 + r) % p.group;
                const T *x = (const T *)a.qkv + (cu0 + j) * stride + qh * C::HD;
                const uint4 raw = *(const uint4 *)(x + d0);
                if (!a.rotary || d0 >= a.rot_dim) {
                    outv = raw;  // T -> f32 -> T is exact
                } else {
                    const float *cs = a.rotary + (int64_t)(dec + j) * a.rot_dim;
                    const int half = a.rot_dim / 2;
                    const T *xe = (const T *)&raw;
                    __align__(16) uint16_t h[8];
                    if (a.rotary_neox) {
                        const bool first = d0 < half;
                        const int i0 = first ? d0 : d0 - half;
                        const uint4 praw = *(const uint4 *)(x + (first ? d0 + half : d0 - half));
                        const T *ye = (const T *)&praw;
#pragma unroll
                        for (int e = 0; e < 8; e++) {
                            float v = fd_to_f32(xe[e]), y = fd_to_f32(ye[e]);
                            float c = cs[i0 + e], sn = cs[half + i0 + e];
                            h[e] = aa_bits<T>(first ? v * c - y * sn : v * c + y * sn);
                        }
                    } else {
#pragma unroll
                        for (int e = 0; e < 8; e++) {
                            const int i2 = (d0 + e) / 2;
                            float v = fd_to_f32(xe[e]), y = fd_to_f32(xe[e ^ 1]);
                            float c = cs[i2], sn = cs[half + i2];
                            h[e] = aa_bits<T>((e & 1) == 0 ? v * c - y * sn : v * c + y * sn);
                        }
                    }
                    outv = *(const uint4 *)h;
                }
            }
            *(uint4 *)(sQ + C::sidx(r, d0)) = outv;
        }
        return;
    }
    for (int i = threadIdx.x; i < C::BM * C::HD; i += C::NT) {
        int r = i / C::HD, d = i % C::HD;
        float v = 0.f;
        if (r < rows) {
            int j = (row0 + r) / p.group, qh = kvh * p.group + (row0 + r) % p.group;
            const T *x = (const T *)a.qkv + (cu0 + j) * stride + qh * C::HD;
            v = aa_rope(x, d, a.rotary ? a.rotary + (int64_t)(dec + j) * a.rot_dim : nullptr,
                        a.rot_dim, a.rotary_neox);
        }
        sQ[C::sidx(r, d)] = aa_bits<T>(v);
    }
}

// Stores NB register-staged chunks (batch it0 of aa_load_kv) into sK/sV.
template <class C, int NB>
static __device__ __forceinline__ void aa_stage_kv(uint16_t *sK, uint16_t *sV, const uint4 *reg,
                                                   int it0) {
    constexpr int CE = C::INT8 ? 16 : 8, CPK = C::HD / CE;
#pragma unroll
    for (int u = 0; u < NB; u++) {
        int c = threadIdx.x + (it0 + u) * C::NT, isv = c >= C::BN * CPK;
        int cc = isv ? c - C::BN * CPK : c;
        uint16_t *dst = (isv ? sV : sK) + (cc / CPK) * C::LDQ + (cc % CPK) * CE;
        if (C::INT8)
            aa_store_i8x16<typename C::T>(dst, reg[u]);
        else
            *(uint4 *)dst = reg[u];
    }
}

// Issues the loads of keys [kt, kt+BN) of K and V (zeros past kv_stop or for a
// bad block). CP::on: the variant's async copy (cp.async, SM80) for a 16-bit
// cache; else through registers, 8 chunks of 16 bytes in flight per thread.
template <class C, class CP>
static __device__ void aa_load_kv(const aa_params &p, uint16_t *sK, uint16_t *sV, int b, int kvh,
                                  int kt, int kv_stop) {
    const fd__attn_args &a = p.a;
    constexpr int CE = C::INT8 ? 16 : 8;               // elements per 16-byte chunk
    constexpr int CPK = C::HD / CE, TOTAL = 2 * C::BN * CPK;
    constexpr int BATCH = C::INT8 ? 4 : 8;  // int8 chunks expand to 32 bytes of registers
    constexpr int ITER = TOTAL / C::NT, NB = ITER >= BATCH ? BATCH : ITER;
    constexpr bool ASYNC = CP::on && !C::INT8;
    static_assert(TOTAL % C::NT == 0 && ITER % NB == 0, "whole chunks per thread");
    const int32_t *bt = a.block_tables + (int64_t)b * a.max_blocks_per_seq;
    const size_t esz = C::INT8 ? 1 : 2;
#pragma unroll 1
    for (int it0 = 0; it0 < ITER; it0 += NB) {
        uint4 reg[NB];
#pragma unroll
        for (int u = 0; u < NB; u++) {
            int c = threadIdx.x + (it0 + u) * C::NT, isv = c >= C::BN * CPK;
            int cc = isv ? c - C::BN * CPK : c, key = cc / CPK, dc = cc % CPK, k = kt + key;
            const char *src = nullptr;
            if (k < kv_stop) {
                int blk = bt[k >> p.bs_shift];
                if (blk < 0 || blk >= a.num_blocks) {
                    fd_kfail(p.err, p.op, FD_KERR_INDEX, blk, (int)a.num_blocks);
                } else {
                    int64_t off = (((int64_t)blk * a.n_kv + kvh) * a.block_size +
                                   (k & (a.block_size - 1))) * C::HD + dc * CE;
                    src = (const char *)(isv ? a.value_cache : a.key_cache) + off * esz;
                }
            }
            uint16_t *dst = (isv ? sV : sK) + key * C::LDQ + dc * CE;
            if (ASYNC) {
                CP::copy16(dst, src ? src : (const char *)a.key_cache, src != nullptr);
            } else {
                reg[u] = src ? __ldg((const uint4 *)src) : make_uint4(0, 0, 0, 0);
            }
        }
        if (!ASYNC) aa_stage_kv<C, NB>(sK, sV, reg, it0);
    }
    if (ASYNC) CP::wait_all();
}

// Async path (CP::on, 16-bit cache): thread tid of C::NT issues its cp.async
// copies of keys [kt, kt+BN) of K into dk (WK) and of V into dv (WV), zeros past kv_stop or
// for a bad block; no wait (the caller commits the group and waits for it
// later). The block ids are all loaded and checked first, with one branch for
// the (reported) bad ones: the copies themselves are branch-free.
template <class C, class CP, bool WK, bool WV>
static __device__ __forceinline__ void aa_issue_kv(const aa_params &p, uint16_t *dk, uint16_t *dv,
                                                   int b, int kvh, int kt, int kv_stop,
                                                   int tid) {
    const fd__attn_args &a = p.a;
    constexpr int CPK = C::HD / 8, TOTAL = C::BN * CPK, ITER = TOTAL / C::NT;
    static_assert(!C::INT8 && TOTAL % C::NT == 0, "whole 16-bit chunks per thread");
    const int32_t *bt = a.block_tables + (int64_t)b * a.max_blocks_per_seq;
    const unsigned nblk = a.num_blocks > 0x7fffffff ? 0x7fffffffu : (unsigned)a.num_blocks;
    const int key0 = tid / CPK, dc = tid % CPK;  // NT % CPK == 0
    static_assert(C::NT % CPK == 0, "a thread's chunks share one column");
    int blk[ITER];
    bool bad = false;
#pragma unroll
    for (int u = 0; u < ITER; u++) {
        const int k = kt + key0 + u * (C::NT / CPK);
        blk[u] = k < kv_stop ? __ldg(bt + (k >> p.bs_shift)) : 0;
        bad |= (unsigned)blk[u] >= nblk;
    }
    if (bad) {  // report, then copy zeros for them
#pragma unroll
        for (int u = 0; u < ITER; u++)
            if ((unsigned)blk[u] >= nblk) {
                fd_kfail(p.err, p.op, FD_KERR_INDEX, blk[u], (int)nblk);
                blk[u] = -1;
            }
    }
    const int64_t blk_stride = (int64_t)a.n_kv * a.block_size * C::HD;
    const int head_off = kvh * a.block_size * C::HD + dc * 8;
#pragma unroll
    for (int u = 0; u < ITER; u++) {
        const int key = key0 + u * (C::NT / CPK), k = kt + key;
        const bool ok = k < kv_stop && blk[u] >= 0;
        const int64_t off =
            ok ? blk[u] * blk_stride + head_off + (k & (a.block_size - 1)) * C::HD : 0;
        const int si = C::sidx(key, dc * 8);
        if (WK) CP::copy16(dk + si, (const char *)a.key_cache + off * 2, ok);
        if (WV) CP::copy16(dv + si, (const char *)a.value_cache + off * 2, ok);
    }
}

// Online softmax of the S tile by its row owners; writes P and the rows' alpha.
// Returns this thread's alpha (1 = the row's max did not move). A row sees
// keys (pos - win, pos]: causal, and its sliding window (win = INT_MAX: none).
template <class C>
static __device__ float aa_softmax(const float *sS, uint16_t *sP, float *sA, float &m, float &l,
                                   int rows, int kt, int kv_stop, int pos_base, int group,
                                   int row0, int win, float s2) {
    const int r = threadIdx.x / C::TPR, sub = threadIdx.x % C::TPR;
    const int pos = pos_base + (row0 + r) / group;  // the row's own position
    float v[C::BN / C::TPR], mx = -INFINITY;
#pragma unroll
    for (int i = 0; i < C::BN / C::TPR; i++) {
        int c = sub + i * C::TPR, k = kt + c;
        bool ok = r < rows && k < kv_stop && k <= pos && k > pos - win;
        v[i] = ok ? sS[r * C::LDS + c] * s2 : -INFINITY;
        mx = fmaxf(mx, v[i]);
    }
#pragma unroll
    for (int o = C::TPR / 2; o > 0; o /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    float mn = fmaxf(m, mx), alpha = m == -INFINITY ? 1.f : exp2f(m - mn), sum = 0.f;
#pragma unroll
    for (int i = 0; i < C::BN / C::TPR; i++) {
        float e = v[i] == -INFINITY ? 0.f : exp2f(v[i] - mn);
        sum += e;
        sP[r * C::LDP + sub + i * C::TPR] = aa_bits<typename C::T>(e);
    }
#pragma unroll
    for (int o = C::TPR / 2; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    m = mn;
    l = l * alpha + sum;
    if (sub == 0) sA[r] = alpha;
    return alpha;
}

template <class C>
using aa_acc = nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float>;

// S[BM x BN] = Q K^T, each warp its 16 rows x BN/WN keys, stored to sS.
template <class C>
static __device__ void aa_qk(const uint16_t *sQ, const uint16_t *sK, float *sS, int wm, int wn) {
    using namespace nvcuda;
    typedef typename C::MT MT;
    aa_acc<C> s[C::FS];
#pragma unroll
    for (int f = 0; f < C::FS; f++) wmma::fill_fragment(s[f], 0.f);
#pragma unroll
    for (int kk = 0; kk < C::HD; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, MT, wmma::row_major> qa;
        wmma::load_matrix_sync(qa, (const MT *)sQ + wm * 16 * C::LDQ + kk, C::LDQ);
#pragma unroll
        for (int f = 0; f < C::FS; f++) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, MT, wmma::col_major> kb;
            int n0 = wn * (C::BN / C::WN) + f * 16;
            wmma::load_matrix_sync(kb, (const MT *)sK + n0 * C::LDQ + kk, C::LDQ);
            wmma::mma_sync(s[f], qa, kb, s[f]);
        }
    }
#pragma unroll
    for (int f = 0; f < C::FS; f++)
        wmma::store_matrix_sync(sS + wm * 16 * C::LDS + wn * (C::BN / C::WN) + f * 16, s[f],
                                C::LDS, wmma::mem_row_major);
}

// O[f] *= alpha[row] through this warp's 16x16 slot of sS.
template <class C>
static __device__ void aa_rescale(aa_acc<C> *o, float *slot, const float *sA, int wm) {
    using namespace nvcuda;
    const int lane = threadIdx.x & 31;
    const float al = sA[wm * 16 + lane / 2];
#pragma unroll
    for (int f = 0; f < C::FO; f++) {
        wmma::store_matrix_sync(slot, o[f], 16, wmma::mem_row_major);
        __syncwarp();
#pragma unroll
        for (int e = 0; e < 8; e++) slot[lane * 8 + e] *= al;
        __syncwarp();
        wmma::load_matrix_sync(o[f], slot, 16, wmma::mem_row_major);
        __syncwarp();
    }
}

// O += P V for this warp's 16 rows x HD/WN columns.
template <class C>
static __device__ void aa_pv(aa_acc<C> *o, const uint16_t *sP, const uint16_t *sV, int wm,
                             int wn) {
    using namespace nvcuda;
    typedef typename C::MT MT;
#pragma unroll
    for (int kk = 0; kk < C::BN; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, MT, wmma::row_major> pa;
        wmma::load_matrix_sync(pa, (const MT *)sP + wm * 16 * C::LDP + kk, C::LDP);
#pragma unroll
        for (int f = 0; f < C::FO; f++) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, MT, wmma::row_major> vb;
            wmma::load_matrix_sync(vb, (const MT *)sV + kk * C::LDQ + wn * (C::HD / C::WN) + f * 16,
                                   C::LDQ);
            wmma::mma_sync(o[f], pa, vb, o[f]);
        }
    }
}

// Writes the normalised rows: to out (direct) or to split `split`'s partials.
template <class C>
static __device__ void aa_store(const aa_params &p, aa_acc<C> *o, float *slot, const float *sM,
                                const float *sL, int b, int kvh, int row0, int rows, int split,
                                int direct, float vscale, int wm, int wn) {
    using namespace nvcuda;
    const fd__attn_args &a = p.a;
    const int lane = threadIdx.x & 31, r = wm * 16 + lane / 2, c8 = (lane & 1) * 8;
    const int j = (row0 + r) / p.group, qh = kvh * p.group + (row0 + r) % p.group;
    const int64_t t = (int64_t)a.cu_seqlens_q[b] + j;
    const float inv = sL[r] > 0.f ? vscale / sL[r] : 0.f;
#pragma unroll
    for (int f = 0; f < C::FO; f++) {
        wmma::store_matrix_sync(slot, o[f], 16, wmma::mem_row_major);
        __syncwarp();
        int col = wn * (C::HD / C::WN) + f * 16 + c8;
        if (r < rows) {
            const float *src = slot + (lane / 2) * 16 + c8;
            if (direct) {
                uint16_t h[8];
#pragma unroll
                for (int e = 0; e < 8; e++) h[e] = aa_bits<typename C::T>(src[e] * inv);
                *(uint4 *)((uint16_t *)a.out + (t * a.n_q + qh) * C::HD + col) = *(const uint4 *)h;
            } else {
                float *dst = p.part_o + (((int64_t)split * a.token_num + t) * a.n_q + qh) * C::HD + col;
                *(float4 *)dst = make_float4(src[0] * inv, src[1] * inv, src[2] * inv, src[3] * inv);
                *(float4 *)(dst + 4) = make_float4(src[4] * inv, src[5] * inv, src[6] * inv, src[7] * inv);
            }
        }
        __syncwarp();
    }
    if (!direct && wn == 0 && (lane & 1) == 0 && r < rows)
        p.part_lse[((int64_t)split * a.token_num + t) * a.n_q + qh] =
            sL[r] > 0.f ? sM[r] + log2f(sL[r]) : -INFINITY;
}

// The whole CTA: rows [row0, row0+rows) of sequence b, kv head kvh, keys of `split`.
template <class C, class CP>
static __device__ void aa_attend(const aa_params &p, int b, int kvh, int row0, int rows,
                                 int split, int chunk, int direct) {
    extern __shared__ __align__(128) unsigned char aa_smem[];
    uint16_t *sQ = (uint16_t *)(aa_smem + C::Q_OFF), *sK = (uint16_t *)(aa_smem + C::K_OFF),
             *sV = (uint16_t *)(aa_smem + C::V_OFF), *sP = (uint16_t *)(aa_smem + C::P_OFF);
    float *sS = (float *)(aa_smem + C::S_OFF), *sA = (float *)(aa_smem + C::R_OFF);
    float *sM = sA + C::BM, *sL = sM + C::BM;
    const fd__attn_args &a = p.a;
    const int warp = threadIdx.x / 32, wm = warp / C::WN, wn = warp % C::WN;
    const int dec = a.seq_lens_decoder[b];
    const int kv_end = dec + (row0 + rows - 1) / p.group + 1;  // keys the last row sees
    // no row sees a key before the first row's window start: the splits start there
    const int kv_begin = aa_win_lo(p, dec + row0 / p.group) + split * chunk;
    const int kv_stop = min(kv_end, kv_begin + chunk);
    if (kv_begin >= kv_stop) return;
    const float ks = C::INT8 ? a.k_scale[kvh] : 1.f, vs = C::INT8 ? a.v_scale[kvh] : 1.f;
    const float s2 = a.scale * 1.4426950408889634f * ks;  // exp2 domain
    // Async copies (SM80, 16-bit cache): K and V of a tile are separate commit
    // groups, the next tile's K is issued once S is computed and its V once P V
    // is done, so loads overlap the softmax and the MMAs (and the first tile's
    // overlap the Q load). Pending groups at each wait, oldest first:
    //   loop top: K(t), V(t)    -> wait_group 1: K(t) landed
    //   softmax:  V(t), K(t+1)  -> wait_group 1: V(t) landed
    constexpr bool ASYNC = CP::on && !C::INT8;
    if constexpr (ASYNC) {
        aa_issue_kv<C, CP, true, false>(p, sK, nullptr, b, kvh, kv_begin, kv_stop, threadIdx.x);
        CP::commit();
        aa_issue_kv<C, CP, false, true>(p, nullptr, sV, b, kvh, kv_begin, kv_stop, threadIdx.x);
        CP::commit();
    }
    aa_load_q<C>(p, sQ, b, kvh, row0, rows);
    aa_acc<C> o[C::FO];
#pragma unroll
    for (int f = 0; f < C::FO; f++) nvcuda::wmma::fill_fragment(o[f], 0.f);
    float m = -INFINITY, l = 0.f;
    float *slot = sS + warp * 256;
    for (int kt = kv_begin; kt < kv_stop; kt += C::BN) {
        if constexpr (ASYNC) {
            CP::wait_1();
            __syncthreads();  // K(t) and sQ visible; the previous tile fully consumed
        } else {
            __syncthreads();  // the previous tile's P and V are consumed
            aa_load_kv<C, CP>(p, sK, sV, b, kvh, kt, kv_stop);
            __syncthreads();
        }
        aa_qk<C>(sQ, sK, sS, wm, wn);
        __syncthreads();  // S complete, sK free
        if constexpr (ASYNC) {
            if (kt + C::BN < kv_stop)
                aa_issue_kv<C, CP, true, false>(p, sK, nullptr, b, kvh, kt + C::BN, kv_stop,
                                                threadIdx.x);
            CP::commit();
        }
        float alpha =
            aa_softmax<C>(sS, sP, sA, m, l, rows, kt, kv_stop, dec, p.group, row0, p.win, s2);
        if constexpr (ASYNC) CP::wait_1();  // V(t) landed (this thread's copies)
        if (__syncthreads_or(alpha != 1.f)) aa_rescale<C>(o, slot, sA, wm);
        aa_pv<C>(o, sP, sV, wm, wn);
        if constexpr (ASYNC) {
            __syncthreads();  // sV and sP consumed
            if (kt + C::BN < kv_stop)
                aa_issue_kv<C, CP, false, true>(p, nullptr, sV, b, kvh, kt + C::BN, kv_stop,
                                                threadIdx.x);
            CP::commit();
        }
    }
    if constexpr (ASYNC) CP::wait_all();  // nothing real is pending; keep it so
    if (threadIdx.x % C::TPR == 0) {
        sM[threadIdx.x / C::TPR] = m;
        sL[threadIdx.x / C::TPR] = l;
    }
    __syncthreads();
    aa_store<C>(p, o, slot, sM, sL, b, kvh, row0, rows, split, direct, vs, wm, wn);
}

// Small tiles: blockIdx = (sequence, kv head, split); sequences with rows <= 16.
template <class C, class CP>
static __device__ void aa_attend_small(const aa_params &p) {
    const int b = blockIdx.x, len = p.a.seq_lens_this_time[b];
    if (!p.seq_ok[b] || len <= 0 || len * p.group > 16) return;
    aa_attend<C, CP>(p, b, blockIdx.y, 0, len * p.group, blockIdx.z, p.a.plan.chunk_small,
                        p.a.plan.splits_small == 1);
}

// This CTA's big tile (blockIdx.x through the planner's prefix sums; reversed:
// longest first, as causal rows late in a prompt see the most keys): sequence
// *b, rows [*row0, *row0 + *rows) of bm; false past the last tile.
static __device__ __forceinline__ bool aa_big_tile(const aa_params &p, int bm, bool reversed,
                                                   int *b, int *row0, int *rows) {
    const int n = (int)p.a.bsz, total = p.big_start[n];
    if ((int)blockIdx.x >= total) return false;
    const int tile = reversed ? total - 1 - (int)blockIdx.x : (int)blockIdx.x;
    int lo = 0, hi = n - 1;  // last b with big_start[b] <= tile
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (p.big_start[mid] <= tile) lo = mid; else hi = mid - 1;
    }
    *b = lo;
    *row0 = (tile - p.big_start[lo]) * bm;
    *rows = min(bm, p.a.seq_lens_this_time[lo] * p.group - *row0);
    return true;
}

// Big tiles: blockIdx.x = (sequence, q tile) through the planner's prefix sums.
template <class C, class CP>
static __device__ void aa_attend_big(const aa_params &p) {
    int b, row0, rows;
    if (!aa_big_tile(p, C::BM, false, &b, &row0, &rows)) return;
    aa_attend<C, CP>(p, b, blockIdx.y, row0, rows, blockIdx.z, p.a.plan.chunk_big,
                     p.a.plan.splits_big == 1);
}

// ---- host side: KS is the variant's kernel set, with
//   template <class C> static cudaError_t small(dim3, cudaStream_t, const aa_params &);
//   template <class C> static cudaError_t big(dim3, cudaStream_t, const aa_params &);

template <class KS, typename T, bool I8, int HD>
static cudaError_t aa_tiles(const aa_params &p, cudaStream_t st) {
    typedef aa_cfg<T, I8, HD, 16, 64, 1, 4> Small;
    typedef typename std::conditional<HD == 256, aa_cfg<T, I8, HD, 32, 32, 2, 2>,
                                      aa_cfg<T, I8, HD, 64, 64, 4, 1>>::type Big;
    const fd__attn_args &a = p.a;
    cudaError_t e = KS::template small<Small>(
        dim3((unsigned)a.bsz, (unsigned)a.n_kv, (unsigned)a.plan.splits_small), st, p);
    if (e != cudaSuccess || (a.max_q_len > 0 && a.max_q_len * p.group <= 16)) return e;
    return KS::template big<Big>(
        dim3((unsigned)a.plan.big_tiles_max, (unsigned)a.n_kv, (unsigned)a.plan.splits_big), st, p);
}

template <class KS, typename T, bool I8>
static cudaError_t aa_tiles_hd(const aa_params &p, cudaStream_t st) {
    switch (p.a.head_dim) {
    case 64: return aa_tiles<KS, T, I8, 64>(p, st);
    case 128: return aa_tiles<KS, T, I8, 128>(p, st);
    default: return aa_tiles<KS, T, I8, 256>(p, st);
    }
}

// Merges for the tile kinds that split (grids mirror the tiles': no search for
// small rows; rows past a tile's end return at once).
template <typename T, int HD>
static void aa_merge_hd(const aa_params &p, cudaStream_t st) {
    const fd__attn_args &a = p.a;
    const bool big = !(a.max_q_len > 0 && a.max_q_len * p.group <= 16);  // as aa_tiles
    if (a.plan.splits_small > 1) {
        int64_t rows = 16;
        if (a.max_q_len > 0 && a.max_q_len * p.group < rows) rows = a.max_q_len * p.group;
        aa_merge_small_kernel<T, HD>
            <<<dim3((unsigned)a.bsz, (unsigned)a.n_kv, (unsigned)rows), 128, 0, st>>>(p);
    }
    if (big && a.plan.splits_big > 1) {
        const int bm = a.plan.bm_big;
        aa_merge_big_kernel<T, HD>
            <<<dim3((unsigned)a.plan.big_tiles_max, (unsigned)a.n_kv, (unsigned)bm), 128, 0, st>>>(
                p, bm);
    }
}

template <typename T>
static void aa_merge(const aa_params &p, cudaStream_t st) {
    switch (p.a.head_dim) {
    case 64: aa_merge_hd<T, 64>(p, st); break;
    case 128: aa_merge_hd<T, 128>(p, st); break;
    default: aa_merge_hd<T, 256>(p, st); break;
    }
}

// The whole op on l's stream; arguments validated by append_attention.c.
template <class KS, typename T>
static fd_status aa_launch(const fd__launch *l, const fd__attn_args *a, const char *name) {
    aa_params p;
    memset(&p, 0, sizeof p);
    p.a = *a;
    p.err = l->err;
    p.op = l->op;
    p.group = a->n_q / a->n_kv;
    p.win = a->window > 0 ? a->window : 0x7fffffff;
    while ((1 << p.bs_shift) < a->block_size) p.bs_shift++;
    char *ws = (char *)a->workspace;
    p.seq_ok = (int *)ws;
    p.big_start = p.seq_ok + a->bsz;
    p.part_o = (float *)(ws + a->plan.meta_bytes);
    int splits = a->plan.splits_small > a->plan.splits_big ? a->plan.splits_small : a->plan.splits_big;
    p.part_lse = p.part_o + (size_t)splits * a->token_num * a->n_q * a->head_dim;
    if (a->plan.big_tiles_max > 0x7fffffff || a->plan.splits_small > 65535 || a->n_kv > 65535)
        return fd__error(FD_ERR_INVALID_ARG, "%s: launch too large", name);
    if (((uintptr_t)a->key_cache | (uintptr_t)a->value_cache | (uintptr_t)a->out |
         (uintptr_t)a->workspace) % 16)  // 16-byte vector loads and stores
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: key_cache, value_cache, out and workspace must be 16-byte aligned",
                         name);
    cudaStream_t st = (cudaStream_t)l->stream;
    aa_prep_kernel<T><<<(unsigned)a->token_num + 1, AA_PREP_NT, 0, st>>>(p);
    cudaError_t e = a->cache_int8 ? aa_tiles_hd<KS, T, true>(p, st) : aa_tiles_hd<KS, T, false>(p, st);
    if (e != cudaSuccess)
        return fd__error(FD_ERR_CUDA, "%s: cannot set up the attention kernel: %s", name,
                         cudaGetErrorString(e));
    if (splits > 1) aa_merge<T>(p, st);
    return fd__cuda_after_launch(l);
}

#endif
