// SPDX-License-Identifier: Apache-2.0
// Operators: fused_rotary_position_encoding, gelu_tanh. See fdeploy/ops.h for the conventions.
#ifndef FDEPLOY_OPS_LAYERS_H
#define FDEPLOY_OPS_LAYERS_H

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
