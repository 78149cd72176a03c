// SPDX-License-Identifier: Apache-2.0
// Private: CUDA launchers (C linkage) of the layers ops, called by src/ops/<op>.c
// and defined in src/ops/cuda/<stem>.cu.
#ifndef FD_OPS_LAYERS_LAUNCH_H
#define FD_OPS_LAYERS_LAUNCH_H

#include "ops/op_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
