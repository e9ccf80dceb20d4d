/* library-sidebar.c: the documents of the library (see library-sidebar.h). */
#include "library-sidebar.h"

#include "document-item.h"
#include "ingest.h"

#include <glib/gi18n.h>

struct _SlLibrarySidebar {
    GtkWidget parent_instance;
    GtkSearchEntry *search;
    GtkDropDown *collections;
    GtkStack *stack;
    GtkListView *list;
    GtkRevealer *progress_revealer;
    GtkRevealer *hits_revealer;
    GtkListBox *hits;
    GtkLabel *progress_label;
    GtkProgressBar *progress_bar;

    SlLibrary *lib;
    GListStore *store;          /* SlDocumentItem */
    GtkStringFilter *filter;
    GtkMultiSelection *selection;
    GtkStringList *collection_names; /* "All Documents", then the collections */
    GCancellable *adding;
    gint64 last_reload;
    gulong collection_handler;
    char *show_after_add; /* the collection the files went to */
};

G_DEFINE_FINAL_TYPE(SlLibrarySidebar, sl_library_sidebar, GTK_TYPE_WIDGET)

enum { DOCUMENT_ACTIVATED, SELECTION_CHANGED, INGEST_FINISHED, HIT_ACTIVATED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---------------------------------------------------------------- rows */

static void setup_row(GtkSignalListItemFactory *f, GtkListItem *item, gpointer data)
{
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 10);
    GtkWidget *icon = gtk_image_new();
    GtkWidget *texts = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2);
    GtkWidget *title = gtk_label_new(NULL), *detail = gtk_label_new(NULL);
    gtk_label_set_xalign(GTK_LABEL(title), 0);
    gtk_label_set_xalign(GTK_LABEL(detail), 0);
    gtk_label_set_ellipsize(GTK_LABEL(title), PANGO_ELLIPSIZE_END);
    gtk_label_set_ellipsize(GTK_LABEL(detail), PANGO_ELLIPSIZE_END);
    gtk_widget_add_css_class(detail, "caption");
    gtk_widget_add_css_class(detail, "dim-label");
    gtk_box_append(GTK_BOX(texts), title);
    gtk_box_append(GTK_BOX(texts), detail);
    gtk_box_append(GTK_BOX(box), icon);
    gtk_box_append(GTK_BOX(box), texts);
    gtk_list_item_set_child(item, box);
}

static void bind_row(GtkSignalListItemFactory *f, GtkListItem *item, gpointer data)
{
    SlDocumentItem *doc = gtk_list_item_get_item(item);
    GtkWidget *box = gtk_list_item_get_child(item);
    GtkWidget *icon = gtk_widget_get_first_child(box);
    GtkWidget *texts = gtk_widget_get_next_sibling(icon);
    GtkWidget *title = gtk_widget_get_first_child(texts);
    GtkWidget *detail = gtk_widget_get_next_sibling(title);
    gtk_image_set_from_icon_name(GTK_IMAGE(icon), sl_document_item_get_icon_name(doc));
    gtk_label_set_text(GTK_LABEL(title), sl_document_item_get_title(doc));
    gtk_label_set_text(GTK_LABEL(detail), sl_document_item_get_detail(doc));
    gtk_widget_set_tooltip_text(box, sl_document_item_get_path(doc));
    gboolean problem = g_strcmp0(sl_document_item_get_status(doc), "ok") != 0;
    if (problem)
        gtk_widget_add_css_class(detail, "warning");
    else
        gtk_widget_remove_css_class(detail, "warning");
}

/* ---------------------------------------------------------------- reading the library */

static void reload_collections(SlLibrarySidebar *self)
{
    g_autoptr(GPtrArray) cols = sl_library_collections(self->lib, NULL);
    const char *current = sl_library_sidebar_get_collection(self);
    g_autofree char *keep = g_strdup(current);
    guint n = g_list_model_get_n_items(G_LIST_MODEL(self->collection_names));
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    g_ptr_array_add(names, _("All Documents"));
    guint selected = 0;
    for (guint i = 0; cols && i < cols->len; i++) {
        SlCollection *c = cols->pdata[i];
        if (!g_strcmp0(c->name, keep))
            selected = names->len;
        g_ptr_array_add(names, c->name);
    }
    g_ptr_array_add(names, NULL);
    g_signal_handler_block(self->collections, self->collection_handler);
    gtk_string_list_splice(self->collection_names, 0, n, (const char *const *)names->pdata);
    gtk_drop_down_set_selected(self->collections, selected);
    g_signal_handler_unblock(self->collections, self->collection_handler);
}

/* wait: FALSE while an add runs: the list is then brought up to date only when the writer
 * is between documents, never by waiting for it (a long PDF takes seconds to store). */
static void reload(SlLibrarySidebar *self, gboolean wait)
{
    if (!self->lib)
        return;
    const char *collection = sl_library_sidebar_get_collection(self);
    g_autoptr(GPtrArray) docs = wait ? sl_library_list(self->lib, collection, NULL)
                                     : sl_library_list_nowait(self->lib, collection, NULL);
    if (!docs)
        return;
    self->last_reload = g_get_monotonic_time();
    g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_object_unref);
    for (guint i = 0; docs && i < docs->len; i++)
        g_ptr_array_add(items, sl_document_item_new(docs->pdata[i]));
    g_list_store_splice(self->store, 0, g_list_model_get_n_items(G_LIST_MODEL(self->store)),
                        items->pdata, items->len);
    gtk_stack_set_visible_child_name(self->stack, items->len ? "list" : "empty");
}

void sl_library_sidebar_reload(SlLibrarySidebar *self)
{
    reload(self, TRUE);
}

void sl_library_sidebar_set_library(SlLibrarySidebar *self, SlLibrary *lib)
{
    self->lib = lib;
    reload_collections(self);
    sl_library_sidebar_reload(self);
}

const char *sl_library_sidebar_get_collection(SlLibrarySidebar *self)
{
    guint i = gtk_drop_down_get_selected(self->collections);
    if (i == 0 || i == GTK_INVALID_LIST_POSITION)
        return NULL;
    return gtk_string_list_get_string(self->collection_names, i);
}

guint sl_library_sidebar_get_n_documents(SlLibrarySidebar *self)
{
    return g_list_model_get_n_items(G_LIST_MODEL(self->store));
}

static GArray *ids_of(GListModel *model, GtkBitset *only)
{
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(gint64));
    guint n = g_list_model_get_n_items(model);
    for (guint i = 0; i < n; i++) {
        if (only && !gtk_bitset_contains(only, i))
            continue;
        g_autoptr(SlDocumentItem) item = g_list_model_get_item(model, i);
        gint64 id = sl_document_item_get_id(item);
        g_array_append_val(ids, id);
    }
    return ids;
}

GArray *sl_library_sidebar_get_selected(SlLibrarySidebar *self)
{
    g_autoptr(GtkBitset) set = gtk_selection_model_get_selection(GTK_SELECTION_MODEL(self->selection));
    return ids_of(G_LIST_MODEL(self->selection), set);
}

GArray *sl_library_sidebar_get_shown(SlLibrarySidebar *self)
{
    return ids_of(G_LIST_MODEL(self->selection), NULL);
}

void sl_library_sidebar_select(SlLibrarySidebar *self, gint64 id)
{
    GListModel *m = G_LIST_MODEL(self->selection);
    for (guint i = 0; i < g_list_model_get_n_items(m); i++) {
        g_autoptr(SlDocumentItem) item = g_list_model_get_item(m, i);
        if (sl_document_item_get_id(item) == id) {
            gtk_selection_model_select_item(GTK_SELECTION_MODEL(self->selection), i, TRUE);
            return;
        }
    }
}

/* ---------------------------------------------------------------- adding */

static void on_add_progress(const SlIngestProgress *p, gpointer data)
{
    SlLibrarySidebar *self = data;
    double frac = p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total
                                 : p->documents_total ? (double)p->documents_done / p->documents_total : 0;
    gtk_progress_bar_set_fraction(self->progress_bar, CLAMP(frac, 0, 1));
    g_autofree char *label = g_strdup_printf(_("Adding %u of %u files · %lu pages"),
                                             MIN(p->documents_done + 1, p->documents_total),
                                             p->documents_total, (unsigned long)p->pages_done);
    gtk_label_set_text(self->progress_label, label);
    /* The list follows, at most twice a second: a tree of thousands of files stays fluid. */
    if (p->path && g_get_monotonic_time() - self->last_reload > 500000)
        reload(self, FALSE);
}

/* "Added 12 documents; 3 skipped; 1 could not be read: …" */
static char *summarise(GPtrArray *results, char **errors)
{
    guint added = 0, unchanged = 0, skipped = 0, failed = 0;
    GString *err = g_string_new(NULL);
    for (guint i = 0; i < results->len; i++) {
        SlIngestResult *r = results->pdata[i];
        if (r->error && !g_error_matches(r->error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            failed++;
            g_string_append_printf(err, "%s%s", err->len ? "\n" : "", r->error->message);
        } else if (r->skipped)
            skipped++;
        else if (!r->error && (r->outcome == SL_STORED_ADDED || r->outcome == SL_STORED_UPDATED))
            added++;
        else if (!r->error)
            unchanged++;
    }
    *errors = err->len ? g_string_free(err, FALSE) : (g_string_free(err, TRUE), NULL);
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, g_dngettext(GETTEXT_PACKAGE, "Added %u document", "Added %u documents",
                                          added), added);
    if (unchanged)
        g_string_append_printf(s, _(", %u already there"), unchanged);
    if (skipped)
        g_string_append_printf(s, _(", %u skipped"), skipped);
    if (failed)
        g_string_append_printf(s, g_dngettext(GETTEXT_PACKAGE, ", %u could not be read",
                                              ", %u could not be read", failed), failed);
    return g_string_free(s, FALSE);
}

static void on_add_done(GObject *source, GAsyncResult *res, gpointer data)
{
    g_autoptr(SlLibrarySidebar) self = data;
    g_autoptr(GPtrArray) results = sl_ingest_files_finish(NULL, res, NULL);
    gboolean cancelled = g_cancellable_is_cancelled(self->adding);
    g_clear_object(&self->adding);
    gtk_revealer_set_reveal_child(self->progress_revealer, FALSE);
    reload_collections(self);
    for (guint i = 1; self->show_after_add &&
                      i < g_list_model_get_n_items(G_LIST_MODEL(self->collection_names)); i++)
        if (!g_strcmp0(gtk_string_list_get_string(self->collection_names, i), self->show_after_add))
            gtk_drop_down_set_selected(self->collections, i);
    sl_library_sidebar_reload(self);
    g_autofree char *errors = NULL;
    g_autofree char *summary = results ? summarise(results, &errors) : g_strdup("");
    if (cancelled) {
        g_autofree char *s = g_strdup_printf(_("%s; stopped, the rest is left for later"), summary);
        g_signal_emit(self, signals[INGEST_FINISHED], 0, s, errors);
    } else
        g_signal_emit(self, signals[INGEST_FINISHED], 0, summary, errors);
}

static void add_files_to(SlLibrarySidebar *self, GFile **files, guint n, const char *collection);

void sl_library_sidebar_add_files(SlLibrarySidebar *self, GFile **files, guint n)
{
    add_files_to(self, files, n, sl_library_sidebar_get_collection(self));
}

void sl_library_sidebar_add_files_to(SlLibrarySidebar *self, GFile **files, guint n,
                                     const char *collection)
{
    add_files_to(self, files, n, collection);
}

/* A new collection: its files go in, and the list shows it. */
static void add_files_to(SlLibrarySidebar *self, GFile **files, guint n, const char *collection)
{
    if (!self->lib || n == 0)
        return;
    if (self->adding) /* one add at a time: the next waits for the user to add again */
        return;
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < n; i++) {
        char *p = g_file_get_path(files[i]);
        if (p)
            g_ptr_array_add(paths, p);
    }
    g_ptr_array_add(paths, NULL);
    self->adding = g_cancellable_new();
    gtk_progress_bar_set_fraction(self->progress_bar, 0);
    gtk_label_set_text(self->progress_label, _("Looking at the files…"));
    gtk_revealer_set_reveal_child(self->progress_revealer, TRUE);
    g_free(self->show_after_add);
    self->show_after_add = g_strdup(collection);
    sl_ingest_files_async(self->lib, (const char *const *)paths->pdata, collection, self->adding,
                          on_add_progress, g_object_ref(self), g_object_unref, on_add_done,
                          g_object_ref(self));
}

gboolean sl_library_sidebar_cancel_add(SlLibrarySidebar *self)
{
    if (!self->adding)
        return FALSE;
    g_cancellable_cancel(self->adding);
    return TRUE;
}

gboolean sl_library_sidebar_is_adding(SlLibrarySidebar *self)
{
    return self->adding != NULL;
}

static void on_cancel_clicked(SlLibrarySidebar *self)
{
    sl_library_sidebar_cancel_add(self);
}

/* ---------------------------------------------------------------- removing */

static void remove_action(GtkWidget *widget, const char *name, GVariant *param)
{
    SlLibrarySidebar *self = SL_LIBRARY_SIDEBAR(widget);
    g_autoptr(GArray) ids = sl_library_sidebar_get_selected(self);
    for (guint i = 0; i < ids->len; i++)
        sl_library_remove(self->lib, g_array_index(ids, gint64, i), NULL);
    if (ids->len) {
        reload_collections(self);
        sl_library_sidebar_reload(self);
    }
}

/* ---------------------------------------------------------------- the class */

/* Passages of the library that hold the words (FTS5, BM25): a few milliseconds at most,
 * measured by bench-library, so it runs as the user types. */
static void show_hits(SlLibrarySidebar *self, const char *query)
{
    GtkWidget *row;
    while ((row = gtk_widget_get_first_child(GTK_WIDGET(self->hits))))
        gtk_list_box_remove(self->hits, row);
    g_autoptr(GPtrArray) hits = self->lib && g_utf8_strlen(query, -1) >= 2
                                    ? sl_library_search(self->lib, query, 12, NULL) : NULL;
    for (guint i = 0; hits && i < hits->len; i++) {
        const SlHit *h = hits->pdata[i];
        g_autofree char *where = h->first_line
            ? g_strdup_printf(_("%s, lines %d–%d"), h->title ? h->title : "", h->first_line, h->last_line)
            : g_strdup_printf(_("%s, p. %d"), h->title ? h->title : "", h->page);
        AdwActionRow *r = ADW_ACTION_ROW(adw_action_row_new());
        adw_preferences_row_set_use_markup(ADW_PREFERENCES_ROW(r), FALSE);
        adw_preferences_row_set_title(ADW_PREFERENCES_ROW(r), where);
        g_autofree char *snippet = g_strdup(h->snippet ? h->snippet : "");
        g_strdelimit(snippet, "\r\n\t", ' ');
        adw_action_row_set_subtitle(r, snippet);
        adw_action_row_set_subtitle_lines(r, 2);
        gtk_list_box_row_set_activatable(GTK_LIST_BOX_ROW(r), TRUE);
        SlHit *target = g_new0(SlHit, 1); /* where it leads; the strings are not kept */
        target->document_id = h->document_id;
        target->page = h->page;
        target->first_line = h->first_line;
        target->last_line = h->last_line;
        g_object_set_data_full(G_OBJECT(r), "hit", target, g_free);
        gtk_list_box_append(self->hits, GTK_WIDGET(r));
    }
    gtk_revealer_set_reveal_child(self->hits_revealer, hits && hits->len > 0);
}

static void on_hit_activated(SlLibrarySidebar *self, GtkListBoxRow *row)
{
    const SlHit *t = g_object_get_data(G_OBJECT(row), "hit");
    if (t)
        g_signal_emit(self, signals[HIT_ACTIVATED], 0, t->document_id, t->page, t->first_line,
                      t->last_line);
}

static void on_search_changed(SlLibrarySidebar *self)
{
    const char *query = gtk_editable_get_text(GTK_EDITABLE(self->search));
    gtk_string_filter_set_search(self->filter, query);
    show_hits(self, query);
}

guint sl_library_sidebar_get_n_hits(SlLibrarySidebar *self)
{
    guint n = 0;
    for (GtkWidget *c = gtk_widget_get_first_child(GTK_WIDGET(self->hits)); c;
         c = gtk_widget_get_next_sibling(c))
        n++;
    return n;
}

void sl_library_sidebar_search(SlLibrarySidebar *self, const char *query)
{
    gtk_editable_set_text(GTK_EDITABLE(self->search), query);
    on_search_changed(self);
}

static void on_activate(SlLibrarySidebar *self, guint position)
{
    g_autoptr(SlDocumentItem) item = g_list_model_get_item(G_LIST_MODEL(self->selection), position);
    if (item)
        g_signal_emit(self, signals[DOCUMENT_ACTIVATED], 0, sl_document_item_get_id(item));
}

static void on_selection_changed(SlLibrarySidebar *self)
{
    g_signal_emit(self, signals[SELECTION_CHANGED], 0);
}

static void sl_library_sidebar_dispose(GObject *object)
{
    SlLibrarySidebar *self = SL_LIBRARY_SIDEBAR(object);
    if (self->adding)
        g_cancellable_cancel(self->adding);
    gtk_widget_dispose_template(GTK_WIDGET(self), SL_TYPE_LIBRARY_SIDEBAR);
    g_clear_object(&self->store);
    g_clear_object(&self->collection_names);
    g_clear_pointer(&self->show_after_add, g_free);
    G_OBJECT_CLASS(sl_library_sidebar_parent_class)->dispose(object);
}

static void sl_library_sidebar_init(SlLibrarySidebar *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    self->store = g_list_store_new(SL_TYPE_DOCUMENT_ITEM);
    GtkExpression *title = gtk_property_expression_new(SL_TYPE_DOCUMENT_ITEM, NULL, "title");
    self->filter = gtk_string_filter_new(title);
    GtkFilterListModel *filtered = gtk_filter_list_model_new(G_LIST_MODEL(g_object_ref(self->store)),
                                                             GTK_FILTER(self->filter));
    self->selection = gtk_multi_selection_new(G_LIST_MODEL(filtered));
    g_signal_connect_swapped(self->selection, "selection-changed",
                             G_CALLBACK(on_selection_changed), self);
    GtkListItemFactory *factory = gtk_signal_list_item_factory_new();
    g_signal_connect(factory, "setup", G_CALLBACK(setup_row), NULL);
    g_signal_connect(factory, "bind", G_CALLBACK(bind_row), NULL);
    gtk_list_view_set_factory(self->list, factory);
    g_object_unref(factory);
    gtk_list_view_set_model(self->list, GTK_SELECTION_MODEL(self->selection));
    g_object_unref(self->selection); /* the view holds it */
    self->collection_names = gtk_string_list_new((const char *const[]){_("All Documents"), NULL});
    gtk_drop_down_set_model(self->collections, G_LIST_MODEL(self->collection_names));
    self->collection_handler = g_signal_connect_swapped(self->collections, "notify::selected",
                                                        G_CALLBACK(sl_library_sidebar_reload), self);
}

static void sl_library_sidebar_class_init(SlLibrarySidebarClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    object_class->dispose = sl_library_sidebar_dispose;
    gtk_widget_class_set_template_from_resource(widget_class, APP_RESOURCE_PATH "/library-sidebar.ui");
    gtk_widget_class_set_css_name(widget_class, "librarysidebar");
    gtk_widget_class_bind_template_child(widget_class, SlLibrarySidebar, search);
    gtk_widget_class_bind_template_child(widget_class, SlLibrarySidebar, collections);
    gtk_widget_class_bind_template_child(widget_class, SlLibrarySidebar, stack);
    gtk_widget_class_bind_template_child(widget_class, SlLibrarySidebar, list);
    gtk_widget_class_bind_template_child(widget_class, SlLibrarySidebar, progress_revealer);
    gtk_widget_class_bind_template_child(widget_class, SlLibrarySidebar, progress_label);
    gtk_widget_class_bind_template_child(widget_class, SlLibrarySidebar, progress_bar);
    gtk_widget_class_bind_template_child(widget_class, SlLibrarySidebar, hits_revealer);
    gtk_widget_class_bind_template_child(widget_class, SlLibrarySidebar, hits);
    gtk_widget_class_bind_template_callback(widget_class, on_hit_activated);
    gtk_widget_class_bind_template_callback(widget_class, on_search_changed);
    gtk_widget_class_bind_template_callback(widget_class, on_activate);
    gtk_widget_class_bind_template_callback(widget_class, on_cancel_clicked);
    gtk_widget_class_install_action(widget_class, "sidebar.remove", NULL, remove_action);
    gtk_widget_class_add_binding_action(widget_class, GDK_KEY_Delete, 0, "sidebar.remove", NULL);
    signals[DOCUMENT_ACTIVATED] = g_signal_new("document-activated", G_TYPE_FROM_CLASS(klass),
                                               G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                               G_TYPE_NONE, 1, G_TYPE_INT64);
    signals[SELECTION_CHANGED] = g_signal_new("selection-changed", G_TYPE_FROM_CLASS(klass),
                                              G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                              G_TYPE_NONE, 0);
    /* (document id, page, first line, last line): a passage found in the text was chosen */
    signals[HIT_ACTIVATED] = g_signal_new("hit-activated", G_TYPE_FROM_CLASS(klass),
                                          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 4,
                                          G_TYPE_INT64, G_TYPE_INT, G_TYPE_INT, G_TYPE_INT);
    /* summary for people, and the errors (one per line) or NULL */
    signals[INGEST_FINISHED] = g_signal_new("ingest-finished", G_TYPE_FROM_CLASS(klass),
                                            G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                            2, G_TYPE_STRING, G_TYPE_STRING);
}
