#include "cuda/memory-plan.h"

#include "error.h"

void sl_memory_plan_for(const sl_model_info *m, uint64_t context, uint64_t chunk,
                        sl_kv_format format, sl_memory_plan *out)
{
    uint64_t layers = (uint64_t)m->n_layers, kv = 0, ix = 0;
    if (m->kv_lora_rank > 0) { /* MLA: one latent entry per token */
        kv = format == SL_KV_FP8 ? (uint64_t)m->kv_lora_rank + 4 * (uint64_t)(m->kv_lora_rank / 128) +
                                       2 * (uint64_t)m->rope_dim
                                 : 2 * (uint64_t)(m->kv_lora_rank + m->rope_dim);
        if (m->index_top_k > 0)
            ix = format == SL_KV_FP8 ? (uint64_t)m->index_dim + 4 : 2 * (uint64_t)m->index_dim;
    } else {
        kv = 2 * 2 * (uint64_t)m->n_kv_heads * (uint64_t)m->head_dim;
    }
    *out = (sl_memory_plan){0};
    out->weights = m->fp8_weights ? (uint64_t)m->weight_bytes : 2 * m->n_params;
    out->kv_cache = layers * context * kv;
    out->indexer_cache = layers * context * ix;
    out->kv_bytes_per_token = layers * (kv + ix);
    /* a chunk's hidden states and projections in BF16, float32 logits */
    uint64_t width = (uint64_t)m->n_embd + (uint64_t)m->n_ff +
                     (uint64_t)m->n_heads * (uint64_t)m->head_dim * 3;
    out->activations = chunk * (8 * width + 4 * (uint64_t)m->n_vocab);
    /* indexer scores of a chunk (float32) and the top-k it keeps (int32) */
    out->workspace = m->index_top_k > 0 ? chunk * (4 * context + 4 * (uint64_t)m->index_top_k) : 0;
    out->total = out->weights + out->kv_cache + out->indexer_cache + out->activations + out->workspace;
}

static double gib(uint64_t bytes) { return (double)bytes / (double)(1ull << 30); }

sl_status sl_memory_plan_check(const sl_memory_plan *p, uint64_t free_bytes, const char *device,
                               uint64_t context, sl_error *err)
{
    if (p->total <= free_bytes)
        return SL_OK;
    return sl_fail(err, SL_ERR_NO_MEMORY,
                   "%s: %.2f GiB free, but a context of %llu tokens needs %.2f GiB (weights %.2f, "
                   "KV cache %.2f, indexer keys %.2f, activations %.2f, workspace %.2f)",
                   device, gib(free_bytes), (unsigned long long)context, gib(p->total),
                   gib(p->weights), gib(p->kv_cache), gib(p->indexer_cache), gib(p->activations),
                   gib(p->workspace));
}
