// SPDX-License-Identifier: Apache-2.0
// Execution contexts: a CPU context runs the C references on host memory, a
// CUDA context queues kernels on its own stream over device memory.
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "platform/launch.h"
#include "platform/op_table.h"
#if FD_WITH_CUDA
#include "platform/cuda_api.h"
#endif

struct fd_ctx {
    const fd_platform *platform;
    int device;        // FD_CPU_DEVICE or CUDA index
    int sm;            // effective SM, 0 on CPU
    void *stream;
    int *d_err;        // device status word
};

fd_status fd_ctx_create(const fd_platform *p, int device, fd_ctx **out) {
    if (!p || !out) return fd__error(FD_ERR_INVALID_ARG, "fd_ctx_create: platform and out are required");
    const fd_device_info *dev = NULL;
    if (device != FD_CPU_DEVICE && !(dev = fd_platform_device(p, device)))
        return fd__error(FD_ERR_INVALID_ARG,
                         "fd_ctx_create: no CUDA device %d (%d present%s%s); use "
                         "FD_CPU_DEVICE for the CPU backend",
                         device, fd_platform_device_count(p),
                         fd_platform_note(p)[0] ? ": " : "", fd_platform_note(p));
    fd_ctx *c = calloc(1, sizeof *c);
    if (!c) return fd__error(FD_ERR_OOM, "fd_ctx_create: out of host memory");
    c->platform = p;
    c->device = device;
    if (dev) {
#if FD_WITH_CUDA
        c->sm = dev->effective_sm;
        fd_status s = fd__cuda_stream_create(device, &c->stream);
        if (s == FD_OK) s = fd__cuda_malloc(device, FD_KERR_WORDS * sizeof(int), (void **)&c->d_err);
        if (s == FD_OK) s = fd__cuda_memset(device, c->d_err, 0, FD_KERR_WORDS * sizeof(int), c->stream);
        if (s != FD_OK) {
            fd_ctx_free(c);
            return s;
        }
#endif
    }
    *out = c;
    return FD_OK;
}

void fd_ctx_free(fd_ctx *c) {
    if (!c) return;
#if FD_WITH_CUDA
    if (c->device != FD_CPU_DEVICE) {
        fd__cuda_free(c->device, c->d_err);
        fd__cuda_stream_destroy(c->stream);
    }
#endif
    free(c);
}

int fd_ctx_device(const fd_ctx *c) { return c->device; }
int fd_ctx_is_cuda(const fd_ctx *c) { return c->device != FD_CPU_DEVICE; }
int fd_ctx_effective_sm(const fd_ctx *c) { return c->sm; }
const fd_platform *fd_ctx_platform(const fd_ctx *c) { return c->platform; }
void *fd_ctx_stream(const fd_ctx *c) { return c->stream; }

fd_status fd_ctx_alloc(fd_ctx *c, size_t bytes, void **out) {
#if FD_WITH_CUDA
    if (c->device != FD_CPU_DEVICE) return fd__cuda_malloc(c->device, bytes, out);
#endif
    *out = malloc(bytes ? bytes : 1);
    if (!*out) return fd__error(FD_ERR_OOM, "fd_ctx_alloc: %zu bytes of host memory", bytes);
    return FD_OK;
}

void fd_ctx_release(fd_ctx *c, void *ptr) {
#if FD_WITH_CUDA
    if (c->device != FD_CPU_DEVICE) {
        fd__cuda_free(c->device, ptr);
        return;
    }
#endif
    free(ptr);
}

fd_status fd_ctx_upload(fd_ctx *c, void *dst, const void *src, size_t bytes) {
#if FD_WITH_CUDA
    if (c->device != FD_CPU_DEVICE) return fd__cuda_copy(c->device, dst, src, bytes, 0, c->stream);
#endif
    if (bytes) memmove(dst, src, bytes);
    return FD_OK;
}

fd_status fd_ctx_download(fd_ctx *c, void *dst, const void *src, size_t bytes) {
#if FD_WITH_CUDA
    if (c->device != FD_CPU_DEVICE) return fd__cuda_copy(c->device, dst, src, bytes, 1, c->stream);
#endif
    if (bytes) memmove(dst, src, bytes);
    return FD_OK;
}

fd_status fd_ctx_memset(fd_ctx *c, void *dst, int value, size_t bytes) {
#if FD_WITH_CUDA
    if (c->device != FD_CPU_DEVICE) return fd__cuda_memset(c->device, dst, value, bytes, c->stream);
#endif
    if (bytes) memset(dst, value, bytes);
    return FD_OK;
}

fd_status fd_ctx_copy_2d(fd_ctx *c, void *dst, size_t dst_pitch, const void *src, size_t src_pitch,
                         size_t width, size_t rows) {
    if (width > dst_pitch || width > src_pitch)
        return fd__error(FD_ERR_INVALID_ARG, "fd_ctx_copy_2d: width %zu exceeds a pitch (%zu, %zu)", width,
                         dst_pitch, src_pitch);
#if FD_WITH_CUDA
    if (c->device != FD_CPU_DEVICE)
        return fd__cuda_copy_2d(c->device, dst, dst_pitch, src, src_pitch, width, rows, c->stream);
#endif
    for (size_t r = 0; r < rows; r++) memmove((char *)dst + r * dst_pitch, (const char *)src + r * src_pitch, width);
    return FD_OK;
}

fd_status fd_ctx_capture_begin(fd_ctx *c) {
#if FD_WITH_CUDA
    if (c->device != FD_CPU_DEVICE) return fd__cuda_capture_begin(c->device, c->stream);
#endif
    return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "fd_ctx_capture_begin: graphs need a CUDA context");
}

fd_status fd_ctx_capture_end(fd_ctx *c, fd_graph **out) {
    *out = NULL;
#if FD_WITH_CUDA
    if (c->device != FD_CPU_DEVICE) return fd__cuda_capture_end(c->device, c->stream, (void **)out);
#endif
    return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "fd_ctx_capture_end: graphs need a CUDA context");
}

fd_status fd_graph_launch(fd_ctx *c, fd_graph *g) {
#if FD_WITH_CUDA
    if (c->device != FD_CPU_DEVICE && g) return fd__cuda_graph_launch(c->device, g, c->stream);
#endif
    return fd__error(FD_ERR_INVALID_ARG, "fd_graph_launch: no graph, or not a CUDA context");
}

void fd_graph_free(fd_graph *g) {
#if FD_WITH_CUDA
    fd__cuda_graph_free(g);
#else
    (void)g;
#endif
}

#if FD_WITH_CUDA
static const char *kerr_text(int kind) {
    switch (kind) {
    case FD_KERR_INDEX: return "an index or token id is out of range";
    case FD_KERR_LENGTH: return "lengths do not add up";
    case FD_KERR_VALUE: return "a row holds values the op cannot use";
    default: return "invalid input";
    }
}
#endif

fd_status fd_ctx_sync(fd_ctx *c) {
    if (c->device == FD_CPU_DEVICE) return FD_OK;
#if FD_WITH_CUDA
    int h[FD_KERR_WORDS] = {0};
    FD_TRY(fd__cuda_sync(c->device, c->stream));
    FD_TRY(fd__cuda_copy(c->device, h, c->d_err, sizeof h, 1, c->stream));
    if (h[0] == 0) return FD_OK;
    FD_TRY(fd__cuda_memset(c->device, c->d_err, 0, sizeof h, c->stream));
    const char *op = fd_op_name(h[0] - 1);
    return fd__error(FD_ERR_INVALID_ARG,
                     "%s: %s (value %d, slot/limit %d); the kernel skipped that element",
                     op ? op : "?", kerr_text(h[1]), h[2], h[3]);
#else
    return FD_OK;
#endif
}

fd_status fd__ctx_begin(fd_ctx *c, int op, fd_dtype dtype, int *variant, fd__launch *l) {
    FD_TRY(fd__op_select(c->platform, c->device, op, dtype, variant));
    memset(l, 0, sizeof *l);
    l->stream = c->stream;
    l->err = c->d_err;
    l->op = op;
    l->sm = c->sm;
    l->device = c->device;
    return FD_OK;
}
