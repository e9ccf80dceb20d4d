// indexer-cache.cuh: DeepSeek's FP8 indexer cache (DeepGEMM's paged layout),
// written and read back by lightning.cu and scored by indexer.cu's paged
// kernel: blocks of kIndexerPage tokens, each kIndexerPage·D e4m3 bytes
// (token-major) then kIndexerPage float32 scales, one a token (132 bytes a
// token at D = 128).
#ifndef SL_INDEXER_CACHE_CUH
#define SL_INDEXER_CACHE_CUH

#include <stddef.h>

constexpr int kIndexerPage = 64;

__host__ __device__ __forceinline__ size_t indexer_block_bytes(int D)
{
    return (size_t)kIndexerPage * (size_t)(D + 4);
}

// Byte offsets, from the cache's start, of the key in slot `slot` of block
// `block`, and of its scale.
__host__ __device__ __forceinline__ size_t indexer_key_offset(int D, int block, int slot)
{
    return (size_t)block * indexer_block_bytes(D) + (size_t)slot * D;
}

__host__ __device__ __forceinline__ size_t indexer_scale_offset(int D, int block, int slot)
{
    return (size_t)block * indexer_block_bytes(D) + (size_t)kIndexerPage * D + 4 * (size_t)slot;
}

#endif
