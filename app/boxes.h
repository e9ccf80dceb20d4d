/* boxes.h: the boxes of a PDF page's characters, packed small for pages.boxes.
 *
 * Format 2 (schema version 2): the bytes "SLB2", the number of boxes and the length of the
 * varint stream (two u32 little-endian), then that stream compressed with zlib. One box per
 * character (code point) of the page's text, in order. Each box is quantised to 1/16 point
 * and written as four zigzag LEB128 varints: x1 minus the previous box's x2, y1 minus the
 * previous box's y1, x2 - x1 and y2 - y1 (before the first box, all four are 0). Points are
 * PDF points from the page's top-left corner, y growing downwards. Characters on one line
 * differ little from their neighbours, so a box takes about a byte and a half.
 *
 * Format 1 (schema version 1, converted when a library is opened): four float32 LE x1, y1,
 * x2, y2 per character. */
#ifndef SL_BOXES_H
#define SL_BOXES_H

#include <glib.h>

G_BEGIN_DECLS

#define SL_BOXES_UNITS_PER_POINT 16

/* n boxes as x1, y1, x2, y2 (4 n floats); NULL when n is 0. */
GBytes *sl_boxes_encode(const float *xyxy, gsize n);
/* The boxes of a format 2 blob as 4 *n floats (g_free); NULL with an error saying what is
 * wrong for a blob that is not one or is damaged. */
float *sl_boxes_decode(const void *blob, gsize size, gsize *n, GError **error);

G_END_DECLS

#endif
