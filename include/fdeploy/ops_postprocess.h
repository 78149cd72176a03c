// SPDX-License-Identifier: Apache-2.0
// Operators: set_value_by_flags_and_idx, stop_generation_multi_ends, token_penalty_multi_scores. See fdeploy/ops.h for the conventions.
#ifndef FDEPLOY_OPS_POSTPROCESS_H
#define FDEPLOY_OPS_POSTPROCESS_H

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
