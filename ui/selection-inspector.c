/* selection-inspector.c: SlSelectionInspector (selection-inspector.h).
 *
 * A bounded number of nodes whatever the data's size: the heat map is one cairo node that
 * scales an image of one pixel per cell with nearest-neighbour filtering (sharp cells, no
 * node per cell), the histogram one colour node per bucket (at most 64), and the text a
 * few Pango layouts. The geometry is computed in one place (compute_layout) for drawing,
 * tooltips and the rect getters alike. */
#include "selection-inspector.h"

#include "heat.h"

#include <glib/gi18n-lib.h>
#include <locale.h>
#include <math.h>
#include <string.h>

#define PAD 6.0
#define GAP 4.0
#define SECTION_GAP 12.0
/* Share of the height left after text that the heat map takes; the histogram has the rest. */
#define MAP_SHARE 0.62
#define NATURAL_MAP_HEIGHT 160
#define NATURAL_HIST_HEIGHT 80

struct _SlSelectionInspector {
    GtkWidget parent_instance;

    gboolean has_data;
    int n_layers;
    guint n_bins;
    gsize n_positions;
    float *cells; /* n_layers × n_bins, copied */
    double max_cell;
    guint n_buckets; /* shown: up to the last non-empty one */
    guint64 *distances;
    guint64 max_distance_votes, total_distance_votes;

    gboolean log_scale;
    char *selector;
    int token;

    cairo_surface_t *image; /* one pixel per cell; NULL until drawn again */
};

enum { PROP_0, PROP_LOG_SCALE, PROP_SELECTOR, PROP_TOKEN, N_PROPS };
static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE(SlSelectionInspector, sl_selection_inspector, GTK_TYPE_WIDGET)

typedef struct {
    double line;          /* a line of text */
    double label_w;       /* the layer labels' column */
    graphene_rect_t map;  /* the cells */
    graphene_rect_t hist; /* the bars' area */
} Layout;

/* 8192 → "8,192": the locale's grouping character, or a comma where it has none (C). */
static char *format_count(guint64 n)
{
    const char *sep = localeconv()->thousands_sep;
    if (!sep || !*sep)
        sep = ",";
    char digits[32];
    g_snprintf(digits, sizeof digits, "%" G_GUINT64_FORMAT, n);
    GString *s = g_string_new(NULL);
    gsize len = strlen(digits);
    for (gsize i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            g_string_append(s, sep);
        g_string_append_c(s, digits[i]);
    }
    return g_string_free(s, FALSE);
}

/* Short numbers for the histogram's axis: 6, 254, 2k, 131k. */
static char *format_short(guint64 n)
{
    if (n < 1000)
        return g_strdup_printf("%" G_GUINT64_FORMAT, n);
    return g_strdup_printf("%uk", (guint)((n + 512) / 1024));
}

/* Bucket b holds distances [2^b − 1, 2^(b+1) − 2] (app/looked.h). */
static guint64 bucket_low(guint b)
{
    return (G_GUINT64_CONSTANT(1) << b) - 1;
}

static guint64 bucket_high(guint b)
{
    return (G_GUINT64_CONSTANT(1) << (b + 1)) - 2;
}

static char *bucket_label(guint b)
{
    if (b == 0)
        return g_strdup("0");
    g_autofree char *lo = format_short(bucket_low(b));
    g_autofree char *hi = format_short(bucket_high(b));
    return g_strdup_printf("%s–%s", lo, hi);
}

static void foreground_color(GtkWidget *widget, GdkRGBA *color)
{
    /* GTK 4.8 has no gtk_widget_get_color(). */
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    gtk_style_context_get_color(gtk_widget_get_style_context(widget), color);
    G_GNUC_END_IGNORE_DEPRECATIONS
}

static void accent_color(GtkWidget *widget, GdkRGBA *color)
{
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    if (!gtk_style_context_lookup_color(gtk_widget_get_style_context(widget), "accent_color",
                                        color))
        gdk_rgba_parse(color, "#3584e4");
    G_GNUC_END_IGNORE_DEPRECATIONS
}

static char *layer_label(int layer)
{
    return g_strdup_printf(_("layer %d"), layer);
}

static void text_size(GtkWidget *widget, const char *text, int *w, int *h)
{
    PangoLayout *layout = gtk_widget_create_pango_layout(widget, text);
    pango_layout_get_pixel_size(layout, w, h);
    g_object_unref(layout);
}

/* Fixed heights: title, position labels, bucket labels and caption, paddings. */
static double fixed_height(double line)
{
    return PAD + line + GAP + line + SECTION_GAP + GAP + line + line + PAD;
}

static gboolean compute_layout(SlSelectionInspector *self, Layout *l)
{
    GtkWidget *widget = GTK_WIDGET(self);
    double w = gtk_widget_get_width(widget), h = gtk_widget_get_height(widget);
    if (!self->has_data || self->n_layers <= 0 || self->n_bins == 0)
        return FALSE;
    int lw, lh;
    g_autofree char *last = layer_label(self->n_layers - 1);
    text_size(widget, last, &lw, &lh);
    l->line = lh;
    l->label_w = lw;
    double rest = h - fixed_height(l->line);
    double x = PAD + l->label_w + GAP, width = w - x - PAD;
    if (rest < 2 || width < 1)
        return FALSE;
    double map_h = floor(rest * MAP_SHARE);
    graphene_rect_init(&l->map, (float)x, (float)(PAD + l->line + GAP), (float)width,
                       (float)map_h);
    double hist_y = l->map.origin.y + map_h + l->line + SECTION_GAP;
    graphene_rect_init(&l->hist, (float)x, (float)hist_y, (float)width, (float)(rest - map_h));
    return TRUE;
}

gboolean sl_selection_inspector_get_cell_rect(SlSelectionInspector *self, int layer, guint bin,
                                              graphene_rect_t *out)
{
    g_return_val_if_fail(SL_IS_SELECTION_INSPECTOR(self), FALSE);
    Layout l;
    if (!compute_layout(self, &l) || layer < 0 || layer >= self->n_layers ||
        bin >= self->n_bins)
        return FALSE;
    double cw = l.map.size.width / self->n_bins, ch = l.map.size.height / self->n_layers;
    graphene_rect_init(out, (float)(l.map.origin.x + bin * cw),
                       (float)(l.map.origin.y + layer * ch), (float)cw, (float)ch);
    return TRUE;
}

/* The bar's rect: its slot's middle 80 %, as high as its votes over the largest. */
static void bar_rect(const SlSelectionInspector *self, const Layout *l, guint b,
                     graphene_rect_t *out)
{
    double slot = l->hist.size.width / self->n_buckets;
    double t = self->max_distance_votes
        ? (double)self->distances[b] / (double)self->max_distance_votes : 0;
    double bar = t > 0 ? MAX(1.0, round(t * l->hist.size.height)) : 0;
    graphene_rect_init(out, (float)(l->hist.origin.x + b * slot + 0.1 * slot),
                       (float)(l->hist.origin.y + l->hist.size.height - bar), (float)(0.8 * slot),
                       (float)bar);
}

gboolean sl_selection_inspector_get_bar_rect(SlSelectionInspector *self, guint bucket,
                                             graphene_rect_t *out)
{
    g_return_val_if_fail(SL_IS_SELECTION_INSPECTOR(self), FALSE);
    Layout l;
    if (!compute_layout(self, &l) || bucket >= self->n_buckets)
        return FALSE;
    bar_rect(self, &l, bucket, out);
    return TRUE;
}

static void bin_positions(const SlSelectionInspector *self, guint bin, guint64 *first,
                          guint64 *last)
{
    *first = (guint64)bin * self->n_positions / self->n_bins;
    guint64 end = (guint64)(bin + 1) * self->n_positions / self->n_bins;
    *last = end > *first ? end - 1 : *first;
}

char *sl_selection_inspector_describe_at(SlSelectionInspector *self, double x, double y)
{
    g_return_val_if_fail(SL_IS_SELECTION_INSPECTOR(self), NULL);
    Layout l;
    if (!compute_layout(self, &l) || !graphene_rect_contains_point(&l.map, &GRAPHENE_POINT_INIT(
                                                                             (float)x, (float)y)))
        return NULL;
    guint bin = (guint)((x - l.map.origin.x) * self->n_bins / l.map.size.width);
    int layer = (int)((y - l.map.origin.y) * self->n_layers / l.map.size.height);
    bin = MIN(bin, self->n_bins - 1);
    layer = MIN(layer, self->n_layers - 1);
    guint64 first, last;
    bin_positions(self, bin, &first, &last);
    double v = self->cells[(gsize)layer * self->n_bins + bin];
    guint64 count = v > 0 ? (guint64)llround(v) : 0;
    g_autofree char *a = format_count(first), *b = format_count(last), *c = format_count(count);
    return g_strdup_printf(g_dngettext(GETTEXT_PACKAGE,
                                       "layer %d, positions %s–%s: %s selection",
                                       "layer %d, positions %s–%s: %s selections",
                                       (gulong)MIN(count, G_MAXULONG)),
                           layer, a, b, c);
}

/* One pixel per cell, premultiplied ARGB: the ramp's colour, opaque (a chart, not a tint over
 * text), or transparent for a cell nothing selected so that the neutral background shows. */
static cairo_surface_t *build_image(const SlSelectionInspector *self)
{
    cairo_surface_t *s =
        cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)self->n_bins, self->n_layers);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return NULL;
    }
    guint8 *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int layer = 0; layer < self->n_layers; layer++) {
        guint32 *row = (guint32 *)(gpointer)(data + (gsize)layer * (gsize)stride);
        const float *cells = self->cells + (gsize)layer * self->n_bins;
        for (guint b = 0; b < self->n_bins; b++) {
            double t = sl_heat_normalise(cells[b], self->max_cell, self->log_scale);
            GdkRGBA c;
            sl_heat_color(t, &c);
            row[b] = t > 0 ? 0xff000000u | (guint32)lround(c.red * 255) << 16 |
                                 (guint32)lround(c.green * 255) << 8 |
                                 (guint32)lround(c.blue * 255)
                           : 0;
        }
    }
    cairo_surface_mark_dirty(s);
    return s;
}

static void snapshot_map(SlSelectionInspector *self, GtkSnapshot *snapshot, const Layout *l)
{
    GdkRGBA neutral;
    foreground_color(GTK_WIDGET(self), &neutral);
    neutral.alpha *= 0.08f;
    gtk_snapshot_append_color(snapshot, &neutral, &l->map);
    if (!self->image)
        self->image = build_image(self);
    if (!self->image)
        return;
    cairo_t *cr = gtk_snapshot_append_cairo(snapshot, &l->map);
    cairo_translate(cr, l->map.origin.x, l->map.origin.y);
    cairo_scale(cr, l->map.size.width / self->n_bins, l->map.size.height / self->n_layers);
    cairo_set_source_surface(cr, self->image, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST); /* sharp cells */
    cairo_rectangle(cr, 0, 0, self->n_bins, self->n_layers);
    cairo_fill(cr);
    cairo_destroy(cr);
}

static void snapshot_bars(SlSelectionInspector *self, GtkSnapshot *snapshot, const Layout *l)
{
    GdkRGBA accent, base;
    accent_color(GTK_WIDGET(self), &accent);
    foreground_color(GTK_WIDGET(self), &base);
    base.alpha *= 0.25f;
    /* A baseline, so that empty buckets read as zero rather than as missing. */
    gtk_snapshot_append_color(snapshot, &base,
                              &GRAPHENE_RECT_INIT(l->hist.origin.x,
                                                  l->hist.origin.y + l->hist.size.height,
                                                  l->hist.size.width, 1));
    for (guint b = 0; b < self->n_buckets; b++) {
        graphene_rect_t r;
        bar_rect(self, l, b, &r);
        if (r.size.height > 0)
            gtk_snapshot_append_color(snapshot, &accent, &r);
    }
}

/* Text with its top-left at (x, y); align: 0 left, 0.5 centred, 1 right of x. */
static void draw_text(GtkWidget *widget, GtkSnapshot *snapshot, const char *text, double x,
                      double y, double align, const GdkRGBA *color)
{
    PangoLayout *layout = gtk_widget_create_pango_layout(widget, text);
    int w, h;
    pango_layout_get_pixel_size(layout, &w, &h);
    gtk_snapshot_save(snapshot);
    gtk_snapshot_translate(snapshot, &GRAPHENE_POINT_INIT((float)round(x - align * w), (float)y));
    gtk_snapshot_append_layout(snapshot, layout, color);
    gtk_snapshot_restore(snapshot);
    g_object_unref(layout);
}

static char *title_text(const SlSelectionInspector *self)
{
    const char *who = g_strcmp0(self->selector, "oracle") == 0 ? _("Selected by the oracle")
                                                                : _("Selected by the indexer");
    if (self->token < 0)
        return g_strdup(who);
    return g_strdup_printf(_("%s — token %d"), who, self->token);
}

static void snapshot_map_labels(SlSelectionInspector *self, GtkSnapshot *snapshot,
                                const Layout *l, const GdkRGBA *dim)
{
    GtkWidget *widget = GTK_WIDGET(self);
    const graphene_rect_t *m = &l->map;
    double right = m->origin.x - GAP, bottom = m->origin.y + m->size.height;
    g_autofree char *first = layer_label(0);
    draw_text(widget, snapshot, first, right, m->origin.y, 1, dim);
    if (self->n_layers > 1 && m->size.height >= 2 * l->line) {
        g_autofree char *last = layer_label(self->n_layers - 1);
        draw_text(widget, snapshot, last, right, bottom - l->line, 1, dim);
    }
    g_autofree char *n = format_count(self->n_positions);
    g_autofree char *end = g_strdup_printf(_("position %s"), n);
    draw_text(widget, snapshot, _("position 0"), m->origin.x, bottom, 0, dim);
    draw_text(widget, snapshot, end, m->origin.x + m->size.width, bottom, 1, dim);
}

static void snapshot_hist_labels(SlSelectionInspector *self, GtkSnapshot *snapshot,
                                 const Layout *l, const GdkRGBA *dim)
{
    GtkWidget *widget = GTK_WIDGET(self);
    double slot = l->hist.size.width / self->n_buckets;
    double y = l->hist.origin.y + l->hist.size.height + GAP;
    /* Every step-th label, so that the widest fits its share of the axis. */
    int widest = 0, h;
    for (guint b = 0; b < self->n_buckets; b++) {
        g_autofree char *text = bucket_label(b);
        int w;
        text_size(widget, text, &w, &h);
        widest = MAX(widest, w);
    }
    guint step = MAX(1u, (guint)ceil((widest + 6) / MAX(slot, 1.0)));
    for (guint b = 0; b < self->n_buckets; b += step) {
        g_autofree char *text = bucket_label(b);
        draw_text(widget, snapshot, text, l->hist.origin.x + (b + 0.5) * slot, y, 0.5, dim);
    }
    draw_text(widget, snapshot, _("distance from the token (tokens)"),
              l->hist.origin.x + l->hist.size.width / 2, y + l->line, 0.5, dim);
}

static void sl_selection_inspector_snapshot(GtkWidget *widget, GtkSnapshot *snapshot)
{
    SlSelectionInspector *self = SL_SELECTION_INSPECTOR(widget);
    Layout l;
    if (!compute_layout(self, &l))
        return;
    GdkRGBA fg, dim;
    foreground_color(widget, &fg);
    dim = fg;
    dim.alpha *= 0.7f;
    g_autofree char *title = title_text(self);
    draw_text(widget, snapshot, title, PAD, PAD, 0, &fg);
    snapshot_map(self, snapshot, &l);
    snapshot_map_labels(self, snapshot, &l, &dim);
    snapshot_bars(self, snapshot, &l);
    snapshot_hist_labels(self, snapshot, &l, &dim);
}

static void sl_selection_inspector_measure(GtkWidget *widget, GtkOrientation orientation,
                                           int for_size, int *minimum, int *natural,
                                           int *minimum_baseline, int *natural_baseline)
{
    if (orientation == GTK_ORIENTATION_HORIZONTAL) {
        *minimum = 200;
        *natural = 480;
        return;
    }
    int w, h;
    text_size(widget, "Ag", &w, &h);
    double fixed = fixed_height(h);
    *minimum = (int)ceil(fixed + 40 + 30);
    *natural = (int)ceil(fixed + NATURAL_MAP_HEIGHT + NATURAL_HIST_HEIGHT);
}

static gboolean sl_selection_inspector_query_tooltip(GtkWidget *widget, int x, int y,
                                                     gboolean keyboard, GtkTooltip *tooltip)
{
    g_autofree char *text = sl_selection_inspector_describe_at(SL_SELECTION_INSPECTOR(widget), x, y);
    if (!text)
        return FALSE;
    gtk_tooltip_set_text(tooltip, text);
    return TRUE;
}

/* The smallest distance under which half of the selections lay, or 0 with none. */
static guint64 median_distance_bound(const SlSelectionInspector *self)
{
    guint64 seen = 0;
    for (guint b = 0; b < self->n_buckets; b++) {
        seen += self->distances[b];
        if (self->total_distance_votes > 0 && 2 * seen >= self->total_distance_votes)
            return bucket_high(b) + 1;
    }
    return 0;
}

/* Screen readers cannot see the panels: say their extent and where most selections lay. */
static void update_accessible(SlSelectionInspector *self)
{
    GtkAccessible *a = GTK_ACCESSIBLE(self);
    if (!self->has_data) {
        gtk_accessible_reset_property(a, GTK_ACCESSIBLE_PROPERTY_DESCRIPTION);
        return;
    }
    g_autofree char *positions = format_count(self->n_positions);
    g_autoptr(GString) text = g_string_new(NULL);
    g_string_printf(text,
                    g_dngettext(GETTEXT_PACKAGE, "%d layer over %s positions",
                                "%d layers over %s positions", (gulong)self->n_layers),
                    self->n_layers, positions);
    guint64 bound = median_distance_bound(self);
    if (bound > 0) {
        g_autofree char *d = format_count(bound);
        g_string_append(text, "; ");
        g_string_append_printf(text, _("most selections within %s tokens"), d);
    } else {
        g_string_append(text, "; ");
        g_string_append(text, _("no selections"));
    }
    gtk_accessible_update_property(a, GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, text->str, -1);
}

static void data_free(SlSelectionInspector *self)
{
    g_clear_pointer(&self->cells, g_free);
    g_clear_pointer(&self->distances, g_free);
    g_clear_pointer(&self->image, cairo_surface_destroy);
    self->has_data = FALSE;
    self->n_layers = 0;
    self->n_bins = self->n_buckets = 0;
    self->n_positions = 0;
    self->max_cell = 0;
    self->max_distance_votes = self->total_distance_votes = 0;
}

static void copy_distances(SlSelectionInspector *self, const SlInspection *in)
{
    guint shown = 0;
    /* 63: the last bucket whose bounds a guint64 holds (bucket_high shifts by b + 1). */
    for (guint b = 0; b < in->n_buckets && b < 63; b++)
        if (in->distances[b] > 0)
            shown = b + 1;
    self->n_buckets = MAX(shown, 1u); /* an empty histogram still shows its axis */
    self->distances = g_new0(guint64, self->n_buckets);
    for (guint b = 0; b < MIN(shown, in->n_buckets); b++) {
        self->distances[b] = in->distances[b];
        self->max_distance_votes = MAX(self->max_distance_votes, in->distances[b]);
        self->total_distance_votes += in->distances[b];
    }
}

void sl_selection_inspector_set(SlSelectionInspector *self, const SlInspection *in)
{
    g_return_if_fail(SL_IS_SELECTION_INSPECTOR(self));
    g_return_if_fail(in == NULL || in->n_layers >= 0);
    g_return_if_fail(in == NULL || in->n_layers == 0 || in->n_bins == 0 || in->cells != NULL);
    g_return_if_fail(in == NULL || in->n_buckets == 0 || in->distances != NULL);
    data_free(self);
    if (in) {
        gsize n = (gsize)in->n_layers * in->n_bins;
        self->has_data = TRUE;
        self->n_layers = in->n_layers;
        self->n_bins = in->n_bins;
        self->n_positions = in->n_positions;
        self->cells = n ? g_memdup2(in->cells, n * sizeof(float)) : NULL;
        for (gsize i = 0; i < n; i++)
            if (in->cells[i] > self->max_cell) /* false for NaN */
                self->max_cell = in->cells[i];
        copy_distances(self, in);
    }
    update_accessible(self);
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

void sl_selection_inspector_clear(SlSelectionInspector *self)
{
    sl_selection_inspector_set(self, NULL);
}

void sl_selection_inspector_set_log_scale(SlSelectionInspector *self, gboolean log_scale)
{
    g_return_if_fail(SL_IS_SELECTION_INSPECTOR(self));
    log_scale = !!log_scale;
    if (log_scale == self->log_scale)
        return;
    self->log_scale = log_scale;
    g_clear_pointer(&self->image, cairo_surface_destroy); /* the cells' colours change */
    gtk_widget_queue_draw(GTK_WIDGET(self));
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_LOG_SCALE]);
}

gboolean sl_selection_inspector_get_log_scale(SlSelectionInspector *self)
{
    g_return_val_if_fail(SL_IS_SELECTION_INSPECTOR(self), FALSE);
    return self->log_scale;
}

void sl_selection_inspector_set_selector(SlSelectionInspector *self, const char *selector)
{
    g_return_if_fail(SL_IS_SELECTION_INSPECTOR(self));
    if (!selector)
        selector = "indexer";
    if (g_strcmp0(selector, self->selector) == 0)
        return;
    g_free(self->selector);
    self->selector = g_strdup(selector);
    gtk_widget_queue_draw(GTK_WIDGET(self));
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_SELECTOR]);
}

const char *sl_selection_inspector_get_selector(SlSelectionInspector *self)
{
    g_return_val_if_fail(SL_IS_SELECTION_INSPECTOR(self), NULL);
    return self->selector;
}

void sl_selection_inspector_set_token(SlSelectionInspector *self, int token)
{
    g_return_if_fail(SL_IS_SELECTION_INSPECTOR(self));
    token = MAX(token, -1);
    if (token == self->token)
        return;
    self->token = token;
    gtk_widget_queue_draw(GTK_WIDGET(self));
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_TOKEN]);
}

int sl_selection_inspector_get_token(SlSelectionInspector *self)
{
    g_return_val_if_fail(SL_IS_SELECTION_INSPECTOR(self), -1);
    return self->token;
}

GtkWidget *sl_selection_inspector_new(void)
{
    return g_object_new(SL_TYPE_SELECTION_INSPECTOR, NULL);
}

static void sl_selection_inspector_get_property(GObject *object, guint prop_id, GValue *value,
                                                GParamSpec *pspec)
{
    SlSelectionInspector *self = SL_SELECTION_INSPECTOR(object);
    switch (prop_id) {
    case PROP_LOG_SCALE: g_value_set_boolean(value, self->log_scale); break;
    case PROP_SELECTOR: g_value_set_string(value, self->selector); break;
    case PROP_TOKEN: g_value_set_int(value, self->token); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void sl_selection_inspector_set_property(GObject *object, guint prop_id,
                                                const GValue *value, GParamSpec *pspec)
{
    SlSelectionInspector *self = SL_SELECTION_INSPECTOR(object);
    switch (prop_id) {
    case PROP_LOG_SCALE: sl_selection_inspector_set_log_scale(self, g_value_get_boolean(value)); break;
    case PROP_SELECTOR: sl_selection_inspector_set_selector(self, g_value_get_string(value)); break;
    case PROP_TOKEN: sl_selection_inspector_set_token(self, g_value_get_int(value)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void sl_selection_inspector_finalize(GObject *object)
{
    SlSelectionInspector *self = SL_SELECTION_INSPECTOR(object);
    data_free(self);
    g_free(self->selector);
    G_OBJECT_CLASS(sl_selection_inspector_parent_class)->finalize(object);
}

static void sl_selection_inspector_class_init(SlSelectionInspectorClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

    object_class->get_property = sl_selection_inspector_get_property;
    object_class->set_property = sl_selection_inspector_set_property;
    object_class->finalize = sl_selection_inspector_finalize;
    widget_class->snapshot = sl_selection_inspector_snapshot;
    widget_class->measure = sl_selection_inspector_measure;
    widget_class->query_tooltip = sl_selection_inspector_query_tooltip;

    const GParamFlags flags =
        G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
    properties[PROP_LOG_SCALE] = g_param_spec_boolean("log-scale", NULL, NULL, FALSE, flags);
    properties[PROP_SELECTOR] = g_param_spec_string("selector", NULL, NULL, "indexer", flags);
    properties[PROP_TOKEN] = g_param_spec_int("token", NULL, NULL, -1, G_MAXINT, -1, flags);
    g_object_class_install_properties(object_class, N_PROPS, properties);

    gtk_widget_class_set_css_name(widget_class, "selectioninspector");
    gtk_widget_class_set_accessible_role(widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void sl_selection_inspector_init(SlSelectionInspector *self)
{
    self->selector = g_strdup("indexer");
    self->token = -1;
    gtk_widget_set_has_tooltip(GTK_WIDGET(self), TRUE);
    gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                   _("Selections by layer and by distance from the token"), -1);
}
