/* packed.c: varint streams deflated into blobs (see packed.h). */
#include "packed.h"
#include "library.h"

#include <string.h>
#include <zlib.h>

#define HEADER 12

void sl_packed_put(GByteArray *out, gint64 v)
{
    guint64 z = v >= 0 ? 2u * (guint64)v : 2u * (guint64)(-(v + 1)) + 1u;
    do {
        guint8 b = (guint8)(z & 0x7f);
        z >>= 7;
        if (z)
            b |= 0x80;
        g_byte_array_append(out, &b, 1);
    } while (z);
}

gboolean sl_packed_get(const guint8 **p, const guint8 *end, gint64 *v)
{
    guint64 z = 0;
    for (int shift = 0; shift < 63; shift += 7) {
        if (*p >= end)
            return FALSE;
        guint8 b = *(*p)++;
        z |= (guint64)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = (z & 1) ? -(gint64)(z >> 1) - 1 : (gint64)(z >> 1);
            return TRUE;
        }
    }
    return FALSE;
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

GBytes *sl_packed_seal(const char magic[4], guint32 count, const GByteArray *stream)
{
    uLongf packed = compressBound(stream->len);
    guint8 *out = g_malloc(HEADER + packed);
    if (compress2(out + HEADER, &packed, stream->data, stream->len, 6) != Z_OK) {
        g_free(out); /* only when zlib is out of memory */
        return NULL;
    }
    memcpy(out, magic, 4);
    put_u32(out + 4, count);
    put_u32(out + 8, stream->len);
    return g_bytes_new_take(g_realloc(out, HEADER + packed), HEADER + packed);
}

guint8 *sl_packed_open(const void *blob, gsize size, const char magic[4], guint min_bytes,
                       guint max_bytes, const char *what, guint32 *count, gsize *stream_len,
                       GError **error)
{
    const guint8 *b = blob;
    const char *problem = NULL;
    guint32 n = 0, len = 0;
    if (size < HEADER || memcmp(b, magic, 4) != 0)
        problem = "not this format";
    else {
        n = get_u32(b + 4);
        len = get_u32(b + 8);
        /* deflate gains at most about 1000 to 1 */
        if ((guint64)len < (guint64)min_bytes * n || (guint64)len > (guint64)max_bytes * n ||
            len / 1032 > size - HEADER)
            problem = "impossible sizes";
    }
    guint8 *stream = problem ? NULL : g_malloc(len ? len : 1);
    uLongf got = len;
    if (stream && (uncompress(stream, &got, b + HEADER, size - HEADER) != Z_OK || got != len)) {
        problem = "the compressed stream is corrupt";
        g_clear_pointer(&stream, g_free);
    }
    if (problem) {
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_DATABASE,
                    "damaged %s in the library (%s)", what, problem);
        return NULL;
    }
    *count = n;
    *stream_len = len;
    return stream;
}
