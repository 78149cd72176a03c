// SPDX-License-Identifier: Apache-2.0
// Private helpers shared by every layer: error reporting and argument checks.
#ifndef FD_CORE_INTERNAL_H
#define FD_CORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "fdeploy/status.h"
#include "fdeploy/tensor.h"

#ifdef __cplusplus
#define FD_NORETURN [[noreturn]]
extern "C" {
#else
#define FD_NORETURN _Noreturn
#endif

#if defined(__GNUC__)
#define FD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FD_PRINTF(a, b)
#endif

// Sets this thread's error message and returns `s`: `return fd__error(...)`.
fd_status fd__error(fd_status s, const char *fmt, ...) FD_PRINTF(2, 3);

#define FD_TRY(expr)                                                          \
    do {                                                                      \
        fd_status fd_try_s_ = (expr);                                         \
        if (fd_try_s_ != FD_OK) return fd_try_s_;                             \
    } while (0)

// Invariant broken inside fdeploy (never input): report and abort.
#define FD_ASSERT(cond)                                                       \
    do {                                                                      \
        if (!(cond)) fd__assert_fail(#cond, __FILE__, __LINE__, __func__);    \
    } while (0)
FD_NORETURN void fd__assert_fail(const char *cond, const char *file, int line,
                               const char *func);

// Checks that `t` is non-NULL, has dtype `dt` (if dt >= 0) and `ndim` dims
// whose sizes match `ne` (a negative entry matches any size).
// `op` and `name` make the message: "rebuild_padding: tmp_out: ...".
fd_status fd__check_tensor(const char *op, const char *name, const fd_tensor *t,
                           int dt, int ndim, const int64_t *ne);
#define FD_CHECK_T(op, name, t, dt, ...)                                      \
    fd__check_tensor(op, name, t, dt,                                         \
                     (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                     (int64_t[]){__VA_ARGS__})

// Element i of an f32/f16/bf16 array, as f32 (host memory).
float fd__get_f(fd_dtype dt, const void *p, int64_t i);
// Stores v (rounded to nearest even) as element i of an f32/f16/bf16 array.
void fd__set_f(fd_dtype dt, void *p, int64_t i, float v);

// n halves to floats (F16C when the CPU has it: the GPU backend's logits).
void fd__f16_to_f32_row(const uint16_t *in, float *out, int64_t n);

// 1 if `dt` is one of the dtypes in `mask` (FD_DT bits).
static inline int fd__dtype_in(fd_dtype dt, unsigned mask) {
    return (mask >> dt) & 1u;
}

// Logging to stderr, prefix "fdeploy: "; level from FDEPLOY_LOG (error|warn|info|debug).
typedef enum { FD_LOG_ERROR, FD_LOG_WARN, FD_LOG_INFO, FD_LOG_DEBUG } fd_log_level;
void fd__log(fd_log_level lvl, const char *fmt, ...) FD_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif
#endif
