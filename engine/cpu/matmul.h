/* matmul.h: y = x · Wᵀ for weight matrices kept in their file type.
 *
 * Weights stay quantised in the mapping; each path computes with the exact
 * dequantised values in float32 (fp32 accumulation), so results match a
 * reference that dequantises first, up to summation order. One token:
 * fused per-type dot products. Many tokens: rows are dequantised in chunks
 * into a scratch buffer, then multiplied by BLAS sgemm where built with it,
 * else by blocked dot products on the thread pool. */
#ifndef SL_MATMUL_H
#define SL_MATMUL_H

#include "cpu/threads.h"

typedef struct {
    const char *name;
    uint32_t type;  /* ggml type */
    int64_t rows;   /* output features */
    int64_t cols;   /* input features: the contiguous dimension */
    const void *data;
    size_t row_bytes;
} sl_matrix;

typedef struct sl_matmul_scratch sl_matmul_scratch;

/* Scratch for matrices of at most max_cols columns on pool's threads. */
sl_status sl_matmul_scratch_new(const sl_pool *pool, int64_t max_cols, sl_matmul_scratch **out,
                                sl_error *err);
void sl_matmul_scratch_free(sl_matmul_scratch *scratch);

/* y[t][r] = Σ_c W[r][c]·x[t][c] for t < n_tokens; x is n_tokens × cols, y is
 * n_tokens × rows, both row-major. */
void sl_matmul(sl_pool *pool, sl_matmul_scratch *scratch, const sl_matrix *w, const float *x,
               size_t n_tokens, float *y);

/* Dequantises row r of w into out (cols floats). */
void sl_matrix_row(const sl_matrix *w, int64_t r, float *out);

float sl_dot_f32(const float *a, const float *b, size_t n);

#endif
