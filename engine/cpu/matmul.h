/* matmul.h: y = x · Wᵀ for weight matrices kept in their file type.
 *
 * Weights stay quantised in the mapping; each path computes with the exact
 * dequantised values in float32 (fp32 accumulation), so results match a
 * reference that dequantises first, up to summation order. One token:
 * fused per-type dot products. Many tokens: rows are dequantised in chunks
 * into packed panels and multiplied by a register-blocked kernel on the
 * thread pool; or, where built with BLAS and asked for, dequantised in row
 * chunks and multiplied by BLAS sgemm. */
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

/* Scratch for matrices of at most max_cols columns on pool's threads;
 * use_blas picks BLAS sgemm for many tokens (SL_ERR_UNSUPPORTED when the
 * engine was built without BLAS). */
sl_status sl_matmul_scratch_new(const sl_pool *pool, int64_t max_cols, bool use_blas,
                                sl_matmul_scratch **out, sl_error *err);
/* Whether this build can use BLAS. */
bool sl_matmul_have_blas(void);
void sl_matmul_scratch_free(sl_matmul_scratch *scratch);

/* y[t][r] = Σ_c W[r][c]·x[t][c] for t < n_tokens; x is n_tokens × cols, y is
 * n_tokens × rows, both row-major. */
void sl_matmul(sl_pool *pool, sl_matmul_scratch *scratch, const sl_matrix *w, const float *x,
               size_t n_tokens, float *y);

/* Dequantises row r of w into out (cols floats). */
void sl_matrix_row(const sl_matrix *w, int64_t r, float *out);

float sl_dot_f32(const float *a, const float *b, size_t n);

#endif
