/* libFuzzer target for the JSON parser. Any input must either be refused
 * with SL_ERR_FORMAT and a message "JSON at byte B ..." with B within the
 * input, or parse into a tree whose every accessor behaves: strings are
 * well-formed UTF-8 of the stated length, NUL-terminated; object lookups
 * find each member; number accessors agree with each other. A parsed tree
 * is written back out as JSON, which must parse into an equal tree (the
 * writer here is independent of the parser). Invariants are checked with
 * __builtin_trap so the fuzzer reports them.
 *
 * Run: build-fuzz/fuzz/fuzz-json fuzz/corpus-json -dict=fuzz/json.dict -max_total_time=600 */
#include "fuzz-util.h"
#include "model/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* An independent check of well-formed UTF-8 (Unicode 3.9 D92). */
static bool utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i], cp, min;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (k > n - i - 1)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

typedef struct {
    char *p;
    size_t len, cap;
} buffer;

static void put(buffer *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->p, cap);
        REQUIRE(p != NULL);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void put_string(buffer *b, const char *s, size_t n)
{
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c < 0x20 || c == '"' || c == '\\') {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)c);
            put(b, esc, 6);
        } else {
            put(b, s + i, 1);
        }
    }
    put(b, "\"", 1);
}

static void put_scalar(buffer *b, const sl_json *v)
{
    size_t n;
    bool flag;
    switch (sl_json_type_of(v)) {
    case SL_JSON_NULL: put(b, "null", 4); break;
    case SL_JSON_BOOL:
        REQUIRE(sl_json_bool(v, &flag));
        put(b, flag ? "true" : "false", flag ? 4 : 5);
        break;
    case SL_JSON_NUMBER: {
        const char *t = sl_json_number_text(v, &n);
        put(b, t, n);
        break;
    }
    case SL_JSON_STRING: {
        const char *s = sl_json_string(v, &n);
        put_string(b, s, n);
        break;
    }
    default: REQUIRE(0);
    }
}

typedef struct {
    const sl_json *v;
    size_t next;
} frame;

/* Writes the tree out as JSON, without recursion; checks the accessors. */
static void write_tree(buffer *b, const sl_json *root)
{
    frame stack[SL_JSON_MAX_DEPTH + 1];
    size_t depth = 0;
    const sl_json *v = root;
    for (;;) {
        sl_json_type t = sl_json_type_of(v);
        if (t == SL_JSON_ARRAY || t == SL_JSON_OBJECT) {
            REQUIRE(depth < SL_JSON_MAX_DEPTH);
            stack[depth++] = (frame){v, 0};
            put(b, t == SL_JSON_ARRAY ? "[" : "{", 1);
        } else {
            put_scalar(b, v);
        }
        v = NULL;
        while (depth > 0 && !v) {
            frame *f = &stack[depth - 1];
            bool object = sl_json_type_of(f->v) == SL_JSON_OBJECT;
            size_t size = object ? sl_json_object_size(f->v) : sl_json_array_size(f->v);
            if (f->next == size) {
                REQUIRE(object ? sl_json_object_at(f->v, size, NULL, NULL) == NULL
                               : sl_json_array_at(f->v, size) == NULL);
                put(b, object ? "}" : "]", 1);
                depth--;
                continue;
            }
            if (f->next > 0)
                put(b, ",", 1);
            if (object) {
                const char *key = NULL;
                size_t key_len = 0;
                v = sl_json_object_at(f->v, f->next, &key, &key_len);
                REQUIRE(v && key && key[key_len] == 0 && utf8_ok((const uint8_t *)key, key_len));
                if (strlen(key) == key_len)
                    REQUIRE(sl_json_object_get(f->v, key) == v);
                put_string(b, key, key_len);
                put(b, ":", 1);
            } else {
                v = sl_json_array_at(f->v, f->next);
                REQUIRE(v != NULL);
            }
            f->next++;
        }
        if (!v)
            return;
    }
}

static void check_scalar(const sl_json *v)
{
    size_t n;
    if (sl_json_type_of(v) == SL_JSON_STRING) {
        const char *s = sl_json_string(v, &n);
        REQUIRE(s && s[n] == 0 && utf8_ok((const uint8_t *)s, n));
    } else if (sl_json_type_of(v) == SL_JSON_NUMBER) {
        const char *t = sl_json_number_text(v, &n);
        REQUIRE(t && strlen(t) == n && n > 0);
        int64_t i;
        uint64_t u;
        double d;
        bool iok = sl_json_int64(v, &i), uok = sl_json_uint64(v, &u);
        if (iok || uok)
            REQUIRE(sl_json_is_integer(v));
        if (iok && uok)
            REQUIRE(i >= 0 && (uint64_t)i == u);
        if (sl_json_double(v, &d)) {
            REQUIRE(d == d && d - d == 0); /* finite */
            if (iok && i > -(1ll << 53) && i < (1ll << 53))
                REQUIRE(d == (double)i);
        }
    }
}

/* Compares two trees, and checks every scalar of the first. */
static void compare(const sl_json *a, const sl_json *b)
{
    struct {
        const sl_json *a, *b;
        size_t next;
    } stack[SL_JSON_MAX_DEPTH + 1];
    size_t depth = 0;
    for (;;) {
        sl_json_type t = sl_json_type_of(a);
        REQUIRE(t == sl_json_type_of(b));
        size_t na, nb;
        bool fa, fb;
        switch (t) {
        case SL_JSON_BOOL:
            REQUIRE(sl_json_bool(a, &fa) && sl_json_bool(b, &fb) && fa == fb);
            break;
        case SL_JSON_NUMBER: {
            const char *ta = sl_json_number_text(a, &na), *tb = sl_json_number_text(b, &nb);
            REQUIRE(na == nb && memcmp(ta, tb, na) == 0);
            break;
        }
        case SL_JSON_STRING: {
            const char *sa = sl_json_string(a, &na), *sb = sl_json_string(b, &nb);
            REQUIRE(na == nb && memcmp(sa, sb, na) == 0);
            break;
        }
        case SL_JSON_ARRAY:
        case SL_JSON_OBJECT:
            REQUIRE(depth < SL_JSON_MAX_DEPTH);
            stack[depth].a = a;
            stack[depth].b = b;
            stack[depth].next = 0;
            depth++;
            break;
        default: break;
        }
        check_scalar(a);
        a = b = NULL;
        while (depth > 0 && !a) {
            size_t d = depth - 1;
            bool object = sl_json_type_of(stack[d].a) == SL_JSON_OBJECT;
            size_t sa = object ? sl_json_object_size(stack[d].a) : sl_json_array_size(stack[d].a);
            size_t sb = object ? sl_json_object_size(stack[d].b) : sl_json_array_size(stack[d].b);
            REQUIRE(sa == sb);
            if (stack[d].next == sa) {
                depth--;
                continue;
            }
            size_t i = stack[d].next++;
            if (object) {
                const char *ka, *kb;
                size_t la, lb;
                a = sl_json_object_at(stack[d].a, i, &ka, &la);
                b = sl_json_object_at(stack[d].b, i, &kb, &lb);
                REQUIRE(la == lb && memcmp(ka, kb, la) == 0);
            } else {
                a = sl_json_array_at(stack[d].a, i);
                b = sl_json_array_at(stack[d].b, i);
            }
        }
        if (!a)
            return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_json *root = NULL;
    sl_error err;
    sl_status s = sl_json_parse((const char *)data, size, &root, &err);
    if (s != SL_OK) {
        REQUIRE(root == NULL && err.code == s);
        if (s == SL_ERR_NO_MEMORY)
            return 0;
        REQUIRE(s == SL_ERR_FORMAT);
        unsigned long long at;
        REQUIRE(sscanf(err.message, "JSON at byte %llu", &at) == 1 && at <= size);
        return 0;
    }
    REQUIRE(root != NULL && sl_json_offset(root) < size);
    buffer out = {0};
    write_tree(&out, root);
    sl_json *again = NULL;
    REQUIRE(sl_json_parse(out.p, out.len, &again, &err) == SL_OK);
    compare(root, again);
    sl_json_free(again);
    sl_json_free(root);
    free(out.p);
    return 0;
}
