/* engine-worker.h: the engine on its own thread (DESIGN.md: "the engine is owned by one worker
 * thread fed by a queue; results hop back to the main loop; every long job can be cancelled").
 *
 * One thread holds the sl_engine; jobs run on it one at a time, in the order they were queued.
 * Each job's callback, and everything it emits, runs in the thread-default GMainContext of the
 * thread that queued it. */
#ifndef SL_ENGINE_WORKER_H
#define SL_ENGINE_WORKER_H

#include "sightline-engine.h"

#include <gio/gio.h>

G_BEGIN_DECLS

#define SL_ENGINE_ERROR (sl_engine_error_quark()) /* codes: the sl_status values */
GQuark sl_engine_error_quark(void);
/* err (the engine's message) into a GError in SL_ENGINE_ERROR with code err->code. */
void sl_set_engine_error(GError **error, const sl_error *err);

typedef struct _SlWorker SlWorker;

/* Starts the thread; no model yet. */
SlWorker *sl_worker_new(void);
/* Cancels the running job, fails the queued ones with G_IO_ERROR_CANCELLED (their callbacks
 * still run, in their contexts, if those are iterated), joins the thread, closes the engine.
 * Callbacks that run afterwards may still call the _finish functions: they do not use w. */
void sl_worker_free(SlWorker *w);

typedef struct {
    const char *model_path;
    int n_threads;            /* 0: one per online CPU */
    gsize memory_limit;       /* 0: what the machine has */
    const char *indexer_path; /* may be NULL */
    const char *device;       /* sl_engine_options.device: NULL for the CPU, "auto" for the GPU
                                 when one takes the model (sl_settings_device gives the app's) */
} SlModelOptions;

/* Opens the model (and indexer, with sl_engine_load_indexer) on the worker thread. Switching:
 * the old engine is closed only after the new one opened; on failure the old one stays and the
 * error (SL_ENGINE_ERROR, the engine's message, naming the file) comes back. Cancelled before
 * the new engine replaces the old: G_IO_ERROR_CANCELLED, and the old one stays. */
void sl_worker_load_model_async(SlWorker *w, const SlModelOptions *o, GCancellable *c,
                                GAsyncReadyCallback cb, gpointer user_data);
gboolean sl_worker_load_model_finish(SlWorker *w, GAsyncResult *res, GError **error);
/* Blocking, for the CLI and tests; works from any thread. */
gboolean sl_worker_load_model(SlWorker *w, const SlModelOptions *o, GError **error);
/* The loaded model's info (its strings interned: they outlive the engine) and a copy of its
 * path (g_free; model_path may be NULL); FALSE when no model is loaded. Thread-safe. */
gboolean sl_worker_model_info(SlWorker *w, sl_model_info *out, char **model_path);
/* Where the loaded model runs (sl_engine_device: "cuda:0 (…)", "the CPU (8 threads)") and, when
 * "auto" fell back to the CPU, why (sl_engine_notice; else NULL); g_free both, either may be
 * NULL. FALSE, both NULL, when no model is loaded. Thread-safe. */
gboolean sl_worker_model_device(SlWorker *w, char **device, char **notice);

typedef struct _SlWorkerJob SlWorkerJob;

/* Runs on the worker thread with the engine. Returns a result, or NULL with error set.
 * Sessions belong to the job: free them before returning (unwatch them first). func must
 * not wait for another job of the same worker (sl_worker_run in func): that runs after it. */
typedef gpointer (*SlWorkerFunc)(SlWorkerJob *job, sl_engine *engine, gpointer data,
                                 GCancellable *cancellable, GError **error);

/* Queues a job; cb runs in the caller's thread-default main context. data_free(data) runs on
 * the worker thread once the job is over (run or dropped), before cb can run.
 * No model loaded: fails with SL_ENGINE_ERROR/SL_ERR_INVALID_ARGUMENT "no model loaded".
 * Cancelled before it starts: G_IO_ERROR_CANCELLED and func never runs. A func failing with
 * SL_ENGINE_ERROR/SL_ERR_CANCELLED once the job was cancelled is reported as
 * G_IO_ERROR_CANCELLED, so callers test for one error. c is not the cancellable func gets:
 * that is the job's own, which c and sl_worker_free both cancel. */
void sl_worker_run_async(SlWorker *w, SlWorkerFunc func, gpointer data, GDestroyNotify data_free,
                         GDestroyNotify result_free, GCancellable *c, GAsyncReadyCallback cb,
                         gpointer user_data);
gpointer sl_worker_run_finish(SlWorker *w, GAsyncResult *res, GError **error);
/* Blocking run for the CLI and tests: queues, waits, returns the result. Works from any thread;
 * what func emits runs in this thread while it waits. */
gpointer sl_worker_run(SlWorker *w, SlWorkerFunc func, gpointer data, GCancellable *c,
                       GError **error);

/* Inside func: runs fn(data) once (its return value is ignored) in the job's caller context,
 * in order, before the job's callback, without blocking the worker. */
void sl_worker_job_emit(SlWorkerJob *job, GSourceFunc fn, gpointer data, GDestroyNotify destroy);
/* Inside func: while set, the job's cancellable firing calls sl_session_cancel(session) so a
 * prefill or decode stops at once; NULL unsets (do it before freeing the session). Already
 * cancelled when set: the session is cancelled at once. The engine clears the session's
 * cancel flag as each prefill (and each sl_session_next's feed) starts, so func should still
 * test the cancellable between engine calls, and prefill with sl_worker_job_progress(). */
void sl_worker_job_watch_session(SlWorkerJob *job, sl_session *session);
/* Inside func: progress for sl_session_prefill that stops it (SL_ERR_CANCELLED) after the
 * chunk in which the job was cancelled, closing the window the flag clearing leaves. */
sl_progress sl_worker_job_progress(SlWorkerJob *job);

G_END_DECLS

#endif
