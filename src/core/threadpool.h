// SPDX-License-Identifier: Apache-2.0
// A fixed pool of worker threads for data-parallel loops on the CPU backend.
#ifndef FD_CORE_THREADPOOL_H
#define FD_CORE_THREADPOOL_H

#include <stdint.h>
#include "fdeploy/status.h"

typedef struct fd_threadpool fd_threadpool;

// fn(arg, begin, end) handles items [begin, end).
typedef void (*fd_range_fn)(void *arg, int64_t begin, int64_t end);

// n_threads counts the caller: 1 = no workers. 0 = number of online CPUs.
fd_status fd__threadpool_create(int n_threads, fd_threadpool **out);
void fd__threadpool_free(fd_threadpool *tp);
int fd__threadpool_size(const fd_threadpool *tp);

// Splits [0, n) into one contiguous chunk per thread (multiples of `grain`)
// and returns when all are done. Not reentrant.
void fd__parallel_for(fd_threadpool *tp, int64_t n, int64_t grain, fd_range_fn fn, void *arg);

#endif
