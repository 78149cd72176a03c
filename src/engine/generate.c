// SPDX-License-Identifier: Apache-2.0
// Single-sequence generation loop (fdeploy run): prompt, then sample until an
// end-of-generation token, a stop string or max_tokens, streaming the text.
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "engine/text_stream.h"
#include "fdeploy/generate.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

const char *fd_finish_reason_name(fd_finish_reason r) {
    static const char *n[] = {"length", "stop", "stop", "abort", "length"};
    return (unsigned)r < 5 ? n[r] : "?";
}

typedef struct gen_state {
    fd_session *s;
    const fd_tokenizer *tok;
    fd_sampler *smp;
    float *logits;
    fd__text_stream ts;
    fd_text_fn fn;
    void *user;
} gen_state;

// Emits text; returns 1 when the callback asks to stop.
static int emit(gen_state *g, const char *text, size_t len) {
    return len && g->fn && g->fn(text, len, g->user);
}

static fd_status gen_loop(gen_state *g, const fd_generate_params *gp, int32_t *out, int cap,
                          fd_generate_stats *st) {
    for (;;) {
        if (st->n_generated >= gp->max_tokens) { st->finish = FD_FINISH_LENGTH; break; }
        int32_t id = fd_sampler_sample(g->smp, g->logits);
        if (fd_tokenizer_is_eog(g->tok, id)) { st->finish = FD_FINISH_EOG; break; }
        if (out && st->n_generated < cap) out[st->n_generated] = id;
        st->n_generated++;
        fd_sampler_accept(g->smp, id);
        const char *text;
        size_t len;
        FD_TRY(fd__text_stream_push(&g->ts, g->tok, id, &text, &len));
        if (emit(g, text, len)) { st->finish = FD_FINISH_ABORT; break; }
        if (g->ts.stopped) { st->finish = FD_FINISH_STOP; break; }
        if (st->n_generated >= gp->max_tokens) { st->finish = FD_FINISH_LENGTH; break; }
        if (fd_session_eval(g->s, &id, 1, g->logits, 0) != FD_OK) { st->finish = FD_FINISH_CONTEXT; break; }
    }
    return FD_OK;
}

fd_status fd_generate(fd_session *s, const fd_tokenizer *tok, const int32_t *prompt, int n_prompt,
                      const fd_generate_params *gp, fd_text_fn on_text, void *user,
                      int32_t *tokens_out, int cap, fd_generate_stats *stats) {
    fd_generate_stats st = {n_prompt, 0, 0, 0, FD_FINISH_LENGTH};
    int n_vocab = fd_model_get_info(fd_session_model(s))->n_vocab;
    gen_state g = {s, tok, NULL, malloc((size_t)n_vocab * sizeof(float)), {0}, on_text, user};
    fd_status rc = g.logits ? fd__text_stream_init(&g.ts, gp->stops, gp->n_stops)
                            : fd__error(FD_ERR_OOM, "generate: out of memory");
    if (rc == FD_OK) rc = fd_sampler_create(&gp->sampling, n_vocab, &g.smp);
    for (int i = 0; rc == FD_OK && i < n_prompt; i++) fd_sampler_accept_prompt(g.smp, prompt[i]);
    double t0 = now_s();
    if (rc == FD_OK) rc = fd_session_eval(s, prompt, n_prompt, g.logits, 0);
    double t1 = now_s();
    if (rc == FD_OK) rc = gen_loop(&g, gp, tokens_out, cap, &st);
    if (rc == FD_OK && st.finish != FD_FINISH_ABORT) {
        const char *text;
        size_t len;
        fd__text_stream_finish(&g.ts, &text, &len);
        emit(&g, text, len);
    }
    st.prompt_s = t1 - t0;
    st.generate_s = now_s() - t1;
    if (stats) *stats = st;
    fd_sampler_free(g.smp);
    fd__text_stream_free(&g.ts);
    free(g.logits);
    return rc;
}
