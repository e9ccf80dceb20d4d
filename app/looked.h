/* looked.h: where the model looked for a stored answer: the source passages ranked by how
 * often the indexer (or the oracle) selected their tokens, ready to highlight.
 *
 * Weights come from the answer's selection records (app/ask.c): for the whole answer, the
 * votes of every answer token's most selected positions (a vote per layer that selected
 * the position); for one answer token, that token's alone; for a range of layers, the
 * per-layer selection counts of those layers over the whole answer. The question's records
 * (its last tokens, during the prefill) can be asked about the same way. Positions map to
 * sources through the context's span map; tokens of the prompt's own words (instructions,
 * headers) are not sources and are left out of the shares. */
#ifndef SL_LOOKED_H
#define SL_LOOKED_H

#include "library.h"

G_BEGIN_DECLS

typedef struct {
    gboolean question;          /* the question's records instead of the answer's */
    int token;                  /* one answer token (0-based); -1: all of them */
    int first_layer, last_layer; /* a range of layers (0-based, inclusive); -1, -1: all */
} SlLookedQuery;

typedef struct {
    int source;                 /* its number in the context */
    gint64 document_id;         /* 0 when the document was removed since */
    char *title;
    int page;
    gsize start, end;           /* bytes of the page's text: the passage */
    int first_line, last_line;  /* code; else 0 */
    double weight;              /* share of the weight that fell on sources, 0 to 1 */
    guint positions;            /* its tokens that were selected */
} SlLookedPassage;

void sl_looked_passage_free(SlLookedPassage *p);

typedef struct {
    guint32 offset; /* byte of the page's text where a selected token starts */
    float weight;   /* its weight for the query (not normalised) */
} SlHeatPoint;

/* The selected tokens of one page of one document, for drawing heat over it: SlHeatPoint in
 * context order (empty when the page was not in the context). */
GArray *sl_answer_page_heat(SlLibrary *lib, gint64 answer_id, const SlLookedQuery *q,
                            gint64 document_id, int page, GError **error);

/* The passages, heaviest first, at most limit of them. An error for an answer without
 * selection records (a dense answer), a token or layer out of range, or damaged records. */
GPtrArray *sl_answer_looked(SlLibrary *lib, gint64 answer_id, const SlLookedQuery *q, int limit,
                            GError **error);

G_END_DECLS

#endif
