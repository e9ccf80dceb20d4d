/* citations.h: the citations of a model's answer, found and checked against the numbered
 * sources its prompt gave it.
 *
 * The model is told to cite as [n], [n, p. 12], [n, pp. 12-13], [n, line 40],
 * [n, lines 40-52], several as [1, p. 3; 2, line 7], [1][2] or [1, 2]. Also read:
 *   - keywords p, pp, pg, pgs, page, pages, l, ll, line, lines (any case, "." optional),
 *     after ",", ":" or a space: "[1, page 12]", "[1 p.12]", "[1: p. 3]", "[2, L40]";
 *   - a word before a number: "[Source 1]", "[Sources 1, 2]", "[Doc 2, line 4]";
 *   - ranges with -, the Unicode dashes (U+2010-2015) or minus (U+2212), spaces around them
 *     ASCII or Unicode (no-break, thin...);
 *   - several ranges of one source after a plural keyword: "[1, pp. 3-4, 7]" is pages 3-4
 *     and page 7 of source 1 (two citations); after a singular keyword, or when the number
 *     is followed by a locator of its own, the number is another source: "[1, p. 3, 2]";
 *   - source ranges: "[1-3]" is sources 1, 2 and 3 (reversed ones normalised); a range
 *     stops at its first missing source, flagged, so "[1-999]" stays small;
 *   - a page or line without a source, "[p. 4]" or "(p. 4)", "(lines 3-5)": flagged
 *     NO_SUCH_SOURCE with source 0, never attributed to a guessed source.
 * Not citations (ignored): a bracket whose whole content does not fit the forms above
 * ("[x]", "a[i]", "[0.5]", "[ ]", "[^1]"), a markdown link "[text](url)" (also "[1](url)"),
 * a reference definition "[1]: url" at the start of a line, anything inside `code` or a
 * fenced ``` or ~~~ block, parentheses other than "(p. 4)", "(2, line 7)", "(Source 1)"
 * (a bare number needs a locator there: "(1, 2)" is prose),
 * and a bracket that is not closed: streamed text may end inside one ("[2, p."), and the
 * citation is read once the rest of the answer has arrived.
 * A number right after a word is read: "language[1]" is a citation (models write that),
 * so "a[0]" outside code is flagged as source 0 rather than dropped.
 *
 * Checks, in this order: the source exists; its kind (lines of a PDF, a page > 1 of code
 * or text: WRONG_KIND); a reversed range ("pp. 9-3", kept as written: it may be a typo of
 * either number) or a page/line outside the document: OUT_OF_RANGE; a page/line that was
 * not given to the model (every cited one must have been): NOT_IN_CONTEXT.
 * SlCitation.start/end: end is exclusive, so answer + start is "[" and end - start the
 * bracket's length in bytes. Sources are found by SlSource.number, in any order. */
#ifndef SL_CITATIONS_H
#define SL_CITATIONS_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    int number;             /* 1-based, as numbered in the context */
    gint64 document_id;
    const char *kind;       /* "pdf", "code", "text" */
    int n_pages;            /* pages of the document (pdf); text/code: 1 */
    int n_lines;            /* code and text: lines of the document; else 0 */
    const int *pages_in_context;  /* sorted page numbers given to the model (pdf), n_pages_in_context of them; NULL: all */
    guint n_pages_in_context;
    const int *line_ranges_in_context; /* pairs first,last (code/text), n_line_ranges of them; NULL: all */
    guint n_line_ranges;
} SlSource;

typedef enum {
    SL_CITATION_OK,
    SL_CITATION_NO_SUCH_SOURCE,    /* [7] with 3 sources */
    SL_CITATION_OUT_OF_RANGE,      /* page or line the document does not have */
    SL_CITATION_NOT_IN_CONTEXT,    /* exists in the document but was not given to the model */
    SL_CITATION_WRONG_KIND,        /* a line for a PDF, a page > 1 for code */
} SlCitationStatus;

typedef struct {
    gsize start, end;        /* bytes of the answer text the citation occupies (the whole bracket) */
    int source;              /* the number written */
    gint64 document_id;      /* 0 when the source does not exist */
    int first_page, last_page;   /* 0 when not given */
    int first_line, last_line;   /* 0 when not given */
    SlCitationStatus status;
    char *problem;           /* human-readable, for flagged ones: "source 7 does not exist (3 sources)", "page 40 is not in R-intro.pdf (35 pages)" — use the document's kind/number, the caller has no title here; NULL when OK */
} SlCitation;

void sl_citation_clear(SlCitation *c);
/* Every citation in answer, in order of appearance; one bracket citing several sources gives one SlCitation per source (same start/end). GArray of SlCitation with clear func set. */
GArray *sl_citations_parse(const char *answer, const SlSource *sources, guint n_sources);
const char *sl_citation_status_name(SlCitationStatus s);

G_END_DECLS

#endif
