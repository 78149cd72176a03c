// SPDX-License-Identifier: Apache-2.0
// Operators: moe_top_k_select, tritonmoe_preprocess. See fdeploy/ops.h for the conventions.
#ifndef FDEPLOY_OPS_MOE_H
#define FDEPLOY_OPS_MOE_H

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
