// SPDX-License-Identifier: Apache-2.0
// append_attention: write this step's K/V (rotary on K, optional int8
// quantization) into the paged cache, then causal attention of every new query
// over its sequence's cached context. C reference (f32 math) + dispatch + the
// host-side work plan shared with the workspace size query.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdeploy/ops.h"
#include "ops/attention_launch.h"
#include "ops/check_util.h"

static const char *OP = "append_attention";

#define SPLIT_GRAIN 64      // keys per split are a multiple of the KV tile
#define MAX_SPLITS_SMALL 128
#define MAX_SPLITS_BIG 16
#define MIN_CHUNK_BIG 512   // prefill tiles are compute-heavy: split less finely

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Splits of a max_kv-key range over `base` CTAs so that about `target` CTAs run.
static void split_kv(int64_t max_kv, int64_t base, int64_t target, int max_splits,
                     int64_t min_chunk, int *splits, int *chunk) {
    int64_t s = base >= target ? 1 : cdiv(target, base > 0 ? base : 1);
    if (s > max_splits) s = max_splits;
    int64_t c = cdiv(max_kv > 0 ? max_kv : 1, s);
    if (c < min_chunk) c = min_chunk;
    c = cdiv(c, SPLIT_GRAIN) * SPLIT_GRAIN;
    *chunk = (int)c;
    *splits = (int)cdiv(max_kv > 0 ? max_kv : 1, c);
}

// As split_kv over the `span` keys a sliding window leaves a tile (0 = no
// window), but never into more splits than the whole max_kv range: the
// workspace size query does not know the window (the split count is not
// monotonic in the key count because of the rounding to SPLIT_GRAIN).
static void split_window(int64_t max_kv, int64_t span, int64_t base, int64_t target,
                         int max_splits, int64_t min_chunk, int *splits, int *chunk) {
    split_kv(max_kv, base, target, max_splits, min_chunk, splits, chunk);
    if (span <= 0 || span >= max_kv) return;
    int full = *splits;
    split_kv(span, base, target, max_splits, min_chunk, splits, chunk);
    if (*splits <= full) return;
    *chunk = (int)(cdiv(cdiv(span, full), SPLIT_GRAIN) * SPLIT_GRAIN);
    *splits = (int)cdiv(span, *chunk);
}

// The work split for `sms` multiprocessors (0 = CPU: no splits, no scratch).
// With a sliding window, a tile's keys start at its first row's window start
// and span at most window + (tokens in the tile) - 1 positions: the tokens of
// a 16-row small tile or a bm-row big tile are at most 16 and bm.
static void make_plan(int sms, int64_t token_num, int64_t bsz, int n_q, int n_kv, int hd,
                      int64_t max_kv, int window, int bm, fd__attn_plan *p) {
    memset(p, 0, sizeof *p);
    int64_t group = n_kv > 0 ? n_q / n_kv : 1;
    p->bm_big = bm;
    int64_t big_tiles = cdiv(token_num * group, bm);
    // CTAs wanted: ~8 per SM for small tiles; a 128-row wgmma tile fills an SM
    // alone, and splitting it more only adds partials to merge
    int64_t target = 8 * (int64_t)sms, target_big = (bm >= 128 ? 2 : 8) * (int64_t)sms;
    p->big_tiles_max = big_tiles + (bsz < token_num ? bsz : token_num);
    if (sms <= 0) {
        p->splits_small = p->splits_big = 1;
        p->chunk_small = p->chunk_big = (int)(max_kv > 0 ? max_kv : 1);
        return;
    }
    int64_t w = window;
    split_window(max_kv, w > 0 ? w + 15 : 0, bsz * n_kv, target, MAX_SPLITS_SMALL, SPLIT_GRAIN,
                 &p->splits_small, &p->chunk_small);
    split_window(max_kv, w > 0 ? w + bm - 1 : 0, big_tiles * n_kv, target_big, MAX_SPLITS_BIG,
                 MIN_CHUNK_BIG, &p->splits_big, &p->chunk_big);
    p->meta_bytes = (size_t)cdiv((2 * bsz + 1) * 4, 256) * 256;
    int s = p->splits_small > p->splits_big ? p->splits_small : p->splits_big;
    if (s > 1) p->part_bytes = (size_t)s * (size_t)token_num * (size_t)n_q * (size_t)(hd + 1) * 4;
}

// Big-tile rows of the kernels that run: the SM80/SM70 tiles take 64 (32 at
// head_dim 256); the sm_90a wgmma tiles 128 (two warpgroups of 64), for
// 16-bit caches at head_dim 64/128 unless FDEPLOY_ATTN_PREFILL names another
// kernel ("fa2", "mma2", "wmma": the SM80 tiles, for comparisons).
static int default_big_rows(int hd) { return hd == 256 ? 32 : 64; }

static int big_wgmma(int variant, const fd__attn_args *a) {
#if FD_BUILT_append_attention_sm90a
    const char *e = getenv("FDEPLOY_ATTN_PREFILL");
    return variant == FD_VAR_append_attention_sm90a && !a->cache_int8 && a->head_dim <= 128 &&
           !(e && *e);
#else
    (void)variant;
    (void)a;
    return 0;
#endif
}

static int ctx_sms(const fd_ctx *ctx) {
    if (!fd_ctx_is_cuda(ctx)) return 0;
    const fd_device_info *d = fd_platform_device(fd_ctx_platform(ctx), fd_ctx_device(ctx));
    return d && d->n_multiprocessors > 0 ? d->n_multiprocessors : 80;
}

size_t fd_append_attention_workspace_size(const fd_ctx *ctx, int64_t token_num, int64_t bsz,
                                          int n_q_heads, int n_kv_heads, int head_dim,
                                          int64_t max_blocks_per_seq, int block_size,
                                          int64_t max_kv_len) {
    if (!ctx || !fd_ctx_is_cuda(ctx) || token_num < 0 || bsz < 0) return 0;
    int64_t kv = max_kv_len > 0 ? max_kv_len : max_blocks_per_seq * block_size;
    // Fewer tokens can mean more KV splits: the size is the largest over every
    // batch up to these bounds, so one workspace serves all of them.
    // Both big-tile heights count: the variant is picked at launch.
    size_t most = 0;
    const int bms[2] = {default_big_rows(head_dim), 128};
    for (int64_t t = 1; t <= token_num; t++) {
        int64_t bs[2] = {1, bsz < t ? bsz : t};
        for (int i = 0; i < 4; i++) {
            fd__attn_plan p;
            make_plan(ctx_sms(ctx), t, bs[i & 1] > 0 ? bs[i & 1] : 1, n_q_heads, n_kv_heads,
                      head_dim, kv, 0, bms[i >> 1], &p);
            size_t need = p.meta_bytes + p.part_bytes;
            if (need > most) most = need;
        }
    }
    fd__attn_plan p;  // meta bytes of the largest batch
    make_plan(ctx_sms(ctx), token_num, bsz, n_q_heads, n_kv_heads, head_dim, kv, 0,
              default_big_rows(head_dim), &p);
    return most > p.meta_bytes + p.part_bytes ? most + p.meta_bytes : p.meta_bytes + p.part_bytes;
}

// ---- C reference

static float ld(fd_dtype dt, const void *p, int64_t i) {
    if (dt == FD_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return dt == FD_F16 ? fd_f16_to_f32(h) : fd_bf16_to_f32(h);
}

static void st(fd_dtype dt, void *p, int64_t i, float v) {
    if (dt == FD_F32)
        ((float *)p)[i] = v;
    else
        ((uint16_t *)p)[i] = dt == FD_F16 ? fd_f32_to_f16(v) : fd_f32_to_bf16(v);
}

static float round_to(fd_dtype dt, float v) {
    if (dt == FD_F32) return v;
    uint16_t h;
    st(dt, &h, 0, v);
    return ld(dt, &h, 0);
}

// Element d of head x after rotary (cs = this position's cos | sin row, or NULL).
static float rope_at(const float *x, int d, const float *cs, int rot, int neox) {
    if (!cs || d >= rot) return x[d];
    int half = rot / 2, first = neox ? d < half : (d & 1) == 0;
    int i = neox ? (first ? d : d - half) : d / 2;
    int partner = neox ? (first ? d + half : d - half) : d ^ 1;
    float c = cs[i], s = cs[half + i];
    return first ? x[d] * c - x[partner] * s : x[d] * c + x[partner] * s;
}

// Checks every length and every block in use before anything is written.
static fd_status ref_validate(const fd__attn_args *a) {
    const int32_t *cu = a->cu_seqlens_q;
    int64_t cap = a->max_blocks_per_seq * a->block_size;
    if (cu[0] != 0) return fd__error(FD_ERR_INVALID_ARG, "%s: cu_seqlens_q[0] = %d, must be 0", OP, cu[0]);
    for (int64_t b = 0; b < a->bsz; b++) {
        int64_t len = a->seq_lens_this_time[b], dec = a->seq_lens_decoder[b], tot = dec + len;
        if (len < 0 || dec < 0 || cu[b + 1] - cu[b] != len || cu[b + 1] > a->token_num)
            return fd__error(FD_ERR_INVALID_ARG,
                             "%s: sequence %lld: seq_lens_this_time %lld, seq_lens_decoder %lld, "
                             "cu_seqlens_q [%d, %d) do not add up (token_num %lld)",
                             OP, (long long)b, (long long)len, (long long)dec, cu[b], cu[b + 1],
                             (long long)a->token_num);
        if (len == 0) continue;
        if (tot > cap || (a->max_kv_len > 0 && tot > a->max_kv_len) ||
            (a->max_q_len > 0 && len > a->max_q_len))
            return fd__error(FD_ERR_INVALID_ARG,
                             "%s: sequence %lld: context %lld (%lld new) exceeds the block table "
                             "capacity %lld or the max_kv_len/max_q_len hints (%lld/%lld)",
                             OP, (long long)b, (long long)tot, (long long)len, (long long)cap,
                             (long long)a->max_kv_len, (long long)a->max_q_len);
        if (a->rotary && tot > a->max_position)
            return fd__error(FD_ERR_INVALID_ARG,
                             "%s: sequence %lld reaches position %lld, outside the rotary table's "
                             "%lld rows", OP, (long long)b, (long long)tot - 1,
                             (long long)a->max_position);
        for (int64_t k = 0; k < cdiv(tot, a->block_size); k++) {
            int32_t blk = a->block_tables[b * a->max_blocks_per_seq + k];
            if (blk < 0 || blk >= a->num_blocks)
                return fd__error(FD_ERR_INVALID_ARG,
                                 "%s: block_tables[%lld][%lld] = %d is outside [0, %lld) "
                                 "(the cache's num_blocks)", OP, (long long)b, (long long)k, blk,
                                 (long long)a->num_blocks);
        }
    }
    return FD_OK;
}

// Element offset of (position p, kv head h, dim 0) of sequence b in the cache.
static int64_t cache_off(const fd__attn_args *a, int64_t b, int64_t p, int h) {
    int64_t blk = a->block_tables[b * a->max_blocks_per_seq + p / a->block_size];
    return ((blk * a->n_kv + h) * a->block_size + p % a->block_size) * a->head_dim;
}

static void cache_put(const fd__attn_args *a, void *cache, const float *sc, int h, int64_t off,
                      float v) {
    if (!a->cache_int8) {
        st(a->dtype, cache, off, v);
        return;
    }
    float q = rintf(v / sc[h]);
    ((int8_t *)cache)[off] = (int8_t)(q > 127.f ? 127.f : q < -127.f ? -127.f : q);
}

static float cache_get(const fd__attn_args *a, const void *cache, const float *sc, int h,
                       int64_t off) {
    return a->cache_int8 ? ((const int8_t *)cache)[off] * sc[h] : ld(a->dtype, cache, off);
}

// Loads head `h` (of the qkv row's heads) of token t as f32, rotated at position pos.
static void load_head(const fd__attn_args *a, int64_t t, int h, int64_t pos, int rotate,
                      float *raw, float *x) {
    int hd = a->head_dim;
    int64_t row = (int64_t)(a->n_q + 2 * a->n_kv) * hd;
    for (int d = 0; d < hd; d++) raw[d] = ld(a->dtype, a->qkv, t * row + (int64_t)h * hd + d);
    const float *cs = rotate && a->rotary ? a->rotary + pos * a->rot_dim : NULL;
    for (int d = 0; d < hd; d++) x[d] = rope_at(raw, d, cs, a->rot_dim, a->rotary_neox);
}

static void ref_write_cache(const fd__attn_args *a, float *raw, float *x) {
    for (int64_t b = 0; b < a->bsz; b++)
        for (int64_t j = 0; j < a->seq_lens_this_time[b]; j++) {
            int64_t t = a->cu_seqlens_q[b] + j, pos = a->seq_lens_decoder[b] + j;
            for (int h = 0; h < a->n_kv; h++) {
                int64_t off = cache_off(a, b, pos, h);
                load_head(a, t, a->n_q + h, pos, 1, raw, x);
                for (int d = 0; d < a->head_dim; d++)
                    cache_put(a, a->key_cache, a->k_scale, h, off + d, x[d]);
                load_head(a, t, a->n_q + a->n_kv + h, pos, 0, raw, x);
                for (int d = 0; d < a->head_dim; d++)
                    cache_put(a, a->value_cache, a->v_scale, h, off + d, x[d]);
            }
        }
}

// One query row (token t at position pos of sequence b, q head qh) over keys
// [0, pos], or [pos - window + 1, pos] with a sliding window.
static void ref_attend_row(const fd__attn_args *a, int64_t b, int64_t t, int64_t pos, int qh,
                           float *q, float *s, float *o) {
    int hd = a->head_dim, kvh = qh / (a->n_q / a->n_kv);
    int64_t k0 = a->window > 0 && pos - a->window + 1 > 0 ? pos - a->window + 1 : 0;
    float m = -INFINITY;
    for (int64_t k = k0; k <= pos; k++) {
        int64_t off = cache_off(a, b, k, kvh);
        float acc = 0;
        for (int d = 0; d < hd; d++) acc += q[d] * cache_get(a, a->key_cache, a->k_scale, kvh, off + d);
        s[k] = acc * a->scale;
        if (s[k] > m) m = s[k];
    }
    float l = 0;
    for (int d = 0; d < hd; d++) o[d] = 0;
    for (int64_t k = k0; k <= pos; k++) {
        float p = expf(s[k] - m);
        int64_t off = cache_off(a, b, k, kvh);
        l += p;
        for (int d = 0; d < hd; d++) o[d] += p * cache_get(a, a->value_cache, a->v_scale, kvh, off + d);
    }
    int64_t orow = t * (int64_t)a->n_q * hd + (int64_t)qh * hd;
    for (int d = 0; d < hd; d++) st(a->dtype, a->out, orow + d, o[d] / l);
}

static fd_status ref_append_attention(const fd__attn_args *a) {
    FD_TRY(ref_validate(a));
    int64_t max_ctx = 1;
    for (int64_t b = 0; b < a->bsz; b++)
        if (a->seq_lens_decoder[b] + a->seq_lens_this_time[b] > max_ctx)
            max_ctx = a->seq_lens_decoder[b] + a->seq_lens_this_time[b];
    int hd = a->head_dim;
    float *buf = malloc(((size_t)4 * hd + (size_t)max_ctx) * sizeof(float));
    if (!buf) return fd__error(FD_ERR_OOM, "%s: out of host memory", OP);
    float *raw = buf, *x = buf + hd, *o = buf + 2 * hd, *s = buf + 4 * hd;
    ref_write_cache(a, raw, x);
    for (int64_t b = 0; b < a->bsz; b++)
        for (int64_t j = 0; j < a->seq_lens_this_time[b]; j++) {
            int64_t t = a->cu_seqlens_q[b] + j, pos = a->seq_lens_decoder[b] + j;
            for (int qh = 0; qh < a->n_q; qh++) {
                load_head(a, t, qh, pos, 1, raw, x);
                for (int d = 0; d < hd; d++)  // the kernels hold the rotated q in dtype
                    x[d] = round_to(a->dtype, x[d]);
                ref_attend_row(a, b, t, pos, qh, x, s, o);
            }
        }
    free(buf);
    return FD_OK;
}

// ---- validation and dispatch

static fd_status check_opts(const fd_attention_opts *o, fd__attn_args *a) {
    if (o->rotary) {
        FD_TRY(FD_CHECK_T(OP, "rotary", o->rotary, FD_F32, -1, -1));
        a->rot_dim = (int)o->rotary->ne[1];
        a->max_position = o->rotary->ne[0];
        if (a->rot_dim < 2 || a->rot_dim % 2 || a->rot_dim > a->head_dim)
            return fd__error(FD_ERR_INVALID_ARG,
                             "%s: rotary table has rot_dim %d; it must be even, in [2, head_dim %d]",
                             OP, a->rot_dim, a->head_dim);
        a->rotary = o->rotary->data;
        a->rotary_neox = o->rotary_neox != 0;
    }
    if (a->cache_int8) {
        FD_TRY(FD_CHECK_T(OP, "k_scale", o->k_scale, FD_F32, a->n_kv));
        FD_TRY(FD_CHECK_T(OP, "v_scale", o->v_scale, FD_F32, a->n_kv));
        a->k_scale = o->k_scale->data;
        a->v_scale = o->v_scale->data;
    }
    if (o->max_q_len < 0 || o->max_kv_len < 0)
        return fd__error(FD_ERR_INVALID_ARG, "%s: hints max_q_len %lld / max_kv_len %lld must be >= 0",
                         OP, (long long)o->max_q_len, (long long)o->max_kv_len);
    a->max_q_len = o->max_q_len;
    a->max_kv_len = o->max_kv_len;
    if (o->sliding_window < 0)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: sliding_window %d is negative; use 0 for full causal attention",
                         OP, o->sliding_window);
    a->window = o->sliding_window;
    return FD_OK;
}

// Cache shapes -> n_kv, block_size, head_dim; qkv columns -> n_q.
static fd_status check_heads(const fd_tensor *qkv, const fd_tensor *kc, const fd_tensor *vc,
                             fd__attn_args *a) {
    FD_TRY(FD_CHECK_T(OP, "key_cache", kc, -1, -1, -1, -1, -1));
    if (kc->dtype != qkv->dtype && kc->dtype != FD_I8)
        return fd__error(FD_ERR_INVALID_ARG, "%s: key_cache is %s; it must be %s (qkv's) or i8",
                         OP, fd_dtype_name(kc->dtype), fd_dtype_name(qkv->dtype));
    FD_TRY(FD_CHECK_T(OP, "value_cache", vc, (int)kc->dtype, kc->ne[0], kc->ne[1], kc->ne[2], kc->ne[3]));
    a->num_blocks = kc->ne[0];
    a->n_kv = (int)kc->ne[1];
    a->block_size = (int)kc->ne[2];
    a->head_dim = (int)kc->ne[3];
    a->cache_int8 = kc->dtype == FD_I8;
    if (a->head_dim != 64 && a->head_dim != 128 && a->head_dim != 256)
        return fd__error(FD_ERR_INVALID_ARG, "%s: head_dim %d is not supported (64, 128 or 256)",
                         OP, a->head_dim);
    if (a->block_size < 16 || a->block_size > 128 || (a->block_size & (a->block_size - 1)))
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: block_size %d is not supported (a power of two in [16, 128])", OP,
                         a->block_size);
    if (a->n_kv <= 0 || kc->ne[1] > 4096)
        return fd__error(FD_ERR_INVALID_ARG, "%s: key_cache has %lld kv heads", OP, (long long)kc->ne[1]);
    int64_t cols = qkv->ne[1], heads = cols / a->head_dim, n_q = heads - 2 * (int64_t)a->n_kv;
    if (cols % a->head_dim || n_q <= 0 || n_q % a->n_kv || n_q > 65536)
        return fd__error(FD_ERR_INVALID_ARG,
                         "%s: qkv has %lld columns = %lld heads of %d with %d kv heads: the q "
                         "heads (%lld) must be a positive multiple of the kv heads",
                         OP, (long long)cols, (long long)heads, a->head_dim, a->n_kv, (long long)n_q);
    a->n_q = (int)n_q;
    return FD_OK;
}

static fd_status check_args(const fd_tensor *qkv, const fd_tensor *kc, const fd_tensor *vc,
                            const fd_tensor *cu, const fd_tensor *dec, const fd_tensor *len,
                            const fd_tensor *bt, float scale, const fd_tensor *out,
                            fd__attn_args *a) {
    FD_TRY(FD_CHECK_T(OP, "qkv", qkv, -1, -1, -1));
    if (!fd__dtype_in(qkv->dtype, FD_FLOATS))
        return fd__error(FD_ERR_UNSUPPORTED_DTYPE, "%s: qkv is %s; it takes f32, f16 or bf16", OP,
                         fd_dtype_name(qkv->dtype));
    FD_TRY(check_heads(qkv, kc, vc, a));
    FD_TRY(FD_CHECK_T(OP, "cu_seqlens_q", cu, FD_I32, -1));
    a->bsz = cu->ne[0] - 1;
    if (a->bsz < 0)
        return fd__error(FD_ERR_INVALID_ARG, "%s: cu_seqlens_q must have bsz+1 >= 1 entries", OP);
    FD_TRY(FD_CHECK_T(OP, "seq_lens_decoder", dec, FD_I32, a->bsz));
    FD_TRY(FD_CHECK_T(OP, "seq_lens_this_time", len, FD_I32, a->bsz));
    FD_TRY(FD_CHECK_T(OP, "block_tables", bt, FD_I32, a->bsz, -1));
    a->token_num = qkv->ne[0];
    FD_TRY(FD_CHECK_T(OP, "out", out, (int)qkv->dtype, a->token_num, (int64_t)a->n_q * a->head_dim));
    if (a->token_num > 0x7fffffff / 4 || a->bsz > 0x7fffffff / 4 || a->num_blocks > 0x7fffffff)
        return fd__error(FD_ERR_INVALID_ARG, "%s: too many tokens (%lld) or sequences (%lld)", OP,
                         (long long)a->token_num, (long long)a->bsz);
    if (!isfinite(scale))
        return fd__error(FD_ERR_INVALID_ARG, "%s: scale %g is not finite", OP, (double)scale);
    a->max_blocks_per_seq = bt->ne[1];
    a->qkv = qkv->data;
    a->key_cache = kc->data;
    a->value_cache = vc->data;
    a->cu_seqlens_q = cu->data;
    a->seq_lens_decoder = dec->data;
    a->seq_lens_this_time = len->data;
    a->block_tables = bt->data;
    a->out = out->data;
    a->dtype = qkv->dtype;
    a->scale = scale;
    return FD_OK;
}

#if FD_BUILT_append_attention_sm70 || FD_BUILT_append_attention_sm80 || \
    FD_BUILT_append_attention_sm90a
// Runs a CUDA variant with the caller's workspace or one allocated for this call.
static fd_status run_cuda(fd_ctx *ctx, const fd__launch *l, int variant, fd__attn_args *a,
                          const fd_tensor *ws) {
    size_t need = a->plan.meta_bytes + a->plan.part_bytes;
    void *own = NULL;
    if (ws) {
        if (!ws->data || fd_tensor_bytes(ws) < need)
            return fd__error(FD_ERR_INVALID_ARG,
                             "%s: workspace has %zu bytes, needs %zu "
                             "(fd_append_attention_workspace_size)", OP, fd_tensor_bytes(ws), need);
        a->workspace = ws->data;
    } else {
        FD_TRY(fd_ctx_alloc(ctx, need, &own));
        a->workspace = own;
    }
    fd_status s = FD_ERR_INTERNAL;
#if FD_BUILT_append_attention_sm70
    if (variant == FD_VAR_append_attention_sm70) s = fd__cuda_append_attention_sm70(l, a);
#endif
#if FD_BUILT_append_attention_sm80
    if (variant == FD_VAR_append_attention_sm80) s = fd__cuda_append_attention_sm80(l, a);
#endif
#if FD_BUILT_append_attention_sm90a
    if (variant == FD_VAR_append_attention_sm90a) s = fd__cuda_append_attention_sm90a(l, a);
#endif
    if (own) fd_ctx_release(ctx, own);  // device-synchronising free: safe after the launch
    return s;
}
#endif

fd_status fd_append_attention(fd_ctx *ctx, const fd_tensor *qkv, fd_tensor *key_cache,
                              fd_tensor *value_cache, const fd_tensor *cu_seqlens_q,
                              const fd_tensor *seq_lens_decoder,
                              const fd_tensor *seq_lens_this_time,
                              const fd_tensor *block_tables, const fd_attention_opts *opts,
                              float scale, fd_tensor *out) {
    fd__attn_args a = {0};
    memset(&a, 0, sizeof a);
    fd_attention_opts none;
    memset(&none, 0, sizeof none);
    FD_TRY(check_args(qkv, key_cache, value_cache, cu_seqlens_q, seq_lens_decoder,
                      seq_lens_this_time, block_tables, scale, out, &a));
    FD_TRY(check_opts(opts ? opts : &none, &a));
    int variant;
    fd__launch l;
    FD_TRY(fd__ctx_begin(ctx, FD_OP_ID_append_attention, qkv->dtype, &variant, &l));
    if (variant == FD_VAR_REF) return ref_append_attention(&a);
    int64_t kv = a.max_kv_len > 0 ? a.max_kv_len : a.max_blocks_per_seq * a.block_size;
    const int wgmma = big_wgmma(variant, &a);
    make_plan(ctx_sms(ctx), a.token_num, a.bsz, a.n_q, a.n_kv, a.head_dim, kv, a.window,
              wgmma ? 128 : default_big_rows(a.head_dim), &a.plan);
    a.plan.big_wgmma = wgmma;
    a.max_kv_len = kv;
    if (a.token_num == 0 || a.bsz == 0) return FD_OK;
#if FD_BUILT_append_attention_sm70 || FD_BUILT_append_attention_sm80 || \
    FD_BUILT_append_attention_sm90a
    return run_cuda(ctx, &l, variant, &a, opts ? opts->workspace : NULL);
#else
    return fd__error(FD_ERR_INTERNAL, "%s: variant %d has no launcher", OP, variant);
#endif
}

// ---- self-check: a known answer (identical keys -> the mean of the values so
// far, or of the last 2 with a sliding window; one prefill of 3 tokens into a
// shuffled block) on ctx; on CUDA also a random mixed prefill/decode batch
// with rotary, full and windowed, compared with the C reference.

typedef struct aa_case {
    int64_t bsz, token_num, nblk, mbps;
    int n_q, n_kv, hd, bs, rot;
    const int32_t *cu, *dec, *len, *bt;
    int window;
} aa_case;

// Runs the case on ctx from host qkv and caches; fetches out and the caches.
static fd_status aa_run(fd_ctx *ctx, const aa_case *c, fd_dtype dt, const void *qkv, void *kc,
                        void *vc, void *out) {
    fd__cbuf b[9];
    memset(b, 0, sizeof b);
    int64_t s_qkv[2] = {c->token_num, (int64_t)(c->n_q + 2 * c->n_kv) * c->hd},
            s_cache[4] = {c->nblk, c->n_kv, c->bs, c->hd}, s_cu[1] = {c->bsz + 1},
            s_b[1] = {c->bsz}, s_bt[2] = {c->bsz, c->mbps},
            s_out[2] = {c->token_num, (int64_t)c->n_q * c->hd}, s_rot[2] = {512, c->rot};
    float *rot = NULL;
    fd_status s = FD_OK;
    if (c->rot) {
        rot = malloc(sizeof(float) * 512 * (size_t)c->rot);
        if (!rot) return fd__error(FD_ERR_OOM, "%s: self-check", OP);
        for (int p = 0; p < 512; p++)
            for (int i = 0; i < c->rot / 2; i++) {
                double ang = p * pow(10000.0, -2.0 * i / c->rot);
                rot[p * c->rot + i] = (float)cos(ang);
                rot[p * c->rot + c->rot / 2 + i] = (float)sin(ang);
            }
        s = fd__cbuf_new(&b[8], ctx, FD_F32, 2, s_rot, rot);
    }
    if (s == FD_OK) s = fd__cbuf_new(&b[0], ctx, dt, 2, s_qkv, qkv);
    if (s == FD_OK) s = fd__cbuf_new(&b[1], ctx, dt, 4, s_cache, kc);
    if (s == FD_OK) s = fd__cbuf_new(&b[2], ctx, dt, 4, s_cache, vc);
    if (s == FD_OK) s = fd__cbuf_new(&b[3], ctx, FD_I32, 1, s_cu, c->cu);
    if (s == FD_OK) s = fd__cbuf_new(&b[4], ctx, FD_I32, 1, s_b, c->dec);
    if (s == FD_OK) s = fd__cbuf_new(&b[5], ctx, FD_I32, 1, s_b, c->len);
    if (s == FD_OK) s = fd__cbuf_new(&b[6], ctx, FD_I32, 2, s_bt, c->bt);
    if (s == FD_OK) s = fd__cbuf_new(&b[7], ctx, dt, 2, s_out, NULL);
    fd_attention_opts o;
    memset(&o, 0, sizeof o);
    o.rotary = c->rot ? &b[8].t : NULL;
    o.rotary_neox = 1;
    o.sliding_window = c->window;
    if (s == FD_OK)
        s = fd_append_attention(ctx, &b[0].t, &b[1].t, &b[2].t, &b[3].t, &b[4].t, &b[5].t,
                                &b[6].t, &o, 1.0f / sqrtf((float)c->hd), &b[7].t);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) s = fd__cbuf_fetch(&b[7]);
    if (s == FD_OK) s = fd__cbuf_fetch(&b[1]);
    if (s == FD_OK) s = fd__cbuf_fetch(&b[2]);
    if (s == FD_OK) {
        memcpy(out, b[7].host, fd_tensor_bytes(&b[7].t));
        memcpy(kc, b[1].host, fd_tensor_bytes(&b[1].t));
        memcpy(vc, b[2].host, fd_tensor_bytes(&b[2].t));
    }
    for (int i = 0; i < 9; i++) fd__cbuf_free(&b[i]);
    free(rot);
    return s;
}

static fd_check_result aa_known(fd_ctx *ctx, fd_dtype dt, int window, char *detail, size_t n) {
    enum { HD = 64, NQ = 2, T = 3, COLS = (NQ + 2) * HD };
    static const int32_t cu[2] = {0, 3}, dec[1] = {0}, len[1] = {3}, bt[2] = {1, 0};
    aa_case c = {1, T, 2, 2, NQ, 1, HD, 16, 0, cu, dec, len, bt, window};
    size_t esz = fd_dtype_size(dt), cache = 2 * 16 * HD;
    char qkv[T * COLS * 4], out[T * NQ * HD * 4], *kc = calloc(cache, esz), *vc = calloc(cache, esz);
    if (!kc || !vc) {
        free(kc), free(vc);
        snprintf(detail, n, "out of host memory");
        return FD_CHECK_FAIL;
    }
    for (int t = 0; t < T; t++)
        for (int i = 0; i < COLS; i++)  // q arbitrary, k zero, v = 0.25 (t+1) + d/64
            st(dt, qkv, t * COLS + i, i < NQ * HD ? (float)(i % 7) - 3.f
                                      : i < (NQ + 1) * HD ? 0.f : 0.25f * (t + 1) + (i % HD) / 64.f);
    fd_status s = aa_run(ctx, &c, dt, qkv, kc, vc, out);
    int bad = s != FD_OK;
    if (bad) snprintf(detail, n, "%s", fd_last_error());
    for (int t = 0; t < T && !bad; t++)
        for (int i = 0; i < NQ * HD && !bad; i++) {  // mean of 0.25 (k+1) over keys [lo, t]
            int lo = window > 0 && t - window + 1 > 0 ? t - window + 1 : 0;
            float want = 0.125f * (lo + t + 2) + (i % HD) / 64.f;
            float got = ld(dt, out, t * NQ * HD + i);
            float v = ld(dt, vc, (16 + t) * HD + i % HD);  // block 1, slot t
            if (fabsf(got - want) > 1e-2f * (1 + fabsf(want)) || v != 0.25f * (t + 1) + (i % HD) / 64.f) {
                snprintf(detail, n, "window %d, token %d col %d: out %g, want %g (cached v %g)",
                         window, t, i, (double)got, (double)want, (double)v);
                bad = 1;
            }
        }
    free(kc), free(vc);
    return bad ? FD_CHECK_FAIL : FD_CHECK_PASS;
}

static fd_check_result aa_random(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, int window, char *detail,
                                 size_t n) {
    enum { HD = 128, NQ = 4, NKV = 2, NB = 12, BS = 16, T = 21, COLS = (NQ + 2 * NKV) * HD };
    static const int32_t cu[3] = {0, 20, 21}, dec[2] = {30, 100}, len[2] = {20, 1},
                         bt[2 * 8] = {3, 7, 1, 9, 0, 0, 0, 0, 2, 4, 6, 8, 10, 11, 5, 0};
    aa_case c = {2, T, NB, 8, NQ, NKV, HD, BS, 64, cu, dec, len, bt, window};
    size_t esz = fd_dtype_size(dt), cache = (size_t)NB * NKV * BS * HD, outn = (size_t)T * NQ * HD;
    char *mem = malloc(esz * (T * COLS + 4 * cache + 2 * outn));
    if (!mem) {
        snprintf(detail, n, "out of host memory");
        return FD_CHECK_FAIL;
    }
    char *qkv = mem, *kc = qkv + esz * T * COLS, *vc = kc + esz * cache, *kc2 = vc + esz * cache,
         *vc2 = kc2 + esz * cache, *out = vc2 + esz * cache, *out2 = out + esz * outn;
    uint64_t rng = 11;
    for (int i = 0; i < T * COLS; i++) st(dt, qkv, i, 2 * fd__rng_uniform(&rng) - 1);
    for (size_t i = 0; i < cache; i++) st(dt, kc, (int64_t)i, 2 * fd__rng_uniform(&rng) - 1);
    for (size_t i = 0; i < cache; i++) st(dt, vc, (int64_t)i, 2 * fd__rng_uniform(&rng) - 1);
    memcpy(kc2, kc, esz * cache);
    memcpy(vc2, vc, esz * cache);
    fd_check_result r = FD_CHECK_PASS;
    double tol = dt == FD_BF16 ? 3e-2 : 1e-2;
    if (aa_run(ctx, &c, dt, qkv, kc, vc, out) != FD_OK || aa_run(cpu, &c, dt, qkv, kc2, vc2, out2) != FD_OK) {
        snprintf(detail, n, "%s", fd_last_error());
        r = FD_CHECK_FAIL;
    } else if (fd__compare(dt, out, out2, (int64_t)outn, tol, tol, detail, n) ||
               fd__compare(dt, kc, kc2, (int64_t)cache, tol, tol, detail, n) ||
               fd__compare(dt, vc, vc2, (int64_t)cache, 0, 0, detail, n)) {
        r = FD_CHECK_FAIL;
    }
    free(mem);
    return r;
}

fd_check_result fd__check_append_attention(fd_ctx *ctx, fd_ctx *cpu, fd_dtype dt, char *detail,
                                           size_t n) {
    fd_check_result r = aa_known(ctx, dt, 0, detail, n);
    if (r == FD_CHECK_PASS) r = aa_known(ctx, dt, 2, detail, n);
    if (r != FD_CHECK_PASS || ctx == cpu || !fd_ctx_is_cuda(ctx)) return r;
    r = aa_random(ctx, cpu, dt, 0, detail, n);
    // window 13: not a multiple of the block, cuts into the prefill's rows
    return r == FD_CHECK_PASS ? aa_random(ctx, cpu, dt, 13, detail, n) : r;
}
