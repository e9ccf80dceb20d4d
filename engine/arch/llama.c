#include "arch/llama.h"
#include "arch/llama-private.h"

#include "cpu/attention.h"
#include "cpu/matmul.h"
#include "cpu/ops.h"
#include "error.h"
#include "model/dequant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PREFILL_CHUNK = 512 };

struct sl_llama_state {
    size_t max_tokens, chunk;
    float *k_cache, *v_cache; /* n_layers × (blocked keys | max_tokens × kv_dim values) */
    size_t k_layer_floats;
    float *x, *xn, *q, *k_new, *att, *gate, *up;
    float *att_scratch;
    size_t att_scratch_per_thread;
    sl_matmul_scratch *mm;
};

/* ---- loading ------------------------------------------------------------ */

static sl_status get_dim(const sl_gguf *g, const char *key, bool required, int fallback, int *out,
                         sl_error *err)
{
    if (!sl_gguf_has(g, key)) {
        if (required)
            return sl_fail(err, SL_ERR_FORMAT, "%s: metadata key '%s' is missing",
                           sl_gguf_path(g), key);
        *out = fallback;
        return SL_OK;
    }
    uint32_t v;
    sl_status st = sl_gguf_get_u32(g, key, &v, err);
    if (st != SL_OK)
        return st;
    if (v == 0 || v > (1u << 24))
        return sl_fail(err, SL_ERR_FORMAT, "%s: metadata '%s' = %u is out of range",
                       sl_gguf_path(g), key, v);
    *out = (int)v;
    return SL_OK;
}

static sl_status get_float(const sl_gguf *g, const char *key, float fallback, float *out,
                           sl_error *err)
{
    if (!sl_gguf_has(g, key)) {
        *out = fallback;
        return SL_OK;
    }
    return sl_gguf_get_f32(g, key, out, err);
}

static sl_status unsupported_type(const sl_gguf *g, const sl_gguf_tensor *t, sl_error *err)
{
    const char *type = sl_type_name(t->type);
    return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which is not supported",
                   sl_gguf_path(g), t->name, type ? type : "(unknown)");
}

/* Finds a 2-D tensor of shape [cols, rows] (GGUF order) and describes it. */
static sl_status find_matrix(const sl_gguf *g, const char *name, int64_t cols, int64_t rows,
                             sl_matrix *out, sl_error *err)
{
    const sl_gguf_tensor *t = sl_gguf_find_tensor(g, name);
    if (!t)
        return sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s' is missing", sl_gguf_path(g), name);
    if (t->n_dims != 2 || t->dims[0] != (uint64_t)cols || t->dims[1] != (uint64_t)rows)
        return sl_fail(err, SL_ERR_FORMAT,
                       "%s: tensor '%s' has shape [%llu, %llu] (%u dims), expected [%lld, %lld]",
                       sl_gguf_path(g), name, (unsigned long long)t->dims[0],
                       (unsigned long long)t->dims[1], t->n_dims, (long long)cols,
                       (long long)rows);
    if (!sl_type_supported(t->type))
        return unsupported_type(g, t, err);
    out->name = t->name;
    out->type = t->type;
    out->rows = rows;
    out->cols = cols;
    out->data = t->data;
    out->row_bytes = (size_t)(t->n_bytes / (uint64_t)rows);
    return SL_OK;
}

/* Finds a 1-D tensor of n elements and copies it out as float32. */
static sl_status load_vector(const sl_gguf *g, const char *name, int64_t n, float **out,
                             sl_error *err)
{
    const sl_gguf_tensor *t = sl_gguf_find_tensor(g, name);
    if (!t)
        return sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s' is missing", sl_gguf_path(g), name);
    if (t->n_dims != 1 || t->dims[0] != (uint64_t)n)
        return sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s' has %u dims [%llu, …], expected [%lld]",
                       sl_gguf_path(g), name, t->n_dims, (unsigned long long)t->dims[0],
                       (long long)n);
    if (!sl_type_supported(t->type))
        return unsupported_type(g, t, err);
    *out = malloc((size_t)n * sizeof(float));
    if (!*out)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory for '%s'", sl_gguf_path(g), name);
    sl_dequantize_row(t->type, t->data, *out, (size_t)n);
    return SL_OK;
}

static sl_status load_layer(const sl_gguf *g, const sl_llama *m, int il, llama_layer *l,
                            sl_error *err)
{
    char name[96];
    int64_t q_dim = (int64_t)m->n_heads * m->head_dim, kv_dim = (int64_t)m->n_kv_heads * m->head_dim;
    sl_status st;
#define LAYER_NAME(suffix) (snprintf(name, sizeof name, "blk.%d.%s", il, suffix), name)
    if ((st = load_vector(g, LAYER_NAME("attn_norm.weight"), m->n_embd, &l->attn_norm, err)) ||
        (st = load_vector(g, LAYER_NAME("ffn_norm.weight"), m->n_embd, &l->ffn_norm, err)) ||
        (st = find_matrix(g, LAYER_NAME("attn_q.weight"), m->n_embd, q_dim, &l->wq, err)) ||
        (st = find_matrix(g, LAYER_NAME("attn_k.weight"), m->n_embd, kv_dim, &l->wk, err)) ||
        (st = find_matrix(g, LAYER_NAME("attn_v.weight"), m->n_embd, kv_dim, &l->wv, err)) ||
        (st = find_matrix(g, LAYER_NAME("attn_output.weight"), q_dim, m->n_embd, &l->wo, err)) ||
        (st = find_matrix(g, LAYER_NAME("ffn_gate.weight"), m->n_embd, m->n_ff, &l->gate, err)) ||
        (st = find_matrix(g, LAYER_NAME("ffn_up.weight"), m->n_embd, m->n_ff, &l->up, err)) ||
        (st = find_matrix(g, LAYER_NAME("ffn_down.weight"), m->n_ff, m->n_embd, &l->down, err)))
        return st;
#undef LAYER_NAME
    return SL_OK;
}

static sl_status read_hparams(const sl_gguf *g, sl_llama *m, sl_error *err)
{
    sl_status st;
    if ((st = get_dim(g, "llama.block_count", true, 0, &m->n_layers, err)) ||
        (st = get_dim(g, "llama.embedding_length", true, 0, &m->n_embd, err)) ||
        (st = get_dim(g, "llama.feed_forward_length", true, 0, &m->n_ff, err)) ||
        (st = get_dim(g, "llama.attention.head_count", true, 0, &m->n_heads, err)) ||
        (st = get_dim(g, "llama.attention.head_count_kv", false, m->n_heads, &m->n_kv_heads, err)) ||
        (st = get_dim(g, "llama.attention.key_length", false, m->n_embd / m->n_heads, &m->head_dim, err)) ||
        (st = get_dim(g, "llama.rope.dimension_count", false, m->head_dim, &m->rope_dims, err)) ||
        (st = get_float(g, "llama.rope.freq_base", 10000.0f, &m->rope_theta, err)) ||
        (st = get_float(g, "llama.attention.layer_norm_rms_epsilon", 1e-5f, &m->eps, err)))
        return st;
    const char *path = sl_gguf_path(g);
    if (m->n_layers > 4096)
        return sl_fail(err, SL_ERR_FORMAT, "%s: %d layers is implausible", path, m->n_layers);
    if (m->n_heads % m->n_kv_heads != 0)
        return sl_fail(err, SL_ERR_FORMAT, "%s: %d attention heads are not a multiple of %d KV heads",
                       path, m->n_heads, m->n_kv_heads);
    if (m->head_dim % 2 || m->rope_dims % 2 || m->rope_dims > m->head_dim)
        return sl_fail(err, SL_ERR_FORMAT, "%s: head dim %d / rope dims %d cannot be rotated", path,
                       m->head_dim, m->rope_dims);
    if (!(m->rope_theta > 0.0f) || !(m->eps > 0.0f) || m->eps > 1.0f)
        return sl_fail(err, SL_ERR_FORMAT, "%s: rope base %g or norm epsilon %g out of range", path,
                       (double)m->rope_theta, (double)m->eps);
    if (sl_gguf_has(g, "llama.rope.scaling.type")) {
        sl_gguf_string s;
        if ((st = sl_gguf_get_string(g, "llama.rope.scaling.type", &s, err)))
            return st;
        if (!(s.len == 4 && memcmp(s.ptr, "none", 4) == 0))
            return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: rope scaling '%.*s' is not supported yet",
                           path, (int)(s.len > 32 ? 32 : s.len), s.ptr);
    }
    if (sl_gguf_find_tensor(g, "rope_freqs.weight"))
        return sl_fail(err, SL_ERR_UNSUPPORTED,
                       "%s: per-dimension rope factors (rope_freqs.weight) are not supported yet", path);
    return SL_OK;
}

sl_status sl_llama_load(const sl_gguf *g, sl_llama **out, sl_model_info *info, sl_error *err)
{
    sl_llama *m = calloc(1, sizeof *m);
    if (!m)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory", sl_gguf_path(g));
    sl_status st = read_hparams(g, m, err);
    const sl_gguf_tensor *embd = st ? NULL : sl_gguf_find_tensor(g, "token_embd.weight");
    if (!st && !embd)
        st = sl_fail(err, SL_ERR_FORMAT, "%s: tensor 'token_embd.weight' is missing", sl_gguf_path(g));
    if (!st && (embd->n_dims != 2 || embd->dims[1] > (1u << 24)))
        st = sl_fail(err, SL_ERR_FORMAT, "%s: tensor 'token_embd.weight' has an unexpected shape",
                     sl_gguf_path(g));
    if (!st) {
        m->n_vocab = (int)embd->dims[1];
        st = find_matrix(g, "token_embd.weight", m->n_embd, m->n_vocab, &m->embd, err);
    }
    if (!st)
        st = load_vector(g, "output_norm.weight", m->n_embd, &m->output_norm, err);
    bool tied = !st && !sl_gguf_find_tensor(g, "output.weight");
    if (!st)
        st = tied ? SL_OK : find_matrix(g, "output.weight", m->n_embd, m->n_vocab, &m->output, err);
    if (tied)
        m->output = m->embd;
    if (!st && !(m->layers = calloc((size_t)m->n_layers, sizeof *m->layers)))
        st = sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory", sl_gguf_path(g));
    for (int il = 0; !st && il < m->n_layers; il++)
        st = load_layer(g, m, il, &m->layers[il], err);
    if (!st && !(m->inv_freq = malloc((size_t)m->rope_dims / 2 * sizeof(float))))
        st = sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory", sl_gguf_path(g));
    if (!st)
        sl_rope_inv_freq(m->inv_freq, m->rope_dims, m->rope_theta);
    if (st) {
        sl_llama_free(m);
        return st;
    }
    info->n_layers = m->n_layers;
    info->n_embd = m->n_embd;
    info->n_heads = m->n_heads;
    info->n_kv_heads = m->n_kv_heads;
    info->head_dim = m->head_dim;
    info->n_ff = m->n_ff;
    info->n_vocab = m->n_vocab;
    info->rope_theta = m->rope_theta;
    info->norm_eps = m->eps;
    info->tied_output = tied;
    *out = m;
    return SL_OK;
}

void sl_llama_free(sl_llama *m)
{
    if (!m)
        return;
    for (int il = 0; m->layers && il < m->n_layers; il++) {
        free(m->layers[il].attn_norm);
        free(m->layers[il].ffn_norm);
    }
    free(m->layers);
    free(m->output_norm);
    free(m->inv_freq);
    free(m);
}

/* ---- state ---------------------------------------------------------------- */

static size_t max_cols(const sl_llama *m)
{
    size_t c = (size_t)m->n_embd;
    size_t q_dim = (size_t)m->n_heads * (size_t)m->head_dim;
    if ((size_t)m->n_ff > c)
        c = (size_t)m->n_ff;
    return q_dim > c ? q_dim : c;
}

size_t sl_llama_state_bytes(const sl_llama *m, int n_threads, size_t max_tokens)
{
    size_t chunk = max_tokens < PREFILL_CHUNK ? max_tokens : PREFILL_CHUNK;
    size_t kv_dim = (size_t)m->n_kv_heads * (size_t)m->head_dim;
    size_t q_dim = (size_t)m->n_heads * (size_t)m->head_dim;
    size_t floats = (size_t)m->n_layers * (max_tokens * kv_dim +
                                           sl_key_cache_floats(max_tokens, m->n_kv_heads, m->head_dim)) +
                    chunk * (2 * (size_t)m->n_embd + 2 * q_dim + kv_dim + 2 * (size_t)m->n_ff) +
                    (size_t)n_threads * sl_attention_scratch_floats(max_tokens, m->head_dim) +
                    ((size_t)n_threads * 33 + 512) * max_cols(m); /* matmul rows, panels, BLAS rows */
    return floats * sizeof(float);
}

sl_status sl_llama_state_new(const sl_llama *m, const sl_pool *pool, size_t max_tokens,
                             bool use_blas, sl_llama_state **out, sl_error *err)
{
    if (max_tokens == 0 || max_tokens > (1u << 24))
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "session: %zu tokens is out of range",
                       max_tokens);
    sl_llama_state *s = calloc(1, sizeof *s);
    if (!s)
        return sl_fail(err, SL_ERR_NO_MEMORY, "session: out of memory");
    size_t kv_dim = (size_t)m->n_kv_heads * (size_t)m->head_dim;
    size_t q_dim = (size_t)m->n_heads * (size_t)m->head_dim;
    s->max_tokens = max_tokens;
    s->chunk = max_tokens < PREFILL_CHUNK ? max_tokens : PREFILL_CHUNK;
    s->k_layer_floats = sl_key_cache_floats(max_tokens, m->n_kv_heads, m->head_dim);
    s->k_cache = malloc((size_t)m->n_layers * s->k_layer_floats * sizeof(float));
    s->v_cache = malloc((size_t)m->n_layers * max_tokens * kv_dim * sizeof(float));
    s->k_new = malloc(s->chunk * kv_dim * sizeof(float));
    s->x = malloc(s->chunk * (size_t)m->n_embd * sizeof(float));
    s->xn = malloc(s->chunk * (size_t)m->n_embd * sizeof(float));
    s->q = malloc(s->chunk * q_dim * sizeof(float));
    s->att = malloc(s->chunk * q_dim * sizeof(float));
    s->gate = malloc(s->chunk * (size_t)m->n_ff * sizeof(float));
    s->up = malloc(s->chunk * (size_t)m->n_ff * sizeof(float));
    s->att_scratch_per_thread = sl_attention_scratch_floats(max_tokens, m->head_dim);
    s->att_scratch = malloc((size_t)sl_pool_size(pool) * s->att_scratch_per_thread * sizeof(float));
    sl_status st = sl_matmul_scratch_new(pool, (int64_t)max_cols(m), use_blas, &s->mm, err);
    if (st == SL_OK && !(s->k_cache && s->v_cache && s->k_new && s->x && s->xn && s->q && s->att && s->gate &&
                         s->up && s->att_scratch))
        st = sl_fail(err, SL_ERR_NO_MEMORY,
                     "session: out of memory for a KV cache of %zu tokens (%.1f MiB)", max_tokens,
                     (double)sl_llama_state_bytes(m, sl_pool_size(pool), max_tokens) / 1048576.0);
    if (st != SL_OK) {
        sl_llama_state_free(s);
        return st;
    }
    *out = s;
    return SL_OK;
}

void sl_llama_state_free(sl_llama_state *s)
{
    if (!s)
        return;
    free(s->k_cache);
    free(s->v_cache);
    free(s->x);
    free(s->xn);
    free(s->q);
    free(s->k_new);
    free(s->att);
    free(s->gate);
    free(s->up);
    free(s->att_scratch);
    sl_matmul_scratch_free(s->mm);
    free(s);
}

size_t sl_llama_chunk(const sl_llama_state *s) { return s->chunk; }

/* ---- forward -------------------------------------------------------------- */

static void add_rows(float *x, const float *y, size_t n) /* x += y */
{
    for (size_t i = 0; i < n; i++)
        x[i] += y[i];
}

static void attention_block(const sl_llama *m, sl_llama_state *s, sl_pool *pool, int il,
                            size_t n, size_t pos, sl_dsa *dsa)
{
    const llama_layer *l = &m->layers[il];
    size_t E = (size_t)m->n_embd, kv_dim = (size_t)m->n_kv_heads * (size_t)m->head_dim;
    size_t q_dim = (size_t)m->n_heads * (size_t)m->head_dim;
    float *k_layer = s->k_cache + (size_t)il * s->k_layer_floats;
    float *v_layer = s->v_cache + (size_t)il * s->max_tokens * kv_dim;
    float *k_new = s->k_new, *v_new = v_layer + pos * kv_dim;

    for (size_t t = 0; t < n; t++)
        sl_rmsnorm(s->xn + t * E, s->x + t * E, l->attn_norm, E, m->eps);
    sl_matmul(pool, s->mm, &l->wq, s->xn, n, s->q);
    sl_matmul(pool, s->mm, &l->wk, s->xn, n, k_new);
    sl_matmul(pool, s->mm, &l->wv, s->xn, n, v_new);
    for (size_t t = 0; t < n; t++) {
        sl_rope_interleaved(s->q + t * q_dim, m->n_heads, m->head_dim, m->rope_dims, pos + t,
                            m->inv_freq);
        sl_rope_interleaved(k_new + t * kv_dim, m->n_kv_heads, m->head_dim, m->rope_dims, pos + t,
                            m->inv_freq);
    }
    sl_key_cache_store(k_layer, pos, n, m->n_kv_heads, m->head_dim, k_new);
    sl_attention_args args = {m->n_heads, m->n_kv_heads, m->head_dim, s->q, k_layer, v_layer,
                              pos, n, s->att};
    if (dsa && sl_dsa_layer_active(dsa, il))
        sl_dsa_attention(dsa, pool, il, &args, s->xn, s->att_scratch, s->att_scratch_per_thread);
    else
        sl_attention(pool, &args, s->att_scratch, s->att_scratch_per_thread);
    sl_matmul(pool, s->mm, &l->wo, s->att, n, s->xn);
    add_rows(s->x, s->xn, n * E);
}

static void ffn_block(const sl_llama *m, sl_llama_state *s, sl_pool *pool, int il, size_t n)
{
    const llama_layer *l = &m->layers[il];
    size_t E = (size_t)m->n_embd;
    for (size_t t = 0; t < n; t++)
        sl_rmsnorm(s->xn + t * E, s->x + t * E, l->ffn_norm, E, m->eps);
    sl_matmul(pool, s->mm, &l->gate, s->xn, n, s->gate);
    sl_matmul(pool, s->mm, &l->up, s->xn, n, s->up);
    sl_swiglu(s->gate, s->up, n * (size_t)m->n_ff);
    sl_matmul(pool, s->mm, &l->down, s->gate, n, s->xn);
    add_rows(s->x, s->xn, n * E);
}

void sl_llama_forward(const sl_llama *m, sl_llama_state *s, sl_pool *pool, const int32_t *ids,
                      size_t n, size_t pos, float *logits, bool all_logits, sl_dsa *dsa)
{
    size_t E = (size_t)m->n_embd;
    for (size_t t = 0; t < n; t++)
        sl_matrix_row(&m->embd, ids[t], s->x + t * E);
    for (int il = 0; il < m->n_layers; il++) {
        attention_block(m, s, pool, il, n, pos, dsa);
        ffn_block(m, s, pool, il, n);
    }
    if (!logits)
        return;
    size_t first = all_logits ? 0 : n - 1;
    for (size_t t = first; t < n; t++)
        sl_rmsnorm(s->xn + t * E, s->x + t * E, m->output_norm, E, m->eps);
    sl_matmul(pool, s->mm, &m->output, s->xn + first * E, n - first, logits);
}

/* ---- as an architecture of the engine -------------------------------------- */

static size_t ops_state_bytes(const void *m, int n_threads, size_t max_tokens)
{
    return sl_llama_state_bytes(m, n_threads, max_tokens);
}

static sl_status ops_state_new(const void *m, const sl_pool *pool, size_t max_tokens,
                               bool use_blas, void **out, sl_error *err)
{
    sl_llama_state *s = NULL;
    sl_status st = sl_llama_state_new(m, pool, max_tokens, use_blas, &s, err);
    *out = s;
    return st;
}

static void ops_state_free(void *s) { sl_llama_state_free(s); }
static size_t ops_chunk(const void *s) { return sl_llama_chunk(s); }
static void ops_model_free(void *m) { sl_llama_free(m); }

static sl_status ops_forward(const void *m, void *s, sl_pool *pool, const int32_t *ids, size_t n,
                             size_t pos, float *logits, bool all_logits, sl_dsa *dsa, sl_error *err)
{
    (void)err;
    sl_llama_forward(m, s, pool, ids, n, pos, logits, all_logits, dsa);
    return SL_OK;
}

const sl_arch_ops sl_llama_ops = {
    .state_bytes = ops_state_bytes,
    .state_new = ops_state_new,
    .state_free = ops_state_free,
    .chunk = ops_chunk,
    .forward = ops_forward,
    .model_free = ops_model_free,
    .own_indexer = false,
    .dsa = true,
    .selects = false,
    .indexer_files = true,
    .replays = true,
};
