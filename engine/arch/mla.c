#include "arch/mla.h"

#include "cpu/matmul.h"
#include "cpu/ops.h"

#include <string.h>

size_t sl_mla_scratch_floats(const sl_mla_args *a, size_t max_pos)
{
    size_t mha = max_pos * (size_t)(a->nope + a->rope + a->v_dim) + max_pos;
    size_t mqa = 2 * (size_t)a->kv_lora + max_pos;
    return (mha > mqa ? mha : mqa) + 16;
}

/* The positions of row t and their count. */
static const int32_t *row_positions(const sl_mla_args *a, const sl_mla_selection *sel, size_t t,
                                    size_t *n)
{
    if (sel && sel->positions) {
        *n = sel->count[t];
        return sel->positions + t * sel->stride;
    }
    *n = a->first_pos + t + 1;
    return NULL; /* 0 … n-1 */
}

static size_t at(const int32_t *positions, size_t j) { return positions ? (size_t)positions[j] : j; }

/* ---- MHA form: one task per head, keys and values of that head built once --- */

typedef struct {
    const sl_mla_args *a;
    const sl_mla_selection *sel;
    float *scratch;
    size_t per_thread;
} mla_job;

static void mha_head(void *p, size_t h, int thread)
{
    const mla_job *job = p;
    const sl_mla_args *a = job->a;
    size_t nope = (size_t)a->nope, rope = (size_t)a->rope, vd = (size_t)a->v_dim;
    size_t R = (size_t)a->kv_lora, qk = nope + rope, P = a->first_pos + a->n_rows;
    const float *w_uk = a->kv_b + h * (nope + vd) * R, *w_uv = w_uk + nope * R;
    float *keys = job->scratch + (size_t)thread * job->per_thread;
    float *values = keys + P * qk, *logits = values + P * vd;
    for (size_t s = 0; s < P; s++) {
        const float *c = a->latent + s * R;
        for (size_t d = 0; d < nope; d++)
            keys[s * qk + d] = sl_dot_f32(w_uk + d * R, c, R);
        memcpy(keys + s * qk + nope, a->pe + s * rope, rope * sizeof(float));
        for (size_t d = 0; d < vd; d++)
            values[s * vd + d] = sl_dot_f32(w_uv + d * R, c, R);
    }
    for (size_t t = 0; t < a->n_rows; t++) {
        size_t n;
        const int32_t *pos = row_positions(a, job->sel, t, &n);
        const float *q = a->q + (t * (size_t)a->n_heads + h) * qk;
        for (size_t j = 0; j < n; j++)
            logits[j] = a->scale * sl_dot_f32(q, keys + at(pos, j) * qk, qk);
        sl_softmax(logits, n);
        float *out = a->out + (t * (size_t)a->n_heads + h) * vd;
        memset(out, 0, vd * sizeof *out);
        for (size_t j = 0; j < n; j++) {
            const float *v = values + at(pos, j) * vd;
            for (size_t d = 0; d < vd; d++)
                out[d] += logits[j] * v[d];
        }
    }
}

void sl_mla_mha(sl_pool *pool, const sl_mla_args *a, const sl_mla_selection *sel, float *scratch,
                size_t floats_per_thread)
{
    mla_job job = {a, sel, scratch, floats_per_thread};
    sl_pool_for(pool, (size_t)a->n_heads, mha_head, &job);
}

/* ---- MQA form: one task per (row, head), the query absorbed into the latent -- */

/* q_lat = W_UK[h]ᵀ·q_nope, then scale·(q_lat·c_s + q_pe·pe_s) for the row's positions. */
static void mqa_logits(const sl_mla_args *a, size_t t, size_t h, const int32_t *pos, size_t n,
                       float *q_lat, float *logits)
{
    size_t nope = (size_t)a->nope, rope = (size_t)a->rope, R = (size_t)a->kv_lora;
    const float *q = a->q + (t * (size_t)a->n_heads + h) * (nope + rope);
    const float *w_uk = a->kv_b + h * (nope + (size_t)a->v_dim) * R;
    memset(q_lat, 0, R * sizeof *q_lat);
    for (size_t d = 0; d < nope; d++)
        for (size_t r = 0; r < R; r++)
            q_lat[r] += q[d] * w_uk[d * R + r];
    for (size_t j = 0; j < n; j++) {
        size_t s = at(pos, j);
        logits[j] = a->scale * (sl_dot_f32(q_lat, a->latent + s * R, R) +
                                sl_dot_f32(q + nope, a->pe + s * rope, rope));
    }
}

static void mqa_task(void *p, size_t i, int thread)
{
    const mla_job *job = p;
    const sl_mla_args *a = job->a;
    size_t t = i / (size_t)a->n_heads, h = i % (size_t)a->n_heads;
    size_t R = (size_t)a->kv_lora, vd = (size_t)a->v_dim;
    float *q_lat = job->scratch + (size_t)thread * job->per_thread;
    float *o_lat = q_lat + R, *logits = o_lat + R;
    size_t n;
    const int32_t *pos = row_positions(a, job->sel, t, &n);
    mqa_logits(a, t, h, pos, n, q_lat, logits);
    sl_softmax(logits, n);
    memset(o_lat, 0, R * sizeof *o_lat);
    for (size_t j = 0; j < n; j++) {
        const float *c = a->latent + at(pos, j) * R;
        for (size_t r = 0; r < R; r++)
            o_lat[r] += logits[j] * c[r];
    }
    const float *w_uv = a->kv_b + h * ((size_t)a->nope + vd) * R + (size_t)a->nope * R;
    float *out = a->out + (t * (size_t)a->n_heads + h) * vd;
    for (size_t d = 0; d < vd; d++)
        out[d] = sl_dot_f32(w_uv + d * R, o_lat, R);
}

void sl_mla_mqa(sl_pool *pool, const sl_mla_args *a, const sl_mla_selection *sel, float *scratch,
                size_t floats_per_thread)
{
    mla_job job = {a, sel, scratch, floats_per_thread};
    sl_pool_for(pool, a->n_rows * (size_t)a->n_heads, mqa_task, &job);
}

void sl_mla_head_mass(const sl_mla_args *a, size_t t, float *mass, float *scratch)
{
    size_t n = a->first_pos + t + 1, R = (size_t)a->kv_lora;
    float *q_lat = scratch, *logits = scratch + 2 * R;
    memset(mass, 0, n * sizeof *mass);
    for (size_t h = 0; h < (size_t)a->n_heads; h++) {
        mqa_logits(a, t, h, NULL, n, q_lat, logits);
        sl_softmax(logits, n);
        for (size_t s = 0; s < n; s++)
            mass[s] += logits[s];
    }
}
