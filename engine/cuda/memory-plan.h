/* memory-plan.h: what a model and a context need on a GPU, before anything
 * is allocated, so that one that does not fit is refused with the sizes.
 *
 * Weights are held in BF16 on the device (FP8 checkpoints keep their e4m3
 * bytes and scales). The KV cache per token and layer:
 *   llama family: keys and values of every KV head, BF16;
 *   DeepSeek-V3.2: the MLA entry (latent ‖ rope key: 1152 B in BF16, or
 *   DeepSeek's 656 B FP8 entry) and the indexer key (index_dim BF16 values,
 *   or 132 B in FP8: 128 e4m3 bytes and a float32 scale).
 * Workspaces are bounded by the prefill chunk, not by the context: indexer
 * scores are made for chunk rows at a time (reference/dsa.md §8.4). */
#ifndef SL_MEMORY_PLAN_H
#define SL_MEMORY_PLAN_H

#include "sightline-engine.h"

typedef enum { SL_KV_BF16, SL_KV_FP8 } sl_kv_format;

typedef struct {
    uint64_t weights, kv_cache, indexer_cache, activations, workspace, total;
    uint64_t kv_bytes_per_token; /* over all layers, MLA or K/V and indexer together */
} sl_memory_plan;

/* The plan for one sequence of context tokens, prefilled chunk rows at a time. */
void sl_memory_plan_for(const sl_model_info *m, uint64_t context, uint64_t chunk,
                        sl_kv_format format, sl_memory_plan *out);

/* SL_OK when the plan fits in free bytes; else SL_ERR_NO_MEMORY with a message
 * that names the device and every part of the plan in GiB. */
sl_status sl_memory_plan_check(const sl_memory_plan *plan, uint64_t free_bytes,
                               const char *device, uint64_t context, sl_error *err);

#endif
