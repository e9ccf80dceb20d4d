#include "cpu/attention.h"

#include "cpu/matmul.h"
#include "cpu/ops.h"

#include <math.h>

enum { QUERY_BLOCK = 16 };

size_t sl_attention_scratch_floats(size_t max_pos, int head_dim)
{
    return QUERY_BLOCK * max_pos + QUERY_BLOCK * (size_t)head_dim;
}

typedef struct {
    const sl_attention_args *a;
    float *scratch;
    size_t per_thread;
    size_t n_blocks; /* query blocks per head */
} attention_job;

static void attend_block(void *p, size_t task, int thread)
{
    attention_job *job = p;
    const sl_attention_args *a = job->a;
    int h = (int)(task / job->n_blocks);
    size_t r0 = (task % job->n_blocks) * QUERY_BLOCK;
    size_t r1 = r0 + QUERY_BLOCK < a->n_rows ? r0 + QUERY_BLOCK : a->n_rows;
    size_t rows = r1 - r0;
    int hd = a->head_dim;
    int kvh = h / (a->n_heads / a->n_kv_heads);
    size_t q_stride = (size_t)a->n_heads * (size_t)hd;
    size_t kv_stride = (size_t)a->n_kv_heads * (size_t)hd;
    size_t n_keys = a->first_pos + r1; /* the last row sees this many */
    float *scores = job->scratch + (size_t)thread * job->per_thread;
    float *acc = scores + QUERY_BLOCK * n_keys;
    float scale = 1.0f / sqrtf((float)hd);

    /* scores[i][s] = q_i · k_s, keys outer so each key is loaded once */
    const float *kh = a->k + (size_t)kvh * (size_t)hd;
    for (size_t s = 0; s < n_keys; s++) {
        const float *ks = kh + s * kv_stride;
        size_t first_row = s > a->first_pos ? s - a->first_pos : 0; /* causal */
        for (size_t r = (first_row > r0 ? first_row : r0); r < r1; r++) {
            const float *q = a->q + r * q_stride + (size_t)h * (size_t)hd;
            scores[(r - r0) * n_keys + s] = sl_dot_f32(q, ks, (size_t)hd) * scale;
        }
    }
    for (size_t i = 0; i < rows; i++)
        sl_softmax(scores + i * n_keys, a->first_pos + r0 + i + 1);

    /* out_i = Σ_s p_i[s] v_s */
    for (size_t i = 0; i < rows * (size_t)hd; i++)
        acc[i] = 0.0f;
    const float *vh = a->v + (size_t)kvh * (size_t)hd;
    for (size_t s = 0; s < n_keys; s++) {
        const float *vs = vh + s * kv_stride;
        size_t first_row = s > a->first_pos ? s - a->first_pos : 0;
        for (size_t r = (first_row > r0 ? first_row : r0); r < r1; r++) {
            float w = scores[(r - r0) * n_keys + s];
            float *o = acc + (r - r0) * (size_t)hd;
            for (int d = 0; d < hd; d++)
                o[d] += w * vs[d];
        }
    }
    for (size_t r = r0; r < r1; r++)
        memcpy(a->out + r * q_stride + (size_t)h * (size_t)hd, acc + (r - r0) * (size_t)hd,
               (size_t)hd * sizeof(float));
}

void sl_attention(sl_pool *pool, const sl_attention_args *args, float *scratch,
                  size_t scratch_floats_per_thread)
{
    attention_job job = {args, scratch, scratch_floats_per_thread,
                         (args->n_rows + QUERY_BLOCK - 1) / QUERY_BLOCK};
    sl_pool_for(pool, (size_t)args->n_heads * job.n_blocks, attend_block, &job);
}
