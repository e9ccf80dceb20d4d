/* gguf.c: a validating GGUF v2/v3 reader over mmap.
 *
 * File layout (little-endian; v2 and v3 are identical, v3 only added
 * big-endian files, which we refuse):
 *   "GGUF" u32 version  u64 n_tensors  u64 n_kv
 *   n_kv ×      { string key, u32 value_type, value }
 *   n_tensors × { string name, u32 n_dims, u64 dims[n_dims], u32 type, u64 offset }
 *   padding to general.alignment (default 32), then the data section; each
 *   tensor's offset is relative to the data section and aligned.
 *   string = u64 length + bytes (no NUL); array = u32 elem_type, u64 n, elems.
 *
 * Everything is checked while parsing, through a bounded cursor; nothing
 * is returned until the whole file has been validated. Allocations grow
 * with what was actually parsed, never with a count the file claims. */
#include "model/gguf.h"

#include "error.h"
#include "model/mapped-file.h"
#include "model/dequant.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_HEADER_BYTES 24u   /* magic, version, n_tensors, n_kv */
#define GGUF_MAX_KEY_BYTES 65535u
#define GGUF_MAX_NAME_BYTES 64u /* tensor names, per the spec */
#define GGUF_MAX_DIMS 4u
#define GGUF_DEFAULT_ALIGNMENT 32u
/* The smallest encodings, used to bound counts by the bytes left:
 * a kv is key length 8 + key 1 + type 4 + a one-byte value; a tensor info
 * is name length 8 + name 1 + n_dims 4 + one dim 8 + type 4 + offset 8. */
#define GGUF_MIN_KV_BYTES 14u
#define GGUF_MIN_TENSOR_INFO_BYTES 33u
#define GGUF_DISPLAY_BYTES 80u /* longest name quoted in a message */

typedef unsigned long long ull;

typedef struct {
    char *key;
    size_t key_len;
    sl_gguf_type type;
    sl_gguf_type elem_type;  /* arrays */
    uint64_t n;              /* arrays: element count */
    const uint8_t *value;    /* scalars: the value; arrays: the first element */
    sl_gguf_string str;      /* SL_GGUF_STRING */
    sl_gguf_string *strings; /* arrays of strings: table of n */
} kv_entry;

typedef struct {
    sl_gguf_tensor pub;
    char *name;
    size_t name_len;
    uint64_t info_offset; /* where its info starts in the file, for messages */
} tensor_entry;

/* Open-addressing hash index over names (keys or tensor names). */
typedef struct {
    const char *name;
    size_t len;
    int64_t index;
} name_slot;

typedef struct {
    name_slot *slots;
    size_t mask;
} name_index;

struct sl_gguf {
    char *path;
    const uint8_t *map;
    size_t size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_start;
    kv_entry *kvs;
    int64_t n_kv;
    size_t kv_cap;
    tensor_entry *tensors;
    int64_t n_tensors;
    size_t tensor_cap;
    name_index kv_index;
    name_index tensor_index;
};

/* ---- errors and the bounded cursor ------------------------------------- */

typedef struct {
    sl_gguf *g;
    uint64_t pos;
    sl_error *err;
    char ctx[GGUF_DISPLAY_BYTES + 48]; /* what is being read: "key 'x'", "tensor 'y'" */
} reader;

/* Fails with "path: ctx: message". */
static sl_status fail(reader *r, sl_status code, const char *fmt, ...) SL_PRINTF(3, 4);

static sl_status fail(reader *r, sl_status code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sl_fail(r->err, code, "%s: %s%s%s", r->g->path, r->ctx, r->ctx[0] ? ": " : "", msg);
}

static uint64_t remaining(const reader *r)
{
    return (uint64_t)r->g->size - r->pos;
}

/* Takes n bytes at the cursor, or fails naming the field. */
static sl_status take(reader *r, uint64_t n, const char *field, const uint8_t **out)
{
    if (n > remaining(r))
        return fail(r, SL_ERR_FORMAT,
                    "%s at offset %llu (%llu bytes) runs past the end of the file (%zu bytes)",
                    field, (ull)r->pos, (ull)n, r->g->size);
    *out = r->g->map + r->pos;
    r->pos += n;
    return SL_OK;
}

static uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load_u64(const uint8_t *p)
{
    return (uint64_t)load_u32(p) | (uint64_t)load_u32(p + 4) << 32;
}

static sl_status read_u32(reader *r, const char *field, uint32_t *out)
{
    const uint8_t *p = NULL;
    sl_status s = take(r, 4, field, &p);
    if (s == SL_OK)
        *out = load_u32(p);
    return s;
}

static sl_status read_u64(reader *r, const char *field, uint64_t *out)
{
    const uint8_t *p = NULL;
    sl_status s = take(r, 8, field, &p);
    if (s == SL_OK)
        *out = load_u64(p);
    return s;
}

/* A length-prefixed string inside the file. */
static sl_status read_string(reader *r, const char *field, sl_gguf_string *out)
{
    uint64_t at = r->pos, len;
    sl_status s = read_u64(r, field, &len);
    if (s != SL_OK)
        return s;
    if (len > remaining(r))
        return fail(r, SL_ERR_FORMAT,
                    "%s length %llu at offset %llu runs past the end of the file (%zu bytes)",
                    field, (ull)len, (ull)at, r->g->size);
    out->ptr = (const char *)r->g->map + r->pos;
    out->len = (size_t)len;
    r->pos += len;
    return SL_OK;
}

/* ---- names --------------------------------------------------------------- */

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t extra;
        uint32_t lo = 0x80, hi = 0xbf; /* range of the second byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            extra = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else {
            return false;
        }
        if (extra > n - i - 1)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= extra; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += extra + 1;
    }
    return true;
}

/* Checks a key or tensor name; fills why on failure. */
static bool name_ok(const sl_gguf_string *s, size_t max_len, const char **why)
{
    if (s->len == 0)
        *why = "is empty";
    else if (s->len > max_len)
        *why = "is too long";
    else if (memchr(s->ptr, 0, s->len))
        *why = "contains a NUL byte";
    else if (!utf8_valid((const uint8_t *)s->ptr, s->len))
        *why = "is not valid UTF-8";
    else
        return true;
    return false;
}

/* A valid UTF-8 name for a message, cut at a character boundary. */
static void display(char *buf, size_t cap, const char *s, size_t len)
{
    size_t n = len;
    if (n > GGUF_DISPLAY_BYTES) {
        n = GGUF_DISPLAY_BYTES;
        while (n > 0 && ((uint8_t)s[n] & 0xc0) == 0x80)
            n--;
    }
    snprintf(buf, cap, "%.*s%s", (int)n, s, n < len ? "..." : "");
}

static char *copy_name(const sl_gguf_string *s)
{
    char *c = malloc(s->len + 1);
    if (c) {
        memcpy(c, s->ptr, s->len);
        c[s->len] = 0;
    }
    return c;
}

/* ---- name index ----------------------------------------------------------- */

static uint64_t hash_name(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3u;
    }
    return h;
}

static bool index_init(name_index *ix, size_t n)
{
    size_t cap = 8;
    while (cap < 2 * n)
        cap *= 2;
    ix->slots = calloc(cap, sizeof *ix->slots);
    ix->mask = cap - 1;
    return ix->slots != NULL;
}

static name_slot *index_slot(const name_index *ix, const char *name, size_t len)
{
    size_t i = (size_t)hash_name(name, len) & ix->mask;
    while (ix->slots[i].name &&
           !(ix->slots[i].len == len && memcmp(ix->slots[i].name, name, len) == 0))
        i = (i + 1) & ix->mask;
    return &ix->slots[i];
}

/* Inserts name → index; returns the index already there, or -1. */
static int64_t index_insert(name_index *ix, const char *name, size_t len, int64_t index)
{
    name_slot *slot = index_slot(ix, name, len);
    if (slot->name)
        return slot->index;
    slot->name = name;
    slot->len = len;
    slot->index = index;
    return -1;
}

static int64_t index_find(const name_index *ix, const char *name)
{
    if (!ix->slots || !name)
        return -1;
    const name_slot *slot = index_slot(ix, name, strlen(name));
    return slot->name ? slot->index : -1;
}

/* ---- metadata values ------------------------------------------------------ */

static const char *value_type_name(uint32_t t)
{
    static const char *const names[] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
    };
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Bytes of a fixed-size value type; 0 for string, array and unknown. */
static size_t scalar_size(uint32_t t)
{
    switch (t) {
    case SL_GGUF_UINT8: case SL_GGUF_INT8: case SL_GGUF_BOOL: return 1;
    case SL_GGUF_UINT16: case SL_GGUF_INT16: return 2;
    case SL_GGUF_UINT32: case SL_GGUF_INT32: case SL_GGUF_FLOAT32: return 4;
    case SL_GGUF_UINT64: case SL_GGUF_INT64: case SL_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static sl_status check_bools(reader *r, const uint8_t *p, uint64_t n, uint64_t at)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1)
            return fail(r, SL_ERR_FORMAT, "bool value %u at offset %llu is neither 0 nor 1",
                        p[i], (ull)(at + i));
    return SL_OK;
}

/* Arrays of strings: a first pass checks every length against the file,
 * so the table allocated after it is as large as what is really there. */
static sl_status read_string_array(reader *r, kv_entry *kv)
{
    uint64_t start = r->pos;
    if (kv->n > remaining(r) / 8)
        return fail(r, SL_ERR_FORMAT,
                    "array of %llu strings at offset %llu runs past the end of the file (%zu bytes)",
                    (ull)kv->n, (ull)start, r->g->size);
    for (uint64_t i = 0; i < kv->n; i++) {
        sl_gguf_string s;
        char field[48];
        snprintf(field, sizeof field, "array string %llu", (ull)i);
        sl_status st = read_string(r, field, &s);
        if (st != SL_OK)
            return st;
    }
    kv->value = r->g->map + start;
    if (kv->n == 0)
        return SL_OK;
    kv->strings = malloc((size_t)kv->n * sizeof *kv->strings);
    if (!kv->strings)
        return fail(r, SL_ERR_NO_MEMORY, "no memory for an array of %llu strings", (ull)kv->n);
    r->pos = start;
    for (uint64_t i = 0; i < kv->n; i++)
        read_string(r, "string", &kv->strings[i]); /* cannot fail: checked above */
    return SL_OK;
}

static sl_status read_array(reader *r, kv_entry *kv)
{
    uint32_t elem;
    sl_status s = read_u32(r, "array element type", &elem);
    if (s == SL_OK)
        s = read_u64(r, "array length", &kv->n);
    if (s != SL_OK)
        return s;
    if (elem == SL_GGUF_ARRAY)
        return fail(r, SL_ERR_UNSUPPORTED, "arrays of arrays are not supported");
    kv->elem_type = (sl_gguf_type)elem;
    if (elem == SL_GGUF_STRING)
        return read_string_array(r, kv);
    size_t size = scalar_size(elem);
    if (size == 0)
        return fail(r, SL_ERR_FORMAT, "unknown array element type %u at offset %llu",
                    elem, (ull)(r->pos - 12));
    uint64_t at = r->pos;
    if (kv->n > remaining(r) / size)
        return fail(r, SL_ERR_FORMAT,
                    "array of %llu %s values at offset %llu runs past the end of the file (%zu bytes)",
                    (ull)kv->n, value_type_name(elem), (ull)at, r->g->size);
    s = take(r, kv->n * size, "array data", &kv->value);
    if (s == SL_OK && elem == SL_GGUF_BOOL)
        s = check_bools(r, kv->value, kv->n, at);
    return s;
}

static sl_status read_value(reader *r, kv_entry *kv)
{
    uint32_t type;
    uint64_t at = r->pos;
    sl_status s = read_u32(r, "value type", &type);
    if (s != SL_OK)
        return s;
    kv->type = (sl_gguf_type)type;
    if (type == SL_GGUF_STRING)
        return read_string(r, "string value", &kv->str);
    if (type == SL_GGUF_ARRAY)
        return read_array(r, kv);
    size_t size = scalar_size(type);
    if (size == 0)
        return fail(r, SL_ERR_FORMAT, "unknown value type %u at offset %llu", type, (ull)at);
    s = take(r, size, "value", &kv->value);
    if (s == SL_OK && type == SL_GGUF_BOOL)
        s = check_bools(r, kv->value, 1, r->pos - 1);
    return s;
}

/* ---- growing tables ------------------------------------------------------- */

static bool grow(void **items, size_t *cap, size_t count, size_t item_size)
{
    if (count < *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 16;
    void *p = realloc(*items, n * item_size);
    if (!p)
        return false;
    *items = p;
    *cap = n;
    return true;
}

/* ---- header ---------------------------------------------------------------- */

static uint32_t swap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

static sl_status check_version(reader *r, uint32_t v)
{
    if (v == 2 || v == 3)
        return SL_OK;
    if (v == 0)
        return fail(r, SL_ERR_FORMAT, "invalid GGUF version 0");
    if (v == 1)
        return fail(r, SL_ERR_UNSUPPORTED,
                    "GGUF version 1 is not supported (only versions 2 and 3; "
                    "convert the model again with a current llama.cpp)");
    if (swap32(v) >= 1 && swap32(v) <= 3)
        return fail(r, SL_ERR_UNSUPPORTED, "big-endian GGUF files are not supported (version field %u)",
                    v);
    return fail(r, SL_ERR_UNSUPPORTED, "GGUF version %u is not supported (only versions 2 and 3)", v);
}

static sl_status parse_header(reader *r, uint64_t *n_tensors, uint64_t *n_kv)
{
    sl_gguf *g = r->g;
    if (g->size < 4)
        return fail(r, SL_ERR_FORMAT, "the file is %zu bytes, too short to be a GGUF file", g->size);
    if (memcmp(g->map, "GGUF", 4) != 0)
        return fail(r, SL_ERR_FORMAT,
                    "not a GGUF file (it starts with bytes %02x %02x %02x %02x, not \"GGUF\")",
                    g->map[0], g->map[1], g->map[2], g->map[3]);
    r->pos = 4;
    sl_status s = read_u32(r, "header version", &g->version);
    if (s == SL_OK)
        s = check_version(r, g->version);
    if (s == SL_OK)
        s = read_u64(r, "header tensor count", n_tensors);
    if (s == SL_OK)
        s = read_u64(r, "header key-value count", n_kv);
    if (s != SL_OK)
        return s;
    uint64_t left = remaining(r);
    if (*n_kv > left / GGUF_MIN_KV_BYTES)
        return fail(r, SL_ERR_FORMAT,
                    "the header claims %llu key-value pairs, more than the %llu bytes after it can hold",
                    (ull)*n_kv, (ull)left);
    left -= *n_kv * GGUF_MIN_KV_BYTES;
    if (*n_tensors > left / GGUF_MIN_TENSOR_INFO_BYTES)
        return fail(r, SL_ERR_FORMAT,
                    "the header claims %llu tensors, more than the %llu bytes after it can hold",
                    (ull)*n_tensors, (ull)remaining(r));
    return SL_OK;
}

/* ---- key-value pairs -------------------------------------------------------- */

static sl_status parse_kv(reader *r, uint64_t i)
{
    sl_gguf *g = r->g;
    uint64_t at = r->pos;
    sl_gguf_string key;
    const char *why;
    snprintf(r->ctx, sizeof r->ctx, "key-value pair #%llu", (ull)i);
    sl_status s = read_string(r, "key", &key);
    if (s != SL_OK)
        return s;
    if (!name_ok(&key, GGUF_MAX_KEY_BYTES, &why))
        return fail(r, SL_ERR_FORMAT, "the key at offset %llu (%zu bytes) %s", (ull)at, key.len, why);
    char shown[GGUF_DISPLAY_BYTES + 4];
    display(shown, sizeof shown, key.ptr, key.len);
    snprintf(r->ctx, sizeof r->ctx, "key '%s'", shown);

    if (!grow((void **)&g->kvs, &g->kv_cap, (size_t)g->n_kv, sizeof *g->kvs))
        return fail(r, SL_ERR_NO_MEMORY, "no memory for the key-value table");
    kv_entry *kv = &g->kvs[g->n_kv];
    memset(kv, 0, sizeof *kv);
    kv->key = copy_name(&key);
    kv->key_len = key.len;
    g->n_kv++; /* counted now, so close() frees what it holds */
    if (!kv->key)
        return fail(r, SL_ERR_NO_MEMORY, "no memory for the key");
    return read_value(r, kv);
}

static sl_status index_kvs(reader *r)
{
    sl_gguf *g = r->g;
    r->ctx[0] = 0;
    if (!index_init(&g->kv_index, (size_t)g->n_kv))
        return fail(r, SL_ERR_NO_MEMORY, "no memory for the key index");
    for (int64_t i = 0; i < g->n_kv; i++) {
        int64_t prev = index_insert(&g->kv_index, g->kvs[i].key, g->kvs[i].key_len, i);
        if (prev >= 0) {
            char shown[GGUF_DISPLAY_BYTES + 4];
            display(shown, sizeof shown, g->kvs[i].key, g->kvs[i].key_len);
            return fail(r, SL_ERR_FORMAT, "key '%s' appears twice (key-value pairs #%lld and #%lld)",
                        shown, (long long)prev, (long long)i);
        }
    }
    return SL_OK;
}

static sl_status read_alignment(reader *r)
{
    sl_gguf *g = r->g;
    int64_t i = index_find(&g->kv_index, "general.alignment");
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (i < 0)
        return SL_OK;
    const kv_entry *kv = &g->kvs[i];
    if (kv->type != SL_GGUF_UINT32)
        return fail(r, SL_ERR_FORMAT, "key 'general.alignment' is of type %s, expected u32",
                    value_type_name(kv->type));
    snprintf(r->ctx, sizeof r->ctx, "key 'general.alignment'");
    uint32_t a = load_u32(kv->value);
    if (a == 0 || (a & (a - 1)) != 0)
        return fail(r, SL_ERR_FORMAT, "alignment %u is not a power of two", a);
    g->alignment = a;
    return SL_OK;
}

/* ---- tensor infos ------------------------------------------------------------ */

static sl_status check_tensor_type(reader *r, uint32_t type)
{
    const char *name = sl_type_name(type);
    if (sl_type_supported(type))
        return SL_OK;
    if (name)
        return fail(r, SL_ERR_UNSUPPORTED, "type %s is not supported", name);
    if (type < SL_TYPE_COUNT_MAX)
        return fail(r, SL_ERR_UNSUPPORTED, "type %u is not a ggml type we know", type);
    return fail(r, SL_ERR_FORMAT, "invalid tensor type %u", type);
}

static sl_status read_dims(reader *r, sl_gguf_tensor *t)
{
    sl_status s = read_u32(r, "n_dims", &t->n_dims);
    if (s != SL_OK)
        return s;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return fail(r, SL_ERR_FORMAT, "n_dims %u is out of range (1..%u)", t->n_dims, GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        t->dims[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        s = read_u64(r, "dimension", &t->dims[d]);
        if (s != SL_OK)
            return s;
        if (t->dims[d] == 0 || t->dims[d] > (uint64_t)INT64_MAX)
            return fail(r, SL_ERR_FORMAT, "dimension %u is %llu (must be 1..2^63-1)", d,
                        (ull)t->dims[d]);
    }
    return SL_OK;
}

/* Elements and bytes from dims and type, with every product checked. */
static sl_status size_tensor(reader *r, sl_gguf_tensor *t)
{
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        if (n > (uint64_t)INT64_MAX / t->dims[d])
            return fail(r, SL_ERR_FORMAT, "the element count (product of dims) overflows");
        n *= t->dims[d];
    }
    t->n_elements = n;
    uint64_t row_bytes;
    if (!sl_type_row_bytes(t->type, t->dims[0], &row_bytes))
        return fail(r, SL_ERR_FORMAT, "row size %llu is not a whole number of %s blocks (%zu elements)",
                    (ull)t->dims[0], sl_type_name(t->type), sl_type_block_elems(t->type));
    uint64_t rows = n / t->dims[0];
    if (row_bytes > UINT64_MAX / rows)
        return fail(r, SL_ERR_FORMAT, "the size in bytes overflows");
    t->n_bytes = row_bytes * rows;
    return SL_OK;
}

static sl_status parse_tensor_info(reader *r, uint64_t i, uint64_t *offset)
{
    sl_gguf *g = r->g;
    uint64_t at = r->pos;
    sl_gguf_string name;
    const char *why;
    snprintf(r->ctx, sizeof r->ctx, "tensor #%llu", (ull)i);
    sl_status s = read_string(r, "name", &name);
    if (s != SL_OK)
        return s;
    if (!name_ok(&name, GGUF_MAX_NAME_BYTES, &why))
        return fail(r, SL_ERR_FORMAT, "the name at offset %llu (%zu bytes) %s", (ull)at, name.len, why);
    snprintf(r->ctx, sizeof r->ctx, "tensor '%.*s'", (int)name.len, name.ptr);

    if (!grow((void **)&g->tensors, &g->tensor_cap, (size_t)g->n_tensors, sizeof *g->tensors))
        return fail(r, SL_ERR_NO_MEMORY, "no memory for the tensor table");
    tensor_entry *e = &g->tensors[g->n_tensors];
    memset(e, 0, sizeof *e);
    e->name = copy_name(&name);
    e->name_len = name.len;
    e->info_offset = at;
    e->pub.name = e->name;
    g->n_tensors++;
    if (!e->name)
        return fail(r, SL_ERR_NO_MEMORY, "no memory for the tensor name");

    sl_gguf_tensor *t = &e->pub;
    s = read_dims(r, t);
    if (s == SL_OK)
        s = read_u32(r, "type", &t->type);
    if (s == SL_OK)
        s = check_tensor_type(r, t->type);
    if (s == SL_OK)
        s = read_u64(r, "offset", offset);
    if (s == SL_OK)
        s = size_tensor(r, t);
    if (s == SL_OK && *offset % g->alignment != 0)
        return fail(r, SL_ERR_FORMAT, "data offset %llu is not a multiple of the alignment %llu",
                    (ull)*offset, (ull)g->alignment);
    return s;
}

static sl_status index_tensors(reader *r)
{
    sl_gguf *g = r->g;
    r->ctx[0] = 0;
    if (!index_init(&g->tensor_index, (size_t)g->n_tensors))
        return fail(r, SL_ERR_NO_MEMORY, "no memory for the tensor index");
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const tensor_entry *e = &g->tensors[i];
        int64_t prev = index_insert(&g->tensor_index, e->name, e->name_len, i);
        if (prev >= 0)
            return fail(r, SL_ERR_FORMAT, "tensor name '%s' appears twice (tensors #%lld and #%lld)",
                        e->name, (long long)prev, (long long)i);
    }
    return SL_OK;
}

/* ---- data section ------------------------------------------------------------ */

static sl_status place_tensor(reader *r, tensor_entry *e, uint64_t offset)
{
    sl_gguf *g = r->g;
    uint64_t room = (uint64_t)g->size - g->data_start;
    snprintf(r->ctx, sizeof r->ctx, "tensor '%s'", e->name);
    if (offset > room)
        return fail(r, SL_ERR_FORMAT,
                    "data offset %llu (from the data section at %llu) is past the end of the file "
                    "(%zu bytes)",
                    (ull)offset, (ull)g->data_start, g->size);
    if (e->pub.n_bytes > room - offset)
        return fail(r, SL_ERR_FORMAT,
                    "data [offset %llu, %llu bytes) runs past the end of the file (%zu bytes)",
                    (ull)(g->data_start + offset), (ull)e->pub.n_bytes, g->size);
    e->pub.data = g->map + g->data_start + offset;
    return SL_OK;
}

static int compare_by_data(const void *a, const void *b)
{
    const tensor_entry *x = *(const tensor_entry *const *)a, *y = *(const tensor_entry *const *)b;
    const uint8_t *p = x->pub.data, *q = y->pub.data;
    return p < q ? -1 : p > q;
}

/* No two tensors may share bytes. */
static sl_status check_overlaps(reader *r)
{
    sl_gguf *g = r->g;
    r->ctx[0] = 0;
    if (g->n_tensors < 2)
        return SL_OK;
    const tensor_entry **order = malloc((size_t)g->n_tensors * sizeof *order);
    if (!order)
        return fail(r, SL_ERR_NO_MEMORY, "no memory to check tensor data");
    for (int64_t i = 0; i < g->n_tensors; i++)
        order[i] = &g->tensors[i];
    qsort(order, (size_t)g->n_tensors, sizeof *order, compare_by_data);
    sl_status s = SL_OK;
    for (int64_t i = 1; i < g->n_tensors && s == SL_OK; i++) {
        const tensor_entry *a = order[i - 1], *b = order[i];
        const uint8_t *a_end = (const uint8_t *)a->pub.data + a->pub.n_bytes;
        if ((const uint8_t *)b->pub.data < a_end)
            s = fail(r, SL_ERR_FORMAT, "tensor '%s' (data at offset %llu) overlaps tensor '%s' "
                                       "(data at offset %llu, %llu bytes)",
                     b->name, (ull)((const uint8_t *)b->pub.data - g->map), a->name,
                     (ull)((const uint8_t *)a->pub.data - g->map), (ull)a->pub.n_bytes);
    }
    free(order);
    return s;
}

static sl_status parse_tensors(reader *r, uint64_t n_tensors)
{
    sl_gguf *g = r->g;
    uint64_t *offsets = n_tensors ? malloc((size_t)n_tensors * sizeof *offsets) : NULL;
    if (n_tensors && !offsets)
        return fail(r, SL_ERR_NO_MEMORY, "no memory for %llu tensor offsets", (ull)n_tensors);
    sl_status s = SL_OK;
    for (uint64_t i = 0; i < n_tensors && s == SL_OK; i++)
        s = parse_tensor_info(r, i, &offsets[i]);
    if (s == SL_OK)
        s = index_tensors(r);
    if (s == SL_OK) {
        r->ctx[0] = 0;
        g->data_start = (r->pos + g->alignment - 1) / g->alignment * g->alignment;
        if (n_tensors && g->data_start > g->size)
            s = fail(r, SL_ERR_FORMAT,
                     "the data section (offset %llu, aligned to %llu) starts past the end of the file "
                     "(%zu bytes)",
                     (ull)g->data_start, (ull)g->alignment, g->size);
    }
    for (uint64_t i = 0; i < n_tensors && s == SL_OK; i++)
        s = place_tensor(r, &g->tensors[i], offsets[i]);
    if (s == SL_OK)
        s = check_overlaps(r);
    free(offsets);
    return s;
}

/* ---- open and close ----------------------------------------------------------- */

static sl_status parse(sl_gguf *g, sl_error *err)
{
    static const uint8_t empty[1];
    reader r = {.g = g, .pos = 0, .err = err, .ctx = ""};
    uint64_t n_tensors = 0, n_kv = 0;
    if (!g->map)
        g->map = empty; /* an empty file: parse_header reports it */
    sl_status s = parse_header(&r, &n_tensors, &n_kv);
    for (uint64_t i = 0; i < n_kv && s == SL_OK; i++)
        s = parse_kv(&r, i);
    if (s == SL_OK)
        s = index_kvs(&r);
    if (s == SL_OK)
        s = read_alignment(&r);
    if (s == SL_OK)
        s = parse_tensors(&r, n_tensors);
    if (g->map == empty)
        g->map = NULL;
    return s;
}

sl_status sl_gguf_open(const char *path, sl_gguf **out, sl_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "sl_gguf_open: %s is NULL", path ? "out" : "path");
    sl_gguf *g = calloc(1, sizeof *g);
    if (!g)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: no memory", path);
    g->path = malloc(strlen(path) + 1);
    if (!g->path) {
        free(g);
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: no memory", path);
    }
    strcpy(g->path, path);
    sl_status s = sl_map_file(g->path, &g->map, &g->size, err);
    if (s == SL_OK)
        s = parse(g, err);
    if (s != SL_OK) {
        sl_gguf_close(g);
        return s;
    }
    *out = g;
    return SL_OK;
}

void sl_gguf_close(sl_gguf *g)
{
    if (!g)
        return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kvs[i].key);
        free(g->kvs[i].strings);
    }
    for (int64_t i = 0; i < g->n_tensors; i++)
        free(g->tensors[i].name);
    free(g->kvs);
    free(g->tensors);
    free(g->kv_index.slots);
    free(g->tensor_index.slots);
    sl_unmap_file(g->map, g->size);
    free(g->path);
    free(g);
}

/* ---- accessors ------------------------------------------------------------------ */

const char *sl_gguf_path(const sl_gguf *g)
{
    return g ? g->path : NULL;
}

uint32_t sl_gguf_version(const sl_gguf *g)
{
    return g ? g->version : 0;
}

const uint8_t *sl_gguf_file_bytes(const sl_gguf *g)
{
    return g ? g->map : NULL;
}

size_t sl_gguf_file_size(const sl_gguf *g)
{
    return g ? g->size : 0;
}

static const kv_entry *find_kv(const sl_gguf *g, const char *key)
{
    int64_t i = g ? index_find(&g->kv_index, key) : -1;
    return i >= 0 ? &g->kvs[i] : NULL;
}

bool sl_gguf_has(const sl_gguf *g, const char *key)
{
    return find_kv(g, key) != NULL;
}

int64_t sl_gguf_n_kv(const sl_gguf *g)
{
    return g ? g->n_kv : 0;
}

const char *sl_gguf_kv_key(const sl_gguf *g, int64_t i)
{
    return g && i >= 0 && i < g->n_kv ? g->kvs[i].key : NULL;
}

sl_gguf_type sl_gguf_kv_type(const sl_gguf *g, int64_t i)
{
    return g && i >= 0 && i < g->n_kv ? g->kvs[i].type : SL_GGUF_NONE;
}

/* Finds key with one of the wanted types (a bit mask of 1 << type), or
 * fails naming the file, the key and what was found instead. */
static sl_status lookup_typed(const sl_gguf *g, const char *key, unsigned wanted, const char *expected,
                              const kv_entry **out, sl_error *err)
{
    if (!g || !key)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "sl_gguf_get: %s is NULL", g ? "key" : "gguf");
    const kv_entry *kv = find_kv(g, key);
    if (!kv)
        return sl_fail(err, SL_ERR_FORMAT, "%s: key '%s' is missing", g->path, key);
    if (!(wanted & (1u << kv->type)))
        return sl_fail(err, SL_ERR_FORMAT, "%s: key '%s' is of type %s, expected %s", g->path, key,
                       kv->type == SL_GGUF_ARRAY ? "array" : value_type_name(kv->type), expected);
    *out = kv;
    return SL_OK;
}

#define INT_TYPES                                                                            \
    (1u << SL_GGUF_UINT8 | 1u << SL_GGUF_INT8 | 1u << SL_GGUF_UINT16 | 1u << SL_GGUF_INT16 |    \
     1u << SL_GGUF_UINT32 | 1u << SL_GGUF_INT32 | 1u << SL_GGUF_UINT64 | 1u << SL_GGUF_INT64)

/* An integer value as sign and magnitude-free pair: negative values in
 * *s with *neg set, others in *u. */
static void integer_value(const kv_entry *kv, bool *neg, int64_t *s, uint64_t *u)
{
    const uint8_t *p = kv->value;
    uint64_t raw = 0;
    size_t size = scalar_size(kv->type);
    for (size_t i = 0; i < size; i++)
        raw |= (uint64_t)p[i] << (8 * i);
    int64_t sv = 0;
    switch (kv->type) {
    case SL_GGUF_INT8: sv = (int8_t)raw; break;
    case SL_GGUF_INT16: sv = (int16_t)raw; break;
    case SL_GGUF_INT32: sv = (int32_t)raw; break;
    case SL_GGUF_INT64: memcpy(&sv, &raw, sizeof sv); break;
    default: *neg = false; *u = raw; return;
    }
    *neg = sv < 0;
    *s = sv;
    *u = sv < 0 ? 0 : (uint64_t)sv;
}

sl_status sl_gguf_get_u32(const sl_gguf *g, const char *key, uint32_t *out, sl_error *err)
{
    const kv_entry *kv = NULL;
    sl_status st = lookup_typed(g, key, INT_TYPES, "an integer", &kv, err);
    if (st != SL_OK)
        return st;
    bool neg;
    int64_t s = 0;
    uint64_t u = 0;
    integer_value(kv, &neg, &s, &u);
    if (neg)
        return sl_fail(err, SL_ERR_FORMAT, "%s: key '%s' = %lld does not fit in a u32", g->path, key,
                       (long long)s);
    if (u > UINT32_MAX)
        return sl_fail(err, SL_ERR_FORMAT, "%s: key '%s' = %llu does not fit in a u32", g->path, key,
                       (ull)u);
    if (out)
        *out = (uint32_t)u;
    return SL_OK;
}

sl_status sl_gguf_get_i64(const sl_gguf *g, const char *key, int64_t *out, sl_error *err)
{
    const kv_entry *kv = NULL;
    sl_status st = lookup_typed(g, key, INT_TYPES, "an integer", &kv, err);
    if (st != SL_OK)
        return st;
    bool neg;
    int64_t s = 0;
    uint64_t u = 0;
    integer_value(kv, &neg, &s, &u);
    if (!neg && u > (uint64_t)INT64_MAX)
        return sl_fail(err, SL_ERR_FORMAT, "%s: key '%s' = %llu does not fit in an i64", g->path, key,
                       (ull)u);
    if (out)
        *out = neg ? s : (int64_t)u;
    return SL_OK;
}

sl_status sl_gguf_get_f32(const sl_gguf *g, const char *key, float *out, sl_error *err)
{
    const kv_entry *kv = NULL;
    sl_status st = lookup_typed(g, key, 1u << SL_GGUF_FLOAT32 | 1u << SL_GGUF_FLOAT64, "f32", &kv, err);
    if (st != SL_OK)
        return st;
    float f;
    if (kv->type == SL_GGUF_FLOAT32) {
        memcpy(&f, kv->value, sizeof f);
    } else {
        double d;
        memcpy(&d, kv->value, sizeof d);
        if (!isinf(d) && (d > FLT_MAX || d < -FLT_MAX))
            return sl_fail(err, SL_ERR_FORMAT, "%s: key '%s' = %g does not fit in an f32", g->path, key,
                           d);
        f = (float)d;
    }
    if (out)
        *out = f;
    return SL_OK;
}

sl_status sl_gguf_get_bool(const sl_gguf *g, const char *key, bool *out, sl_error *err)
{
    const kv_entry *kv = NULL;
    sl_status st = lookup_typed(g, key, 1u << SL_GGUF_BOOL, "bool", &kv, err);
    if (st == SL_OK && out)
        *out = kv->value[0] != 0;
    return st;
}

sl_status sl_gguf_get_string(const sl_gguf *g, const char *key, sl_gguf_string *out, sl_error *err)
{
    const kv_entry *kv = NULL;
    sl_status st = lookup_typed(g, key, 1u << SL_GGUF_STRING, "string", &kv, err);
    if (st == SL_OK && out)
        *out = kv->str;
    return st;
}

static sl_status lookup_array(const sl_gguf *g, const char *key, const kv_entry **out, sl_error *err)
{
    return lookup_typed(g, key, 1u << SL_GGUF_ARRAY, "array", out, err);
}

sl_status sl_gguf_get_string_array(const sl_gguf *g, const char *key, const sl_gguf_string **out,
                                   uint64_t *n, sl_error *err)
{
    const kv_entry *kv = NULL;
    sl_status st = lookup_array(g, key, &kv, err);
    if (st != SL_OK)
        return st;
    if (kv->elem_type != SL_GGUF_STRING)
        return sl_fail(err, SL_ERR_FORMAT, "%s: key '%s' is an array of %s, expected strings", g->path,
                       key, value_type_name(kv->elem_type));
    if (out)
        *out = kv->strings;
    if (n)
        *n = kv->n;
    return SL_OK;
}

sl_status sl_gguf_get_array(const sl_gguf *g, const char *key, sl_gguf_type *elem_type,
                            const void **data, uint64_t *n, sl_error *err)
{
    const kv_entry *kv = NULL;
    sl_status st = lookup_array(g, key, &kv, err);
    if (st != SL_OK)
        return st;
    if (elem_type)
        *elem_type = kv->elem_type;
    if (data)
        *data = kv->elem_type == SL_GGUF_STRING ? (const void *)kv->strings : (const void *)kv->value;
    if (n)
        *n = kv->n;
    return SL_OK;
}

int64_t sl_gguf_n_tensors(const sl_gguf *g)
{
    return g ? g->n_tensors : 0;
}

const sl_gguf_tensor *sl_gguf_tensor_at(const sl_gguf *g, int64_t i)
{
    return g && i >= 0 && i < g->n_tensors ? &g->tensors[i].pub : NULL;
}

const sl_gguf_tensor *sl_gguf_find_tensor(const sl_gguf *g, const char *name)
{
    int64_t i = g ? index_find(&g->tensor_index, name) : -1;
    return i >= 0 ? &g->tensors[i].pub : NULL;
}
