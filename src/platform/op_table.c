// SPDX-License-Identifier: Apache-2.0
// The op table (rows from src/ops/ops.def) and the rule that picks, for an op,
// a dtype and a device, the variant that runs there, or says why none does.
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "platform/op_table.h"

// FD_IS_SET(FD_BUILT_x) is 1 when CMake defined FD_BUILT_x to 1, else 0.
#define FD_PROBE_1 ~, 1
#define FD_SECOND_(a, b, ...) b
#define FD_SECOND(...) FD_SECOND_(__VA_ARGS__)
#define FD_IS_SET__(probe) FD_SECOND(probe, 0, ~)
#define FD_IS_SET_(v) FD_IS_SET__(FD_PROBE_##v)
#define FD_IS_SET(x) FD_IS_SET_(x)

static const fd__op_desc op_descs[] = {
#define FD_OP(name, dtypes, summary) {#name, dtypes, summary},
#define FD_CUDA(op, stem, min_sm, dtypes)
#include "ops/ops.def"
#undef FD_OP
#undef FD_CUDA
};

static const fd__op_variant op_variants[FD_VAR_COUNT + 1] = {
#define FD_OP(name, dtypes, summary)
#define FD_CUDA(op, stem, min_sm, dtypes)                                     \
    {FD_OP_ID_##op, #stem, min_sm, dtypes, FD_IS_SET(FD_BUILT_##stem), 0},
#define FD_CUDA_EXACT(op, stem, sm, dtypes)                                   \
    {FD_OP_ID_##op, #stem, sm, dtypes, FD_IS_SET(FD_BUILT_##stem), 1},
#include "ops/ops.def"
#undef FD_OP
#undef FD_CUDA
#undef FD_CUDA_EXACT
    {-1, NULL, 0, 0, 0, 0},
};

// Whether the device runs the variant's kernels (built or not): an image of
// this build loads there, as an arch the variant needs; arch-specific (exact)
// variants carry their own SASS, for that one SM.
int fd__variant_runs_on(const fd__op_variant *var, const fd_device_info *dev) {
    if (dev->image == FD_IMAGE_NONE) return 0;
    return var->exact ? dev->sm == var->min_sm : var->min_sm <= dev->effective_sm;
}

const fd__op_desc *fd__op_desc_at(int op) {
    return op >= 0 && op < FD_OP_ID_COUNT ? &op_descs[op] : NULL;
}

const fd__op_variant *fd__op_variant_at(int v) {
    return v >= 0 && v < FD_VAR_COUNT ? &op_variants[v] : NULL;
}

int fd_op_count(void) { return FD_OP_ID_COUNT; }

const char *fd_op_name(int op) {
    const fd__op_desc *d = fd__op_desc_at(op);
    return d ? d->name : NULL;
}

int fd_op_find(const char *name) {
    for (int i = 0; name && i < FD_OP_ID_COUNT; i++)
        if (strcmp(op_descs[i].name, name) == 0) return i;
    return -1;
}

static void dtype_list(char *buf, size_t n, unsigned mask) {
    size_t len = 0;
    buf[0] = '\0';
    for (int d = 0; d < FD_DTYPE_COUNT && len < n; d++)
        if (mask & FD_DT(d))
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? " " : "",
                                    fd_dtype_name((fd_dtype)d));
}

// Why no variant of `op` runs on `dev`; the suggestion names a build that would.
static fd_status explain(const fd_platform *p, const fd_device_info *dev, int op,
                         int dtype, char *msg, size_t n) {
    const char *name = op_descs[op].name;
    const fd_build_info *b = fd_platform_build(p);
    int need = 0, any_dtype = 0, any_built = 0;
    for (int v = 0; v < FD_VAR_COUNT; v++) {
        const fd__op_variant *var = &op_variants[v];
        if (var->op != op || (dtype >= 0 && !(var->dtypes & FD_DT(dtype)))) continue;
        any_dtype = 1;
        any_built |= var->built;
        if (!need || var->min_sm < need) need = var->min_sm;
    }
    if (!any_dtype) {
        char have[64];
        unsigned all = 0;
        for (int v = 0; v < FD_VAR_COUNT; v++)
            if (op_variants[v].op == op) all |= op_variants[v].dtypes;
        dtype_list(have, sizeof have, all);
        snprintf(msg, n, "%s: no CUDA kernel takes %s (CUDA dtypes: %s)", name,
                 dtype >= 0 ? fd_dtype_name((fd_dtype)dtype) : "any dtype",
                 all ? have : "none; the op is CPU-only");
        return all ? FD_ERR_UNSUPPORTED_DTYPE : FD_ERR_UNSUPPORTED_ARCH;
    }
    if (dev->image == FD_IMAGE_NONE) {
        snprintf(msg, n,
                 "%s: no kernel image in this build runs on device %d (%s, SM%d); the "
                 "build has %s; rebuild with ./build.sh \"[%d]\"",
                 name, dev->index, dev->name, dev->sm,
                 b->cuda ? "SASS/PTX for other archs" : "no CUDA kernels (CPU-only build)",
                 dev->sm);
    } else if (dev->sm < need) {
        snprintf(msg, n,
                 "%s: no kernel for SM%d: it needs SM%d; device %d (%s) is too old for "
                 "it, run it on a CPU context or a newer GPU",
                 name, dev->sm, need, dev->index, dev->name);
    } else {
        snprintf(msg, n,
                 "%s: no kernel for SM%d in this build (needs SM%d%s; this build's kernels "
                 "run here as SM%d via %s); rebuild with ./build.sh \"[%d]\"",
                 name, dev->sm, need,
                 any_built ? "" : ", and that variant was not compiled",
                 dev->effective_sm, fd_image_kind_name(dev->image), dev->sm);
    }
    return FD_ERR_UNSUPPORTED_ARCH;
}

fd_status fd__op_select(const fd_platform *p, int device, int op, fd_dtype dtype,
                        int *variant) {
    if (op < 0 || op >= FD_OP_ID_COUNT)
        return fd__error(FD_ERR_INTERNAL, "op id %d out of range", op);
    const char *name = op_descs[op].name;
    if (device == FD_CPU_DEVICE) {
        if (op_descs[op].ref_dtypes & FD_DT(dtype)) {
            *variant = FD_VAR_REF;
            return FD_OK;
        }
        char have[64];
        dtype_list(have, sizeof have, op_descs[op].ref_dtypes);
        return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "%s: dtype %s is not supported (takes %s)",
                         name, fd_dtype_name(dtype), have);
    }
    const fd_device_info *dev = fd_platform_device(p, device);
    if (!dev)
        return fd__error(FD_ERR_INVALID_ARG, "%s: no CUDA device %d (this platform has %d)",
                         name, device, fd_platform_device_count(p));
    int best = -1;
    for (int v = 0; v < FD_VAR_COUNT; v++) {
        const fd__op_variant *var = &op_variants[v];
        if (var->op != op || !var->built || !(var->dtypes & FD_DT(dtype))) continue;
        if (!fd__variant_runs_on(var, dev)) continue;
        if (best < 0 || var->min_sm > op_variants[best].min_sm) best = v;
    }
    if (best >= 0) {
        *variant = best;
        return FD_OK;
    }
    char msg[512];
    fd_status s = explain(p, dev, op, (int)dtype, msg, sizeof msg);
    return fd__error(s, "%s", msg);
}

int fd_op_available(const fd_platform *p, const char *name, int device, char *reason,
                    size_t reason_size) {
    char tmp[512];
    int op = fd_op_find(name);
    if (!reason || reason_size == 0) {
        reason = tmp;
        reason_size = sizeof tmp;
    }
    reason[0] = '\0';
    if (op < 0) {
        snprintf(reason, reason_size, "%s: no such op (see `fdeploy info` for the list)",
                 name ? name : "(null)");
        return 0;
    }
    if (device == FD_CPU_DEVICE) return 1;  // every op has a C reference
    const fd_device_info *dev = fd_platform_device(p, device);
    if (!dev) {
        snprintf(reason, reason_size, "%s: no CUDA device %d", name, device);
        return 0;
    }
    for (int v = 0; v < FD_VAR_COUNT; v++) {
        const fd__op_variant *var = &op_variants[v];
        if (var->op == op && var->built && fd__variant_runs_on(var, dev)) return 1;
    }
    explain(p, dev, op, -1, reason, reason_size);
    return 0;
}
