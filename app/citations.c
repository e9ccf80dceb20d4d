/* citations.c: the citations of an answer (citations.h). A small hand-written scanner: the
 * grammar is tiny, and what a number means depends on what follows it ("[1, pp. 3, 7]" against
 * "[1, p. 3, 2, line 7]"), which a regex would not tell. */
#include "citations.h"

#include <limits.h>
#include <string.h>

/* Longer brackets are prose or code, not citations; the bound also keeps scanning linear. */
#define MAX_BRACKET 256

typedef struct {
    const char *p, *end;
} Cursor;

/* One citation as written, before it is checked. */
typedef struct {
    int source;       /* -1: no source written */
    int last_source;  /* a source range "[1-3]": source..last_source, else source */
    gboolean has_pages, has_lines;
    int first_page, last_page, first_line, last_line;
} Written;

static const char *const source_words[] = {
    "source", "sources", "src", "doc", "docs", "document", "documents", "ref", "refs", NULL,
};
/* Page keywords come first (PAGE_WORDS of them); the plural ones may take several ranges. */
static const char *const locator_words[] = {
    "p", "pp", "pg", "pgs", "page", "pages", "l", "ll", "line", "lines", NULL,
};
#define PAGE_WORDS 6
static const gboolean locator_plural[] = {
    FALSE, TRUE, FALSE, TRUE, FALSE, TRUE, FALSE, TRUE, FALSE, TRUE,
};

void sl_citation_clear(SlCitation *c)
{
    g_clear_pointer(&c->problem, g_free);
}

const char *sl_citation_status_name(SlCitationStatus s)
{
    switch (s) {
    case SL_CITATION_OK: return "ok";
    case SL_CITATION_NO_SUCH_SOURCE: return "no-such-source";
    case SL_CITATION_OUT_OF_RANGE: return "out-of-range";
    case SL_CITATION_NOT_IN_CONTEXT: return "not-in-context";
    case SL_CITATION_WRONG_KIND: return "wrong-kind";
    }
    return "unknown";
}

/* Bytes of the white space at c: ASCII, or the Unicode spaces models put in "p. 12"
 * (U+00A0, U+2000-200A, U+202F). */
static gsize space_len(const Cursor *c)
{
    const guchar *s = (const guchar *)c->p;
    gsize n = (gsize)(c->end - c->p);
    if (n >= 1 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r'))
        return 1;
    if (n >= 2 && s[0] == 0xc2 && s[1] == 0xa0)
        return 2;
    if (n >= 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] <= 0x8a || s[2] == 0xaf))
        return 3;
    return 0;
}

static void skip_space(Cursor *c)
{
    gsize n;
    while ((n = space_len(c)))
        c->p += n;
}

static gboolean eat_char(Cursor *c, char ch)
{
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return TRUE;
    }
    return FALSE;
}

static gboolean at_digit(const Cursor *c)
{
    return c->p < c->end && g_ascii_isdigit(*c->p);
}

/* "-", the dashes U+2010-2015 (hyphen, en, em...) or the minus sign U+2212. */
static gboolean eat_dash(Cursor *c)
{
    const guchar *s = (const guchar *)c->p;
    gsize n = (gsize)(c->end - c->p);
    if (eat_char(c, '-'))
        return TRUE;
    if (n >= 3 && s[0] == 0xe2 &&
        ((s[1] == 0x80 && s[2] >= 0x90 && s[2] <= 0x95) || (s[1] == 0x88 && s[2] == 0x92))) {
        c->p += 3;
        return TRUE;
    }
    return FALSE;
}

/* Digits, saturating at INT_MAX: a huge number is still read (and flagged), never wrapped. */
static gboolean eat_number(Cursor *c, int *value)
{
    if (!at_digit(c))
        return FALSE;
    gint64 v = 0;
    for (; at_digit(c); c->p++)
        v = MIN(v * 10 + (*c->p - '0'), (gint64)INT_MAX);
    *value = (int)v;
    return TRUE;
}

/* One of words, in any case, not followed by a letter ("p" is not "para"). */
static gboolean eat_word(Cursor *c, const char *const *words, guint *which)
{
    for (guint i = 0; words[i]; i++) {
        gsize n = strlen(words[i]);
        if ((gsize)(c->end - c->p) >= n && g_ascii_strncasecmp(c->p, words[i], n) == 0 &&
            (c->p + n == c->end || !g_ascii_isalpha(c->p[n]))) {
            c->p += n;
            if (which)
                *which = i;
            return TRUE;
        }
    }
    return FALSE;
}

/* "12" or "12-13": first and last. A dash with no number after it is left unread. */
static void eat_range(Cursor *c, int *first, int *last)
{
    eat_number(c, first);
    *last = *first;
    Cursor save = *c;
    skip_space(c);
    if (eat_dash(c)) {
        skip_space(c);
        if (eat_number(c, last))
            return;
    }
    *c = save;
    *last = *first;
}

/* The start of a locator, ", p. " or ": line " or " L", up to its number; the cursor does
 * not move when there is none. */
static gboolean eat_locator(Cursor *c, gboolean *is_line, gboolean *plural)
{
    Cursor save = *c;
    guint which;
    skip_space(c);
    if (!eat_char(c, ','))
        eat_char(c, ':');
    skip_space(c);
    if (eat_word(c, locator_words, &which)) {
        eat_char(c, '.');
        skip_space(c);
        if (at_digit(c)) {
            *is_line = which >= PAGE_WORDS;
            *plural = locator_plural[which];
            return TRUE;
        }
    }
    *c = save;
    return FALSE;
}

/* ", 7" after a plural locator: another range of it, unless a locator follows the number,
 * which makes it a source ("[1, pp. 3-4, 2, p. 5]"). */
static gboolean eat_continuation(Cursor *c)
{
    Cursor save = *c;
    skip_space(c);
    if (eat_char(c, ',')) {
        skip_space(c);
        Cursor look = *c;
        int n;
        gboolean is_line, plural;
        if (eat_number(&look, &n) && !eat_locator(&look, &is_line, &plural))
            return TRUE;
    }
    *c = save;
    return FALSE;
}

/* The locators after a source (or alone); appends to out one Written per range. Returns
 * how many locators were read. */
static guint eat_locators(Cursor *c, Written *w, GArray *out)
{
    guint n = 0;
    gboolean is_line, plural;
    while (eat_locator(c, &is_line, &plural)) {
        do {
            if (is_line ? w->has_lines : w->has_pages) {
                /* a second range of one kind: another citation of the same source */
                g_array_append_val(out, *w);
                w->has_pages = w->has_lines = FALSE;
                w->first_page = w->last_page = w->first_line = w->last_line = 0;
            }
            if (is_line)
                eat_range(c, &w->first_line, &w->last_line);
            else
                eat_range(c, &w->first_page, &w->last_page);
            *(is_line ? &w->has_lines : &w->has_pages) = TRUE;
            n++;
        } while (plural && eat_continuation(c));
    }
    return n;
}

/* One source with its locators, a source range, or locators alone. In parentheses, where
 * "(1, 2)" is prose, a number needs a source word before it (in this group) or a locator. */
static gboolean eat_item(Cursor *c, gboolean in_parens, gboolean *named, GArray *out)
{
    Written w = {.source = -1, .last_source = -1};
    if (eat_word(c, source_words, NULL)) {
        *named = TRUE;
        skip_space(c);
        eat_char(c, '#');
        skip_space(c);
        if (!at_digit(c))
            return FALSE;
    }
    if (eat_number(c, &w.source)) {
        w.last_source = w.source;
        Cursor save = *c;
        skip_space(c);
        if (eat_dash(c)) {
            skip_space(c);
            if (eat_number(c, &w.last_source)) {
                g_array_append_val(out, w);
                return !in_parens || *named;
            }
        }
        *c = save;
    }
    guint n = eat_locators(c, &w, out);
    if (w.source < 0 && n == 0)
        return FALSE;
    if (in_parens && w.source >= 0 && !*named && n == 0)
        return FALSE;
    g_array_append_val(out, w);
    return TRUE;
}

/* The content of one bracket, items separated by "," or ";"; the whole of it must fit. */
static gboolean eat_group(const char *p, const char *end, gboolean in_parens, GArray *out)
{
    Cursor c = {p, end};
    gboolean named = FALSE;
    for (;;) {
        skip_space(&c);
        if (!eat_item(&c, in_parens, &named, out))
            return FALSE;
        skip_space(&c);
        if (c.p == c.end)
            return TRUE;
        if (!eat_char(&c, ',') && !eat_char(&c, ';'))
            return FALSE;
    }
}

static const SlSource *find_source(const SlSource *sources, guint n_sources, int number)
{
    for (guint i = 0; i < n_sources; i++)
        if (sources[i].number == number)
            return &sources[i];
    return NULL;
}

static gboolean is_pdf(const SlSource *s)
{
    return g_strcmp0(s->kind, "pdf") == 0;
}

static const char *kind_name(const SlSource *s)
{
    return is_pdf(s) ? "PDF" : s->kind ? s->kind : "text";
}

/* "page 4", "pages 3-5", "line 7", "lines 7-9". */
static char *describe(gboolean is_line, int first, int last)
{
    if (first == last)
        return g_strdup_printf("%s %d", is_line ? "line" : "page", first);
    return g_strdup_printf("%s %d-%d", is_line ? "lines" : "pages", first, last);
}

static void flag(SlCitation *c, SlCitationStatus status, char *problem)
{
    c->status = status;
    c->problem = problem;
}

/* The first page of first..last missing from a sorted list (duplicates allowed), else 0. */
static int missing_page(const int *pages, guint n, int first, int last)
{
    gint64 want = first;
    for (guint i = 0; i < n && want <= last; i++)
        if (pages[i] == want)
            want++;
        else if (pages[i] > want)
            break;
    return want <= last ? (int)want : 0;
}

/* The first line of first..last outside every range (pairs, in any order), else 0. */
static int missing_line(const int *ranges, guint n, int first, int last)
{
    gint64 want = first;
    gboolean moved = TRUE;
    while (want <= last && moved) {
        moved = FALSE;
        for (guint i = 0; i < n; i++)
            if (ranges[2 * i] <= want && want <= ranges[2 * i + 1]) {
                want = (gint64)ranges[2 * i + 1] + 1;
                moved = TRUE;
            }
    }
    return want <= last ? (int)want : 0;
}

/* Checks one locator of c against its source; FALSE once c is flagged. */
static gboolean check_span(SlCitation *c, const SlSource *s, gboolean is_line, int first, int last)
{
    g_autofree char *what = describe(is_line, first, last);
    gboolean pdf = is_pdf(s);
    if (is_line && pdf) {
        flag(c, SL_CITATION_WRONG_KIND,
             g_strdup_printf("%s cited in source %d, a PDF: it has pages, not lines", what, c->source));
        return FALSE;
    }
    if (!is_line && !pdf && MAX(first, last) > 1) {
        flag(c, SL_CITATION_WRONG_KIND,
             g_strdup_printf("%s cited in source %d (%s, one page): it has lines", what, c->source,
                             kind_name(s)));
        return FALSE;
    }
    if (first > last) {
        flag(c, SL_CITATION_OUT_OF_RANGE,
             g_strdup_printf("%s of source %d is a reversed range", what, c->source));
        return FALSE;
    }
    int limit = is_line ? s->n_lines : pdf ? s->n_pages : 1;
    if (first < 1 || last > limit) {
        flag(c, SL_CITATION_OUT_OF_RANGE,
             g_strdup_printf("%s %d is not in source %d (%s, %d %s%s)", is_line ? "line" : "page",
                             first < 1 ? first : last, c->source, kind_name(s), limit,
                             is_line ? "line" : "page", limit == 1 ? "" : "s"));
        return FALSE;
    }
    int missing = 0;
    if (!is_line && pdf && s->pages_in_context)
        missing = missing_page(s->pages_in_context, s->n_pages_in_context, first, last);
    if (is_line && s->line_ranges_in_context)
        missing = missing_line(s->line_ranges_in_context, s->n_line_ranges, first, last);
    if (missing) {
        flag(c, SL_CITATION_NOT_IN_CONTEXT,
             g_strdup_printf("%s %d of source %d (%s) was not given to the model",
                             is_line ? "line" : "page", missing, c->source, kind_name(s)));
        return FALSE;
    }
    return TRUE;
}

static void check(SlCitation *c, const Written *w, const SlSource *s, guint n_sources)
{
    if (w->source < 0) {
        g_autofree char *what = w->has_pages ? describe(FALSE, w->first_page, w->last_page)
                                             : describe(TRUE, w->first_line, w->last_line);
        flag(c, SL_CITATION_NO_SUCH_SOURCE, g_strdup_printf("%s cited without a source number", what));
        return;
    }
    if (!s) {
        g_autofree char *count = n_sources == 0 ? g_strdup("no sources")
                                                : g_strdup_printf("%u source%s", n_sources,
                                                                  n_sources == 1 ? "" : "s");
        flag(c, SL_CITATION_NO_SUCH_SOURCE,
             g_strdup_printf("source %d does not exist (%s)", w->source, count));
        return;
    }
    c->document_id = s->document_id;
    if (w->has_pages && !check_span(c, s, FALSE, w->first_page, w->last_page))
        return;
    if (w->has_lines)
        check_span(c, s, TRUE, w->first_line, w->last_line);
}

static void add_one(GArray *result, const Written *w, gsize start, gsize end,
                    const SlSource *sources, guint n_sources)
{
    SlCitation c = {
        .start = start, .end = end, .source = MAX(w->source, 0),
        .first_page = w->first_page, .last_page = w->last_page,
        .first_line = w->first_line, .last_line = w->last_line,
        .status = SL_CITATION_OK,
    };
    check(&c, w, find_source(sources, n_sources, w->source), n_sources);
    g_array_append_val(result, c);
}

/* The citations of one bracket. A source range stops at its first missing source, flagged,
 * so that "[1-999]" gives a few citations, not a thousand. */
static void add_citations(GArray *result, GArray *written, gsize start, gsize end,
                          const SlSource *sources, guint n_sources)
{
    for (guint i = 0; i < written->len; i++) {
        Written w = g_array_index(written, Written, i);
        gint64 lo = MIN(w.source, w.last_source), hi = MAX(w.source, w.last_source);
        for (gint64 k = lo; k <= hi; k++) {
            w.source = (int)k;
            add_one(result, &w, start, end, sources, n_sources);
            if (k >= 0 && !find_source(sources, n_sources, (int)k))
                break;
        }
    }
}

/* Whether i starts a line, after at most three spaces (markdown's indentation for fences
 * and reference definitions). */
static gboolean at_line_start(const char *text, gsize i)
{
    for (int spaces = 0; i > 0 && text[i - 1] == ' ' && spaces < 3; spaces++)
        i--;
    return i == 0 || text[i - 1] == '\n';
}

static gsize run_len(const char *text, gsize len, gsize i)
{
    gsize n = 0;
    while (i + n < len && text[i + n] == text[i])
        n++;
    return n;
}

/* Past the code that starts at i (a ` or ~): a fenced block to its closing fence, or the end
 * of the text when streaming has not closed it yet; an inline `span`; or past the run alone
 * when it closes nothing (markdown reads it as text then). */
static gsize skip_code(const char *text, gsize len, gsize i)
{
    gsize n = run_len(text, len, i);
    const char *eol = memchr(text + i + n, '\n', len - i - n);
    gsize line_end = eol ? (gsize)(eol - text) : len;
    /* a backtick fence's info string holds no backtick: "``` x ```" is inline code */
    gboolean fence = n >= 3 && at_line_start(text, i) &&
                     !(text[i] == '`' && memchr(text + i + n, '`', line_end - i - n));
    if (fence) {
        for (gsize k = i + n; k < len; k++)
            if (text[k] == text[i] && at_line_start(text, k) && run_len(text, len, k) >= n) {
                const char *nl = memchr(text + k, '\n', len - k);
                return nl ? (gsize)(nl - text) + 1 : len;
            }
        return len;
    }
    if (text[i] == '~')
        return i + n;
    for (gsize k = i + n; k < len;) {
        const char *tick = memchr(text + k, '`', len - k);
        if (!tick)
            break;
        k = (gsize)(tick - text);
        gsize m = run_len(text, len, k);
        if (m == n)
            return k + n;
        k += m;
    }
    return i + n;
}

/* The index of the bracket closing the one at i, or 0: not closed (text still streaming, or
 * a stray bracket), too long, or holding another bracket or code, none of which a citation
 * does. */
static gsize find_close(const char *text, gsize len, gsize i)
{
    char close = text[i] == '[' ? ']' : ')';
    for (gsize k = i + 1; k < len && k - i <= MAX_BRACKET; k++) {
        if (text[k] == close)
            return k;
        if (strchr("[]()`", text[k]))
            return 0;
    }
    return 0;
}

/* "[text](url)" and "[1]: url" at the start of a line are markdown links, not citations. */
static gboolean is_link(const char *text, gsize len, gsize open, gsize close)
{
    if (text[open] != '[' || close + 1 >= len)
        return FALSE;
    return text[close + 1] == '(' || (text[close + 1] == ':' && at_line_start(text, open));
}

GArray *sl_citations_parse(const char *answer, const SlSource *sources, guint n_sources)
{
    GArray *result = g_array_new(FALSE, TRUE, sizeof(SlCitation));
    g_array_set_clear_func(result, (GDestroyNotify)sl_citation_clear);
    if (!answer)
        return result;
    g_autoptr(GArray) written = g_array_new(FALSE, FALSE, sizeof(Written));
    gsize len = strlen(answer);
    for (gsize i = 0; i < len;) {
        char ch = answer[i];
        if (ch == '`' || ch == '~') {
            i = skip_code(answer, len, i);
            continue;
        }
        gsize close = ch == '[' || ch == '(' ? find_close(answer, len, i) : 0;
        if (!close) {
            i++;
            continue;
        }
        g_array_set_size(written, 0);
        if (!is_link(answer, len, i, close) &&
            eat_group(answer + i + 1, answer + close, ch == '(', written))
            add_citations(result, written, i, close + 1, sources, n_sources);
        i = close + 1;
    }
    return result;
}
