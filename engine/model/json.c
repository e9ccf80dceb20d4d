/* json.c: a validating JSON parser (RFC 8259) into an immutable tree.
 *
 * One pass over the text with an explicit stack of open arrays and objects
 * (at most SL_JSON_MAX_DEPTH frames, no recursion). Finished values wait on
 * a growable "pending" vector; when a container closes, its values move in
 * one block into the arena and the container becomes a pending value of its
 * parent. Objects of more than SMALL_OBJECT members get an open-addressing
 * hash index placed right after their members; it finds duplicate keys at
 * close time and serves sl_json_object_get afterwards.
 *
 * Strings are found in two scans: the first finds the closing quote (to
 * size the arena block: decoding never lengthens a string), the second
 * decodes and validates, reporting the first fault in document order. */
#include "model/json.h"

#include "error.h"
#include "model/mapped-file.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMALL_OBJECT 8     /* members searched linearly */
#define CHUNK_BYTES 65536u /* arena chunk; larger blocks get their own */
#define ARENA_ALIGN 16u
#define KEY_DISPLAY 60u    /* longest key quoted in a message */

struct sl_json {
    sl_json_type type;
    bool flag;           /* BOOL: the value; NUMBER: an integer text */
    size_t n;            /* STRING, NUMBER: bytes; ARRAY, OBJECT: values */
    const void *p;       /* STRING, NUMBER: text; ARRAY, OBJECT: sl_json[n] (+ index) */
    const char *key;     /* a member of an object: its key */
    size_t key_len;
    size_t key_offset;
    size_t offset;       /* where the value starts in the text */
};

/* ---- the arena ------------------------------------------------------------ */

typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
} chunk;

#define CHUNK_HEADER ((sizeof(chunk) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN)

typedef struct {
    chunk *chunks; /* the head is the one being filled */
    sl_json root;
} doc;

static void *arena_alloc(doc *d, size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - CHUNK_HEADER - ARENA_ALIGN)
        return NULL;
    n = (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    chunk *c = d->chunks;
    if (c && c->cap - c->used >= n) {
        void *p = (char *)c + CHUNK_HEADER + c->used;
        c->used += n;
        return p;
    }
    bool own = n > CHUNK_BYTES / 4;
    size_t cap = own ? n : CHUNK_BYTES;
    chunk *fresh = malloc(CHUNK_HEADER + cap);
    if (!fresh)
        return NULL;
    fresh->cap = cap;
    fresh->used = n;
    if (own && c) { /* keep filling the current chunk */
        fresh->next = c->next;
        c->next = fresh;
    } else {
        fresh->next = c;
        d->chunks = fresh;
    }
    return (char *)fresh + CHUNK_HEADER;
}

/* ---- the parser ------------------------------------------------------------ */

typedef struct {
    sl_json_type type; /* ARRAY or OBJECT */
    size_t offset;     /* of the '[' or '{' */
    size_t first;      /* its first value in pending */
    const char *key;   /* objects: the key of the member being parsed */
    size_t key_len, key_offset;
} frame;

typedef struct {
    const uint8_t *s;
    size_t len, pos;
    doc *d;
    sl_json *pending;
    size_t n_pending, cap_pending;
    frame frames[SL_JSON_MAX_DEPTH];
    size_t depth;
    sl_error *err;
} parser;

static void line_column(const parser *P, size_t at, size_t *line, size_t *column)
{
    size_t l = 1, line_start = 0;
    for (size_t i = 0; i < at && i < P->len; i++)
        if (P->s[i] == '\n') {
            l++;
            line_start = i + 1;
        }
    *line = l;
    *column = at - line_start + 1;
}

static sl_status fail_at(parser *P, size_t at, const char *fmt, ...) SL_PRINTF(3, 4);

static sl_status fail_at(parser *P, size_t at, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t line, column;
    line_column(P, at, &line, &column);
    return sl_fail(P->err, SL_ERR_FORMAT, "JSON at byte %zu (line %zu, column %zu): %s", at, line,
                   column, msg);
}

/* What is at byte `at`, for "found ...". */
static void describe(const parser *P, size_t at, char *buf, size_t cap)
{
    if (at >= P->len) {
        snprintf(buf, cap, "the end of the input");
        return;
    }
    uint8_t c = P->s[at];
    if (at + 2 < P->len && c == 0xEF && P->s[at + 1] == 0xBB && P->s[at + 2] == 0xBF)
        snprintf(buf, cap, "a byte-order mark");
    else if (c < 0x20)
        snprintf(buf, cap, "the control character U+%04X", (unsigned)c);
    else if (c < 0x7F)
        snprintf(buf, cap, "'%c'", (char)c);
    else
        snprintf(buf, cap, "byte 0x%02X", (unsigned)c);
}

static sl_status expected(parser *P, size_t at, const char *what)
{
    char found[40];
    describe(P, at, found, sizeof found);
    return fail_at(P, at, "expected %s, found %s", what, found);
}

/* A key for a message: at most KEY_DISPLAY bytes, unprintables as \xNN. */
static void display_key(char *buf, size_t cap, const char *key, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < cap; i++) {
        if (i == KEY_DISPLAY) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        uint8_t c = (uint8_t)key[i];
        if (c < 0x20 || c == 0x7F || c == '\'' || c == '\\')
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02X", (unsigned)c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = 0;
}

static void skip_ws(parser *P)
{
    while (P->pos < P->len) {
        uint8_t c = P->s[P->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        P->pos++;
    }
}

static sl_status no_memory(parser *P)
{
    return sl_fail(P->err, SL_ERR_NO_MEMORY, "JSON: out of memory after %zu of %zu bytes", P->pos,
                   P->len);
}

static sl_status push_pending(parser *P, const sl_json *v)
{
    if (P->n_pending == P->cap_pending) {
        size_t cap = P->cap_pending ? P->cap_pending * 2 : 64;
        if (cap < P->cap_pending || cap > SIZE_MAX / sizeof(sl_json))
            return no_memory(P);
        sl_json *grown = realloc(P->pending, cap * sizeof(sl_json));
        if (!grown)
            return no_memory(P);
        P->pending = grown;
        P->cap_pending = cap;
    }
    P->pending[P->n_pending++] = *v;
    return SL_OK;
}

/* ---- strings ---- */

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at `at`, or fails at the first that is not one. */
static sl_status hex4(parser *P, size_t at, unsigned *out)
{
    unsigned v = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = at + k < P->len ? hex_value(P->s[at + k]) : -1;
        if (h < 0)
            return expected(P, at + k, "a hex digit (\\u takes four)");
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return SL_OK;
}

static size_t put_utf8(uint8_t *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the well-formed UTF-8 sequence at s[i] (lead byte >= 0x80)
 * within s[0..end), per Unicode Table 3-7; 0 if ill-formed. */
static size_t utf8_sequence(const uint8_t *s, size_t i, size_t end)
{
    uint8_t c = s[i];
    size_t n;
    uint8_t lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n > end - i)
        return 0;
    if (s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if (s[i + k] < 0x80 || s[i + k] > 0xBF)
            return 0;
    return n;
}

/* Decodes the string whose opening quote is at P->pos. */
static sl_status parse_string(parser *P, const char **out, size_t *out_len)
{
    const uint8_t *s = P->s;
    size_t start = P->pos + 1, end = start;
    while (end < P->len && s[end] != '"')
        end += s[end] == '\\' ? 2 : 1;
    if (end > P->len)
        end = P->len;
    uint8_t *buf = arena_alloc(P->d, end - start + 1);
    if (!buf)
        return no_memory(P);
    size_t o = 0, i = start;
    while (i < end) {
        uint8_t c = s[i];
        if (c == '\\') {
            if (i + 1 >= P->len)
                return expected(P, i + 1, "an escape after '\\'");
            uint8_t e = s[i + 1];
            static const char escapes[] = "\"\\/bfnrt", decoded[] = "\"\\/\b\f\n\r\t";
            const char *simple = e ? strchr(escapes, e) : NULL;
            if (simple) {
                buf[o++] = (uint8_t)decoded[simple - escapes];
                i += 2;
                continue;
            }
            if (e != 'u')
                return expected(P, i + 1, "an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)");
            unsigned cp = 0, low = 0;
            sl_status st = hex4(P, i + 2, &cp);
            if (st != SL_OK)
                return st;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail_at(P, i, "expected a character, found the unpaired low surrogate \\u%04X",
                               cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (i + 7 >= P->len || s[i + 6] != '\\' || s[i + 7] != 'u')
                    return fail_at(P, i + 6,
                                   "expected a low surrogate \\uDC00-\\uDFFF after the high "
                                   "surrogate \\u%04X, found no \\u escape",
                                   cp);
                st = hex4(P, i + 8, &low);
                if (st != SL_OK)
                    return st;
                if (low < 0xDC00 || low > 0xDFFF)
                    return fail_at(P, i + 6,
                                   "expected a low surrogate \\uDC00-\\uDFFF after the high "
                                   "surrogate \\u%04X, found \\u%04X",
                                   cp, low);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                i += 6;
            }
            o += put_utf8(buf + o, cp);
            i += 6;
        } else if (c < 0x20) {
            return expected(P, i, "a character of the string (control characters must be escaped)");
        } else if (c < 0x80) {
            buf[o++] = c;
            i++;
        } else {
            size_t n = utf8_sequence(s, i, end);
            if (n == 0)
                return expected(P, i, "well-formed UTF-8");
            memcpy(buf + o, s + i, n);
            o += n;
            i += n;
        }
    }
    if (end >= P->len)
        return expected(P, P->len, "'\"' to end the string");
    buf[o] = 0;
    *out = (const char *)buf;
    *out_len = o;
    P->pos = end + 1;
    return SL_OK;
}

/* ---- scalars ---- */

static bool is_digit(const parser *P, size_t at)
{
    return at < P->len && P->s[at] >= '0' && P->s[at] <= '9';
}

static sl_status parse_number(parser *P, sl_json *v)
{
    size_t start = P->pos, i = start;
    bool integer = true;
    if (i < P->len && P->s[i] == '-')
        i++;
    if (!is_digit(P, i))
        return expected(P, i, "a digit");
    if (P->s[i] == '0') {
        i++;
        if (is_digit(P, i))
            return expected(P, i, "'.', 'e' or the end of the number (no leading zeros)");
    } else {
        while (is_digit(P, i))
            i++;
    }
    if (i < P->len && P->s[i] == '.') {
        integer = false;
        i++;
        if (!is_digit(P, i))
            return expected(P, i, "a digit after the decimal point");
        while (is_digit(P, i))
            i++;
    }
    if (i < P->len && (P->s[i] == 'e' || P->s[i] == 'E')) {
        integer = false;
        i++;
        if (i < P->len && (P->s[i] == '+' || P->s[i] == '-'))
            i++;
        if (!is_digit(P, i))
            return expected(P, i, "a digit in the exponent");
        while (is_digit(P, i))
            i++;
    }
    char *text = arena_alloc(P->d, i - start + 1);
    if (!text)
        return no_memory(P);
    memcpy(text, P->s + start, i - start);
    text[i - start] = 0;
    v->type = SL_JSON_NUMBER;
    v->flag = integer;
    v->p = text;
    v->n = i - start;
    P->pos = i;
    return SL_OK;
}

static sl_status parse_literal(parser *P, sl_json *v)
{
    static const char *const words[] = {"true", "false", "null"};
    uint8_t c = P->s[P->pos];
    int w = c == 't' ? 0 : c == 'f' ? 1 : 2;
    const char *word = words[w];
    size_t n = strlen(word);
    for (size_t k = 0; k < n; k++)
        if (P->pos + k >= P->len || P->s[P->pos + k] != (uint8_t)word[k]) {
            char what[16];
            snprintf(what, sizeof what, "'%s'", word);
            return expected(P, P->pos + k, what);
        }
    v->type = w == 2 ? SL_JSON_NULL : SL_JSON_BOOL;
    v->flag = w == 0;
    P->pos += n;
    return SL_OK;
}

/* ---- containers ---- */

static uint64_t hash_key(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3u;
    return h;
}

static size_t index_slots(size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    return cap;
}

static bool same_key(const sl_json *m, const char *key, size_t len)
{
    return m->key_len == len && memcmp(m->key, key, len) == 0;
}

static sl_status duplicate(parser *P, const sl_json *second, const sl_json *first)
{
    char shown[4 * KEY_DISPLAY + 8];
    display_key(shown, sizeof shown, second->key, second->key_len);
    return fail_at(P, second->key_offset,
                   "expected unique keys in an object, found '%s' again (first at byte %zu)",
                   shown, first->key_offset);
}

/* Builds the index of a large object (after its members) or checks a
 * small one pairwise; fails on a duplicate key. */
static sl_status index_object(parser *P, sl_json *items, size_t n)
{
    if (n <= SMALL_OBJECT) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (same_key(&items[j], items[i].key, items[i].key_len))
                    return duplicate(P, &items[i], &items[j]);
        return SL_OK;
    }
    size_t cap = index_slots(n), mask = cap - 1;
    size_t *slots = (size_t *)(items + n);
    memset(slots, 0, cap * sizeof *slots);
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)hash_key(items[i].key, items[i].key_len) & mask;
        while (slots[k]) {
            const sl_json *other = &items[slots[k] - 1];
            if (same_key(other, items[i].key, items[i].key_len))
                return duplicate(P, &items[i], other);
            k = (k + 1) & mask;
        }
        slots[k] = i + 1;
    }
    return SL_OK;
}

/* Closes the innermost container into *v. */
static sl_status close_frame(parser *P, sl_json *v)
{
    frame *f = &P->frames[P->depth - 1];
    size_t n = P->n_pending - f->first;
    memset(v, 0, sizeof *v);
    v->type = f->type;
    v->offset = f->offset;
    v->n = n;
    if (n > 0) {
        size_t bytes = 0;
        if (n > SIZE_MAX / sizeof(sl_json) / 4)
            return no_memory(P);
        bytes = n * sizeof(sl_json);
        if (f->type == SL_JSON_OBJECT && n > SMALL_OBJECT)
            bytes += index_slots(n) * sizeof(size_t);
        sl_json *items = arena_alloc(P->d, bytes);
        if (!items)
            return no_memory(P);
        memcpy(items, P->pending + f->first, n * sizeof(sl_json));
        if (f->type == SL_JSON_OBJECT) {
            sl_status st = index_object(P, items, n);
            if (st != SL_OK)
                return st;
        }
        v->p = items;
    }
    P->n_pending = f->first;
    P->depth--;
    return SL_OK;
}

/* After '{' or ',' in an object: a key and ':'. */
static sl_status parse_key(parser *P, frame *f, bool after_comma)
{
    skip_ws(P);
    if (P->pos >= P->len || P->s[P->pos] != '"')
        return expected(P, P->pos, after_comma ? "a string (the next key)" : "a string key or '}'");
    f->key_offset = P->pos;
    sl_status st = parse_string(P, &f->key, &f->key_len);
    if (st != SL_OK)
        return st;
    skip_ws(P);
    if (P->pos >= P->len || P->s[P->pos] != ':')
        return expected(P, P->pos, "':' after the key");
    P->pos++;
    return SL_OK;
}

static sl_status parse_text(parser *P)
{
    for (;;) {
        /* a value starts here */
        sl_json v;
        memset(&v, 0, sizeof v);
        sl_status st = SL_OK;
        skip_ws(P);
        v.offset = P->pos;
        uint8_t c = P->pos < P->len ? P->s[P->pos] : 0;
        if (P->pos >= P->len) {
            return expected(P, P->pos, "a value");
        } else if (c == '{' || c == '[') {
            if (P->depth == SL_JSON_MAX_DEPTH)
                return fail_at(P, P->pos,
                               "expected at most %d nested arrays and objects, found one more",
                               SL_JSON_MAX_DEPTH);
            frame *f = &P->frames[P->depth++];
            memset(f, 0, sizeof *f);
            f->type = c == '{' ? SL_JSON_OBJECT : SL_JSON_ARRAY;
            f->offset = P->pos;
            f->first = P->n_pending;
            P->pos++;
            skip_ws(P);
            if (P->pos < P->len && P->s[P->pos] == (c == '{' ? '}' : ']')) {
                P->pos++;
                st = close_frame(P, &v);
            } else if (c == '{') {
                st = parse_key(P, f, false);
                if (st != SL_OK)
                    return st;
                continue;
            } else {
                continue;
            }
        } else if (c == '"') {
            const char *str = NULL;
            v.type = SL_JSON_STRING;
            st = parse_string(P, &str, &v.n);
            v.p = str;
        } else if (c == 't' || c == 'f' || c == 'n') {
            st = parse_literal(P, &v);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            st = parse_number(P, &v);
        } else {
            return expected(P, P->pos, "a value");
        }
        if (st != SL_OK)
            return st;

        /* v is complete: attach it, closing containers as they end */
        for (;;) {
            if (P->depth == 0) {
                P->d->root = v;
                skip_ws(P);
                if (P->pos != P->len)
                    return expected(P, P->pos, "the end of the input after the value");
                return SL_OK;
            }
            frame *f = &P->frames[P->depth - 1];
            bool object = f->type == SL_JSON_OBJECT;
            if (object) {
                v.key = f->key;
                v.key_len = f->key_len;
                v.key_offset = f->key_offset;
            }
            st = push_pending(P, &v);
            if (st != SL_OK)
                return st;
            skip_ws(P);
            uint8_t next = P->pos < P->len ? P->s[P->pos] : 0;
            if (P->pos < P->len && next == ',') {
                P->pos++;
                if (object) {
                    st = parse_key(P, f, true);
                    if (st != SL_OK)
                        return st;
                }
                break; /* to the next value */
            }
            if (P->pos < P->len && next == (object ? '}' : ']')) {
                P->pos++;
                st = close_frame(P, &v);
                if (st != SL_OK)
                    return st;
                continue;
            }
            return expected(P, P->pos, object ? "',' or '}'" : "',' or ']'");
        }
    }
}

sl_status sl_json_parse(const char *text, size_t len, sl_json **root, sl_error *err)
{
    if (root)
        *root = NULL;
    if (!root || (!text && len > 0))
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "sl_json_parse: %s is NULL",
                       root ? "text" : "root");
    doc *d = calloc(1, sizeof *d);
    if (!d)
        return sl_fail(err, SL_ERR_NO_MEMORY, "JSON: out of memory");
    static const uint8_t empty[1];
    parser *P = calloc(1, sizeof *P);
    if (!P) {
        free(d);
        return sl_fail(err, SL_ERR_NO_MEMORY, "JSON: out of memory");
    }
    P->s = text ? (const uint8_t *)text : empty;
    P->len = len;
    P->d = d;
    P->err = err;
    sl_status st = parse_text(P);
    free(P->pending);
    free(P);
    if (st != SL_OK) {
        sl_json_free(&d->root);
        return st;
    }
    *root = &d->root;
    return SL_OK;
}

void sl_json_free(sl_json *root)
{
    if (!root)
        return;
    doc *d = (doc *)(void *)((char *)root - offsetof(doc, root));
    chunk *c = d->chunks;
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    free(d);
}

/* ---- accessors -------------------------------------------------------------- */

sl_json_type sl_json_type_of(const sl_json *v)
{
    return v ? v->type : SL_JSON_NULL;
}

const char *sl_json_type_name(sl_json_type type)
{
    switch (type) {
    case SL_JSON_NULL: return "null";
    case SL_JSON_BOOL: return "boolean";
    case SL_JSON_NUMBER: return "number";
    case SL_JSON_STRING: return "string";
    case SL_JSON_ARRAY: return "array";
    case SL_JSON_OBJECT: return "object";
    }
    return "unknown";
}

size_t sl_json_offset(const sl_json *v)
{
    return v ? v->offset : 0;
}

size_t sl_json_object_size(const sl_json *obj)
{
    return obj && obj->type == SL_JSON_OBJECT ? obj->n : 0;
}

const sl_json *sl_json_object_at(const sl_json *obj, size_t i, const char **key, size_t *key_len)
{
    if (!obj || obj->type != SL_JSON_OBJECT || i >= obj->n)
        return NULL;
    const sl_json *m = (const sl_json *)obj->p + i;
    if (key)
        *key = m->key;
    if (key_len)
        *key_len = m->key_len;
    return m;
}

const sl_json *sl_json_object_get(const sl_json *obj, const char *key)
{
    if (!obj || !key || obj->type != SL_JSON_OBJECT || obj->n == 0)
        return NULL;
    const sl_json *items = obj->p;
    size_t len = strlen(key);
    if (obj->n <= SMALL_OBJECT) {
        for (size_t i = 0; i < obj->n; i++)
            if (same_key(&items[i], key, len))
                return &items[i];
        return NULL;
    }
    size_t mask = index_slots(obj->n) - 1;
    const size_t *slots = (const size_t *)(items + obj->n);
    for (size_t k = (size_t)hash_key(key, len) & mask; slots[k]; k = (k + 1) & mask)
        if (same_key(&items[slots[k] - 1], key, len))
            return &items[slots[k] - 1];
    return NULL;
}

size_t sl_json_array_size(const sl_json *arr)
{
    return arr && arr->type == SL_JSON_ARRAY ? arr->n : 0;
}

const sl_json *sl_json_array_at(const sl_json *arr, size_t i)
{
    if (!arr || arr->type != SL_JSON_ARRAY || i >= arr->n)
        return NULL;
    return (const sl_json *)arr->p + i;
}

const char *sl_json_string(const sl_json *v, size_t *len)
{
    if (!v || v->type != SL_JSON_STRING)
        return NULL;
    if (len)
        *len = v->n;
    return v->p;
}

bool sl_json_bool(const sl_json *v, bool *out)
{
    if (!v || v->type != SL_JSON_BOOL)
        return false;
    if (out)
        *out = v->flag;
    return true;
}

const char *sl_json_number_text(const sl_json *v, size_t *len)
{
    if (!v || v->type != SL_JSON_NUMBER)
        return NULL;
    if (len)
        *len = v->n;
    return v->p;
}

bool sl_json_is_integer(const sl_json *v)
{
    return v && v->type == SL_JSON_NUMBER && v->flag;
}

/* The magnitude of an integer text; false past UINT64_MAX. */
static bool integer_magnitude(const sl_json *v, bool *neg, uint64_t *mag)
{
    if (!sl_json_is_integer(v))
        return false;
    const char *s = v->p;
    *neg = *s == '-';
    if (*neg)
        s++;
    uint64_t m = 0;
    for (; *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (m > (UINT64_MAX - d) / 10)
            return false;
        m = m * 10 + d;
    }
    *mag = m;
    return true;
}

bool sl_json_int64(const sl_json *v, int64_t *out)
{
    bool neg;
    uint64_t mag;
    if (!integer_magnitude(v, &neg, &mag))
        return false;
    int64_t value;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1)
            return false;
        value = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX)
            return false;
        value = (int64_t)mag;
    }
    if (out)
        *out = value;
    return true;
}

bool sl_json_uint64(const sl_json *v, uint64_t *out)
{
    bool neg;
    uint64_t mag;
    if (!integer_magnitude(v, &neg, &mag) || (neg && mag != 0))
        return false;
    if (out)
        *out = mag;
    return true;
}

/* strtod in the "C" locale whatever the process's locale. */
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

bool sl_json_double(const sl_json *v, double *out)
{
    if (!v || v->type != SL_JSON_NUMBER)
        return false;
    pthread_once(&c_locale_once, make_c_locale);
    double d;
    int saved = errno;
    errno = 0;
    if (c_locale != (locale_t)0) {
        d = strtod_l(v->p, NULL, c_locale);
    } else {
        const char *point = localeconv()->decimal_point;
        if (strchr(v->p, '.') && strcmp(point, ".") != 0) {
            errno = saved;
            return false; /* cannot convert safely; newlocale failed */
        }
        d = strtod(v->p, NULL);
    }
    bool overflow = errno == ERANGE && isinf(d);
    errno = saved;
    if (overflow)
        return false;
    if (out)
        *out = d;
    return true;
}

sl_status sl_json_parse_file(const char *path, sl_json **root, sl_error *err)
{
    if (root)
        *root = NULL;
    if (!path || !root)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "sl_json_parse_file: %s is NULL",
                       path ? "root" : "path");
    const uint8_t *data;
    size_t size;
    sl_status s = sl_map_file(path, &data, &size, err);
    if (s != SL_OK)
        return s;
    sl_error jerr;
    s = sl_json_parse(size ? (const char *)data : "", size, root, &jerr);
    sl_unmap_file(data, size);
    if (s != SL_OK)
        return sl_fail(err, s, "%s: %s", path, jerr.message);
    return SL_OK;
}
