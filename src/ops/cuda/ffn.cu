// SPDX-License-Identifier: Apache-2.0
// ffn, SM70 row of the op table (f16). The FFN layer has no kernel of its own:
// src/ops/ffn.c queues matmul (or matmul_wint8), silu_and_mul and matmul on the
// context. This file exists so the table can say where that composition runs;
// its kernels are in matmul_sm70.cu, matmul_wint8.cu and silu_and_mul.cu.
#include "ops/ffn_launch.h"
