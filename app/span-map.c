/* span-map.c: a context's span map, packed (format in span-map.h). */
#include "span-map.h"
#include "library.h"
#include "packed.h"

#define MAGIC "SLSM"

GBytes *sl_span_map_encode(const SlSpan *spans, gsize n)
{
    g_return_val_if_fail(n <= G_MAXUINT32 / 30, NULL);
    g_autoptr(GByteArray) raw = g_byte_array_sized_new((guint)(n * 3 + 1));
    SlSpan prev = {0, 0, 0};
    for (gsize i = 0; i < n; i++) {
        sl_packed_put(raw, (gint64)spans[i].source - prev.source);
        sl_packed_put(raw, (gint64)spans[i].page - prev.page);
        sl_packed_put(raw, (gint64)spans[i].offset - prev.offset);
        prev = spans[i];
    }
    return sl_packed_seal(MAGIC, (guint32)n, raw);
}

SlSpan *sl_span_map_decode(const void *blob, gsize size, gsize *n, GError **error)
{
    guint32 count = 0;
    gsize len = 0;
    /* A token takes 3 to 30 bytes of stream. */
    g_autofree guint8 *raw = sl_packed_open(blob, size, MAGIC, 3, 30, "span map", &count, &len,
                                            error);
    if (!raw)
        return NULL;
    SlSpan *spans = g_new(SlSpan, count + 1);
    const guint8 *p = raw, *end = raw + len;
    gint64 source = 0, page = 0, offset = 0;
    for (guint32 i = 0; i < count; i++) {
        gint64 d[3];
        gboolean ok = sl_packed_get(&p, end, &d[0]) && sl_packed_get(&p, end, &d[1]) &&
                      sl_packed_get(&p, end, &d[2]);
        source += ok ? d[0] : 0;
        page += ok ? d[1] : 0;
        offset += ok ? d[2] : 0;
        if (!ok || source < 0 || source > G_MAXUINT32 || page < 0 || page > G_MAXINT32 ||
            offset < 0 || offset > G_MAXUINT32) {
            g_free(spans);
            g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_DATABASE,
                        "damaged span map in the library (token %u)", i);
            return NULL;
        }
        spans[i] = (SlSpan){(guint32)source, (gint32)page, (guint32)offset};
    }
    if (p != end) {
        g_free(spans);
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_DATABASE,
                    "damaged span map in the library (bytes left over)");
        return NULL;
    }
    *n = count;
    return spans;
}
