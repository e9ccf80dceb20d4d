/* llama-private.h: the llama model's weights, for the architecture's other
 * backends (engine/cuda/llama-cuda.c uploads them). */
#ifndef SL_LLAMA_PRIVATE_H
#define SL_LLAMA_PRIVATE_H

#include "arch/llama.h"
#include "cpu/matmul.h"

typedef struct {
    float *attn_norm, *ffn_norm; /* float32 copies, whatever the file type */
    sl_matrix wq, wk, wv, wo, gate, up, down;
} llama_layer;

struct sl_llama {
    int n_layers, n_embd, n_heads, n_kv_heads, head_dim, rope_dims, n_ff, n_vocab;
    float rope_theta, eps;
    sl_matrix embd, output;
    float *output_norm;
    float *inv_freq; /* rope_dims/2 rotary frequencies */
    llama_layer *layers;
};

#endif
