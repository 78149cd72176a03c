// SPDX-License-Identifier: Apache-2.0
// Device code shared by the matmul variants (matmul_sm70/_sm80, matmul_wint8/_sm80):
// a WMMA tile GEMM and a small-M GEMV as __device__ templates, and the host rule
// that picks one. Each variant's .cu wraps them in its own __global__ kernels
// (with its own __CUDA_ARCH__ guard, the op table decides where they run).
//
// C[M, N] = A[M, K] * W[N, K]^T (* scale[n] for int8 W), f32 accumulation.
// Roofline: 2*M*N*K FLOPs over (M*K + N*K*wbytes + M*N) * 2 bytes. For M <= 8
// (decode) that is < 8 FLOP/byte: memory bound on the weights, so the GEMV reads
// each weight once with 16-byte loads. Large M is compute bound: tensor cores
// (HMMA, m16n16k16) on 128x128 (or smaller for mid M) block tiles, K step 32.
// Simple by design: plain global loads staged through registers (next K tile is
// fetched while the current one multiplies), no cp.async / ldmatrix (Volta).
#ifndef FD_OPS_CUDA_MATMUL_TILE_CUH
#define FD_OPS_CUDA_MATMUL_TILE_CUH

#include <cuda_bf16.h>
#include <mma.h>
#include <string.h>

#include "ops/cuda/common.cuh"
#include "ops/ffn_launch.h"

struct mm_params {
    const void *a;
    const void *w;
    const float *scale;   // NULL for float weights
    void *c;
    int m, n, k;
};

// The element type the tensor cores see for storage type T.
template <typename T> struct mm_elem;
template <> struct mm_elem<__half> { typedef __half type; };
template <> struct mm_elem<fd_bf16> { typedef __nv_bfloat16 type; };

// Block tile BM x BN, 8 warps as 2 (M) x 4 (N), each warp FM x FN 16x16 fragments.
template <int BM_, int BN_> struct mm_cfg {
    static constexpr int BM = BM_, BN = BN_, BK = 32;
    static constexpr int LDS = BK + 8;  // row pitch (elements): 16-byte rows, 32-byte fragments
    static constexpr int WARPS_N = 4, THREADS = 256;
    static constexpr int FM = BM / 32, FN = BN / 64;
    static constexpr int CHUNKS_A = BM * BK / 8, CHUNKS_B = BN * BK / 8;  // 8-element chunks
    static constexpr int RA = (CHUNKS_A + THREADS - 1) / THREADS;
    static constexpr int RB = (CHUNKS_B + THREADS - 1) / THREADS;
};
typedef mm_cfg<128, 128> mm_big;
typedef mm_cfg<64, 64> mm_mid;
typedef mm_cfg<32, 64> mm_small;

static __device__ __forceinline__ float mm_f32(int8_t x) { return (float)x; }
template <typename X> static __device__ __forceinline__ float mm_f32(X x) { return fd_to_f32(x); }

// 8 activations (16-bit) at row[k..k+8), zeros past K or for a missing row.
template <bool VEC>
static __device__ __forceinline__ uint4 mm_chunk(const uint16_t *row, int k, int K) {
    uint4 v = make_uint4(0, 0, 0, 0);
    if (!row) return v;
    if constexpr (VEC) {
        if (k < K) v = *(const uint4 *)(row + k);  // K % 8 == 0: the chunk is whole
    } else {
        uint16_t h[8];
#pragma unroll
        for (int e = 0; e < 8; e++) h[e] = k + e < K ? row[k + e] : (uint16_t)0;
        memcpy(&v, h, sizeof v);
    }
    return v;
}

// 8 int8 weights at row[k..k+8), converted to T (exact: |q| <= 127).
template <typename T, bool VEC>
static __device__ __forceinline__ uint4 mm_chunk_w(const int8_t *row, int k, int K) {
    int8_t q[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if constexpr (VEC) {
        if (row && k < K) {
            uint2 r = *(const uint2 *)(row + k);
            memcpy(q, &r, sizeof r);
        }
    } else if (row) {
#pragma unroll
        for (int e = 0; e < 8; e++) q[e] = k + e < K ? row[k + e] : (int8_t)0;
    }
    T t[8];
#pragma unroll
    for (int e = 0; e < 8; e++) t[e] = fd_from_f32<T>((float)q[e]);
    uint4 v;
    memcpy(&v, t, sizeof v);
    return v;
}
template <typename T, bool VEC>
static __device__ __forceinline__ uint4 mm_chunk_w(const T *row, int k, int K) {
    return mm_chunk<VEC>((const uint16_t *)row, k, K);
}

// One BM x BN tile of C per block. WT = T (float weights) or int8_t.
template <typename T, typename WT, class C, bool VEC>
static __device__ void mm_tile(const mm_params &p) {
    using namespace nvcuda;
    typedef typename mm_elem<T>::type E;
    __shared__ __align__(128) uint16_t sa[C::BM * C::LDS];
    __shared__ __align__(128) uint16_t sb[C::BN * C::LDS];
    __shared__ __align__(128) float sc[C::THREADS / 32][16 * 20];
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int wm = warp / C::WARPS_N, wn = warp % C::WARPS_N;
    const int m0 = blockIdx.y * C::BM, n0 = blockIdx.x * C::BN;
    const uint16_t *A = (const uint16_t *)p.a;
    const WT *W = (const WT *)p.w;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[C::FM][C::FN];
#pragma unroll
    for (int i = 0; i < C::FM; i++)
#pragma unroll
        for (int j = 0; j < C::FN; j++) wmma::fill_fragment(acc[i][j], 0.0f);
    uint4 ra[C::RA], rb[C::RB];
    auto fetch = [&](int k0) {
#pragma unroll
        for (int i = 0; i < C::RA; i++) {
            int c = tid + i * C::THREADS, r = c / 4, gm = m0 + r;
            if (c < C::CHUNKS_A)
                ra[i] = mm_chunk<VEC>(gm < p.m ? A + (size_t)gm * p.k : nullptr,
                                      k0 + (c % 4) * 8, p.k);
        }
#pragma unroll
        for (int i = 0; i < C::RB; i++) {
            int c = tid + i * C::THREADS, r = c / 4, gn = n0 + r;
            if (c < C::CHUNKS_B)
                rb[i] = mm_chunk_w<T, VEC>(gn < p.n ? W + (size_t)gn * p.k : nullptr,
                                           k0 + (c % 4) * 8, p.k);
        }
    };
    fetch(0);
    for (int k0 = 0; k0 < p.k; k0 += C::BK) {
#pragma unroll
        for (int i = 0; i < C::RA; i++) {
            int c = tid + i * C::THREADS;
            if (c < C::CHUNKS_A) *(uint4 *)&sa[(c / 4) * C::LDS + (c % 4) * 8] = ra[i];
        }
#pragma unroll
        for (int i = 0; i < C::RB; i++) {
            int c = tid + i * C::THREADS;
            if (c < C::CHUNKS_B) *(uint4 *)&sb[(c / 4) * C::LDS + (c % 4) * 8] = rb[i];
        }
        __syncthreads();
        if (k0 + C::BK < p.k) fetch(k0 + C::BK);  // in flight during the MMAs below
#pragma unroll
        for (int kk = 0; kk < C::BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, E, wmma::row_major> fa[C::FM];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, E, wmma::col_major> fb[C::FN];
#pragma unroll
            for (int i = 0; i < C::FM; i++)
                wmma::load_matrix_sync(fa[i], (const E *)sa + (wm * C::FM * 16 + i * 16) * C::LDS + kk,
                                       C::LDS);
#pragma unroll
            for (int j = 0; j < C::FN; j++)  // W[n][k] in shared = B(k, n) column-major
                wmma::load_matrix_sync(fb[j], (const E *)sb + (wn * C::FN * 16 + j * 16) * C::LDS + kk,
                                       C::LDS);
#pragma unroll
            for (int i = 0; i < C::FM; i++)
#pragma unroll
                for (int j = 0; j < C::FN; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
    }
    // Epilogue: each fragment through a per-warp 16x16 staging area, guarded stores.
    float *st = sc[warp];
    T *Cp = (T *)p.c;
#pragma unroll
    for (int i = 0; i < C::FM; i++)
#pragma unroll
        for (int j = 0; j < C::FN; j++) {
            wmma::store_matrix_sync(st, acc[i][j], 20, wmma::mem_row_major);
            __syncwarp();
            const int rb0 = m0 + wm * C::FM * 16 + i * 16, cb0 = n0 + wn * C::FN * 16 + j * 16;
            for (int e = lane; e < 256; e += 32) {
                int gm = rb0 + e / 16, gn = cb0 + e % 16;
                if (gm < p.m && gn < p.n) {
                    float v = st[(e / 16) * 20 + e % 16];
                    if (p.scale) v *= p.scale[gn];
                    Cp[(size_t)gm * p.n + gn] = fd_from_f32<T>(v);
                }
            }
            __syncwarp();
        }
}

// 8 consecutive elements as floats (16-byte load for 16-bit, 8-byte for int8).
template <typename T>
static __device__ __forceinline__ void mm_unpack8(const T *p, float f[8]) {
    uint4 v = *(const uint4 *)p;
    T t[8];
    memcpy(t, &v, sizeof v);
#pragma unroll
    for (int e = 0; e < 8; e++) f[e] = fd_to_f32(t[e]);
}
static __device__ __forceinline__ void mm_unpack8(const int8_t *p, float f[8]) {
    uint2 v = *(const uint2 *)p;
    int8_t q[8];
    memcpy(q, &v, sizeof v);
#pragma unroll
    for (int e = 0; e < 8; e++) f[e] = (float)q[e];
}

#define MM_GEMV_THREADS 256

// Small M (decode): one warp per output column n, up to MR rows of A at once.
// WT = T or int8_t. Reads every weight once: memory bound, N*K*sizeof(WT) bytes.
template <typename T, typename WT, int MR, bool VEC>
static __device__ void mm_gemv(const mm_params &p) {
    const int lane = threadIdx.x % 32;
    const int n = blockIdx.x * (MM_GEMV_THREADS / 32) + threadIdx.x / 32;
    if (n >= p.n) return;
    const T *A = (const T *)p.a;
    const WT *w = (const WT *)p.w + (size_t)n * p.k;
    float acc[MR];
#pragma unroll
    for (int m = 0; m < MR; m++) acc[m] = 0.0f;
    if constexpr (VEC) {
#pragma unroll 2
        for (int k = lane * 8; k < p.k; k += 256) {
            float wf[8], af[8];
            mm_unpack8(w + k, wf);
#pragma unroll
            for (int m = 0; m < MR; m++) {
                if (m >= p.m) break;
                mm_unpack8(A + (size_t)m * p.k + k, af);
#pragma unroll
                for (int e = 0; e < 8; e++) acc[m] = fmaf(af[e], wf[e], acc[m]);
            }
        }
    } else {
        for (int k = lane; k < p.k; k += 32) {
            float wv = mm_f32(w[k]);
#pragma unroll
            for (int m = 0; m < MR; m++)
                if (m < p.m) acc[m] = fmaf(mm_f32(A[(size_t)m * p.k + k]), wv, acc[m]);
        }
    }
#pragma unroll
    for (int m = 0; m < MR; m++)
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], o);
    if (lane == 0) {
        const float s = p.scale ? p.scale[n] : 1.0f;
        T *Cp = (T *)p.c;
#pragma unroll
        for (int m = 0; m < MR; m++)
            if (m < p.m) Cp[(size_t)m * p.n + n] = fd_from_f32<T>(acc[m] * s);
    }
}

static inline bool mm_aligned(const void *p, size_t a) { return ((uintptr_t)p % a) == 0; }

template <class KS, typename T, typename WT, class C>
static fd_status mm_launch_tile(const mm_params &p, bool vec, cudaStream_t st) {
    int64_t gy = ((int64_t)p.m + C::BM - 1) / C::BM;
    if (gy > 65535)
        return fd__error(FD_ERR_INVALID_ARG, "matmul: M = %d needs %lld row tiles (> 65535); "
                         "split the call into chunks of M", p.m, (long long)gy);
    dim3 grid((unsigned)((p.n + C::BN - 1) / C::BN), (unsigned)gy);
    if (vec) KS::template tile<T, WT, C, true>(grid, st, p);
    else KS::template tile<T, WT, C, false>(grid, st, p);
    return FD_OK;
}

template <class KS, typename T, typename WT, int MR>
static void mm_launch_gemv(const mm_params &p, bool vec, cudaStream_t st) {
    dim3 grid((unsigned)((p.n + MM_GEMV_THREADS / 32 - 1) / (MM_GEMV_THREADS / 32)));
    if (vec) KS::template gemv<T, WT, MR, true>(grid, st, p);
    else KS::template gemv<T, WT, MR, false>(grid, st, p);
}

// A variant's __global__ wrappers around mm_tile / mm_gemv and the launcher
// struct mm_launch takes. Device code exists only where __CUDA_ARCH__ reaches
// the variant's minimum SM (FD_VARIANT_MIN_SM, from the op table): a mixed
// build also compiles an SM80 file for sm_70, where bf16 fragments do not
// exist. The call depends on T, so a discarded branch is never instantiated.
#ifdef __CUDA_ARCH__
#define FD_MM_ARCH __CUDA_ARCH__
#else
#define FD_MM_ARCH 0
#endif
#define FD_MM_KERNELS(NAME)                                                                      \
    template <typename T, typename WT, class C, bool VEC>                                        \
    static __global__ void __launch_bounds__(256) NAME##_tile(mm_params p) {                     \
        if constexpr (FD_MM_ARCH >= FD_VARIANT_MIN_SM * 10) mm_tile<T, WT, C, VEC>(p);           \
    }                                                                                            \
    template <typename T, typename WT, int MR, bool VEC>                                         \
    static __global__ void __launch_bounds__(MM_GEMV_THREADS) NAME##_gemv(mm_params p) {         \
        if constexpr (FD_MM_ARCH >= FD_VARIANT_MIN_SM * 10) mm_gemv<T, WT, MR, VEC>(p);          \
    }                                                                                            \
    struct NAME##_kernels {                                                                      \
        template <typename T, typename WT, class C, bool VEC>                                    \
        static void tile(dim3 grid, cudaStream_t st, const mm_params &p) {                       \
            NAME##_tile<T, WT, C, VEC><<<grid, C::THREADS, 0, st>>>(p);                          \
        }                                                                                        \
        template <typename T, typename WT, int MR, bool VEC>                                     \
        static void gemv(dim3 grid, cudaStream_t st, const mm_params &p) {                       \
            NAME##_gemv<T, WT, MR, VEC><<<grid, MM_GEMV_THREADS, 0, st>>>(p);                    \
        }                                                                                        \
    };

// Picks GEMV (M <= 8) or a tile size (by M, so mid-size M still fills the GPU)
// and the vector path (K % 8 == 0 and aligned pointers). KS = the variant's
// kernels: static tile<T, WT, C, VEC>() and gemv<T, WT, MR, VEC>() launchers.
template <class KS, typename T, typename WT>
static fd_status mm_launch(const fd__launch *l, const fd__matmul_args *x) {
    if (x->m == 0 || x->n == 0) return FD_OK;
    mm_params p = {x->a, x->w, x->scale, x->c, (int)x->m, (int)x->n, (int)x->k};
    cudaStream_t st = (cudaStream_t)l->stream;
    bool vec = x->k % 8 == 0 && mm_aligned(x->a, 16) && mm_aligned(x->w, sizeof(WT) == 1 ? 8 : 16);
    if (x->m <= 1) mm_launch_gemv<KS, T, WT, 1>(p, vec, st);
    else if (x->m <= 4) mm_launch_gemv<KS, T, WT, 4>(p, vec, st);
    else if (x->m <= 8) mm_launch_gemv<KS, T, WT, 8>(p, vec, st);
    else if (x->m >= 512) FD_TRY((mm_launch_tile<KS, T, WT, mm_big>(p, vec, st)));
    else if (x->m > 32) FD_TRY((mm_launch_tile<KS, T, WT, mm_mid>(p, vec, st)));
    else FD_TRY((mm_launch_tile<KS, T, WT, mm_small>(p, vec, st)));
    return fd__cuda_after_launch(l);
}

#endif
