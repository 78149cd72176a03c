// SPDX-License-Identifier: Apache-2.0
// gelu_tanh, SM70+ variant: accurate tanhf (CUDA: <= 2 ulp), because Volta
// has no tanh.approx.f32. Kernel body and roofline in gelu_tanh.cuh.
#include "ops/cuda/gelu_tanh.cuh"

struct gelu_tanh_accurate {
    static __device__ __forceinline__ float f(float x) { return tanhf(x); }
};

extern "C" fd_status fd__cuda_gelu_tanh(const fd__launch *l, fd_dtype dt, const void *in,
                                        void *out, int64_t n) {
    return gelu_tanh_launch<gelu_tanh_accurate>(l, dt, in, out, n);
}
