/* The safetensors reader (engine/model/safetensors.c) against files written
 * by the safetensors Python package (tests/reference/make-safetensors-
 * fixtures.py): every tensor's dtype, shape, bytes and float32 conversion
 * (expected values from torch and numpy), metadata, lookups. Then a corpus
 * of broken files derived here from floats.safetensors: truncations at
 * every length, hostile header lengths, headers that are not JSON or not
 * the right JSON, unknown dtypes, shapes and offsets that disagree, offsets
 * past the end, overlaps, holes, duplicate names, bad metadata. Each must be
 * refused with SL_ERR_FORMAT or SL_ERR_UNSUPPORTED and a message naming the
 * file; a missing file gives SL_ERR_IO. A few mutations that keep the file
 * valid must open, so the mutation machinery is known to work.
 *
 * Usage: test-safetensors FIXTURE_DIR */
#include "../test-util.h"
#include "model/safetensors.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define ANY_ERROR ((sl_status)-1) /* SL_ERR_FORMAT or SL_ERR_UNSUPPORTED */

static const char *fixtures;
static char tmpdir[4096];
static int n_cases;

static void *read_fixture(const char *rel, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", fixtures, rel);
    void *data = sl_test_read_file(path, len);
    CHECKF(data != NULL, "cannot read %s", path);
    return data;
}

static bool is_float(sl_st_dtype d)
{
    return d == SL_ST_F32 || d == SL_ST_F16 || d == SL_ST_BF16 || d == SL_ST_F64 ||
           d == SL_ST_F8_E4M3 || d == SL_ST_F8_E5M2;
}

static bool same_float(float a, float b)
{
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return x == y || (isnan(a) && isnan(b));
}

/* ---- the fixtures ------------------------------------------------------------- */

static void test_dtypes(void)
{
    static const struct {
        sl_st_dtype d;
        const char *name;
        size_t size;
    } want[] = {
        {SL_ST_BOOL, "BOOL", 1}, {SL_ST_U8, "U8", 1},     {SL_ST_I8, "I8", 1},
        {SL_ST_I16, "I16", 2},   {SL_ST_U16, "U16", 2},   {SL_ST_F16, "F16", 2},
        {SL_ST_BF16, "BF16", 2}, {SL_ST_I32, "I32", 4},   {SL_ST_U32, "U32", 4},
        {SL_ST_F32, "F32", 4},   {SL_ST_F64, "F64", 8},   {SL_ST_I64, "I64", 8},
        {SL_ST_U64, "U64", 8},   {SL_ST_F8_E4M3, "F8_E4M3", 1}, {SL_ST_F8_E5M2, "F8_E5M2", 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        CHECKF(strcmp(sl_st_dtype_name(want[i].d), want[i].name) == 0, "%s", want[i].name);
        CHECKF(sl_st_dtype_size(want[i].d) == want[i].size, "%s", want[i].name);
    }
    CHECK(sl_st_dtype_name((sl_st_dtype)99) == NULL && sl_st_dtype_size((sl_st_dtype)99) == 0);
}

static sl_safetensors *open_fixture(const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", fixtures, file);
    sl_safetensors *st = NULL;
    sl_error err = {0};
    sl_status s = sl_safetensors_open(path, &st, &err);
    CHECKF(s == SL_OK && st, "%s: %s", path, err.message);
    if (st)
        CHECK(strcmp(sl_safetensors_path(st), path) == 0);
    return st;
}

static void check_tensor(sl_safetensors *st, const char *file, const char *name, const char *dtype,
                         uint32_t n_dims, const uint64_t *dims)
{
    const sl_st_tensor *t = sl_safetensors_find(st, name);
    CHECKF(t != NULL, "%s: no tensor %s", file, name);
    if (!t)
        return;
    CHECKF(strcmp(t->name, name) == 0, "%s", name);
    CHECKF(strcmp(sl_st_dtype_name(t->dtype), dtype) == 0, "%s: dtype %s, wanted %s", name,
           sl_st_dtype_name(t->dtype), dtype);
    CHECKF(t->n_dims == n_dims, "%s: %u dims", name, t->n_dims);
    uint64_t count = 1;
    for (uint32_t d = 0; d < n_dims && d < t->n_dims; d++) {
        CHECKF(t->dims[d] == dims[d], "%s: dims[%u] = %llu", name, d,
               (unsigned long long)t->dims[d]);
        count *= dims[d];
    }
    CHECKF(t->n_elements == count, "%s: %llu elements", name, (unsigned long long)t->n_elements);
    CHECK(t->n_bytes == count * sl_st_dtype_size(t->dtype));

    char rel[512];
    char stem[256];
    snprintf(stem, sizeof stem, "%.*s", (int)(strchr(file, '.') - file), file);
    snprintf(rel, sizeof rel, "expected/%s/%s.raw", stem, name);
    size_t raw_len = 0;
    uint8_t *raw = read_fixture(rel, &raw_len);
    CHECKF(raw && raw_len == t->n_bytes && memcmp(raw, t->data, raw_len) == 0, "%s: bytes differ",
           name);
    free(raw);

    uint64_t n = t->n_elements;
    float *out = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!is_float(t->dtype)) {
        CHECKF(!sl_st_to_f32(t, 0, n, out), "%s: converted a non-float dtype", name);
        free(out);
        return;
    }
    snprintf(rel, sizeof rel, "expected/%s/%s.f32", stem, name);
    size_t f32_len = 0;
    float *want = read_fixture(rel, &f32_len);
    CHECKF(want && f32_len == n * 4, "%s: expected values", name);
    CHECKF(sl_st_to_f32(t, 0, n, out), "%s: conversion refused", name);
    int wrong = 0;
    for (uint64_t i = 0; want && f32_len == n * 4 && i < n; i++)
        if (!same_float(out[i], want[i])) {
            if (wrong++ < 5)
                fprintf(stderr, "%s[%llu]: %.9g, wanted %.9g\n", name, (unsigned long long)i,
                        out[i], want[i]);
        }
    CHECKF(wrong == 0, "%s: %d values differ", name, wrong);

    /* a range inside, and ranges out of bounds */
    if (n >= 3 && want) {
        float part[2] = {0, 0};
        CHECK(sl_st_to_f32(t, n - 3, 2, part));
        CHECKF(same_float(part[0], want[n - 3]) && same_float(part[1], want[n - 2]), "%s range",
               name);
    }
    CHECK(sl_st_to_f32(t, n, 0, out));
    CHECK(!sl_st_to_f32(t, n, 1, out));
    CHECK(!sl_st_to_f32(t, 1, n, out) || n == 0);
    CHECK(!sl_st_to_f32(t, UINT64_MAX, 2, out));
    CHECK(!sl_st_to_f32(t, 1, UINT64_MAX, out));

    /* the same bytes one byte off alignment */
    if (n > 0) {
        uint8_t *shifted = malloc((size_t)t->n_bytes + 1);
        memcpy(shifted + 1, t->data, (size_t)t->n_bytes);
        sl_st_tensor moved = *t;
        moved.data = shifted + 1;
        float *again = malloc((size_t)n * sizeof(float));
        CHECK(sl_st_to_f32(&moved, 0, n, again));
        CHECKF(memcmp(again, out, (size_t)n * 4) == 0 || wrong, "%s unaligned", name);
        free(again);
        free(shifted);
    }
    free(want);
    free(out);
}

static void test_fixture_tensors(void)
{
    size_t len = 0;
    char *manifest = read_fixture("expected/manifest.txt", &len);
    if (!manifest)
        return;
    sl_safetensors *floats = open_fixture("floats.safetensors");
    sl_safetensors *ints = open_fixture("ints.safetensors");
    if (!floats || !ints) {
        sl_safetensors_close(floats);
        sl_safetensors_close(ints);
        free(manifest);
        return;
    }
    int64_t seen_floats = 0, seen_ints = 0;
    for (char *line = strtok(manifest, "\n"); line; line = strtok(NULL, "\n")) {
        char file[128], name[128], dtype[16];
        unsigned n_dims;
        int used = 0;
        if (sscanf(line, "%127s %127s %15s %u%n", file, name, dtype, &n_dims, &used) != 4 ||
            n_dims > SL_ST_MAX_DIMS) {
            CHECKF(0, "bad manifest line '%s'", line);
            continue;
        }
        uint64_t dims[SL_ST_MAX_DIMS];
        const char *p = line + used;
        for (unsigned d = 0; d < n_dims; d++) {
            unsigned long long v;
            int k = 0;
            CHECK(sscanf(p, "%llu%n", &v, &k) == 1);
            dims[d] = v;
            p += k;
        }
        bool is_floats = strcmp(file, "floats.safetensors") == 0;
        check_tensor(is_floats ? floats : ints, file, name, dtype, n_dims, dims);
        if (is_floats)
            seen_floats++;
        else
            seen_ints++;
    }
    free(manifest);
    CHECKF(sl_safetensors_n_tensors(floats) == seen_floats && seen_floats == 10, "%lld tensors",
           (long long)sl_safetensors_n_tensors(floats));
    CHECK(sl_safetensors_n_tensors(ints) == seen_ints && seen_ints == 10);

    /* tensor_at lists each once, in header order (here also data order) */
    sl_safetensors *both[] = {floats, ints};
    for (int f = 0; f < 2; f++) {
        const uint8_t *prev = NULL;
        for (int64_t i = 0; i < sl_safetensors_n_tensors(both[f]); i++) {
            const sl_st_tensor *t = sl_safetensors_tensor_at(both[f], i);
            CHECK(t && sl_safetensors_find(both[f], t->name) == t);
            CHECK(t && (!prev || (const uint8_t *)t->data >= prev));
            prev = t ? t->data : prev;
        }
        CHECK(sl_safetensors_tensor_at(both[f], -1) == NULL);
        CHECK(sl_safetensors_tensor_at(both[f], sl_safetensors_n_tensors(both[f])) == NULL);
        CHECK(sl_safetensors_find(both[f], "__metadata__") == NULL);
        CHECK(sl_safetensors_find(both[f], "missing") == NULL);
        CHECK(sl_safetensors_find(both[f], "") == NULL);
        CHECK(sl_safetensors_find(both[f], NULL) == NULL);
    }
    const sl_st_tensor *empty = sl_safetensors_find(floats, "f32.empty");
    CHECK(empty && empty->n_elements == 0 && empty->n_bytes == 0 && sl_st_to_f32(empty, 0, 0, NULL));
    const sl_st_tensor *scalar = sl_safetensors_find(floats, "f32.scalar");
    float x = 0;
    CHECK(scalar && scalar->n_dims == 0 && scalar->n_elements == 1 &&
          sl_st_to_f32(scalar, 0, 1, &x) && x == -2.75f);
    sl_safetensors_close(floats);
    sl_safetensors_close(ints);
}

static int hex_nibble(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "x" + hex of UTF-8 bytes → a NUL-terminated string. */
static bool unhex(const char *s, char *out, size_t cap)
{
    if (*s++ != 'x')
        return false;
    size_t n = strlen(s);
    if (n % 2 || n / 2 >= cap)
        return false;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (char)(hi << 4 | lo);
    }
    out[n / 2] = 0;
    return true;
}

static void test_metadata(void)
{
    size_t len = 0;
    char *list = read_fixture("expected/metadata.txt", &len);
    if (!list)
        return;
    sl_safetensors *floats = open_fixture("floats.safetensors");
    sl_safetensors *ints = open_fixture("ints.safetensors");
    int64_t seen[2] = {0, 0};
    for (char *line = strtok(list, "\n"); line && floats && ints; line = strtok(NULL, "\n")) {
        char file[128], hkey[512], hvalue[512], key[256], value[256];
        if (sscanf(line, "%127s %511s %511s", file, hkey, hvalue) != 3 ||
            !unhex(hkey, key, sizeof key) || !unhex(hvalue, value, sizeof value)) {
            CHECKF(0, "bad metadata line '%s'", line);
            continue;
        }
        int f = strcmp(file, "floats.safetensors") == 0 ? 0 : 1;
        sl_safetensors *st = f == 0 ? floats : ints;
        const char *got = sl_safetensors_metadata(st, key);
        CHECKF(got && strcmp(got, value) == 0, "%s: metadata '%s' = '%s'", file, key,
               got ? got : "(none)");
        bool listed = false;
        for (int64_t i = 0; i < sl_safetensors_n_metadata(st); i++)
            listed |= strcmp(sl_safetensors_metadata_key(st, i), key) == 0;
        CHECKF(listed, "%s: key '%s' not listed", file, key);
        seen[f]++;
    }
    free(list);
    if (floats && ints) {
        CHECK(seen[0] == 4 && sl_safetensors_n_metadata(floats) == seen[0]);
        CHECK(seen[1] == 2 && sl_safetensors_n_metadata(ints) == seen[1]);
        CHECK(sl_safetensors_metadata(floats, "missing") == NULL);
        CHECK(sl_safetensors_metadata(floats, NULL) == NULL);
        CHECK(sl_safetensors_metadata_key(floats, -1) == NULL);
        CHECK(sl_safetensors_metadata_key(floats, 4) == NULL);
        /* metadata is not a tensor, and tensors are not metadata */
        CHECK(sl_safetensors_metadata(floats, "f32.matrix") == NULL);
    }
    sl_safetensors_close(floats);
    sl_safetensors_close(ints);

    sl_safetensors *empty = open_fixture("empty.safetensors");
    CHECK(sl_safetensors_n_tensors(empty) == 0 && sl_safetensors_n_metadata(empty) == 0);
    CHECK(sl_safetensors_metadata(empty, "format") == NULL);
    CHECK(sl_safetensors_metadata_key(empty, 0) == NULL);
    CHECK(sl_safetensors_tensor_at(empty, 0) == NULL);
    sl_safetensors_close(empty);

    /* accessors given NULL */
    CHECK(sl_safetensors_n_tensors(NULL) == 0 && sl_safetensors_n_metadata(NULL) == 0);
    CHECK(sl_safetensors_tensor_at(NULL, 0) == NULL && sl_safetensors_find(NULL, "a") == NULL);
    CHECK(sl_safetensors_path(NULL) == NULL && sl_safetensors_metadata(NULL, "a") == NULL);
    CHECK(!sl_st_to_f32(NULL, 0, 0, NULL));
    sl_safetensors_close(NULL);
}

/* ---- broken files --------------------------------------------------------------- */

static uint8_t *orig;
static size_t orig_len;
static char *header; /* the JSON header of floats.safetensors, NUL-terminated */
static size_t header_len;
static const uint8_t *data_section;
static size_t data_len;

/* Writes bytes to a fresh file named after the case; returns its path. */
static const char *write_case(const char *name, const void *bytes, size_t len)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%03d-%s.safetensors", tmpdir, n_cases++, name);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(bytes, 1, len, f) != len)) {
        perror(path);
        abort();
    }
    fclose(f);
    return path;
}

/* Opens the file; wanted is SL_OK, an error code, or ANY_ERROR. The message
 * must name the file, and contain `says` when given. */
static void expect_at(int line, const char *name, const char *path, sl_status wanted,
                      const char *says)
{
    sl_safetensors *st = (sl_safetensors *)(uintptr_t)1;
    sl_error err = {0};
    sl_status s = sl_safetensors_open(path, &st, &err);
    if (wanted == SL_OK) {
        if (s != SL_OK || !st)
            fprintf(stderr, "line %d: %s: should open: %s\n", line, name, err.message);
        CHECK(s == SL_OK && st);
        if (s == SL_OK) {
            /* walk it all, as a user would */
            for (int64_t i = 0; i < sl_safetensors_n_tensors(st); i++) {
                const sl_st_tensor *t = sl_safetensors_tensor_at(st, i);
                float *buf = malloc((size_t)(t->n_elements ? t->n_elements : 1) * 4);
                sl_st_to_f32(t, 0, t->n_elements, buf);
                free(buf);
            }
            sl_safetensors_close(st);
        }
        unlink(path);
        return;
    }
    bool code_ok = wanted == ANY_ERROR ? s == SL_ERR_FORMAT || s == SL_ERR_UNSUPPORTED : s == wanted;
    if (!code_ok || st != NULL || err.code != s || !strstr(err.message, path) ||
        (says && !strstr(err.message, says)))
        fprintf(stderr, "line %d: %s: status %s: %s\n", line, name, sl_status_name(s),
                err.message);
    CHECK(code_ok);
    CHECK(st == NULL);
    CHECK(err.code == s);
    CHECK(strstr(err.message, path) != NULL);
    if (says)
        CHECK(strstr(err.message, says) != NULL);
    unlink(path);
}

#define EXPECT(name, path, wanted, says) expect_at(__LINE__, name, path, wanted, says)

/* A file with this header text (its length written in front) and data. */
static const char *with_header(const char *name, const char *text, size_t text_len,
                               const void *data, size_t dlen)
{
    size_t len = 8 + text_len + dlen;
    uint8_t *buf = malloc(len);
    uint64_t n = text_len;
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(n >> (8 * i));
    memcpy(buf + 8, text, text_len);
    if (dlen)
        memcpy(buf + 8 + text_len, data, dlen);
    const char *path = write_case(name, buf, len);
    free(buf);
    return path;
}

/* floats.safetensors with `from` replaced by `to` (once) in its header. */
static const char *patched(const char *name, const char *from, const char *to)
{
    char *at = strstr(header, from);
    CHECKF(at != NULL, "%s: '%s' not in the header", name, from);
    if (!at)
        return write_case(name, "", 0);
    size_t fl = strlen(from), tl = strlen(to);
    size_t len = header_len - fl + tl;
    char *text = malloc(len + 1);
    size_t pre = (size_t)(at - header);
    memcpy(text, header, pre);
    memcpy(text + pre, to, tl);
    memcpy(text + pre + tl, at + fl, header_len - pre - fl);
    const char *path = with_header(name, text, len, data_section, data_len);
    free(text);
    return path;
}

/* floats.safetensors with its 8-byte header length replaced. */
static const char *with_length(const char *name, uint64_t n)
{
    uint8_t *buf = malloc(orig_len);
    memcpy(buf, orig, orig_len);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(n >> (8 * i));
    const char *path = write_case(name, buf, orig_len);
    free(buf);
    return path;
}

static void test_truncations(void)
{
    int wrong = 0;
    for (size_t n = 0; n < orig_len; n++) {
        const char *path = write_case("truncated", orig, n);
        sl_safetensors *st = NULL;
        sl_error err = {0};
        sl_status s = sl_safetensors_open(path, &st, &err);
        if (s != SL_ERR_FORMAT || st || !strstr(err.message, path)) {
            if (wrong++ < 5)
                fprintf(stderr, "truncated to %zu: %s: %s\n", n, sl_status_name(s), err.message);
            sl_safetensors_close(st);
        }
        unlink(path);
    }
    CHECKF(wrong == 0, "%d truncations not refused", wrong);

    /* one byte more is a byte that no tensor owns */
    uint8_t *longer = malloc(orig_len + 1);
    memcpy(longer, orig, orig_len);
    longer[orig_len] = 0;
    EXPECT("one-more-byte", write_case("longer", longer, orig_len + 1), SL_ERR_FORMAT,
           "belong to no tensor");
    free(longer);
    EXPECT("unchanged", write_case("unchanged", orig, orig_len), SL_OK, NULL);
}

static void test_header_length(void)
{
    EXPECT("length 0", with_length("len-zero", 0), SL_ERR_FORMAT, "header length is 0");
    EXPECT("length huge", with_length("len-huge", UINT64_MAX), SL_ERR_FORMAT, "exceeds the limit");
    EXPECT("length 2^63", with_length("len-2e63", (uint64_t)1 << 63), SL_ERR_FORMAT, NULL);
    EXPECT("length over cap", with_length("len-cap", SL_ST_MAX_HEADER_BYTES + 1ull), SL_ERR_FORMAT,
           "exceeds the limit");
    EXPECT("length past EOF", with_length("len-eof", orig_len - 8 + 1), SL_ERR_FORMAT,
           "past the end of the file");
    EXPECT("length to EOF", with_length("len-all", orig_len - 8), SL_ERR_FORMAT, NULL);
    EXPECT("length one short", with_length("len-short", header_len - 1), SL_ERR_FORMAT, NULL);
    EXPECT("length one long", with_length("len-long", header_len + 1), SL_ERR_FORMAT, NULL);
    EXPECT("length cuts JSON", with_length("len-cut", 10), SL_ERR_FORMAT, "JSON at byte 10");
    EXPECT("empty file", write_case("empty", "", 0), SL_ERR_FORMAT, NULL);
    EXPECT("seven bytes", write_case("seven", "\x02\0\0\0\0\0\0", 7), SL_ERR_FORMAT, NULL);
    EXPECT("length only", write_case("eight", "\x00\0\0\0\0\0\0\0", 8), SL_ERR_FORMAT, NULL);

    /* the smallest valid file, and padding as the format allows */
    EXPECT("{}", with_header("min", "{}", 2, NULL, 0), SL_OK, NULL);
    EXPECT("{} padded", with_header("padded", "{}      ", 8, NULL, 0), SL_OK, NULL);
    EXPECT("{} and data", with_header("tail", "{}", 2, "x", 1), SL_ERR_FORMAT,
           "belong to no tensor");
}

static void test_header_json(void)
{
    static const struct {
        const char *text;
        size_t len;
    } bad[] = {
#define T(s) {s, sizeof(s) - 1}
        T("not json"), T("[]"), T("\n{}"), T("{"), T("{}}"), T("{\"a\"}"), T("{} x"), T("{}\0"),
        T("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,0]}"), /* unclosed */
        T("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],}}"),
        T("{\"a\":\"\xC0\x80\"}"), T("{\"\xFF\":1}"), T("{\"a\":\"\\uD800\"}"),
        T("{\"a\":\"\x01\"}"), T("{\"a\":1}"), T("{\"a\":null}"), T("{\"a\":[]}"),
        T("{\"a\":\"F32\"}"), T("{\"a\":{}}"), T("{\"__metadata__\":\"x\"}"),
        T("{\"__metadata__\":[]}"), T("{\"__metadata__\":{\"a\":true}}"),
#undef T
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "json-%zu", i);
        EXPECT(name, with_header(name, bad[i].text, bad[i].len, NULL, 0), SL_ERR_FORMAT, NULL);
    }
    EXPECT("leading space", with_header("space", " {}", 3, NULL, 0), SL_ERR_FORMAT,
           "does not start with '{'");
    EXPECT("entry a number", with_header("entry-num", "{\"a\":1}", 7, NULL, 0), SL_ERR_FORMAT,
           "tensor 'a'");
    EXPECT("metadata a string", with_header("meta-str", "{\"__metadata__\":\"x\"}", 20, NULL, 0),
           SL_ERR_FORMAT, "__metadata__: a JSON string, not an object");

    /* small valid headers written here */
    static const char meta_only[] = "{\"__metadata__\":{}}";
    EXPECT("empty metadata", with_header("meta-empty", meta_only, sizeof meta_only - 1, NULL, 0),
           SL_OK, NULL);
    static const char one[] = "{\"t\":{\"data_offsets\":[0,1],\"shape\":[1],\"dtype\":\"U8\"},"
                              "\"__metadata__\":{\"a\":\"b\"}}\t\r\n ";
    EXPECT("members in any order", with_header("one", one, sizeof one - 1, "z", 1), SL_OK, NULL);
    static const char two_empty[] =
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
        "\"b\":{\"dtype\":\"F64\",\"shape\":[0,3],\"data_offsets\":[0,0]}}";
    EXPECT("empty tensors only", with_header("two-empty", two_empty, sizeof two_empty - 1, NULL, 0),
           SL_OK, NULL);
}

static void test_entries(void)
{
    /* dtypes */
    EXPECT("unknown dtype", patched("dtype-f17", "\"F16\"", "\"F17\""), SL_ERR_UNSUPPORTED,
           "unknown dtype 'F17'");
    EXPECT("e8m0 dtype", patched("dtype-e8m0", "\"F8_E4M3\"", "\"F8_E8M0\""), SL_ERR_UNSUPPORTED,
           "tensor 'f8_e4m3.all'");
    EXPECT("lower-case dtype", patched("dtype-lower", "\"F16\"", "\"f16\""), SL_ERR_UNSUPPORTED,
           NULL);
    EXPECT("dtype number", patched("dtype-num", "\"dtype\":\"F16\"", "\"dtype\":16"), SL_ERR_FORMAT,
           "dtype is a JSON number");
    EXPECT("dtype prefix", patched("dtype-prefix", "\"F16\"", "\"F1\""), SL_ERR_UNSUPPORTED, NULL);
    EXPECT("dtype missing", patched("dtype-missing", "\"dtype\":\"F16\",", ""), SL_ERR_FORMAT,
           "no dtype");
    EXPECT("same-size dtype", patched("dtype-i16", "\"F16\"", "\"I16\""), SL_OK, NULL);

    /* shapes */
    EXPECT("shape mismatch", patched("shape-more", "[2,13]", "[2,14]"), SL_ERR_FORMAT,
           "shape [2, 14] of F16 needs 56");
    EXPECT("shape fewer", patched("shape-less", "[2,13]", "[13]"), SL_ERR_FORMAT, "hold 52 bytes");
    EXPECT("shape swapped", patched("shape-swap", "[2,13]", "[13,2]"), SL_OK, NULL);
    EXPECT("shape negative", patched("shape-neg", "[2,13]", "[-2,13]"), SL_ERR_FORMAT,
           "shape[0] is -2");
    EXPECT("shape float", patched("shape-float", "[2,13]", "[2.0,13]"), SL_ERR_FORMAT,
           "not an integer");
    EXPECT("shape exponent", patched("shape-exp", "[2,13]", "[2,1.3e1]"), SL_ERR_FORMAT, NULL);
    EXPECT("shape string", patched("shape-str", "[2,13]", "[\"2\",13]"), SL_ERR_FORMAT,
           "shape[0] is a JSON string");
    EXPECT("shape not array", patched("shape-obj", "[2,13]", "{}"), SL_ERR_FORMAT,
           "shape is a JSON object");
    EXPECT("shape nested", patched("shape-nest", "[2,13]", "[[2],13]"), SL_ERR_FORMAT, NULL);
    EXPECT("shape 9 dims", patched("shape-9", "[2,13]", "[1,1,1,1,1,1,1,2,13]"),
           SL_ERR_UNSUPPORTED, "9 dimensions");
    EXPECT("shape 8 dims", patched("shape-8", "[2,13]", "[1,1,1,1,1,1,2,13]"), SL_OK, NULL);
    EXPECT("shape overflow", patched("shape-ovf", "[2,13]", "[4294967296,4294967296,4]"),
           SL_ERR_FORMAT, "overflows");
    EXPECT("bytes overflow", patched("shape-byte-ovf", "[2,13]", "[9223372036854775808]"),
           SL_ERR_FORMAT, "overflows");
    EXPECT("shape past u64", patched("shape-big", "[2,13]", "[18446744073709551616]"),
           SL_ERR_FORMAT, NULL);
    EXPECT("zero dim with huge", patched("shape-zero-huge", "[0,4]", "[18446744073709551615,0]"),
           SL_OK, NULL);
    EXPECT("zero dim overflow", patched("shape-zero-ovf", "[0,4]",
                                        "[4294967296,4294967296,4294967296,0]"),
           SL_OK, NULL);
    EXPECT("shape missing", patched("shape-missing", "\"shape\":[2,13],", ""), SL_ERR_FORMAT,
           "no shape");

    /* data_offsets */
    EXPECT("offsets past EOF", patched("off-eof", "[593,849]", "[594,850]"), SL_ERR_FORMAT,
           "past the end of the data section");
    EXPECT("offsets huge", patched("off-huge", "[593,849]",
                                   "[18446744073709551359,18446744073709551615]"),
           SL_ERR_FORMAT, "past the end");
    EXPECT("offsets reversed", patched("off-rev", "[593,849]", "[849,593]"), SL_ERR_FORMAT,
           "end before they begin");
    EXPECT("offsets size", patched("off-size", "[593,849]", "[593,848]"), SL_ERR_FORMAT,
           "hold 255 bytes");
    EXPECT("offsets three", patched("off-three", "[593,849]", "[593,849,849]"), SL_ERR_FORMAT,
           "two integers");
    EXPECT("offsets one", patched("off-one", "[593,849]", "[593]"), SL_ERR_FORMAT, NULL);
    EXPECT("offsets negative", patched("off-neg", "[0,88]", "[-0,88]"), SL_OK, NULL); /* -0 is 0 */
    EXPECT("offsets negative 1", patched("off-neg1", "[593,849]", "[-1,255]"), SL_ERR_FORMAT,
           "data_offsets[0] is -1");
    EXPECT("offsets float", patched("off-float", "[593,849]", "[593.0,849]"), SL_ERR_FORMAT,
           NULL);
    EXPECT("offsets object", patched("off-obj", "[593,849]", "{\"0\":593}"), SL_ERR_FORMAT, NULL);
    EXPECT("offsets missing", patched("off-missing", ",\"data_offsets\":[593,849]", ""),
           SL_ERR_FORMAT, "no data_offsets");

    /* layout: overlaps, holes */
    EXPECT("overlap", patched("overlap", "[148,152]", "[144,148]"), SL_ERR_FORMAT,
           "tensors 'f32.matrix' and 'f32.scalar' overlap");
    EXPECT("same bytes", patched("same", "[302,558]", "[593,849]"), SL_ERR_FORMAT, NULL);
    EXPECT("empty inside", patched("empty-in", "[88,88]", "[90,90]"), SL_ERR_FORMAT, "overlap");
    EXPECT("empty at end", patched("empty-end", "[88,88]", "[849,849]"), SL_OK, NULL);
    EXPECT("empty past end", patched("empty-past", "[88,88]", "[850,850]"), SL_ERR_FORMAT,
           "past the end");
    EXPECT("hole", patched("hole", "{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[148,152]}",
                           "{\"dtype\":\"U16\",\"shape\":[],\"data_offsets\":[148,150]}"),
           SL_ERR_FORMAT, "bytes 150..152 of the data section belong to no tensor");

    /* names and members */
    EXPECT("duplicate name", patched("dup", "\"f32.matrix\"", "\"f32.scalar\""), SL_ERR_FORMAT,
           "'f32.scalar' again");
    EXPECT("duplicate by escape", patched("dup-esc", "\"f32.matrix\"", "\"f32.sc\\u0061lar\""),
           SL_ERR_FORMAT, "again");
    EXPECT("escaped name", patched("esc-name", "\"f32.matrix\"", "\"f32.m\\u0061trix\""), SL_OK,
           NULL);
    EXPECT("NUL in name", patched("nul-name", "\"f32.matrix\"", "\"f32.m\\u0000trix\""),
           SL_ERR_UNSUPPORTED, "NUL");
    EXPECT("invalid UTF-8 name", patched("utf8-name", "\"f32.matrix\"", "\"f32.m\xC3(trix\""),
           SL_ERR_FORMAT, "UTF-8");
    EXPECT("extra member", patched("extra", "\"shape\":[2,13]", "\"shape\":[2,13],\"x\":1"),
           SL_ERR_FORMAT, "unexpected member 'x'");
    EXPECT("entry array", patched("entry-arr",
                                  "{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[148,152]}",
                                  "[\"F32\",[],[148,152]]"),
           SL_ERR_FORMAT, "tensor 'f32.scalar': the entry is a JSON array");
    EXPECT("duplicate member", patched("dup-member", "\"shape\":[2,13]",
                                       "\"shape\":[2,13],\"shape\":[2,13]"),
           SL_ERR_FORMAT, "again");
    char long_name[400];
    memset(long_name, 'n', sizeof long_name);
    long_name[0] = '"';
    memcpy(long_name + sizeof long_name - 2, "\"", 2);
    EXPECT("long name", patched("long-name", "\"f16.odd\"", long_name), SL_OK, NULL);
}

static void test_metadata_broken(void)
{
    EXPECT("metadata number", patched("meta-num", "\"format\":\"pt\"", "\"format\":1"),
           SL_ERR_FORMAT, "__metadata__ key 'format'");
    EXPECT("metadata null", patched("meta-null", "\"format\":\"pt\"", "\"format\":null"),
           SL_ERR_FORMAT, "not a string");
    EXPECT("metadata object", patched("meta-obj", "\"format\":\"pt\"", "\"format\":{}"),
           SL_ERR_FORMAT, NULL);
    EXPECT("metadata array", patched("meta-arr", "\"format\":\"pt\"", "\"format\":[\"pt\"]"),
           SL_ERR_FORMAT, NULL);
    EXPECT("metadata not object", patched("meta-top", "\"__metadata__\":{", "\"__metadata__\":[{"),
           SL_ERR_FORMAT, NULL); /* also breaks the JSON: either way refused */
    EXPECT("metadata duplicate", patched("meta-dup", "\"format\":\"pt\"",
                                         "\"format\":\"pt\",\"format\":\"pt\""),
           SL_ERR_FORMAT, "again");
    EXPECT("metadata NUL key", patched("meta-nul-key", "\"format\"", "\"for\\u0000mat\""),
           SL_ERR_UNSUPPORTED, NULL);
    EXPECT("metadata NUL value", patched("meta-nul-val", "\"pt\"", "\"p\\u0000t\""),
           SL_ERR_UNSUPPORTED, NULL);
    EXPECT("metadata escaped", patched("meta-esc", "\"pt\"", "\"\\u0070\\u0074\\uD83D\\uDE00\""),
           SL_OK, NULL);
    EXPECT("metadata twice", patched("meta-twice", "\"f64.vec\":",
                                     "\"__metadata__\":{},\"f64.vec\":"),
           SL_ERR_FORMAT, "'__metadata__' again");

    /* nesting past the bound inside the metadata: refused, no crash */
    size_t depth = 200, o = 0;
    char *deep = malloc(depth * 2 + 16);
    o += (size_t)sprintf(deep, "\"format\":");
    for (size_t i = 0; i < depth; i++)
        deep[o++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[o++] = ']';
    deep[o] = 0;
    EXPECT("metadata deep", patched("meta-deep", "\"format\":\"pt\"", deep), SL_ERR_FORMAT,
           "nested");
    free(deep);
}

static void test_io(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/does-not-exist.safetensors", tmpdir);
    EXPECT("missing", path, SL_ERR_IO, "cannot open");
    EXPECT("directory", tmpdir, SL_ERR_IO, NULL);
    sl_safetensors *st = NULL;
    sl_error err;
    CHECK(sl_safetensors_open(NULL, &st, &err) == SL_ERR_INVALID_ARGUMENT && st == NULL);
    CHECK(sl_safetensors_open(path, NULL, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECK(sl_safetensors_open(path, &st, NULL) == SL_ERR_IO && st == NULL);
}

static bool load_original(void)
{
    orig = read_fixture("floats.safetensors", &orig_len);
    if (!orig || orig_len < 8)
        return false;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | orig[i];
    if (n > orig_len - 8)
        return false;
    header_len = (size_t)n;
    header = malloc(header_len + 1);
    memcpy(header, orig + 8, header_len);
    header[header_len] = 0;
    data_section = orig + 8 + header_len;
    data_len = orig_len - 8 - header_len;
    /* the offsets the mutations use are those the package wrote */
    return strstr(header, "\"f8_e5m2.all\":{\"dtype\":\"F8_E5M2\",\"shape\":[16,16],"
                          "\"data_offsets\":[593,849]}") != NULL &&
           data_len == 849;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    fixtures = argv[1];
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/sl-safetensors-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    test_dtypes();
    test_fixture_tensors();
    test_metadata();
    if (load_original()) {
        test_truncations();
        test_header_length();
        test_header_json();
        test_entries();
        test_metadata_broken();
    } else {
        CHECKF(0, "floats.safetensors is not the fixture these tests expect; regenerate both");
    }
    test_io();
    free(orig);
    free(header);
    rmdir(tmpdir);
    fprintf(stderr, "%d broken and valid variants\n", n_cases);
    return sl_test_finish();
}
