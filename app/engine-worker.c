/* engine-worker.c: one thread owns the engine and runs a queue of jobs, each a GTask created in
 * the caller's thread, so its result goes back to the caller's main context by itself. */
#include "engine-worker.h"

#include <string.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

G_DEFINE_QUARK(sl-engine-error-quark, sl_engine_error)

void sl_set_engine_error(GError **error, const sl_error *err)
{
    g_set_error_literal(error, SL_ENGINE_ERROR, (int)err->code, err->message);
}

struct _SlWorker {
    GThread *thread;
    GAsyncQueue *queue; /* SlWorkerJob *, then stop_marker */
    GMutex lock;        /* guards what follows */
    sl_engine *engine;  /* used by the worker thread only; the lock is for the pointer swap */
    sl_model_info info; /* the engine's, strings interned */
    char *model_path;
    char *device, *notice; /* sl_engine_device and sl_engine_notice, copied */
    SlWorkerJob *current; /* the running job, for sl_worker_free to cancel */
    gboolean stopping;
};

struct _SlWorkerJob {
    SlWorker *worker;
    GTask *task;
    SlWorkerFunc func;
    gpointer data;
    GDestroyNotify data_free;
    GDestroyNotify result_free;
    gboolean needs_model;
    GCancellable *cancellable; /* the job's own: the caller's and sl_worker_free cancel it */
    GCancellable *caller_cancellable;
    gulong forward_id;         /* caller_cancellable -> cancellable */
    sl_session *watched;       /* written only while no handler is connected */
    gulong watch_id;
};

/* Ends the worker loop; jobs never have this address. */
static char stop_marker;

static void forward_cancel(GCancellable *caller, gpointer data)
{
    (void)caller;
    g_cancellable_cancel(data);
}

static void job_free(SlWorkerJob *job)
{
    /* May wait for forward_cancel running in another thread; it takes none of our locks. */
    if (job->caller_cancellable)
        g_cancellable_disconnect(job->caller_cancellable, job->forward_id);
    g_clear_object(&job->caller_cancellable);
    g_clear_object(&job->cancellable);
    g_clear_object(&job->task);
    g_free(job);
}

static void set_cancelled(GError **error, const char *why)
{
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, why);
}

/* What func gave, as the task's result; takes result and error. */
static void job_return(SlWorkerJob *job, gpointer result, GError *error)
{
    if (error && result && job->result_free)
        job->result_free(result);
    if (!error && !result)
        g_set_error_literal(&error, SL_ENGINE_ERROR, SL_ERR_INVALID_ARGUMENT,
                            "engine job: returned neither a result nor an error");
    if (!error) {
        g_task_return_pointer(job->task, result, job->result_free);
        return;
    }
    /* One error for "cancelled", whichever layer noticed first. */
    if (g_error_matches(error, SL_ENGINE_ERROR, SL_ERR_CANCELLED) &&
        g_cancellable_is_cancelled(job->cancellable)) {
        error->domain = G_IO_ERROR;
        error->code = G_IO_ERROR_CANCELLED;
    }
    g_task_return_error(job->task, error);
}

static void run_job(SlWorker *w, SlWorkerJob *job)
{
    g_mutex_lock(&w->lock);
    gboolean stopping = w->stopping;
    if (!stopping)
        w->current = job;
    sl_engine *engine = w->engine;
    g_mutex_unlock(&w->lock);

    GError *error = NULL;
    gpointer result = NULL;
    if (stopping)
        set_cancelled(&error, "engine job: cancelled: the engine worker is shutting down");
    else if (g_cancellable_is_cancelled(job->cancellable))
        set_cancelled(&error, "engine job: cancelled before it started");
    else if (job->needs_model && !engine)
        g_set_error_literal(&error, SL_ENGINE_ERROR, SL_ERR_INVALID_ARGUMENT, "no model loaded");
    else
        result = job->func(job, engine, job->data, job->cancellable, &error);
    sl_worker_job_watch_session(job, NULL); /* in case func left its session watched */
    if (job->data_free) /* here, not with the task: that may end in either thread */
        job->data_free(job->data);

    g_mutex_lock(&w->lock);
    w->current = NULL;
    g_mutex_unlock(&w->lock);
    job_return(job, result, error);
}

static gpointer worker_main(gpointer data)
{
    SlWorker *w = data;
#ifdef __linux__
    /* The model's work yields to the window: this thread's nice value, which the engine's
     * own threads, made from here, inherit. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 5) != 0)
        g_debug("could not lower the priority of the engine thread");
#endif
    for (;;) {
        gpointer item = g_async_queue_pop(w->queue);
        if (item == &stop_marker)
            return NULL;
        SlWorkerJob *job = item;
        run_job(w, job);
        job_free(job);
    }
}

SlWorker *sl_worker_new(void)
{
    SlWorker *w = g_new0(SlWorker, 1);
    g_mutex_init(&w->lock);
    w->queue = g_async_queue_new();
    w->thread = g_thread_new("sl-engine", worker_main, w);
    return w;
}

void sl_worker_free(SlWorker *w)
{
    if (!w)
        return;
    g_mutex_lock(&w->lock);
    w->stopping = TRUE;
    GCancellable *running = w->current ? g_object_ref(w->current->cancellable) : NULL;
    g_mutex_unlock(&w->lock);
    /* Outside the lock: the cancel handlers run here, and the worker may be waiting for them. */
    if (running) {
        g_cancellable_cancel(running);
        g_object_unref(running);
    }
    g_async_queue_push(w->queue, &stop_marker); /* behind the queued jobs, which fail */
    g_thread_join(w->thread);
    g_async_queue_unref(w->queue);
    sl_engine_close(w->engine);
    g_free(w->model_path);
    g_free(w->device);
    g_free(w->notice);
    g_mutex_clear(&w->lock);
    g_free(w);
}

static SlWorkerJob *job_new(SlWorker *w, GCancellable *c, GAsyncReadyCallback cb,
                            gpointer user_data, gpointer tag)
{
    SlWorkerJob *job = g_new0(SlWorkerJob, 1);
    job->worker = w;
    job->task = g_task_new(NULL, c, cb, user_data);
    g_task_set_source_tag(job->task, tag);
    g_task_set_check_cancellable(job->task, FALSE); /* run_job says when a job was cancelled */
    job->cancellable = g_cancellable_new();
    if (c) { /* already cancelled: forwarded at once, and forward_id is 0 */
        job->caller_cancellable = g_object_ref(c);
        job->forward_id =
            g_cancellable_connect(c, G_CALLBACK(forward_cancel), job->cancellable, NULL);
    }
    return job;
}

void sl_worker_run_async(SlWorker *w, SlWorkerFunc func, gpointer data, GDestroyNotify data_free,
                         GDestroyNotify result_free, GCancellable *c, GAsyncReadyCallback cb,
                         gpointer user_data)
{
    g_return_if_fail(w && func);
    SlWorkerJob *job = job_new(w, c, cb, user_data, (gpointer)(guintptr)sl_worker_run_async);
    job->func = func;
    job->data = data;
    job->data_free = data_free;
    job->result_free = result_free;
    job->needs_model = TRUE;
    g_async_queue_push(w->queue, job);
}

gpointer sl_worker_run_finish(SlWorker *w, GAsyncResult *res, GError **error)
{
    (void)w; /* unused, so callbacks that run after sl_worker_free may call this */
    g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) ==
                             (gpointer)(guintptr)sl_worker_run_async, NULL);
    return g_task_propagate_pointer(G_TASK(res), error);
}

static void got_result(GObject *source, GAsyncResult *res, gpointer data)
{
    (void)source;
    *(GAsyncResult **)data = g_object_ref(res);
}

/* Iterates ctx, pushed as thread-default, until *res is set, then gives ctx back. */
static void wait_for(GMainContext *ctx, GAsyncResult **res)
{
    while (!*res)
        g_main_context_iteration(ctx, TRUE);
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);
}

/* A private context, so the blocking calls work in threads with or without a main loop. */
static GMainContext *push_private_context(void)
{
    GMainContext *ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    return ctx;
}

gpointer sl_worker_run(SlWorker *w, SlWorkerFunc func, gpointer data, GCancellable *c,
                       GError **error)
{
    g_return_val_if_fail(w && func, NULL);
    GAsyncResult *res = NULL;
    GMainContext *ctx = push_private_context();
    sl_worker_run_async(w, func, data, NULL, NULL, c, got_result, &res);
    wait_for(ctx, &res);
    gpointer out = sl_worker_run_finish(w, res, error);
    g_object_unref(res);
    return out;
}

typedef struct {
    GSourceFunc fn;
    gpointer data;
    GDestroyNotify destroy;
} Emit;

static gboolean emit_run(gpointer p)
{
    Emit *e = p;
    e->fn(e->data);
    return G_SOURCE_REMOVE; /* once, whatever fn says: a repeat would break the order */
}

static void emit_free(gpointer p)
{
    Emit *e = p;
    if (e->destroy)
        e->destroy(e->data);
    g_free(e);
}

void sl_worker_job_emit(SlWorkerJob *job, GSourceFunc fn, gpointer data, GDestroyNotify destroy)
{
    g_return_if_fail(job && fn);
    Emit *e = g_new0(Emit, 1);
    e->fn = fn;
    e->data = data;
    e->destroy = destroy;
    /* An idle source, never g_main_context_invoke: that may run fn here, in the worker. Same
     * priority as GTask's return, so every emit runs before the job's callback. */
    GSource *source = g_idle_source_new();
    g_source_set_priority(source, G_PRIORITY_DEFAULT);
    g_source_set_callback(source, emit_run, e, emit_free);
    g_source_set_static_name(source, "sightline engine emit");
    g_source_attach(source, g_task_get_context(job->task));
    g_source_unref(source);
}

static void cancel_watched(GCancellable *c, gpointer data)
{
    (void)c;
    SlWorkerJob *job = data;
    sl_session_cancel(job->watched);
}

void sl_worker_job_watch_session(SlWorkerJob *job, sl_session *session)
{
    g_return_if_fail(job);
    /* Disconnecting waits for cancel_watched if it is running in another thread; it takes no
     * lock, so that cannot deadlock. Afterwards no handler reads watched, so it may change. */
    if (job->watch_id)
        g_cancellable_disconnect(job->cancellable, job->watch_id);
    job->watch_id = 0;
    job->watched = session;
    if (session) /* already cancelled: cancel_watched runs now, and the id is 0 */
        job->watch_id =
            g_cancellable_connect(job->cancellable, G_CALLBACK(cancel_watched), job, NULL);
}

static bool progress_go_on(void *data, size_t done, size_t total)
{
    (void)done;
    (void)total;
    SlWorkerJob *job = data;
    return !g_cancellable_is_cancelled(job->cancellable);
}

sl_progress sl_worker_job_progress(SlWorkerJob *job)
{
    return (sl_progress){progress_go_on, job};
}

/* ---- models ------------------------------------------------------------ */

typedef struct {
    char *model_path;
    char *indexer_path;
    char *device;
    int n_threads;
    gsize memory_limit;
} LoadData;

static void load_data_free(gpointer p)
{
    LoadData *ld = p;
    g_free(ld->model_path);
    g_free(ld->indexer_path);
    g_free(ld->device);
    g_free(ld);
}

/* The engine's error, with path in front where the engine's message lacks it. */
static void set_file_error(GError **error, const sl_error *err, const char *path)
{
    if (strstr(err->message, path))
        sl_set_engine_error(error, err);
    else
        g_set_error(error, SL_ENGINE_ERROR, (int)err->code, "%s: %s", path, err->message);
}

static void install_engine(SlWorker *w, sl_engine *e, const char *path)
{
    g_mutex_lock(&w->lock);
    w->engine = e;
    w->info = *sl_engine_model(e);
    /* Interned, so copies handed out stay valid after this engine is closed. */
    w->info.architecture = g_intern_string(w->info.architecture);
    w->info.name = g_intern_string(w->info.name);
    g_free(w->model_path);
    w->model_path = g_strdup(path);
    g_free(w->device);
    w->device = g_strdup(sl_engine_device(e));
    g_free(w->notice);
    w->notice = g_strdup(sl_engine_notice(e));
    g_mutex_unlock(&w->lock);
}

static gpointer load_func(SlWorkerJob *job, sl_engine *old, gpointer data,
                          GCancellable *cancellable, GError **error)
{
    LoadData *ld = data;
    sl_engine_options eo = {.model_path = ld->model_path, .n_threads = ld->n_threads,
                            .memory_limit = ld->memory_limit, .device = ld->device};
    sl_engine *e = NULL;
    sl_error err = {0};
    if (sl_engine_open(&eo, &e, &err) != SL_OK) {
        set_file_error(error, &err, ld->model_path);
        return NULL;
    }
    if (ld->indexer_path && sl_engine_load_indexer(e, ld->indexer_path, &err) != SL_OK) {
        set_file_error(error, &err, ld->indexer_path);
        sl_engine_close(e);
        return NULL;
    }
    if (g_cancellable_set_error_if_cancelled(cancellable, error)) {
        sl_engine_close(e); /* cancelled: nothing changes */
        return NULL;
    }
    install_engine(job->worker, e, ld->model_path);
    sl_engine_close(old); /* only now that the new one works */
    return GINT_TO_POINTER(TRUE); /* any non-NULL: the result is only "it worked" */
}

void sl_worker_load_model_async(SlWorker *w, const SlModelOptions *o, GCancellable *c,
                                GAsyncReadyCallback cb, gpointer user_data)
{
    g_return_if_fail(w && o && o->model_path);
    SlWorkerJob *job =
        job_new(w, c, cb, user_data, (gpointer)(guintptr)sl_worker_load_model_async);
    LoadData *ld = g_new0(LoadData, 1);
    ld->model_path = g_strdup(o->model_path);
    ld->indexer_path = g_strdup(o->indexer_path);
    ld->device = g_strdup(o->device);
    ld->n_threads = o->n_threads;
    ld->memory_limit = o->memory_limit;
    job->func = load_func;
    job->data = ld;
    job->data_free = load_data_free;
    g_async_queue_push(w->queue, job);
}

gboolean sl_worker_load_model_finish(SlWorker *w, GAsyncResult *res, GError **error)
{
    (void)w; /* unused, as in sl_worker_run_finish */
    g_return_val_if_fail(g_task_is_valid(res, NULL), FALSE);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) ==
                             (gpointer)(guintptr)sl_worker_load_model_async, FALSE);
    return g_task_propagate_pointer(G_TASK(res), error) != NULL;
}

gboolean sl_worker_load_model(SlWorker *w, const SlModelOptions *o, GError **error)
{
    g_return_val_if_fail(w && o, FALSE);
    GAsyncResult *res = NULL;
    GMainContext *ctx = push_private_context();
    sl_worker_load_model_async(w, o, NULL, got_result, &res);
    wait_for(ctx, &res);
    gboolean ok = sl_worker_load_model_finish(w, res, error);
    g_object_unref(res);
    return ok;
}

gboolean sl_worker_model_info(SlWorker *w, sl_model_info *out, char **model_path)
{
    g_return_val_if_fail(w, FALSE);
    g_mutex_lock(&w->lock);
    gboolean loaded = w->engine != NULL;
    if (loaded && out)
        *out = w->info;
    if (model_path)
        *model_path = loaded ? g_strdup(w->model_path) : NULL;
    g_mutex_unlock(&w->lock);
    return loaded;
}

gboolean sl_worker_model_device(SlWorker *w, char **device, char **notice)
{
    g_return_val_if_fail(w, FALSE);
    g_mutex_lock(&w->lock);
    gboolean loaded = w->engine != NULL;
    if (device)
        *device = loaded ? g_strdup(w->device) : NULL;
    if (notice)
        *notice = loaded ? g_strdup(w->notice) : NULL;
    g_mutex_unlock(&w->lock);
    return loaded;
}
