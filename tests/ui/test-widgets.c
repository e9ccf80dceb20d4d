/* test-widgets.c: SlPdfPage and SlCodeView (suite ui), under Xvfb with the cairo renderer.
 *
 * The page is a PDF made here with cairo, two lines of text at known places; the character
 * boxes come from poppler's text layout, as ingestion stores them. The page widget sits in a
 * shown window; its snapshot is drawn into a cairo image and checked by pixels: heat tints
 * its characters towards the ramp and nothing else, log scale lifts light weights, the
 * highlight draws the accent outline, and the rendered page is cached across snapshots. */
#include "code-view.h"
#include "heat.h"
#include "pdf-page.h"

#include <adwaita.h>
#include <cairo-pdf.h>
#include <fontconfig/fontconfig.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define PAGE_W 400
#define PAGE_H 200

typedef struct {
    PopplerDocument *doc;
    PopplerPage *page;
    float *boxes; /* 4 per character of text */
    gsize n;
    char *text;
    gsize hot_first, hot_end;   /* "Heat here": chars [hot_first, hot_end) */
    gsize cold_first, cold_end; /* "Cold words" */
} Doc;

static Doc doc;

static void make_doc(void)
{
    g_autofree char *dir = g_dir_make_tmp("sl-ui-XXXXXX", NULL);
    g_assert_nonnull(dir);
    g_autofree char *path = g_build_filename(dir, "page.pdf", NULL);
    cairo_surface_t *s = cairo_pdf_surface_create(path, PAGE_W, PAGE_H);
    cairo_t *cr = cairo_create(s);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 24);
    cairo_move_to(cr, 40, 80);
    cairo_show_text(cr, "Heat here");
    cairo_move_to(cr, 40, 150);
    cairo_show_text(cr, "Cold words");
    cairo_destroy(cr);
    cairo_surface_finish(s);
    g_assert_cmpint(cairo_surface_status(s), ==, CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(s);

    g_autofree char *uri = g_filename_to_uri(path, NULL, NULL);
    GError *error = NULL;
    doc.doc = poppler_document_new_from_file(uri, NULL, &error);
    g_assert_no_error(error);
    g_unlink(path);
    g_rmdir(dir);
    doc.page = poppler_document_get_page(doc.doc, 0);
    doc.text = poppler_page_get_text(doc.page);
    PopplerRectangle *rects = NULL;
    guint n = 0;
    g_assert_true(poppler_page_get_text_layout(doc.page, &rects, &n));
    g_assert_cmpuint(n, ==, g_utf8_strlen(doc.text, -1));
    doc.n = n;
    doc.boxes = g_new(float, 4 * n);
    for (guint i = 0; i < n; i++) {
        doc.boxes[4 * i] = (float)rects[i].x1;
        doc.boxes[4 * i + 1] = (float)rects[i].y1;
        doc.boxes[4 * i + 2] = (float)rects[i].x2;
        doc.boxes[4 * i + 3] = (float)rects[i].y2;
    }
    g_free(rects);
    /* The text is ASCII: character indices are byte offsets. */
    const char *cold = strstr(doc.text, "Cold words");
    g_assert_true(g_str_has_prefix(doc.text, "Heat here"));
    g_assert_nonnull(cold);
    doc.hot_first = 0, doc.hot_end = 9;
    doc.cold_first = (gsize)(cold - doc.text), doc.cold_end = doc.cold_first + 10;
}

static void free_doc(void)
{
    g_object_unref(doc.page);
    g_object_unref(doc.doc);
    g_free(doc.boxes);
    g_free(doc.text);
}

/* Runs the main loop until the widget is mapped and has a size (at most 5 s). */
static void wait_shown(GtkWidget *w)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (!(gtk_widget_get_mapped(w) && gtk_widget_get_width(w) > 0)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

static GtkWidget *show_in_window(GtkWidget *child)
{
    GtkWidget *win = gtk_window_new();
    gtk_window_set_default_size(GTK_WINDOW(win), 900, 600);
    gtk_window_set_child(GTK_WINDOW(win), child);
    gtk_window_present(GTK_WINDOW(win));
    wait_shown(child);
    return win;
}

/* The widget's own drawing (its snapshot vfunc, which GTK's paintables call only after a
 * frame), as a render node. */
static GskRenderNode *widget_node(GtkWidget *w)
{
    GtkSnapshot *s = gtk_snapshot_new();
    GTK_WIDGET_GET_CLASS(w)->snapshot(w, s);
    return gtk_snapshot_free_to_node(s);
}

static cairo_surface_t *render(GtkWidget *w)
{
    int width = gtk_widget_get_width(w), height = gtk_widget_get_height(w);
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
    GskRenderNode *node = widget_node(w);
    cairo_t *cr = cairo_create(surf);
    if (node)
        gsk_render_node_draw(node, cr);
    cairo_destroy(cr);
    g_clear_pointer(&node, gsk_render_node_unref);
    cairo_surface_flush(surf);
    return surf;
}

static guint32 pixel(cairo_surface_t *s, int x, int y)
{
    const guint8 *d = cairo_image_surface_get_data(s);
    return *(const guint32 *)(d + y * cairo_image_surface_get_stride(s) + 4 * x);
}

#define R(p) (((p) >> 16) & 0xff)
#define G(p) (((p) >> 8) & 0xff)
#define B(p) ((p)&0xff)

/* The pixel rectangle of characters [first, end) at a zoom. */
static void chars_rect(gsize first, gsize end, double zoom, int r[4])
{
    float x1 = G_MAXFLOAT, y1 = G_MAXFLOAT, x2 = -G_MAXFLOAT, y2 = -G_MAXFLOAT;
    for (gsize i = first; i < end; i++) {
        const float *b = doc.boxes + 4 * i;
        x1 = MIN(x1, b[0]), y1 = MIN(y1, b[1]), x2 = MAX(x2, b[2]), y2 = MAX(y2, b[3]);
    }
    r[0] = (int)floor(x1 * zoom), r[1] = (int)floor(y1 * zoom);
    r[2] = (int)ceil(x2 * zoom), r[3] = (int)ceil(y2 * zoom);
}

/* Mean colour (0..255 each) of a pixel rectangle. */
static void mean_rgb(cairo_surface_t *s, const int r[4], double m[3])
{
    double n = 0;
    m[0] = m[1] = m[2] = 0;
    for (int y = r[1]; y < r[3]; y++)
        for (int x = r[0]; x < r[2]; x++, n++) {
            guint32 p = pixel(s, x, y);
            m[0] += R(p), m[1] += G(p), m[2] += B(p);
        }
    for (int c = 0; c < 3; c++)
        m[c] /= n;
}

static guint count_differing(cairo_surface_t *a, cairo_surface_t *b, const int r[4])
{
    guint n = 0;
    for (int y = r[1]; y < r[3]; y++)
        for (int x = r[0]; x < r[2]; x++)
            n += pixel(a, x, y) != pixel(b, x, y);
    return n;
}

/* The pixel that heat of normalised weight t over white gives, checked within tol. */
static void assert_heat_on_white(cairo_surface_t *s, int x, int y, double t, int tol)
{
    GdkRGBA c;
    sl_heat_color(t, &c);
    guint32 p = pixel(s, x, y);
    double want[3] = {c.red, c.green, c.blue};
    guint got[3] = {R(p), G(p), B(p)};
    for (int k = 0; k < 3; k++) {
        double v = 255 * (want[k] * c.alpha + (1 - c.alpha));
        g_assert_cmpfloat(fabs(got[k] - v), <=, tol);
    }
}

static void box_centre(gsize i, double zoom, int *x, int *y)
{
    const float *b = doc.boxes + 4 * i;
    *x = (int)((b[0] + b[2]) / 2 * zoom), *y = (int)((b[1] + b[3]) / 2 * zoom);
}

static void test_heat_ramp(void)
{
    g_assert_cmpfloat(sl_heat_normalise(0.01, 1, FALSE), ==, 0.01);
    g_assert_cmpfloat_with_epsilon(sl_heat_normalise(0.01, 1, TRUE), log(1.99) / log(100), 1e-9);
    g_assert_cmpfloat(sl_heat_normalise(2, 2, TRUE), ==, 1);
    g_assert_cmpfloat(sl_heat_normalise(3, 2, FALSE), ==, 1);
    g_assert_cmpfloat(sl_heat_normalise(0, 2, TRUE), ==, 0);
    g_assert_cmpfloat(sl_heat_normalise(NAN, 2, FALSE), ==, 0);
    g_assert_cmpfloat(sl_heat_normalise(1, 0, FALSE), ==, 0);
    /* Darker and more opaque as t grows: what "more weight" must look like. */
    double last_l = 2, last_a = 0;
    for (int i = 0; i <= 20; i++) {
        GdkRGBA c;
        sl_heat_color(i / 20.0, &c);
        double l = 0.2126 * c.red + 0.7152 * c.green + 0.0722 * c.blue;
        g_assert_cmpfloat(l, <, last_l);
        g_assert_cmpfloat(c.alpha, >, last_a);
        last_l = l, last_a = c.alpha;
    }
}

typedef struct {
    GtkWidget *win;
    SlPdfPage *page;
} PageFixture;

static void page_setup(PageFixture *f, gconstpointer data)
{
    f->page = SL_PDF_PAGE(sl_pdf_page_new(doc.page));
    f->win = show_in_window(GTK_WIDGET(f->page));
}

static void page_teardown(PageFixture *f, gconstpointer data)
{
    gtk_window_destroy(GTK_WINDOW(f->win));
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

static void test_page_heat(PageFixture *f, gconstpointer data)
{
    GtkWidget *w = GTK_WIDGET(f->page);
    g_assert_cmpint(gtk_widget_get_width(w), ==, PAGE_W);
    g_assert_cmpint(gtk_widget_get_height(w), ==, PAGE_H);
    cairo_surface_t *plain = render(w);
    float *weights = g_new0(float, doc.n);
    for (gsize i = doc.hot_first; i < doc.hot_end; i++)
        weights[i] = 2.5f;
    sl_pdf_page_set_heat(f->page, doc.boxes, weights, doc.n);
    cairo_surface_t *hot = render(w);

    /* The hot line is tinted: blue falls, red stays well above it. */
    int r[4];
    double m0[3], m1[3];
    chars_rect(doc.hot_first, doc.hot_end, 1, r);
    mean_rgb(plain, r, m0);
    mean_rgb(hot, r, m1);
    g_assert_cmpfloat(m1[2], <, m0[2] - 60);
    g_assert_cmpfloat(m1[0], >, m1[2] + 40);
    /* Blank paper inside the run (the space) is exactly the top of the ramp over white. */
    int x, y;
    box_centre(4, 1, &x, &y);
    g_assert_cmpint(doc.text[4], ==, ' ');
    assert_heat_on_white(hot, x, y, 1.0, 3);
    /* The cold line (with room for the heat's margin) and the paper around are untouched. */
    chars_rect(doc.cold_first, doc.cold_end, 1, r);
    r[0] -= 3, r[1] -= 3, r[2] += 3, r[3] += 3;
    g_assert_cmpuint(count_differing(plain, hot, r), ==, 0);
    const int margin[4] = {300, 5, 395, 40};
    g_assert_cmpuint(count_differing(plain, hot, margin), ==, 0);

    sl_pdf_page_clear_heat(f->page);
    cairo_surface_t *cleared = render(w);
    const int all[4] = {0, 0, PAGE_W, PAGE_H};
    g_assert_cmpuint(count_differing(plain, cleared, all), ==, 0);
    g_free(weights);
    cairo_surface_destroy(plain);
    cairo_surface_destroy(hot);
    cairo_surface_destroy(cleared);
}

static void test_page_log_scale(PageFixture *f, gconstpointer data)
{
    GtkWidget *w = GTK_WIDGET(f->page);
    float *weights = g_new0(float, doc.n);
    weights[doc.hot_first] = 1.0f;
    for (gsize i = doc.hot_first + 1; i < doc.hot_end; i++)
        weights[i] = 0.01f; /* skewed: one heavy character, many light ones */
    sl_pdf_page_set_heat(f->page, doc.boxes, weights, doc.n);
    cairo_surface_t *linear = render(w);
    g_object_set(f->page, "heat-scale", SL_HEAT_SCALE_LOG, NULL);
    cairo_surface_t *logs = render(w);

    int x, y, r[4];
    box_centre(4, 1, &x, &y);
    assert_heat_on_white(linear, x, y, 0.01, 3);
    assert_heat_on_white(logs, x, y, sl_heat_normalise(0.01, 1, TRUE), 3);
    double ml[3], mg[3];
    chars_rect(5, doc.hot_end, 1, r); /* "here", all light */
    mean_rgb(linear, r, ml);
    mean_rgb(logs, r, mg);
    g_assert_cmpfloat(mg[2], <, ml[2] - 10);
    /* The heaviest character is at the top of both scales. */
    box_centre(0, 1, &x, &y);
    g_assert_cmphex(pixel(linear, x, y), ==, pixel(logs, x, y));
    g_free(weights);
    cairo_surface_destroy(linear);
    cairo_surface_destroy(logs);
}

static void accent(GtkWidget *w, GdkRGBA *c)
{
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    if (!gtk_style_context_lookup_color(gtk_widget_get_style_context(w), "accent_color", c))
        gdk_rgba_parse(c, "#3584e4");
    G_GNUC_END_IGNORE_DEPRECATIONS
}

static void test_page_highlight(PageFixture *f, gconstpointer data)
{
    GtkWidget *w = GTK_WIDGET(f->page);
    cairo_surface_t *plain = render(w);
    sl_pdf_page_set_highlight(f->page, doc.boxes + 4 * doc.cold_first,
                              doc.cold_end - doc.cold_first);
    cairo_surface_t *lit = render(w);
    int r[4];
    chars_rect(doc.cold_first, doc.cold_end, 1, r);
    /* The outline: 2 px of accent, 1 to 3 px outside the characters' union. */
    GdkRGBA c;
    accent(w, &c);
    int mid = (r[1] + r[3]) / 2;
    guint32 p = pixel(lit, r[0] - 2, mid);
    g_assert_cmpuint(pixel(plain, r[0] - 2, mid), ==, 0xffffffff);
    g_assert_cmpint(abs((int)R(p) - (int)(c.red * 255)), <=, 8);
    g_assert_cmpint(abs((int)G(p) - (int)(c.green * 255)), <=, 8);
    g_assert_cmpint(abs((int)B(p) - (int)(c.blue * 255)), <=, 8);
    p = pixel(lit, (r[0] + r[2]) / 2, r[3] + 1);
    g_assert_cmpint(B(p), >, R(p) + 60);
    /* Inside the outline (less the pixel its antialiased edge may touch) and on the other
     * line nothing changes. */
    const int inner[4] = {r[0] + 1, r[1] + 1, r[2] - 1, r[3] - 1};
    g_assert_cmpuint(count_differing(plain, lit, inner), ==, 0);
    chars_rect(doc.hot_first, doc.hot_end, 1, r);
    g_assert_cmpuint(count_differing(plain, lit, r), ==, 0);

    sl_pdf_page_clear_highlight(f->page);
    cairo_surface_t *cleared = render(w);
    const int all[4] = {0, 0, PAGE_W, PAGE_H};
    g_assert_cmpuint(count_differing(plain, cleared, all), ==, 0);
    cairo_surface_destroy(plain);
    cairo_surface_destroy(lit);
    cairo_surface_destroy(cleared);
}

/* Nodes of a type in a tree of container nodes. */
static guint count_nodes(GskRenderNode *node, GskRenderNodeType type)
{
    if (!node)
        return 0;
    guint n = gsk_render_node_get_node_type(node) == type;
    if (gsk_render_node_get_node_type(node) == GSK_CONTAINER_NODE)
        for (guint i = 0; i < gsk_container_node_get_n_children(node); i++)
            n += count_nodes(gsk_container_node_get_child(node, i), type);
    return n;
}

static gboolean is_accent(guint32 p, const GdkRGBA *c)
{
    return abs((int)R(p) - (int)(c->red * 255)) <= 8 && abs((int)G(p) - (int)(c->green * 255)) <= 8 &&
           abs((int)B(p) - (int)(c->blue * 255)) <= 8;
}

/* A passage of three close lines (made-up boxes on the page's blank right half): one outline
 * round the three, one node, and nothing drawn between its lines. */
static void test_page_highlight_passage(PageFixture *f, gconstpointer data)
{
    GtkWidget *w = GTK_WIDGET(f->page);
    static const float lines[3][3] = {{200, 380, 30}, {200, 380, 46}, {200, 300, 62}};
    float boxes[3 * 18 * 4];
    gsize n = 0;
    for (int l = 0; l < 3; l++)
        for (float x = lines[l][0]; x < lines[l][1]; x += 10, n++) {
            boxes[4 * n] = x, boxes[4 * n + 1] = lines[l][2];
            boxes[4 * n + 2] = x + 9, boxes[4 * n + 3] = lines[l][2] + 12;
        }
    boxes[4 * (n - 1) + 2] = 300; /* the last character ends the line at x 300 */
    cairo_surface_t *plain = render(w);
    sl_pdf_page_set_highlight(f->page, boxes, n);
    cairo_surface_t *lit = render(w);
    GdkRGBA c;
    accent(w, &c);
    /* The outline: left of all three lines, right of the short last line, under the middle
     * line where the last one stops short. */
    g_assert_true(is_accent(pixel(lit, 198, 36), &c));
    g_assert_true(is_accent(pixel(lit, 198, 52), &c));
    g_assert_true(is_accent(pixel(lit, 198, 68), &c));
    g_assert_true(is_accent(pixel(lit, 381, 50), &c));
    g_assert_true(is_accent(pixel(lit, 301, 68), &c));
    g_assert_true(is_accent(pixel(lit, 340, 61), &c));
    g_assert_true(is_accent(pixel(lit, 250, 76), &c));
    /* Nothing between the lines, nor inside the shape. */
    const int inside[4] = {200, 30, 380, 58};
    g_assert_cmpuint(count_differing(plain, lit, inside), ==, 0);
    const int inside_last[4] = {200, 58, 300, 74};
    g_assert_cmpuint(count_differing(plain, lit, inside_last), ==, 0);
    const int below_middle[4] = {304, 64, 380, 80};
    g_assert_cmpuint(count_differing(plain, lit, below_middle), ==, 0);
    /* One node for the whole passage, no border per line. */
    GskRenderNode *node = widget_node(w);
    g_assert_cmpuint(count_nodes(node, GSK_BORDER_NODE), ==, 0);
    g_assert_cmpuint(count_nodes(node, GSK_CAIRO_NODE), ==, 1);
    gsk_render_node_unref(node);
    cairo_surface_destroy(plain);
    cairo_surface_destroy(lit);
}

static void test_page_char_at(PageFixture *f, gconstpointer data)
{
    sl_pdf_page_set_zoom(f->page, 2.0);
    int nat;
    gtk_widget_measure(GTK_WIDGET(f->page), GTK_ORIENTATION_HORIZONTAL, -1, NULL, &nat, NULL,
                       NULL);
    g_assert_cmpint(nat, ==, 2 * PAGE_W);
    guint checked = 0;
    for (gsize i = 0; i < doc.n; i++) {
        const float *b = doc.boxes + 4 * i;
        if (doc.text[i] == ' ' || doc.text[i] == '\n' || !(b[2] > b[0]))
            continue;
        int x, y;
        box_centre(i, 2.0, &x, &y);
        gsize got = G_MAXSIZE;
        g_assert_true(sl_pdf_page_char_at(f->page, x, y, doc.boxes, doc.n, &got));
        g_assert_cmpuint(got, ==, i);
        checked++;
    }
    g_assert_cmpuint(checked, ==, 17); /* "HeathereColdwords" */
    gsize got = 0;
    g_assert_false(sl_pdf_page_char_at(f->page, 4, 4, doc.boxes, doc.n, &got));
    g_assert_false(sl_pdf_page_char_at(f->page, 2 * 300, 2 * 80, doc.boxes, doc.n, &got));
}

/* The first texture node under node. */
static GdkTexture *find_texture(GskRenderNode *node)
{
    switch (gsk_render_node_get_node_type(node)) {
    case GSK_TEXTURE_NODE: return gsk_texture_node_get_texture(node);
    case GSK_CONTAINER_NODE:
        for (guint i = 0; i < gsk_container_node_get_n_children(node); i++) {
            GdkTexture *t = find_texture(gsk_container_node_get_child(node, i));
            if (t)
                return t;
        }
        return NULL;
    case GSK_TRANSFORM_NODE: return find_texture(gsk_transform_node_get_child(node));
    case GSK_CLIP_NODE: return find_texture(gsk_clip_node_get_child(node));
    case GSK_DEBUG_NODE: return find_texture(gsk_debug_node_get_child(node));
    default: return NULL;
    }
}

static GdkTexture *page_texture(GtkWidget *w)
{
    GskRenderNode *node = widget_node(w);
    GdkTexture *t = find_texture(node);
    g_assert_nonnull(t);
    g_object_ref(t);
    gsk_render_node_unref(node);
    return t;
}

static void test_page_cache(PageFixture *f, gconstpointer data)
{
    GtkWidget *w = GTK_WIDGET(f->page);
    int scale = gtk_widget_get_scale_factor(w);
    GdkTexture *a = page_texture(w);
    g_assert_cmpint(gdk_texture_get_width(a), ==, PAGE_W * scale);
    float *weights = g_new0(float, doc.n);
    weights[1] = 1;
    sl_pdf_page_set_heat(f->page, doc.boxes, weights, doc.n);
    sl_pdf_page_set_highlight(f->page, doc.boxes, 3);
    GdkTexture *b = page_texture(w);
    g_assert_true(a == b); /* heat and highlight do not re-render the page */
    sl_pdf_page_set_zoom(f->page, 1.5);
    GdkTexture *c = page_texture(w);
    g_assert_true(c != a);
    g_assert_cmpint(gdk_texture_get_width(c), ==, (int)ceil(PAGE_W * 1.5 * scale));
    sl_pdf_page_set_zoom(f->page, 100.0); /* clamped */
    g_assert_cmpfloat(sl_pdf_page_get_zoom(f->page), ==, 8.0);
    g_object_unref(a);
    g_object_unref(b);
    g_object_unref(c);
    g_free(weights);
}

static void test_page_accessible(PageFixture *f, gconstpointer data)
{
    GtkAccessible *a = GTK_ACCESSIBLE(f->page);
    gtk_test_accessible_assert_role(a, GTK_ACCESSIBLE_ROLE_IMG);
    gtk_test_accessible_assert_property(a, GTK_ACCESSIBLE_PROPERTY_LABEL, "Page 1");
    float *weights = g_new0(float, doc.n);
    weights[0] = weights[1] = 1;         /* "He" */
    weights[doc.cold_first + 2] = 0.5f;  /* "l" */
    sl_pdf_page_set_heat(f->page, doc.boxes, weights, doc.n);
    gtk_test_accessible_assert_property(a, GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                        "selected by the indexer: 2 passages");
    g_free(weights);
}

static const char c_source[] = "#include <stdio.h>\n"
                               "\n"
                               "/* Adds two numbers. */\n"
                               "static int add(int a, int b)\n"
                               "{\n"
                               "    return a + b;\n"
                               "}\n"
                               "\n"
                               "int main(void)\n"
                               "{\n"
                               "    printf(\"%d\\n\", add(1, 2));\n"
                               "    return 0;\n"
                               "}\n";
#define C_LINES 14 /* 13 and the empty one after the last newline */

typedef struct {
    GtkWidget *win;
    SlCodeView *view;
    GtkTextBuffer *buf;
} CodeFixture;

static void code_setup(CodeFixture *f, gconstpointer data)
{
    f->view = SL_CODE_VIEW(sl_code_view_new());
    sl_code_view_set_text(f->view, c_source, -1, "c");
    f->buf = GTK_TEXT_BUFFER(sl_code_view_get_buffer(f->view));
    f->win = show_in_window(GTK_WIDGET(f->view));
}

static void code_teardown(CodeFixture *f, gconstpointer data)
{
    gtk_window_destroy(GTK_WINDOW(f->win));
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

static GtkTextTag *tag(CodeFixture *f, const char *name)
{
    GtkTextTag *t = gtk_text_tag_table_lookup(gtk_text_buffer_get_tag_table(f->buf), name);
    g_assert_nonnull(t);
    return t;
}

/* The heat level (1..8) of a line (1-based), 0 for none; at most one level per line. */
static int heat_at(CodeFixture *f, int line)
{
    GtkTextIter it;
    gtk_text_buffer_get_iter_at_line(f->buf, &it, line - 1);
    int level = 0;
    for (int k = 1; k <= 8; k++) {
        char name[16];
        g_snprintf(name, sizeof name, "heat-%d", k);
        if (gtk_text_iter_has_tag(&it, tag(f, name))) {
            g_assert_cmpint(level, ==, 0);
            level = k;
        }
    }
    return level;
}

static void test_code_text(CodeFixture *f, gconstpointer data)
{
    g_assert_cmpint(gtk_text_buffer_get_line_count(f->buf), ==, C_LINES);
    GtkSourceLanguage *lang = gtk_source_buffer_get_language(GTK_SOURCE_BUFFER(f->buf));
    g_assert_nonnull(lang);
    g_assert_cmpstr(gtk_source_language_get_id(lang), ==, "c");
    GtkSourceView *sv = sl_code_view_get_source_view(f->view);
    g_assert_false(gtk_text_view_get_editable(GTK_TEXT_VIEW(sv)));
    g_assert_true(gtk_text_view_get_monospace(GTK_TEXT_VIEW(sv)));
    g_assert_true(gtk_source_view_get_show_line_numbers(sv));
    g_assert_cmpstr(gtk_widget_get_css_name(GTK_WIDGET(f->view)), ==, "codeview");

    /* Bytes that are not UTF-8 become U+FFFD, not a critical; no language is plain text. */
    sl_code_view_set_text(f->view, "a\xff" "b\nc", -1, NULL);
    g_assert_cmpint(gtk_text_buffer_get_line_count(f->buf), ==, 2);
    g_assert_null(gtk_source_buffer_get_language(GTK_SOURCE_BUFFER(f->buf)));
    GtkTextIter s, e;
    gtk_text_buffer_get_bounds(f->buf, &s, &e);
    g_autofree char *text = gtk_text_buffer_get_text(f->buf, &s, &e, TRUE);
    g_assert_cmpstr(text, ==, "a\xef\xbf\xbd" "b\nc");
}

static void test_code_scheme(CodeFixture *f, gconstpointer data)
{
    AdwStyleManager *sm = adw_style_manager_get_default();
    GtkSourceBuffer *sb = GTK_SOURCE_BUFFER(f->buf);
    adw_style_manager_set_color_scheme(sm, ADW_COLOR_SCHEME_FORCE_DARK);
    g_assert_cmpstr(gtk_source_style_scheme_get_id(gtk_source_buffer_get_style_scheme(sb)), ==,
                    "Adwaita-dark");
    adw_style_manager_set_color_scheme(sm, ADW_COLOR_SCHEME_FORCE_LIGHT);
    g_assert_cmpstr(gtk_source_style_scheme_get_id(gtk_source_buffer_get_style_scheme(sb)), ==,
                    "Adwaita");
    adw_style_manager_set_color_scheme(sm, ADW_COLOR_SCHEME_DEFAULT);
}

static void test_code_heat(CodeFixture *f, gconstpointer data)
{
    float w[C_LINES - 1] = {0};
    w[5] = 10; /* line 6 */
    w[6] = 10; /* line 7, same level: one range with line 6 */
    w[10] = 1; /* line 11: a tenth of the heaviest */
    sl_code_view_set_line_heat(f->view, w, G_N_ELEMENTS(w));
    g_assert_cmpint(heat_at(f, 6), ==, 8);
    g_assert_cmpint(heat_at(f, 7), ==, 8);
    g_assert_cmpint(heat_at(f, 11), ==, 1);
    for (int line = 1; line <= C_LINES; line++)
        if (line != 6 && line != 7 && line != 11)
            g_assert_cmpint(heat_at(f, line), ==, 0);
    /* Log scale lifts the light line (0.1 of the max: 0.52 of the scale, level 5). */
    sl_code_view_set_heat_scale(f->view, SL_HEAT_SCALE_LOG);
    g_assert_cmpint(heat_at(f, 11), ==, 5);
    g_assert_cmpint(heat_at(f, 6), ==, 8);
    /* Heat past the text's lines is ignored; clearing removes every level. */
    float many[40];
    for (int i = 0; i < 40; i++)
        many[i] = 1;
    sl_code_view_set_line_heat(f->view, many, 40);
    g_assert_cmpint(heat_at(f, C_LINES - 1), ==, 8); /* the empty last line holds no tag */
    sl_code_view_clear_line_heat(f->view);
    for (int line = 1; line <= C_LINES; line++)
        g_assert_cmpint(heat_at(f, line), ==, 0);
}

static void assert_highlight(CodeFixture *f, int first, int last)
{
    GtkTextTag *hl = tag(f, "highlight");
    for (int line = 1; line <= C_LINES; line++) {
        GtkTextIter it;
        gtk_text_buffer_get_iter_at_line(f->buf, &it, line - 1);
        gboolean inside = line >= first && line <= last;
        if (gtk_text_iter_is_end(&it))
            break; /* the empty last line has no character to tag */
        g_assert_cmpint(gtk_text_iter_has_tag(&it, hl), ==, inside);
        gtk_text_iter_forward_to_line_end(&it); /* its newline too */
        if (!gtk_text_iter_is_end(&it))
            g_assert_cmpint(gtk_text_iter_has_tag(&it, hl), ==, inside);
    }
}

static void test_code_highlight(CodeFixture *f, gconstpointer data)
{
    sl_code_view_highlight_lines(f->view, 4, 7);
    assert_highlight(f, 4, 7);
    GtkTextIter cursor;
    gtk_text_buffer_get_iter_at_mark(f->buf, &cursor, gtk_text_buffer_get_insert(f->buf));
    g_assert_cmpint(gtk_text_iter_get_line(&cursor), ==, 3);
    sl_code_view_highlight_lines(f->view, 12, 100); /* clamped to the text */
    assert_highlight(f, 12, C_LINES);
    sl_code_view_highlight_lines(f->view, 3, 2); /* either order */
    assert_highlight(f, 2, 3);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    sl_code_view_clear_highlight(f->view);
    assert_highlight(f, 0, -1);
}

/* Where the first character of a line (1-based) is drawn, in the source view's coordinates,
 * and where the text area begins there (the right edge of the line-number gutter). */
static void first_column(CodeFixture *f, int line, int *char_x, int *text_left)
{
    GtkTextView *tv = GTK_TEXT_VIEW(sl_code_view_get_source_view(f->view));
    GtkTextIter it;
    gtk_text_buffer_get_iter_at_line(f->buf, &it, line - 1);
    GdkRectangle r;
    gtk_text_view_get_iter_location(tv, &it, &r);
    int wy;
    gtk_text_view_buffer_to_window_coords(tv, GTK_TEXT_WINDOW_WIDGET, r.x, r.y, char_x, &wy);
    GtkWidget *gutter = gtk_text_view_get_gutter(tv, GTK_TEXT_WINDOW_LEFT);
    g_assert_nonnull(gutter);
    g_assert_true(gtk_widget_get_visible(gutter));
    double gx, gy;
    g_assert_true(gtk_widget_translate_coordinates(gutter, GTK_WIDGET(tv),
                                                   gtk_widget_get_width(gutter), 0, &gx, &gy));
    *text_left = (int)gx;
}

/* Lines jumped to (a citation, a passage) come into view with their first column whole:
 * the view scrolls down to them, never sideways under the line numbers. */
static void test_code_first_column(CodeFixture *f, gconstpointer data)
{
    /* Lines wider than the view, as declarations in a header are: the view can scroll
     * sideways. */
    GString *text = g_string_new(NULL);
    for (int i = 1; i <= 400; i++)
        g_string_append_printf(text, "%s%d = f(x);%*s/* the comment of line %d */\n",
                               i % 7 ? "x" : "long_name_", i, 120, "", i);
    sl_code_view_set_text(f->view, text->str, (gssize)text->len, "c");
    g_string_free(text, TRUE);
    GtkTextView *tv = GTK_TEXT_VIEW(sl_code_view_get_source_view(f->view));
    GtkAdjustment *h = gtk_scrollable_get_hadjustment(GTK_SCROLLABLE(tv));
    GtkAdjustment *v = gtk_scrollable_get_vadjustment(GTK_SCROLLABLE(tv));
    static const int jumps[][2] = {{300, 305}, {40, 40}, {399, 400}, {1, 3}};
    for (gsize j = 0; j < G_N_ELEMENTS(jumps); j++) {
        sl_code_view_highlight_lines(f->view, jumps[j][0], jumps[j][1]);
        /* The scroll waits for the layout: run the loop until it has settled (no change for
         * half a second). */
        gint64 still = g_get_monotonic_time(), deadline = still + 5 * G_USEC_PER_SEC;
        double last = -1;
        while (g_get_monotonic_time() - still < G_USEC_PER_SEC / 2) {
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_main_context_iteration(NULL, FALSE);
            g_usleep(1000);
            double now = gtk_adjustment_get_value(v) + 1e6 * gtk_adjustment_get_value(h);
            if (now != last)
                last = now, still = g_get_monotonic_time();
        }
        int char_x, text_left;
        first_column(f, jumps[j][0], &char_x, &text_left);
        g_test_message("lines %d-%d: h %.1f of %.1f, v %.1f of %.1f; first column at x %d, "
                       "text from %d; %d lines",
                       jumps[j][0], jumps[j][1], gtk_adjustment_get_value(h),
                       gtk_adjustment_get_upper(h), gtk_adjustment_get_value(v),
                       gtk_adjustment_get_upper(v), char_x, text_left,
                       gtk_text_buffer_get_line_count(f->buf));
        g_assert_cmpfloat(gtk_adjustment_get_value(h), ==, 0);
        g_assert_cmpint(char_x, >=, text_left + gtk_text_view_get_left_margin(tv));
        /* and the first line jumped to is in view */
        GtkTextIter it;
        gtk_text_buffer_get_iter_at_line(f->buf, &it, jumps[j][0] - 1);
        GdkRectangle visible, loc;
        gtk_text_view_get_visible_rect(tv, &visible);
        gtk_text_view_get_iter_location(tv, &it, &loc);
        g_assert_cmpint(loc.y, >=, visible.y);
        g_assert_cmpint(loc.y + loc.height, <=, visible.y + visible.height);
    }
}

static void test_code_line_at(CodeFixture *f, gconstpointer data)
{
    GtkTextView *tv = GTK_TEXT_VIEW(sl_code_view_get_source_view(f->view));
    for (int line = 1; line <= 3; line++) {
        GtkTextIter it;
        int y, h, wx, wy;
        gtk_text_buffer_get_iter_at_line(f->buf, &it, line - 1);
        gtk_text_view_get_line_yrange(tv, &it, &y, &h);
        gtk_text_view_buffer_to_window_coords(tv, GTK_TEXT_WINDOW_WIDGET, 10, y + h / 2, &wx, &wy);
        double x, yy;
        g_assert_true(gtk_widget_translate_coordinates(GTK_WIDGET(tv), GTK_WIDGET(f->view),
                                                       gtk_widget_get_width(GTK_WIDGET(tv)) / 2.0,
                                                       wy, &x, &yy));
        g_assert_cmpint(sl_code_view_line_at(f->view, x, yy), ==, line);
    }
    g_assert_cmpint(sl_code_view_line_at(f->view, 50, gtk_widget_get_height(GTK_WIDGET(f->view)) - 2),
                    ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    adw_init();
    make_doc();
    g_test_add_func("/ui/heat/ramp", test_heat_ramp);
#define PAGE(name, fn) g_test_add(name, PageFixture, NULL, page_setup, fn, page_teardown)
    PAGE("/ui/pdf-page/heat", test_page_heat);
    PAGE("/ui/pdf-page/log-scale", test_page_log_scale);
    PAGE("/ui/pdf-page/highlight", test_page_highlight);
    PAGE("/ui/pdf-page/highlight-passage", test_page_highlight_passage);
    PAGE("/ui/pdf-page/char-at", test_page_char_at);
    PAGE("/ui/pdf-page/cache", test_page_cache);
    PAGE("/ui/pdf-page/accessible", test_page_accessible);
#define CODE(name, fn) g_test_add(name, CodeFixture, NULL, code_setup, fn, code_teardown)
    CODE("/ui/code-view/text", test_code_text);
    CODE("/ui/code-view/scheme", test_code_scheme);
    CODE("/ui/code-view/heat", test_code_heat);
    CODE("/ui/code-view/highlight", test_code_highlight);
    CODE("/ui/code-view/line-at", test_code_line_at);
    CODE("/ui/code-view/first-column", test_code_first_column);
    int rc = g_test_run();
    free_doc();
    return rc;
}
