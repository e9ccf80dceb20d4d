/* window.c: the main window, wiring the library, the document and the conversation. */
#include "window.h"

#include "application.h"
#include "chat-view.h"
#include "document-view.h"
#include "library-sidebar.h"
#include "preferences.h"

#include <glib/gi18n.h>

struct _SlWindow {
    AdwApplicationWindow parent_instance;
    AdwToastOverlay *toasts;
    AdwWindowTitle *window_title;
    GtkPaned *outer, *inner;
    SlLibrarySidebar *sidebar;
    SlDocumentView *document_view;
    SlChatView *chat_view;
    SlApplication *app;
};

G_DEFINE_FINAL_TYPE(SlWindow, sl_window, ADW_TYPE_APPLICATION_WINDOW)

void sl_window_toast(SlWindow *self, const char *text)
{
    AdwToast *toast = adw_toast_new(text);
    adw_toast_set_timeout(toast, 5);
    adw_toast_overlay_add_toast(self->toasts, toast);
}

SlLibrarySidebar *sl_window_get_sidebar(SlWindow *self) { return self->sidebar; }
SlDocumentView *sl_window_get_document_view(SlWindow *self) { return self->document_view; }
SlChatView *sl_window_get_chat_view(SlWindow *self) { return self->chat_view; }

/* ---------------------------------------------------------------- adding */

void sl_window_add_files(SlWindow *self, GFile **files, guint n)
{
    if (sl_library_sidebar_is_adding(self->sidebar)) {
        sl_window_toast(self, _("Still adding the last files; add these when it is done"));
        return;
    }
    sl_library_sidebar_add_files(self->sidebar, files, n);
}

static void on_errors_response(AdwMessageDialog *dialog, const char *response, gpointer data)
{
    gtk_window_destroy(GTK_WINDOW(dialog));
}

static void show_errors(SlWindow *self, const char *errors)
{
    GtkWidget *d = adw_message_dialog_new(GTK_WINDOW(self), _("Some Files Were Not Added"), errors);
    adw_message_dialog_add_response(ADW_MESSAGE_DIALOG(d), "close", _("_Close"));
    g_signal_connect(d, "response", G_CALLBACK(on_errors_response), NULL);
    gtk_window_present(GTK_WINDOW(d));
}

static void on_errors_toast(AdwToast *toast, gpointer data)
{
    SlWindow *self = data;
    show_errors(self, g_object_get_data(G_OBJECT(toast), "errors"));
}

static void on_ingest_finished(SlWindow *self, const char *summary, const char *errors)
{
    AdwToast *toast = adw_toast_new(summary);
    adw_toast_set_timeout(toast, errors ? 0 : 5);
    if (errors) {
        adw_toast_set_button_label(toast, _("_Details"));
        g_object_set_data_full(G_OBJECT(toast), "errors", g_strdup(errors), g_free);
        g_signal_connect(toast, "button-clicked", G_CALLBACK(on_errors_toast), self);
    }
    adw_toast_overlay_add_toast(self->toasts, toast);
}

static void on_chooser_response(GtkNativeDialog *dialog, int response, gpointer data)
{
    SlWindow *self = data;
    const char *collection = g_object_get_data(G_OBJECT(dialog), "collection");
    if (response == GTK_RESPONSE_ACCEPT) {
        g_autoptr(GListModel) files = gtk_file_chooser_get_files(GTK_FILE_CHOOSER(dialog));
        guint n = g_list_model_get_n_items(files);
        g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(g_object_unref);
        for (guint i = 0; i < n; i++)
            g_ptr_array_add(list, g_list_model_get_item(files, i));
        if (collection && !sl_library_sidebar_is_adding(self->sidebar))
            sl_library_sidebar_add_files_to(self->sidebar, (GFile **)list->pdata, list->len, collection);
        else
            sl_window_add_files(self, (GFile **)list->pdata, list->len);
    }
    g_object_unref(dialog);
}

/* Files or a folder to add; into collection when not NULL. */
static void choose_files(SlWindow *self, gboolean folder, const char *collection)
{
    /* GtkFileDialog needs GTK 4.10; Debian 12 has 4.8. */
    GtkFileChooserNative *chooser = gtk_file_chooser_native_new(
        folder ? _("Add a Folder") : _("Add Files"), GTK_WINDOW(self),
        folder ? GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER : GTK_FILE_CHOOSER_ACTION_OPEN, _("_Add"),
        NULL);
    gtk_file_chooser_set_select_multiple(GTK_FILE_CHOOSER(chooser), TRUE);
    g_object_set_data_full(G_OBJECT(chooser), "collection", g_strdup(collection), g_free);
    g_signal_connect(chooser, "response", G_CALLBACK(on_chooser_response), self);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(chooser));
}

static void add_action(GtkWidget *widget, const char *name, GVariant *param)
{
    choose_files(SL_WINDOW(widget), !g_strcmp0(name, "win.add-folder"), NULL);
}

static void on_collection_named(AdwMessageDialog *dialog, const char *response, gpointer data)
{
    SlWindow *self = data;
    GtkEditable *entry = GTK_EDITABLE(adw_message_dialog_get_extra_child(dialog));
    g_autofree char *name = g_strstrip(g_strdup(gtk_editable_get_text(entry)));
    if (!g_strcmp0(response, "create") && *name)
        choose_files(self, FALSE, name);
}

/* A collection is a name given to documents: made by adding files under it. */
static void new_collection_action(GtkWidget *widget, const char *name, GVariant *param)
{
    SlWindow *self = SL_WINDOW(widget);
    GtkWidget *d = adw_message_dialog_new(GTK_WINDOW(self), _("New Collection"),
                                          _("Name it, then choose the files it holds. More can be added while it is shown."));
    GtkWidget *entry = gtk_entry_new();
    gtk_entry_set_placeholder_text(GTK_ENTRY(entry), _("Collection name"));
    gtk_entry_set_activates_default(GTK_ENTRY(entry), TRUE);
    adw_message_dialog_set_extra_child(ADW_MESSAGE_DIALOG(d), entry);
    adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(d), "cancel", _("_Cancel"), "create",
                                     _("_Choose Files…"), NULL);
    adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(d), "create",
                                               ADW_RESPONSE_SUGGESTED);
    adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(d), "create");
    g_signal_connect(d, "response", G_CALLBACK(on_collection_named), self);
    gtk_window_present(GTK_WINDOW(d));
}

static gboolean on_drop(GtkDropTarget *target, const GValue *value, double x, double y,
                        gpointer data)
{
    SlWindow *self = data;
    GSList *files = g_value_get_boxed(value);
    g_autoptr(GPtrArray) list = g_ptr_array_new();
    for (GSList *l = files; l; l = l->next)
        g_ptr_array_add(list, l->data);
    sl_window_add_files(self, (GFile **)list->pdata, list->len);
    return list->len > 0;
}

/* ---------------------------------------------------------------- wiring */

static void show_document(SlWindow *self, gint64 id)
{
    if (sl_document_view_get_document(self->document_view) == id)
        return;
    g_autoptr(GError) error = NULL;
    if (!sl_document_view_show(self->document_view, id, &error))
        sl_window_toast(self, error->message);
    sl_document_view_set_answer(self->document_view, sl_chat_view_get_answer(self->chat_view),
                                g_settings_get_enum(sl_application_get_settings(self->app), "heat-scale") == 1);
}

static void on_document_activated(SlWindow *self, gint64 id)
{
    show_document(self, id);
}

static void on_prepare_scope(SlWindow *self, int scope)
{
    g_autoptr(GArray) ids = NULL;
    if (scope == SL_SCOPE_DOCUMENT) {
        ids = g_array_new(FALSE, FALSE, sizeof(gint64));
        gint64 id = sl_document_view_get_document(self->document_view);
        if (id)
            g_array_append_val(ids, id);
    } else if (scope == SL_SCOPE_SELECTED)
        ids = sl_library_sidebar_get_selected(self->sidebar);
    else if (scope == SL_SCOPE_COLLECTION)
        ids = sl_library_sidebar_get_shown(self->sidebar);
    else {
        ids = g_array_new(FALSE, FALSE, sizeof(gint64));
        g_autoptr(GPtrArray) all = sl_library_list(sl_application_get_library(self->app), NULL, NULL);
        for (guint i = 0; all && i < all->len; i++)
            g_array_append_val(ids, ((SlDocument *)all->pdata[i])->id);
    }
    sl_chat_view_set_scope_documents(self->chat_view, (SlScope)scope, ids);
}

static void on_citation(SlWindow *self, gint64 doc, int page, int first_line, int last_line)
{
    if (!doc)
        return;
    show_document(self, doc);
    if (page > 0)
        sl_document_view_show_page(self->document_view, page);
    if (first_line > 0)
        sl_document_view_highlight(self->document_view, page, 0, 0, first_line, last_line);
}

static void on_hit(SlWindow *self, gint64 doc, int page, int first_line, int last_line)
{
    on_citation(self, doc, page, first_line, last_line);
}

static void on_passage(SlWindow *self, gint64 doc, int page, gint64 start, gint64 end,
                       int first_line, int last_line)
{
    if (!doc)
        return;
    show_document(self, doc);
    sl_document_view_highlight(self->document_view, page, (gsize)start, (gsize)end, first_line,
                               last_line);
}

static void on_token(SlWindow *self, int token, const char *text)
{
    sl_document_view_set_token(self->document_view, token, text);
}

static void on_answer_ready(SlWindow *self, gint64 answer)
{
    GSettings *s = sl_application_get_settings(self->app);
    sl_model_info info;
    if (sl_worker_model_info(sl_application_get_worker(self->app), &info, NULL))
        sl_document_view_set_n_layers(self->document_view, info.n_layers);
    sl_document_view_set_answer(self->document_view, answer,
                                g_settings_get_enum(s, "heat-scale") == 1);
}

static void on_model_status(SlWindow *self)
{
    adw_window_title_set_subtitle(self->window_title, sl_application_get_model_status(self->app));
}

/* When the model runs on the CPU though a GPU was allowed: why, once as a toast, and for as
 * long as that model is loaded in the title's tooltip. */
static void on_model_notice(SlWindow *self)
{
    const char *notice = sl_application_get_model_notice(self->app);
    gtk_widget_set_tooltip_text(GTK_WIDGET(self->window_title), notice);
    if (!notice)
        return;
    g_autofree char *markup = g_markup_escape_text(notice, -1); /* a toast's title is markup */
    sl_window_toast(self, markup);
}

/* ---------------------------------------------------------------- the class */

void sl_window_show_preferences(SlWindow *self)
{
    GtkWidget *prefs = sl_preferences_new(sl_application_get_settings(self->app));
    gtk_window_set_transient_for(GTK_WINDOW(prefs), GTK_WINDOW(self));
    gtk_window_present(GTK_WINDOW(prefs));
}

static void focus_action(GtkWidget *widget, const char *name, GVariant *param)
{
    SlWindow *self = SL_WINDOW(widget);
    sl_chat_view_focus_question(self->chat_view);
}

static gboolean on_close_request(SlWindow *self)
{
    GSettings *s = sl_application_get_settings(self->app);
    int w, h;
    gtk_window_get_default_size(GTK_WINDOW(self), &w, &h);
    g_settings_set_int(s, "window-width", w);
    g_settings_set_int(s, "window-height", h);
    g_settings_set_boolean(s, "window-maximized", gtk_window_is_maximized(GTK_WINDOW(self)));
    sl_chat_view_stop(self->chat_view);
    sl_library_sidebar_cancel_add(self->sidebar);
    return FALSE;
}

/* After construction: "application" is not set yet when constructed() runs. */
static void setup(SlWindow *self, SlApplication *app)
{
    self->app = app;
    GSettings *s = sl_application_get_settings(self->app);
    gtk_window_set_default_size(GTK_WINDOW(self), g_settings_get_int(s, "window-width"),
                                g_settings_get_int(s, "window-height"));
    if (g_settings_get_boolean(s, "window-maximized"))
        gtk_window_maximize(GTK_WINDOW(self));
    SlLibrary *lib = sl_application_get_library(self->app);
    sl_library_sidebar_set_library(self->sidebar, lib);
    sl_document_view_set_library(self->document_view, lib);
    sl_chat_view_setup(self->chat_view, lib, sl_application_get_worker(self->app), s);
    g_signal_connect_object(self->app, "notify::model-status", G_CALLBACK(on_model_status), self,
                            G_CONNECT_SWAPPED);
    on_model_status(self);
    g_signal_connect_object(self->app, "notify::model-notice", G_CALLBACK(on_model_notice), self,
                            G_CONNECT_SWAPPED);
    on_model_notice(self);
    if (!lib)
        sl_window_toast(self, sl_application_get_library_error(self->app));
    gtk_paned_set_position(self->inner, 560);
}

static void sl_window_init(SlWindow *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    g_signal_connect_swapped(self->sidebar, "document-activated", G_CALLBACK(on_document_activated), self);
    g_signal_connect_swapped(self->sidebar, "ingest-finished", G_CALLBACK(on_ingest_finished), self);
    g_signal_connect_swapped(self->sidebar, "hit-activated", G_CALLBACK(on_hit), self);
    g_signal_connect_swapped(self->chat_view, "prepare-scope", G_CALLBACK(on_prepare_scope), self);
    g_signal_connect_swapped(self->chat_view, "citation-activated", G_CALLBACK(on_citation), self);
    g_signal_connect_swapped(self->chat_view, "passage-activated", G_CALLBACK(on_passage), self);
    g_signal_connect_swapped(self->chat_view, "answer-ready", G_CALLBACK(on_answer_ready), self);
    g_signal_connect_swapped(self->chat_view, "token-activated", G_CALLBACK(on_token), self);
    g_signal_connect_swapped(self, "close-request", G_CALLBACK(on_close_request), self);
    GtkDropTarget *drop = gtk_drop_target_new(GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
    g_signal_connect(drop, "drop", G_CALLBACK(on_drop), self);
    gtk_widget_add_controller(GTK_WIDGET(self), GTK_EVENT_CONTROLLER(drop));
}

static void sl_window_class_init(SlWindowClass *klass)
{
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    g_type_ensure(SL_TYPE_LIBRARY_SIDEBAR);
    g_type_ensure(SL_TYPE_DOCUMENT_VIEW);
    g_type_ensure(SL_TYPE_CHAT_VIEW);
    gtk_widget_class_set_template_from_resource(widget_class, APP_RESOURCE_PATH "/window.ui");
    gtk_widget_class_bind_template_child(widget_class, SlWindow, toasts);
    gtk_widget_class_bind_template_child(widget_class, SlWindow, window_title);
    gtk_widget_class_bind_template_child(widget_class, SlWindow, outer);
    gtk_widget_class_bind_template_child(widget_class, SlWindow, inner);
    gtk_widget_class_bind_template_child(widget_class, SlWindow, sidebar);
    gtk_widget_class_bind_template_child(widget_class, SlWindow, document_view);
    gtk_widget_class_bind_template_child(widget_class, SlWindow, chat_view);
    gtk_widget_class_install_action(widget_class, "win.add-files", NULL, add_action);
    gtk_widget_class_install_action(widget_class, "win.add-folder", NULL, add_action);
    gtk_widget_class_install_action(widget_class, "win.new-collection", NULL, new_collection_action);
    gtk_widget_class_install_action(widget_class, "win.focus-question", NULL, focus_action);
    gtk_widget_class_add_binding_action(widget_class, GDK_KEY_o, GDK_CONTROL_MASK, "win.add-files", NULL);
    gtk_widget_class_add_binding_action(widget_class, GDK_KEY_o, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                        "win.add-folder", NULL);
    gtk_widget_class_add_binding_action(widget_class, GDK_KEY_l, GDK_CONTROL_MASK,
                                        "win.focus-question", NULL);
}

SlWindow *sl_window_new(SlApplication *app)
{
    SlWindow *self = g_object_new(SL_TYPE_WINDOW, "application", app, NULL);
    setup(self, app);
    return self;
}
