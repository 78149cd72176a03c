// SPDX-License-Identifier: Apache-2.0
// Generation for one sequence: prompt, then sample until an end-of-generation
// token, a stop string or max_tokens; text is streamed as complete UTF-8,
// holding back what could still become a stop string.
#ifndef FDEPLOY_GENERATE_H
#define FDEPLOY_GENERATE_H

#include <stddef.h>
#include <stdint.h>
#include "fdeploy/model.h"
#include "fdeploy/sampler.h"
#include "fdeploy/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

// Receives the next piece of text; return nonzero to stop generating.
typedef int (*fd_text_fn)(const char *text, size_t len, void *user);

typedef enum fd_finish_reason {
    FD_FINISH_LENGTH, FD_FINISH_EOG, FD_FINISH_STOP, FD_FINISH_ABORT, FD_FINISH_CONTEXT
} fd_finish_reason;

typedef struct fd_generate_params {
    int max_tokens;
    const char *const *stops;  // stop strings (not included in the output)
    int n_stops;
    fd_sampling_params sampling;
} fd_generate_params;

typedef struct fd_generate_stats {
    int n_prompt, n_generated;
    double prompt_s, generate_s;   // wall time of prompt processing and of generation
    fd_finish_reason finish;
} fd_generate_stats;

// Runs the prompt through `s` (appending to what it holds) and generates.
// `tokens_out` (may be NULL) receives up to `cap` generated ids.
fd_status fd_generate(fd_session *s, const fd_tokenizer *tok, const int32_t *prompt, int n_prompt,
                      const fd_generate_params *gp, fd_text_fn on_text, void *user,
                      int32_t *tokens_out, int cap, fd_generate_stats *stats);

const char *fd_finish_reason_name(fd_finish_reason r);

#ifdef __cplusplus
}
#endif
#endif
