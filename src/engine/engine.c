// SPDX-License-Identifier: Apache-2.0
// The engine's public side: parameters, creation (KV pool sizing), the engine
// thread, submission and aborts from other threads, statistics.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "engine/engine_internal.h"

const double fd_engine_latency_buckets[16] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                              0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, INFINITY};

double fd__now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

void fd_engine_params_default(fd_engine_params *p) {
    memset(p, 0, sizeof *p);
    p->device = -1;
    p->max_num_seqs = 64;
    p->max_num_batched_tokens = 2048;
    p->block_size = 64;
    p->gpu_memory_utilization = 0.5;
    p->enable_prefix_caching = 1;
}

void fd_request_params_default(fd_request_params *p) {
    memset(p, 0, sizeof *p);
    fd_sampling_params_default(&p->sampling);
    p->max_tokens = 256;
}

static fd_status check_params(const fd_model *m, fd_engine_params *p) {
    const fd_model_info *h = fd_model_get_info(m);
    if (p->max_model_len <= 0) p->max_model_len = h->n_ctx_train < 4096 ? h->n_ctx_train : 4096;
    if (p->block_size < 16 || p->block_size > 128 || (p->block_size & (p->block_size - 1)))
        return fd__error(FD_ERR_INVALID_ARG, "engine: block size %d must be a power of two in [16, 128]", p->block_size);
    if (p->max_num_seqs < 1 || p->max_num_seqs > 1024)
        return fd__error(FD_ERR_INVALID_ARG, "engine: max_num_seqs %d outside [1, 1024]", p->max_num_seqs);
    if (p->max_num_batched_tokens < p->max_num_seqs)
        return fd__error(FD_ERR_INVALID_ARG, "engine: max_num_batched_tokens %d is below max_num_seqs %d",
                         p->max_num_batched_tokens, p->max_num_seqs);
    if (p->max_model_len > h->n_ctx_train * 4)
        return fd__error(FD_ERR_INVALID_ARG, "engine: max_model_len %d exceeds 4x the model's context (%d)",
                         p->max_model_len, h->n_ctx_train);
    if (!p->kv_cache_bytes && p->device < 0) p->kv_cache_bytes = (size_t)1 << 30;
    if (!(p->gpu_memory_utilization > 0 && p->gpu_memory_utilization <= 0.95))
        return fd__error(FD_ERR_INVALID_ARG, "engine: gpu_memory_utilization %g outside (0, 0.95]",
                         p->gpu_memory_utilization);
    return FD_OK;
}

static void *engine_main(void *arg) {
    fd_engine *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->quit && e->n_inbox == 0 && e->n_aborts == 0 && e->n_waiting == 0 && e->n_running == 0)
            pthread_cond_wait(&e->cv, &e->mu);
        int quit = e->quit;
        pthread_mutex_unlock(&e->mu);
        if (quit) break;
        fd__engine_step(e);
    }
    // Shutdown: everything still in flight ends as aborted.
    pthread_mutex_lock(&e->mu);
    for (int i = 0; i < e->n_inbox; i++) e->waiting[e->n_waiting++] = e->inbox[i];
    e->n_inbox = 0;
    pthread_mutex_unlock(&e->mu);
    while (e->n_running) fd__engine_finish(e, e->running[0], "abort", NULL);
    while (e->n_waiting) fd__engine_finish(e, e->waiting[0], "abort", NULL);
    return NULL;
}

static fd_status alloc_buffers(fd_engine *e) {
    size_t S = (size_t)e->p.max_num_seqs, T = (size_t)e->p.max_num_batched_tokens;
    e->waiting = calloc(S * 4 + 16, sizeof *e->waiting);
    e->running = calloc(S, sizeof *e->running);
    e->b_tokens = calloc(T, sizeof *e->b_tokens);
    e->b_npast = calloc(S, sizeof *e->b_npast);
    e->b_nnew = calloc(S, sizeof *e->b_nnew);
    e->b_want = calloc(S, sizeof *e->b_want);
    e->b_blocks = calloc(S, sizeof *e->b_blocks);
    e->b_seqs = calloc(S, sizeof *e->b_seqs);
    e->logits = calloc(S * (size_t)e->n_vocab, sizeof *e->logits);
    e->lp_scratch = calloc((size_t)e->n_vocab, sizeof *e->lp_scratch);
    e->b_sample = calloc(S, sizeof *e->b_sample);
    e->b_sampled = calloc(S, sizeof *e->b_sampled);
    if (!e->waiting || !e->running || !e->b_tokens || !e->b_npast || !e->b_nnew || !e->b_want ||
        !e->b_blocks || !e->b_seqs || !e->logits || !e->lp_scratch || !e->b_sample || !e->b_sampled)
        return fd__error(FD_ERR_OOM, "engine: out of memory");
    return FD_OK;
}

// GPU: the pool takes gpu_memory_utilization of the memory free after the
// weights and the step's activations (or kv_cache_bytes when given).
static fd_status open_device(fd_engine *e, size_t *pool_bytes) {
    FD_TRY(fd_platform_open(&e->platform));
    FD_TRY(fd_ctx_create(e->platform, e->p.device, &e->ctx));
    const fd_device_info *d = fd_platform_device(e->platform, e->p.device);
    size_t weights = fd__gpu_weight_bytes(e->m), slack = (size_t)512 << 20;
    size_t free_b = d->free_bytes > weights + slack ? d->free_bytes - weights - slack : 0;
    *pool_bytes = e->p.kv_cache_bytes ? e->p.kv_cache_bytes : (size_t)(free_b * e->p.gpu_memory_utilization);
    fd__log(FD_LOG_INFO, "engine: device %d (%s), KV pool %.1f MiB", e->p.device, d->name, *pool_bytes / 1048576.0);
    return FD_OK;
}

static fd_status engine_init(fd_engine *e) {
    size_t pool = e->p.kv_cache_bytes;
    if (e->p.device >= 0) FD_TRY(open_device(e, &pool));
    size_t block_bytes = e->p.device >= 0 ? fd__gpu_kv_block_bytes(e->m, e->p.block_size)
                                          : fd__cpu_kv_block_bytes(e->m, e->p.block_size);
    int n_blocks = (int)(pool / block_bytes > 1000000 ? 1000000 : pool / block_bytes);
    int per_seq = (e->p.max_model_len + e->p.block_size - 1) / e->p.block_size;
    if (n_blocks < per_seq)
        return fd__error(FD_ERR_INVALID_ARG,
                         "engine: a KV cache of %zu bytes holds %d blocks of %d tokens, fewer than one "
                         "sequence of max_model_len %d needs (%d); raise --kv-cache-bytes to at least %zu or lower --max-model-len",
                         pool, n_blocks, e->p.block_size, e->p.max_model_len, per_seq,
                         (size_t)per_seq * block_bytes);
    FD_TRY(alloc_buffers(e));
    if (e->p.device >= 0) {
        FD_TRY(fd__gpu_runner_create(e->m, e->ctx, n_blocks, e->p.block_size, e->p.max_num_batched_tokens,
                                     e->p.max_num_seqs, e->p.max_model_len, &e->gpu));
    } else {
        FD_TRY(fd__cpu_kv_alloc(e->m, n_blocks, e->p.block_size, &e->kv));
        FD_TRY(fd__cpu_scratch_create(e->m, e->p.max_num_batched_tokens, &e->scratch));
    }
    FD_TRY(fd__kv_blocks_create(n_blocks, e->p.block_size, e->p.enable_prefix_caching, &e->kb));
    e->stats.kv_blocks_total = n_blocks;
    return FD_OK;
}

fd_status fd_engine_create(fd_model *m, const fd_engine_params *p, fd_engine **out) {
    fd_engine *e = calloc(1, sizeof *e);
    if (!e) return fd__error(FD_ERR_OOM, "engine: out of memory");
    e->m = m;
    e->tok = fd_model_tokenizer(m);
    e->n_vocab = fd_model_get_info(m)->n_vocab;
    if (p) e->p = *p; else fd_engine_params_default(&e->p);
    e->next_id = 1;
    e->t_start = fd__now();
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    fd_status s = check_params(m, &e->p);
    if (s == FD_OK) s = engine_init(e);
    if (s == FD_OK && pthread_create(&e->thread, NULL, engine_main, e) != 0)
        s = fd__error(FD_ERR_INTERNAL, "engine: cannot start its thread");
    if (s != FD_OK) {
        fd_engine_free(e);
        return s;
    }
    e->started = 1;
    *out = e;
    return FD_OK;
}

void fd_engine_free(fd_engine *e) {
    if (!e) return;
    if (e->started) {
        pthread_mutex_lock(&e->mu);
        e->quit = 1;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    }
    fd__kv_blocks_free(e->kb);
    fd__gpu_runner_free(e->gpu);
    fd_ctx_free(e->ctx);
    fd_platform_free(e->platform);
    fd__cpu_scratch_free(e->scratch);
    fd__cpu_kv_release(&e->kv);
    free(e->inbox); free(e->aborts); free(e->waiting); free(e->running);
    free(e->b_tokens); free(e->b_npast); free(e->b_nnew); free(e->b_want); free(e->b_blocks);
    free(e->b_seqs); free(e->logits); free(e->lp_scratch); free(e->b_sample); free(e->b_sampled);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

int fd_engine_max_model_len(const fd_engine *e) { return e->p.max_model_len; }

static fd_status check_request(const fd_engine *e, const int32_t *prompt, int n, const fd_request_params *p) {
    int limit = e->p.max_model_len;
    if (n <= 0) return fd__error(FD_ERR_INVALID_ARG, "the prompt is empty");
    if (n >= limit)
        return fd__error(FD_ERR_INVALID_ARG,
                         "the prompt has %d tokens; this model's maximum context length is %d tokens", n, limit);
    if (p->max_tokens <= 0) return fd__error(FD_ERR_INVALID_ARG, "max_tokens must be at least 1, got %d", p->max_tokens);
    if ((int64_t)n + p->max_tokens > limit)
        return fd__error(FD_ERR_INVALID_ARG,
                         "this model's maximum context length is %d tokens; you requested %lld tokens "
                         "(%d in the prompt, %d for the completion); reduce the prompt or max_tokens",
                         limit, (long long)n + p->max_tokens, n, p->max_tokens);
    if (p->top_logprobs < 0 || p->top_logprobs > 20)
        return fd__error(FD_ERR_INVALID_ARG, "top_logprobs %d outside [0, 20]", p->top_logprobs);
    for (int i = 0; i < n; i++)
        if (prompt[i] < 0 || prompt[i] >= e->n_vocab)
            return fd__error(FD_ERR_INVALID_ARG, "prompt token %d at index %d is outside the vocabulary (%d)",
                             prompt[i], i, e->n_vocab);
    return fd_sampling_params_check(&p->sampling);
}

static void seq_free(fd__seq *s) {
    if (!s) return;
    fd_sampler_free(s->smp);
    fd__text_stream_free(&s->ts);
    free(s->tokens);
    free(s->blocks);
    free(s->stop_ids);
    free(s);
}

static fd_status seq_new(fd_engine *e, const int32_t *prompt, int n, const fd_request_params *p,
                         fd__seq **out) {
    fd__seq *s = calloc(1, sizeof *s);
    if (!s) return fd__error(FD_ERR_OOM, "engine: out of memory");
    s->cap = n + p->max_tokens + 1;
    s->blocks_cap = (e->p.max_model_len + e->p.block_size - 1) / e->p.block_size + 1;
    s->tokens = malloc((size_t)s->cap * sizeof *s->tokens);
    s->blocks = malloc((size_t)s->blocks_cap * sizeof *s->blocks);
    s->stop_ids = malloc((size_t)(p->n_stop_token_ids + 1) * sizeof *s->stop_ids);
    fd_status st = s->tokens && s->blocks && s->stop_ids ? FD_OK : fd__error(FD_ERR_OOM, "engine: out of memory");
    if (st == FD_OK) st = fd__text_stream_init(&s->ts, p->stops, p->n_stops);
    if (st == FD_OK) st = fd_sampler_create(&p->sampling, e->n_vocab, &s->smp);
    if (st != FD_OK) {
        seq_free(s);
        return st;
    }
    memcpy(s->tokens, prompt, (size_t)n * sizeof *prompt);
    if (p->n_stop_token_ids > 0) memcpy(s->stop_ids, p->stop_token_ids, (size_t)p->n_stop_token_ids * sizeof *s->stop_ids);
    for (int i = 0; i < n; i++) fd_sampler_accept_prompt(s->smp, prompt[i]);
    s->n_tokens = s->n_prompt = n;
    s->p = *p;
    s->p.stops = NULL;  // owned by the text stream
    s->p.stop_token_ids = s->stop_ids;
    s->t_arrival = fd__now();
    if ((n - 1) / e->p.block_size >= 1) s->first_hash = fd__kv_block_hash(0, prompt, e->p.block_size);
    *out = s;
    return FD_OK;
}

static fd_status push_inbox(fd_engine *e, fd__seq *s) {
    if (e->quit) return fd__error(FD_ERR_INVALID_ARG, "engine: shutting down, not accepting requests");
    if (e->n_inbox == e->cap_inbox) {
        int cap = e->cap_inbox ? 2 * e->cap_inbox : 64;
        fd__seq **q = realloc(e->inbox, (size_t)cap * sizeof *q);
        if (!q) return fd__error(FD_ERR_OOM, "engine: out of memory");
        e->inbox = q;
        e->cap_inbox = cap;
    }
    e->inbox[e->n_inbox++] = s;
    pthread_cond_signal(&e->cv);
    return FD_OK;
}

fd_status fd_engine_submit(fd_engine *e, const int32_t *prompt, int n, const fd_request_params *p,
                           fd_request_fn fn, void *user, uint64_t *request_id) {
    FD_TRY(check_request(e, prompt, n, p));
    fd__seq *s = NULL;
    FD_TRY(seq_new(e, prompt, n, p, &s));
    s->fn = fn;
    s->user = user;
    pthread_mutex_lock(&e->mu);
    uint64_t id = s->id = e->next_id++;  // read under the lock: the engine may free s right after
    fd_status st = push_inbox(e, s);
    pthread_mutex_unlock(&e->mu);
    if (st != FD_OK) {
        seq_free(s);
        return st;
    }
    if (request_id) *request_id = id;
    return FD_OK;
}

void fd_engine_abort(fd_engine *e, uint64_t id) {
    pthread_mutex_lock(&e->mu);
    if (e->n_aborts == e->cap_aborts) {
        int cap = e->cap_aborts ? 2 * e->cap_aborts : 64;
        uint64_t *a = realloc(e->aborts, (size_t)cap * sizeof *a);
        if (a) {
            e->aborts = a;
            e->cap_aborts = cap;
        }
    }
    if (e->n_aborts < e->cap_aborts) e->aborts[e->n_aborts++] = id;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

void fd_engine_get_stats(fd_engine *e, fd_engine_stats *out) {
    pthread_mutex_lock(&e->mu);
    *out = e->stats;
    out->uptime_s = fd__now() - e->t_start;
    pthread_mutex_unlock(&e->mu);
}

void fd__engine_free_seq(fd__seq *s) { seq_free(s); }

void fd_engine_describe(const fd_engine *e, char *buf, size_t n) {
    int blocks = fd__kv_blocks_total(e->kb);
    size_t bb = e->gpu ? fd__gpu_kv_block_bytes(e->m, e->p.block_size) : fd__cpu_kv_block_bytes(e->m, e->p.block_size);
    char backend[256];
    if (e->gpu) {
        const fd_device_info *d = fd_platform_device(e->platform, e->p.device);
        snprintf(backend, sizeof backend, "CUDA device %d (%s, SM%d, kernels as SM%d via %s)", e->p.device, d->name,
                 d->sm, d->effective_sm, fd_image_kind_name(d->image));
    } else {
        snprintf(backend, sizeof backend, "CPU");
    }
    snprintf(buf, n, "backend %s, KV cache %d blocks x %d tokens (%.1f MiB, %s)", backend, blocks, e->p.block_size,
             (double)blocks * bb / 1048576.0, e->gpu ? "f16" : "f32");
}
