/* deepseek-cuda-forward.c: a session's state on the GPU and the DeepSeek-V3.2
 * forward pass over it, step for step as arch/deepseek-v32.c on the CPU. */
#include "cuda/deepseek-cuda.h"

#include "cuda/deepseek-cuda-private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CHUNK = 256 }; /* the CPU's prefill chunk */

typedef struct {
    size_t max_tokens, chunk;
    /* n_layers × (max_tokens entries | the indexer's keys): BF16 entries of kv_lora + rope
     * and index_dim values, or DeepSeek's FP8 layouts (sl_engine_options.kv_cache_fp8) */
    uint8_t *kv_cache, *index_cache;
    size_t kv_entry, kv_layer, index_layer; /* bytes an entry, a layer, a layer */
    /* FP8 caches: a layer's entries or keys in BF16 for the kernels that read
     * only BF16 (view_il, view_len: which are there; -1 after each forward
     * call's start), the indexer's FP8 queries and its one block table */
    sl_bf16 *kv_view, *keys_view;
    int view_il, view_len;
    uint8_t *iq8;
    float *iq_scale;
    int32_t *block_table;
    float *x, *xn_f, *qr, *q, *kva, *q_abs, *o_lat, *lse;
    float *iq, *iw, *ik, *scores;    /* the indexer, and the scores or the oracle's mass */
    float *router, *weights, *gate, *up, *y, *logits;
    sl_bf16 *xn, *qr_b, *q_abs_b, *o_lat_b, *att, *iq_b, *h, *xg;
    int32_t *ids, *ks, *row_len, *experts, *moe_map;
    int32_t *host_experts, *host_map; /* the routing, to size each expert's GEMMs */
    int32_t *host_first;              /* n_experts + 1: each expert's first grouped row */
    /* DSA: selections for the session's k, made on its first DSA call */
    int32_t *sel;
    void *topk_ws, *sparse_ws;
    size_t sel_k, topk_ws_bytes, sparse_ws_bytes;
    double *kept, *host_kept; /* chunk: the oracle's mass each sparse row's selection kept */
    /* One token at a time (decode): no step waits for the host. The routed
     * experts' matrices for batched products (A: made on the device from the
     * choice; B, C: this state's buffers), and each layer's selection and kept
     * mass copied to pinned memory for the session after the step. */
    const void **moe_ptrs; /* 9·K: A gate, up, down; B gate, up, down; C gate, up, down */
    int32_t *step_sel;     /* pinned: n_layers × sel_k */
    double *step_kept;     /* pinned: n_layers */
    /* a decode step as a CUDA graph, captured once, reading its token, position
     * and length from step (device) = step_host (pinned), written each step */
    cudaGraphExec_t decode;
    int graph_key;  /* what it was captured for (graph_key) */
    bool no_graphs; /* capturing failed once: steps launch kernel by kernel */
    int32_t *step, *step_host;
} gpu_state;

static size_t ffn_width(const sl_ds_config *c)
{
    size_t w = (size_t)c->inter, shared = (size_t)c->moe_inter * (size_t)c->n_shared;
    if ((size_t)c->moe_inter > w)
        w = (size_t)c->moe_inter;
    return shared > w ? shared : w;
}

/* Rows the FFN buffers hold: a chunk, or a chunk's routed (token, expert) pairs. */
static size_t ffn_rows(const sl_ds_config *c, size_t chunk)
{
    size_t k = c->experts_per_tok > 1 ? (size_t)c->experts_per_tok : 1;
    return chunk * k;
}

/* ---- state -------------------------------------------------------------------- */

static size_t state_bytes(const void *model, int n_threads, size_t max_tokens)
{
    (void)model, (void)n_threads, (void)max_tokens;
    return 0; /* on the host: little; the GPU is checked in state_new */
}

static void state_free(void *p)
{
    gpu_state *s = p;
    if (!s)
        return;
    void *all[] = {s->kv_cache, s->index_cache, s->kv_view, s->keys_view, s->iq8, s->iq_scale,
                   s->block_table, s->x, s->xn_f, s->qr, s->q, s->kva, s->q_abs,
                   s->o_lat, s->lse, s->iq, s->iw, s->ik, s->scores, s->router,
                   s->weights, s->gate, s->up, s->y, s->logits, s->xn, s->qr_b, s->q_abs_b,
                   s->o_lat_b, s->att, s->iq_b, s->h, s->xg, s->ids, s->ks, s->row_len,
                   s->experts, s->moe_map, s->sel, s->topk_ws, s->sparse_ws, s->kept};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        cudaFree(all[i]);
    cudaFree(s->moe_ptrs);
    cudaFreeHost(s->step_sel);
    cudaFreeHost(s->step_kept);
    cudaFreeHost(s->step_host);
    cudaFree(s->step);
    if (s->decode)
        cudaGraphExecDestroy(s->decode);
    free(s->host_experts);
    free(s->host_map);
    free(s->host_first);
    free(s->host_kept);
    free(s);
}

/* Every device buffer of a state, checked against the free memory and
 * allocated. */
static sl_status state_buffers(const gpu_ds *g, size_t max_tokens, gpu_state *s, sl_error *err)
{
    const sl_ds_config *c = &g->cpu->c;
    size_t n = s->chunk, L = (size_t)c->n_layers, H = (size_t)c->hidden, nh = (size_t)c->n_heads;
    size_t R = (size_t)c->kv_lora, D = R + (size_t)c->qk_rope, qk = (size_t)(c->qk_nope + c->qk_rope);
    size_t ih = (size_t)c->index_heads, id = (size_t)c->index_dim, E = (size_t)c->n_experts;
    size_t K = (size_t)c->experts_per_tok, F = ffn_width(c), nf = ffn_rows(c, n);
    size_t blocks = (max_tokens + 63) / 64;
    bool fp8 = g->fp8_cache, views = fp8 && !g->fp8_indexer;
    s->kv_entry = fp8 ? sl_k_mla_fp8_entry_bytes((int)R, c->qk_rope) : D * 2;
    s->kv_layer = max_tokens * s->kv_entry;
    s->index_layer = fp8 ? blocks * sl_k_indexer_fp8_block_bytes((int)id) : max_tokens * id * 2;
    size_t kv_cache = L * s->kv_layer, index_cache = L * s->index_layer;
    const sl_cuda_buffer parts[] = {
        {(void **)&s->kv_cache, kv_cache}, {(void **)&s->index_cache, index_cache},
        {(void **)&s->kv_view, fp8 ? max_tokens * D * 2 : 0},
        {(void **)&s->keys_view, views ? max_tokens * id * 2 : 0},
        {(void **)&s->iq8, g->fp8_indexer ? n * ih * id : 0},
        {(void **)&s->iq_scale, g->fp8_indexer ? n * ih * 4 : 0},
        {(void **)&s->block_table, g->fp8_indexer ? blocks * 4 : 0},
        {(void **)&s->x, n * H * 4},         {(void **)&s->xn_f, n * H * 4},
        {(void **)&s->qr, n * (size_t)c->q_lora * 4}, {(void **)&s->q, n * nh * qk * 4},
        {(void **)&s->kva, n * D * 4},       {(void **)&s->q_abs, n * nh * D * 4},
        {(void **)&s->o_lat, n * nh * R * 4}, {(void **)&s->lse, n * nh * 4},
        {(void **)&s->iq, n * ih * id * 4},
        {(void **)&s->iw, n * ih * 4},       {(void **)&s->ik, n * id * 4},
        {(void **)&s->scores, n * max_tokens * 4}, {(void **)&s->router, n * E * 4},
        {(void **)&s->weights, n * K * 4},   {(void **)&s->gate, nf * F * 4},
        {(void **)&s->up, nf * F * 4},       {(void **)&s->y, n * K * H * 4},
        {(void **)&s->logits, n * (size_t)c->vocab * 4}, {(void **)&s->xn, n * H * 2},
        {(void **)&s->qr_b, n * (size_t)c->q_lora * 2}, {(void **)&s->q_abs_b, n * nh * D * 2},
        {(void **)&s->o_lat_b, n * nh * R * 2}, {(void **)&s->att, n * nh * (size_t)c->v_head * 2},
        {(void **)&s->iq_b, n * ih * id * 2}, {(void **)&s->h, nf * F * 2},
        {(void **)&s->xg, n * K * H * 2},    {(void **)&s->ids, n * 4},
        {(void **)&s->ks, n * 4},            {(void **)&s->row_len, n * 4},
        {(void **)&s->experts, n * K * 4},   {(void **)&s->moe_map, 3 * n * K * 4},
        {(void **)&s->kept, n * sizeof(double)},
    };
    return sl_cuda_state_buffers(parts, sizeof parts / sizeof *parts, kv_cache, index_cache,
                                 g->desc, max_tokens, err);
}

/* The FP8 indexer cache's block table: one sequence, its blocks in order. */
static sl_status identity_table(const gpu_ds *g, int32_t *table, size_t n, sl_error *err)
{
    int32_t *host = malloc(n * sizeof *host);
    if (!host)
        return sl_fail(err, SL_ERR_NO_MEMORY, "session: out of memory");
    for (size_t i = 0; i < n; i++)
        host[i] = (int32_t)i;
    cudaError_t e = cudaMemcpy(table, host, n * sizeof *host, cudaMemcpyHostToDevice);
    free(host);
    return e == cudaSuccess ? SL_OK : sl_cuda_failed(e, "the indexer's block table", err);
}

/* The batched expert products' operands that do not change: B and C of
 * gate, up (xn into row j of gate, up) and down (row j of h into row j of y). */
static sl_status expert_pointers(const gpu_ds *g, gpu_state *s, sl_error *err)
{
    const sl_ds_config *c = &g->cpu->c;
    int K = c->experts_per_tok, I = c->moe_inter, H = c->hidden;
    if (c->n_experts == 0 || K < 1)
        return SL_OK;
    const void **host = malloc(9 * (size_t)K * sizeof *host);
    if (!host)
        return sl_fail(err, SL_ERR_NO_MEMORY, "session: out of memory");
    for (int j = 0; j < K; j++) {
        host[3 * K + j] = s->xn, host[4 * K + j] = s->xn, host[5 * K + j] = s->h + (size_t)j * I;
        host[6 * K + j] = s->gate + (size_t)j * I, host[7 * K + j] = s->up + (size_t)j * I;
        host[8 * K + j] = s->y + (size_t)j * H;
        host[j] = host[K + j] = host[2 * K + j] = NULL; /* made on the device */
    }
    cudaError_t e = cudaMalloc((void **)&s->moe_ptrs, 9 * (size_t)K * sizeof *host);
    if (e == cudaSuccess)
        e = cudaMemcpy(s->moe_ptrs, host, 9 * (size_t)K * sizeof *host, cudaMemcpyHostToDevice);
    free(host);
    return e == cudaSuccess ? SL_OK : sl_cuda_failed(e, "the experts' operands", err);
}

static sl_status state_new(const void *model, const sl_pool *pool, size_t max_tokens,
                           bool use_blas, void **out, sl_error *err)
{
    const gpu_ds *g = model;
    const sl_ds_config *c = &g->cpu->c;
    (void)pool, (void)use_blas;
    if (max_tokens == 0 || max_tokens > (1u << 24))
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "session: %zu tokens is out of range", max_tokens);
    gpu_state *s = calloc(1, sizeof *s);
    if (!s)
        return sl_fail(err, SL_ERR_NO_MEMORY, "session: out of memory");
    s->max_tokens = max_tokens;
    s->chunk = max_tokens < CHUNK ? max_tokens : CHUNK;
    size_t pairs = ffn_rows(c, s->chunk);
    s->host_experts = malloc(pairs * sizeof(int32_t));
    s->host_map = malloc(3 * pairs * sizeof(int32_t));
    s->host_first = malloc(((size_t)c->n_experts + 1) * sizeof(int32_t));
    s->host_kept = malloc(s->chunk * sizeof(double));
    sl_status st = s->host_experts && s->host_map && s->host_first && s->host_kept
                       ? SL_OK : sl_fail(err, SL_ERR_NO_MEMORY, "session: out of memory");
    if (!st && cudaSetDevice(g->device) != cudaSuccess)
        st = sl_fail(err, SL_ERR_IO, "%s: cannot choose the device", g->desc);
    if (!st)
        st = state_buffers(g, max_tokens, s, err);
    if (!st && cudaMemset(s->ks, 0, s->chunk * 4) != cudaSuccess)
        st = sl_fail(err, SL_ERR_IO, "%s: cannot clear the indexer's ranges", g->desc);
    if (!st && s->block_table)
        st = identity_table(g, s->block_table, (max_tokens + 63) / 64, err);
    if (!st)
        st = expert_pointers(g, s, err);
    if (!st && (cudaMalloc((void **)&s->step, 3 * sizeof(int32_t)) != cudaSuccess ||
                cudaMallocHost((void **)&s->step_host, 3 * sizeof(int32_t)) != cudaSuccess))
        st = sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory for a decode step", g->desc);
    if (st) {
        state_free(s);
        return st;
    }
    *out = s;
    return SL_OK;
}

static size_t chunk_of(const void *p) { return ((const gpu_state *)p)->chunk; }

/* ---- products ------------------------------------------------------------------ */

/* y [n × out] float32 = x [n × in] BF16 · Wᵀ, W [out × in] BF16. */
static sl_status linear(const gpu_ds *g, const sl_bf16 *w, int out, int in, const sl_bf16 *x,
                        int n, float *y, sl_error *err)
{
    return sl_cuda_linear(g->blas, CUDA_R_16BF, w, out, in, x, n, 1.0f, y, g->desc, err);
}

/* The same in float32 throughout (the router). */
static sl_status linear_f32(const gpu_ds *g, const float *w, int out, int in, const float *x,
                            int n, float *y, sl_error *err)
{
    return sl_cuda_linear(g->blas, CUDA_R_32F, w, out, in, x, n, 1.0f, y, g->desc, err);
}

/* ---- attention ------------------------------------------------------------------ */

/* A decode step captured once as a CUDA graph reads its position on the
 * device: at[0] = pos and at[1] = pos + 1 (its length), written before each
 * replay; at is NULL for calls launched kernel by kernel. Its launches cover
 * the whole cache (whose positions past the row's are left alone or read as
 * -inf), so that they are the same at every position. */
static int positions(const gpu_state *s, int n, int pos, const int32_t *at)
{
    return at ? (int)s->max_tokens : pos + n;
}

static const int32_t *row_lengths(const gpu_state *s, const int32_t *at)
{
    return at ? at + 1 : s->row_len;
}

/* MLA's projections of n rows: the absorbed queries into q_abs, the latent
 * cache entries of positions pos … into the layer's cache. */
static sl_status mla_project(const gpu_ds *g, gpu_state *s, const gpu_layer *l, uint8_t *kv,
                             int n, int pos, const int32_t *at, sl_error *err)
{
    const sl_ds_config *c = &g->cpu->c;
    const sl_deepseek *m = g->cpu;
    int H = c->hidden, nh = c->n_heads, qk = c->qk_nope + c->qk_rope, R = c->kv_lora;
    int rope = c->qk_rope, D = R + rope;
    sl_status st;
    if ((st = linear(g, l->q_a, c->q_lora, H, s->xn, n, s->qr, err)))
        return st;
    CK(sl_k_rmsnorm(s->qr, l->q_norm, n, c->q_lora, c->norm_eps, s->qr, s->qr_b, g->stream), "rmsnorm");
    if ((st = linear(g, l->q_b, nh * qk, c->q_lora, s->qr_b, n, s->q, err)) ||
        (st = linear(g, l->kv_a, D, H, s->xn, n, s->kva, err)))
        return st;
    float eps = c->norm_eps, f = m->rope_factor;
    float *q_pe = s->q + c->qk_nope, *k_pe = s->kva + R;
    uint8_t *entries = kv + (size_t)pos * s->kv_entry;
    CK(at ? sl_k_rope_interleaved_at(q_pe, n, nh, qk, rope, at, g->inv_freq, g->stream)
          : sl_k_rope_interleaved(q_pe, n, nh, qk, rope, pos, g->inv_freq, g->stream), "rope");
    CK(at ? sl_k_rope_interleaved_at(k_pe, n, 1, D, rope, at, g->inv_freq, g->stream)
          : sl_k_rope_interleaved(k_pe, n, 1, D, rope, pos, g->inv_freq, g->stream), "rope");
    cudaError_t e;
    if (g->fp8_cache)
        e = at ? sl_k_mla_cache_entries_fp8_at(s->kva, l->kv_norm, n, R, rope, eps, f, kv, at, g->stream)
               : sl_k_mla_cache_entries_fp8(s->kva, l->kv_norm, n, R, rope, eps, f, entries, g->stream);
    else
        e = at ? sl_k_mla_cache_entries_at(s->kva, l->kv_norm, n, R, rope, eps, f, (sl_bf16 *)kv, at,
                                           g->stream)
               : sl_k_mla_cache_entries(s->kva, l->kv_norm, n, R, rope, eps, f, (sl_bf16 *)entries,
                                        g->stream);
    CK(e, "the latent cache");
    CK(sl_k_mla_absorb_q(s->q, l->kv_b, n, nh, c->qk_nope, rope, c->v_head, R, m->rope_factor,
                         s->q_abs, g->stream), "the absorbed queries");
    return SL_OK;
}

/* Layer il's cache entries 0 … L - 1 in BF16: the cache itself, or with an
 * FP8 cache its entries turned back into s->kv_view (once a layer and call;
 * a graph's step, every time it is replayed). */
static sl_status latent_view(const gpu_ds *g, gpu_state *s, int il, const uint8_t *kv, int L,
                             const int32_t *at, const sl_bf16 **out, sl_error *err)
{
    const sl_ds_config *c = &g->cpu->c;
    *out = g->fp8_cache ? s->kv_view : (const sl_bf16 *)kv;
    if (g->fp8_cache && at) {
        CK(sl_k_mla_cache_from_fp8_at(kv, at + 1, L, c->kv_lora, c->qk_rope, s->kv_view,
                                      g->stream), "the FP8 latent cache");
        return SL_OK;
    }
    if (!g->fp8_cache || (s->view_il == il && s->view_len == L))
        return SL_OK;
    CK(sl_k_mla_cache_from_fp8(kv, L, c->kv_lora, c->qk_rope, s->kv_view, g->stream),
       "the FP8 latent cache");
    s->view_il = il, s->view_len = L;
    return SL_OK;
}

/* The scores from keys in DeepSeek's FP8 cache: on indexer.cu's FP8 paged
 * kernel (the queries as e4m3, each head's scale folded into its weight)
 * where it takes the shape, else over the keys turned back into BF16. */
static sl_status fp8_cache_scores(const gpu_ds *g, gpu_state *s, const uint8_t *keys, int n,
                                  int pos, const int32_t *at, sl_error *err)
{
    const sl_ds_config *c = &g->cpu->c;
    int ih = c->index_heads, id = c->index_dim, L = positions(s, n, pos, at);
    const int32_t *len = row_lengths(s, at);
    CK(at ? sl_k_indexer_keys_fp8_at(s->ik, n, id, at, (uint8_t *)keys, g->stream)
          : sl_k_indexer_keys_fp8(s->ik, n, id, pos, (uint8_t *)keys, g->stream),
       "the indexer cache");
    if (g->fp8_indexer) {
        CK(sl_k_quant_e4m3(s->iq, s->iq8, s->iq_scale, (size_t)n * ih * id, id, g->stream),
           "the FP8 queries");
        CK(sl_k_scale_groups(s->iw, s->iq_scale, (size_t)n * ih, 1, g->stream), "the head weights");
        CK(sl_k_indexer_fp8_paged(s->iq8, s->iw, keys, s->block_table, 0, s->ks, len, n, ih, id,
                                  L, s->scores, (size_t)L, g->stream), "the indexer's scores");
        return SL_OK;
    }
    CK(sl_k_f32_to_bf16(s->iq, s->iq_b, (size_t)n * ih * id, g->stream), "bf16");
    CK(at ? sl_k_indexer_keys_from_fp8_at(keys, len, L, id, s->keys_view, g->stream)
          : sl_k_indexer_keys_from_fp8(keys, L, id, s->keys_view, g->stream), "the indexer cache");
    CK(sl_k_indexer_any(s->iq_b, s->iw, s->keys_view, s->ks, len, n, ih, id, L, s->scores,
                        (size_t)L, g->stream), "the indexer's scores");
    return SL_OK;
}

/* The lightning indexer's scores of n rows over positions 0 … pos + n - 1
 * into s->scores (row stride pos + n): queries, head weights with H^-½·D^-½,
 * keys into the layer's indexer cache; DeepSeek's FP8 numerics when asked
 * and with an FP8 cache. */
static sl_status indexer_scores(const gpu_ds *g, gpu_state *s, const gpu_layer *l,
                                uint8_t *keys, int n, int pos, const int32_t *at, bool fp8,
                                sl_error *err)
{
    const sl_ds_config *c = &g->cpu->c;
    const sl_deepseek *m = g->cpu;
    int H = c->hidden, ih = c->index_heads, id = c->index_dim, rope = c->qk_rope;
    int L = positions(s, n, pos, at);
    const int32_t *len = row_lengths(s, at);
    sl_status st;
    if ((st = linear(g, l->iq, ih * id, c->q_lora, s->qr_b, n, s->iq, err)) ||
        (st = linear(g, l->ik, id, H, s->xn, n, s->ik, err)) ||
        (st = linear(g, l->iw, ih, H, s->xn, n, s->iw, err)))
        return st;
    float w_scale = 1.0f / sqrtf((float)ih) / sqrtf((float)id);
    CK(at ? sl_k_rope_neox_at(s->iq, n, ih, id, rope, at, g->inv_freq, g->stream)
          : sl_k_rope_neox(s->iq, n, ih, id, rope, pos, g->inv_freq, g->stream), "rope");
    CK(sl_k_scale_cols(s->iq, n * ih, id, rope, m->rope_factor, g->stream), "rope");
    CK(sl_k_scale_cols(s->iw, n, ih, ih, w_scale, g->stream), "the head weights");
    CK(sl_k_layernorm(s->ik, l->ik_norm_w, l->ik_norm_b, n, id, 1e-6f, g->stream), "layernorm");
    CK(at ? sl_k_rope_neox_at(s->ik, n, 1, id, rope, at, g->inv_freq, g->stream)
          : sl_k_rope_neox(s->ik, n, 1, id, rope, pos, g->inv_freq, g->stream), "rope");
    CK(sl_k_scale_cols(s->ik, n, id, rope, m->rope_factor, g->stream), "rope");
    if (fp8 || g->fp8_cache) {
        CK(sl_k_hadamard_fp8(s->iq, n * ih, id, g->stream), "the FP8 queries");
        CK(sl_k_hadamard_fp8(s->ik, n, id, g->stream), "the FP8 keys");
    }
    if (g->fp8_cache)
        return fp8_cache_scores(g, s, keys, n, pos, at, err);
    sl_bf16 *bf16_keys = (sl_bf16 *)keys;
    CK(sl_k_f32_to_bf16(s->iq, s->iq_b, (size_t)n * ih * id, g->stream), "bf16");
    CK(at ? sl_k_f32_to_bf16_at(s->ik, bf16_keys, (size_t)id, at, g->stream) /* one row */
          : sl_k_f32_to_bf16(s->ik, bf16_keys + (size_t)pos * id, (size_t)n * id, g->stream),
       "the indexer cache");
    CK(sl_k_indexer_any(s->iq_b, s->iw, bf16_keys, s->ks, len, n, ih, id, L, s->scores,
                        (size_t)L, g->stream), "the indexer's scores");
    return SL_OK;
}

/* The selection buffers for the session's top-k, made by its first DSA call
 * before any launch (a session's DSA options are set after its state; a
 * captured step must allocate nothing). */
static sl_status dsa_buffers(const gpu_ds *g, gpu_state *s, size_t k, sl_error *err)
{
    if (s->sel_k == k)
        return SL_OK;
    size_t n = s->chunk;
    cudaFree(s->sel), cudaFree(s->topk_ws), cudaFree(s->sparse_ws), cudaFreeHost(s->step_sel);
    s->sel = NULL, s->topk_ws = NULL, s->sparse_ws = NULL, s->step_sel = NULL, s->sel_k = 0;
    size_t L = (size_t)g->cpu->c.n_layers;
    size_t a = sl_k_topk_workspace((int)n, (int)s->max_tokens, (int)k);
    size_t b = sl_k_topk_workspace(1, (int)s->max_tokens, (int)k);
    s->topk_ws_bytes = a > b ? a : b;
    s->sparse_ws_bytes = 0;
    if (g->fast_mla) {
        a = sl_k_sparse_mla_workspace((int)n, g->cpu->c.n_heads, (int)k);
        b = sl_k_sparse_mla_workspace(1, g->cpu->c.n_heads, (int)k);
        s->sparse_ws_bytes = a > b ? a : b;
    }
    CK(cudaMalloc((void **)&s->sel, n * k * 4), "the selections");
    CK(cudaMallocHost((void **)&s->step_sel, L * k * 4), "the selections");
    if (!s->step_kept)
        CK(cudaMallocHost((void **)&s->step_kept, L * sizeof(double)), "the kept mass");
    if (s->topk_ws_bytes)
        CK(cudaMalloc(&s->topk_ws, s->topk_ws_bytes), "the top-k's workspace");
    if (s->sparse_ws_bytes)
        CK(cudaMalloc(&s->sparse_ws, s->sparse_ws_bytes), "the sparse attention's workspace");
    s->sel_k = k;
    return SL_OK;
}

/* Which of a call's rows a layer's records take: those that see at most k
 * positions selected them all (dense_rows of them, counted as the CPU does),
 * the oracle's sparse rows report the mass they kept, and the rows from
 * first on are recorded. */
typedef struct {
    size_t dense_rows, sparse, first, recorded;
} record_span;

static record_span span_of(sl_dsa *dsa, int n, int pos)
{
    record_span r = {0};
    r.dense_rows = sl_dsa_dense_rows(dsa, (size_t)n, (size_t)pos);
    r.sparse = sl_dsa_mode_of(dsa) == SL_DSA_ORACLE ? (size_t)n - r.dense_rows : 0;
    r.first = sl_dsa_first_recorded(dsa);
    r.recorded = r.first < (size_t)n ? (size_t)n - r.first : 0;
    return r;
}

/* The session's side of a layer's records, once its selections are in the
 * rows sl_dsa_rows gives: counts, the oracle's kept mass, the votes. */
static void rows_done(const gpu_ds *g, sl_dsa *dsa, int il, int n, int pos, const record_span *r,
                      const double *kept)
{
    size_t k = sl_dsa_k(dsa), stride, *count;
    sl_dsa_rows(dsa, &stride, &count);
    for (size_t t = 0; t < (size_t)n; t++)
        count[t] = (size_t)pos + t + 1 < k ? (size_t)pos + t + 1 : k;
    for (size_t t = 0; t < r->sparse; t++)
        sl_dsa_note_kept(dsa, 0, il, kept[t] / g->cpu->c.n_heads);
    sl_dsa_rows_done(dsa, il, r->dense_rows);
}

/* The recorded rows' selections back to the session, and for the oracle the
 * share of the mass each sparse row kept, summed on the device (the CPU
 * counts every sparse row). A chunk waits for them; a decode step copies
 * them to pinned memory, for step_records once it is done, so that nothing
 * in it waits for the host (it may be a CUDA graph). */
static sl_status record_rows(const gpu_ds *g, gpu_state *s, sl_dsa *dsa, int il, int n, int pos,
                             sl_error *err)
{
    size_t k = sl_dsa_k(dsa), L = (size_t)pos + (size_t)n, stride, *count;
    int32_t *rows = sl_dsa_rows(dsa, &stride, &count);
    record_span r = span_of(dsa, n, pos);
    if (r.sparse)
        CK(sl_k_selected_sum(s->scores + r.dense_rows * L, L, s->sel + r.dense_rows * k,
                             (int)r.sparse, (int)k, s->kept, g->stream), "the kept mass");
    if (n == 1) { /* a decode step: step_records takes the row or not */
        CK(cudaMemcpyAsync(s->step_sel + (size_t)il * k, s->sel, k * 4, cudaMemcpyDeviceToHost,
                           g->stream), "the selections");
        if (r.sparse)
            CK(cudaMemcpyAsync(s->step_kept + il, s->kept, sizeof(double), cudaMemcpyDeviceToHost,
                               g->stream), "the kept mass");
        return SL_OK;
    }
    if (r.recorded)
        CK(cudaMemcpyAsync(rows + r.first * stride, s->sel + r.first * k, r.recorded * k * 4,
                           cudaMemcpyDeviceToHost, g->stream), "the selections");
    if (r.sparse)
        CK(cudaMemcpyAsync(s->host_kept, s->kept, r.sparse * sizeof(double),
                           cudaMemcpyDeviceToHost, g->stream), "the kept mass");
    if (r.recorded || r.sparse)
        CK(cudaStreamSynchronize(g->stream), "the selections");
    rows_done(g, dsa, il, n, pos, &r, s->host_kept);
    return SL_OK;
}

/* After a decode step: each layer's selection and kept mass, from pinned
 * memory into the session's records. */
static void step_records(const gpu_ds *g, gpu_state *s, sl_dsa *dsa, int pos)
{
    size_t k = sl_dsa_k(dsa), stride, *count;
    record_span r = span_of(dsa, 1, pos);
    for (int il = 0; il < g->cpu->c.n_layers; il++) {
        int32_t *rows = sl_dsa_rows(dsa, &stride, &count);
        if (r.recorded)
            memcpy(rows + r.first * stride, s->step_sel + (size_t)il * k, k * 4);
        rows_done(g, dsa, il, 1, pos, &r, s->step_kept + il);
    }
}

/* Each row's selection into s->sel: the top-k of the indexer's scores or of
 * the oracle's mass, over the positions the row sees. */
static sl_status select_rows(const gpu_ds *g, gpu_state *s, int il, uint8_t *kv, uint8_t *keys,
                             sl_dsa *dsa, int n, int pos, const int32_t *at, sl_error *err)
{
    const sl_ds_config *c = &g->cpu->c;
    int L = positions(s, n, pos, at), k = (int)sl_dsa_k(dsa);
    const sl_bf16 *entries;
    sl_status st;
    if (sl_dsa_mode_of(dsa) == SL_DSA_ORACLE) {
        if ((st = latent_view(g, s, il, kv, L, at, &entries, err)))
            return st;
        float scale = g->cpu->softmax_scale;
        CK(at ? sl_k_mla_head_mass_at(s->q_abs, entries, at, L, c->n_heads, c->kv_lora,
                                      c->qk_rope, scale, s->scores, s->lse, s->o_lat, g->stream)
              : sl_k_mla_head_mass(s->q_abs, entries, n, pos, c->n_heads, c->kv_lora, c->qk_rope,
                                   scale, s->scores, s->lse, s->o_lat, g->stream),
           "the oracle's mass");
    } else if ((st = indexer_scores(g, s, &g->layers[il], keys, n, pos, at,
                                    sl_dsa_indexer_fp8(dsa), err))) {
        return st;
    }
    CK(sl_k_topk(s->scores, (size_t)L, row_lengths(s, at), n, L, k, s->sel, s->topk_ws,
                 s->topk_ws_bytes, g->stream), "the top-k");
    return SL_OK;
}

/* Attention in the absorbed form over the selection (sel NULL: densely),
 * then W_UV into s->att. */
static sl_status mla_attend(const gpu_ds *g, gpu_state *s, int il, const uint8_t *kv,
                            const int32_t *sel, int k, int n, int pos, const int32_t *at,
                            sl_error *err)
{
    const sl_ds_config *c = &g->cpu->c;
    int nh = c->n_heads, R = c->kv_lora, D = R + c->qk_rope, L = positions(s, n, pos, at);
    float scale = g->cpu->softmax_scale;
    if (sel && g->fast_mla) { /* V3.2's dims: FlashMLA's sparse kernels */
        CK(sl_k_f32_to_bf16(s->q_abs, s->q_abs_b, (size_t)n * nh * D, g->stream), "bf16");
        cudaError_t e = g->fp8_cache
            ? sl_k_sparse_mla_fp8(s->q_abs_b, kv, sel, n, nh, L, k, scale, s->o_lat_b, s->lse,
                                  s->sparse_ws, s->sparse_ws_bytes, g->stream)
            : sl_k_sparse_mla_bf16(s->q_abs_b, (const sl_bf16 *)kv, sel, n, nh, L, k, scale,
                                   s->o_lat_b, s->lse, s->sparse_ws, s->sparse_ws_bytes, g->stream);
        CK(e, "sparse attention");
        CK(sl_k_bf16_to_f32(s->o_lat_b, s->o_lat, (size_t)n * nh * R, g->stream), "float32");
    } else {
        const sl_bf16 *entries;
        sl_status st = latent_view(g, s, il, kv, L, at, &entries, err);
        if (st)
            return st;
        CK(at ? sl_k_mla_attention_at(s->q_abs, entries, sel, k, n, at, nh, R, c->qk_rope, scale,
                                      s->o_lat, NULL, g->stream)
              : sl_k_mla_attention(s->q_abs, entries, sel, k, n, pos, nh, R, c->qk_rope, scale,
                                   s->o_lat, NULL, g->stream), "attention");
    }
    const gpu_layer *l = &g->layers[il];
    CK(sl_k_mla_unabsorb(s->o_lat, l->kv_b, n, nh, c->qk_nope, c->v_head, R, s->att, g->stream),
       "the values");
    return SL_OK;
}

static sl_status attention_block(const gpu_ds *g, gpu_state *s, int il, int n, int pos,
                                 const int32_t *at, sl_dsa *dsa, sl_error *err)
{
    const sl_ds_config *c = &g->cpu->c;
    const gpu_layer *l = &g->layers[il];
    int H = c->hidden;
    uint8_t *kv = s->kv_cache + (size_t)il * s->kv_layer;
    uint8_t *keys = s->index_cache + (size_t)il * s->index_layer;
    sl_status st;
    CK(sl_k_rmsnorm(s->x, l->attn_norm, n, H, c->norm_eps, NULL, s->xn, g->stream), "rmsnorm");
    if ((st = mla_project(g, s, l, kv, n, pos, at, err)))
        return st;
    if (dsa && ((st = select_rows(g, s, il, kv, keys, dsa, n, pos, at, err)) ||
                (st = record_rows(g, s, dsa, il, n, pos, err))))
        return st;
    if ((st = mla_attend(g, s, il, kv, dsa ? s->sel : NULL, (int)s->sel_k, n, pos, at, err)))
        return st;
    return sl_cuda_linear_add(g->blas, CUDA_R_16BF, l->o, H, c->n_heads * c->v_head, s->att, n,
                              s->x, g->desc, err); /* the residual added in the product */
}

/* ---- feed-forward ---------------------------------------------------------------- */

/* x += down(silu(gate·xn) ⊙ up·xn) over n rows, width F. */
static sl_status swiglu_ffn(const gpu_ds *g, gpu_state *s, const gpu_layer *l, int n, int F,
                            sl_error *err)
{
    int H = g->cpu->c.hidden;
    sl_status st;
    if ((st = linear(g, l->gate, F, H, s->xn, n, s->gate, err)) ||
        (st = linear(g, l->up, F, H, s->xn, n, s->up, err)))
        return st;
    CK(sl_k_swiglu(s->gate, s->up, n, F, s->h, g->stream), "swiglu");
    return sl_cuda_linear_add(g->blas, CUDA_R_16BF, l->down, H, F, s->h, n, s->x, g->desc, err);
}

/* The routed pairs grouped by expert, in the CPU's order (experts in turn,
 * tokens in order within each): token_of[i] for each grouped row i; and per
 * token its rows and weight indices with the experts increasing, the order
 * in which the CPU adds them. first[e] … first[e + 1] are expert e's rows. */
static void group_by_expert(const int32_t *experts, int n, int K, int E, int32_t *map,
                            int32_t *first)
{
    int32_t *token_of = map, *slot = map + n * K, *weight_index = map + 2 * n * K;
    int filled[CHUNK] = {0};
    int i = 0;
    for (int e = 0; e < E; e++) {
        first[e] = i;
        for (int t = 0; t < n; t++)
            for (int j = 0; j < K; j++)
                if (experts[t * K + j] == e) {
                    token_of[i] = t;
                    slot[t * K + filled[t]] = i;
                    weight_index[t * K + filled[t]] = t * K + j;
                    filled[t]++, i++;
                }
    }
    first[E] = i;
}

/* One token's routed experts without the choice leaving the device: the
 * chosen experts' gate, up and down products as batched GEMVs whose matrices'
 * addresses are made on the device, then their weighted sum in the CPU's
 * order. */
static sl_status moe_step(const gpu_ds *g, gpu_state *s, const gpu_layer *l, sl_error *err)
{
    const sl_ds_config *c = &g->cpu->c;
    int H = c->hidden, K = c->experts_per_tok, I = c->moe_inter;
    size_t each = (size_t)I * (size_t)H * 2;
    const void **A = s->moe_ptrs, *const *B = s->moe_ptrs + 3 * K;
    void *const *C = (void *const *)(s->moe_ptrs + 6 * K);
    CK(sl_k_offset_pointers(s->experts, K, l->e_gate, each, A, g->stream), "the experts");
    CK(sl_k_offset_pointers(s->experts, K, l->e_up, each, A + K, g->stream), "the experts");
    CK(sl_k_offset_pointers(s->experts, K, l->e_down, each, A + 2 * K, g->stream), "the experts");
    sl_status st;
    if ((st = sl_cuda_linear_batched(g->blas, A, I, H, B, C, K, g->desc, err)) ||
        (st = sl_cuda_linear_batched(g->blas, A + K, I, H, B + K, C + K, K, g->desc, err)))
        return st;
    CK(sl_k_swiglu(s->gate, s->up, K, I, s->h, g->stream), "swiglu");
    if ((st = sl_cuda_linear_batched(g->blas, A + 2 * K, H, I, B + 2 * K, C + 2 * K, K, g->desc,
                                     err)))
        return st;
    CK(sl_k_moe_token_order(s->experts, 1, K, s->moe_map, g->stream), "the experts' order");
    CK(sl_k_moe_combine(s->y, s->moe_map, s->moe_map, s->weights, 1, K, H, s->x, g->stream),
       "the experts");
    return SL_OK;
}

/* The routed experts: the choice on the device; for a chunk the grouping on
 * the host, each expert's GEMMs over its rows, the weighted sum added to x;
 * for one token moe_step. */
static sl_status moe_block(const gpu_ds *g, gpu_state *s, const gpu_layer *l, int n, sl_error *err)
{
    const sl_ds_config *c = &g->cpu->c;
    int H = c->hidden, E = c->n_experts, K = c->experts_per_tok, I = c->moe_inter;
    sl_status st = linear_f32(g, l->router, E, H, s->xn_f, n, s->router, err);
    if (st)
        return st;
    CK(sl_k_moe_route(s->router, l->router_bias, n, E, c->n_group, c->topk_group, K, c->norm_topk,
                      c->routed_scale, s->experts, s->weights, g->stream), "the router");
    if (n == 1)
        return moe_step(g, s, l, err);
    CK(cudaMemcpyAsync(s->host_experts, s->experts, (size_t)n * K * 4, cudaMemcpyDeviceToHost,
                       g->stream), "the experts chosen");
    CK(cudaStreamSynchronize(g->stream), "the experts chosen");
    int32_t *first = s->host_first;
    group_by_expert(s->host_experts, n, K, E, s->host_map, first);
    cudaError_t e = cudaMemcpyAsync(s->moe_map, s->host_map, 3 * (size_t)n * K * 4,
                                    cudaMemcpyHostToDevice, g->stream);
    if (e == cudaSuccess)
        e = sl_k_gather_rows(s->xn, H, s->moe_map, n * K, s->xg, g->stream);
    size_t each = (size_t)I * (size_t)H;
    for (int x = 0; !st && e == cudaSuccess && x < E; x++) {
        int rows = first[x + 1] - first[x];
        const sl_bf16 *in = s->xg + (size_t)first[x] * H;
        if (rows > 0 &&
            !(st = linear(g, l->e_gate + x * each, I, H, in, rows, s->gate + (size_t)first[x] * I, err)))
            st = linear(g, l->e_up + x * each, I, H, in, rows, s->up + (size_t)first[x] * I, err);
    }
    if (!st && e == cudaSuccess)
        e = sl_k_swiglu(s->gate, s->up, n * K, I, s->h, g->stream);
    for (int x = 0; !st && e == cudaSuccess && x < E; x++) {
        int rows = first[x + 1] - first[x];
        if (rows > 0)
            st = linear(g, l->e_down + x * each, H, I, s->h + (size_t)first[x] * I, rows,
                        s->y + (size_t)first[x] * H, err);
    }
    if (st)
        return st;
    if (e == cudaSuccess)
        e = sl_k_moe_combine(s->y, s->moe_map + n * K, s->moe_map + 2 * n * K, s->weights, n, K,
                             H, s->x, g->stream);
    return e == cudaSuccess ? SL_OK : sl_cuda_failed(e, "the experts", err);
}

static sl_status ffn_block(const gpu_ds *g, gpu_state *s, int il, int n, sl_error *err)
{
    const sl_ds_config *c = &g->cpu->c;
    const ds_layer *cpu = &g->cpu->layers[il];
    const gpu_layer *l = &g->layers[il];
    sl_status st;
    CK(sl_k_rmsnorm(s->x, l->ffn_norm, n, c->hidden, c->norm_eps, s->xn_f, s->xn, g->stream), "rmsnorm");
    if (cpu->moe && (st = moe_block(g, s, l, n, err)))
        return st;
    if (cpu->has_ffn && (st = swiglu_ffn(g, s, l, n, (int)cpu->gate.rows, err)))
        return st;
    return SL_OK;
}

/* ---- forward ---------------------------------------------------------------------- */

/* Every launch of one forward call on the model's stream, nothing waiting for
 * the host when n = 1: the token ids through the layers, the logits of rows
 * first … n - 1 into s->logits (first = n: none). The ids are in s->ids at
 * positions pos …, or with step (a decode step captured once as a graph) one
 * id and its position on the device: step[0] the id, step + 1 as `at`. */
static sl_status launch_all(const gpu_ds *g, gpu_state *s, int n, int pos, int first, sl_dsa *dsa,
                            const int32_t *step, sl_error *err)
{
    const sl_ds_config *c = &g->cpu->c;
    int H = c->hidden;
    const int32_t *at = step ? step + 1 : NULL;
    sl_status st;
    s->view_il = -1; /* the cache may have changed since the last call (a truncation) */
    CK(sl_k_embed_rows(g->embed, H, step ? step : s->ids, n, s->x, g->stream), "embeddings");
    for (int il = 0; il < c->n_layers; il++)
        if ((st = attention_block(g, s, il, n, pos, at, dsa, err)) ||
            (st = ffn_block(g, s, il, n, err)))
            return st;
    if (first < n) {
        CK(sl_k_rmsnorm(s->x + (size_t)first * H, g->final_norm, n - first, H, c->norm_eps, NULL,
                        s->xn, g->stream), "rmsnorm");
        if ((st = linear(g, g->head, c->vocab, H, s->xn, n - first, s->logits, err)))
            return st;
    }
    return SL_OK;
}

/* What a captured step depends on besides its position: the session's DSA
 * mode, top-k and indexer numerics (a new session's, after a truncation to
 * nothing, may differ), and for the oracle whether the row still sees at
 * most k positions (it reports no kept mass then). */
static int graph_key(sl_dsa *dsa, int pos)
{
    if (!dsa)
        return 0;
    bool oracle_dense = sl_dsa_mode_of(dsa) == SL_DSA_ORACLE &&
                        sl_dsa_dense_rows(dsa, 1, (size_t)pos) == 1;
    return 1 + (int)sl_dsa_mode_of(dsa) + 4 * (sl_dsa_indexer_fp8(dsa) ? 1 : 0) +
           8 * (oracle_dense ? 1 : 0) + 16 * (int)sl_dsa_k(dsa);
}

/* One decode step as a CUDA graph: captured on the session's first step with
 * its token and position read on the device, and replayed for every later
 * one, with nothing launched from the host but the graph (captured again
 * only when graph_key changes). */
static sl_status launch_as_graph(const gpu_ds *g, gpu_state *s, int32_t id, int pos, sl_dsa *dsa,
                                 sl_error *err)
{
    int key = graph_key(dsa, pos);
    if (s->decode && s->graph_key != key) {
        cudaGraphExecDestroy(s->decode);
        s->decode = NULL;
    }
    if (!s->decode) {
        CK(cudaStreamBeginCapture(g->stream, cudaStreamCaptureModeThreadLocal),
           "capturing a step");
        sl_status st = launch_all(g, s, 1, pos, 0, dsa, s->step, err);
        if ((st = sl_cuda_capture_end(g->stream, st, &s->decode, err)))
            return st;
        s->graph_key = key;
    }
    return sl_cuda_step_replay(g->stream, s->decode, s->step, s->step_host, id, pos, err);
}

static sl_status forward(const void *model, void *state, sl_pool *pool, const int32_t *ids,
                         size_t n_tokens, size_t position, float *logits, bool all_logits,
                         sl_dsa *dsa, sl_error *err)
{
    const gpu_ds *g = model;
    const sl_ds_config *c = &g->cpu->c;
    gpu_state *s = state;
    int n = (int)n_tokens, pos = (int)position;
    int first = !logits ? n : all_logits ? 0 : n - 1;
    sl_status st = SL_ERR_IO;
    (void)pool;
    CK(cudaSetDevice(g->device), "choosing the device");
    if (dsa && (st = dsa_buffers(g, s, sl_dsa_k(dsa), err))) /* not while capturing */
        return st;
    st = SL_ERR_IO;
    if (n == 1 && first == 0 && g->graphs && !s->no_graphs) {
        sl_error ignored = {0};
        st = launch_as_graph(g, s, ids[0], pos, dsa, &ignored);
        s->no_graphs = st != SL_OK; /* then launch by launch, from now on */
    }
    if (st != SL_OK &&
        ((st = sl_cuda_rows_to_device(s->ids, ids, dsa ? s->row_len : NULL, n, pos, g->stream,
                                      err)) ||
         (st = launch_all(g, s, n, pos, first, dsa, NULL, err))))
        return st;
    if (first < n)
        CK(cudaMemcpyAsync(logits, s->logits, (size_t)(n - first) * c->vocab * 4,
                           cudaMemcpyDeviceToHost, g->stream), "the logits");
    CK(cudaStreamSynchronize(g->stream), "the forward pass");
    if (dsa && n == 1)
        step_records(g, s, dsa, pos);
    return SL_OK;
}

static bool decodes_on_graph(const void *state)
{
    const gpu_state *s = state;
    return s->decode && !s->no_graphs;
}

const sl_arch_ops sl_deepseek_cuda_ops = {
    .state_bytes = state_bytes,
    .state_new = state_new,
    .state_free = state_free,
    .chunk = chunk_of,
    .forward = forward,
    .model_free = sl_deepseek_cuda_free,
    .own_indexer = true,
    .dsa = true,
    .selects = true,
    .indexer_files = false,
    .decodes_on_graph = decodes_on_graph,
};
