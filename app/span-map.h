/* span-map.h: where each token of a context came from.
 *
 * One SlSpan per context token: the source it belongs to (1-based, as numbered in the
 * context; 0 for the prompt's own words: instructions, headers, page markers, the question),
 * the page (PDFs; 1 for code and text) and the byte of that page's text where the token
 * starts. Stored with each answer (answer_records.span_map) in the packed form of packed.h,
 * magic "SLSM": per token three varints, the differences from the previous token's source,
 * page and byte (about one byte a token once deflated). */
#ifndef SL_SPAN_MAP_H
#define SL_SPAN_MAP_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    guint32 source;
    gint32 page;
    guint32 offset;
} SlSpan;

GBytes *sl_span_map_encode(const SlSpan *spans, gsize n);
/* The spans of a stored map (g_free), *n of them; NULL with an error when it is damaged. */
SlSpan *sl_span_map_decode(const void *blob, gsize size, gsize *n, GError **error);

G_END_DECLS

#endif
