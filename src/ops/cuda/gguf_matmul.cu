// SPDX-License-Identifier: Apache-2.0
// gguf_matmul kernels (SM70+): y[M, N] = x[M, K] * dequant(W)^T, W in a GGUF
// block format, f32 accumulation. Two regimes:
//
// Decode (M <= 8, and f32 activations at any M in chunks of 8 rows): a GEMV.
//   Roofline: 2*M*N*K FLOPs over N*row_bytes weight bytes (0.56 B/weight for Q4_K):
//   M <= 8 is < 30 FLOP/byte, memory bound on the weights. Each warp owns GV_R
//   weight rows; per segment of GV_UNITS*32 elements it stages those rows' bytes
//   into shared memory with the widest loads the alignment allows (16 bytes for
//   the usual shapes: block sizes 18/20/22/34/210 forbid 16-byte loads straight into
//   registers), then every lane dequantizes whole 32-element units from shared
//   memory and dots them with the M rows of x, loaded once per unit and reused for
//   the GV_R rows (x is small and L1/L2-resident); warp-shuffle reduction.
//   Float weights (F32/F16/BF16) skip the staging: 16-byte loads straight from HBM.
//
// Prefill (M > 8, f16 activations): a WMMA 16x16x16 f16 tile GEMM (HMMA on Volta,
//   f32 accumulators), block tile 128x64, K step 32 = one 32-element unit per
//   weight row: each thread dequantizes 8 weights of one row into registers
//   (fetched while the current tile multiplies), stored to shared memory as f16.
//   Compute bound for M >= ~64: 2*M*N*K FLOPs over (M*K*2 + N*row_bytes) bytes.
//   No cp.async / ldmatrix (Volta).
#include <mma.h>
#include <string.h>

#include "ops/cuda/gguf_dequant.cuh"
#include "ops/model_launch.h"

#define GV_WARPS 4
#define GV_R 2          // weight rows per warp: x loads are reused GV_R times
#define GV_UNITS 64     // 32-element units per staged segment (2 per lane)
#define GV_MCHUNK 8     // rows of x per GEMV block (grid.y covers larger M)

struct gq_params {
    const void *x;
    const uint8_t *w;
    void *y;
    int m, n, k;
    long long row_bytes;
    int vshift;   // staging load width: 1 << vshift bytes
    int xvec;     // x rows allow 16-byte loads
};

// 8 activations x[k..k+8) as floats.
template <typename T>
static __device__ __forceinline__ void gq_x8(const T *x, bool vec, float f[8]) {
    if constexpr (sizeof(T) == 4) {
        if (vec) {
            float4 a = __ldg((const float4 *)x), b = __ldg((const float4 *)x + 1);
            f[0] = a.x; f[1] = a.y; f[2] = a.z; f[3] = a.w;
            f[4] = b.x; f[5] = b.y; f[6] = b.z; f[7] = b.w;
            return;
        }
    } else {
        if (vec) {
            uint4 v = __ldg((const uint4 *)x);
            __half h[8];
            memcpy(h, &v, sizeof v);
#pragma unroll
            for (int e = 0; e < 8; e++) f[e] = __half2float(h[e]);
            return;
        }
    }
#pragma unroll
    for (int e = 0; e < 8; e++) f[e] = fd_to_f32(x[e]);
}

// Copies `bytes` (a multiple of 1 << vshift) from global src to shared dst, one warp.
static __device__ __forceinline__ void gq_stage(uint8_t *dst, const uint8_t *src, int bytes,
                                                int vshift, int lane) {
    switch (vshift) {
    case 4:
        for (int i = lane; i < bytes >> 4; i += 32) ((uint4 *)dst)[i] = __ldg((const uint4 *)src + i);
        break;
    case 3:
        for (int i = lane; i < bytes >> 3; i += 32) ((uint2 *)dst)[i] = __ldg((const uint2 *)src + i);
        break;
    case 2:
        for (int i = lane; i < bytes >> 2; i += 32)
            ((uint32_t *)dst)[i] = __ldg((const unsigned int *)src + i);
        break;
    default:
        for (int i = lane; i < bytes >> 1; i += 32)
            ((uint16_t *)dst)[i] = __ldg((const unsigned short *)src + i);
        break;
    }
}

template <int TY> struct gv_seg {
    typedef gq_traits<TY> G;
    static constexpr int BYTES = G::FLT ? 16 : GV_UNITS * 32 / G::BE * G::BB;
};

// One warp: rows n0..n0+GV_R-1 of W against rows m0..m0+MR-1 of x.
template <typename T, int TY, int MR>
static __global__ void __launch_bounds__(GV_WARPS * 32) gv_kernel(gq_params p) {
    typedef gq_traits<TY> G;
    __shared__ __align__(16) uint8_t stage[GV_WARPS][GV_R][gv_seg<TY>::BYTES];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int n0 = (blockIdx.x * GV_WARPS + warp) * GV_R;
    const int m0 = blockIdx.y * GV_MCHUNK, mc = min(MR, p.m - m0);
    if (n0 >= p.n) return;  // warp-uniform; no block-wide barrier below
    const int nr = min(GV_R, p.n - n0);
    const T *x = (const T *)p.x + (size_t)m0 * p.k;
    float acc[MR][GV_R];
#pragma unroll
    for (int m = 0; m < MR; m++)
#pragma unroll
        for (int r = 0; r < GV_R; r++) acc[m][r] = 0.0f;
    for (int k0 = 0; k0 < p.k; k0 += GV_UNITS * 32) {
        const int units = min(GV_UNITS, (p.k - k0) / 32);
        if constexpr (!G::FLT) {
            const int bytes = units * 32 / G::BE * G::BB;
            for (int r = 0; r < nr; r++)
                gq_stage(stage[warp][r], p.w + (size_t)(n0 + r) * p.row_bytes + (size_t)k0 / G::BE * G::BB,
                         bytes, p.vshift, lane);
            __syncwarp();
        }
        for (int uu = lane; uu < units; uu += 32) {
            const int k = k0 + uu * 32;
            const uint8_t *blk[GV_R];
            int u = 0;
#pragma unroll
            for (int r = 0; r < GV_R; r++) {
                const int rr = r < nr ? r : 0;  // a missing row decodes row 0, never stored
                blk[r] = G::FLT ? gq_unit<TY>(p.w + (size_t)(n0 + rr) * p.row_bytes, k, &u)
                                : gq_unit<TY>(stage[warp][rr], uu * 32, &u);
            }
#pragma unroll
            for (int pc = 0; pc < 4; pc++) {
                float wv[GV_R][8], xf[8];
#pragma unroll
                for (int r = 0; r < GV_R; r++) gq_piece<TY>(blk[r], u, pc, wv[r]);
#pragma unroll
                for (int m = 0; m < MR; m++) {
                    if (m >= mc) break;
                    gq_x8<T>(x + (size_t)m * p.k + k + pc * 8, p.xvec, xf);
#pragma unroll
                    for (int r = 0; r < GV_R; r++)
#pragma unroll
                        for (int e = 0; e < 8; e++) acc[m][r] = fmaf(xf[e], wv[r][e], acc[m][r]);
                }
            }
        }
        if constexpr (!G::FLT) __syncwarp();
    }
#pragma unroll
    for (int m = 0; m < MR; m++)
#pragma unroll
        for (int r = 0; r < GV_R; r++)
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) acc[m][r] += __shfl_xor_sync(0xffffffffu, acc[m][r], o);
    if (lane == 0) {
        T *y = (T *)p.y + (size_t)m0 * p.n;
#pragma unroll
        for (int m = 0; m < MR; m++)
#pragma unroll
            for (int r = 0; r < GV_R; r++)
                if (m < mc && r < nr) y[(size_t)m * p.n + n0 + r] = fd_from_f32<T>(acc[m][r]);
    }
}

// ---- prefill: WMMA tile GEMM, f16 activations.

#define TL_BM 128
#define TL_BN 64
#define TL_BK 32
#define TL_LDS (TL_BK + 8)   // 80-byte rows: 16-byte chunks, 32-byte aligned fragments
#define TL_THREADS 256       // 8 warps: 4 (M) x 2 (N), each 32x32 = 2x2 fragments

// Dequantized piece `pc` of row n's unit at k0, as 8 halves (zeros past N).
template <int TY>
static __device__ __forceinline__ uint4 tl_wchunk(const gq_params &p, int n, int k0, int pc) {
    uint4 v = make_uint4(0, 0, 0, 0);
    if (n >= p.n) return v;
    int u;
    const uint8_t *blk = gq_unit<TY>(p.w + (size_t)n * p.row_bytes, k0, &u);
    float f[8];
    gq_piece<TY>(blk, u, pc, f);
    __half h[8];
#pragma unroll
    for (int e = 0; e < 8; e++) h[e] = __float2half_rn(f[e]);
    memcpy(&v, h, sizeof v);
    return v;
}

static __device__ __forceinline__ uint4 tl_xchunk(const gq_params &p, int m, int k) {
    uint4 v = make_uint4(0, 0, 0, 0);
    if (m >= p.m) return v;
    const uint16_t *row = (const uint16_t *)p.x + (size_t)m * p.k + k;
    if (p.xvec) return __ldg((const uint4 *)row);
    uint16_t h[8];
#pragma unroll
    for (int e = 0; e < 8; e++) h[e] = row[e];
    memcpy(&v, h, sizeof v);
    return v;
}

template <int TY>
static __global__ void __launch_bounds__(TL_THREADS) tl_kernel(gq_params p) {
    using namespace nvcuda;
    __shared__ __align__(128) __half sa[TL_BM * TL_LDS];
    __shared__ __align__(128) __half sb[TL_BN * TL_LDS];
    __shared__ __align__(128) float sc[TL_THREADS / 32][16 * 20];
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int wm = warp / 2, wn = warp % 2;
    const int m0 = blockIdx.y * TL_BM, n0 = blockIdx.x * TL_BN;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);
    uint4 ra[2], rb;
    auto fetch = [&](int k0) {
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const int c = tid + i * TL_THREADS;  // 512 chunks of 8: row c/4, col (c%4)*8
            ra[i] = tl_xchunk(p, m0 + c / 4, k0 + (c % 4) * 8);
        }
        rb = tl_wchunk<TY>(p, n0 + tid / 4, k0, tid % 4);
    };
    fetch(0);
    for (int k0 = 0; k0 < p.k; k0 += TL_BK) {
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const int c = tid + i * TL_THREADS;
            *(uint4 *)&sa[(c / 4) * TL_LDS + (c % 4) * 8] = ra[i];
        }
        *(uint4 *)&sb[(tid / 4) * TL_LDS + (tid % 4) * 8] = rb;
        __syncthreads();
        if (k0 + TL_BK < p.k) fetch(k0 + TL_BK);  // in flight during the MMAs
#pragma unroll
        for (int kk = 0; kk < TL_BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb[2];
#pragma unroll
            for (int i = 0; i < 2; i++)
                wmma::load_matrix_sync(fa[i], sa + (wm * 32 + i * 16) * TL_LDS + kk, TL_LDS);
#pragma unroll
            for (int j = 0; j < 2; j++)  // W[n][k] in shared = B(k, n) column-major
                wmma::load_matrix_sync(fb[j], sb + (wn * 32 + j * 16) * TL_LDS + kk, TL_LDS);
#pragma unroll
            for (int i = 0; i < 2; i++)
#pragma unroll
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
    }
    float *st = sc[warp];
    __half *y = (__half *)p.y;
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) {
            wmma::store_matrix_sync(st, acc[i][j], 20, wmma::mem_row_major);
            __syncwarp();
            const int r0 = m0 + wm * 32 + i * 16, c0 = n0 + wn * 32 + j * 16;
            for (int e = lane; e < 256; e += 32) {
                const int gm = r0 + e / 16, gn = c0 + e % 16;
                if (gm < p.m && gn < p.n)
                    y[(size_t)gm * p.n + gn] = __float2half_rn(st[(e / 16) * 20 + e % 16]);
            }
            __syncwarp();
        }
}

// ---- launch

static int gq_vshift(const void *w, long long row_bytes, int seg_bytes) {
    uintptr_t a = (uintptr_t)w | (uintptr_t)row_bytes | (uintptr_t)seg_bytes;
    int s = 1;  // every block size is even and w is 2-byte aligned
    while (s < 4 && a % ((uintptr_t)1 << (s + 1)) == 0) s++;
    return s;
}

template <typename T, int TY>
static void gv_launch(const gq_params &p, cudaStream_t st) {
    dim3 grid((unsigned)((p.n + GV_WARPS * GV_R - 1) / (GV_WARPS * GV_R)),
              (unsigned)((p.m + GV_MCHUNK - 1) / GV_MCHUNK));
    if (p.m == 1) gv_kernel<T, TY, 1><<<grid, GV_WARPS * 32, 0, st>>>(p);
    else if (p.m == 2) gv_kernel<T, TY, 2><<<grid, GV_WARPS * 32, 0, st>>>(p);
    else if (p.m <= 4) gv_kernel<T, TY, 4><<<grid, GV_WARPS * 32, 0, st>>>(p);
    else gv_kernel<T, TY, 8><<<grid, GV_WARPS * 32, 0, st>>>(p);
}

extern "C" fd_status fd__cuda_gguf_matmul(const fd__launch *l, const fd__gguf_matmul_args *a) {
    if (a->m == 0 || a->n == 0) return FD_OK;
    if ((uintptr_t)a->w % 2)
        return fd__error(FD_ERR_INVALID_ARG, "gguf_matmul: w at %p is not 2-byte aligned; "
                         "GGUF tensors are 32-byte aligned, pass the tensor's own start",
                         (const void *)a->w);
    bool flt = a->wtype == FD_GGML_F32 || a->wtype == FD_GGML_F16 || a->wtype == FD_GGML_BF16;
    if (flt && ((uintptr_t)a->w % 16 || a->row_bytes % 16))
        return fd__error(FD_ERR_INVALID_ARG, "gguf_matmul: %s weights are read with 16-byte loads; w at %p "
                         "(row of %zu bytes) is not 16-byte aligned; pass the tensor's own start",
                         fd_ggml_type_name(a->wtype), (const void *)a->w, (size_t)a->row_bytes);
    if ((a->m + GV_MCHUNK - 1) / GV_MCHUNK > 65535 || (a->m + TL_BM - 1) / TL_BM > 65535)
        return fd__error(FD_ERR_INVALID_ARG, "gguf_matmul: M = %lld is too large; split the call",
                         (long long)a->m);
    gq_params p;
    p.x = a->x;
    p.w = a->w;
    p.y = a->y;
    p.m = (int)a->m;
    p.n = (int)a->n;
    p.k = (int)a->k;
    p.row_bytes = (long long)a->row_bytes;
    p.xvec = ((uintptr_t)a->x % 16) == 0;  // K % 32 == 0 keeps every row aligned
    cudaStream_t st = (cudaStream_t)l->stream;
    bool tile = a->dtype == FD_F16 && a->m > GV_MCHUNK;
    GQ_DISPATCH_TYPE(a->wtype, {
        p.vshift = gq_vshift(a->w, p.row_bytes, gv_seg<TY>::BYTES);
        if (tile) {
            dim3 grid((unsigned)((p.n + TL_BN - 1) / TL_BN), (unsigned)((p.m + TL_BM - 1) / TL_BM));
            tl_kernel<TY><<<grid, TL_THREADS, 0, st>>>(p);
        } else if (a->dtype == FD_F16) {
            gv_launch<__half, TY>(p, st);
        } else {
            gv_launch<float, TY>(p, st);
        }
    });
    return fd__cuda_after_launch(l);
}
