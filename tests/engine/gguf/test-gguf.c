/* The GGUF reader on fixtures written by the gguf Python package
 * (tests/reference/make-gguf-fixtures.py): every metadata value, every
 * tensor's shape, type, placement in the file and dequantised values.
 *
 * Dequantised values must equal the package's bit for bit: both sides
 * compute each element with the same float32 operations in the same order
 * (f16/bf16 → f32 is exact; then one product, and for the types with a
 * minimum one subtraction or addition), and IEEE float32 arithmetic is
 * deterministic, so there is no tolerance. NaNs are compared by bits too:
 * both sides keep f16/f32 NaN payloads as they are.
 *
 * Usage: test-gguf FIXTURE_DIR */
#include "../test-util.h"
#include "model/dequant.h"
#include "model/gguf.h"

#include <math.h>
#include <stdint.h>

static const char *dir;

static const char *fixture(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* ---- expected tensors of small.gguf ------------------------------------ */

typedef struct {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t dims[4];
    uint64_t n_bytes;
    uint64_t file_offset; /* as the gguf package's reader reports it */
} expected_tensor;

static const expected_tensor small_tensors[] = {
    {"t.f32", SL_TYPE_F32, 2, {7, 3, 1, 1}, 84, 1792},
    {"t.f16", SL_TYPE_F16, 3, {5, 3, 2, 1}, 60, 1920},
    {"t.bf16", SL_TYPE_BF16, 2, {9, 2, 1, 1}, 36, 1984},
    {"t.q8_0", SL_TYPE_Q8_0, 2, {96, 5, 1, 1}, 510, 2048},
    {"t.q4_0", SL_TYPE_Q4_0, 3, {64, 3, 2, 1}, 216, 2560},
    {"t.q4_1", SL_TYPE_Q4_1, 2, {160, 3, 1, 1}, 300, 2816},
    {"t.q5_0", SL_TYPE_Q5_0, 2, {32, 7, 1, 1}, 154, 3136},
    {"t.q5_1", SL_TYPE_Q5_1, 4, {96, 2, 1, 2}, 288, 3328},
    {"t.q2_k", SL_TYPE_Q2_K, 2, {256, 3, 1, 1}, 252, 3648},
    {"t.q3_k", SL_TYPE_Q3_K, 2, {256, 2, 1, 1}, 220, 3904},
    {"t.q4_k", SL_TYPE_Q4_K, 2, {512, 2, 1, 1}, 576, 4160},
    {"t.q5_k", SL_TYPE_Q5_K, 2, {256, 3, 1, 1}, 528, 4736},
    {"t.q6_k", SL_TYPE_Q6_K, 2, {512, 2, 1, 1}, 840, 5312},
};
#define N_SMALL_TENSORS (sizeof small_tensors / sizeof small_tensors[0])

static const expected_tensor *expected_for(const char *name)
{
    for (size_t i = 0; i < N_SMALL_TENSORS; i++)
        if (strcmp(small_tensors[i].name, name) == 0)
            return &small_tensors[i];
    return NULL;
}

/* ---- helpers ------------------------------------------------------------ */

static bool string_is(sl_gguf_string s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* A getter failure must be SL_ERR_FORMAT and name the file and the key. */
static void check_fails(sl_status s, const sl_error *err, const sl_gguf *g, const char *key)
{
    CHECKF(s == SL_ERR_FORMAT, "%s: status %s", key, sl_status_name(s));
    CHECKF(strstr(err->message, sl_gguf_path(g)) != NULL, "%s: %s", key, err->message);
    CHECKF(strstr(err->message, key) != NULL, "%s: %s", key, err->message);
}

/* ---- metadata ----------------------------------------------------------- */

static const char *const small_keys[] = {
    "general.architecture", "general.alignment", "general.name", "test.u8", "test.i8",
    "test.u16", "test.i16", "test.u32", "test.i32", "test.u64", "test.i64", "test.f32",
    "test.f64", "test.f64_small", "test.bool_true", "test.bool_false", "test.small_u64",
    "test.small_i8", "test.string", "test.empty_string", "test.array_str", "test.array_i32",
    "test.array_u8", "test.array_f32", "test.array_bool", "test.array_i64", "test.array_u16",
    "test.array_f64",
};
static const sl_gguf_type small_key_types[] = {
    SL_GGUF_STRING, SL_GGUF_UINT32, SL_GGUF_STRING, SL_GGUF_UINT8, SL_GGUF_INT8,
    SL_GGUF_UINT16, SL_GGUF_INT16, SL_GGUF_UINT32, SL_GGUF_INT32, SL_GGUF_UINT64, SL_GGUF_INT64,
    SL_GGUF_FLOAT32, SL_GGUF_FLOAT64, SL_GGUF_FLOAT64, SL_GGUF_BOOL, SL_GGUF_BOOL, SL_GGUF_UINT64,
    SL_GGUF_INT8, SL_GGUF_STRING, SL_GGUF_STRING, SL_GGUF_ARRAY, SL_GGUF_ARRAY, SL_GGUF_ARRAY,
    SL_GGUF_ARRAY, SL_GGUF_ARRAY, SL_GGUF_ARRAY, SL_GGUF_ARRAY, SL_GGUF_ARRAY,
};
#define N_SMALL_KEYS (sizeof small_keys / sizeof small_keys[0])

static void check_key_table(const sl_gguf *g)
{
    CHECK(sl_gguf_n_kv(g) == (int64_t)N_SMALL_KEYS);
    for (size_t i = 0; i < N_SMALL_KEYS; i++) {
        const char *k = sl_gguf_kv_key(g, (int64_t)i);
        CHECKF(k && strcmp(k, small_keys[i]) == 0, "key %zu: %s", i, k ? k : "(null)");
        CHECKF(sl_gguf_kv_type(g, (int64_t)i) == small_key_types[i], "type of %s", small_keys[i]);
        CHECK(sl_gguf_has(g, small_keys[i]));
    }
    CHECK(sl_gguf_kv_key(g, -1) == NULL);
    CHECK(sl_gguf_kv_key(g, (int64_t)N_SMALL_KEYS) == NULL);
    CHECK(sl_gguf_kv_type(g, -1) == SL_GGUF_NONE);
    CHECK(sl_gguf_kv_type(g, INT64_MAX) == SL_GGUF_NONE);
    CHECK(!sl_gguf_has(g, "test"));
    CHECK(!sl_gguf_has(g, "test.u8 "));
    CHECK(!sl_gguf_has(g, ""));
    CHECK(!sl_gguf_has(g, NULL));
}

static void check_integers(const sl_gguf *g)
{
    sl_error err = {0};
    uint32_t u = 0;
    int64_t i = 0;
    struct {
        const char *key;
        bool u32_ok;
        uint32_t u32;
        bool i64_ok;
        int64_t i64;
    } cases[] = {
        {"test.u8", true, 255, true, 255},
        {"test.i8", false, 0, true, -128},
        {"test.u16", true, 65535, true, 65535},
        {"test.i16", false, 0, true, -32768},
        {"test.u32", true, UINT32_MAX, true, 4294967295},
        {"test.i32", false, 0, true, INT32_MIN},
        {"test.u64", false, 0, false, 0},
        {"test.i64", false, 0, true, INT64_MIN},
        {"test.small_u64", true, 7, true, 7},
        {"test.small_i8", true, 100, true, 100},
        {"general.alignment", true, 64, true, 64},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        sl_status s = sl_gguf_get_u32(g, cases[k].key, &u, &err);
        if (cases[k].u32_ok)
            CHECKF(s == SL_OK && u == cases[k].u32, "%s: %s %u", cases[k].key, sl_status_name(s), u);
        else
            check_fails(s, &err, g, cases[k].key);
        s = sl_gguf_get_i64(g, cases[k].key, &i, &err);
        if (cases[k].i64_ok)
            CHECKF(s == SL_OK && i == cases[k].i64, "%s: %s %lld", cases[k].key, sl_status_name(s),
                   (long long)i);
        else
            check_fails(s, &err, g, cases[k].key);
    }
    /* Non-integers are refused by the integer getters. */
    check_fails(sl_gguf_get_u32(g, "test.f32", &u, &err), &err, g, "test.f32");
    check_fails(sl_gguf_get_i64(g, "test.bool_true", &i, &err), &err, g, "test.bool_true");
    check_fails(sl_gguf_get_i64(g, "test.array_i32", &i, &err), &err, g, "test.array_i32");
    check_fails(sl_gguf_get_u32(g, "test.string", &u, &err), &err, g, "test.string");
    check_fails(sl_gguf_get_u32(g, "no.such.key", &u, &err), &err, g, "no.such.key");
    CHECK(strstr(err.message, "missing") != NULL);
}

static void check_scalars(const sl_gguf *g)
{
    sl_error err = {0};
    float f = 0;
    bool b = false;
    sl_gguf_string s = {0};

    CHECK(sl_gguf_get_f32(g, "test.f32", &f, &err) == SL_OK && f == -0.0015f);
    CHECK(sl_gguf_get_f32(g, "test.f64", &f, &err) == SL_OK && f == (float)3.141592653589793);
    CHECK(sl_gguf_get_f32(g, "test.f64_small", &f, &err) == SL_OK && f == 0.25f);
    check_fails(sl_gguf_get_f32(g, "test.u8", &f, &err), &err, g, "test.u8");

    CHECK(sl_gguf_get_bool(g, "test.bool_true", &b, &err) == SL_OK && b);
    CHECK(sl_gguf_get_bool(g, "test.bool_false", &b, &err) == SL_OK && !b);
    check_fails(sl_gguf_get_bool(g, "test.u8", &b, &err), &err, g, "test.u8");

    CHECK(sl_gguf_get_string(g, "general.architecture", &s, &err) == SL_OK &&
          string_is(s, "sightline-test"));
    CHECK(sl_gguf_get_string(g, "general.name", &s, &err) == SL_OK &&
          string_is(s, "Sightline GGUF fixture"));
    CHECK(sl_gguf_get_string(g, "test.string", &s, &err) == SL_OK &&
          string_is(s, "Grüße, 世界! 🌍 \"quoted\"\n\ttab"));
    CHECK(sl_gguf_get_string(g, "test.empty_string", &s, &err) == SL_OK && s.len == 0);
    check_fails(sl_gguf_get_string(g, "test.array_str", &s, &err), &err, g, "test.array_str");
    check_fails(sl_gguf_get_string(g, "test.u32", &s, &err), &err, g, "test.u32");

    /* NULL out pointers and NULL keys are safe. */
    CHECK(sl_gguf_get_u32(g, "test.u8", NULL, NULL) == SL_OK);
    CHECK(sl_gguf_get_u32(g, NULL, &(uint32_t){0}, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECK(sl_gguf_get_string(NULL, "x", &s, &err) == SL_ERR_INVALID_ARGUMENT);
}

/* Reads element i of a numeric array (unaligned) as a double. */
static double element(sl_gguf_type t, const void *data, uint64_t i)
{
    const uint8_t *p = data;
    switch (t) {
    case SL_GGUF_UINT8: return p[i];
    case SL_GGUF_BOOL: return p[i];
    case SL_GGUF_INT32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case SL_GGUF_UINT16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case SL_GGUF_FLOAT32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
    case SL_GGUF_FLOAT64: { double v; memcpy(&v, p + 8 * i, 8); return v; }
    default: return NAN;
    }
}

static void check_numeric_array(const sl_gguf *g, const char *key, sl_gguf_type want_type,
                                const double *want, uint64_t want_n)
{
    sl_error err = {0};
    sl_gguf_type t = SL_GGUF_NONE;
    const void *data = NULL;
    uint64_t n = 0;
    CHECKF(sl_gguf_get_array(g, key, &t, &data, &n, &err) == SL_OK, "%s: %s", key, err.message);
    CHECKF(t == want_type && n == want_n && data, "%s", key);
    if (t != want_type || n != want_n || !data)
        return;
    for (uint64_t i = 0; i < n; i++)
        CHECKF(element(t, data, i) == want[i], "%s[%llu] = %g", key, (unsigned long long)i,
               element(t, data, i));
    const sl_gguf_string *strs;
    check_fails(sl_gguf_get_string_array(g, key, &strs, &n, &err), &err, g, key);
}

static void check_arrays(const sl_gguf *g)
{
    sl_error err = {0};
    const sl_gguf_string *strs = NULL;
    uint64_t n = 0;
    static const char *const want_strs[] = {"alpha", "", "ünïcödé", "日本語", "🙂"};
    CHECK(sl_gguf_get_string_array(g, "test.array_str", &strs, &n, &err) == SL_OK && n == 5);
    for (uint64_t i = 0; i < n && i < 5; i++)
        CHECKF(string_is(strs[i], want_strs[i]), "test.array_str[%llu]", (unsigned long long)i);

    sl_gguf_type t;
    const void *data;
    CHECK(sl_gguf_get_array(g, "test.array_str", &t, &data, &n, &err) == SL_OK &&
          t == SL_GGUF_STRING && n == 5 && data == (const void *)strs);

    check_numeric_array(g, "test.array_i32", SL_GGUF_INT32,
                        (const double[]){-1, 0, 1, 2147483647, -2147483648.0}, 5);
    check_numeric_array(g, "test.array_u8", SL_GGUF_UINT8, (const double[]){0, 1, 127, 128, 255}, 5);
    check_numeric_array(g, "test.array_f32", SL_GGUF_FLOAT32, (const double[]){0.5, -2.0, (float)1e30},
                        3);
    check_numeric_array(g, "test.array_bool", SL_GGUF_BOOL, (const double[]){1, 0, 1}, 3);
    check_numeric_array(g, "test.array_u16", SL_GGUF_UINT16, (const double[]){0, 65535}, 2);
    check_numeric_array(g, "test.array_f64", SL_GGUF_FLOAT64, (const double[]){-1.0, 1e-300}, 2);

    /* i64 elements, exactly (a double cannot hold them). */
    CHECK(sl_gguf_get_array(g, "test.array_i64", &t, &data, &n, &err) == SL_OK &&
          t == SL_GGUF_INT64 && n == 3);
    int64_t v[3];
    memcpy(v, data, sizeof v);
    CHECK(v[0] == INT64_MIN && v[1] == 0 && v[2] == INT64_MAX);

    check_fails(sl_gguf_get_array(g, "test.u8", &t, &data, &n, &err), &err, g, "test.u8");
    check_fails(sl_gguf_get_string_array(g, "test.string", &strs, &n, &err), &err, g, "test.string");
    check_fails(sl_gguf_get_array(g, "missing.array", &t, &data, &n, &err), &err, g, "missing.array");
}

/* ---- tensors ------------------------------------------------------------- */

static float *read_expected(const char *name, size_t n)
{
    char file[256];
    size_t len = 0;
    snprintf(file, sizeof file, "expected/%s.f32", name);
    float *values = sl_test_read_file(fixture(file), &len);
    CHECKF(values && len == n * sizeof(float), "%s: %zu bytes, want %zu", file, len, n * sizeof(float));
    if (values && len != n * sizeof(float)) {
        free(values);
        return NULL;
    }
    return values;
}

/* Dequantises t row by row, and whole, and compares bits with expected. */
static void check_values(const sl_gguf_tensor *t)
{
    size_t n = (size_t)t->n_elements, row = (size_t)t->dims[0];
    float *want = read_expected(t->name, n);
    float *got = malloc(n * sizeof *got);
    float *whole = malloc(n * sizeof *whole);
    if (!want || !got || !whole)
        goto out;
    uint64_t row_bytes = 0;
    CHECK(sl_type_row_bytes(t->type, row, &row_bytes));
    for (size_t r = 0; r < n / row; r++)
        sl_dequantize_row(t->type, (const uint8_t *)t->data + r * row_bytes, got + r * row, row);
    sl_dequantize_row(t->type, t->data, whole, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (bits_of(got[i]) != bits_of(want[i]) || bits_of(whole[i]) != bits_of(want[i])) {
            if (bad++ < 5)
                fprintf(stderr, "%s[%zu]: got %a (%08x), want %a (%08x)\n", t->name, i, (double)got[i],
                        bits_of(got[i]), (double)want[i], bits_of(want[i]));
        }
    }
    CHECKF(bad == 0, "%s: %zu of %zu values differ", t->name, bad, n);
out:
    free(want);
    free(got);
    free(whole);
}

static void check_tensor(const sl_gguf *g, const sl_gguf_tensor *t, const uint8_t *file, size_t file_len,
                         uint64_t alignment)
{
    const expected_tensor *e = expected_for(t->name);
    CHECKF(e != NULL, "unexpected tensor %s", t->name);
    if (!e)
        return;
    CHECKF(t->type == e->type, "%s: type %u", t->name, t->type);
    CHECKF(t->n_dims == e->n_dims, "%s: n_dims %u", t->name, t->n_dims);
    uint64_t n = 1;
    for (int d = 0; d < 4; d++) {
        CHECKF(t->dims[d] == e->dims[d], "%s: dims[%d] = %llu", t->name, d, (unsigned long long)t->dims[d]);
        n *= e->dims[d];
    }
    CHECK(t->n_elements == n);
    CHECKF(t->n_bytes == e->n_bytes, "%s: %llu bytes", t->name, (unsigned long long)t->n_bytes);
    CHECKF((uintptr_t)t->data % alignment == 0, "%s: data not aligned", t->name);
    CHECK(sl_gguf_find_tensor(g, t->name) == t);
    /* The bytes the reader points at are those the package put at that offset. */
    CHECK(e->file_offset + e->n_bytes <= file_len &&
          memcmp(t->data, file + e->file_offset, (size_t)e->n_bytes) == 0);
    check_values(t);
}

static void check_tensors(const sl_gguf *g, size_t n_want, uint64_t alignment)
{
    size_t file_len = 0;
    uint8_t *file = sl_test_read_file(sl_gguf_path(g), &file_len);
    CHECK(file != NULL && file_len == sl_gguf_file_size(g));
    CHECK(sl_gguf_n_tensors(g) == (int64_t)n_want);
    for (int64_t i = 0; file && i < sl_gguf_n_tensors(g); i++)
        check_tensor(g, sl_gguf_tensor_at(g, i), file, file_len, alignment);
    CHECK(sl_gguf_tensor_at(g, -1) == NULL);
    CHECK(sl_gguf_tensor_at(g, sl_gguf_n_tensors(g)) == NULL);
    CHECK(sl_gguf_find_tensor(g, "t.q4") == NULL);
    CHECK(sl_gguf_find_tensor(g, "") == NULL);
    CHECK(sl_gguf_find_tensor(g, NULL) == NULL);
    free(file);
}

/* ---- files --------------------------------------------------------------- */

static void test_small(void)
{
    sl_gguf *g = NULL;
    sl_error err = {0};
    const char *path = fixture("small.gguf");
    CHECKF(sl_gguf_open(path, &g, &err) == SL_OK, "%s", err.message);
    if (!g)
        return;
    CHECK(strcmp(sl_gguf_path(g), path) == 0);
    CHECK(sl_gguf_version(g) == 3);
    CHECK(sl_gguf_file_size(g) == 6208);
    check_key_table(g);
    check_integers(g);
    check_scalars(g);
    check_arrays(g);
    /* In the order the file lists them, which is the order of the table. */
    for (size_t i = 0; i < N_SMALL_TENSORS; i++) {
        const sl_gguf_tensor *t = sl_gguf_tensor_at(g, (int64_t)i);
        CHECK(t && strcmp(t->name, small_tensors[i].name) == 0);
    }
    check_tensors(g, N_SMALL_TENSORS, 64);
    sl_gguf_close(g);
}

static void test_v2(void)
{
    sl_gguf *g = NULL;
    sl_error err = {0};
    CHECKF(sl_gguf_open(fixture("small-v2.gguf"), &g, &err) == SL_OK, "%s", err.message);
    if (!g)
        return;
    CHECK(sl_gguf_version(g) == 2);
    CHECK(!sl_gguf_has(g, "general.alignment"));
    CHECK(sl_gguf_n_kv(g) == 2);
    sl_gguf_string s;
    CHECK(sl_gguf_get_string(g, "general.name", &s, &err) == SL_OK && string_is(s, "v2"));
    CHECK(sl_gguf_n_tensors(g) == 2);
    /* Same tensors as small.gguf, placed with the default alignment. */
    const sl_gguf_tensor *t = sl_gguf_find_tensor(g, "t.f32"), *q = sl_gguf_find_tensor(g, "t.q8_0");
    CHECK(t && q);
    if (t && q) {
        CHECK((uintptr_t)t->data % 32 == 0 && (uintptr_t)q->data % 32 == 0);
        CHECK(q->dims[0] == 96 && q->dims[1] == 5 && q->n_bytes == 510);
        check_values(t);
        check_values(q);
    }
    sl_gguf_close(g);
}

static void test_open_errors(void)
{
    sl_gguf *g = (sl_gguf *)&g; /* must be reset to NULL on failure */
    sl_error err = {0};
    const char *missing = fixture("no-such-file.gguf");
    CHECK(sl_gguf_open(missing, &g, &err) == SL_ERR_IO && g == NULL);
    CHECKF(strstr(err.message, missing) != NULL, "%s", err.message);
    CHECK(err.code == SL_ERR_IO);

    CHECK(sl_gguf_open(dir, &g, &err) == SL_ERR_IO && g == NULL);
    CHECKF(strstr(err.message, dir) != NULL, "%s", err.message);

    CHECK(sl_gguf_open(NULL, &g, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECK(sl_gguf_open(missing, NULL, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECK(sl_gguf_open(missing, &g, NULL) == SL_ERR_IO); /* err may be NULL */
    sl_gguf_close(NULL);

    /* Accessors on NULL are harmless. */
    CHECK(sl_gguf_n_kv(NULL) == 0 && sl_gguf_n_tensors(NULL) == 0);
    CHECK(sl_gguf_tensor_at(NULL, 0) == NULL && sl_gguf_find_tensor(NULL, "x") == NULL);
    CHECK(!sl_gguf_has(NULL, "x") && sl_gguf_kv_key(NULL, 0) == NULL);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    test_small();
    test_v2();
    test_open_errors();
    return sl_test_finish();
}
