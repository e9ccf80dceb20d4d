/* The GPU memory plan against figures published for these shapes:
 * - DeepSeek-V3.2 at 128K tokens (reference/dsa.md §3): the FP8 MLA cache
 *   (656 B per token and layer, 61 layers) is 4.88 GiB and the indexer's keys
 *   (132 B) 0.98 GiB; FlashMLA's blog puts a BF16 cache of 62 layers at
 *   576 × 2 × 62 × 128 × 1024 B = 8.72 GiB.
 * - SmolLM2-135M at 8,192 tokens: an F16 K and V cache of 180 MiB, as
 *   llama.cpp reports for that model (30 layers, 3 KV heads of 64).
 * And a plan that does not fit is refused with every part named. */
#include "../test-util.h"
#include "cuda/memory-plan.h"

static double gib(uint64_t b) { return (double)b / (double)(1ull << 30); }

int main(void)
{
    sl_model_info v32 = {.architecture = "deepseek_v32", .n_layers = 61, .n_embd = 7168,
                         .n_heads = 128, .n_kv_heads = 1, .head_dim = 192, .n_ff = 18432,
                         .n_vocab = 129280, .index_top_k = 2048, .index_heads = 64,
                         .index_dim = 128, .kv_lora_rank = 512, .rope_dim = 64,
                         .n_params = 671000000000ull, .fp8_weights = true,
                         .weight_bytes = (size_t)689000000000ull};
    sl_memory_plan p;
    sl_memory_plan_for(&v32, 131072, 512, SL_KV_FP8, &p);
    CHECKF(fabs(gib(p.kv_cache) - 4.88) < 0.005, "FP8 MLA cache %.3f GiB", gib(p.kv_cache));
    CHECKF(fabs(gib(p.indexer_cache) - 0.98) < 0.005, "indexer cache %.3f GiB", gib(p.indexer_cache));
    CHECK(p.kv_bytes_per_token == 61 * (656 + 132));
    CHECK(p.weights == 689000000000ull);
    CHECK(p.workspace == 512ull * (4 * 131072 + 4 * 2048)); /* bounded by the chunk */

    sl_model_info v32_62 = v32;
    v32_62.n_layers = 62;
    sl_memory_plan_for(&v32_62, 131072, 512, SL_KV_BF16, &p);
    CHECKF(fabs(gib(p.kv_cache) - 8.72) < 0.005, "BF16 MLA cache %.3f GiB", gib(p.kv_cache));

    sl_model_info smol = {.architecture = "llama", .n_layers = 30, .n_embd = 576, .n_heads = 9,
                          .n_kv_heads = 3, .head_dim = 64, .n_ff = 1536, .n_vocab = 49152,
                          .n_params = 134515008};
    sl_memory_plan_for(&smol, 8192, 512, SL_KV_BF16, &p);
    CHECKF(p.kv_cache == 180ull << 20, "SmolLM2 cache %llu B", (unsigned long long)p.kv_cache);
    CHECK(p.indexer_cache == 0 && p.workspace == 0 && p.weights == 2 * 134515008ull);

    sl_error err = {0};
    sl_memory_plan_for(&v32, 131072, 512, SL_KV_FP8, &p);
    CHECK(sl_memory_plan_check(&p, p.total, "GPU 0", 131072, &err) == SL_OK);
    CHECK(sl_memory_plan_check(&p, p.total - 1, "GPU 0 (NVIDIA H100)", 131072, &err) ==
          SL_ERR_NO_MEMORY);
    CHECKF(strstr(err.message, "GPU 0 (NVIDIA H100)") && strstr(err.message, "131072 tokens") &&
           strstr(err.message, "KV cache 4.88") && strstr(err.message, "indexer keys 0.98"),
           "%s", err.message);
    return sl_test_finish();
}
