// SPDX-License-Identifier: Apache-2.0
// `fdeploy bench`: prompt processing (pp) and generation (tg) throughput of a
// model through the engine, like llama-bench: one sequence, random tokens.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "engine_util.h"
#include "fdeploy/model.h"
#include "fdeploy/platform.h"

typedef struct bench_opts { const char *model; int device, pp, tg, reps, threads; } bench_opts;

static int parse_bench(int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){fd_cli_default_model(), -1, 512, 128, 3, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) { fprintf(stderr, "fdeploy bench: %s needs a value\n", a); return 0; }
        if (!strcmp(a, "-m")) o->model = v;
        else if (!strcmp(a, "-p")) o->pp = atoi(v);
        else if (!strcmp(a, "-n")) o->tg = atoi(v);
        else if (!strcmp(a, "-r")) o->reps = atoi(v);
        else if (!strcmp(a, "-t")) o->threads = atoi(v);
        else if (!strcmp(a, "--device") && (o->device = fd_cli_parse_device(v)) == -2) {
            fprintf(stderr, "fdeploy bench: --device takes cpu or a GPU index\n");
            return 0;
        } else if (strcmp(a, "--device")) {
            fprintf(stderr, "usage: fdeploy bench [-m model] [-p 512] [-n 128] [-r 3] [--device cpu|N] [-t threads]\n");
            return 0;
        }
        i++;
    }
    return o->pp > 0 && o->tg > 0 && o->reps > 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Median of the reps of one test; returns tokens/s.
static double run_test(fd_engine *e, const int32_t *ids, int n_prompt, int n_gen, int reps, int gen) {
    double best[16] = {0};
    if (reps > 16) reps = 16;
    fd_request_params rp;
    fd_request_params_default(&rp);
    rp.sampling.temperature = 0;
    rp.max_tokens = gen ? n_gen + 1 : 1;
    rp.ignore_eos = 1;
    for (int r = 0; r < reps; r++) {
        fd_cli_request q;
        if (fd_cli_run_request(e, ids, n_prompt, &rp, 0, &q) != FD_OK) return 0;
        // pp: submit to first token (the prompt's forward); tg: first to last token.
        best[r] = gen ? n_gen / (q.t_last - q.t_first) : n_prompt / (q.t_first - q.t_submit);
    }
    qsort(best, (size_t)reps, sizeof best[0], cmp_double);
    return best[reps / 2];
}

int fd_cmd_bench(int argc, char **argv) {
    bench_opts o;
    if (!parse_bench(argc, argv, &o)) return 2;
    fd_model_params mp = {o.threads, 0};
    fd_model *m = NULL;
    fd_engine *e = NULL;
    if (fd_model_load(o.model, &mp, &m) != FD_OK) {
        fprintf(stderr, "fdeploy bench: %s\n", fd_last_error());
        return 1;
    }
    fd_engine_params ep;
    fd_engine_params_default(&ep);
    ep.device = o.device;
    ep.max_num_seqs = 1;
    ep.max_model_len = o.pp + o.tg + 16;
    ep.max_num_batched_tokens = o.pp > ep.max_num_batched_tokens ? o.pp : ep.max_num_batched_tokens;
    ep.enable_prefix_caching = 0;  // every rep recomputes its prompt
    ep.n_threads = o.threads;
    if (fd_engine_create(m, &ep, &e) != FD_OK) {
        fprintf(stderr, "fdeploy bench: %s\n", fd_last_error());
        fd_model_free(m);
        return 1;
    }
    int n_vocab = fd_model_get_info(m)->n_vocab;
    int32_t *ids = malloc((size_t)o.pp * sizeof *ids);
    uint64_t x = 12345;
    for (int i = 0; i < o.pp; i++) {  // random ordinary tokens, as llama-bench does
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = 100 + (int32_t)((x >> 33) % (uint64_t)(n_vocab - 200));
    }
    const fd_model_info *h = fd_model_get_info(m);
    char dev[16];
    snprintf(dev, sizeof dev, o.device < 0 ? "cpu" : "cuda:%d", o.device);
    double pp = run_test(e, ids, o.pp, 0, o.reps, 0), tg = run_test(e, ids, 8, o.tg, o.reps, 1);
    // decode's roofline: the weights it reads a token against the memory's peak
    // (GPU: DRAM peak from the device; CPU: streaming reads measured here)
    double peak = 0;
    const char *peak_kind = "measured read";
    if (o.device >= 0) {
        fd_platform *pl = NULL;
        if (fd_platform_open(&pl) == FD_OK) {
            const fd_device_info *d = fd_platform_device(pl, o.device);
            peak = d ? d->peak_bw_gbs : 0;
            fd_platform_free(pl);
        }
        peak_kind = "DRAM peak";
    } else {
        peak = fd_cli_read_gbs(o.threads);
    }
    double gbs = tg * (double)h->decode_bytes / 1e9;
    char roof[96] = "-";
    if (peak > 0)
        snprintf(roof, sizeof roof, "%.1f GB/s of weights, %.0f%% of %.1f GB/s %s", gbs,
                 100 * gbs / peak, peak, peak_kind);
    printf("| model | params | quant | device | test | t/s | roofline |\n"
           "|---|---|---|---|---|---|---|\n");
    printf("| %s | %.0fM | %s | %s | pp%d | %.1f | - |\n", h->arch, h->n_params / 1e6, h->quant,
           dev, o.pp, pp);
    printf("| %s | %.0fM | %s | %s | tg%d | %.1f | %s |\n", h->arch, h->n_params / 1e6, h->quant,
           dev, o.tg, tg, roof);
    free(ids);
    fd_engine_free(e);
    fd_model_free(m);
    return pp > 0 && tg > 0 ? 0 : 1;
}
