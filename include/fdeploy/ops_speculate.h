// SPDX-License-Identifier: Apache-2.0
// Operators: speculate_verify, speculate_update. See fdeploy/ops.h for the conventions.
#ifndef FDEPLOY_OPS_SPECULATE_H
#define FDEPLOY_OPS_SPECULATE_H

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
