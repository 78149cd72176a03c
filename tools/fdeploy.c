// SPDX-License-Identifier: Apache-2.0
// The fdeploy program: argument parsing and subcommand dispatch only.
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fdeploy/fdeploy.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: fdeploy <command> [options]\n"
            "commands:\n"
            "  info [--json]              platform: devices, SM, compiled archs, op table\n"
            "  selftest [--device N|cpu]  check every op against its C reference\n"
            "  run [-m model.gguf] -p TEXT  generate (fdeploy run -h for options)\n"
            "  bench [-m model.gguf] [-p 512] [-n 128] [--device cpu|N]  pp/tg tokens/s\n"
            "  serve [-m model.gguf]      OpenAI-compatible HTTP server (fdeploy serve -h)\n"
            "  bench-ops [--device N|cpu] [--iters N] [--op NAME]  time every op at batch 64\n"
            "  version                    print the version and build\n"
            "environment: FDEPLOY_DEVICE=cpu forces the CPU backend; FDEPLOY_SYNC=1 checks\n"
            "every kernel synchronously; FDEPLOY_LOG=debug|info|warn|error\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "info") == 0) return fd_cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "selftest") == 0) return fd_cmd_selftest(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0) return fd_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) return fd_cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0) return fd_cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "bench-ops") == 0) return fd_cmd_bench_ops(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        fd_build_info b;
        fd_build_info_get(&b);
        printf("fdeploy %s (%s)\n", b.version, b.cuda ? b.toolkit : "CPU-only");
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "fdeploy: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
