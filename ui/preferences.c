/* preferences.c: AdwPreferencesWindow over the settings (schema in data/). Built in code:
 * each row is one key, bound with g_settings_bind, so there is nothing to save. The GPUs
 * are read from the driver on a worker thread and added to their group when known. */
#include "preferences.h"

#include "devices.h"

#include <glib/gi18n.h>

/* An entry row bound to a string key. */
static GtkWidget *entry_row(GSettings *s, const char *key, const char *title)
{
    GtkWidget *row = adw_entry_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
    g_settings_bind(s, key, row, "text", G_SETTINGS_BIND_DEFAULT);
    return row;
}

/* A row with a spin button bound to an integer or double key, within its range. */
static GtkWidget *spin_row(GSettings *s, const char *key, const char *title, const char *subtitle,
                           double lo, double hi, double step, int digits)
{
    GtkWidget *row = adw_action_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
    if (subtitle)
        adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
    GtkWidget *spin = gtk_spin_button_new_with_range(lo, hi, step);
    gtk_spin_button_set_digits(GTK_SPIN_BUTTON(spin), (guint)digits);
    gtk_widget_set_valign(spin, GTK_ALIGN_CENTER);
    g_settings_bind(s, key, spin, "value", G_SETTINGS_BIND_DEFAULT);
    adw_action_row_add_suffix(ADW_ACTION_ROW(row), spin);
    adw_action_row_set_activatable_widget(ADW_ACTION_ROW(row), spin);
    return row;
}

/* A combo row over an enum key: the i-th choice is the enum's i-th nick. */
static gboolean enum_to_index(GValue *value, GVariant *variant, gpointer data)
{
    const char *const *nicks = data;
    const char *v = g_variant_get_string(variant, NULL);
    for (guint i = 0; nicks[i]; i++)
        if (!g_strcmp0(nicks[i], v)) {
            g_value_set_uint(value, i);
            return TRUE;
        }
    return FALSE;
}

static GVariant *index_to_enum(const GValue *value, const GVariantType *type, gpointer data)
{
    const char *const *nicks = data;
    guint i = g_value_get_uint(value);
    return i < g_strv_length((char **)nicks) ? g_variant_new_string(nicks[i]) : NULL;
}

static GtkWidget *combo_row(GSettings *s, const char *key, const char *title,
                            const char *const *nicks, const char *const *labels)
{
    GtkWidget *row = adw_combo_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
    g_autoptr(GtkStringList) model = gtk_string_list_new(labels);
    adw_combo_row_set_model(ADW_COMBO_ROW(row), G_LIST_MODEL(model));
    g_settings_bind_with_mapping(s, key, row, "selected", G_SETTINGS_BIND_DEFAULT, enum_to_index,
                                 index_to_enum, (gpointer)nicks, NULL);
    return row;
}

static AdwPreferencesGroup *group(AdwPreferencesPage *page, const char *title, const char *description)
{
    AdwPreferencesGroup *g = ADW_PREFERENCES_GROUP(adw_preferences_group_new());
    adw_preferences_group_set_title(g, title);
    if (description)
        adw_preferences_group_set_description(g, description);
    adw_preferences_page_add(page, g);
    return g;
}

/* ---- GPUs ---------------------------------------------------------------- */

/* The reasons the engine gives for finding no GPU, for translation. */
static const char *const no_gpu_reasons[] G_GNUC_UNUSED = {
    N_("no NVIDIA driver found"),
    N_("the driver found no GPU"),
    N_("no NVIDIA driver found (only the CUDA toolkit's stub library)"),
    N_("no GPU found"),
};

/* A GPU's switch is on when its id is in the gpus key; turning it on or off adds or removes
 * that id and keeps the others. */
typedef struct {
    GSettings *settings;
    char *id;
} GpuBinding;

static void gpu_binding_free(gpointer data)
{
    GpuBinding *b = data;
    g_object_unref(b->settings);
    g_free(b->id);
    g_free(b);
}

static gboolean gpu_get(GValue *value, GVariant *variant, gpointer data)
{
    const GpuBinding *b = data;
    g_autofree const char **ids = g_variant_get_strv(variant, NULL);
    g_value_set_boolean(value, g_strv_contains(ids, b->id));
    return TRUE;
}

static GVariant *gpu_set(const GValue *value, const GVariantType *type, gpointer data)
{
    const GpuBinding *b = data;
    g_auto(GStrv) ids = g_settings_get_strv(b->settings, "gpus");
    g_autoptr(GStrvBuilder) out = g_strv_builder_new();
    for (guint i = 0; ids[i]; i++)
        if (g_strcmp0(ids[i], b->id) != 0)
            g_strv_builder_add(out, ids[i]);
    if (g_value_get_boolean(value))
        g_strv_builder_add(out, b->id);
    g_auto(GStrv) next = g_strv_builder_end(out);
    return g_variant_new_strv((const char *const *)next, -1);
}

/* A row named name with a switch at its end, which the row's activation flips; *sw gets the
 * switch, for the caller to bind. */
static GtkWidget *switch_row(const char *name, const char *title, const char *subtitle,
                             GtkWidget **sw)
{
    GtkWidget *row = adw_action_row_new();
    gtk_widget_set_name(row, name);
    adw_preferences_row_set_use_markup(ADW_PREFERENCES_ROW(row), FALSE); /* a driver's text */
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
    adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
    *sw = gtk_switch_new();
    gtk_widget_set_valign(*sw, GTK_ALIGN_CENTER);
    gtk_accessible_update_property(GTK_ACCESSIBLE(*sw), GTK_ACCESSIBLE_PROPERTY_LABEL, title, -1);
    adw_action_row_add_suffix(ADW_ACTION_ROW(row), *sw);
    adw_action_row_set_activatable_widget(ADW_ACTION_ROW(row), *sw);
    return row;
}

static GtkWidget *gpu_row(GSettings *s, const sl_device_info *d)
{
    g_autofree char *size = g_format_size_full(d->total_bytes, G_FORMAT_SIZE_IEC_UNITS);
    /* Translators: a GPU's memory ("79.2 GiB"), then its CUDA compute capability ("9.0"). */
    g_autofree char *sub = g_strdup_printf(_("%s of memory, compute capability %d.%d"), size,
                                           d->cc_major, d->cc_minor);
    GtkWidget *sw, *row = switch_row("gpu", d->name, sub, &sw);
    gtk_widget_set_tooltip_text(row, d->id);
    GpuBinding *b = g_new0(GpuBinding, 1);
    b->settings = g_object_ref(s);
    b->id = g_strdup(d->id);
    g_settings_bind_with_mapping(s, "gpus", sw, "active", G_SETTINGS_BIND_DEFAULT, gpu_get,
                                 gpu_set, b, gpu_binding_free);
    return row;
}

static GtkWidget *message_row(const char *name, const char *title, const char *subtitle)
{
    GtkWidget *row = adw_action_row_new();
    gtk_widget_set_name(row, name);
    adw_preferences_row_set_use_markup(ADW_PREFERENCES_ROW(row), FALSE); /* error messages */
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
    adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
    return row;
}

static void gpus_listed(GObject *source, GAsyncResult *res, gpointer data)
{
    g_autoptr(AdwPreferencesGroup) group = data; /* held until the list came */
    g_autoptr(GError) error = NULL;
    g_autoptr(SlDeviceList) list = sl_devices_list_finish(res, &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
    GtkWidget *looking = g_object_get_data(G_OBJECT(group), "sl-looking");
    if (looking)
        adw_preferences_group_remove(group, looking);
    g_object_set_data(G_OBJECT(group), "sl-looking", NULL);
    GSettings *s = g_object_get_data(G_OBJECT(group), "sl-settings");
    if (!list) {
        g_autofree char *sub = g_strdup_printf(_("%s. Sightline runs on the CPU."), error->message);
        adw_preferences_group_add(group, message_row("gpu-error", _("Could not list the GPUs"), sub));
        return;
    }
    if (list->devices->len == 0) {
        /* Translators: %s says why no GPU was found ("no NVIDIA driver found"). */
        g_autofree char *sub = g_strdup_printf(_("Sightline runs on the CPU: %s."), _(list->reason));
        adw_preferences_group_add(group, message_row("gpu-none", _("No GPU found"), sub));
        return;
    }
    for (guint i = 0; i < list->devices->len; i++)
        adw_preferences_group_add(group, gpu_row(s, &g_array_index(list->devices, sl_device_info, i)));
}

static void gpu_group(AdwPreferencesPage *page, GSettings *s, GCancellable *cancellable)
{
    AdwPreferencesGroup *g = group(page, _("GPUs"),
                                   _("The model runs on the first GPU switched on here that can take it, or on the first GPU when none is; otherwise on the CPU, and the window says why. A change loads the model again."));
    gtk_widget_set_name(GTK_WIDGET(g), "gpus");
    g_object_set_data_full(G_OBJECT(g), "sl-settings", g_object_ref(s), g_object_unref);
    GtkWidget *use_gpu, *row = switch_row("use-gpu", _("Run the model on a GPU"),
                                          _("Off keeps it on the CPU"), &use_gpu);
    g_settings_bind(s, "use-gpu", use_gpu, "active", G_SETTINGS_BIND_DEFAULT);
    adw_preferences_group_add(g, row);
    GtkWidget *looking = message_row("gpu-looking", _("Looking for GPUs…"), _("Asking the NVIDIA driver"));
    GtkWidget *spinner = gtk_spinner_new();
    gtk_spinner_start(GTK_SPINNER(spinner));
    adw_action_row_add_suffix(ADW_ACTION_ROW(looking), spinner);
    adw_preferences_group_add(g, looking);
    g_object_set_data(G_OBJECT(g), "sl-looking", looking);
    sl_devices_list_async(cancellable, gpus_listed, g_object_ref(g));
}

static void cancel_and_unref(gpointer data)
{
    g_cancellable_cancel(data);
    g_object_unref(data);
}

static AdwPreferencesPage *model_page(GSettings *s, GCancellable *cancellable)
{
    AdwPreferencesPage *page = ADW_PREFERENCES_PAGE(adw_preferences_page_new());
    adw_preferences_page_set_title(page, _("Model"));
    adw_preferences_page_set_icon_name(page, "system-run-symbolic");
    AdwPreferencesGroup *m = group(page, _("Model"), _("“default” is the model installed with Sightline; or the path of a GGUF file."));
    adw_preferences_group_add(m, entry_row(s, "model", _("Model")));
    adw_preferences_group_add(m, entry_row(s, "indexer", _("Lightning indexer file")));
    static const char *const dsa_nicks[] = {"dense", "indexer", "oracle", NULL};
    const char *dsa_labels[] = {_("Dense"), _("Indexer"), _("Oracle"), NULL};
    AdwPreferencesGroup *a = group(page, _("Sparse Attention"),
                                   _("The oracle keeps the top-k of dense attention: real selections on any model, at dense cost. The indexer needs a trained indexer file."));
    adw_preferences_group_add(a, combo_row(s, "dsa-mode", _("Mode"), dsa_nicks, dsa_labels));
    adw_preferences_group_add(a, spin_row(s, "top-k", _("Tokens selected per query"), NULL, 16, 65536, 16, 0));
    AdwPreferencesGroup *c = group(page, _("Context"), NULL);
    adw_preferences_group_add(c, spin_row(s, "context-budget", _("Context budget"),
                                          _("Tokens of context, answer included; the model’s own context also limits it"),
                                          1024, 131072, 1024, 0));
    adw_preferences_group_add(c, spin_row(s, "answer-tokens", _("Answer length"), _("Tokens"), 16, 8192, 16, 0));
    AdwPreferencesGroup *e = group(page, _("Engine"), NULL);
    adw_preferences_group_add(e, spin_row(s, "threads", _("CPU threads"), _("0 for one per processor"), 0, 1024, 1, 0));
    gpu_group(page, s, cancellable);
    AdwPreferencesGroup *g = group(page, _("Sampling"), NULL);
    adw_preferences_group_add(g, spin_row(s, "temperature", _("Temperature"), _("0 always takes the most likely word"), 0, 2, 0.05, 2));
    adw_preferences_group_add(g, spin_row(s, "sample-top-k", _("Top-k"), NULL, 0, 1000, 1, 0));
    adw_preferences_group_add(g, spin_row(s, "top-p", _("Top-p"), NULL, 0, 1, 0.01, 2));
    return page;
}

static AdwPreferencesPage *appearance_page(GSettings *s)
{
    AdwPreferencesPage *page = ADW_PREFERENCES_PAGE(adw_preferences_page_new());
    adw_preferences_page_set_title(page, _("Appearance"));
    adw_preferences_page_set_icon_name(page, "applications-graphics-symbolic");
    AdwPreferencesGroup *a = group(page, _("Appearance"), NULL);
    static const char *const scheme_nicks[] = {"default", "light", "dark", NULL};
    const char *scheme_labels[] = {_("Follow the system"), _("Light"), _("Dark"), NULL};
    adw_preferences_group_add(a, combo_row(s, "color-scheme", _("Style"), scheme_nicks, scheme_labels));
    static const char *const heat_nicks[] = {"linear", "log", NULL};
    const char *heat_labels[] = {_("Linear"), _("Logarithmic"), NULL};
    adw_preferences_group_add(a, combo_row(s, "heat-scale", _("Heat scale"), heat_nicks, heat_labels));
    return page;
}

GtkWidget *sl_preferences_new(GSettings *settings)
{
    GtkWidget *w = adw_preferences_window_new();
    /* Cancelled when the window goes, so that a slow driver never outlives it. */
    GCancellable *cancellable = g_cancellable_new();
    g_object_set_data_full(G_OBJECT(w), "sl-gpu-cancellable", cancellable, cancel_and_unref);
    adw_preferences_window_add(ADW_PREFERENCES_WINDOW(w), model_page(settings, cancellable));
    adw_preferences_window_add(ADW_PREFERENCES_WINDOW(w), appearance_page(settings));
    gtk_window_set_modal(GTK_WINDOW(w), TRUE);
    return w;
}
