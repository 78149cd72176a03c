// SPDX-License-Identifier: Apache-2.0
// The serving engine: a request queue and a continuous-batching scheduler over
// one model, with a paged KV cache (fixed-size blocks from one pool, prefix
// caching by hashing full blocks, preemption by recompute when the pool is
// full). Requests are submitted from any thread; the engine's own thread runs
// the steps and reports each request's progress through its callback.
#ifndef FDEPLOY_ENGINE_H
#define FDEPLOY_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include "fdeploy/model.h"
#include "fdeploy/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fd_engine fd_engine;

typedef struct fd_engine_params {
    int device;                     // FD_CPU_DEVICE (-1) or a CUDA device index
    int max_num_seqs;               // running sequences at most (default 64)
    int max_model_len;              // prompt + output tokens per sequence (default: model's, capped at 4096)
    int max_num_batched_tokens;     // tokens per step: decodes + prefill chunks (default 2048)
    int block_size;                 // tokens per KV block (default 64; 16..128, power of two)
    double gpu_memory_utilization;  // fraction of free GPU memory for the KV pool (default 0.5)
    size_t kv_cache_bytes;          // pool size on the CPU, or an explicit size on the GPU (0 = derive)
    int enable_prefix_caching;      // default 1
    int n_threads;                  // CPU threads (0 = all)
} fd_engine_params;

void fd_engine_params_default(fd_engine_params *p);

typedef struct fd_request_params {
    fd_sampling_params sampling;
    int max_tokens;                 // generated tokens at most (> 0)
    const char *const *stops;       // stop strings (copied at submit)
    int n_stops;
    const int32_t *stop_token_ids;  // extra end tokens (copied)
    int n_stop_token_ids;
    int ignore_eos;
    int logprobs;                   // 1: report the chosen token's logprob
    int top_logprobs;               // 0..20 alternatives per token
} fd_request_params;

void fd_request_params_default(fd_request_params *p);

typedef enum fd_request_event_kind {
    FD_EVENT_TOKEN,     // one generated token (text may be empty while UTF-8 or a stop string is pending)
    FD_EVENT_FINISHED,  // last event of a request: finish reason and usage
} fd_request_event_kind;

typedef struct fd_token_logprob { int32_t id; float logprob; } fd_token_logprob;

typedef struct fd_request_event {
    fd_request_event_kind kind;
    uint64_t request_id;
    int32_t token;                  // FD_EVENT_TOKEN
    const char *text;               // text released by this token (not NUL-terminated)
    size_t text_len;
    float logprob;                  // when logprobs was asked
    const fd_token_logprob *top;    // top_logprobs alternatives
    int n_top;
    const char *finish_reason;      // FD_EVENT_FINISHED: "stop", "length", "abort", "error"
    int prompt_tokens, completion_tokens, cached_tokens;
    const char *error;              // when finish_reason is "error"
} fd_request_event;

// Called on the engine thread; must not block for long and must not call
// fd_engine_* except fd_engine_abort. Pointers are valid only during the call.
typedef void (*fd_request_fn)(const fd_request_event *ev, void *user);

// Creates the engine and starts its thread. Borrows the model.
fd_status fd_engine_create(fd_model *m, const fd_engine_params *p, fd_engine **out);
// Stops accepting, aborts what is in flight (each gets FINISHED "abort"), joins.
void fd_engine_free(fd_engine *e);

// Queues a request. Errors (prompt longer than max_model_len, too many tokens
// asked, bad sampling values) are returned here, with the message, and no
// callback is made. `prompt` is copied.
fd_status fd_engine_submit(fd_engine *e, const int32_t *prompt, int n_prompt,
                           const fd_request_params *p, fd_request_fn fn, void *user,
                           uint64_t *request_id);
// Aborts a request (no-op if already finished); its blocks are freed and its
// callback gets FINISHED "abort".
void fd_engine_abort(fd_engine *e, uint64_t request_id);

typedef struct fd_engine_stats {
    int running, waiting;
    int kv_blocks_total, kv_blocks_used;
    uint64_t prefix_queries, prefix_hits;     // blocks looked up / found in the prefix cache
    uint64_t preemptions;
    uint64_t requests_finished, prompt_tokens, generated_tokens;
    double uptime_s;
    // Histograms (seconds): counts per upper bound in fd_engine_latency_buckets.
    uint64_t ttft_buckets[16], itl_buckets[16];
    double ttft_sum, itl_sum;
    uint64_t ttft_count, itl_count;
} fd_engine_stats;

// Upper bounds (seconds) of the 16 histogram buckets (the last is +Inf).
extern const double fd_engine_latency_buckets[16];
void fd_engine_get_stats(fd_engine *e, fd_engine_stats *out);
int fd_engine_max_model_len(const fd_engine *e);
// One line: the backend (CPU threads/SIMD, or the GPU, its SM and the arch its
// kernels run as) and the KV pool (blocks, tokens, bytes).
void fd_engine_describe(const fd_engine *e, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
