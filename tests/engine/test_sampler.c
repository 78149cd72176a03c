// SPDX-License-Identifier: Apache-2.0
// The CPU sampler: penalty semantics (prompt tokens get the repetition penalty
// only, generated ones also presence/frequency, as token_penalty_multi_scores),
// greedy, top-k/top-p/min-p truncation, determinism under a seed, bad values.
#include "fd_test.h"
#include "fdeploy/sampler.h"

enum { V = 8 };

static fd_sampling_params greedy(void) {
    fd_sampling_params p;
    fd_sampling_params_default(&p);
    p.temperature = 0;
    return p;
}

static void penalties_follow_the_op(void) {
    fd_sampling_params p = greedy();
    p.repetition_penalty = 2.0f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    fd_sampler *s;
    CHECK_OK(fd_sampler_create(&p, V, &s));
    fd_sampler_accept_prompt(s, 1);
    fd_sampler_accept(s, 2);
    fd_sampler_accept(s, 2);
    // token 0 untouched (3.0); 1: prompt -> 4/2 = 2.0; 2: 4/2 - 0.5 - 2*0.25 = 1.0; 3: 3.5
    float lg[V] = {3.0f, 4.0f, 4.0f, 3.5f, -1, -1, -1, -1};
    CHECK_EQ_I64(fd_sampler_sample(s, lg), 3);
    CHECK_NEAR(lg[1], 2.0, 1e-6);
    CHECK_NEAR(lg[2], 1.0, 1e-6);
    CHECK_NEAR(lg[0], 3.0, 1e-6);
    float neg[V] = {-1.0f, -1.0f, -5, -5, -5, -5, -5, -5};  // negative logits are multiplied
    fd_sampler_accept_prompt(s, 0);
    fd_sampler_sample(s, neg);
    CHECK_NEAR(neg[0], -2.0, 1e-6);
    fd_sampler_free(s);
}

static void greedy_and_top_k1(void) {
    float lg[V] = {0, 1, 7, 3, 2, 6.9f, 0, 0};
    fd_sampling_params p = greedy();
    fd_sampler *s;
    CHECK_OK(fd_sampler_create(&p, V, &s));
    CHECK_EQ_I64(fd_sampler_sample(s, lg), 2);
    fd_sampler_free(s);
    fd_sampling_params_default(&p);
    p.top_k = 1;
    p.temperature = 5;
    CHECK_OK(fd_sampler_create(&p, V, &s));
    for (int i = 0; i < 20; i++) {
        float l2[V] = {0, 1, 7, 3, 2, 6.9f, 0, 0};
        CHECK_EQ_I64(fd_sampler_sample(s, l2), 2);
    }
    fd_sampler_free(s);
}

// top-p 0.5 over {0.6, 0.3, 0.1}: only the first; min-p 0.4: the first two.
static void truncation(void) {
    float base[V] = {logf(0.6f), logf(0.3f), logf(0.1f), -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    fd_sampling_params p;
    fd_sampling_params_default(&p);
    p.temperature = 1;
    p.top_k = 0;
    p.min_p = 0;
    p.top_p = 0.5f;
    fd_sampler *s;
    CHECK_OK(fd_sampler_create(&p, V, &s));
    for (int i = 0; i < 200; i++) {
        float l[V];
        memcpy(l, base, sizeof l);
        CHECK_EQ_I64(fd_sampler_sample(s, l), 0);
    }
    fd_sampler_free(s);
    p.top_p = 1;
    p.min_p = 0.4f;
    CHECK_OK(fd_sampler_create(&p, V, &s));
    int seen[3] = {0};
    for (int i = 0; i < 2000; i++) {
        float l[V];
        memcpy(l, base, sizeof l);
        int t = fd_sampler_sample(s, l);
        CHECK(t == 0 || t == 1);
        if (t >= 0 && t < 3) seen[t]++;
    }
    CHECK(seen[1] > 400 && seen[1] < 950);  // 1/3 of 2000 renormalized over {0.6, 0.3}
    fd_sampler_free(s);
}

static void same_seed_same_draws(void) {
    fd_sampling_params p;
    fd_sampling_params_default(&p);
    p.top_k = 0;
    p.min_p = 0;
    p.seed = 77;
    int a[50], b[50];
    for (int k = 0; k < 2; k++) {
        fd_sampler *s;
        CHECK_OK(fd_sampler_create(&p, V, &s));
        for (int i = 0; i < 50; i++) {
            float l[V] = {0, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f};
            (k ? b : a)[i] = fd_sampler_sample(s, l);
        }
        fd_sampler_free(s);
    }
    CHECK(memcmp(a, b, sizeof a) == 0);
}

static void bad_values(void) {
    fd_sampling_params p;
    fd_sampling_params_default(&p);
    p.top_p = 0;
    CHECK_STATUS(fd_sampling_params_check(&p), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "top_p");
    fd_sampling_params_default(&p);
    p.temperature = -1;
    fd_sampler *s = NULL;
    CHECK_STATUS(fd_sampler_create(&p, V, &s), FD_ERR_INVALID_ARG);
    fd_sampling_params_default(&p);
    p.repetition_penalty = 0;
    CHECK_STATUS(fd_sampling_params_check(&p), FD_ERR_INVALID_ARG);
}

FD_TEST_MAIN(FD_CASE(penalties_follow_the_op), FD_CASE(greedy_and_top_k1), FD_CASE(truncation),
             FD_CASE(same_seed_same_draws), FD_CASE(bad_values))
