#include "cpu/attention.h"

#include "cpu/ops.h"
#include "cpu/simd.h"

#include <math.h>

enum { QUERY_BLOCK = 16 };

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

size_t sl_key_cache_floats(size_t max_pos, int n_kv_heads, int head_dim)
{
    return round_up(max_pos, SL_KEY_BLOCK) * (size_t)n_kv_heads * (size_t)head_dim;
}

void sl_key_cache_store(float *cache, size_t pos, size_t n, int n_kv_heads, int head_dim,
                        const float *rows)
{
    size_t hd = (size_t)head_dim, kv_dim = (size_t)n_kv_heads * hd;
    for (size_t t = 0; t < n; t++) {
        size_t p = pos + t, block = p / SL_KEY_BLOCK, lane = p % SL_KEY_BLOCK;
        for (size_t g = 0; g < (size_t)n_kv_heads; g++) {
            float *dst = cache + (block * kv_dim + g * hd) * SL_KEY_BLOCK + lane;
            const float *src = rows + t * kv_dim + g * hd;
            for (size_t d = 0; d < hd; d++)
                dst[d * SL_KEY_BLOCK] = src[d];
        }
    }
}

void sl_key_cache_get(const float *cache, size_t pos, int n_kv_heads, int head_dim, int g,
                      float *out)
{
    size_t hd = (size_t)head_dim, kv_dim = (size_t)n_kv_heads * hd;
    const float *src = cache + ((pos / SL_KEY_BLOCK) * kv_dim + (size_t)g * hd) * SL_KEY_BLOCK +
                       pos % SL_KEY_BLOCK;
    for (size_t d = 0; d < hd; d++)
        out[d] = src[d * SL_KEY_BLOCK];
}

size_t sl_attention_scratch_floats(size_t max_pos, int head_dim)
{
    return QUERY_BLOCK * round_up(max_pos, SL_KEY_BLOCK) + QUERY_BLOCK * (size_t)head_dim;
}

typedef struct {
    const sl_attention_args *a;
    float *scratch;
    size_t per_thread;
    size_t n_blocks; /* query blocks per head */
} attention_job;

/* scores[i][s] = scale · q_i · k_s for the rows of one query block. */
/* One key block against one query row: 16 scores, four chains hiding the
 * FMA latency. */
static sl_v16f score_row(const float *q, const float *kt, size_t hd)
{
    sl_v16f acc[4] = {{0}, {0}, {0}, {0}};
    size_t d = 0;
    for (; d + 4 <= hd; d += 4)
        for (size_t j = 0; j < 4; j++)
            acc[j] += sl_splat16(q[d + j]) * sl_load16(kt + (d + j) * SL_KEY_BLOCK);
    for (; d < hd; d++)
        acc[0] += sl_splat16(q[d]) * sl_load16(kt + d * SL_KEY_BLOCK);
    return acc[0] + acc[1] + acc[2] + acc[3];
}

/* The same for four rows at once: each key vector loaded feeds four FMAs. */
static void score_rows4(const float *q[4], const float *kt, size_t hd, sl_v16f out[4])
{
    sl_v16f acc[4][2] = {{{0}, {0}}, {{0}, {0}}, {{0}, {0}}, {{0}, {0}}};
    size_t d = 0;
    for (; d + 2 <= hd; d += 2) {
        sl_v16f k0 = sl_load16(kt + d * SL_KEY_BLOCK), k1 = sl_load16(kt + (d + 1) * SL_KEY_BLOCK);
        for (size_t i = 0; i < 4; i++) {
            acc[i][0] += sl_splat16(q[i][d]) * k0;
            acc[i][1] += sl_splat16(q[i][d + 1]) * k1;
        }
    }
    for (; d < hd; d++)
        for (size_t i = 0; i < 4; i++)
            acc[i][0] += sl_splat16(q[i][d]) * sl_load16(kt + d * SL_KEY_BLOCK);
    for (size_t i = 0; i < 4; i++)
        out[i] = acc[i][0] + acc[i][1];
}

/* scores[i][s] = scale · q_i · k_s for the rows of one query block. Rows go
 * four at a time; a block partly in a row's future is scored anyway (those
 * entries lie past the row's keys and are never read). */
static void score_block(const sl_attention_args *a, int h, size_t r0, size_t r1, float *scores,
                        size_t stride)
{
    size_t hd = (size_t)a->head_dim, kv_dim = (size_t)a->n_kv_heads * hd;
    size_t g = (size_t)(h / (a->n_heads / a->n_kv_heads));
    size_t q_stride = (size_t)a->n_heads * hd;
    sl_v16f scale = sl_splat16(1.0f / sqrtf((float)hd));
    size_t n_key_blocks = (a->first_pos + r1 + SL_KEY_BLOCK - 1) / SL_KEY_BLOCK;
    for (size_t kb = 0; kb < n_key_blocks; kb++) {
        const float *kt = a->k + (kb * kv_dim + g * hd) * SL_KEY_BLOCK;
        size_t r = r0;
        while (r < r1 && kb * SL_KEY_BLOCK > a->first_pos + r)
            r++; /* the whole block is in these rows' future */
        for (; r + 4 <= r1; r += 4) {
            const float *q[4];
            sl_v16f out[4];
            for (size_t i = 0; i < 4; i++)
                q[i] = a->q + (r + i) * q_stride + (size_t)h * hd;
            score_rows4(q, kt, hd, out);
            for (size_t i = 0; i < 4; i++)
                sl_store16(scores + (r + i - r0) * stride + kb * SL_KEY_BLOCK, out[i] * scale);
        }
        for (; r < r1; r++)
            sl_store16(scores + (r - r0) * stride + kb * SL_KEY_BLOCK,
                       score_row(a->q + r * q_stride + (size_t)h * hd, kt, hd) * scale);
    }
}

/* out[0..n) = Σ_s p[s] · v[s·stride + 0..n) for n ≤ 64. */
static void accumulate_values(const float *p, size_t n_keys, const float *v, size_t stride,
                              size_t n, float *out)
{
    if (n == 64) {
        sl_v16f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (size_t s = 0; s < n_keys; s++) {
            const float *vs = v + s * stride;
            sl_v16f w = sl_splat16(p[s]);
            a0 += w * sl_load16(vs);
            a1 += w * sl_load16(vs + 16);
            a2 += w * sl_load16(vs + 32);
            a3 += w * sl_load16(vs + 48);
        }
        sl_store16(out, a0);
        sl_store16(out + 16, a1);
        sl_store16(out + 32, a2);
        sl_store16(out + 48, a3);
        return;
    }
    for (size_t d = 0; d < n; d++)
        out[d] = 0.0f;
    for (size_t s = 0; s < n_keys; s++)
        for (size_t d = 0; d < n; d++)
            out[d] += p[s] * v[s * stride + d];
}

void sl_attention_row_scores(const sl_attention_args *args, int h, size_t row, float *scores)
{
    score_block(args, h, row, row + 1, scores, 0);
}

/* Two rows at once, 64 dims: rows a and b = a + 1 share every value load.
 * pb has one key more than pa (b's own position). */
static void accumulate_values2(const float *pa, const float *pb, size_t na, const float *v,
                               size_t stride, float *outa, float *outb)
{
    sl_v16f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    for (size_t s = 0; s < na; s++) {
        const float *vs = v + s * stride;
        sl_v16f v0 = sl_load16(vs), v1 = sl_load16(vs + 16), v2 = sl_load16(vs + 32),
                v3 = sl_load16(vs + 48);
        sl_v16f wa = sl_splat16(pa[s]), wb = sl_splat16(pb[s]);
        a0 += wa * v0, a1 += wa * v1, a2 += wa * v2, a3 += wa * v3;
        b0 += wb * v0, b1 += wb * v1, b2 += wb * v2, b3 += wb * v3;
    }
    const float *vs = v + na * stride;
    sl_v16f wb = sl_splat16(pb[na]);
    b0 += wb * sl_load16(vs), b1 += wb * sl_load16(vs + 16), b2 += wb * sl_load16(vs + 32),
        b3 += wb * sl_load16(vs + 48);
    sl_store16(outa, a0), sl_store16(outa + 16, a1), sl_store16(outa + 32, a2), sl_store16(outa + 48, a3);
    sl_store16(outb, b0), sl_store16(outb + 16, b1), sl_store16(outb + 32, b2), sl_store16(outb + 48, b3);
}

static void attend_block(void *p, size_t task, int thread)
{
    attention_job *job = p;
    const sl_attention_args *a = job->a;
    int h = (int)(task / job->n_blocks);
    size_t r0 = (task % job->n_blocks) * QUERY_BLOCK;
    size_t r1 = r0 + QUERY_BLOCK < a->n_rows ? r0 + QUERY_BLOCK : a->n_rows;
    size_t hd = (size_t)a->head_dim, kv_dim = (size_t)a->n_kv_heads * hd;
    size_t q_stride = (size_t)a->n_heads * hd;
    size_t stride = round_up(a->first_pos + r1, SL_KEY_BLOCK);
    float *scores = job->scratch + (size_t)thread * job->per_thread;
    float *acc = scores + QUERY_BLOCK * stride;

    score_block(a, h, r0, r1, scores, stride);
    size_t r;
    for (r = r0; r < r1; r++)
        sl_softmax(scores + (r - r0) * stride, a->first_pos + r + 1);

    /* out_r = Σ_s p_r[s] v_s, 64 output dims at a time held in registers;
     * at head dim 64, two rows at a time */
    const float *vh = a->v + (size_t)(h / (a->n_heads / a->n_kv_heads)) * hd;
    for (r = r0; hd == 64 && r + 2 <= r1; r += 2)
        accumulate_values2(scores + (r - r0) * stride, scores + (r + 1 - r0) * stride,
                           a->first_pos + r + 1, vh, kv_dim, acc + (r - r0) * hd,
                           acc + (r + 1 - r0) * hd);
    for (; r < r1; r++) {
        const float *pr = scores + (r - r0) * stride;
        size_t n_keys = a->first_pos + r + 1;
        for (size_t d0 = 0; d0 < hd; d0 += 64)
            accumulate_values(pr, n_keys, vh + d0, kv_dim, hd - d0 < 64 ? hd - d0 : 64,
                              acc + (r - r0) * hd + d0);
    }
    for (r = r0; r < r1; r++)
        memcpy(a->out + r * q_stride + (size_t)h * hd, acc + (r - r0) * hd, hd * sizeof(float));
}

void sl_attention(sl_pool *pool, const sl_attention_args *args, float *scratch,
                  size_t scratch_floats_per_thread)
{
    attention_job job = {args, scratch, scratch_floats_per_thread,
                         (args->n_rows + QUERY_BLOCK - 1) / QUERY_BLOCK};
    sl_pool_for(pool, (size_t)args->n_heads * job.n_blocks, attend_block, &job);
}
