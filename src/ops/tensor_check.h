// SPDX-License-Identifier: Apache-2.0
// Small predicates the ops' argument checks share.
#ifndef FD_OPS_TENSOR_CHECK_H
#define FD_OPS_TENSOR_CHECK_H

#include <stddef.h>
#include "fdeploy/tensor.h"

// The byte ranges [p, p+pn) and [q, q+qn) intersect (empty ranges never do).
static inline int fd__overlaps(const void *p, size_t pn, const void *q, size_t qn) {
    const char *a = (const char *)p, *b = (const char *)q;
    return pn && qn && a < b + qn && b < a + pn;
}

static inline int fd__tensors_overlap(const fd_tensor *a, const fd_tensor *b) {
    return fd__overlaps(a->data, fd_tensor_bytes(a), b->data, fd_tensor_bytes(b));
}

static inline int fd__same_shape(const fd_tensor *a, const fd_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->ne[i] != b->ne[i]) return 0;
    return 1;
}

#endif
