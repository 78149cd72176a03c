// SPDX-License-Identifier: Apache-2.0
// Single-sequence generation loop with streaming text, UTF-8 completion and
// stop strings.
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "fdeploy/generate.h"

typedef struct text_state {
    char *buf;          // generated text not yet emitted
    size_t len, cap;
    const fd_generate_params *gp;
    fd_text_fn fn;
    void *user;
    int stopped;        // a stop string matched or the callback asked to stop
    int aborted;        // the callback asked to stop
} text_state;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

const char *fd_finish_reason_name(fd_finish_reason r) {
    static const char *n[] = {"length", "stop", "stop", "abort", "length"};
    return (unsigned)r < 5 ? n[r] : "?";
}

static char *find_bytes(char *hay, size_t n, const char *needle, size_t k) {
    for (size_t i = 0; k && i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return hay + i;
    return NULL;
}

// Length of the longest prefix of buf[0..len) that ends on a UTF-8 boundary.
static size_t utf8_complete(const char *b, size_t len) {
    size_t i = len, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)b[i - 1] & 0xc0) == 0x80) i--, back++;
    if (i == 0) return len;
    unsigned char c = (unsigned char)b[i - 1];
    size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return back + 1 >= need ? len : i - 1;
}

// Emits what can no longer be part of a stop string; at the end, everything.
static void flush_text(text_state *t, int final) {
    size_t safe = t->len;
    for (int i = 0; i < t->gp->n_stops && !t->stopped; i++) {
        const char *stop = t->gp->stops[i];
        size_t sl = strlen(stop);
        char *hit = find_bytes(t->buf, t->len, stop, sl);
        if (hit) {
            t->stopped = 1;
            safe = (size_t)(hit - t->buf);
            t->len = safe;
            break;
        }
        // Hold back a tail that is a prefix of the stop string.
        for (size_t k = sl - 1; k > 0 && !final; k--)
            if (k <= t->len && memcmp(t->buf + t->len - k, stop, k) == 0) {
                if (t->len - k < safe) safe = t->len - k;
                break;
            }
    }
    if (!final) safe = utf8_complete(t->buf, safe);
    if (safe && t->fn && t->fn(t->buf, safe, t->user)) t->stopped = t->aborted = 1;
    memmove(t->buf, t->buf + safe, t->len - safe);
    t->len -= safe;
}

static fd_status append_token(text_state *t, const fd_tokenizer *tok, int32_t id) {
    size_t n = 0;
    fd_tokenizer_decode_token(tok, id, NULL, 0, &n);
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *b = realloc(t->buf, cap);
        if (!b) return fd__error(FD_ERR_OOM, "generate: out of memory");
        t->buf = b;
        t->cap = cap;
    }
    FD_TRY(fd_tokenizer_decode_token(tok, id, t->buf + t->len, t->cap - t->len, &n));
    t->len += n;
    flush_text(t, 0);
    return FD_OK;
}

static fd_status gen_loop(fd_session *s, const fd_tokenizer *tok, fd_sampler *smp, float *logits,
                          text_state *ts, int32_t *out, int cap, fd_generate_stats *st) {
    for (;;) {
        if (st->n_generated >= ts->gp->max_tokens) { st->finish = FD_FINISH_LENGTH; break; }
        int32_t id = fd_sampler_sample(smp, logits);
        if (fd_tokenizer_is_eog(tok, id)) { st->finish = FD_FINISH_EOG; break; }
        if (out && st->n_generated < cap) out[st->n_generated] = id;
        st->n_generated++;
        fd_sampler_accept(smp, id);
        FD_TRY(append_token(ts, tok, id));
        if (ts->stopped) { st->finish = ts->aborted ? FD_FINISH_ABORT : FD_FINISH_STOP; break; }
        if (st->n_generated >= ts->gp->max_tokens) { st->finish = FD_FINISH_LENGTH; break; }
        if (fd_session_eval(s, &id, 1, logits, 0) != FD_OK) { st->finish = FD_FINISH_CONTEXT; break; }
    }
    return FD_OK;
}

fd_status fd_generate(fd_session *s, const fd_tokenizer *tok, const int32_t *prompt, int n_prompt,
                      const fd_generate_params *gp, fd_text_fn on_text, void *user,
                      int32_t *tokens_out, int cap, fd_generate_stats *stats) {
    fd_generate_stats st = {n_prompt, 0, 0, 0, FD_FINISH_LENGTH};
    int n_vocab = fd_model_get_info(fd_session_model(s))->n_vocab;
    fd_sampler *smp = NULL;
    float *logits = malloc((size_t)n_vocab * sizeof(float));
    text_state ts = {NULL, 0, 0, gp, on_text, user, 0, 0};
    fd_status rc = logits ? fd_sampler_create(&gp->sampling, n_vocab, &smp)
                          : fd__error(FD_ERR_OOM, "generate: out of memory");
    for (int i = 0; rc == FD_OK && i < n_prompt; i++) fd_sampler_accept(smp, prompt[i]);
    double t0 = now_s();
    if (rc == FD_OK) rc = fd_session_eval(s, prompt, n_prompt, logits, 0);
    double t1 = now_s();
    if (rc == FD_OK) rc = gen_loop(s, tok, smp, logits, &ts, tokens_out, cap, &st);
    if (rc == FD_OK && !ts.stopped) flush_text(&ts, 1);
    st.prompt_s = t1 - t0;
    st.generate_s = now_s() - t1;
    if (stats) *stats = st;
    fd_sampler_free(smp);
    free(logits);
    free(ts.buf);
    return rc;
}
