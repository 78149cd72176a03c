// SPDX-License-Identifier: Apache-2.0
// The CUDA runtime seen from C: implemented in cuda_runtime.cu so that no C
// file includes a CUDA header. Only compiled when FD_WITH_CUDA.
#ifndef FD_PLATFORM_CUDA_API_H
#define FD_PLATFORM_CUDA_API_H

#include <stddef.h>
#include "fdeploy/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

// Number of devices; 0 with a reason in `note` when there is no driver or GPU.
int fd__cuda_device_count(char *note, size_t note_size);
// Name, SM, memory and bandwidth of device i (image fields untouched).
fd_status fd__cuda_device_query(int i, fd_device_info *out);
// Runs a probe kernel on device i: __CUDA_ARCH__/10 of the image that ran,
// and the PTX / binary versions the runtime reports for it. 0 if none ran.
int fd__cuda_probe_arch(int i, int *ptx_version, int *binary_version);

fd_status fd__cuda_set_device(int i);
fd_status fd__cuda_stream_create(int device, void **stream);
void fd__cuda_stream_destroy(void *stream);
fd_status fd__cuda_malloc(int device, size_t bytes, void **out);
void fd__cuda_free(int device, void *ptr);
fd_status fd__cuda_copy(int device, void *dst, const void *src, size_t bytes, int to_host,
                        void *stream);
fd_status fd__cuda_memset(int device, void *dst, int value, size_t bytes, void *stream);
fd_status fd__cuda_copy_2d(int device, void *dst, size_t dst_pitch, const void *src, size_t src_pitch,
                           size_t width, size_t rows, void *stream);
fd_status fd__cuda_sync(int device, void *stream);
fd_status fd__cuda_capture_begin(int device, void *stream);
fd_status fd__cuda_capture_end(int device, void *stream, void **graph_exec);
fd_status fd__cuda_graph_launch(int device, void *graph_exec, void *stream);
void fd__cuda_graph_free(void *graph_exec);

#ifdef __cplusplus
}
#endif
#endif
