/* code-view.c: SlCodeView (code-view.h).
 *
 * Heat is a paragraph background per line from a few GtkTextTags (one per colour level),
 * applied over runs of lines of one level, so that a file of thousands of lines costs a few
 * hundred tag ranges at most. The highlight tag sets the text background instead, a separate
 * attribute, so that a cited line keeps its heat visible at its ends. */
#include "code-view.h"

#include <adwaita.h>

/* Colour levels of line heat: more would not be told apart on a line's background. */
#define HEAT_LEVELS 8

struct _SlCodeView {
    GtkWidget parent_instance;

    GtkWidget *scroller;
    GtkSourceView *view;
    GtkSourceBuffer *buffer;
    GtkTextTag *heat_tags[HEAT_LEVELS]; /* "heat-1" (lightest) to "heat-8" */
    GtkTextTag *highlight_tag;          /* "highlight" */
    GtkTextMark *highlight_mark;

    guint centre_tick;   /* keeps the highlight centred while the layout settles */
    gint64 centre_until; /* frame time (µs) after which it gives up */
    int centre_y, centre_upper, centre_still;

    float *weights; /* per line, copied; kept to recolour when the scale changes */
    gsize n_weights;
    float max_weight;
    SlHeatScale heat_scale;
};

enum { PROP_0, PROP_HEAT_SCALE, N_PROPS };
static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE(SlCodeView, sl_code_view, GTK_TYPE_WIDGET)

static GtkTextBuffer *text_buffer(SlCodeView *self)
{
    return GTK_TEXT_BUFFER(self->buffer);
}

static void stop_centring(SlCodeView *self)
{
    if (self->centre_tick && self->view)
        gtk_widget_remove_tick_callback(GTK_WIDGET(self->view), self->centre_tick);
    self->centre_tick = 0;
}

/* The iterators around lines [first, end) (0-based), the last one's newline included. */
static void line_range(GtkTextBuffer *buf, int first, int end, GtkTextIter *s, GtkTextIter *e)
{
    gtk_text_buffer_get_iter_at_line(buf, s, first);
    if (end < gtk_text_buffer_get_line_count(buf))
        gtk_text_buffer_get_iter_at_line(buf, e, end);
    else
        gtk_text_buffer_get_end_iter(buf, e);
}

/* The heat tag of a weight, or -1 for none. */
static int heat_level(const SlCodeView *self, float w)
{
    double t = sl_heat_normalise(w, self->max_weight, self->heat_scale == SL_HEAT_SCALE_LOG);
    if (t <= 0)
        return -1;
    return CLAMP((int)(t * HEAT_LEVELS + 0.999), 1, HEAT_LEVELS) - 1;
}

static void apply_heat(SlCodeView *self)
{
    GtkTextBuffer *buf = text_buffer(self);
    GtkTextIter s, e;
    gtk_text_buffer_get_bounds(buf, &s, &e);
    for (int k = 0; k < HEAT_LEVELS; k++)
        gtk_text_buffer_remove_tag(buf, self->heat_tags[k], &s, &e);
    int n = (int)MIN(self->n_weights, (gsize)gtk_text_buffer_get_line_count(buf));
    for (int i = 0; i < n;) {
        int level = heat_level(self, self->weights[i]);
        int j = i + 1;
        while (j < n && heat_level(self, self->weights[j]) == level)
            j++;
        if (level >= 0) {
            line_range(buf, i, j, &s, &e);
            gtk_text_buffer_apply_tag(buf, self->heat_tags[level], &s, &e);
        }
        i = j;
    }
}

void sl_code_view_set_line_heat(SlCodeView *self, const float *weights, gsize n_lines)
{
    g_return_if_fail(SL_IS_CODE_VIEW(self));
    g_return_if_fail(n_lines == 0 || weights != NULL);
    g_clear_pointer(&self->weights, g_free);
    self->n_weights = n_lines;
    self->max_weight = 0;
    if (n_lines > 0)
        self->weights = g_memdup2(weights, n_lines * sizeof(float));
    for (gsize i = 0; i < n_lines; i++)
        if (weights[i] > self->max_weight) /* false for NaN */
            self->max_weight = weights[i];
    apply_heat(self);
}

void sl_code_view_clear_line_heat(SlCodeView *self)
{
    sl_code_view_set_line_heat(self, NULL, 0);
}

void sl_code_view_set_heat_scale(SlCodeView *self, SlHeatScale scale)
{
    g_return_if_fail(SL_IS_CODE_VIEW(self));
    if (scale == self->heat_scale)
        return;
    self->heat_scale = scale;
    apply_heat(self);
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_HEAT_SCALE]);
}

SlHeatScale sl_code_view_get_heat_scale(SlCodeView *self)
{
    g_return_val_if_fail(SL_IS_CODE_VIEW(self), SL_HEAT_SCALE_LINEAR);
    return self->heat_scale;
}

void sl_code_view_set_text(SlCodeView *self, const char *text, gssize len,
                           const char *language_id)
{
    g_return_if_fail(SL_IS_CODE_VIEW(self));
    GtkTextBuffer *buf = text_buffer(self);
    g_autofree char *valid = NULL;
    if (!text)
        text = "", len = 0;
    /* A text buffer takes only UTF-8; a stray byte becomes U+FFFD rather than a critical. */
    if (!g_utf8_validate(text, len, NULL))
        text = valid = g_utf8_make_valid(text, len), len = -1;
    GtkSourceLanguage *lang = NULL;
    if (language_id)
        lang = gtk_source_language_manager_get_language(
            gtk_source_language_manager_get_default(), language_id);
    gtk_source_buffer_set_language(self->buffer, lang);
    stop_centring(self);
    gtk_text_buffer_set_text(buf, text, len);
    sl_code_view_clear_line_heat(self);
    GtkTextIter start;
    gtk_text_buffer_get_start_iter(buf, &start);
    gtk_text_buffer_place_cursor(buf, &start);
    gtk_text_view_scroll_to_mark(GTK_TEXT_VIEW(self->view), gtk_text_buffer_get_insert(buf), 0,
                                 FALSE, 0, 0);
}

/* Scrolls the highlighted lines to the middle of the view and the view to its first column,
 * each frame until their place has not moved for a few frames. Not gtk_text_view_scroll_to_mark:
 * aligned, it also aligns the mark's x, which scrolled the view sideways by the left margin
 * and put the first column against (or under) the line numbers; and right after set_text the
 * lines above are not laid out yet and count as no height, so a jump far down landed near
 * the top. Lines are measured in the background, frame by frame; this follows them. */
static gboolean centre_highlight(GtkWidget *widget, GdkFrameClock *clock, gpointer data)
{
    SlCodeView *self = data;
    GtkTextView *tv = GTK_TEXT_VIEW(self->view);
    GtkTextIter it;
    gtk_text_buffer_get_iter_at_mark(text_buffer(self), &it, self->highlight_mark);
    int y = 0, height = 0;
    gtk_text_view_get_line_yrange(tv, &it, &y, &height);
    GtkAdjustment *v = gtk_scrollable_get_vadjustment(GTK_SCROLLABLE(tv));
    GtkAdjustment *h = gtk_scrollable_get_hadjustment(GTK_SCROLLABLE(tv));
    double page = gtk_adjustment_get_page_size(v), upper = gtk_adjustment_get_upper(v);
    double lower = gtk_adjustment_get_lower(v);
    if (page > 0) {
        gtk_adjustment_set_value(v, CLAMP(y + height / 2.0 - page / 2.0, lower, MAX(lower, upper - page)));
        gtk_adjustment_set_value(h, gtk_adjustment_get_lower(h));
    }
    if (y == self->centre_y && (int)upper == self->centre_upper && page > 0)
        self->centre_still++;
    else
        self->centre_still = 0;
    self->centre_y = y;
    self->centre_upper = (int)upper;
    if (self->centre_still >= 5 || gdk_frame_clock_get_frame_time(clock) > self->centre_until) {
        self->centre_tick = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

void sl_code_view_highlight_lines(SlCodeView *self, int first, int last)
{
    g_return_if_fail(SL_IS_CODE_VIEW(self));
    GtkTextBuffer *buf = text_buffer(self);
    int n = gtk_text_buffer_get_line_count(buf);
    if (first > last) {
        int t = first;
        first = last, last = t;
    }
    first = CLAMP(first, 1, n);
    last = CLAMP(last, first, n);
    sl_code_view_clear_highlight(self);
    GtkTextIter s, e;
    line_range(buf, first - 1, last, &s, &e);
    gtk_text_buffer_apply_tag(buf, self->highlight_tag, &s, &e);
    gtk_text_buffer_place_cursor(buf, &s);
    /* A mark, not an iter: the text may change before the scroll is done. */
    gtk_text_buffer_move_mark(buf, self->highlight_mark, &s);
    stop_centring(self);
    self->centre_y = self->centre_upper = -1;
    self->centre_still = 0;
    self->centre_until = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
    self->centre_tick = gtk_widget_add_tick_callback(GTK_WIDGET(self->view), centre_highlight, self, NULL);
}

void sl_code_view_clear_highlight(SlCodeView *self)
{
    g_return_if_fail(SL_IS_CODE_VIEW(self));
    GtkTextIter s, e;
    gtk_text_buffer_get_bounds(text_buffer(self), &s, &e);
    gtk_text_buffer_remove_tag(text_buffer(self), self->highlight_tag, &s, &e);
}

int sl_code_view_line_at(SlCodeView *self, double x, double y)
{
    g_return_val_if_fail(SL_IS_CODE_VIEW(self), 0);
    GtkTextView *tv = GTK_TEXT_VIEW(self->view);
    double vx, vy;
#if GTK_CHECK_VERSION(4, 10, 0)
    graphene_point_t p;
    if (!gtk_widget_compute_point(GTK_WIDGET(self), GTK_WIDGET(tv), &GRAPHENE_POINT_INIT(x, y),
                                  &p))
        return 0;
    vx = p.x, vy = p.y;
#else
    if (!gtk_widget_translate_coordinates(GTK_WIDGET(self), GTK_WIDGET(tv), x, y, &vx, &vy))
        return 0;
#endif
    int bx, by, top, height;
    gtk_text_view_window_to_buffer_coords(tv, GTK_TEXT_WINDOW_WIDGET, (int)vx, (int)vy, &bx, &by);
    GtkTextIter it;
    gtk_text_view_get_line_at_y(tv, &it, by, &top);
    gtk_text_view_get_line_yrange(tv, &it, &top, &height);
    if (by < top || by >= top + height)
        return 0;
    return gtk_text_iter_get_line(&it) + 1;
}

GtkSourceView *sl_code_view_get_source_view(SlCodeView *self)
{
    g_return_val_if_fail(SL_IS_CODE_VIEW(self), NULL);
    return self->view;
}

GtkSourceBuffer *sl_code_view_get_buffer(SlCodeView *self)
{
    g_return_val_if_fail(SL_IS_CODE_VIEW(self), NULL);
    return self->buffer;
}

GtkWidget *sl_code_view_new(void)
{
    return g_object_new(SL_TYPE_CODE_VIEW, NULL);
}

static void update_scheme(SlCodeView *self)
{
    gboolean dark = adw_style_manager_get_dark(adw_style_manager_get_default());
    GtkSourceStyleScheme *scheme = gtk_source_style_scheme_manager_get_scheme(
        gtk_source_style_scheme_manager_get_default(), dark ? "Adwaita-dark" : "Adwaita");
    gtk_source_buffer_set_style_scheme(self->buffer, scheme);
}

static void update_highlight_color(SlCodeView *self)
{
    GdkRGBA accent;
    /* libadwaita's accent; GTK 4.8 has no other public way to read a named colour. */
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    if (!gtk_style_context_lookup_color(gtk_widget_get_style_context(GTK_WIDGET(self)),
                                        "accent_color", &accent))
        gdk_rgba_parse(&accent, "#3584e4");
    G_GNUC_END_IGNORE_DEPRECATIONS
    accent.alpha = 0.3f;
    g_object_set(self->highlight_tag, "background-rgba", &accent, NULL);
}

static void sl_code_view_css_changed(GtkWidget *widget, GtkCssStyleChange *change)
{
    GTK_WIDGET_CLASS(sl_code_view_parent_class)->css_changed(widget, change);
    update_highlight_color(SL_CODE_VIEW(widget));
}

static void sl_code_view_get_property(GObject *object, guint prop_id, GValue *value,
                                      GParamSpec *pspec)
{
    SlCodeView *self = SL_CODE_VIEW(object);
    switch (prop_id) {
    case PROP_HEAT_SCALE: g_value_set_enum(value, (int)self->heat_scale); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void sl_code_view_set_property(GObject *object, guint prop_id, const GValue *value,
                                      GParamSpec *pspec)
{
    SlCodeView *self = SL_CODE_VIEW(object);
    switch (prop_id) {
    case PROP_HEAT_SCALE: sl_code_view_set_heat_scale(self, g_value_get_enum(value)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void sl_code_view_dispose(GObject *object)
{
    SlCodeView *self = SL_CODE_VIEW(object);
    stop_centring(self);
    g_clear_pointer(&self->scroller, gtk_widget_unparent);
    self->view = NULL; /* owned by the scroller */
    g_clear_object(&self->buffer);
    g_clear_pointer(&self->weights, g_free);
    self->n_weights = 0;
    G_OBJECT_CLASS(sl_code_view_parent_class)->dispose(object);
}

static void sl_code_view_class_init(SlCodeViewClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

    object_class->get_property = sl_code_view_get_property;
    object_class->set_property = sl_code_view_set_property;
    object_class->dispose = sl_code_view_dispose;
    widget_class->css_changed = sl_code_view_css_changed;

    properties[PROP_HEAT_SCALE] =
        g_param_spec_enum("heat-scale", NULL, NULL, SL_TYPE_HEAT_SCALE, SL_HEAT_SCALE_LINEAR,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(object_class, N_PROPS, properties);

    gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BIN_LAYOUT);
    gtk_widget_class_set_css_name(widget_class, "codeview");
}

static void create_tags(SlCodeView *self)
{
    GtkTextBuffer *buf = text_buffer(self);
    for (int k = 0; k < HEAT_LEVELS; k++) {
        GdkRGBA c;
        sl_heat_color((k + 1) / (double)HEAT_LEVELS, &c);
        g_autofree char *name = g_strdup_printf("heat-%d", k + 1);
        self->heat_tags[k] =
            gtk_text_buffer_create_tag(buf, name, "paragraph-background-rgba", &c, NULL);
    }
    /* Created last: it wins over the heat where both set something. */
    self->highlight_tag = gtk_text_buffer_create_tag(buf, "highlight", NULL);
    update_highlight_color(self);
    GtkTextIter start;
    gtk_text_buffer_get_start_iter(buf, &start);
    self->highlight_mark = gtk_text_buffer_create_mark(buf, NULL, &start, TRUE);
}

static void sl_code_view_init(SlCodeView *self)
{
    self->buffer = gtk_source_buffer_new(NULL);
    /* Read-only text: an undo history would only hold set_text's copies. */
    gtk_text_buffer_set_enable_undo(text_buffer(self), FALSE);
    gtk_source_buffer_set_highlight_syntax(self->buffer, TRUE);
    create_tags(self);

    self->view = GTK_SOURCE_VIEW(gtk_source_view_new_with_buffer(self->buffer));
    GtkTextView *tv = GTK_TEXT_VIEW(self->view);
    gtk_text_view_set_editable(tv, FALSE);
    gtk_text_view_set_monospace(tv, TRUE);
    gtk_text_view_set_left_margin(tv, 6);
    gtk_source_view_set_show_line_numbers(self->view, TRUE);

    self->scroller = gtk_scrolled_window_new();
    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(self->scroller), GTK_WIDGET(self->view));
    gtk_widget_set_parent(self->scroller, GTK_WIDGET(self));

    g_signal_connect_object(adw_style_manager_get_default(), "notify::dark",
                            G_CALLBACK(update_scheme), self, G_CONNECT_SWAPPED);
    update_scheme(self);
}
