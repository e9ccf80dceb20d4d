/* preferences.c: AdwPreferencesWindow over the settings (schema in data/). Built in code:
 * each row is one key, bound with g_settings_bind, so there is nothing to save. */
#include "preferences.h"

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

static AdwPreferencesPage *model_page(GSettings *s)
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
    GtkWidget *gpus = adw_action_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(gpus), _("GPUs"));
    adw_action_row_set_subtitle(ADW_ACTION_ROW(gpus), _("This build runs on the CPU; NVIDIA GPUs come with the CUDA engine"));
    adw_preferences_group_add(e, gpus);
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
    adw_preferences_window_add(ADW_PREFERENCES_WINDOW(w), model_page(settings));
    adw_preferences_window_add(ADW_PREFERENCES_WINDOW(w), appearance_page(settings));
    gtk_window_set_modal(GTK_WINDOW(w), TRUE);
    return w;
}
