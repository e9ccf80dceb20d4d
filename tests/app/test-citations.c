/* test-citations.c: finding and checking the citations of an answer (suite app). A table of
 * the forms models write, each status and the text that must be left alone, offsets checked
 * to the byte; a property test on random answers with generated citations of known outcome;
 * random bytes, which must not crash (run it under ASan). */
#include "citations.h"

#include <string.h>

#define OK SL_CITATION_OK
#define NO_SOURCE SL_CITATION_NO_SUCH_SOURCE
#define RANGE SL_CITATION_OUT_OF_RANGE
#define CONTEXT SL_CITATION_NOT_IN_CONTEXT
#define KIND SL_CITATION_WRONG_KIND

/* The context of every test: a PDF with some of its pages given, a code file with two line
 * ranges given, a text file and a PDF given whole. Document ids are 100 + number. */
static const int pdf_pages[] = {3, 4, 5, 6, 7, 8, 9, 14};
static const int code_lines[] = {1, 120, 200, 240};
static const SlSource sources[] = {
    {1, 101, "pdf", 35, 0, pdf_pages, G_N_ELEMENTS(pdf_pages), NULL, 0},
    {2, 102, "code", 1, 240, NULL, 0, code_lines, G_N_ELEMENTS(code_lines) / 2},
    {3, 103, "text", 1, 50, NULL, 0, NULL, 0},
    {4, 104, "pdf", 10, 0, NULL, 0, NULL, 0},
};
#define N_SOURCES G_N_ELEMENTS(sources)

typedef struct {
    gsize start, end;
    int source;
    int first_page, last_page, first_line, last_line;
    SlCitationStatus status;
    const char *problem; /* checked when not NULL */
} Want;

typedef struct {
    const char *text;
    guint n;
    Want want[4];
} Case;

static const Case cases[] = {
    /* the forms the prompt asks for */
    {"[1]", 1, {{0, 3, 1, 0, 0, 0, 0, OK, NULL}}},
    {"See [2].", 1, {{4, 7, 2, 0, 0, 0, 0, OK, NULL}}},
    {"[1, p. 3]", 1, {{0, 9, 1, 3, 3, 0, 0, OK, NULL}}},
    {"[1, pp. 3-9]", 1, {{0, 12, 1, 3, 9, 0, 0, OK, NULL}}},
    {"[2, line 40]", 1, {{0, 12, 2, 0, 0, 40, 40, OK, NULL}}},
    {"[2, lines 40-52]", 1, {{0, 16, 2, 0, 0, 40, 52, OK, NULL}}},
    {"[1, p. 3; 2, line 7]", 2, {{0, 20, 1, 3, 3, 0, 0, OK, NULL}, {0, 20, 2, 0, 0, 7, 7, OK, NULL}}},
    {"[1][2]", 2, {{0, 3, 1, 0, 0, 0, 0, OK, NULL}, {3, 6, 2, 0, 0, 0, 0, OK, NULL}}},
    {"[1, 2]", 2, {{0, 6, 1, 0, 0, 0, 0, OK, NULL}, {0, 6, 2, 0, 0, 0, 0, OK, NULL}}},
    {"[1,2,3]", 3, {{0, 7, 1, 0, 0, 0, 0, OK, NULL}, {0, 7, 2, 0, 0, 0, 0, OK, NULL}, {0, 7, 3, 0, 0, 0, 0, OK, NULL}}},
    {"[1; 2]", 2, {{0, 6, 1, 0, 0, 0, 0, OK, NULL}, {0, 6, 2, 0, 0, 0, 0, OK, NULL}}},
    {"[1, p. 3][2, line 7]", 2, {{0, 9, 1, 3, 3, 0, 0, OK, NULL}, {9, 20, 2, 0, 0, 7, 7, OK, NULL}}},
    /* variants models write */
    {"[1, page 14]", 1, {{0, 12, 1, 14, 14, 0, 0, OK, NULL}}},
    {"[1 p.14]", 1, {{0, 8, 1, 14, 14, 0, 0, OK, NULL}}},
    {"[Source 1]", 1, {{0, 10, 1, 0, 0, 0, 0, OK, NULL}}},
    {"[Source 1, p. 3]", 1, {{0, 16, 1, 3, 3, 0, 0, OK, NULL}}},
    {"[Sources 1, 2]", 2, {{0, 14, 1, 0, 0, 0, 0, OK, NULL}, {0, 14, 2, 0, 0, 0, 0, OK, NULL}}},
    {"[source #3]", 1, {{0, 11, 3, 0, 0, 0, 0, OK, NULL}}},
    {"[1: p. 3]", 1, {{0, 9, 1, 3, 3, 0, 0, OK, NULL}}},
    {"[1, P. 3]", 1, {{0, 9, 1, 3, 3, 0, 0, OK, NULL}}},
    {"[2, L40]", 1, {{0, 8, 2, 0, 0, 40, 40, OK, NULL}}},
    {"[2, ll. 3-5]", 1, {{0, 12, 2, 0, 0, 3, 5, OK, NULL}}},
    {"[1, pg. 5]", 1, {{0, 10, 1, 5, 5, 0, 0, OK, NULL}}},
    {"language[1].", 1, {{8, 11, 1, 0, 0, 0, 0, OK, NULL}}},
    {"Caf\xc3\xa9 [1]", 1, {{6, 9, 1, 0, 0, 0, 0, OK, NULL}}},
    {"(Source 2, line 7)", 1, {{0, 18, 2, 0, 0, 7, 7, OK, NULL}}},
    {"as shown (2, line 7)", 1, {{9, 20, 2, 0, 0, 7, 7, OK, NULL}}},
    /* ranges: Unicode dashes, spaces, several of one source */
    {"[1, pp. 3\xe2\x80\x93" "5]", 1, {{0, 14, 1, 3, 5, 0, 0, OK, NULL}}},
    {"[1, pp. 3\xe2\x80\x94" "5]", 1, {{0, 14, 1, 3, 5, 0, 0, OK, NULL}}},
    {"[1, pp. 3 - 5]", 1, {{0, 14, 1, 3, 5, 0, 0, OK, NULL}}},
    {"[2, lines 1 \xe2\x88\x92 9]", 1, {{0, 18, 2, 0, 0, 1, 9, OK, NULL}}},
    {"[1, pp. 3\xe2\x80\x93" "9, 14]", 2, {{0, 18, 1, 3, 9, 0, 0, OK, NULL}, {0, 18, 1, 14, 14, 0, 0, OK, NULL}}},
    {"[1, pp. 3-4, 7]", 2, {{0, 15, 1, 3, 4, 0, 0, OK, NULL}, {0, 15, 1, 7, 7, 0, 0, OK, NULL}}},
    {"[1, p. 3, 2]", 2, {{0, 12, 1, 3, 3, 0, 0, OK, NULL}, {0, 12, 2, 0, 0, 0, 0, OK, NULL}}},
    {"[1, pp. 3-4, 2, line 7]", 2, {{0, 23, 1, 3, 4, 0, 0, OK, NULL}, {0, 23, 2, 0, 0, 7, 7, OK, NULL}}},
    {"[1-3]", 3, {{0, 5, 1, 0, 0, 0, 0, OK, NULL}, {0, 5, 2, 0, 0, 0, 0, OK, NULL}, {0, 5, 3, 0, 0, 0, 0, OK, NULL}}},
    {"[3\xe2\x80\x93" "1]", 3, {{0, 7, 1, 0, 0, 0, 0, OK, NULL}, {0, 7, 2, 0, 0, 0, 0, OK, NULL}, {0, 7, 3, 0, 0, 0, 0, OK, NULL}}},
    {"[3-999]", 3, {{0, 7, 3, 0, 0, 0, 0, OK, NULL}, {0, 7, 4, 0, 0, 0, 0, OK, NULL}, {0, 7, 5, 0, 0, 0, 0, NO_SOURCE, NULL}}},
    /* white space: tabs, no-break and narrow no-break spaces, a newline */
    {"[ 1 ,\tp.\xc2\xa0" "3 ]", 1, {{0, 13, 1, 3, 3, 0, 0, OK, NULL}}},
    {"[1, p.\xe2\x80\xaf" "14]", 1, {{0, 12, 1, 14, 14, 0, 0, OK, NULL}}},
    {"[1,\n2]", 2, {{0, 6, 1, 0, 0, 0, 0, OK, NULL}, {0, 6, 2, 0, 0, 0, 0, OK, NULL}}},
    /* every status */
    {"[7]", 1, {{0, 3, 7, 0, 0, 0, 0, NO_SOURCE, "source 7 does not exist (4 sources)"}}},
    {"[0]", 1, {{0, 3, 0, 0, 0, 0, 0, NO_SOURCE, "source 0 does not exist (4 sources)"}}},
    {"[99999999999]", 1, {{0, 13, G_MAXINT, 0, 0, 0, 0, NO_SOURCE, NULL}}},
    {"[p. 4]", 1, {{0, 6, 0, 4, 4, 0, 0, NO_SOURCE, "page 4 cited without a source number"}}},
    {"Text (p. 4).", 1, {{5, 11, 0, 4, 4, 0, 0, NO_SOURCE, NULL}}},
    {"(lines 3\xe2\x80\x93" "5)", 1, {{0, 13, 0, 0, 0, 3, 5, NO_SOURCE, "lines 3-5 cited without a source number"}}},
    {"[1; p. 4]", 2, {{0, 9, 1, 0, 0, 0, 0, OK, NULL}, {0, 9, 0, 4, 4, 0, 0, NO_SOURCE, NULL}}},
    {"[1, p. 40]", 1, {{0, 10, 1, 40, 40, 0, 0, RANGE, "page 40 is not in source 1 (PDF, 35 pages)"}}},
    {"[1, pp. 9-3]", 1, {{0, 12, 1, 9, 3, 0, 0, RANGE, "pages 9-3 of source 1 is a reversed range"}}},
    {"[4, p. 0]", 1, {{0, 9, 4, 0, 0, 0, 0, RANGE, "page 0 is not in source 4 (PDF, 10 pages)"}}},
    {"[4, p. 10]", 1, {{0, 10, 4, 10, 10, 0, 0, OK, NULL}}},
    {"[2, line 300]", 1, {{0, 13, 2, 0, 0, 300, 300, RANGE, "line 300 is not in source 2 (code, 240 lines)"}}},
    {"[3, line 50]", 1, {{0, 12, 3, 0, 0, 50, 50, OK, NULL}}},
    {"[3, line 51]", 1, {{0, 12, 3, 0, 0, 51, 51, RANGE, NULL}}},
    {"[1, p. 99999999999]", 1, {{0, 19, 1, G_MAXINT, G_MAXINT, 0, 0, RANGE, NULL}}},
    {"[1, p. 20]", 1, {{0, 10, 1, 20, 20, 0, 0, CONTEXT, "page 20 of source 1 (PDF) was not given to the model"}}},
    {"[1, pp. 8-10]", 1, {{0, 13, 1, 8, 10, 0, 0, CONTEXT, "page 10 of source 1 (PDF) was not given to the model"}}},
    {"[2, lines 110-130]", 1, {{0, 18, 2, 0, 0, 110, 130, CONTEXT, "line 121 of source 2 (code) was not given to the model"}}},
    {"[2, lines 200-240]", 1, {{0, 18, 2, 0, 0, 200, 240, OK, NULL}}},
    {"[1, line 4]", 1, {{0, 11, 1, 0, 0, 4, 4, KIND, "line 4 cited in source 1, a PDF: it has pages, not lines"}}},
    {"[1, p. 3, line 4]", 1, {{0, 17, 1, 3, 3, 4, 4, KIND, NULL}}},
    {"[2, p. 3]", 1, {{0, 9, 2, 3, 3, 0, 0, KIND, "page 3 cited in source 2 (code, one page): it has lines"}}},
    {"[2, p. 1]", 1, {{0, 9, 2, 1, 1, 0, 0, OK, NULL}}},
    {"[2, p. 1, line 7]", 1, {{0, 17, 2, 1, 1, 7, 7, OK, NULL}}},
    /* not citations */
    {"a[i] [x] [0.5] [ ] [^1] [] [1.] [a, b]", 0, {{0}}},
    {"[text](https://example.org) [1](https://example.org)", 0, {{0}}},
    {"[1]: https://example.org\n  [2]: https://example.org", 0, {{0}}},
    {"(1, 2) (see above) (p) (2)", 0, {{0}}},
    {"[1, 2.5] [1, p. 3-] [1, pp. 3,] [1, p. x]", 0, {{0}}},
    {"Use `a[1]` or ``b[2] ` c``, then [3].", 1, {{33, 36, 3, 0, 0, 0, 0, OK, NULL}}},
    {"```\nx = a[1]\n```\nThen [2].", 1, {{22, 25, 2, 0, 0, 0, 0, OK, NULL}}},
    {"~~~c\n[1]\n~~~\n[2]", 1, {{13, 16, 2, 0, 0, 0, 0, OK, NULL}}},
    {"```\nstill streaming [1]", 0, {{0}}},
    /* cut off by streaming */
    {"Cut off [2, p.", 0, {{0}}},
    {"Cut [1] off [2, p", 1, {{4, 7, 1, 0, 0, 0, 0, OK, NULL}}},
    {"[1", 0, {{0}}},
    {"x [[1]", 1, {{3, 6, 1, 0, 0, 0, 0, OK, NULL}}},
};

/* Checks c against w; the text it came from is printed when they differ. */
static void check_citation(const SlCitation *c, const Want *w, const char *text)
{
    if (c->start != w->start || c->end != w->end || c->source != w->source ||
        c->first_page != w->first_page || c->last_page != w->last_page ||
        c->first_line != w->first_line || c->last_line != w->last_line || c->status != w->status)
        g_test_message("in: %s", text);
    g_assert_cmpuint(c->start, ==, w->start);
    g_assert_cmpuint(c->end, ==, w->end);
    g_assert_cmpint(c->source, ==, w->source);
    g_assert_cmpint(c->first_page, ==, w->first_page);
    g_assert_cmpint(c->last_page, ==, w->last_page);
    g_assert_cmpint(c->first_line, ==, w->first_line);
    g_assert_cmpint(c->last_line, ==, w->last_line);
    g_assert_cmpstr(sl_citation_status_name(c->status), ==, sl_citation_status_name(w->status));
    gboolean exists = w->source >= 1 && w->source <= (int)N_SOURCES;
    g_assert_cmpint(c->document_id, ==, exists ? 100 + w->source : 0);
    g_assert_true((c->problem == NULL) == (c->status == SL_CITATION_OK));
    if (w->problem)
        g_assert_cmpstr(c->problem, ==, w->problem);
}

static void test_table(void)
{
    g_assert_cmpuint(G_N_ELEMENTS(cases), >=, 40);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const Case *k = &cases[i];
        g_autoptr(GArray) found = sl_citations_parse(k->text, sources, N_SOURCES);
        if (found->len != k->n)
            g_test_message("case %u: %s", i, k->text);
        g_assert_cmpuint(found->len, ==, k->n);
        for (guint j = 0; j < k->n; j++)
            check_citation(&g_array_index(found, SlCitation, j), &k->want[j], k->text);
    }
}

static void test_no_sources(void)
{
    g_autoptr(GArray) found = sl_citations_parse("[1] and [1, p. 2]", NULL, 0);
    g_assert_cmpuint(found->len, ==, 2);
    g_assert_cmpstr(g_array_index(found, SlCitation, 0).problem, ==, "source 1 does not exist (no sources)");
    g_autoptr(GArray) one = sl_citations_parse("[2]", sources, 1);
    g_assert_cmpstr(g_array_index(one, SlCitation, 0).problem, ==, "source 2 does not exist (1 source)");
    g_autoptr(GArray) none = sl_citations_parse(NULL, sources, N_SOURCES);
    g_assert_cmpuint(none->len, ==, 0);
    for (int s = SL_CITATION_OK; s <= SL_CITATION_WRONG_KIND; s++)
        g_assert_cmpstr(sl_citation_status_name(s), !=, "unknown");
}

static gboolean in_pages(const SlSource *s, int page)
{
    for (guint i = 0; i < s->n_pages_in_context; i++)
        if (s->pages_in_context[i] == page)
            return TRUE;
    return FALSE;
}

static gboolean in_lines(const SlSource *s, int line)
{
    for (guint i = 0; i < s->n_line_ranges; i++)
        if (s->line_ranges_in_context[2 * i] <= line && line <= s->line_ranges_in_context[2 * i + 1])
            return TRUE;
    return FALSE;
}

/* The status a generated citation must get, worked out the slow way: page by page, line
 * by line. */
static SlCitationStatus expected_status(const Want *w, gboolean sourceless, gboolean has_pages,
                                        gboolean has_lines)
{
    if (sourceless || w->source < 1 || w->source > (int)N_SOURCES)
        return NO_SOURCE;
    const SlSource *s = &sources[w->source - 1];
    gboolean pdf = strcmp(s->kind, "pdf") == 0;
    if (has_pages) {
        if (!pdf && MAX(w->first_page, w->last_page) > 1)
            return KIND;
        if (w->first_page > w->last_page || w->first_page < 1 || w->last_page > (pdf ? s->n_pages : 1))
            return RANGE;
        for (int p = w->first_page; pdf && s->pages_in_context && p <= w->last_page; p++)
            if (!in_pages(s, p))
                return CONTEXT;
    }
    if (has_lines) {
        if (pdf)
            return KIND;
        if (w->first_line > w->last_line || w->first_line < 1 || w->last_line > s->n_lines)
            return RANGE;
        for (int l = w->first_line; s->line_ranges_in_context && l <= w->last_line; l++)
            if (!in_lines(s, l))
                return CONTEXT;
    }
    return OK;
}

#define ONE_OF(r, array) (array[g_rand_int_range(r, 0, G_N_ELEMENTS(array))])

/* A page or line around 1..limit, sometimes just outside it. */
static int pick(GRand *r, int limit)
{
    switch (g_rand_int_range(r, 0, 8)) {
    case 0: return 0;
    case 1: return limit + g_rand_int_range(r, 1, 5);
    default: return g_rand_int_range(r, 1, limit + 1);
    }
}

/* A locator: page(s) or line(s) of w, written in one of the ways models write them. */
static void gen_locator(GString *s, GRand *r, Want *w, gboolean is_line)
{
    static const char *const page_one[] = {"p. ", "p.", "page ", "pg. ", "P. ", "p.\xc2\xa0"};
    static const char *const page_many[] = {"pp. ", "pages ", "pp.", "Pages "};
    static const char *const line_one[] = {"line ", "l. ", "L", "Line "};
    static const char *const line_many[] = {"lines ", "ll. ", "Lines\xe2\x80\xaf"};
    static const char *const dashes[] = {"-", "\xe2\x80\x93", "\xe2\x80\x94", " - ", "\xe2\x88\x92",
                                         " \xe2\x80\x93 "};
    const SlSource *src = w->source >= 1 && w->source <= (int)N_SOURCES ? &sources[w->source - 1] : NULL;
    int limit = !src ? 20 : is_line ? MAX(src->n_lines, 2) : MAX(src->n_pages, 2);
    int first = pick(r, limit), last = g_rand_boolean(r) ? first : pick(r, limit);
    gboolean range = first != last || g_rand_int_range(r, 0, 4) == 0;
    if (is_line)
        g_string_append(s, range ? ONE_OF(r, line_many) : ONE_OF(r, line_one));
    else
        g_string_append(s, range ? ONE_OF(r, page_many) : ONE_OF(r, page_one));
    if (range)
        g_string_append_printf(s, "%d%s%d", first, ONE_OF(r, dashes), last);
    else
        g_string_append_printf(s, "%d", first);
    *(is_line ? &w->first_line : &w->first_page) = first;
    *(is_line ? &w->last_line : &w->last_page) = last;
}

/* One item of a bracket: a source with or without a locator, or a locator alone. */
static void gen_item(GString *s, GRand *r, gboolean sourceless, Want *w, gboolean *has_locator)
{
    static const char *const words[] = {"Source ", "source ", "Doc ", "Source #", "SOURCE "};
    static const char *const seps[] = {", ", ": ", " ", ",", ",\t", ", \xc2\xa0", " , "};
    memset(w, 0, sizeof *w);
    int locator = sourceless ? g_rand_int_range(r, 1, 3) : g_rand_int_range(r, 0, 3);
    if (!sourceless) {
        w->source = g_rand_int_range(r, 0, 8) ? g_rand_int_range(r, 1, 5) : g_rand_int_range(r, 0, 10);
        if (g_rand_int_range(r, 0, 5) == 0)
            g_string_append(s, ONE_OF(r, words));
        g_string_append_printf(s, "%d", w->source);
        if (locator)
            g_string_append(s, ONE_OF(r, seps));
    }
    if (locator)
        gen_locator(s, r, w, locator == 2);
    w->status = expected_status(w, sourceless, locator == 1, locator == 2);
    *has_locator = locator != 0;
}

/* A citation at the end of s: a bracket of one to three items, or a parenthesis holding one
 * with a locator. Items are joined so that the reading is unambiguous: "; " after a
 * locator ("[1, pp. 3, 2]" would be pages 3 and 2). */
static void gen_citation(GString *s, GRand *r, GArray *want)
{
    static const char *const joins[] = {", ", ",", "; ", " , ", ";"};
    static const char *const pads[] = {"", "", "", " ", "\xc2\xa0", "\t"};
    guint first = want->len;
    gsize start = s->len;
    g_string_append(s, "[");
    g_string_append(s, ONE_OF(r, pads));
    int n = g_rand_int_range(r, 1, 4);
    gboolean locator = FALSE;
    for (int i = 0; i < n; i++) {
        gboolean sourceless = g_rand_int_range(r, 0, 10) == 0;
        if (i > 0)
            g_string_append(s, locator || sourceless ? "; " : ONE_OF(r, joins));
        Want w;
        gen_item(s, r, sourceless, &w, &locator);
        g_array_append_val(want, w);
    }
    g_string_append(s, ONE_OF(r, pads));
    gboolean parens = n == 1 && locator && g_rand_int_range(r, 0, 4) == 0;
    g_string_append(s, parens ? ")" : "]");
    if (parens) {
        s->str[start] = '(';
        if (start > 0 && s->str[start - 1] != ' ') /* "[1](p. 3)" is a link */
            g_string_insert_c(s, start++, ' ');
    }
    for (guint i = first; i < want->len; i++) {
        g_array_index(want, Want, i).start = start;
        g_array_index(want, Want, i).end = s->len;
    }
}

/* Words, punctuation and text that looks like a citation but is not one. */
static void gen_filler(GString *s, GRand *r)
{
    static const char *const starts[] = {" ", " ", " ", ". ", ", ", "\n", "\n\n"};
    static const char *const decoys[] = {
        "[x]", "a[i]", "[0.5]", "[see](http://e.x/a)", "`v[2]`", "(see below)", "[ ]", "(1, 2)",
        "[^3]", "[1](#s1)", "``` [1] ```", "[a, b]", "(p)", "[1.]", "x[n-1]", "[2, 3.5]",
    };
    g_string_append(s, ONE_OF(r, starts));
    if (g_rand_int_range(r, 0, 6) == 0) {
        g_string_append(s, ONE_OF(r, decoys));
        return;
    }
    for (int n = g_rand_int_range(r, 1, 9); n > 0; n--)
        g_string_append_c(s, (char)g_rand_int_range(r, 'a', 'z' + 1));
}

static void test_property(void)
{
    static const char *const cut[] = {" [2, p.", " [1", " [Source", " (p. 4", " [1, pp. 3-", " [3, line 4"};
    GRand *r = g_rand_new_with_seed(20240611);
    guint counts[SL_CITATION_WRONG_KIND + 1] = {0};
    for (int iter = 0; iter < 2000; iter++) {
        g_autoptr(GString) s = g_string_new(NULL);
        g_autoptr(GArray) want = g_array_new(FALSE, TRUE, sizeof(Want));
        for (int parts = g_rand_int_range(r, 0, 30); parts > 0; parts--) {
            if (g_rand_int_range(r, 0, 3))
                gen_filler(s, r);
            else {
                if (g_rand_boolean(r))
                    g_string_append_c(s, ' ');
                gen_citation(s, r, want);
            }
        }
        if (g_rand_int_range(r, 0, 4) == 0)
            g_string_append(s, ONE_OF(r, cut));
        g_autofree char *text = g_strndup(s->str, s->len); /* exact size, for ASan */
        g_autoptr(GArray) found = sl_citations_parse(text, sources, N_SOURCES);
        if (found->len != want->len)
            g_error("iteration %d: %u citations, %u expected in: %s", iter, found->len, want->len, text);
        for (guint i = 0; i < want->len; i++) {
            check_citation(&g_array_index(found, SlCitation, i), &g_array_index(want, Want, i), text);
            counts[g_array_index(want, Want, i).status]++;
        }
    }
    for (guint i = 0; i < G_N_ELEMENTS(counts); i++) /* every status was generated */
        g_assert_cmpuint(counts[i], >, 20);
    g_rand_free(r);
}

/* Random bytes, valid UTF-8 or not, made mostly of the pieces of citations: no crash, and
 * whatever is found is sane. */
static void test_fuzz(void)
{
    static const char *const tokens[] = {
        "[", "]", "(", ")", "1", "2", "7", "0", "99999999999", ",", ";", ":", " ", "p.", "pp. ",
        "line ", "lines", "L", "Source ", "-", "\xe2\x80\x93", "\xe2\x80\x94", "\xc2\xa0", "\xe2\x80",
        "\xe2", "`", "```", "~~~", "\n", "#", "x", "https://a", ".",
    };
    GRand *r = g_rand_new_with_seed(7);
    for (int iter = 0; iter < 20000; iter++) {
        g_autoptr(GString) s = g_string_new(NULL);
        for (int n = g_rand_int_range(r, 0, 60); n > 0; n--) {
            if (g_rand_int_range(r, 0, 5) == 0)
                g_string_append_c(s, (char)g_rand_int_range(r, 1, 256));
            else
                g_string_append(s, ONE_OF(r, tokens));
        }
        g_autofree char *text = g_strndup(s->str, s->len);
        g_autoptr(GArray) found = sl_citations_parse(text, sources, N_SOURCES);
        gsize last = 0;
        for (guint i = 0; i < found->len; i++) {
            const SlCitation *c = &g_array_index(found, SlCitation, i);
            g_assert_cmpuint(c->start, >=, last);
            g_assert_cmpuint(c->start, <, c->end);
            g_assert_cmpuint(c->end, <=, s->len);
            g_assert_nonnull(strchr("[(", text[c->start]));
            g_assert_nonnull(strchr("])", text[c->end - 1]));
            g_assert_cmpint(c->status, <=, SL_CITATION_WRONG_KIND);
            g_assert_true((c->problem == NULL) == (c->status == SL_CITATION_OK));
            g_assert_true(!c->problem || g_utf8_validate(c->problem, -1, NULL));
            last = c->start;
        }
    }
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/citations/table", test_table);
    g_test_add_func("/citations/no-sources", test_no_sources);
    g_test_add_func("/citations/property", test_property);
    g_test_add_func("/citations/fuzz", test_fuzz);
    return g_test_run();
}
