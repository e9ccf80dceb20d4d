#include "cuda/llama-cuda.h"

#include "arch/llama-private.h"
#include "cuda/cuda-common.h"
#include "cuda/llama-cuda-indexer.h"
#include "error.h"
#include "sightline-kernels.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CHUNK = 512, BLAS_WORKSPACE = 32 << 20 };

typedef struct {
    float *attn_norm, *ffn_norm; /* float32 on the device */
    /* wq, wk, wv one after another in one buffer (wq's), and gate, up so in
     * gate's: a decode step takes each group in one product */
    sl_bf16 *wq, *wk, *wv, *wo, *gate, *up, *down;
} gpu_layer;

typedef struct {
    sl_llama *cpu; /* hyper-parameters, and freed with us */
    int device, n_layers;
    bool graphs_off; /* decode steps launch by launch (to measure what graphs give) */
    bool gemv;       /* the shapes gemv.cu takes: one row's products fused */
    cublasHandle_t blas;
    cudaStream_t stream;
    void *blas_ws; /* cuBLAS's workspace, given so that it allocates nothing in a graph */
    sl_bf16 *embd, *output;
    float *output_norm, *inv_freq;
    gpu_layer *layers;
    sl_cuda_indexer_weights *indexer; /* the engine's indexer file, for every session */
    char desc[160];
} gpu_llama;

/* What a captured decode step depends on besides its token and position:
 * DSA or not, its mode and options, whether its active layers attend densely
 * (the row sees at most k positions) or over a selection, and the buffers its
 * copies and the indexer file write (a later call may allocate them anew). */
typedef struct {
    bool dsa, dense_phase, sparse_always;
    int mode;
    size_t k, first_recorded;
    const void *rec_sel, *sel, *indexer;
} graph_key;

typedef struct {
    size_t max_tokens;
    sl_bf16 *k_cache, *v_cache; /* n_layers × max_tokens × kv_dim */
    /* q holds qd + 2·kvd floats beyond its rows, gate F beyond its: a decode
     * step's q ‖ k ‖ v and gate ‖ up, each from one product */
    float *x, *q, *k, *v, *gate, *up, *logits;
    sl_bf16 *xn, *qb, *att, *h;
    int32_t *ids;
    void *att_ws;
    size_t att_ws_bytes;
    /* A decode step is captured once as a CUDA graph that reads its token and
     * position from step (device) and is replayed for every later step. */
    cudaGraphExec_t decode;
    int32_t *step, *step_host; /* {token, position, length}: device, and pinned host */
    bool no_graphs;            /* capture failed once: decode steps run launch by launch */
    graph_key key;             /* what the graph was captured for */
    /* DSA: the selection's scores (the heads' attention mass, or the indexer's
     * scores), the selection, row lengths */
    float *mass;            /* chunk × max_tokens */
    int32_t *row_len, *sel; /* chunk; chunk × sel_k (allocated for the session's k) */
    void *mass_ws, *sparse_ws, *topk_ws;
    size_t mass_ws_bytes, sparse_ws_bytes, topk_ws_bytes, sel_k;
    sl_cuda_indexer *indexer; /* SL_DSA_INDEXER: the session's indexer file on the device */
    /* the records of one forward call, gathered on the device and copied once */
    int32_t *rec_sel, *host_sel; /* n_layers × recorded rows × sel_k */
    size_t rec_sel_cap;          /* int32 values each holds */
    double *kept, *host_kept;    /* n_layers × chunk: the mass each oracle row's selection kept */
    size_t *dense_rows;          /* n_layers: rows that selected everything; SIZE_MAX: no DSA */
} gpu_state;

/* ---- weights ---------------------------------------------------------------- */

/* w dequantised to BF16 in a new device buffer. */
static sl_status upload_matrix(const sl_matrix *w, sl_bf16 **out, sl_error *err)
{
    CK(cudaMalloc((void **)out, (size_t)w->rows * (size_t)w->cols * 2), w->name);
    return sl_cuda_matrix_to(w, *out, err);
}

/* Matrices of the same width stacked row-wise in one new device buffer:
 * out[i] points at w[i]'s rows, out[0] at the buffer. */
static sl_status upload_stacked(const sl_matrix *const *w, int count, sl_bf16 **const *out,
                                sl_error *err)
{
    size_t rows = 0, cols = (size_t)w[0]->cols;
    for (int i = 0; i < count; i++)
        rows += (size_t)w[i]->rows;
    CK(cudaMalloc((void **)out[0], rows * cols * 2), w[0]->name);
    sl_bf16 *at = *out[0];
    for (int i = 0; i < count; i++) {
        sl_status st = sl_cuda_matrix_to(w[i], at, err);
        if (st)
            return st;
        *out[i] = at;
        at += (size_t)w[i]->rows * cols;
    }
    return SL_OK;
}

static sl_status upload_layer(const llama_layer *l, int n_embd, gpu_layer *g, sl_error *err)
{
    const sl_matrix *qkv[] = {&l->wq, &l->wk, &l->wv}, *gate_up[] = {&l->gate, &l->up};
    sl_bf16 **qkv_out[] = {&g->wq, &g->wk, &g->wv}, **gate_up_out[] = {&g->gate, &g->up};
    sl_status st;
    if ((st = sl_cuda_upload_floats(l->attn_norm, (size_t)n_embd, &g->attn_norm, err)) ||
        (st = sl_cuda_upload_floats(l->ffn_norm, (size_t)n_embd, &g->ffn_norm, err)) ||
        (st = upload_stacked(qkv, 3, qkv_out, err)) || (st = upload_matrix(&l->wo, &g->wo, err)) ||
        (st = upload_stacked(gate_up, 2, gate_up_out, err)) ||
        (st = upload_matrix(&l->down, &g->down, err)))
        return st;
    return SL_OK;
}

static uint64_t weight_bytes(const sl_llama *m)
{
    uint64_t per_layer = 2ull * (uint64_t)m->n_embd *
                         ((uint64_t)m->n_heads * (uint64_t)m->head_dim * 2 +
                          2ull * (uint64_t)m->n_kv_heads * (uint64_t)m->head_dim +
                          3ull * (uint64_t)m->n_ff);
    bool tied = m->output.data == m->embd.data;
    return per_layer * (uint64_t)m->n_layers +
           2ull * (uint64_t)m->n_vocab * (uint64_t)m->n_embd * (tied ? 1 : 2);
}

static void model_free(void *p)
{
    gpu_llama *g = p;
    if (!g)
        return;
    cudaSetDevice(g->device);
    for (int i = 0; g->layers && i < g->n_layers; i++) {
        gpu_layer *l = &g->layers[i];
        void *all[] = {l->attn_norm, l->ffn_norm, l->wq, l->wo, l->gate, l->down};
        for (size_t j = 0; j < sizeof all / sizeof *all; j++)
            cudaFree(all[j]);
    }
    free(g->layers);
    if (g->output != g->embd)
        cudaFree(g->output);
    cudaFree(g->embd);
    cudaFree(g->output_norm);
    cudaFree(g->inv_freq);
    sl_cuda_indexer_weights_free(g->indexer);
    if (g->blas)
        cublasDestroy(g->blas);
    cudaFree(g->blas_ws);
    if (g->stream)
        cudaStreamDestroy(g->stream);
    sl_llama_free(g->cpu);
    free(g);
}

static sl_status upload_model(gpu_llama *g, sl_error *err)
{
    const sl_llama *m = g->cpu;
    sl_status st;
    if ((st = upload_matrix(&m->embd, &g->embd, err)))
        return st;
    if (m->output.data == m->embd.data)
        g->output = g->embd;
    else if ((st = upload_matrix(&m->output, &g->output, err)))
        return st;
    if ((st = sl_cuda_upload_floats(m->output_norm, (size_t)m->n_embd, &g->output_norm, err)) ||
        (st = sl_cuda_upload_floats(m->inv_freq, (size_t)m->rope_dims / 2, &g->inv_freq, err)))
        return st;
    if (!(g->layers = calloc((size_t)m->n_layers, sizeof *g->layers)))
        return sl_fail(err, SL_ERR_NO_MEMORY, "GPU: out of host memory");
    for (int i = 0; i < m->n_layers; i++)
        if ((st = upload_layer(&m->layers[i], m->n_embd, &g->layers[i], err)))
            return st;
    return SL_OK;
}

sl_status sl_llama_cuda_new(sl_llama *llama, int device, bool graphs, void **out, char *desc,
                            size_t desc_cap, sl_error *err)
{
    if (llama->head_dim != 64 && llama->head_dim != 128)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "cuda:%d: attention heads of %d dims are not "
                       "supported on the GPU yet (64 or 128); this model runs on the CPU",
                       device, llama->head_dim);
    char name[160];
    sl_status st = sl_cuda_open(device, weight_bytes(llama), name, sizeof name, err);
    gpu_llama *g = st ? NULL : calloc(1, sizeof *g);
    if (!st && !g)
        st = sl_fail(err, SL_ERR_NO_MEMORY, "GPU: out of host memory");
    if (st)
        return st;
    g->cpu = llama;
    g->device = device;
    g->n_layers = llama->n_layers;
    g->graphs_off = !graphs;
    int qd = llama->n_heads * llama->head_dim;
    g->gemv = llama->n_embd % 8 == 0 && qd % 8 == 0 && llama->n_ff % 8 == 0 &&
              llama->n_embd <= 12032 && qd <= 12032 && llama->n_ff <= 12032;
    snprintf(g->desc, sizeof g->desc, "%s", name);
    st = sl_cuda_blas_new(&g->stream, &g->blas, &g->blas_ws, BLAS_WORKSPACE, name, err);
    if (!st)
        st = upload_model(g, err);
    if (st) {
        g->cpu = NULL; /* the caller keeps llama when we fail */
        model_free(g);
        return st;
    }
    snprintf(desc, desc_cap, "%s", name);
    *out = g;
    return SL_OK;
}

/* ---- state -------------------------------------------------------------------- */

static size_t chunk_for(size_t max_tokens) { return max_tokens < CHUNK ? max_tokens : CHUNK; }

static size_t state_bytes(const void *model, int n_threads, size_t max_tokens)
{
    (void)model, (void)n_threads, (void)max_tokens;
    return 0; /* on the host: nothing beyond the session's own; the GPU is checked in state_new */
}

static void state_free(void *p)
{
    gpu_state *s = p;
    if (!s)
        return;
    void *all[] = {s->k_cache, s->v_cache, s->x, s->q, s->k, s->v, s->gate, s->up,
                   s->logits, s->xn, s->qb, s->att, s->h, s->ids, s->att_ws, s->mass, s->row_len,
                   s->sel, s->mass_ws, s->sparse_ws, s->topk_ws, s->rec_sel, s->kept, s->step};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        cudaFree(all[i]);
    if (s->decode)
        cudaGraphExecDestroy(s->decode);
    cudaFreeHost(s->step_host);
    sl_cuda_indexer_free(s->indexer);
    free(s->host_sel);
    free(s->host_kept);
    free(s->dense_rows);
    free(s);
}

/* Every device buffer of a state, checked against the free memory and
 * allocated; the pinned {token, position} of the decode graph. */
static sl_status state_buffers(const gpu_llama *g, size_t max_tokens, gpu_state *s, sl_error *err)
{
    const sl_llama *m = g->cpu;
    size_t n = chunk_for(max_tokens), E = (size_t)m->n_embd, F = (size_t)m->n_ff;
    size_t qd = (size_t)m->n_heads * (size_t)m->head_dim, kvd = (size_t)m->n_kv_heads * (size_t)m->head_dim;
    size_t V = (size_t)m->n_vocab, cache = (size_t)m->n_layers * max_tokens * kvd * 2;
    size_t ws = sl_k_gqa_attention_workspace((int)n, (int)(max_tokens - n), m->n_heads,
                                             m->n_kv_heads, m->head_dim);
    size_t ws1 = sl_k_gqa_attention_workspace(1, (int)max_tokens - 1, m->n_heads, m->n_kv_heads,
                                              m->head_dim);
    size_t mws = sl_k_gqa_head_mass_workspace((int)n, (int)(max_tokens - n), m->n_heads,
                                              m->n_kv_heads, m->head_dim);
    size_t mws1 = sl_k_gqa_head_mass_workspace(1, (int)max_tokens - 1, m->n_heads, m->n_kv_heads,
                                               m->head_dim);
    s->att_ws_bytes = ws > ws1 ? ws : ws1;
    s->mass_ws_bytes = mws > mws1 ? mws : mws1;
    const sl_cuda_buffer parts[] = {
        {(void **)&s->k_cache, cache}, {(void **)&s->v_cache, cache},
        {(void **)&s->x, n * E * 4},   {(void **)&s->q, (n * qd + 2 * kvd) * 4},
        {(void **)&s->k, n * kvd * 4}, {(void **)&s->v, n * kvd * 4}, {(void **)&s->gate, (n + 1) * F * 4},
        {(void **)&s->up, n * F * 4},  {(void **)&s->logits, n * V * 4},
        {(void **)&s->xn, n * E * 2},  {(void **)&s->qb, n * qd * 2}, {(void **)&s->att, n * qd * 2},
        {(void **)&s->h, n * F * 2},   {(void **)&s->ids, n * 4}, {(void **)&s->step, 3 * 4},
        {&s->att_ws, s->att_ws_bytes},
        {(void **)&s->mass, n * max_tokens * 4}, {(void **)&s->row_len, n * 4},
        {&s->mass_ws, s->mass_ws_bytes},
    };
    sl_status st = sl_cuda_state_buffers(parts, sizeof parts / sizeof *parts, 2 * cache, 0,
                                         g->desc, max_tokens, err);
    if (!st && cudaMallocHost((void **)&s->step_host, 3 * sizeof(int32_t)) != cudaSuccess)
        st = sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory for a context of %zu tokens",
                     g->desc, max_tokens);
    return st;
}

static sl_status state_new(const void *model, const sl_pool *pool, size_t max_tokens,
                           bool use_blas, void **out, sl_error *err)
{
    const gpu_llama *g = model;
    (void)pool, (void)use_blas;
    if (max_tokens == 0 || max_tokens > (1u << 24))
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "session: %zu tokens is out of range", max_tokens);
    gpu_state *s = calloc(1, sizeof *s);
    if (!s)
        return sl_fail(err, SL_ERR_NO_MEMORY, "session: out of memory");
    s->max_tokens = max_tokens;
    sl_status st = (s->dense_rows = malloc((size_t)g->n_layers * sizeof *s->dense_rows))
                       ? SL_OK : sl_fail(err, SL_ERR_NO_MEMORY, "session: out of memory");
    if (!st && cudaSetDevice(g->device) != cudaSuccess)
        st = sl_fail(err, SL_ERR_IO, "%s: cannot choose the device", g->desc);
    if (!st)
        st = state_buffers(g, max_tokens, s, err);
    if (st) {
        state_free(s);
        return st;
    }
    *out = s;
    return SL_OK;
}

static size_t chunk_of(const void *p) { return chunk_for(((const gpu_state *)p)->max_tokens); }

/* ---- forward -------------------------------------------------------------------- */

/* y [n × out] float32 = x [n × in] BF16 · Wᵀ, W [out × in] BF16. */
static sl_status linear(const gpu_llama *g, const sl_bf16 *w, int out, int in, const sl_bf16 *x,
                        int n, float *y, sl_error *err)
{
    return sl_cuda_linear(g->blas, CUDA_R_16BF, w, out, in, x, n, 1.0f, y, g->desc, err);
}

/* The selection buffers for the session's top-k, made on its first DSA call
 * (a session's DSA options are set after its state). */
static sl_status dsa_buffers(const gpu_llama *g, gpu_state *s, size_t k, sl_error *err)
{
    const sl_llama *m = g->cpu;
    if (s->sel_k == k)
        return SL_OK;
    size_t n = chunk_for(s->max_tokens);
    cudaFree(s->sel), cudaFree(s->sparse_ws), cudaFree(s->topk_ws), cudaFree(s->kept);
    s->sel = NULL, s->sparse_ws = NULL, s->topk_ws = NULL, s->kept = NULL, s->sel_k = 0;
    size_t a = sl_k_gqa_sparse_attention_workspace((int)n, (int)k, m->n_heads, m->n_kv_heads, m->head_dim);
    size_t b = sl_k_gqa_sparse_attention_workspace(1, (int)k, m->n_heads, m->n_kv_heads, m->head_dim);
    size_t c = sl_k_topk_workspace((int)n, (int)s->max_tokens, (int)k);
    size_t d = sl_k_topk_workspace(1, (int)s->max_tokens, (int)k);
    s->sparse_ws_bytes = a > b ? a : b;
    s->topk_ws_bytes = c > d ? c : d;
    size_t kept = (size_t)g->n_layers * n;
    CK(cudaMalloc((void **)&s->sel, n * k * 4), "the selections");
    if (s->sparse_ws_bytes)
        CK(cudaMalloc(&s->sparse_ws, s->sparse_ws_bytes), "the sparse attention's workspace");
    if (s->topk_ws_bytes)
        CK(cudaMalloc(&s->topk_ws, s->topk_ws_bytes), "the top-k's workspace");
    CK(cudaMalloc((void **)&s->kept, kept * sizeof(double)), "the kept mass");
    double *host = realloc(s->host_kept, kept * sizeof(double));
    if (!host)
        return sl_fail(err, SL_ERR_NO_MEMORY, "session: out of memory for the kept mass");
    s->host_kept = host;
    s->sel_k = k;
    return SL_OK;
}

/* Before a forward call under DSA: room for every layer's selections of the
 * recorded rows, on the device and on the host; no layer has selected yet. */
static sl_status records_begin(const gpu_llama *g, gpu_state *s, sl_dsa *dsa, int n, sl_error *err)
{
    size_t k = sl_dsa_k(dsa), first = sl_dsa_first_recorded(dsa);
    size_t need = (size_t)g->n_layers * (first < (size_t)n ? (size_t)n - first : 0) * k;
    sl_status st = dsa_buffers(g, s, k, err);
    if (st)
        return st;
    for (int il = 0; il < g->n_layers; il++)
        s->dense_rows[il] = SIZE_MAX;
    if (need <= s->rec_sel_cap)
        return SL_OK;
    cudaFree(s->rec_sel);
    s->rec_sel = NULL, s->rec_sel_cap = 0;
    CK(cudaMalloc((void **)&s->rec_sel, need * 4), "the recorded selections");
    int32_t *host = realloc(s->host_sel, need * 4);
    if (!host)
        return sl_fail(err, SL_ERR_NO_MEMORY, "session: out of memory for the selections");
    s->host_sel = host;
    s->rec_sel_cap = need;
    return SL_OK;
}

/* After the call's launches: the recorded selections and the kept mass come
 * back in one copy each, and become the session's records layer by layer. */
static sl_status records_end(const gpu_llama *g, gpu_state *s, sl_dsa *dsa, int n, int pos,
                             sl_error *err)
{
    size_t k = sl_dsa_k(dsa), first = sl_dsa_first_recorded(dsa), stride, *count;
    size_t recorded = first < (size_t)n ? (size_t)n - first : 0, chunk = chunk_for(s->max_tokens);
    bool oracle = sl_dsa_mode_of(dsa) == SL_DSA_ORACLE;
    if (recorded)
        CK(cudaMemcpyAsync(s->host_sel, s->rec_sel, (size_t)g->n_layers * recorded * k * 4,
                           cudaMemcpyDeviceToHost, g->stream), "the selections");
    if (oracle)
        CK(cudaMemcpyAsync(s->host_kept, s->kept, (size_t)g->n_layers * chunk * sizeof(double),
                           cudaMemcpyDeviceToHost, g->stream), "the kept mass");
    CK(cudaStreamSynchronize(g->stream), "the selections");
    int32_t *rows = sl_dsa_rows(dsa, &stride, &count);
    for (size_t t = first; t < (size_t)n; t++) /* the same in every layer */
        count[t] = (size_t)pos + t + 1 < k ? (size_t)pos + t + 1 : k;
    for (int il = 0; il < g->n_layers; il++) {
        size_t dense = s->dense_rows[il];
        if (dense == SIZE_MAX)
            continue; /* the layer kept dense attention */
        if (dense < (size_t)n && recorded)
            memcpy(rows + first * stride, s->host_sel + (size_t)il * recorded * k,
                   recorded * k * 4);
        for (size_t t = dense; oracle && t < (size_t)n; t++)
            sl_dsa_note_kept(dsa, 0, il, s->host_kept[(size_t)il * chunk + t] / g->cpu->n_heads);
        sl_dsa_rows_done(dsa, il, dense);
    }
    return SL_OK;
}

/* The selection's scores of n rows: the heads' attention mass (the oracle)
 * or the indexer file's scores, rows of L into s->mass; with pos_dev one
 * row whose position is read on the device (L: the whole cache). */
static sl_status selection_scores(const gpu_llama *g, gpu_state *s, sl_dsa *dsa, int il, int n,
                                  int pos, const int32_t *pos_dev, int L, const sl_bf16 *k_cache,
                                  float scale, sl_error *err)
{
    const sl_llama *m = g->cpu;
    if (sl_dsa_mode_of(dsa) == SL_DSA_INDEXER)
        return sl_cuda_indexer_scores(s->indexer, g->stream, il, n, L,
                                      pos_dev ? pos_dev + 1 : s->row_len, s->mass, err);
    CK(pos_dev ? sl_k_gqa_head_mass_at(s->qb, k_cache, pos_dev, L, m->n_heads, m->n_kv_heads,
                                       m->head_dim, scale, s->mass, s->mass_ws,
                                       s->mass_ws_bytes, g->stream)
               : sl_k_gqa_head_mass(s->qb, k_cache, n, pos, m->n_heads, m->n_kv_heads,
                                    m->head_dim, scale, s->mass, s->mass_ws, s->mass_ws_bytes,
                                    g->stream), "the oracle's mass");
    return SL_OK;
}

/* DSA on the device: the selection's scores, their exact top-k, and
 * attention over the selection only; the recorded rows' selections and, for
 * the oracle, the share of the mass each row keeps are gathered on the
 * device for records_end. Rows that see at most k positions select them
 * all: where every row does, dense attention runs. */
static sl_status dsa_attention(const gpu_llama *g, gpu_state *s, sl_dsa *dsa, int il, int n,
                               int pos, const int32_t *pos_dev, const sl_bf16 *k_cache,
                               const sl_bf16 *v_cache, float scale, sl_error *err)
{
    const sl_llama *m = g->cpu;
    size_t k = sl_dsa_k(dsa), first = sl_dsa_first_recorded(dsa);
    size_t L = pos_dev ? s->max_tokens : (size_t)pos + (size_t)n;
    size_t dense_rows = sl_dsa_dense_rows(dsa, (size_t)n, (size_t)pos);
    size_t recorded = first < (size_t)n ? (size_t)n - first : 0;
    sl_status st;
    if (sl_dsa_mode_of(dsa) == SL_DSA_INDEXER && /* every row's keys are cached */
        (st = sl_cuda_indexer_project(s->indexer, g->blas, g->stream, il, s->xn, n, pos, pos_dev,
                                      err)))
        return st;
    s->dense_rows[il] = dense_rows;
    if (dense_rows == (size_t)n && pos_dev) {
        CK(sl_k_gqa_decode_attention_at(s->qb, k_cache, v_cache, pos_dev, (int)s->max_tokens,
                                        m->n_heads, m->n_kv_heads, m->head_dim, scale, s->att,
                                        s->att_ws, s->att_ws_bytes, g->stream), "attention");
        return SL_OK;
    }
    if (dense_rows == (size_t)n) {
        CK(sl_k_gqa_attention(s->qb, k_cache, v_cache, n, pos, m->n_heads, m->n_kv_heads,
                              m->head_dim, scale, s->att, s->att_ws, s->att_ws_bytes, g->stream),
           "attention");
        return SL_OK;
    }
    if ((st = selection_scores(g, s, dsa, il, n, pos, pos_dev, (int)L, k_cache, scale, err)))
        return st;
    CK(sl_k_topk(s->mass, L, pos_dev ? pos_dev + 1 : s->row_len, n, (int)L, (int)k, s->sel,
                 s->topk_ws, s->topk_ws_bytes, g->stream), "the top-k");
    CK(pos_dev ? sl_k_gqa_sparse_attention_at(s->qb, k_cache, v_cache, s->sel, (int)k, pos_dev,
                                              m->n_heads, m->n_kv_heads, m->head_dim, scale,
                                              s->att, s->sparse_ws, s->sparse_ws_bytes, g->stream)
               : sl_k_gqa_sparse_attention(s->qb, k_cache, v_cache, s->sel, n, (int)k, pos,
                                           m->n_heads, m->n_kv_heads, m->head_dim, scale, s->att,
                                           s->sparse_ws, s->sparse_ws_bytes, g->stream),
       "sparse attention");
    if (recorded)
        CK(cudaMemcpyAsync(s->rec_sel + (size_t)il * recorded * k, s->sel + first * k,
                           recorded * k * 4, cudaMemcpyDeviceToDevice, g->stream), "the selections");
    if (sl_dsa_mode_of(dsa) == SL_DSA_ORACLE)
        CK(sl_k_selected_sum(s->mass + dense_rows * L, L, s->sel + dense_rows * k,
                             n - (int)dense_rows, (int)k,
                             s->kept + (size_t)il * chunk_for(s->max_tokens) + dense_rows,
                             g->stream), "the kept mass");
    return SL_OK;
}

/* The rotary embedding and the cache entries of n rows (q, k, v: [n][qd],
 * [n][kvd], [n][kvd]) at positions pos …, and q as BF16 into s->qb; or with
 * pos_dev, of one row at the position read there (a decode step captured
 * once as a graph), in one launch: q ‖ k ‖ v one after another then. */
static sl_status rope_and_cache(const gpu_llama *g, gpu_state *s, size_t layer, int n, int pos,
                                const int32_t *pos_dev, float *q, float *k, const float *v,
                                sl_error *err)
{
    const sl_llama *m = g->cpu;
    int qd = m->n_heads * m->head_dim, kvd = m->n_kv_heads * m->head_dim;
    sl_bf16 *kc = s->k_cache + layer, *vc = s->v_cache + layer;
    if (pos_dev) {
        CK(sl_k_rope_qkv_at(q, m->n_heads, m->n_kv_heads, m->head_dim, m->rope_dims, pos_dev,
                            g->inv_freq, s->qb, kc, vc, g->stream), "rope and the caches");
        return SL_OK;
    }
    CK(sl_k_rope_interleaved(q, n, m->n_heads, m->head_dim, m->rope_dims, pos, g->inv_freq,
                             g->stream), "rope");
    CK(sl_k_rope_interleaved(k, n, m->n_kv_heads, m->head_dim, m->rope_dims, pos, g->inv_freq,
                             g->stream), "rope");
    CK(sl_k_f32_to_bf16(k, kc + (size_t)pos * kvd, (size_t)n * kvd, g->stream), "the key cache");
    CK(sl_k_f32_to_bf16(v, vc + (size_t)pos * kvd, (size_t)n * kvd, g->stream), "the value cache");
    CK(sl_k_f32_to_bf16(q, s->qb, (size_t)n * qd, g->stream), "bf16");
    return SL_OK;
}

/* q, k and v of n rows: one product for a single row (wq, wk, wv are stacked),
 * else three into their own buffers (the kernels after take [n][…] rows). */
static sl_status qkv(const gpu_llama *g, gpu_state *s, const gpu_layer *l, int n, float **q,
                     float **k, float **v, sl_error *err)
{
    const sl_llama *m = g->cpu;
    int E = m->n_embd, qd = m->n_heads * m->head_dim, kvd = m->n_kv_heads * m->head_dim;
    if (n == 1) {
        *q = s->q, *k = s->q + qd, *v = s->q + qd + kvd;
        return linear(g, l->wq, qd + 2 * kvd, E, s->xn, 1, s->q, err);
    }
    *q = s->q, *k = s->k, *v = s->v;
    sl_status st;
    if ((st = linear(g, l->wq, qd, E, s->xn, n, s->q, err)) ||
        (st = linear(g, l->wk, kvd, E, s->xn, n, s->k, err)))
        return st;
    return linear(g, l->wv, kvd, E, s->xn, n, s->v, err);
}

/* fused: one row without DSA, its products as gemv.cu's fused kernels (the
 * norms, SwiGLU and the residuals in them): seven launches a layer. */
static sl_status attention_block(const gpu_llama *g, gpu_state *s, int il, int n, int pos,
                                 const int32_t *pos_dev, sl_dsa *dsa, bool fused, sl_error *err)
{
    const sl_llama *m = g->cpu;
    const gpu_layer *l = &g->layers[il];
    int E = m->n_embd, qd = m->n_heads * m->head_dim, kvd = m->n_kv_heads * m->head_dim;
    size_t layer = (size_t)il * s->max_tokens * (size_t)kvd;
    float *q = s->q, *k = s->q + qd, *v = s->q + qd + kvd;
    sl_status st;
    if (fused) {
        CK(sl_k_gemv_norm(s->x, l->attn_norm, m->eps, E, l->wq, qd + 2 * kvd, s->q, g->stream),
           "the q, k and v product");
    } else {
        CK(sl_k_rmsnorm(s->x, l->attn_norm, n, E, m->eps, NULL, s->xn, g->stream), "rmsnorm");
        if ((st = qkv(g, s, l, n, &q, &k, &v, err)))
            return st;
    }
    if ((st = rope_and_cache(g, s, layer, n, pos, pos_dev, q, k, v, err)))
        return st;
    float scale = 1.0f / sqrtf((float)m->head_dim);
    sl_bf16 *kc = s->k_cache + layer, *vc = s->v_cache + layer;
    if (dsa && sl_dsa_layer_active(dsa, il)) {
        if ((st = dsa_attention(g, s, dsa, il, n, pos, pos_dev, kc, vc, scale, err)))
            return st;
    } else if (pos_dev) {
        CK(sl_k_gqa_decode_attention_at(s->qb, kc, vc, pos_dev, (int)s->max_tokens, m->n_heads,
                                        m->n_kv_heads, m->head_dim, scale, s->att, s->att_ws,
                                        s->att_ws_bytes, g->stream), "attention");
    } else {
        CK(sl_k_gqa_attention(s->qb, kc, vc, n, pos, m->n_heads, m->n_kv_heads, m->head_dim, scale,
                              s->att, s->att_ws, s->att_ws_bytes, g->stream), "attention");
    }
    /* the residual added in the product */
    if (fused) {
        CK(sl_k_gemv_add(s->att, qd, l->wo, E, s->x, g->stream), "the output product");
        return SL_OK;
    }
    return sl_cuda_linear_add(g->blas, CUDA_R_16BF, l->wo, E, qd, s->att, n, s->x, g->desc, err);
}

static sl_status ffn_block(const gpu_llama *g, gpu_state *s, int il, int n, bool fused,
                           sl_error *err)
{
    const sl_llama *m = g->cpu;
    const gpu_layer *l = &g->layers[il];
    int E = m->n_embd, F = m->n_ff;
    if (fused) {
        CK(sl_k_gemv_norm_swiglu(s->x, l->ffn_norm, m->eps, E, l->gate, F, s->h, g->stream),
           "the gate and up product");
        CK(sl_k_gemv_add(s->h, F, l->down, E, s->x, g->stream), "the down product");
        return SL_OK;
    }
    float *up = n == 1 ? s->gate + F : s->up; /* one row: gate ‖ up from one product */
    sl_status st;
    CK(sl_k_rmsnorm(s->x, l->ffn_norm, n, E, m->eps, NULL, s->xn, g->stream), "rmsnorm");
    if (n == 1)
        st = linear(g, l->gate, 2 * F, E, s->xn, 1, s->gate, err);
    else if (!(st = linear(g, l->gate, F, E, s->xn, n, s->gate, err)))
        st = linear(g, l->up, F, E, s->xn, n, s->up, err);
    if (st)
        return st;
    CK(sl_k_swiglu(s->gate, up, n, F, s->h, g->stream), "swiglu");
    return sl_cuda_linear_add(g->blas, CUDA_R_16BF, l->down, E, F, s->h, n, s->x, g->desc, err);
}

/* Every launch of one forward call, on the model's stream: embeddings, the
 * layers, and the logits of rows first … n-1 into s->logits (first = n: none).
 * step: one row whose token and position are read from step[0] and step[1]
 * on the device (the decode graph); else ids in s->ids at positions pos …. */
static sl_status launch_all(const gpu_llama *g, gpu_state *s, int n, int pos, int first,
                            const int32_t *step, sl_dsa *dsa, sl_error *err)
{
    const sl_llama *m = g->cpu;
    int E = m->n_embd;
    sl_status st;
    CK(sl_k_embed_rows(g->embd, E, step ? step : s->ids, n, s->x, g->stream), "embeddings");
    bool fused = n == 1 && !dsa && g->gemv;
    for (int il = 0; il < m->n_layers; il++)
        if ((st = attention_block(g, s, il, n, pos, step ? step + 1 : NULL, dsa, fused, err)) ||
            (st = ffn_block(g, s, il, n, fused, err)))
            return st;
    if (first < n) {
        CK(sl_k_rmsnorm(s->x + (size_t)first * E, g->output_norm, n - first, E, m->eps, NULL,
                        s->xn, g->stream), "rmsnorm");
        if ((st = linear(g, g->output, m->n_vocab, E, s->xn, n - first, s->logits, err)))
            return st;
    }
    return SL_OK;
}

/* What a decode step at pos under dsa (NULL: none) would be captured for. */
static graph_key key_of(const gpu_state *s, sl_dsa *dsa, int pos)
{
    graph_key k = {0};
    if (!dsa)
        return k;
    k.dsa = true;
    k.dense_phase = sl_dsa_dense_rows(dsa, 1, (size_t)pos) == 1;
    k.sparse_always = sl_dsa_sparse_always(dsa);
    k.mode = (int)sl_dsa_mode_of(dsa);
    k.k = sl_dsa_k(dsa);
    k.first_recorded = sl_dsa_first_recorded(dsa) ? 1 : 0;
    k.rec_sel = s->rec_sel, k.sel = s->sel, k.indexer = s->indexer;
    return k;
}

static bool same_key(const graph_key *a, const graph_key *b)
{
    return a->dsa == b->dsa && a->dense_phase == b->dense_phase &&
           a->sparse_always == b->sparse_always && a->mode == b->mode && a->k == b->k &&
           a->first_recorded == b->first_recorded && a->rec_sel == b->rec_sel &&
           a->sel == b->sel && a->indexer == b->indexer;
}

/* One decode step (its logits wanted) as a CUDA graph: captured on the
 * session's first step, with the token, position and length read on the
 * device, and replayed for every later one: one launch instead of seven a
 * layer, and no capture or update on the host. Under DSA the step is captured
 * again when what it depends on changes (key_of): once, when the row first
 * sees more than k positions. The DSA layers' dense rows are the host's to
 * count for records_end (dsa_attention counts them when it runs). */
static sl_status launch_as_graph(const gpu_llama *g, gpu_state *s, int32_t id, int pos,
                                 sl_dsa *dsa, sl_error *err)
{
    graph_key key = key_of(s, dsa, pos);
    if (s->decode && !same_key(&s->key, &key)) {
        cudaGraphExecDestroy(s->decode);
        s->decode = NULL;
    }
    if (!s->decode) {
        CK(cudaStreamBeginCapture(g->stream, cudaStreamCaptureModeThreadLocal), "capturing a step");
        sl_status st = launch_all(g, s, 1, pos, 0, s->step, dsa, err);
        if ((st = sl_cuda_capture_end(g->stream, st, &s->decode, err)))
            return st;
        s->key = key;
    }
    for (int il = 0; dsa && il < g->n_layers; il++)
        if (sl_dsa_layer_active(dsa, il))
            s->dense_rows[il] = sl_dsa_dense_rows(dsa, 1, (size_t)pos);
    return sl_cuda_step_replay(g->stream, s->decode, s->step, s->step_host, id, pos, err);
}

/* The engine's indexer file on the device, uploaded once when it is loaded
 * (the one before freed: its sessions are gone by then). */
static sl_status load_indexer(void *model, const sl_indexer *ix, sl_error *err)
{
    gpu_llama *g = model;
    const sl_llama *m = g->cpu;
    sl_cuda_indexer_weights *w = NULL;
    CK(cudaSetDevice(g->device), "choosing the device");
    sl_status st = sl_cuda_indexer_weights_new(ix, m->n_layers, m->n_embd, m->rope_theta, &w, err);
    if (st)
        return st;
    sl_cuda_indexer_weights_free(g->indexer);
    g->indexer = w;
    return SL_OK;
}

/* The session's side of the indexer (its key cache), made on its first
 * forward call in indexer mode over the engine's weights. */
static sl_status indexer_on_device(const gpu_llama *g, gpu_state *s, const sl_indexer *ix,
                                   sl_error *err)
{
    if (!g->indexer || sl_cuda_indexer_weights_source(g->indexer) != ix)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "%s: the session's indexer is not the "
                       "engine's (load it with sl_engine_load_indexer)", g->desc);
    if (s->indexer && sl_cuda_indexer_weights_of(s->indexer) == g->indexer)
        return SL_OK;
    sl_cuda_indexer_free(s->indexer);
    s->indexer = NULL;
    return sl_cuda_indexer_new(g->indexer, s->max_tokens, chunk_for(s->max_tokens), &s->indexer,
                               err);
}

static sl_status forward(const void *model, void *state, sl_pool *pool, const int32_t *ids,
                         size_t n_tokens, size_t position, float *logits, bool all_logits,
                         sl_dsa *dsa, sl_error *err)
{
    const gpu_llama *g = model;
    gpu_state *s = state;
    int n = (int)n_tokens, pos = (int)position, V = g->cpu->n_vocab;
    int first = !logits ? n : all_logits ? 0 : n - 1;
    (void)pool;
    sl_status st = SL_ERR_IO;
    CK(cudaSetDevice(g->device), "choosing the device");
    if (dsa && sl_dsa_indexer(dsa) && (st = indexer_on_device(g, s, sl_dsa_indexer(dsa), err)))
        return st;
    if (dsa && (st = records_begin(g, s, dsa, n, err)))
        return st;
    st = SL_ERR_IO;
    if (n == 1 && first == 0 && !s->no_graphs && !g->graphs_off) {
        sl_error ignored = {0};
        st = launch_as_graph(g, s, ids[0], pos, dsa, &ignored);
        s->no_graphs = st != SL_OK; /* then launch by launch, from now on */
    }
    if (st != SL_OK &&
        ((st = sl_cuda_rows_to_device(s->ids, ids, dsa ? s->row_len : NULL, n, pos, g->stream,
                                      err)) ||
         (st = launch_all(g, s, n, pos, first, NULL, dsa, err))))
        return st;
    if (first < n)
        CK(cudaMemcpyAsync(logits, s->logits, (size_t)(n - first) * V * 4, cudaMemcpyDeviceToHost,
                           g->stream), "the logits");
    if (dsa && (st = records_end(g, s, dsa, n, pos, err)))
        return st;
    CK(cudaStreamSynchronize(g->stream), "the forward pass");
    return SL_OK;
}

static bool decodes_on_graph(const void *state)
{
    const gpu_state *s = state;
    return s->decode && !s->no_graphs;
}

const sl_arch_ops sl_llama_cuda_ops = {
    .state_bytes = state_bytes,
    .state_new = state_new,
    .state_free = state_free,
    .chunk = chunk_of,
    .forward = forward,
    .model_free = model_free,
    .own_indexer = false,
    .dsa = true,
    .selects = true,
    .indexer_files = true,
    .decodes_on_graph = decodes_on_graph,
    .load_indexer = load_indexer,
};
