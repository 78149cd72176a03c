// SPDX-License-Identifier: Apache-2.0
// speculate_update on the C reference and on the GPU: a hand-worked case in each
// mode, draft-count adaptation, not_need_stop boundaries, FastDeploy's test state
// (max_bsz 512, D 32, real_bsz 201; own RNG), bad input, GPU vs reference (exact).
#include "fd_test.h"

static fd_test_env env;

typedef struct ucase {
    int64_t max_bsz, real_bsz, cols, stop_nums;
    int32_t enc[512], dec[512], ndraft[512], num[512], len[512], mask[512];
    int64_t draft[512 * 32], acc[512 * 32];
    uint8_t stop[512], block[512], not_need_stop;
} ucase;

// Runs the op; in/out state is read back into c even after an error.
static fd_status run(fd_ctx *ctx, ucase *c, fd_spec_update_mode mode, int with_mask) {
    int64_t B = c->max_bsz, D = c->cols;
    fd_tbuf enc = FD_TBUF(ctx, FD_I32, c->enc, B), dec = FD_TBUF(ctx, FD_I32, c->dec, B);
    fd_tbuf nns = FD_TBUF(ctx, FD_BOOL, &c->not_need_stop, 1);
    fd_tbuf draft = FD_TBUF(ctx, FD_I64, c->draft, B, D), acc = FD_TBUF(ctx, FD_I64, c->acc, B, D);
    fd_tbuf nd = FD_TBUF(ctx, FD_I32, c->ndraft, B), num = FD_TBUF(ctx, FD_I32, c->num, B, 1);
    fd_tbuf stop = FD_TBUF(ctx, FD_BOOL, c->stop, B), block = FD_TBUF(ctx, FD_BOOL, c->block, B);
    fd_tbuf len = FD_TBUF(ctx, FD_I32, c->len, c->real_bsz > 0 ? c->real_bsz : 0);
    fd_tbuf sn = FD_TBUF(ctx, FD_I64, &c->stop_nums, 1), mask = FD_TBUF(ctx, FD_I32, c->mask, B);
    fd_status s = fd_speculate_update(ctx, &enc.t, &dec.t, &nns.t, &draft.t, &nd.t, &acc.t,
                                      &num.t, &stop.t, &len.t, &block.t, &sn.t,
                                      with_mask ? &mask.t : NULL, mode);
    if (s == FD_OK) s = fd_ctx_sync(ctx);
    memcpy(c->enc, fd_tbuf_fetch(&enc), (size_t)B * 4);
    memcpy(c->dec, fd_tbuf_fetch(&dec), (size_t)B * 4);
    memcpy(c->ndraft, fd_tbuf_fetch(&nd), (size_t)B * 4);
    memcpy(c->mask, fd_tbuf_fetch(&mask), (size_t)B * 4);
    memcpy(c->draft, fd_tbuf_fetch(&draft), (size_t)(B * D) * 8);
    c->not_need_stop = *(uint8_t *)fd_tbuf_fetch(&nns);
    fd_tbuf *all[] = {&enc, &dec, &nns, &draft, &acc, &nd, &num, &stop, &block, &len, &sn, &mask};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) fd_tbuf_free(all[k]);
    return s;
}

static int same_state(const ucase *a, const ucase *b) {
    size_t B = (size_t)a->max_bsz;
    return !memcmp(a->enc, b->enc, B * 4) && !memcmp(a->dec, b->dec, B * 4) &&
           !memcmp(a->ndraft, b->ndraft, B * 4) && !memcmp(a->mask, b->mask, B * 4) &&
           !memcmp(a->draft, b->draft, B * (size_t)a->cols * 8) &&
           a->not_need_stop == b->not_need_stop;
}

// decode (all drafts accepted), prefill, stopped decode, preempted (bad accept_num,
// ignored), decode with accept_num 0, and slot 5 past real_bsz.
static ucase *hand_case(void) {
    static ucase c;
    memset(&c, 0, sizeof c);
    c.max_bsz = 6; c.real_bsz = 5; c.cols = 4; c.stop_nums = 3;
    int32_t enc[6] = {0, 7, 0, 0, 0, 0}, dec[6] = {10, 0, 20, 30, 5, 40};
    int32_t nd[6] = {1, 2, 2, 2, 2, 2}, num[6] = {2, 1, 1, 9, 0, 1}, len[5] = {4, 7, 1, 4, 3};
    memcpy(c.enc, enc, sizeof enc); memcpy(c.dec, dec, sizeof dec);
    memcpy(c.ndraft, nd, sizeof nd); memcpy(c.num, num, sizeof num);
    memcpy(c.len, len, sizeof len);
    for (int b = 0; b < 6; b++) c.mask[b] = -1;
    for (int i = 0; i < 24; i++) c.acc[i] = 100 + i;
    c.stop[2] = 1;
    c.block[3] = 1;
    return &c;
}

static void hand_case_on(fd_ctx *ctx) {
    const int32_t want_dec[3][6] = {{12, 7, 20, 30, 5, 40}, {12, 7, 21, 30, 5, 40},
                                    {12, 7, 0, 30, 5, 40}};
    const int32_t want_nd[6] = {3, 2, 2, 2, 1, 2}, want_mask[6] = {2, 0, 0, -1, 3, -1};
    const int64_t want_d0[6] = {101, 104, 108, 0, 0, 0};
    const fd_spec_update_mode modes[3] = {FD_SPEC_UPDATE_ROLLBACK, FD_SPEC_UPDATE_V1,
                                          FD_SPEC_UPDATE_V3};
    for (int m = 0; m < 3; m++) {
        ucase *c = hand_case();
        CHECK_OK(run(ctx, c, modes[m], m == 0));
        for (int b = 0; b < 6; b++) {
            CHECK_EQ_I64(c->enc[b], 0);
            CHECK_EQ_I64(c->dec[b], want_dec[m][b]);
            CHECK_EQ_I64(c->ndraft[b], want_nd[b]);
            CHECK_EQ_I64(c->mask[b], m == 0 ? want_mask[b] : -1);
            CHECK_EQ_I64(c->draft[b * 4], want_d0[b]);
        }
        CHECK_EQ_I64(c->not_need_stop, 1);  // 2 stopped (slot 2, slot 5) < 3
    }
}

// Draft count: +2, +1, capped at D-1, -1, floor 1; unchanged for one-token steps.
static void draft_count_on(fd_ctx *ctx) {
    ucase *c = hand_case();
    c->real_bsz = c->max_bsz = 6;
    memset(c->enc, 0, sizeof c->enc);
    memset(c->stop, 0, sizeof c->stop);
    memset(c->block, 0, sizeof c->block);
    int32_t nd[6] = {1, 2, 3, 1, 3, 2}, num[6] = {2, 3, 4, 1, 1, 1}, len[6] = {2, 4, 4, 4, 4, 1};
    int32_t want[6] = {3, 3, 3, 1, 2, 2};
    memcpy(c->ndraft, nd, sizeof nd); memcpy(c->num, num, sizeof num);
    memcpy(c->len, len, sizeof len);
    CHECK_OK(run(ctx, c, FD_SPEC_UPDATE_ROLLBACK, 1));
    for (int b = 0; b < 6; b++) CHECK_EQ_I64(c->ndraft[b], want[b]);
}

// not_need_stop = stopped < stop_nums, slots past real_bsz counted as stopped.
static void not_need_stop_on(fd_ctx *ctx) {
    ucase *c = hand_case();
    c->stop_nums = 2;  // 2 stopped: stop
    CHECK_OK(run(ctx, c, FD_SPEC_UPDATE_ROLLBACK, 1));
    CHECK_EQ_I64(c->not_need_stop, 0);
    c = hand_case();  // every slot stopped
    for (int b = 0; b < 6; b++) c->stop[b] = 1;
    c->block[3] = 0;
    c->num[3] = 1;
    c->stop_nums = 6;
    CHECK_OK(run(ctx, c, FD_SPEC_UPDATE_V3, 0));
    CHECK_EQ_I64(c->not_need_stop, 0);
    for (int b = 0; b < 5; b++) CHECK_EQ_I64(c->dec[b], 0);
    c = hand_case();  // empty batch: every slot counts as stopped
    c->real_bsz = 0;
    c->stop_nums = 7;
    CHECK_OK(run(ctx, c, FD_SPEC_UPDATE_ROLLBACK, 1));
    CHECK_EQ_I64(c->not_need_stop, 1);
    CHECK_EQ_I64(c->dec[0], 10);
}

static void fill_random(ucase *c, int64_t max_bsz, int64_t real_bsz, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->max_bsz = max_bsz; c->real_bsz = real_bsz; c->cols = 32; c->stop_nums = 5;
    uint64_t s = seed;
    for (int64_t i = 0; i < max_bsz * 32; i++) {
        c->draft[i] = (int64_t)(fd_test_rand(&s) % 1000);
        c->acc[i] = (int64_t)(fd_test_rand(&s) % 1000);
    }
    for (int64_t b = 0; b < max_bsz; b++) {
        c->enc[b] = (int32_t)(fd_test_rand(&s) % 3);
        c->dec[b] = (int32_t)(fd_test_rand(&s) % 20);
        c->ndraft[b] = 1 + (int32_t)(fd_test_rand(&s) % 31);
        c->num[b] = 1 + (int32_t)(fd_test_rand(&s) % 31);
        c->len[b] = 1 + (int32_t)(fd_test_rand(&s) % 31);
        c->stop[b] = fd_test_rand(&s) & 1;
        c->block[b] = fd_test_rand(&s) & 1;
    }
}

// FastDeploy's test state on the reference: the documented per-slot rules hold.
static void cpu_fastdeploy_state(void) {
    static ucase c, before;
    fill_random(&c, 512, 201, 2022);
    before = c;
    CHECK_OK(run(env.cpu, &c, FD_SPEC_UPDATE_ROLLBACK, 1));
    int64_t stopped = 512 - 201;
    for (int b = 0; b < 201; b++) {
        if (before.block[b]) {
            CHECK_EQ_I64(c.dec[b], before.dec[b]);
            continue;
        }
        stopped += before.stop[b];
        int32_t grow = before.enc[b] ? before.enc[b] : (before.stop[b] ? 0 : before.num[b]);
        CHECK_EQ_I64(c.enc[b], 0);
        CHECK_EQ_I64(c.dec[b], before.dec[b] + grow);
        CHECK_EQ_I64(c.draft[b * 32], before.acc[b * 32 + before.num[b] - 1]);
        CHECK(c.ndraft[b] >= 1 && c.ndraft[b] <= 31);
    }
    for (int b = 201; b < 512; b++) CHECK_EQ_I64(c.dec[b], before.dec[b]);
    CHECK_EQ_I64(c.not_need_stop, stopped < 5);
}

static void gpu_random_vs_reference(void) {
    fd_ctx *g = fd_test_gpu_for(&env, "speculate_update");
    if (!g) return;
    static ucase a, b;
    const int64_t shapes[4][2] = {{512, 201}, {1, 1}, {256, 256}, {256, 100}};
    for (int k = 0; k < 4; k++)
        for (int m = 0; m < 3; m++) {
            fill_random(&a, shapes[k][0], shapes[k][1], 2022 + (uint64_t)k);
            a.stop_nums = k == 1 ? 1 : 100;
            b = a;
            CHECK_OK(run(env.cpu, &a, (fd_spec_update_mode)m, 1));
            CHECK_OK(run(g, &b, (fd_spec_update_mode)m, 1));
            if (!same_state(&a, &b)) FD_FAILF("shape %d mode %d: GPU differs from the reference", k, m);
        }
}

// accept_num outside [0, D] in an updated slot: error naming the op, nothing written.
static void bad_input_on(fd_ctx *ctx) {
    int32_t bad[2] = {5, -1};
    for (int k = 0; k < 2; k++) {
        ucase *c = hand_case();
        c->num[4] = bad[k];
        static ucase before;
        before = *c;
        CHECK_STATUS(run(ctx, c, FD_SPEC_UPDATE_ROLLBACK, 1), FD_ERR_INVALID_ARG);
        CHECK_CONTAINS(fd_last_error(), "speculate_update");
        if (ctx == env.cpu) CHECK(same_state(c, &before));
        else CHECK_EQ_I64(c->dec[4], before.dec[4]);  // the kernel skips the bad slot
    }
    ucase *c = hand_case();
    CHECK_STATUS(run(ctx, c, FD_SPEC_UPDATE_ROLLBACK, 0), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "mask_rollback is NULL");
    CHECK_STATUS(run(ctx, c, (fd_spec_update_mode)9, 1), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "unknown mode 9");
    c->real_bsz = 7;
    CHECK_STATUS(run(ctx, c, FD_SPEC_UPDATE_V1, 0), FD_ERR_INVALID_ARG);
    CHECK_CONTAINS(fd_last_error(), "real_bsz <= max_bsz");
}

static void cpu_hand_case(void) { hand_case_on(env.cpu); }
static void cpu_draft_count(void) { draft_count_on(env.cpu); }
static void cpu_not_need_stop(void) { not_need_stop_on(env.cpu); }
static void cpu_bad_input(void) { bad_input_on(env.cpu); }

#define GPU_CASE(name, body)                                                   \
    static void name(void) {                                                   \
        fd_ctx *g = fd_test_gpu_for(&env, "speculate_update");                 \
        if (g) body;                                                           \
    }
GPU_CASE(gpu_hand_case, hand_case_on(g))
GPU_CASE(gpu_draft_count, draft_count_on(g))
GPU_CASE(gpu_not_need_stop, not_need_stop_on(g))
GPU_CASE(gpu_bad_input, bad_input_on(g))

static void table_and_info_agree(void) { fd_test_table_agrees(&env, "speculate_update", 70); }

static void setup(void) { fd_test_env_open(&env); }
static void teardown(void) { fd_test_env_close(&env); }

FD_TEST_MAIN(FD_CASE(setup), FD_CASE(cpu_hand_case), FD_CASE(cpu_draft_count),
             FD_CASE(cpu_not_need_stop), FD_CASE(cpu_fastdeploy_state), FD_CASE(cpu_bad_input),
             FD_CASE(gpu_hand_case), FD_CASE(gpu_draft_count), FD_CASE(gpu_not_need_stop),
             FD_CASE(gpu_bad_input), FD_CASE(gpu_random_vs_reference),
             FD_CASE(table_and_info_agree), FD_CASE(teardown))
