// SPDX-License-Identifier: Apache-2.0
// CPU sampler: penalties over the seen-token counts, then temperature and the
// top-k / top-p / min-p filters over the candidates sorted by logit, then one
// draw from a seeded xoshiro256** stream.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "fdeploy/sampler.h"

struct fd_sampler {
    fd_sampling_params p;
    int n_vocab;
    int32_t *counts;      // occurrences per token in the output
    uint8_t *in_prompt;   // 1 for tokens of the prompt
    struct cand { float v; int32_t id; } *c;  // candidates, scratch
    uint64_t rng[4];
};

void fd_sampling_params_default(fd_sampling_params *p) {
    fd_sampling_params d = {0.8f, 40, 0.95f, 0.05f, 1.0f, 0.0f, 0.0f, 0};
    *p = d;
}

fd_status fd_sampling_params_check(const fd_sampling_params *p) {
    if (!(p->temperature >= 0 && p->temperature <= 100))
        return fd__error(FD_ERR_INVALID_ARG, "temperature %g is outside [0, 100]", p->temperature);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return fd__error(FD_ERR_INVALID_ARG, "top_p %g is outside (0, 1]", p->top_p);
    if (!(p->min_p >= 0 && p->min_p <= 1))
        return fd__error(FD_ERR_INVALID_ARG, "min_p %g is outside [0, 1]", p->min_p);
    if (!(p->repetition_penalty > 0 && p->repetition_penalty <= 10))
        return fd__error(FD_ERR_INVALID_ARG, "repetition_penalty %g is outside (0, 10]", p->repetition_penalty);
    if (!(fabsf(p->presence_penalty) <= 2) || !(fabsf(p->frequency_penalty) <= 2))
        return fd__error(FD_ERR_INVALID_ARG, "presence/frequency penalties must be in [-2, 2]");
    if (p->top_k < 0) return fd__error(FD_ERR_INVALID_ARG, "top_k %d is negative; use 0 for off", p->top_k);
    return FD_OK;
}

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static double next_uniform(uint64_t *s) {  // xoshiro256**, [0, 1)
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return (double)(r >> 11) / 9007199254740992.0;
}

fd_status fd_sampler_create(const fd_sampling_params *p, int n_vocab, fd_sampler **out) {
    FD_TRY(fd_sampling_params_check(p));
    if (n_vocab <= 0) return fd__error(FD_ERR_INVALID_ARG, "sampler: n_vocab %d", n_vocab);
    fd_sampler *s = calloc(1, sizeof *s);
    if (s) {
        s->counts = calloc((size_t)n_vocab, sizeof *s->counts);
        s->in_prompt = calloc((size_t)n_vocab, 1);
        s->c = malloc((size_t)n_vocab * sizeof *s->c);
    }
    if (!s || !s->counts || !s->in_prompt || !s->c) {
        fd_sampler_free(s);
        return fd__error(FD_ERR_OOM, "sampler: out of memory");
    }
    s->p = *p;
    s->n_vocab = n_vocab;
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix(&x);
    *out = s;
    return FD_OK;
}

void fd_sampler_free(fd_sampler *s) {
    if (!s) return;
    free(s->counts);
    free(s->in_prompt);
    free(s->c);
    free(s);
}

void fd_sampler_accept(fd_sampler *s, int32_t t) {
    if (t >= 0 && t < s->n_vocab) s->counts[t]++;
}

void fd_sampler_accept_prompt(fd_sampler *s, int32_t t) {
    if (t >= 0 && t < s->n_vocab) s->in_prompt[t] = 1;
}

static void apply_penalties(const fd_sampler *s, float *lg) {
    const fd_sampling_params *p = &s->p;
    if (p->repetition_penalty == 1 && p->presence_penalty == 0 && p->frequency_penalty == 0) return;
    for (int i = 0; i < s->n_vocab; i++) {
        int c = s->counts[i];
        if (!c && !s->in_prompt[i]) continue;
        lg[i] = lg[i] > 0 ? lg[i] / p->repetition_penalty : lg[i] * p->repetition_penalty;
        if (c) lg[i] -= p->presence_penalty + p->frequency_penalty * (float)c;
    }
}

static int by_value_desc(const void *a, const void *b) {
    float x = ((const struct cand *)a)->v, y = ((const struct cand *)b)->v;
    return (x < y) - (x > y);
}

static int32_t argmax(const float *lg, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (lg[i] > lg[best]) best = i;
    return best;
}

// Candidates worth sorting: top_k if set, else those within ~30 nats of the max.
static int gather(fd_sampler *s, const float *lg, float mx) {
    int n = 0;
    float floor = mx - 30.0f * (s->p.temperature > 0 ? s->p.temperature : 1);
    for (int i = 0; i < s->n_vocab; i++)
        if (lg[i] >= floor) {
            s->c[n].v = lg[i];
            s->c[n++].id = i;
        }
    qsort(s->c, (size_t)n, sizeof *s->c, by_value_desc);
    if (s->p.top_k > 0 && n > s->p.top_k) n = s->p.top_k;
    return n;
}

int32_t fd_sampler_sample(fd_sampler *s, float *lg) {
    apply_penalties(s, lg);
    int32_t best = argmax(lg, s->n_vocab);
    if (s->p.temperature <= 0 || s->p.top_k == 1) return best;
    float mx = lg[best];
    int n = gather(s, lg, mx);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += s->c[i].v = expf((s->c[i].v - mx) / s->p.temperature);
    // top-p then min-p over the sorted candidates.
    double cum = 0, pmax = s->c[0].v / sum;
    int keep = n;
    for (int i = 0; i < n; i++) {
        double pi = s->c[i].v / sum;
        if (s->p.min_p > 0 && pi < s->p.min_p * pmax) { keep = i; break; }
        cum += pi;
        if (cum >= s->p.top_p) { keep = i + 1; break; }
    }
    if (keep < 1) keep = 1;
    double total = 0;
    for (int i = 0; i < keep; i++) total += s->c[i].v;
    double r = next_uniform(s->rng) * total;
    for (int i = 0; i < keep; i++) {
        r -= s->c[i].v;
        if (r < 0) return s->c[i].id;
    }
    return s->c[keep - 1].id;
}
