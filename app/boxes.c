/* boxes.c: per-character boxes, quantised, delta-coded and deflated (format in boxes.h). */
#include "boxes.h"
#include "library.h"

#include <math.h>
#include <string.h>
#include <zlib.h>

#define MAGIC "SLB2"
#define HEADER 12
/* Coordinates beyond ±2^23 points (hostile files) are clamped, so that differences of two
 * quantised values always fit in 32 bits. */
#define LIMIT (1 << 27)

static gint32 quantise(float v)
{
    if (!(v == v))
        return 0; /* NaN */
    double q = nearbyint((double)v * SL_BOXES_UNITS_PER_POINT);
    return (gint32)CLAMP(q, -LIMIT, LIMIT);
}

static void put_varint(GByteArray *out, gint32 v)
{
    guint32 z = v >= 0 ? 2u * (guint32)v : 2u * (guint32)(-(gint64)v) - 1u;
    do {
        guint8 b = (guint8)(z & 0x7f);
        z >>= 7;
        if (z)
            b |= 0x80;
        g_byte_array_append(out, &b, 1);
    } while (z);
}

static void put_u32(guint8 *p, guint32 v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (guint8)(v >> (8 * i));
}

static guint32 get_u32(const guint8 *p)
{
    return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

GBytes *sl_boxes_encode(const float *xyxy, gsize n)
{
    if (n == 0)
        return NULL;
    g_return_val_if_fail(n <= G_MAXUINT32 / 20, NULL);
    g_autoptr(GByteArray) raw = g_byte_array_sized_new((guint)(n * 6));
    gint32 prev_x2 = 0, prev_y1 = 0;
    for (gsize i = 0; i < n; i++) {
        gint32 x1 = quantise(xyxy[4 * i]), y1 = quantise(xyxy[4 * i + 1]);
        gint32 x2 = quantise(xyxy[4 * i + 2]), y2 = quantise(xyxy[4 * i + 3]);
        put_varint(raw, x1 - prev_x2);
        put_varint(raw, y1 - prev_y1);
        put_varint(raw, x2 - x1);
        put_varint(raw, y2 - y1);
        prev_x2 = x2;
        prev_y1 = y1;
    }
    uLongf packed = compressBound(raw->len);
    guint8 *out = g_malloc(HEADER + packed);
    if (compress2(out + HEADER, &packed, raw->data, raw->len, 6) != Z_OK) {
        g_free(out); /* only when out of memory */
        return NULL;
    }
    memcpy(out, MAGIC, 4);
    put_u32(out + 4, (guint32)n);
    put_u32(out + 8, raw->len);
    return g_bytes_new_take(g_realloc(out, HEADER + packed), HEADER + packed);
}

static gboolean damaged(GError **error, const char *what)
{
    g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_DATABASE,
                "damaged character boxes in the library (%s)", what);
    return FALSE;
}

/* Reads a varint at *p (< end) into *v. */
static gboolean get_varint(const guint8 **p, const guint8 *end, gint32 *v)
{
    guint32 z = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        if (*p >= end)
            return FALSE;
        guint8 b = *(*p)++;
        z |= (guint32)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = (z & 1) ? -(gint32)(z >> 1) - 1 : (gint32)(z >> 1);
            return TRUE;
        }
    }
    return FALSE;
}

static gboolean decode_stream(const guint8 *p, const guint8 *end, float *out, gsize n,
                              GError **error)
{
    gint64 prev_x2 = 0, prev_y1 = 0;
    for (gsize i = 0; i < n; i++) {
        gint32 d[4];
        for (int k = 0; k < 4; k++)
            if (!get_varint(&p, end, &d[k]))
                return damaged(error, "the stream ends early");
        gint64 x1 = prev_x2 + d[0], y1 = prev_y1 + d[1], x2 = x1 + d[2], y2 = y1 + d[3];
        if (MAX(ABS(x1), ABS(x2)) > 2 * (gint64)LIMIT || MAX(ABS(y1), ABS(y2)) > 2 * (gint64)LIMIT)
            return damaged(error, "a coordinate out of range");
        out[4 * i] = (float)x1 / SL_BOXES_UNITS_PER_POINT;
        out[4 * i + 1] = (float)y1 / SL_BOXES_UNITS_PER_POINT;
        out[4 * i + 2] = (float)x2 / SL_BOXES_UNITS_PER_POINT;
        out[4 * i + 3] = (float)y2 / SL_BOXES_UNITS_PER_POINT;
        prev_x2 = x2;
        prev_y1 = y1;
    }
    if (p != end)
        return damaged(error, "bytes left over");
    return TRUE;
}

float *sl_boxes_decode(const void *blob, gsize size, gsize *n, GError **error)
{
    const guint8 *b = blob;
    if (size < HEADER || memcmp(b, MAGIC, 4) != 0) {
        damaged(error, "not format 2");
        return NULL;
    }
    guint32 count = get_u32(b + 4), raw_len = get_u32(b + 8);
    /* A box takes 4 to 20 bytes of stream; deflate gains at most about 1000 to 1. */
    if (count == 0 || raw_len < 4ull * count || raw_len > 20ull * count ||
        raw_len / 1032 > size - HEADER) {
        damaged(error, "impossible sizes");
        return NULL;
    }
    g_autofree guint8 *raw = g_malloc(raw_len);
    uLongf got = raw_len;
    if (uncompress(raw, &got, b + HEADER, size - HEADER) != Z_OK || got != raw_len) {
        damaged(error, "the compressed stream is corrupt");
        return NULL;
    }
    float *out = g_new(float, 4 * (gsize)count);
    if (!decode_stream(raw, raw + raw_len, out, count, error)) {
        g_free(out);
        return NULL;
    }
    *n = count;
    return out;
}
