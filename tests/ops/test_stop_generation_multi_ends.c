// SPDX-License-Identifier: Apache-2.0
// stop_generation_multi_ends on the C reference and on the GPU: FastDeploy's
// cases (stop sequence, min_tokens, stop token ids, max_tokens), beam search,
// the prefill-node mode, all slots stopped, batch of 1 and 256, bad input,
// random batches GPU vs reference (exact).
#include "fd_test.h"

static fd_test_env env;

typedef struct st_in {
    int64_t bs, len, n_seq, seq_max, n_tok;
    const int64_t *pre, *step, *seqs, *toks, *min_t, *max_t;  // any may be NULL
    const int32_t *lens, *seqs_len, *toks_len;
    int beam, prefill;
} st_in;

typedef struct st_io {
    int64_t topk[256], next[256];
    uint8_t stop[256];
} st_io;

static const int64_t END_IDS[2] = {2, 7};

static fd_status run(fd_ctx *ctx, const st_in *in, st_io *io) {
    int64_t bs = in->bs;
    fd_tbuf k = FD_TBUF(ctx, FD_I64, io->topk, bs, 1);
    fd_tbuf f = FD_TBUF(ctx, FD_BOOL, io->stop, bs, 1);
    fd_tbuf sl = FD_TBUF(ctx, FD_I32, in->lens, bs, 1);
    fd_tbuf e = FD_TBUF(ctx, FD_I64, END_IDS, 2);
    fd_tbuf nx = FD_TBUF(ctx, FD_I64, io->next, bs, 1);
    fd_tbuf pre = FD_TBUF(ctx, FD_I64, in->pre, bs, in->len);
    fd_tbuf st = FD_TBUF(ctx, FD_I64, in->step, bs, 1);
    fd_tbuf sq = FD_TBUF(ctx, FD_I64, in->seqs, bs, in->n_seq, in->seq_max);
    fd_tbuf sql = FD_TBUF(ctx, FD_I32, in->seqs_len, bs, in->n_seq);
    fd_tbuf tk = FD_TBUF(ctx, FD_I64, in->toks, bs, in->n_tok);
    fd_tbuf tkl = FD_TBUF(ctx, FD_I32, in->toks_len, bs);
    fd_tbuf mn = FD_TBUF(ctx, FD_I64, in->min_t, bs, 1);
    fd_tbuf mx = FD_TBUF(ctx, FD_I64, in->max_t, bs, 1);
    fd_status s = fd_stop_generation_multi_ends(
        ctx, &k.t, &f.t, &sl.t, &e.t, &nx.t, in->seqs ? &pre.t : NULL, &st.t,
        in->seqs ? &sq.t : NULL, in->seqs ? &sql.t : NULL, in->toks ? &tk.t : NULL,
        in->toks ? &tkl.t : NULL, in->min_t ? &mn.t : NULL, in->max_t ? &mx.t : NULL, in->beam,
        in->prefill);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    if (s == FD_OK) {
        memcpy(io->topk, fd_tbuf_fetch(&k), (size_t)bs * 8);
        memcpy(io->next, fd_tbuf_fetch(&nx), (size_t)bs * 8);
        memcpy(io->stop, fd_tbuf_fetch(&f), (size_t)bs);
    }
    fd_tbuf *all[13] = {&k, &f, &sl, &e, &nx, &pre, &st, &sq, &sql, &tk, &tkl, &mn, &mx};
    for (int i = 0; i < 13; i++) fd_tbuf_free(all[i]);
    return s;
}

// FastDeploy's test 1: row 0's history ends with the stop sequence 8038 61502;
// the other sequences have length 10 > M = 8 (counted as 8) of -1 tokens.
static void stop_seq_case_on(fd_ctx *ctx) {
    enum { L = 32768, S = 5, M = 8 };
    static int64_t pre[2 * L], seqs[2 * S * M];
    int64_t step[2] = {10, 0}, zero[2] = {0, 0};
    int32_t lens[2] = {1, 0}, seqs_len[2 * S];
    for (int i = 0; i < 2 * L; i++) pre[i] = -1;
    const int64_t hist[10] = {21, 22, 23, 24, 25, 26, 27, 28, 8038, 61502};
    memcpy(pre, hist, sizeof hist);
    for (int i = 0; i < 2 * S * M; i++) seqs[i] = -1;
    for (int i = 0; i < 2 * S; i++) seqs_len[i] = 10;
    seqs[0] = 8038, seqs[1] = 61502, seqs_len[0] = 2;
    st_io io = {{61502, 2}, {61502, 2}, {0, 1}};
    st_in in = {2, L, S, M, 0, pre, step, seqs, NULL, zero, NULL, lens, seqs_len, NULL, 0, 0};
    CHECK_OK(run(ctx, &in, &io));
    CHECK(io.stop[0]);
    CHECK_EQ_I64(io.topk[0], 2);
    CHECK_EQ_I64(io.next[0], 2);
    CHECK(io.stop[1]);
    CHECK_EQ_I64(io.topk[1], -1);  // idle stopped slot emits -1
    // One step earlier (history ends at 8038) nothing matches.
    st_io io2 = {{8038, 2}, {0, 2}, {0, 1}};
    step[0] = 9;
    CHECK_OK(run(ctx, &in, &io2));
    CHECK(!io2.stop[0]);
    CHECK_EQ_I64(io2.topk[0], 8038);
    CHECK_EQ_I64(io2.next[0], 8038);
}

// FastDeploy's test 2 (+ max_tokens of the later version): EOS before
// min_tokens does not stop; step >= max_tokens stops; stop token ids stop.
static void min_max_tokens_on(fd_ctx *ctx) {
    int64_t step[3] = {5, 50, 10}, mn[3] = {10, 0, 5}, mx[3] = {100, 50, 100};
    int32_t lens[3] = {1, 1, 1};
    st_io io = {{2, 100, 200}, {2, 100, 200}, {0, 0, 0}};
    st_in in = {3, 1, 1, 1, 1, NULL, step, NULL, NULL, mn, mx, lens, NULL, NULL, 0, 0};
    CHECK_OK(run(ctx, &in, &io));
    CHECK(!io.stop[0]);
    CHECK_EQ_I64(io.topk[0], 2);
    CHECK(io.stop[1]);
    CHECK_EQ_I64(io.topk[1], 2);
    CHECK(!io.stop[2]);
    CHECK_EQ_I64(io.next[2], 200);
    // stop token ids: row 0 sampled 999, in its list {999, 888, 777}.
    int64_t toks[2 * 4] = {999, 888, 777, -1, 999, -1, -1, -1}, s2[2] = {5, 3};
    int32_t tl[2] = {3, 0}, l2[2] = {1, 1};
    st_io io2 = {{999, 999}, {999, 999}, {0, 0}};
    st_in in2 = {2, 1, 1, 1, 4, NULL, s2, NULL, toks, NULL, NULL, l2, NULL, tl, 0, 0};
    CHECK_OK(run(ctx, &in2, &io2));
    CHECK(io2.stop[0]);
    CHECK_EQ_I64(io2.topk[0], 2);
    CHECK_EQ_I64(io2.next[0], 2);
    CHECK(!io2.stop[1]);  // its list is empty
}

// Any end id stops (second of two); beam search ignores end ids; the
// prefill-node mode stops every slot; all slots stopped emit end_ids[0].
static void modes_on(fd_ctx *ctx) {
    int64_t step[3] = {3, 3, 3};
    int32_t lens[3] = {1, 1, 0};
    st_in in = {3, 1, 1, 1, 1, NULL, step, NULL, NULL, NULL, NULL, lens, NULL, NULL, 0, 0};
    st_io io = {{7, 5, 9}, {0, 0, 0}, {0, 0, 0}};
    CHECK_OK(run(ctx, &in, &io));
    CHECK(io.stop[0] && !io.stop[1] && !io.stop[2]);
    CHECK_EQ_I64(io.topk[0], 2);
    in.beam = 1;
    st_io io2 = {{7, 5, 9}, {0, 0, 0}, {0, 0, 0}};
    CHECK_OK(run(ctx, &in, &io2));
    CHECK(!io2.stop[0]);
    CHECK_EQ_I64(io2.topk[0], 7);
    in.beam = 0, in.prefill = 1;
    st_io io3 = {{7, 5, 9}, {0, 0, 0}, {0, 0, 0}};
    CHECK_OK(run(ctx, &in, &io3));
    CHECK(io3.stop[0] && io3.stop[1] && io3.stop[2]);
    CHECK_EQ_I64(io3.topk[1], 5);
    CHECK_EQ_I64(io3.next[1], 5);
    CHECK_EQ_I64(io3.topk[2], -1);  // idle slot
    in.prefill = 0;
    st_io io4 = {{7, 5, 9}, {1, 1, 1}, {1, 1, 1}};
    CHECK_OK(run(ctx, &in, &io4));
    CHECK_EQ_I64(io4.topk[0], 2);
    CHECK_EQ_I64(io4.next[1], 2);
    CHECK_EQ_I64(io4.topk[2], -1);
    CHECK_EQ_I64(io4.next[2], 1);  // idle: next_tokens untouched
}

// A stop sequence longer than the history does not match; step_idx past
// pre_ids' columns is an error (nothing written on the CPU).
static void bad_input_on(fd_ctx *ctx) {
    int64_t pre[2 * 4] = {1, 2, 3, 4, 1, 2, 3, 4}, seqs[2 * 1 * 3] = {1, 2, 3, 1, 2, 3};
    int64_t step[2] = {2, 5};
    int32_t lens[2] = {1, 1}, sl[2] = {3, 3};
    st_in in = {2, 4, 1, 3, 1, pre, step, seqs, NULL, NULL, NULL, lens, sl, NULL, 0, 0};
    st_io io = {{50, 60}, {0, 0}, {0, 0}};
    CHECK_STATUS(run(ctx, &in, &io), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "stop_generation_multi_ends");
    if (!fd_ctx_is_cuda(ctx)) CHECK_EQ_I64(io.next[0], 0);
    step[1] = 3;
    st_io io2 = {{50, 60}, {0, 0}, {0, 0}};
    CHECK_OK(run(ctx, &in, &io2));
    CHECK(!io2.stop[0]);  // step 2 < 3 tokens
    CHECK(io2.stop[1]);   // history 1 2 3
}

// bs 1 and 256, random inputs, against an independent check of the end-id rule.
static void sizes_on(fd_ctx *ctx) {
    static int64_t step[256], mn[256];
    static int32_t lens[256];
    uint64_t r = 5;
    int64_t sizes[2] = {1, 256};
    for (int k = 0; k < 2; k++) {
        st_io io;
        int64_t bs = sizes[k];
        for (int64_t b = 0; b < bs; b++) {
            io.topk[b] = io.next[b] = (int64_t)(fd_test_rand(&r) % 10);
            io.stop[b] = 0;
            step[b] = (int64_t)(fd_test_rand(&r) % 8);
            mn[b] = (int64_t)(fd_test_rand(&r) % 8);
            lens[b] = 1;
        }
        st_io want = io;
        st_in in = {bs, 1, 1, 1, 1, NULL, step, NULL, NULL, mn, NULL, lens, NULL, NULL, 0, 0};
        CHECK_OK(run(ctx, &in, &io));
        for (int64_t b = 0; b < bs; b++) {
            int s = step[b] >= mn[b] && (want.topk[b] == 2 || want.topk[b] == 7);
            CHECK_EQ_I64(io.stop[b], s);
            CHECK_EQ_I64(io.topk[b], s ? 2 : want.topk[b]);
        }
    }
}

static void bad_shapes(void) {
    int64_t k[2] = {1, 2}, step[2] = {0, 0}, pre[8] = {0}, seqs[8] = {0};
    int32_t lens[2] = {1, 1};
    uint8_t f[2] = {0, 0};
    fd_ctx *c = env.cpu;
    fd_tensor tk = fd_tensor_2d(k, FD_I64, 2, 1), fl = fd_tensor_2d(f, FD_BOOL, 2, 1),
              sl = fd_tensor_1d(lens, FD_I32, 2), e = fd_tensor_1d((void *)END_IDS, FD_I64, 2),
              e0 = fd_tensor_1d((void *)END_IDS, FD_I64, 0), st = fd_tensor_1d(step, FD_I64, 2),
              fl32 = fd_tensor_1d(lens, FD_I32, 2), p = fd_tensor_2d(pre, FD_I64, 2, 4),
              sq = fd_tensor_3d(seqs, FD_I64, 2, 2, 2), sql = fd_tensor_2d(lens, FD_I32, 2, 1);
    CHECK_OK(fd_stop_generation_multi_ends(c, &tk, &fl, &sl, &e, &tk, NULL, &st, NULL, NULL,
                                           NULL, NULL, NULL, NULL, 0, 0));
    CHECK_STATUS(fd_stop_generation_multi_ends(c, &tk, &fl32, &sl, &e, &tk, NULL, &st, NULL,
                                               NULL, NULL, NULL, NULL, NULL, 0, 0),
                 FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "stop_flags");
    CHECK_STATUS(fd_stop_generation_multi_ends(c, &tk, &fl, &sl, &e0, &tk, NULL, &st, NULL,
                                               NULL, NULL, NULL, NULL, NULL, 0, 0),
                 FD_ERR_INVALID_ARG);
    CHECK_STATUS(fd_stop_generation_multi_ends(c, &tk, &fl, &sl, &e, &tk, &p, &st, NULL, NULL,
                                               NULL, NULL, NULL, NULL, 0, 0),
                 FD_ERR_INVALID_ARG);  // pre_ids without stop_seqs
    CHECK_STATUS(fd_stop_generation_multi_ends(c, &tk, &fl, &sl, &e, &tk, &p, &st, &sq, &sql,
                                               NULL, NULL, NULL, NULL, 0, 0),
                 FD_ERR_INVALID_ARG);  // stop_seqs_len [2,1] vs S = 2
}

#define ON_CPU(fn) static void cpu_##fn(void) { fn##_on(env.cpu); }
#define ON_GPU(fn)                                                             \
    static void gpu_##fn(void) {                                               \
        fd_ctx *g = fd_test_gpu_for(&env, "stop_generation_multi_ends");       \
        if (g) fn##_on(g);                                                     \
    }
ON_CPU(stop_seq_case) ON_CPU(min_max_tokens) ON_CPU(modes) ON_CPU(bad_input) ON_CPU(sizes)
ON_GPU(stop_seq_case) ON_GPU(min_max_tokens) ON_GPU(modes) ON_GPU(bad_input) ON_GPU(sizes)

// Random batches of 256 with every feature on: GPU equals the reference exactly.
static void gpu_random_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "stop_generation_multi_ends");
    if (!g) return;
    enum { BS = 256, L = 24, S = 3, M = 4, K = 3 };
    static int64_t pre[BS * L], seqs[BS * S * M], toks[BS * K], step[BS], mn[BS], mx[BS];
    static int32_t lens[BS], sl[BS * S], tl[BS];
    static st_io a, b;
    uint64_t r = 11;
    for (int i = 0; i < BS; i++) {
        a.topk[i] = b.topk[i] = (int64_t)(fd_test_rand(&r) % 10);
        a.next[i] = b.next[i] = (int64_t)(fd_test_rand(&r) % 10);
        a.stop[i] = b.stop[i] = fd_test_rand(&r) % 6 == 0;
        step[i] = (int64_t)(fd_test_rand(&r) % (L + 1));
        mn[i] = (int64_t)(fd_test_rand(&r) % 8);
        mx[i] = (int64_t)(fd_test_rand(&r) % 40);
        lens[i] = (int32_t)(fd_test_rand(&r) % 3);
        tl[i] = (int32_t)(fd_test_rand(&r) % (K + 2)) - 1;
    }
    for (int i = 0; i < BS * L; i++) pre[i] = (int64_t)(fd_test_rand(&r) % 3);
    for (int i = 0; i < BS * S * M; i++) seqs[i] = (int64_t)(fd_test_rand(&r) % 3);
    for (int i = 0; i < BS * S; i++) sl[i] = (int32_t)(fd_test_rand(&r) % (M + 3)) - 1;
    for (int i = 0; i < BS * K; i++) toks[i] = (int64_t)(fd_test_rand(&r) % 10);
    st_in in = {BS, L, S, M, K, pre, step, seqs, toks, mn, mx, lens, sl, tl, 0, 0};
    CHECK_OK(run(env.cpu, &in, &a));
    CHECK_OK(run(g, &in, &b));
    CHECK(memcmp(a.topk, b.topk, sizeof a.topk) == 0);
    CHECK(memcmp(a.next, b.next, sizeof a.next) == 0);
    CHECK(memcmp(a.stop, b.stop, sizeof a.stop) == 0);
}

static void table_and_info_agree(void) { fd_test_table_agrees(&env, "stop_generation_multi_ends", 70); }

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_stop_seq_case), FD_CASE(cpu_min_max_tokens),
             FD_CASE(cpu_modes), FD_CASE(cpu_bad_input), FD_CASE(cpu_sizes),
             FD_CASE(bad_shapes), FD_CASE(gpu_stop_seq_case), FD_CASE(gpu_min_max_tokens),
             FD_CASE(gpu_modes), FD_CASE(gpu_bad_input), FD_CASE(gpu_sizes),
             FD_CASE(gpu_random_vs_reference), FD_CASE(table_and_info_agree),
             FD_CASE(teardown))
