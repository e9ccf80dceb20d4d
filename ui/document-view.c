/* document-view.c: a document shown as it is, with heat and highlights (document-view.h). */
#include "document-view.h"

#include "boxes.h"
#include "code-view.h"
#include "looked.h"
#include "pdf-page.h"

#include <glib/gi18n.h>
#include <string.h>

struct _SlDocumentView {
    GtkWidget parent_instance;
    GtkWidget *toolbar;
    GtkLabel *title;
    GtkWidget *page_controls;
    GtkSpinButton *page_spin;
    GtkAdjustment *page_adjustment;
    GtkLabel *n_pages_label;
    GtkSearchEntry *find_entry;
    GtkLabel *heat_label;
    GtkWidget *heat_bar, *whole_button;
    GtkDropDown *layers;
    GtkToggleButton *log_toggle;
    GtkStringList *layer_names;
    int n_layers;
    int token;                 /* answer token the heat is for, or -1: all */
    char *token_text;
    GtkStack *stack;
    AdwStatusPage *status;
    SlPdfPage *pdf_page;
    SlCodeView *code_view;

    SlLibrary *lib;
    SlDocument *doc;
    PopplerDocument *pdf;
    int page;
    char *text;        /* the page's stored text */
    gsize text_len;
    float *boxes;      /* its character boxes */
    gsize n_boxes;
    gint64 answer_id;
    gboolean log_scale;
    gsize n_hot;
    guint heat_pending;        /* heat jobs not back yet */
};

G_DEFINE_FINAL_TYPE(SlDocumentView, sl_document_view, GTK_TYPE_WIDGET)

/* ---------------------------------------------------------------- heat */

/* Per-character weights of the page from the answer's selected tokens: each token's weight
 * over the characters from its start to the next token's start. */
static float *char_weights(SlDocumentView *self, GArray *points)
{
    float *w = g_new0(float, self->n_boxes + 1);
    g_autofree guint32 *char_at = g_new(guint32, self->text_len + 1);
    guint32 c = 0;
    for (gsize b = 0; b <= self->text_len; b++) { /* byte → character index */
        char_at[b] = c;
        if (b < self->text_len && ((guchar)self->text[b] & 0xC0) != 0x80)
            c++;
    }
    for (guint i = 0; i < points->len; i++) {
        const SlHeatPoint *p = &g_array_index(points, SlHeatPoint, i);
        if (p->offset >= self->text_len)
            continue;
        gsize end = p->offset + 1;
        while (end < self->text_len && ((guchar)self->text[end] & 0xC0) == 0x80)
            end++;
        /* a token is a few characters: spread it to the next word boundary at most 16 bytes on */
        while (end < self->text_len && end - p->offset < 16 && !g_ascii_isspace(self->text[end]))
            end++;
        for (guint32 k = char_at[p->offset]; k < char_at[end] && k < self->n_boxes; k++)
            w[k] += p->weight;
    }
    return w;
}

static float *line_weights(SlDocumentView *self, GArray *points, gsize *n_lines)
{
    gsize lines = 1;
    for (gsize i = 0; i < self->text_len; i++)
        lines += self->text[i] == '\n';
    float *w = g_new0(float, lines + 1);
    g_autofree guint32 *line_of = g_new(guint32, self->text_len + 1);
    guint32 l = 0;
    for (gsize i = 0; i <= self->text_len; i++) {
        line_of[i] = l;
        if (i < self->text_len && self->text[i] == '\n')
            l++;
    }
    for (guint i = 0; i < points->len; i++) {
        const SlHeatPoint *p = &g_array_index(points, SlHeatPoint, i);
        if (p->offset < self->text_len)
            w[line_of[p->offset]] += p->weight;
    }
    *n_lines = lines;
    return w;
}

static void apply_heat(SlDocumentView *self, GArray *points)
{
    if (!points || points->len == 0)
        return;
    SlHeatScale scale = self->log_scale ? SL_HEAT_SCALE_LOG : SL_HEAT_SCALE_LINEAR;
    if (self->pdf) {
        g_autofree float *w = char_weights(self, points);
        sl_pdf_page_set_heat_scale(self->pdf_page, scale);
        sl_pdf_page_set_heat(self->pdf_page, self->boxes, w, self->n_boxes);
        for (gsize i = 0; i < self->n_boxes; i++)
            self->n_hot += w[i] > 0;
    } else {
        gsize n = 0;
        g_autofree float *w = line_weights(self, points, &n);
        sl_code_view_set_heat_scale(self->code_view, scale);
        sl_code_view_set_line_heat(self->code_view, w, n);
        for (gsize i = 0; i < n; i++)
            self->n_hot += w[i] > 0;
    }
    gtk_widget_set_visible(self->heat_bar, TRUE);
}

/* Layers chosen in the drop-down: all (-1, -1), a run of eight, or one. */
static void chosen_layers(SlDocumentView *self, int *first, int *last)
{
    guint i = gtk_drop_down_get_selected(self->layers);
    int runs = (self->n_layers + 7) / 8;
    *first = *last = -1;
    if (i == 0 || i == GTK_INVALID_LIST_POSITION || self->n_layers <= 0)
        return;
    if ((int)i <= runs) {
        *first = ((int)i - 1) * 8;
        *last = MIN(*first + 7, self->n_layers - 1);
    } else
        *first = *last = (int)i - runs - 1;
}

/* "Selected for the whole answer, all layers: 106 tokens on this page" and the like.
 * whole: the heat is the whole answer's although a word was chosen (its records predate the
 * layers of each word's selections, and some layers were chosen). */
static void describe_heat(SlDocumentView *self, guint n_points, gboolean whole)
{
    int first, last;
    chosen_layers(self, &first, &last);
    g_autofree char *layers = first < 0 ? g_strdup(_("all layers"))
                              : first == last ? g_strdup_printf(_("layer %d"), first)
                                              : g_strdup_printf(_("layers %d–%d"), first, last);
    g_autofree char *whom = self->token >= 0 && !whole
        ? g_strdup_printf(_("the word “%s”"), self->token_text ? self->token_text : "")
        : g_strdup(_("the whole answer"));
    g_autofree char *label = g_strdup_printf(_("Selected for %s, %s: %u tokens of this page"),
                                             whom, layers, n_points);
    gtk_label_set_text(self->heat_label, label);
}

/* What the heat is for; the result is dropped if the view moved on meanwhile. */
typedef struct {
    SlLibrary *lib;
    gint64 answer, doc;
    int page;
    int token;
    SlLookedQuery q;
    gboolean whole; /* set by the thread: a word's layers were not kept, the answer's shown */
} HeatJob;

static void heat_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    HeatJob *j = data;
    g_autoptr(GError) error = NULL;
    GArray *points = sl_answer_page_heat(j->lib, j->answer, &j->q, j->doc, j->page, &error);
    if (!points && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED)) {
        /* Records from before words kept their layers: those layers over the whole answer,
         * and the label says so. */
        SlLookedQuery whole = {FALSE, -1, j->q.first_layer, j->q.last_layer};
        points = sl_answer_page_heat(j->lib, j->answer, &whole, j->doc, j->page, NULL);
        j->whole = TRUE;
    }
    g_task_return_pointer(task, points, (GDestroyNotify)g_array_unref);
}

static void on_heat(GObject *source, GAsyncResult *res, gpointer data)
{
    SlDocumentView *self = SL_DOCUMENT_VIEW(source);
    HeatJob *j = g_task_get_task_data(G_TASK(res));
    g_autoptr(GArray) points = g_task_propagate_pointer(G_TASK(res), NULL);
    self->heat_pending--;
    int first, last;
    chosen_layers(self, &first, &last);
    if (self->doc && j->doc == self->doc->id && j->page == self->page &&
        j->answer == self->answer_id && j->token == self->token && j->q.first_layer == first &&
        j->q.last_layer == last) {
        apply_heat(self, points);
        describe_heat(self, points ? points->len : 0, j->whole);
        gtk_widget_set_visible(self->heat_bar, TRUE);
    }
}

/* The page's heat is read off the main thread: decoding an answer's records takes time. */
static void update_heat(SlDocumentView *self)
{
    self->n_hot = 0;
    sl_pdf_page_clear_heat(self->pdf_page);
    sl_code_view_clear_line_heat(self->code_view);
    gtk_widget_set_visible(self->whole_button, self->token >= 0);
    if (!self->answer_id || !self->doc || !self->text) {
        gtk_widget_set_visible(self->heat_bar, FALSE);
        return;
    }
    HeatJob *j = g_new(HeatJob, 1);
    /* Word i was chosen with the selections made at the token before it (looked.h). */
    SlLookedQuery q = {FALSE, -1, -1, -1};
    if (self->token == 0)
        q = (SlLookedQuery){TRUE, SL_LOOKED_LAST, -1, -1};
    else if (self->token > 0)
        q.token = self->token - 1;
    *j = (HeatJob){self->lib, self->answer_id, self->doc->id, self->page, self->token, q, FALSE};
    chosen_layers(self, &j->q.first_layer, &j->q.last_layer);
    g_autoptr(GTask) task = g_task_new(self, NULL, on_heat, NULL);
    g_task_set_task_data(task, j, g_free);
    self->heat_pending++;
    g_task_run_in_thread(task, heat_thread);
}

gboolean sl_document_view_heat_pending(SlDocumentView *self)
{
    return self->heat_pending > 0;
}

void sl_document_view_set_answer(SlDocumentView *self, gint64 answer_id, gboolean log_scale)
{
    self->answer_id = answer_id;
    self->log_scale = log_scale;
    self->token = -1;
    g_clear_pointer(&self->token_text, g_free);
    g_signal_handlers_block_matched(self->log_toggle, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, self);
    gtk_toggle_button_set_active(self->log_toggle, log_scale);
    g_signal_handlers_unblock_matched(self->log_toggle, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, self);
    update_heat(self);
}

void sl_document_view_set_token(SlDocumentView *self, int token, const char *text)
{
    self->token = token;
    g_free(self->token_text);
    self->token_text = g_strdup(text);
    update_heat(self);
}

void sl_document_view_set_n_layers(SlDocumentView *self, int n_layers)
{
    if (n_layers == self->n_layers)
        return;
    self->n_layers = n_layers;
    guint old = g_list_model_get_n_items(G_LIST_MODEL(self->layer_names));
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(names, g_strdup(_("All layers")));
    for (int f = 0; f < n_layers; f += 8)
        g_ptr_array_add(names, g_strdup_printf(_("Layers %d–%d"), f, MIN(f + 7, n_layers - 1)));
    for (int l = 0; l < n_layers; l++)
        g_ptr_array_add(names, g_strdup_printf(_("Layer %d"), l));
    g_ptr_array_add(names, NULL);
    gtk_string_list_splice(self->layer_names, 0, old, (const char *const *)names->pdata);
    gtk_drop_down_set_selected(self->layers, 0);
}

static void on_whole_clicked(SlDocumentView *self)
{
    sl_document_view_set_token(self, -1, NULL);
}

static void on_layers_changed(SlDocumentView *self)
{
    update_heat(self);
}

static void on_log_toggled(SlDocumentView *self)
{
    self->log_scale = gtk_toggle_button_get_active(self->log_toggle);
    update_heat(self);
}

gsize sl_document_view_get_n_hot(SlDocumentView *self)
{
    return self->n_hot;
}

const char *sl_document_view_get_heat_description(SlDocumentView *self)
{
    return gtk_label_get_text(self->heat_label);
}

void sl_document_view_set_layers(SlDocumentView *self, guint choice)
{
    gtk_drop_down_set_selected(self->layers, choice);
}

/* ---------------------------------------------------------------- pages */

static void load_page_text(SlDocumentView *self)
{
    g_clear_pointer(&self->text, g_free);
    g_clear_pointer(&self->boxes, g_free);
    self->n_boxes = 0;
    g_autoptr(GBytes) blob = NULL;
    self->text = sl_library_page_text(self->lib, self->doc->id, self->page, &self->text_len,
                                      &blob, NULL);
    if (blob) {
        gsize size = 0;
        const void *data = g_bytes_get_data(blob, &size);
        self->boxes = sl_boxes_decode(data, size, &self->n_boxes, NULL);
    }
}

void sl_document_view_show_page(SlDocumentView *self, int page)
{
    if (!self->doc || page < 1 || page > MAX(self->doc->pages, 1))
        return;
    self->page = page;
    if (self->pdf) {
        PopplerPage *p = poppler_document_get_page(self->pdf, page - 1);
        sl_pdf_page_set_page(self->pdf_page, p);
        g_clear_object(&p);
        sl_pdf_page_clear_highlight(self->pdf_page);
    }
    load_page_text(self);
    if (gtk_adjustment_get_value(self->page_adjustment) != page)
        gtk_adjustment_set_value(self->page_adjustment, page);
    update_heat(self);
}

int sl_document_view_get_page(SlDocumentView *self) { return self->page; }
gint64 sl_document_view_get_document(SlDocumentView *self) { return self->doc ? self->doc->id : 0; }

static void show_status(SlDocumentView *self, const char *icon, const char *title,
                        const char *description)
{
    adw_status_page_set_icon_name(self->status, icon);
    adw_status_page_set_title(self->status, title);
    adw_status_page_set_description(self->status, description);
    gtk_stack_set_visible_child_name(self->stack, "empty");
}

static gboolean open_pdf(SlDocumentView *self, GError **error)
{
    g_autofree char *uri = g_filename_to_uri(self->doc->path, NULL, error);
    if (uri)
        self->pdf = poppler_document_new_from_file(uri, NULL, error);
    if (!self->pdf)
        g_prefix_error(error, "%s: ", self->doc->path);
    return self->pdf != NULL;
}

gboolean sl_document_view_show(SlDocumentView *self, gint64 id, GError **error)
{
    g_clear_pointer(&self->doc, sl_document_free);
    g_clear_object(&self->pdf);
    self->page = 0;
    gtk_widget_set_visible(self->toolbar, id != 0);
    if (!id) {
        show_status(self, "x-office-document-symbolic", _("No Document Open"),
                    _("Choose a document in the library to read it here."));
        return TRUE;
    }
    g_autofree char *key = g_strdup_printf("%" G_GINT64_FORMAT, id);
    if (!(self->doc = sl_library_get(self->lib, key, error)))
        return FALSE;
    gtk_label_set_text(self->title, self->doc->title ? self->doc->title : self->doc->path);
    gboolean pdf = !g_strcmp0(self->doc->kind, "pdf");
    gtk_widget_set_visible(self->page_controls, pdf);
    if (g_strcmp0(self->doc->status, "ok") != 0) {
        show_status(self, "dialog-warning-symbolic", self->doc->title,
                    self->doc->error ? self->doc->error : self->doc->status);
        return TRUE;
    }
    if (pdf && !open_pdf(self, error)) {
        show_status(self, "dialog-error-symbolic", self->doc->title, (*error)->message);
        return FALSE;
    }
    gtk_adjustment_set_upper(self->page_adjustment, MAX(self->doc->pages, 1));
    g_autofree char *of = g_strdup_printf(_("of %d"), self->doc->pages);
    gtk_label_set_text(self->n_pages_label, of);
    sl_document_view_show_page(self, 1);
    if (!pdf)
        sl_code_view_set_text(self->code_view, self->text ? self->text : "", (gssize)self->text_len,
                              self->doc->language);
    gtk_stack_set_visible_child_name(self->stack, pdf ? "pdf" : "code");
    update_heat(self);
    return TRUE;
}

/* ---------------------------------------------------------------- highlight and find */

/* Outlines characters [first, last) of the page shown. */
static void highlight_chars(SlDocumentView *self, gsize first, gsize last)
{
    if (!self->boxes || first >= last || last > self->n_boxes)
        return;
    sl_pdf_page_set_highlight(self->pdf_page, self->boxes + 4 * first, last - first);
    /* scroll so that the first box is in view */
    GtkAdjustment *v = gtk_scrolled_window_get_vadjustment(GTK_SCROLLED_WINDOW(
        gtk_widget_get_ancestor(GTK_WIDGET(self->pdf_page), GTK_TYPE_SCROLLED_WINDOW)));
    double y = self->boxes[4 * first + 1] * sl_pdf_page_get_zoom(self->pdf_page);
    gtk_adjustment_set_value(v, MAX(0, y - gtk_adjustment_get_page_size(v) / 3));
}

static gsize chars_before(const char *text, gsize bytes)
{
    return (gsize)g_utf8_pointer_to_offset(text, text + bytes);
}

void sl_document_view_highlight(SlDocumentView *self, int page, gsize start, gsize end,
                                int first_line, int last_line)
{
    if (!self->doc)
        return;
    if (self->pdf) {
        if (page > 0 && page != self->page)
            sl_document_view_show_page(self, page);
        if (self->text && end > start && end <= self->text_len)
            highlight_chars(self, chars_before(self->text, start), chars_before(self->text, end));
    } else if (first_line > 0)
        sl_code_view_highlight_lines(self->code_view, first_line, MAX(first_line, last_line));
}

static void on_find_changed(SlDocumentView *self)
{
    const char *needle = gtk_editable_get_text(GTK_EDITABLE(self->find_entry));
    sl_pdf_page_clear_highlight(self->pdf_page);
    sl_code_view_clear_highlight(self->code_view);
    if (!*needle || !self->text)
        return;
    g_autofree char *hay = g_utf8_casefold(self->text, (gssize)self->text_len);
    g_autofree char *pin = g_utf8_casefold(needle, -1);
    const char *at = strstr(hay, pin);
    if (!at || strlen(hay) != self->text_len) /* case folding changed lengths: exact search */
        at = NULL;
    gsize start = at ? (gsize)(at - hay) : 0;
    if (!at) {
        const char *exact = strstr(self->text, needle);
        if (!exact)
            return;
        start = (gsize)(exact - self->text);
    }
    gsize end = start + strlen(needle);
    if (self->pdf)
        highlight_chars(self, chars_before(self->text, start), chars_before(self->text, end));
    else {
        int line = 1;
        for (gsize i = 0; i < start; i++)
            line += self->text[i] == '\n';
        sl_code_view_highlight_lines(self->code_view, line, line);
    }
}

/* ---------------------------------------------------------------- the class */

static void page_action(GtkWidget *widget, const char *name, GVariant *param)
{
    SlDocumentView *self = SL_DOCUMENT_VIEW(widget);
    if (!strcmp(name, "doc.next-page"))
        sl_document_view_show_page(self, self->page + 1);
    else if (!strcmp(name, "doc.previous-page"))
        sl_document_view_show_page(self, self->page - 1);
    else {
        double z = sl_pdf_page_get_zoom(self->pdf_page);
        sl_pdf_page_set_zoom(self->pdf_page, CLAMP(!strcmp(name, "doc.zoom-in") ? z * 1.25 : z / 1.25,
                                                   0.25, 6.0));
    }
}

static void on_page_spin(SlDocumentView *self)
{
    int p = (int)gtk_adjustment_get_value(self->page_adjustment);
    if (p != self->page)
        sl_document_view_show_page(self, p);
}

void sl_document_view_set_library(SlDocumentView *self, SlLibrary *lib)
{
    self->lib = lib;
}

static void sl_document_view_dispose(GObject *object)
{
    SlDocumentView *self = SL_DOCUMENT_VIEW(object);
    gtk_widget_dispose_template(GTK_WIDGET(self), SL_TYPE_DOCUMENT_VIEW);
    g_clear_pointer(&self->doc, sl_document_free);
    g_clear_object(&self->pdf);
    g_clear_pointer(&self->text, g_free);
    g_clear_pointer(&self->boxes, g_free);
    g_clear_pointer(&self->token_text, g_free);
    g_clear_object(&self->layer_names);
    G_OBJECT_CLASS(sl_document_view_parent_class)->dispose(object);
}

static void sl_document_view_init(SlDocumentView *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    self->token = -1;
    self->layer_names = gtk_string_list_new((const char *const[]){_("All layers"), NULL});
    gtk_drop_down_set_model(self->layers, G_LIST_MODEL(self->layer_names));
    g_signal_connect_swapped(self->page_adjustment, "value-changed", G_CALLBACK(on_page_spin), self);
}

static void sl_document_view_class_init(SlDocumentViewClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    object_class->dispose = sl_document_view_dispose;
    g_type_ensure(SL_TYPE_PDF_PAGE);
    g_type_ensure(SL_TYPE_CODE_VIEW);
    gtk_widget_class_set_template_from_resource(widget_class, APP_RESOURCE_PATH "/document-view.ui");
    gtk_widget_class_set_css_name(widget_class, "documentview");
#define CHILD(name) gtk_widget_class_bind_template_child(widget_class, SlDocumentView, name)
    CHILD(toolbar);
    CHILD(title);
    CHILD(page_controls);
    CHILD(page_spin);
    CHILD(page_adjustment);
    CHILD(n_pages_label);
    CHILD(find_entry);
    CHILD(heat_label);
    CHILD(heat_bar);
    CHILD(whole_button);
    CHILD(layers);
    CHILD(log_toggle);
    CHILD(stack);
    CHILD(status);
    CHILD(pdf_page);
    CHILD(code_view);
#undef CHILD
    gtk_widget_class_bind_template_callback(widget_class, on_find_changed);
    gtk_widget_class_bind_template_callback(widget_class, on_whole_clicked);
    gtk_widget_class_bind_template_callback(widget_class, on_layers_changed);
    gtk_widget_class_bind_template_callback(widget_class, on_log_toggled);
    gtk_widget_class_install_action(widget_class, "doc.next-page", NULL, page_action);
    gtk_widget_class_install_action(widget_class, "doc.previous-page", NULL, page_action);
    gtk_widget_class_install_action(widget_class, "doc.zoom-in", NULL, page_action);
    gtk_widget_class_install_action(widget_class, "doc.zoom-out", NULL, page_action);
    gtk_widget_class_add_binding_action(widget_class, GDK_KEY_Page_Down, 0, "doc.next-page", NULL);
    gtk_widget_class_add_binding_action(widget_class, GDK_KEY_Page_Up, 0, "doc.previous-page", NULL);
    gtk_widget_class_add_binding_action(widget_class, GDK_KEY_plus, GDK_CONTROL_MASK, "doc.zoom-in", NULL);
    gtk_widget_class_add_binding_action(widget_class, GDK_KEY_minus, GDK_CONTROL_MASK, "doc.zoom-out", NULL);
}
