/* safetensors.c: a validating reader of .safetensors files over mmap.
 *
 * The header is parsed with model/json.c and kept for the life of the
 * reader: tensor names, metadata keys and values point into its arena.
 * Beyond what safetensors.h lists, the reader holds files to the rules of
 * the reference implementation (the Rust crate behind the safetensors
 * Python package): the header starts with '{', and the tensors cover the
 * data section exactly, without holes or bytes after the last one. It is
 * stricter in two ways: a tensor entry with members other than dtype, shape
 * and data_offsets is refused, and so are duplicate keys (the JSON parser
 * refuses them), where the crate keeps the last. */
#include "model/safetensors.h"

#include "error.h"
#include "model/mapped-file.h"
#include "model/dequant.h"
#include "model/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef unsigned long long ull;

struct sl_safetensors {
    char *path;
    const uint8_t *map;
    size_t size;
    uint64_t header_len;
    uint64_t data_size;
    sl_json *header;
    const sl_json *metadata; /* an object of strings, or NULL */
    sl_st_tensor *tensors;
    int64_t n_tensors;
    const sl_st_tensor **by_name; /* the tensors sorted by name */
};

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [SL_ST_BOOL] = {"BOOL", 1},       [SL_ST_U8] = {"U8", 1},     [SL_ST_I8] = {"I8", 1},
    [SL_ST_I16] = {"I16", 2},         [SL_ST_U16] = {"U16", 2},   [SL_ST_F16] = {"F16", 2},
    [SL_ST_BF16] = {"BF16", 2},       [SL_ST_I32] = {"I32", 4},   [SL_ST_U32] = {"U32", 4},
    [SL_ST_F32] = {"F32", 4},         [SL_ST_F64] = {"F64", 8},   [SL_ST_I64] = {"I64", 8},
    [SL_ST_U64] = {"U64", 8},         [SL_ST_F8_E4M3] = {"F8_E4M3", 1},
    [SL_ST_F8_E5M2] = {"F8_E5M2", 1},
};

#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

const char *sl_st_dtype_name(sl_st_dtype dtype)
{
    return (size_t)dtype < N_DTYPES ? dtypes[dtype].name : NULL;
}

size_t sl_st_dtype_size(sl_st_dtype dtype)
{
    return (size_t)dtype < N_DTYPES ? dtypes[dtype].size : 0;
}

/* ---- errors ----------------------------------------------------------------- */

typedef struct {
    sl_safetensors *st;
    sl_error *err;
    char ctx[4 * SL_QUOTE_MAX + 32]; /* "tensor 'x'" or "__metadata__ key 'k'" */
} reader;

static sl_status fail(reader *r, sl_status code, const char *fmt, ...) SL_PRINTF(3, 4);

static sl_status fail(reader *r, sl_status code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sl_fail(r->err, code, "%s: %s%s%s", r->st->path, r->ctx, r->ctx[0] ? ": " : "", msg);
}

static void set_ctx(reader *r, const char *what, const char *name, size_t len)
{
    char shown[4 * SL_QUOTE_MAX + 8];
    sl_quote(shown, sizeof shown, name, len);
    snprintf(r->ctx, sizeof r->ctx, "%s '%s'", what, shown);
}

/* ---- the header ----------------------------------------------------------------- */

static uint64_t load_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static sl_status read_header(reader *r)
{
    sl_safetensors *st = r->st;
    if (st->size < 8)
        return fail(r, SL_ERR_FORMAT,
                    "the file has %zu bytes, fewer than the 8 of the header length", st->size);
    uint64_t n = load_u64(st->map);
    uint64_t room = (uint64_t)st->size - 8;
    if (n == 0)
        return fail(r, SL_ERR_FORMAT, "the header length is 0");
    if (n > SL_ST_MAX_HEADER_BYTES)
        return fail(r, SL_ERR_FORMAT, "the header length %llu exceeds the limit of %llu bytes",
                    (ull)n, (ull)SL_ST_MAX_HEADER_BYTES);
    if (n > room)
        return fail(r, SL_ERR_FORMAT,
                    "the header length %llu runs past the end of the file (%llu bytes after the "
                    "length)",
                    (ull)n, (ull)room);
    st->header_len = n;
    st->data_size = room - n;
    if (st->map[8] != '{')
        return fail(r, SL_ERR_FORMAT, "the header does not start with '{' (found byte 0x%02X)",
                    (unsigned)st->map[8]);
    sl_error jerr;
    sl_status s = sl_json_parse((const char *)st->map + 8, (size_t)n, &st->header, &jerr);
    if (s != SL_OK)
        return fail(r, s, "header (from file offset 8): %s", jerr.message);
    if (sl_json_type_of(st->header) != SL_JSON_OBJECT)
        return fail(r, SL_ERR_FORMAT, "the header is a JSON %s, not an object",
                    sl_json_type_name(sl_json_type_of(st->header)));
    return SL_OK;
}

static sl_status read_metadata(reader *r, const sl_json *meta)
{
    snprintf(r->ctx, sizeof r->ctx, "__metadata__");
    if (sl_json_type_of(meta) != SL_JSON_OBJECT)
        return fail(r, SL_ERR_FORMAT, "a JSON %s, not an object of strings",
                    sl_json_type_name(sl_json_type_of(meta)));
    for (size_t i = 0; i < sl_json_object_size(meta); i++) {
        const char *key;
        size_t key_len, len;
        const sl_json *v = sl_json_object_at(meta, i, &key, &key_len);
        set_ctx(r, "__metadata__ key", key, key_len);
        const char *value = sl_json_string(v, &len);
        if (!value)
            return fail(r, SL_ERR_FORMAT, "the value is a JSON %s, not a string",
                        sl_json_type_name(sl_json_type_of(v)));
        if (memchr(key, 0, key_len))
            return fail(r, SL_ERR_UNSUPPORTED, "the key contains a NUL character");
        if (memchr(value, 0, len))
            return fail(r, SL_ERR_UNSUPPORTED, "the value contains a NUL character");
    }
    r->st->metadata = meta;
    r->ctx[0] = 0;
    return SL_OK;
}

static bool key_is(const char *key, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(key, want, len) == 0;
}

/* A non-negative integer member of an array, for shape and data_offsets. */
static sl_status read_count(reader *r, const sl_json *v, const char *field, size_t i, uint64_t *out)
{
    if (sl_json_uint64(v, out))
        return SL_OK;
    const char *text = sl_json_number_text(v, NULL);
    if (text) {
        char shown[48];
        sl_quote(shown, sizeof shown, text, strlen(text));
        return fail(r, SL_ERR_FORMAT, "%s[%zu] is %s, not an integer in 0..2^64-1", field, i, shown);
    }
    return fail(r, SL_ERR_FORMAT, "%s[%zu] is a JSON %s, not a non-negative integer", field, i,
                sl_json_type_name(sl_json_type_of(v)));
}

static void format_shape(char *buf, size_t cap, const sl_st_tensor *t)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (uint32_t d = 0; d < t->n_dims && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%llu", d ? ", " : "", (ull)t->dims[d]);
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
}

static sl_status read_tensor(reader *r, const char *name, size_t name_len, const sl_json *entry,
                             sl_st_tensor *t, uint64_t offsets[2])
{
    set_ctx(r, "tensor", name, name_len);
    if (memchr(name, 0, name_len))
        return fail(r, SL_ERR_UNSUPPORTED, "the name contains a NUL character");
    if (sl_json_type_of(entry) != SL_JSON_OBJECT)
        return fail(r, SL_ERR_FORMAT, "the entry is a JSON %s, not an object",
                    sl_json_type_name(sl_json_type_of(entry)));
    for (size_t i = 0; i < sl_json_object_size(entry); i++) {
        const char *key;
        size_t key_len;
        sl_json_object_at(entry, i, &key, &key_len);
        if (!key_is(key, key_len, "dtype") && !key_is(key, key_len, "shape") &&
            !key_is(key, key_len, "data_offsets")) {
            char shown[4 * SL_QUOTE_MAX + 8];
            sl_quote(shown, sizeof shown, key, key_len);
            return fail(r, SL_ERR_FORMAT,
                        "unexpected member '%s' (expected dtype, shape and data_offsets)", shown);
        }
    }
    const sl_json *dtype = sl_json_object_get(entry, "dtype");
    const sl_json *shape = sl_json_object_get(entry, "shape");
    const sl_json *offs = sl_json_object_get(entry, "data_offsets");
    if (!dtype || !shape || !offs)
        return fail(r, SL_ERR_FORMAT, "no %s", !dtype ? "dtype" : !shape ? "shape" : "data_offsets");

    size_t dlen;
    const char *dname = sl_json_string(dtype, &dlen);
    if (!dname)
        return fail(r, SL_ERR_FORMAT, "dtype is a JSON %s, not a string",
                    sl_json_type_name(sl_json_type_of(dtype)));
    size_t k = 0;
    while (k < N_DTYPES && !(strlen(dtypes[k].name) == dlen && !strcmp(dtypes[k].name, dname)))
        k++;
    if (k == N_DTYPES) {
        char shown[4 * SL_QUOTE_MAX + 8];
        sl_quote(shown, sizeof shown, dname, dlen);
        return fail(r, SL_ERR_UNSUPPORTED, "unknown dtype '%s'", shown);
    }
    t->dtype = (sl_st_dtype)k;

    if (sl_json_type_of(shape) != SL_JSON_ARRAY)
        return fail(r, SL_ERR_FORMAT, "shape is a JSON %s, not an array",
                    sl_json_type_name(sl_json_type_of(shape)));
    size_t n_dims = sl_json_array_size(shape);
    if (n_dims > SL_ST_MAX_DIMS)
        return fail(r, SL_ERR_UNSUPPORTED, "shape has %zu dimensions; at most %d are supported",
                    n_dims, SL_ST_MAX_DIMS);
    t->n_dims = (uint32_t)n_dims;
    uint64_t count = 1;
    bool overflow = false;
    for (size_t d = 0; d < n_dims; d++) {
        sl_status s = read_count(r, sl_json_array_at(shape, d), "shape", d, &t->dims[d]);
        if (s != SL_OK)
            return s;
        if (t->dims[d] != 0 && count > UINT64_MAX / t->dims[d])
            overflow = true;
        else
            count *= t->dims[d];
    }
    char shown_shape[SL_ST_MAX_DIMS * 22 + 4];
    format_shape(shown_shape, sizeof shown_shape, t);
    /* a zero dimension makes the count 0 even after an overflow */
    for (size_t d = 0; d < n_dims; d++)
        if (t->dims[d] == 0)
            overflow = false, count = 0;
    size_t esize = dtypes[k].size;
    if (overflow || count > UINT64_MAX / esize)
        return fail(r, SL_ERR_FORMAT, "shape %s of %s overflows 64-bit byte counts", shown_shape,
                    dtypes[k].name);
    t->n_elements = count;
    t->n_bytes = count * esize;

    if (sl_json_type_of(offs) != SL_JSON_ARRAY || sl_json_array_size(offs) != 2)
        return fail(r, SL_ERR_FORMAT, "data_offsets is not an array of two integers [begin, end]");
    for (size_t i = 0; i < 2; i++) {
        sl_status s = read_count(r, sl_json_array_at(offs, i), "data_offsets", i, &offsets[i]);
        if (s != SL_OK)
            return s;
    }
    if (offsets[1] < offsets[0])
        return fail(r, SL_ERR_FORMAT, "data_offsets [%llu, %llu] end before they begin",
                    (ull)offsets[0], (ull)offsets[1]);
    if (offsets[1] - offsets[0] != t->n_bytes)
        return fail(r, SL_ERR_FORMAT,
                    "data_offsets [%llu, %llu] hold %llu bytes, but shape %s of %s needs %llu",
                    (ull)offsets[0], (ull)offsets[1], (ull)(offsets[1] - offsets[0]), shown_shape,
                    dtypes[k].name, (ull)t->n_bytes);
    if (offsets[1] > r->st->data_size)
        return fail(r, SL_ERR_FORMAT,
                    "data_offsets [%llu, %llu] run past the end of the data section (%llu bytes)",
                    (ull)offsets[0], (ull)offsets[1], (ull)r->st->data_size);
    t->data = r->st->map + 8 + r->st->header_len + offsets[0];
    r->ctx[0] = 0;
    return SL_OK;
}

typedef struct {
    uint64_t begin, end;
    int64_t index;
} span;

static int compare_spans(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The tensors must tile the data section: no overlaps, holes or tail. */
static sl_status check_layout(reader *r, span *spans)
{
    sl_safetensors *st = r->st;
    qsort(spans, (size_t)st->n_tensors, sizeof *spans, compare_spans);
    uint64_t covered = 0;
    const span *last = NULL; /* the span that reaches `covered` */
    for (int64_t i = 0; i < st->n_tensors; i++) {
        const span *s = &spans[i];
        if (s->begin < covered) {
            char a[4 * SL_QUOTE_MAX + 8], b[4 * SL_QUOTE_MAX + 8];
            const char *na = st->tensors[last->index].name, *nb = st->tensors[s->index].name;
            sl_quote(a, sizeof a, na, strlen(na));
            sl_quote(b, sizeof b, nb, strlen(nb));
            return fail(r, SL_ERR_FORMAT,
                        "tensors '%s' and '%s' overlap (data_offsets [%llu, %llu] and [%llu, %llu])",
                        a, b, (ull)last->begin, (ull)last->end, (ull)s->begin, (ull)s->end);
        }
        if (s->begin > covered)
            return fail(r, SL_ERR_FORMAT,
                        "bytes %llu..%llu of the data section belong to no tensor", (ull)covered,
                        (ull)s->begin);
        if (s->end > covered || !last) {
            covered = s->end;
            last = s;
        }
    }
    if (covered != st->data_size)
        return fail(r, SL_ERR_FORMAT,
                    "bytes %llu..%llu of the data section belong to no tensor", (ull)covered,
                    (ull)st->data_size);
    return SL_OK;
}

static int compare_names(const void *a, const void *b)
{
    const sl_st_tensor *x = *(const sl_st_tensor *const *)a, *y = *(const sl_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static sl_status read_tensors(reader *r)
{
    sl_safetensors *st = r->st;
    const sl_json *h = st->header;
    size_t n = sl_json_object_size(h);
    st->tensors = calloc(n ? n : 1, sizeof *st->tensors);
    span *spans = calloc(n ? n : 1, sizeof *spans);
    st->by_name = calloc(n ? n : 1, sizeof *st->by_name);
    if (!st->tensors || !spans || !st->by_name) {
        free(spans);
        return fail(r, SL_ERR_NO_MEMORY, "no memory for %zu tensors", n);
    }
    sl_status s = SL_OK;
    for (size_t i = 0; i < n && s == SL_OK; i++) {
        const char *key;
        size_t key_len;
        const sl_json *v = sl_json_object_at(h, i, &key, &key_len);
        if (key_is(key, key_len, "__metadata__")) {
            s = read_metadata(r, v);
            continue;
        }
        sl_st_tensor *t = &st->tensors[st->n_tensors];
        uint64_t offsets[2];
        s = read_tensor(r, key, key_len, v, t, offsets);
        if (s != SL_OK)
            break;
        t->name = key;
        spans[st->n_tensors] = (span){offsets[0], offsets[1], st->n_tensors};
        st->n_tensors++;
    }
    if (s == SL_OK)
        s = check_layout(r, spans);
    free(spans);
    if (s == SL_OK) {
        /* names are unique: the JSON parser refuses duplicate keys */
        for (int64_t i = 0; i < st->n_tensors; i++)
            st->by_name[i] = &st->tensors[i];
        qsort(st->by_name, (size_t)st->n_tensors, sizeof *st->by_name, compare_names);
    }
    return s;
}

/* ---- open and close ----------------------------------------------------------- */

sl_status sl_safetensors_open(const char *path, sl_safetensors **out, sl_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "sl_safetensors_open: %s is NULL",
                       path ? "out" : "path");
    sl_safetensors *st = calloc(1, sizeof *st);
    char *copy = malloc(strlen(path) + 1);
    if (!st || !copy) {
        free(st);
        free(copy);
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: no memory", path);
    }
    strcpy(copy, path);
    st->path = copy;
    reader r = {.st = st, .err = err, .ctx = ""};
    sl_status s = sl_map_file(st->path, &st->map, &st->size, err);
    if (s == SL_OK)
        s = read_header(&r);
    if (s == SL_OK)
        s = read_tensors(&r);
    if (s != SL_OK) {
        sl_safetensors_close(st);
        return s;
    }
    *out = st;
    return SL_OK;
}

void sl_safetensors_close(sl_safetensors *st)
{
    if (!st)
        return;
    free(st->tensors);
    free(st->by_name);
    sl_json_free(st->header);
    sl_unmap_file(st->map, st->size);
    free(st->path);
    free(st);
}

/* ---- accessors ------------------------------------------------------------------ */

const char *sl_safetensors_path(const sl_safetensors *st)
{
    return st ? st->path : NULL;
}

uint64_t sl_safetensors_file_size(const sl_safetensors *st)
{
    return st ? (uint64_t)st->size : 0;
}

int64_t sl_safetensors_n_tensors(const sl_safetensors *st)
{
    return st ? st->n_tensors : 0;
}

const sl_st_tensor *sl_safetensors_tensor_at(const sl_safetensors *st, int64_t i)
{
    return st && i >= 0 && i < st->n_tensors ? &st->tensors[i] : NULL;
}

const sl_st_tensor *sl_safetensors_find(const sl_safetensors *st, const char *name)
{
    if (!st || !name)
        return NULL;
    int64_t lo = 0, hi = st->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->by_name[mid]->name, name);
        if (c == 0)
            return st->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int64_t sl_safetensors_n_metadata(const sl_safetensors *st)
{
    return st ? (int64_t)sl_json_object_size(st->metadata) : 0;
}

const char *sl_safetensors_metadata_key(const sl_safetensors *st, int64_t i)
{
    const char *key = NULL;
    if (st && i >= 0 && sl_json_object_at(st->metadata, (size_t)i, &key, NULL))
        return key;
    return NULL;
}

const char *sl_safetensors_metadata(const sl_safetensors *st, const char *key)
{
    return st ? sl_json_string(sl_json_object_get(st->metadata, key), NULL) : NULL;
}

/* ---- conversion ------------------------------------------------------------------ */

static float f32_from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* FP8 E4M3 "fn": bias 7, no infinities, S.1111.111 is NaN, max 448. */
static float e4m3_to_f32(uint8_t b)
{
    uint32_t sign = (uint32_t)(b & 0x80u) << 24;
    uint32_t exp = (b >> 3) & 0xFu, mant = b & 0x7u;
    if (exp == 0xF && mant == 0x7)
        return f32_from_bits(sign | 0x7FC00000u);
    if (exp != 0)
        return f32_from_bits(sign | ((exp + 120u) << 23) | (mant << 20));
    if (mant == 0)
        return f32_from_bits(sign);
    /* subnormal: mant × 2^-9, exact in float */
    float v = (float)mant * (1.0f / 512.0f);
    return sign ? -v : v;
}

/* FP8 E5M2 is the upper byte of an IEEE binary16. */
static float e5m2_to_f32(uint8_t b)
{
    return sl_f16_to_f32((uint16_t)((uint16_t)b << 8));
}

bool sl_st_to_f32(const sl_st_tensor *t, uint64_t first, uint64_t n, float *out)
{
    if (!t || first > t->n_elements || n > t->n_elements - first || (n > 0 && !out))
        return false;
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case SL_ST_F32:
        if (n > 0)
            memcpy(out, p + first * 4, (size_t)n * 4);
        return true;
    case SL_ST_F64:
        for (uint64_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + (first + i) * 8, 8);
            out[i] = (float)d;
        }
        return true;
    case SL_ST_F16:
    case SL_ST_BF16:
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *q = p + (first + i) * 2;
            uint16_t h = (uint16_t)(q[0] | q[1] << 8);
            out[i] = t->dtype == SL_ST_F16 ? sl_f16_to_f32(h) : sl_bf16_to_f32(h);
        }
        return true;
    case SL_ST_F8_E4M3:
        for (uint64_t i = 0; i < n; i++)
            out[i] = e4m3_to_f32(p[first + i]);
        return true;
    case SL_ST_F8_E5M2:
        for (uint64_t i = 0; i < n; i++)
            out[i] = e5m2_to_f32(p[first + i]);
        return true;
    default:
        return false;
    }
}
