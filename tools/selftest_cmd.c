// SPDX-License-Identifier: Apache-2.0
// `fdeploy selftest`: per op and dtype, passed / skipped (why) / failed, on
// every device (or the one asked for) and the CPU reference.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fdeploy/fdeploy.h"

typedef struct tally { int pass, skip, fail; } tally;

static void print_row(const fd_check_row *r, void *user) {
    tally *t = user;
    static const char *names[] = {"passed", "skipped", "FAILED"};
    t->pass += r->result == FD_CHECK_PASS;
    t->skip += r->result == FD_CHECK_SKIP;
    t->fail += r->result == FD_CHECK_FAIL;
    printf("  %-32s %-5s %-8s %s\n", r->op, fd_dtype_name(r->dtype), names[r->result], r->detail);
}

static int run_on(const fd_platform *p, int device, tally *t) {
    fd_ctx *ctx;
    if (fd_ctx_create(p, device, &ctx) != FD_OK) {
        fprintf(stderr, "fdeploy: %s\n", fd_last_error());
        return 1;
    }
    if (device == FD_CPU_DEVICE)
        printf("selftest on CPU (C reference):\n");
    else
        printf("selftest on device %d (%s, SM%d, kernels as SM%d):\n", device,
               fd_platform_device(p, device)->name, fd_platform_device(p, device)->sm,
               fd_ctx_effective_sm(ctx));
    int fails = fd_selftest_run(ctx, print_row, t);
    fd_ctx_free(ctx);
    return fails != 0;
}

int fd_cmd_selftest(int argc, char **argv) {
    int only = -2;  // -2 = all
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            i++;
            only = strcmp(argv[i], "cpu") == 0 ? FD_CPU_DEVICE : atoi(argv[i]);
        } else {
            fprintf(stderr, "fdeploy selftest: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    fd_platform *p;
    if (fd_platform_open(&p) != FD_OK) {
        fprintf(stderr, "fdeploy: %s\n", fd_last_error());
        return 1;
    }
    tally t = {0, 0, 0};
    int bad = 0;
    if (only == -2 || only == FD_CPU_DEVICE) bad |= run_on(p, FD_CPU_DEVICE, &t);
    for (int i = 0; i < fd_platform_device_count(p); i++)
        if (only == -2 || only == i) bad |= run_on(p, i, &t);
    if (only >= 0 && only >= fd_platform_device_count(p)) {
        fprintf(stderr, "fdeploy selftest: no device %d (%d present)\n", only,
                fd_platform_device_count(p));
        bad = 1;
    }
    printf("%d passed, %d failed, %d skipped\n", t.pass, t.fail, t.skip);
    fd_platform_free(p);
    return bad ? 1 : 0;
}
