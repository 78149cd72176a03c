// SPDX-License-Identifier: Apache-2.0
// Operators: silu_and_mul, matmul, weight-only int8 matmul, the FFN layer. See fdeploy/ops.h for the conventions.
#ifndef FDEPLOY_OPS_FFN_H
#define FDEPLOY_OPS_FFN_H

#include <stdint.h>
#include "fdeploy/context.h"
#include "fdeploy/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
