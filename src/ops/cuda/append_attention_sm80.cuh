// SPDX-License-Identifier: Apache-2.0
// append_attention, SM80 kernels (f16, bf16): the tiles of SM70
// (append_attention_tile.cuh, rooflines there) with bf16 WMMA fragments and
// cp.async 16-byte K/V copies straight into shared memory (no register staging;
// K and V of the next tile in flight while this one is computed). Prefill
// (big) tiles with a 16-bit cache and head_dim 64/128 run aa80_fa2 below:
// mma.sync m16n8k16 with S/P in registers (FDEPLOY_ATTN_PREFILL=wmma selects
// the WMMA tiles again). Bodies only for SM80+: in a mixed build this file is
// also compiled for lower archs, where the op table never launches it.
#ifndef FD_OPS_CUDA_APPEND_ATTENTION_SM80_CUH
#define FD_OPS_CUDA_APPEND_ATTENTION_SM80_CUH

#include <stdlib.h>
#include <string.h>

#include "ops/cuda/append_attention_tile.cuh"

// cp.async.cg 16 bytes, zero-filled when !valid (src-size 0: nothing is read).
struct aa80_copy {
    static constexpr bool on = true;
    static __device__ __forceinline__ void copy16(uint16_t *dst, const char *src, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
        unsigned s = (unsigned)__cvta_generic_to_shared(dst);
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src),
                     "r"(valid ? 16 : 0));
#endif
    }
    static __device__ __forceinline__ void wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
        asm volatile("cp.async.wait_all;\n" ::: "memory");
#endif
    }
    static __device__ __forceinline__ void commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
        asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
    }
    // All but the most recent committed group complete.
    static __device__ __forceinline__ void wait_1() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
        asm volatile("cp.async.wait_group 1;\n" ::: "memory");
#endif
    }
};

// ---- prefill tiles with mma.sync m16n8k16 (FlashAttention-2 style): each of
// the 4 warps owns 16 of the BM = 64 query rows (the same big tiles as the WMMA
// path, so the planner, big_start and the merge are unchanged); S = Q K^T and
// P stay in registers (the S accumulator layout is the A layout of P V), the
// online softmax runs on the owning quad of lanes, O is rescaled in registers.
// Q, K and V go through padded shared memory (rows of HD+8 halves: ldmatrix
// and the cp.async stores are conflict-free); K and V are separate cp.async
// groups overlapping the MMAs as in aa_attend. f16/bf16 caches, head_dim 64
// and 128; int8 caches and head_dim 256 keep the WMMA tiles, and
// FDEPLOY_ATTN_PREFILL=wmma selects those for everything.
template <typename T_, int HD_, int NW_, int MB_, int BN_>
struct aa_fa_cfg {
    typedef T_ T;
    static constexpr bool INT8 = false;
    // NW warps, each owning MB blocks of 16 rows (MB = 2 reuses every K / V
    // fragment read from shared memory for two MMAs)
    static constexpr int HD = HD_, NW = NW_, MB = MB_, BM = 16 * NW * MB, BN = BN_;
    static constexpr int NT = 32 * NW, LDQ = HD + 8, MINB = 65536 / (NT * (MB == 1 ? 168 : 256));
    static constexpr int Q_OFF = 0, K_OFF = BM * LDQ * 2, V_OFF = K_OFF + BN * LDQ * 2;
    static constexpr int SMEM = V_OFF + BN * LDQ * 2;
    static __device__ __forceinline__ int sidx(int r, int d) { return r * LDQ + d; }
    static_assert(HD % 16 == 0 && BN % 16 == 0 && MINB >= 1, "warp tiling");
    static_assert((LDQ * 2) % 16 == 0 && K_OFF % 128 == 0 && V_OFF % 128 == 0, "alignment");
};

static __device__ __forceinline__ void aa_ldsm4(uint32_t (&r)[4], const uint16_t *ptr) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned s = (unsigned)__cvta_generic_to_shared(ptr);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s)
                 : "memory");
#endif
}

static __device__ __forceinline__ void aa_ldsm4t(uint32_t (&r)[4], const uint16_t *ptr) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned s = (unsigned)__cvta_generic_to_shared(ptr);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s)
                 : "memory");
#endif
}

// d += a b, m16n8k16, f32 accumulate; T picks f16 or bf16 inputs.
template <typename T>
static __device__ __forceinline__ void aa_mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                              uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    if constexpr (aa_is_half<T>::value)
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, "
            "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    else
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
            "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// Two floats -> T x2 in one register (x in the low half), round to nearest even.
template <typename T>
static __device__ __forceinline__ uint32_t aa_pack2(float x, float y) {
    return (uint32_t)aa_bits<T>(x) | ((uint32_t)aa_bits<T>(y) << 16);
}

// The CTA: rows [row0, row0+rows) of sequence b, kv head kvh, keys of `split`.
// Lane layout (PTX m16n8k16): in each 16-row block, g = lane/4 owns rows g and
// g+8, tq = lane%4 owns columns 2tq, 2tq+1 of every 8-wide n block. "Half" h
// (0 .. 2MB-1) = row block h/2, row g + 8 (h&1): accumulator elements 2(h&1)
// and 2(h&1)+1 of that block.
template <class C, class CP>
static __device__ void aa_fa2_tile(const aa_params &p, int b, int kvh, int row0, int rows,
                                   int split, int chunk, int direct) {
    typedef typename C::T T;
    constexpr int NS = C::BN / 8, NO = C::HD / 8, MB = C::MB, RH = 2 * MB;
    extern __shared__ __align__(128) unsigned char aa_smem[];
    uint16_t *sQ = (uint16_t *)(aa_smem + C::Q_OFF), *sK = (uint16_t *)(aa_smem + C::K_OFF),
             *sV = (uint16_t *)(aa_smem + C::V_OFF);
    const fd__attn_args &a = p.a;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, tq = lane & 3;
    const int dec = a.seq_lens_decoder[b];
    const int kv_end = dec + (row0 + rows - 1) / p.group + 1;  // keys the last row sees
    // no row sees a key before the first row's window start: the splits start there
    const int kv_begin = aa_win_lo(p, dec + row0 / p.group) + split * chunk;
    const int kv_stop = min(kv_end, kv_begin + chunk);
    if (kv_begin >= kv_stop) return;
    const float s2 = a.scale * 1.4426950408889634f;  // exp2 domain
    aa_issue_kv<C, CP, true, false>(p, sK, nullptr, b, kvh, kv_begin, kv_stop, threadIdx.x);
    CP::commit();
    aa_issue_kv<C, CP, false, true>(p, nullptr, sV, b, kvh, kv_begin, kv_stop, threadIdx.x);
    CP::commit();
    aa_load_q<C>(p, sQ, b, kvh, row0, rows);
    const int wrow = warp * 16 * MB;  // the warp's first row in the tile
    int rr[RH], rp[RH];               // this lane's rows and their positions
    float rm[RH], rl[RH];             // running max (exp2 domain), per-lane partial sums
#pragma unroll
    for (int h = 0; h < RH; h++) {
        rr[h] = wrow + (h >> 1) * 16 + (h & 1) * 8 + g;  // increasing in h
        rp[h] = dec + (row0 + rr[h]) / p.group;
        rm[h] = -INFINITY;
        rl[h] = 0.f;
    }
    // ldmatrix row addresses: Q (A, x4 = rows 0-15 x k 0-15), K (B of two n
    // blocks x k 0-15), V (B^T through .trans: keys k 0-15 x two n blocks).
    const uint16_t *qp = sQ + (wrow + (lane & 15)) * C::LDQ + (lane >> 4) * 8;
    const int koff = ((lane & 7) + ((lane >> 4) << 3)) * C::LDQ + ((lane >> 3) & 1) * 8;
    const int voff = ((lane & 7) + (((lane >> 3) & 1) << 3)) * C::LDQ + (lane >> 4) * 8;
    float o[MB][NO][4];
#pragma unroll
    for (int m = 0; m < MB; m++)
#pragma unroll
        for (int n = 0; n < NO; n++) o[m][n][0] = o[m][n][1] = o[m][n][2] = o[m][n][3] = 0.f;
    for (int kt = kv_begin; kt < kv_stop; kt += C::BN) {
        const bool more = kt + C::BN < kv_stop;
        CP::wait_1();     // K(t) landed (V(t) may be in flight)
        __syncthreads();  // ... for every thread; sQ written; the last tile consumed
        float s[MB][NS][4];
#pragma unroll
        for (int m = 0; m < MB; m++)
#pragma unroll
            for (int n = 0; n < NS; n++) s[m][n][0] = s[m][n][1] = s[m][n][2] = s[m][n][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < C::HD / 16; kk++) {
            uint32_t qa[MB][4];
#pragma unroll
            for (int m = 0; m < MB; m++) aa_ldsm4(qa[m], qp + m * 16 * C::LDQ + kk * 16);
#pragma unroll
            for (int n = 0; n < NS / 2; n++) {
                uint32_t kb[4];
                aa_ldsm4(kb, sK + n * 16 * C::LDQ + koff + kk * 16);
#pragma unroll
                for (int m = 0; m < MB; m++) {
                    aa_mma<T>(s[m][2 * n], qa[m], kb[0], kb[1]);
                    aa_mma<T>(s[m][2 * n + 1], qa[m], kb[2], kb[3]);
                }
            }
        }
        __syncthreads();  // every warp is done with sK
        if (more) aa_issue_kv<C, CP, true, false>(p, sK, nullptr, b, kvh, kt + C::BN, kv_stop,
                                                  threadIdx.x);
        CP::commit();
        // mask (causal, sliding window, the split's end, padding rows), then
        // the online softmax; row h sees keys (rp[h] - win, rp[h]]
        float mx[RH];
#pragma unroll
        for (int h = 0; h < RH; h++) mx[h] = -INFINITY;
        if (rr[RH - 1] < rows && kt + C::BN <= kv_stop && kt + C::BN - 1 <= rp[0] &&
            kt > rp[RH - 1] - p.win) {
            // every key of the tile is visible to every row of this lane (rp
            // increases with h: rp[0] ends the causal range, rp[RH-1] starts the window)
#pragma unroll
            for (int h = 0; h < RH; h++)
#pragma unroll
                for (int n = 0; n < NS; n++)
#pragma unroll
                    for (int e = 0; e < 2; e++) {
                        float &v = s[h >> 1][n][(h & 1) * 2 + e];
                        v *= s2;
                        mx[h] = fmaxf(mx[h], v);
                    }
        } else {
#pragma unroll
            for (int h = 0; h < RH; h++)
#pragma unroll
                for (int n = 0; n < NS; n++)
#pragma unroll
                    for (int e = 0; e < 2; e++) {
                        const int k = kt + n * 8 + 2 * tq + e;
                        float &v = s[h >> 1][n][(h & 1) * 2 + e];
                        v = rr[h] < rows && k < kv_stop && k <= rp[h] && k > rp[h] - p.win
                                ? v * s2 : -INFINITY;
                        mx[h] = fmaxf(mx[h], v);
                    }
        }
        float alpha[RH], z[RH], sum[RH];
#pragma unroll
        for (int h = 0; h < RH; h++) {
            mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
            mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
            const float nm = fmaxf(rm[h], mx[h]);
            alpha[h] = rm[h] == -INFINITY ? 1.f : exp2f(rm[h] - nm);
            rm[h] = nm;
            // a row with no visible key so far has max -inf and every s -inf:
            // subtract 0 there so that exp2(-inf - 0) = 0 (no -inf - -inf NaN)
            z[h] = nm == -INFINITY ? 0.f : nm;
            sum[h] = 0.f;
        }
        uint32_t pf[MB][NS / 2][4];  // P as the A operand: [block][k step][a0..a3]
#pragma unroll
        for (int m = 0; m < MB; m++)
#pragma unroll
            for (int n = 0; n < NS; n++) {
                const float p0 = exp2f(s[m][n][0] - z[2 * m]), p1 = exp2f(s[m][n][1] - z[2 * m]);
                const float p2 = exp2f(s[m][n][2] - z[2 * m + 1]);
                const float p3 = exp2f(s[m][n][3] - z[2 * m + 1]);
                sum[2 * m] += p0 + p1;
                sum[2 * m + 1] += p2 + p3;
                pf[m][n / 2][(n & 1) * 2] = aa_pack2<T>(p0, p1);      // a0 / a2: row g
                pf[m][n / 2][(n & 1) * 2 + 1] = aa_pack2<T>(p2, p3);  // a1 / a3: row g+8
            }
#pragma unroll
        for (int h = 0; h < RH; h++) rl[h] = rl[h] * alpha[h] + sum[h];
#pragma unroll
        for (int m = 0; m < MB; m++)
#pragma unroll
            for (int n = 0; n < NO; n++) {
                o[m][n][0] *= alpha[2 * m];
                o[m][n][1] *= alpha[2 * m];
                o[m][n][2] *= alpha[2 * m + 1];
                o[m][n][3] *= alpha[2 * m + 1];
            }
        CP::wait_1();     // V(t) landed (K(t+1) may be in flight)
        __syncthreads();  // ... for every thread
#pragma unroll
        for (int kk = 0; kk < C::BN / 16; kk++)
#pragma unroll
            for (int n = 0; n < NO / 2; n++) {
                uint32_t vb4[4];
                aa_ldsm4t(vb4, sV + kk * 16 * C::LDQ + voff + n * 16);
#pragma unroll
                for (int m = 0; m < MB; m++) {
                    aa_mma<T>(o[m][2 * n], pf[m][kk], vb4[0], vb4[1]);
                    aa_mma<T>(o[m][2 * n + 1], pf[m][kk], vb4[2], vb4[3]);
                }
            }
        __syncthreads();  // every warp is done with sV
        if (more) aa_issue_kv<C, CP, false, true>(p, nullptr, sV, b, kvh, kt + C::BN, kv_stop,
                                                  threadIdx.x);
        CP::commit();
    }
    CP::wait_all();  // nothing real is pending
#pragma unroll
    for (int h = 0; h < RH; h++) {
        float L = rl[h];
        L += __shfl_xor_sync(0xffffffffu, L, 1);
        L += __shfl_xor_sync(0xffffffffu, L, 2);
        const int r = rr[h], m = h >> 1, i = (h & 1) * 2;
        if (r >= rows) continue;
        const float inv = L > 0.f ? 1.f / L : 0.f;
        const int j = (row0 + r) / p.group, qh = kvh * p.group + (row0 + r) % p.group;
        const int64_t t = (int64_t)a.cu_seqlens_q[b] + j, orow = t * a.n_q + qh;
        if (direct) {
            uint16_t *dst = (uint16_t *)a.out + orow * C::HD + 2 * tq;
#pragma unroll
            for (int n = 0; n < NO; n++)
                *(uint32_t *)(dst + n * 8) = aa_pack2<T>(o[m][n][i] * inv, o[m][n][i + 1] * inv);
        } else {
            const int64_t prow = (int64_t)split * a.token_num * a.n_q + orow;
            float *dst = p.part_o + prow * C::HD + 2 * tq;
#pragma unroll
            for (int n = 0; n < NO; n++)
                *(float2 *)(dst + n * 8) = make_float2(o[m][n][i] * inv, o[m][n][i + 1] * inv);
            if (tq == 0) p.part_lse[prow] = L > 0.f ? rm[h] + log2f(L) : -INFINITY;
        }
    }
}

// Big tiles, longest first (aa_big_tile: starting them first shortens the tail).
template <class C>
static __global__ void __launch_bounds__(C::NT, C::MINB) aa80_fa2(aa_params p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    int b, row0, rows;
    if (!aa_big_tile(p, C::BM, true, &b, &row0, &rows)) return;
    aa_fa2_tile<C, aa80_copy>(p, b, blockIdx.y, row0, rows, blockIdx.z, p.a.plan.chunk_big,
                              p.a.plan.splits_big == 1);
#endif
}

// FDEPLOY_ATTN_PREFILL: "wmma" = the WMMA tiles for prefill too, "mma2" =
// mma.sync tiles with 2 warps x 32 rows (BN 32 for head_dim 128 to stay within
// 255 registers, 64 for 64), else (default) 4 warps x 16 rows (BN 64): the
// fastest on the H100 (docs/gpu-logs/attention-after-tuning.log: 0.89 ms vs
// 1.17 ms and 1.95 ms for a 4096-token prefill).
static int aa80_prefill_mode() {
    const char *e = getenv("FDEPLOY_ATTN_PREFILL");
    return e && strcmp(e, "wmma") == 0 ? 0 : e && strcmp(e, "mma2") == 0 ? 2 : 1;
}

template <class C>
static __global__ void __launch_bounds__(C::NT) aa80_small(aa_params p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    aa_attend_small<C, aa80_copy>(p);
#endif
}

template <class C>
static __global__ void __launch_bounds__(C::NT) aa80_big(aa_params p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    aa_attend_big<C, aa80_copy>(p);
#endif
}

struct aa80_kernels {
    template <class C> static cudaError_t small(dim3 g, cudaStream_t st, const aa_params &p) {
        return aa_launch_smem(aa80_small<C>, g, C::NT, C::SMEM, st, p);
    }
    template <class C> static cudaError_t big(dim3 g, cudaStream_t st, const aa_params &p) {
        if constexpr (!C::INT8 && C::HD <= 128) {
            typedef typename C::T T;
            typedef aa_fa_cfg<T, C::HD, 4, 1, 64> F1;
            typedef aa_fa_cfg<T, C::HD, 2, 2, C::HD == 128 ? 32 : 64> F2;
            static_assert(F1::BM == C::BM && F2::BM == C::BM, "the planner's big tiles");
            const int mode = aa80_prefill_mode();
            if (mode == 1) return aa_launch_smem(aa80_fa2<F1>, g, F1::NT, F1::SMEM, st, p);
            if (mode == 2) return aa_launch_smem(aa80_fa2<F2>, g, F2::NT, F2::SMEM, st, p);
        }
        return aa_launch_smem(aa80_big<C>, g, C::NT, C::SMEM, st, p);
    }
};

#endif
