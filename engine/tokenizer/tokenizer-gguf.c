/* tokenizer-gguf.c: gathering the tokenizer from GGUF metadata
 * (tokenizer.ggml.*) and validating it before use. */
#include "tokenizer/bpe.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

static bool read_int(sl_gguf_type type, const unsigned char *p, int64_t *out)
{
    switch (type) {
    case SL_GGUF_UINT8: *out = p[0]; return true;
    case SL_GGUF_INT8: *out = (int8_t)p[0]; return true;
    case SL_GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); *out = v; return true; }
    case SL_GGUF_INT16: { int16_t v; memcpy(&v, p, 2); *out = v; return true; }
    case SL_GGUF_UINT32: { uint32_t v; memcpy(&v, p, 4); *out = v; return true; }
    case SL_GGUF_INT32: { int32_t v; memcpy(&v, p, 4); *out = v; return true; }
    case SL_GGUF_UINT64: {
        uint64_t v;
        memcpy(&v, p, 8);
        *out = v > INT64_MAX ? INT64_MAX : (int64_t)v;
        return true;
    }
    case SL_GGUF_INT64: { int64_t v; memcpy(&v, p, 8); *out = v; return true; }
    default: return false;
    }
}

static size_t int_size(sl_gguf_type type)
{
    switch (type) {
    case SL_GGUF_UINT8: case SL_GGUF_INT8: return 1;
    case SL_GGUF_UINT16: case SL_GGUF_INT16: return 2;
    case SL_GGUF_UINT32: case SL_GGUF_INT32: return 4;
    case SL_GGUF_UINT64: case SL_GGUF_INT64: return 8;
    default: return 0;
    }
}

/* An optional token id: -1 when the key is absent. */
static sl_status optional_id(const sl_gguf *g, const char *key, int64_t *out, sl_error *err)
{
    *out = -1;
    if (!sl_gguf_has(g, key))
        return SL_OK;
    return sl_gguf_get_i64(g, key, out, err);
}

static sl_status read_types(const sl_gguf *g, uint64_t n_tokens, int32_t **out, sl_error *err)
{
    const char *key = "tokenizer.ggml.token_type";
    *out = NULL;
    if (!sl_gguf_has(g, key))
        return SL_OK; /* all normal */
    sl_gguf_type et;
    const void *data;
    uint64_t n;
    sl_status st = sl_gguf_get_array(g, key, &et, &data, &n, err);
    if (st)
        return st;
    size_t es = int_size(et);
    if (es == 0)
        return sl_fail(err, SL_ERR_FORMAT, "%s: %s is not an array of integers", sl_gguf_path(g),
                       key);
    if (n != n_tokens)
        return sl_fail(err, SL_ERR_FORMAT, "%s: %s has %llu entries but there are %llu tokens",
                       sl_gguf_path(g), key, (unsigned long long)n,
                       (unsigned long long)n_tokens);
    int32_t *types = malloc((size_t)(n ? n : 1) * sizeof *types);
    if (!types)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory", sl_gguf_path(g));
    for (uint64_t i = 0; i < n; i++) {
        int64_t v = -1;
        read_int(et, (const unsigned char *)data + i * es, &v);
        types[i] = v < 0 || v > 255 ? -1 : (int32_t)v; /* -1 is reported as invalid */
    }
    *out = types;
    return SL_OK;
}

sl_status sl_tokenizer_from_gguf(const sl_gguf *g, sl_tokenizer **out, sl_error *err)
{
    if (!g || !out)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "tokenizer: no GGUF file given");
    const char *path = sl_gguf_path(g);
    sl_tokenizer_parts p = {.source = path};
    sl_status st = sl_gguf_get_string(g, "tokenizer.ggml.model", &p.model, err);
    if (st)
        return st;
    if (sl_gguf_has(g, "tokenizer.ggml.pre") &&
        (st = sl_gguf_get_string(g, "tokenizer.ggml.pre", &p.pre, err)))
        return st;
    /* A missing tokenizer.ggml.pre means "default" (as llama.cpp reads it). */
    if (!(p.model.len == 4 && memcmp(p.model.ptr, "gpt2", 4) == 0))
        return sl_fail(err, SL_ERR_UNSUPPORTED,
                       "%s: tokenizer model '%.*s' is not supported (supported: gpt2, byte-level BPE)",
                       path, (int)(p.model.len > 64 ? 64 : p.model.len), p.model.ptr);
    if ((st = sl_gguf_get_string_array(g, "tokenizer.ggml.tokens", &p.tokens, &p.n_tokens, err)))
        return st;
    if ((st = sl_gguf_get_string_array(g, "tokenizer.ggml.merges", &p.merges, &p.n_merges, err)))
        return st;
    if ((st = optional_id(g, "tokenizer.ggml.bos_token_id", &p.bos, err)) ||
        (st = optional_id(g, "tokenizer.ggml.eos_token_id", &p.eos, err)) ||
        (st = optional_id(g, "tokenizer.ggml.unknown_token_id", &p.unk, err)) ||
        (st = optional_id(g, "tokenizer.ggml.padding_token_id", &p.pad, err)))
        return st;
    /* Unknown and padding ids are not used by byte-level BPE: out of range is none. */
    if (p.unk >= (int64_t)p.n_tokens || p.unk < -1)
        p.unk = -1;
    if (p.pad >= (int64_t)p.n_tokens || p.pad < -1)
        p.pad = -1;
    if (sl_gguf_has(g, "tokenizer.ggml.add_bos_token") &&
        (st = sl_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &p.add_bos, err)))
        return st;
    int32_t *types = NULL;
    if ((st = read_types(g, p.n_tokens, &types, err)))
        return st;
    p.types = types;
    st = sl_tokenizer_from_parts(&p, out, err);
    free(types);
    return st;
}
