// SPDX-License-Identifier: Apache-2.0
// The op table as C data (from src/ops/ops.def) and variant selection.
#ifndef FD_PLATFORM_OP_TABLE_H
#define FD_PLATFORM_OP_TABLE_H

#include "fdeploy/platform.h"
#include "fdeploy/tensor.h"
#include "fd_build_config.h"

enum {
#define FD_OP(name, dtypes, summary) FD_OP_ID_##name,
#define FD_CUDA(op, stem, min_sm, dtypes)
#include "ops/ops.def"
#undef FD_OP
#undef FD_CUDA
    FD_OP_ID_COUNT
};

enum {
    FD_VAR_REF = -1,  // the C reference on the CPU
#define FD_OP(name, dtypes, summary)
#define FD_CUDA(op, stem, min_sm, dtypes) FD_VAR_##stem,
#include "ops/ops.def"
#undef FD_OP
#undef FD_CUDA
    FD_VAR_COUNT
};

typedef struct fd__op_desc {
    const char *name;
    unsigned ref_dtypes;     // FD_DT bits the C reference takes
    const char *summary;
} fd__op_desc;

typedef struct fd__op_variant {
    int op;                  // FD_OP_ID_*
    const char *stem;        // kernel file src/ops/cuda/<stem>.cu
    int min_sm;
    unsigned dtypes;
    int built;               // compiled into this library
    int exact;               // arch-specific (FD_CUDA_EXACT): runs only on SM min_sm
} fd__op_variant;

int fd__variant_runs_on(const fd__op_variant *var, const fd_device_info *dev);

const fd__op_desc *fd__op_desc_at(int op);
const fd__op_variant *fd__op_variant_at(int v);

// Picks the variant that runs `op` on `dtype` on `device` of `p`
// (FD_VAR_REF for FD_CPU_DEVICE). Errors say why none does.
fd_status fd__op_select(const fd_platform *p, int device, int op, fd_dtype dtype,
                        int *variant);

#endif
