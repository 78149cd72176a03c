// SPDX-License-Identifier: Apache-2.0
// The engine on the default model (skipped without it): batching does not
// change greedy results, prefix cache hits, preemption under a small KV pool,
// aborts free their blocks, bad requests are refused at submit.
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "fd_test.h"
#include "fdeploy/engine.h"
#include "fdeploy/tokenizer.h"

#define MAX_OUT 64

typedef struct result {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int32_t toks[MAX_OUT];
    int n;
    char reason[16];
} result;

static void on_event(const fd_request_event *ev, void *user) {
    result *r = user;
    pthread_mutex_lock(&r->mu);
    if (ev->kind == FD_EVENT_TOKEN && r->n < MAX_OUT) r->toks[r->n++] = ev->token;
    if (ev->kind == FD_EVENT_FINISHED) {
        snprintf(r->reason, sizeof r->reason, "%s", ev->finish_reason);
        r->done = 1;
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
}

static void result_init(result *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
}

static void result_wait(result *r) {
    pthread_mutex_lock(&r->mu);
    while (!r->done) pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

static fd_model *model;

static int load(void) {
    if (model) return 1;
    const char *path = getenv("FDEPLOY_TEST_MODEL");
    if (!path) path = FD_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
    if (access(path, R_OK) != 0) {
        fd_test_skip("no model at %s (scripts/setup.sh installs it)", path);
        return 0;
    }
    fd_model_params mp = {2, 0};
    CHECK_OK(fd_model_load(path, &mp, &model));
    return model != NULL;
}

static int encode(const char *text, int32_t *ids, int cap) {
    int n = 0;
    fd_tokenizer_encode(fd_model_tokenizer(model), text, strlen(text), 0, ids, cap, &n);
    return n;
}

// An engine on the model: max_model_len, block size, KV pool bytes, prefix caching.
static fd_engine *start_engine(int max_len, int block, size_t kv_bytes, int prefix) {
    fd_engine_params ep;
    fd_engine_params_default(&ep);
    ep.max_model_len = max_len;
    ep.block_size = block;
    ep.kv_cache_bytes = kv_bytes;
    ep.enable_prefix_caching = prefix;
    fd_engine *e = NULL;
    CHECK_OK(fd_engine_create(model, &ep, &e));
    return e;
}

// Greedy, exactly max_tokens tokens (end tokens ignored).
static fd_request_params greedy(int max_tokens) {
    fd_request_params rp;
    fd_request_params_default(&rp);
    rp.sampling.temperature = 0;
    rp.max_tokens = max_tokens;
    rp.ignore_eos = 1;
    return rp;
}

static const char *prompts[] = {
    "The capital of France is", "Once upon a time", "1, 2, 3, 4,", "The quick brown fox",
    "Water boils at", "My favourite colour is", "In the beginning", "A B C D E",
};

// Greedy outputs of 8 prompts run together equal each prompt run alone.
static void batching_keeps_greedy_results(void) {
    if (!load()) return;
    fd_engine *e = start_engine(256, 64, 64u << 20, 1);
    if (!e) return;
    fd_request_params rp = greedy(6);
    static result solo[8], together[8];
    int32_t ids[64];
    for (int i = 0; i < 8; i++) {
        result_init(&solo[i]);
        int n = encode(prompts[i], ids, 64);
        CHECK_OK(fd_engine_submit(e, ids, n, &rp, on_event, &solo[i], NULL));
        result_wait(&solo[i]);
    }
    for (int i = 0; i < 8; i++) {
        result_init(&together[i]);
        int n = encode(prompts[i], ids, 64);
        CHECK_OK(fd_engine_submit(e, ids, n, &rp, on_event, &together[i], NULL));
    }
    for (int i = 0; i < 8; i++) {
        result_wait(&together[i]);
        CHECK_EQ_I64(together[i].n, 6);
        CHECK(memcmp(solo[i].toks, together[i].toks, sizeof solo[i].toks) == 0);
        CHECK(strcmp(together[i].reason, "length") == 0);
    }
    fd_engine_stats st;
    fd_engine_get_stats(e, &st);
    CHECK_EQ_I64(st.requests_finished, 16);
    CHECK_EQ_I64(st.kv_blocks_used, 0);
    fd_engine_free(e);
}

// A prompt longer than a block, sent twice: the second finds its blocks.
static void prefix_cache_hit(void) {
    if (!load()) return;
    fd_engine *e = start_engine(256, 16, 32u << 20, 1);
    if (!e) return;
    fd_request_params rp = greedy(4);
    int32_t ids[128];
    int n = encode("You are a helpful assistant. Answer briefly and precisely, in plain English, "
                   "without lists, tables or headings, and never mention that you are an AI model. "
                   "Question: what is the tallest mountain on Earth, and how tall is it?", ids, 128);
    CHECK(n > 32);
    result a, b;
    result_init(&a);
    result_init(&b);
    CHECK_OK(fd_engine_submit(e, ids, n, &rp, on_event, &a, NULL));
    result_wait(&a);
    CHECK_OK(fd_engine_submit(e, ids, n, &rp, on_event, &b, NULL));
    result_wait(&b);
    fd_engine_stats st;
    fd_engine_get_stats(e, &st);
    CHECK(st.prefix_hits >= (uint64_t)((n - 1) / 16));
    CHECK(memcmp(a.toks, b.toks, sizeof a.toks) == 0);
    // n > 1: four copies submitted together share the first one's blocks.
    static result c[4];
    uint64_t before = st.prefix_hits;
    int32_t ids2[128];
    memcpy(ids2, ids, sizeof ids2);
    ids2[0] = ids[1];  // a different first block: nothing cached yet
    for (int i = 0; i < 4; i++) {
        result_init(&c[i]);
        CHECK_OK(fd_engine_submit(e, ids2, n, &rp, on_event, &c[i], NULL));
    }
    for (int i = 0; i < 4; i++) result_wait(&c[i]);
    fd_engine_get_stats(e, &st);
    CHECK(st.prefix_hits - before >= 3 * (uint64_t)((n - 1) / 16));
    for (int i = 1; i < 4; i++) CHECK(memcmp(c[0].toks, c[i].toks, sizeof c[0].toks) == 0);
    fd_engine_free(e);
}

// A pool too small for all requests at once: preemption, all complete, same results.
static void preemption_completes_everything(void) {
    if (!load()) return;
    fd_engine *e = start_engine(64, 16, 6 * (2u * 30 * 16 * 192 * 4), 0);  // 6 blocks of the 135M model
    if (!e) return;
    fd_request_params rp = greedy(20);
    static result r[4];
    int32_t ids[64];
    for (int i = 0; i < 4; i++) {
        result_init(&r[i]);
        int n = encode(prompts[i], ids, 64);
        CHECK_OK(fd_engine_submit(e, ids, n, &rp, on_event, &r[i], NULL));
    }
    for (int i = 0; i < 4; i++) {
        result_wait(&r[i]);
        CHECK_EQ_I64(r[i].n, 20);
    }
    fd_engine_stats st;
    fd_engine_get_stats(e, &st);
    CHECK(st.preemptions > 0);
    CHECK_EQ_I64(st.kv_blocks_used, 0);
    fd_engine_free(e);
}

static void abort_and_bad_requests(void) {
    if (!load()) return;
    fd_engine *e = start_engine(128, 64, 32u << 20, 1);
    if (!e) return;
    fd_request_params rp = greedy(100);
    rp.sampling.temperature = 0.8f;
    int32_t ids[200] = {0};
    int n = encode(prompts[0], ids, 200);
    result r;
    result_init(&r);
    uint64_t id;
    CHECK_OK(fd_engine_submit(e, ids, n, &rp, on_event, &r, &id));
    fd_engine_abort(e, id);
    result_wait(&r);
    CHECK(strcmp(r.reason, "abort") == 0);
    CHECK_STATUS(fd_engine_submit(e, ids, 200, &rp, on_event, &r, NULL), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "maximum context length is 128");
    rp.max_tokens = 125;
    CHECK_STATUS(fd_engine_submit(e, ids, n, &rp, on_event, &r, NULL), FD_ERR_INVALID_ARG);
    rp.max_tokens = 4;
    ids[1] = 1 << 30;
    CHECK_STATUS(fd_engine_submit(e, ids, n, &rp, on_event, &r, NULL), FD_ERR_INVALID_ARG);
    nanosleep(&(struct timespec){0, 20000000}, NULL);
    fd_engine_stats st;
    fd_engine_get_stats(e, &st);
    CHECK_EQ_I64(st.kv_blocks_used, 0);
    fd_engine_free(e);
}

static void teardown(void) { fd_model_free(model); }

FD_TEST_MAIN(FD_CASE(batching_keeps_greedy_results), FD_CASE(prefix_cache_hit),
             FD_CASE(preemption_completes_everything), FD_CASE(abort_and_bad_requests),
             FD_CASE(teardown))
