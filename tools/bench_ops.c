// SPDX-License-Identifier: Apache-2.0
// `fdeploy bench-ops [--device N|cpu] [--iters N] [--op NAME]`: times every
// operator of the op table at serving sizes (batch 64) on one device and prints,
// per (op, dtype), the variant the op table picked, the shape, the time per call
// and the bandwidth achieved next to the device's peak. The rows and their
// inputs are in bench_ops_cases.c; this file has the driver and buffer helpers.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_ops.h"
#include "cli.h"
#include "platform/launch.h"
#include "platform/op_table.h"

#define BO_WARMUP 3
#define BO_ITERS_GPU 50
#define BO_ITERS_CPU 3

// ---- buffer helpers (declared in bench_ops.h)

static uint64_t bo_next(bo_case *c) {
    uint64_t x = c->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return c->rng = x;
}

int64_t bo_rand_int(bo_case *c, int64_t lo, int64_t hi) {
    return hi > lo ? lo + (int64_t)(bo_next(c) % (uint64_t)(hi - lo)) : lo;
}

static double bo_uniform(bo_case *c) { return (double)(bo_next(c) >> 11) * 0x1p-53; }

fd_status bo_tensor(bo_case *c, int i, fd_dtype dt, int64_t n0, int64_t n1, int64_t n2,
                    int64_t n3) {
    const int64_t ne[4] = {n0, n1, n2, n3};
    fd_tensor *t = &c->t[i];
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    while (t->ndim < 4 && ne[t->ndim] > 0) {
        t->ne[t->ndim] = ne[t->ndim];
        t->ndim++;
    }
    size_t bytes = fd_tensor_bytes(t);
    return fd_ctx_alloc(c->ctx, bytes ? bytes : 1, &t->data);
}

fd_status bo_upload(bo_case *c, int i, const void *host) {
    return fd_ctx_upload(c->ctx, c->t[i].data, host, fd_tensor_bytes(&c->t[i]));
}

// Writes v into element k of a host array of dtype dt.
static void bo_set(void *host, fd_dtype dt, int64_t k, double v) {
    switch (dt) {
    case FD_F32: ((float *)host)[k] = (float)v; break;
    case FD_F16: ((uint16_t *)host)[k] = fd_f32_to_f16((float)v); break;
    case FD_BF16: ((uint16_t *)host)[k] = fd_f32_to_bf16((float)v); break;
    case FD_I8: ((int8_t *)host)[k] = (int8_t)v; break;
    case FD_I32: ((int32_t *)host)[k] = (int32_t)v; break;
    case FD_I64: ((int64_t *)host)[k] = (int64_t)v; break;
    case FD_BOOL:
    case FD_U8: ((uint8_t *)host)[k] = (uint8_t)v; break;
    default: break;
    }
}

static int bo_is_float(fd_dtype dt) { return dt == FD_F32 || dt == FD_F16 || dt == FD_BF16; }

void *bo_host_alloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) fprintf(stderr, "fdeploy bench-ops: out of host memory (%zu bytes)\n", bytes);
    return p;
}

// Element generators: value of element k.
typedef double (*bo_gen)(bo_case *c, const void *arg, int64_t k);

static double gen_rand(bo_case *c, const void *arg, int64_t k) {
    const double *r = arg;
    return r[2] ? r[0] + (r[1] - r[0]) * bo_uniform(c)
                : (double)bo_rand_int(c, (int64_t)r[0], (int64_t)r[1]);
}
static double gen_const(bo_case *c, const void *arg, int64_t k) { return *(const double *)arg; }
static double gen_i64(bo_case *c, const void *arg, int64_t k) {
    return (double)((const int64_t *)arg)[k];
}

// Fills t[i] through a host staging buffer: element k = gen(c, arg, k).
static fd_status bo_fill(bo_case *c, int i, bo_gen gen, const void *arg) {
    const fd_tensor *t = &c->t[i];
    int64_t n = fd_tensor_numel(t);
    void *host = bo_host_alloc(fd_tensor_bytes(t));
    if (!host) return FD_ERR_OOM;
    if ((t->dtype == FD_F16 || t->dtype == FD_BF16) && gen != gen_i64) {
        // Large random f16/bf16 buffers (weights, KV caches): convert a table once.
        uint16_t table[4096];
        for (int k = 0; k < 4096; k++) bo_set(table, t->dtype, k, gen(c, arg, k));
        for (int64_t k = 0; k < n; k++) ((uint16_t *)host)[k] = table[bo_next(c) & 4095];
    } else {
        for (int64_t k = 0; k < n; k++) bo_set(host, t->dtype, k, gen(c, arg, k));
    }
    fd_status s = bo_upload(c, i, host);
    free(host);
    return s;
}

fd_status bo_fill_rand(bo_case *c, int i, double lo, double hi) {
    double r[3] = {lo, hi, bo_is_float(c->t[i].dtype)};  // lo, hi, uniform reals?
    return bo_fill(c, i, gen_rand, r);
}

fd_status bo_fill_const(bo_case *c, int i, double v) { return bo_fill(c, i, gen_const, &v); }
fd_status bo_from_i64(bo_case *c, int i, const int64_t *vals) {
    return bo_fill(c, i, gen_i64, vals);
}

fd_status bo_fill_q4k(bo_case *c, int i) {
    // block_q4_K: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles.
    const fd_tensor *t = &c->t[i];
    size_t bytes = fd_tensor_bytes(t), bb = fd_ggml_block_bytes(FD_GGML_Q4_K);
    uint8_t *host = bo_host_alloc(bytes);
    if (!host) return FD_ERR_OOM;
    for (size_t k = 0; k + 8 <= bytes; k += 8) {
        uint64_t r = bo_next(c);
        memcpy(host + k, &r, 8);
    }
    for (size_t b = 0; b + bb <= bytes; b += bb) {
        uint16_t d = fd_f32_to_f16(0.002f + 0.002f * (float)bo_uniform(c));
        uint16_t dmin = fd_f32_to_f16(0.001f * (float)bo_uniform(c));
        memcpy(host + b, &d, 2);
        memcpy(host + b + 2, &dmin, 2);
    }
    fd_status s = bo_upload(c, i, host);
    free(host);
    return s;
}

// ---- driver

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void release_all(bo_case *c) {
    for (int i = 0; i < BO_MAX_TENSORS; i++)
        if (c->t[i].data) fd_ctx_release(c->ctx, c->t[i].data);
}

typedef struct bo_opts {
    int iters, iters_given, device;
    const char *only;
    double peak;      // GB/s, 0 = unknown / CPU
} bo_opts;

// Which variant the op table runs (op, dt) as on ctx; FD_OK or why it cannot.
static fd_status variant_name(fd_ctx *ctx, const char *op, fd_dtype dt, char *out, size_t n) {
    int variant;
    fd__launch l;
    fd_status s = fd__ctx_begin(ctx, fd_op_find(op), dt, &variant, &l);
    if (s == FD_OK)
        snprintf(out, n, "%s", variant == FD_VAR_REF ? "C reference"
                                                     : fd__op_variant_at(variant)->stem);
    return s;
}

static int is_skip(fd_status s) {
    return s == FD_ERR_UNSUPPORTED_ARCH || s == FD_ERR_UNSUPPORTED_DTYPE;
}

// Prints a skipped row (0) or the error (1).
static int report_error(const bo_op *op, const char *variant, const char *what, fd_status s) {
    if (is_skip(s)) {
        printf("%-30s %-5s %-24s skipped: %s\n", op->op, fd_dtype_name(op->dt), variant,
               fd_last_error());
        return 0;
    }
    printf("%-30s %-5s %-24s ERROR (%s): %s: %s\n", op->op, fd_dtype_name(op->dt), variant,
           what, fd_status_str(s), fd_last_error());
    return 1;
}

// Sets up, warms up and times one row; 1 on an error (other than unsupported).
static int run_row(fd_ctx *ctx, const bo_op *op, int index, const bo_opts *o) {
    char variant[64] = "-";
    fd_clear_error();
    fd_status s = variant_name(ctx, op->op, op->dt, variant, sizeof variant);
    if (s != FD_OK) return report_error(op, variant, "variant", s);
    bo_case c;
    memset(&c, 0, sizeof c);
    c.ctx = ctx;
    c.dt = op->dt;
    c.rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(index + 1) * 0xD1B54A32D192ED03ull;
    s = op->setup(&c);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s != FD_OK) {
        release_all(&c);
        return report_error(op, variant, "setup", s);
    }
    int cpu = !fd_ctx_is_cuda(ctx);
    // CPU: at most --iters warm-up calls; a heavy op (seconds per call on the C
    // reference) makes one timed call and no warm-up unless --iters is given.
    int iters = o->iters, warm = BO_WARMUP;
    if (cpu && warm > iters) warm = iters;
    if (cpu && c.heavy && !o->iters_given) {
        iters = 1;
        warm = 0;
    }
    for (int k = 0; k < warm && s == FD_OK; k++) s = c.call(&c);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    double t0 = now_s();
    for (int k = 0; k < iters && s == FD_OK; k++) s = c.call(&c);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    double dt = (now_s() - t0) / iters;
    release_all(&c);
    if (s != FD_OK) return report_error(op, variant, "run", s);
    char gbs[32], peak[32];
    double rate = c.bytes / dt * 1e-9;
    snprintf(gbs, sizeof gbs, "%.*f", rate >= 1 ? 1 : 3, rate);
    if (o->peak > 0)
        snprintf(peak, sizeof peak, "%.0f", o->peak);
    else
        snprintf(peak, sizeof peak, "-");
    printf("%-30s %-5s %-24s %-40s %5d %11.1f %9s %9s\n", op->op, fd_dtype_name(op->dt),
           variant, c.shape, iters, dt * 1e6, gbs, peak);
    fflush(stdout);
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: fdeploy bench-ops [--device N|cpu] [--iters N] [--op NAME]\n");
    return 2;
}

int fd_cmd_bench_ops(int argc, char **argv) {
    bo_opts o = {0, 0, -2, NULL, 0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            i++;
            o.device = strcmp(argv[i], "cpu") == 0 ? FD_CPU_DEVICE : atoi(argv[i]);
        } else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
            o.iters = atoi(argv[++i]);
            o.iters_given = 1;
            if (o.iters < 1) return usage();
        } else if (strcmp(argv[i], "--op") == 0 && i + 1 < argc) {
            o.only = argv[++i];
        } else {
            fprintf(stderr, "fdeploy bench-ops: unknown option '%s'\n", argv[i]);
            return usage();
        }
    }
    if (o.only && fd_op_find(o.only) < 0) {
        fprintf(stderr, "fdeploy bench-ops: no op '%s' (see `fdeploy info`)\n", o.only);
        return 2;
    }
    fd_platform *p;
    if (fd_platform_open(&p) != FD_OK) {
        fprintf(stderr, "fdeploy: %s\n", fd_last_error());
        return 1;
    }
    if (o.device == -2) o.device = fd_platform_device_count(p) > 0 ? 0 : FD_CPU_DEVICE;
    fd_ctx *ctx;
    if (fd_ctx_create(p, o.device, &ctx) != FD_OK) {
        fprintf(stderr, "fdeploy: %s\n", fd_last_error());
        fd_platform_free(p);
        return 1;
    }
    if (!o.iters_given) o.iters = o.device == FD_CPU_DEVICE ? BO_ITERS_CPU : BO_ITERS_GPU;
    if (o.device == FD_CPU_DEVICE) {
        printf("bench-ops on CPU (C reference)\n");
    } else {
        const fd_device_info *d = fd_platform_device(p, o.device);
        o.peak = d->peak_bw_gbs;
        printf("bench-ops on device %d (%s, SM%d, kernels as SM%d, peak %.0f GB/s)\n",
               o.device, d->name, d->sm, fd_ctx_effective_sm(ctx), d->peak_bw_gbs);
    }
    int cpu = o.device == FD_CPU_DEVICE;
    printf("%d warm-up calls%s, then `iters` timed calls; GB/s = bytes read + written / time\n",
           cpu && o.iters < BO_WARMUP ? o.iters : BO_WARMUP,
           cpu && !o.iters_given ? " (none for CPU-heavy ops)" : "");
    printf("%-30s %-5s %-24s %-40s %5s %11s %9s %9s\n", "op", "dtype", "variant", "shape",
           "iters", "us/call", "GB/s", "peak GB/s");
    int bad = 0, rows = 0;
    for (int i = 0; i < bo_n_ops; i++) {
        if (o.only && strcmp(o.only, bo_ops[i].op) != 0) continue;
        bad |= run_row(ctx, &bo_ops[i], i, &o);
        rows++;
    }
    if (rows == 0) printf("(no benchmark row for op '%s')\n", o.only);
    fd_ctx_free(ctx);
    fd_platform_free(p);
    return bad ? 1 : 0;
}
