/* pdf-page.c: SlPdfPage (pdf-page.h).
 *
 * The page is rendered by poppler once per page, zoom and device scale into a texture (the
 * cache below) and drawn with GSK nodes over it: heat as one translucent rounded rectangle per
 * run of neighbouring characters of one line and one colour, a highlight as one outline
 * around its lines.
 * Nothing is a widget per token, and the heat scales with the zoom without re-rendering.
 *
 * Rendering runs on the main thread: a PopplerDocument may not be used from two threads at
 * once, and other views read the same document, so moving it off would need a lock shared
 * with them (Papers wraps its backend in one). A page renders in tens of milliseconds. */
#include "pdf-page.h"

#include <glib/gi18n-lib.h>
#include <math.h>

/* Bound on the texture (64 MiB at 4 bytes a pixel, and GL's usual side limit): beyond it
 * the page is rendered at a lower resolution and scaled up rather than exhausting memory. */
#define MAX_TEXTURE_PIXELS (16.0 * 1024 * 1024)
#define MAX_TEXTURE_SIDE 16384.0
/* Characters of one run share a colour at this quantisation of their normalised weight. */
#define HEAT_LEVELS 16

typedef struct {
    graphene_rect_t r; /* points */
    float weight;      /* the largest of its characters */
} HeatRun;

struct _SlPdfPage {
    GtkWidget parent_instance;

    PopplerPage *page;
    double zoom;
    SlHeatScale heat_scale;

    /* The rendered page; valid while page and px_per_pt are those asked for. */
    struct {
        GdkTexture *texture;
        PopplerPage *page;
        double px_per_pt;
    } cache;

    float *heat_boxes; /* 4 per character, copied */
    float *heat_weights;
    gsize n_heat;
    float heat_max;
    GArray *heat_runs; /* HeatRun; NULL until needed again (new heat or scale) */

    GArray *highlight; /* graphene_rect_t in points, one per line */
};

enum { PROP_0, PROP_PAGE, PROP_ZOOM, PROP_HEAT_SCALE, N_PROPS };
static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE(SlPdfPage, sl_pdf_page, GTK_TYPE_WIDGET)

static gboolean box_valid(const float *b)
{
    return b[2] > b[0] && b[3] > b[1];
}

static void cache_clear(SlPdfPage *self)
{
    g_clear_object(&self->cache.texture);
    self->cache.page = NULL;
    self->cache.px_per_pt = 0;
}

static GdkTexture *render_page(PopplerPage *page, double px_per_pt)
{
    double w_pt, h_pt;
    poppler_page_get_size(page, &w_pt, &h_pt);
    int w = MAX(1, (int)ceil(w_pt * px_per_pt));
    int h = MAX(1, (int)ceil(h_pt * px_per_pt));
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return NULL;
    }
    cairo_t *cr = cairo_create(s);
    /* PDFs assume paper: transparent areas are white. */
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, px_per_pt, px_per_pt);
    poppler_page_render(page, cr);
    cairo_destroy(cr);
    cairo_surface_flush(s);

    int stride = cairo_image_surface_get_stride(s);
    /* The texture keeps the surface's pixels alive instead of copying them. */
    GBytes *bytes = g_bytes_new_with_free_func(cairo_image_surface_get_data(s),
                                               (gsize)stride * (gsize)h,
                                               (GDestroyNotify)cairo_surface_destroy, s);
    GdkTexture *t = gdk_memory_texture_new(w, h, GDK_MEMORY_DEFAULT, bytes, (gsize)stride);
    g_bytes_unref(bytes);
    return t;
}

static double device_scale(GtkWidget *widget)
{
#if GTK_CHECK_VERSION(4, 12, 0)
    /* Fractional scales render sharp only at the surface's own scale. */
    GtkNative *native = gtk_widget_get_native(widget);
    GdkSurface *surface = native ? gtk_native_get_surface(native) : NULL;
    if (surface)
        return gdk_surface_get_scale(surface);
#endif
    return gtk_widget_get_scale_factor(widget);
}

static GdkTexture *ensure_texture(SlPdfPage *self, double scale)
{
    double w_pt, h_pt;
    poppler_page_get_size(self->page, &w_pt, &h_pt);
    double p = self->zoom * scale;
    if (w_pt * h_pt * p * p > MAX_TEXTURE_PIXELS)
        p = sqrt(MAX_TEXTURE_PIXELS / (w_pt * h_pt));
    p = MIN(p, MAX_TEXTURE_SIDE / MAX(MAX(w_pt, h_pt), 1.0));
    if (self->cache.texture && self->cache.page == self->page && self->cache.px_per_pt == p)
        return self->cache.texture;
    cache_clear(self);
    self->cache.texture = render_page(self->page, p);
    self->cache.page = self->page;
    self->cache.px_per_pt = p;
    return self->cache.texture;
}

static int heat_level(const SlPdfPage *self, float w)
{
    double t = sl_heat_normalise(w, self->heat_max, self->heat_scale == SL_HEAT_SCALE_LOG);
    return (int)(t * HEAT_LEVELS);
}

/* Whether box b lies on the line of rectangle r: they overlap by half the smaller height. */
static gboolean same_line(const graphene_rect_t *r, const float *b)
{
    float top = MAX(r->origin.y, b[1]);
    float bottom = MIN(r->origin.y + r->size.height, b[3]);
    return bottom - top >= 0.5f * MIN(r->size.height, b[3] - b[1]);
}

static void rect_union_box(graphene_rect_t *r, const float *b)
{
    graphene_rect_t br = GRAPHENE_RECT_INIT(b[0], b[1], b[2] - b[0], b[3] - b[1]);
    graphene_rect_union(r, &br, r);
}

/* Runs of characters in reading order that touch on one line and share a colour level; the
 * gap allowed (half the line's height) bridges the spaces between words. */
static GArray *build_runs(const SlPdfPage *self)
{
    GArray *runs = g_array_new(FALSE, FALSE, sizeof(HeatRun));
    HeatRun *cur = NULL;
    int cur_level = -1;
    for (gsize i = 0; i < self->n_heat; i++) {
        const float *b = self->heat_boxes + 4 * i;
        float w = self->heat_weights[i];
        if (!(w > 0) || !box_valid(b))
            continue;
        int level = heat_level(self, w);
        float right = cur ? cur->r.origin.x + cur->r.size.width : 0;
        if (cur && level == cur_level && same_line(&cur->r, b) &&
            b[0] >= cur->r.origin.x - 1 && b[0] - right <= 0.5f * cur->r.size.height) {
            rect_union_box(&cur->r, b);
            cur->weight = MAX(cur->weight, w);
            continue;
        }
        HeatRun run = {GRAPHENE_RECT_INIT(b[0], b[1], b[2] - b[0], b[3] - b[1]), w};
        g_array_append_val(runs, run);
        cur = &g_array_index(runs, HeatRun, runs->len - 1);
        cur_level = level;
    }
    return runs;
}

static void scale_rect(const graphene_rect_t *pt, double zoom, graphene_rect_t *out)
{
    graphene_rect_init(out, (float)(pt->origin.x * zoom), (float)(pt->origin.y * zoom),
                       (float)(pt->size.width * zoom), (float)(pt->size.height * zoom));
}

static void snapshot_heat(SlPdfPage *self, GtkSnapshot *snapshot)
{
    if (self->n_heat == 0)
        return;
    if (!self->heat_runs)
        self->heat_runs = build_runs(self);
    gboolean log_scale = self->heat_scale == SL_HEAT_SCALE_LOG;
    for (guint i = 0; i < self->heat_runs->len; i++) {
        const HeatRun *run = &g_array_index(self->heat_runs, HeatRun, i);
        graphene_rect_t r;
        scale_rect(&run->r, self->zoom, &r);
        graphene_rect_inset(&r, -1, -1); /* a hair of margin around the glyphs */
        GskRoundedRect rr;
        gsk_rounded_rect_init_from_rect(&rr, &r, MIN(3.0f, r.size.height / 4));
        GdkRGBA color;
        sl_heat_color(sl_heat_normalise(run->weight, self->heat_max, log_scale), &color);
        gtk_snapshot_push_rounded_clip(snapshot, &rr);
        gtk_snapshot_append_color(snapshot, &color, &r);
        gtk_snapshot_pop(snapshot);
    }
}

static void accent_color(GtkWidget *widget, GdkRGBA *color)
{
    /* libadwaita's accent; GTK 4.8 has no other public way to read a named colour. */
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    GtkStyleContext *ctx = gtk_widget_get_style_context(widget);
    if (!gtk_style_context_lookup_color(ctx, "accent_color", color))
        gdk_rgba_parse(color, "#3584e4");
    G_GNUC_END_IGNORE_DEPRECATIONS
}

/* One outline around the highlighted passage: the union of its lines' rectangles, each
 * stretched to meet the next line when they are close (within a line's height), so that a
 * passage of many lines is one shape and one cairo node rather than a border per line.
 * The union's band is drawn as all lines' outer rectangles (3 px outside the characters)
 * filled, less all their inner ones (1 px outside) cleared: what remains is a 2 px band
 * around the whole, with no lines between the passage's own lines. */
static void snapshot_highlight(SlPdfPage *self, GtkSnapshot *snapshot)
{
    if (!self->highlight || self->highlight->len == 0)
        return;
    guint n = self->highlight->len;
    g_autofree graphene_rect_t *r = g_new(graphene_rect_t, n);
    for (guint i = 0; i < n; i++)
        scale_rect(&g_array_index(self->highlight, graphene_rect_t, i), self->zoom, &r[i]);
    for (guint i = 0; i + 1 < n; i++) {
        graphene_rect_t *a = &r[i], *b = &r[i + 1];
        float a_bottom = a->origin.y + a->size.height, gap = b->origin.y - a_bottom;
        gboolean overlap = b->origin.x < a->origin.x + a->size.width &&
                           a->origin.x < b->origin.x + b->size.width;
        if (gap > 0 && overlap && gap <= MAX(a->size.height, b->size.height)) {
            float mid = a_bottom + gap / 2;
            a->size.height = mid - a->origin.y;
            b->size.height += b->origin.y - mid;
            b->origin.y = mid;
        }
    }
    graphene_rect_t bounds = r[0];
    for (guint i = 1; i < n; i++)
        graphene_rect_union(&bounds, &r[i], &bounds);
    graphene_rect_inset(&bounds, -4, -4);
    GdkRGBA c;
    accent_color(GTK_WIDGET(self), &c);
    cairo_t *cr = gtk_snapshot_append_cairo(snapshot, &bounds);
    cairo_push_group(cr);
    gdk_cairo_set_source_rgba(cr, &c);
    for (guint i = 0; i < n; i++)
        cairo_rectangle(cr, r[i].origin.x - 3, r[i].origin.y - 3, r[i].size.width + 6,
                        r[i].size.height + 6);
    cairo_fill(cr);
    cairo_set_operator(cr, CAIRO_OPERATOR_CLEAR);
    for (guint i = 0; i < n; i++)
        cairo_rectangle(cr, r[i].origin.x - 1, r[i].origin.y - 1, r[i].size.width + 2,
                        r[i].size.height + 2);
    cairo_fill(cr);
    cairo_pop_group_to_source(cr);
    cairo_paint(cr);
    cairo_destroy(cr);
}

static void sl_pdf_page_snapshot(GtkWidget *widget, GtkSnapshot *snapshot)
{
    SlPdfPage *self = SL_PDF_PAGE(widget);
    if (!self->page)
        return;
    double w_pt, h_pt;
    poppler_page_get_size(self->page, &w_pt, &h_pt);
    graphene_rect_t bounds =
        GRAPHENE_RECT_INIT(0, 0, (float)(w_pt * self->zoom), (float)(h_pt * self->zoom));
    GdkTexture *texture = ensure_texture(self, device_scale(widget));
    if (texture) {
        gtk_snapshot_append_texture(snapshot, texture, &bounds);
    } else {
        const GdkRGBA white = {1, 1, 1, 1};
        gtk_snapshot_append_color(snapshot, &white, &bounds);
    }
    snapshot_heat(self, snapshot);
    snapshot_highlight(self, snapshot);
}

static void sl_pdf_page_measure(GtkWidget *widget, GtkOrientation orientation, int for_size,
                                int *minimum, int *natural, int *minimum_baseline,
                                int *natural_baseline)
{
    SlPdfPage *self = SL_PDF_PAGE(widget);
    double w_pt = 0, h_pt = 0;
    if (self->page)
        poppler_page_get_size(self->page, &w_pt, &h_pt);
    double pt = orientation == GTK_ORIENTATION_HORIZONTAL ? w_pt : h_pt;
    /* Never squeezed: the heat and hit tests assume the page drawn at exactly the zoom. */
    *minimum = *natural = (int)ceil(pt * self->zoom);
}

static void update_label(SlPdfPage *self)
{
    if (!self->page) {
        gtk_accessible_reset_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL);
        return;
    }
    g_autofree char *label = g_strdup_printf(_("Page %d"), poppler_page_get_index(self->page) + 1);
    gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
}

/* Screen readers cannot see the heat: say how many passages (runs of consecutive
 * characters with weight) the indexer selected on this page. */
static void update_description(SlPdfPage *self)
{
    guint passages = 0;
    for (gsize i = 0; i < self->n_heat; i++)
        if (self->heat_weights[i] > 0 && (i == 0 || !(self->heat_weights[i - 1] > 0)))
            passages++;
    if (passages == 0) {
        gtk_accessible_reset_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION);
        return;
    }
    g_autofree char *text = g_strdup_printf(
        g_dngettext(GETTEXT_PACKAGE, "selected by the indexer: %u passage",
                    "selected by the indexer: %u passages", passages),
        passages);
    gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, text,
                                   -1);
}

static void heat_free(SlPdfPage *self)
{
    g_clear_pointer(&self->heat_boxes, g_free);
    g_clear_pointer(&self->heat_weights, g_free);
    g_clear_pointer(&self->heat_runs, g_array_unref);
    self->n_heat = 0;
    self->heat_max = 0;
}

void sl_pdf_page_set_heat(SlPdfPage *self, const float *boxes, const float *weights,
                          gsize n_chars)
{
    g_return_if_fail(SL_IS_PDF_PAGE(self));
    g_return_if_fail(n_chars == 0 || (boxes != NULL && weights != NULL));
    heat_free(self);
    if (n_chars > 0) {
        self->heat_boxes = g_memdup2(boxes, 4 * n_chars * sizeof(float));
        self->heat_weights = g_memdup2(weights, n_chars * sizeof(float));
        self->n_heat = n_chars;
        for (gsize i = 0; i < n_chars; i++)
            if (weights[i] > self->heat_max) /* false for NaN */
                self->heat_max = weights[i];
    }
    update_description(self);
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

void sl_pdf_page_clear_heat(SlPdfPage *self)
{
    sl_pdf_page_set_heat(self, NULL, NULL, 0);
}

void sl_pdf_page_set_highlight(SlPdfPage *self, const float *boxes, gsize n)
{
    g_return_if_fail(SL_IS_PDF_PAGE(self));
    g_return_if_fail(n == 0 || boxes != NULL);
    g_clear_pointer(&self->highlight, g_array_unref);
    if (n > 0)
        self->highlight = g_array_new(FALSE, FALSE, sizeof(graphene_rect_t));
    graphene_rect_t *cur = NULL;
    for (gsize i = 0; i < n; i++) {
        const float *b = boxes + 4 * i;
        if (!box_valid(b))
            continue;
        if (cur && same_line(cur, b)) {
            rect_union_box(cur, b);
            continue;
        }
        graphene_rect_t r = GRAPHENE_RECT_INIT(b[0], b[1], b[2] - b[0], b[3] - b[1]);
        g_array_append_val(self->highlight, r);
        cur = &g_array_index(self->highlight, graphene_rect_t, self->highlight->len - 1);
    }
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

void sl_pdf_page_clear_highlight(SlPdfPage *self)
{
    sl_pdf_page_set_highlight(self, NULL, 0);
}

gboolean sl_pdf_page_char_at(SlPdfPage *self, double x, double y, const float *boxes, gsize n,
                             gsize *index)
{
    g_return_val_if_fail(SL_IS_PDF_PAGE(self), FALSE);
    g_return_val_if_fail(n == 0 || boxes != NULL, FALSE);
    double px = x / self->zoom, py = y / self->zoom;
    for (gsize i = 0; i < n; i++) {
        const float *b = boxes + 4 * i;
        if (box_valid(b) && px >= b[0] && px < b[2] && py >= b[1] && py < b[3]) {
            if (index)
                *index = i;
            return TRUE;
        }
    }
    return FALSE;
}

void sl_pdf_page_set_page(SlPdfPage *self, PopplerPage *page)
{
    g_return_if_fail(SL_IS_PDF_PAGE(self));
    g_return_if_fail(page == NULL || POPPLER_IS_PAGE(page));
    if (!g_set_object(&self->page, page))
        return;
    cache_clear(self);
    /* Heat and highlight belong to the old page's characters. */
    heat_free(self);
    g_clear_pointer(&self->highlight, g_array_unref);
    update_label(self);
    update_description(self);
    gtk_widget_queue_resize(GTK_WIDGET(self));
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_PAGE]);
}

PopplerPage *sl_pdf_page_get_page(SlPdfPage *self)
{
    g_return_val_if_fail(SL_IS_PDF_PAGE(self), NULL);
    return self->page;
}

void sl_pdf_page_set_zoom(SlPdfPage *self, double zoom)
{
    g_return_if_fail(SL_IS_PDF_PAGE(self));
    zoom = CLAMP(zoom, 0.1, 8.0);
    if (zoom == self->zoom)
        return;
    self->zoom = zoom; /* the cache notices the new resolution when it is drawn */
    gtk_widget_queue_resize(GTK_WIDGET(self));
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_ZOOM]);
}

double sl_pdf_page_get_zoom(SlPdfPage *self)
{
    g_return_val_if_fail(SL_IS_PDF_PAGE(self), 1.0);
    return self->zoom;
}

void sl_pdf_page_set_heat_scale(SlPdfPage *self, SlHeatScale scale)
{
    g_return_if_fail(SL_IS_PDF_PAGE(self));
    if (scale == self->heat_scale)
        return;
    self->heat_scale = scale;
    g_clear_pointer(&self->heat_runs, g_array_unref); /* colour levels change */
    gtk_widget_queue_draw(GTK_WIDGET(self));
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_HEAT_SCALE]);
}

SlHeatScale sl_pdf_page_get_heat_scale(SlPdfPage *self)
{
    g_return_val_if_fail(SL_IS_PDF_PAGE(self), SL_HEAT_SCALE_LINEAR);
    return self->heat_scale;
}

GtkWidget *sl_pdf_page_new(PopplerPage *page)
{
    return g_object_new(SL_TYPE_PDF_PAGE, "page", page, NULL);
}

static void sl_pdf_page_get_property(GObject *object, guint prop_id, GValue *value,
                                     GParamSpec *pspec)
{
    SlPdfPage *self = SL_PDF_PAGE(object);
    switch (prop_id) {
    case PROP_PAGE: g_value_set_object(value, self->page); break;
    case PROP_ZOOM: g_value_set_double(value, self->zoom); break;
    case PROP_HEAT_SCALE: g_value_set_enum(value, (int)self->heat_scale); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void sl_pdf_page_set_property(GObject *object, guint prop_id, const GValue *value,
                                     GParamSpec *pspec)
{
    SlPdfPage *self = SL_PDF_PAGE(object);
    switch (prop_id) {
    case PROP_PAGE: sl_pdf_page_set_page(self, g_value_get_object(value)); break;
    case PROP_ZOOM: sl_pdf_page_set_zoom(self, g_value_get_double(value)); break;
    case PROP_HEAT_SCALE: sl_pdf_page_set_heat_scale(self, g_value_get_enum(value)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void sl_pdf_page_dispose(GObject *object)
{
    SlPdfPage *self = SL_PDF_PAGE(object);
    cache_clear(self);
    g_clear_object(&self->page);
    heat_free(self);
    g_clear_pointer(&self->highlight, g_array_unref);
    G_OBJECT_CLASS(sl_pdf_page_parent_class)->dispose(object);
}

static void sl_pdf_page_class_init(SlPdfPageClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

    object_class->get_property = sl_pdf_page_get_property;
    object_class->set_property = sl_pdf_page_set_property;
    object_class->dispose = sl_pdf_page_dispose;
    widget_class->snapshot = sl_pdf_page_snapshot;
    widget_class->measure = sl_pdf_page_measure;

    properties[PROP_PAGE] =
        g_param_spec_object("page", NULL, NULL, POPPLER_TYPE_PAGE,
                            G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
    properties[PROP_ZOOM] =
        g_param_spec_double("zoom", NULL, NULL, 0.1, 8.0, 1.0,
                            G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
    properties[PROP_HEAT_SCALE] =
        g_param_spec_enum("heat-scale", NULL, NULL, SL_TYPE_HEAT_SCALE, SL_HEAT_SCALE_LINEAR,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(object_class, N_PROPS, properties);

    /* The page's white and its shadow come from CSS (pdfpage in style.css). */
    gtk_widget_class_set_css_name(widget_class, "pdfpage");
    gtk_widget_class_set_accessible_role(widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void sl_pdf_page_init(SlPdfPage *self)
{
    self->zoom = 1.0;
    self->heat_scale = SL_HEAT_SCALE_LINEAR;
    /* Centred in any larger allocation, so that widget (0, 0) is the page's corner. */
    gtk_widget_set_halign(GTK_WIDGET(self), GTK_ALIGN_CENTER);
    gtk_widget_set_valign(GTK_WIDGET(self), GTK_ALIGN_START);
    gtk_widget_set_overflow(GTK_WIDGET(self), GTK_OVERFLOW_HIDDEN);
}
