// SPDX-License-Identifier: Apache-2.0
// `fdeploy run`: one prompt (chat-templated unless --raw), streamed to stdout,
// with sampling flags and stop strings; speed on stderr at the end.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "fdeploy/chat.h"
#include "engine_util.h"
#include "fdeploy/engine.h"
#include "fdeploy/generate.h"
#include "fdeploy/model.h"
#include "fdeploy/sampler.h"
#include "fdeploy/tokenizer.h"

#define MAX_STOPS 8

typedef struct run_opts {
    const char *model, *prompt, *system, *stops[MAX_STOPS];
    int n_stops, max_tokens, n_ctx, n_threads, raw, device;
    int ctx_given;  // -c was given (else n_ctx follows the model once loaded)
    fd_sampling_params sp;
} run_opts;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void run_usage(FILE *f) {
    fprintf(f,
            "usage: fdeploy run [-m model.gguf] -p PROMPT [options]\n"
            "  -m PATH              model (default: $FDEPLOY_MODEL or the embedded default model)\n"
            "  -p TEXT              the user's message (or the raw prompt with --raw)\n"
            "  --system TEXT        system message\n"
            "  --raw                no chat template\n"
            "  -n N                 max tokens to generate (256)\n"
            "  --temp T --top-k K --top-p P --min-p P --seed S\n"
            "  --repeat-penalty R --presence-penalty P --frequency-penalty F\n"
            "  --stop STR           stop string (repeatable, up to 8)\n"
            "  -c N                 context size (2048, or the model's own when shorter);\n"
            "                       -t N threads (all CPUs)\n"
            "  --device cpu|N       run on the CPU (default) or CUDA device N\n");
}

const char *fd_cli_default_model(void) {
    const char *env = getenv("FDEPLOY_MODEL");
    return env && *env ? env : FD_DEFAULT_MODEL;
}

static int parse_run(int argc, char **argv, run_opts *o) {
    memset(o, 0, sizeof *o);
    o->model = fd_cli_default_model();
    o->max_tokens = 256;
    o->n_ctx = 2048;  // without -c, the model's context when shorter
    o->device = -1;
    fd_sampling_params_default(&o->sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { run_usage(stdout); exit(0); }
        if (!strcmp(a, "--raw")) { o->raw = 1; used = 0; }
        else if (!v) { fprintf(stderr, "fdeploy run: %s needs a value\n", a); return 0; }
        else if (!strcmp(a, "-m")) o->model = v;
        else if (!strcmp(a, "-p")) o->prompt = v;
        else if (!strcmp(a, "--system")) o->system = v;
        else if (!strcmp(a, "-n")) o->max_tokens = atoi(v);
        else if (!strcmp(a, "-c")) o->n_ctx = atoi(v), o->ctx_given = 1;
        else if (!strcmp(a, "-t")) o->n_threads = atoi(v);
        else if (!strcmp(a, "--device")) {
            if ((o->device = fd_cli_parse_device(v)) == -2) { fprintf(stderr, "fdeploy run: --device takes cpu or a GPU index\n"); return 0; }
        }
        else if (!strcmp(a, "--temp")) o->sp.temperature = (float)atof(v);
        else if (!strcmp(a, "--top-k")) o->sp.top_k = atoi(v);
        else if (!strcmp(a, "--top-p")) o->sp.top_p = (float)atof(v);
        else if (!strcmp(a, "--min-p")) o->sp.min_p = (float)atof(v);
        else if (!strcmp(a, "--seed")) o->sp.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--repeat-penalty")) o->sp.repetition_penalty = (float)atof(v);
        else if (!strcmp(a, "--presence-penalty")) o->sp.presence_penalty = (float)atof(v);
        else if (!strcmp(a, "--frequency-penalty")) o->sp.frequency_penalty = (float)atof(v);
        else if (!strcmp(a, "--stop") && o->n_stops < MAX_STOPS) o->stops[o->n_stops++] = v;
        else { fprintf(stderr, "fdeploy run: unknown option '%s'\n", a); run_usage(stderr); return 0; }
        i += used;
    }
    if (!o->prompt) { run_usage(stderr); return 0; }
    if (o->max_tokens < 1 || o->n_ctx < 16) { fprintf(stderr, "fdeploy run: -n and -c must be positive\n"); return 0; }
    return 1;
}

// Builds the prompt text (chat template unless raw); caller frees.
static char *build_prompt(const fd_model *m, const run_opts *o) {
    if (o->raw) return strdup(o->prompt);
    fd_chat_message msgs[2];
    int n = 0;
    if (o->system) msgs[n++] = (fd_chat_message){"system", o->system};
    msgs[n++] = (fd_chat_message){"user", o->prompt};
    char *out = NULL;
    if (fd_chat_apply(fd_model_chat_template(m), msgs, n, 1, &out) != FD_OK) {
        fprintf(stderr, "fdeploy run: %s (use --raw to send the prompt as is)\n", fd_last_error());
        return NULL;
    }
    return out;
}

static int print_text(const char *text, size_t len, void *user) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

// GPU: the request goes through the engine (the GPU backend lives there).
static int run_on_engine(fd_model *m, const run_opts *o, const int32_t *ids, int n) {
    fd_engine_params ep;
    fd_engine_params_default(&ep);
    ep.device = o->device;
    ep.max_num_seqs = 1;
    ep.max_model_len = o->n_ctx;
    fd_engine *e;
    if (fd_engine_create(m, &ep, &e) != FD_OK) {
        fprintf(stderr, "fdeploy run: %s\n", fd_last_error());
        return 1;
    }
    char desc[512];
    fd_engine_describe(e, desc, sizeof desc);
    fprintf(stderr, "fdeploy: %s\n", desc);
    fd_request_params rp;
    fd_request_params_default(&rp);
    rp.sampling = o->sp;
    rp.max_tokens = o->max_tokens < o->n_ctx - n ? o->max_tokens : o->n_ctx - n;
    rp.stops = o->stops;
    rp.n_stops = o->n_stops;
    fd_cli_request q;
    int rc = 0;
    if (fd_cli_run_request(e, ids, n, &rp, 1, &q) != FD_OK) {
        fprintf(stderr, "fdeploy run: %s\n", fd_last_error());
        rc = 1;
    } else {
        double pp = q.t_first - q.t_submit, tg = q.t_last - q.t_first;
        printf("\n");
        fflush(stdout);
        fprintf(stderr, "fdeploy: prompt %d tokens in %.3f s (%.1f tok/s), generated %d tokens (%.1f tok/s), finish: %s%s%s\n",
                n, pp, n / (pp > 0 ? pp : 1e-9), q.n_tokens, q.n_tokens > 1 ? (q.n_tokens - 1) / (tg > 0 ? tg : 1e-9) : 0.0,
                q.reason, q.error[0] ? ": " : "", q.error);
    }
    fd_engine_free(e);
    return rc;
}

int fd_cmd_run(int argc, char **argv) {
    run_opts o;
    if (!parse_run(argc, argv, &o)) return 2;
    if (fd_sampling_params_check(&o.sp) != FD_OK) {
        fprintf(stderr, "fdeploy run: %s\n", fd_last_error());
        return 2;
    }
    fd_model_params mp = {o.n_threads, 1};
    fd_model *m = NULL;
    fd_session *s = NULL;
    char *prompt = NULL, summary[512];
    int32_t *ids = NULL;
    int rc = 1, n = 0;
    double t0 = now_s();
    if (fd_model_load(o.model, &mp, &m) != FD_OK) {
        fprintf(stderr, "fdeploy run: %s\n", fd_last_error());
        if (strcmp(o.model, FD_DEFAULT_MODEL) == 0)
            fprintf(stderr, "fdeploy run: the default model is installed by scripts/setup.sh\n");
        return 1;
    }
    if (!o.ctx_given) {
        const int train = fd_model_get_info(m)->n_ctx_train;
        if (train > 0 && train < o.n_ctx) o.n_ctx = train;
    }
    fd_model_summary(m, o.n_ctx, summary, sizeof summary);
    fprintf(stderr, "fdeploy: %s (loaded in %.2f s)\n", summary, now_s() - t0);
    const fd_tokenizer *tok = fd_model_tokenizer(m);
    if (!(prompt = build_prompt(m, &o))) goto done;
    fd_tokenizer_encode(tok, prompt, strlen(prompt), FD_TOKENIZE_ADD_SPECIAL | FD_TOKENIZE_PARSE_SPECIAL, NULL, 0, &n);
    ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (!ids || fd_tokenizer_encode(tok, prompt, strlen(prompt), FD_TOKENIZE_ADD_SPECIAL | FD_TOKENIZE_PARSE_SPECIAL,
                                    ids, n, &n) != FD_OK ||
        (o.device < 0 && fd_session_create(m, o.n_ctx, &s) != FD_OK)) {
        fprintf(stderr, "fdeploy run: %s\n", fd_last_error());
        goto done;
    }
    if (n >= o.n_ctx) {
        fprintf(stderr, "fdeploy run: the prompt has %d tokens, the context only %d (raise -c)\n", n, o.n_ctx);
        goto done;
    }
    if (o.device >= 0) {
        rc = run_on_engine(m, &o, ids, n);
        goto done;
    }
    fd_generate_params gp = {o.max_tokens, o.stops, o.n_stops, o.sp};
    fd_generate_stats st;
    if (fd_generate(s, tok, ids, n, &gp, print_text, NULL, NULL, 0, &st) != FD_OK) {
        fprintf(stderr, "\nfdeploy run: %s\n", fd_last_error());
        goto done;
    }
    printf("\n");
    fflush(stdout);
    fprintf(stderr, "fdeploy: prompt %d tokens in %.2f s (%.1f tok/s), generated %d tokens in %.2f s (%.1f tok/s), finish: %s\n",
            st.n_prompt, st.prompt_s, st.n_prompt / (st.prompt_s > 0 ? st.prompt_s : 1e-9), st.n_generated,
            st.generate_s, st.n_generated / (st.generate_s > 0 ? st.generate_s : 1e-9),
            fd_finish_reason_name(st.finish));
    rc = 0;
done:
    free(ids);
    free(prompt);
    fd_session_free(s);
    fd_model_free(m);
    return rc;
}
