// SPDX-License-Identifier: Apache-2.0
// Private: the tokenizer a GGUF file describes (used by the model loader).
#ifndef FD_MODEL_TOKENIZER_GGUF_H
#define FD_MODEL_TOKENIZER_GGUF_H

#include "fdeploy/gguf.h"
#include "fdeploy/tokenizer.h"

fd_status fd__tokenizer_from_gguf(const fd_gguf *g, fd_tokenizer **out);

#endif
