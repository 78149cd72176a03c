// SPDX-License-Identifier: Apache-2.0
// The KV block manager: which physical blocks of the pool are free, who holds
// each (reference counts), and the prefix cache: a full block is known by the
// hash of its tokens chained with its predecessor's hash, so a new sequence
// starting with the same tokens reuses the block instead of recomputing it.
// Cached blocks nobody holds stay reusable until the pool needs them (LRU).
#ifndef FD_ENGINE_KV_BLOCKS_H
#define FD_ENGINE_KV_BLOCKS_H

#include <stdint.h>
#include "fdeploy/status.h"

typedef struct fd__kv_blocks fd__kv_blocks;

fd_status fd__kv_blocks_create(int n_blocks, int block_size, int prefix_caching,
                               fd__kv_blocks **out);
void fd__kv_blocks_free(fd__kv_blocks *kb);

// Blocks that can be handed out now (free + cached but unreferenced).
int fd__kv_blocks_available(const fd__kv_blocks *kb);
int fd__kv_blocks_total(const fd__kv_blocks *kb);
int fd__kv_blocks_used(const fd__kv_blocks *kb);   // referenced by a sequence

// A fresh block (refcount 1), evicting the least recently used cached block if
// needed; -1 when none is left.
int fd__kv_blocks_alloc(fd__kv_blocks *kb);
// Drops one reference; at 0 a hashed block stays cached, others become free.
void fd__kv_blocks_release(fd__kv_blocks *kb, int block);

// Hash of a full block's tokens after `parent` (0 for the first block).
uint64_t fd__kv_block_hash(uint64_t parent, const int32_t *tokens, int n);
// Looks a full block up by hash; on a hit takes a reference and returns it, else -1.
int fd__kv_blocks_lookup(fd__kv_blocks *kb, uint64_t hash);
// Records that `block` (now full) holds the tokens with this hash.
void fd__kv_blocks_register(fd__kv_blocks *kb, int block, uint64_t hash);

#endif
