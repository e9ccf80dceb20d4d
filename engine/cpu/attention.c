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
static void score_block(const sl_attention_args *a, int h, size_t r0, size_t r1, float *scores,
                        size_t stride)
{
    size_t hd = (size_t)a->head_dim, kv_dim = (size_t)a->n_kv_heads * hd;
    size_t g = (size_t)(h / (a->n_heads / a->n_kv_heads));
    size_t q_stride = (size_t)a->n_heads * hd;
    float scale = 1.0f / sqrtf((float)hd);
    size_t n_key_blocks = (a->first_pos + r1 + SL_KEY_BLOCK - 1) / SL_KEY_BLOCK;
    for (size_t kb = 0; kb < n_key_blocks; kb++) {
        const float *kt = a->k + (kb * kv_dim + g * hd) * SL_KEY_BLOCK;
        for (size_t r = r0; r < r1; r++) {
            if (kb * SL_KEY_BLOCK > a->first_pos + r)
                continue; /* the whole block is in this row's future */
            const float *q = a->q + r * q_stride + (size_t)h * hd;
            sl_v16f acc[4] = {{0}, {0}, {0}, {0}}; /* four chains hide the FMA latency */
            size_t d = 0;
            for (; d + 4 <= hd; d += 4)
                for (size_t j = 0; j < 4; j++)
                    acc[j] += sl_splat16(q[d + j]) * sl_load16(kt + (d + j) * SL_KEY_BLOCK);
            for (; d < hd; d++)
                acc[0] += sl_splat16(q[d]) * sl_load16(kt + d * SL_KEY_BLOCK);
            sl_store16(scores + (r - r0) * stride + kb * SL_KEY_BLOCK,
                       (acc[0] + acc[1] + acc[2] + acc[3]) * sl_splat16(scale));
        }
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
    for (size_t r = r0; r < r1; r++)
        sl_softmax(scores + (r - r0) * stride, a->first_pos + r + 1);

    /* out_r = Σ_s p_r[s] v_s, 64 output dims at a time held in registers */
    const float *vh = a->v + (size_t)(h / (a->n_heads / a->n_kv_heads)) * hd;
    for (size_t r = r0; r < r1; r++) {
        const float *pr = scores + (r - r0) * stride;
        size_t n_keys = a->first_pos + r + 1;
        for (size_t d0 = 0; d0 < hd; d0 += 64)
            accumulate_values(pr, n_keys, vh + d0, kv_dim, hd - d0 < 64 ? hd - d0 : 64,
                              acc + (r - r0) * hd + d0);
    }
    for (size_t r = r0; r < r1; r++)
        memcpy(a->out + r * q_stride + (size_t)h * hd, acc + (r - r0) * hd, hd * sizeof(float));
}

void sl_attention(sl_pool *pool, const sl_attention_args *args, float *scratch,
                  size_t scratch_floats_per_thread)
{
    attention_job job = {args, scratch, scratch_floats_per_thread,
                         (args->n_rows + QUERY_BLOCK - 1) / QUERY_BLOCK};
    sl_pool_for(pool, (size_t)args->n_heads * job.n_blocks, attend_block, &job);
}
