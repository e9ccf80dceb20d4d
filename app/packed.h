/* packed.h: the compact blob form shared by stored arrays (character boxes, span maps):
 * four magic bytes, the item count and the length of a stream of zigzag LEB128 varints (two
 * u32 little-endian), then that stream compressed with zlib. */
#ifndef SL_PACKED_H
#define SL_PACKED_H

#include <glib.h>

G_BEGIN_DECLS

/* Appends v as a zigzag LEB128 varint. */
void sl_packed_put(GByteArray *out, gint64 v);
/* Reads a varint at *p (< end); FALSE when the stream ends inside one or it is too long. */
gboolean sl_packed_get(const guint8 **p, const guint8 *end, gint64 *v);

/* The blob: magic, count, the stream deflated. */
GBytes *sl_packed_seal(const char magic[4], guint32 count, const GByteArray *stream);
/* The stream of a blob (g_free), after checking its magic and that each of its count items
 * can take min_bytes to max_bytes of stream; NULL with an error naming what (e.g.
 * "character boxes") otherwise. */
guint8 *sl_packed_open(const void *blob, gsize size, const char magic[4], guint min_bytes,
                       guint max_bytes, const char *what, guint32 *count, gsize *stream_len,
                       GError **error);

G_END_DECLS

#endif
