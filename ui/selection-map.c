/* selection-map.c: SlSelectionMap (selection-map.h).
 *
 * Drawn with a handful of colour nodes, never a widget per bin: one rectangle per run of
 * bins from one source, one per run of pixel columns sharing a heat level, one line per
 * source boundary and the marker. Bins narrower than a pixel fold into the column they fall
 * in (it shows their heaviest), so the node count is bounded by the width, not by n. */
#include "selection-map.h"

#include "heat.h"

#include <glib/gi18n-lib.h>
#include <math.h>

#define MAP_HEIGHT 28
/* The top of each column always shows its source's colour, even under full heat. */
#define SOURCE_BAND 5
/* Heat bars share a colour and height at this quantisation, so that runs merge. */
#define HEAT_LEVELS 32
/* Sources named in the accessible description. */
#define DESCRIBED_SOURCES 3

struct _SlSelectionMap {
    GtkWidget parent_instance;

    SlContextBin *bins; /* copied, context order */
    guint n_bins;
    gsize n_positions; /* past the last bin's first position */
    double max_weight, total_weight;
    gboolean log_scale;
    gssize marker; /* -1: none */
};

enum { PROP_0, PROP_LOG_SCALE, N_PROPS };
static GParamSpec *properties[N_PROPS];

enum { POSITION_ACTIVATED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE(SlSelectionMap, sl_selection_map, GTK_TYPE_WIDGET)

/* Muted, mid-light colours that stay apart from each other and from the heat ramp's
 * yellows and reds, and read on light and dark backgrounds alike. */
static const GdkRGBA source_palette[] = {
    {0.56f, 0.66f, 0.78f, 1}, /* blue */
    {0.61f, 0.76f, 0.65f, 1}, /* green */
    {0.74f, 0.64f, 0.78f, 1}, /* purple */
    {0.55f, 0.76f, 0.76f, 1}, /* teal */
    {0.79f, 0.70f, 0.54f, 1}, /* sand */
    {0.80f, 0.63f, 0.66f, 1}, /* rose */
};
static const GdkRGBA prompt_grey = {0.62f, 0.62f, 0.62f, 1};

static const GdkRGBA *source_color(guint32 source)
{
    if (source == 0)
        return &prompt_grey;
    return &source_palette[(source - 1) % G_N_ELEMENTS(source_palette)];
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

/* The left pixel of bin i's column (i == n_bins: the right end). */
static int bin_x(const SlSelectionMap *self, guint i, int width)
{
    guint64 p = i < self->n_bins ? self->bins[i].first_position : self->n_positions;
    return (int)floor((double)p * width / (double)self->n_positions + 0.5);
}

int sl_selection_map_bin_at(SlSelectionMap *self, double x)
{
    g_return_val_if_fail(SL_IS_SELECTION_MAP(self), -1);
    int width = gtk_widget_get_width(GTK_WIDGET(self));
    if (self->n_bins == 0 || x < 0 || x >= width)
        return -1;
    /* The last bin starting at or left of x: the one whose column holds it. */
    guint lo = 0, hi = self->n_bins;
    while (hi - lo > 1) {
        guint mid = lo + (hi - lo) / 2;
        if (bin_x(self, mid, width) <= x)
            lo = mid;
        else
            hi = mid;
    }
    return (int)lo;
}

static void snapshot_sources(SlSelectionMap *self, GtkSnapshot *snapshot, int w, int h)
{
    for (guint i = 0, j; i < self->n_bins; i = j) {
        for (j = i + 1; j < self->n_bins && self->bins[j].source == self->bins[i].source; j++)
            ;
        int x0 = bin_x(self, i, w), x1 = bin_x(self, j, w);
        if (x1 > x0)
            gtk_snapshot_append_color(snapshot, source_color(self->bins[i].source),
                                      &GRAPHENE_RECT_INIT(x0, 0, x1 - x0, h));
    }
}

typedef struct {
    int x0, x1, level;
} HeatRun;

static void append_heat_run(GtkSnapshot *snapshot, const HeatRun *run, int h)
{
    if (run->level <= 0 || run->x1 <= run->x0)
        return;
    double t = (double)run->level / HEAT_LEVELS;
    GdkRGBA c;
    sl_heat_color(t, &c);
    c.alpha = 1; /* a chart, not a tint over text: the ramp's own colours */
    float bar = MAX(2.0f, (float)round(t * (h - SOURCE_BAND)));
    gtk_snapshot_append_color(snapshot, &c,
                              &GRAPHENE_RECT_INIT(run->x0, h - bar, run->x1 - run->x0, bar));
}

static void snapshot_heat(SlSelectionMap *self, GtkSnapshot *snapshot, int w, int h)
{
    HeatRun run = {0, 0, 0};
    double carried = 0; /* the heaviest of bins narrower than a pixel, left of this one */
    for (guint i = 0; i < self->n_bins; i++) {
        double t = sl_heat_normalise(self->bins[i].weight, self->max_weight, self->log_scale);
        carried = MAX(carried, t);
        int x0 = bin_x(self, i, w), x1 = bin_x(self, i + 1, w);
        if (x1 <= x0)
            continue;
        int level = (int)ceil(carried * HEAT_LEVELS);
        carried = 0;
        if (level == run.level && x0 == run.x1) {
            run.x1 = x1;
            continue;
        }
        append_heat_run(snapshot, &run, h);
        run = (HeatRun){x0, x1, level};
    }
    append_heat_run(snapshot, &run, h);
}

static void snapshot_boundaries(SlSelectionMap *self, GtkSnapshot *snapshot, int w, int h)
{
    GdkRGBA c;
    foreground_color(GTK_WIDGET(self), &c);
    c.alpha *= 0.75f;
    int last = -1;
    for (guint i = 1; i < self->n_bins; i++) {
        if (self->bins[i].source == self->bins[i - 1].source)
            continue;
        int x = bin_x(self, i, w);
        if (x != last && x < w)
            gtk_snapshot_append_color(snapshot, &c, &GRAPHENE_RECT_INIT(x, 0, 1, h));
        last = x;
    }
}

static void snapshot_marker(SlSelectionMap *self, GtkSnapshot *snapshot, int w, int h)
{
    if (self->marker < 0 || w < 2)
        return;
    double x = (double)self->marker * w / (double)self->n_positions;
    x = CLAMP(floor(x) - 1, 0, w - 2);
    GdkRGBA c;
    accent_color(GTK_WIDGET(self), &c);
    gtk_snapshot_append_color(snapshot, &c, &GRAPHENE_RECT_INIT((float)x, 0, 2, h));
}

static void sl_selection_map_snapshot(GtkWidget *widget, GtkSnapshot *snapshot)
{
    SlSelectionMap *self = SL_SELECTION_MAP(widget);
    int w = gtk_widget_get_width(widget), h = gtk_widget_get_height(widget);
    if (self->n_bins == 0 || w <= 0 || h <= 0)
        return;
    snapshot_sources(self, snapshot, w, h);
    snapshot_heat(self, snapshot, w, h);
    snapshot_boundaries(self, snapshot, w, h);
    snapshot_marker(self, snapshot, w, h);
}

static void sl_selection_map_measure(GtkWidget *widget, GtkOrientation orientation, int for_size,
                                     int *minimum, int *natural, int *minimum_baseline,
                                     int *natural_baseline)
{
    if (orientation == GTK_ORIENTATION_HORIZONTAL) {
        *minimum = 32;
        *natural = 320; /* it expands to the full width; this is only a hint */
    } else {
        *minimum = *natural = MAP_HEIGHT;
    }
}

/* "45%", or "<1%" for a share too small to round up to one. */
static char *format_share(double w, double total)
{
    double p = total > 0 && w > 0 ? 100 * w / total : 0;
    if (p > 0 && p < 0.5)
        return g_strdup(_("<1%"));
    return g_strdup_printf(_("%.0f%%"), p);
}

char *sl_selection_map_describe_at(SlSelectionMap *self, double x)
{
    g_return_val_if_fail(SL_IS_SELECTION_MAP(self), NULL);
    int i = sl_selection_map_bin_at(self, x);
    if (i < 0)
        return NULL;
    const SlContextBin *b = &self->bins[i];
    g_autofree char *share = format_share(b->weight, self->total_weight);
    if (b->source == 0)
        return g_strdup_printf(_("The prompt’s own words · %s of the selections"), share);
    if (b->page <= 0)
        return g_strdup_printf(_("Source %u · %s of the selections"), b->source, share);
    return g_strdup_printf(_("Source %u, p. %d · %s of the selections"), b->source, b->page,
                           share);
}

static gboolean sl_selection_map_query_tooltip(GtkWidget *widget, int x, int y,
                                               gboolean keyboard, GtkTooltip *tooltip)
{
    g_autofree char *text = sl_selection_map_describe_at(SL_SELECTION_MAP(widget), x);
    if (!text)
        return FALSE;
    gtk_tooltip_set_text(tooltip, text);
    return TRUE;
}

static void on_released(GtkGestureClick *gesture, int n_press, double x, double y,
                        SlSelectionMap *self)
{
    int i = sl_selection_map_bin_at(self, x);
    if (i < 0)
        return;
    const SlContextBin *b = &self->bins[i];
    g_signal_emit(self, signals[POSITION_ACTIVATED], 0, b->source, (int)b->page,
                  (guint64)b->first_position);
}

typedef struct {
    guint32 source;
    double weight;
} SourceShare;

static int share_heavier_first(gconstpointer a, gconstpointer b)
{
    double wa = ((const SourceShare *)a)->weight, wb = ((const SourceShare *)b)->weight;
    return wa < wb ? 1 : wa > wb ? -1 : 0;
}

/* The sources (not the prompt's words), heaviest first, by their bins' summed weight. */
static GArray *source_shares(const SlSelectionMap *self)
{
    g_autoptr(GHashTable) index = g_hash_table_new(g_direct_hash, g_direct_equal);
    GArray *shares = g_array_new(FALSE, FALSE, sizeof(SourceShare));
    for (guint i = 0; i < self->n_bins; i++) {
        const SlContextBin *b = &self->bins[i];
        if (b->source == 0 || !(b->weight > 0))
            continue;
        gpointer at;
        if (!g_hash_table_lookup_extended(index, GUINT_TO_POINTER(b->source), NULL, &at)) {
            at = GUINT_TO_POINTER(shares->len);
            g_hash_table_insert(index, GUINT_TO_POINTER(b->source), at);
            g_array_append_val(shares, ((SourceShare){b->source, 0}));
        }
        g_array_index(shares, SourceShare, GPOINTER_TO_UINT(at)).weight += b->weight;
    }
    g_array_sort(shares, share_heavier_first);
    return shares;
}

/* Screen readers cannot see the strip: name the heaviest sources and their shares. */
static void update_description(SlSelectionMap *self)
{
    GtkAccessible *a = GTK_ACCESSIBLE(self);
    if (self->n_bins == 0) {
        gtk_accessible_reset_property(a, GTK_ACCESSIBLE_PROPERTY_DESCRIPTION);
        return;
    }
    g_autoptr(GArray) shares = source_shares(self);
    g_autoptr(GString) text = g_string_new(NULL);
    if (shares->len == 0)
        g_string_append(text, _("No selections fell on the sources"));
    for (guint i = 0; i < MIN(shares->len, DESCRIBED_SOURCES); i++) {
        const SourceShare *s = &g_array_index(shares, SourceShare, i);
        g_autofree char *share = format_share(s->weight, self->total_weight);
        if (i == 0)
            g_string_append(text, _("Most selections fell on "));
        else
            g_string_append(text, ", ");
        g_string_append_printf(text, _("source %u (%s)"), s->source, share);
    }
    gtk_accessible_update_property(a, GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, text->str, -1);
}

void sl_selection_map_set_bins(SlSelectionMap *self, const SlContextBin *bins, guint n,
                               gsize n_positions)
{
    g_return_if_fail(SL_IS_SELECTION_MAP(self));
    g_return_if_fail(n == 0 || bins != NULL);
    for (guint i = 1; i < n; i++)
        g_return_if_fail(bins[i].first_position >= bins[i - 1].first_position);
    g_clear_pointer(&self->bins, g_free);
    self->n_bins = n;
    self->max_weight = self->total_weight = 0;
    if (n > 0) {
        self->bins = g_memdup2(bins, n * sizeof *bins);
        /* Every bin holds at least its first position, whatever the caller says. */
        self->n_positions = MAX(n_positions, (gsize)bins[n - 1].first_position + 1);
    } else {
        self->n_positions = 0;
    }
    for (guint i = 0; i < n; i++) {
        if (bins[i].weight > 0) { /* false for NaN */
            self->max_weight = MAX(self->max_weight, bins[i].weight);
            self->total_weight += bins[i].weight;
        }
    }
    update_description(self);
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

void sl_selection_map_clear(SlSelectionMap *self)
{
    sl_selection_map_set_bins(self, NULL, 0, 0);
}

guint sl_selection_map_get_n_bins(SlSelectionMap *self)
{
    g_return_val_if_fail(SL_IS_SELECTION_MAP(self), 0);
    return self->n_bins;
}

void sl_selection_map_set_log_scale(SlSelectionMap *self, gboolean log_scale)
{
    g_return_if_fail(SL_IS_SELECTION_MAP(self));
    log_scale = !!log_scale;
    if (log_scale == self->log_scale)
        return;
    self->log_scale = log_scale;
    gtk_widget_queue_draw(GTK_WIDGET(self));
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_LOG_SCALE]);
}

gboolean sl_selection_map_get_log_scale(SlSelectionMap *self)
{
    g_return_val_if_fail(SL_IS_SELECTION_MAP(self), FALSE);
    return self->log_scale;
}

void sl_selection_map_set_marker(SlSelectionMap *self, gssize position)
{
    g_return_if_fail(SL_IS_SELECTION_MAP(self));
    position = MAX(position, -1);
    if (position == self->marker)
        return;
    self->marker = position;
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

gssize sl_selection_map_get_marker(SlSelectionMap *self)
{
    g_return_val_if_fail(SL_IS_SELECTION_MAP(self), -1);
    return self->marker;
}

GtkWidget *sl_selection_map_new(void)
{
    return g_object_new(SL_TYPE_SELECTION_MAP, NULL);
}

static void sl_selection_map_get_property(GObject *object, guint prop_id, GValue *value,
                                          GParamSpec *pspec)
{
    SlSelectionMap *self = SL_SELECTION_MAP(object);
    switch (prop_id) {
    case PROP_LOG_SCALE: g_value_set_boolean(value, self->log_scale); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void sl_selection_map_set_property(GObject *object, guint prop_id, const GValue *value,
                                          GParamSpec *pspec)
{
    SlSelectionMap *self = SL_SELECTION_MAP(object);
    switch (prop_id) {
    case PROP_LOG_SCALE: sl_selection_map_set_log_scale(self, g_value_get_boolean(value)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void sl_selection_map_finalize(GObject *object)
{
    g_free(SL_SELECTION_MAP(object)->bins);
    G_OBJECT_CLASS(sl_selection_map_parent_class)->finalize(object);
}

static void sl_selection_map_class_init(SlSelectionMapClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

    object_class->get_property = sl_selection_map_get_property;
    object_class->set_property = sl_selection_map_set_property;
    object_class->finalize = sl_selection_map_finalize;
    widget_class->snapshot = sl_selection_map_snapshot;
    widget_class->measure = sl_selection_map_measure;
    widget_class->query_tooltip = sl_selection_map_query_tooltip;

    properties[PROP_LOG_SCALE] =
        g_param_spec_boolean("log-scale", NULL, NULL, FALSE,
                             G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(object_class, N_PROPS, properties);

    signals[POSITION_ACTIVATED] =
        g_signal_new("position-activated", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                     NULL, NULL, G_TYPE_NONE, 3, G_TYPE_UINT, G_TYPE_INT, G_TYPE_UINT64);

    gtk_widget_class_set_css_name(widget_class, "selectionmap");
    gtk_widget_class_set_accessible_role(widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void sl_selection_map_init(SlSelectionMap *self)
{
    GtkWidget *widget = GTK_WIDGET(self);
    self->marker = -1;
    gtk_widget_set_hexpand(widget, TRUE);
    gtk_widget_set_has_tooltip(widget, TRUE);
    gtk_widget_set_cursor_from_name(widget, "pointer");
    GtkGesture *click = gtk_gesture_click_new();
    g_signal_connect(click, "released", G_CALLBACK(on_released), self);
    gtk_widget_add_controller(widget, GTK_EVENT_CONTROLLER(click));
    gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                   _("Where the model looked, over the whole context"), -1);
}
