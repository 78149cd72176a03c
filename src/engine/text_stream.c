// SPDX-License-Identifier: Apache-2.0
// Streaming detokenization with UTF-8 completion and stop strings.
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "engine/text_stream.h"

fd_status fd__text_stream_init(fd__text_stream *t, const char *const *stops, int n_stops) {
    memset(t, 0, sizeof *t);
    if (n_stops <= 0) return FD_OK;
    t->stops = calloc((size_t)n_stops, sizeof *t->stops);
    if (!t->stops) return fd__error(FD_ERR_OOM, "text stream: out of memory");
    for (int i = 0; i < n_stops; i++) {
        if (!stops[i] || !stops[i][0]) continue;
        if (!(t->stops[t->n_stops] = strdup(stops[i]))) {
            fd__text_stream_free(t);
            return fd__error(FD_ERR_OOM, "text stream: out of memory");
        }
        t->n_stops++;
    }
    return FD_OK;
}

void fd__text_stream_free(fd__text_stream *t) {
    for (int i = 0; i < t->n_stops; i++) free(t->stops[i]);
    free(t->stops);
    free(t->buf);
    memset(t, 0, sizeof *t);
}

static char *find_bytes(char *hay, size_t n, const char *needle, size_t k) {
    for (size_t i = 0; k && i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return hay + i;
    return NULL;
}

// Length of the longest prefix of b[0..len) that ends on a UTF-8 boundary.
static size_t utf8_complete(const char *b, size_t len) {
    size_t i = len, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)b[i - 1] & 0xc0) == 0x80) i--, back++;
    if (i == 0) return len;
    unsigned char c = (unsigned char)b[i - 1];
    size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return back + 1 >= need ? len : i - 1;
}

// How much of the buffer can be released now; cuts at a stop string.
static size_t safe_prefix(fd__text_stream *t) {
    size_t safe = t->len;
    for (int i = 0; i < t->n_stops; i++) {
        const char *stop = t->stops[i];
        size_t sl = strlen(stop);
        char *hit = find_bytes(t->buf, t->len, stop, sl);
        if (hit) {
            t->stopped = 1;
            t->len = (size_t)(hit - t->buf);
            return t->len;
        }
        for (size_t k = sl - 1; k > 0; k--)  // a tail that may grow into the stop string
            if (k <= t->len && memcmp(t->buf + t->len - k, stop, k) == 0) {
                if (t->len - k < safe) safe = t->len - k;
                break;
            }
    }
    return utf8_complete(t->buf, safe);
}

// The released bytes are moved behind the held ones so the pointer stays valid.
static void release(fd__text_stream *t, size_t n, const char **out, size_t *out_len) {
    size_t held = t->len - n;
    char *tmp = t->buf + t->len;  // the buffer has room: cap >= 2 * len + 1
    memcpy(tmp, t->buf, n);
    memmove(t->buf, t->buf + n, held);
    memmove(t->buf + held, tmp, n);
    *out = t->buf + held;
    *out_len = n;
    t->len = held;
}

fd_status fd__text_stream_push(fd__text_stream *t, const fd_tokenizer *tok, int32_t id,
                               const char **out, size_t *out_len) {
    *out = "";
    *out_len = 0;
    if (t->stopped) return FD_OK;
    size_t n = 0;
    FD_TRY(fd_tokenizer_decode_token(tok, id, NULL, 0, &n));
    if (2 * (t->len + n) + 1 > t->cap) {
        size_t cap = 2 * (t->len + n) + 64;
        char *b = realloc(t->buf, cap);
        if (!b) return fd__error(FD_ERR_OOM, "text stream: out of memory");
        t->buf = b;
        t->cap = cap;
    }
    FD_TRY(fd_tokenizer_decode_token(tok, id, t->buf + t->len, t->cap - t->len, &n));
    t->len += n;
    release(t, safe_prefix(t), out, out_len);
    return FD_OK;
}

void fd__text_stream_finish(fd__text_stream *t, const char **out, size_t *out_len) {
    *out = "";
    *out_len = 0;
    if (t->stopped || !t->len) return;
    release(t, t->len, out, out_len);
}
