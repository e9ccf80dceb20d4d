/* test-preferences.c: the GPUs in the preferences window (suite ui, under Xvfb), found
 * through its widget tree. Run three ways (tests/ui/meson.build):
 *   - as the machine is: the rows match what sl_devices_list_sync says (on a machine
 *     without a GPU, one "No GPU found" row with the reason and "runs on the CPU");
 *   - with FAKE_CUDA=two and SIGHTLINE_LIBCUDA naming the stand-in driver of
 *     tests/engine/devices: one row per GPU with its name (shown as text, not markup: the
 *     first one's holds "<A&B>"), memory and compute capability,
 *     whose switch follows and sets the `gpus` key by device id, keeping other ids;
 *   - with FAKE_CUDA=broken: a row that says the driver failed, with its code. */
#include "devices.h"
#include "preferences.h"

#include <adwaita.h>
#include <string.h>

static void collect(GtkWidget *w, const char *name, GPtrArray *out)
{
    if (!g_strcmp0(gtk_widget_get_name(w), name))
        g_ptr_array_add(out, w);
    for (GtkWidget *c = gtk_widget_get_first_child(w); c; c = gtk_widget_get_next_sibling(c))
        collect(c, name, out);
}

static GPtrArray *named(GtkWidget *root, const char *name)
{
    GPtrArray *out = g_ptr_array_new();
    collect(root, name, out);
    return out;
}

static GtkWidget *first_of_type(GtkWidget *w, GType type)
{
    if (G_TYPE_CHECK_INSTANCE_TYPE(w, type))
        return w;
    for (GtkWidget *c = gtk_widget_get_first_child(w); c; c = gtk_widget_get_next_sibling(c)) {
        GtkWidget *f = first_of_type(c, type);
        if (f)
            return f;
    }
    return NULL;
}

/* Shows the preferences and runs the main loop until the GPUs are known (at most 10 s). The
 * window is shown at once: the driver is asked on another thread. */
static GtkWidget *open_preferences(GSettings *s)
{
    GtkWidget *w = sl_preferences_new(s);
    gtk_window_present(GTK_WINDOW(w));
    g_autoptr(GPtrArray) groups = named(w, "gpus");
    g_assert_cmpuint(groups->len, ==, 1);
    g_assert_cmpstr(adw_preferences_group_get_description(groups->pdata[0]), !=, NULL);
    g_assert_nonnull(strstr(adw_preferences_group_get_description(groups->pdata[0]),
                            "the first GPU when none is; otherwise on the CPU"));
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    for (;;) {
        g_autoptr(GPtrArray) looking = named(w, "gpu-looking");
        if (looking->len == 0)
            break;
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    return w;
}

static const char *subtitle(GtkWidget *row)
{
    return adw_action_row_get_subtitle(ADW_ACTION_ROW(row));
}

static const char *title(GtkWidget *row)
{
    return adw_preferences_row_get_title(ADW_PREFERENCES_ROW(row));
}

static void test_this_machine(void)
{
    g_autoptr(GSettings) s = g_settings_new(APP_ID);
    g_autoptr(GError) error = NULL;
    g_autoptr(SlDeviceList) expect = sl_devices_list_sync(&error);
    GtkWidget *w = open_preferences(s);
    g_autoptr(GPtrArray) gpus = named(w, "gpu");
    g_autoptr(GPtrArray) none = named(w, "gpu-none");
    g_autoptr(GPtrArray) failed = named(w, "gpu-error");
    if (!expect) {
        g_test_message("the driver failed: %s", error->message);
        g_assert_cmpuint(failed->len, ==, 1);
    } else if (expect->devices->len == 0) {
        g_test_message("no GPU here: %s", expect->reason);
        g_assert_cmpuint(gpus->len, ==, 0);
        g_assert_cmpuint(failed->len, ==, 0);
        g_assert_cmpuint(none->len, ==, 1);
        g_assert_cmpstr(title(none->pdata[0]), ==, "No GPU found");
        g_assert_nonnull(strstr(subtitle(none->pdata[0]), expect->reason));
        g_assert_nonnull(strstr(subtitle(none->pdata[0]), "runs on the CPU"));
    } else {
        g_assert_cmpuint(none->len, ==, 0);
        g_assert_cmpuint(gpus->len, ==, expect->devices->len);
        for (guint i = 0; i < gpus->len; i++)
            g_assert_cmpstr(title(gpus->pdata[i]), ==,
                            g_array_index(expect->devices, sl_device_info, i).name);
    }
    gtk_window_destroy(GTK_WINDOW(w));
}

static gboolean has_id(GSettings *s, const char *id)
{
    g_auto(GStrv) ids = g_settings_get_strv(s, "gpus");
    return g_strv_contains((const char *const *)ids, id);
}

static void test_fake_gpus(void)
{
    static const char *const alpha = "GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf";
    static const char *const beta = "GPU-b0b1b2b3-b4b5-b6b7-b8b9-babbbcbdbebf";
    g_autoptr(GSettings) s = g_settings_new(APP_ID);
    g_settings_set_strv(s, "gpus", (const char *const[]){"GPU-gone", alpha, NULL});
    GtkWidget *w = open_preferences(s);
    g_autoptr(GPtrArray) gpus = named(w, "gpu");
    g_autoptr(GPtrArray) none = named(w, "gpu-none");
    g_assert_cmpuint(none->len, ==, 0);
    g_assert_cmpuint(gpus->len, ==, 2);
    g_assert_cmpstr(title(gpus->pdata[0]), ==, "Fake GPU Alpha <A&B>");
    g_assert_true(g_str_has_prefix(title(gpus->pdata[1]), "Fake GPU Beta"));
    /* 85520809984 bytes is 79.6 GiB (GLib puts a no-break space before the unit); compute
     * capability from the driver's attributes. */
    g_assert_cmpstr(subtitle(gpus->pdata[0]), ==, "79.6\u00a0GiB of memory, compute capability 9.0");
    g_assert_cmpstr(subtitle(gpus->pdata[1]), ==, "24.0\u00a0GiB of memory, compute capability 8.6");
    g_assert_cmpstr(gtk_widget_get_tooltip_text(gpus->pdata[0]), ==, alpha);

    GtkSwitch *a = GTK_SWITCH(first_of_type(gpus->pdata[0], GTK_TYPE_SWITCH));
    GtkSwitch *b = GTK_SWITCH(first_of_type(gpus->pdata[1], GTK_TYPE_SWITCH));
    /* The key drives the switches... */
    g_assert_true(gtk_switch_get_active(a));
    g_assert_false(gtk_switch_get_active(b));
    g_settings_set_strv(s, "gpus", (const char *const[]){"GPU-gone", beta, NULL});
    g_assert_false(gtk_switch_get_active(a));
    g_assert_true(gtk_switch_get_active(b));
    /* ...and the switches the key, by id, keeping ids of GPUs not here now. */
    gtk_switch_set_active(a, TRUE);
    g_assert_true(has_id(s, alpha) && has_id(s, beta) && has_id(s, "GPU-gone"));
    gtk_switch_set_active(b, FALSE);
    g_assert_true(has_id(s, alpha) && !has_id(s, beta) && has_id(s, "GPU-gone"));
    /* Activating the row flips its switch (at the end of the switch's animation). */
    adw_action_row_activate(ADW_ACTION_ROW(gpus->pdata[1]));
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (!has_id(s, beta)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    g_assert_true(gtk_switch_get_active(b) && has_id(s, alpha));
    /* The switch that keeps the model on the CPU follows use-gpu both ways. */
    g_autoptr(GPtrArray) use = named(w, "use-gpu");
    g_assert_cmpuint(use->len, ==, 1);
    GtkSwitch *on = GTK_SWITCH(first_of_type(use->pdata[0], GTK_TYPE_SWITCH));
    g_assert_true(gtk_switch_get_active(on));
    gtk_switch_set_active(on, FALSE);
    g_assert_false(g_settings_get_boolean(s, "use-gpu"));
    g_settings_set_boolean(s, "use-gpu", TRUE);
    g_assert_true(gtk_switch_get_active(on));
    gtk_window_destroy(GTK_WINDOW(w));
}

static void test_broken_driver(void)
{
    g_autoptr(GSettings) s = g_settings_new(APP_ID);
    GtkWidget *w = open_preferences(s);
    g_autoptr(GPtrArray) failed = named(w, "gpu-error");
    g_autoptr(GPtrArray) gpus = named(w, "gpu");
    g_assert_cmpuint(gpus->len, ==, 0);
    g_assert_cmpuint(failed->len, ==, 1);
    g_assert_cmpstr(title(failed->pdata[0]), ==, "Could not list the GPUs");
    g_assert_nonnull(strstr(subtitle(failed->pdata[0]), "cuInit returned 999"));
    g_assert_nonnull(strstr(subtitle(failed->pdata[0]), "runs on the CPU"));
    gtk_window_destroy(GTK_WINDOW(w));
}

/* Closing the window before the driver answers: nothing is touched afterwards. */
static void test_close_at_once(void)
{
    g_autoptr(GSettings) s = g_settings_new(APP_ID);
    for (int i = 0; i < 20; i++) {
        GtkWidget *w = sl_preferences_new(s);
        gtk_window_present(GTK_WINDOW(w));
        gtk_window_destroy(GTK_WINDOW(w));
    }
    /* Let every lookup finish and its callback run. */
    gint64 end = g_get_monotonic_time() + G_USEC_PER_SEC;
    while (g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
}

int main(int argc, char **argv)
{
    g_setenv("LANGUAGE", "C", TRUE);
    gtk_test_init(&argc, &argv, NULL);
    adw_init();
    const char *fake = g_getenv("FAKE_CUDA");
    if (!fake) {
        g_test_add_func("/ui/preferences/gpus/this-machine", test_this_machine);
        g_test_add_func("/ui/preferences/gpus/close-at-once", test_close_at_once);
    } else if (!strcmp(fake, "two")) {
        g_test_add_func("/ui/preferences/gpus/two", test_fake_gpus);
    } else {
        g_test_add_func("/ui/preferences/gpus/broken", test_broken_driver);
    }
    return g_test_run();
}
