/* golden-util.h: reading the tab-separated golden files of
 * tests/reference/make-tokenizer-golden.py (hex strings, id lists). */
#ifndef SL_GOLDEN_UTIL_H
#define SL_GOLDEN_UTIL_H

#include "../test-util.h"

#include <stdbool.h>
#include <stdint.h>

/* Splits the next line of *cursor into at most max tab-separated fields
 * (modifying the buffer); returns the number of fields, -1 at the end. */
static inline int golden_next_line(char **cursor, char **fields, int max)
{
    char *p = *cursor;
    if (!p || !*p)
        return -1;
    char *nl = strchr(p, '\n');
    if (nl) {
        *nl = 0;
        *cursor = nl + 1;
    } else {
        *cursor = p + strlen(p);
    }
    int n = 0;
    fields[n++] = p;
    for (char *q = p; *q && n < max; q++) {
        if (*q == '\t') {
            *q = 0;
            fields[n++] = q + 1;
        }
    }
    return n;
}

static inline int golden_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes n hex digits (stopping early at a character that is not one) into
 * a malloc'd buffer; *len gets the byte count. */
static inline char *golden_unhex(const char *hex, size_t n, size_t *len)
{
    char *out = malloc(n / 2 + 1);
    size_t k = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        int hi = golden_hex_digit(hex[i]), lo = golden_hex_digit(hex[i + 1]);
        if (hi < 0 || lo < 0)
            break;
        out[k++] = (char)(hi << 4 | lo);
    }
    out[k] = 0;
    *len = k;
    return out;
}

/* Parses "1,2,3" (or "") into a malloc'd array. */
static inline int32_t *golden_ids(const char *s, size_t *n)
{
    size_t cap = 16, k = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s)
            break;
        if (k == cap)
            ids = realloc(ids, (cap *= 2) * sizeof *ids);
        ids[k++] = (int32_t)v;
        s = *end == ',' ? end + 1 : end;
    }
    *n = k;
    return ids;
}

/* A small deterministic generator (xorshift64*). */
static inline uint64_t golden_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Du;
}

#endif
