// SPDX-License-Identifier: Apache-2.0
// The engine's private state: sequences, queues, the KV pool and the backend.
#ifndef FD_ENGINE_INTERNAL_H
#define FD_ENGINE_INTERNAL_H

#include <pthread.h>

#include "engine/kv_blocks.h"
#include "engine/text_stream.h"
#include "fdeploy/engine.h"
#include "fdeploy/tokenizer.h"
#include "model/forward_cpu.h"
#include "model/forward_gpu.h"

typedef struct fd__seq {
    uint64_t id;
    int32_t *tokens;               // prompt, then generated tokens
    int n_tokens, cap, n_prompt;
    int n_computed;                // tokens whose K/V are in the cache
    int32_t *blocks;               // block table
    int n_blocks, blocks_cap;
    int n_hashed;                  // full blocks registered in / found by the prefix cache
    uint64_t last_hash;
    uint64_t first_hash;           // hash of the first full block (0: the prompt has none to share)
    fd_request_params p;           // stops / stop ids point into owned copies
    int32_t *stop_ids;
    fd_sampler *smp;
    fd__text_stream ts;
    fd_request_fn fn;
    void *user;
    double t_arrival, t_last;
    int n_generated, n_cached;
    int abort;
} fd__seq;

struct fd_engine {
    fd_model *m;
    const fd_tokenizer *tok;
    fd_engine_params p;
    int n_vocab;
    fd__cpu_kv kv;                 // CPU backend
    fd__cpu_scratch *scratch;
    fd_platform *platform;         // GPU backend
    fd_ctx *ctx;
    fd__gpu_runner *gpu;
    fd__kv_blocks *kb;
    pthread_t thread;
    pthread_mutex_t mu;            // guards inbox, aborts, quit, stats
    pthread_cond_t cv;
    int quit, started;
    fd__seq **inbox;               // submitted, not yet seen by the engine thread
    int n_inbox, cap_inbox;
    uint64_t *aborts;
    int n_aborts, cap_aborts;
    uint64_t next_id;
    // Engine thread only:
    fd__seq **waiting, **running;
    int n_waiting, n_running;
    int32_t *b_tokens, *b_npast, *b_nnew, *b_want;
    const int32_t **b_blocks;
    fd__seq **b_seqs;
    float *logits;                 // [max_num_seqs][n_vocab]
    fd__gpu_sample_row *b_sample;  // [max_num_seqs]: sampling on the device
    int32_t *b_sampled;            // [max_num_seqs]: tokens the device drew
    float *lp_scratch;             // [n_vocab]
    fd_engine_stats stats;         // under mu
    double t_start;
};

// One scheduler step; returns 0 when there was nothing to do.
int fd__engine_step(fd_engine *e);
// Ends a sequence: final event, blocks released, memory freed.
void fd__engine_finish(fd_engine *e, fd__seq *s, const char *reason, const char *error);
double fd__now(void);
void fd__engine_free_seq(fd__seq *s);

#endif
