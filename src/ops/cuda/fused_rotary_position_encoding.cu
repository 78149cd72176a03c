// SPDX-License-Identifier: Apache-2.0
// fused_rotary_position_encoding kernels: one block per token. The block
// stages its position's cos/sin row in shared memory as f32 (read once per
// token instead of once per head), then each thread rotates V pairs at a time
// with 16-byte loads when head_size, rot_dim and the pointers allow it.
// Roofline: memory bound. Per token it moves 2*(Hq+Hk)*rot_dim*sizeof(T) bytes
// of q/k plus one cache row, for ~6 flops per pair (~1.5 flop/byte in f16).
// Volta-safe: bf16 is converted through f32 (fd_to_f32 / fd_from_f32).
#include "ops/cuda/common.cuh"
#include "ops/layers_launch.h"

#define ROPE_THREADS 128
#define ROPE_MAX_ROT 8192   // shared cos/sin row: 32 KiB of f32

template <typename T, int N> struct alignas(sizeof(T) * N) rope_vec { T v[N]; };

// Loads/stores N elements as f32; VEC = one aligned vector access.
template <typename T, int N, bool VEC>
static __device__ __forceinline__ void load_n(const T *p, float *out) {
    if constexpr (VEC) {
        rope_vec<T, N> r = *reinterpret_cast<const rope_vec<T, N> *>(p);
#pragma unroll
        for (int k = 0; k < N; k++) out[k] = fd_to_f32(r.v[k]);
    } else {
#pragma unroll
        for (int k = 0; k < N; k++) out[k] = fd_to_f32(p[k]);
    }
}
template <typename T, int N, bool VEC>
static __device__ __forceinline__ void store_n(T *p, const float *in) {
    if constexpr (VEC) {
        rope_vec<T, N> r;
#pragma unroll
        for (int k = 0; k < N; k++) r.v[k] = fd_from_f32<T>(in[k]);
        *reinterpret_cast<rope_vec<T, N> *>(p) = r;
    } else {
#pragma unroll
        for (int k = 0; k < N; k++) p[k] = fd_from_f32<T>(in[k]);
    }
}

// Rotates pairs j..j+V-1 of one head; cs = [cos | sin] of this position.
template <typename T, int V, bool VEC, bool NEOX>
static __device__ __forceinline__ void rotate(T *head, const float *cs, int j, int half) {
    float x[V], y[V];
    if constexpr (NEOX) {
        load_n<T, V, VEC>(head + j, x);
        load_n<T, V, VEC>(head + half + j, y);
    } else {
        float xy[2 * V];
        load_n<T, 2 * V, VEC>(head + 2 * j, xy);
#pragma unroll
        for (int k = 0; k < V; k++) x[k] = xy[2 * k], y[k] = xy[2 * k + 1];
    }
#pragma unroll
    for (int k = 0; k < V; k++) {
        float c = cs[j + k], s = cs[half + j + k], x0 = x[k];
        x[k] = x0 * c - y[k] * s;
        y[k] = y[k] * c + x0 * s;
    }
    if constexpr (NEOX) {
        store_n<T, V, VEC>(head + j, x);
        store_n<T, V, VEC>(head + half + j, y);
    } else {
        float xy[2 * V];
#pragma unroll
        for (int k = 0; k < V; k++) xy[2 * k] = x[k], xy[2 * k + 1] = y[k];
        store_n<T, 2 * V, VEC>(head + 2 * j, xy);
    }
}

template <typename T, typename C, int V, bool VEC, bool NEOX>
static __global__ void __launch_bounds__(ROPE_THREADS)
rope_kernel(fd__rotary_args a, int *err, int op) {
    extern __shared__ float s_cs[];  // [rot_dim]: cos | sin, as f32
    __shared__ int s_pos;
    const int64_t t = blockIdx.x;
    if (threadIdx.x == 0) {
        int p = a.position_ids[t];
        if (p < 0 || p >= a.max_position) {
            fd_kfail(err, op, FD_KERR_INDEX, p, (int)a.max_position);
            p = -1;
        }
        s_pos = p;
    }
    __syncthreads();
    if (s_pos < 0) return;  // bad position: leave this token as it was
    const C *row = (const C *)a.cache + (int64_t)s_pos * a.rot_dim;
    for (int i = threadIdx.x; i < a.rot_dim; i += blockDim.x) s_cs[i] = fd_to_f32(row[i]);
    __syncthreads();
    const int half = a.rot_dim / 2, per_head = half / V;
    const int nq = a.n_q_heads * per_head, n = nq + a.n_kv_heads * per_head;
    for (int w = threadIdx.x; w < n; w += blockDim.x) {
        const bool is_q = w < nq;
        const int hw = is_q ? w : w - nq, h = hw / per_head, j = (hw - h * per_head) * V;
        const int64_t heads = is_q ? a.n_q_heads : a.n_kv_heads;
        T *base = (T *)(is_q ? a.query : a.key) + (t * heads + h) * a.head_size;
        rotate<T, V, VEC, NEOX>(base, s_cs, j, half);
    }
}

static bool aligned(const void *p, size_t a) { return p == NULL || (uintptr_t)p % a == 0; }

template <typename T, typename C, int V, bool VEC>
static void launch(const fd__launch *l, const fd__rotary_args *a) {
    dim3 grid((unsigned)a->num_tokens);
    size_t smem = (size_t)a->rot_dim * sizeof(float);
    cudaStream_t st = (cudaStream_t)l->stream;
    if (a->is_neox)
        rope_kernel<T, C, V, VEC, true><<<grid, ROPE_THREADS, smem, st>>>(*a, l->err, l->op);
    else
        rope_kernel<T, C, V, VEC, false><<<grid, ROPE_THREADS, smem, st>>>(*a, l->err, l->op);
}

// 16-byte accesses when every pair group starts on a 16-byte boundary.
template <typename T, typename C>
static void launch_widest(const fd__launch *l, const fd__rotary_args *a) {
    const int half = a->rot_dim / 2;
    // NeoX loads V from each half; interleaved loads 2V contiguous elements.
    constexpr int VN = 16 / sizeof(T), VI = 8 / sizeof(T);
    const int v = a->is_neox ? VN : VI, span = a->is_neox ? VN : 2 * VI;
    bool vec = half % v == 0 && a->head_size % span == 0 && aligned(a->query, 16) &&
               aligned(a->key, 16);
    if (vec && a->is_neox)
        launch<T, C, VN, true>(l, a);
    else if (vec)
        launch<T, C, VI, true>(l, a);
    else
        launch<T, C, 1, false>(l, a);
}

extern "C" fd_status fd__cuda_fused_rotary_position_encoding(const fd__launch *l,
                                                             const fd__rotary_args *a) {
    if (a->num_tokens == 0) return FD_OK;
    if (a->rot_dim > ROPE_MAX_ROT)
        return fd__error(FD_ERR_INVALID_ARG,
                         "fused_rotary_position_encoding: rot_dim %d is above the CUDA kernel's "
                         "%d; use the CPU reference", a->rot_dim, ROPE_MAX_ROT);
    if (a->num_tokens > 2147483647LL ||
        ((int64_t)a->n_q_heads + a->n_kv_heads) * (a->rot_dim / 2) > 2147483647LL)
        return fd__error(FD_ERR_INVALID_ARG,
                         "fused_rotary_position_encoding: %lld tokens of %d+%d heads is too "
                         "large for one launch; split the batch", (long long)a->num_tokens,
                         a->n_q_heads, a->n_kv_heads);
    bool f32_cache = a->cache_dtype == FD_F32;
    FD_DISPATCH_FLOAT(a->dtype, {
        if (f32_cache)
            launch_widest<T, float>(l, a);
        else
            launch_widest<T, T>(l, a);
    });
    return fd__cuda_after_launch(l);
}
