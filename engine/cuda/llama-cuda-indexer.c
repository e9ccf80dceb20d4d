#include "cuda/llama-cuda-indexer.h"

#include "cpu/ops.h"
#include "cuda/cuda-common.h"

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sl_bf16 *wq, *wk, *wp;      /* [H·D × E], [D × E], [H × E] */
    float *norm_weight, *norm_bias;
} cuda_indexer_layer;

struct sl_cuda_indexer_weights {
    const sl_indexer *source;
    int n_layers, n_embd, H, D, rope_dims;
    float eps;
    cuda_indexer_layer *layers; /* n_layers; wq NULL where the layer keeps dense attention */
    float *inv_freq;            /* rope_dims / 2 */
};

struct sl_cuda_indexer {
    const sl_cuda_indexer_weights *w;
    int n_layers;               /* w's, kept to free keys without w */
    sl_bf16 **keys;             /* n_layers: max_tokens × D, NULL where the layer keeps dense attention */
    float *q, *w_heads, *k;     /* chunk × H·D, chunk × H, chunk × D (float32) */
    sl_bf16 *qb;                /* chunk × H·D */
    int32_t *zeros;             /* chunk: each row's first key */
};

/* An indexer matrix (float32 on the host) as BF16 on the device. */
static sl_status upload_bf16(const sl_matrix *m, sl_bf16 **out, sl_error *err)
{
    CK(cudaMalloc((void **)out, (size_t)m->rows * (size_t)m->cols * 2), "the indexer's weights");
    return sl_cuda_matrix_to(m, *out, err);
}

static sl_status upload_layer(const sl_indexer_layer *l, int D, cuda_indexer_layer *g,
                              sl_error *err)
{
    sl_status st;
    if ((st = upload_bf16(&l->wq, &g->wq, err)) || (st = upload_bf16(&l->wk, &g->wk, err)) ||
        (st = upload_bf16(&l->wp, &g->wp, err)) ||
        (st = sl_cuda_upload_floats(l->norm_weight, (size_t)D, &g->norm_weight, err)) ||
        (st = sl_cuda_upload_floats(l->norm_bias, (size_t)D, &g->norm_bias, err)))
        return st;
    return SL_OK;
}

/* The rotary frequencies, as dsa/indexer.c makes them. */
static sl_status upload_inv_freq(sl_cuda_indexer_weights *c, float rope_theta, sl_error *err)
{
    size_t half = (size_t)c->rope_dims / 2;
    float *freq = malloc((half + 1) * sizeof *freq);
    if (!freq)
        return sl_fail(err, SL_ERR_NO_MEMORY, "GPU: out of host memory for the indexer");
    sl_rope_inv_freq(freq, c->rope_dims, rope_theta);
    sl_status st = sl_cuda_upload_floats(freq, half + 1, &c->inv_freq, err);
    free(freq);
    return st;
}

void sl_cuda_indexer_weights_free(sl_cuda_indexer_weights *c)
{
    if (!c)
        return;
    for (int i = 0; c->layers && i < c->n_layers; i++) {
        cuda_indexer_layer *l = &c->layers[i];
        void *all[] = {l->wq, l->wk, l->wp, l->norm_weight, l->norm_bias};
        for (size_t j = 0; j < sizeof all / sizeof *all; j++)
            cudaFree(all[j]);
    }
    free(c->layers);
    cudaFree(c->inv_freq);
    free(c);
}

sl_status sl_cuda_indexer_weights_new(const sl_indexer *ix, int n_layers, int n_embd,
                                      float rope_theta, sl_cuda_indexer_weights **out,
                                      sl_error *err)
{
    int H = sl_indexer_heads(ix), D = sl_indexer_head_dim(ix);
    if ((long)H * D > 12288)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "GPU: an indexer of %d heads of %d dims is larger "
                       "than the GPU's indexer takes (12288 values a query); it runs on the CPU",
                       H, D);
    sl_cuda_indexer_weights *c = calloc(1, sizeof *c);
    if (!c || !(c->layers = calloc((size_t)n_layers, sizeof *c->layers))) {
        free(c);
        return sl_fail(err, SL_ERR_NO_MEMORY, "GPU: out of host memory for the indexer");
    }
    c->source = ix;
    c->n_layers = n_layers;
    c->n_embd = n_embd;
    c->H = H;
    c->D = D;
    c->rope_dims = sl_indexer_rope_dims(ix);
    c->eps = sl_indexer_norm_eps(ix);
    sl_status st = upload_inv_freq(c, rope_theta, err);
    for (int l = 0; !st && l < n_layers; l++)
        if (sl_indexer_layer_at(ix, l))
            st = upload_layer(sl_indexer_layer_at(ix, l), D, &c->layers[l], err);
    if (st) {
        sl_cuda_indexer_weights_free(c);
        return st;
    }
    *out = c;
    return SL_OK;
}

const sl_indexer *sl_cuda_indexer_weights_source(const sl_cuda_indexer_weights *w)
{
    return w->source;
}

void sl_cuda_indexer_free(sl_cuda_indexer *c)
{
    if (!c)
        return;
    for (int i = 0; c->keys && i < c->n_layers; i++)
        cudaFree(c->keys[i]);
    free(c->keys);
    void *all[] = {c->q, c->w_heads, c->k, c->qb, c->zeros};
    for (size_t j = 0; j < sizeof all / sizeof *all; j++)
        cudaFree(all[j]);
    free(c);
}

sl_status sl_cuda_indexer_new(const sl_cuda_indexer_weights *w, size_t max_tokens, size_t chunk,
                              sl_cuda_indexer **out, sl_error *err)
{
    sl_cuda_indexer *c = calloc(1, sizeof *c);
    if (!c || !(c->keys = calloc((size_t)w->n_layers, sizeof *c->keys))) {
        free(c);
        return sl_fail(err, SL_ERR_NO_MEMORY, "GPU: out of host memory for the indexer");
    }
    c->w = w;
    c->n_layers = w->n_layers;
    size_t HD = (size_t)w->H * (size_t)w->D;
    cudaError_t e = cudaMalloc((void **)&c->q, chunk * HD * 4);
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&c->qb, chunk * HD * 2);
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&c->w_heads, chunk * (size_t)w->H * 4);
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&c->k, chunk * (size_t)w->D * 4);
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&c->zeros, chunk * 4);
    if (e == cudaSuccess)
        e = cudaMemset(c->zeros, 0, chunk * 4);
    for (int l = 0; e == cudaSuccess && l < w->n_layers; l++)
        if (w->layers[l].wq)
            e = cudaMalloc((void **)&c->keys[l], max_tokens * (size_t)w->D * 2);
    if (e != cudaSuccess) {
        sl_cuda_indexer_free(c);
        return sl_cuda_failed(e, "the indexer's key cache", err);
    }
    *out = c;
    return SL_OK;
}

const sl_cuda_indexer_weights *sl_cuda_indexer_weights_of(const sl_cuda_indexer *c)
{
    return c->w;
}


/* y [n × out] float32 = alpha · x [n × in] · Wᵀ, BF16 in, float32 sums. */
static sl_status product(cublasHandle_t blas, const sl_bf16 *w, int out, int in, const sl_bf16 *x,
                         int n, float alpha, float *y, sl_error *err)
{
    return sl_cuda_linear(blas, CUDA_R_16BF, w, out, in, x, n, alpha, y, "GPU: the indexer",
                          err);
}

sl_status sl_cuda_indexer_project(sl_cuda_indexer *c, cublasHandle_t blas, cudaStream_t stream,
                                  int layer, const sl_bf16 *x, int n, int pos, const int32_t *pos_at,
                                  sl_error *err)
{
    const sl_cuda_indexer_weights *w = c->w;
    const cuda_indexer_layer *l = &w->layers[layer];
    int H = w->H, D = w->D, E = w->n_embd, rope = w->rope_dims;
    sl_bf16 *keys = c->keys[layer];
    sl_status st;
    if ((st = product(blas, l->wq, H * D, E, x, n, 1.0f, c->q, err)) ||
        (st = product(blas, l->wk, D, E, x, n, 1.0f, c->k, err)) ||
        (st = product(blas, l->wp, H, E, x, n, 1.0f / sqrtf((float)(H * D)), c->w_heads, err)))
        return st;
    CK(sl_k_layernorm(c->k, l->norm_weight, l->norm_bias, n, D, w->eps, stream), "key norm");
    if (rope > 0 && pos_at) {
        CK(sl_k_rope_neox_at(c->q, n, H, D, rope, pos_at, w->inv_freq, stream), "rope");
        CK(sl_k_rope_neox_at(c->k, n, 1, D, rope, pos_at, w->inv_freq, stream), "rope");
    } else if (rope > 0) {
        CK(sl_k_rope_neox(c->q, n, H, D, rope, pos, w->inv_freq, stream), "rope");
        CK(sl_k_rope_neox(c->k, n, 1, D, rope, pos, w->inv_freq, stream), "rope");
    }
    CK(sl_k_f32_to_bf16(c->q, c->qb, (size_t)n * H * D, stream), "queries");
    CK(pos_at ? sl_k_f32_to_bf16_at(c->k, keys, (size_t)D, pos_at, stream) /* one row */
              : sl_k_f32_to_bf16(c->k, keys + (size_t)pos * D, (size_t)n * D, stream),
       "key cache");
    return SL_OK;
}

sl_status sl_cuda_indexer_scores(sl_cuda_indexer *c, cudaStream_t stream, int layer, int n,
                                 int L, const int32_t *row_len, float *scores, sl_error *err)
{
    cudaError_t e = sl_k_indexer_any(c->qb, c->w_heads, c->keys[layer], c->zeros, row_len, n,
                                     c->w->H, c->w->D, L, scores, (size_t)L, stream);
    CK(e, "scores");
    return SL_OK;
}
