#include "cpu/matmul.h"

#include "cpu/simd.h"
#include "error.h"
#include "model/dequant.h"

#include <stdlib.h>

#ifdef SL_HAVE_BLAS
#include <cblas.h>
#endif

/* Below this many tokens, rows are streamed (memory-bound); at or above it,
 * rows are dequantised once per chunk and reused across tokens. */
enum { GEMM_MIN_TOKENS = 8, CHUNK_FLOATS = 1 << 20, TOKEN_BLOCK = 16, ROW_BLOCK = 16 };

struct sl_matmul_scratch {
    int64_t max_cols;
    int n_threads;
    float *rows;  /* n_threads × max_cols: one dequantised row per thread */
    float *xsum;  /* GEMM_MIN_TOKENS × max_cols/32: block sums of x */
    float *chunk; /* CHUNK_FLOATS or max_cols: a dequantised row chunk */
};

sl_status sl_matmul_scratch_new(const sl_pool *pool, int64_t max_cols, sl_matmul_scratch **out,
                                sl_error *err)
{
    sl_matmul_scratch *s = calloc(1, sizeof *s);
    if (!s)
        return sl_fail(err, SL_ERR_NO_MEMORY, "matmul: out of memory");
    s->max_cols = max_cols;
    s->n_threads = sl_pool_size(pool);
    s->rows = malloc((size_t)s->n_threads * (size_t)max_cols * sizeof(float));
    s->xsum = malloc(GEMM_MIN_TOKENS * ((size_t)max_cols / 32 + 1) * sizeof(float));
    size_t chunk = (size_t)max_cols > CHUNK_FLOATS ? (size_t)max_cols : CHUNK_FLOATS;
    s->chunk = malloc(chunk * sizeof(float));
    if (!s->rows || !s->xsum || !s->chunk) {
        sl_matmul_scratch_free(s);
        return sl_fail(err, SL_ERR_NO_MEMORY, "matmul: out of memory for scratch of %lld columns",
                       (long long)max_cols);
    }
    *out = s;
    return SL_OK;
}

void sl_matmul_scratch_free(sl_matmul_scratch *s)
{
    if (!s)
        return;
    free(s->rows);
    free(s->xsum);
    free(s->chunk);
    free(s);
}

float sl_dot_f32(const float *a, const float *b, size_t n)
{
    sl_v16f s0 = {0}, s1 = {0};
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 += sl_load16(a + i) * sl_load16(b + i);
        s1 += sl_load16(a + i + 16) * sl_load16(b + i + 16);
    }
    for (; i + 16 <= n; i += 16)
        s0 += sl_load16(a + i) * sl_load16(b + i);
    float s = sl_hsum16(s0 + s1);
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static float f16_at(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return sl_f16_to_f32(h);
}

/* Fused dot products of one quantised row with x (cols floats). xsum holds
 * the sums of x over each 32-element block (used by types with an offset). */
static float dot_q8_0(const uint8_t *row, const float *x, const float *xsum, int64_t cols)
{
    (void)xsum;
    float s = 0.0f;
    for (int64_t b = 0; b < cols / 32; b++, row += 34, x += 32) {
        sl_v16i8 q0, q1;
        memcpy(&q0, row + 2, 16);
        memcpy(&q1, row + 18, 16);
        sl_v16f acc = __builtin_convertvector(q0, sl_v16f) * sl_load16(x) +
                      __builtin_convertvector(q1, sl_v16f) * sl_load16(x + 16);
        s += f16_at(row) * sl_hsum16(acc);
    }
    return s;
}

static float dot_q4_1(const uint8_t *row, const float *x, const float *xsum, int64_t cols)
{
    float s = 0.0f;
    for (int64_t b = 0; b < cols / 32; b++, row += 20, x += 32) {
        sl_v16u8 q;
        memcpy(&q, row + 4, 16);
        sl_v16f lo = __builtin_convertvector(q & 0xF, sl_v16f);
        sl_v16f hi = __builtin_convertvector(q >> 4, sl_v16f);
        float qx = sl_hsum16(lo * sl_load16(x) + hi * sl_load16(x + 16));
        s += f16_at(row) * qx + f16_at(row + 2) * xsum[b];
    }
    return s;
}

static float dot_q4_0(const uint8_t *row, const float *x, const float *xsum, int64_t cols)
{
    float s = 0.0f;
    for (int64_t b = 0; b < cols / 32; b++, row += 18, x += 32) {
        sl_v16u8 q;
        memcpy(&q, row + 2, 16);
        sl_v16f lo = __builtin_convertvector(q & 0xF, sl_v16f);
        sl_v16f hi = __builtin_convertvector(q >> 4, sl_v16f);
        float qx = sl_hsum16(lo * sl_load16(x) + hi * sl_load16(x + 16));
        s += f16_at(row) * (qx - 8.0f * xsum[b]);
    }
    return s;
}

typedef float (*fused_dot_fn)(const uint8_t *, const float *, const float *, int64_t);

static fused_dot_fn fused_dot_for(uint32_t type)
{
    switch (type) {
    case SL_TYPE_Q8_0: return dot_q8_0;
    case SL_TYPE_Q4_1: return dot_q4_1;
    case SL_TYPE_Q4_0: return dot_q4_0;
    default: return NULL;
    }
}

void sl_matrix_row(const sl_matrix *w, int64_t r, float *out)
{
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
    sl_dequantize_row(w->type, row, out, (size_t)w->cols);
}

/* ---- one token, or a few: stream the rows ------------------------------ */

typedef struct {
    const sl_matrix *w;
    sl_matmul_scratch *scratch;
    const float *x;
    const float *xsum; /* n_tokens × cols/32 */
    size_t n_tokens;
    float *y;
} stream_job;

static void stream_rows(void *p, size_t block, int thread)
{
    stream_job *job = p;
    const sl_matrix *w = job->w;
    int64_t r0 = (int64_t)block * ROW_BLOCK;
    int64_t r1 = r0 + ROW_BLOCK < w->rows ? r0 + ROW_BLOCK : w->rows;
    fused_dot_fn fused = fused_dot_for(w->type);
    size_t nb = (size_t)w->cols / 32;
    float *buf = job->scratch->rows + (size_t)thread * (size_t)job->scratch->max_cols;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
        const float *wrow = NULL;
        if (w->type == SL_TYPE_F32)
            wrow = (const float *)(const void *)row;
        else if (!fused) {
            sl_dequantize_row(w->type, row, buf, (size_t)w->cols);
            wrow = buf;
        }
        for (size_t t = 0; t < job->n_tokens; t++) {
            const float *xt = job->x + t * (size_t)w->cols;
            job->y[t * (size_t)w->rows + (size_t)r] =
                wrow ? sl_dot_f32(wrow, xt, (size_t)w->cols)
                     : fused(row, xt, job->xsum + t * nb, w->cols);
        }
    }
}

static void matmul_stream(sl_pool *pool, sl_matmul_scratch *scratch, const sl_matrix *w,
                          const float *x, size_t n_tokens, float *y)
{
    size_t nb = (size_t)w->cols / 32;
    if (fused_dot_for(w->type)) {
        for (size_t t = 0; t < n_tokens; t++)
            for (size_t b = 0; b < nb; b++) {
                const float *xb = x + t * (size_t)w->cols + b * 32;
                float s = 0.0f;
                for (int i = 0; i < 32; i++)
                    s += xb[i];
                scratch->xsum[t * nb + b] = s;
            }
    }
    stream_job job = {w, scratch, x, scratch->xsum, n_tokens, y};
    size_t blocks = (size_t)((w->rows + ROW_BLOCK - 1) / ROW_BLOCK);
    sl_pool_for(pool, blocks, stream_rows, &job);
}

/* ---- many tokens: dequantise a chunk of rows, then a matrix product ---- */

typedef struct {
    const sl_matrix *w;
    int64_t r0;
    float *chunk;
} dequant_job;

static void dequant_rows(void *p, size_t i, int thread)
{
    (void)thread;
    dequant_job *job = p;
    sl_matrix_row(job->w, job->r0 + (int64_t)i, job->chunk + i * (size_t)job->w->cols);
}

#ifndef SL_HAVE_BLAS
typedef struct {
    const float *a; /* n_rows × cols, dequantised weights */
    int64_t n_rows, cols, ldy, r0;
    const float *x;
    size_t n_tokens;
    float *y;
} gemm_job;

/* One tile of token block × row block, dot products kept in cache. */
static void gemm_tile(void *p, size_t tile, int thread)
{
    (void)thread;
    gemm_job *job = p;
    size_t row_blocks = (size_t)((job->n_rows + ROW_BLOCK - 1) / ROW_BLOCK);
    size_t tb = tile / row_blocks, rb = tile % row_blocks;
    size_t t1 = (tb + 1) * TOKEN_BLOCK < job->n_tokens ? (tb + 1) * TOKEN_BLOCK : job->n_tokens;
    int64_t r1 = (int64_t)(rb + 1) * ROW_BLOCK < job->n_rows ? (int64_t)(rb + 1) * ROW_BLOCK
                                                               : job->n_rows;
    for (size_t t = tb * TOKEN_BLOCK; t < t1; t++)
        for (int64_t r = (int64_t)rb * ROW_BLOCK; r < r1; r++)
            job->y[t * (size_t)job->ldy + (size_t)(job->r0 + r)] =
                sl_dot_f32(job->a + (size_t)r * (size_t)job->cols, job->x + t * (size_t)job->cols,
                           (size_t)job->cols);
}
#endif

static void matmul_chunked(sl_pool *pool, sl_matmul_scratch *scratch, const sl_matrix *w,
                           const float *x, size_t n_tokens, float *y)
{
    int64_t chunk_rows = CHUNK_FLOATS / w->cols;
    if (chunk_rows < 1)
        chunk_rows = 1;
    for (int64_t r0 = 0; r0 < w->rows; r0 += chunk_rows) {
        int64_t n = w->rows - r0 < chunk_rows ? w->rows - r0 : chunk_rows;
        const float *a = scratch->chunk;
        if (w->type == SL_TYPE_F32) {
            a = (const float *)(const void *)((const uint8_t *)w->data + (size_t)r0 * w->row_bytes);
        } else {
            dequant_job dj = {w, r0, scratch->chunk};
            sl_pool_for(pool, (size_t)n, dequant_rows, &dj);
        }
#ifdef SL_HAVE_BLAS
        /* y[:, r0:r0+n] = x · aᵀ */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_tokens, (int)n, (int)w->cols,
                    1.0f, x, (int)w->cols, a, (int)w->cols, 0.0f, y + r0, (int)w->rows);
#else
        gemm_job gj = {a, n, w->cols, w->rows, r0, x, n_tokens, y};
        size_t tiles = ((n_tokens + TOKEN_BLOCK - 1) / TOKEN_BLOCK) *
                       (size_t)((n + ROW_BLOCK - 1) / ROW_BLOCK);
        sl_pool_for(pool, tiles, gemm_tile, &gj);
#endif
    }
}

void sl_matmul(sl_pool *pool, sl_matmul_scratch *scratch, const sl_matrix *w, const float *x,
               size_t n_tokens, float *y)
{
    if (n_tokens < GEMM_MIN_TOKENS)
        matmul_stream(pool, scratch, w, x, n_tokens, y);
    else
        matmul_chunked(pool, scratch, w, x, n_tokens, y);
}
