// SPDX-License-Identifier: Apache-2.0
// Sampling one token from logits on the CPU: penalties (repetition, presence,
// frequency), temperature, top-k, top-p, min-p; deterministic under a seed.
#ifndef FDEPLOY_SAMPLER_H
#define FDEPLOY_SAMPLER_H

#include <stdint.h>
#include "fdeploy/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fd_sampling_params {
    float temperature;         // 0 = greedy (argmax)
    int top_k;                 // <= 0: off
    float top_p;               // >= 1: off
    float min_p;               // <= 0: off (keep tokens with p >= min_p * p_max)
    float repetition_penalty;  // 1: off (divides positive logits, multiplies negative) of
                               // every token seen in the prompt or the output
    float presence_penalty;    // 0: off (subtracted once per token generated so far)
    float frequency_penalty;   // 0: off (subtracted per occurrence in the output)
    uint64_t seed;
} fd_sampling_params;

// temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, penalties off, seed 0.
void fd_sampling_params_default(fd_sampling_params *p);
// Checks ranges; the message names the parameter and the allowed range.
fd_status fd_sampling_params_check(const fd_sampling_params *p);

typedef struct fd_sampler fd_sampler;

fd_status fd_sampler_create(const fd_sampling_params *p, int n_vocab, fd_sampler **out);
void fd_sampler_free(fd_sampler *s);
// Records a generated token (all penalties count it).
void fd_sampler_accept(fd_sampler *s, int32_t token);
// Records a prompt token (only the repetition penalty counts it), as vLLM and
// FastDeploy's token_penalty_multi_scores do.
void fd_sampler_accept_prompt(fd_sampler *s, int32_t token);
// Picks a token; `logits` (n_vocab floats) is used as scratch and changed.
int32_t fd_sampler_sample(fd_sampler *s, float *logits);

#ifdef __cplusplus
}
#endif
#endif
