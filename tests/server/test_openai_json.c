// SPDX-License-Identifier: Apache-2.0
// The OpenAI request parser and response builders, without network or model.
#include <jansson.h>

#include "fd_test.h"
#include "server/openai.h"

static int parse(const char *body, int chat, fd_oai_request *r, fd_oai_error *e) {
    return fd_oai_parse(body, strlen(body), chat, r, e);
}

// Parsing must fail with `status` and name `param` ("" = none).
#define CHECK_REJECT(body, chat, status_, param_, needle)                          \
    do {                                                                           \
        fd_oai_request r_;                                                         \
        fd_oai_error e_;                                                           \
        memset(&e_, 0, sizeof e_);                                                 \
        CHECK_EQ_I64(parse(body, chat, &r_, &e_), -1);                             \
        CHECK_EQ_I64(e_.status, status_);                                          \
        if (strcmp(e_.param, param_) != 0) FD_FAILF("param '%s', want '%s'", e_.param, param_); \
        CHECK_CONTAINS(e_.message, needle);                                        \
    } while (0)

static void completion_defaults(void) {
    fd_oai_request r;
    fd_oai_error e;
    CHECK_EQ_I64(parse("{\"model\":\"m\",\"prompt\":\"Hello\"}", 0, &r, &e), 0);
    CHECK(r.prompt && !strcmp(r.prompt, "Hello"));
    CHECK(r.model && !strcmp(r.model, "m"));
    CHECK_EQ_I64(r.n, 1);
    CHECK_EQ_I64(r.max_tokens, -1);
    CHECK_EQ_I64(r.stream, 0);
    CHECK_NEAR(r.sampling.temperature, 1.0, 0);
    CHECK_NEAR(r.sampling.top_p, 1.0, 0);
    CHECK_EQ_I64(r.sampling.top_k, 0);
    CHECK_EQ_I64(r.has_seed, 0);
    fd_oai_request_free(&r);
}

static void completion_options(void) {
    fd_oai_request r;
    fd_oai_error e;
    const char *b = "{\"prompt\":[1,2,3],\"n\":3,\"max_tokens\":7,\"temperature\":0,\"top_p\":0.5,"
                    "\"top_k\":20,\"min_p\":0.1,\"presence_penalty\":0.5,\"frequency_penalty\":-1,"
                    "\"repetition_penalty\":1.2,\"seed\":42,\"stop\":[\"a\",\"bc\"],\"logprobs\":3,"
                    "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"ignore_eos\":true}";
    CHECK_EQ_I64(parse(b, 0, &r, &e), 0);
    CHECK_EQ_I64(r.n_prompt_ids, 3);
    CHECK_EQ_I64(r.prompt_ids[2], 3);
    CHECK_EQ_I64(r.n, 3);
    CHECK_EQ_I64(r.max_tokens, 7);
    CHECK_NEAR(r.sampling.temperature, 0, 0);
    CHECK_NEAR(r.sampling.top_p, 0.5, 1e-6);
    CHECK_EQ_I64(r.sampling.top_k, 20);
    CHECK_NEAR(r.sampling.min_p, 0.1, 1e-6);
    CHECK_NEAR(r.sampling.presence_penalty, 0.5, 1e-6);
    CHECK_NEAR(r.sampling.frequency_penalty, -1, 1e-6);
    CHECK_NEAR(r.sampling.repetition_penalty, 1.2, 1e-6);
    CHECK_EQ_I64(r.sampling.seed, 42);
    CHECK_EQ_I64(r.has_seed, 1);
    CHECK_EQ_I64(r.n_stops, 2);
    CHECK(!strcmp(r.stops[1], "bc"));
    CHECK_EQ_I64(r.logprobs, 1);
    CHECK_EQ_I64(r.top_logprobs, 3);
    CHECK_EQ_I64(r.stream, 1);
    CHECK_EQ_I64(r.include_usage, 1);
    CHECK_EQ_I64(r.ignore_eos, 1);
    fd_oai_request_free(&r);
}

static void prompt_forms(void) {
    fd_oai_request r;
    fd_oai_error e;
    CHECK_EQ_I64(parse("{\"prompt\":[\"only one\"]}", 0, &r, &e), 0);
    CHECK(r.prompt && !strcmp(r.prompt, "only one"));
    fd_oai_request_free(&r);
    CHECK_EQ_I64(parse("{\"prompt\":[[5,6]]}", 0, &r, &e), 0);
    CHECK_EQ_I64(r.n_prompt_ids, 2);
    fd_oai_request_free(&r);
    CHECK_REJECT("{\"prompt\":[\"a\",\"b\"]}", 0, 400, "prompt", "batched prompts not supported");
    CHECK_REJECT("{\"prompt\":[1,-2]}", 0, 400, "prompt", "prompt[1]");
    CHECK_REJECT("{\"prompt\":[1,\"x\"]}", 0, 400, "prompt", "token id");
    CHECK_REJECT("{\"prompt\":[]}", 0, 400, "prompt", "non-empty");
    CHECK_REJECT("{\"prompt\":5}", 0, 400, "prompt", "must be a string");
    CHECK_REJECT("{\"max_tokens\":5}", 0, 400, "prompt", "required");
}

static void malformed(void) {
    CHECK_REJECT("{\"prompt\": \"x\"", 0, 400, "", "malformed JSON");
    CHECK_REJECT("", 0, 400, "", "malformed JSON");
    CHECK_REJECT("[1,2]", 0, 400, "", "JSON object");
    CHECK_REJECT("{\"prompt\":\"a\",\"prompt\":\"b\"}", 0, 400, "", "malformed JSON");
}

static void wrong_types(void) {
    CHECK_REJECT("{\"prompt\":\"x\",\"temperature\":\"hot\"}", 0, 400, "temperature", "must be a number");
    CHECK_REJECT("{\"prompt\":\"x\",\"max_tokens\":\"5\"}", 0, 400, "max_tokens", "must be an integer");
    CHECK_REJECT("{\"prompt\":\"x\",\"max_tokens\":1.5}", 0, 400, "max_tokens", "must be an integer");
    CHECK_REJECT("{\"prompt\":\"x\",\"max_tokens\":0}", 0, 400, "max_tokens", "[1, ");
    CHECK_REJECT("{\"prompt\":\"x\",\"stream\":1}", 0, 400, "stream", "boolean");
    CHECK_REJECT("{\"prompt\":\"x\",\"n\":0}", 0, 400, "n", "[1, 16]");
    CHECK_REJECT("{\"prompt\":\"x\",\"n\":\"2\"}", 0, 400, "n", "integer");
    CHECK_REJECT("{\"prompt\":\"x\",\"model\":7}", 0, 400, "model", "string");
    CHECK_REJECT("{\"prompt\":\"x\",\"temperature\":3}", 0, 400, "temperature", "[0, 2]");
    CHECK_REJECT("{\"prompt\":\"x\",\"top_p\":0}", 0, 400, "top_p", "(0, 1]");
    CHECK_REJECT("{\"prompt\":\"x\",\"seed\":\"s\"}", 0, 400, "seed", "integer");
    CHECK_REJECT("{\"prompt\":\"x\",\"stream_options\":1}", 0, 400, "stream_options", "object");
    CHECK_REJECT("{\"prompt\":\"x\",\"logprobs\":true}", 0, 400, "logprobs", "integer");
    CHECK_REJECT("{\"prompt\":\"x\",\"logprobs\":21}", 0, 400, "logprobs", "[0, 20]");
}

static void stops(void) {
    fd_oai_request r;
    fd_oai_error e;
    CHECK_EQ_I64(parse("{\"prompt\":\"x\",\"stop\":\"\\n\"}", 0, &r, &e), 0);
    CHECK_EQ_I64(r.n_stops, 1);
    CHECK(!strcmp(r.stops[0], "\n"));
    fd_oai_request_free(&r);
    CHECK_EQ_I64(parse("{\"prompt\":\"x\",\"stop\":null}", 0, &r, &e), 0);
    CHECK_EQ_I64(r.n_stops, 0);
    fd_oai_request_free(&r);
    CHECK_REJECT("{\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 0, 400, "stop", "at most 4");
    CHECK_REJECT("{\"prompt\":\"x\",\"stop\":[1]}", 0, 400, "stop", "stop[0]");
    CHECK_REJECT("{\"prompt\":\"x\",\"stop\":3}", 0, 400, "stop", "string or an array");
}

static void chat_messages(void) {
    fd_oai_request r;
    fd_oai_error e;
    const char *b = "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},"
                    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi \"},"
                    "{\"type\":\"text\",\"text\":\"there\"}]}],\"max_completion_tokens\":9,"
                    "\"logprobs\":true,\"top_logprobs\":2}";
    CHECK_EQ_I64(parse(b, 1, &r, &e), 0);
    CHECK_EQ_I64(r.n_msgs, 2);
    CHECK(!strcmp(r.msgs[0].role, "system"));
    CHECK(!strcmp(r.msgs[1].content, "Hi there"));
    CHECK_EQ_I64(r.max_tokens, 9);
    CHECK_EQ_I64(r.logprobs, 1);
    CHECK_EQ_I64(r.top_logprobs, 2);
    fd_oai_request_free(&r);
    CHECK_REJECT("{\"messages\":[]}", 1, 400, "messages", "non-empty");
    CHECK_REJECT("{\"messages\":\"hi\"}", 1, 400, "messages", "required");
    CHECK_REJECT("{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", 1, 400, "messages", "'tool'");
    CHECK_REJECT("{\"messages\":[{\"role\":\"user\"}]}", 1, 400, "messages", "content' is required");
    CHECK_REJECT("{\"messages\":[{\"role\":\"user\",\"content\":5}]}", 1, 400, "messages", "content");
    CHECK_REJECT("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", 1, 400,
                 "messages", "only text");
    CHECK_REJECT("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}", 1, 400,
                 "top_logprobs", "needs 'logprobs'");
    CHECK_REJECT("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":3}", 1, 400,
                 "logprobs", "boolean");
}

static void error_shape(void) {
    fd_oai_error e;
    fd_oai_error_set(&e, 404, "model", "model_not_found", "no model '%s'", "x");
    char *s = fd_oai_error_json(&e);
    json_t *o = json_loads(s, 0, NULL);
    CHECK(o != NULL);
    json_t *err = json_object_get(o, "error");
    CHECK(json_is_object(err));
    CHECK(!strcmp(json_string_value(json_object_get(err, "message")), "no model 'x'"));
    CHECK(!strcmp(json_string_value(json_object_get(err, "type")), "invalid_request_error"));
    CHECK(!strcmp(json_string_value(json_object_get(err, "param")), "model"));
    CHECK(!strcmp(json_string_value(json_object_get(err, "code")), "model_not_found"));
    json_decref(o);
    free(s);
    fd_oai_error_set(&e, 401, NULL, NULL, "key");
    s = fd_oai_error_json(&e);
    CHECK_CONTAINS(s, "\"param\":null");
    CHECK_CONTAINS(s, "authentication_error");
    free(s);
}

static void text_utf8(void) {
    json_t *t = fd_oai_text("a\xE2\x82", 3);  // a partial euro sign
    CHECK(t != NULL);
    CHECK(!strcmp(json_string_value(t), "a\xEF\xBF\xBD\xEF\xBF\xBD"));
    json_decref(t);
    t = fd_oai_text("\xE2\x82\xAC", 3);
    CHECK(!strcmp(json_string_value(t), "\xE2\x82\xAC"));
    json_decref(t);
}

static void logprob_shapes(void) {
    int32_t ids[2] = {7, 8};
    float lps[2] = {-0.5f, -1.5f};
    const char *pieces[2] = {"a", "b"};
    size_t lens[2] = {1, 1};
    fd_oai_token t = {7, "a", 1, -0.5f, 2, ids, lps, pieces, lens};
    json_t *c = fd_oai_chat_logprob(&t);
    CHECK(!strcmp(json_string_value(json_object_get(c, "token")), "a"));
    CHECK_NEAR(json_real_value(json_object_get(c, "logprob")), -0.5, 1e-6);
    CHECK_EQ_I64(json_integer_value(json_array_get(json_object_get(c, "bytes"), 0)), 'a');
    CHECK_EQ_I64(json_array_size(json_object_get(c, "top_logprobs")), 2);
    json_decref(c);
    fd_oai_token two[2] = {t, t};
    two[1].piece = "xy";
    two[1].piece_len = 2;
    json_t *p = fd_oai_completion_logprobs(two, 2, 10);
    CHECK_EQ_I64(json_array_size(json_object_get(p, "tokens")), 2);
    CHECK_EQ_I64(json_integer_value(json_array_get(json_object_get(p, "text_offset"), 1)), 11);
    json_t *top0 = json_array_get(json_object_get(p, "top_logprobs"), 0);
    CHECK_NEAR(json_real_value(json_object_get(top0, "b")), -1.5, 1e-6);
    json_decref(p);
}

static void sse_framing(void) {
    void *choices;
    json_t *o = fd_oai_envelope("id1", "text_completion", 5, "m", &choices);
    char *s = fd_oai_dump(o, 1);
    CHECK(!strncmp(s, "data: {", 7));
    CHECK(strlen(s) > 2 && !strcmp(s + strlen(s) - 2, "\n\n"));
    CHECK_CONTAINS(s, "\"choices\":[]");
    free(s);
}

FD_TEST_MAIN(FD_CASE(completion_defaults), FD_CASE(completion_options), FD_CASE(prompt_forms),
             FD_CASE(malformed), FD_CASE(wrong_types), FD_CASE(stops), FD_CASE(chat_messages),
             FD_CASE(error_shape), FD_CASE(text_utf8), FD_CASE(logprob_shapes),
             FD_CASE(sse_framing))
