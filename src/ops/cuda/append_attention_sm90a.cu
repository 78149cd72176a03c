// SPDX-License-Identifier: Apache-2.0
// append_attention, sm_90a variant (Hopper only: wgmma is arch-specific, so
// this file is built as sm_90a SASS alone and the op table runs it on SM 9.0
// devices only). Decode tiles, int8 caches and head_dim 256 run the SM80
// kernels (append_attention_sm80.cuh); prefill (big) tiles of a 16-bit cache
// at head_dim 64/128 run aa90_tile below, FlashAttention-style on wgmma:
//   CTA = 2 warpgroups x 64 query rows (BM = 128), KV tiles of BN = 128 keys,
//   K/V in 3 stages of 128-byte-swizzled shared memory, copied by TMA a page
//   at a time (cp.async for tiles off the box grid or with a bad block id);
//   S = Q K^T: wgmma m64n128k16, Q and K read from shared memory;
//   online softmax on the S accumulators in registers;
//   O += P V: wgmma m64nHDk16, P from registers (the accumulator layout is the
//   register A layout), V through the descriptor's transpose (N-major B).
// Roofline: 4 * BM * HD flops per key loaded (64k at HD 128); ~990 TFLOP/s of
// dense f16 on an H100 SXM. Measured (docs/gpu-logs/attention-sm90a.log):
// ~310 TFLOP/s causal at 4k tokens with TMA, ~270 with cp.async, ~370 with no
// copies at all; the warpgroups run in lockstep (one CTA barrier a tile), and
// FlashAttention-3's ping-pong and producer warpgroup are the next step.
#include <cuda.h>
#include <cudaTypedefs.h>

#include "ops/cuda/append_attention_sm80.cuh"

// Accumulator operand lists: d[0..N/2) of an m64nNk16 f32 accumulator.
#define AA90_R32 \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, " \
    "%12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, " \
    "%24, %25, %26, %27, %28, %29, %30, %31}"
#define AA90_D32(d) \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), \
    "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), \
    "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), \
    "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), \
    "+f"(d[30]), "+f"(d[31])
#define AA90_R64 \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, " \
    "%12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, " \
    "%24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, " \
    "%36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, " \
    "%60, %61, %62, %63}"
#define AA90_D64(d) \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), \
    "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), \
    "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), \
    "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), \
    "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), \
    "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), \
    "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
    "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), \
    "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), \
    "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])

// One wgmma, A and B from shared memory (descriptors), K-major both.
#define AA90_SS(NR, SHAPE, TY, IA, IB, IP)                                                \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" IP ", 0;\n"                          \
                 "wgmma.mma_async.sync.aligned." SHAPE ".f32." TY "." TY " " AA90_R##NR     \
                 ", %" IA ", %" IB ", p, 1, 1, 0, 0;\n}\n"                                  \
                 : AA90_D##NR(d)                                                          \
                 : "l"(da), "l"(db), "r"(acc))
// One wgmma, A from registers, B from shared memory transposed (N-major).
#define AA90_RS(NR, SHAPE, TY, A0, A1, A2, A3, IB, IP)                                   \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" IP ", 0;\n"                          \
                 "wgmma.mma_async.sync.aligned." SHAPE ".f32." TY "." TY " " AA90_R##NR     \
                 ", {%" A0 ", %" A1 ", %" A2 ", %" A3 "}, %" IB ", p, 1, 1, 1;\n}\n"         \
                 : AA90_D##NR(d)                                                          \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc))

// d (+)= A B for an m64nNk16 tile, N = 2 * ND; acc = 0 overwrites d.
template <typename T, int ND>
static __device__ __forceinline__ void aa90_mma_ss(float (&d)[ND], uint64_t da, uint64_t db,
                                                   int acc) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    static_assert(ND == 32 || ND == 64, "n64 or n128");
    if constexpr (ND == 64) {
        if constexpr (aa_is_half<T>::value) AA90_SS(64, "m64n128k16", "f16", "64", "65", "66");
        else AA90_SS(64, "m64n128k16", "bf16", "64", "65", "66");
    } else {
        if constexpr (aa_is_half<T>::value) AA90_SS(32, "m64n64k16", "f16", "32", "33", "34");
        else AA90_SS(32, "m64n64k16", "bf16", "32", "33", "34");
    }
#endif
}

template <typename T, int ND>
static __device__ __forceinline__ void aa90_mma_rs(float (&d)[ND], const uint32_t (&a)[4],
                                                   uint64_t db, int acc) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    static_assert(ND == 32 || ND == 64, "n64 or n128");
    if constexpr (ND == 64) {
        if constexpr (aa_is_half<T>::value)
            AA90_RS(64, "m64n128k16", "f16", "64", "65", "66", "67", "68", "69");
        else AA90_RS(64, "m64n128k16", "bf16", "64", "65", "66", "67", "68", "69");
    } else {
        if constexpr (aa_is_half<T>::value)
            AA90_RS(32, "m64n64k16", "f16", "32", "33", "34", "35", "36", "37");
        else AA90_RS(32, "m64n64k16", "bf16", "32", "33", "34", "35", "36", "37");
    }
#endif
}

static __device__ __forceinline__ void aa90_fence() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}

static __device__ __forceinline__ void aa90_commit() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}

// Waits for the warpgroup's committed wgmmas; d is read only after.
template <int N>
static __device__ __forceinline__ void aa90_wait(float (&d)[N]) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i])::"memory");
#endif
}

// Generic-proxy shared-memory writes (cp.async, stores) made visible to wgmma.
static __device__ __forceinline__ void aa90_proxy_fence() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// Tile shapes. Q, K and V tiles are HD/64 column halves of ROWS x 64 elements
// in the 128-byte-swizzle layout: 128-byte rows whose 16-byte chunk c of row r
// sits at chunk c ^ (r & 7), halves 1024-byte aligned (what TMA writes and
// wgmma's SW128 descriptors read).
template <typename T_, int HD_, int BM_, int BN_, int STAGES_>
struct aa90_cfg {
    typedef T_ T;
    static constexpr bool INT8 = false;
    static constexpr int HD = HD_, BM = BM_, BN = BN_, NT = 2 * BM;
    static constexpr int TILE_Q = BM * HD * 2, TILE_KV = BN * HD * 2;
    // STAGES of K and V (tile t+STAGES-1 is copied while tile t is computed),
    // their mbarriers (TMA copies), alignment slack
    static constexpr int STAGES = STAGES_;
    static constexpr int SMEM = TILE_Q + 2 * STAGES * TILE_KV + 8 * STAGES + 1024;
    static_assert(SMEM <= 227 * 1024, "Hopper's shared memory per block");
    static_assert(BM == BN && HD % 64 == 0, "one layout for Q, K and V tiles");
    // a tile = HD/64 column halves of ROWS x 64 elements (what a TMA box of 64
    // columns writes); SBO: bytes between 8-row groups, HALF: between halves
    static constexpr int ROWS = BM, HALF = ROWS * 64;
    static constexpr uint32_t SBO = 1024;
    static __device__ __forceinline__ int sidx(int r, int d) {
        return (d >> 6) * HALF + r * 64 + ((((d >> 3) & 7) ^ (r & 7)) << 3) + (d & 7);
    }
};

// Shared-memory matrix descriptor, 128-byte swizzle; lbo/sbo in bytes.
static __device__ __forceinline__ uint64_t aa90_desc(const uint16_t *ptr, uint32_t lbo,
                                                     uint32_t sbo) {
    const uint32_t a = (uint32_t)__cvta_generic_to_shared(ptr);
    return (uint64_t)((a & 0x3ffff) >> 4) | (uint64_t)((lbo >> 4) & 0x3fff) << 16 |
           (uint64_t)((sbo >> 4) & 0x3fff) << 32 | 1ull << 62;
}

// ---- TMA: K/V pages by the tensor-copy engine (one thread issues a tile's
// copies; an mbarrier per stage counts the bytes in). The tensor maps view a
// cache as [num_blocks * n_kv * block_size rows, HD] and copy boxes of 64
// columns x min(block_size, 128) rows, 128-byte swizzled as wgmma reads them.
struct aa90_tmaps {
    CUtensorMap k, v;
    int box;  // rows a box copies
    int on;
};

static __device__ __forceinline__ uint32_t aa90_saddr(const void *ptr) {
    return (uint32_t)__cvta_generic_to_shared(ptr);
}

static __device__ __forceinline__ void aa90_mbar_init(uint64_t *bar) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(aa90_saddr(bar)) : "memory");
#endif
}

static __device__ __forceinline__ void aa90_mbar_wait(uint64_t *bar, int parity) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("{\n.reg .pred p;\nAA90_WAIT:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
                 "@!p bra AA90_WAIT;\n}\n" ::"r"(aa90_saddr(bar)),
                 "r"(parity) : "memory");
#endif
}

static __device__ __forceinline__ void aa90_tma_2d(uint16_t *dst, const CUtensorMap *map, int c0,
                                                   int c1, uint64_t *bar) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(aa90_saddr(dst)),
                 "l"((uint64_t)map), "r"(c0), "r"(c1), "r"(aa90_saddr(bar)) : "memory");
#endif
}

// Keys [kt, min(kt + BN, kv_stop)) of K and V into sk, sv (rows past the last
// box keep stale data: the caller zeroes V's); kt is a multiple of the box
// rows, which divide block_size, so no box straddles a page.
template <class C>
static __device__ void aa90_tma_tile(const aa_params &p, const aa90_tmaps &tm, uint16_t *sk,
                                     uint16_t *sv, uint64_t *bar, int b, int kvh, int kt,
                                     int kv_stop) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    const fd__attn_args &a = p.a;
    const int32_t *bt = a.block_tables + (int64_t)b * a.max_blocks_per_seq;
    const int box = tm.box, end = min(kt + C::BN, kv_stop), boxes = (end - kt + box - 1) / box;
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(aa90_saddr(bar)),
                 "r"(boxes * 2 * (C::HD / 64) * box * 128) : "memory");
    for (int k0 = kt; k0 < end; k0 += box) {
        const int row =
            (bt[k0 >> p.bs_shift] * a.n_kv + kvh) * a.block_size + (k0 & (a.block_size - 1));
#pragma unroll
        for (int h = 0; h < C::HD / 64; h++) {
            const int off = h * C::HALF + (k0 - kt) * 64;
            aa90_tma_2d(sk + off, &tm.k, h * 64, row, bar);
            aa90_tma_2d(sv + off, &tm.v, h * 64, row, bar);
        }
    }
#endif
}

// Every block id of keys [kv_begin, kv_stop) valid (a bad one takes the
// cp.async path, which reports it and copies zeros); all threads call this.
static __device__ bool aa90_pages_ok(const aa_params &p, int b, int kv_begin, int kv_stop) {
    const int32_t *bt = p.a.block_tables + (int64_t)b * p.a.max_blocks_per_seq;
    const unsigned nblk = p.a.num_blocks > 0x7fffffff ? 0x7fffffffu : (unsigned)p.a.num_blocks;
    int ok = 1;
    for (int i = (kv_begin >> p.bs_shift) + threadIdx.x; i <= (kv_stop - 1) >> p.bs_shift;
         i += blockDim.x)
        ok &= (unsigned)bt[i] < nblk;
    return __syncthreads_and(ok) != 0;
}

// Zeroes V rows [from, BN) of a stage (P is 0 there, but stale data may hold
// Inf or NaN, and 0 * NaN is NaN).
template <class C>
static __device__ void aa90_zero_rows(uint16_t *sv, int from) {
    constexpr int CPR = C::HD / 8;  // 16-byte chunks a row
    for (int i = threadIdx.x; i < (C::BN - from) * CPR; i += C::NT) {
        const int r = from + i / CPR, c = i % CPR;
        *(uint4 *)(sv + (c >> 3) * C::HALF + r * 64 + (c & 7) * 8) = make_uint4(0, 0, 0, 0);
    }
}

static __device__ __forceinline__ float aa90_ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

// Online softmax of this lane's S rows (scaled by s2 into the exp2 domain,
// masked: causal, window, the split's end, padding rows) -> P as wgmma's
// register A operand ([k step][a0..a3]), the running max / sum, O rescaled.
// (Tree reductions, exp folded into an FMA and skipping unneeded O rescales
// measured no faster: the tile is bound by the GEMMs and the K/V copies.)
template <class C>
static __device__ __forceinline__ void aa90_softmax(float (&s)[C::BN / 2],
                                                    uint32_t (&pf)[C::BN / 16][4],
                                                    float (&o)[C::HD / 2], float (&rm)[2],
                                                    float (&rl)[2], const int (&rr)[2],
                                                    const int (&rp)[2], int rows, int kt,
                                                    int kv_stop, int win, float s2, int tq) {
    typedef typename C::T T;
    constexpr int NS = C::BN / 8;
    float mx[2] = {-INFINITY, -INFINITY};
    if (rr[1] < rows && kt + C::BN <= kv_stop && kt + C::BN - 1 <= rp[0] && kt > rp[1] - win) {
#pragma unroll
        for (int i = 0; i < NS * 4; i++) {  // every key visible to both rows
            s[i] *= s2;
            mx[(i >> 1) & 1] = fmaxf(mx[(i >> 1) & 1], s[i]);
        }
    } else {
#pragma unroll
        for (int i = 0; i < NS * 4; i++) {
            const int h = (i >> 1) & 1, k = kt + (i >> 2) * 8 + 2 * tq + (i & 1);
            s[i] = rr[h] < rows && k < kv_stop && k <= rp[h] && k > rp[h] - win ? s[i] * s2
                                                                                 : -INFINITY;
            mx[h] = fmaxf(mx[h], s[i]);
        }
    }
    float alpha[2], z[2], sum[2] = {0.f, 0.f};
#pragma unroll
    for (int h = 0; h < 2; h++) {
        mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
        mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
        const float nm = fmaxf(rm[h], mx[h]);
        alpha[h] = rm[h] == -INFINITY ? 1.f : aa90_ex2(rm[h] - nm);
        rm[h] = nm;
        z[h] = nm == -INFINITY ? 0.f : nm;  // no -inf - -inf for rows with no key yet
    }
#pragma unroll
    for (int n = 0; n < NS; n++) {
        const float p0 = aa90_ex2(s[4 * n] - z[0]), p1 = aa90_ex2(s[4 * n + 1] - z[0]);
        const float p2 = aa90_ex2(s[4 * n + 2] - z[1]), p3 = aa90_ex2(s[4 * n + 3] - z[1]);
        sum[0] += p0 + p1;
        sum[1] += p2 + p3;
        pf[n / 2][(n & 1) * 2] = aa_pack2<T>(p0, p1);      // row g
        pf[n / 2][(n & 1) * 2 + 1] = aa_pack2<T>(p2, p3);  // row g + 8
    }
#pragma unroll
    for (int h = 0; h < 2; h++) rl[h] = rl[h] * alpha[h] + sum[h];
#pragma unroll
    for (int i = 0; i < C::HD / 2; i++) o[i] *= alpha[(i >> 1) & 1];
}

// This lane's two rows of O (normalised) to out, or to the split's partials.
template <class C>
static __device__ __forceinline__ void aa90_store(const aa_params &p, const float (&o)[C::HD / 2],
                                                  const float (&rm)[2], const float (&rl)[2],
                                                  const int (&rr)[2], int b, int kvh, int row0,
                                                  int rows, int split, int direct, int tq) {
    typedef typename C::T T;
    const fd__attn_args &a = p.a;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        float L = rl[h];
        L += __shfl_xor_sync(0xffffffffu, L, 1);
        L += __shfl_xor_sync(0xffffffffu, L, 2);
        const int r = rr[h];
        if (r >= rows) continue;
        const float inv = L > 0.f ? 1.f / L : 0.f;
        const int j = (row0 + r) / p.group, qh = kvh * p.group + (row0 + r) % p.group;
        const int64_t t = (int64_t)a.cu_seqlens_q[b] + j, orow = t * a.n_q + qh;
        if (direct) {
            uint16_t *dst = (uint16_t *)a.out + orow * C::HD + 2 * tq;
#pragma unroll
            for (int n = 0; n < C::HD / 8; n++)
                *(uint32_t *)(dst + n * 8) =
                    aa_pack2<T>(o[4 * n + 2 * h] * inv, o[4 * n + 2 * h + 1] * inv);
        } else {
            const int64_t prow = (int64_t)split * a.token_num * a.n_q + orow;
            float *dst = p.part_o + prow * C::HD + 2 * tq;
#pragma unroll
            for (int n = 0; n < C::HD / 8; n++)
                *(float2 *)(dst + n * 8) =
                    make_float2(o[4 * n + 2 * h] * inv, o[4 * n + 2 * h + 1] * inv);
            if (tq == 0) p.part_lse[prow] = L > 0.f ? rm[h] + log2f(L) : -INFINITY;
        }
    }
}

// The CTA: rows [row0, row0+rows) of sequence b, kv head kvh, keys of `split`.
// Warpgroup wg owns rows 64wg.. 64wg+63; within it warp w (of 4) rows 16w..,
// lane (g = lane/4, tq = lane%4) rows g and g+8 ("halves" h = 0, 1) and, of
// every 8-column block n, columns 2tq and 2tq+1: accumulator d[4n + 2h + e].
// Per KV tile: wait for its copies, one CTA barrier (every warp is done with
// the tile before, whose stage is refilled), S = Q K^T issued, the copies of
// the tile two ahead issued while it runs, the online softmax, O += P V.
template <class C>
static __device__ void aa90_tile(const aa_params &p, const aa90_tmaps &tm, int b, int kvh,
                                 int row0, int rows, int split, int chunk, int direct) {
    typedef typename C::T T;
    constexpr int NS = C::BN / 8;
    extern __shared__ unsigned char aa90_smem[];
    // the swizzle acts on address bits: align the tiles to 1024 bytes
    const uint32_t s0 = (uint32_t)__cvta_generic_to_shared(aa90_smem);
    unsigned char *base = aa90_smem + ((1024u - (s0 & 1023u)) & 1023u);
    uint16_t *sQ = (uint16_t *)base;
    const fd__attn_args &a = p.a;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, tq = lane & 3;
    const int dec = a.seq_lens_decoder[b];
    const int kv_end = dec + (row0 + rows - 1) / p.group + 1;  // keys the last row sees
    const int kv_begin = aa_win_lo(p, dec + row0 / p.group) + split * chunk;
    const int kv_stop = min(kv_end, kv_begin + chunk);
    if (kv_begin >= kv_stop) return;
    const float s2 = a.scale * 1.4426950408889634f;  // exp2 domain
    auto kv = [&](int s, int isv) {  // stage s: K, V
        return (uint16_t *)(base + C::TILE_Q + (2 * s + isv) * C::TILE_KV);
    };
    uint64_t *full = (uint64_t *)(base + C::TILE_Q + 2 * C::STAGES * C::TILE_KV);
    // TMA when the tiles start on box edges and every page is valid; else cp.async
    const bool tma = tm.on && (kv_begin & (tm.box - 1)) == 0 &&
                     aa90_pages_ok(p, b, kv_begin, kv_stop);
    if (tma && threadIdx.x == 0) {
        for (int i = 0; i < C::STAGES; i++) aa90_mbar_init(&full[i]);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();  // barriers initialised
    // K, V of keys [kt, ...) into stage st
    auto issue = [&](int sg, int k0) {
        if (!tma)
            aa_issue_kv<C, aa80_copy, true, true>(p, kv(sg, 0), kv(sg, 1), b, kvh, k0, kv_stop);
        else if (threadIdx.x == 0)
            aa90_tma_tile<C>(p, tm, kv(sg, 0), kv(sg, 1), &full[sg], b, kvh, k0, kv_stop);
    };
    constexpr int D = C::STAGES - 1;  // tiles in flight ahead of the one computed
#pragma unroll
    for (int t = 0; t < D; t++) {  // one commit group per tile, empty past the end
        if (kv_begin + t * C::BN < kv_stop) issue(t, kv_begin + t * C::BN);
        aa80_copy::commit();
    }
    aa_load_q<C>(p, sQ, b, kvh, row0, rows);
    // the warpgroup's rows and the positions of its first and last row
    const int w0 = (warp >> 2) * 64, wrows = min(64, rows - w0);
    const int wpos_lo = dec + (row0 + w0) / p.group;
    const int wpos_hi = dec + (row0 + w0 + max(wrows, 1) - 1) / p.group;
    int rr[2], rp[2];
    float rm[2], rl[2];
#pragma unroll
    for (int h = 0; h < 2; h++) {
        rr[h] = w0 + (warp & 3) * 16 + h * 8 + (lane >> 2);
        rp[h] = dec + (row0 + rr[h]) / p.group;
        rm[h] = -INFINITY;
        rl[h] = 0.f;
    }
    float o[C::HD / 2];
#pragma unroll
    for (int i = 0; i < C::HD / 2; i++) o[i] = 0.f;
    int st = 0, use = 0;  // stage of tile t, and t / STAGES
    for (int kt = kv_begin; kt < kv_stop; kt += C::BN) {
        const int cur = st, parity = use & 1;
        if (++st == C::STAGES) st = 0, use++;
        if (tma) {
            aa90_mbar_wait(&full[cur], parity);  // K, V of this tile landed
            if (kt + C::BN > kv_stop) aa90_zero_rows<C>(kv(cur, 1), kv_stop - kt);
        } else if (D == 1) {
            aa80_copy::wait_all();  // K, V of this tile landed (this thread's copies)
        } else {
            aa80_copy::wait_1();
        }
        aa90_proxy_fence();     // generic writes (sQ, copies, zeros) visible to wgmma
        __syncthreads();        // ... every thread's; the last tile's stage is free
        // skip: no row of this warpgroup sees a key of the tile (causal, window)
        const bool skip = wrows <= 0 || kt > wpos_hi || kt + C::BN - 1 <= wpos_lo - p.win;
        float s[NS * 4];
        if (!skip) {  // S = Q K^T, asynchronous: the next tile's copies are issued meanwhile
            const uint16_t *sK = kv(cur, 0);
            aa90_fence();
#pragma unroll
            for (int kk = 0; kk < C::HD / 16; kk++) {
                const int off = (kk >> 2) * C::HALF + (kk & 3) * 16;  // 32 bytes a step
                aa90_mma_ss<T>(s, aa90_desc(sQ + C::sidx(w0, 0) + off, 16, C::SBO),
                               aa90_desc(sK + off, 16, C::SBO), kk > 0);
            }
            aa90_commit();
        }
        const int nst = cur + D >= C::STAGES ? cur + D - C::STAGES : cur + D;  // tile t+D's
        if (kt + D * C::BN < kv_stop) issue(nst, kt + D * C::BN);
        aa80_copy::commit();
        if (skip) continue;
        aa90_wait(s);
        uint32_t pf[C::BN / 16][4];  // P as wgmma's register A: [k step][a0..a3]
        aa90_softmax<C>(s, pf, o, rm, rl, rr, rp, rows, kt, kv_stop, p.win, s2, tq);
        const uint16_t *sV = kv(cur, 1);  // 16 keys a step; the halves LBO apart
        aa90_fence();
#pragma unroll
        for (int kk = 0; kk < C::BN / 16; kk++)
            aa90_mma_rs<T>(o, pf[kk], aa90_desc(sV + kk * 16 * 64, C::HALF * 2, C::SBO), 1);
        aa90_commit();
        aa90_wait(o);
    }
    aa80_copy::wait_all();  // nothing real is pending
    aa90_store<C>(p, o, rm, rl, rr, b, kvh, row0, rows, split, direct, tq);
}

// Big tiles, longest first (as aa80_fa2).
template <class C>
static __global__ void __launch_bounds__(C::NT, 1)
    aa90_big(aa_params p, const __grid_constant__ aa90_tmaps tm) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    int b, row0, rows;
    if (!aa_big_tile(p, C::BM, true, &b, &row0, &rows)) return;
    aa90_tile<C>(p, tm, b, blockIdx.y, row0, rows, blockIdx.z, p.a.plan.chunk_big,
                 p.a.plan.splits_big == 1);
#endif
}

// The caches' tensor maps (FDEPLOY_ATTN_TMA=0: none, the cp.async copies);
// false when the driver cannot make them (the kernel then uses cp.async).
static bool aa90_make_maps(const fd__attn_args &a, int hd, aa90_tmaps *tm) {
    const int64_t rows = a.num_blocks * a.n_kv * a.block_size;
    if (rows <= 0 || rows > 0x7fffffff) return false;
    void *fn = nullptr;
    cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault,
                                         &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess || !fn) {
        cudaGetLastError();  // not this op's failure: it runs without TMA
        return false;
    }
    PFN_cuTensorMapEncodeTiled_v12000 encode = (PFN_cuTensorMapEncodeTiled_v12000)fn;
    const int box = a.block_size < 128 ? a.block_size : 128;
    cuuint64_t dims[2] = {(cuuint64_t)hd, (cuuint64_t)rows}, strides[1] = {(cuuint64_t)hd * 2};
    cuuint32_t boxd[2] = {64, (cuuint32_t)box}, estr[2] = {1, 1};
    for (int i = 0; i < 2; i++)
        if (encode(i ? &tm->v : &tm->k, CU_TENSOR_MAP_DATA_TYPE_UINT16, 2,
                   i ? a.value_cache : a.key_cache, dims, strides, boxd, estr,
                   CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                   CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) !=
            CUDA_SUCCESS)
            return false;
    tm->box = box;
    return true;
}

// The SM80 kernels, but big tiles on wgmma when the plan made them 128 rows
// (append_attention.c: 16-bit cache, head_dim <= 128, no FDEPLOY_ATTN_PREFILL).
struct aa90_kernels {
    template <class C> static cudaError_t small(dim3 g, cudaStream_t st, const aa_params &p) {
        return aa80_kernels::small<C>(g, st, p);
    }
    template <class C> static cudaError_t big(dim3 g, cudaStream_t st, const aa_params &p) {
        if constexpr (!C::INT8 && C::HD <= 128) {
            typedef aa90_cfg<typename C::T, C::HD, 128, 128, 3> W;
            if (p.a.plan.big_wgmma) {
                static_assert(W::BM == 128, "append_attention.c plans 128-row big tiles");
                aa90_tmaps tm;
                memset(&tm, 0, sizeof tm);
                const char *e_tma = getenv("FDEPLOY_ATTN_TMA");
                tm.on = !(e_tma && strcmp(e_tma, "0") == 0) && aa90_make_maps(p.a, C::HD, &tm);
                return aa_launch_smem(aa90_big<W>, g, W::NT, W::SMEM, st, p, tm);
            }
        }
        return aa80_kernels::big<C>(g, st, p);
    }
};

extern "C" fd_status fd__cuda_append_attention_sm90a(const fd__launch *l, const fd__attn_args *a) {
    if (a->dtype == FD_F16) return aa_launch<aa90_kernels, __half>(l, a, "append_attention_sm90a");
    if (a->dtype == FD_BF16)
        return aa_launch<aa90_kernels, fd_bf16>(l, a, "append_attention_sm90a");
    return fd__error(FD_ERR_INTERNAL, "append_attention_sm90a: called with %s",
                     fd_dtype_name(a->dtype));
}
