/* deepseek-v32.h: the DeepSeek-V3.2 forward pass on the CPU, from a Hugging
 * Face checkpoint directory.
 *
 * Per layer: RMSNorm; MLA (q through q_a_proj, its RMSNorm and q_b_proj;
 * the latent through kv_a_proj_with_mqa and its RMSNorm; interleaved YaRN
 * RoPE on the last qk_rope dims); the lightning indexer (query from the MLA
 * compressed query, LayerNorm key with bias, NeoX RoPE on the first qk_rope
 * dims, I[t,s] = Σ_h w[t,h]·ReLU(q[t,h]·k[s]) with the head weights scaled
 * by H^-½·D^-½); exact top-k (ties to the lower position); attention over
 * the selection with the YaRN softmax scale, in MHA form for prefill chunks
 * and the absorbed MQA form for single tokens (arch/mla.h); then a dense
 * SwiGLU FFN for the first first_k_dense_replace layers, and the MoE after
 * (arch/moe.h) with shared experts.
 *
 * Weights: F32, BF16 and F16 are used where they are mapped; FP8 e4m3 with
 * block scales (weight_scale_inv) is dequantised to float32 at load, which is
 * exact for power-of-two scales. Activations are float32. */
#ifndef SL_DEEPSEEK_V32_H
#define SL_DEEPSEEK_V32_H

#include "arch/arch.h"
#include "arch/deepseek-config.h"
#include "model/checkpoint.h"

typedef struct sl_deepseek sl_deepseek;

extern const sl_arch_ops sl_deepseek_ops;

/* Reads config.json and checks every tensor's presence, shape and dtype;
 * fills info's model fields. Errors name the file and the tensor or key. */
sl_status sl_deepseek_load(const sl_checkpoint *ck, sl_deepseek **out, sl_model_info *info,
                           sl_error *err);
const sl_ds_config *sl_deepseek_config(const sl_deepseek *model);
/* DeepSeek's FP8 caches (sl_engine_options.kv_cache_fp8), before any session;
 * needs a power-of-two index head dim (the FP8 keys are Hadamard-rotated). */
sl_status sl_deepseek_use_fp8_cache(sl_deepseek *model, sl_error *err);

#endif
