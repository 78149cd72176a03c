// SPDX-License-Identifier: Apache-2.0
// ffn, SM80 row of the op table (f16 and bf16). The FFN layer has no kernel of
// its own: src/ops/ffn.c queues matmul (or matmul_wint8), silu_and_mul and
// matmul; for bf16 those need their SM80 variants (matmul_sm80.cu,
// matmul_wint8_sm80.cu), which is why bf16 FFN is gated to SM80 here.
#include "ops/ffn_launch.h"
