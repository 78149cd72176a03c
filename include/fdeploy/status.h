// SPDX-License-Identifier: Apache-2.0
// Status codes and the thread-local error message shared by every fdeploy call.
#ifndef FDEPLOY_STATUS_H
#define FDEPLOY_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

// X-macro table: code, value, short name. Append only.
#define FD_STATUS_TABLE(X)                                                    \
    X(FD_OK, 0, "ok")                                                         \
    X(FD_ERR_INVALID_ARG, 1, "invalid argument")                              \
    X(FD_ERR_OOM, 2, "out of memory")                                         \
    X(FD_ERR_UNSUPPORTED_ARCH, 3, "unsupported architecture")                 \
    X(FD_ERR_UNSUPPORTED_DTYPE, 4, "unsupported dtype")                       \
    X(FD_ERR_NOT_FOUND, 5, "not found")                                       \
    X(FD_ERR_CUDA, 6, "CUDA error")                                           \
    X(FD_ERR_IO, 7, "I/O error")                                              \
    X(FD_ERR_FORMAT, 8, "bad file format")                                    \
    X(FD_ERR_INTERNAL, 9, "internal error")

typedef enum fd_status {
#define FD_STATUS_ENUM_(name, value, text) name = value,
    FD_STATUS_TABLE(FD_STATUS_ENUM_)
#undef FD_STATUS_ENUM_
    FD_STATUS_COUNT
} fd_status;

// Short name of a status code ("unsupported architecture").
const char *fd_status_str(fd_status s);

// Message of the last failed call on this thread: what failed, with which value,
// and what to do. Empty string if none. Valid until the next failing call.
const char *fd_last_error(void);

// Forget the last error of this thread.
void fd_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
