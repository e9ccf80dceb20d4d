/* indexer.h: a lightning indexer for a llama-family model, from its file.
 *
 * For layer l, query token t and earlier position s (x = the layer's
 * attention input, i.e. the RMS-normed hidden state):
 *   q[t,h] = RoPE(Wq x_t)[h]            H heads of D dims
 *   k[s]   = RoPE(LayerNorm(Wk x_s))    one D-dim key, LayerNorm with bias
 *   w[t,h] = (Wp x_t)[h] · H^-½ · D^-½
 *   I[t,s] = Σ_h w[t,h] · ReLU(q[t,h] · k[s])      (float32 throughout)
 * RoPE rotates the FIRST rope_dims of each vector with NeoX pairing (i with
 * i + rope_dims/2), as DeepSeek-V3.2's indexer does; the model's rope base.
 * The file format is in engine/README.md. */
#ifndef SL_INDEXER_H
#define SL_INDEXER_H

#include "cpu/matmul.h"

typedef struct sl_indexer sl_indexer;

typedef struct {
    sl_matrix wq, wk, wp; /* float32 copies: [H·D × n_embd], [D × n_embd], [H × n_embd] */
    const float *norm_weight, *norm_bias; /* D */
} sl_indexer_layer;

/* Opens and checks an indexer file against the model it must belong to
 * (info, and the SHA-256 of the model file as 64 hex digits). */
sl_status sl_indexer_load(const char *path, const sl_model_info *info, const char *model_sha256,
                          sl_indexer **out, sl_error *err);
void sl_indexer_free(sl_indexer *indexer);

int sl_indexer_heads(const sl_indexer *indexer);
int sl_indexer_head_dim(const sl_indexer *indexer);
int sl_indexer_top_k(const sl_indexer *indexer); /* the top-k it was trained for */
int sl_indexer_rope_dims(const sl_indexer *indexer);
float sl_indexer_norm_eps(const sl_indexer *indexer);
/* The layer's weights, or NULL where the layer keeps dense attention. */
const sl_indexer_layer *sl_indexer_layer_at(const sl_indexer *indexer, int layer);

/* For n rows of x (n × n_embd) at positions pos …: q (n × H·D), w (n × H)
 * and keys (n × D), RoPE and norms applied. scratch: a matmul scratch for
 * n_embd columns. */
void sl_indexer_project(const sl_indexer *indexer, const sl_indexer_layer *layer, sl_pool *pool,
                        sl_matmul_scratch *scratch, const float *x, size_t n, size_t pos, float *q,
                        float *w, float *keys);

/* I[t, s] for s in [s0, s0 + n): out[j] = Σ_h w[h]·ReLU(q[h]·keys[s0 + j]). */
void sl_indexer_scores(const sl_indexer *indexer, const float *q, const float *w,
                       const float *keys, size_t s0, size_t n, float *out);

/* The same score for any indexer of H heads of D dims (DeepSeek-V3.2's own too). */
void sl_lightning_scores(size_t H, size_t D, const float *q, const float *w, const float *keys,
                         size_t s0, size_t n, float *out);

#endif
