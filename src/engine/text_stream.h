// SPDX-License-Identifier: Apache-2.0
// Detokenized output of one sequence: token bytes in, complete UTF-8 out,
// holding back any tail that could still become a stop string, and cutting
// the text at the first stop string.
#ifndef FD_ENGINE_TEXT_STREAM_H
#define FD_ENGINE_TEXT_STREAM_H

#include <stddef.h>
#include "fdeploy/tokenizer.h"

typedef struct fd__text_stream {
    char *buf;          // text not yet released
    size_t len, cap;
    char **stops;       // owned copies
    int n_stops;
    int stopped;        // a stop string matched: nothing more is released
} fd__text_stream;

// Copies the stop strings.
fd_status fd__text_stream_init(fd__text_stream *t, const char *const *stops, int n_stops);
void fd__text_stream_free(fd__text_stream *t);
// Appends token `id`'s bytes; *out/*out_len receive the text now safe to
// release (valid until the next call).
fd_status fd__text_stream_push(fd__text_stream *t, const fd_tokenizer *tok, int32_t id,
                               const char **out, size_t *out_len);
// Releases everything still held (end of generation, no stop string matched).
void fd__text_stream_finish(fd__text_stream *t, const char **out, size_t *out_len);

#endif
