/* ingest-code.c: source files.
 *
 * A source file is one page. Its line offsets are stored so that an answer can point at
 * lines. Passages, the units of search and of context assembly, end where a block ends: the
 * preferred cut is before a line that starts at column 0 after a blank line (a new function,
 * struct or section in most languages), then before any line after a blank line, then at any
 * line end; a line longer than a passage is cut like prose. */
#include "ingest.h"

#include <string.h>

typedef struct {
    gsize start;     /* byte offset of the line */
    gboolean blank;  /* only white space */
    gboolean column0; /* starts with something other than white space */
} Line;

static GArray *scan_lines(const char *text, gsize len)
{
    GArray *lines = g_array_new(FALSE, FALSE, sizeof(Line));
    gsize at = 0;
    while (at < len) {
        const char *nl = memchr(text + at, '\n', len - at);
        gsize end = nl ? (gsize)(nl - text) : len;
        Line l = {at, TRUE, !g_ascii_isspace(text[at])};
        for (gsize i = at; i < end; i++)
            if (!g_ascii_isspace(text[i])) {
                l.blank = FALSE;
                break;
            }
        g_array_append_val(lines, l);
        at = end + 1;
    }
    return lines;
}

static GBytes *line_offsets(const GArray *lines)
{
    guint32 *offsets = g_new(guint32, lines->len ? lines->len : 1);
    for (guint i = 0; i < lines->len; i++)
        offsets[i] = GUINT32_TO_LE((guint32)g_array_index(lines, Line, i).start);
    return g_bytes_new_take(offsets, lines->len * sizeof(guint32));
}

static void add_passage(SlParsed *p, const char *text, gsize s, gsize e)
{
    while (e > s && g_ascii_isspace(text[e - 1]))
        e--;
    if (e > s) {
        SlPassage ps = {1, s, e - s, NULL};
        g_array_append_val(p->passages, ps);
    }
}

/* The line before which the passage starting on line first should end. */
static guint passage_end(const GArray *lines, guint first, gsize len)
{
    gsize s = g_array_index(lines, Line, first).start;
    guint strong = 0, weak = 0, any = 0;
    for (guint j = first + 1; j <= lines->len; j++) {
        gsize at = j < lines->len ? g_array_index(lines, Line, j).start : len;
        if (at - s > SL_PASSAGE_MAX_BYTES)
            break;
        if (j == lines->len)
            return j; /* the rest fits */
        const Line *l = &g_array_index(lines, Line, j);
        gboolean after_blank = g_array_index(lines, Line, j - 1).blank && !l->blank;
        any = j;
        if (after_blank)
            weak = j;
        if (after_blank && l->column0)
            strong = j;
    }
    return strong ? strong : weak ? weak : any;
}

static void split_code(SlParsed *p, const char *text, gsize len, const GArray *lines)
{
    guint i = 0;
    while (i < lines->len) {
        if (g_array_index(lines, Line, i).blank) {
            i++;
            continue;
        }
        guint end = passage_end(lines, i, len);
        if (end == 0) { /* line i alone is longer than a passage: cut it like prose */
            gsize s = g_array_index(lines, Line, i).start;
            gsize e = i + 1 < lines->len ? g_array_index(lines, Line, i + 1).start : len;
            while (s < e) {
                gsize c = sl_ingest_cut_point(text, s, e, SL_PASSAGE_MAX_BYTES);
                add_passage(p, text, s, c);
                s = c;
            }
            i++;
            continue;
        }
        add_passage(p, text, g_array_index(lines, Line, i).start,
                    end < lines->len ? g_array_index(lines, Line, end).start : len);
        i = end;
    }
}

SlParsed *sl_ingest_code_parse(const char *path, GBytes *contents, const char *language)
{
    SlParsed *p = sl_parsed_new(path);
    p->kind = "code";
    p->language = g_strdup(language);
    p->title = g_path_get_basename(path);
    gsize len;
    char *text = sl_ingest_text_of(p, contents, &len);
    g_autoptr(GArray) lines = scan_lines(text, len);
    split_code(p, text, len, lines);
    SlPage pg = {1, text, len, NULL, line_offsets(lines)};
    g_array_append_val(p->pages, pg);
    return p;
}
