/* ingest-text.c: plain text and Markdown.
 *
 * The text is stored as valid UTF-8: each byte of an invalid sequence (and each NUL) becomes
 * U+FFFD. When any byte was replaced, the file's original bytes are kept beside it (table
 * originals) and the document carries a warning, so nothing is lost. */
#include "ingest.h"

#include <string.h>

/* Valid UTF-8 from bytes; *replaced counts the bytes that became U+FFFD. */
static char *make_valid(const char *data, gsize n, gsize *len, gsize *replaced)
{
    GString *out = g_string_sized_new(n + 1);
    const char *s = data, *end = data + n;
    *replaced = 0;
    while (s < end) {
        const char *bad;
        if (g_utf8_validate_len(s, (gsize)(end - s), &bad)) {
            g_string_append_len(out, s, end - s);
            break;
        }
        g_string_append_len(out, s, bad - s);
        g_string_append(out, "\xEF\xBF\xBD");
        (*replaced)++;
        s = bad + 1;
    }
    *len = out->len;
    return g_string_free(out, FALSE);
}

static gboolean is_blank(const char *s, const char *e)
{
    for (; s < e; s++)
        if (!g_ascii_isspace(*s))
            return FALSE;
    return TRUE;
}

/* An ATX heading: 1 to 6 '#' then a space or the end of the line. */
static gboolean is_heading(const char *s, const char *e)
{
    const char *p = s;
    while (p < e && *p == '#')
        p++;
    return p > s && p - s <= 6 && (p == e || *p == ' ' || *p == '\t' || *p == '\r');
}

static char *heading_text(const char *s, const char *e)
{
    while (s < e && (*s == '#' || g_ascii_isspace(*s)))
        s++;
    while (e > s && (g_ascii_isspace(e[-1]) || e[-1] == '#'))
        e--;
    return e > s ? g_strndup(s, (gsize)(e - s)) : NULL;
}

/* Where to cut [s, s + max): after the last newline, else after the last space, else at the
 * last character boundary. */
gsize sl_ingest_cut_point(const char *text, gsize s, gsize e, gsize max)
{
    if (e - s <= max)
        return e;
    gsize lim = s + max;
    for (gsize p = lim; p > s + max / 4; p--)
        if (text[p - 1] == '\n')
            return p;
    for (gsize p = lim; p > s + max / 4; p--)
        if (text[p - 1] == ' ' || text[p - 1] == '\t')
            return p;
    gsize p = lim;
    while (p > s + 1 && ((guchar)text[p] & 0xC0) == 0x80)
        p--;
    return p;
}

typedef struct {
    SlParsed *p;
    int page;
    gsize start, end; /* the open passage; start == end: none */
    char *heading;
} Packer;

static void flush(Packer *k)
{
    if (k->end > k->start) {
        SlPassage ps = {k->page, k->start, k->end - k->start, g_strdup(k->heading)};
        g_array_append_val(k->p->passages, ps);
    }
    k->start = k->end = 0;
}

/* Adds the piece [s, e) to the open passage, or opens a new one. */
static void add_piece(Packer *k, gsize s, gsize e)
{
    if (k->end > k->start && e - k->start > SL_PASSAGE_MAX_BYTES)
        flush(k);
    if (k->end == k->start)
        k->start = s;
    k->end = e;
}

/* Adds a block (a paragraph or a heading line), cutting it when it is too long. */
static void add_block(Packer *k, const char *text, gsize s, gsize e)
{
    while (s < e) {
        gsize c = sl_ingest_cut_point(text, s, e, SL_PASSAGE_MAX_BYTES);
        add_piece(k, s, c);
        s = c;
    }
}

void sl_ingest_split_passages(SlParsed *p, int page, const char *text, gsize len, gboolean markdown)
{
    Packer k = {p, page, 0, 0, NULL};
    gsize para = 0;
    gboolean in_para = FALSE;
    gsize line = 0;
    while (line < len) {
        const char *nl = memchr(text + line, '\n', len - line);
        gsize le = nl ? (gsize)(nl - text) : len; /* end of the line, without its newline */
        gsize next = nl ? le + 1 : len;
        gboolean blank = is_blank(text + line, text + le);
        gboolean heading = markdown && is_heading(text + line, text + le);
        if ((blank || heading) && in_para) {
            add_block(&k, text, para, line > para && text[line - 1] == '\n' ? line - 1 : line);
            in_para = FALSE;
        }
        if (heading) {
            flush(&k);
            g_free(k.heading);
            k.heading = heading_text(text + line, text + le);
            add_block(&k, text, line, le);
        } else if (!blank && !in_para) {
            para = line;
            in_para = TRUE;
        }
        line = next;
    }
    if (in_para)
        add_block(&k, text, para, len);
    flush(&k);
    g_free(k.heading);
}

/* The first heading (Markdown) or the first non-blank line, at most 120 bytes. */
static char *find_title(const char *text, gsize len, gboolean markdown)
{
    char *first = NULL;
    gsize line = 0;
    while (line < len) {
        const char *nl = memchr(text + line, '\n', len - line);
        gsize le = nl ? (gsize)(nl - text) : len;
        if (markdown && is_heading(text + line, text + le)) {
            g_free(first);
            first = heading_text(text + line, text + le);
            break;
        }
        if (!first && !is_blank(text + line, text + le)) {
            first = g_strndup(text + line, le - line);
            if (!markdown)
                break;
        }
        line = nl ? le + 1 : len;
    }
    if (!first)
        return NULL;
    g_strstrip(first);
    if (strlen(first) > 120) {
        char *end = g_utf8_find_prev_char(first, first + 118);
        if (end)
            strcpy(end, "…");
    }
    return first;
}

char *sl_ingest_text_of(SlParsed *p, GBytes *contents, gsize *len)
{
    gsize n = 0, replaced;
    const char *data = g_bytes_get_data(contents, &n);
    char *text = make_valid(data ? data : "", n, len, &replaced);
    if (replaced) {
        p->original = g_bytes_ref(contents);
        p->warning = g_strdup_printf("%" G_GSIZE_FORMAT " byte%s of invalid UTF-8 or NUL replaced "
                                     "by U+FFFD in the text; the original bytes are kept",
                                     replaced, replaced == 1 ? "" : "s");
    }
    return text;
}

SlParsed *sl_ingest_text_parse(const char *path, GBytes *contents, gboolean markdown)
{
    SlParsed *p = sl_parsed_new(path);
    p->kind = "text";
    p->language = g_strdup(markdown ? "markdown" : NULL);
    gsize len;
    char *text = sl_ingest_text_of(p, contents, &len);
    p->title = find_title(text, len, markdown);
    if (!p->title)
        p->title = g_path_get_basename(path);
    sl_ingest_split_passages(p, 1, text, len, markdown);
    SlPage pg = {1, text, len, NULL, NULL};
    g_array_append_val(p->pages, pg);
    return p;
}
