/* json.h: a validating JSON (RFC 8259) parser into an immutable tree.
 *
 * sl_json_parse() accepts exactly one JSON text of len bytes (any value at
 * the top, surrounded by optional whitespace) and refuses, with
 * SL_ERR_FORMAT and a message "JSON at byte B (line L, column C): expected
 * X, found Y": invalid UTF-8 (overlong forms, encoded surrogates, code
 * points past U+10FFFF), raw control characters in strings, bad escapes,
 * unpaired surrogates (\uD800–\uDFFF not forming a pair), numbers outside
 * the grammar (leading zeros, "1.", ".5", "+1", NaN), duplicate keys in an
 * object, nesting of arrays and objects deeper than SL_JSON_MAX_DEPTH, and
 * anything after the value. A byte-order mark is refused too. The parser
 * never recurses; memory grows with the input (a few dozen bytes per value),
 * and SL_ERR_NO_MEMORY is returned when an allocation fails.
 *
 * The tree lives in one arena owned by the root: every pointer returned by
 * the accessors stays valid until sl_json_free(root). Objects keep their
 * members in document order. Strings are decoded UTF-8, NUL-terminated, and
 * may contain NUL bytes (from \u0000): the length says where they end.
 * Numbers keep their text; the accessors convert it with range checks.
 *
 * Accessors are total: given NULL, a node of another type, or an index out
 * of range, they return NULL / 0 / false rather than crash. */
#ifndef SL_JSON_H
#define SL_JSON_H

#include "sightline-engine.h"

enum { SL_JSON_MAX_DEPTH = 128 }; /* nested arrays and objects: 128 is accepted, 129 not */

typedef enum {
    SL_JSON_NULL,
    SL_JSON_BOOL,
    SL_JSON_NUMBER,
    SL_JSON_STRING,
    SL_JSON_ARRAY,
    SL_JSON_OBJECT,
} sl_json_type;

typedef struct sl_json sl_json; /* a value; the root also owns the tree */

sl_status sl_json_parse(const char *text, size_t len, sl_json **root, sl_error *err);
void sl_json_free(sl_json *root); /* the root only; NULL is fine */
/* Reads and parses a whole file; errors start with the path ("PATH: JSON at
 * byte B ..." or the I/O failure). An empty file is a JSON error at byte 0. */
sl_status sl_json_parse_file(const char *path, sl_json **root, sl_error *err);

sl_json_type sl_json_type_of(const sl_json *v); /* SL_JSON_NULL for NULL */
const char *sl_json_type_name(sl_json_type type); /* "null", "boolean", … "object" */
size_t sl_json_offset(const sl_json *v); /* byte offset of the value in the text */

/* Objects: members in document order; keys are unique. */
size_t sl_json_object_size(const sl_json *obj);
const sl_json *sl_json_object_at(const sl_json *obj, size_t i, const char **key, size_t *key_len);
const sl_json *sl_json_object_get(const sl_json *obj, const char *key); /* NUL-terminated key */

size_t sl_json_array_size(const sl_json *arr);
const sl_json *sl_json_array_at(const sl_json *arr, size_t i);

/* The decoded string (NUL-terminated; *len excludes the NUL); NULL if v is
 * not a string. len may be NULL. */
const char *sl_json_string(const sl_json *v, size_t *len);

bool sl_json_bool(const sl_json *v, bool *out);

/* Numbers. sl_json_number_text gives the text as written (NUL-terminated).
 * sl_json_is_integer: the text has no fraction and no exponent.
 * sl_json_int64 / sl_json_uint64: true for an integer text whose exact value
 * fits (-9223372036854775808 … 9223372036854775807, 0 … 18446744073709551615;
 * "-0" is 0); false otherwise, including "1.0" and "1e3".
 * sl_json_double: the nearest double, independent of the C locale; false
 * when the magnitude overflows a double (underflow gives 0 or a subnormal). */
const char *sl_json_number_text(const sl_json *v, size_t *len);
bool sl_json_is_integer(const sl_json *v);
bool sl_json_int64(const sl_json *v, int64_t *out);
bool sl_json_uint64(const sl_json *v, uint64_t *out);
bool sl_json_double(const sl_json *v, double *out);

#endif
