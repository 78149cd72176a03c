// SPDX-License-Identifier: Apache-2.0
// append_attention, SM70 variant (f16): Volta instructions only. WMMA 16x16x16
// f16 fragments (HMMA) with f32 accumulation, K/V staged through registers with
// plain 16-byte loads (no cp.async, no ldmatrix, no bf16). The algorithm, the
// kernels and their rooflines are in append_attention.cuh / _tile.cuh.
#include "ops/cuda/append_attention_tile.cuh"

// Synchronous K/V staging: the loader's register path.
struct aa70_copy {
    static constexpr bool on = false;
    static __device__ void copy16(uint16_t *, const char *, bool) {}
    static __device__ void wait_all() {}
    static __device__ void commit() {}
    static __device__ void wait_1() {}
};

template <class C>
static __global__ void __launch_bounds__(C::NT) aa70_small(aa_params p) {
    aa_attend_small<C, aa70_copy>(p);
}

template <class C>
static __global__ void __launch_bounds__(C::NT) aa70_big(aa_params p) {
    aa_attend_big<C, aa70_copy>(p);
}

struct aa70_kernels {
    template <class C> static cudaError_t small(dim3 g, cudaStream_t st, const aa_params &p) {
        return aa_launch_smem(aa70_small<C>, g, C::NT, C::SMEM, st, p);
    }
    template <class C> static cudaError_t big(dim3 g, cudaStream_t st, const aa_params &p) {
        return aa_launch_smem(aa70_big<C>, g, C::NT, C::SMEM, st, p);
    }
};

extern "C" fd_status fd__cuda_append_attention_sm70(const fd__launch *l, const fd__attn_args *a) {
    if (a->dtype != FD_F16)
        return fd__error(FD_ERR_INTERNAL, "append_attention_sm70: called with %s",
                         fd_dtype_name(a->dtype));
    return aa_launch<aa70_kernels, __half>(l, a, "append_attention_sm70");
}
