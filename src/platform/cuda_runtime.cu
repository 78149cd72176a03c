// SPDX-License-Identifier: Apache-2.0
// Device discovery, the arch probe kernel, streams and memory: the CUDA runtime
// behind src/platform/cuda_api.h.
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "platform/cuda_api.h"

#define FD_CUDA_TRY(expr)                                                     \
    do {                                                                      \
        cudaError_t fd_e_ = (expr);                                           \
        if (fd_e_ != cudaSuccess)                                             \
            return fd__error(FD_ERR_CUDA, "%s: %s (%s:%d)", #expr,            \
                             cudaGetErrorString(fd_e_), __FILE__, __LINE__);  \
    } while (0)

extern "C" int fd__cuda_device_count(char *note, size_t note_size) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(note, note_size, "no usable CUDA device (%s)", cudaGetErrorString(e));
        cudaGetLastError();
        return 0;
    }
    if (n == 0) snprintf(note, note_size, "no CUDA device present");
    return n;
}

extern "C" fd_status fd__cuda_device_query(int i, fd_device_info *out) {
    cudaDeviceProp prop;
    FD_CUDA_TRY(cudaGetDeviceProperties(&prop, i));
    out->index = i;
    snprintf(out->name, sizeof out->name, "%s", prop.name);
    out->sm = prop.major * 10 + prop.minor;
    out->n_multiprocessors = prop.multiProcessorCount;
    out->total_bytes = prop.totalGlobalMem;
    int clock_khz = 0, bus_bits = 0;
    cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, i);
    cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, i);
    // DDR: two transfers per clock.
    out->peak_bw_gbs = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;
    size_t free_b = 0, total_b = 0;
    FD_CUDA_TRY(cudaSetDevice(i));
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) out->free_bytes = free_b;
    return FD_OK;
}

static __global__ void probe_arch_kernel(int *out) {
#ifdef __CUDA_ARCH__
    *out = __CUDA_ARCH__ / 10;
#endif
}

extern "C" int fd__cuda_probe_arch(int i, int *ptx_version, int *binary_version) {
    int *d = NULL, h = 0;
    cudaFuncAttributes attr;
    *ptx_version = *binary_version = 0;
    if (cudaSetDevice(i) != cudaSuccess) return 0;
    if (cudaFuncGetAttributes(&attr, probe_arch_kernel) != cudaSuccess) {
        cudaGetLastError();  // no image for this device: not an error here
        return 0;
    }
    *ptx_version = attr.ptxVersion;
    *binary_version = attr.binaryVersion;
    if (cudaMalloc(&d, sizeof(int)) != cudaSuccess) return 0;
    probe_arch_kernel<<<1, 1>>>(d);
    if (cudaMemcpy(&h, d, sizeof(int), cudaMemcpyDeviceToHost) != cudaSuccess) h = 0;
    cudaFree(d);
    cudaGetLastError();
    return h;
}

extern "C" fd_status fd__cuda_set_device(int i) {
    FD_CUDA_TRY(cudaSetDevice(i));
    return FD_OK;
}

extern "C" fd_status fd__cuda_stream_create(int device, void **stream) {
    cudaStream_t s;
    FD_CUDA_TRY(cudaSetDevice(device));
    FD_CUDA_TRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    *stream = (void *)s;
    return FD_OK;
}

extern "C" void fd__cuda_stream_destroy(void *stream) {
    if (stream) cudaStreamDestroy((cudaStream_t)stream);
}

extern "C" fd_status fd__cuda_malloc(int device, size_t bytes, void **out) {
    FD_CUDA_TRY(cudaSetDevice(device));
    cudaError_t e = cudaMalloc(out, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return fd__error(FD_ERR_OOM, "cudaMalloc of %zu bytes on device %d failed: %s",
                         bytes, device, cudaGetErrorString(e));
    }
    return FD_OK;
}

extern "C" void fd__cuda_free(int device, void *ptr) {
    if (!ptr) return;
    cudaSetDevice(device);
    cudaFree(ptr);
}

extern "C" fd_status fd__cuda_copy(int device, void *dst, const void *src, size_t bytes,
                                   int to_host, void *stream) {
    if (bytes == 0) return FD_OK;
    FD_CUDA_TRY(cudaSetDevice(device));
    FD_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes,
                                to_host ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice,
                                (cudaStream_t)stream));
    FD_CUDA_TRY(cudaStreamSynchronize((cudaStream_t)stream));
    return FD_OK;
}

extern "C" fd_status fd__cuda_memset(int device, void *dst, int value, size_t bytes,
                                     void *stream) {
    if (bytes == 0) return FD_OK;
    FD_CUDA_TRY(cudaSetDevice(device));
    FD_CUDA_TRY(cudaMemsetAsync(dst, value, bytes, (cudaStream_t)stream));
    return FD_OK;
}

extern "C" fd_status fd__cuda_copy_2d(int device, void *dst, size_t dst_pitch, const void *src,
                                      size_t src_pitch, size_t width, size_t rows, void *stream) {
    if (width == 0 || rows == 0) return FD_OK;
    FD_CUDA_TRY(cudaSetDevice(device));
    FD_CUDA_TRY(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width, rows, cudaMemcpyDeviceToDevice,
                                  (cudaStream_t)stream));
    return FD_OK;
}

extern "C" fd_status fd__cuda_capture_begin(int device, void *stream) {
    FD_CUDA_TRY(cudaSetDevice(device));
    FD_CUDA_TRY(cudaStreamBeginCapture((cudaStream_t)stream, cudaStreamCaptureModeThreadLocal));
    return FD_OK;
}

extern "C" fd_status fd__cuda_capture_end(int device, void *stream, void **graph_exec) {
    cudaGraph_t g = NULL;
    cudaGraphExec_t x = NULL;
    *graph_exec = NULL;
    cudaSetDevice(device);
    cudaError_t e = cudaStreamEndCapture((cudaStream_t)stream, &g);
    if (e == cudaSuccess) e = cudaGraphInstantiateWithFlags(&x, g, 0);
    if (g) cudaGraphDestroy(g);
    if (e != cudaSuccess) {
        cudaGetLastError();  // a broken capture is not sticky: clear it
        return fd__error(FD_ERR_CUDA, "CUDA graph capture failed: %s", cudaGetErrorString(e));
    }
    *graph_exec = x;
    return FD_OK;
}

extern "C" fd_status fd__cuda_graph_launch(int device, void *graph_exec, void *stream) {
    FD_CUDA_TRY(cudaSetDevice(device));
    FD_CUDA_TRY(cudaGraphLaunch((cudaGraphExec_t)graph_exec, (cudaStream_t)stream));
    return FD_OK;
}

extern "C" void fd__cuda_graph_free(void *graph_exec) {
    if (graph_exec) cudaGraphExecDestroy((cudaGraphExec_t)graph_exec);
}

extern "C" fd_status fd__cuda_sync(int device, void *stream) {
    FD_CUDA_TRY(cudaSetDevice(device));
    FD_CUDA_TRY(cudaStreamSynchronize((cudaStream_t)stream));
    FD_CUDA_TRY(cudaGetLastError());
    return FD_OK;
}
