// SPDX-License-Identifier: Apache-2.0
// fdeploy: an LLM inference and serving engine in C11 with CUDA kernels.
// Include this header for the whole public API.
#ifndef FDEPLOY_H
#define FDEPLOY_H

#include "fdeploy/status.h"
#include "fdeploy/tensor.h"
#include "fdeploy/platform.h"
#include "fdeploy/context.h"
#include "fdeploy/ops.h"
#include "fdeploy/selftest.h"

#endif
