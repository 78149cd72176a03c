// SPDX-License-Identifier: Apache-2.0
// The platform: this build's facts, the devices present, and which kernel
// image the driver loads on each (hence the arch the kernels really run as).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "fd_build_config.h"
#include "platform/op_table.h"
#if FD_WITH_CUDA
#include "platform/cuda_api.h"
#endif

struct fd_platform {
    fd_build_info build;
    int n_devices;
    fd_device_info *devices;
    char note[256];
};

void fd_build_info_get(fd_build_info *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->version, sizeof out->version, "%s", FD_VERSION);
#if FD_WITH_CUDA
    static const int archs[] = {FD_CUDA_ARCH_INIT};
    out->cuda = 1;
    out->n_archs = (int)(sizeof archs / sizeof archs[0]);
    for (int i = 0; i < out->n_archs && i < FD_MAX_ARCHS; i++) out->archs[i] = archs[i];
    out->ptx_arch = FD_CUDA_PTX_ARCH;
    snprintf(out->toolkit, sizeof out->toolkit, "%s", FD_CUDA_TOOLKIT);
#endif
}

const char *fd_image_kind_name(fd_image_kind k) {
    switch (k) {
    case FD_IMAGE_SASS: return "SASS";
    case FD_IMAGE_PTX_JIT: return "PTX JIT";
    default: return "none";
    }
}

// The driver's rule: SASS of the same major version and not newer than the
// device wins (highest first); otherwise PTX not newer than the device is JIT-compiled.
fd_image_kind fd_image_select(const fd_build_info *b, int sm, int *arch) {
    *arch = 0;
    if (!b->cuda || sm <= 0) return FD_IMAGE_NONE;
    int best = 0;
    for (int i = 0; i < b->n_archs; i++) {
        int a = b->archs[i];
        if (a / 10 == sm / 10 && a <= sm && a > best) best = a;
    }
    if (best) {
        *arch = best;
        return FD_IMAGE_SASS;
    }
    if (b->ptx_arch && b->ptx_arch <= sm) {
        *arch = b->ptx_arch;
        return FD_IMAGE_PTX_JIT;
    }
    return FD_IMAGE_NONE;
}

static void fill_image(const fd_build_info *b, fd_device_info *d) {
    d->image = fd_image_select(b, d->sm, &d->image_arch);
    d->effective_sm = d->image == FD_IMAGE_NONE ? 0 : d->image_arch;
}

static fd_status platform_alloc(int n, fd_platform **out) {
    fd_platform *p = calloc(1, sizeof *p);
    if (!p) return fd__error(FD_ERR_OOM, "platform: out of host memory");
    if (n > 0 && !(p->devices = calloc((size_t)n, sizeof *p->devices))) {
        free(p);
        return fd__error(FD_ERR_OOM, "platform: out of host memory");
    }
    p->n_devices = n;
    *out = p;
    return FD_OK;
}

static int force_cpu(void) {
    const char *env = getenv("FDEPLOY_DEVICE");
    return env && strcmp(env, "cpu") == 0;
}

#if FD_WITH_CUDA
static void query_device(fd_platform *p, int i) {
    fd_device_info *d = &p->devices[i];
    if (fd__cuda_device_query(i, d) != FD_OK) {
        snprintf(d->name, sizeof d->name, "(query failed: %s)", fd_last_error());
        return;
    }
    fill_image(&p->build, d);
    int ptx = 0, bin = 0;
    d->probe_arch = fd__cuda_probe_arch(i, &ptx, &bin);
    // The kernel itself is the authority on what it was compiled for.
    if (d->probe_arch && d->probe_arch != d->effective_sm) {
        fd__log(FD_LOG_WARN, "device %d: probe ran as SM%d, expected SM%d from the image rule",
                i, d->probe_arch, d->effective_sm);
        d->effective_sm = d->probe_arch;
    }
    if (d->image != FD_IMAGE_NONE && !d->probe_arch) {
        fd__log(FD_LOG_WARN, "device %d: probe kernel did not run (%s image from SM%d)", i,
                fd_image_kind_name(d->image), d->image_arch);
        d->image = FD_IMAGE_NONE;
        d->effective_sm = 0;
    }
}
#endif

fd_status fd_platform_open(fd_platform **out) {
    fd_build_info b;
    fd_build_info_get(&b);
    char note[256] = "";
    int n = 0;
    if (force_cpu()) {
        snprintf(note, sizeof note, "CPU backend forced by FDEPLOY_DEVICE=cpu");
    } else if (!b.cuda) {
        snprintf(note, sizeof note, "CPU-only build (rebuild with ./build.sh \"[70]\" etc. for GPUs)");
    } else {
#if FD_WITH_CUDA
        n = fd__cuda_device_count(note, sizeof note);
#endif
    }
    fd_platform *p = NULL;
    FD_TRY(platform_alloc(n, &p));
    p->build = b;
    snprintf(p->note, sizeof p->note, "%s", note);
#if FD_WITH_CUDA
    for (int i = 0; i < n; i++) query_device(p, i);
#endif
    *out = p;
    return FD_OK;
}

fd_status fd_platform_open_simulated(const fd_build_info *build,
                                     const fd_device_info *devices, int n_devices,
                                     fd_platform **out) {
    if (!build || n_devices < 0 || (n_devices > 0 && !devices))
        return fd__error(FD_ERR_INVALID_ARG, "platform: simulated build/devices missing");
    fd_platform *p = NULL;
    FD_TRY(platform_alloc(n_devices, &p));
    p->build = *build;
    for (int i = 0; i < n_devices; i++) {
        p->devices[i] = devices[i];
        p->devices[i].index = i;
        fill_image(build, &p->devices[i]);
    }
    if (n_devices == 0) snprintf(p->note, sizeof p->note, "simulated: no devices");
    *out = p;
    return FD_OK;
}

void fd_platform_free(fd_platform *p) {
    if (!p) return;
    free(p->devices);
    free(p);
}

const fd_build_info *fd_platform_build(const fd_platform *p) { return &p->build; }
int fd_platform_device_count(const fd_platform *p) { return p->n_devices; }
const char *fd_platform_note(const fd_platform *p) { return p->note; }

const fd_device_info *fd_platform_device(const fd_platform *p, int index) {
    return index >= 0 && index < p->n_devices ? &p->devices[index] : NULL;
}
