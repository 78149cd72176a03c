// SPDX-License-Identifier: Apache-2.0
// Chat templates of the common families, written out in C rather than run as Jinja:
// detection by marker substrings of the model's template, then each family's layout as
// its Hugging Face template renders it.
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "fdeploy/chat.h"

// ---- a growing string

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Jinja's `| trim` (ASCII whitespace).
static void sb_trimmed(sbuf *b, const char *s) {
    size_t n = strlen(s), i = 0;
    while (i < n && is_ws(s[i])) i++;
    while (n > i && is_ws(s[n - 1])) n--;
    sb_put(b, s + i, n - i);
}

// ---- detection

const char *fd_chat_kind_name(fd_chat_kind kind) {
    switch (kind) {
    case FD_CHAT_CHATML: return "chatml";
    case FD_CHAT_LLAMA3: return "llama3";
    case FD_CHAT_GEMMA: return "gemma";
    }
    return "unknown";
}

fd_status fd_chat_detect(const char *tmpl, fd_chat_kind *kind) {
    if (!kind) return fd__error(FD_ERR_INVALID_ARG, "fd_chat_detect: kind is NULL");
    if (!tmpl || !*tmpl)
        return fd__error(FD_ERR_NOT_FOUND, "chat template: the model has none (no tokenizer.chat_template); "
                         "send the prompt as raw text");
    if (strstr(tmpl, "<|im_start|>")) *kind = FD_CHAT_CHATML;
    else if (strstr(tmpl, "<|start_header_id|>")) *kind = FD_CHAT_LLAMA3;
    else if (strstr(tmpl, "<start_of_turn>")) *kind = FD_CHAT_GEMMA;
    else {
        char head[61];
        size_t i = 0;
        for (; tmpl[i] && i < 60; i++) head[i] = tmpl[i] == '\n' ? ' ' : tmpl[i];
        head[i] = '\0';
        return fd__error(FD_ERR_NOT_FOUND,
                         "chat template not recognized (it starts \"%s%s\"); known families: ChatML "
                         "(<|im_start|>), Llama 3 (<|start_header_id|>), Gemma (<start_of_turn>); "
                         "send the prompt as raw text", head, tmpl[i] ? "..." : "");
    }
    return FD_OK;
}

// The system prompt a ChatML template writes when the messages have none: the literal
// text of a `<|im_start|>system\n...<|im_end|>` with no Jinja inside (SmolLM2, Qwen2.5).
static int chatml_default_system(const char *tmpl, const char **s, size_t *n) {
    static const char mark[] = "<|im_start|>system";
    for (const char *p = strstr(tmpl, mark); p; p = strstr(p + 1, mark)) {
        const char *q = p + sizeof mark - 1;
        if (*q == '\n') q++;
        else if (q[0] == '\\' && q[1] == 'n') q += 2;
        else continue;
        const char *end = strstr(q, "<|im_end|>");
        if (!end || end == q) continue;
        size_t len = (size_t)(end - q);
        if (memchr(q, '\'', len) || memchr(q, '"', len) || memchr(q, '{', len) || memchr(q, '}', len))
            continue;
        *s = q;
        *n = len;
        return 1;
    }
    return 0;
}

// ---- the families

// Template text may spell a newline as "\n" inside a Jinja string literal.
static void sb_literal(sbuf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && s[i + 1] == 'n') {
            sb_put(b, "\n", 1);
            i++;
        } else {
            sb_put(b, s + i, 1);
        }
    }
}

static void render_chatml(sbuf *b, const char *tmpl, const fd_chat_message *m, int n, int gen) {
    const char *sys;
    size_t sys_n;
    if (n > 0 && strcmp(m[0].role, "system") != 0 && chatml_default_system(tmpl, &sys, &sys_n)) {
        sb_str(b, "<|im_start|>system\n");
        sb_literal(b, sys, sys_n);
        sb_str(b, "<|im_end|>\n");
    }
    for (int i = 0; i < n; i++) {
        sb_str(b, "<|im_start|>");
        sb_str(b, m[i].role);
        sb_str(b, "\n");
        sb_str(b, m[i].content);
        sb_str(b, "<|im_end|>\n");
    }
    if (gen) sb_str(b, "<|im_start|>assistant\n");
}

static void render_llama3(sbuf *b, const fd_chat_message *m, int n, int gen) {
    sb_str(b, "<|begin_of_text|>");
    for (int i = 0; i < n; i++) {
        sb_str(b, "<|start_header_id|>");
        sb_str(b, m[i].role);
        sb_str(b, "<|end_header_id|>\n\n");
        sb_trimmed(b, m[i].content);
        sb_str(b, "<|eot_id|>");
    }
    if (gen) sb_str(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

// Gemma has no system role: the system text opens the first user turn.
static void render_gemma(sbuf *b, const fd_chat_message *m, int n, int gen) {
    sb_str(b, "<bos>");
    const char *sys = NULL;
    int first = 0;
    if (n > 0 && strcmp(m[0].role, "system") == 0) sys = m[0].content, first = 1;
    for (int i = first; i < n; i++) {
        const char *role = strcmp(m[i].role, "assistant") == 0 ? "model" : m[i].role;
        sb_str(b, "<start_of_turn>");
        sb_str(b, role);
        sb_str(b, "\n");
        if (sys && i == first) {
            sb_str(b, sys);
            sb_str(b, "\n\n");
        }
        sb_trimmed(b, m[i].content);
        sb_str(b, "<end_of_turn>\n");
    }
    if (gen) sb_str(b, "<start_of_turn>model\n");
}

static fd_status check_messages(const fd_chat_message *msgs, int n, fd_chat_kind kind) {
    if (n < 0 || (n > 0 && !msgs))
        return fd__error(FD_ERR_INVALID_ARG, "fd_chat_apply: %d messages at %p", n, (const void *)msgs);
    for (int i = 0; i < n; i++) {
        if (!msgs[i].role || !msgs[i].content || !msgs[i].role[0])
            return fd__error(FD_ERR_INVALID_ARG, "fd_chat_apply: message %d has no %s", i,
                             msgs[i].role && msgs[i].role[0] ? "content" : "role");
        if (kind == FD_CHAT_GEMMA && i > 0 && strcmp(msgs[i].role, "system") == 0)
            return fd__error(FD_ERR_INVALID_ARG, "fd_chat_apply: Gemma takes a system message only first "
                             "(message %d is one)", i);
    }
    return FD_OK;
}

fd_status fd_chat_apply(const char *tmpl, const fd_chat_message *msgs, int n,
                        int add_generation_prompt, char **out) {
    if (!out) return fd__error(FD_ERR_INVALID_ARG, "fd_chat_apply: out is NULL");
    *out = NULL;
    fd_chat_kind kind;
    FD_TRY(fd_chat_detect(tmpl, &kind));
    FD_TRY(check_messages(msgs, n, kind));
    sbuf b = {0};
    sb_put(&b, "", 0);
    if (kind == FD_CHAT_CHATML) render_chatml(&b, tmpl, msgs, n, add_generation_prompt);
    else if (kind == FD_CHAT_LLAMA3) render_llama3(&b, msgs, n, add_generation_prompt);
    else render_gemma(&b, msgs, n, add_generation_prompt);
    if (b.oom) {
        free(b.s);
        return fd__error(FD_ERR_OOM, "fd_chat_apply: out of memory");
    }
    *out = b.s;
    return FD_OK;
}
