/* The gpus setting (the GPU ids Preferences keeps) reaches the engine: sl_settings_device turns
 * it into the engine's device ("auto" when none is chosen), and a model the worker loads with
 * that device runs where the engine puts it. The stand-in driver of tests/engine/devices
 * reports two GPUs, and tiny-llama's heads (16 dims) are ones no GPU runs, so on any machine
 * the engine's notice names the GPU that the setting chose. */
#include "devices.h"
#include "engine-worker.h"

#include <string.h>

static const char *fake_driver, *model;

static const char *BETA = "GPU-b0b1b2b3-b4b5-b6b7-b8b9-babbbcbdbebf"; /* the stand-in's GPU 1 */

static char *device_for(GSettings *s, const char *const *ids)
{
    g_assert_true(g_settings_set_strv(s, "gpus", ids));
    return sl_settings_device(s);
}

static void test_device_string(void)
{
    g_autoptr(GSettings) s = g_settings_new(APP_ID);
    g_settings_reset(s, "gpus");
    g_autofree char *none = sl_settings_device(s);
    g_assert_cmpstr(none, ==, "auto");
    g_autofree char *one = device_for(s, (const char *const[]){"GPU-x", NULL});
    g_assert_cmpstr(one, ==, "auto:GPU-x");
    /* Kept in order; what no driver gives as an id (empty, with a comma) is left out. */
    g_autofree char *some = device_for(s, (const char *const[]){"", "GPU-a", "a,b", "PCI-0:3B", NULL});
    g_assert_cmpstr(some, ==, "auto:GPU-a,PCI-0:3B");
    g_autofree char *empty = device_for(s, (const char *const[]){"", NULL});
    g_assert_cmpstr(empty, ==, "auto");
    /* use-gpu off keeps the model on the CPU, whatever GPUs are chosen. */
    g_assert_true(g_settings_set_boolean(s, "use-gpu", FALSE));
    g_autofree char *off = device_for(s, (const char *const[]){"GPU-x", NULL});
    g_assert_cmpstr(off, ==, "cpu");
    g_settings_reset(s, "use-gpu");
    g_autofree char *on = sl_settings_device(s);
    g_assert_cmpstr(on, ==, "auto:GPU-x");
}

/* Loads the model with the device the setting gives; returns the worker's notice. */
static char *load_with(GSettings *s, const char *const *ids)
{
    g_autofree char *device = device_for(s, ids);
    SlWorker *w = sl_worker_new();
    g_autofree char *before = NULL, *before_notice = NULL;
    g_assert_false(sl_worker_model_device(w, &before, &before_notice));
    g_assert_null(before);
    g_assert_null(before_notice);
    SlModelOptions o = {.model_path = model, .n_threads = 1, .device = device};
    g_autoptr(GError) error = NULL;
    g_assert_true(sl_worker_load_model(w, &o, &error));
    g_assert_no_error(error);
    g_autofree char *where = NULL;
    char *notice = NULL;
    g_assert_true(sl_worker_model_device(w, &where, &notice));
    g_test_message("%s: %s; %s", device, where, notice ? notice : "(no notice)");
    g_assert_true(g_str_has_prefix(where, "the CPU ("));
    g_assert_nonnull(notice);
    sl_worker_free(w);
    return notice;
}

static void test_reaches_engine(void)
{
    g_autoptr(GSettings) s = g_settings_new(APP_ID);
    g_setenv("SIGHTLINE_LIBCUDA", fake_driver, TRUE);
    g_setenv("FAKE_CUDA", "two", TRUE);
#ifdef SL_HAVE_CUDA
    g_autofree char *first = load_with(s, (const char *const[]){NULL});
    g_assert_true(g_str_has_prefix(first, "cuda:0: "));
    g_autofree char *beta = load_with(s, (const char *const[]){"GPU-gone", BETA, NULL});
    g_assert_true(g_str_has_prefix(beta, "cuda:1: "));
    g_autofree char *gone = load_with(s, (const char *const[]){"GPU-gone", NULL});
    g_assert_nonnull(strstr(gone, "none of the GPUs chosen (GPU-gone)"));
#else
    g_autofree char *none = load_with(s, (const char *const[]){BETA, NULL});
    g_assert_cmpstr(none, ==, "this build has no CUDA backend: running on the CPU");
#endif
}

/* A worker told nothing of devices runs the engine on the CPU, with no notice. */
static void test_cpu_by_default(void)
{
    SlWorker *w = sl_worker_new();
    SlModelOptions o = {.model_path = model, .n_threads = 1};
    g_autoptr(GError) error = NULL;
    g_assert_true(sl_worker_load_model(w, &o, &error));
    g_autofree char *where = NULL, *notice = NULL;
    g_assert_true(sl_worker_model_device(w, &where, &notice));
    g_assert_cmpstr(where, ==, "the CPU (1 thread)");
    g_assert_null(notice);
    sl_worker_free(w);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (argc != 3) {
        g_printerr("usage: test-gpus-setting FAKE-LIBCUDA.so MODEL.gguf\n");
        return 2;
    }
    fake_driver = argv[1];
    model = argv[2];
    g_test_add_func("/gpus-setting/device-string", test_device_string);
    g_test_add_func("/gpus-setting/reaches-engine", test_reaches_engine);
    g_test_add_func("/gpus-setting/cpu-by-default", test_cpu_by_default);
    return g_test_run();
}
