/* deepseek-private.h: the DeepSeek-V3.2 model's fields, for the backends
 * that take a loaded model over (engine/cuda/deepseek-cuda.c). */
#ifndef SL_DEEPSEEK_PRIVATE_H
#define SL_DEEPSEEK_PRIVATE_H

#include "arch/deepseek-v32.h"
#include "cpu/matmul.h"

typedef struct {
    float *attn_norm, *ffn_norm, *q_norm, *kv_norm, *ik_norm_w, *ik_norm_b;
    sl_matrix q_a, q_b, kv_a, o, iq, ik, iw;
    float *kv_b; /* float32: the MLA kernels read it per head */
    bool moe;
    sl_matrix gate, up, down; /* the dense FFN, or the shared experts */
    bool has_ffn;
    sl_matrix router;
    float *router_bias;
    sl_matrix *e_gate, *e_up, *e_down; /* n_experts each */
} ds_layer;

struct sl_deepseek {
    sl_ds_config c;
    const char *dir;
    sl_matrix embed, head;
    float *final_norm;
    float *inv_freq; /* qk_rope / 2 */
    float rope_factor, softmax_scale;
    bool fp8_cache; /* sl_engine_options.kv_cache_fp8 */
    ds_layer *layers;
    void **owned;
    size_t n_owned, cap_owned;
};

#endif
