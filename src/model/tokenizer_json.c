// SPDX-License-Identifier: Apache-2.0
// fd_tokenizer_from_json: a Hugging Face tokenizer.json (BPE models) turned into the
// vocabulary arrays fd_tokenizer_create takes. Byte-level when the pre-tokenizer or decoder
// says ByteLevel; otherwise SentencePiece-style (U+2581 spaces, byte fallback), merged by rank.
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer_internal.h"

#define RE_GPT2_JSON "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

typedef struct json_vocab {
    const char **tokens;
    int32_t *types;
    char **merges;  // "a b", owned
    int n_vocab, n_merges;
    const char *regex[FD_TOK_MAX_REGEX];
    int n_regex;
    int byte_level, prepend_space;
} json_vocab;

// 1 if any object under `j` has "type": `type`.
static int has_type(json_t *j, const char *type) {
    if (json_is_object(j)) {
        const char *t = json_string_value(json_object_get(j, "type"));
        if (t && strcmp(t, type) == 0) return 1;
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) if (has_type(v, type)) return 1;
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) if (has_type(v, type)) return 1;
    }
    return 0;
}

// The pre-tokenizer's splits, in order, as regex stages.
static fd_status pre_stages(json_t *p, json_vocab *v, const char *path) {
    if (!json_is_object(p)) return FD_OK;
    const char *t = json_string_value(json_object_get(p, "type"));
    if (!t) return FD_OK;
    if (strcmp(t, "Sequence") == 0) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(p, "pretokenizers"), i, e) FD_TRY(pre_stages(e, v, path));
        return FD_OK;
    }
    const char *re = NULL;
    if (strcmp(t, "Split") == 0) {
        re = json_string_value(json_object_get(json_object_get(p, "pattern"), "Regex"));
        if (!re) return fd__error(FD_ERR_FORMAT, "%s: a Split pre-tokenizer without a Regex pattern is not supported", path);
    } else if (strcmp(t, "Digits") == 0) {
        re = json_is_true(json_object_get(p, "individual_digits")) ? "\\p{N}" : "\\p{N}+";
    } else if (strcmp(t, "ByteLevel") == 0) {
        if (json_is_false(json_object_get(p, "use_regex"))) return FD_OK;
        re = RE_GPT2_JSON;
    } else if (strcmp(t, "Metaspace") == 0) {
        v->prepend_space = 1;
        return FD_OK;
    } else {
        return fd__error(FD_ERR_FORMAT, "%s: pre-tokenizer \"%s\" is not supported (Sequence, Split, Digits, "
                         "ByteLevel, Metaspace are)", path, t);
    }
    if (v->n_regex == FD_TOK_MAX_REGEX) return fd__error(FD_ERR_FORMAT, "%s: too many pre-tokenizer splits", path);
    v->regex[v->n_regex++] = re;
    return FD_OK;
}

static fd_status set_token(json_vocab *v, json_int_t id, const char *s, int type, const char *path) {
    if (id < 0 || id >= v->n_vocab)
        return fd__error(FD_ERR_FORMAT, "%s: token \"%.40s\" has id %lld, outside 0..%d", path, s, (long long)id,
                         v->n_vocab - 1);
    v->tokens[id] = s;
    v->types[id] = type;
    return FD_OK;
}

static fd_status read_vocab(json_t *model, json_t *added, json_vocab *v, const char *path) {
    json_t *vocab = json_object_get(model, "vocab"), *e;
    if (!json_is_object(vocab)) return fd__error(FD_ERR_FORMAT, "%s: model.vocab is not an object", path);
    const char *k;
    size_t i;
    json_int_t max_id = -1;
    json_object_foreach(vocab, k, e) if (json_integer_value(e) > max_id) max_id = json_integer_value(e);
    json_array_foreach(added, i, e) {
        json_int_t id = json_integer_value(json_object_get(e, "id"));
        if (id > max_id) max_id = id;
    }
    if (max_id < 0 || max_id >= (1 << 24)) return fd__error(FD_ERR_FORMAT, "%s: vocabulary size %lld", path, (long long)max_id + 1);
    v->n_vocab = (int)max_id + 1;
    v->tokens = calloc((size_t)v->n_vocab, sizeof *v->tokens);
    v->types = calloc((size_t)v->n_vocab, sizeof *v->types);
    if (!v->tokens || !v->types) return fd__error(FD_ERR_OOM, "%s: out of memory", path);
    json_object_foreach(vocab, k, e) FD_TRY(set_token(v, json_integer_value(e), k, FD_TOKTYPE_NORMAL, path));
    json_array_foreach(added, i, e) {
        const char *s = json_string_value(json_object_get(e, "content"));
        if (!s) return fd__error(FD_ERR_FORMAT, "%s: added_tokens[%zu] has no content", path, i);
        int t = json_is_true(json_object_get(e, "special")) ? FD_TOKTYPE_CONTROL : FD_TOKTYPE_USER_DEFINED;
        FD_TRY(set_token(v, json_integer_value(json_object_get(e, "id")), s, t, path));
    }
    for (int id = 0; id < v->n_vocab; id++)
        if (!v->tokens[id]) v->tokens[id] = "", v->types[id] = FD_TOKTYPE_UNUSED;  // a hole in the ids
    for (int id = 0; id < v->n_vocab; id++)  // SentencePiece byte-fallback tokens
        if (v->types[id] == FD_TOKTYPE_NORMAL && strlen(v->tokens[id]) == 6 && !strncmp(v->tokens[id], "<0x", 3))
            v->types[id] = FD_TOKTYPE_BYTE;
    return FD_OK;
}

// Merges as "a b" (old files) or ["a", "b"] (newer ones).
static fd_status read_merges(json_t *merges, json_vocab *v, const char *path) {
    size_t n = json_array_size(merges), i;
    json_t *e;
    v->merges = calloc(n ? n : 1, sizeof *v->merges);
    if (!v->merges) return fd__error(FD_ERR_OOM, "%s: out of memory", path);
    json_array_foreach(merges, i, e) {
        const char *a = json_string_value(e), *b = "";
        if (json_is_array(e) && json_array_size(e) == 2) {
            a = json_string_value(json_array_get(e, 0));
            b = json_string_value(json_array_get(e, 1));
        }
        if (!a || !b) return fd__error(FD_ERR_FORMAT, "%s: model.merges[%zu] is neither \"a b\" nor [a, b]", path, i);
        size_t la = strlen(a), lb = strlen(b);
        if (!(v->merges[i] = malloc(la + lb + 2))) return fd__error(FD_ERR_OOM, "%s: out of memory", path);
        memcpy(v->merges[i], a, la + 1);
        if (json_is_array(e)) {
            v->merges[i][la] = ' ';
            memcpy(v->merges[i] + la + 1, b, lb + 1);
        }
        v->n_merges = (int)i + 1;
    }
    return FD_OK;
}

// The first of `names` present as a control token, -1 if none.
static int32_t find_named(const json_vocab *v, const char *const *names) {
    for (; *names; names++)
        for (int id = 0; id < v->n_vocab; id++)
            if (v->types[id] == FD_TOKTYPE_CONTROL && strcmp(v->tokens[id], *names) == 0) return id;
    return -1;
}

static fd_status build_from_json(json_t *root, const char *path, json_vocab *v, fd_tokenizer **out) {
    json_t *model = json_object_get(root, "model");
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(model) || (type && strcmp(type, "BPE") != 0))
        return fd__error(FD_ERR_FORMAT, "%s: model type \"%s\" is not supported (only BPE is)", path, type ? type : "?");
    FD_TRY(read_vocab(model, json_object_get(root, "added_tokens"), v, path));
    FD_TRY(read_merges(json_object_get(model, "merges"), v, path));
    v->byte_level = has_type(json_object_get(root, "pre_tokenizer"), "ByteLevel") ||
                    has_type(json_object_get(root, "decoder"), "ByteLevel");
    FD_TRY(pre_stages(json_object_get(root, "pre_tokenizer"), v, path));
    v->prepend_space |= has_type(json_object_get(root, "normalizer"), "Prepend");
    fd_tokenizer_desc d;
    fd_tokenizer_desc_init(&d);
    d.model = v->byte_level ? FD_TOK_BPE_BYTES : FD_TOK_SPM;
    d.n_vocab = v->n_vocab;
    d.tokens = v->tokens;
    d.token_types = v->types;
    d.merges = (const char *const *)v->merges;
    d.n_merges = v->n_merges;
    d.pre_regex = v->regex;
    d.n_pre_regex = v->n_regex;
    d.pre = "gpt2";  // only used when the file has no split at all
    d.ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    d.add_space_prefix = !v->byte_level && v->prepend_space;
    static const char *const bos[] = {"<|begin_of_text|>", "<s>", "<bos>", NULL};
    static const char *const eos[] = {"<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>", NULL};
    d.bos = find_named(v, bos);
    d.eos = find_named(v, eos);
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    for (int id = 0; unk && id < v->n_vocab; id++)
        if (strcmp(v->tokens[id], unk) == 0) d.unk = id;
    // A post-processor that puts bos in front of a single sequence: encode adds it.
    json_t *single = json_object_get(json_object_get(root, "post_processor"), "single");
    json_t *first = json_object_get(json_array_get(single, 0), "SpecialToken");
    const char *first_id = json_string_value(json_object_get(first, "id"));
    d.add_bos = d.bos >= 0 && first_id && strcmp(first_id, v->tokens[d.bos]) == 0;
    return fd_tokenizer_create(&d, out);
}

fd_status fd_tokenizer_from_json(const char *tokenizer_json_path, fd_tokenizer **out) {
    if (!out || !tokenizer_json_path)
        return fd__error(FD_ERR_INVALID_ARG, "fd_tokenizer_from_json: path or out is NULL");
    *out = NULL;
    json_error_t err;
    json_t *root = json_load_file(tokenizer_json_path, 0, &err);
    if (!root && err.line < 0) return fd__error(FD_ERR_IO, "%s: %s", tokenizer_json_path, err.text);
    if (!root) return fd__error(FD_ERR_FORMAT, "%s: line %d: %s", tokenizer_json_path, err.line, err.text);
    json_vocab v;
    memset(&v, 0, sizeof v);
    fd_status s = build_from_json(root, tokenizer_json_path, &v, out);
    for (int i = 0; i < v.n_merges; i++) free(v.merges[i]);
    free(v.merges);
    free(v.tokens);
    free(v.types);
    json_decref(root);
    return s;
}
