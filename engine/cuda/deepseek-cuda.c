#include "cuda/deepseek-cuda.h"

#include "cuda/deepseek-cuda-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- weights ---------------------------------------------------------------- */

static sl_status device_alloc(gpu_ds *g, size_t bytes, void **out, const char *what, sl_error *err)
{
    if (g->n_allocs == g->cap_allocs) {
        size_t cap = g->cap_allocs ? 2 * g->cap_allocs : 256;
        void **p = realloc(g->allocs, cap * sizeof *p);
        if (!p)
            return sl_fail(err, SL_ERR_NO_MEMORY, "GPU: out of host memory");
        g->allocs = p;
        g->cap_allocs = cap;
    }
    CK(cudaMalloc(out, bytes ? bytes : 1), what);
    g->allocs[g->n_allocs++] = *out;
    return SL_OK;
}

static sl_status upload_matrix(gpu_ds *g, const sl_matrix *w, sl_bf16 **out, sl_error *err)
{
    sl_status st = device_alloc(g, (size_t)w->rows * (size_t)w->cols * 2, (void **)out, w->name, err);
    return st ? st : sl_cuda_matrix_to(w, *out, err);
}

/* n_experts matrices of one shape, back to back. */
static sl_status upload_experts(gpu_ds *g, const sl_matrix *w, int n, sl_bf16 **out, sl_error *err)
{
    size_t each = (size_t)w[0].rows * (size_t)w[0].cols;
    sl_status st = device_alloc(g, each * (size_t)n * 2, (void **)out, "the experts", err);
    for (int e = 0; !st && e < n; e++)
        st = sl_cuda_matrix_to(&w[e], *out + (size_t)e * each, err);
    return st;
}

static sl_status upload_floats(gpu_ds *g, const float *v, size_t n, float **out, sl_error *err)
{
    sl_status st = device_alloc(g, n * sizeof(float), (void **)out, "float32 weights", err);
    if (!st)
        CK(cudaMemcpy(*out, v, n * sizeof(float), cudaMemcpyHostToDevice), "float32 weights");
    return st;
}

/* The router as float32: its choice must not move with BF16 rounding. */
static sl_status upload_router(gpu_ds *g, const sl_matrix *w, float **out, sl_error *err)
{
    size_t rows = (size_t)w->rows, cols = (size_t)w->cols;
    float *host = malloc(rows * cols * sizeof *host);
    if (!host)
        return sl_fail(err, SL_ERR_NO_MEMORY, "GPU: out of host memory converting '%s'", w->name);
    for (size_t r = 0; r < rows; r++)
        sl_matrix_row(w, (int64_t)r, host + r * cols);
    sl_status st = upload_floats(g, host, rows * cols, out, err);
    free(host);
    return st;
}

static sl_status upload_layer(gpu_ds *g, const ds_layer *l, gpu_layer *d, sl_error *err)
{
    const sl_ds_config *c = &g->cpu->c;
    size_t H = (size_t)c->hidden, E = (size_t)c->n_experts;
    size_t kv_b = (size_t)c->n_heads * (size_t)(c->qk_nope + c->v_head) * (size_t)c->kv_lora;
    sl_status st;
    if ((st = upload_floats(g, l->attn_norm, H, &d->attn_norm, err)) ||
        (st = upload_floats(g, l->ffn_norm, H, &d->ffn_norm, err)) ||
        (st = upload_floats(g, l->q_norm, (size_t)c->q_lora, &d->q_norm, err)) ||
        (st = upload_floats(g, l->kv_norm, (size_t)c->kv_lora, &d->kv_norm, err)) ||
        (st = upload_floats(g, l->ik_norm_w, (size_t)c->index_dim, &d->ik_norm_w, err)) ||
        (st = upload_floats(g, l->ik_norm_b, (size_t)c->index_dim, &d->ik_norm_b, err)) ||
        (st = upload_floats(g, l->kv_b, kv_b, &d->kv_b, err)) ||
        (st = upload_matrix(g, &l->q_a, &d->q_a, err)) || (st = upload_matrix(g, &l->q_b, &d->q_b, err)) ||
        (st = upload_matrix(g, &l->kv_a, &d->kv_a, err)) || (st = upload_matrix(g, &l->o, &d->o, err)) ||
        (st = upload_matrix(g, &l->iq, &d->iq, err)) || (st = upload_matrix(g, &l->ik, &d->ik, err)) ||
        (st = upload_matrix(g, &l->iw, &d->iw, err)))
        return st;
    if (l->has_ffn && ((st = upload_matrix(g, &l->gate, &d->gate, err)) ||
                       (st = upload_matrix(g, &l->up, &d->up, err)) ||
                       (st = upload_matrix(g, &l->down, &d->down, err))))
        return st;
    if (l->moe && ((st = upload_router(g, &l->router, &d->router, err)) ||
                   (st = upload_floats(g, l->router_bias, E, &d->router_bias, err)) ||
                   (st = upload_experts(g, l->e_gate, (int)E, &d->e_gate, err)) ||
                   (st = upload_experts(g, l->e_up, (int)E, &d->e_up, err)) ||
                   (st = upload_experts(g, l->e_down, (int)E, &d->e_down, err))))
        return st;
    return SL_OK;
}

static uint64_t elements(const sl_matrix *w) { return (uint64_t)w->rows * (uint64_t)w->cols; }

/* Device bytes of the weights as uploaded (BF16 matrices, float32 rest). */
static uint64_t weight_bytes(const sl_deepseek *m)
{
    const sl_ds_config *c = &m->c;
    uint64_t b = 2 * elements(&m->embed) + (c->tied ? 0 : 2 * elements(&m->head)) + 4ull * (uint64_t)c->hidden;
    for (int i = 0; i < c->n_layers; i++) {
        const ds_layer *l = &m->layers[i];
        b += 2 * (elements(&l->q_a) + elements(&l->q_b) + elements(&l->kv_a) + elements(&l->o) +
                  elements(&l->iq) + elements(&l->ik) + elements(&l->iw));
        b += 4ull * (uint64_t)c->n_heads * (uint64_t)(c->qk_nope + c->v_head) * (uint64_t)c->kv_lora;
        b += 4ull * (2ull * (uint64_t)c->hidden + (uint64_t)c->q_lora + (uint64_t)c->kv_lora +
                     2ull * (uint64_t)c->index_dim);
        if (l->has_ffn)
            b += 2 * (elements(&l->gate) + elements(&l->up) + elements(&l->down));
        if (l->moe)
            b += 4 * (elements(&l->router) + (uint64_t)c->n_experts) +
                 2 * (uint64_t)c->n_experts *
                     (elements(&l->e_gate[0]) + elements(&l->e_up[0]) + elements(&l->e_down[0]));
    }
    return b;
}

void sl_deepseek_cuda_free(void *p)
{
    gpu_ds *g = p;
    if (!g)
        return;
    cudaSetDevice(g->device);
    for (size_t i = 0; i < g->n_allocs; i++)
        cudaFree(g->allocs[i]);
    free(g->allocs);
    free(g->layers);
    if (g->blas)
        cublasDestroy(g->blas);
    cudaFree(g->blas_ws);
    if (g->stream)
        cudaStreamDestroy(g->stream);
    if (g->cpu)
        sl_deepseek_ops.model_free(g->cpu);
    free(g);
}

static sl_status upload_model(gpu_ds *g, sl_error *err)
{
    const sl_deepseek *m = g->cpu;
    const sl_ds_config *c = &m->c;
    sl_status st;
    if ((st = upload_matrix(g, &m->embed, &g->embed, err)))
        return st;
    if (c->tied)
        g->head = g->embed;
    else if ((st = upload_matrix(g, &m->head, &g->head, err)))
        return st;
    if ((st = upload_floats(g, m->final_norm, (size_t)c->hidden, &g->final_norm, err)) ||
        (st = upload_floats(g, m->inv_freq, (size_t)c->qk_rope / 2, &g->inv_freq, err)))
        return st;
    if (!(g->layers = calloc((size_t)c->n_layers, sizeof *g->layers)))
        return sl_fail(err, SL_ERR_NO_MEMORY, "GPU: out of host memory");
    for (int i = 0; i < c->n_layers; i++)
        if ((st = upload_layer(g, &m->layers[i], &g->layers[i], err)))
            return st;
    return SL_OK;
}

/* The dims the kernels of mla.cu, lightning.cu and moe.cu take. */
static sl_status check_dims(const sl_ds_config *c, bool fp8_cache, int device, sl_error *err)
{
    const char *why = NULL;
    if (fp8_cache && (c->kv_lora % 4 || c->index_dim > 128 || c->index_dim % 4))
        why = "an FP8 cache of a latent that is not a multiple of 4 or index heads of more than "
              "128 dims";
    else if (c->kv_lora > 1024 || (size_t)(c->kv_lora + c->qk_rope) * 4 > 48 * 1024)
        why = "a latent of more than 1024 dims";
    else if (!sl_k_indexer_bf16_takes(c->index_heads, c->index_dim) &&
             (size_t)(c->index_heads * c->index_dim + c->index_heads) * 4 > 48 * 1024)
        why = "indexer heads of that many dims";
    else if (c->n_experts > 1024 || c->n_group > 64)
        why = "more than 1024 experts or 64 expert groups";
    if (!why)
        return SL_OK;
    return sl_fail(err, SL_ERR_UNSUPPORTED, "cuda:%d: %s is not supported on the GPU yet; this "
                   "model runs on the CPU", device, why);
}

sl_status sl_deepseek_cuda_new(sl_deepseek *model, int device, bool graphs, void **out, char *desc,
                               size_t desc_cap, sl_error *err)
{
    sl_status st = check_dims(&model->c, model->fp8_cache, device, err);
    if (st)
        return st;
    char name[160];
    st = sl_cuda_open(device, weight_bytes(model), name, sizeof name, err);
    gpu_ds *g = st ? NULL : calloc(1, sizeof *g);
    if (!st && !g)
        st = sl_fail(err, SL_ERR_NO_MEMORY, "GPU: out of host memory");
    if (st)
        return st;
    g->cpu = model;
    g->device = device;
    g->fast_mla = model->c.kv_lora == 512 && model->c.qk_rope == 64;
    g->fp8_cache = model->fp8_cache;
    g->graphs = graphs;
    g->fp8_indexer = g->fp8_cache && sl_k_indexer_bf16_takes(model->c.index_heads, model->c.index_dim);
    snprintf(g->desc, sizeof g->desc, "%s", name);
    st = sl_cuda_blas_new(&g->stream, &g->blas, &g->blas_ws, SL_DS_BLAS_WORKSPACE, name, err);
    if (!st)
        st = upload_model(g, err);
    if (st) {
        g->cpu = NULL; /* the caller keeps the model when we fail */
        sl_deepseek_cuda_free(g);
        return st;
    }
    snprintf(desc, desc_cap, "%s", name);
    *out = g;
    return SL_OK;
}
