#include "dsa/indexer.h"

#include "cpu/ops.h"
#include "error.h"
#include "model/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct sl_indexer {
    int n_heads, head_dim, rope_dims, top_k, n_layers;
    float eps;
    float *inv_freq;            /* rope_dims/2 */
    sl_indexer_layer **layers;  /* n_layers; NULL: dense layer */
    float **owned;              /* every float32 array this indexer allocated */
    size_t n_owned;
};

void sl_indexer_free(sl_indexer *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->n_owned; i++)
        free(ix->owned[i]);
    free(ix->owned);
    for (int l = 0; ix->layers && l < ix->n_layers; l++)
        free(ix->layers[l]);
    free(ix->layers);
    free(ix->inv_freq);
    free(ix);
}

int sl_indexer_heads(const sl_indexer *ix) { return ix->n_heads; }
int sl_indexer_head_dim(const sl_indexer *ix) { return ix->head_dim; }
int sl_indexer_top_k(const sl_indexer *ix) { return ix->top_k; }
int sl_indexer_rope_dims(const sl_indexer *ix) { return ix->rope_dims; }
float sl_indexer_norm_eps(const sl_indexer *ix) { return ix->eps; }

const sl_indexer_layer *sl_indexer_layer_at(const sl_indexer *ix, int layer)
{
    return layer >= 0 && layer < ix->n_layers ? ix->layers[layer] : NULL;
}

/* A whole number from metadata key, in [lo, hi]. */
static sl_status meta_int(const sl_safetensors *st, const char *key, long lo, long hi, int *out,
                          sl_error *err)
{
    const char *v = sl_safetensors_metadata(st, key);
    if (!v)
        return sl_fail(err, SL_ERR_FORMAT, "%s: metadata '%s' is missing", sl_safetensors_path(st), key);
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return sl_fail(err, SL_ERR_FORMAT, "%s: metadata '%s' = '%.40s' is not a whole number in %ld … %ld",
                       sl_safetensors_path(st), key, v, lo, hi);
    *out = (int)n;
    return SL_OK;
}

/* Copies tensor name of shape [rows, cols] (or [rows] when cols is 0) to float32. */
static sl_status load_f32(sl_indexer *ix, const sl_safetensors *st, const char *name, int64_t rows,
                          int64_t cols, float **out, sl_error *err)
{
    const sl_st_tensor *t = sl_safetensors_find(st, name);
    const char *path = sl_safetensors_path(st);
    if (!t)
        return sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s' is missing", path, name);
    bool shape_ok = cols ? t->n_dims == 2 && t->dims[0] == (uint64_t)rows && t->dims[1] == (uint64_t)cols
                         : t->n_dims == 1 && t->dims[0] == (uint64_t)rows;
    if (!shape_ok)
        return sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s' should have shape [%lld%s%lld]", path,
                       name, (long long)rows, cols ? ", " : "", cols ? (long long)cols : 0LL);
    size_t n = (size_t)t->n_elements;
    float **owned = realloc(ix->owned, (ix->n_owned + 1) * sizeof *owned);
    if (owned)
        ix->owned = owned;
    float *data = owned ? malloc((n ? n : 1) * sizeof(float)) : NULL;
    if (!data)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory for '%s'", path, name);
    ix->owned[ix->n_owned++] = data;
    if (!sl_st_to_f32(t, 0, n, data))
        return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s; F32, F16 or BF16 expected",
                       path, name, sl_st_dtype_name(t->dtype));
    for (size_t i = 0; i < n; i++)
        if (!isfinite(data[i]))
            return sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s' holds a non-finite value at %zu", path,
                           name, i);
    *out = data;
    return SL_OK;
}

static sl_matrix f32_matrix(const float *data, int64_t rows, int64_t cols)
{
    return (sl_matrix){"indexer", 0 /* F32 */, rows, cols, data, (size_t)cols * sizeof(float)};
}

static sl_status load_layer(sl_indexer *ix, const sl_safetensors *st, int l, int n_embd, sl_error *err)
{
    sl_indexer_layer *layer = calloc(1, sizeof *layer);
    if (!layer)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory", sl_safetensors_path(st));
    ix->layers[l] = layer;
    char name[96];
    int64_t H = ix->n_heads, D = ix->head_dim;
    float *wq, *wk, *wp, *nw, *nb;
    sl_status s;
#define NAME(what) (snprintf(name, sizeof name, "layers.%d.%s", l, what), name)
    if ((s = load_f32(ix, st, NAME("wq"), H * D, n_embd, &wq, err)) ||
        (s = load_f32(ix, st, NAME("wk"), D, n_embd, &wk, err)) ||
        (s = load_f32(ix, st, NAME("weights_proj"), H, n_embd, &wp, err)) ||
        (s = load_f32(ix, st, NAME("k_norm.weight"), D, 0, &nw, err)) ||
        (s = load_f32(ix, st, NAME("k_norm.bias"), D, 0, &nb, err)))
        return s;
#undef NAME
    layer->wq = f32_matrix(wq, H * D, n_embd);
    layer->wk = f32_matrix(wk, D, n_embd);
    layer->wp = f32_matrix(wp, H, n_embd);
    layer->norm_weight = nw;
    layer->norm_bias = nb;
    return SL_OK;
}

/* "0,1,5": marks those layers; every layer must exist and appear once. */
static sl_status parse_layers(const sl_safetensors *st, const char *list, int n_layers, bool *uses,
                              sl_error *err)
{
    const char *p = list;
    while (*p) {
        char *end;
        errno = 0;
        long l = strtol(p, &end, 10);
        if (errno || end == p || l < 0 || l >= n_layers || uses[l] || (*end && *end != ','))
            return sl_fail(err, SL_ERR_FORMAT,
                           "%s: metadata 'layers' = '%.60s' is not a list of distinct layers below %d",
                           sl_safetensors_path(st), list, n_layers);
        uses[l] = true;
        p = *end ? end + 1 : end;
    }
    return SL_OK;
}

static sl_status check_identity(const sl_safetensors *st, const sl_model_info *info,
                                const char *model_sha256, sl_error *err)
{
    const char *path = sl_safetensors_path(st);
    const char *format = sl_safetensors_metadata(st, "format");
    const char *version = sl_safetensors_metadata(st, "version");
    if (!format || strcmp(format, "sightline-indexer") != 0)
        return sl_fail(err, SL_ERR_FORMAT, "%s: not a Sightline indexer file (metadata 'format' is %s%s%s)",
                       path, format ? "'" : "missing", format ? format : "", format ? "'" : "");
    if (!version || strcmp(version, "1") != 0)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: indexer format version '%s' is not supported (1 is)",
                       path, version ? version : "(missing)");
    const char *sha = sl_safetensors_metadata(st, "model_sha256");
    if (!sha || strcmp(sha, model_sha256) != 0)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT,
                       "%s: this indexer belongs to another model (model_sha256 %.64s, the model "
                       "loaded is %s%s%s)",
                       path, sha ? sha : "missing", model_sha256,
                       sl_safetensors_metadata(st, "model") ? ", it names " : "",
                       sl_safetensors_metadata(st, "model") ? sl_safetensors_metadata(st, "model") : "");
    (void)info;
    return SL_OK;
}

sl_status sl_indexer_load(const char *path, const sl_model_info *info, const char *model_sha256,
                          sl_indexer **out, sl_error *err)
{
    sl_safetensors *st = NULL;
    sl_status s = sl_safetensors_open(path, &st, err);
    if (s)
        return s;
    sl_indexer *ix = calloc(1, sizeof *ix);
    bool *uses = calloc((size_t)info->n_layers, sizeof *uses);
    if (!ix || !uses)
        s = sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory", path);
    if (!s)
        s = check_identity(st, info, model_sha256, err);
    if (!s && !(s = meta_int(st, "n_heads", 1, 1024, &ix->n_heads, err)) &&
        !(s = meta_int(st, "head_dim", 2, 4096, &ix->head_dim, err)) &&
        !(s = meta_int(st, "rope_dims", 0, 4096, &ix->rope_dims, err)) &&
        !(s = meta_int(st, "top_k", 1, 1 << 24, &ix->top_k, err)) &&
        (ix->rope_dims > ix->head_dim || ix->rope_dims % 2))
        s = sl_fail(err, SL_ERR_FORMAT, "%s: rope_dims %d does not fit head_dim %d", path,
                    ix->rope_dims, ix->head_dim);
    const char *eps = s ? NULL : sl_safetensors_metadata(st, "norm_eps");
    ix->eps = eps ? strtof(eps, NULL) : 1e-6f;
    if (!s && !(ix->eps > 0.0f && ix->eps < 1.0f))
        s = sl_fail(err, SL_ERR_FORMAT, "%s: metadata 'norm_eps' is out of range", path);
    const char *list = s ? NULL : sl_safetensors_metadata(st, "layers");
    if (!s && !list)
        s = sl_fail(err, SL_ERR_FORMAT, "%s: metadata 'layers' is missing", path);
    if (!s)
        s = parse_layers(st, list, info->n_layers, uses, err);
    ix->n_layers = info->n_layers;
    if (!s && !(ix->layers = calloc((size_t)info->n_layers, sizeof *ix->layers)))
        s = sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory", path);
    for (int l = 0; !s && l < info->n_layers; l++)
        if (uses[l])
            s = load_layer(ix, st, l, info->n_embd, err);
    if (!s && !(ix->inv_freq = malloc(((size_t)ix->rope_dims / 2 + 1) * sizeof(float))))
        s = sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory", path);
    if (!s)
        sl_rope_inv_freq(ix->inv_freq, ix->rope_dims, info->rope_theta);
    free(uses);
    sl_safetensors_close(st);
    if (s) {
        sl_indexer_free(ix);
        return s;
    }
    *out = ix;
    return SL_OK;
}

/* ---- forward ------------------------------------------------------------ */

void sl_indexer_project(const sl_indexer *ix, const sl_indexer_layer *layer, sl_pool *pool,
                        sl_matmul_scratch *scratch, const float *x, size_t n, size_t pos, float *q,
                        float *w, float *keys)
{
    size_t H = (size_t)ix->n_heads, D = (size_t)ix->head_dim;
    sl_matmul(pool, scratch, &layer->wq, x, n, q);
    sl_matmul(pool, scratch, &layer->wk, x, n, keys);
    sl_matmul(pool, scratch, &layer->wp, x, n, w);
    float scale = 1.0f / sqrtf((float)(H * D));
    for (size_t t = 0; t < n; t++) {
        for (size_t h = 0; h < H; h++) {
            sl_rope_neox(q + (t * H + h) * D, ix->rope_dims, pos + t, ix->inv_freq);
            w[t * H + h] *= scale;
        }
        sl_layernorm(keys + t * D, D, layer->norm_weight, layer->norm_bias, ix->eps);
        sl_rope_neox(keys + t * D, ix->rope_dims, pos + t, ix->inv_freq);
    }
}

void sl_lightning_scores(size_t H, size_t D, const float *q, const float *w, const float *keys,
                         size_t s0, size_t n, float *out)
{
    for (size_t j = 0; j < n; j++) {
        const float *k = keys + (s0 + j) * D;
        float score = 0.0f;
        for (size_t h = 0; h < H; h++) {
            float dot = sl_dot_f32(q + h * D, k, D);
            score += w[h] * (dot > 0.0f ? dot : 0.0f);
        }
        out[j] = score;
    }
}

void sl_indexer_scores(const sl_indexer *ix, const float *q, const float *w, const float *keys,
                       size_t s0, size_t n, float *out)
{
    sl_lightning_scores((size_t)ix->n_heads, (size_t)ix->head_dim, q, w, keys, s0, n, out);
}
