/* llama.h: the llama-architecture forward pass on the CPU.
 *
 * Embeddings, RMSNorm, RoPE (interleaved pairs: GGUF stores llama Q/K rows
 * permuted for it), grouped-query attention with a KV cache, SwiGLU FFN,
 * output head (tied to the embeddings when the file has no output.weight).
 * Activations are float32; weights stay in their file types (cpu/matmul.h). */
#ifndef SL_LLAMA_H
#define SL_LLAMA_H

#include "arch/arch.h"
#include "cpu/threads.h"
#include "dsa/dsa.h"
#include "model/gguf.h"

typedef struct sl_llama sl_llama;
typedef struct sl_llama_state sl_llama_state;

extern const sl_arch_ops sl_llama_ops;

/* Reads hyper-parameters and checks every tensor's presence, shape and type;
 * fills info's model fields. Errors name the file and tensor or key. */
sl_status sl_llama_load(const sl_gguf *gguf, sl_llama **out, sl_model_info *info, sl_error *err);
void sl_llama_free(sl_llama *model);

/* KV cache and activations for up to max_tokens positions. */
sl_status sl_llama_state_new(const sl_llama *model, const sl_pool *pool, size_t max_tokens,
                             bool use_blas, sl_llama_state **out, sl_error *err);
void sl_llama_state_free(sl_llama_state *state);
/* Bytes a state for max_tokens positions would allocate. */
size_t sl_llama_state_bytes(const sl_llama *model, int n_threads, size_t max_tokens);
/* The most tokens one sl_llama_forward call takes. */
size_t sl_llama_chunk(const sl_llama_state *state);

/* Runs n ≤ sl_llama_chunk() tokens at positions pos … pos+n-1 (the cache
 * must hold positions < pos). logits: NULL; or n_vocab floats for the last
 * token; or, with all_logits, n × n_vocab floats. dsa: NULL for dense
 * attention, else the session's DSA state (begun for this call). */
void sl_llama_forward(const sl_llama *model, sl_llama_state *state, sl_pool *pool,
                      const int32_t *ids, size_t n, size_t pos, float *logits, bool all_logits,
                      sl_dsa *dsa);

#endif
