/* context.h: a question and documents made into the tokens a model reads, with a span map.
 *
 * The prompt, in the model's chat template: instructions on citing (system), then the
 * sources, each under a numbered header ("[2] glib/gstring.c (C source, 1,204 lines)"), PDF
 * pages after a marker ("--- page 4 ---"), source lines after their number ("12| "), then
 * the question. Whole documents go in when they fit the budget. When they do not, passages
 * are chosen by FTS5 BM25 against the question, best first until the budget is spent, and
 * put back in document order with "[…]" where text was skipped; what was left out is
 * written down, never silently dropped. */
#ifndef SL_CONTEXT_H
#define SL_CONTEXT_H

#include "library.h"
#include "sightline-engine.h"
#include "span-map.h"

G_BEGIN_DECLS

/* Largest context a user may ask for. */
#define SL_CONTEXT_MAX_BUDGET 131072

typedef struct {
    gint64 document_id;
    int first_page, last_page; /* a part of a PDF (1-based, inclusive); 0, 0: all of it */
    int number;                /* its source number; 0: its place in the list, from 1 */
} SlContextPart;

typedef enum {
    SL_CONTEXT_ASK,       /* answer the question from the sources */
    SL_CONTEXT_SUMMARY,   /* summarise the sources (question: extra wishes, or "") */
    SL_CONTEXT_MERGE,     /* merge partial summaries (given as extra_text) into one */
} SlContextKind;

typedef struct {
    SlContextKind kind;
    const SlContextPart *parts;
    guint n_parts;
    const char *question;
    const char *extra_text; /* SL_CONTEXT_MERGE: the partial summaries */
    int budget;             /* tokens of prompt and answer together; 0: the model's context */
    int answer_tokens;      /* kept free for the answer */
} SlContextRequest;

typedef struct {
    int number;             /* 1-based, as the model sees it */
    gint64 document_id;
    char *title;
    char *kind;             /* "pdf", "code", "text" */
    int n_pages;            /* pages of the document */
    int n_lines;            /* code: lines of the file; else 0 */
    GArray *pages_in;       /* int: pages given whole or in part, ascending (pdf) */
    GArray *line_ranges_in; /* int pairs first, last (code), ascending */
    char *included;         /* for people: "pp. 3-9, 14", "lines 1-80", "all", "" */
} SlContextSource;

typedef struct {
    GArray *ids;            /* gint32: the prompt, ready to prefill */
    GArray *spans;          /* SlSpan, one per id */
    GPtrArray *sources;     /* SlContextSource *, by number */
    gboolean whole;         /* every document given whole */
    gboolean tokens_cached; /* every page's tokens came from the tokens cache */
    char *left_out;         /* what did not fit, for people; NULL when nothing was left out */
    int budget;             /* tokens of prompt and answer allowed */
    int answer_tokens;
} SlContext;

void sl_context_free(SlContext *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SlContext, sl_context_free)

/* Builds the context on the calling thread (it tokenises, through the tokens cache). The
 * prompt never exceeds budget - answer_tokens; an error when even the instructions and the
 * question do not fit, or when a document is not in the library. */
SlContext *sl_context_build(SlLibrary *lib, const sl_engine *engine, const SlContextRequest *rq,
                            GCancellable *cancellable, GError **error);

/* The number of tokens the documents would take whole (headers and markers included), to
 * say how much a budget leaves out before asking. */
gboolean sl_context_measure(SlLibrary *lib, const sl_engine *engine, const SlContextPart *parts,
                            guint n_parts, gsize *tokens, GCancellable *cancellable,
                            GError **error);

G_END_DECLS

#endif
