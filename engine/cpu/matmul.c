#include "cpu/matmul.h"

#include "cpu/simd.h"
#include "error.h"
#include "model/dequant.h"

#include <stdlib.h>

#ifdef SL_HAVE_BLAS
#include <cblas.h>
#endif

#ifdef __F16C__
#include <immintrin.h>
#endif


/* Below this many tokens, rows are streamed (memory-bound); at or above it,
 * rows are dequantised once per chunk and reused across tokens. */
enum { GEMM_MIN_TOKENS = 8, ROW_BLOCK = 16, PANEL_ROWS = 32, TOKEN_TILE = 6, BLAS_ROWS = 512 };

struct sl_matmul_scratch {
    int64_t max_cols;
    int n_threads;
    float *rows;  /* n_threads × max_cols: one dequantised row per thread */
    float *xsum;  /* GEMM_MIN_TOKENS × max_cols/32: block sums of x */
    float *panels; /* n_threads × PANEL_ROWS × max_cols: one packed panel per thread */
    float *blas_rows; /* BLAS_ROWS × max_cols dequantised rows, when BLAS is used */
};

bool sl_matmul_have_blas(void)
{
#ifdef SL_HAVE_BLAS
    return true;
#else
    return false;
#endif
}

sl_status sl_matmul_scratch_new(const sl_pool *pool, int64_t max_cols, bool use_blas,
                                sl_matmul_scratch **out, sl_error *err)
{
    if (use_blas && !sl_matmul_have_blas())
        return sl_fail(err, SL_ERR_UNSUPPORTED, "matmul: this build has no BLAS");
    sl_matmul_scratch *s = calloc(1, sizeof *s);
    if (!s)
        return sl_fail(err, SL_ERR_NO_MEMORY, "matmul: out of memory");
    s->max_cols = max_cols;
    s->n_threads = sl_pool_size(pool);
    s->rows = malloc((size_t)s->n_threads * (size_t)max_cols * sizeof(float));
    s->xsum = malloc(GEMM_MIN_TOKENS * ((size_t)max_cols / 32 + 1) * sizeof(float));
    s->panels = malloc((size_t)s->n_threads * PANEL_ROWS * (size_t)max_cols * sizeof(float));
    if (use_blas)
        s->blas_rows = malloc((size_t)BLAS_ROWS * (size_t)max_cols * sizeof(float));
    if (!s->rows || !s->xsum || !s->panels || (use_blas && !s->blas_rows)) {
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
    free(s->panels);
    free(s->blas_rows);
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

static inline float f16_at(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
#ifdef __F16C__
    return _cvtsh_ss(h);
#else
    return sl_f16_to_f32(h);
#endif
}

/* Fused dot products of one quantised row with x (cols floats): per block
 * the scale multiplies a vector partial sum, and one horizontal sum ends the
 * row. xsum holds the sums of x over each 32-element block (for the offset
 * of Q4_1 and the -8 of Q4_0). */
static float dot_q8_0(const uint8_t *row, const float *x, const float *xsum, int64_t cols)
{
    (void)xsum;
    sl_v16f acc = {0};
    for (int64_t b = 0; b < cols / 32; b++, row += 34, x += 32) {
        acc += sl_splat16(f16_at(row)) * (sl_load_i8_to_f(row + 2) * sl_load16(x) +
                                          sl_load_i8_to_f(row + 18) * sl_load16(x + 16));
    }
    return sl_hsum16(acc);
}

static float dot_q4_1(const uint8_t *row, const float *x, const float *xsum, int64_t cols)
{
    sl_v16f acc = {0};
    float offset = 0.0f;
    for (int64_t b = 0; b < cols / 32; b++, row += 20, x += 32) {
        sl_v16u8 q;
        memcpy(&q, row + 4, 16);
        sl_v16f lo = sl_u8_to_f(q & 0xF);
        sl_v16f hi = sl_u8_to_f(q >> 4);
        acc += sl_splat16(f16_at(row)) * (lo * sl_load16(x) + hi * sl_load16(x + 16));
        offset += f16_at(row + 2) * xsum[b];
    }
    return sl_hsum16(acc) + offset;
}

static float dot_q4_0(const uint8_t *row, const float *x, const float *xsum, int64_t cols)
{
    sl_v16f acc = {0};
    float offset = 0.0f;
    for (int64_t b = 0; b < cols / 32; b++, row += 18, x += 32) {
        sl_v16u8 q;
        memcpy(&q, row + 2, 16);
        sl_v16f lo = sl_u8_to_f(q & 0xF);
        sl_v16f hi = sl_u8_to_f(q >> 4);
        float d = f16_at(row);
        acc += sl_splat16(d) * (lo * sl_load16(x) + hi * sl_load16(x + 16));
        offset -= 8.0f * d * xsum[b];
    }
    return sl_hsum16(acc) + offset;
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

/* ---- many tokens: packed panels and a register-blocked kernel ---------- */

/* A panel is PANEL_ROWS weight rows, dequantised and stored column-major
 * (panel[c][j] = W[r0 + j][c]) so that one column of the panel is two
 * vectors. The kernel keeps TOKEN_TILE × 2 vector accumulators in registers
 * and streams the panel once per tile of tokens. */

typedef struct {
    const sl_matrix *w;
    sl_matmul_scratch *scratch;
    const float *x;
    size_t n_tokens;
    float *y;
} panel_job;

static void pack_panel(const sl_matrix *w, int64_t r0, int64_t n_rows, float *row, float *panel)
{
    size_t cols = (size_t)w->cols;
    for (int64_t j = 0; j < n_rows; j++) {
        sl_matrix_row(w, r0 + j, row);
        for (size_t c = 0; c < cols; c++)
            panel[c * PANEL_ROWS + (size_t)j] = row[c];
    }
    for (int64_t j = n_rows; j < PANEL_ROWS; j++) /* a short last panel: zero rows */
        for (size_t c = 0; c < cols; c++)
            panel[c * PANEL_ROWS + (size_t)j] = 0.0f;
}

/* y[t][0..32) for TOKEN_TILE tokens starting at x (row stride cols). */
static void kernel_tile(const float *panel, const float *x, size_t cols, size_t n, float out[][PANEL_ROWS])
{
    sl_v16f acc[TOKEN_TILE][2];
    memset(acc, 0, sizeof acc);
    for (size_t c = 0; c < cols; c++) {
        sl_v16f w0 = sl_load16(panel + c * PANEL_ROWS), w1 = sl_load16(panel + c * PANEL_ROWS + 16);
        for (size_t i = 0; i < TOKEN_TILE; i++) {
            sl_v16f xi = sl_splat16(x[(i < n ? i : 0) * cols + c]);
            acc[i][0] += xi * w0;
            acc[i][1] += xi * w1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        sl_store16(out[i], acc[i][0]);
        sl_store16(out[i] + 16, acc[i][1]);
    }
}

static void panel_rows(void *p, size_t panel_index, int thread)
{
    panel_job *job = p;
    const sl_matrix *w = job->w;
    size_t cols = (size_t)w->cols;
    int64_t r0 = (int64_t)panel_index * PANEL_ROWS;
    int64_t n_rows = w->rows - r0 < PANEL_ROWS ? w->rows - r0 : PANEL_ROWS;
    float *row = job->scratch->rows + (size_t)thread * (size_t)job->scratch->max_cols;
    float *panel = job->scratch->panels + (size_t)thread * PANEL_ROWS * (size_t)job->scratch->max_cols;
    pack_panel(w, r0, n_rows, row, panel);
    float out[TOKEN_TILE][PANEL_ROWS];
    for (size_t t = 0; t < job->n_tokens; t += TOKEN_TILE) {
        size_t n = job->n_tokens - t < TOKEN_TILE ? job->n_tokens - t : TOKEN_TILE;
        kernel_tile(panel, job->x + t * cols, cols, n, out);
        for (size_t i = 0; i < n; i++)
            memcpy(job->y + (t + i) * (size_t)w->rows + r0, out[i], (size_t)n_rows * sizeof(float));
    }
}

static void matmul_panels(sl_pool *pool, sl_matmul_scratch *scratch, const sl_matrix *w,
                          const float *x, size_t n_tokens, float *y)
{
    panel_job job = {w, scratch, x, n_tokens, y};
    sl_pool_for(pool, (size_t)((w->rows + PANEL_ROWS - 1) / PANEL_ROWS), panel_rows, &job);
}

#ifdef SL_HAVE_BLAS
typedef struct {
    const sl_matrix *w;
    int64_t r0;
    float *rows;
} dequant_job;

static void dequant_row_task(void *p, size_t i, int thread)
{
    (void)thread;
    dequant_job *job = p;
    sl_matrix_row(job->w, job->r0 + (int64_t)i, job->rows + i * (size_t)job->w->cols);
}

/* Row chunks dequantised on the pool, multiplied by sgemm: y[:, r0:r0+n] = x · chunkᵀ. */
static void matmul_blas(sl_pool *pool, sl_matmul_scratch *scratch, const sl_matrix *w,
                        const float *x, size_t n_tokens, float *y)
{
    for (int64_t r0 = 0; r0 < w->rows; r0 += BLAS_ROWS) {
        int64_t n = w->rows - r0 < BLAS_ROWS ? w->rows - r0 : BLAS_ROWS;
        dequant_job job = {w, r0, scratch->blas_rows};
        sl_pool_for(pool, (size_t)n, dequant_row_task, &job);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_tokens, (int)n, (int)w->cols,
                    1.0f, x, (int)w->cols, scratch->blas_rows, (int)w->cols, 0.0f, y + r0,
                    (int)w->rows);
    }
}
#endif

void sl_matmul(sl_pool *pool, sl_matmul_scratch *scratch, const sl_matrix *w, const float *x,
               size_t n_tokens, float *y)
{
    if (n_tokens < GEMM_MIN_TOKENS)
        matmul_stream(pool, scratch, w, x, n_tokens, y);
    else
#ifdef SL_HAVE_BLAS
        if (scratch->blas_rows)
            matmul_blas(pool, scratch, w, x, n_tokens, y);
        else
#endif
        matmul_panels(pool, scratch, w, x, n_tokens, y);
}
