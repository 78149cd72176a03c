// SPDX-License-Identifier: Apache-2.0
// append_attention, sm_90a variant (Hopper only: wgmma is arch-specific, so
// this file is built as sm_90a SASS alone and the op table runs it on SM 9.0
// devices only). Decode tiles, int8 caches and head_dim 256 run the SM80
// kernels (append_attention_sm80.cuh); prefill (big) tiles of a 16-bit cache
// at head_dim 64/128 run on wgmma, FlashAttention-3 style:
//   BM = 128 query rows (two consumer warpgroups of 64) x BN = 128 keys;
//   K/V in 3 stages of 128-byte-swizzled shared memory, copied by TMA a page
//   at a time by a producer warpgroup (full/empty mbarriers per stage);
//   S = Q K^T: wgmma m64n128k16, Q and K read from shared memory;
//   online softmax on the S accumulators in registers, overlapping the
//   previous tile's P V; the consumers take turns on the tensor cores;
//   O += P V: wgmma m64nHDk16, P from registers (the accumulator layout is the
//   register A layout), V through the descriptor's transpose (N-major B).
// Sliding windows and tiles off the TMA box grid run the lockstep CTA
// (aa90_tile: one barrier a tile, TMA or cp.async).
// Roofline: 4 * BM * HD flops per key loaded (64k at HD 128); ~990 TFLOP/s of
// dense f16 on an H100 SXM. Measured (docs/gpu-logs/attention-sm90a-ws.log):
// ~390 TFLOP/s causal at 4k tokens (torch SDPA 518), the lockstep CTA ~340.
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

// Waits until at most PENDING of the warpgroup's committed wgmma groups are
// in flight (groups complete in order); d is read only after.
template <int PENDING, int N>
static __device__ __forceinline__ void aa90_wait(float (&d)[N]) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(PENDING) : "memory");
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
    // their full and empty mbarriers, alignment slack
    static constexpr int STAGES = STAGES_;
    static constexpr int SMEM = TILE_Q + 2 * STAGES * TILE_KV + 16 * STAGES + 1024;
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
    int box;       // rows a box copies
    int on;
    int pingpong;  // the warp-specialised CTA's warpgroup scheduler (aa90_turns)
};

static __device__ __forceinline__ uint32_t aa90_saddr(const void *ptr) {
    return (uint32_t)__cvta_generic_to_shared(ptr);
}

static __device__ __forceinline__ void aa90_mbar_init(uint64_t *bar, int count) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(aa90_saddr(bar)), "r"(count)
                 : "memory");
#endif
}

static __device__ __forceinline__ void aa90_mbar_arrive(uint64_t *bar) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(aa90_saddr(bar)) : "memory");
#endif
}

// Arrives on bar once this thread's cp.async copies so far have landed
// (noinc: the barrier was initialised with one count per copying thread).
static __device__ __forceinline__ void aa90_mbar_arrive_cp(uint64_t *bar) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(aa90_saddr(bar))
                 : "memory");
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

// TMA copies for keys [kv_begin, kv_stop): the maps exist, the tiles start on
// the box grid and every block id is valid (a bad one takes the cp.async
// path, which reports it and copies zeros); all threads call this.
static __device__ bool aa90_use_tma(const aa_params &p, const aa90_tmaps &tm, int b,
                                    int kv_begin, int kv_stop) {
    if (!tm.on || (kv_begin & (tm.box - 1)) != 0) return false;  // uniform in the CTA
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
static __device__ void aa90_zero_rows(uint16_t *sv, int from, int tid, int nt) {
    constexpr int CPR = C::HD / 8;  // 16-byte chunks a row
    for (int i = tid; i < (C::BN - from) * CPR; i += nt) {
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
// register A operand ([k step][a0..a3]), the running max / sum, and the
// factor alpha O's rows are to be rescaled by (aa90_rescale).
// (Tree reductions, exp folded into an FMA and skipping unneeded O rescales
// measured no faster: the tile is bound by the GEMMs and the K/V copies.)
template <class C>
static __device__ __forceinline__ void aa90_softmax(float (&s)[C::BN / 2],
                                                    uint32_t (&pf)[C::BN / 16][4],
                                                    float (&alpha)[2], float (&rm)[2],
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
    float z[2], sum[2] = {0.f, 0.f};
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
}

template <int N>
static __device__ __forceinline__ void aa90_rescale(float (&o)[N], const float (&alpha)[2]) {
#pragma unroll
    for (int i = 0; i < N; i++) o[i] *= alpha[(i >> 1) & 1];
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

// Shared-memory layout: Q, then STAGES x (K, V), then the full and empty
// mbarriers of the stages; the swizzle acts on address bits, so it starts on
// a 1024-byte boundary.
static __device__ __forceinline__ unsigned char *aa90_base(unsigned char *smem) {
    const uint32_t s0 = aa90_saddr(smem);
    return smem + ((1024u - (s0 & 1023u)) & 1023u);
}

template <class C>
static __device__ __forceinline__ uint16_t *aa90_kv(unsigned char *base, int stage, int isv) {
    return (uint16_t *)(base + C::TILE_Q + (2 * stage + isv) * C::TILE_KV);
}

template <class C>
static __device__ __forceinline__ uint64_t *aa90_bars(unsigned char *base) {
    return (uint64_t *)(base + C::TILE_Q + 2 * C::STAGES * C::TILE_KV);
}

static __device__ __forceinline__ void aa90_bar_sync(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// The keys a CTA's rows see: [kv_begin, kv_stop) of its split; dec = the
// sequence's cached length.
struct aa90_range {
    int dec, kv_begin, kv_stop;
};

static __device__ aa90_range aa90_keys(const aa_params &p, int b, int row0, int rows, int split,
                                       int chunk) {
    aa90_range r;
    r.dec = p.a.seq_lens_decoder[b];
    const int kv_end = r.dec + (row0 + rows - 1) / p.group + 1;  // keys the last row sees
    r.kv_begin = aa_win_lo(p, r.dec + row0 / p.group) + split * chunk;
    r.kv_stop = min(kv_end, r.kv_begin + chunk);
    return r;
}

// A lane's rows. Warpgroup wg owns rows 64wg.. 64wg+63; within it warp w (of
// 4) rows 16w..; lane (g = lane/4, tq = lane%4) rows g and g+8 ("halves" h =
// 0, 1) and, of every 8-column block n, columns 2tq and 2tq+1: accumulator
// d[4n + 2h + e]. wpos_lo/hi: the positions of the warpgroup's first and last row.
struct aa90_lane {
    int w0, wrows, wpos_lo, wpos_hi, rr[2], rp[2];
};

static __device__ aa90_lane aa90_lane_rows(const aa_params &p, int dec, int row0, int rows) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    aa90_lane L;
    L.w0 = (warp >> 2) * 64;
    L.wrows = min(64, rows - L.w0);
    L.wpos_lo = dec + (row0 + L.w0) / p.group;
    L.wpos_hi = dec + (row0 + L.w0 + max(L.wrows, 1) - 1) / p.group;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        L.rr[h] = L.w0 + (warp & 3) * 16 + h * 8 + (lane >> 2);
        L.rp[h] = dec + (row0 + L.rr[h]) / p.group;
    }
    return L;
}

// No row of the warpgroup sees a key of the tile at kt (causal, window).
// Broadcast from lane 0: ptxas then knows the branch is warp-uniform and does
// not serialise the wgmmas behind it.
static __device__ __forceinline__ bool aa90_skip(const aa_params &p, const aa90_lane &L, int kt,
                                                 int bn) {
    const int skip = L.wrows <= 0 || kt > L.wpos_hi || kt + bn - 1 <= L.wpos_lo - p.win;
    return __shfl_sync(0xffffffffu, skip, 0) != 0;
}

// S = Q K^T for the warpgroup's 64 rows, issued and committed (not waited for).
template <class C>
static __device__ __forceinline__ void aa90_qk(float (&s)[C::BN / 2], const uint16_t *sQ,
                                               const uint16_t *sK) {
#pragma unroll
    for (int kk = 0; kk < C::HD / 16; kk++) {
        const int off = (kk >> 2) * C::HALF + (kk & 3) * 16;  // 32 bytes a step
        aa90_mma_ss<typename C::T>(s, aa90_desc(sQ + off, 16, C::SBO),
                                   aa90_desc(sK + off, 16, C::SBO), kk > 0);
    }
    aa90_commit();
}

// O += P V, issued and committed; 16 keys a step, V's column halves LBO apart.
template <class C>
static __device__ __forceinline__ void aa90_pv(float (&o)[C::HD / 2],
                                               const uint32_t (&pf)[C::BN / 16][4],
                                               const uint16_t *sV) {
#pragma unroll
    for (int kk = 0; kk < C::BN / 16; kk++)
        aa90_mma_rs<typename C::T>(o, pf[kk], aa90_desc(sV + kk * 16 * 64, C::HALF * 2, C::SBO),
                                   1);
    aa90_commit();
}

// The lockstep CTA (2 warpgroups; sliding windows, tiles off the TMA box grid,
// FDEPLOY_ATTN_WS=0): rows [row0, row0+rows) of sequence b, kv head kvh, keys
// of `split`. Per KV tile: wait for its copies, one CTA barrier (every warp is
// done with the tile before, whose stage is refilled), S = Q K^T issued, the
// copies of the tile two ahead issued while it runs, the softmax, O += P V.
template <class C>
static __device__ void aa90_tile(const aa_params &p, const aa90_tmaps &tm, int b, int kvh,
                                 int row0, int rows, int split, int chunk, int direct) {
    typedef typename C::T T;
    extern __shared__ unsigned char aa90_smem[];
    unsigned char *base = aa90_base(aa90_smem);
    uint16_t *sQ = (uint16_t *)base;
    const int tq = threadIdx.x & 3;
    const aa90_range kr = aa90_keys(p, b, row0, rows, split, chunk);
    const int kv_begin = kr.kv_begin, kv_stop = kr.kv_stop;
    if (kv_begin >= kv_stop) return;
    const float s2 = p.a.scale * 1.4426950408889634f;  // exp2 domain
    uint64_t *full = aa90_bars<C>(base);
    const bool tma = aa90_use_tma(p, tm, b, kv_begin, kv_stop);  // else cp.async
    if (tma && threadIdx.x == 0) {
        for (int i = 0; i < C::STAGES; i++) aa90_mbar_init(&full[i], 1);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();  // barriers initialised
    auto issue = [&](int sg, int k0) {  // K, V of keys [k0, ...) into stage sg
        uint16_t *sk = aa90_kv<C>(base, sg, 0), *sv = aa90_kv<C>(base, sg, 1);
        if (!tma)
            aa_issue_kv<C, aa80_copy, true, true>(p, sk, sv, b, kvh, k0, kv_stop, threadIdx.x);
        else if (threadIdx.x == 0)
            aa90_tma_tile<C>(p, tm, sk, sv, &full[sg], b, kvh, k0, kv_stop);
    };
    constexpr int D = C::STAGES - 1;  // tiles in flight ahead of the one computed
#pragma unroll
    for (int t = 0; t < D; t++) {  // one commit group per tile, empty past the end
        if (kv_begin + t * C::BN < kv_stop) issue(t, kv_begin + t * C::BN);
        aa80_copy::commit();
    }
    aa_load_q<C>(p, sQ, b, kvh, row0, rows);
    const aa90_lane L = aa90_lane_rows(p, kr.dec, row0, rows);
    float rm[2] = {-INFINITY, -INFINITY}, rl[2] = {0.f, 0.f}, o[C::HD / 2];
#pragma unroll
    for (int i = 0; i < C::HD / 2; i++) o[i] = 0.f;
    int st = 0, use = 0;  // stage of tile t, and t / STAGES
    for (int kt = kv_begin; kt < kv_stop; kt += C::BN) {
        const int cur = st, parity = use & 1;
        if (++st == C::STAGES) st = 0, use++;
        if (tma) {
            aa90_mbar_wait(&full[cur], parity);  // K, V of this tile landed
            if (kt + C::BN > kv_stop)
                aa90_zero_rows<C>(aa90_kv<C>(base, cur, 1), kv_stop - kt, threadIdx.x, C::NT);
        } else if (D == 1) {
            aa80_copy::wait_all();  // K, V of this tile landed (this thread's copies)
        } else {
            aa80_copy::wait_1();
        }
        aa90_proxy_fence();  // generic writes (sQ, copies, zeros) visible to wgmma
        __syncthreads();     // ... every thread's; the last tile's stage is free
        const bool skip = aa90_skip(p, L, kt, C::BN);
        float s[C::BN / 2];
        if (!skip) {  // asynchronous: the next tile's copies are issued meanwhile
            aa90_fence();
            aa90_qk<C>(s, sQ + C::sidx(L.w0, 0), aa90_kv<C>(base, cur, 0));
        }
        const int nst = cur + D >= C::STAGES ? cur + D - C::STAGES : cur + D;  // tile t+D's
        if (kt + D * C::BN < kv_stop) issue(nst, kt + D * C::BN);
        aa80_copy::commit();
        if (skip) continue;
        aa90_wait<0>(s);
        uint32_t pf[C::BN / 16][4];  // P as wgmma's register A: [k step][a0..a3]
        float alpha[2];
        aa90_softmax<C>(s, pf, alpha, rm, rl, L.rr, L.rp, rows, kt, kv_stop, p.win, s2, tq);
        aa90_rescale(o, alpha);
        aa90_fence();
        aa90_pv<C>(o, pf, aa90_kv<C>(base, cur, 1));
        aa90_wait<0>(o);
    }
    aa80_copy::wait_all();  // nothing real is pending
    aa90_store<C>(p, o, rm, rl, L.rr, b, kvh, row0, rows, split, direct, tq);
}

// ---- Warp-specialised CTA (FlashAttention-3's layout): warpgroups 0 and 1
// compute, warpgroup 2 produces. Stage s has a full barrier (its copies
// landed: TMA bytes, or one arrival per copying thread) and an empty one (one
// arrival per consumer warp done with it), so the warpgroups drift apart and
// one's softmax overlaps the other's GEMMs. Within a warpgroup, tile t's
// S = Q K^T runs while tile t-1's P V is issued behind it, and the softmax
// of tile t overlaps that P V.
template <class C>
struct aa90_prod : C {  // the producer warpgroup's view for aa_issue_kv
    static constexpr int NT = 128;
};

// The producer: tile t into stage t % STAGES once both warpgroups freed it.
// TMA: one thread issues; cp.async (a bad block id): all 128 copy.
template <class C>
static __device__ void aa90_produce(const aa_params &p, const aa90_tmaps &tm, unsigned char *base,
                                    bool tma, int b, int kvh, aa90_range kr) {
    const int tid = threadIdx.x - C::NT;
    if (tma && tid != 0) return;
    uint64_t *full = aa90_bars<C>(base), *empty = full + C::STAGES;
    for (int t = 0, kt = kr.kv_begin; kt < kr.kv_stop; t++, kt += C::BN) {
        const int s = t % C::STAGES;
        if (t >= C::STAGES) aa90_mbar_wait(&empty[s], (t / C::STAGES + 1) & 1);
        uint16_t *sk = aa90_kv<C>(base, s, 0), *sv = aa90_kv<C>(base, s, 1);
        if (tma) {
            aa90_tma_tile<C>(p, tm, sk, sv, &full[s], b, kvh, kt, kr.kv_stop);
        } else {
            aa_issue_kv<aa90_prod<C>, aa80_copy, true, true>(p, sk, sv, b, kvh, kt, kr.kv_stop,
                                                             tid);
            aa90_mbar_arrive_cp(&full[s]);
        }
    }
    if (!tma) aa80_copy::wait_all();
}

// Registers a pending wgmma reads stay untouched until after its wait.
template <int N>
static __device__ __forceinline__ void aa90_keep(uint32_t (&pf)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) asm volatile("" : "+r"(pf[i][j])::"memory");
}

// Tile t of a consumer: waits for its copies; true when the warpgroup
// computes it (else the stage is freed at once). A 16-bit TMA tile past the
// keys gets its V rows zeroed (the other warpgroup writes the same zeros).
template <class C>
static __device__ bool aa90_arrive_tile(const aa_params &p, const aa90_lane &L,
                                        unsigned char *base, bool tma, int t, int kt,
                                        int kv_stop) {
    uint64_t *full = aa90_bars<C>(base), *empty = full + C::STAGES;
    const int cur = t % C::STAGES;
    aa90_mbar_wait(&full[cur], (t / C::STAGES) & 1);
    if (aa90_skip(p, L, kt, C::BN)) {
        if ((threadIdx.x & 31) == 0) aa90_mbar_arrive(&empty[cur]);
        return false;
    }
    if (!tma) aa90_proxy_fence();  // the cp.async writes, visible to wgmma
    if (tma && kt + C::BN > kv_stop) {
        aa90_zero_rows<C>(aa90_kv<C>(base, cur, 1), kv_stop - kt, threadIdx.x & 127, 128);
        aa90_proxy_fence();
        aa90_bar_sync(2 + __shfl_sync(0xffffffffu, threadIdx.x >> 7, 0), 128);
    }
    return true;
}

// FlashAttention-3's warpgroup scheduler: a consumer warpgroup issues its
// round of wgmmas (S of a tile, P V of the one before) while it holds the
// turn, then passes it, so the tensor cores alternate between the two and
// each one's softmax runs under the other's GEMMs. Both take the same number
// of turns: one per tile (empty when skipped) and a last one.
struct aa90_turns {
    int self, other, on;
    __device__ __forceinline__ void take() const {
        if (on) aa90_bar_sync(self, 256);
    }
    __device__ __forceinline__ void pass() const {
        if (on) asm volatile("bar.arrive %0, 256;\n" ::"r"(other) : "memory");
    }
};

// A consumer warpgroup's pass over the keys. The first tile it computes is
// peeled off so that every P V is issued on a path without branches: ptxas
// serialises wgmmas whose accumulators a branch merge copies while in flight.
// A warpgroup skips only a tail of tiles (no window here), which it frees.
template <class C>
static __device__ void aa90_consume(const aa_params &p, unsigned char *base, bool tma, int b,
                                    int kvh, int row0, int rows, aa90_range kr, int split,
                                    int direct, int pingpong) {
    const uint16_t *sQ = (const uint16_t *)base;
    uint64_t *empty = aa90_bars<C>(base) + C::STAGES;
    const int lane = threadIdx.x & 31, tq = lane & 3;
    const int wg = __shfl_sync(0xffffffffu, threadIdx.x >> 7, 0);  // uniform, as aa90_skip
    const aa90_turns turn = {4 + wg, 5 - wg, pingpong};
    const aa90_lane L = aa90_lane_rows(p, kr.dec, row0, rows);
    const uint16_t *sQw = sQ + C::sidx(L.w0, 0);
    const float s2 = p.a.scale * 1.4426950408889634f;  // exp2 domain
    float rm[2] = {-INFINITY, -INFINITY}, rl[2] = {0.f, 0.f}, o[C::HD / 2];
#pragma unroll
    for (int i = 0; i < C::HD / 2; i++) o[i] = 0.f;
    uint32_t pf[C::BN / 16][4];  // P of the stage `pend`, whose P V is issued next
    float s[C::BN / 2], alpha[2];
    int t = 0, kt = kr.kv_begin, pend = -1;
    if (wg == 1) turn.pass();  // the first turn is warpgroup 0's
    const bool first = aa90_arrive_tile<C>(p, L, base, tma, 0, kt, kr.kv_stop);
    turn.take();
    if (first) {
        aa90_fence();
        aa90_qk<C>(s, sQw, aa90_kv<C>(base, 0, 0));
        turn.pass();
        aa90_wait<0>(s);
        aa90_softmax<C>(s, pf, alpha, rm, rl, L.rr, L.rp, rows, kt, kr.kv_stop, p.win, s2, tq);
        pend = 0;
    } else {
        turn.pass();
    }
    for (t = 1, kt += C::BN; kt < kr.kv_stop; t++, kt += C::BN) {
        const bool comp = aa90_arrive_tile<C>(p, L, base, tma, t, kt, kr.kv_stop);
        turn.take();
        if (!comp) break;  // pend >= 0: tile 0 was computed (skips are a tail)
        const int cur = t % C::STAGES;
        aa90_fence();
        aa90_qk<C>(s, sQw, aa90_kv<C>(base, cur, 0));
        aa90_pv<C>(o, pf, aa90_kv<C>(base, pend, 1));  // behind S: the softmax overlaps it
        turn.pass();
        aa90_wait<1>(s);
        uint32_t pn[C::BN / 16][4];
        aa90_softmax<C>(s, pn, alpha, rm, rl, L.rr, L.rp, rows, kt, kr.kv_stop, p.win, s2, tq);
        aa90_wait<0>(o);
        aa90_keep(pf);
        if (lane == 0) aa90_mbar_arrive(&empty[pend]);
        aa90_rescale(o, alpha);
#pragma unroll
        for (int i = 0; i < C::BN / 16; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) pf[i][j] = pn[i][j];
        pend = cur;
    }
    auto last_pv = [&]() {  // in a turn already taken: the pending P V, its stage freed
        if (pend >= 0) {
            aa90_fence();
            aa90_pv<C>(o, pf, aa90_kv<C>(base, pend, 1));
            turn.pass();
            aa90_wait<0>(o);
            aa90_keep(pf);
            if (lane == 0) aa90_mbar_arrive(&empty[pend]);
        } else {
            turn.pass();
        }
    };
    if (kt < kr.kv_stop) {  // the skipped tile that ended the loop: its turn is taken
        last_pv();
        for (t++, kt += C::BN; kt < kr.kv_stop; t++, kt += C::BN) {  // the skipped tail
            aa90_arrive_tile<C>(p, L, base, tma, t, kt, kr.kv_stop);
            turn.take();
            turn.pass();
        }
        turn.take();  // the last turn
        turn.pass();
    } else {
        turn.take();  // the last turn
        last_pv();
    }
    aa90_store<C>(p, o, rm, rl, L.rr, b, kvh, row0, rows, split, direct, tq);
}

// Registers per thread after the split (FlashAttention-3's 24 / 240:
// 128 x 24 + 256 x 240 fits the 64K register file).
#define AA90_PRODUCER_REGS "24"
#define AA90_CONSUMER_REGS "240"

template <class C>
static __global__ void __launch_bounds__(C::NT + 128, 1)
    aa90_ws(aa_params p, const __grid_constant__ aa90_tmaps tm) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    int b, row0, rows;
    if (!aa_big_tile(p, C::BM, true, &b, &row0, &rows)) return;
    const int kvh = blockIdx.y, split = blockIdx.z;
    const aa90_range kr = aa90_keys(p, b, row0, rows, split, p.a.plan.chunk_big);
    if (kr.kv_begin >= kr.kv_stop) return;
    extern __shared__ unsigned char aa90_smem[];
    unsigned char *base = aa90_base(aa90_smem);
    uint64_t *full = aa90_bars<C>(base), *empty = full + C::STAGES;
    const bool tma = aa90_use_tma(p, tm, b, kr.kv_begin, kr.kv_stop);
    if (threadIdx.x == 0) {
        for (int i = 0; i < C::STAGES; i++) {
            aa90_mbar_init(&full[i], tma ? 1 : 128);
            aa90_mbar_init(&empty[i], C::NT / 32);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();  // barriers initialised
    if (__shfl_sync(0xffffffffu, threadIdx.x >> 7, 0) == C::NT / 128) {  // uniform
        asm volatile("setmaxnreg.dec.sync.aligned.u32 " AA90_PRODUCER_REGS ";\n" ::: "memory");
        aa90_produce<C>(p, tm, base, tma, b, kvh, kr);
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 " AA90_CONSUMER_REGS ";\n" ::: "memory");
    aa_load_q<C>(p, (uint16_t *)base, b, kvh, row0, rows);
    aa90_proxy_fence();
    aa90_bar_sync(1, C::NT);  // Q in shared memory, visible to wgmma
    aa90_consume<C>(p, base, tma, b, kvh, row0, rows, kr, split, p.a.plan.splits_big == 1,
                    tm.pingpong);
#endif
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
// The driver's cuTensorMapEncodeTiled, looked up once per process (a
// property of the driver, like the CPU features quant_avx2.c caches; benign
// race: every thread stores the same pointer). NULL: none, no TMA.
static PFN_cuTensorMapEncodeTiled_v12000 aa90_encode_fn() {
    static void *cached = &cached;  // itself: not looked up yet
    if (cached == &cached) {
        void *f = nullptr;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000,
                                             cudaEnableDefault, &q) != cudaSuccess ||
            q != cudaDriverEntryPointSuccess) {
            cudaGetLastError();  // not this op's failure: it runs without TMA
            f = nullptr;
        }
        cached = f;  // one pointer store
    }
    return (PFN_cuTensorMapEncodeTiled_v12000)cached;
}

static bool aa90_make_maps(const fd__attn_args &a, int hd, aa90_tmaps *tm) {
    const int64_t rows = a.num_blocks * a.n_kv * a.block_size;
    if (rows <= 0 || rows > 0x7fffffff) return false;
    PFN_cuTensorMapEncodeTiled_v12000 encode = aa90_encode_fn();
    if (!encode) return false;
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

// An A/B switch set to "0".
static bool aa90_env_off(const char *name) {
    const char *e = getenv(name);
    return e && strcmp(e, "0") == 0;
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
                tm.on = !aa90_env_off("FDEPLOY_ATTN_TMA") && aa90_make_maps(p.a, C::HD, &tm);
                // warp-specialised when every tile starts on the box grid
                tm.pingpong = !aa90_env_off("FDEPLOY_ATTN_PINGPONG");
                if (tm.on && p.win == INT_MAX && p.a.plan.chunk_big % tm.box == 0 &&
                    !aa90_env_off("FDEPLOY_ATTN_WS"))
                    return aa_launch_smem(aa90_ws<W>, g, W::NT + 128, W::SMEM, st, p, tm);
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
