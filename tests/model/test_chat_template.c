// SPDX-License-Identifier: Apache-2.0
// Chat templates: each family's rendering against what its Hugging Face Jinja template
// renders (strings checked with jinja2), detection, and errors.
#include "fd_test.h"
#include "fdeploy/chat.h"

// SmolLM2-135M-Instruct's tokenizer.chat_template, verbatim.
static const char SMOLLM2[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
// The opening of Qwen2.5's template (tools branch first, then the default system prompt).
static const char QWEN25[] =
    "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}"
    "{%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a "
    "helpful assistant.<|im_end|>\\n' }}\n    {%- endif %}";
static const char LLAMA3[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}";
static const char GEMMA3[] = "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}... '<start_of_turn>' + role";

static char *apply(const char *tmpl, const fd_chat_message *m, int n, int gen) {
    char *out = NULL;
    CHECK_OK(fd_chat_apply(tmpl, m, n, gen, &out));
    return out;
}

static void expect(char *got, const char *want) {
    if (!got || strcmp(got, want) != 0) FD_FAILF("rendered\n%s\nexpected\n%s", got ? got : "(null)", want);
    free(got);
}

static void chatml_smollm2(void) {
    fd_chat_message user[] = {{"user", "Hi"}};
    expect(apply(SMOLLM2, user, 1, 1),
           "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
           "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    fd_chat_message conv[] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "2+2?"}};
    expect(apply(SMOLLM2, conv, 4, 0),
           "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
           "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n");
    fd_chat_kind k;
    CHECK_OK(fd_chat_detect(SMOLLM2, &k));
    CHECK_EQ_I64(k, FD_CHAT_CHATML);
    CHECK(strcmp(fd_chat_kind_name(k), "chatml") == 0);
}

static void chatml_qwen25_default_system(void) {
    fd_chat_message user[] = {{"user", "Hi"}};
    expect(apply(QWEN25, user, 1, 1),
           "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
           "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

static void llama3(void) {
    fd_chat_message conv[] = {{"system", "Be brief. "}, {"user", "  Hi\n"}};
    expect(apply(LLAMA3, conv, 2, 1),
           "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void gemma(void) {
    fd_chat_message conv[] = {{"system", "Be brief."}, {"user", "Hi "}, {"assistant", "Hello!"}, {"user", "Bye"}};
    expect(apply(GEMMA3, conv, 4, 1),
           "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
           "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
    fd_chat_message late[] = {{"user", "Hi"}, {"system", "x"}};
    char *out = NULL;
    CHECK_STATUS(fd_chat_apply(GEMMA3, late, 2, 1, &out), FD_ERR_INVALID_ARG);
    CHECK(out == NULL);
}

static void errors(void) {
    fd_chat_message user[] = {{"user", "Hi"}};
    char *out = NULL;
    CHECK_STATUS(fd_chat_apply("{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}", user, 1, 1, &out),
                 FD_ERR_NOT_FOUND);
    CHECK_CONTAINS(fd_last_error(), "chat template not recognized (it starts \"{% for m in messages %}[INST]");
    CHECK_STATUS(fd_chat_apply("", user, 1, 1, &out), FD_ERR_NOT_FOUND);
    CHECK_CONTAINS(fd_last_error(), "has none");
    CHECK_STATUS(fd_chat_apply(NULL, user, 1, 1, &out), FD_ERR_NOT_FOUND);
    fd_chat_message bad[] = {{"user", NULL}};
    CHECK_STATUS(fd_chat_apply(SMOLLM2, bad, 1, 1, &out), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "message 0 has no content");
    CHECK(out == NULL);
}

FD_TEST_MAIN(FD_CASE(chatml_smollm2), FD_CASE(chatml_qwen25_default_system), FD_CASE(llama3), FD_CASE(gemma),
             FD_CASE(errors))
