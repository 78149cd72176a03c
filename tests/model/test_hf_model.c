// SPDX-License-Identifier: Apache-2.0
// Hugging Face model directories: the tiny random models of tests/fixtures/tiny-*
// (scripts/make_tiny_models.py) load with the right hyperparameters, tensor names,
// tokenizer and template; fd_model_load runs them and their logits match Hugging Face
// transformers' (tests/fixtures/tiny_logits.json, made by the same script's --logits);
// shards through an index load the same model; broken directories give clear errors.
#include <jansson.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd_test.h"
#include "fdeploy/model.h"
#include "model/forward_cpu.h"
#include "model/forward_gpu.h"
#include "model/hf_model.h"
#include "model/model_internal.h"
#include "model/safetensors.h"

#define FIX FD_SOURCE_DIR "/tests/fixtures/"
#define TOL 1e-3

typedef struct tiny {
    const char *dir, *arch, *quant;
    int n_layer, head_dim, n_ff, n_vocab, tie, bias, qk_norm;
    double rope_base;
    const char *rope_scaling;
} tiny;

static const tiny TINY[] = {
    {"tiny-llama", "llama", "F32", 2, 64, 128, 299, 0, 0, 0, 10000.0, ""},
    {"tiny-qwen2", "qwen2", "BF16", 2, 64, 96, 320, 1, 1, 0, 1000000.0, ""},
    {"tiny-qwen3", "qwen3", "F16", 2, 64, 96, 299, 1, 0, 1, 1000000.0, ""},
    {"tiny-gemma3", "gemma3", "F32", 3, 64, 96, 299, 1, 0, 1, 1000000.0, "linear"},
    {"tiny-llama31", "llama", "F16", 2, 64, 128, 299, 0, 0, 0, 500000.0, "llama3"},
};
#define N_TINY 5

static void check_shape(const fd__hf_model *m, const char *name, int64_t ne0, int64_t ne1) {
    const fd_gguf_tensor *t = fd__hf_find(m, name);
    if (!t) {
        FD_FAILF("tensor %s is missing", name);
        return;
    }
    if (t->ne[0] != ne0 || t->ne[1] != ne1)
        FD_FAILF("%s: ne [%lld, %lld], expected [%lld, %lld]", name, (long long)t->ne[0], (long long)t->ne[1],
                 (long long)ne0, (long long)ne1);
}

static void open_tiny_models(void) {
    for (int i = 0; i < N_TINY; i++) {
        const tiny *e = &TINY[i];
        fd__hf_model *m = NULL;
        char dir[512];
        snprintf(dir, sizeof dir, FIX "%s%s", e->dir, i == 0 ? "/" : "");  // a trailing slash is fine
        CHECK_OK(fd__hf_open(dir, &m));
        if (!m) continue;
        const fd_model_info *h = fd__hf_info(m);
        CHECK(strcmp(h->arch, e->arch) == 0);
        CHECK(strcmp(h->name, e->dir) == 0);
        CHECK(strcmp(h->quant, e->quant) == 0);
        CHECK_EQ_I64(h->n_layer, e->n_layer);
        CHECK(strcmp(h->rope_scaling, e->rope_scaling) == 0);
        CHECK_EQ_I64(h->n_embd, 64);
        CHECK_EQ_I64(h->n_head, 4);
        CHECK_EQ_I64(h->n_head_kv, 2);
        CHECK_EQ_I64(h->head_dim, e->head_dim);
        CHECK_EQ_I64(h->n_ff, e->n_ff);
        CHECK_EQ_I64(h->n_vocab, e->n_vocab);
        CHECK_EQ_I64(h->n_ctx_train, 256);
        CHECK_NEAR(h->rope_base, e->rope_base, 0);
        CHECK_EQ_I64(h->rope_neox, 1);
        CHECK_EQ_I64(fd__hf_tie_embeddings(m), e->tie);
        int64_t q = 4 * e->head_dim, kv = 2 * e->head_dim;
        check_shape(m, "token_embd.weight", 64, e->n_vocab);
        check_shape(m, "output_norm.weight", 64, 1);
        check_shape(m, "blk.1.attn_norm.weight", 64, 1);
        check_shape(m, "blk.1.attn_q.weight", 64, q);
        check_shape(m, "blk.1.attn_k.weight", 64, kv);
        check_shape(m, "blk.0.attn_output.weight", q, 64);
        check_shape(m, "blk.0.ffn_gate.weight", 64, e->n_ff);
        check_shape(m, "blk.0.ffn_down.weight", e->n_ff, 64);
        check_shape(m, "blk.1.ffn_norm.weight", 64, 1);
        CHECK((fd__hf_find(m, "output.weight") != NULL) == !e->tie);
        CHECK((fd__hf_find(m, "blk.1.attn_v.bias") != NULL) == e->bias);
        CHECK((fd__hf_find(m, "blk.1.attn_k_norm.weight") != NULL) == e->qk_norm);
        CHECK((fd__hf_find(m, "blk.1.post_ffw_norm.weight") != NULL) == (strcmp(e->arch, "gemma3") == 0));
        CHECK(fd__hf_find(m, "blk.3.attn_q.weight") == NULL);
        CHECK_CONTAINS(fd__hf_chat_template(m), "<|im_start|>");
        const fd_tokenizer *tok = fd__hf_tokenizer(m);
        CHECK(tok != NULL);
        if (tok) {
            CHECK_EQ_I64(fd_tokenizer_eos(tok), 298);  // tokenizer_config's <|im_end|>
            CHECK_EQ_I64(fd_tokenizer_bos(tok), strcmp(e->arch, "qwen2") && strcmp(e->arch, "qwen3") ? 297 : -1);
            CHECK(fd_tokenizer_is_eog(tok, 298));
        }
        fd__hf_close(m);
    }
}

// The ids the `tokenizers` library gives (scripts/make_tiny_models.py, PROMPTS[1]).
static void tokenizer_matches_hf(void) {
    static const int32_t want[] = {297, 117, 115, 262, 10, 87, 104, 97, 116, 263, 259, 288, 293, 32, 295,
                                   265, 280, 63, 298, 10, 297, 97, 115, 115, 260, 116, 265, 116, 10};
    static const char text[] = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    fd__hf_model *m = NULL;
    CHECK_OK(fd__hf_open(FIX "tiny-qwen2", &m));
    if (!m) return;
    int32_t ids[64];
    int n = 0;
    CHECK_OK(fd_tokenizer_encode(fd__hf_tokenizer(m), text, strlen(text),
                                 FD_TOKENIZE_ADD_SPECIAL | FD_TOKENIZE_PARSE_SPECIAL, ids, 64, &n));
    CHECK_EQ_I64(n, (int)(sizeof want / sizeof want[0]));
    for (int i = 0; i < n && i < (int)(sizeof want / sizeof want[0]); i++)
        if (ids[i] != want[i]) FD_FAILF("id %d: %d, transformers %d", i, ids[i], want[i]);
    fd__hf_close(m);
}

static void model_load_directory(void) {
    fd_model *m = NULL;
    CHECK_OK(fd_model_load(FIX "tiny-qwen3/config.json", NULL, &m));
    if (!m) return;
    const fd_model_info *h = fd_model_get_info(m);
    CHECK(strcmp(h->arch, "qwen3") == 0);
    CHECK_EQ_I64(h->n_vocab, 299);
    CHECK_EQ_I64(h->head_dim, 64);
    CHECK(h->n_params > 0 && h->weight_bytes > 0);
    CHECK(fd_model_gguf(m) == NULL);
    CHECK_CONTAINS(fd_model_chat_template(m), "<|im_start|>assistant");
    CHECK_EQ_I64(fd_tokenizer_eos(fd_model_tokenizer(m)), 298);
    fd_model_free(m);
}

// The CPU KV cache: K blocks are stored transposed, scored 16 keys at a time,
// so the block size and head_dim must be multiples of 16; else a clear error.
static void cpu_kv_shapes(void) {
    fd_model *m = NULL;
    CHECK_OK(fd_model_load(FIX "tiny-qwen3/config.json", NULL, &m));
    if (!m) return;
    fd__cpu_kv kv;
    CHECK_OK(fd__cpu_kv_alloc(m, 3, 16, &kv));
    fd__cpu_kv_release(&kv);
    CHECK_STATUS(fd__cpu_kv_alloc(m, 3, 24, &kv), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "block size 24");
    m->info.head_dim = 72;  // as a model with 72-dimension heads would load
    CHECK_STATUS(fd__cpu_kv_alloc(m, 3, 64, &kv), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "head_dim 72");
    m->info.head_dim = 64;
    fd_model_free(m);
}

// decode_bytes (the roofline `fdeploy bench` prints): every weight of a tied model;
// of an untied one all but n_vocab - 1 rows of the embedding table.
static void decode_bytes(void) {
    fd_model *tied = NULL, *untied = NULL;
    CHECK_OK(fd_model_load(FIX "tiny-qwen3", NULL, &tied));
    CHECK_OK(fd_model_load(FIX "tiny-llama", NULL, &untied));
    if (!tied || !untied) goto out;
    const fd_model_info *t = fd_model_get_info(tied), *u = fd_model_get_info(untied);
    CHECK_EQ_I64((int64_t)t->decode_bytes, (int64_t)t->weight_bytes);
    CHECK(u->decode_bytes < u->weight_bytes);
    size_t skipped = u->weight_bytes - u->decode_bytes, rows = (size_t)u->n_vocab - 1;
    CHECK_EQ_I64((int64_t)(skipped % rows), 0);
    CHECK(skipped / rows == (size_t)u->n_embd * 2 || skipped / rows == (size_t)u->n_embd * 4);
out:
    fd_model_free(tied);
    fd_model_free(untied);
}

// ---- logits against transformers

// All logits of `ids` from a fresh session (malloc'ed), NULL on failure.
static float *run_all(fd_model *m, const int32_t *ids, int n) {
    fd_session *s = NULL;
    CHECK_OK(fd_session_create(m, 64, &s));
    if (!s) return NULL;
    float *out = malloc((size_t)n * fd_model_get_info(m)->n_vocab * sizeof(float));
    fd_status st = out ? fd_session_eval(s, ids, n, out, 1) : FD_ERR_OOM;
    if (st != FD_OK) FD_FAILF("eval: %s", fd_last_error());
    fd_session_free(s);
    if (st != FD_OK) free(out);
    return st == FD_OK ? out : NULL;
}

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

// Top-1 must agree unless transformers' own top two are closer than `tie` (a tie).
static double compare_rows(const char *what, json_t *ref, const float *got, int n_vocab, double tie) {
    double max_err = 0;
    float *r = malloc((size_t)n_vocab * sizeof(float));
    if (!r) exit(1);
    for (size_t t = 0; t < json_array_size(ref); t++) {
        json_t *row = json_array_get(ref, t);
        if (json_array_size(row) != (size_t)n_vocab) {
            FD_FAILF("%s: fixture row %zu has %zu logits, model has %d", what, t, json_array_size(row), n_vocab);
            break;
        }
        for (int v = 0; v < n_vocab; v++) {
            r[v] = (float)json_number_value(json_array_get(row, (size_t)v));
            double e = fabs(r[v] - got[t * n_vocab + v]);
            if (e > max_err) max_err = e;
        }
        int a = argmax(r, n_vocab), b = argmax(got + t * n_vocab, n_vocab);
        if (a != b && r[a] - r[b] > tie)
            FD_FAILF("%s position %zu: top-1 %d, transformers %d (%.5f vs %.5f)", what, t, b, a, r[b], r[a]);
    }
    free(r);
    return max_err;
}

static void logits_match_transformers(void) {
    json_error_t err;
    json_t *fx = json_load_file(FIX "tiny_logits.json", 0, &err);
    if (!fx) {
        fd_test_skip("no tests/fixtures/tiny_logits.json (make it where torch is installed: "
                     "python3 scripts/make_tiny_models.py --logits tests/fixtures/tiny_logits.json)");
        return;
    }
    json_t *prompts = json_object_get(fx, "prompts");
    for (int i = 0; i < N_TINY; i++) {
        fd_model *m = NULL;
        char dir[512];
        snprintf(dir, sizeof dir, FIX "%s", TINY[i].dir);
        CHECK_OK(fd_model_load(dir, NULL, &m));
        json_t *ref = json_object_get(json_object_get(json_object_get(fx, "models"), TINY[i].dir), "logits");
        CHECK(m && json_array_size(ref) == json_array_size(prompts));
        double worst = 0;
        for (size_t p = 0; m && p < json_array_size(prompts) && p < json_array_size(ref); p++) {
            json_t *jids = json_array_get(prompts, p);
            int32_t ids[64];
            int n = (int)json_array_size(jids);
            for (int k = 0; k < n && k < 64; k++) ids[k] = (int32_t)json_integer_value(json_array_get(jids, (size_t)k));
            float *got = run_all(m, ids, n);
            char what[64];
            snprintf(what, sizeof what, "%s prompt %zu", TINY[i].dir, p);
            double e = got ? compare_rows(what, json_array_get(ref, p), got, fd_model_get_info(m)->n_vocab, TOL) : 1e9;
            if (e > worst) worst = e;
            free(got);
        }
        printf("     %s: max abs logit error %.2e vs transformers %s (tolerance %.0e)\n", TINY[i].dir, worst,
               json_string_value(json_object_get(fx, "transformers")), TOL);
        CHECK(worst <= TOL);
        fd_model_free(m);
    }
    json_decref(fx);
}

// The GPU runner (f16 activations and KV cache) on the same fixtures: every position
// by one decode step each over a non-contiguous block table, and the whole prompt as
// one prefill (its last position). Activations and logits are f16: the tolerance is
// GPU_REL of the largest reference logit (a few f16 ulps there), stated per model.
#define GPU_REL 3e-3

static double gpu_prompt(fd__gpu_runner *r, fd_model *m, const int32_t *ids, int n, json_t *ref, const char *what) {
    int V = fd_model_get_info(m)->n_vocab, one = 1, want = 1, zero = 0;
    int32_t blocks[4] = {3, 1, 2, 0};
    const int32_t *bl = blocks;
    float *got = malloc((size_t)n * V * sizeof(float)), *last = malloc((size_t)V * sizeof(float));
    double worst = 0;
    for (int p = 0; got && last && p < n; p++) {
        fd__cpu_batch b = {1, ids + p, &p, &one, &bl, &want};
        CHECK_OK(fd__gpu_forward(r, &b, got + (size_t)p * V));
    }
    if (got && last) {
        worst = compare_rows(what, ref, got, V, 0.05);
        fd__cpu_batch b = {1, ids, &zero, &n, &bl, &want};  // the prefill path, same cache blocks
        CHECK_OK(fd__gpu_forward(r, &b, last));
        json_t *row = json_array_get(ref, (size_t)n - 1);
        for (int v = 0; v < V; v++)
            worst = fmax(worst, fabs(last[v] - json_number_value(json_array_get(row, (size_t)v))));
    }
    free(got);
    free(last);
    return worst;
}

static void gpu_logits_match_transformers(void) {
    fd_test_env env;
    fd_test_env_open(&env);
    json_error_t err;
    json_t *fx = json_load_file(FIX "tiny_logits.json", 0, &err);
    if (!fx || !fd_test_gpu_for(&env, "append_attention")) {
        if (!fx) fd_test_skip("no tests/fixtures/tiny_logits.json");
        json_decref(fx);
        fd_test_env_close(&env);
        return;
    }
    json_t *prompts = json_object_get(fx, "prompts");
    for (int i = 0; i < N_TINY; i++) {
        fd_model *m = NULL;
        fd__gpu_runner *r = NULL;
        char dir[512];
        snprintf(dir, sizeof dir, FIX "%s", TINY[i].dir);
        CHECK_OK(fd_model_load(dir, NULL, &m));
        if (m) CHECK_OK(fd__gpu_runner_create(m, env.gpu, 4, 16, 64, 1, 64, &r));
        json_t *ref = json_object_get(json_object_get(json_object_get(fx, "models"), TINY[i].dir), "logits");
        double worst = 0, top = 0;
        for (size_t p = 0; p < json_array_size(ref); p++)
            for (size_t t = 0; t < json_array_size(json_array_get(ref, p)); t++) {
                json_t *row = json_array_get(json_array_get(ref, p), t);
                for (size_t v = 0; v < json_array_size(row); v++) top = fmax(top, fabs(json_number_value(json_array_get(row, v))));
            }
        for (size_t p = 0; r && p < json_array_size(prompts); p++) {
            json_t *jids = json_array_get(prompts, p);
            int32_t ids[64];
            int n = (int)json_array_size(jids);
            for (int k = 0; k < n && k < 64; k++) ids[k] = (int32_t)json_integer_value(json_array_get(jids, (size_t)k));
            char what[64];
            snprintf(what, sizeof what, "GPU %s prompt %zu", TINY[i].dir, p);
            worst = fmax(worst, gpu_prompt(r, m, ids, n, json_array_get(ref, p), what));
        }
        printf("     GPU (kernels as SM%d) %s: max abs logit error %.2e vs transformers (tolerance %.2e = %.0e x "
               "max |logit| %.1f)\n", fd_ctx_effective_sm(env.gpu), TINY[i].dir, worst, GPU_REL * top, GPU_REL, top);
        CHECK(worst <= GPU_REL * top);
        fd__gpu_runner_free(r);
        fd_model_free(m);
    }
    json_decref(fx);
    fd_test_env_close(&env);
}

// ---- a scratch directory built from tiny-llama's files

static const char *const SCRATCH_FILES[] = {"config.json", "tokenizer.json", "tokenizer_config.json",
                                            "model.safetensors", "model.safetensors.index.json",
                                            "a.safetensors", "b.safetensors", NULL};

static void copy_file(const char *from, const char *dir, const char *name) {
    char to[512];
    snprintf(to, sizeof to, "%s/%s", dir, name);
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    if (!in || !out) FD_FAILF("copying %s to %s failed", from, to);
    if (in) fclose(in);
    if (out) fclose(out);
}

static void write_json(json_t *j, const char *dir, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (json_dump_file(j, path, 0) != 0) FD_FAILF("writing %s failed", path);
}

// A temp dir with tiny-llama's tokenizer files and config (edited by `edit` if given).
static void make_scratch(char *dir, void (*edit)(json_t *cfg)) {
    strcpy(dir, "/tmp/fd_test_hf_XXXXXX");
    if (!mkdtemp(dir)) exit(1);
    copy_file(FIX "tiny-llama/tokenizer.json", dir, "tokenizer.json");
    copy_file(FIX "tiny-llama/tokenizer_config.json", dir, "tokenizer_config.json");
    json_error_t err;
    json_t *cfg = json_load_file(FIX "tiny-llama/config.json", 0, &err);
    if (!cfg) exit(1);
    if (edit) edit(cfg);
    write_json(cfg, dir, "config.json");
    json_decref(cfg);
}

static void remove_scratch(const char *dir) {
    char p[512];
    for (int i = 0; SCRATCH_FILES[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, SCRATCH_FILES[i]);
        unlink(p);
    }
    rmdir(dir);
}

// Writes the tensors of `src` whose name contains (or, with !has, lacks) `sub` into
// dir/name; records each in the index's weight_map.
static void write_shard(const fd__st_file *src, const char *sub, int has, const char *dir, const char *name,
                        json_t *wm) {
    json_t *hdr = json_object();
    size_t off = 0;
    for (int64_t i = 0; i < fd__st_n_tensors(src); i++) {
        const fd_gguf_tensor *t = fd__st_tensor_at(src, i);
        if ((strstr(t->name, sub) != NULL) != has) continue;
        json_t *shape = json_array();
        for (int d = t->n_dims - 1; d >= 0; d--) json_array_append_new(shape, json_integer(t->ne[d]));
        json_object_set_new(hdr, t->name, json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape,
                                                    "data_offsets", (json_int_t)off, (json_int_t)(off + t->bytes)));
        json_object_set_new(wm, t->name, json_string(name));
        off += t->bytes;
    }
    char *h = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER), path[512];
    uint64_t hl = (strlen(h) + 7) / 8 * 8;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) exit(1);
    fwrite(&hl, 8, 1, f);
    fprintf(f, "%-*s", (int)hl, h);
    for (int64_t i = 0; i < fd__st_n_tensors(src); i++) {
        const fd_gguf_tensor *t = fd__st_tensor_at(src, i);
        if ((strstr(t->name, sub) != NULL) == has) fwrite(t->data, 1, t->bytes, f);
    }
    fclose(f);
    free(h);
    json_decref(hdr);
}

// tiny-llama split over two shards through an index gives the same logits, bit for bit.
static void sharded_model(void) {
    static const int32_t ids[] = {297, 117, 115, 101, 114, 10, 87, 104};
    char dir[64];
    make_scratch(dir, NULL);
    fd__st_file *src = NULL;
    CHECK_OK(fd__st_open(FIX "tiny-llama/model.safetensors", &src));
    if (!src) return;
    json_t *index = json_object(), *wm = json_object();
    write_shard(src, "layers.1.", 0, dir, "a.safetensors", wm);
    write_shard(src, "layers.1.", 1, dir, "b.safetensors", wm);
    json_object_set_new(index, "weight_map", wm);
    write_json(index, dir, "model.safetensors.index.json");
    fd__st_close(src);
    fd_model *whole = NULL, *split = NULL;
    CHECK_OK(fd_model_load(FIX "tiny-llama", NULL, &whole));
    CHECK_OK(fd_model_load(dir, NULL, &split));
    if (whole && split) {
        float *a = run_all(whole, ids, 8), *b = run_all(split, ids, 8);
        CHECK(a && b && memcmp(a, b, 8 * 299 * sizeof(float)) == 0);
        free(a);
        free(b);
    }
    // An index that puts a tensor in the wrong shard is an incomplete download.
    json_object_set_new(wm, "model.norm.weight", json_string("b.safetensors"));
    write_json(index, dir, "model.safetensors.index.json");
    fd__hf_model *h = NULL;
    CHECK_STATUS(fd__hf_open(dir, &h), FD_ERR_FORMAT);
    CHECK_CONTAINS(fd_last_error(), "model.norm.weight in b.safetensors");
    json_object_set_new(wm, "model.norm.weight", json_string("../a.safetensors"));
    write_json(index, dir, "model.safetensors.index.json");
    CHECK_STATUS(fd__hf_open(dir, &h), FD_ERR_FORMAT);
    CHECK_CONTAINS(fd_last_error(), "not a plain file name");
    json_decref(index);
    fd_model_free(whole);
    fd_model_free(split);
    remove_scratch(dir);
}

// ---- broken directories

static void set_mistral(json_t *c) { json_object_set_new(c, "architectures", json_pack("[s]", "MistralForCausalLM")); }
static void set_yarn_rope(json_t *c) {
    json_object_set_new(c, "rope_scaling", json_pack("{s:s, s:f}", "rope_type", "yarn", "factor", 8.0));
}
static void drop_layers(json_t *c) { json_object_del(c, "num_hidden_layers"); }
static void one_layer(json_t *c) { json_object_set_new(c, "num_hidden_layers", json_integer(1)); }

static void expect_error(void (*edit)(json_t *), int with_weights, fd_status want, const char *msg) {
    char dir[64];
    make_scratch(dir, edit);
    if (with_weights) copy_file(FIX "tiny-llama/model.safetensors", dir, "model.safetensors");
    fd__hf_model *m = NULL;
    CHECK_STATUS(fd__hf_open(dir, &m), want);
    CHECK_CONTAINS(fd_last_error(), msg);
    fd__hf_close(m);
    remove_scratch(dir);
}

static void broken_directories(void) {
    fd__hf_model *m = NULL;
    CHECK_STATUS(fd__hf_open("/nonexistent/model", &m), FD_ERR_IO);
    CHECK_CONTAINS(fd_last_error(), "/nonexistent/model/config.json");
    expect_error(set_mistral, 1, FD_ERR_FORMAT, "'MistralForCausalLM' is not supported (LlamaForCausalLM");
    expect_error(set_yarn_rope, 1, FD_ERR_FORMAT, "rope scaling \"yarn\" is not supported");
    expect_error(drop_layers, 1, FD_ERR_FORMAT, "\"num_hidden_layers\" is missing");
    expect_error(one_layer, 1, FD_ERR_FORMAT, "model.layers.1.");
    expect_error(NULL, 0, FD_ERR_NOT_FOUND, "no model.safetensors");
}

FD_TEST_MAIN(FD_CASE(open_tiny_models), FD_CASE(tokenizer_matches_hf), FD_CASE(model_load_directory),
             FD_CASE(cpu_kv_shapes),
             FD_CASE(decode_bytes),
             FD_CASE(logits_match_transformers), FD_CASE(gpu_logits_match_transformers), FD_CASE(sharded_model),
             FD_CASE(broken_directories))
