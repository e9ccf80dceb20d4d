/* deepseek-config.h: the hyper-parameters of a DeepSeek-V3.2 checkpoint,
 * read from its Hugging Face config.json and checked for consistency.
 *
 * Keys as DeepSeek's own file names them (rope_scaling with "type": "yarn"),
 * or as transformers writes them (rope_parameters with "rope_type"). Every
 * error names the file and the key. */
#ifndef SL_DEEPSEEK_CONFIG_H
#define SL_DEEPSEEK_CONFIG_H

#include "model/json.h"

typedef struct {
    int vocab, hidden, n_layers, n_heads;
    int q_lora, kv_lora, qk_nope, qk_rope, v_head; /* MLA */
    int inter, moe_inter;                          /* dense and per-expert FFN widths */
    int first_dense;                               /* leading layers with a dense FFN */
    int n_experts, n_shared, n_group, topk_group, experts_per_tok;
    bool norm_topk;
    float routed_scale;
    int index_heads, index_dim, index_topk;        /* the lightning indexer */
    float norm_eps;
    int max_positions;
    int bos, eos;                                  /* -1 when absent */
    bool tied;                                     /* tie_word_embeddings */
    /* RoPE: YaRN when yarn_factor > 1, plain otherwise. */
    float rope_theta, yarn_factor, yarn_beta_fast, yarn_beta_slow;
    float yarn_mscale, yarn_mscale_all_dim;
    int yarn_original;                             /* original_max_position_embeddings */
    bool fp8;                                      /* quantization_config: fp8 e4m3 */
    int fp8_block[2];                              /* weight_block_size (rows, cols) */
} sl_ds_config;

/* Reads and validates config (the parsed file); path names it in errors. */
sl_status sl_ds_config_read(const sl_json *config, const char *path, sl_ds_config *out,
                            sl_error *err);

/* The rotary frequencies of the qk_rope dims (qk_rope/2 floats), with YaRN's
 * blend of interpolation and extrapolation when configured. */
void sl_ds_rope_freqs(const sl_ds_config *c, float *inv_freq);
/* The factor YaRN applies to cos and sin (1 for DeepSeek's mscale = mscale_all_dim). */
float sl_ds_rope_attention_factor(const sl_ds_config *c);
/* The softmax scale of MLA: (qk_nope + qk_rope)^-½, times YaRN's mscale². */
float sl_ds_softmax_scale(const sl_ds_config *c);

#endif
