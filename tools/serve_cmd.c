// SPDX-License-Identifier: Apache-2.0
// `fdeploy serve`: loads a model, starts the engine and serves the OpenAI API
// until SIGINT/SIGTERM.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fdeploy/engine.h"
#include "fdeploy/model.h"
#include "server/server.h"

typedef struct serve_opts {
    const char *model, *served_name;
    fd_server_config srv;
    fd_engine_params ep;
} serve_opts;

static void serve_usage(FILE *f) {
    fprintf(f,
            "usage: fdeploy serve [-m model.gguf] [options]\n"
            "  -m PATH                       model (default: $FDEPLOY_MODEL or the default model)\n"
            "  --host ADDR                   address to listen on (127.0.0.1)\n"
            "  --port N                      port (8000; 0 = any free port)\n"
            "  --api-key KEY                 require 'Authorization: Bearer KEY' (not on /health)\n"
            "  --served-model-name NAME      the model id of the API (the file name)\n"
            "  --max-num-seqs N              sequences running at once (64)\n"
            "  --max-model-len N             prompt + output tokens per sequence (model's, <= 4096)\n"
            "  --max-num-batched-tokens N    tokens per engine step (2048)\n"
            "  --block-size N                tokens per KV block (64)\n"
            "  --gpu-memory-utilization F    fraction of free GPU memory for the KV cache (0.5)\n"
            "  --kv-cache-bytes N            KV cache size in bytes (CPU default 1 GiB)\n"
            "  --device cpu|N                backend (cpu)\n"
            "  --no-prefix-caching           turn prefix caching off\n"
            "  -t N                          CPU threads (all)\n");
}

// The model id: the file name without directories and ".gguf".
static void model_id(const char *path, char *out, size_t n) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, n, "%s", base);
    size_t len = strlen(out);
    if (len > 5 && !strcmp(out + len - 5, ".gguf")) out[len - 5] = '\0';
}

static int parse_int(const char *flag, const char *v, long long lo, long long hi, long long *out) {
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x < lo || x > hi) {
        fprintf(stderr, "fdeploy serve: %s '%s' must be an integer in [%lld, %lld]\n", flag, v, lo, hi);
        return 0;
    }
    *out = x;
    return 1;
}

static int parse_value(serve_opts *o, const char *a, const char *v) {
    long long x = 0;
    if (!strcmp(a, "-m")) o->model = v;
    else if (!strcmp(a, "--host")) o->srv.host = v;
    else if (!strcmp(a, "--api-key")) o->srv.api_key = v;
    else if (!strcmp(a, "--served-model-name")) o->served_name = v;
    else if (!strcmp(a, "--port")) { if (!parse_int(a, v, 0, 65535, &x)) return 0; o->srv.port = (int)x; }
    else if (!strcmp(a, "--max-num-seqs")) { if (!parse_int(a, v, 1, 1024, &x)) return 0; o->ep.max_num_seqs = (int)x; }
    else if (!strcmp(a, "--max-model-len")) { if (!parse_int(a, v, 16, 1 << 24, &x)) return 0; o->ep.max_model_len = (int)x; }
    else if (!strcmp(a, "--max-num-batched-tokens")) { if (!parse_int(a, v, 1, 1 << 24, &x)) return 0; o->ep.max_num_batched_tokens = (int)x; }
    else if (!strcmp(a, "--block-size")) { if (!parse_int(a, v, 1, 1024, &x)) return 0; o->ep.block_size = (int)x; }
    else if (!strcmp(a, "--kv-cache-bytes")) { if (!parse_int(a, v, 1, (long long)1 << 50, &x)) return 0; o->ep.kv_cache_bytes = (size_t)x; }
    else if (!strcmp(a, "-t")) { if (!parse_int(a, v, 0, 4096, &x)) return 0; o->ep.n_threads = (int)x; }
    else if (!strcmp(a, "--device")) {
        if (!strcmp(v, "cpu")) o->ep.device = -1;
        else if (parse_int(a, v, 0, 64, &x)) o->ep.device = (int)x;
        else return 0;
    } else if (!strcmp(a, "--gpu-memory-utilization")) {
        char *end;
        o->ep.gpu_memory_utilization = strtod(v, &end);
        if (*end || o->ep.gpu_memory_utilization <= 0 || o->ep.gpu_memory_utilization > 1) {
            fprintf(stderr, "fdeploy serve: --gpu-memory-utilization '%s' must be in (0, 1]\n", v);
            return 0;
        }
    } else {
        fprintf(stderr, "fdeploy serve: unknown option '%s'\n", a);
        serve_usage(stderr);
        return 0;
    }
    return 1;
}

static int parse_serve(int argc, char **argv, serve_opts *o) {
    memset(o, 0, sizeof *o);
    o->model = fd_cli_default_model();
    o->srv.host = "127.0.0.1";
    o->srv.port = 8000;
    fd_engine_params_default(&o->ep);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { serve_usage(stdout); exit(0); }
        if (!strcmp(a, "--no-prefix-caching")) { o->ep.enable_prefix_caching = 0; continue; }
        if (i + 1 >= argc) {
            fprintf(stderr, "fdeploy serve: %s needs a value\n", a);
            return 0;
        }
        if (!parse_value(o, a, argv[++i])) return 0;
    }
    return 1;
}

int fd_cmd_serve(int argc, char **argv) {
    serve_opts o;
    if (!parse_serve(argc, argv, &o)) return 2;
    char id[256];
    model_id(o.model, id, sizeof id);
    o.srv.model_id = o.served_name ? o.served_name : id;
    fd_model_params mp = {o.ep.n_threads, 0};
    fd_model *m = NULL;
    fd_engine *e = NULL;
    if (fd_model_load(o.model, &mp, &m) != FD_OK) {
        fprintf(stderr, "fdeploy serve: %s\n", fd_last_error());
        if (strcmp(o.model, FD_DEFAULT_MODEL) == 0)
            fprintf(stderr, "fdeploy serve: the default model is installed by scripts/setup.sh\n");
        return 1;
    }
    if (fd_engine_create(m, &o.ep, &e) != FD_OK) {
        fprintf(stderr, "fdeploy serve: %s\n", fd_last_error());
        fd_model_free(m);
        return 1;
    }
    char summary[512];
    fd_model_summary(m, fd_engine_max_model_len(e), summary, sizeof summary);
    fprintf(stderr, "fdeploy: %s\n", summary);
    fd_engine_describe(e, summary, sizeof summary);
    fprintf(stderr, "fdeploy: %s\n", summary);
    fd_status st = fd_server_run(e, m, &o.srv);
    if (st != FD_OK) fprintf(stderr, "fdeploy serve: %s\n", fd_last_error());
    fd_engine_free(e);
    fd_model_free(m);
    fprintf(stderr, "fdeploy: server stopped\n");
    return st == FD_OK ? 0 : 1;
}
