/* boxes.c: per-character boxes, quantised, delta-coded and deflated (format in boxes.h). */
#include "boxes.h"
#include "library.h"
#include "packed.h"

#include <math.h>

#define MAGIC "SLB2"
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
        sl_packed_put(raw, x1 - prev_x2);
        sl_packed_put(raw, y1 - prev_y1);
        sl_packed_put(raw, x2 - x1);
        sl_packed_put(raw, y2 - y1);
        prev_x2 = x2;
        prev_y1 = y1;
    }
    return sl_packed_seal(MAGIC, (guint32)n, raw);
}

static gboolean damaged(GError **error, const char *what)
{
    g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_DATABASE,
                "damaged character boxes in the library (%s)", what);
    return FALSE;
}

static gboolean decode_stream(const guint8 *p, const guint8 *end, float *out, gsize n,
                              GError **error)
{
    gint64 prev_x2 = 0, prev_y1 = 0;
    for (gsize i = 0; i < n; i++) {
        gint64 d[4];
        for (int k = 0; k < 4; k++)
            if (!sl_packed_get(&p, end, &d[k]) || ABS(d[k]) > 2 * (gint64)LIMIT)
                return damaged(error, "the stream ends early or holds a value out of range");
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
    guint32 count = 0;
    gsize len = 0;
    /* A box takes 4 to 20 bytes of stream. */
    g_autofree guint8 *raw = sl_packed_open(blob, size, MAGIC, 4, 20, "character boxes", &count,
                                            &len, error);
    if (!raw)
        return NULL;
    if (count == 0) {
        damaged(error, "no boxes");
        return NULL;
    }
    float *out = g_new(float, 4 * (gsize)count);
    if (!decode_stream(raw, raw + len, out, count, error)) {
        g_free(out);
        return NULL;
    }
    *n = count;
    return out;
}
