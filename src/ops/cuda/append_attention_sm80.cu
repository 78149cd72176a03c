// SPDX-License-Identifier: Apache-2.0
// append_attention, SM80 variant (f16, bf16): the same tiles as SM70
// (append_attention_tile.cuh, rooflines there) with bf16 WMMA fragments and
// cp.async 16-byte K/V copies straight into shared memory (no register staging,
// all of a tile's loads in flight at once). Bodies only for SM80+: in a mixed
// build this file is also compiled for lower archs, where the op table never
// launches it.
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
        asm volatile("cp.async.wait_all;\n" ::);
#endif
    }
};

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
