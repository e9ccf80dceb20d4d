/* devices.h: the machine's GPUs (the engine's sl_devices_list) read on a worker thread, so
 * that no window waits on the driver, whose first call can take a second; and the engine
 * device the gpus setting asks for. */
#ifndef SL_DEVICES_H
#define SL_DEVICES_H

#include "sightline-engine.h"

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
    GArray *devices; /* of sl_device_info */
    char *reason;    /* no device: why, as the engine says it ("no NVIDIA driver found",
                        "the driver found no GPU"); NULL when there are some */
} SlDeviceList;

void sl_device_list_free(SlDeviceList *list);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SlDeviceList, sl_device_list_free)

/* Blocking. A driver that fails: SL_ENGINE_ERROR with the engine's message (the call and its
 * CUresult). No driver or no GPU is not an error: an empty list with its reason. */
SlDeviceList *sl_devices_list_sync(GError **error);
/* The same on a GTask thread; cb runs in the caller's thread-default main context. */
void sl_devices_list_async(GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data);
SlDeviceList *sl_devices_list_finish(GAsyncResult *res, GError **error);

/* The engine device (SlModelOptions.device) for the settings: "cpu" when use-gpu is off; else,
 * from the gpus key (the GPU ids Preferences keeps), "auto" when none is chosen, or
 * "auto:ID,ID…" (the first of them that the machine has, or the CPU, saying why). g_free. */
char *sl_settings_device(GSettings *settings);

G_END_DECLS

#endif
