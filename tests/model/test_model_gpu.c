// SPDX-License-Identifier: Apache-2.0
// The GPU forward pass against the CPU one on the default model: prompt
// processing then decode steps, and a mixed prefill + decode batch; top-1
// identical at every position, max |logit difference| stated (f16 activations).
#include <unistd.h>

#include "fd_test.h"
#include <pthread.h>

#include "fdeploy/engine.h"
#include "fdeploy/tokenizer.h"
#include "model/forward_gpu.h"

static fd_test_env env;
static fd_model *model;
static int32_t ids[256];
static int n_ids;
static float *cpu_logits;  // [n_ids][V]

static int top1(const float *l, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (l[i] > l[b]) b = i;
    return b;
}

static int setup_model(void) {
    const char *path = getenv("FDEPLOY_TEST_MODEL");
    if (!path) path = FD_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
    if (access(path, R_OK) != 0) {
        fd_test_skip("no model at %s (scripts/setup.sh installs it)", path);
        return 0;
    }
    if (!fd_test_gpu_for(&env, "append_attention")) return 0;
    if (model) return 1;
    fd_model_params mp = {0, 0};
    CHECK_OK(fd_model_load(path, &mp, &model));
    if (!model) return 0;
    const char *text = "<|im_start|>user\nWhat is the capital of France? Tell me about its history."
                       "<|im_end|>\n<|im_start|>assistant\nThe capital of France is Paris. It";
    fd_tokenizer_encode(fd_model_tokenizer(model), text, strlen(text), FD_TOKENIZE_PARSE_SPECIAL, ids, 256, &n_ids);
    int V = fd_model_get_info(model)->n_vocab;
    cpu_logits = malloc((size_t)n_ids * V * sizeof(float));
    fd_session *s;
    CHECK_OK(fd_session_create(model, 512, &s));
    CHECK_OK(fd_session_eval(s, ids, n_ids, cpu_logits, 1));
    fd_session_free(s);
    return 1;
}

// Compares GPU logits of position p with the CPU's; returns |max diff|.
static double compare(const float *g, int p, int *top1_ok) {
    int V = fd_model_get_info(model)->n_vocab;
    const float *c = cpu_logits + (size_t)p * V;
    double md = 0;
    for (int v = 0; v < V; v++) md = fmax(md, fabs((double)g[v] - c[v]));
    *top1_ok = top1(g, V) == top1(c, V);
    return md;
}

static void prefill_then_decode(void) {
    if (!setup_model()) return;
    int V = fd_model_get_info(model)->n_vocab, start = n_ids / 2;
    fd__gpu_runner *r;
    CHECK_OK(fd__gpu_runner_create(model, env.gpu, 16, 64, 256, 4, 1024, &r));
    if (!r) return;
    int32_t blocks[16] = {3, 7, 1, 9, 0, 2, 4, 5, 6, 8, 10, 11, 12, 13, 14, 15};  // non-contiguous
    const int32_t *bl = blocks;
    float *g = malloc((size_t)V * sizeof(float));
    int past = 0, want = 1, mism = 0;
    double worst = 0;
    fd__cpu_batch b = {1, ids, &past, &start, &bl, &want};
    CHECK_OK(fd__gpu_forward(r, &b, g));
    int ok;
    worst = fmax(worst, compare(g, start - 1, &ok));
    mism += !ok;
    for (int p = start; p < n_ids; p++) {
        int one = 1;
        past = p;
        fd__cpu_batch d = {1, ids + p, &past, &one, &bl, &want};
        CHECK_OK(fd__gpu_forward(r, &d, g));
        worst = fmax(worst, compare(g, p, &ok));
        mism += !ok;
    }
    printf("  GPU vs CPU over %d positions: top-1 mismatches %d, max |logit diff| %.4f (SM%d kernels)\n",
           n_ids - start + 1, mism, worst, fd_ctx_effective_sm(env.gpu));
    CHECK_EQ_I64(mism, 0);
    CHECK(worst < 0.75);
    free(g);
    fd__gpu_runner_free(r);
}

// Sequence A decodes while sequence B prefills, in one batch.
static void mixed_batch(void) {
    if (!setup_model()) return;
    int V = fd_model_get_info(model)->n_vocab, half = n_ids / 2;
    fd__gpu_runner *r;
    CHECK_OK(fd__gpu_runner_create(model, env.gpu, 16, 16, 256, 4, 256, &r));
    if (!r) return;
    int32_t ba[8] = {0, 1, 2, 3, 4, 5, 6, 7}, bb[8] = {15, 14, 13, 12, 11, 10, 9, 8};
    const int32_t *bls[2] = {ba, bb};
    float *g = malloc((size_t)2 * V * sizeof(float));
    int past1 = 0, n1 = half, want1 = 1;
    fd__cpu_batch b1 = {1, ids, &past1, &n1, bls, &want1};
    CHECK_OK(fd__gpu_forward(r, &b1, g));                 // A: prompt up to half
    int32_t toks[256];
    memcpy(toks, ids + half, sizeof(int32_t));            // A's next token
    memcpy(toks + 1, ids, (size_t)n_ids * sizeof(int32_t));  // B: the whole prompt
    int past[2] = {half, 0}, nn[2] = {1, n_ids}, want[2] = {1, 1}, ok;
    fd__cpu_batch b2 = {2, toks, past, nn, bls, want};
    CHECK_OK(fd__gpu_forward(r, &b2, g));
    double d1 = compare(g, half, &ok);
    CHECK(ok);
    double d2 = compare(g + V, n_ids - 1, &ok);
    CHECK(ok);
    printf("  mixed batch: max |diff| decode %.4f, prefill %.4f\n", d1, d2);
    CHECK(d1 < 0.75 && d2 < 0.75);
    free(g);
    fd__gpu_runner_free(r);
}

// Decode steps through CUDA graphs (the default) give bit-identical logits to the
// same kernels launched one by one (FDEPLOY_CUDA_GRAPH=0); two sequences decode
// together so a batch-size-2 graph is recorded, then replayed. Step times stated.
static double decode_run(int graphs, float *out, int steps) {
    int V = fd_model_get_info(model)->n_vocab, half = n_ids / 2;
    if (!graphs) setenv("FDEPLOY_CUDA_GRAPH", "0", 1);
    fd__gpu_runner *r = NULL;
    CHECK_OK(fd__gpu_runner_create(model, env.gpu, 16, 16, 256, 2, 256, &r));
    unsetenv("FDEPLOY_CUDA_GRAPH");
    if (!r) return 0;
    int32_t ba[8] = {0, 1, 2, 3, 4, 5, 6, 7}, bb[8] = {15, 14, 13, 12, 11, 10, 9, 8};
    const int32_t *bls[2] = {ba, bb};
    int zero[2] = {0, 0}, nn[2] = {half, half}, want[2] = {1, 1};
    int32_t toks[512];
    memcpy(toks, ids, (size_t)half * sizeof(int32_t));
    memcpy(toks + half, ids, (size_t)half * sizeof(int32_t));
    fd__cpu_batch pre = {2, toks, zero, nn, bls, want};
    CHECK_OK(fd__gpu_forward(r, &pre, out));
    double t0 = fd_test_now();
    for (int k = 0; k < steps; k++) {
        int past[2] = {half + k, half + k}, one[2] = {1, 1};
        int32_t t2[2] = {ids[half + k], ids[half + k]};
        fd__cpu_batch d = {2, t2, past, one, bls, want};
        CHECK_OK(fd__gpu_forward(r, &d, out + (size_t)k * 2 * V));
    }
    double ms = (fd_test_now() - t0) * 1e3 / steps;
    fd__gpu_runner_free(r);
    return ms;
}

static void decode_graph_matches_eager(void) {
    if (!setup_model()) return;
    int V = fd_model_get_info(model)->n_vocab, steps = n_ids - n_ids / 2;
    float *a = malloc((size_t)steps * 2 * V * sizeof(float)), *b = malloc((size_t)steps * 2 * V * sizeof(float));
    double ms_eager = decode_run(0, a, steps), ms_graph = decode_run(1, b, steps);
    size_t diff = 0;
    for (size_t i = 0; i < (size_t)steps * 2 * V; i++) diff += a[i] != b[i];
    printf("  %d decode steps (batch 2): %zu logits differ; %.3f ms/step eager, %.3f ms/step with graphs "
           "(%.2fx)\n", steps, diff, ms_eager, ms_graph, ms_eager / ms_graph);
    CHECK_EQ_I64((int64_t)diff, 0);
    free(a);
    free(b);
}

typedef struct req {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, n;
    int32_t toks[16];
} req;

static void on_event(const fd_request_event *ev, void *user) {
    req *r = user;
    pthread_mutex_lock(&r->mu);
    if (ev->kind == FD_EVENT_TOKEN && r->n < 16) r->toks[r->n++] = ev->token;
    if (ev->kind == FD_EVENT_FINISHED) {
        r->done = 1;
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
}

static void submit(fd_engine *e, int first, const fd_request_params *rp, req *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    CHECK_OK(fd_engine_submit(e, ids + first, n_ids - first, rp, on_event, r, NULL));
}

static void wait_req(req *r) {
    pthread_mutex_lock(&r->mu);
    while (!r->done) pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

// The engine on the GPU samples on the device (softmax + rejection_top_p_sampling):
// greedy, seeded and penalized requests give the same tokens alone and in a batch of 8.
static void engine_gpu_sampling_keeps_results(void) {
    if (!setup_model()) return;
    fd_engine_params ep;
    fd_engine_params_default(&ep);
    ep.device = 0;
    ep.max_model_len = 256;
    ep.kv_cache_bytes = 64u << 20;
    fd_engine *e = NULL;
    CHECK_OK(fd_engine_create(model, &ep, &e));
    if (!e) return;
    fd_request_params rp[3];
    for (int k = 0; k < 3; k++) {
        fd_request_params_default(&rp[k]);
        rp[k].max_tokens = 12;
        rp[k].ignore_eos = 1;
        rp[k].sampling.min_p = 0;
        rp[k].sampling.top_k = 0;
    }
    rp[0].sampling.temperature = 0;       // greedy
    rp[1].sampling.temperature = 0.9f;    // sampled, seeded
    rp[1].sampling.top_p = 0.9f;
    rp[1].sampling.seed = 1234;
    rp[2].sampling.temperature = 0.7f;    // sampled with every penalty (token_penalty_multi_scores)
    rp[2].sampling.repetition_penalty = 1.3f;
    rp[2].sampling.presence_penalty = 0.5f;
    rp[2].sampling.frequency_penalty = 0.3f;
    rp[2].sampling.seed = 99;
    static req solo[8], together[8];
    for (int i = 0; i < 8; i++) {
        submit(e, i, &rp[i % 3], &solo[i]);
        wait_req(&solo[i]);
    }
    for (int i = 0; i < 8; i++) submit(e, i, &rp[i % 3], &together[i]);
    for (int i = 0; i < 8; i++) {
        wait_req(&together[i]);
        CHECK_EQ_I64(together[i].n, 12);
        CHECK(memcmp(solo[i].toks, together[i].toks, sizeof solo[i].toks) == 0);
    }
    fd_engine_free(e);
}

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) {
    fd_model_free(model);
    free(cpu_logits);
    fd_test_env_close(&env);
}

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(prefill_then_decode), FD_CASE(mixed_batch), FD_CASE(decode_graph_matches_eager),
             FD_CASE(engine_gpu_sampling_keeps_results), FD_CASE(teardown))
