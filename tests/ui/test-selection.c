/* test-selection.c: SlSelectionMap and SlSelectionInspector (suite ui), under Xvfb with the
 * cairo renderer, on synthetic data (no model). Each widget sits in a shown window; its
 * snapshot is drawn into a cairo image and checked by pixels at the places the widget's
 * documented geometry puts bins, cells and bars. */
#include "heat.h"
#include "selection-inspector.h"
#include "selection-map.h"

#include <adwaita.h>
#include <math.h>
#include <string.h>

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

static GtkWidget *show_in_window(GtkWidget *child, GtkWidget *shown, int w, int h)
{
    GtkWidget *win = gtk_window_new();
    gtk_window_set_default_size(GTK_WINDOW(win), w, h);
    gtk_window_set_child(GTK_WINDOW(win), child);
    gtk_window_present(GTK_WINDOW(win));
    wait_shown(shown);
    return win;
}

static void destroy_window(GtkWidget *win)
{
    gtk_window_destroy(GTK_WINDOW(win));
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

/* The widget's own drawing (its snapshot vfunc) into a cairo image of its size. */
static cairo_surface_t *render(GtkWidget *w)
{
    int width = gtk_widget_get_width(w), height = gtk_widget_get_height(w);
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
    GtkSnapshot *s = gtk_snapshot_new();
    GTK_WIDGET_GET_CLASS(w)->snapshot(w, s);
    GskRenderNode *node = gtk_snapshot_free_to_node(s);
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
    return *(const guint32 *)(gconstpointer)(d + y * cairo_image_surface_get_stride(s) + 4 * x);
}

#define A(p) (((p) >> 24) & 0xff)
#define R(p) (((p) >> 16) & 0xff)
#define G(p) (((p) >> 8) & 0xff)
#define B(p) ((p)&0xff)

static int luma(guint32 p)
{
    return (int)(0.2126 * R(p) + 0.7152 * G(p) + 0.0722 * B(p));
}

/* The pixel is the heat ramp's colour at t, opaque (as both widgets draw it), within tol. */
static void assert_heat(guint32 p, double t, int tol)
{
    GdkRGBA c;
    sl_heat_color(t, &c);
    g_assert_cmpuint(A(p), ==, 0xff);
    g_assert_cmpint(abs((int)R(p) - (int)lround(c.red * 255)), <=, tol);
    g_assert_cmpint(abs((int)G(p) - (int)lround(c.green * 255)), <=, tol);
    g_assert_cmpint(abs((int)B(p) - (int)lround(c.blue * 255)), <=, tol);
}

static guint count_differing(cairo_surface_t *a, cairo_surface_t *b, int x0, int y0, int x1,
                             int y1)
{
    guint n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            n += pixel(a, x, y) != pixel(b, x, y);
    return n;
}

/* ---- SlSelectionMap ---- */

#define MAP_W 800
#define N_BINS 10
#define BIN_W (MAP_W / N_BINS) /* 1000 positions in 10 equal bins over 800 px */
#define HOT 3
#define LIGHT 7

/* Bins 0–1 the prompt's words, 2–5 source 1 (pages 1, 1, 2, 2), 6–9 source 2 (pages 3–6);
 * one heavy bin and one a hundredth of it: a skewed distribution. */
static void make_bins(SlContextBin bins[N_BINS])
{
    static const guint32 sources[N_BINS] = {0, 0, 1, 1, 1, 1, 2, 2, 2, 2};
    static const gint32 pages[N_BINS] = {0, 0, 1, 1, 2, 2, 3, 4, 5, 6};
    for (guint i = 0; i < N_BINS; i++)
        bins[i] = (SlContextBin){i * 100, sources[i], pages[i], 0};
    bins[HOT].weight = 10;
    bins[LIGHT].weight = 0.1;
}

typedef struct {
    GtkWidget *win;
    SlSelectionMap *map;
    int h;
    guint activations;
    guint source;
    int page;
    guint64 position;
} MapFixture;

static void map_setup(MapFixture *f, gconstpointer data)
{
    f->map = SL_SELECTION_MAP(sl_selection_map_new());
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    gtk_box_append(GTK_BOX(box), GTK_WIDGET(f->map));
    f->win = show_in_window(box, GTK_WIDGET(f->map), MAP_W, 200);
    g_assert_cmpint(gtk_widget_get_width(GTK_WIDGET(f->map)), ==, MAP_W);
    f->h = gtk_widget_get_height(GTK_WIDGET(f->map));
    g_assert_cmpint(f->h, ==, 28);
    SlContextBin bins[N_BINS];
    make_bins(bins);
    sl_selection_map_set_bins(f->map, bins, N_BINS, 1000);
}

static void map_teardown(MapFixture *f, gconstpointer data)
{
    destroy_window(f->win);
}

static void test_map_heat(MapFixture *f, gconstpointer data)
{
    g_assert_cmpstr(gtk_widget_get_css_name(GTK_WIDGET(f->map)), ==, "selectionmap");
    cairo_surface_t *s = render(GTK_WIDGET(f->map));
    int mid = BIN_W / 2, bottom = f->h - 2;
    /* The heavy bin's bar is the top of the ramp; its top band keeps its source's colour. */
    assert_heat(pixel(s, HOT * BIN_W + mid, bottom), 1.0, 2);
    guint32 cold = pixel(s, 4 * BIN_W + mid, bottom); /* source 1, nothing selected */
    g_assert_cmphex(cold, ==, pixel(s, 4 * BIN_W + mid, 1));
    g_assert_cmphex(pixel(s, HOT * BIN_W + mid, 1), ==, cold);
    g_assert_cmphex(pixel(s, 2 * BIN_W + mid, bottom), ==, cold);
    /* Another source has another colour; the prompt's words are neutral grey. */
    guint32 other = pixel(s, 8 * BIN_W + mid, bottom), prompt = pixel(s, mid, bottom);
    g_assert_cmphex(other, !=, cold);
    g_assert_cmpuint(A(prompt), ==, 0xff);
    g_assert_true(R(prompt) == G(prompt) && G(prompt) == B(prompt));
    g_assert_cmphex(prompt, !=, cold);
    cairo_surface_destroy(s);
}

static void test_map_boundaries(MapFixture *f, gconstpointer data)
{
    cairo_surface_t *s = render(GTK_WIDGET(f->map));
    /* Lines where the prompt ends (bin 2) and source 2 begins (bin 6), none inside a source. */
    for (int i = 1; i < N_BINS; i++) {
        int x = i * BIN_W;
        guint32 at = pixel(s, x, 2), left = pixel(s, x - 1, 2), right = pixel(s, x + 1, 2);
        if (i == 2 || i == 6) {
            g_assert_cmpint(luma(at), <, luma(left) - 40);
            g_assert_cmpint(luma(at), <, luma(right) - 40);
        } else {
            g_assert_cmphex(at, ==, right);
        }
    }
    cairo_surface_destroy(s);
}

static void on_activated(SlSelectionMap *map, guint source, int page, guint64 position,
                         MapFixture *f)
{
    f->activations++;
    f->source = source, f->page = page, f->position = position;
}

static GtkGesture *find_click(GtkWidget *w)
{
    GListModel *controllers = gtk_widget_observe_controllers(w);
    GtkGesture *click = NULL;
    for (guint i = 0; i < g_list_model_get_n_items(controllers) && !click; i++) {
        GObject *c = g_list_model_get_item(controllers, i);
        if (GTK_IS_GESTURE_CLICK(c))
            click = GTK_GESTURE(c);
        g_object_unref(c);
    }
    g_object_unref(controllers);
    g_assert_nonnull(click);
    return click;
}

static void test_map_click(MapFixture *f, gconstpointer data)
{
    g_signal_connect(f->map, "position-activated", G_CALLBACK(on_activated), f);
    GtkGesture *click = find_click(GTK_WIDGET(f->map));
    g_signal_emit_by_name(click, "released", 1, (double)(6 * BIN_W + 10), 10.0);
    g_assert_cmpuint(f->activations, ==, 1);
    g_assert_cmpuint(f->source, ==, 2);
    g_assert_cmpint(f->page, ==, 3);
    g_assert_cmpuint(f->position, ==, 600);
    g_signal_emit_by_name(click, "released", 1, (double)(HOT * BIN_W + BIN_W - 1), 10.0);
    g_assert_cmpuint(f->activations, ==, 2);
    g_assert_cmpuint(f->source, ==, 1);
    g_assert_cmpint(f->page, ==, 1);
    g_assert_cmpuint(f->position, ==, 300);
    g_signal_emit_by_name(click, "released", 1, (double)MAP_W + 5, 10.0); /* off the bins */
    g_assert_cmpuint(f->activations, ==, 2);
    g_assert_cmpint(sl_selection_map_bin_at(f->map, 0), ==, 0);
    g_assert_cmpint(sl_selection_map_bin_at(f->map, MAP_W - 1), ==, N_BINS - 1);
}

static void test_map_log_scale(MapFixture *f, gconstpointer data)
{
    GtkWidget *w = GTK_WIDGET(f->map);
    cairo_surface_t *linear = render(w);
    g_object_set(f->map, "log-scale", TRUE, NULL);
    g_assert_true(sl_selection_map_get_log_scale(f->map));
    cairo_surface_t *logs = render(w);
    /* The light bin (a hundredth of the heaviest) is lifted; the heaviest stays the same. */
    int x0 = LIGHT * BIN_W + 1, x1 = (LIGHT + 1) * BIN_W - 1;
    g_assert_cmpuint(count_differing(linear, logs, x0, 0, x1, f->h), >, 0);
    g_assert_cmpuint(count_differing(linear, logs, HOT * BIN_W, 0, (HOT + 1) * BIN_W, f->h), ==,
                     0);
    /* Its bar is taller on the log scale: count heat-coloured rows above the bottom. */
    int mid = LIGHT * BIN_W + BIN_W / 2, top = pixel(linear, mid, 1);
    int hl = 0, hg = 0;
    for (int y = 0; y < f->h; y++) {
        hl += (int)pixel(linear, mid, y) != top;
        hg += (int)pixel(logs, mid, y) != top;
    }
    g_assert_cmpint(hl, >=, 1);
    g_assert_cmpint(hg, >, hl);
    cairo_surface_destroy(linear);
    cairo_surface_destroy(logs);
}

static void test_map_marker(MapFixture *f, gconstpointer data)
{
    GtkWidget *w = GTK_WIDGET(f->map);
    cairo_surface_t *plain = render(w);
    sl_selection_map_set_marker(f->map, 500);
    cairo_surface_t *marked = render(w);
    g_assert_cmpuint(count_differing(plain, marked, 398, 0, 402, f->h), >=, f->h);
    g_assert_cmpuint(count_differing(plain, marked, 0, 0, 396, f->h), ==, 0);
    g_assert_cmpuint(count_differing(plain, marked, 403, 0, MAP_W, f->h), ==, 0);
    sl_selection_map_set_marker(f->map, -1);
    cairo_surface_t *cleared = render(w);
    g_assert_cmpuint(count_differing(plain, cleared, 0, 0, MAP_W, f->h), ==, 0);
    cairo_surface_destroy(plain);
    cairo_surface_destroy(marked);
    cairo_surface_destroy(cleared);
}

static void test_map_text(MapFixture *f, gconstpointer data)
{
    g_autofree char *hot = sl_selection_map_describe_at(f->map, HOT * BIN_W + 5);
    g_assert_cmpstr(hot, ==, "Source 1, p. 1 · 99% of the selections");
    g_autofree char *light = sl_selection_map_describe_at(f->map, LIGHT * BIN_W + 5);
    g_assert_cmpstr(light, ==, "Source 2, p. 4 · 1% of the selections");
    g_autofree char *prompt = sl_selection_map_describe_at(f->map, 5);
    g_assert_cmpstr(prompt, ==, "The prompt’s own words · 0% of the selections");
    g_assert_null(sl_selection_map_describe_at(f->map, -1));
    GtkAccessible *a = GTK_ACCESSIBLE(f->map);
    gtk_test_accessible_assert_role(a, GTK_ACCESSIBLE_ROLE_IMG);
    gtk_test_accessible_assert_property(a, GTK_ACCESSIBLE_PROPERTY_LABEL,
                                        "Where the model looked, over the whole context");
    /* Through a variable: the macro pastes its text into a printf format, where % breaks. */
    const char *want = "Most selections fell on source 1 (99%), source 2 (1%)";
    gtk_test_accessible_assert_property(a, GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, want);
}

static void test_map_empty(MapFixture *f, gconstpointer data)
{
    GtkWidget *w = GTK_WIDGET(f->map);
    g_signal_connect(f->map, "position-activated", G_CALLBACK(on_activated), f);
    sl_selection_map_set_marker(f->map, 10);
    sl_selection_map_clear(f->map);
    g_assert_cmpuint(sl_selection_map_get_n_bins(f->map), ==, 0);
    GtkSnapshot *s = gtk_snapshot_new();
    GTK_WIDGET_GET_CLASS(w)->snapshot(w, s);
    GskRenderNode *node = gtk_snapshot_free_to_node(s);
    g_assert_null(node); /* nothing drawn at all */
    cairo_surface_t *img = render(w);
    cairo_surface_t *blank = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, MAP_W, f->h);
    g_assert_cmpuint(count_differing(img, blank, 0, 0, MAP_W, f->h), ==, 0);
    g_assert_cmpint(sl_selection_map_bin_at(f->map, 10), ==, -1);
    g_assert_null(sl_selection_map_describe_at(f->map, 10));
    g_signal_emit_by_name(find_click(w), "released", 1, 10.0, 10.0);
    g_assert_cmpuint(f->activations, ==, 0);
    /* Also from the start, and with no positions at all. */
    sl_selection_map_set_bins(f->map, NULL, 0, 0);
    SlContextBin one = {0, 3, 7, 1.0};
    sl_selection_map_set_bins(f->map, &one, 1, 0); /* a context shorter than its bins */
    cairo_surface_t *single = render(w);
    assert_heat(pixel(single, MAP_W / 2, f->h - 2), 1.0, 2);
    cairo_surface_destroy(single);
    cairo_surface_destroy(img);
    cairo_surface_destroy(blank);
}

/* Many more bins than pixels: nodes stay bounded by the width, the heaviest still shows. */
static void test_map_many_bins(MapFixture *f, gconstpointer data)
{
    enum { N = 100000 };
    SlContextBin *bins = g_new0(SlContextBin, N);
    for (guint i = 0; i < N; i++)
        bins[i] = (SlContextBin){i, 1 + i / 30000, 1, i == 54321 ? 5.0 : 0.0};
    sl_selection_map_set_bins(f->map, bins, N, N);
    GtkWidget *w = GTK_WIDGET(f->map);
    GtkSnapshot *s = gtk_snapshot_new();
    GTK_WIDGET_GET_CLASS(w)->snapshot(w, s);
    GskRenderNode *node = gtk_snapshot_free_to_node(s);
    g_assert_cmpint(gsk_render_node_get_node_type(node), ==, GSK_CONTAINER_NODE);
    g_assert_cmpuint(gsk_container_node_get_n_children(node), <, 16);
    gsk_render_node_unref(node);
    cairo_surface_t *img = render(w);
    int x = (int)lround(54321.0 * MAP_W / N); /* columns start at the nearest pixel edge */
    assert_heat(pixel(img, x, f->h - 2), 1.0, 2);
    cairo_surface_destroy(img);
    g_free(bins);
}

/* ---- SlSelectionInspector ---- */

#define LAYERS 4
#define BINS 8
#define MAX_LAYER 1
#define MAX_BIN 5
#define EMPTY_LAYER 2

typedef struct {
    GtkWidget *win;
    SlSelectionInspector *insp;
    float cells[LAYERS * BINS];
    guint64 distances[32];
    SlInspection in;
} InspFixture;

/* Layer 0 rises 1..8 over the context, layer 1 has the one heavy cell, layer 2 nothing,
 * layer 3 a flat 10; distances: 5, 20, 50, 10 votes in buckets 0..3. */
static void insp_setup(InspFixture *f, gconstpointer data)
{
    for (int b = 0; b < BINS; b++) {
        f->cells[0 * BINS + b] = (float)(b + 1);
        f->cells[1 * BINS + b] = b == MAX_BIN ? 100 : 2;
        f->cells[2 * BINS + b] = 0;
        f->cells[3 * BINS + b] = 10;
    }
    memset(f->distances, 0, sizeof f->distances);
    f->distances[0] = 5, f->distances[1] = 20, f->distances[2] = 50, f->distances[3] = 10;
    f->in = (SlInspection){LAYERS, BINS, 8192, f->cells, 32, f->distances};
    f->insp = SL_SELECTION_INSPECTOR(sl_selection_inspector_new());
    sl_selection_inspector_set(f->insp, &f->in);
    f->win = show_in_window(GTK_WIDGET(f->insp), GTK_WIDGET(f->insp), 640, 420);
}

static void insp_teardown(InspFixture *f, gconstpointer data)
{
    destroy_window(f->win);
}

static void cell_centre(InspFixture *f, int layer, guint bin, int *x, int *y)
{
    graphene_rect_t r;
    g_assert_true(sl_selection_inspector_get_cell_rect(f->insp, layer, bin, &r));
    g_assert_cmpfloat(r.size.width, >=, 4);
    g_assert_cmpfloat(r.size.height, >=, 4);
    *x = (int)(r.origin.x + r.size.width / 2), *y = (int)(r.origin.y + r.size.height / 2);
}

static void test_insp_map(InspFixture *f, gconstpointer data)
{
    g_assert_cmpstr(gtk_widget_get_css_name(GTK_WIDGET(f->insp)), ==, "selectioninspector");
    cairo_surface_t *s = render(GTK_WIDGET(f->insp));
    int x, y;
    cell_centre(f, MAX_LAYER, MAX_BIN, &x, &y);
    assert_heat(pixel(s, x, y), 1.0, 2);
    /* Every other non-empty cell is lighter (the ramp darkens as it heats). */
    guint32 hottest = pixel(s, x, y);
    for (int l = 0; l < LAYERS; l++)
        for (guint b = 0; b < BINS; b++) {
            if (l == EMPTY_LAYER || (l == MAX_LAYER && b == MAX_BIN))
                continue;
            cell_centre(f, l, b, &x, &y);
            guint32 p = pixel(s, x, y);
            g_assert_cmpuint(A(p), ==, 0xff);
            g_assert_cmpint(luma(p), >, luma(hottest));
        }
    /* The empty row is the neutral background only: translucent, the same everywhere. */
    cell_centre(f, EMPTY_LAYER, 0, &x, &y);
    guint32 neutral = pixel(s, x, y);
    g_assert_cmpuint(A(neutral), <, 0x40);
    for (guint b = 0; b < BINS; b++) {
        cell_centre(f, EMPTY_LAYER, b, &x, &y);
        g_assert_cmphex(pixel(s, x, y), ==, neutral);
    }
    /* Rows go down by layer, columns right by bin. */
    graphene_rect_t a, b;
    g_assert_true(sl_selection_inspector_get_cell_rect(f->insp, 0, 0, &a));
    g_assert_true(sl_selection_inspector_get_cell_rect(f->insp, 3, 7, &b));
    g_assert_cmpfloat(b.origin.y, >, a.origin.y);
    g_assert_cmpfloat(b.origin.x, >, a.origin.x);
    g_assert_false(sl_selection_inspector_get_cell_rect(f->insp, LAYERS, 0, &a));
    cairo_surface_destroy(s);
}

static void test_insp_log_scale(InspFixture *f, gconstpointer data)
{
    GtkWidget *w = GTK_WIDGET(f->insp);
    cairo_surface_t *linear = render(w);
    g_object_set(f->insp, "log-scale", TRUE, NULL);
    cairo_surface_t *logs = render(w);
    int x, y;
    cell_centre(f, 0, 0, &x, &y); /* a hundredth of the heaviest */
    assert_heat(pixel(linear, x, y), 0.01, 2);
    assert_heat(pixel(logs, x, y), sl_heat_normalise(1, 100, TRUE), 2);
    cell_centre(f, MAX_LAYER, MAX_BIN, &x, &y);
    g_assert_cmphex(pixel(linear, x, y), ==, pixel(logs, x, y));
    cairo_surface_destroy(linear);
    cairo_surface_destroy(logs);
}

/* The bar's height in pixels, counted up its middle from the axis. */
static int measured_bar(cairo_surface_t *s, const graphene_rect_t *r)
{
    int x = (int)(r->origin.x + r->size.width / 2);
    int bottom = (int)lround(r->origin.y + r->size.height);
    int h = 0;
    for (int y = bottom - 1; y >= 0 && A(pixel(s, x, y)) == 0xff; y--)
        h++;
    return h;
}

static void test_insp_histogram(InspFixture *f, gconstpointer data)
{
    cairo_surface_t *s = render(GTK_WIDGET(f->insp));
    int h[4];
    for (guint b = 0; b < 4; b++) {
        graphene_rect_t r;
        g_assert_true(sl_selection_inspector_get_bar_rect(f->insp, b, &r));
        h[b] = measured_bar(s, &r);
        g_assert_cmpint(abs(h[b] - (int)lround(r.size.height)), <=, 1);
    }
    /* Votes 5, 20, 50, 10: heights in the same order, the tallest 2.5 times bucket 1's. */
    g_assert_cmpint(h[2], >, h[1]);
    g_assert_cmpint(h[1], >, h[3]);
    g_assert_cmpint(h[3], >, h[0]);
    g_assert_cmpint(h[0], >, 0);
    g_assert_cmpfloat(fabs((double)h[2] / h[1] - 2.5), <, 0.1);
    /* Nothing past the last non-empty bucket. */
    graphene_rect_t r;
    g_assert_false(sl_selection_inspector_get_bar_rect(f->insp, 4, &r));
    cairo_surface_destroy(s);
}

static void test_insp_text(InspFixture *f, gconstpointer data)
{
    GtkAccessible *a = GTK_ACCESSIBLE(f->insp);
    gtk_test_accessible_assert_role(a, GTK_ACCESSIBLE_ROLE_IMG);
    gtk_test_accessible_assert_property(a, GTK_ACCESSIBLE_PROPERTY_LABEL,
                                        "Selections by layer and by distance from the token");
    /* Half of the 85 votes lie in buckets 0..2, distances under 7. */
    gtk_test_accessible_assert_property(
        a, GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
        "4 layers over 8,192 positions; most selections within 7 tokens");
    int x, y;
    cell_centre(f, MAX_LAYER, MAX_BIN, &x, &y);
    g_autofree char *tip = sl_selection_inspector_describe_at(f->insp, x, y);
    g_assert_cmpstr(tip, ==, "layer 1, positions 5,120–6,143: 100 selections");
    cell_centre(f, EMPTY_LAYER, 0, &x, &y);
    g_autofree char *empty = sl_selection_inspector_describe_at(f->insp, x, y);
    g_assert_cmpstr(empty, ==, "layer 2, positions 0–1,023: 0 selections");
    g_assert_null(sl_selection_inspector_describe_at(f->insp, 1, 1));
    /* Title properties. */
    g_object_set(f->insp, "selector", "oracle", "token", 12, NULL);
    g_assert_cmpstr(sl_selection_inspector_get_selector(f->insp), ==, "oracle");
    g_assert_cmpint(sl_selection_inspector_get_token(f->insp), ==, 12);
    cairo_surface_t *s = render(GTK_WIDGET(f->insp));
    cairo_surface_destroy(s);
}

static void test_insp_empty(InspFixture *f, gconstpointer data)
{
    GtkWidget *w = GTK_WIDGET(f->insp);
    sl_selection_inspector_clear(f->insp);
    GtkSnapshot *s = gtk_snapshot_new();
    GTK_WIDGET_GET_CLASS(w)->snapshot(w, s);
    g_assert_null(gtk_snapshot_free_to_node(s));
    g_assert_null(sl_selection_inspector_describe_at(f->insp, 100, 100));
    graphene_rect_t r;
    g_assert_false(sl_selection_inspector_get_cell_rect(f->insp, 0, 0, &r));
    /* No votes at all: an axis without bars, and a description that says so. */
    memset(f->cells, 0, sizeof f->cells);
    memset(f->distances, 0, sizeof f->distances);
    sl_selection_inspector_set(f->insp, &f->in);
    gtk_test_accessible_assert_property(GTK_ACCESSIBLE(f->insp),
                                        GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                        "4 layers over 8,192 positions; no selections");
    cairo_surface_t *img = render(w);
    g_assert_true(sl_selection_inspector_get_bar_rect(f->insp, 0, &r));
    g_assert_cmpfloat(r.size.height, ==, 0);
    cairo_surface_destroy(img);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    adw_init();
#define MAP(name, fn) g_test_add(name, MapFixture, NULL, map_setup, fn, map_teardown)
    MAP("/ui/selection-map/heat", test_map_heat);
    MAP("/ui/selection-map/boundaries", test_map_boundaries);
    MAP("/ui/selection-map/click", test_map_click);
    MAP("/ui/selection-map/log-scale", test_map_log_scale);
    MAP("/ui/selection-map/marker", test_map_marker);
    MAP("/ui/selection-map/text", test_map_text);
    MAP("/ui/selection-map/empty", test_map_empty);
    MAP("/ui/selection-map/many-bins", test_map_many_bins);
#define INSP(name, fn) g_test_add(name, InspFixture, NULL, insp_setup, fn, insp_teardown)
    INSP("/ui/selection-inspector/map", test_insp_map);
    INSP("/ui/selection-inspector/log-scale", test_insp_log_scale);
    INSP("/ui/selection-inspector/histogram", test_insp_histogram);
    INSP("/ui/selection-inspector/text", test_insp_text);
    INSP("/ui/selection-inspector/empty", test_insp_empty);
    return g_test_run();
}
