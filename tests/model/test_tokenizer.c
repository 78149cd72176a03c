// SPDX-License-Identifier: Apache-2.0
// Tokenizer tests: toy vocabularies (always run), then exact agreement with Hugging Face
// `tokenizers` on the fixtures of scripts/make_tokenizer_fixtures.py, with encode speed.
#include <time.h>

#include "fd_test.h"
#include "fdeploy/tokenizer.h"
#include "model/tok_gguf_vocab.h"

// ---- helpers

// Repository root from this file's path (tests/model/test_tokenizer.c).
static const char *repo_path(const char *rel, char *buf, size_t cap) {
    const char *f = __FILE__, *cut = strstr(f, "tests/model/test_tokenizer.c");
    if (!cut) snprintf(buf, cap, "%s", rel);
    else snprintf(buf, cap, "%.*s%s", (int)(cut - f), f, rel);
    return buf;
}

static int encode_vec(const fd_tokenizer *tok, const char *s, unsigned flags, int32_t *ids, int cap) {
    int n = -1;
    CHECK_OK(fd_tokenizer_encode(tok, s, strlen(s), flags, ids, cap, &n));
    return n;
}

// Decodes ids and checks the result is `want`.
static void check_decode(const fd_tokenizer *tok, const int32_t *ids, int n, const char *want) {
    char buf[512];
    size_t len = 0;
    CHECK_OK(fd_tokenizer_decode(tok, ids, n, buf, sizeof buf, &len));
    if (strcmp(buf, want) != 0) FD_FAILF("decode gave \"%s\", expected \"%s\"", buf, want);
}

// ---- toy byte-level BPE: the 256 byte symbols, a few merges, one control token

typedef struct toy {
    char *tokens[300];
    int32_t types[300];
    float scores[300];
    int n;
} toy;

static int toy_add(toy *t, const char *s, int type, float score) {
    t->tokens[t->n] = strdup(s);
    t->types[t->n] = type;
    t->scores[t->n] = score;
    return t->n++;
}

static void toy_free(toy *t) {
    for (int i = 0; i < t->n; i++) free(t->tokens[i]);
}

static fd_tokenizer *toy_bpe(toy *t) {
    memset(t, 0, sizeof *t);
    for (int b = 0; b < 256; b++) {  // GPT-2 byte alphabet, spelled as UTF-8
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
        int k = 0;
        for (int c = 0; c < b; c++) k += !((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174);
        unsigned cp = printable ? (unsigned)b : 256u + (unsigned)k;
        char s[3] = {0};
        if (cp < 0x80) s[0] = (char)cp;
        else s[0] = (char)(0xC0 | (cp >> 6)), s[1] = (char)(0x80 | (cp & 0x3F));
        toy_add(t, s, FD_TOKTYPE_NORMAL, 0);
    }
    const char *merged[] = {"he", "ll", "hell", "hello", "\xC4\xA0w", "aa"};
    for (int i = 0; i < 6; i++) toy_add(t, merged[i], FD_TOKTYPE_NORMAL, 0);
    toy_add(t, "<|end|>", FD_TOKTYPE_CONTROL, 0);
    static const char *merges[] = {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w", "a a"};
    fd_tokenizer_desc d;
    fd_tokenizer_desc_init(&d);
    d.model = FD_TOK_BPE_BYTES;
    d.pre = "gpt2";
    d.n_vocab = t->n;
    d.tokens = (const char *const *)t->tokens;
    d.token_types = t->types;
    d.merges = merges;
    d.n_merges = 6;
    d.eos = t->n - 1;
    fd_tokenizer *tok = NULL;
    CHECK_OK(fd_tokenizer_create(&d, &tok));
    return tok;
}

static void toy_bpe_encode_decode(void) {
    toy t;
    fd_tokenizer *tok = toy_bpe(&t);
    if (!tok) return;
    int32_t ids[64];
    int n = encode_vec(tok, "hello world", 0, ids, 64);
    // hello | Ġw o r l d
    int32_t want[] = {259, 260, 'o', 'r', 'l', 'd'};
    CHECK_EQ_I64(n, 6);
    for (int i = 0; i < 6 && i < n; i++) CHECK_EQ_I64(ids[i], want[i]);
    check_decode(tok, ids, n, "hello world");
    n = encode_vec(tok, "aaa", 0, ids, 64);  // equal ranks: leftmost pair first
    CHECK_EQ_I64(n, 2);
    CHECK_EQ_I64(ids[0], 261);
    CHECK_EQ_I64(ids[1], 'a');
    n = encode_vec(tok, "hi<|end|>", FD_TOKENIZE_PARSE_SPECIAL, ids, 64);
    CHECK_EQ_I64(n, 3);
    CHECK_EQ_I64(ids[2], 262);
    CHECK(fd_tokenizer_is_eog(tok, 262));
    CHECK(!fd_tokenizer_is_eog(tok, 5));
    n = encode_vec(tok, "hi<|end|>", 0, ids, 64);  // not parsed: plain text
    CHECK_EQ_I64(n, 9);
    check_decode(tok, ids, n, "hi<|end|>");
    fd_tokenizer_free(tok);
    toy_free(&t);
}

static void toy_bpe_bad_input(void) {
    toy t;
    fd_tokenizer *tok = toy_bpe(&t);
    if (!tok) return;
    int32_t ids[4];
    int n;
    CHECK_STATUS(fd_tokenizer_encode(tok, "ab\xC3(", 4, 0, ids, 4, &n), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "invalid UTF-8 at byte 2");
    CHECK_STATUS(fd_tokenizer_encode(tok, "\xED\xA0\x80", 3, 0, ids, 4, &n), FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_tokenizer_encode(tok, "x y z q", 7, 0, ids, 4, &n), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "needs 7 ids but ids holds 4");
    CHECK_EQ_I64(n, 7);
    CHECK_OK(fd_tokenizer_encode(tok, "x y z q", 7, 0, NULL, 0, &n));  // measuring
    CHECK_EQ_I64(n, 7);
    char buf[4];
    size_t len;
    CHECK_STATUS(fd_tokenizer_decode_token(tok, 9999, buf, sizeof buf, &len), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "out of range");
    CHECK_STATUS(fd_tokenizer_decode_token(tok, 262, buf, sizeof buf, &len), FD_ERR_INVALID_ARG);
    CHECK_EQ_I64(len, 7);
    int32_t bad[] = {1, -3};
    CHECK_STATUS(fd_tokenizer_decode(tok, bad, 2, buf, sizeof buf, &len), FD_ERR_INVALID_ARG);
    CHECK(fd_tokenizer_token_text(tok, -1) == NULL);
    fd_tokenizer_free(tok);
    // a bad description
    fd_tokenizer_desc d;
    fd_tokenizer_desc_init(&d);
    d.n_vocab = t.n;
    d.tokens = (const char *const *)t.tokens;
    static const char *merges[] = {"hello"};
    d.merges = merges;
    d.n_merges = 1;
    CHECK_STATUS(fd_tokenizer_create(&d, &tok), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "is not \"left right\"");
    static const char *ok_merges[] = {"h e"};
    d.merges = ok_merges;
    d.pre = "klingon";
    CHECK_STATUS(fd_tokenizer_create(&d, &tok), FD_ERR_FORMAT);
    CHECK_CONTAINS(fd_last_error(), "unknown pre-tokenizer \"klingon\"");
    d.pre = NULL;
    d.eos = 100000;
    CHECK_STATUS(fd_tokenizer_create(&d, &tok), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "eos id 100000 is out of range");
    toy_free(&t);
}

// ---- toy SentencePiece: merges by score, prefix space, byte fallback

static void toy_spm(void) {
    toy t;
    memset(&t, 0, sizeof t);
    toy_add(&t, "<unk>", FD_TOKTYPE_UNKNOWN, 0);
    toy_add(&t, "<s>", FD_TOKTYPE_CONTROL, 0);
    toy_add(&t, "</s>", FD_TOKTYPE_CONTROL, 0);
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        toy_add(&t, s, FD_TOKTYPE_BYTE, 0);
    }
    const char *pieces[] = {"\xE2\x96\x81", "h", "e", "l", "o", "\xE2\x96\x81h", "he", "ll",
                            "\xE2\x96\x81he", "llo", "\xE2\x96\x81hello"};
    const float scores[] = {-1, -2, -2, -2, -2, -5, -3, -4, -6, -7, -8};
    int base = t.n;
    for (int i = 0; i < 11; i++) toy_add(&t, pieces[i], FD_TOKTYPE_NORMAL, scores[i]);
    fd_tokenizer_desc d;
    fd_tokenizer_desc_init(&d);
    d.model = FD_TOK_SPM;
    d.n_vocab = t.n;
    d.tokens = (const char *const *)t.tokens;
    d.token_types = t.types;
    d.scores = t.scores;
    d.bos = 1, d.eos = 2, d.unk = 0;
    d.add_bos = 1;
    d.add_space_prefix = 1;
    fd_tokenizer *tok = NULL;
    CHECK_OK(fd_tokenizer_create(&d, &tok));
    if (!tok) return;
    int32_t ids[32];
    int n = encode_vec(tok, "hello", FD_TOKENIZE_ADD_SPECIAL, ids, 32);
    CHECK_EQ_I64(n, 2);
    CHECK_EQ_I64(ids[0], 1);
    CHECK_EQ_I64(ids[1], base + 10);
    check_decode(tok, ids, n, "<s>hello");
    n = encode_vec(tok, "h\xC3\xA9", 0, ids, 32);  // é is not in the vocabulary: its bytes
    CHECK_EQ_I64(n, 3);
    CHECK_EQ_I64(ids[0], base + 5);
    CHECK_EQ_I64(ids[1], 3 + 0xC3);
    CHECK_EQ_I64(ids[2], 3 + 0xA9);
    check_decode(tok, ids, n, "h\xC3\xA9");
    CHECK(fd_tokenizer_is_eog(tok, 2));
    fd_tokenizer_free(tok);
    toy_free(&t);
}

// ---- fixtures against Hugging Face

// Un-escapes a fixture's text in place (\\ \t \n \r \xHH); returns its length.
static size_t unescape(char *s) {
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] != '\\') {
            s[o++] = s[i];
            continue;
        }
        char c = s[++i];
        if (c == 'n') s[o++] = '\n';
        else if (c == 't') s[o++] = '\t';
        else if (c == 'r') s[o++] = '\r';
        else if (c == 'x') {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            s[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else s[o++] = c;
    }
    return o;
}

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) sz = 0;
    if (b) b[sz] = '\0';
    fclose(f);
    *n = (size_t)sz;
    return b;
}

typedef struct fixture_result {
    int lines, agree, roundtrip;
    long tokens;
    double seconds;
    size_t bytes;
} fixture_result;

static void run_line(const fd_tokenizer *tok, char *line, fixture_result *r, int32_t *ids,
                     int32_t *want, char *dec) {
    char *tab = strchr(line, '\t');
    if (!tab) return;
    *tab = '\0';
    size_t len = unescape(line);
    int nw = 0;
    for (char *p = tab + 1; *p;) {
        char *e;
        long v = strtol(p, &e, 10);
        if (e == p) break;
        if (nw < 8192) want[nw++] = (int32_t)v;
        p = e;
    }
    int n = 0;
    double t0 = fd_test_now();
    fd_status s = fd_tokenizer_encode(tok, line, len, FD_TOKENIZE_PARSE_SPECIAL, ids, 8192, &n);
    r->seconds += fd_test_now() - t0;
    r->lines++;
    r->tokens += n;
    r->bytes += len;
    int same = s == FD_OK && n == nw && memcmp(ids, want, (size_t)n * sizeof *ids) == 0;
    r->agree += same;
    if (!same && r->lines - r->agree <= 5) {
        fprintf(stderr, "  mismatch on \"%.80s\": got", line);
        for (int i = 0; i < n && i < 24; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, " | want");
        for (int i = 0; i < nw && i < 24; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "%s\n", s == FD_OK ? "" : fd_last_error());
    }
    size_t dl = 0;
    if (s == FD_OK && fd_tokenizer_decode(tok, ids, n, dec, 65536, &dl) == FD_OK && dl == len &&
        memcmp(dec, line, len) == 0)
        r->roundtrip++;
}

// Checks `tok` (taken) against a fixture file.
static void check_fixture(fd_tokenizer *tok, const char *fixture, const char *name, int lossless) {
    char fx[1024];
    size_t n;
    char *text = read_file(repo_path(fixture, fx, sizeof fx), &n);
    if (!tok || !text) {
        if (!text) FD_FAILF("cannot read %s", fx);
        fd_tokenizer_free(tok), free(text);
        return;
    }
    int32_t *ids = malloc(8192 * sizeof *ids), *want = malloc(8192 * sizeof *want);
    char *dec = malloc(65536);
    fixture_result r = {0};
    int header = 1;  // '#' lines open the file; later a text may start with '#'
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        header = header && line[0] == '#';
        if (!header) run_line(tok, line, &r, ids, want, dec);
    }
    printf("     %s: %d/%d lines agree exactly with HF tokenizers, %d/%d decode back to the text; "
           "%ld tokens, %.2f MB/s, %.0f tokens/s\n", name, r.agree, r.lines, r.roundtrip, r.lines,
           r.tokens, (double)r.bytes / 1e6 / r.seconds, (double)r.tokens / r.seconds);
    CHECK_EQ_I64(r.agree, r.lines);
    if (lossless) CHECK_EQ_I64(r.roundtrip, r.lines);
    CHECK(r.lines > 100);
    free(ids), free(want), free(dec), free(text);
    fd_tokenizer_free(tok);
}

static void run_fixture(const char *vocab_path, const char *fixture, const char *name, int lossless) {
    tgv_vocab v;
    if (tgv_load(vocab_path, &v) != 0) {
        fd_test_skip("no readable vocabulary at %s (set FDEPLOY_TEST_MODEL / FDEPLOY_TEST_VOCAB_DIR)", vocab_path);
        return;
    }
    fd_tokenizer *tok = NULL;
    CHECK_OK(fd_tokenizer_create(&v.desc, &tok));
    tgv_free(&v);
    check_fixture(tok, fixture, name, lossless);
}

static const char *model_path(char *buf, size_t cap) {
    const char *env = getenv("FDEPLOY_TEST_MODEL");
    return env ? env : repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf", buf, cap);
}

static void smollm2_fixture(void) {
    char p[1024];
    run_fixture(model_path(p, sizeof p), "tests/fixtures/tokenizer_smollm2.txt", "smollm2", 1);
}

static void vocab_fixture(const char *file, const char *fixture, const char *name, int lossless) {
    const char *dir = getenv("FDEPLOY_TEST_VOCAB_DIR");
    if (!dir) {
        fd_test_skip("set FDEPLOY_TEST_VOCAB_DIR to llama.cpp's models/ folder (it holds %s; "
                     "see scripts/make_tokenizer_fixtures.py)", file);
        return;
    }
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    run_fixture(p, fixture, name, lossless);
}

static void qwen2_fixture(void) {
    vocab_fixture("ggml-vocab-qwen2.gguf", "tests/fixtures/tokenizer_qwen2.txt", "qwen2", 0);
}

// Gemma 3's SentencePiece vocabulary (262k tokens, user-defined whitespace runs, no prefix space).
static void gemma3_fixture(void) {
    char p[1024];
    const char *env = getenv("FDEPLOY_TEST_GEMMA3");
    run_fixture(env ? env : repo_path("models/gemma-3-270m-q4_k_m.gguf", p, sizeof p),
                "tests/fixtures/tokenizer_gemma3.txt", "gemma3", 1);
}

static void llama_spm_fixture(void) {
    vocab_fixture("ggml-vocab-llama-spm.gguf", "tests/fixtures/tokenizer_llama_spm.txt", "llama-spm", 0);
}

// The SmolLM2 reference saved as tokenizer.json (make_tokenizer_fixtures.py --save-json).
static void smollm2_json_fixture(void) {
    const char *path = getenv("FDEPLOY_TEST_TOKENIZER_JSON");
    if (!path) {
        fd_test_skip("set FDEPLOY_TEST_TOKENIZER_JSON (scripts/make_tokenizer_fixtures.py --save-json DIR)");
        return;
    }
    fd_tokenizer *tok = NULL;
    CHECK_OK(fd_tokenizer_from_json(path, &tok));
    check_fixture(tok, "tests/fixtures/tokenizer_smollm2.txt", "smollm2 (tokenizer.json)", 1);
}

// A toy tokenizer.json: byte-level BPE with a Split + ByteLevel pre-tokenizer.
static void toy_json(void) {
    char path[] = "/tmp/fd_tok_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        FD_FAILF("cannot create a temporary file");
        return;
    }
    fputs("{\"added_tokens\": [{\"id\": 6, \"content\": \"<|end|>\", \"special\": true}],"
          "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
          "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\p{N}\"}, \"behavior\": \"Isolated\"},"
          "{\"type\": \"ByteLevel\", \"use_regex\": true}]},"
          "\"model\": {\"type\": \"BPE\", \"vocab\": {", f);
    for (int b = 0; b < 256; b++) {  // just enough of the byte alphabet: a b c 1 2 and Ġ
        if (b == 'a' || b == 'b' || b == 'c' || b == '1' || b == '2') fprintf(f, "\"%c\": %d, ", b, b - (b > '2' ? 'a' - 2 : '1'));
    }
    fputs("\"\u0120\": 5, \"ab\": 7, \"\u0120ab\": 8}, \"merges\": [\"a b\", [\"\u0120\", \"ab\"]]}}", f);
    fclose(f);
    fd_tokenizer *tok = NULL;
    CHECK_OK(fd_tokenizer_from_json(path, &tok));
    remove(path);
    if (!tok) return;
    int32_t ids[16];
    int n = encode_vec(tok, "ab ab12<|end|>", FD_TOKENIZE_PARSE_SPECIAL, ids, 16);
    int32_t want[] = {7, 8, 0, 1, 6};
    CHECK_EQ_I64(n, 5);
    for (int i = 0; i < 5 && i < n; i++) CHECK_EQ_I64(ids[i], want[i]);
    check_decode(tok, ids, n, "ab ab12<|end|>");
    CHECK(fd_tokenizer_is_eog(tok, 6));  // a control token named like an end of turn
    fd_tokenizer_free(tok);
    CHECK_STATUS(fd_tokenizer_from_json("/nonexistent/tokenizer.json", &tok), FD_ERR_IO);
}

// Random code points round-trip; random bytes give ok or an error, never a crash.
static void smollm2_random(void) {
    char p[1024];
    tgv_vocab v;
    if (tgv_load(model_path(p, sizeof p), &v) != 0) {
        fd_test_skip("no model at %s (set FDEPLOY_TEST_MODEL)", p);
        return;
    }
    fd_tokenizer *tok = NULL;
    CHECK_OK(fd_tokenizer_create(&v.desc, &tok));
    tgv_free(&v);
    if (!tok) return;
    static const uint32_t base[] = {0x20, 0x41, 0xE0, 0x400, 0x900, 0x3040, 0x4E00, 0x1F600, 0x2000, 0x600};
    uint64_t rng = 7;
    char text[256], dec[1024];
    int32_t ids[512];
    int bad = 0;
    for (int it = 0; it < 2000; it++) {
        size_t n = 0;
        for (int k = (int)(fd_test_rand(&rng) % 40); k > 0; k--) {
            uint32_t cp = base[fd_test_rand(&rng) % 10] + (uint32_t)(fd_test_rand(&rng) % 96);
            if (cp < 0x80) text[n++] = (char)cp;
            else if (cp < 0x800) text[n++] = (char)(0xC0 | (cp >> 6)), text[n++] = (char)(0x80 | (cp & 63));
            else if (cp < 0x10000)
                text[n++] = (char)(0xE0 | (cp >> 12)), text[n++] = (char)(0x80 | ((cp >> 6) & 63)),
                text[n++] = (char)(0x80 | (cp & 63));
            else
                text[n++] = (char)(0xF0 | (cp >> 18)), text[n++] = (char)(0x80 | ((cp >> 12) & 63)),
                text[n++] = (char)(0x80 | ((cp >> 6) & 63)), text[n++] = (char)(0x80 | (cp & 63));
        }
        int m = 0;
        size_t dl = 0;
        CHECK_OK(fd_tokenizer_encode(tok, text, n, 0, ids, 512, &m));
        CHECK_OK(fd_tokenizer_decode(tok, ids, m, dec, sizeof dec, &dl));
        if (dl != n || memcmp(dec, text, n) != 0) bad++;
        for (size_t i = 0; i < n; i++) text[i] = (char)fd_test_rand(&rng);  // now random bytes
        fd_status s = fd_tokenizer_encode(tok, text, n, FD_TOKENIZE_PARSE_SPECIAL, ids, 512, &m);
        CHECK(s == FD_OK || s == FD_ERR_INVALID_ARG);
    }
    CHECK_EQ_I64(bad, 0);
    fd_tokenizer_free(tok);
}

// SmolLM2's special tokens and end-of-generation set.
static void smollm2_specials(void) {
    char p[1024];
    tgv_vocab v;
    if (tgv_load(model_path(p, sizeof p), &v) != 0) {
        fd_test_skip("no model at %s (set FDEPLOY_TEST_MODEL)", p);
        return;
    }
    fd_tokenizer *tok = NULL;
    CHECK_OK(fd_tokenizer_create(&v.desc, &tok));
    if (tok) {
        CHECK_EQ_I64(fd_tokenizer_n_vocab(tok), 49152);
        CHECK_EQ_I64(fd_tokenizer_eos(tok), 2);
        CHECK(fd_tokenizer_is_eog(tok, 2));  // <|im_end|>
        CHECK(fd_tokenizer_is_eog(tok, 0));  // <|endoftext|>
        CHECK(!fd_tokenizer_is_eog(tok, 1));
        CHECK(strcmp(fd_tokenizer_token_text(tok, 1), "<|im_start|>") == 0);
        char b[16];
        size_t len;
        CHECK_OK(fd_tokenizer_decode_token(tok, 198, b, sizeof b, &len));  // "Ċ" is "\n"
        CHECK(len == 1 && b[0] == '\n');
    }
    fd_tokenizer_free(tok);
    tgv_free(&v);
}

FD_TEST_MAIN(FD_CASE(toy_bpe_encode_decode), FD_CASE(toy_bpe_bad_input), FD_CASE(toy_spm),
             FD_CASE(toy_json), FD_CASE(smollm2_specials), FD_CASE(smollm2_random), FD_CASE(smollm2_fixture),
             FD_CASE(smollm2_json_fixture), FD_CASE(qwen2_fixture), FD_CASE(llama_spm_fixture),
             FD_CASE(gemma3_fixture))
