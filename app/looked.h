/* looked.h: where the model looked for a stored answer: the source passages ranked by how
 * often the indexer (or the oracle) selected their tokens, ready to highlight.
 *
 * Weights come from the answer's selection records (app/ask.c): for the whole answer, the
 * votes of every answer token's most selected positions (a vote per layer that selected
 * the position); for one answer token, that token's alone; for a range of layers, the
 * per-layer selection counts of those layers over the whole answer, or, with one token, the
 * layers of the range that chose each of its top positions (records stored before they kept
 * their layers give G_IO_ERROR_NOT_SUPPORTED for that). The question's records
 * (its last tokens, during the prefill) can be asked about the same way. The answer's word i
 * was chosen with the selections recorded at the token before it: answer record i - 1, or
 * the question's last record for the first word. Positions map to
 * sources through the context's span map; tokens of the prompt's own words (instructions,
 * headers) are not sources and are left out of the shares. */
#ifndef SL_LOOKED_H
#define SL_LOOKED_H

#include "library.h"

G_BEGIN_DECLS

/* SlLookedQuery.token: the last recorded token (for the question, the one whose selections
 * chose the answer's first word). */
#define SL_LOOKED_LAST (-2)

typedef struct {
    gboolean question;          /* the question's records instead of the answer's */
    int token;                  /* one recorded token (0-based), SL_LOOKED_LAST, or -1: all */
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

/* The whole context at a glance: n_bins equal runs of its positions, each with the source
 * and page most of its tokens come from (source 0: the prompt's own words) and the selection
 * weight that fell in it for the query. *n_positions: the context's length. */
typedef struct {
    guint32 first_position;
    guint32 source;
    gint32 page;
    double weight;
} SlContextBin;

GArray *sl_answer_context_map(SlLibrary *lib, gint64 answer_id, const SlLookedQuery *q,
                              guint n_bins, gsize *n_positions, GError **error);

/* What an inspector shows: per layer, how often each part of the context was selected (the
 * stored counts summed into n_bins), and how far the selected positions lay from the token
 * that selected them (votes in buckets of powers of two: bucket b holds distances in
 * [2^b - 1, 2^(b+1) - 1)). token -1: every recorded token, else that one. */
typedef struct {
    int n_layers;
    guint n_bins;
    gsize n_positions;
    float *cells;              /* n_layers × n_bins */
    guint n_buckets;
    guint64 *distances;        /* n_buckets */
} SlInspection;

void sl_inspection_free(SlInspection *in);
SlInspection *sl_answer_inspect(SlLibrary *lib, gint64 answer_id, gboolean question, int token,
                                guint n_bins, GError **error);

/* The passages, heaviest first, at most limit of them. An error for an answer without
 * selection records (a dense answer), a token or layer out of range, or damaged records. */
GPtrArray *sl_answer_looked(SlLibrary *lib, gint64 answer_id, const SlLookedQuery *q, int limit,
                            GError **error);

G_END_DECLS

#endif
