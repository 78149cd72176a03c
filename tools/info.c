// SPDX-License-Identifier: Apache-2.0
// `fdeploy info`: the build, the devices and the op table, for people or (--json) programs.
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fdeploy/fdeploy.h"

static void archs_str(const fd_build_info *b, char *buf, size_t n) {
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < b->n_archs && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%d", i ? "," : "", b->archs[i]);
    if (len < n) snprintf(buf + len, n - len, "]");
}

static void print_text(const fd_platform *p) {
    const fd_build_info *b = fd_platform_build(p);
    char archs[64];
    archs_str(b, archs, sizeof archs);
    printf("fdeploy %s\n", b->version);
    if (b->cuda)
        printf("build:    CUDA %s, SASS %s, PTX compute_%d\n", b->toolkit, archs, b->ptx_arch);
    else
        printf("build:    CPU-only (no CUDA kernels)\n");
    int n = fd_platform_device_count(p);
    printf("devices:  %d CUDA%s%s\n", n, fd_platform_note(p)[0] ? " — " : "",
           fd_platform_note(p));
    for (int i = 0; i < n; i++) {
        const fd_device_info *d = fd_platform_device(p, i);
        printf("  [%d] %s  SM%d  %d SMs  %.1f/%.1f GiB free  peak %.0f GB/s\n", i, d->name,
               d->sm, d->n_multiprocessors, d->free_bytes / 1073741824.0,
               d->total_bytes / 1073741824.0, d->peak_bw_gbs);
        if (d->image == FD_IMAGE_NONE)
            printf("      kernels: none of this build's images run here\n");
        else
            printf("      kernels: %s from %s%d -> effective SM%d (probe kernel ran as SM%d)\n",
                   fd_image_kind_name(d->image), d->image == FD_IMAGE_SASS ? "sm_" : "compute_",
                   d->image_arch, d->effective_sm, d->probe_arch);
    }
    printf("platform: %s\n", n ? "CUDA" : "CPU");
    printf("ops (%d):\n", fd_op_count());
    for (int op = 0; op < fd_op_count(); op++) {
        const char *name = fd_op_name(op);
        printf("  %-32s cpu:yes", name);
        for (int i = 0; i < n; i++) {
            char why[512];
            int ok = fd_op_available(p, name, i, why, sizeof why);
            printf("  gpu%d:%s", i, ok ? "yes" : "no");
            if (!ok) printf("\n      %s", why);
        }
        printf("\n");
    }
}

static json_t *json_info(const fd_platform *p) {
    const fd_build_info *b = fd_platform_build(p);
    json_t *archs = json_array(), *devs = json_array(), *ops = json_array();
    for (int i = 0; i < b->n_archs; i++) json_array_append_new(archs, json_integer(b->archs[i]));
    int n = fd_platform_device_count(p);
    for (int i = 0; i < n; i++) {
        const fd_device_info *d = fd_platform_device(p, i);
        json_array_append_new(
            devs, json_pack("{s:i, s:s, s:i, s:i, s:I, s:I, s:f, s:s, s:i, s:i, s:i}", "index",
                            i, "name", d->name, "sm", d->sm, "multiprocessors",
                            d->n_multiprocessors, "total_bytes", (json_int_t)d->total_bytes,
                            "free_bytes", (json_int_t)d->free_bytes, "peak_bw_gbs",
                            d->peak_bw_gbs, "image", fd_image_kind_name(d->image),
                            "image_arch", d->image_arch, "effective_sm", d->effective_sm,
                            "probe_arch", d->probe_arch));
    }
    for (int op = 0; op < fd_op_count(); op++) {
        const char *name = fd_op_name(op);
        json_t *avail = json_array();
        for (int i = 0; i < n; i++) {
            char why[512];
            int ok = fd_op_available(p, name, i, why, sizeof why);
            json_array_append_new(avail, json_pack("{s:i, s:b, s:s}", "device", i, "available",
                                                   ok, "reason", why));
        }
        json_array_append_new(ops, json_pack("{s:s, s:b, s:o}", "name", name, "cpu", 1,
                                             "devices", avail));
    }
    return json_pack("{s:s, s:{s:b, s:o, s:i, s:s}, s:s, s:s, s:o, s:o}", "version",
                     b->version, "build", "cuda", b->cuda, "archs", archs, "ptx_arch",
                     b->ptx_arch, "toolkit", b->toolkit, "platform", n ? "cuda" : "cpu",
                     "note", fd_platform_note(p), "devices", devs, "ops", ops);
}

int fd_cmd_info(int argc, char **argv) {
    int as_json = argc > 1 && strcmp(argv[1], "--json") == 0;
    fd_platform *p;
    if (fd_platform_open(&p) != FD_OK) {
        fprintf(stderr, "fdeploy: %s\n", fd_last_error());
        return 1;
    }
    if (as_json) {
        json_t *j = json_info(p);
        char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        if (s) puts(s);
        free(s);
        json_decref(j);
    } else {
        print_text(p);
    }
    fd_platform_free(p);
    return 0;
}
