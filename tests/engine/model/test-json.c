/* The JSON parser (engine/model/json.c) against RFC 8259: documents that
 * must parse, with their decoded values; documents that must be refused
 * (y_/n_ cases in the manner of JSONTestSuite, written here), each with the
 * byte offset the error must name; every prefix of a valid document and
 * every single-byte change of it (must fail cleanly or parse); nesting at
 * and past the bound; numbers at the int64 and double limits; the accessors
 * on NULL and on values of the wrong type.
 *
 * Each input is copied into a buffer of exactly its length, so the
 * sanitizer build catches any read past the end. */
#include "../test-util.h"
#include "model/json.h"

#include <float.h>
#include <locale.h>
#include <stdint.h>

/* Parses text[0..len) from an exact-size copy. */
static sl_status parse(const char *text, size_t len, sl_json **root, sl_error *err)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, text, len);
    sl_status s = sl_json_parse(copy, len, root, err);
    free(copy);
    return s;
}

static sl_json *parse_ok(const char *text)
{
    sl_json *root = NULL;
    sl_error err = {0};
    sl_status s = parse(text, strlen(text), &root, &err);
    CHECKF(s == SL_OK && root, "'%s': %s", text, err.message);
    return root;
}

/* The byte offset named in an error message, or SIZE_MAX. */
static size_t error_offset(const sl_error *err)
{
    unsigned long long at;
    if (sscanf(err->message, "JSON at byte %llu", &at) != 1)
        return SIZE_MAX;
    return (size_t)at;
}

/* ---- valid documents -------------------------------------------------------- */

static void test_scalars(void)
{
    sl_json *v;
    bool b;
    v = parse_ok("true");
    CHECK(sl_json_type_of(v) == SL_JSON_BOOL && sl_json_bool(v, &b) && b);
    sl_json_free(v);
    v = parse_ok(" \t\r\nfalse\n ");
    CHECK(sl_json_type_of(v) == SL_JSON_BOOL && sl_json_bool(v, &b) && !b);
    CHECK(sl_json_offset(v) == 4);
    sl_json_free(v);
    v = parse_ok("null");
    CHECK(v && sl_json_type_of(v) == SL_JSON_NULL);
    sl_json_free(v);
    v = parse_ok("\"top\"");
    size_t len = 0;
    CHECK(strcmp(sl_json_string(v, &len), "top") == 0 && len == 3);
    sl_json_free(v);
    v = parse_ok("-12.5e-1");
    double d = 0;
    CHECK(sl_json_type_of(v) == SL_JSON_NUMBER && sl_json_double(v, &d) && d == -1.25);
    CHECK(strcmp(sl_json_number_text(v, &len), "-12.5e-1") == 0 && len == 8);
    sl_json_free(v);
}

static void test_structure(void)
{
    const char *text = "{\"b\": 1, \"a\": [true, false, null, \"s\", {}], \"c\": {\"d\": \"e\"},"
                       " \"\": []}";
    sl_json *root = parse_ok(text);
    CHECK(sl_json_type_of(root) == SL_JSON_OBJECT && sl_json_object_size(root) == 4);
    const char *order[] = {"b", "a", "c", ""};
    for (size_t i = 0; i < 4; i++) {
        const char *key = NULL;
        size_t key_len = 99;
        const sl_json *m = sl_json_object_at(root, i, &key, &key_len);
        CHECKF(m && key && strcmp(key, order[i]) == 0 && key_len == strlen(order[i]),
               "member %zu", i);
        CHECK(m == sl_json_object_get(root, order[i]));
    }
    CHECK(sl_json_object_at(root, 4, NULL, NULL) == NULL);
    CHECK(sl_json_object_get(root, "z") == NULL);
    const sl_json *a = sl_json_object_get(root, "a");
    CHECK(sl_json_type_of(a) == SL_JSON_ARRAY && sl_json_array_size(a) == 5);
    CHECK(sl_json_offset(a) == (size_t)(strchr(text, '[') - text));
    CHECK(sl_json_type_of(sl_json_array_at(a, 2)) == SL_JSON_NULL);
    CHECK(strcmp(sl_json_string(sl_json_array_at(a, 3), NULL), "s") == 0);
    CHECK(sl_json_type_of(sl_json_array_at(a, 4)) == SL_JSON_OBJECT);
    CHECK(sl_json_object_size(sl_json_array_at(a, 4)) == 0);
    CHECK(sl_json_array_at(a, 5) == NULL);
    const sl_json *c = sl_json_object_get(root, "c");
    CHECK(strcmp(sl_json_string(sl_json_object_get(c, "d"), NULL), "e") == 0);
    CHECK(sl_json_array_size(sl_json_object_get(root, "")) == 0);
    int64_t i64 = 0;
    CHECK(sl_json_int64(sl_json_object_get(root, "b"), &i64) && i64 == 1);
    sl_json_free(root);

    sl_json *e = parse_ok("[[], {}, [[]], {\"a\": {}}]");
    CHECK(sl_json_array_size(e) == 4 && sl_json_array_size(sl_json_array_at(e, 2)) == 1);
    sl_json_free(e);
}

/* An object larger than the parser's linear-search size, looked up by hash. */
static void test_large_object(void)
{
    enum { N = 5000 };
    size_t cap = (size_t)N * 32 + 16, o = 0;
    char *text = malloc(cap);
    o += (size_t)snprintf(text + o, cap - o, "{");
    for (int i = 0; i < N; i++)
        o += (size_t)snprintf(text + o, cap - o, "%s\"key%d\":%d", i ? "," : "", i, i * 7);
    o += (size_t)snprintf(text + o, cap - o, "}");
    sl_json *root = parse_ok(text);
    CHECK(sl_json_object_size(root) == N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "key%d", i);
        int64_t v = -1;
        const char *k = NULL;
        if (!sl_json_int64(sl_json_object_get(root, key), &v) || v != i * 7)
            bad++;
        if (!sl_json_object_at(root, (size_t)i, &k, NULL) || strcmp(k, key) != 0)
            bad++;
    }
    CHECKF(bad == 0, "%d lookups wrong", bad);
    CHECK(sl_json_object_get(root, "key5000") == NULL && sl_json_object_get(root, "") == NULL);
    sl_json_free(root);

    /* the same with one duplicate at the end: refused, naming the key */
    text[o - 1] = 0;
    strcat(text, ",\"key1234\":0}");
    sl_json *dup = NULL;
    sl_error err = {0};
    CHECK(parse(text, strlen(text), &dup, &err) == SL_ERR_FORMAT && dup == NULL);
    CHECKF(strstr(err.message, "'key1234' again") != NULL, "%s", err.message);
    CHECKF(error_offset(&err) == strlen(text) - strlen("\"key1234\":0}"), "%s", err.message);
    free(text);

    /* a large array */
    enum { M = 100000 };
    char *arr = malloc((size_t)M * 2 + 2);
    arr[0] = '[';
    for (int i = 0; i < M; i++) {
        arr[1 + 2 * i] = (char)('0' + i % 10);
        arr[2 + 2 * i] = ',';
    }
    arr[2 * M] = ']';
    arr[2 * M + 1] = 0;
    root = parse_ok(arr);
    CHECK(sl_json_array_size(root) == M);
    int64_t last = -1;
    CHECK(sl_json_int64(sl_json_array_at(root, M - 1), &last) && last == (M - 1) % 10);
    sl_json_free(root);
    free(arr);
}

static void check_string(const char *json, const char *want, size_t want_len)
{
    sl_json *v = NULL;
    sl_error err = {0};
    sl_status s = parse(json, strlen(json), &v, &err);
    size_t len = 0;
    const char *got = s == SL_OK ? sl_json_string(v, &len) : NULL;
    CHECKF(got && len == want_len && memcmp(got, want, want_len) == 0 && got[len] == 0,
           "%s: %s", json, s == SL_OK ? "wrong decoding" : err.message);
    sl_json_free(v);
}

static void test_strings(void)
{
    check_string("\"\"", "", 0);
    check_string("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8);
    check_string("\"\\u0041\\u00e9\\u00E9\"", "A\xC3\xA9\xC3\xA9", 5);
    check_string("\"\\u20AC\\u07FF\\u0800\\uFFFF\"", "\xE2\x82\xAC\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF", 11);
    check_string("\"\\uD834\\uDD1E\"", "\xF0\x9D\x84\x9E", 4);           /* U+1D11E */
    check_string("\"\\uD800\\uDC00\\uDBFF\\uDFFF\"", "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF", 8);
    check_string("\"a\\u0000b\"", "a\0b", 3);                           /* NUL kept */
    check_string("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\"",
                 "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF", 13);
    check_string("\"\x7F\"", "\x7F", 1);                                /* DEL is allowed */
    check_string("\"\xEF\xBB\xBF\"", "\xEF\xBB\xBF", 3);                /* U+FEFF inside */
    check_string("\"\xED\x9F\xBF\xEE\x80\x80\"", "\xED\x9F\xBF\xEE\x80\x80", 6); /* around surrogates */
    check_string("\"/*not a comment*/\"", "/*not a comment*/", 17);

    /* keys are decoded too, and keys differing after a NUL are distinct */
    sl_json *v = parse_ok("{\"a\\u0000b\": 1, \"a\\u0000c\": 2, \"\\u00e9\": 3}");
    CHECK(sl_json_object_size(v) == 3);
    const char *key;
    size_t key_len;
    sl_json_object_at(v, 1, &key, &key_len);
    CHECK(key_len == 3 && memcmp(key, "a\0c", 3) == 0);
    CHECK(sl_json_object_get(v, "\xC3\xA9") != NULL);
    CHECK(sl_json_object_get(v, "a") == NULL);
    sl_json_free(v);
}

static void test_numbers(void)
{
    static const struct {
        const char *text;
        bool is_int, int_ok;
        int64_t i;
        bool uint_ok;
        uint64_t u;
    } ints[] = {
        {"0", true, true, 0, true, 0},
        {"-0", true, true, 0, true, 0},
        {"42", true, true, 42, true, 42},
        {"-42", true, true, -42, false, 0},
        {"9223372036854775807", true, true, INT64_MAX, true, 9223372036854775807u},
        {"-9223372036854775808", true, true, INT64_MIN, false, 0},
        {"9223372036854775808", true, false, 0, true, 9223372036854775808u},
        {"-9223372036854775809", true, false, 0, false, 0},
        {"18446744073709551615", true, false, 0, true, UINT64_MAX},
        {"18446744073709551616", true, false, 0, false, 0},
        {"99999999999999999999999", true, false, 0, false, 0},
        {"1.0", false, false, 0, false, 0},
        {"1e3", false, false, 0, false, 0},
        {"-0.0", false, false, 0, false, 0},
    };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        sl_json *v = parse_ok(ints[k].text);
        int64_t i = 12345;
        uint64_t u = 12345;
        CHECKF(sl_json_is_integer(v) == ints[k].is_int, "%s", ints[k].text);
        bool iok = sl_json_int64(v, &i), uok = sl_json_uint64(v, &u);
        CHECKF(iok == ints[k].int_ok && (!iok || i == ints[k].i), "int64 %s", ints[k].text);
        CHECKF(uok == ints[k].uint_ok && (!uok || u == ints[k].u), "uint64 %s", ints[k].text);
        if (!iok)
            CHECKF(i == 12345, "%s: out written on failure", ints[k].text);
        sl_json_free(v);
    }

    static const struct {
        const char *text;
        bool ok;
        double d;
    } doubles[] = {
        {"0.1", true, 0.1},
        {"-2.5E+2", true, -250.0},
        {"1e-2", true, 0.01},
        {"1E2", true, 100.0},
        {"123456789012345678901234567890", true, 123456789012345678901234567890.0},
        {"1.7976931348623157e308", true, DBL_MAX},
        {"2.2250738585072014e-308", true, DBL_MIN},
        {"4.9406564584124654e-324", true, 4.9406564584124654e-324},
        {"1e-400", true, 0.0},
        {"-1e-400", true, -0.0},
        {"1e400", false, 0},
        {"-1e400", false, 0},
        {"1.8e308", false, 0},
        {"9007199254740993", true, 9007199254740992.0}, /* rounds to even */
        {"0.30000000000000004", true, 0.30000000000000004},
    };
    for (size_t k = 0; k < sizeof doubles / sizeof doubles[0]; k++) {
        sl_json *v = parse_ok(doubles[k].text);
        double d = 777;
        bool ok = sl_json_double(v, &d);
        CHECKF(ok == doubles[k].ok, "double %s", doubles[k].text);
        if (ok && doubles[k].ok)
            CHECKF(d == doubles[k].d && signbit(d) == signbit(doubles[k].d), "double %s: %.17g",
                   doubles[k].text, d);
        sl_json_free(v);
    }

    /* independent of the C locale: a decimal-comma locale, where present */
    const char *locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "ru_RU.UTF-8", "C.UTF-8"};
    for (size_t k = 0; k < sizeof locales / sizeof locales[0]; k++) {
        if (!setlocale(LC_NUMERIC, locales[k]))
            continue;
        sl_json *v = parse_ok("[1.5, -0.25e1]");
        double a = 0, b = 0;
        CHECKF(sl_json_double(sl_json_array_at(v, 0), &a) && a == 1.5, "1.5 in %s", locales[k]);
        CHECKF(sl_json_double(sl_json_array_at(v, 1), &b) && b == -2.5, "-2.5 in %s", locales[k]);
        sl_json_free(v);
        setlocale(LC_NUMERIC, "C");
    }
}

static char *nested(size_t depth, bool objects)
{
    size_t cap = depth * 6 + 8, o = 0;
    char *s = malloc(cap);
    for (size_t i = 0; i < depth; i++) {
        if (objects) {
            memcpy(s + o, "{\"a\":", 5);
            o += 5;
        } else {
            s[o++] = '[';
        }
    }
    s[o++] = '1';
    for (size_t i = 0; i < depth; i++)
        s[o++] = objects ? '}' : ']';
    s[o] = 0;
    return s;
}

static void test_depth(void)
{
    for (int objects = 0; objects < 2; objects++) {
        char *at = nested(SL_JSON_MAX_DEPTH, objects);
        sl_json *root = parse_ok(at);
        const sl_json *v = root;
        size_t depth = 0;
        while (sl_json_type_of(v) == (objects ? SL_JSON_OBJECT : SL_JSON_ARRAY)) {
            v = objects ? sl_json_object_get(v, "a") : sl_json_array_at(v, 0);
            depth++;
        }
        CHECK(depth == SL_JSON_MAX_DEPTH && sl_json_type_of(v) == SL_JSON_NUMBER);
        sl_json_free(root);
        free(at);

        size_t over[] = {SL_JSON_MAX_DEPTH + 1, SL_JSON_MAX_DEPTH + 2, 1000000};
        for (size_t k = 0; k < 3; k++) {
            char *s = nested(over[k], objects);
            sl_error err = {0};
            sl_json *r = NULL;
            CHECK(parse(s, strlen(s), &r, &err) == SL_ERR_FORMAT && r == NULL);
            size_t want = (size_t)SL_JSON_MAX_DEPTH * (objects ? 5 : 1);
            CHECKF(error_offset(&err) == want && strstr(err.message, "nested"), "%s", err.message);
            free(s);
        }
    }
    /* siblings do not add up: many containers at depth 128 */
    char *deep = nested(SL_JSON_MAX_DEPTH - 1, false);
    size_t n = strlen(deep);
    char *wide = malloc(n * 3 + 8);
    snprintf(wide, n * 3 + 8, "[%s,%s,%s]", deep, deep, deep);
    sl_json_free(parse_ok(wide));
    free(wide);
    free(deep);
}

/* ---- invalid documents ------------------------------------------------------- */

typedef struct {
    const char *name, *text;
    size_t len, at; /* the offset the error must name */
} bad_case;

#define BAD(name, text, at) {name, text, sizeof(text) - 1, at}

static const bad_case bad_cases[] = {
    BAD("n_empty", "", 0),
    BAD("n_only_space", " \n", 2),
    BAD("n_bom", "\xEF\xBB\xBF{}", 0),
    BAD("n_trailing_garbage", "{} x", 3),
    BAD("n_two_values", "1 2", 2),
    BAD("n_two_strings", "\"a\" \"b\"", 4),
    BAD("n_extra_close", "[]]", 2),
    BAD("n_nul_inside", "[1\0]", 2),
    BAD("n_nul_after", "{}\0", 2),
    BAD("n_array_trailing_comma", "[1,]", 3),
    BAD("n_array_double_comma", "[1,,2]", 3),
    BAD("n_array_leading_comma", "[,1]", 1),
    BAD("n_array_no_comma", "[1 2]", 3),
    BAD("n_array_unclosed", "[1", 2),
    BAD("n_array_unclosed_comma", "[1,", 3),
    BAD("n_array_colon", "[1:2]", 2),
    BAD("n_object_trailing_comma", "{\"a\":1,}", 7),
    BAD("n_object_no_colon", "{\"a\" 1}", 5),
    BAD("n_object_no_value", "{\"a\":}", 5),
    BAD("n_object_number_key", "{1:2}", 1),
    BAD("n_object_single_quote_key", "{'a':1}", 1),
    BAD("n_object_bare_key", "{a:1}", 1),
    BAD("n_object_comma_only", "{,}", 1),
    BAD("n_object_unclosed", "{\"a\":1", 6),
    BAD("n_object_in_array_close", "{\"a\":1]", 6),
    BAD("n_duplicate_key", "{\"a\":1,\"a\":2}", 7),
    BAD("n_duplicate_escaped_key", "{\"a\":1,\"\\u0061\":2}", 7),
    BAD("n_duplicate_nested", "[{\"x\":{\"k\":1,\"j\":2,\"k\":3}}]", 19),
    BAD("n_number_leading_zero", "01", 1),
    BAD("n_number_neg_leading_zero", "-012", 2),
    BAD("n_number_minus_only", "-", 1),
    BAD("n_number_minus_space", "- 1", 1),
    BAD("n_number_plus", "+1", 0),
    BAD("n_number_dot_first", ".5", 0),
    BAD("n_number_dot_last", "1.", 2),
    BAD("n_number_dot_exp", "1.e5", 2),
    BAD("n_number_exp_only", "1e", 2),
    BAD("n_number_exp_sign_only", "1e+", 3),
    BAD("n_number_hex", "0x10", 1),
    BAD("n_number_nan", "NaN", 0),
    BAD("n_number_infinity", "Infinity", 0),
    BAD("n_number_neg_infinity", "-Infinity", 1),
    BAD("n_number_comma_decimal", "[1,5.]", 5),
    BAD("n_literal_truncated", "tru", 3),
    BAD("n_literal_case", "True", 0),
    BAD("n_literal_nul", "nul", 3),
    BAD("n_literal_wrong", "fals3", 4),
    BAD("n_literal_trailing", "nullx", 4),
    BAD("n_string_unterminated", "\"abc", 4),
    BAD("n_string_single_quotes", "'a'", 0),
    BAD("n_string_bad_escape", "\"\\x\"", 2),
    BAD("n_string_escape_upper_u", "\"\\U0041\"", 2),
    BAD("n_string_escape_at_end", "\"\\", 2),
    BAD("n_string_escaped_ctrl", "\"\\\x01\"", 2),
    BAD("n_string_short_u", "\"\\u12\"", 5),
    BAD("n_string_bad_hex", "\"\\u00G0\"", 5),
    BAD("n_string_u_at_end", "\"\\u00", 5),
    BAD("n_string_lone_high", "\"\\uD800\"", 7),
    BAD("n_string_lone_high_end", "\"\\uDBFF", 7),
    BAD("n_string_lone_low", "\"\\uDC00\"", 1),
    BAD("n_string_low_then_high", "\"\\uDFFF\\uD800\"", 1),
    BAD("n_string_high_then_ascii", "\"\\uD800\\u0041\"", 7),
    BAD("n_string_high_then_high", "\"\\uD800\\uD800\"", 7),
    BAD("n_string_high_then_newline", "\"\\uD800\\n\"", 7),
    BAD("n_string_high_then_char", "\"\\uD83Dx\"", 7),
    BAD("n_string_high_bad_hex", "\"\\uD800\\uDCXX\"", 11),
    BAD("n_string_ctrl_01", "\"a\x01\"", 2),
    BAD("n_string_ctrl_tab", "\"\t\"", 1),
    BAD("n_string_ctrl_newline", "\"a\nb\"", 2),
    BAD("n_string_ctrl_nul", "\"\0\"", 1),
    BAD("n_string_ctrl_1f", "[\"\x1F\"]", 2),
    BAD("n_utf8_continuation", "\"\x80\"", 1),
    BAD("n_utf8_overlong_2", "\"\xC0\x80\"", 1),
    BAD("n_utf8_overlong_2b", "\"\xC1\xBF\"", 1),
    BAD("n_utf8_overlong_3", "\"\xE0\x80\x80\"", 1),
    BAD("n_utf8_overlong_3b", "\"\xE0\x9F\xBF\"", 1),
    BAD("n_utf8_overlong_4", "\"\xF0\x80\x80\x80\"", 1),
    BAD("n_utf8_surrogate", "\"\xED\xA0\x80\"", 1),
    BAD("n_utf8_surrogate_low", "\"\xED\xBF\xBF\"", 1),
    BAD("n_utf8_past_max", "\"\xF4\x90\x80\x80\"", 1),
    BAD("n_utf8_f5", "\"\xF5\x80\x80\x80\"", 1),
    BAD("n_utf8_ff", "\"\xFF\"", 1),
    BAD("n_utf8_fe", "\"\xFE\"", 1),
    BAD("n_utf8_truncated_2", "\"\xC3\"", 1),
    BAD("n_utf8_truncated_3", "\"\xE2\x82\"", 1),
    BAD("n_utf8_truncated_4", "\"\xF0\x9F\x98\"", 1),
    BAD("n_utf8_truncated_at_end", "\"\xF0\x9F", 1),
    BAD("n_utf8_bad_continuation", "\"\xE2\x28\xA1\"", 1),
    BAD("n_utf8_outside_string", "[\xC3\xA9]", 1),
    BAD("n_comment_line", "[1]//", 3),
    BAD("n_comment_block", "/**/1", 0),
    BAD("n_whitespace_formfeed", "[\f1]", 1),
    BAD("n_whitespace_vtab", "\v[]", 0),
    BAD("n_whitespace_nbsp", "[\xC2\xA0" "1]", 1),
    BAD("n_array_of_close_brace", "[}", 1),
    BAD("n_object_close_bracket", "{]", 1),
    BAD("n_key_unterminated", "{\"a", 3),
    BAD("n_key_colon_missing_end", "{\"a\"", 4),
};

static void test_invalid(void)
{
    for (size_t k = 0; k < sizeof bad_cases / sizeof bad_cases[0]; k++) {
        const bad_case *c = &bad_cases[k];
        sl_json *root = (sl_json *)(uintptr_t)1;
        sl_error err = {0};
        sl_status s = parse(c->text, c->len, &root, &err);
        CHECKF(s == SL_ERR_FORMAT && root == NULL && err.code == SL_ERR_FORMAT, "%s: status %d",
               c->name, (int)s);
        CHECKF(error_offset(&err) == c->at, "%s: wanted byte %zu: %s", c->name, c->at,
               err.message);
        CHECKF(strstr(err.message, "expected ") && strstr(err.message, "found "), "%s: %s",
               c->name, err.message);
    }
    /* messages say line and column and what was found */
    sl_json *root = NULL;
    sl_error err = {0};
    const char *text = "{\n  \"a\": x}";
    CHECK(parse(text, strlen(text), &root, &err) == SL_ERR_FORMAT);
    CHECKF(strstr(err.message, "line 2, column 8") && strstr(err.message, "found 'x'"), "%s",
           err.message);
    CHECK(parse("[1", 2, &root, &err) == SL_ERR_FORMAT);
    CHECKF(strstr(err.message, "found the end of the input"), "%s", err.message);
    CHECK(parse("\"\xC0\"", 3, &root, &err) == SL_ERR_FORMAT);
    CHECKF(strstr(err.message, "byte 0xC0"), "%s", err.message);
    CHECK(parse("\"\x01\"", 3, &root, &err) == SL_ERR_FORMAT);
    CHECKF(strstr(err.message, "U+0001"), "%s", err.message);
    CHECK(parse("\xEF\xBB\xBF[]", 5, &root, &err) == SL_ERR_FORMAT);
    CHECKF(strstr(err.message, "byte-order mark"), "%s", err.message);

    /* arguments */
    CHECK(sl_json_parse("[]", 2, NULL, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECK(sl_json_parse(NULL, 2, &root, &err) == SL_ERR_INVALID_ARGUMENT && root == NULL);
    CHECK(sl_json_parse(NULL, 0, &root, NULL) == SL_ERR_FORMAT && root == NULL);
}

/* ---- every prefix, every one-byte change ------------------------------------- */

static const char rich[] =
    "{\"name\": \"Sightline \\u00e9\\uD83D\\uDE00 \xE2\x9C\x93\", \"layers\": 61,"
    " \"rope_theta\": 1.0e4, \"eps\": -1.5E-06, \"flags\": [true, false, null],"
    " \"nested\": {\"a\": [[], {}, [1, [2, [3]]]], \"b\": \"\\\"\\\\\\/\\b\\f\\n\\r\\t\"},"
    " \"big\": 18446744073709551615, \"neg\": -9223372036854775808, \"zero\": 0}";

static void test_prefixes_and_mutations(void)
{
    size_t len = sizeof rich - 1;
    sl_json *root = NULL;
    sl_error err = {0};
    CHECKF(parse(rich, len, &root, &err) == SL_OK, "%s", err.message);
    CHECK(sl_json_object_size(root) == 9);
    size_t nlen = 0;
    CHECK(strcmp(sl_json_string(sl_json_object_get(root, "name"), &nlen),
                 "Sightline \xC3\xA9\xF0\x9F\x98\x80 \xE2\x9C\x93") == 0);
    sl_json_free(root);

    int wrong = 0;
    for (size_t n = 0; n < len; n++) {
        root = NULL;
        sl_status s = parse(rich, n, &root, &err);
        size_t at = error_offset(&err);
        if (s != SL_ERR_FORMAT || root != NULL || at > n) {
            wrong++;
            fprintf(stderr, "prefix %zu: status %d, %s\n", n, (int)s, err.message);
        }
    }
    CHECKF(wrong == 0, "%d prefixes not refused cleanly", wrong);

    /* every byte replaced by a few others: refused cleanly or parsed */
    static const uint8_t subs[] = {0x00, 0x01, '"', '\\', '{', '}', '[', ']', ',', ':', '0',
                                   '-', 'e', '.', 'u', ' ', 0x80, 0xC3, 0xED, 0xFF};
    char *buf = malloc(len);
    int bad = 0, parsed = 0;
    for (size_t i = 0; i < len; i++)
        for (size_t k = 0; k < sizeof subs; k++) {
            memcpy(buf, rich, len);
            buf[i] = (char)subs[k];
            root = NULL;
            sl_status s = parse(buf, len, &root, &err);
            if (s == SL_OK) {
                parsed++;
                sl_json_free(root);
            } else if (s != SL_ERR_FORMAT || root || error_offset(&err) > len) {
                bad++;
            }
        }
    CHECKF(bad == 0, "%d mutations not handled cleanly", bad);
    CHECK(parsed > 0);
    free(buf);
}

/* ---- accessors are total ------------------------------------------------------ */

static void test_accessors(void)
{
    CHECK(sl_json_type_of(NULL) == SL_JSON_NULL);
    CHECK(sl_json_object_size(NULL) == 0 && sl_json_array_size(NULL) == 0);
    CHECK(sl_json_object_get(NULL, "a") == NULL && sl_json_array_at(NULL, 0) == NULL);
    CHECK(sl_json_object_at(NULL, 0, NULL, NULL) == NULL);
    CHECK(sl_json_string(NULL, NULL) == NULL && sl_json_number_text(NULL, NULL) == NULL);
    bool b;
    int64_t i;
    uint64_t u;
    double d;
    CHECK(!sl_json_bool(NULL, &b) && !sl_json_int64(NULL, &i) && !sl_json_uint64(NULL, &u));
    CHECK(!sl_json_double(NULL, &d) && !sl_json_is_integer(NULL));
    CHECK(sl_json_offset(NULL) == 0);
    sl_json_free(NULL);

    sl_json *v = parse_ok("[\"1\", 1, {\"a\": 1}, true]");
    const sl_json *s = sl_json_array_at(v, 0), *n = sl_json_array_at(v, 1);
    const sl_json *o = sl_json_array_at(v, 2), *t = sl_json_array_at(v, 3);
    CHECK(!sl_json_int64(s, &i) && !sl_json_double(s, &d) && !sl_json_bool(s, &b));
    CHECK(sl_json_string(n, NULL) == NULL && !sl_json_bool(n, &b));
    CHECK(sl_json_array_size(o) == 0 && sl_json_array_at(o, 0) == NULL);
    CHECK(sl_json_object_size(v) == 0 && sl_json_object_get(v, "a") == NULL);
    CHECK(sl_json_object_at(v, 0, NULL, NULL) == NULL);
    CHECK(sl_json_object_get(o, NULL) == NULL);
    CHECK(!sl_json_int64(t, &i) && sl_json_number_text(t, NULL) == NULL);
    for (int k = SL_JSON_NULL; k <= SL_JSON_OBJECT; k++)
        CHECK(strcmp(sl_json_type_name((sl_json_type)k), "unknown") != 0);
    CHECK(strcmp(sl_json_type_name(SL_JSON_OBJECT), "object") == 0);
    sl_json_free(v);
}

int main(void)
{
    test_scalars();
    test_structure();
    test_large_object();
    test_strings();
    test_numbers();
    test_depth();
    test_invalid();
    test_prefixes_and_mutations();
    test_accessors();
    return sl_test_finish();
}
