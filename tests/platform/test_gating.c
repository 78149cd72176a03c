// SPDX-License-Identifier: Apache-2.0
// Arch gating with simulated builds and devices: which image runs where, the
// effective arch, and op availability with its reason.
#include "fd_test.h"
#include "platform/op_table.h"

static fd_build_info build_of(const int *archs, int n) {
    fd_build_info b;
    memset(&b, 0, sizeof b);
    b.cuda = n > 0;
    b.n_archs = n;
    for (int i = 0; i < n; i++) b.archs[i] = archs[i];
    b.ptx_arch = n ? archs[n - 1] : 0;
    snprintf(b.toolkit, sizeof b.toolkit, "%s", n ? "sim" : "");
    return b;
}

static fd_device_info device_of(const char *name, int sm) {
    fd_device_info d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "%s", name);
    d.sm = sm;
    return d;
}

static void image_rule(void) {
    int a;
    fd_build_info b70 = build_of((int[]){70}, 1), b8090 = build_of((int[]){80, 90}, 2),
                  b80 = build_of((int[]){80}, 1), cpu = build_of(NULL, 0);
    CHECK_EQ_I64(fd_image_select(&b70, 70, &a), FD_IMAGE_SASS);
    CHECK_EQ_I64(a, 70);
    CHECK_EQ_I64(fd_image_select(&b70, 90, &a), FD_IMAGE_PTX_JIT);
    CHECK_EQ_I64(a, 70);
    CHECK_EQ_I64(fd_image_select(&b8090, 86, &a), FD_IMAGE_SASS);  // same major
    CHECK_EQ_I64(a, 80);
    CHECK_EQ_I64(fd_image_select(&b8090, 90, &a), FD_IMAGE_SASS);
    CHECK_EQ_I64(a, 90);
    CHECK_EQ_I64(fd_image_select(&b8090, 100, &a), FD_IMAGE_PTX_JIT);
    CHECK_EQ_I64(a, 90);
    CHECK_EQ_I64(fd_image_select(&b80, 70, &a), FD_IMAGE_NONE);
    CHECK_EQ_I64(fd_image_select(&b80, 75, &a), FD_IMAGE_NONE);
    CHECK_EQ_I64(fd_image_select(&cpu, 90, &a), FD_IMAGE_NONE);
}

// A [70] build on an H100: PTX JIT, effective arch 70, every base op available.
static void build70_on_sm90(void) {
    fd_build_info b = build_of((int[]){70}, 1);
    fd_device_info d = device_of("H100 (simulated)", 90);
    fd_platform *p;
    CHECK_OK(fd_platform_open_simulated(&b, &d, 1, &p));
    const fd_device_info *got = fd_platform_device(p, 0);
    CHECK_EQ_I64(got->image, FD_IMAGE_PTX_JIT);
    CHECK_EQ_I64(got->effective_sm, 70);
    for (int op = 0; op < fd_op_count(); op++) {
        const fd__op_variant *best = NULL;
        for (int v = 0; v < FD_VAR_COUNT; v++) {
            const fd__op_variant *var = fd__op_variant_at(v);
            if (var->op == op && var->min_sm <= 70) best = var;
        }
        char why[512];
        int ok = fd_op_available(p, fd_op_name(op), 0, why, sizeof why);
        // Available exactly when the table has an SM70-or-lower variant compiled here.
        if (best && best->built) CHECK(ok);
        if (!best) CHECK(!ok);
    }
    fd_platform_free(p);
}

// A [80] build on a V100: no image, nothing runs, and the reason says so.
static void build80_on_sm70(void) {
    fd_build_info b = build_of((int[]){80}, 1);
    fd_device_info d = device_of("V100 (simulated)", 70);
    fd_platform *p;
    CHECK_OK(fd_platform_open_simulated(&b, &d, 1, &p));
    CHECK_EQ_I64(fd_platform_device(p, 0)->image, FD_IMAGE_NONE);
    CHECK_EQ_I64(fd_platform_device(p, 0)->effective_sm, 0);
    char why[512];
    CHECK(!fd_op_available(p, "rebuild_padding", 0, why, sizeof why));
    CHECK_CONTAINS(why, "rebuild_padding");
    CHECK_CONTAINS(why, "SM70");
    CHECK_CONTAINS(why, "./build.sh \"[70]\"");
    CHECK(fd_op_available(p, "rebuild_padding", FD_CPU_DEVICE, why, sizeof why));
    fd_platform_free(p);
}

// A CPU-only build: a CPU platform, every op available on the CPU only.
static void cpu_only_build(void) {
    fd_build_info b = build_of(NULL, 0);
    fd_platform *p;
    CHECK_OK(fd_platform_open_simulated(&b, NULL, 0, &p));
    CHECK_EQ_I64(fd_platform_device_count(p), 0);
    CHECK(!fd_platform_build(p)->cuda);
    for (int op = 0; op < fd_op_count(); op++)
        CHECK(fd_op_available(p, fd_op_name(op), FD_CPU_DEVICE, NULL, 0));
    char why[256];
    CHECK(!fd_op_available(p, "rebuild_padding", 0, why, sizeof why));
    CHECK_CONTAINS(why, "no CUDA device 0");
    fd_platform_free(p);
}

// An op called on a device it cannot run on returns FD_ERR_UNSUPPORTED_ARCH
// with the op, the SM and the fix in the message — never a crash.
static void unsupported_call_is_an_error(void) {
    fd_build_info b = build_of((int[]){80}, 1);
    fd_device_info d = device_of("V100 (simulated)", 70);
    fd_platform *p;
    CHECK_OK(fd_platform_open_simulated(&b, &d, 1, &p));
    int variant = 0;
    CHECK_STATUS(fd__op_select(p, 0, FD_OP_ID_rebuild_padding, FD_F16, &variant),
                 FD_ERR_UNSUPPORTED_ARCH);
    CHECK_CONTAINS(fd_last_error(), "rebuild_padding");
    CHECK_CONTAINS(fd_last_error(), "SM70");
    CHECK_STATUS(fd__op_select(p, 0, FD_OP_ID_rebuild_padding, FD_I8, &variant),
                 FD_ERR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(fd__op_select(p, FD_CPU_DEVICE, FD_OP_ID_rebuild_padding, FD_I64, &variant),
                 FD_ERR_UNSUPPORTED_DTYPE);
    CHECK_OK(fd__op_select(p, FD_CPU_DEVICE, FD_OP_ID_rebuild_padding, FD_BF16, &variant));
    CHECK_EQ_I64(variant, FD_VAR_REF);
    fd_platform_free(p);
}

// Variant choice: the highest min_sm the effective arch reaches.
static void picks_highest_variant(void) {
    int a;
    fd_build_info b = build_of((int[]){70, 90}, 2);
    CHECK_EQ_I64(fd_image_select(&b, 80, &a), FD_IMAGE_NONE);  // no SASS 8x; PTX 90 is newer than 80
    (void)a;
    fd_device_info devs[2] = {device_of("V100", 70), device_of("H100", 90)};
    fd_platform *p;
    CHECK_OK(fd_platform_open_simulated(&b, devs, 2, &p));
    CHECK_EQ_I64(fd_platform_device(p, 0)->effective_sm, 70);
    CHECK_EQ_I64(fd_platform_device(p, 1)->effective_sm, 90);
    fd_platform_free(p);
}

// Arch-specific (FD_CUDA_EXACT) variants run only on their own SM: the sm_90a
// attention on an H100, not on an SM100 that runs a [80,90] build's PTX as 90.
static void exact_variant_rule(void) {
    fd_build_info b = build_of((int[]){80, 90}, 2);
    fd_device_info devs[3] = {device_of("H100", 90), device_of("SM100 (simulated)", 100),
                              device_of("A100", 80)};
    fd_platform *p;
    CHECK_OK(fd_platform_open_simulated(&b, devs, 3, &p));
    const fd__op_variant *v90a = fd__op_variant_at(FD_VAR_append_attention_sm90a);
    const fd__op_variant *v80 = fd__op_variant_at(FD_VAR_append_attention_sm80);
    CHECK_EQ_I64(v90a->exact, 1);
    CHECK_EQ_I64(v80->exact, 0);
    CHECK_EQ_I64(fd_platform_device(p, 1)->effective_sm, 90);
    CHECK_EQ_I64(fd__variant_runs_on(v90a, fd_platform_device(p, 0)), 1);
    CHECK_EQ_I64(fd__variant_runs_on(v90a, fd_platform_device(p, 1)), 0);
    CHECK_EQ_I64(fd__variant_runs_on(v90a, fd_platform_device(p, 2)), 0);
    CHECK_EQ_I64(fd__variant_runs_on(v80, fd_platform_device(p, 1)), 1);
    CHECK_EQ_I64(fd__variant_runs_on(v80, fd_platform_device(p, 2)), 1);
    fd_platform_free(p);
}

static void forced_cpu_env(void) {
    setenv("FDEPLOY_DEVICE", "cpu", 1);
    fd_platform *p;
    CHECK_OK(fd_platform_open(&p));
    CHECK_EQ_I64(fd_platform_device_count(p), 0);
    CHECK_CONTAINS(fd_platform_note(p), "FDEPLOY_DEVICE=cpu");
    fd_platform_free(p);
    unsetenv("FDEPLOY_DEVICE");
}

static void unknown_op(void) {
    fd_platform *p;
    CHECK_OK(fd_platform_open(&p));
    char why[256];
    CHECK(!fd_op_available(p, "no_such_op", FD_CPU_DEVICE, why, sizeof why));
    CHECK_CONTAINS(why, "no such op");
    CHECK_EQ_I64(fd_op_find("rebuild_padding") >= 0, 1);
    fd_platform_free(p);
}

FD_TEST_MAIN(FD_CASE(image_rule), FD_CASE(build70_on_sm90), FD_CASE(build80_on_sm70),
             FD_CASE(cpu_only_build), FD_CASE(unsupported_call_is_an_error),
             FD_CASE(picks_highest_variant), FD_CASE(exact_variant_rule), FD_CASE(forced_cpu_env),
             FD_CASE(unknown_op))
