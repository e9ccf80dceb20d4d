/* devices.c: sl_devices_list off the main thread, and the engine device the settings ask for. */
#include "devices.h"

#include "engine-worker.h"

#include <string.h>

void sl_device_list_free(SlDeviceList *list)
{
    if (!list)
        return;
    g_array_unref(list->devices);
    g_free(list->reason);
    g_free(list);
}

SlDeviceList *sl_devices_list_sync(GError **error)
{
    /* Ask for room, then again if more GPUs appeared than there was room for. */
    int cap = 16, n = 0;
    for (;;) {
        g_autoptr(GArray) a = g_array_sized_new(FALSE, TRUE, sizeof(sl_device_info), (guint)cap);
        g_array_set_size(a, (guint)cap);
        char reason[128] = "";
        sl_error err = {0};
        if (sl_devices_list((sl_device_info *)(void *)a->data, cap, &n, reason, sizeof reason, &err) != SL_OK) {
            sl_set_engine_error(error, &err);
            return NULL;
        }
        if (n > cap) {
            cap = n;
            continue;
        }
        g_array_set_size(a, (guint)n);
        SlDeviceList *list = g_new0(SlDeviceList, 1);
        list->devices = g_steal_pointer(&a);
        list->reason = n == 0 ? g_strdup(reason[0] ? reason : "no GPU found") : NULL;
        return list;
    }
}

static void list_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    GError *error = NULL;
    SlDeviceList *list = sl_devices_list_sync(&error);
    if (list)
        g_task_return_pointer(task, list, (GDestroyNotify)sl_device_list_free);
    else
        g_task_return_error(task, error);
}

void sl_devices_list_async(GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, cb, user_data);
    g_task_set_source_tag(task, (gpointer)(guintptr)sl_devices_list_async);
    g_task_set_return_on_cancel(task, TRUE);
    g_task_run_in_thread(task, list_thread);
}

SlDeviceList *sl_devices_list_finish(GAsyncResult *res, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
    return g_task_propagate_pointer(G_TASK(res), error);
}

char *sl_settings_device(GSettings *settings)
{
    if (!g_settings_get_boolean(settings, "use-gpu"))
        return g_strdup("cpu");
    g_auto(GStrv) ids = g_settings_get_strv(settings, "gpus");
    GString *device = g_string_new("auto");
    for (guint i = 0; ids[i]; i++)
        if (ids[i][0] && !strchr(ids[i], ',')) /* no driver's id; "auto:" would be refused */
            g_string_append_printf(device, "%c%s", device->len == 4 ? ':' : ',', ids[i]);
    return g_string_free(device, FALSE);
}
