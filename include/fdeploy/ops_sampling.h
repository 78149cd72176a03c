// SPDX-License-Identifier: Apache-2.0
// Operators: top_k_renorm_probs, rejection_top_p_sampling. See fdeploy/ops.h for the conventions.
#ifndef FDEPLOY_OPS_SAMPLING_H
#define FDEPLOY_OPS_SAMPLING_H

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
