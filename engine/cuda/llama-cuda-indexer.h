/* llama-cuda-indexer.h: a llama-family model's lightning indexer file
 * (dsa/indexer.h) on the GPU.
 *
 * The indexer's weights are uploaded in BF16 once, when the engine loads the
 * file (sl_cuda_indexer_weights), and each session keeps its key cache in
 * BF16 on the device (max_tokens × D for each layer that selects). Queries,
 * weights and keys are computed as sl_indexer_project computes them (cuBLAS
 * products of BF16 with float32 results, RoPE with NeoX pairs on the first
 * rope_dims, the key's LayerNorm with bias), and scored by sl_k_indexer_any
 * (the tensor-core kernel where it takes the shape, else a generic one). */
#ifndef SL_LLAMA_CUDA_INDEXER_H
#define SL_LLAMA_CUDA_INDEXER_H

#include "dsa/indexer.h"
#include "sightline-kernels.h"

#include <cublas_v2.h>

typedef struct sl_cuda_indexer_weights sl_cuda_indexer_weights;
typedef struct sl_cuda_indexer sl_cuda_indexer;

/* Uploads ix's weights to the current device for every session of the
 * engine. rope_theta: the model's. */
sl_status sl_cuda_indexer_weights_new(const sl_indexer *ix, int n_layers, int n_embd,
                                      float rope_theta, sl_cuda_indexer_weights **out,
                                      sl_error *err);
void sl_cuda_indexer_weights_free(sl_cuda_indexer_weights *w);
/* The indexer they were uploaded from. */
const sl_indexer *sl_cuda_indexer_weights_source(const sl_cuda_indexer_weights *w);

/* A session's side, over weights w (which must outlive it): its key cache of
 * max_tokens positions and the buffers of forward calls of at most chunk
 * rows. */
sl_status sl_cuda_indexer_new(const sl_cuda_indexer_weights *w, size_t max_tokens, size_t chunk,
                              sl_cuda_indexer **out, sl_error *err);
void sl_cuda_indexer_free(sl_cuda_indexer *cix);
const sl_cuda_indexer_weights *sl_cuda_indexer_weights_of(const sl_cuda_indexer *cix);

/* For n rows of the layer's attention input x (BF16, n × n_embd) at
 * positions pos … (or, pos_at non-NULL, one row at the position *pos_at read
 * on the device: a decode step captured once as a graph): the rows'
 * queries and head weights, and their keys into the layer's cache. Enqueued
 * on stream (which blas runs on). */
sl_status sl_cuda_indexer_project(sl_cuda_indexer *cix, cublasHandle_t blas, cudaStream_t stream,
                                  int layer, const sl_bf16 *x, int n, int pos, const int32_t *pos_at,
                                  sl_error *err);
/* After sl_cuda_indexer_project of the same rows: I[t, s] for s < L into
 * scores[t·L + s], -inf past row t's length row_len[t] (device, n values,
 * pos + t + 1). L: pos + n, or any more (a graph's step: the cache's length). */
sl_status sl_cuda_indexer_scores(sl_cuda_indexer *cix, cudaStream_t stream, int layer, int n,
                                 int L, const int32_t *row_len, float *scores, sl_error *err);

#endif
