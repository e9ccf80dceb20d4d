/* llama-indexer.h: the launchers of llama-indexer.cu, what a lightning
 * indexer file of a llama-family model needs beside sightline-kernels.h:
 * its key's LayerNorm, scores for any number of heads and head size, and
 * the share of a score row that a selection keeps (the oracle's record).
 * Conventions as sightline-kernels.h: device pointers, row-major, the
 * launch's cudaError_t (cudaErrorInvalidValue for bad sizes). */
#ifndef SL_KERNELS_LLAMA_INDEXER_H
#define SL_KERNELS_LLAMA_INDEXER_H

#include "sightline-kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per row of x [n][dim], in place: (x - mean) / sqrt(var + eps) · weight +
 * bias, mean and variance in double, as engine/cpu/ops.c's sl_layernorm. */
cudaError_t sl_k_layernorm(float *x, const float *weight, const float *bias, int n, int dim,
                           float eps, cudaStream_t stream);

/* sl_k_indexer_bf16's scores, layouts and -inf outside [ks, ke) alike, for
 * any H ≥ 1 and D ≥ 1 with H·D ≤ 12288: one thread a key, the row's query
 * in shared memory, fp32 sums in the CPU's order (per head the dot product,
 * then Σ_h). Slower than the tensor-core kernel; for indexers whose shape
 * that one does not take. */
cudaError_t sl_k_indexer_bf16_any(const sl_bf16 *q, const float *w, const sl_bf16 *k,
                                  const int32_t *ks, const int32_t *ke, int rows, int H, int D,
                                  int L, float *scores, size_t score_stride, cudaStream_t stream);

/* out[r] = Σ_j scores[r·score_stride + sel[r·k + j]] over the entries of
 * sel's row r that are ≥ 0 (in double): the mass a row's selection keeps. */
cudaError_t sl_k_selected_sum(const float *scores, size_t score_stride, const int32_t *sel,
                              int rows, int k, double *out, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
