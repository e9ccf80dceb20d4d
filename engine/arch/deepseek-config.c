#include "arch/deepseek-config.h"

#include "error.h"

#include <math.h>
#include <string.h>

typedef struct {
    const sl_json *obj;
    const char *path;
    sl_error *err;
} reader;

/* An integer key in [lo, hi]; absent (or null) gives fallback, unless required. */
static sl_status get_int(const reader *r, const char *key, bool required, int fallback, int lo,
                         int hi, int *out)
{
    const sl_json *v = sl_json_object_get(r->obj, key);
    if (!v || sl_json_type_of(v) == SL_JSON_NULL) {
        if (required)
            return sl_fail(r->err, SL_ERR_FORMAT, "%s: key '%s' is missing", r->path, key);
        *out = fallback;
        return SL_OK;
    }
    int64_t x;
    if (!sl_json_int64(v, &x))
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: key '%s' must be an integer, not a %s", r->path,
                       key, sl_json_type_name(sl_json_type_of(v)));
    if (x < lo || x > hi)
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: key '%s' = %lld is outside %d … %d", r->path,
                       key, (long long)x, lo, hi);
    *out = (int)x;
    return SL_OK;
}

static sl_status get_float(const reader *r, const char *key, float fallback, float lo, float hi,
                           float *out)
{
    const sl_json *v = sl_json_object_get(r->obj, key);
    if (!v || sl_json_type_of(v) == SL_JSON_NULL) {
        *out = fallback;
        return SL_OK;
    }
    double x;
    if (!sl_json_double(v, &x))
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: key '%s' must be a number", r->path, key);
    if (!(x >= lo && x <= hi))
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: key '%s' = %g is outside %g … %g", r->path, key,
                       x, (double)lo, (double)hi);
    *out = (float)x;
    return SL_OK;
}

static sl_status get_bool(const reader *r, const char *key, bool fallback, bool *out)
{
    const sl_json *v = sl_json_object_get(r->obj, key);
    if (!v || sl_json_type_of(v) == SL_JSON_NULL) {
        *out = fallback;
        return SL_OK;
    }
    if (!sl_json_bool(v, out))
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: key '%s' must be true or false", r->path, key);
    return SL_OK;
}

/* A string key that, when present, must be one of the values we implement. */
static sl_status expect_string(const reader *r, const char *key, const char *want)
{
    const sl_json *v = sl_json_object_get(r->obj, key);
    if (!v || sl_json_type_of(v) == SL_JSON_NULL)
        return SL_OK;
    const char *s = sl_json_string(v, NULL);
    if (!s)
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: key '%s' must be a string", r->path, key);
    if (strcmp(s, want) != 0)
        return sl_fail(r->err, SL_ERR_UNSUPPORTED, "%s: %s '%.64s' is not supported (only '%s')",
                       r->path, key, s, want);
    return SL_OK;
}

/* A token id given as an integer or as a list whose first entry counts. */
static sl_status get_token(const reader *r, const char *key, int vocab, int *out)
{
    const sl_json *v = sl_json_object_get(r->obj, key);
    if (sl_json_type_of(v) == SL_JSON_ARRAY)
        v = sl_json_array_at(v, 0);
    int64_t x;
    if (!v || sl_json_type_of(v) == SL_JSON_NULL) {
        *out = -1;
        return SL_OK;
    }
    if (!sl_json_int64(v, &x) || x < 0 || x >= vocab)
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: key '%s' is not a token id below %d", r->path,
                       key, vocab);
    *out = (int)x;
    return SL_OK;
}

static sl_status read_rope(const reader *top, sl_ds_config *c)
{
    sl_status st = get_float(top, "rope_theta", 10000.0f, 1.0f, 1e12f, &c->rope_theta);
    const char *key = "rope_scaling";
    const sl_json *rs = sl_json_object_get(top->obj, key);
    if (!rs || sl_json_type_of(rs) == SL_JSON_NULL)
        rs = sl_json_object_get(top->obj, key = "rope_parameters");
    c->yarn_factor = 1.0f;
    if (st || !rs || sl_json_type_of(rs) == SL_JSON_NULL)
        return st;
    if (sl_json_type_of(rs) != SL_JSON_OBJECT)
        return sl_fail(top->err, SL_ERR_FORMAT, "%s: key '%s' must be an object", top->path, key);
    reader r = {rs, top->path, top->err};
    const char *type = sl_json_string(sl_json_object_get(rs, "type"), NULL);
    if (!type)
        type = sl_json_string(sl_json_object_get(rs, "rope_type"), NULL);
    if (!type || strcmp(type, "default") == 0) {
        if (sl_json_object_get(rs, "rope_theta"))
            st = get_float(&r, "rope_theta", c->rope_theta, 1.0f, 1e12f, &c->rope_theta);
        return st;
    }
    if (strcmp(type, "yarn") != 0)
        return sl_fail(top->err, SL_ERR_UNSUPPORTED, "%s: %s type '%.32s' is not supported "
                       "(yarn or default)", top->path, key, type);
    if (sl_json_object_get(rs, "rope_theta"))
        st = get_float(&r, "rope_theta", c->rope_theta, 1.0f, 1e12f, &c->rope_theta);
    if (!st)
        st = get_float(&r, "factor", 1.0f, 1.0f, 1e6f, &c->yarn_factor);
    if (!st)
        st = get_int(&r, "original_max_position_embeddings", true, 0, 1, 1 << 30, &c->yarn_original);
    if (!st)
        st = get_float(&r, "beta_fast", 32.0f, 1e-3f, 1e6f, &c->yarn_beta_fast);
    if (!st)
        st = get_float(&r, "beta_slow", 1.0f, 1e-3f, 1e6f, &c->yarn_beta_slow);
    if (!st)
        st = get_float(&r, "mscale", 0.0f, 0.0f, 1e3f, &c->yarn_mscale);
    if (!st)
        st = get_float(&r, "mscale_all_dim", 0.0f, 0.0f, 1e3f, &c->yarn_mscale_all_dim);
    if (!st && sl_json_object_get(rs, "attention_factor"))
        return sl_fail(top->err, SL_ERR_UNSUPPORTED, "%s: %s.attention_factor is not supported",
                       top->path, key);
    return st;
}

static sl_status read_quantisation(const reader *top, sl_ds_config *c)
{
    const sl_json *q = sl_json_object_get(top->obj, "quantization_config");
    c->fp8 = false;
    c->fp8_block[0] = c->fp8_block[1] = 128;
    if (!q || sl_json_type_of(q) == SL_JSON_NULL)
        return SL_OK;
    if (sl_json_type_of(q) != SL_JSON_OBJECT)
        return sl_fail(top->err, SL_ERR_FORMAT, "%s: key 'quantization_config' must be an object",
                       top->path);
    reader r = {q, top->path, top->err};
    sl_status st = expect_string(&r, "quant_method", "fp8");
    if (!st)
        st = expect_string(&r, "fmt", "e4m3");
    const sl_json *block = sl_json_object_get(q, "weight_block_size");
    for (size_t i = 0; !st && block && i < 2; i++) {
        int64_t x;
        if (sl_json_array_size(block) != 2 || !sl_json_int64(sl_json_array_at(block, i), &x) ||
            x < 1 || x > 65536)
            return sl_fail(top->err, SL_ERR_FORMAT, "%s: quantization_config.weight_block_size "
                           "must be two positive integers", top->path);
        c->fp8_block[i] = (int)x;
    }
    c->fp8 = st == SL_OK;
    return st;
}

static sl_status read_dims(const reader *r, sl_ds_config *c)
{
    enum { DIM = 1 << 20 };
    sl_status st;
    if ((st = get_int(r, "vocab_size", true, 0, 1, 1 << 24, &c->vocab)) ||
        (st = get_int(r, "hidden_size", true, 0, 1, DIM, &c->hidden)) ||
        (st = get_int(r, "num_hidden_layers", true, 0, 1, 1024, &c->n_layers)) ||
        (st = get_int(r, "num_attention_heads", true, 0, 1, 4096, &c->n_heads)) ||
        (st = get_int(r, "kv_lora_rank", true, 0, 1, DIM, &c->kv_lora)) ||
        (st = get_int(r, "qk_nope_head_dim", true, 0, 1, DIM, &c->qk_nope)) ||
        (st = get_int(r, "qk_rope_head_dim", true, 0, 2, DIM, &c->qk_rope)) ||
        (st = get_int(r, "v_head_dim", true, 0, 1, DIM, &c->v_head)) ||
        (st = get_int(r, "intermediate_size", true, 0, 1, DIM, &c->inter)) ||
        (st = get_int(r, "moe_intermediate_size", true, 0, 1, DIM, &c->moe_inter)) ||
        (st = get_int(r, "first_k_dense_replace", false, 0, 0, c->n_layers, &c->first_dense)) ||
        (st = get_int(r, "n_routed_experts", true, 0, 1, 4096, &c->n_experts)) ||
        (st = get_int(r, "n_shared_experts", false, 0, 0, 64, &c->n_shared)) ||
        (st = get_int(r, "n_group", false, 1, 1, c->n_experts, &c->n_group)) ||
        (st = get_int(r, "topk_group", false, c->n_group, 1, c->n_group, &c->topk_group)) ||
        (st = get_int(r, "num_experts_per_tok", true, 0, 1, c->n_experts, &c->experts_per_tok)) ||
        (st = get_int(r, "index_n_heads", true, 0, 1, 4096, &c->index_heads)) ||
        (st = get_int(r, "index_head_dim", true, 0, 1, DIM, &c->index_dim)) ||
        (st = get_int(r, "index_topk", true, 0, 1, 1 << 24, &c->index_topk)) ||
        (st = get_int(r, "max_position_embeddings", false, 4096, 1, 1 << 24, &c->max_positions)) ||
        (st = get_int(r, "moe_layer_freq", false, 1, 1, 1, &(int){0})))
        return st;
    const sl_json *q = sl_json_object_get(r->obj, "q_lora_rank");
    if (q && sl_json_type_of(q) == SL_JSON_NULL)
        return sl_fail(r->err, SL_ERR_UNSUPPORTED, "%s: q_lora_rank null (a direct query "
                       "projection) is not supported; DeepSeek-V3.2 has one", r->path);
    return get_int(r, "q_lora_rank", true, 0, 1, DIM, &c->q_lora);
}

static sl_status check_consistency(const reader *r, const sl_ds_config *c)
{
    int kv_heads;
    sl_status st = get_int(r, "num_key_value_heads", false, c->n_heads, 1, 4096, &kv_heads);
    if (st)
        return st;
    if (kv_heads != c->n_heads)
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: num_key_value_heads %d differs from "
                       "num_attention_heads %d, which MLA needs equal", r->path, kv_heads, c->n_heads);
    if (c->qk_rope % 2 || c->index_dim < c->qk_rope)
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: qk_rope_head_dim %d must be even and at most "
                       "index_head_dim %d", r->path, c->qk_rope, c->index_dim);
    if (c->n_experts % c->n_group)
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: %d routed experts do not split into %d groups",
                       r->path, c->n_experts, c->n_group);
    if (c->experts_per_tok > c->topk_group * (c->n_experts / c->n_group))
        return sl_fail(r->err, SL_ERR_FORMAT, "%s: num_experts_per_tok %d exceeds the %d experts "
                       "of topk_group %d groups", r->path, c->experts_per_tok,
                       c->topk_group * (c->n_experts / c->n_group), c->topk_group);
    if ((st = expect_string(r, "model_type", "deepseek_v32")) ||
        (st = expect_string(r, "scoring_func", "sigmoid")) ||
        (st = expect_string(r, "topk_method", "noaux_tc")) ||
        (st = expect_string(r, "hidden_act", "silu")))
        return st;
    return SL_OK;
}

sl_status sl_ds_config_read(const sl_json *config, const char *path, sl_ds_config *out,
                            sl_error *err)
{
    if (sl_json_type_of(config) != SL_JSON_OBJECT)
        return sl_fail(err, SL_ERR_FORMAT, "%s: not a JSON object", path);
    reader r = {config, path, err};
    sl_ds_config c = {0};
    sl_status st;
    if (!sl_json_object_get(config, "model_type"))
        return sl_fail(err, SL_ERR_FORMAT, "%s: key 'model_type' is missing", path);
    if ((st = expect_string(&r, "model_type", "deepseek_v32")) || (st = read_dims(&r, &c)) ||
        (st = check_consistency(&r, &c)) || (st = read_rope(&r, &c)) ||
        (st = read_quantisation(&r, &c)) ||
        (st = get_bool(&r, "norm_topk_prob", true, &c.norm_topk)) ||
        (st = get_bool(&r, "tie_word_embeddings", false, &c.tied)) ||
        (st = get_float(&r, "routed_scaling_factor", 1.0f, 0.0f, 1e6f, &c.routed_scale)) ||
        (st = get_float(&r, "rms_norm_eps", 1e-6f, 1e-12f, 1.0f, &c.norm_eps)) ||
        (st = get_token(&r, "bos_token_id", c.vocab, &c.bos)) ||
        (st = get_token(&r, "eos_token_id", c.vocab, &c.eos)))
        return st;
    *out = c;
    return SL_OK;
}

/* ---- RoPE ------------------------------------------------------------------- */

static double yarn_mscale(double factor, double mscale)
{
    return factor <= 1.0 ? 1.0 : 0.1 * mscale * log(factor) + 1.0;
}

/* The dimension index whose wavelength makes num_rotations turns over the
 * original context (YaRN's correction range). */
static double correction_dim(double rotations, int dim, double base, int original)
{
    return dim * log(original / (rotations * 2.0 * 3.14159265358979323846)) / (2.0 * log(base));
}

void sl_ds_rope_freqs(const sl_ds_config *c, float *inv_freq)
{
    int dim = c->qk_rope, half = dim / 2;
    double lo = 0, hi = 0;
    if (c->yarn_factor > 1.0f) {
        lo = floor(correction_dim(c->yarn_beta_fast, dim, c->rope_theta, c->yarn_original));
        hi = ceil(correction_dim(c->yarn_beta_slow, dim, c->rope_theta, c->yarn_original));
        lo = lo < 0 ? 0 : lo;
        hi = hi > dim - 1 ? dim - 1 : hi;
        if (lo == hi)
            hi += 0.001; /* as the reference does, to avoid dividing by zero */
    }
    for (int i = 0; i < half; i++) {
        /* base^(2i/dim) in float32, as both references compute it */
        float pos_freq = powf(c->rope_theta, (float)(2 * i) / (float)dim);
        double extrapolation = 1.0 / pos_freq;
        if (c->yarn_factor <= 1.0f) {
            inv_freq[i] = (float)extrapolation;
            continue;
        }
        double interpolation = 1.0 / ((double)c->yarn_factor * pos_freq);
        double ramp = (i - lo) / (hi - lo);
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        double keep = 1.0 - ramp; /* weight of extrapolation */
        inv_freq[i] = (float)(interpolation * (1.0 - keep) + extrapolation * keep);
    }
}

float sl_ds_rope_attention_factor(const sl_ds_config *c)
{
    if (c->yarn_factor <= 1.0f)
        return 1.0f;
    if (c->yarn_mscale > 0 && c->yarn_mscale_all_dim > 0)
        return (float)(yarn_mscale(c->yarn_factor, c->yarn_mscale) /
                       yarn_mscale(c->yarn_factor, c->yarn_mscale_all_dim));
    return (float)yarn_mscale(c->yarn_factor, 1.0);
}

float sl_ds_softmax_scale(const sl_ds_config *c)
{
    double scale = 1.0 / sqrt((double)(c->qk_nope + c->qk_rope));
    if (c->yarn_factor > 1.0f && c->yarn_mscale_all_dim > 0) {
        double m = yarn_mscale(c->yarn_factor, c->yarn_mscale_all_dim);
        scale *= m * m;
    }
    return (float)scale;
}
