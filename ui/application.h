/* application.h: SlApplication, the AdwApplication that owns the library, the engine worker
 * and the settings, and opens windows. */
#ifndef SL_APPLICATION_H
#define SL_APPLICATION_H

#include "engine-worker.h"
#include "library.h"

#include <adwaita.h>

G_BEGIN_DECLS

#define SL_TYPE_APPLICATION (sl_application_get_type())
G_DECLARE_FINAL_TYPE(SlApplication, sl_application, SL, APPLICATION, AdwApplication)

/* library_path: NULL for the one in the settings, or the default. */
SlApplication *sl_application_new(const char *library_path);

/* NULL when it could not be opened (sl_application_get_library_error says why). */
SlLibrary *sl_application_get_library(SlApplication *app);
const char *sl_application_get_library_error(SlApplication *app);
SlWorker *sl_application_get_worker(SlApplication *app);
GSettings *sl_application_get_settings(SlApplication *app);

/* The model's state for people: "Loading SmolLM2…", "SmolLM2-135M-Instruct on the CPU (8
 * threads)", or the error; the "model-status" property, notified when it changes. */
const char *sl_application_get_model_status(SlApplication *app);
gboolean sl_application_get_model_ready(SlApplication *app);
/* Why the loaded model runs on the CPU though the settings let it use a GPU (the engine's
 * notice), or NULL; the "model-notice" property, notified as each load ends. */
const char *sl_application_get_model_notice(SlApplication *app);
/* Loads the model the settings name (again), on the worker thread; changing the model, the
 * indexer, the threads or the GPUs loads it again. */
void sl_application_load_model(SlApplication *app);

G_END_DECLS

#endif
