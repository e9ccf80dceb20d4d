/* application.c: the application object (see application.h). */
#include "application.h"

#include "devices.h"
#include "sightline-resources.h"
#include "window.h"

#include <glib/gi18n.h>

struct _SlApplication {
    AdwApplication parent_instance;
    char *library_path;
    SlLibrary *library;
    char *library_error;
    SlWorker *worker;
    GSettings *settings;
    char *model_status;
    char *model_notice; /* why "auto" runs on the CPU; NULL when it does not */
    gboolean model_ready;
    GCancellable *model_load;
};

G_DEFINE_FINAL_TYPE(SlApplication, sl_application, ADW_TYPE_APPLICATION)

enum { PROP_0, PROP_MODEL_STATUS, PROP_MODEL_READY, PROP_MODEL_NOTICE, N_PROPS };
static GParamSpec *properties[N_PROPS];

static void set_model_status(SlApplication *self, const char *status, gboolean ready)
{
    g_free(self->model_status);
    self->model_status = g_strdup(status);
    self->model_ready = ready;
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_MODEL_STATUS]);
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_MODEL_READY]);
}

static void on_model_loaded(GObject *source, GAsyncResult *res, gpointer data)
{
    g_autoptr(SlApplication) self = data;
    g_autoptr(GError) error = NULL;
    if (!sl_worker_load_model_finish(self->worker, res, &error)) {
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            return;
        g_autofree char *msg = g_strdup_printf(_("The model could not be loaded: %s"), error->message);
        set_model_status(self, msg, FALSE);
        return;
    }
    sl_model_info info;
    g_autofree char *path = NULL, *device = NULL;
    sl_worker_model_info(self->worker, &info, &path);
    sl_worker_model_device(self->worker, &device, &self->model_notice);
    g_autofree char *name = g_path_get_basename(path);
    /* Translators: the model's name, then where it runs: "the CPU (8 threads)" or
     * "cuda:0 (NVIDIA H100 80GB HBM3, 79.1 GiB)", as the engine says it. */
    g_autofree char *status = g_strdup_printf(_("%s on %s"), info.name && *info.name ? info.name : name,
                                              device);
    set_model_status(self, status, TRUE);
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_MODEL_NOTICE]);
}

void sl_application_load_model(SlApplication *self)
{
    g_autofree char *model = g_settings_get_string(self->settings, "model");
    g_autofree char *indexer = g_settings_get_string(self->settings, "indexer");
    char path[4096];
    if (!sl_model_path(model, path, sizeof path)) {
        g_autofree char *msg = g_strdup_printf(_("No model “%s”: run packaging/fetch-model, or choose a GGUF file in Preferences"), model);
        set_model_status(self, msg, FALSE);
        return;
    }
    if (self->model_load)
        g_cancellable_cancel(self->model_load);
    g_clear_object(&self->model_load);
    self->model_load = g_cancellable_new();
    g_clear_pointer(&self->model_notice, g_free);
    g_autofree char *device = sl_settings_device(self->settings);
    SlModelOptions o = {path, g_settings_get_int(self->settings, "threads"), 0,
                        *indexer ? indexer : NULL, device};
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *msg = g_strdup_printf(_("Loading %s…"), base);
    set_model_status(self, msg, FALSE);
    sl_worker_load_model_async(self->worker, &o, self->model_load, on_model_loaded,
                               g_object_ref(self));
}

static void apply_color_scheme(SlApplication *self)
{
    static const AdwColorScheme schemes[] = {ADW_COLOR_SCHEME_DEFAULT, ADW_COLOR_SCHEME_FORCE_LIGHT,
                                             ADW_COLOR_SCHEME_FORCE_DARK};
    int v = g_settings_get_enum(self->settings, "color-scheme");
    adw_style_manager_set_color_scheme(adw_style_manager_get_default(),
                                       schemes[CLAMP(v, 0, 2)]);
}

static void on_setting_changed(GSettings *settings, const char *key, gpointer data)
{
    SlApplication *self = data;
    if (!g_strcmp0(key, "color-scheme"))
        apply_color_scheme(self);
    else if (!g_strcmp0(key, "model") || !g_strcmp0(key, "indexer") || !g_strcmp0(key, "threads") ||
             !g_strcmp0(key, "gpus") || !g_strcmp0(key, "use-gpu"))
        sl_application_load_model(self);
}

static void open_library(SlApplication *self)
{
    g_autofree char *configured = g_settings_get_string(self->settings, "library");
    const char *path = self->library_path ? self->library_path : *configured ? configured : NULL;
    g_autoptr(GError) error = NULL;
    self->library = sl_library_open(path, &error);
    if (!self->library)
        self->library_error = g_strdup(error->message);
}

static void sl_application_startup(GApplication *app)
{
    SlApplication *self = SL_APPLICATION(app);
    G_APPLICATION_CLASS(sl_application_parent_class)->startup(app);
    self->settings = g_settings_new(APP_ID);
    g_signal_connect(self->settings, "changed", G_CALLBACK(on_setting_changed), self);
    apply_color_scheme(self);
    open_library(self);
    self->worker = sl_worker_new();
    sl_application_load_model(self);
    static const char *const quit[] = {"<Control>q", NULL};
    gtk_application_set_accels_for_action(GTK_APPLICATION(app), "app.quit", quit);
    static const char *const prefs[] = {"<Control>comma", NULL};
    gtk_application_set_accels_for_action(GTK_APPLICATION(app), "app.preferences", prefs);
}

static SlWindow *main_window(SlApplication *self)
{
    GtkWindow *w = gtk_application_get_active_window(GTK_APPLICATION(self));
    if (!w)
        w = GTK_WINDOW(sl_window_new(self));
    return SL_WINDOW(w);
}

static void sl_application_activate(GApplication *app)
{
    gtk_window_present(GTK_WINDOW(main_window(SL_APPLICATION(app))));
}

static void sl_application_open(GApplication *app, GFile **files, int n, const char *hint)
{
    SlWindow *w = main_window(SL_APPLICATION(app));
    gtk_window_present(GTK_WINDOW(w));
    sl_window_add_files(w, files, (guint)n);
}

static void sl_application_shutdown(GApplication *app)
{
    SlApplication *self = SL_APPLICATION(app);
    if (self->model_load)
        g_cancellable_cancel(self->model_load);
    /* The worker first: its jobs may still be writing to the library. */
    g_clear_pointer(&self->worker, sl_worker_free);
    g_clear_pointer(&self->library, sl_library_close);
    G_APPLICATION_CLASS(sl_application_parent_class)->shutdown(app);
}

static void sl_application_finalize(GObject *object)
{
    SlApplication *self = SL_APPLICATION(object);
    g_free(self->library_path);
    g_free(self->library_error);
    g_free(self->model_status);
    g_free(self->model_notice);
    g_clear_object(&self->settings);
    g_clear_object(&self->model_load);
    G_OBJECT_CLASS(sl_application_parent_class)->finalize(object);
}

static void sl_application_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
    SlApplication *self = SL_APPLICATION(object);
    switch (id) {
    case PROP_MODEL_STATUS:
        g_value_set_string(value, self->model_status);
        break;
    case PROP_MODEL_READY:
        g_value_set_boolean(value, self->model_ready);
        break;
    case PROP_MODEL_NOTICE:
        g_value_set_string(value, self->model_notice);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
}

static void about_action(GSimpleAction *action, GVariant *param, gpointer data)
{
    GtkWindow *parent = gtk_application_get_active_window(GTK_APPLICATION(data));
    static const char *const developers[] = {"The Sightline engineers", NULL};
    adw_show_about_window(parent, "application-name", _("Sightline"), "application-icon", APP_ID,
                          "version", PACKAGE_VERSION, "developer-name", _("The Sightline engineers"),
                          "developers", developers, "license-type", GTK_LICENSE_GPL_3_0,
                          "comments", _("Read long documents with a language model that shows where it looked."),
                          NULL);
}

static void quit_action(GSimpleAction *action, GVariant *param, gpointer data)
{
    GList *windows = gtk_application_get_windows(GTK_APPLICATION(data));
    for (GList *l = windows; l; l = l->next)
        gtk_window_close(l->data);
    g_application_quit(G_APPLICATION(data));
}

static void preferences_action(GSimpleAction *action, GVariant *param, gpointer data)
{
    GtkWindow *parent = gtk_application_get_active_window(GTK_APPLICATION(data));
    if (SL_IS_WINDOW(parent))
        sl_window_show_preferences(SL_WINDOW(parent));
}

static void sl_application_init(SlApplication *self)
{
    static const GActionEntry entries[] = {
        {"about", about_action, NULL, NULL, NULL, {0}},
        {"quit", quit_action, NULL, NULL, NULL, {0}},
        {"preferences", preferences_action, NULL, NULL, NULL, {0}},
    };
    g_action_map_add_action_entries(G_ACTION_MAP(self), entries, G_N_ELEMENTS(entries), self);
    self->model_status = g_strdup("");
}

static void sl_application_class_init(SlApplicationClass *klass)
{
    sightline_register_resource();
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GApplicationClass *app_class = G_APPLICATION_CLASS(klass);
    object_class->finalize = sl_application_finalize;
    object_class->get_property = sl_application_get_property;
    app_class->startup = sl_application_startup;
    app_class->activate = sl_application_activate;
    app_class->open = sl_application_open;
    app_class->shutdown = sl_application_shutdown;
    properties[PROP_MODEL_STATUS] =
        g_param_spec_string("model-status", NULL, NULL, "", G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    properties[PROP_MODEL_READY] =
        g_param_spec_boolean("model-ready", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    properties[PROP_MODEL_NOTICE] =
        g_param_spec_string("model-notice", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(object_class, N_PROPS, properties);
}

SlApplication *sl_application_new(const char *library_path)
{
    SlApplication *self = g_object_new(SL_TYPE_APPLICATION, "application-id", APP_ID, "flags",
                                       G_APPLICATION_HANDLES_OPEN, "resource-base-path",
                                       APP_RESOURCE_PATH, NULL);
    self->library_path = g_strdup(library_path);
    return self;
}

SlLibrary *sl_application_get_library(SlApplication *self) { return self->library; }
const char *sl_application_get_library_error(SlApplication *self) { return self->library_error; }
SlWorker *sl_application_get_worker(SlApplication *self) { return self->worker; }
GSettings *sl_application_get_settings(SlApplication *self) { return self->settings; }
const char *sl_application_get_model_status(SlApplication *self) { return self->model_status; }
gboolean sl_application_get_model_ready(SlApplication *self) { return self->model_ready; }
const char *sl_application_get_model_notice(SlApplication *self) { return self->model_notice; }
