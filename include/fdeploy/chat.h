// SPDX-License-Identifier: Apache-2.0
// Chat templates: turns a list of messages into the prompt text a model was trained on.
// The family is detected from the template in the model's metadata
// (tokenizer.chat_template): ChatML (SmolLM2, Qwen), Llama 3, Gemma.
#ifndef FDEPLOY_CHAT_H
#define FDEPLOY_CHAT_H

#include "fdeploy/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fd_chat_message {
    const char *role;     // "system", "user", "assistant" (Gemma's "model" also accepted)
    const char *content;  // UTF-8, NUL-terminated
} fd_chat_message;

typedef enum fd_chat_kind {
    FD_CHAT_CHATML = 0,  // <|im_start|>role\ncontent<|im_end|>\n
    FD_CHAT_LLAMA3 = 1,  // <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
    FD_CHAT_GEMMA = 2,   // <start_of_turn>user\ncontent<end_of_turn>\n
} fd_chat_kind;

// Which family `tmpl` (a Jinja template from GGUF/tokenizer_config) belongs to; an unknown
// or empty template is FD_ERR_NOT_FOUND with a message quoting its first characters.
fd_status fd_chat_detect(const char *tmpl, fd_chat_kind *kind);

// "chatml", "llama3", "gemma".
const char *fd_chat_kind_name(fd_chat_kind kind);

// Renders `n` messages with the template's family; with `add_generation_prompt` it ends
// with the opening of the assistant's turn. Matches the Hugging Face templates, including
// a default system prompt the template writes when none is given (SmolLM2, Qwen2.5).
// The text includes the template's own BOS text (<|begin_of_text|>, <bos>); encode it
// with FD_TOKENIZE_PARSE_SPECIAL. *out is malloc'ed; the caller frees it with free().
fd_status fd_chat_apply(const char *tmpl, const fd_chat_message *msgs, int n,
                        int add_generation_prompt, char **out);

#ifdef __cplusplus
}
#endif
#endif
