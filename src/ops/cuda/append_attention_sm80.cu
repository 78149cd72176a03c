// SPDX-License-Identifier: Apache-2.0
// append_attention, SM80 variant (f16, bf16): the same tiles as SM70
// (append_attention_tile.cuh, rooflines there) with bf16 WMMA fragments and
// cp.async 16-byte K/V copies straight into shared memory (no register staging,
// all of a tile's loads in flight at once). Bodies only for SM80+: in a mixed
// build this file is also compiled for lower archs, where the op table never
// launches it.
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
template <typename T_, int HD_>
struct aa_fa_cfg {
    typedef T_ T;
    static constexpr bool INT8 = false;
    static constexpr int HD = HD_, BM = 64, BN = 64, NT = 128, LDQ = HD + 8;
    static constexpr int Q_OFF = 0, K_OFF = BM * LDQ * 2, V_OFF = K_OFF + BN * LDQ * 2;
    static constexpr int SMEM = V_OFF + BN * LDQ * 2;
    static_assert(BM == 16 * (NT / 32) && HD % 16 == 0 && BN % 16 == 0, "warp tiling");
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
// Lane layout (PTX m16n8k16): g = lane/4 owns rows g and g+8 of the warp's 16,
// tq = lane%4 owns columns 2tq, 2tq+1 of every 8-wide n block.
template <class C, class CP>
static __device__ void aa_fa2_tile(const aa_params &p, int b, int kvh, int row0, int rows,
                                   int split, int chunk, int direct) {
    typedef typename C::T T;
    constexpr int NS = C::BN / 8, NO = C::HD / 8;  // S and O n blocks per warp
    extern __shared__ __align__(128) unsigned char aa_smem[];
    uint16_t *sQ = (uint16_t *)(aa_smem + C::Q_OFF), *sK = (uint16_t *)(aa_smem + C::K_OFF),
             *sV = (uint16_t *)(aa_smem + C::V_OFF);
    const fd__attn_args &a = p.a;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, tq = lane & 3;
    const int dec = a.seq_lens_decoder[b];
    const int kv_end = dec + (row0 + rows - 1) / p.group + 1;  // keys the last row sees
    const int kv_begin = split * chunk, kv_stop = min(kv_end, kv_begin + chunk);
    if (kv_begin >= kv_stop) return;
    const float s2 = a.scale * 1.4426950408889634f;  // exp2 domain
    aa_issue_kv<C, CP>(p, sK, 0, b, kvh, kv_begin, kv_stop);
    CP::commit();
    aa_issue_kv<C, CP>(p, sV, 1, b, kvh, kv_begin, kv_stop);
    CP::commit();
    aa_load_q<C>(p, sQ, b, kvh, row0, rows);
    const int ra = warp * 16 + g, rb = ra + 8;  // this lane's two rows in the tile
    const bool va = ra < rows, vb = rb < rows;
    const int pa = dec + (row0 + ra) / p.group, pb = dec + (row0 + rb) / p.group;
    // ldmatrix row addresses: Q (A, x4 = rows 0-15 x k 0-15), K (B of two n
    // blocks x k 0-15), V (B^T through .trans: keys k 0-15 x two n blocks).
    const uint16_t *qp = sQ + (warp * 16 + (lane & 15)) * C::LDQ + (lane >> 4) * 8;
    const int koff = ((lane & 7) + ((lane >> 4) << 3)) * C::LDQ + ((lane >> 3) & 1) * 8;
    const int voff = ((lane & 7) + (((lane >> 3) & 1) << 3)) * C::LDQ + (lane >> 4) * 8;
    float o[NO][4];
#pragma unroll
    for (int n = 0; n < NO; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    float ma = -INFINITY, mb = -INFINITY, la = 0.f, lb = 0.f;
    for (int kt = kv_begin; kt < kv_stop; kt += C::BN) {
        const bool more = kt + C::BN < kv_stop;
        CP::wait_1();     // K(t) landed (V(t) may be in flight)
        __syncthreads();  // ... for every thread; sQ written; the last tile consumed
        float s[NS][4];
#pragma unroll
        for (int n = 0; n < NS; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < C::HD / 16; kk++) {
            uint32_t qa[4];
            aa_ldsm4(qa, qp + kk * 16);
#pragma unroll
            for (int n = 0; n < NS / 2; n++) {
                uint32_t kb[4];
                aa_ldsm4(kb, sK + n * 16 * C::LDQ + koff + kk * 16);
                aa_mma<T>(s[2 * n], qa, kb[0], kb[1]);
                aa_mma<T>(s[2 * n + 1], qa, kb[2], kb[3]);
            }
        }
        __syncthreads();  // every warp is done with sK
        if (more) aa_issue_kv<C, CP>(p, sK, 0, b, kvh, kt + C::BN, kv_stop);
        CP::commit();
        // mask (causal, the split's end, padding rows), then the online softmax
        float mxa = -INFINITY, mxb = -INFINITY;
        if (va && vb && kt + C::BN <= kv_stop && kt + C::BN - 1 <= pa) {  // pa <= pb
#pragma unroll
            for (int n = 0; n < NS; n++)  // every key of the tile is visible to both rows
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    s[n][e] *= s2;
                    s[n][2 + e] *= s2;
                    mxa = fmaxf(mxa, s[n][e]);
                    mxb = fmaxf(mxb, s[n][2 + e]);
                }
        } else {
#pragma unroll
            for (int n = 0; n < NS; n++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    const int k = kt + n * 8 + 2 * tq + e;
                    const bool in = k < kv_stop;
                    s[n][e] = va && in && k <= pa ? s[n][e] * s2 : -INFINITY;
                    s[n][2 + e] = vb && in && k <= pb ? s[n][2 + e] * s2 : -INFINITY;
                    mxa = fmaxf(mxa, s[n][e]);
                    mxb = fmaxf(mxb, s[n][2 + e]);
                }
        }
        mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, 1));
        mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, 2));
        mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, 1));
        mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, 2));
        const float na = fmaxf(ma, mxa), nb = fmaxf(mb, mxb);
        const float aa = ma == -INFINITY ? 1.f : exp2f(ma - na);
        const float ab = mb == -INFINITY ? 1.f : exp2f(mb - nb);
        ma = na;
        mb = nb;
        // A row with no visible key so far has max -inf and every s -inf:
        // subtract 0 there so that exp2(-inf - 0) = 0 (no -inf - -inf NaN).
        const float za = na == -INFINITY ? 0.f : na, zb = nb == -INFINITY ? 0.f : nb;
        float suma = 0.f, sumb = 0.f;
        uint32_t pf[NS / 2][4];  // P as the A operand: [k step][a0..a3]
#pragma unroll
        for (int n = 0; n < NS; n++) {
            const float p0 = exp2f(s[n][0] - za), p1 = exp2f(s[n][1] - za);
            const float p2 = exp2f(s[n][2] - zb), p3 = exp2f(s[n][3] - zb);
            suma += p0 + p1;
            sumb += p2 + p3;
            pf[n / 2][(n & 1) * 2] = aa_pack2<T>(p0, p1);      // a0 / a2: row g
            pf[n / 2][(n & 1) * 2 + 1] = aa_pack2<T>(p2, p3);  // a1 / a3: row g+8
        }
        la = la * aa + suma;  // per-lane partial sums, reduced over the quad at the end
        lb = lb * ab + sumb;
#pragma unroll
        for (int n = 0; n < NO; n++) {
            o[n][0] *= aa;
            o[n][1] *= aa;
            o[n][2] *= ab;
            o[n][3] *= ab;
        }
        CP::wait_1();     // V(t) landed (K(t+1) may be in flight)
        __syncthreads();  // ... for every thread
#pragma unroll
        for (int kk = 0; kk < C::BN / 16; kk++)
#pragma unroll
            for (int n = 0; n < NO / 2; n++) {
                uint32_t vb4[4];
                aa_ldsm4t(vb4, sV + kk * 16 * C::LDQ + voff + n * 16);
                aa_mma<T>(o[2 * n], pf[kk], vb4[0], vb4[1]);
                aa_mma<T>(o[2 * n + 1], pf[kk], vb4[2], vb4[3]);
            }
        __syncthreads();  // every warp is done with sV
        if (more) aa_issue_kv<C, CP>(p, sV, 1, b, kvh, kt + C::BN, kv_stop);
        CP::commit();
    }
    CP::wait_all();  // nothing real is pending
    la += __shfl_xor_sync(0xffffffffu, la, 1);
    la += __shfl_xor_sync(0xffffffffu, la, 2);
    lb += __shfl_xor_sync(0xffffffffu, lb, 1);
    lb += __shfl_xor_sync(0xffffffffu, lb, 2);
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int r = h ? rb : ra;
        if (r >= rows) continue;
        const float L = h ? lb : la, M = h ? mb : ma, inv = L > 0.f ? 1.f / L : 0.f;
        const int j = (row0 + r) / p.group, qh = kvh * p.group + (row0 + r) % p.group;
        const int64_t t = (int64_t)a.cu_seqlens_q[b] + j, orow = t * a.n_q + qh;
        if (direct) {
            uint16_t *dst = (uint16_t *)a.out + orow * C::HD + 2 * tq;
#pragma unroll
            for (int n = 0; n < NO; n++)
                *(uint32_t *)(dst + n * 8) = aa_pack2<T>(o[n][2 * h] * inv, o[n][2 * h + 1] * inv);
        } else {
            const int64_t prow = (int64_t)split * a.token_num * a.n_q + orow;
            float *dst = p.part_o + prow * C::HD + 2 * tq;
#pragma unroll
            for (int n = 0; n < NO; n++)
                *(float2 *)(dst + n * 8) = make_float2(o[n][2 * h] * inv, o[n][2 * h + 1] * inv);
            if (tq == 0) p.part_lse[prow] = L > 0.f ? M + log2f(L) : -INFINITY;
        }
    }
}

// Big tiles, longest first: tile = big_start[n] - 1 - blockIdx.x (causal rows
// late in a prompt see the most keys; starting them first shortens the tail).
template <class C>
static __global__ void __launch_bounds__(C::NT, 3) aa80_fa2(aa_params p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const int n = (int)p.a.bsz, total = p.big_start[n];
    if ((int)blockIdx.x >= total) return;
    const int tile = total - 1 - (int)blockIdx.x;
    int lo = 0, hi = n - 1;  // last b with big_start[b] <= tile
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (p.big_start[mid] <= tile) lo = mid; else hi = mid - 1;
    }
    const int row0 = (tile - p.big_start[lo]) * C::BM;
    const int rows = min(C::BM, p.a.seq_lens_this_time[lo] * p.group - row0);
    aa_fa2_tile<C, aa80_copy>(p, lo, blockIdx.y, row0, rows, blockIdx.z, p.a.plan.chunk_big,
                              p.a.plan.splits_big == 1);
#endif
}

// FDEPLOY_ATTN_PREFILL=wmma: the WMMA tiles for prefill too (read once).
static bool aa80_use_fa2() {
    static int use = -1;
    if (use < 0) {
        const char *e = getenv("FDEPLOY_ATTN_PREFILL");
        use = !(e && strcmp(e, "wmma") == 0);
    }
    return use != 0;
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
        cudaError_t e = cudaFuncSetAttribute(aa80_small<C>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, C::SMEM);
        if (e == cudaSuccess) aa80_small<C><<<g, C::NT, C::SMEM, st>>>(p);
        return e;
    }
    template <class C> static cudaError_t big(dim3 g, cudaStream_t st, const aa_params &p) {
        if constexpr (!C::INT8 && C::HD <= 128) {
            typedef aa_fa_cfg<typename C::T, C::HD> F;
            static_assert(F::BM == C::BM, "the planner's big tiles");
            if (aa80_use_fa2()) {
                cudaError_t e = cudaFuncSetAttribute(
                    aa80_fa2<F>, cudaFuncAttributeMaxDynamicSharedMemorySize, F::SMEM);
                if (e == cudaSuccess) aa80_fa2<F><<<g, F::NT, F::SMEM, st>>>(p);
                return e;
            }
        }
        cudaError_t e = cudaFuncSetAttribute(aa80_big<C>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, C::SMEM);
        if (e == cudaSuccess) aa80_big<C><<<g, C::NT, C::SMEM, st>>>(p);
        return e;
    }
};

extern "C" fd_status fd__cuda_append_attention_sm80(const fd__launch *l, const fd__attn_args *a) {
    if (a->dtype == FD_F16) return aa_launch<aa80_kernels, __half>(l, a, "append_attention_sm80");
    if (a->dtype == FD_BF16) return aa_launch<aa80_kernels, fd_bf16>(l, a, "append_attention_sm80");
    return fd__error(FD_ERR_INTERNAL, "append_attention_sm80: called with %s",
                     fd_dtype_name(a->dtype));
}
