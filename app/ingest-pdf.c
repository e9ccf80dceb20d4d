/* ingest-pdf.c: PDF files through poppler-glib.
 *
 * Each page becomes one row of pages: its text in reading order (poppler_page_get_text, the
 * same order as pdftotext) and its per-character boxes (poppler_page_get_text_layout), and is
 * cut into passages for the index. Title and author come from the document's metadata.
 *
 * The boxes blob (pages.boxes) holds one box per character of the page's text, in the order
 * of the text's characters (UTF-8 code points, not bytes), in PDF points from the top-left
 * corner of the page, packed as boxes.h describes. A page without text has no blob (NULL).
 *
 * States rather than errors: an encrypted PDF opened without its password (or with a wrong
 * one) is stored with status 'needs_password' and no pages; a PDF whose pages have no text at
 * all (a scan) is stored with status 'no_text_layer', its pages empty. A corrupt or truncated
 * file is an error naming the file, and nothing is stored. */
#include "boxes.h"
#include "ingest.h"

#include <poppler.h>
#include <string.h>

/* Poppler's rectangles in the stored form (boxes.h). */
static GBytes *pack_boxes(const PopplerRectangle *rects, guint n)
{
    g_autofree float *xyxy = g_new(float, 4 * (gsize)n + 1);
    for (guint i = 0; i < n; i++) {
        xyxy[4 * i] = (float)rects[i].x1;
        xyxy[4 * i + 1] = (float)rects[i].y1;
        xyxy[4 * i + 2] = (float)rects[i].x2;
        xyxy[4 * i + 3] = (float)rects[i].y2;
    }
    return sl_boxes_encode(xyxy, n);
}

/* A PDF must end with %%EOF (in its last kilobyte, as readers allow); one that does not was
 * cut short, even where poppler could rebuild part of it. */
static gboolean has_eof_marker(const char *data, gsize n)
{
    gsize from = n > 1024 ? n - 1024 : 0;
    for (gsize i = n >= 5 ? n - 5 + 1 : 0; i-- > from;)
        if (memcmp(data + i, "%%EOF", 5) == 0)
            return TRUE;
    return FALSE;
}

static char *dup_nonempty(char *s)
{
    if (s)
        g_strstrip(s);
    if (s && *s && g_utf8_validate(s, -1, NULL))
        return s;
    g_free(s);
    return NULL;
}

static SlParsed *parse_document(const char *path, PopplerDocument *doc, gint *pages_read,
                               GCancellable *cancellable, GError **error)
{
    int n_pages = poppler_document_get_n_pages(doc);
    if (n_pages <= 0) {
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "%s: damaged PDF file (no pages); nothing was added", path);
        return NULL;
    }

    g_autoptr(SlParsed) p = sl_parsed_new(path);
    p->kind = "pdf";
    p->title = dup_nonempty(poppler_document_get_title(doc));
    if (!p->title)
        p->title = g_path_get_basename(path);
    p->author = dup_nonempty(poppler_document_get_author(doc));
    for (int i = 0; i < n_pages; i++) {
        if (g_cancellable_set_error_if_cancelled(cancellable, error)) {
            g_prefix_error(error, "%s: not added: ", path);
            return NULL;
        }
        PopplerPage *page = poppler_document_get_page(doc, i);
        if (!page) {
            g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                        "%s: damaged PDF file (page %d cannot be read); nothing was added",
                        path, i + 1);
            return NULL;
        }
        char *raw = poppler_page_get_text(page);
        char *text = g_utf8_make_valid(raw ? raw : "", -1);
        g_free(raw);
        gsize len = strlen(text);
        GBytes *boxes = NULL;
        if (len > 0) {
            PopplerRectangle *rects = NULL;
            guint n_rects = 0;
            if (poppler_page_get_text_layout(page, &rects, &n_rects))
                boxes = pack_boxes(rects, n_rects);
            g_free(rects);
        }
        g_object_unref(page);
        SlPage pg = {i + 1, text, len, boxes, NULL};
        g_array_append_val(p->pages, pg);
        sl_ingest_split_passages(p, i + 1, text, len, FALSE);
        if (pages_read)
            g_atomic_int_inc(pages_read);
    }
    /* Only whitespace on every page: no text layer. */
    gboolean any_text = FALSE;
    for (guint i = 0; i < p->pages->len && !any_text; i++) {
        const SlPage *pg = &g_array_index(p->pages, SlPage, i);
        for (gsize k = 0; k < pg->len; k++)
            if (!g_ascii_isspace(pg->text[k])) {
                any_text = TRUE;
                break;
            }
    }
    if (!any_text) {
        p->status = "no_text_layer";
        p->error = g_strdup_printf("no text layer: none of the %d page%s has text (a scan?)",
                                   n_pages, n_pages == 1 ? "" : "s");
    }
    return g_steal_pointer(&p);
}

SlParsed *sl_ingest_pdf_parse(const char *path, GBytes *contents, const char *password,
                              gint *pages_read, GCancellable *cancellable, GError **error)
{
    gsize n = 0;
    const char *data = g_bytes_get_data(contents, &n);
    if (n < 5 || memcmp(data, "%PDF-", 5) != 0) {
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "%s: not a PDF file (no %%PDF- header)", path);
        return NULL;
    }
    if (!has_eof_marker(data, n)) {
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "%s: truncated PDF file (no %%%%EOF at the end); nothing was added", path);
        return NULL;
    }
    GError *local = NULL;
    /* From a stream, not poppler_document_new_from_bytes: that one crashes on a wrong
     * password in poppler 22.x (it retries on a stream it already freed). */
    GInputStream *in = g_memory_input_stream_new_from_bytes(contents);
    PopplerDocument *doc =
        poppler_document_new_from_stream(in, (goffset)n, password, NULL, &local);
    g_object_unref(in);
    if (!doc) {
        if (g_error_matches(local, POPPLER_ERROR, POPPLER_ERROR_ENCRYPTED)) {
            g_error_free(local);
            SlParsed *p = sl_parsed_new(path);
            p->kind = "pdf";
            p->title = g_path_get_basename(path);
            p->status = "needs_password";
            p->error = g_strdup(password ? "encrypted PDF: the password given is wrong"
                                         : "encrypted PDF: needs a password to be read");
            return p;
        }
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "%s: damaged or unreadable PDF file (%s); nothing was added", path,
                    local ? local->message : "unknown error");
        g_clear_error(&local);
        return NULL;
    }
    SlParsed *p = parse_document(path, doc, pages_read, cancellable, error);
    g_object_unref(doc);
    return p;
}

