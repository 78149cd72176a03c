// SPDX-License-Identifier: Apache-2.0
// One engine step (continuous batching): take in new requests and aborts;
// schedule the running sequences' next tokens, then prompt chunks of waiting
// ones, within the token budget (chunked prefill); make room in the KV pool by
// preempting the newest sequence (recomputed later); run the model once over
// the ragged batch; sample for every sequence that caught up; report.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "engine/engine_internal.h"

// ---- queues

static void remove_at(fd__seq **arr, int *n, int i) {
    memmove(arr + i, arr + i + 1, (size_t)(*n - i - 1) * sizeof *arr);
    (*n)--;
}

static void release_blocks(fd_engine *e, fd__seq *s) {
    for (int i = 0; i < s->n_blocks; i++) fd__kv_blocks_release(e->kb, s->blocks[i]);
    s->n_blocks = s->n_hashed = 0;
    s->n_computed = 0;
    s->last_hash = 0;
}

static void record_latency(uint64_t *buckets, double *sum, uint64_t *count, double v) {
    int i = 0;
    while (i < 15 && v > fd_engine_latency_buckets[i]) i++;
    buckets[i]++;
    *sum += v;
    (*count)++;
}

void fd__engine_finish(fd_engine *e, fd__seq *s, const char *reason, const char *error) {
    for (int i = 0; i < e->n_running; i++)
        if (e->running[i] == s) remove_at(e->running, &e->n_running, i);
    for (int i = 0; i < e->n_waiting; i++)
        if (e->waiting[i] == s) remove_at(e->waiting, &e->n_waiting, i);
    release_blocks(e, s);
    // Stats first: whoever waits on the callback may read them right after.
    pthread_mutex_lock(&e->mu);
    e->stats.requests_finished++;
    e->stats.prompt_tokens += (uint64_t)s->n_prompt;
    e->stats.running = e->n_running;
    e->stats.waiting = e->n_waiting + e->n_inbox;
    e->stats.kv_blocks_used = fd__kv_blocks_used(e->kb);
    pthread_mutex_unlock(&e->mu);
    fd_request_event ev = {0};
    ev.kind = FD_EVENT_FINISHED;
    ev.request_id = s->id;
    ev.token = -1;
    ev.finish_reason = reason;
    ev.error = error;
    ev.prompt_tokens = s->n_prompt;
    ev.completion_tokens = s->n_generated;
    ev.cached_tokens = s->n_cached;
    if (strcmp(reason, "abort") != 0) fd__text_stream_finish(&s->ts, &ev.text, &ev.text_len);
    if (s->fn) s->fn(&ev, s->user);
    fd__engine_free_seq(s);
}

// New requests and aborts from other threads.
static void take_inbox(fd_engine *e) {
    pthread_mutex_lock(&e->mu);
    fd__seq **in = e->inbox;
    int n_in = e->n_inbox;
    uint64_t aborts[256];
    int n_ab = e->n_aborts < 256 ? e->n_aborts : 256;
    if (n_ab) {
        memcpy(aborts, e->aborts, (size_t)n_ab * sizeof *aborts);
        memmove(e->aborts, e->aborts + n_ab, (size_t)(e->n_aborts - n_ab) * sizeof *aborts);
        e->n_aborts -= n_ab;
    }
    int room = e->p.max_num_seqs * 4 + 16 - e->n_waiting, take = n_in < room ? n_in : room;
    for (int i = 0; i < take; i++) e->waiting[e->n_waiting++] = in[i];
    if (take) memmove(in, in + take, (size_t)(n_in - take) * sizeof *in);
    e->n_inbox -= take;
    pthread_mutex_unlock(&e->mu);
    for (int a = 0; a < n_ab; a++) {
        fd__seq *hit = NULL;
        for (int i = 0; !hit && i < e->n_running; i++) if (e->running[i]->id == aborts[a]) hit = e->running[i];
        for (int i = 0; !hit && i < e->n_waiting; i++) if (e->waiting[i]->id == aborts[a]) hit = e->waiting[i];
        if (hit) fd__engine_finish(e, hit, "abort", NULL);
    }
}

// ---- KV blocks

// Takes prefix-cache hits for a fresh sequence's full prompt blocks (keeping
// at least one token to compute, whose logits are needed).
static void prefix_match(fd_engine *e, fd__seq *s) {
    int bs = e->p.block_size, full = (s->n_tokens - 1) / bs;
    for (int b = 0; b < full; b++) {
        uint64_t h = fd__kv_block_hash(s->last_hash, s->tokens + b * bs, bs);
        int blk = fd__kv_blocks_lookup(e->kb, h);
        pthread_mutex_lock(&e->mu);
        e->stats.prefix_queries++;
        e->stats.prefix_hits += blk >= 0;
        pthread_mutex_unlock(&e->mu);
        if (blk < 0) break;
        s->blocks[s->n_blocks++] = blk;
        s->last_hash = h;
        s->n_hashed++;
        s->n_computed += bs;
    }
    s->n_cached = s->n_computed;
}

// Enough blocks for s to hold `upto` tokens; 0 if the pool is short.
static int grow_blocks(fd_engine *e, fd__seq *s, int upto) {
    int need = (upto + e->p.block_size - 1) / e->p.block_size;
    while (s->n_blocks < need) {
        int b = fd__kv_blocks_alloc(e->kb);
        if (b < 0) return 0;
        s->blocks[s->n_blocks++] = b;
    }
    return 1;
}

// Frees the newest running sequence's blocks and puts it back at the head of
// the waiting queue: it is recomputed later (its tokens so far become its prompt).
static void preempt_newest(fd_engine *e) {
    fd__seq *s = e->running[e->n_running - 1];
    e->n_running--;
    release_blocks(e, s);
    memmove(e->waiting + 1, e->waiting, (size_t)e->n_waiting * sizeof *e->waiting);
    e->waiting[0] = s;
    e->n_waiting++;
    pthread_mutex_lock(&e->mu);
    e->stats.preemptions++;
    pthread_mutex_unlock(&e->mu);
}

// Registers the sequence's blocks that just became full in the prefix cache.
static void register_full_blocks(fd_engine *e, fd__seq *s) {
    int bs = e->p.block_size;
    while ((s->n_hashed + 1) * bs <= s->n_computed) {
        uint64_t h = fd__kv_block_hash(s->last_hash, s->tokens + s->n_hashed * bs, bs);
        fd__kv_blocks_register(e->kb, s->blocks[s->n_hashed], h);
        s->last_hash = h;
        s->n_hashed++;
    }
}

// ---- scheduling

typedef struct plan { int n_seqs, n_tokens, budget; } plan;

static void add_to_batch(fd_engine *e, plan *pl, fd__seq *s, int chunk) {
    int i = pl->n_seqs++;
    e->b_seqs[i] = s;
    e->b_npast[i] = s->n_computed;
    e->b_nnew[i] = chunk;
    e->b_blocks[i] = s->blocks;
    e->b_want[i] = s->n_computed + chunk == s->n_tokens;
    memcpy(e->b_tokens + pl->n_tokens, s->tokens + s->n_computed, (size_t)chunk * sizeof(int32_t));
    pl->n_tokens += chunk;
    pl->budget -= chunk;
}

// Running sequences first, oldest first: a decode token each, or the next
// prefill chunk. Preempts the newest when the pool runs dry.
static void schedule_running(fd_engine *e, plan *pl) {
    for (int i = 0; i < e->n_running && pl->budget > 0; i++) {
        fd__seq *s = e->running[i];
        int chunk = s->n_tokens - s->n_computed;
        if (chunk > pl->budget) chunk = pl->budget;
        while (!grow_blocks(e, s, s->n_computed + chunk)) {
            if (e->n_running - 1 <= i) break;  // s is the newest itself
            preempt_newest(e);
        }
        if (!grow_blocks(e, s, s->n_computed + chunk)) {  // s alone does not fit: retry later
            preempt_newest(e);
            return;
        }
        add_to_batch(e, pl, s, chunk);
    }
}

// A fresh sequence whose first block another sequence computes in this very
// step waits one step: then it finds those blocks in the prefix cache (n > 1,
// or many clients sending the same system prompt, share them).
static int same_prefix_in_flight(const fd_engine *e, const plan *pl, const fd__seq *s) {
    if (!e->p.enable_prefix_caching || !s->first_hash || s->n_blocks) return 0;
    for (int i = 0; i < pl->n_seqs; i++)
        if (e->b_seqs[i]->first_hash == s->first_hash && e->b_npast[i] < e->p.block_size) return 1;
    return 0;
}

static void schedule_waiting(fd_engine *e, plan *pl) {
    while (e->n_waiting && e->n_running < e->p.max_num_seqs && pl->budget > 0) {
        fd__seq *s = e->waiting[0];
        if (same_prefix_in_flight(e, pl, s)) return;
        if (s->n_blocks == 0) prefix_match(e, s);
        int chunk = s->n_tokens - s->n_computed;
        if (chunk > pl->budget) chunk = pl->budget;
        if (!grow_blocks(e, s, s->n_computed + chunk)) {
            release_blocks(e, s);  // not now: keep its place at the head
            return;
        }
        remove_at(e->waiting, &e->n_waiting, 0);
        e->running[e->n_running++] = s;
        add_to_batch(e, pl, s, chunk);
    }
}

// ---- after the forward pass

static void logprobs_of(fd_engine *e, const float *lg, fd__seq *s, int32_t tok, fd_request_event *ev,
                        fd_token_logprob *top) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < e->n_vocab; i++) if (lg[i] > mx) mx = lg[i];
    for (int i = 0; i < e->n_vocab; i++) sum += exp(lg[i] - mx);
    double lse = mx + log(sum);
    ev->logprob = (float)(lg[tok] - lse);
    int k = s->p.top_logprobs;
    for (int n = 0; n < k; n++) {  // k <= 20: selection by repeated scans
        int best = -1;
        for (int i = 0; i < e->n_vocab; i++) {
            int taken = 0;
            for (int j = 0; j < n && !taken; j++) taken = top[j].id == i;
            if (!taken && (best < 0 || lg[i] > lg[best])) best = i;
        }
        top[n].id = best;
        top[n].logprob = (float)(lg[best] - lse);
    }
    ev->top = top;
    ev->n_top = k;
}

static int is_stop_token(const fd_engine *e, const fd__seq *s, int32_t t) {
    if (!s->p.ignore_eos && fd_tokenizer_is_eog(e->tok, t)) return 1;
    for (int i = 0; i < s->p.n_stop_token_ids; i++) if (s->stop_ids[i] == t) return 1;
    return 0;
}

// Takes s's next token (`sampled` when the GPU drew it, else drawn here from
// its logits); returns 1 if s finished.
static int sample_and_emit(fd_engine *e, fd__seq *s, float *lg, int32_t sampled) {
    fd_request_event ev = {0};
    fd_token_logprob top[20];
    ev.kind = FD_EVENT_TOKEN;
    ev.request_id = s->id;
    // Penalties rewrite the logits; logprobs need the originals: copy only then.
    const fd_sampling_params *sp = &s->p.sampling;
    float *work = lg;
    if (sampled < 0 && (sp->repetition_penalty != 1 || sp->presence_penalty != 0 || sp->frequency_penalty != 0)) {
        memcpy(e->lp_scratch, lg, (size_t)e->n_vocab * sizeof *lg);
        work = e->lp_scratch;
    }
    int32_t t = sampled >= 0 ? sampled : fd_sampler_sample(s->smp, work);
    if (is_stop_token(e, s, t)) {
        fd__engine_finish(e, s, "stop", NULL);
        return 1;
    }
    if (s->p.logprobs || s->p.top_logprobs) logprobs_of(e, lg, s, t, &ev, top);
    fd_sampler_accept(s->smp, t);
    s->tokens[s->n_tokens++] = t;
    s->n_generated++;
    ev.token = t;
    if (fd__text_stream_push(&s->ts, e->tok, t, &ev.text, &ev.text_len) != FD_OK) {
        fd__engine_finish(e, s, "error", fd_last_error());
        return 1;
    }
    double now = fd__now();
    pthread_mutex_lock(&e->mu);
    e->stats.generated_tokens++;
    if (s->n_generated == 1)
        record_latency(e->stats.ttft_buckets, &e->stats.ttft_sum, &e->stats.ttft_count, now - s->t_arrival);
    else
        record_latency(e->stats.itl_buckets, &e->stats.itl_sum, &e->stats.itl_count, now - s->t_last);
    pthread_mutex_unlock(&e->mu);
    s->t_last = now;
    if (s->fn) s->fn(&ev, s->user);
    if (s->ts.stopped) fd__engine_finish(e, s, "stop", NULL);
    else if (s->n_generated >= s->p.max_tokens || s->n_tokens >= e->p.max_model_len)
        fd__engine_finish(e, s, "length", NULL);
    else return 0;
    return 1;
}

// The GPU draws the tokens itself (operator suite: token_penalty_multi_scores,
// softmax, rejection_top_p_sampling) when no sequence sampling this step needs
// min-p or logprobs, which need the logits on the host. Fills e->b_sample; 1 if so.
static int gpu_sampling_rows(fd_engine *e, const plan *pl) {
    if (!e->gpu) return 0;
    int n = 0;
    for (int i = 0; i < pl->n_seqs; i++) {
        if (!e->b_want[i]) continue;
        const fd__seq *s = e->b_seqs[i];
        const fd_sampling_params *sp = &s->p.sampling;
        if (s->p.logprobs || s->p.top_logprobs || sp->min_p > 0) return 0;
        fd__gpu_sample_row *r = &e->b_sample[n++];
        r->repetition = sp->repetition_penalty;
        r->frequency = sp->frequency_penalty;
        r->presence = sp->presence_penalty;
        r->history = s->tokens;
        r->n_prompt = s->n_prompt;
        r->n_tokens = s->n_tokens;
        int greedy = sp->temperature <= 0 || sp->top_k == 1;
        r->temperature = greedy ? 1.0f : sp->temperature;
        r->top_p = greedy ? 1.0f : sp->top_p;
        r->top_k = greedy ? 1 : sp->top_k;
        r->seed = (int64_t)(sp->seed * 0x9e3779b97f4a7c15ull + (uint64_t)s->n_generated);  // per request and step
    }
    return 1;
}

static void update_stats(fd_engine *e) {
    pthread_mutex_lock(&e->mu);
    e->stats.running = e->n_running;
    e->stats.waiting = e->n_waiting + e->n_inbox;
    e->stats.kv_blocks_used = fd__kv_blocks_used(e->kb);
    pthread_mutex_unlock(&e->mu);
}

int fd__engine_step(fd_engine *e) {
    take_inbox(e);
    plan pl = {0, 0, e->p.max_num_batched_tokens};
    schedule_running(e, &pl);
    schedule_waiting(e, &pl);
    update_stats(e);
    if (pl.n_seqs == 0) return 0;
    fd__cpu_batch b = {pl.n_seqs, e->b_tokens, e->b_npast, e->b_nnew, e->b_blocks, e->b_want};
    int on_device = gpu_sampling_rows(e, &pl);
    fd_status rc = on_device ? fd__gpu_forward_sample(e->gpu, &b, e->b_sample, e->b_sampled)
                 : e->gpu    ? fd__gpu_forward(e->gpu, &b, e->logits)
                             : fd__cpu_forward(e->m, &e->kv, e->scratch, &b, e->logits);
    if (rc != FD_OK) {
        const char *msg = fd_last_error();
        for (int i = 0; i < pl.n_seqs; i++) fd__engine_finish(e, e->b_seqs[i], "error", msg);
        return 1;
    }
    for (int i = 0, row = 0; i < pl.n_seqs; i++) {
        fd__seq *s = e->b_seqs[i];
        s->n_computed += e->b_nnew[i];
        register_full_blocks(e, s);
        if (!e->b_want[i]) continue;
        sample_and_emit(e, s, e->logits + (size_t)row * e->n_vocab, on_device ? e->b_sampled[row] : -1);
        row++;
    }
    update_stats(e);
    return 1;
}
