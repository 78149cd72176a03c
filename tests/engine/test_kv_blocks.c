// SPDX-License-Identifier: Apache-2.0
// KV block manager: allocation, reference counts, prefix cache hits, LRU
// eviction of cached blocks nobody holds.
#include "engine/kv_blocks.h"
#include "fd_test.h"

static void alloc_release(void) {
    fd__kv_blocks *kb;
    CHECK_OK(fd__kv_blocks_create(4, 16, 1, &kb));
    int a = fd__kv_blocks_alloc(kb), b = fd__kv_blocks_alloc(kb), c = fd__kv_blocks_alloc(kb),
        d = fd__kv_blocks_alloc(kb);
    CHECK(a >= 0 && b >= 0 && c >= 0 && d >= 0 && a != b && c != d);
    CHECK_EQ_I64(fd__kv_blocks_alloc(kb), -1);
    CHECK_EQ_I64(fd__kv_blocks_used(kb), 4);
    fd__kv_blocks_release(kb, b);
    CHECK_EQ_I64(fd__kv_blocks_available(kb), 1);
    CHECK_EQ_I64(fd__kv_blocks_alloc(kb), b);
    fd__kv_blocks_release(kb, a); fd__kv_blocks_release(kb, b);
    fd__kv_blocks_release(kb, c); fd__kv_blocks_release(kb, d);
    CHECK_EQ_I64(fd__kv_blocks_used(kb), 0);
    fd__kv_blocks_free(kb);
}

static void prefix_hits_and_eviction(void) {
    fd__kv_blocks *kb;
    CHECK_OK(fd__kv_blocks_create(2, 4, 1, &kb));
    int32_t t1[4] = {1, 2, 3, 4}, t2[4] = {5, 6, 7, 8};
    uint64_t h1 = fd__kv_block_hash(0, t1, 4), h2 = fd__kv_block_hash(h1, t2, 4);
    CHECK(h1 != h2 && h1 != fd__kv_block_hash(0, t2, 4));
    int a = fd__kv_blocks_alloc(kb);
    fd__kv_blocks_register(kb, a, h1);
    CHECK_EQ_I64(fd__kv_blocks_lookup(kb, h1), a);      // shared: refcount 2
    CHECK_EQ_I64(fd__kv_blocks_lookup(kb, h2), -1);
    fd__kv_blocks_release(kb, a);
    fd__kv_blocks_release(kb, a);                         // cached, unreferenced
    CHECK_EQ_I64(fd__kv_blocks_used(kb), 0);
    CHECK_EQ_I64(fd__kv_blocks_available(kb), 2);
    CHECK_EQ_I64(fd__kv_blocks_lookup(kb, h1), a);      // revived from the LRU
    fd__kv_blocks_release(kb, a);
    int x = fd__kv_blocks_alloc(kb), y = fd__kv_blocks_alloc(kb);  // the second evicts it
    CHECK(x >= 0 && y >= 0);
    CHECK_EQ_I64(fd__kv_blocks_lookup(kb, h1), -1);
    fd__kv_blocks_release(kb, x);
    fd__kv_blocks_release(kb, y);
    fd__kv_blocks_free(kb);
}

static void many_registrations(void) {  // tombstones never stop caching
    fd__kv_blocks *kb;
    CHECK_OK(fd__kv_blocks_create(8, 4, 1, &kb));
    int hits = 0;
    for (int32_t round = 0; round < 500; round++) {
        int32_t t[4] = {round, round + 1, round + 2, round + 3};
        uint64_t h = fd__kv_block_hash(0, t, 4);
        int b = fd__kv_blocks_alloc(kb);
        fd__kv_blocks_register(kb, b, h);
        fd__kv_blocks_release(kb, b);
        int again = fd__kv_blocks_lookup(kb, h);
        hits += again == b;
        if (again >= 0) fd__kv_blocks_release(kb, again);
    }
    CHECK_EQ_I64(hits, 500);
    fd__kv_blocks_free(kb);
}

FD_TEST_MAIN(FD_CASE(alloc_release), FD_CASE(prefix_hits_and_eviction), FD_CASE(many_registrations))
