/* A corpus of broken GGUF files, derived at test time from the valid
 * small.gguf: truncations at every length, bad magic and versions, hostile
 * counts and lengths, bad value and tensor types, bad dims, offsets,
 * alignment, duplicate and invalid names. Each must be refused with
 * SL_ERR_FORMAT or SL_ERR_UNSUPPORTED and a message that names the file and
 * says what is wrong; none may crash (the suite also runs under ASan/UBSan).
 * A few mutations that leave the file valid are checked to open, so the
 * mutation machinery itself is known to work.
 *
 * Usage: test-gguf-broken FIXTURE_DIR */
#include "../test-util.h"
#include "model/dequant.h"
#include "model/gguf.h"

#include <stdint.h>
#include <unistd.h>

#define ANY_ERROR ((sl_status)-1) /* SL_ERR_FORMAT or SL_ERR_UNSUPPORTED */
#define ALIGNMENT 64

static char tmpdir[4096];
static int n_cases;

/* ---- a map of small.gguf, by a walker independent of the reader --------- */

typedef struct {
    char key[64];
    size_t key_len_at, key_at, key_len, type_at, value_at;
    uint32_t type;
    size_t elem_type_at, count_at, elems_at; /* arrays */
} kv_rec;

typedef struct {
    char name[65];
    size_t name_len_at, name_at, name_len, n_dims_at, dims_at, type_at, offset_at;
    uint32_t n_dims, type;
    uint64_t offset, n_bytes;
} tensor_rec;

static uint8_t *orig;
static size_t orig_len;
static kv_rec kvs[64];
static size_t n_kv;
static tensor_rec tensors[32];
static size_t n_tensors;
static size_t infos_end, data_start, data_end;

static uint32_t get32(const uint8_t *b, size_t at)
{
    uint32_t v;
    memcpy(&v, b + at, 4);
    return v;
}

static uint64_t get64(const uint8_t *b, size_t at)
{
    uint64_t v;
    memcpy(&v, b + at, 8);
    return v;
}

static void put32(uint8_t *b, size_t at, uint32_t v)
{
    memcpy(b + at, &v, 4);
}

static void put64(uint8_t *b, size_t at, uint64_t v)
{
    memcpy(b + at, &v, 8);
}

static size_t scalar_bytes(uint32_t t)
{
    static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < 13 ? sizes[t] : 0;
}

/* Skips a string at *at; false if the fixture is not what we expect. */
static bool skip_string(size_t *at)
{
    if (*at + 8 > orig_len || get64(orig, *at) > orig_len - *at - 8)
        return false;
    *at += 8 + (size_t)get64(orig, *at);
    return true;
}

static bool walk_kv(kv_rec *kv, size_t *at)
{
    kv->key_len_at = *at;
    kv->key_at = *at + 8;
    if (!skip_string(at))
        return false;
    kv->key_len = *at - kv->key_at;
    snprintf(kv->key, sizeof kv->key, "%.*s", (int)kv->key_len, (const char *)orig + kv->key_at);
    kv->type_at = *at;
    kv->type = get32(orig, *at);
    *at += 4;
    kv->value_at = *at;
    if (kv->type == 8)
        return skip_string(at);
    if (kv->type != 9) {
        *at += scalar_bytes(kv->type);
        return scalar_bytes(kv->type) != 0;
    }
    kv->elem_type_at = *at;
    kv->count_at = *at + 4;
    kv->elems_at = *at + 12;
    uint32_t elem = get32(orig, *at);
    uint64_t count = get64(orig, *at + 4);
    *at += 12;
    for (uint64_t i = 0; i < count; i++)
        if (elem == 8 ? !skip_string(at) : (*at += scalar_bytes(elem)) > orig_len)
            return false;
    return true;
}

static bool walk_tensor(tensor_rec *t, size_t *at)
{
    t->name_len_at = *at;
    t->name_at = *at + 8;
    if (!skip_string(at))
        return false;
    t->name_len = *at - t->name_at;
    snprintf(t->name, sizeof t->name, "%.*s", (int)t->name_len, (const char *)orig + t->name_at);
    t->n_dims_at = *at;
    t->n_dims = get32(orig, *at);
    t->dims_at = *at + 4;
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++)
        n *= get64(orig, t->dims_at + 8 * d);
    *at = t->dims_at + 8 * t->n_dims;
    t->type_at = *at;
    t->type = get32(orig, *at);
    t->offset_at = *at + 4;
    t->offset = get64(orig, *at + 4);
    *at += 12;
    t->n_bytes = n / sl_type_block_elems(t->type) * sl_type_block_bytes(t->type);
    return true;
}

static bool walk(void)
{
    size_t at = 24;
    n_tensors = (size_t)get64(orig, 8);
    n_kv = (size_t)get64(orig, 16);
    if (n_kv > 64 || n_tensors > 32)
        return false;
    for (size_t i = 0; i < n_kv; i++)
        if (!walk_kv(&kvs[i], &at))
            return false;
    for (size_t i = 0; i < n_tensors; i++)
        if (!walk_tensor(&tensors[i], &at))
            return false;
    infos_end = at;
    data_start = (at + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    data_end = 0;
    for (size_t i = 0; i < n_tensors; i++)
        if (data_start + tensors[i].offset + tensors[i].n_bytes > data_end)
            data_end = data_start + (size_t)(tensors[i].offset + tensors[i].n_bytes);
    return data_end <= orig_len;
}

static const kv_rec *kv(const char *key)
{
    for (size_t i = 0; i < n_kv; i++)
        if (strcmp(kvs[i].key, key) == 0)
            return &kvs[i];
    fprintf(stderr, "fixture has no key %s\n", key);
    exit(1);
}

static const tensor_rec *tensor(const char *name)
{
    for (size_t i = 0; i < n_tensors; i++)
        if (strcmp(tensors[i].name, name) == 0)
            return &tensors[i];
    fprintf(stderr, "fixture has no tensor %s\n", name);
    exit(1);
}

/* ---- running one case --------------------------------------------------- */

static void run_case(const char *name, const uint8_t *bytes, size_t len, sl_status want,
                     const char *snippet)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.gguf", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(bytes, 1, len, f) != len) || fclose(f) != 0) {
        CHECKF(0, "cannot write %s", path);
        return;
    }
    n_cases++;
    sl_gguf *g = NULL;
    sl_error err = {0};
    sl_status s = sl_gguf_open(path, &g, &err);
    if (want == SL_OK) {
        CHECKF(s == SL_OK && g, "%s: should open: %s", name, err.message);
    } else {
        bool code_ok = want == ANY_ERROR ? (s == SL_ERR_FORMAT || s == SL_ERR_UNSUPPORTED) : s == want;
        CHECKF(code_ok, "%s: status %s (%s)", name, sl_status_name(s), err.message);
        CHECKF(g == NULL, "%s: handle set on failure", name);
        CHECKF(err.code == s, "%s: err.code %d", name, err.code);
        CHECKF(strstr(err.message, path) != NULL, "%s: message lacks the path: %s", name, err.message);
        CHECKF(!snippet || strstr(err.message, snippet), "%s: message lacks \"%s\": %s", name, snippet,
               err.message);
        if (getenv("SL_TEST_VERBOSE"))
            fprintf(stderr, "%-32s %s\n", name, err.message);
    }
    sl_gguf_close(g);
    unlink(path);
}

/* A copy of the fixture with one u32 / u64 field replaced. */
static void patch32(const char *name, size_t at, uint32_t v, sl_status want, const char *snippet)
{
    uint8_t *b = malloc(orig_len);
    memcpy(b, orig, orig_len);
    put32(b, at, v);
    run_case(name, b, orig_len, want, snippet);
    free(b);
}

static void patch64(const char *name, size_t at, uint64_t v, sl_status want, const char *snippet)
{
    uint8_t *b = malloc(orig_len);
    memcpy(b, orig, orig_len);
    put64(b, at, v);
    run_case(name, b, orig_len, want, snippet);
    free(b);
}

static void patch_bytes(const char *name, size_t at, const void *bytes, size_t n, sl_status want,
                        const char *snippet)
{
    uint8_t *b = malloc(orig_len);
    memcpy(b, orig, orig_len);
    memcpy(b + at, bytes, n);
    run_case(name, b, orig_len, want, snippet);
    free(b);
}

/* Replaces header bytes [at, at + remove) with insert (length n), fixes the
 * string length at len_at (if not SIZE_MAX) by the difference, and rebuilds
 * the file: new header, zero padding to the alignment, the original data
 * section. Tensor offsets are relative to the data section, so the tensors
 * stay valid whatever the header's new size. */
static void splice_header(const char *name, size_t at, size_t remove, const void *insert, size_t n,
                          size_t len_at, sl_status want, const char *snippet)
{
    size_t header = infos_end - remove + n;
    size_t start = (header + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    size_t len = start + (orig_len - data_start);
    uint8_t *b = calloc(1, len);
    memcpy(b, orig, at);
    memcpy(b + at, insert, n);
    memcpy(b + at + n, orig + at + remove, infos_end - at - remove);
    if (len_at != SIZE_MAX)
        put64(b, len_at, get64(orig, len_at) - remove + n);
    memcpy(b + start, orig + data_start, orig_len - data_start);
    run_case(name, b, len, want, snippet);
    free(b);
}

/* ---- the corpus ------------------------------------------------------------ */

static void truncations(void)
{
    /* Every length short of the last tensor's end; each runs out somewhere. */
    for (size_t len = 0; len < data_end; len++) {
        char name[64];
        snprintf(name, sizeof name, "truncated-%zu", len);
        int failures = sl_test_failures;
        run_case(name, orig, len, SL_ERR_FORMAT, NULL);
        if (sl_test_failures != failures)
            break; /* one report is enough */
    }
    /* Only padding after the last tensor: still valid. */
    for (size_t len = data_end; len <= orig_len; len++) {
        char name[64];
        snprintf(name, sizeof name, "padding-cut-%zu", len);
        run_case(name, orig, len, SL_OK, NULL);
    }
    /* Messages at the header boundaries say what ran out. */
    run_case("truncated-magic", orig, 3, SL_ERR_FORMAT, "too short");
    run_case("truncated-version", orig, 6, SL_ERR_FORMAT, "version");
    run_case("truncated-n-tensors", orig, 12, SL_ERR_FORMAT, "tensor count");
    run_case("truncated-n-kv", orig, 20, SL_ERR_FORMAT, "key-value count");
    run_case("truncated-counts", orig, 24, SL_ERR_FORMAT, "claims");
    run_case("truncated-after-infos", orig, infos_end, SL_ERR_FORMAT, "data section");
    run_case("truncated-first-tensor-data", orig, data_start + 10, SL_ERR_FORMAT, "t.f32");
    run_case("truncated-last-tensor-data", orig, data_end - 1, SL_ERR_FORMAT,
             "runs past the end of the file");
}

static void header(void)
{
    patch_bytes("magic-ggug", 0, "GGUG", 4, SL_ERR_FORMAT, "not a GGUF file");
    patch_bytes("magic-reversed", 0, "FUGG", 4, SL_ERR_FORMAT, "not a GGUF file");
    patch_bytes("magic-lower", 0, "gguf", 4, SL_ERR_FORMAT, "not a GGUF file");
    patch_bytes("magic-zero", 0, "\0\0\0\0", 4, SL_ERR_FORMAT, "not a GGUF file");
    patch32("version-0", 4, 0, SL_ERR_FORMAT, "version 0");
    patch32("version-1", 4, 1, SL_ERR_UNSUPPORTED, "version 1");
    patch32("version-4", 4, 4, SL_ERR_UNSUPPORTED, "version 4");
    patch32("version-big-endian", 4, 0x03000000, SL_ERR_UNSUPPORTED, "big-endian");
    patch32("version-huge", 4, UINT32_MAX, SL_ERR_UNSUPPORTED, "version 4294967295");
    patch32("version-2", 4, 2, SL_OK, NULL); /* v2 and v3 share the layout */

    patch64("n-tensors-max", 8, UINT64_MAX, SL_ERR_FORMAT, "claims 18446744073709551615 tensors");
    patch64("n-tensors-2^63", 8, (uint64_t)1 << 63, SL_ERR_FORMAT, "claims");
    patch64("n-tensors-2^40", 8, (uint64_t)1 << 40, SL_ERR_FORMAT, "claims");
    patch64("n-tensors-one-more", 8, n_tensors + 1, SL_ERR_FORMAT, "tensor #13");
    patch64("n-kv-max", 16, UINT64_MAX, SL_ERR_FORMAT, "claims 18446744073709551615 key-value");
    patch64("n-kv-2^62", 16, (uint64_t)1 << 62, SL_ERR_FORMAT, "claims");
    patch64("n-kv-one-more", 16, n_kv + 1, ANY_ERROR, NULL);
    patch64("n-kv-one-fewer", 16, n_kv - 1, SL_ERR_FORMAT, "n_dims 9 is out of range");

    uint8_t b[24];
    memcpy(b, orig, 24);
    put64(b, 8, 0);
    put64(b, 16, 0);
    run_case("empty-header-only", b, 24, SL_OK, NULL);
}

static void key_values(void)
{
    const kv_rec *k = kv("test.u16"), *name = kv("general.name");
    patch64("key-length-past-eof", k->key_len_at, orig_len, SL_ERR_FORMAT, "key length");
    patch64("key-length-max", k->key_len_at, UINT64_MAX, SL_ERR_FORMAT, "past the end");
    patch64("key-length-zero", k->key_len_at, 0, SL_ERR_FORMAT, "is empty");
    patch64("string-length-past-eof", name->value_at, orig_len - name->value_at, SL_ERR_FORMAT,
            "key 'general.name': string value length");
    patch64("string-length-max", name->value_at, UINT64_MAX, SL_ERR_FORMAT, "string value length");
    patch64("string-length-2^63", name->value_at, (uint64_t)1 << 63, SL_ERR_FORMAT, "past the end");

    /* A key of 65536 bytes is too long; one of 65535 is fine. */
    size_t big = 65536;
    char *long_key = malloc(big);
    memset(long_key, 'k', big);
    splice_header("key-65536-bytes", k->key_at, k->key_len, long_key, big, k->key_len_at,
                  SL_ERR_FORMAT, "too long");
    splice_header("key-65535-bytes", k->key_at, k->key_len, long_key, big - 1, k->key_len_at, SL_OK,
                  NULL);
    free(long_key);

    /* A long key is quoted cut short, at a character boundary: "a" and 50
     * two-byte characters, with an unknown value type after it. */
    uint8_t key_and_type[101 + 4];
    key_and_type[0] = 'a';
    for (int i = 0; i < 50; i++)
        memcpy(key_and_type + 1 + 2 * i, "\xc3\xa9", 2);
    put32(key_and_type, 101, 13);
    char shown[128] = "key 'a";
    for (int i = 0; i < 39; i++)
        strcat(shown, "\xc3\xa9");
    strcat(shown, "...': unknown value type 13");
    splice_header("long-key-quoted", k->key_at, k->key_len + 4, key_and_type, sizeof key_and_type,
                  k->key_len_at, SL_ERR_FORMAT, shown);

    const kv_rec *u8 = kv("test.u8");
    patch32("value-type-13", u8->type_at, 13, SL_ERR_FORMAT, "unknown value type 13");
    patch32("value-type-max", u8->type_at, UINT32_MAX, SL_ERR_FORMAT, "unknown value type");
    patch32("value-type-as-array", u8->type_at, 9, ANY_ERROR, NULL);

    const kv_rec *ints = kv("test.array_i32"), *strs = kv("test.array_str");
    patch64("array-count-max", ints->count_at, UINT64_MAX, SL_ERR_FORMAT, "key 'test.array_i32': array of");
    patch64("array-count-bytes-overflow", ints->count_at, (uint64_t)1 << 62, SL_ERR_FORMAT, "array of");
    patch64("array-count-past-eof", ints->count_at, 2000, SL_ERR_FORMAT, "past the end");
    patch64("string-array-count-max", strs->count_at, UINT64_MAX, SL_ERR_FORMAT, "array of");
    patch64("string-array-count-2^61", strs->count_at, (uint64_t)1 << 61, SL_ERR_FORMAT, "array of");
    patch64("string-array-one-more", strs->count_at, 6, ANY_ERROR, NULL);
    size_t third = strs->elems_at + 8 + 5 + 8 + 0; /* length of string 2, after "alpha" and "" */
    patch64("string-array-element-length", third, UINT64_MAX, SL_ERR_FORMAT, "array string 2 length");
    patch32("array-elem-type-13", ints->elem_type_at, 13, SL_ERR_FORMAT, "unknown array element type");
    patch32("array-elem-type-max", ints->elem_type_at, UINT32_MAX, SL_ERR_FORMAT,
            "unknown array element type");
    patch32("array-of-arrays", ints->elem_type_at, 9, SL_ERR_UNSUPPORTED, "arrays of arrays");

    patch_bytes("bool-2", kv("test.bool_true")->value_at, "\x02", 1, SL_ERR_FORMAT, "neither 0 nor 1");
    patch_bytes("bool-array-ff", kv("test.array_bool")->elems_at + 1, "\xff", 1, SL_ERR_FORMAT,
                "neither 0 nor 1");

    /* Duplicates: "test.i8" becomes "test.u8". */
    patch_bytes("duplicate-key", kv("test.i8")->key_at, "test.u8", 7, SL_ERR_FORMAT,
                "key 'test.u8' appears twice");
}

static void bad_names(void)
{
    static const struct {
        const char *what, *bytes;
        size_t n;
        const char *snippet;
    } bad[] = {
        {"ff", "\xff", 1, "not valid UTF-8"},
        {"continuation", "\x80", 1, "not valid UTF-8"},
        {"overlong", "\xc0\x80", 2, "not valid UTF-8"},
        {"overlong-3", "\xe0\x80\xaf", 3, "not valid UTF-8"},
        {"surrogate", "\xed\xa0\x80", 3, "not valid UTF-8"},
        {"above-10ffff", "\xf4\x90\x80\x80", 4, "not valid UTF-8"},
        {"five-byte", "\xf8\x88\x80\x80", 4, "not valid UTF-8"},
        {"nul", "\0", 1, "NUL"},
    };
    const kv_rec *k = kv("test.u16");           /* 8 bytes: room for each */
    const tensor_rec *t = tensor("t.q4_k"); /* 6 bytes */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "key-utf8-%s", bad[i].what);
        patch_bytes(name, k->key_at + 2, bad[i].bytes, bad[i].n, SL_ERR_FORMAT, bad[i].snippet);
        snprintf(name, sizeof name, "name-utf8-%s", bad[i].what);
        patch_bytes(name, t->name_at + 1, bad[i].bytes, bad[i].n, SL_ERR_FORMAT, bad[i].snippet);
    }
    /* A sequence cut by the end of the name. */
    patch_bytes("key-utf8-cut", k->key_at + k->key_len - 1, "\xe4", 1, SL_ERR_FORMAT, "not valid UTF-8");
    patch_bytes("name-utf8-cut", t->name_at + t->name_len - 2, "\xf0\x9f", 2, SL_ERR_FORMAT,
                "not valid UTF-8");
    /* Valid multi-byte UTF-8 is fine. */
    patch_bytes("name-utf8-ok", t->name_at + 1, "\xc3\xa9", 2, SL_OK, NULL);
}

static void alignment(void)
{
    const kv_rec *a = kv("general.alignment");
    patch32("alignment-0", a->value_at, 0, SL_ERR_FORMAT, "general.alignment");
    patch32("alignment-3", a->value_at, 3, SL_ERR_FORMAT, "alignment 3 is not a power of two");
    patch32("alignment-48", a->value_at, 48, SL_ERR_FORMAT, "not a power of two");
    patch32("alignment-max", a->value_at, UINT32_MAX, SL_ERR_FORMAT, "not a power of two");
    patch32("alignment-2^31", a->value_at, 1u << 31, SL_ERR_FORMAT, "alignment 2147483648");
    patch32("alignment-128", a->value_at, 128, SL_ERR_FORMAT, "not a multiple of the alignment 128");
    patch32("alignment-i32", a->type_at, 5, SL_ERR_FORMAT, "expected u32");
    patch32("alignment-f32", a->type_at, 6, SL_ERR_FORMAT, "expected u32");
}

static void tensor_infos(void)
{
    const tensor_rec *f32 = tensor("t.f32"), *f16 = tensor("t.f16"), *q8 = tensor("t.q8_0");
    const tensor_rec *q51 = tensor("t.q5_1"), *q6k = tensor("t.q6_k"), *last = &tensors[n_tensors - 1];

    patch64("name-length-past-eof", f16->name_len_at, orig_len, SL_ERR_FORMAT, "tensor #1: name length");
    patch64("name-length-max", f16->name_len_at, UINT64_MAX, SL_ERR_FORMAT, "name length");
    splice_header("name-empty", f16->name_at, f16->name_len, "", 0, f16->name_len_at, SL_ERR_FORMAT,
                  "is empty");
    char long_name[65];
    memset(long_name, 'n', sizeof long_name);
    splice_header("name-65-bytes", f16->name_at, f16->name_len, long_name, 65, f16->name_len_at,
                  SL_ERR_FORMAT, "too long");
    splice_header("name-64-bytes", f16->name_at, f16->name_len, long_name, 64, f16->name_len_at, SL_OK,
                  NULL);
    patch_bytes("duplicate-name", tensor("t.q4_1")->name_at, "t.q4_0", 6, SL_ERR_FORMAT,
                "tensor name 't.q4_0' appears twice");

    patch32("n-dims-0", f32->n_dims_at, 0, SL_ERR_FORMAT, "tensor 't.f32': n_dims 0 is out of range");
    patch32("n-dims-5", f32->n_dims_at, 5, SL_ERR_FORMAT, "n_dims 5 is out of range");
    patch32("n-dims-max", f32->n_dims_at, UINT32_MAX, SL_ERR_FORMAT, "n_dims");
    for (uint32_t d = 0; d < 4; d++) {
        char name[32];
        snprintf(name, sizeof name, "dim-%u-zero", d);
        patch64(name, q51->dims_at + 8 * d, 0, SL_ERR_FORMAT, "tensor 't.q5_1': dimension");
    }
    patch64("dim-2^63", f32->dims_at + 8, (uint64_t)1 << 63, SL_ERR_FORMAT, "dimension 1");
    /* Products that overflow: elements, and bytes. */
    uint8_t b[16];
    put64(b, 0, (uint64_t)1 << 32);
    put64(b, 8, (uint64_t)1 << 32);
    patch_bytes("dims-product-2^64", f32->dims_at, b, 16, SL_ERR_FORMAT, "overflows");
    put64(b, 0, (uint64_t)1 << 31);
    put64(b, 8, (uint64_t)1 << 31);
    patch_bytes("dims-2^62-elements-too-big", f32->dims_at, b, 16, SL_ERR_FORMAT, "t.f32");
    patch64("dims-4d-overflow", q51->dims_at + 16, (uint64_t)1 << 62, SL_ERR_FORMAT, "overflows");
    put64(b, 0, (uint64_t)1 << 33);
    put64(b, 8, (uint64_t)1 << 30);
    patch_bytes("bytes-2^65", f32->dims_at, b, 16, SL_ERR_FORMAT, "overflows");
    patch64("row-not-whole-blocks", q8->dims_at, 95, SL_ERR_FORMAT, "whole number of Q8_0 blocks");
    patch64("k-row-not-whole-blocks", q6k->dims_at, 384, SL_ERR_FORMAT, "whole number of Q6_K blocks");

    patch32("type-removed-4", q8->type_at, 4, SL_ERR_UNSUPPORTED, "type 4");
    patch32("type-iq2-xxs", q6k->type_at, 16, SL_ERR_UNSUPPORTED, "IQ2_XXS is not supported");
    patch32("type-q8-1", q8->type_at, SL_TYPE_Q8_1, SL_ERR_UNSUPPORTED, "type Q8_1 is not supported");
    patch32("type-q8-k", q6k->type_at, SL_TYPE_Q8_K, SL_ERR_UNSUPPORTED, "type Q8_K is not supported");
    patch32("type-200", q8->type_at, 200, SL_ERR_FORMAT, "invalid tensor type 200");
    patch32("type-max", q8->type_at, UINT32_MAX, SL_ERR_FORMAT, "invalid tensor type");

    patch64("offset-misaligned-1", f16->offset_at, f16->offset + 1, SL_ERR_FORMAT,
            "tensor 't.f16': data offset");
    patch64("offset-misaligned-32", f16->offset_at, f16->offset + 32, SL_ERR_FORMAT,
            "not a multiple of the alignment 64");
    patch64("offset-past-eof", f32->offset_at, (uint64_t)1 << 40, SL_ERR_FORMAT,
            "tensor 't.f32': data offset 1099511627776");
    patch64("offset-max", f32->offset_at, UINT64_MAX - 63, SL_ERR_FORMAT, "is past the end");
    patch64("offset-file-size", last->offset_at, orig_len - data_start + 64 - (orig_len - data_start) % 64,
            SL_ERR_FORMAT, "past the end");
    patch64("offset-last-plus-64", last->offset_at, last->offset + 64, SL_ERR_FORMAT,
            "runs past the end of the file");
    patch64("size-past-eof", q6k->dims_at + 8, 3, SL_ERR_FORMAT, "tensor 't.q6_k': data [offset");
    patch64("size-overlaps-next", f32->dims_at + 8, 6, SL_ERR_FORMAT, "overlaps");
    patch64("offset-overlaps", f16->offset_at, f32->offset, SL_ERR_FORMAT, "overlaps");
    patch64("offset-onto-q8_0", f16->offset_at, tensor("t.bf16")->offset + 64, SL_ERR_FORMAT,
            "overlaps");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/small.gguf", argv[1]);
    orig = sl_test_read_file(path, &orig_len);
    CHECKF(orig != NULL, "cannot read %s", path);
    CHECKF(orig && walk(), "%s is not the fixture this test expects", path);
    if (sl_test_failures)
        return sl_test_finish();
    CHECK(n_tensors == 13 && n_kv == 28 && data_start == 1792);

    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/sl-gguf-broken-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    run_case("original", orig, orig_len, SL_OK, NULL);
    truncations();
    header();
    key_values();
    bad_names();
    alignment();
    tensor_infos();
    rmdir(tmpdir);
    free(orig);
    fprintf(stderr, "%d files\n", n_cases);
    return sl_test_finish();
}
