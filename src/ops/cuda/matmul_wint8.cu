// SPDX-License-Identifier: Apache-2.0
// matmul_wint8, SM70 variant (f16 activations, int8 weights): HMMA tensor cores
// through WMMA 16x16x16 f16 fragments with f32 accumulators, or the GEMV for
// M <= 8. Int8 weights are
// converted to f16 (exact) on their way to shared memory / registers and the
// per-channel scale is applied to the f32 sum: never expanded in memory. Weight
// bytes are half of f16, so decode (memory bound) runs up to 2x faster. See
// matmul_tile.cuh for the kernels and roofline.
#include "ops/cuda/matmul_tile.cuh"

FD_MM_KERNELS(w8_70)

extern "C" fd_status fd__cuda_matmul_wint8(const fd__launch *l, const fd__matmul_args *a) {
    if (a->dtype != FD_F16 || !a->scale)
        return fd__error(FD_ERR_INTERNAL, "matmul_wint8: called with %s%s", fd_dtype_name(a->dtype),
                         a->scale ? "" : " and no scale");
    return mm_launch<w8_70_kernels, __half, int8_t>(l, a);
}
