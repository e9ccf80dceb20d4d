/* test-pdf.c: PDF ingestion (suite app). The oracle is poppler-utils: the text of every page
 * equals what pdftotext extracts (up to whitespace) and the page count equals pdfinfo's. PDFs
 * are a real one from a Debian package and ones made here with cairo (with metadata, without
 * a text layer) and qpdf (encrypted); corrupt ones are cut from them. */
#include "boxes.h"
#include "check.h"
#include "ingest.h"
#include "library-private.h"

#include <cairo-pdf.h>
#include <fontconfig/fontconfig.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* Shipped by shared-mime-info, which GTK 4 depends on (packaging/setup). */
#define REAL_PDF "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf"
/* Shipped by r-doc-pdf (packaging/setup): 113 pages. */
#define R_MANUAL "/usr/share/R/doc/manual/R-intro.pdf"

typedef struct {
    char *dir;
    char *db;
    SlLibrary *lib;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
    f->dir = make_tmp_dir();
    f->db = g_build_filename(f->dir, "library.db", NULL);
    GError *error = NULL;
    f->lib = sl_library_open(f->db, &error);
    g_assert_no_error(error);
}

static void teardown(Fixture *f, gconstpointer data)
{
    sl_library_close(f->lib);
    check_library(f->db);
    remove_tree(f->dir);
    g_free(f->dir);
    g_free(f->db);
}

static SlIngestResult *ingest_one(Fixture *f, const char *path)
{
    const char *paths[] = {path, NULL};
    GPtrArray *r = sl_ingest_files(f->lib, paths, NULL, NULL, NULL, NULL);
    g_assert_cmpuint(r->len, ==, 1);
    SlIngestResult *res = g_ptr_array_steal_index(r, 0);
    g_ptr_array_unref(r);
    return res;
}

/* Pages' text and boxes of a document, in order. */
static GPtrArray *stored_pages(Fixture *f, gint64 id, GPtrArray **boxes)
{
    GPtrArray *texts = g_ptr_array_new_with_free_func(g_free);
    *boxes = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    sl_library_lock(f->lib);
    sqlite3_stmt *st = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(sl_library_db(f->lib),
                                       "SELECT number, text, boxes FROM pages WHERE document_id = ?1 "
                                       "ORDER BY number",
                                       -1, &st, NULL),
                    ==, SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        g_assert_cmpint(sqlite3_column_int(st, 0), ==, (int)texts->len + 1);
        g_ptr_array_add(texts, g_strdup((const char *)sqlite3_column_text(st, 1)));
        g_ptr_array_add(*boxes, g_bytes_new(sqlite3_column_blob(st, 2),
                                            (gsize)sqlite3_column_bytes(st, 2)));
    }
    sqlite3_finalize(st);
    sl_library_unlock(f->lib);
    return texts;
}

static char *run_tool(const char *const *argv)
{
    char *out = NULL;
    int status = 0;
    GError *error = NULL;
    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                 NULL, &out, NULL, &status, &error);
    g_assert_no_error(error);
    g_spawn_check_wait_status(status, &error);
    g_assert_no_error(error);
    return out;
}

static char *no_space(const char *s)
{
    GString *o = g_string_new(NULL);
    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (!g_unichar_isspace(c) && c != '\f')
            g_string_append_unichar(o, c);
    }
    return g_string_free(o, FALSE);
}

/* Text without its hyphens: pdftotext drops a hyphen that ends one of its lines ("S-" +
 * "Plus" gives "SPlus"), and its lines are not always ours; we keep every hyphen the page
 * shows, each with its box. */
static char *dehyphenate(const char *s)
{
    GString *o = g_string_new(NULL);
    for (const char *p = s; *p; p++)
        if (*p != '-')
            g_string_append_c(o, *p);
    return g_string_free(o, FALSE);
}

/* Ingests pdf and checks it against pdfinfo and pdftotext; returns the document id. */
static gint64 check_against_poppler_utils(Fixture *f, const char *pdf)
{
    g_autofree SlIngestResult *r = ingest_one(f, pdf);
    g_assert_no_error(r->error);
    g_free(r->path);
    g_autoptr(SlDocument) doc = sl_library_get(f->lib, pdf, NULL);
    g_assert_nonnull(doc);
    g_assert_cmpstr(doc->kind, ==, "pdf");
    g_assert_cmpstr(doc->status, ==, "ok");

    const char *info_argv[] = {"pdfinfo", pdf, NULL};
    g_autofree char *info = run_tool(info_argv);
    const char *line = strstr(info, "\nPages:");
    g_assert_nonnull(line);
    int n_pages = atoi(line + strlen("\nPages:"));
    g_assert_cmpint(n_pages, >, 0);
    g_assert_cmpint(doc->pages, ==, n_pages);

    /* One pdftotext run: pages end with a form feed. */
    const char *text_argv[] = {"pdftotext", "-enc", "UTF-8", pdf, "-", NULL};
    g_autofree char *all = run_tool(text_argv);
    g_auto(GStrv) expected = g_strsplit(all, "\f", -1);
    g_assert_cmpint(g_strv_length(expected), >=, (guint)n_pages);

    GPtrArray *boxes = NULL;
    g_autoptr(GPtrArray) texts = stored_pages(f, r->document_id, &boxes);
    g_assert_cmpuint(texts->len, ==, (guint)n_pages);
    for (int i = 0; i < n_pages; i++) {
        g_autofree char *want_joined = dehyphenate(expected[i]);
        g_autofree char *want = no_space(want_joined);
        g_autofree char *joined = dehyphenate(texts->pdata[i]);
        g_autofree char *got = no_space(joined);
        if (g_strcmp0(want, got) != 0)
            g_error("%s page %d: text differs from pdftotext's\n--- pdftotext\n%s\n--- stored\n%s",
                    pdf, i + 1, want, got);
        /* One box per character of the text. */
        gsize size = 0, n_boxes = 0;
        const void *blob = g_bytes_get_data(boxes->pdata[i], &size);
        glong chars = g_utf8_strlen(texts->pdata[i], -1);
        if (*want) {
            GError *error = NULL;
            g_autofree float *b = sl_boxes_decode(blob, size, &n_boxes, &error);
            g_assert_no_error(error);
            g_assert_cmpuint(n_boxes, ==, (gsize)chars);
        }
    }
    g_ptr_array_unref(boxes);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM passages"), >=, 1);
    return r->document_id;
}

/* pdftotext -bbox's words of a page range: text and box, per page. */
typedef struct {
    char *text;
    double box[4]; /* xMin, yMin, xMax, yMax */
} Word;

static void word_free(gpointer data)
{
    Word *w = data;
    g_free(w->text);
    g_free(w);
}

static GPtrArray *bbox_words(const char *pdf, int first, int last)
{
    g_autofree char *f = g_strdup_printf("%d", first), *l = g_strdup_printf("%d", last);
    const char *argv[] = {"pdftotext", "-bbox", "-enc", "UTF-8", "-f", f, "-l", l, pdf, "-", NULL};
    g_autofree char *html = run_tool(argv);
    GPtrArray *pages = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
    g_auto(GStrv) parts = g_strsplit(html, "<page ", -1);
    for (int p = 1; parts[p]; p++) {
        GPtrArray *words = g_ptr_array_new_with_free_func(word_free);
        for (const char *at = parts[p]; (at = strstr(at, "<word ")); at++) {
            Word *w = g_new0(Word, 1);
            static const char *const keys[] = {"xMin=\"", "yMin=\"", "xMax=\"", "yMax=\""};
            for (int k = 0; k < 4; k++)
                w->box[k] = g_ascii_strtod(strstr(at, keys[k]) + strlen(keys[k]), NULL);
            const char *s = strchr(at, '>') + 1, *e = strstr(s, "</word>");
            g_autofree char *raw = g_strndup(s, (gsize)(e - s));
            GString *t = g_string_new(NULL); /* pdftotext escapes & < > " ' */
            static const char *const ent[][2] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"},
                                                 {"&quot;", "\""}, {"&apos;", "'"}};
            for (const char *c = raw; *c;) {
                gsize k = 0;
                while (k < G_N_ELEMENTS(ent) && !g_str_has_prefix(c, ent[k][0]))
                    k++;
                if (k < G_N_ELEMENTS(ent)) {
                    g_string_append(t, ent[k][1]);
                    c += strlen(ent[k][0]);
                } else
                    g_string_append_c(t, *c++);
            }
            w->text = g_string_free(t, FALSE);
            g_ptr_array_add(words, w);
        }
        g_ptr_array_add(pages, words);
    }
    return pages;
}

/* The stored boxes of pages first..last against pdftotext -bbox: pdftotext's words, in order,
 * spell the page's text (less white space), and the union of the boxes of each word's
 * characters is the word's box, to within the quantum of the packed form. Returns the words
 * compared. */
static guint check_word_boxes(Fixture *f, const char *pdf, gint64 id, int first, int last)
{
    GPtrArray *boxes = NULL;
    g_autoptr(GPtrArray) texts = stored_pages(f, id, &boxes);
    g_autoptr(GPtrArray) pages = bbox_words(pdf, first, last);
    g_assert_cmpuint(pages->len, ==, (guint)(last - first + 1));
    guint compared = 0;
    for (int p = first; p <= last; p++) {
        GPtrArray *words = pages->pdata[p - first];
        const char *text = texts->pdata[p - 1];
        gsize size = 0, n = 0;
        const void *blob = g_bytes_get_data(boxes->pdata[p - 1], &size);
        g_autofree float *b = words->len ? sl_boxes_decode(blob, size, &n, NULL) : NULL;
        const char *c = text;
        glong ci = 0;
        for (guint w = 0; w < words->len; w++) {
            const Word *word = words->pdata[w];
            while (*c && g_unichar_isspace(g_utf8_get_char(c))) {
                c = g_utf8_next_char(c);
                ci++;
            }
            double u[4] = {G_MAXDOUBLE, G_MAXDOUBLE, -G_MAXDOUBLE, -G_MAXDOUBLE};
            for (const char *k = word->text; *k; k = g_utf8_next_char(k)) {
                while (*c == '-' && *k != '-') { /* a hyphen pdftotext dropped */
                    c++;
                    ci++;
                    while (*c && g_unichar_isspace(g_utf8_get_char(c))) {
                        c = g_utf8_next_char(c);
                        ci++;
                    }
                }
                if (!*c || g_utf8_get_char(c) != g_utf8_get_char(k))
                    g_error("%s page %d: pdftotext's word %u \"%s\" is not next in the text: "
                            "%.30s", pdf, p, w, word->text, c);
                g_assert_cmpuint((gsize)ci, <, n);
                u[0] = MIN(u[0], b[4 * ci]);
                u[1] = MIN(u[1], b[4 * ci + 1]);
                u[2] = MAX(u[2], b[4 * ci + 2]);
                u[3] = MAX(u[3], b[4 * ci + 3]);
                c = g_utf8_next_char(c);
                ci++;
            }
            for (int k = 0; k < 4; k++)
                if (fabs(u[k] - word->box[k]) > 0.6 / SL_BOXES_UNITS_PER_POINT)
                    g_error("%s page %d word \"%s\": edge %d is %.4f, pdftotext says %.4f", pdf, p,
                            word->text, k, u[k], word->box[k]);
            compared++;
        }
        while (*c && g_unichar_isspace(g_utf8_get_char(c)))
            c = g_utf8_next_char(c);
        g_assert_cmpstr(c, ==, ""); /* every character of the text in some word */
    }
    g_ptr_array_unref(boxes);
    return compared;
}

static void test_real_pdf(Fixture *f, gconstpointer data)
{
    if (!g_file_test(REAL_PDF, G_FILE_TEST_EXISTS)) {
        g_test_skip(REAL_PDF " is missing (package shared-mime-info)");
        return;
    }
    gint64 id = check_against_poppler_utils(f, REAL_PDF);
    g_assert_cmpuint(check_word_boxes(f, REAL_PDF, id, 1, 17), >, 2000);
    GError *error = NULL;
    g_autoptr(GPtrArray) hits = sl_library_search(f->lib, "\"shared mime\"", 5, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(hits->len, >, 0);
    g_assert_cmpint(((SlHit *)hits->pdata[0])->page, >=, 1);
}

static void note_pages(const SlIngestProgress *p, gpointer data)
{
    guint64 *seen = data;
    g_assert_cmpuint(p->pages_done, >=, *seen); /* never backwards */
    *seen = p->pages_done;
}

/* A long real manual: R's introduction, from r-doc-pdf (packaging/setup installs it). */
static void test_r_manual(Fixture *f, gconstpointer data)
{
    if (!g_file_test(R_MANUAL, G_FILE_TEST_EXISTS)) {
        g_test_skip(R_MANUAL " is missing (package r-doc-pdf)");
        return;
    }
    /* Progress counts pages as they are read. */
    guint64 pages_seen = 0;
    g_autoptr(GPtrArray) r = sl_ingest_files(f->lib, (const char *const[]){R_MANUAL, NULL}, NULL,
                                             NULL, note_pages, &pages_seen);
    g_assert_no_error(((SlIngestResult *)r->pdata[0])->error);
    gint64 id = check_against_poppler_utils(f, R_MANUAL);
    g_autoptr(SlDocument) doc = sl_library_get(f->lib, R_MANUAL, NULL);
    g_assert_cmpuint(pages_seen, ==, (guint64)doc->pages);
    g_assert_cmpuint(check_word_boxes(f, R_MANUAL, id, 1, doc->pages), >, 20000);
}

/* Damaged box blobs: a clear error or boxes, never a crash (run under ASan too). */
static void test_boxes_damaged(void)
{
    float xyxy[4 * 64];
    for (int i = 0; i < 64; i++) {
        xyxy[4 * i] = 72.0f + 6.1f * (float)i;
        xyxy[4 * i + 1] = 100.0f + 14.0f * (float)(i / 20);
        xyxy[4 * i + 2] = xyxy[4 * i] + 6.0f;
        xyxy[4 * i + 3] = xyxy[4 * i + 1] + 11.5f;
    }
    g_autoptr(GBytes) good = sl_boxes_encode(xyxy, 64);
    gsize size = 0;
    const guint8 *data = g_bytes_get_data(good, &size);
    GRand *rand = g_rand_new_with_seed(7);
    guint failed = 0;
    for (int round = 0; round < 20000; round++) {
        g_autofree guint8 *bad = g_memdup2(data, size);
        gsize len = size;
        if (round % 3 == 0)
            len = (gsize)g_rand_int_range(rand, 0, (gint32)size);
        for (int k = g_rand_int_range(rand, 1, 4); k > 0; k--)
            bad[g_rand_int_range(rand, 0, (gint32)size)] ^= (guint8)g_rand_int_range(rand, 1, 256);
        GError *error = NULL;
        gsize n = 0;
        g_autofree float *out = sl_boxes_decode(bad, len, &n, &error);
        if (!out) {
            g_assert_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_DATABASE);
            g_assert_nonnull(strstr(error->message, "boxes"));
            g_clear_error(&error);
            failed++;
        } else
            g_assert_cmpuint(n, >, 0);
    }
    g_rand_free(rand);
    g_assert_cmpuint(failed, >, 15000);
    gsize n = 0;
    g_autofree float *back = sl_boxes_decode(data, size, &n, NULL);
    g_assert_cmpuint(n, ==, 64);
    for (int i = 0; i < 4 * 64; i++)
        g_assert_cmpfloat_with_epsilon(back[i], xyxy[i], 0.5 / SL_BOXES_UNITS_PER_POINT);
}

/* A PDF of n pages made with cairo: with text (and metadata), or only shapes (a "scan"). */
static char *make_pdf(const char *dir, const char *name, int n, gboolean text)
{
    char *path = g_build_filename(dir, name, NULL);
    cairo_surface_t *s = cairo_pdf_surface_create(path, 595, 842);
    if (text) {
        cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, "Ledger of tides");
        cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_AUTHOR, "Ada Quill");
    }
    cairo_t *cr = cairo_create(s);
    for (int p = 0; p < n; p++) {
        if (text) {
            cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                                   CAIRO_FONT_WEIGHT_NORMAL);
            cairo_set_font_size(cr, 12);
            for (int l = 0; l < 5; l++) {
                g_autofree char *line =
                    g_strdup_printf("Page %d line %d: the harbour keeps its ledger", p + 1, l + 1);
                cairo_move_to(cr, 72, 100 + 20 * l);
                cairo_show_text(cr, line);
            }
        } else {
            cairo_rectangle(cr, 72, 72, 300, 400);
            cairo_fill(cr);
        }
        cairo_show_page(cr);
    }
    cairo_destroy(cr);
    cairo_surface_finish(s);
    g_assert_cmpint(cairo_surface_status(s), ==, CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(s);
    return path;
}

static void test_made_pdf(Fixture *f, gconstpointer data)
{
    g_autofree char *pdf = make_pdf(f->dir, "tides.pdf", 3, TRUE);
    gint64 id = check_against_poppler_utils(f, pdf);
    g_autoptr(SlDocument) doc = sl_library_get(f->lib, pdf, NULL);
    g_assert_cmpint(doc->id, ==, id);
    g_assert_cmpstr(doc->title, ==, "Ledger of tides");
    g_assert_cmpstr(doc->author, ==, "Ada Quill");
    g_assert_cmpint(doc->pages, ==, 3);
    /* Boxes: float32 x1, y1, x2, y2 in points, inside the page, the first one at the left
     * margin near the first line's baseline. */
    GPtrArray *boxes = NULL;
    g_autoptr(GPtrArray) texts = stored_pages(f, id, &boxes);
    gsize size = 0, n = 0;
    const void *blob = g_bytes_get_data(boxes->pdata[1], &size);
    GError *decode_error = NULL;
    g_autofree float *b = sl_boxes_decode(blob, size, &n, &decode_error);
    g_assert_no_error(decode_error);
    g_assert_cmpuint(n, >=, 1);
    for (gsize i = 0; i < n; i++) {
        const float *r = b + 4 * i;
        g_assert_cmpfloat(r[0], >=, 0);
        g_assert_cmpfloat(r[0], <=, r[2]);
        g_assert_cmpfloat(r[1], <=, r[3]);
        g_assert_cmpfloat(r[2], <=, 595);
        g_assert_cmpfloat(r[3], <=, 842);
    }
    g_assert_cmpfloat_with_epsilon(b[0], 72, 1);
    g_assert_cmpfloat(b[1], >, 80);
    g_assert_cmpfloat(b[3], <, 110);
    g_assert_true(g_str_has_prefix(texts->pdata[1], "Page 2 line 1"));
    g_ptr_array_unref(boxes);
    GError *error = NULL;
    g_autoptr(GPtrArray) hits = sl_library_search(f->lib, "\"page 3 line 4\"", 5, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(hits->len, ==, 1);
    g_assert_cmpint(((SlHit *)hits->pdata[0])->page, ==, 3);
}

static void test_no_text_layer(Fixture *f, gconstpointer data)
{
    g_autofree char *pdf = make_pdf(f->dir, "scan.pdf", 2, FALSE);
    g_autofree SlIngestResult *r = ingest_one(f, pdf);
    g_assert_no_error(r->error);
    g_free(r->path);
    g_autoptr(SlDocument) doc = sl_library_get(f->lib, pdf, NULL);
    g_assert_cmpstr(doc->status, ==, "no_text_layer");
    g_assert_nonnull(strstr(doc->error, "no text layer"));
    g_assert_cmpint(doc->pages, ==, 2);
    g_assert_cmpint(doc->passages, ==, 0);
}

static void test_encrypted(Fixture *f, gconstpointer data)
{
    g_autofree char *plain = make_pdf(f->dir, "plain.pdf", 2, TRUE);
    g_autofree char *locked = g_build_filename(f->dir, "locked.pdf", NULL);
    g_autofree char *qpdf = g_find_program_in_path("qpdf");
    if (!qpdf) {
        g_test_skip("qpdf is missing (packaging/setup installs it)");
        return;
    }
    const char *argv[] = {"qpdf", "--encrypt", "opensesame", "owner-pw", "256", "--",
                          plain, locked, NULL};
    g_free(run_tool(argv));

    g_autofree SlIngestResult *r = ingest_one(f, locked);
    g_assert_no_error(r->error);
    g_free(r->path);
    g_autoptr(SlDocument) doc = sl_library_get(f->lib, locked, NULL);
    g_assert_cmpstr(doc->kind, ==, "pdf");
    g_assert_cmpstr(doc->status, ==, "needs_password");
    g_assert_nonnull(strstr(doc->error, "password"));
    g_assert_cmpint(doc->pages, ==, 0);

    /* With the password the parser reads it; with a wrong one it still needs one. */
    gchar *data_ = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(locked, &data_, &len, NULL));
    g_autoptr(GBytes) bytes = g_bytes_new_take(data_, len);
    GError *error = NULL;
    g_autoptr(SlParsed) wrong = sl_ingest_pdf_parse(locked, bytes, "nope", NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(wrong->status, ==, "needs_password");
    g_autoptr(SlParsed) right = sl_ingest_pdf_parse(locked, bytes, "opensesame", NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(right->status, ==, "ok");
    g_assert_cmpuint(right->pages->len, ==, 2);
    g_assert_true(g_str_has_prefix(g_array_index(right->pages, SlPage, 1).text, "Page 2 line 1"));
    g_assert_cmpstr(right->title, ==, "Ledger of tides");

    /* Through the ingest API: a wrong password changes nothing, the right one reads the
     * unchanged file again under the same id. */
    const char *paths[] = {locked, NULL};
    SlIngestOptions nope = {.password = "nope"}, good = {.password = "opensesame"};
    g_autoptr(GPtrArray) rw = sl_ingest_files_full(f->lib, paths, NULL, &nope, NULL, NULL, NULL);
    g_assert_no_error(((SlIngestResult *)rw->pdata[0])->error);
    g_assert_cmpint(((SlIngestResult *)rw->pdata[0])->outcome, ==, SL_STORED_UNCHANGED);
    g_autoptr(SlDocument) still = sl_library_get(f->lib, locked, NULL);
    g_assert_cmpstr(still->status, ==, "needs_password");
    g_autoptr(GPtrArray) rr =
        sl_ingest_files_full(f->lib, paths, NULL, &good, NULL, NULL, NULL);
    g_assert_no_error(((SlIngestResult *)rr->pdata[0])->error);
    g_assert_cmpint(((SlIngestResult *)rr->pdata[0])->outcome, ==, SL_STORED_UPDATED);
    g_assert_cmpint(((SlIngestResult *)rr->pdata[0])->document_id, ==, doc->id);
    g_autoptr(SlDocument) open = sl_library_get(f->lib, locked, NULL);
    g_assert_cmpstr(open->status, ==, "ok");
    g_assert_null(open->error);
    g_assert_cmpint(open->pages, ==, 2);
    g_assert_cmpstr(open->title, ==, "Ledger of tides");
    /* Once read, adding it again without the password leaves it as it is. */
    g_autoptr(GPtrArray) ra = sl_ingest_files(f->lib, paths, NULL, NULL, NULL, NULL);
    g_assert_cmpint(((SlIngestResult *)ra->pdata[0])->outcome, ==, SL_STORED_UNCHANGED);
    g_autoptr(SlDocument) after = sl_library_get(f->lib, locked, NULL);
    g_assert_cmpstr(after->status, ==, "ok");
}

/* A damaged file: an error naming it, and not one row written. */
static void expect_damaged(Fixture *f, const char *path)
{
    int before = count_rows(f->lib, "SELECT count(*) FROM documents");
    int pages = count_rows(f->lib, "SELECT count(*) FROM pages");
    int passages = count_rows(f->lib, "SELECT count(*) FROM passages");
    g_autofree SlIngestResult *r = ingest_one(f, path);
    g_assert_error(r->error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID);
    g_assert_nonnull(strstr(r->error->message, path));
    g_test_message("%s", r->error->message);
    g_clear_error(&r->error);
    g_free(r->path);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM documents"), ==, before);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM pages"), ==, pages);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM passages"), ==, passages);
}

static char *write_file(const char *dir, const char *name, const char *data, gsize len)
{
    char *path = g_build_filename(dir, name, NULL);
    GError *error = NULL;
    g_file_set_contents(path, data, (gssize)len, &error);
    g_assert_no_error(error);
    return path;
}

static void test_damaged(Fixture *f, gconstpointer data)
{
    g_autofree char *made = make_pdf(f->dir, "whole.pdf", 3, TRUE);
    const char *source = g_file_test(REAL_PDF, G_FILE_TEST_EXISTS) ? REAL_PDF : made;
    g_autofree char *bytes = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(source, &bytes, &len, NULL));
    g_assert_cmpuint(len, >, 2000);

    /* Cut at a few places, the last just before the end marker. */
    const gsize cuts[] = {len / 2, len / 3, 2 * len / 3, len - 8, 100};
    for (guint i = 0; i < G_N_ELEMENTS(cuts); i++) {
        g_autofree char *name = g_strdup_printf("cut-%u.pdf", i);
        g_autofree char *path = write_file(f->dir, name, bytes, cuts[i]);
        expect_damaged(f, path);
    }
    /* Cut, then an end marker put back: poppler itself finds the file damaged. */
    g_autofree char *patched = g_malloc(len / 2 + 7);
    memcpy(patched, bytes, len / 2);
    memcpy(patched + len / 2, "\n%%EOF\n", 7);
    g_autofree char *p = write_file(f->dir, "cut-eof.pdf", patched, len / 2 + 7);
    expect_damaged(f, p);
    /* Whole length but the middle overwritten; a header alone; not a PDF at all. */
    g_autofree char *mangled = g_memdup2(bytes, len);
    memset(mangled + 9, 'x', len - 1024 - 9);
    g_autofree char *m = write_file(f->dir, "mangled.pdf", mangled, len);
    expect_damaged(f, m);
    g_autofree char *header = write_file(f->dir, "header.PDF", "%PDF-1.4\n", 9);
    expect_damaged(f, header);
    g_autofree char *empty = write_file(f->dir, "empty.pdf", "", 0);
    expect_damaged(f, empty);
    g_autofree char *text = write_file(f->dir, "notes.pdf", "just some text\n", 15);
    expect_damaged(f, text);

    /* The whole file still goes in afterwards. */
    check_against_poppler_utils(f, made);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add(name, Fixture, NULL, setup, fn, teardown)
    ADD("/app/pdf/real", test_real_pdf);
    ADD("/app/pdf/r-manual", test_r_manual);
    g_test_add_func("/app/pdf/boxes-damaged", test_boxes_damaged);
    ADD("/app/pdf/made", test_made_pdf);
    ADD("/app/pdf/no-text-layer", test_no_text_layer);
    ADD("/app/pdf/encrypted", test_encrypted);
    ADD("/app/pdf/damaged", test_damaged);
    int rc = g_test_run();
    /* Font caches of cairo's text and poppler, freed so that the leak checker sees none. */
    cairo_debug_reset_static_data();
    FcFini();
    return rc;
}
