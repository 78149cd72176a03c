// SPDX-License-Identifier: Apache-2.0
// append_attention, SM80 variant (f16, bf16): kernels in append_attention_sm80.cuh.
#include "ops/cuda/append_attention_sm80.cuh"

extern "C" fd_status fd__cuda_append_attention_sm80(const fd__launch *l, const fd__attn_args *a) {
    if (a->dtype == FD_F16) return aa_launch<aa80_kernels, __half>(l, a, "append_attention_sm80");
    if (a->dtype == FD_BF16) return aa_launch<aa80_kernels, fd_bf16>(l, a, "append_attention_sm80");
    return fd__error(FD_ERR_INTERNAL, "append_attention_sm80: called with %s",
                     fd_dtype_name(a->dtype));
}
