// SPDX-License-Identifier: Apache-2.0
// Platform: what this build contains, which devices are present, and which
// operators can run where (and why not). The only place with process state.
#ifndef FDEPLOY_PLATFORM_H
#define FDEPLOY_PLATFORM_H

#include <stddef.h>
#include "fdeploy/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FD_MAX_ARCHS 16
#define FD_CPU_DEVICE (-1)

// What the library was compiled with.
typedef struct fd_build_info {
    int cuda;                      // 1 if kernels were compiled
    int n_archs;                   // SASS images, ascending
    int archs[FD_MAX_ARCHS];       // e.g. {70} or {80, 90}
    int ptx_arch;                  // PTX image (highest listed arch), 0 if none
    char toolkit[32];              // CUDA toolkit version, "" for CPU-only
    char version[32];              // fdeploy version
} fd_build_info;

// Which kernel image the CUDA driver loads on a device.
typedef enum fd_image_kind {
    FD_IMAGE_NONE = 0,   // nothing in this build runs on the device
    FD_IMAGE_SASS,       // exact machine code for a compatible arch
    FD_IMAGE_PTX_JIT,    // PTX compiled by the driver at load time
} fd_image_kind;

typedef struct fd_device_info {
    int index;
    char name[128];
    int sm;                        // compute capability * 10 (70, 90, ...)
    int n_multiprocessors;
    size_t total_bytes, free_bytes;
    double peak_bw_gbs;            // DRAM peak from bus width and clock; 0 if unknown
    fd_image_kind image;
    int image_arch;                // arch of the image used (SASS arch or PTX arch)
    int effective_sm;              // arch the kernels were compiled for; 0 if none
    int probe_arch;                // __CUDA_ARCH__/10 reported by a probe kernel; 0 if not run
} fd_device_info;

typedef struct fd_platform fd_platform;

// Opens the platform: queries CUDA devices unless the build is CPU-only or the
// environment sets FDEPLOY_DEVICE=cpu (forces the CPU backend). Never fails for
// a missing GPU or driver: that is a CPU platform with 0 devices and a note.
fd_status fd_platform_open(fd_platform **out);

// A platform from given facts, for tests and "what if" questions
// (e.g. a [70] build on an SM90 device). `devices` is copied; image fields are
// computed from `build`.
fd_status fd_platform_open_simulated(const fd_build_info *build,
                                     const fd_device_info *devices, int n_devices,
                                     fd_platform **out);
void fd_platform_free(fd_platform *p);

const fd_build_info *fd_platform_build(const fd_platform *p);
int fd_platform_device_count(const fd_platform *p);
// Borrowed pointer, valid until fd_platform_free; NULL if out of range.
const fd_device_info *fd_platform_device(const fd_platform *p, int index);
// Why there are no GPUs ("FDEPLOY_DEVICE=cpu", "no CUDA driver", ...), "" if there are.
const char *fd_platform_note(const fd_platform *p);

// The build this library was compiled as.
void fd_build_info_get(fd_build_info *out);

// Which image of `build` runs on an SM `sm` device; writes its arch to *arch.
fd_image_kind fd_image_select(const fd_build_info *build, int sm, int *arch);
const char *fd_image_kind_name(fd_image_kind k);

// ---- op table queries
int fd_op_count(void);
const char *fd_op_name(int op);
// Index of the op called `name`, or -1.
int fd_op_find(const char *name);

// 1 if `op` can run on `device` (FD_CPU_DEVICE for the C reference), else 0
// with the reason written into `reason` (may be NULL).
int fd_op_available(const fd_platform *p, const char *op, int device,
                    char *reason, size_t reason_size);

#ifdef __cplusplus
}
#endif
#endif
