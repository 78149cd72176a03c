// SPDX-License-Identifier: Apache-2.0
// Block manager: a free stack, an LRU list of cached unreferenced blocks, and
// an open-addressing hash table from prefix hash to block.
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "engine/kv_blocks.h"

typedef struct blk {
    int ref;
    int cached;           // registered in the hash table
    uint64_t hash;
    int lru_prev, lru_next;  // in the LRU list when cached and ref == 0
} blk;

struct fd__kv_blocks {
    int n, block_size, prefix;
    blk *b;
    int *free_stack, n_free;
    int lru_head, lru_tail, n_lru;   // head = least recently used
    int *table;                       // hash slots -> block, -1 empty, -2 deleted
    int table_size, used;
};

static void lru_unlink(fd__kv_blocks *kb, int i) {
    blk *x = &kb->b[i];
    if (x->lru_prev >= 0) kb->b[x->lru_prev].lru_next = x->lru_next; else kb->lru_head = x->lru_next;
    if (x->lru_next >= 0) kb->b[x->lru_next].lru_prev = x->lru_prev; else kb->lru_tail = x->lru_prev;
    x->lru_prev = x->lru_next = -1;
    kb->n_lru--;
}

static void lru_push(fd__kv_blocks *kb, int i) {
    blk *x = &kb->b[i];
    x->lru_next = -1;
    x->lru_prev = kb->lru_tail;
    if (kb->lru_tail >= 0) kb->b[kb->lru_tail].lru_next = i; else kb->lru_head = i;
    kb->lru_tail = i;
    kb->n_lru++;
}

static size_t slot_of(const fd__kv_blocks *kb, uint64_t h) {
    return (size_t)(h ^ (h >> 29)) & (size_t)(kb->table_size - 1);
}

static int table_find(const fd__kv_blocks *kb, uint64_t h, size_t *slot) {
    for (size_t s = slot_of(kb, h), k = 0; k < (size_t)kb->table_size; k++, s = (s + 1) & (size_t)(kb->table_size - 1)) {
        int v = kb->table[s];
        if (v == -1) return -1;
        if (v >= 0 && kb->b[v].hash == h) {
            *slot = s;
            return v;
        }
    }
    return -1;
}

static void table_remove(fd__kv_blocks *kb, int block) {
    size_t s;
    if (table_find(kb, kb->b[block].hash, &s) == block) kb->table[s] = -2;
    kb->b[block].cached = 0;
}

fd_status fd__kv_blocks_create(int n, int block_size, int prefix, fd__kv_blocks **out) {
    if (n <= 0 || block_size <= 0)
        return fd__error(FD_ERR_INVALID_ARG, "kv blocks: %d blocks of %d tokens", n, block_size);
    fd__kv_blocks *kb = calloc(1, sizeof *kb);
    int ts = 16;
    while (ts < 2 * n) ts *= 2;
    if (kb) {
        kb->b = calloc((size_t)n, sizeof *kb->b);
        kb->free_stack = malloc((size_t)n * sizeof *kb->free_stack);
        kb->table = malloc((size_t)ts * sizeof *kb->table);
    }
    if (!kb || !kb->b || !kb->free_stack || !kb->table) {
        fd__kv_blocks_free(kb);
        return fd__error(FD_ERR_OOM, "kv blocks: out of memory");
    }
    kb->n = n;
    kb->block_size = block_size;
    kb->prefix = prefix;
    kb->table_size = ts;
    for (int i = 0; i < ts; i++) kb->table[i] = -1;
    for (int i = 0; i < n; i++) {
        kb->b[i].lru_prev = kb->b[i].lru_next = -1;
        kb->free_stack[i] = n - 1 - i;
    }
    kb->n_free = n;
    kb->lru_head = kb->lru_tail = -1;
    *out = kb;
    return FD_OK;
}

void fd__kv_blocks_free(fd__kv_blocks *kb) {
    if (!kb) return;
    free(kb->b);
    free(kb->free_stack);
    free(kb->table);
    free(kb);
}

int fd__kv_blocks_available(const fd__kv_blocks *kb) { return kb->n_free + kb->n_lru; }
int fd__kv_blocks_total(const fd__kv_blocks *kb) { return kb->n; }
int fd__kv_blocks_used(const fd__kv_blocks *kb) { return kb->n - kb->n_free - kb->n_lru; }

int fd__kv_blocks_alloc(fd__kv_blocks *kb) {
    int i;
    if (kb->n_free > 0) {
        i = kb->free_stack[--kb->n_free];
    } else if (kb->lru_head >= 0) {
        i = kb->lru_head;
        lru_unlink(kb, i);
        table_remove(kb, i);
    } else {
        return -1;
    }
    kb->b[i].ref = 1;
    kb->b[i].cached = 0;
    return i;
}

void fd__kv_blocks_release(fd__kv_blocks *kb, int i) {
    if (i < 0 || i >= kb->n || kb->b[i].ref <= 0) FD_ASSERT(!"release of a block nobody holds");
    if (--kb->b[i].ref > 0) return;
    if (kb->b[i].cached) lru_push(kb, i);
    else kb->free_stack[kb->n_free++] = i;
}

uint64_t fd__kv_block_hash(uint64_t parent, const int32_t *tokens, int n) {
    uint64_t h = parent ^ 0x9e3779b97f4a7c15ull;  // FNV-1a style over the token bytes
    for (int i = 0; i < n; i++) {
        h ^= (uint32_t)tokens[i];
        h *= 0x100000001b3ull;
        h ^= h >> 32;
    }
    return h ? h : 1;
}

int fd__kv_blocks_lookup(fd__kv_blocks *kb, uint64_t h) {
    size_t s;
    int i = kb->prefix ? table_find(kb, h, &s) : -1;
    if (i < 0) return -1;
    if (kb->b[i].ref++ == 0) lru_unlink(kb, i);
    return i;
}

static void table_put(fd__kv_blocks *kb, int i) {
    size_t slot = slot_of(kb, kb->b[i].hash);
    while (kb->table[slot] >= 0) slot = (slot + 1) & (size_t)(kb->table_size - 1);
    if (kb->table[slot] == -1) kb->used++;
    kb->table[slot] = i;
}

// Drops the tombstones that removals leave (the table is twice the pool: a
// live entry count never passes half of it).
static void table_rebuild(fd__kv_blocks *kb) {
    for (int i = 0; i < kb->table_size; i++) kb->table[i] = -1;
    kb->used = 0;
    for (int i = 0; i < kb->n; i++)
        if (kb->b[i].cached) table_put(kb, i);
}

void fd__kv_blocks_register(fd__kv_blocks *kb, int i, uint64_t h) {
    size_t s;
    if (!kb->prefix || kb->b[i].cached || table_find(kb, h, &s) >= 0) return;
    if (kb->used * 10 >= kb->table_size * 7) table_rebuild(kb);
    kb->b[i].hash = h;
    kb->b[i].cached = 1;
    table_put(kb, i);
}
