#include "arch/deepseek-v32.h"

#include "arch/deepseek-private.h"
#include "arch/mla.h"
#include "arch/moe.h"
#include "cpu/fp8.h"
#include "cpu/matmul.h"
#include "cpu/ops.h"
#include "dsa/indexer.h"
#include "dsa/topk.h"
#include "error.h"
#include "model/dequant.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PREFILL_CHUNK = 256, SCORE_TILE = 1024 };

/* ---- loading -------------------------------------------------------------- */

typedef struct {
    const sl_checkpoint *ck;
    sl_deepseek *m;
    sl_error *err;
} loader;

static void *own(sl_deepseek *m, size_t bytes)
{
    if (m->n_owned == m->cap_owned) {
        size_t cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **p = realloc(m->owned, cap * sizeof *p);
        if (!p)
            return NULL;
        m->owned = p;
        m->cap_owned = cap;
    }
    void *p = malloc(bytes ? bytes : 1);
    if (p)
        m->owned[m->n_owned++] = p;
    return p;
}

static const sl_st_tensor *find(loader *L, const char *name)
{
    const sl_st_tensor *t = sl_checkpoint_find(L->ck, name);
    if (!t)
        sl_fail(L->err, SL_ERR_FORMAT, "%s: tensor '%s' is missing", sl_checkpoint_dir(L->ck), name);
    return t;
}

static sl_status bad_shape(loader *L, const sl_st_tensor *t, int64_t rows, int64_t cols)
{
    return sl_fail(L->err, SL_ERR_FORMAT, "%s: tensor '%s' has %u dims [%llu, %llu], expected "
                   "[%lld, %lld]", sl_checkpoint_file_of(L->ck, t), t->name, t->n_dims,
                   (unsigned long long)t->dims[0],
                   (unsigned long long)(t->n_dims > 1 ? t->dims[1] : 0), (long long)rows,
                   (long long)cols);
}

static sl_status no_memory(loader *L, const char *name)
{
    return sl_fail(L->err, SL_ERR_NO_MEMORY, "%s: out of memory for '%s'",
                   sl_checkpoint_dir(L->ck), name);
}

/* Float32 values of t, checked finite; owned by the model. */
static sl_status to_f32(loader *L, const sl_st_tensor *t, float **out)
{
    float *v = own(L->m, (size_t)t->n_elements * sizeof(float));
    if (!v)
        return no_memory(L, t->name);
    if (!sl_st_to_f32(t, 0, t->n_elements, v))
        return sl_fail(L->err, SL_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, not a float type",
                       sl_checkpoint_file_of(L->ck, t), t->name, sl_st_dtype_name(t->dtype));
    for (uint64_t i = 0; i < t->n_elements; i++)
        if (!isfinite(v[i]))
            return sl_fail(L->err, SL_ERR_FORMAT, "%s: tensor '%s' holds a non-finite value at "
                           "element %llu", sl_checkpoint_file_of(L->ck, t), t->name,
                           (unsigned long long)i);
    *out = v;
    return SL_OK;
}

static sl_status vector(loader *L, const char *name, int64_t n, float **out)
{
    const sl_st_tensor *t = find(L, name);
    if (!t)
        return SL_ERR_FORMAT;
    if (t->n_dims != 1 || t->dims[0] != (uint64_t)n)
        return bad_shape(L, t, n, 0);
    return to_f32(L, t, out);
}

/* FP8 e4m3 weights times their block scales (weight_scale_inv), as float32. */
static sl_status dequantise_fp8(loader *L, const sl_st_tensor *t, int64_t rows, int64_t cols,
                                float **out)
{
    char name[256];
    size_t len = strlen(t->name);
    if (len < 6 || strcmp(t->name + len - 6, "weight") != 0 ||
        snprintf(name, sizeof name, "%s_scale_inv", t->name) >= (int)sizeof name)
        return sl_fail(L->err, SL_ERR_FORMAT, "%s: FP8 tensor '%s' has no scale",
                       sl_checkpoint_file_of(L->ck, t), t->name);
    const sl_st_tensor *s = sl_checkpoint_find(L->ck, name);
    int64_t br = L->m->c.fp8_block[0], bc = L->m->c.fp8_block[1];
    int64_t sr = (rows + br - 1) / br, sc = (cols + bc - 1) / bc;
    if (!s)
        return sl_fail(L->err, SL_ERR_FORMAT, "%s: FP8 tensor '%s' has no '%s'",
                       sl_checkpoint_dir(L->ck), t->name, name);
    if (s->n_dims != 2 || s->dims[0] != (uint64_t)sr || s->dims[1] != (uint64_t)sc)
        return bad_shape(L, s, sr, sc);
    float *scale, *w;
    sl_status st = to_f32(L, s, &scale);
    if (!st)
        st = to_f32(L, t, &w);
    if (st)
        return st;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            w[r * cols + c] *= scale[(r / br) * sc + c / bc];
    *out = w;
    return SL_OK;
}

static sl_matrix f32_matrix(const char *name, const float *data, int64_t rows, int64_t cols)
{
    return (sl_matrix){name, SL_TYPE_F32, rows, cols, data, (size_t)cols * sizeof(float)};
}

/* A [rows, cols] weight: used in place when F32, BF16 or F16 and aligned,
 * copied when misaligned, dequantised when FP8. */
static sl_status matrix(loader *L, const char *name, int64_t rows, int64_t cols, sl_matrix *out)
{
    const sl_st_tensor *t = find(L, name);
    if (!t)
        return SL_ERR_FORMAT;
    if (t->n_dims != 2 || t->dims[0] != (uint64_t)rows || t->dims[1] != (uint64_t)cols)
        return bad_shape(L, t, rows, cols);
    uint32_t type;
    switch (t->dtype) {
    case SL_ST_F32: type = SL_TYPE_F32; break;
    case SL_ST_F16: type = SL_TYPE_F16; break;
    case SL_ST_BF16: type = SL_TYPE_BF16; break;
    case SL_ST_F8_E4M3: {
        float *w;
        sl_status st = dequantise_fp8(L, t, rows, cols, &w);
        if (!st)
            *out = f32_matrix(t->name, w, rows, cols);
        return st;
    }
    default:
        return sl_fail(L->err, SL_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (supported: F32, "
                       "BF16, F16, F8_E4M3)", sl_checkpoint_file_of(L->ck, t), t->name,
                       sl_st_dtype_name(t->dtype));
    }
    const void *data = t->data;
    if ((uintptr_t)data % 16) { /* the kernels load whole elements and vectors */
        void *copy = own(L->m, (size_t)t->n_bytes);
        if (!copy)
            return no_memory(L, name);
        memcpy(copy, data, (size_t)t->n_bytes);
        data = copy;
    }
    *out = (sl_matrix){t->name, type, rows, cols, data, (size_t)(t->n_bytes / (uint64_t)rows)};
    return SL_OK;
}

static sl_status f32_weights(loader *L, const char *name, int64_t rows, int64_t cols, float **out)
{
    sl_matrix w;
    sl_status st = matrix(L, name, rows, cols, &w);
    if (st)
        return st;
    float *v = own(L->m, (size_t)(rows * cols) * sizeof(float));
    if (!v)
        return no_memory(L, name);
    for (int64_t r = 0; r < rows; r++)
        sl_matrix_row(&w, r, v + r * cols);
    for (int64_t i = 0; i < rows * cols; i++)
        if (!isfinite(v[i]))
            return sl_fail(L->err, SL_ERR_FORMAT, "%s: tensor '%s' holds a non-finite value at "
                           "element %lld", sl_checkpoint_file_of(L->ck, sl_checkpoint_find(L->ck, name)),
                           name, (long long)i);
    *out = v;
    return SL_OK;
}

#define NAME(...) (snprintf(name, sizeof name, __VA_ARGS__), name)

static sl_status load_attention(loader *L, int i, ds_layer *l)
{
    const sl_ds_config *c = &L->m->c;
    char name[160];
    int64_t H = c->hidden, nh = c->n_heads, qk = c->qk_nope + c->qk_rope;
    sl_status st;
    if ((st = vector(L, NAME("model.layers.%d.input_layernorm.weight", i), H, &l->attn_norm)) ||
        (st = vector(L, NAME("model.layers.%d.post_attention_layernorm.weight", i), H, &l->ffn_norm)) ||
        (st = matrix(L, NAME("model.layers.%d.self_attn.q_a_proj.weight", i), c->q_lora, H, &l->q_a)) ||
        (st = vector(L, NAME("model.layers.%d.self_attn.q_a_layernorm.weight", i), c->q_lora, &l->q_norm)) ||
        (st = matrix(L, NAME("model.layers.%d.self_attn.q_b_proj.weight", i), nh * qk, c->q_lora, &l->q_b)) ||
        (st = matrix(L, NAME("model.layers.%d.self_attn.kv_a_proj_with_mqa.weight", i),
                     c->kv_lora + c->qk_rope, H, &l->kv_a)) ||
        (st = vector(L, NAME("model.layers.%d.self_attn.kv_a_layernorm.weight", i), c->kv_lora, &l->kv_norm)) ||
        (st = f32_weights(L, NAME("model.layers.%d.self_attn.kv_b_proj.weight", i),
                          nh * (c->qk_nope + c->v_head), c->kv_lora, &l->kv_b)) ||
        (st = matrix(L, NAME("model.layers.%d.self_attn.o_proj.weight", i), H, nh * c->v_head, &l->o)))
        return st;
    int64_t ih = c->index_heads, id = c->index_dim;
    if ((st = matrix(L, NAME("model.layers.%d.self_attn.indexer.wq_b.weight", i), ih * id, c->q_lora, &l->iq)) ||
        (st = matrix(L, NAME("model.layers.%d.self_attn.indexer.wk.weight", i), id, H, &l->ik)) ||
        (st = vector(L, NAME("model.layers.%d.self_attn.indexer.k_norm.weight", i), id, &l->ik_norm_w)) ||
        (st = vector(L, NAME("model.layers.%d.self_attn.indexer.k_norm.bias", i), id, &l->ik_norm_b)) ||
        (st = matrix(L, NAME("model.layers.%d.self_attn.indexer.weights_proj.weight", i), ih, H, &l->iw)))
        return st;
    return SL_OK;
}

static sl_status load_ffn(loader *L, const char *prefix, int64_t inter, ds_layer *l)
{
    const sl_ds_config *c = &L->m->c;
    char name[160];
    sl_status st;
    if ((st = matrix(L, NAME("%s.gate_proj.weight", prefix), inter, c->hidden, &l->gate)) ||
        (st = matrix(L, NAME("%s.up_proj.weight", prefix), inter, c->hidden, &l->up)) ||
        (st = matrix(L, NAME("%s.down_proj.weight", prefix), c->hidden, inter, &l->down)))
        return st;
    l->has_ffn = true;
    return SL_OK;
}

static sl_status load_moe(loader *L, int i, ds_layer *l)
{
    const sl_ds_config *c = &L->m->c;
    char name[160], prefix[96];
    int64_t E = c->n_experts, H = c->hidden, I = c->moe_inter;
    sl_status st;
    l->moe = true;
    if ((st = matrix(L, NAME("model.layers.%d.mlp.gate.weight", i), E, H, &l->router)) ||
        (st = vector(L, NAME("model.layers.%d.mlp.gate.e_score_correction_bias", i), E, &l->router_bias)))
        return st;
    l->e_gate = own(L->m, 3 * (size_t)E * sizeof(sl_matrix));
    if (!l->e_gate)
        return no_memory(L, "experts");
    l->e_up = l->e_gate + E;
    l->e_down = l->e_up + E;
    for (int e = 0; e < E; e++)
        if ((st = matrix(L, NAME("model.layers.%d.mlp.experts.%d.gate_proj.weight", i, e), I, H, &l->e_gate[e])) ||
            (st = matrix(L, NAME("model.layers.%d.mlp.experts.%d.up_proj.weight", i, e), I, H, &l->e_up[e])) ||
            (st = matrix(L, NAME("model.layers.%d.mlp.experts.%d.down_proj.weight", i, e), H, I, &l->e_down[e])))
            return st;
    snprintf(prefix, sizeof prefix, "model.layers.%d.mlp.shared_experts", i);
    return c->n_shared > 0 ? load_ffn(L, prefix, I * c->n_shared, l) : SL_OK;
}

static sl_status load_weights(loader *L)
{
    sl_deepseek *m = L->m;
    const sl_ds_config *c = &m->c;
    sl_status st;
    if ((st = matrix(L, "model.embed_tokens.weight", c->vocab, c->hidden, &m->embed)) ||
        (st = vector(L, "model.norm.weight", c->hidden, &m->final_norm)))
        return st;
    if (c->tied)
        m->head = m->embed;
    else if ((st = matrix(L, "lm_head.weight", c->vocab, c->hidden, &m->head)))
        return st;
    if (!(m->layers = own(m, (size_t)c->n_layers * sizeof *m->layers)))
        return no_memory(L, "layers");
    memset(m->layers, 0, (size_t)c->n_layers * sizeof *m->layers);
    for (int i = 0; i < c->n_layers; i++) {
        char prefix[96];
        snprintf(prefix, sizeof prefix, "model.layers.%d.mlp", i);
        if ((st = load_attention(L, i, &m->layers[i])) ||
            (st = i < c->first_dense ? load_ffn(L, prefix, c->inter, &m->layers[i])
                                     : load_moe(L, i, &m->layers[i])))
            return st;
    }
    return SL_OK;
}

#undef NAME

sl_status sl_deepseek_load(const sl_checkpoint *ck, sl_deepseek **out, sl_model_info *info,
                           sl_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", sl_checkpoint_dir(ck));
    sl_deepseek *m = calloc(1, sizeof *m);
    if (!m)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory", sl_checkpoint_dir(ck));
    loader L = {ck, m, err};
    sl_status st = sl_ds_config_read(sl_checkpoint_config(ck), path, &m->c, err);
    if (!st)
        st = load_weights(&L);
    if (!st && !(m->inv_freq = own(m, (size_t)m->c.qk_rope / 2 * sizeof(float))))
        st = no_memory(&L, "rope");
    if (st) {
        sl_deepseek_ops.model_free(m);
        return st;
    }
    m->dir = sl_checkpoint_dir(ck);
    sl_ds_rope_freqs(&m->c, m->inv_freq);
    m->rope_factor = sl_ds_rope_attention_factor(&m->c);
    m->softmax_scale = sl_ds_softmax_scale(&m->c);
    info->n_layers = m->c.n_layers;
    info->n_embd = m->c.hidden;
    info->n_heads = m->c.n_heads;
    info->n_kv_heads = 1; /* one latent shared by every head */
    info->head_dim = m->c.qk_nope + m->c.qk_rope;
    info->n_ff = m->c.inter;
    info->n_vocab = m->c.vocab;
    info->n_ctx_train = m->c.max_positions;
    info->rope_theta = m->c.rope_theta;
    info->norm_eps = m->c.norm_eps;
    info->tied_output = m->c.tied;
    info->index_top_k = m->c.index_topk;
    info->index_heads = m->c.index_heads;
    info->index_dim = m->c.index_dim;
    info->kv_lora_rank = m->c.kv_lora;
    info->rope_dim = m->c.qk_rope;
    *out = m;
    return SL_OK;
}

const sl_ds_config *sl_deepseek_config(const sl_deepseek *m) { return &m->c; }

sl_status sl_deepseek_use_fp8_cache(sl_deepseek *m, sl_error *err)
{
    int dim = m->c.index_dim;
    if (dim & (dim - 1))
        return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: an FP8 cache needs a power-of-two index "
                       "head dim for the Hadamard transform, not %d", m->dir, dim);
    m->fp8_cache = true;
    return SL_OK;
}

static void model_free(void *p)
{
    sl_deepseek *m = p;
    if (!m)
        return;
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m);
}

/* ---- state ---------------------------------------------------------------- */

typedef struct {
    size_t max_tokens, chunk;
    float *latent, *pe, *ikeys;            /* caches: n_layers × max_tokens × (kv_lora | rope | index_dim) */
    float *x, *xn, *qr, *q, *kva, *att;    /* chunk rows */
    float *iq, *iw;                        /* indexer queries and head weights */
    float *gate, *up, *moe, *xg, *router;  /* FFN and MoE */
    int32_t *experts, *tokens;
    float *weights;
    float *mla_scratch, *sel_scratch;      /* per thread */
    size_t mla_per_thread, sel_per_thread;
    sl_matmul_scratch *mm;
} ds_state;

static size_t ffn_width(const sl_ds_config *c)
{
    size_t w = (size_t)c->inter, shared = (size_t)c->moe_inter * (size_t)c->n_shared;
    if ((size_t)c->moe_inter > w)
        w = (size_t)c->moe_inter;
    return shared > w ? shared : w;
}

static size_t max_cols(const sl_ds_config *c)
{
    size_t cols[] = {(size_t)c->hidden, (size_t)c->q_lora, (size_t)c->kv_lora,
                     (size_t)c->n_heads * (size_t)c->v_head, ffn_width(c)};
    size_t m = 0;
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
        m = cols[i] > m ? cols[i] : m;
    return m;
}

static sl_mla_args mla_shape(const sl_deepseek *m)
{
    return (sl_mla_args){.n_heads = m->c.n_heads, .nope = m->c.qk_nope, .rope = m->c.qk_rope,
                         .v_dim = m->c.v_head, .kv_lora = m->c.kv_lora, .scale = m->softmax_scale};
}

/* Floats of every buffer; the caches first. */
static size_t state_floats(const sl_deepseek *m, int n_threads, size_t max_tokens, size_t chunk,
                           size_t *cache_floats)
{
    const sl_ds_config *c = &m->c;
    size_t L = (size_t)c->n_layers, H = (size_t)c->hidden, nh = (size_t)c->n_heads;
    size_t qk = (size_t)(c->qk_nope + c->qk_rope), E = (size_t)c->n_experts;
    size_t ih = (size_t)c->index_heads, id = (size_t)c->index_dim;
    sl_mla_args shape = mla_shape(m);
    *cache_floats = L * max_tokens * ((size_t)c->kv_lora + (size_t)c->qk_rope + id);
    size_t rows = chunk * (4 * H + (size_t)c->q_lora + nh * qk + (size_t)c->kv_lora +
                           (size_t)c->qk_rope + nh * (size_t)c->v_head + ih * id + ih +
                           2 * ffn_width(c) + E + 2 * (size_t)c->experts_per_tok + 1);
    size_t per_thread = sl_mla_scratch_floats(&shape, max_tokens) + max_tokens + SCORE_TILE +
                        2 * (E + (size_t)c->n_group);
    return *cache_floats + rows + (size_t)n_threads * per_thread +
           ((size_t)n_threads * 33 + 512) * max_cols(c);
}

static size_t state_bytes(const void *model, int n_threads, size_t max_tokens)
{
    size_t chunk = max_tokens < PREFILL_CHUNK ? max_tokens : PREFILL_CHUNK, caches;
    return state_floats(model, n_threads, max_tokens, chunk, &caches) * sizeof(float);
}

static void state_free(void *p)
{
    ds_state *s = p;
    if (!s)
        return;
    float *bufs[] = {s->latent, s->pe, s->ikeys, s->x, s->xn, s->qr, s->q, s->kva, s->att, s->iq,
                     s->iw, s->gate, s->up, s->moe, s->xg, s->router, s->weights, s->mla_scratch,
                     s->sel_scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
    free(s->experts);
    free(s->tokens);
    sl_matmul_scratch_free(s->mm);
    free(s);
}

static sl_status state_new(const void *model, const sl_pool *pool, size_t max_tokens,
                           bool use_blas, void **out, sl_error *err)
{
    const sl_deepseek *m = model;
    const sl_ds_config *c = &m->c;
    if (max_tokens == 0 || max_tokens > (1u << 24))
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "session: %zu tokens is out of range", max_tokens);
    ds_state *s = calloc(1, sizeof *s);
    if (!s)
        return sl_fail(err, SL_ERR_NO_MEMORY, "session: out of memory");
    size_t T = (size_t)sl_pool_size(pool), n = max_tokens < PREFILL_CHUNK ? max_tokens : PREFILL_CHUNK;
    size_t L = (size_t)c->n_layers, H = (size_t)c->hidden, nh = (size_t)c->n_heads;
    size_t ih = (size_t)c->index_heads, id = (size_t)c->index_dim, E = (size_t)c->n_experts;
    size_t k = (size_t)c->experts_per_tok, F = ffn_width(c);
    sl_mla_args shape = mla_shape(m);
    s->max_tokens = max_tokens;
    s->chunk = n;
    s->latent = malloc(L * max_tokens * (size_t)c->kv_lora * sizeof(float));
    s->pe = malloc(L * max_tokens * (size_t)c->qk_rope * sizeof(float));
    s->ikeys = malloc(L * max_tokens * id * sizeof(float));
    s->x = malloc(n * H * sizeof(float));
    s->xn = malloc(n * H * sizeof(float));
    s->qr = malloc(n * (size_t)c->q_lora * sizeof(float));
    s->q = malloc(n * nh * (size_t)(c->qk_nope + c->qk_rope) * sizeof(float));
    s->kva = malloc(n * (size_t)(c->kv_lora + c->qk_rope) * sizeof(float));
    s->att = malloc(n * nh * (size_t)c->v_head * sizeof(float));
    s->iq = malloc(n * ih * id * sizeof(float));
    s->iw = malloc(n * ih * sizeof(float));
    s->gate = malloc(n * F * sizeof(float));
    s->up = malloc(n * F * sizeof(float));
    s->moe = malloc(n * H * sizeof(float));
    s->xg = malloc(n * H * sizeof(float));
    s->router = malloc(n * E * sizeof(float));
    s->experts = malloc(n * k * sizeof(int32_t));
    s->weights = malloc(n * k * sizeof(float));
    s->tokens = malloc(n * sizeof(int32_t));
    s->mla_per_thread = sl_mla_scratch_floats(&shape, max_tokens);
    s->sel_per_thread = max_tokens + SCORE_TILE + 2 * (E + (size_t)c->n_group);
    s->mla_scratch = malloc(T * s->mla_per_thread * sizeof(float));
    s->sel_scratch = malloc(T * s->sel_per_thread * sizeof(float));
    sl_status st = sl_matmul_scratch_new(pool, (int64_t)max_cols(c), use_blas, &s->mm, err);
    bool ok = s->latent && s->pe && s->ikeys && s->x && s->xn && s->qr && s->q && s->kva &&
              s->att && s->iq && s->iw && s->gate && s->up && s->moe && s->xg && s->router &&
              s->experts && s->weights && s->tokens && s->mla_scratch && s->sel_scratch;
    if (st == SL_OK && !ok)
        st = sl_fail(err, SL_ERR_NO_MEMORY, "session: out of memory for a cache of %zu tokens "
                     "(%.1f MiB)", max_tokens,
                     (double)state_bytes(m, (int)T, max_tokens) / 1048576.0);
    if (st != SL_OK) {
        state_free(s);
        return st;
    }
    *out = s;
    return SL_OK;
}

static size_t chunk_of(const void *p) { return ((const ds_state *)p)->chunk; }

/* ---- forward -------------------------------------------------------------- */

static void add_rows(float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] += y[i];
}

static void scale_rows(float *x, size_t n, size_t stride, size_t count, float f)
{
    if (f == 1.0f)
        return;
    for (size_t r = 0; r < n; r++)
        for (size_t i = 0; i < count; i++)
            x[r * stride + i] *= f;
}

/* MLA's query, latent and rotated key part of n rows; the latent and key go
 * into the layer's caches. */
static void mla_project(const sl_deepseek *m, ds_state *s, sl_pool *pool, const ds_layer *l,
                        int il, size_t n, size_t pos)
{
    const sl_ds_config *c = &m->c;
    size_t nh = (size_t)c->n_heads, qk = (size_t)(c->qk_nope + c->qk_rope);
    size_t R = (size_t)c->kv_lora, rope = (size_t)c->qk_rope;
    float *latent = s->latent + ((size_t)il * s->max_tokens + pos) * R;
    float *pe = s->pe + ((size_t)il * s->max_tokens + pos) * rope;
    sl_matmul(pool, s->mm, &l->q_a, s->xn, n, s->qr);
    for (size_t t = 0; t < n; t++)
        sl_rmsnorm(s->qr + t * (size_t)c->q_lora, s->qr + t * (size_t)c->q_lora, l->q_norm,
                   (size_t)c->q_lora, c->norm_eps);
    sl_matmul(pool, s->mm, &l->q_b, s->qr, n, s->q);
    sl_matmul(pool, s->mm, &l->kv_a, s->xn, n, s->kva);
    for (size_t t = 0; t < n; t++) {
        float *q_pe = s->q + t * nh * qk + (size_t)c->qk_nope, *kv = s->kva + t * (R + rope);
        sl_rope_interleaved(q_pe, (int)nh, (int)qk, (int)rope, pos + t, m->inv_freq);
        scale_rows(q_pe, nh, qk, rope, m->rope_factor);
        sl_rmsnorm(latent + t * R, kv, l->kv_norm, R, c->norm_eps);
        for (size_t b = 0; m->fp8_cache && b < R; b += 128) /* REF-FIX's act_quant */
            sl_fp8_fake_quant(latent + t * R + b, R - b < 128 ? R - b : 128);
        memcpy(pe + t * rope, kv + R, rope * sizeof(float));
        sl_rope_interleaved(pe + t * rope, 1, (int)rope, (int)rope, pos + t, m->inv_freq);
        scale_rows(pe + t * rope, 1, rope, rope, m->rope_factor);
    }
}

/* DeepSeek's FP8 indexer: each vector Hadamard-rotated as a whole, then
 * rounded to e4m3 with a power-of-two scale per block of 128 (the scales
 * multiply back in: the scores are those of the dequantised vectors, as
 * DeepSeek's kernel computes them). */
static void fp8_vector(float *x, size_t n)
{
    sl_hadamard(x, n);
    for (size_t b = 0; b < n; b += 128)
        sl_fp8_fake_quant(x + b, n - b < 128 ? n - b : 128);
}

/* The indexer's queries, head weights (with H^-½·D^-½ folded in) and keys. */
static void indexer_project(const sl_deepseek *m, ds_state *s, sl_pool *pool, const ds_layer *l,
                            int il, size_t n, size_t pos, bool fp8)
{
    const sl_ds_config *c = &m->c;
    size_t ih = (size_t)c->index_heads, id = (size_t)c->index_dim;
    float *keys = s->ikeys + ((size_t)il * s->max_tokens + pos) * id;
    sl_matmul(pool, s->mm, &l->iq, s->qr, n, s->iq);
    sl_matmul(pool, s->mm, &l->ik, s->xn, n, keys);
    sl_matmul(pool, s->mm, &l->iw, s->xn, n, s->iw);
    float w_scale = 1.0f / sqrtf((float)ih) / sqrtf((float)id);
    for (size_t t = 0; t < n; t++) {
        for (size_t h = 0; h < ih; h++) {
            float *q = s->iq + (t * ih + h) * id;
            sl_rope_neox(q, c->qk_rope, pos + t, m->inv_freq);
            scale_rows(q, 1, id, (size_t)c->qk_rope, m->rope_factor);
            if (fp8)
                fp8_vector(q, id);
            s->iw[t * ih + h] *= w_scale;
        }
        float *k = keys + t * id;
        sl_layernorm(k, id, l->ik_norm_w, l->ik_norm_b, 1e-6f);
        sl_rope_neox(k, c->qk_rope, pos + t, m->inv_freq);
        scale_rows(k, 1, id, (size_t)c->qk_rope, m->rope_factor);
        if (fp8)
            fp8_vector(k, id);
    }
}

typedef struct {
    const sl_deepseek *m;
    ds_state *s;
    sl_dsa *dsa;
    const sl_mla_args *mla;
    int il;
    size_t pos, first_sparse;
    int32_t *sel;
    size_t *count, stride;
} select_job;

/* One sparse row: the top-k of the indexer's scores or of the dense mass. */
static void select_row(void *p, size_t i, int thread)
{
    select_job *j = p;
    const sl_ds_config *c = &j->m->c;
    size_t row = j->first_sparse + i, n_keys = j->pos + row + 1;
    float *tile = j->s->sel_scratch + (size_t)thread * j->s->sel_per_thread;
    sl_topk *topk = sl_dsa_topk(j->dsa, thread);
    int32_t *sel = j->sel + row * j->stride;
    if (sl_dsa_mode_of(j->dsa) == SL_DSA_ORACLE) {
        float *mla_scratch = j->s->mla_scratch + (size_t)thread * j->s->mla_per_thread;
        sl_mla_head_mass(j->mla, row, tile, mla_scratch);
        j->count[row] = sl_topk_row(topk, tile, n_keys, sl_dsa_k(j->dsa), sel);
        double kept = 0;
        for (size_t s = 0; s < j->count[row]; s++)
            kept += tile[sel[s]];
        sl_dsa_note_kept(j->dsa, thread, j->il, kept / c->n_heads);
        return;
    }
    size_t ih = (size_t)c->index_heads, id = (size_t)c->index_dim;
    const float *keys = j->s->ikeys + (size_t)j->il * j->s->max_tokens * id;
    sl_topk_begin(topk, sl_dsa_k(j->dsa));
    for (size_t s0 = 0; s0 < n_keys; s0 += SCORE_TILE) {
        size_t n = n_keys - s0 < SCORE_TILE ? n_keys - s0 : SCORE_TILE;
        sl_lightning_scores(ih, id, j->s->iq + row * ih * id, j->s->iw + row * ih, keys, s0, n, tile);
        sl_topk_push(topk, tile, n, (int32_t)s0);
    }
    j->count[row] = sl_topk_end(topk, sel, NULL);
}

/* Fills every row's selection; rows that see at most k positions take all of
 * them (dense attention, unless the session asks for the sparse path). */
static void select_rows(const sl_deepseek *m, ds_state *s, sl_pool *pool, sl_dsa *dsa, int il,
                        const sl_mla_args *mla, size_t n, size_t pos, sl_mla_selection *out)
{
    size_t stride, *count;
    int32_t *sel = sl_dsa_rows(dsa, &stride, &count);
    size_t dense_rows = sl_dsa_dense_rows(dsa, n, pos);
    for (size_t t = 0; t < dense_rows; t++) {
        count[t] = pos + t + 1;
        for (size_t j = 0; j < count[t]; j++)
            sel[t * stride + j] = (int32_t)j;
    }
    select_job job = {m, s, dsa, mla, il, pos, dense_rows, sel, count, stride};
    sl_pool_for(pool, n - dense_rows, select_row, &job);
    sl_dsa_rows_done(dsa, il, dense_rows);
    sel = sl_dsa_attend_rows(dsa, il, dense_rows, &stride, &count);
    *out = (sl_mla_selection){sel, count, stride};
}

static void attention_block(const sl_deepseek *m, ds_state *s, sl_pool *pool, int il, size_t n,
                            size_t pos, sl_dsa *dsa)
{
    const sl_ds_config *c = &m->c;
    const ds_layer *l = &m->layers[il];
    size_t H = (size_t)c->hidden;
    for (size_t t = 0; t < n; t++)
        sl_rmsnorm(s->xn + t * H, s->x + t * H, l->attn_norm, H, c->norm_eps);
    mla_project(m, s, pool, l, il, n, pos);
    sl_mla_args a = mla_shape(m);
    a.kv_b = l->kv_b;
    a.latent = s->latent + (size_t)il * s->max_tokens * (size_t)c->kv_lora;
    a.pe = s->pe + (size_t)il * s->max_tokens * (size_t)c->qk_rope;
    a.q = s->q;
    a.first_pos = pos;
    a.n_rows = n;
    a.out = s->att;
    sl_mla_selection sel = {0}, *use = NULL;
    if (dsa) {
        if (sl_dsa_mode_of(dsa) == SL_DSA_INDEXER)
            indexer_project(m, s, pool, l, il, n, pos, sl_dsa_indexer_fp8(dsa) || m->fp8_cache);
        select_rows(m, s, pool, dsa, il, &a, n, pos, &sel);
        use = &sel;
    }
    if (n > 1)
        sl_mla_mha(pool, &a, use, s->mla_scratch, s->mla_per_thread);
    else
        sl_mla_mqa(pool, &a, use, s->mla_scratch, s->mla_per_thread);
    sl_matmul(pool, s->mm, &l->o, s->att, n, s->xn);
    add_rows(s->x, s->xn, n * H);
}

/* out = down(silu(gate·x) ⊙ up·x) for n rows of x. */
static void swiglu_ffn(ds_state *s, sl_pool *pool, const sl_matrix *gate, const sl_matrix *up,
                       const sl_matrix *down, const float *x, size_t n, float *out)
{
    sl_matmul(pool, s->mm, gate, x, n, s->gate);
    sl_matmul(pool, s->mm, up, x, n, s->up);
    sl_swiglu(s->gate, s->up, n * (size_t)gate->rows);
    sl_matmul(pool, s->mm, down, s->gate, n, out);
}

/* Routed experts: each expert runs once over the rows routed to it. */
static void moe_block(const sl_deepseek *m, ds_state *s, sl_pool *pool, const ds_layer *l, size_t n)
{
    const sl_ds_config *c = &m->c;
    size_t H = (size_t)c->hidden, E = (size_t)c->n_experts, K = (size_t)c->experts_per_tok;
    sl_moe_routing r = {c->n_experts, c->n_group, c->topk_group, c->experts_per_tok,
                        c->norm_topk, c->routed_scale};
    sl_matmul(pool, s->mm, &l->router, s->xn, n, s->router);
    for (size_t t = 0; t < n; t++)
        sl_moe_route(&r, s->router + t * E, l->router_bias, s->experts + t * K, s->weights + t * K,
                     s->sel_scratch);
    memset(s->moe, 0, n * H * sizeof(float));
    for (size_t e = 0; e < E; e++) {
        size_t rows = 0;
        for (size_t t = 0; t < n; t++)
            for (size_t j = 0; j < K; j++)
                if ((size_t)s->experts[t * K + j] == e) {
                    s->tokens[rows] = (int32_t)(t * K + j);
                    memcpy(s->xg + rows * H, s->xn + t * H, H * sizeof(float));
                    rows++;
                }
        if (rows == 0)
            continue;
        swiglu_ffn(s, pool, &l->e_gate[e], &l->e_up[e], &l->e_down[e], s->xg, rows, s->xg);
        for (size_t i = 0; i < rows; i++) {
            size_t t = (size_t)s->tokens[i] / K;
            float w = s->weights[s->tokens[i]];
            for (size_t d = 0; d < H; d++)
                s->moe[t * H + d] += w * s->xg[i * H + d];
        }
    }
}

static void ffn_block(const sl_deepseek *m, ds_state *s, sl_pool *pool, int il, size_t n)
{
    const sl_ds_config *c = &m->c;
    const ds_layer *l = &m->layers[il];
    size_t H = (size_t)c->hidden;
    for (size_t t = 0; t < n; t++)
        sl_rmsnorm(s->xn + t * H, s->x + t * H, l->ffn_norm, H, c->norm_eps);
    if (l->moe) {
        moe_block(m, s, pool, l, n);
        add_rows(s->x, s->moe, n * H);
    }
    if (l->has_ffn) { /* the dense FFN, or the shared experts beside the routed ones */
        swiglu_ffn(s, pool, &l->gate, &l->up, &l->down, s->xn, n, s->xn);
        add_rows(s->x, s->xn, n * H);
    }
}

static sl_status forward(const void *model, void *state, sl_pool *pool, const int32_t *ids,
                         size_t n, size_t pos, float *logits, bool all_logits, sl_dsa *dsa,
                         sl_error *err)
{
    (void)err;
    const sl_deepseek *m = model;
    ds_state *s = state;
    size_t H = (size_t)m->c.hidden;
    for (size_t t = 0; t < n; t++)
        sl_matrix_row(&m->embed, ids[t], s->x + t * H);
    for (int il = 0; il < m->c.n_layers; il++) {
        attention_block(m, s, pool, il, n, pos, dsa);
        ffn_block(m, s, pool, il, n);
    }
    if (!logits)
        return SL_OK;
    size_t first = all_logits ? 0 : n - 1;
    for (size_t t = first; t < n; t++)
        sl_rmsnorm(s->xn + t * H, s->x + t * H, m->final_norm, H, m->c.norm_eps);
    sl_matmul(pool, s->mm, &m->head, s->xn + first * H, n - first, logits);
    return SL_OK;
}

const sl_arch_ops sl_deepseek_ops = {
    .state_bytes = state_bytes,
    .state_new = state_new,
    .state_free = state_free,
    .chunk = chunk_of,
    .forward = forward,
    .model_free = model_free,
    .own_indexer = true,
    .dsa = true,
    .selects = true,
    .indexer_files = false,
    .replays = true,
};
