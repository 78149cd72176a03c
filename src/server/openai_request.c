// SPDX-License-Identifier: Apache-2.0
// Parsing and checking OpenAI request bodies: every field's type and range, with
// an error that names the field. Tokenization and context limits are the
// handler's business (they need the model).
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/openai.h"

void fd_oai_error_set(fd_oai_error *err, int status, const char *param, const char *code,
                      const char *fmt, ...) {
    va_list ap;
    err->status = status;
    err->type = status == 401 ? "authentication_error"
              : status >= 500 ? "server_error" : "invalid_request_error";
    err->code = code;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

char *fd_oai_error_json(const fd_oai_error *err) {
    json_t *e = json_object();
    json_object_set_new(e, "message", fd_oai_text(err->message, strlen(err->message)));
    json_object_set_new(e, "type", json_string(err->type ? err->type : "invalid_request_error"));
    json_object_set_new(e, "param", err->param[0] ? json_string(err->param) : json_null());
    json_object_set_new(e, "code", err->code ? json_string(err->code) : json_null());
    json_t *root = json_object();
    json_object_set_new(root, "error", e);
    return fd_oai_dump(root, 0);
}

void fd_oai_request_free(fd_oai_request *r) {
    free(r->model);
    free(r->prompt);
    free(r->prompt_ids);
    for (int i = 0; i < r->n_msgs; i++) {
        free((char *)r->msgs[i].role);
        free((char *)r->msgs[i].content);
    }
    free(r->msgs);
    for (int i = 0; i < r->n_stops; i++) free(r->stops[i]);
    memset(r, 0, sizeof *r);
}

// ---- typed field readers: 1 = set, 0 = absent or null, -1 = wrong type (err set)

static int get_number(json_t *o, const char *key, double lo, double hi, double *out,
                      fd_oai_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) {
        fd_oai_error_set(err, 400, key, NULL, "'%s' must be a number", key);
        return -1;
    }
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi) {
        fd_oai_error_set(err, 400, key, NULL, "'%s' is %g; it must be in [%g, %g]", key, x, lo, hi);
        return -1;
    }
    *out = x;
    return 1;
}

static int get_int(json_t *o, const char *key, long long lo, long long hi, long long *out,
                   fd_oai_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) {
        fd_oai_error_set(err, 400, key, NULL, "'%s' must be an integer", key);
        return -1;
    }
    long long x = json_integer_value(v);
    if (x < lo || x > hi) {
        fd_oai_error_set(err, 400, key, NULL, "'%s' is %lld; it must be in [%lld, %lld]", key, x,
                         lo, hi);
        return -1;
    }
    *out = x;
    return 1;
}

static int get_bool(json_t *o, const char *key, int *out, fd_oai_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) {
        fd_oai_error_set(err, 400, key, NULL, "'%s' must be a boolean", key);
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

static char *dup_string(json_t *v) {
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

// ---- the fields

static int parse_sampling(json_t *o, fd_oai_request *r, fd_oai_error *err) {
    fd_sampling_params *sp = &r->sampling;
    double x;
    long long k;
    int rc;
    if ((rc = get_number(o, "temperature", 0, 2, &x, err)) < 0) return -1;
    if (rc) sp->temperature = (float)x;
    if ((rc = get_number(o, "top_p", 0, 1, &x, err)) < 0) return -1;
    if (rc) sp->top_p = (float)x;
    if (rc && x <= 0) {
        fd_oai_error_set(err, 400, "top_p", NULL, "'top_p' must be in (0, 1]");
        return -1;
    }
    if ((rc = get_int(o, "top_k", -1, 1 << 20, &k, err)) < 0) return -1;
    if (rc) sp->top_k = (int)k;
    if ((rc = get_number(o, "min_p", 0, 1, &x, err)) < 0) return -1;
    if (rc) sp->min_p = (float)x;
    if ((rc = get_number(o, "presence_penalty", -2, 2, &x, err)) < 0) return -1;
    if (rc) sp->presence_penalty = (float)x;
    if ((rc = get_number(o, "frequency_penalty", -2, 2, &x, err)) < 0) return -1;
    if (rc) sp->frequency_penalty = (float)x;
    if ((rc = get_number(o, "repetition_penalty", 0.01, 10, &x, err)) < 0) return -1;
    if (rc) sp->repetition_penalty = (float)x;
    if ((rc = get_int(o, "seed", INT64_MIN, INT64_MAX, &k, err)) < 0) return -1;
    if (rc) {
        sp->seed = (uint64_t)k;
        r->has_seed = 1;
    }
    return 0;
}

static int parse_stop(json_t *o, fd_oai_request *r, fd_oai_error *err) {
    json_t *v = json_object_get(o, "stop");
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) {
        if (json_string_length(v) == 0) return 0;
        r->stops[r->n_stops++] = dup_string(v);
        return 0;
    }
    if (!json_is_array(v)) {
        fd_oai_error_set(err, 400, "stop", NULL, "'stop' must be a string or an array of strings");
        return -1;
    }
    if (json_array_size(v) > FD_OAI_MAX_STOPS) {
        fd_oai_error_set(err, 400, "stop", NULL, "'stop' has %zu strings; at most %d are allowed",
                         json_array_size(v), FD_OAI_MAX_STOPS);
        return -1;
    }
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s)) {
            fd_oai_error_set(err, 400, "stop", NULL, "'stop[%zu]' must be a string", i);
            return -1;
        }
        if (json_string_length(s) > 0) r->stops[r->n_stops++] = dup_string(s);
    }
    return 0;
}

// Options shared by both endpoints: n, stream, max_tokens, stop, sampling, ...
static int parse_common(json_t *o, fd_oai_request *r, fd_oai_error *err) {
    long long k;
    int rc;
    json_t *m = json_object_get(o, "model");
    if (m && !json_is_null(m)) {
        if (!json_is_string(m)) {
            fd_oai_error_set(err, 400, "model", NULL, "'model' must be a string");
            return -1;
        }
        r->model = dup_string(m);
    }
    if (get_bool(o, "stream", &r->stream, err) < 0) return -1;
    json_t *so = json_object_get(o, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            fd_oai_error_set(err, 400, "stream_options", NULL, "'stream_options' must be an object");
            return -1;
        }
        if (get_bool(so, "include_usage", &r->include_usage, err) < 0) return -1;
    }
    if ((rc = get_int(o, "n", 1, FD_OAI_MAX_N, &k, err)) < 0) return -1;
    if (rc) r->n = (int)k;
    if ((rc = get_int(o, "max_tokens", 1, INT32_MAX, &k, err)) < 0) return -1;
    if (rc) r->max_tokens = (int)k;
    if (r->chat) {
        if ((rc = get_int(o, "max_completion_tokens", 1, INT32_MAX, &k, err)) < 0) return -1;
        if (rc) r->max_tokens = (int)k;
    }
    if (get_bool(o, "ignore_eos", &r->ignore_eos, err) < 0) return -1;
    if (parse_sampling(o, r, err) < 0) return -1;
    return parse_stop(o, r, err);
}

static int parse_logprobs(json_t *o, fd_oai_request *r, fd_oai_error *err) {
    long long k;
    int rc;
    if (r->chat) {
        if (get_bool(o, "logprobs", &r->logprobs, err) < 0) return -1;
        if ((rc = get_int(o, "top_logprobs", 0, FD_OAI_MAX_TOP_LOGPROBS, &k, err)) < 0) return -1;
        if (rc) {
            if (!r->logprobs && k > 0) {
                fd_oai_error_set(err, 400, "top_logprobs", NULL,
                                 "'top_logprobs' needs 'logprobs' set to true");
                return -1;
            }
            r->top_logprobs = (int)k;
        }
        return 0;
    }
    // completions: logprobs is the number of alternatives (0 = only the chosen token)
    if ((rc = get_int(o, "logprobs", 0, FD_OAI_MAX_TOP_LOGPROBS, &k, err)) < 0) return -1;
    if (rc) {
        r->logprobs = 1;
        r->top_logprobs = (int)k;
    }
    return 0;
}

static int parse_prompt(json_t *o, fd_oai_request *r, fd_oai_error *err) {
    json_t *p = json_object_get(o, "prompt");
    if (!p || json_is_null(p)) {
        fd_oai_error_set(err, 400, "prompt", NULL, "'prompt' is required");
        return -1;
    }
    if (json_is_array(p) && json_array_size(p) == 1 &&
        (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0))))
        p = json_array_get(p, 0);  // a batch of one
    if (json_is_string(p)) {
        r->prompt = dup_string(p);
        return 0;
    }
    if (!json_is_array(p) || json_array_size(p) == 0) {
        fd_oai_error_set(err, 400, "prompt", NULL,
                         "'prompt' must be a string or a non-empty array of token ids");
        return -1;
    }
    if (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0))) {
        fd_oai_error_set(err, 400, "prompt", NULL,
                         "batched prompts not supported: send one prompt per request");
        return -1;
    }
    size_t n = json_array_size(p), i;
    json_t *v;
    if (!(r->prompt_ids = malloc(n * sizeof *r->prompt_ids))) {
        fd_oai_error_set(err, 500, NULL, NULL, "out of memory for %zu prompt tokens", n);
        return -1;
    }
    json_array_foreach(p, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
            fd_oai_error_set(err, 400, "prompt", NULL,
                             "'prompt[%zu]' must be a token id (a non-negative integer)", i);
            return -1;
        }
        r->prompt_ids[i] = (int32_t)json_integer_value(v);
    }
    r->n_prompt_ids = (int)n;
    return 0;
}

// A message's content: a string, or an array of {"type": "text", "text": ...} parts.
static char *message_content(json_t *c, size_t idx, fd_oai_error *err) {
    if (json_is_string(c)) return dup_string(c);
    if (json_is_null(c)) return strdup("");
    if (!json_is_array(c)) {
        fd_oai_error_set(err, 400, "messages", NULL,
                         "'messages[%zu].content' must be a string or an array of text parts", idx);
        return NULL;
    }
    size_t cap = 1, i;
    json_t *part;
    json_array_foreach(c, i, part) {
        json_t *t = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(json_object_get(part, "type")) ||
            strcmp(json_string_value(json_object_get(part, "type")), "text") != 0 ||
            !json_is_string(t)) {
            fd_oai_error_set(err, 400, "messages", NULL,
                             "'messages[%zu].content[%zu]' must be {\"type\": \"text\", \"text\": "
                             "string} (only text is supported)", idx, i);
            return NULL;
        }
        cap += json_string_length(t);
    }
    char *s = malloc(cap);
    if (!s) return NULL;
    size_t at = 0;
    json_array_foreach(c, i, part) {
        json_t *t = json_object_get(part, "text");
        memcpy(s + at, json_string_value(t), json_string_length(t));
        at += json_string_length(t);
    }
    s[at] = '\0';
    return s;
}

static int parse_message(json_t *m, size_t i, fd_chat_message *out, fd_oai_error *err) {
    static const char *const roles[] = {"system", "user", "assistant", "developer"};
    json_t *role = json_object_get(m, "role");
    if (!json_is_object(m) || !json_is_string(role)) {
        fd_oai_error_set(err, 400, "messages", NULL,
                         "'messages[%zu]' must be an object with a string 'role'", i);
        return -1;
    }
    const char *rs = json_string_value(role);
    int known = 0;
    for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++) known |= !strcmp(rs, roles[k]);
    if (!known) {
        fd_oai_error_set(err, 400, "messages", NULL,
                         "'messages[%zu].role' is '%.40s'; expected system, user, assistant or "
                         "developer", i, rs);
        return -1;
    }
    json_t *c = json_object_get(m, "content");
    if (!c) {
        fd_oai_error_set(err, 400, "messages", NULL, "'messages[%zu].content' is required", i);
        return -1;
    }
    char *content = message_content(c, i, err);
    if (!content) return -1;
    out->role = strdup(!strcmp(rs, "developer") ? "system" : rs);
    out->content = content;
    return out->role ? 0 : -1;
}

static int parse_messages(json_t *o, fd_oai_request *r, fd_oai_error *err) {
    json_t *ms = json_object_get(o, "messages");
    if (!json_is_array(ms) || json_array_size(ms) == 0) {
        fd_oai_error_set(err, 400, "messages", NULL,
                         "'messages' is required: a non-empty array of {role, content}");
        return -1;
    }
    size_t n = json_array_size(ms), i;
    json_t *m;
    if (!(r->msgs = calloc(n, sizeof *r->msgs))) {
        fd_oai_error_set(err, 500, NULL, NULL, "out of memory for %zu messages", n);
        return -1;
    }
    json_array_foreach(ms, i, m) {
        if (parse_message(m, i, &r->msgs[i], err) < 0) return -1;
        r->n_msgs = (int)i + 1;
    }
    return 0;
}

int fd_oai_parse(const char *body, size_t len, int chat, fd_oai_request *r, fd_oai_error *err) {
    memset(r, 0, sizeof *r);
    r->chat = chat;
    r->n = 1;
    r->max_tokens = -1;
    fd_sampling_params_default(&r->sampling);
    r->sampling.temperature = 1.0f;
    r->sampling.top_k = 0;
    r->sampling.top_p = 1.0f;
    r->sampling.min_p = 0.0f;
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        fd_oai_error_set(err, 400, NULL, NULL, "malformed JSON body: %s (line %d, column %d)",
                         je.text, je.line, je.column);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(o)) {
        fd_oai_error_set(err, 400, NULL, NULL, "the body must be a JSON object");
    } else if (parse_common(o, r, err) == 0 && parse_logprobs(o, r, err) == 0 &&
               (chat ? parse_messages(o, r, err) : parse_prompt(o, r, err)) == 0) {
        rc = 0;
        if (fd_sampling_params_check(&r->sampling) != FD_OK) {
            fd_oai_error_set(err, 400, NULL, NULL, "%s", fd_last_error());
            rc = -1;
        }
    }
    json_decref(o);
    if (rc < 0) fd_oai_request_free(r);
    return rc;
}
