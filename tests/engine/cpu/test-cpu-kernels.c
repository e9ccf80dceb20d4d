/* CPU kernels against plain reference loops in double precision, on random
 * inputs at odd sizes: every matmul path (fused one-token dots, per-row
 * dequantisation, packed panels) for every supported weight type, causal
 * GQA attention over the blocked key cache, and the thread pool. */
#include "../test-util.h"
#include "cpu/attention.h"
#include "cpu/matmul.h"
#include "model/dequant.h"

static uint64_t rng = 88172645463325252ull;

static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static float next_float(void) { return (float)next_u32() / 4294967296.0f * 2.0f - 1.0f; }

/* Random bytes for a row of any type. Every block of every type has an even
 * size and its f16/bf16 scales sit at even offsets, so clearing the top two
 * bits of each odd byte keeps every scale finite and below 2, while the
 * quantised values stay random. */
static void random_row(uint32_t type, uint8_t *row, size_t bytes, size_t cols, float *tmp)
{
    for (size_t i = 0; i < bytes; i++)
        row[i] = (uint8_t)(next_u32() & (i % 2 ? 0x3F : 0xFF));
    if (type == SL_TYPE_F32)
        for (size_t i = 0; i < cols; i++) {
            float f = next_float();
            memcpy(row + 4 * i, &f, 4);
        }
    sl_dequantize_row(type, row, tmp, cols);
    bool finite = true;
    for (size_t i = 0; i < cols; i++)
        finite = finite && isfinite(tmp[i]);
    CHECKF(finite, "%s: random row has non-finite values", sl_type_name(type));
}

static void check_matmul(sl_pool *pool, sl_matmul_scratch *scratch, uint32_t type)
{
    enum { ROWS = 77, COLS = 768 };
    uint64_t row_bytes;
    CHECK(sl_type_row_bytes(type, COLS, &row_bytes));
    uint8_t *data = malloc(ROWS * row_bytes);
    float *w = malloc(ROWS * COLS * sizeof(float));
    for (int r = 0; r < ROWS; r++)
        random_row(type, data + r * row_bytes, row_bytes, COLS, w + (size_t)r * COLS);
    sl_matrix m = {"random", type, ROWS, COLS, data, (size_t)row_bytes};
    static const size_t token_counts[] = {1, 3, 7, 8, 13, 50};
    for (size_t k = 0; k < sizeof token_counts / sizeof *token_counts; k++) {
        size_t n = token_counts[k];
        float *x = malloc(n * COLS * sizeof(float)), *y = malloc(n * ROWS * sizeof(float));
        for (size_t i = 0; i < n * COLS; i++)
            x[i] = next_float();
        for (size_t i = 0; i < n * ROWS; i++)
            y[i] = NAN; /* poisoned: every output must be written */
        sl_matmul(pool, scratch, &m, x, n, y);
        double worst = 0;
        for (size_t t = 0; t < n; t++)
            for (int r = 0; r < ROWS; r++) {
                double ref = 0, mag = 0;
                for (int c = 0; c < COLS; c++) {
                    ref += (double)w[(size_t)r * COLS + c] * x[t * COLS + c];
                    mag += fabs((double)w[(size_t)r * COLS + c] * x[t * COLS + c]);
                }
                double err = fabs(y[t * ROWS + r] - ref) / (mag + 1e-30);
                worst = err > worst || isnan(err) ? (isnan(err) ? INFINITY : err) : worst;
            }
        CHECKF(worst < 1e-5, "%s, %zu tokens: error %g relative to sum |w·x|", sl_type_name(type), n,
               worst);
        free(x);
        free(y);
    }
    free(data);
    free(w);
}

static void check_attention(sl_pool *pool, int n_heads, int n_kv, int hd, size_t first_pos,
                            size_t n_rows)
{
    size_t n_pos = first_pos + n_rows, kv_dim = (size_t)n_kv * (size_t)hd;
    size_t q_dim = (size_t)n_heads * (size_t)hd;
    float *q = malloc(n_rows * q_dim * sizeof(float)), *out = malloc(n_rows * q_dim * sizeof(float));
    float *k = malloc(n_pos * kv_dim * sizeof(float)), *v = malloc(n_pos * kv_dim * sizeof(float));
    float *kc = calloc(sl_key_cache_floats(n_pos, n_kv, hd), sizeof(float));
    for (size_t i = 0; i < n_rows * q_dim; i++)
        q[i] = next_float() * 3.0f, out[i] = NAN;
    for (size_t i = 0; i < n_pos * kv_dim; i++)
        k[i] = next_float() * 3.0f, v[i] = next_float();
    sl_key_cache_store(kc, 0, first_pos, n_kv, hd, k); /* cached earlier … */
    sl_key_cache_store(kc, first_pos, n_rows, n_kv, hd, k + first_pos * kv_dim); /* … and now */
    size_t per_thread = sl_attention_scratch_floats(n_pos, hd);
    float *scratch = malloc((size_t)sl_pool_size(pool) * per_thread * sizeof(float));
    sl_attention_args a = {n_heads, n_kv, hd, q, kc, v, first_pos, n_rows, out};
    sl_attention(pool, &a, scratch, per_thread);

    double worst = 0;
    double *p = malloc(n_pos * sizeof(double));
    for (size_t t = 0; t < n_rows; t++)
        for (int h = 0; h < n_heads; h++) {
            int g = h / (n_heads / n_kv);
            size_t n = first_pos + t + 1;
            double max = -INFINITY, sum = 0;
            for (size_t s = 0; s < n; s++) {
                double dot = 0;
                for (int d = 0; d < hd; d++)
                    dot += (double)q[t * q_dim + (size_t)h * hd + d] * k[s * kv_dim + (size_t)g * hd + d];
                p[s] = dot / sqrt((double)hd);
                max = p[s] > max ? p[s] : max;
            }
            for (size_t s = 0; s < n; s++)
                sum += p[s] = exp(p[s] - max);
            for (int d = 0; d < hd; d++) {
                double ref = 0;
                for (size_t s = 0; s < n; s++)
                    ref += p[s] / sum * v[s * kv_dim + (size_t)g * hd + d];
                double err = fabs(out[t * q_dim + (size_t)h * hd + d] - ref);
                worst = err > worst || isnan(err) ? (isnan(err) ? INFINITY : err) : worst;
            }
        }
    CHECKF(worst < 1e-5, "attention %d/%d heads, dim %d, rows %zu at %zu: error %g", n_heads, n_kv,
           hd, n_rows, first_pos, worst);
    free(p);
    free(q);
    free(out);
    free(k);
    free(v);
    free(kc);
    free(scratch);
}

static void count_task(void *ctx, size_t i, int thread)
{
    (void)thread;
    int *counts = ctx;
    counts[i]++; /* each index belongs to one task: no race if the pool is right */
}

static void check_pool(int threads)
{
    sl_pool *pool = NULL;
    sl_error err = {0};
    CHECK(sl_pool_new(threads, &pool, &err) == SL_OK);
    enum { N = 5000 };
    int *counts = calloc(N, sizeof *counts);
    for (int round = 0; round < 200; round++)
        sl_pool_for(pool, (size_t)(round % 7 == 0 ? 1 : N), count_task, counts);
    int wrong = 0;
    for (int i = 0; i < N; i++)
        wrong += counts[i] != (i == 0 ? 200 : 200 - 29); /* rounds 0,7,…,196 ran one task */
    CHECKF(wrong == 0, "%d threads: %d indices ran the wrong number of times", threads, wrong);
    free(counts);
    sl_pool_free(pool);
}

int main(void)
{
    check_pool(1);
    check_pool(2);
    check_pool(5);

    sl_pool *pool = NULL;
    sl_error err = {0};
    CHECK(sl_pool_new(3, &pool, &err) == SL_OK);
    for (int blas = 0; blas <= (int)sl_matmul_have_blas(); blas++) {
        sl_matmul_scratch *scratch = NULL;
        CHECK(sl_matmul_scratch_new(pool, 768, blas, &scratch, &err) == SL_OK);
        int tested = 0;
        for (uint32_t type = 0; scratch && type < SL_TYPE_COUNT_MAX; type++)
            if (sl_type_supported(type)) {
                check_matmul(pool, scratch, type);
                tested++;
            }
        CHECKF(tested >= 11, "only %d types supported", tested);
        sl_matmul_scratch_free(scratch);
    }

    check_attention(pool, 6, 2, 64, 0, 1);
    check_attention(pool, 6, 2, 64, 0, 40);
    check_attention(pool, 6, 2, 64, 37, 17);
    check_attention(pool, 6, 2, 64, 300, 1);
    check_attention(pool, 4, 4, 24, 5, 33);
    check_attention(pool, 8, 1, 128, 16, 16);
    sl_pool_free(pool);
    return sl_test_finish();
}
