/* The engine worker against the engine used directly, on the tiny random llama: jobs give the
 * same greedy tokens as a direct run, emit them in the caller's thread, run in queue order;
 * cancelling (from the prefill's progress, from another thread, before a job starts, by freeing
 * the worker) stops the engine promptly and leaves it usable; switching models, and a failed
 * switch that keeps the old model. */
#include "engine-worker.h"

#include <glib/gstdio.h>
#include <string.h>

static const char *data_dir; /* tests/data/llama */

enum { PROMPT = 200, DECODE = 20, CTX = 256 };

static char *data_path(const char *name)
{
    return g_build_filename(data_dir, name, NULL);
}

/* A fixed prompt of byte tokens (the tiny model's first 256 ids). */
static void make_prompt(int32_t *ids)
{
    guint32 x = 12345;
    for (int i = 0; i < PROMPT; i++) {
        x = x * 1103515245u + 12345u;
        ids[i] = (int32_t)((x >> 16) % 256);
    }
}

static sl_sampling greedy(void)
{
    sl_sampling s = sl_sampling_default();
    s.temperature = 0.0f;
    return s;
}

/* ---- the reference: the engine used directly ---------------------------- */

static sl_engine *open_direct(void)
{
    g_autofree char *path = data_path("tiny-llama.gguf");
    sl_engine_options o = {.model_path = path, .n_threads = 1};
    sl_engine *e = NULL;
    sl_error err = {0};
    if (sl_engine_open(&o, &e, &err) != SL_OK)
        g_error("%s", err.message);
    return e;
}

/* The greedy tokens after the prompt, from a directly opened engine. */
static GArray *direct_tokens(void)
{
    static GArray *cached;
    if (cached)
        return g_array_ref(cached);
    sl_engine *e = open_direct();
    sl_session *s = NULL;
    sl_error err = {0};
    int32_t ids[PROMPT];
    make_prompt(ids);
    g_assert_cmpint(sl_session_new(e, CTX, &s, &err), ==, SL_OK);
    g_assert_cmpint(sl_session_prefill(s, ids, PROMPT, NULL, &err), ==, SL_OK);
    cached = g_array_new(FALSE, FALSE, sizeof(int32_t));
    sl_sampling g = greedy();
    for (int i = 0; i < DECODE; i++) {
        int32_t t = -1;
        g_assert_cmpint(sl_session_next(s, &g, &t, &err), ==, SL_OK);
        g_array_append_val(cached, t);
    }
    sl_session_free(s);
    sl_engine_close(e);
    return g_array_ref(cached);
}

static void assert_same_tokens(GArray *a, GArray *b)
{
    g_assert_cmpuint(a->len, ==, b->len);
    for (guint i = 0; i < a->len; i++)
        g_assert_cmpint(g_array_index(a, int32_t, i), ==, g_array_index(b, int32_t, i));
}

/* ---- a generating job ----------------------------------------------------- */

typedef struct {
    gboolean endless;          /* decode until cancelled, starting over when the context fills */
    GCancellable *cancel_in_progress; /* cancelled from the prefill's progress callback */
    GThread *caller;           /* where emits must run */
    GArray *emitted;           /* tokens as the caller received them */
    gint ran;                  /* atomic: times func started */
    gint engine_status;        /* atomic: what the engine said last */
    gint data_freed;           /* atomic */
} Gen;

static Gen *gen_new(void)
{
    Gen *g = g_new0(Gen, 1);
    g->caller = g_thread_self();
    g->emitted = g_array_new(FALSE, FALSE, sizeof(int32_t));
    return g;
}

static void gen_free(Gen *g)
{
    g_array_unref(g->emitted);
    g_free(g);
}

static void gen_data_done(gpointer p)
{
    Gen *g = p;
    g_atomic_int_inc(&g->data_freed);
}

typedef struct {
    Gen *gen;
    int32_t token;
} Emitted;

static gboolean take_token(gpointer p)
{
    Emitted *e = p;
    g_assert_true(g_thread_self() == e->gen->caller);
    g_array_append_val(e->gen->emitted, e->token);
    return G_SOURCE_REMOVE;
}

static bool progress_cancels(void *data, size_t done, size_t total)
{
    (void)done;
    (void)total;
    g_cancellable_cancel(data); /* the caller's cancellable, from the worker thread */
    return true;                /* the engine must stop through the watch, not through us */
}

/* Decodes until n tokens or an error; emits each. */
static sl_status decode(SlWorkerJob *job, Gen *gen, sl_session *s, GArray *out, int n,
                        GCancellable *c, sl_error *err)
{
    sl_sampling g = greedy();
    for (int i = 0; i < n; i++) {
        int32_t t = -1;
        sl_status st = sl_session_next(s, &g, &t, err);
        g_atomic_int_set(&gen->engine_status, (int)st);
        if (st != SL_OK)
            return st;
        g_array_append_val(out, t);
        Emitted *e = g_new(Emitted, 1);
        *e = (Emitted){gen, t};
        sl_worker_job_emit(job, take_token, e, g_free);
        /* The engine clears its cancel flag at each run: a cancel landing just then is seen
         * here. */
        if (g_cancellable_is_cancelled(c))
            return SL_ERR_CANCELLED;
    }
    return SL_OK;
}

/* Prefill and DECODE greedy tokens (endless: over and over until cancelled). */
static sl_status generate(SlWorkerJob *job, Gen *gen, sl_session *s, GArray *out,
                          GCancellable *c, sl_error *err)
{
    int32_t ids[PROMPT];
    make_prompt(ids);
    sl_progress pr = {progress_cancels, gen->cancel_in_progress};
    for (int round = 0; round < (gen->endless ? 2000 : 1); round++) {
        sl_session_truncate(s, 0);
        sl_status st =
            sl_session_prefill(s, ids, PROMPT, gen->cancel_in_progress ? &pr : NULL, err);
        g_atomic_int_set(&gen->engine_status, (int)st);
        if (st == SL_OK)
            st = decode(job, gen, s, out, gen->endless ? CTX - PROMPT : DECODE, c, err);
        if (st != SL_OK)
            return st;
    }
    return SL_OK;
}

static gpointer gen_job(SlWorkerJob *job, sl_engine *engine, gpointer data,
                        GCancellable *cancellable, GError **error)
{
    Gen *gen = data;
    g_atomic_int_inc(&gen->ran);
    g_assert_true(g_thread_self() != gen->caller);
    sl_session *s = NULL;
    sl_error err = {0};
    if (sl_session_new(engine, CTX, &s, &err) != SL_OK) {
        sl_set_engine_error(error, &err);
        return NULL;
    }
    sl_worker_job_watch_session(job, s);
    GArray *out = g_array_new(FALSE, FALSE, sizeof(int32_t));
    sl_status st = generate(job, gen, s, out, cancellable, &err);
    sl_worker_job_watch_session(job, NULL);
    sl_session_free(s);
    if (st == SL_OK)
        return out;
    g_array_unref(out);
    if (err.code == SL_OK) /* stopped by our own check of the cancellable */
        err = (sl_error){SL_ERR_CANCELLED, "cancelled"};
    sl_set_engine_error(error, &err);
    return NULL;
}

/* ---- waiting in the main context ---------------------------------------- */

static void store_result(GObject *source, GAsyncResult *res, gpointer data)
{
    (void)source;
    *(GAsyncResult **)data = g_object_ref(res);
}

static void wait_result(GAsyncResult **res)
{
    while (!*res)
        g_main_context_iteration(NULL, TRUE);
}

static void load_tiny(SlWorker *w)
{
    g_autofree char *path = data_path("tiny-llama.gguf");
    SlModelOptions o = {.model_path = path, .n_threads = 1};
    g_autoptr(GError) error = NULL;
    g_assert_true(sl_worker_load_model(w, &o, &error));
    g_assert_no_error(error);
}

/* Runs a DECODE-token job in the main context; checks it against the direct run. */
static void check_generation(SlWorker *w)
{
    Gen *gen = gen_new();
    GAsyncResult *res = NULL;
    sl_worker_run_async(w, gen_job, gen, gen_data_done, (GDestroyNotify)g_array_unref, NULL,
                        store_result, &res);
    wait_result(&res);
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) got = sl_worker_run_finish(w, res, &error);
    g_assert_no_error(error);
    g_object_unref(res);
    g_autoptr(GArray) want = direct_tokens();
    assert_same_tokens(got, want);
    assert_same_tokens(gen->emitted, want); /* every emit ran before the callback */
    g_assert_cmpint(gen->data_freed, ==, 1);
    gen_free(gen);
}

/* ---- tests ----------------------------------------------------------------- */

static gpointer count_job(SlWorkerJob *job, sl_engine *engine, gpointer data,
                          GCancellable *cancellable, GError **error)
{
    (void)job, (void)engine, (void)cancellable, (void)error;
    g_atomic_int_inc((gint *)data);
    return g_strdup("ran");
}

static void test_no_model(void)
{
    SlWorker *w = sl_worker_new();
    sl_model_info info;
    char *path = (char *)"unset";
    g_assert_false(sl_worker_model_info(w, &info, &path));
    g_assert_null(path);
    gint ran = 0;
    g_autoptr(GError) error = NULL;
    g_assert_null(sl_worker_run(w, count_job, &ran, NULL, &error));
    g_assert_error(error, SL_ENGINE_ERROR, SL_ERR_INVALID_ARGUMENT);
    g_assert_cmpstr(error->message, ==, "no model loaded");
    g_assert_cmpint(ran, ==, 0);
    sl_worker_free(w);
}

static void assert_info_equal(const sl_model_info *a, const sl_model_info *b)
{
    g_assert_cmpstr(a->architecture, ==, b->architecture);
    g_assert_cmpstr(a->name, ==, b->name);
    g_assert_cmpint(a->n_layers, ==, b->n_layers);
    g_assert_cmpint(a->n_embd, ==, b->n_embd);
    g_assert_cmpint(a->n_heads, ==, b->n_heads);
    g_assert_cmpint(a->n_kv_heads, ==, b->n_kv_heads);
    g_assert_cmpint(a->head_dim, ==, b->head_dim);
    g_assert_cmpint(a->n_ff, ==, b->n_ff);
    g_assert_cmpint(a->n_vocab, ==, b->n_vocab);
    g_assert_cmpint(a->n_ctx_train, ==, b->n_ctx_train);
    g_assert_cmpfloat(a->rope_theta, ==, b->rope_theta);
    g_assert_cmpfloat(a->norm_eps, ==, b->norm_eps);
    g_assert_cmpint(a->tied_output, ==, b->tied_output);
    g_assert_cmpint(a->chat_template, ==, b->chat_template);
    g_assert_cmpint(a->bos_id, ==, b->bos_id);
    g_assert_cmpint(a->eos_id, ==, b->eos_id);
    g_assert_cmpint(a->eot_id, ==, b->eot_id);
    g_assert_cmpint(a->add_bos, ==, b->add_bos);
    g_assert_cmpuint(a->weight_bytes, ==, b->weight_bytes);
}

typedef struct {
    GThread *caller;
    gboolean done, ok;
    GError *error;
} LoadWait;

static void loaded(GObject *source, GAsyncResult *res, gpointer data)
{
    (void)source;
    LoadWait *lw = data;
    g_assert_true(g_thread_self() == lw->caller);
    lw->ok = sl_worker_load_model_finish(NULL, res, &lw->error);
    lw->done = TRUE;
}

/* Loads asynchronously from the main context; the callback runs in this thread. */
static gboolean load_async(SlWorker *w, const char *model, const char *indexer, GError **error)
{
    SlModelOptions o = {.model_path = model, .n_threads = 1, .indexer_path = indexer};
    LoadWait lw = {g_thread_self(), FALSE, FALSE, NULL};
    sl_worker_load_model_async(w, &o, NULL, loaded, &lw);
    while (!lw.done)
        g_main_context_iteration(NULL, TRUE);
    g_assert_true(lw.ok == (lw.error == NULL));
    if (lw.error)
        g_propagate_error(error, lw.error);
    return lw.ok;
}

static void test_load_info(void)
{
    SlWorker *w = sl_worker_new();
    g_autofree char *path = data_path("tiny-llama.gguf");
    g_autoptr(GError) error = NULL;
    g_assert_true(load_async(w, path, NULL, &error));
    g_assert_no_error(error);
    sl_model_info info;
    g_autofree char *got_path = NULL;
    g_assert_true(sl_worker_model_info(w, &info, &got_path));
    g_assert_cmpstr(got_path, ==, path);
    sl_engine *e = open_direct();
    assert_info_equal(&info, sl_engine_model(e));
    sl_engine_close(e);
    sl_worker_free(w);
    g_assert_cmpstr(info.architecture, ==, "llama"); /* interned: outlives the engine */
}

static void test_generate(void)
{
    SlWorker *w = sl_worker_new();
    load_tiny(w);
    check_generation(w);
    check_generation(w); /* the engine is reused; sessions are per job */
    sl_worker_free(w);
}

static gpointer load_thread(gpointer data)
{
    load_tiny(data); /* the blocking load, from a thread with no main loop */
    return NULL;
}

static gpointer blocking_thread(gpointer data)
{
    SlWorker *w = data;
    Gen *gen = gen_new(); /* caller: this thread, which has no main loop */
    g_autoptr(GError) error = NULL;
    GArray *got = sl_worker_run(w, gen_job, gen, NULL, &error);
    g_assert_no_error(error);
    g_autoptr(GArray) want = direct_tokens();
    assert_same_tokens(got, want);
    assert_same_tokens(gen->emitted, want); /* emitted into this thread while it waited */
    g_array_unref(got);
    gen_free(gen);
    return NULL;
}

static void test_blocking_other_thread(void)
{
    SlWorker *w = sl_worker_new();
    g_thread_join(g_thread_new("loader", load_thread, w));
    g_assert_true(sl_worker_model_info(w, NULL, NULL));
    g_thread_join(g_thread_new("blocking", blocking_thread, w));
    sl_worker_free(w);
}

typedef struct {
    GMutex lock;
    GArray *started;  /* indices, as the worker ran them */
    GArray *finished; /* indices, as the callbacks ran */
    gint freed;
} Order;

typedef struct {
    Order *order;
    int index;
} OrderJob;

static gpointer order_job(SlWorkerJob *job, sl_engine *engine, gpointer data,
                          GCancellable *cancellable, GError **error)
{
    (void)job, (void)engine, (void)cancellable, (void)error;
    OrderJob *oj = data;
    g_mutex_lock(&oj->order->lock);
    g_array_append_val(oj->order->started, oj->index);
    g_mutex_unlock(&oj->order->lock);
    g_usleep(2000 * (guint)(5 - oj->index)); /* earlier jobs take longer */
    return GINT_TO_POINTER(oj->index + 1);
}

static void order_job_free(gpointer p)
{
    OrderJob *oj = p;
    g_atomic_int_inc(&oj->order->freed);
    g_free(oj);
}

static void order_done(GObject *source, GAsyncResult *res, gpointer data)
{
    (void)source;
    Order *order = data;
    g_autoptr(GError) error = NULL;
    int i = GPOINTER_TO_INT(sl_worker_run_finish(NULL, res, &error)) - 1;
    g_assert_no_error(error);
    g_array_append_val(order->finished, i);
}

static void test_order(void)
{
    SlWorker *w = sl_worker_new();
    load_tiny(w);
    Order order = {.started = g_array_new(FALSE, FALSE, sizeof(int)),
                   .finished = g_array_new(FALSE, FALSE, sizeof(int))};
    g_mutex_init(&order.lock);
    for (int i = 0; i < 5; i++) {
        OrderJob *oj = g_new(OrderJob, 1);
        *oj = (OrderJob){&order, i};
        sl_worker_run_async(w, order_job, oj, order_job_free, NULL, NULL, order_done, &order);
    }
    while (order.finished->len < 5)
        g_main_context_iteration(NULL, TRUE);
    for (int i = 0; i < 5; i++) {
        g_assert_cmpint(g_array_index(order.started, int, i), ==, i);
        g_assert_cmpint(g_array_index(order.finished, int, i), ==, i);
    }
    g_assert_cmpint(order.freed, ==, 5);
    sl_worker_free(w);
    g_array_unref(order.started);
    g_array_unref(order.finished);
    g_mutex_clear(&order.lock);
}

static double seconds_since(gint64 t0)
{
    return (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
}

/* Runs gen's job with c in the main context; returns its error. */
static GError *run_gen_expecting_error(SlWorker *w, Gen *gen, GCancellable *c,
                                       gboolean cancel_after_first_token, double *cancel_to_end)
{
    GAsyncResult *res = NULL;
    sl_worker_run_async(w, gen_job, gen, gen_data_done, (GDestroyNotify)g_array_unref, c,
                        store_result, &res);
    if (cancel_after_first_token) {
        while (gen->emitted->len == 0 && !res)
            g_main_context_iteration(NULL, TRUE);
        g_assert_null(res); /* still decoding */
    }
    gint64 t0 = g_get_monotonic_time();
    if (cancel_after_first_token)
        g_cancellable_cancel(c); /* from this thread, while the worker decodes */
    wait_result(&res);
    *cancel_to_end = seconds_since(t0);
    GError *error = NULL;
    GArray *got = sl_worker_run_finish(w, res, &error);
    g_object_unref(res);
    if (got)
        g_array_unref(got);
    g_assert_cmpint(gen->data_freed, ==, 1);
    return error;
}

static void test_cancel_in_prefill(void)
{
    SlWorker *w = sl_worker_new();
    load_tiny(w);
    Gen *gen = gen_new();
    g_autoptr(GCancellable) c = g_cancellable_new();
    gen->cancel_in_progress = c;
    double took = 0;
    g_autoptr(GError) error = run_gen_expecting_error(w, gen, c, FALSE, &took);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    /* The engine itself refused to go on (the watch cancelled the session): not one token. */
    g_assert_cmpint(gen->engine_status, ==, SL_ERR_CANCELLED);
    g_assert_cmpuint(gen->emitted->len, ==, 0);
    g_assert_cmpfloat(took, <, 2.0);
    gen_free(gen);
    check_generation(w); /* the engine still works, and gives the same tokens */
    sl_worker_free(w);
}

static void test_cancel_while_decoding(void)
{
    SlWorker *w = sl_worker_new();
    load_tiny(w);
    Gen *gen = gen_new();
    gen->endless = TRUE;
    g_autoptr(GCancellable) c = g_cancellable_new();
    double took = 0;
    g_autoptr(GError) error = run_gen_expecting_error(w, gen, c, TRUE, &took);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_test_message("cancel to callback: %.1f ms after %u tokens", took * 1e3, gen->emitted->len);
    g_assert_cmpfloat(took, <, 2.0);
    gen_free(gen);
    check_generation(w);
    sl_worker_free(w);
}

typedef struct {
    GMutex lock;
    GCond cond;
    gboolean open;
} Gate;

static gpointer gate_job(SlWorkerJob *job, sl_engine *engine, gpointer data,
                         GCancellable *cancellable, GError **error)
{
    (void)job, (void)engine, (void)cancellable, (void)error;
    Gate *g = data;
    g_mutex_lock(&g->lock);
    while (!g->open)
        g_cond_wait(&g->cond, &g->lock);
    g_mutex_unlock(&g->lock);
    return g_strdup("blocker");
}

typedef struct {
    int done;
    GError *errors[4];
    char *results[4];
} Outcomes;

static void outcome(GObject *source, GAsyncResult *res, gpointer data)
{
    (void)source;
    Outcomes *o = data;
    int i = o->done++;
    o->results[i] = sl_worker_run_finish(NULL, res, &o->errors[i]);
}

static void test_cancel_before_start(void)
{
    SlWorker *w = sl_worker_new();
    load_tiny(w);
    Gate gate = {0};
    g_mutex_init(&gate.lock);
    g_cond_init(&gate.cond);
    gint ran = 0;
    Outcomes o = {0};
    g_autoptr(GCancellable) later = g_cancellable_new();
    g_autoptr(GCancellable) already = g_cancellable_new();
    g_cancellable_cancel(already);
    sl_worker_run_async(w, gate_job, &gate, NULL, g_free, NULL, outcome, &o);
    sl_worker_run_async(w, count_job, &ran, NULL, g_free, later, outcome, &o);
    sl_worker_run_async(w, count_job, &ran, NULL, g_free, already, outcome, &o);
    sl_worker_run_async(w, count_job, &ran, NULL, g_free, NULL, outcome, &o);
    g_cancellable_cancel(later); /* queued behind the blocker: not started */
    g_mutex_lock(&gate.lock);
    gate.open = TRUE;
    g_cond_signal(&gate.cond);
    g_mutex_unlock(&gate.lock);
    while (o.done < 4)
        g_main_context_iteration(NULL, TRUE);
    g_assert_cmpstr(o.results[0], ==, "blocker");
    g_assert_error(o.errors[1], G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_error(o.errors[2], G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_null(o.results[1]);
    g_assert_null(o.results[2]);
    g_assert_cmpstr(o.results[3], ==, "ran");
    g_assert_cmpint(ran, ==, 1); /* only the last: the cancelled ones never ran */
    for (int i = 0; i < 4; i++) {
        g_clear_error(&o.errors[i]);
        g_free(o.results[i]);
    }
    sl_worker_free(w);
    g_mutex_clear(&gate.lock);
    g_cond_clear(&gate.cond);
}

/* Whether a session of the loaded engine can take the indexer's DSA mode: SL_OK only when the
 * engine has an indexer. */
static gpointer indexer_job(SlWorkerJob *job, sl_engine *engine, gpointer data,
                            GCancellable *cancellable, GError **error)
{
    (void)job, (void)data, (void)cancellable, (void)error;
    sl_session *s = NULL;
    sl_error err = {0};
    g_assert_cmpint(sl_session_new(engine, 64, &s, &err), ==, SL_OK);
    sl_dsa_options o = sl_dsa_default();
    o.mode = SL_DSA_INDEXER;
    sl_status st = sl_session_set_dsa(s, &o, &err);
    sl_session_free(s);
    return GINT_TO_POINTER((int)st + 1);
}

static sl_status indexer_status(SlWorker *w)
{
    g_autoptr(GError) error = NULL;
    gpointer r = sl_worker_run(w, indexer_job, NULL, NULL, &error);
    g_assert_no_error(error);
    return (sl_status)(GPOINTER_TO_INT(r) - 1);
}

static void assert_loaded_path(SlWorker *w, const char *want)
{
    g_autofree char *path = NULL;
    g_assert_true(sl_worker_model_info(w, NULL, &path));
    g_assert_cmpstr(path, ==, want);
}

/* A failed load: an SL_ENGINE_ERROR naming the file; the model loaded before is still there. */
static void check_failed_load(SlWorker *w, const char *model, const char *indexer,
                              const char *named, sl_status code, const char *still)
{
    g_autoptr(GError) error = NULL;
    g_assert_false(load_async(w, model, indexer, &error));
    g_assert_error(error, SL_ENGINE_ERROR, (int)code);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, named));
    assert_loaded_path(w, still);
}

static void test_switch_models(void)
{
    g_autofree char *tiny = data_path("tiny-llama.gguf");
    g_autofree char *indexer = data_path("tiny-indexer.safetensors");
    g_autofree char *bad_indexer = data_path("broken/indexer-bad-layers.safetensors");
    g_autofree char *broken = data_path("broken/no-embeddings.gguf");
    g_autofree char *dir = g_dir_make_tmp("sl-worker-XXXXXX", NULL);
    g_autofree char *copy = g_build_filename(dir, "copy.gguf", NULL);
    g_autofree char *missing = g_build_filename(dir, "missing.gguf", NULL);
    g_autofree char *bytes = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(tiny, &bytes, &len, NULL));
    g_assert_true(g_file_set_contents(copy, bytes, (gssize)len, NULL));

    SlWorker *w = sl_worker_new();
    g_autoptr(GError) error = NULL;
    g_assert_true(load_async(w, tiny, indexer, &error));
    g_assert_cmpint(indexer_status(w), ==, SL_OK);
    g_assert_true(load_async(w, copy, NULL, &error)); /* a switch: no indexer now */
    assert_loaded_path(w, copy);
    g_assert_cmpint(indexer_status(w), ==, SL_ERR_INVALID_ARGUMENT);
    g_assert_true(load_async(w, tiny, indexer, &error)); /* and back */
    assert_loaded_path(w, tiny);
    g_assert_cmpint(indexer_status(w), ==, SL_OK);
    g_assert_no_error(error);

    /* Failed switches keep the old engine, indexer and all. */
    check_failed_load(w, broken, NULL, broken, SL_ERR_FORMAT, tiny);
    check_failed_load(w, missing, NULL, missing, SL_ERR_IO, tiny);
    g_assert_true(g_file_set_contents(copy, bytes, (gssize)len / 2, NULL)); /* truncated */
    check_failed_load(w, copy, NULL, copy, SL_ERR_FORMAT, tiny);
    check_failed_load(w, tiny, bad_indexer, bad_indexer, SL_ERR_FORMAT, tiny);
    g_assert_cmpint(indexer_status(w), ==, SL_OK);
    check_generation(w);

    /* The default model, where it is installed (not required). */
    char def[4096];
    if (sl_model_path("default", def, sizeof def) && g_file_test(def, G_FILE_TEST_EXISTS)) {
        g_assert_true(load_async(w, def, NULL, &error));
        sl_model_info info;
        g_assert_true(sl_worker_model_info(w, &info, NULL));
        g_assert_cmpint(info.n_vocab, !=, 262);
        g_assert_true(load_async(w, tiny, NULL, &error));
        check_generation(w);
    }
    sl_worker_free(w);
    g_unlink(copy);
    g_rmdir(dir);
}

typedef struct {
    gint ran, freed;
    int done, cancelled;
} Counter;

static void counter_free(gpointer p)
{
    g_atomic_int_inc(&((Counter *)p)->freed);
}

static gpointer counter_job(SlWorkerJob *job, sl_engine *engine, gpointer data,
                            GCancellable *cancellable, GError **error)
{
    (void)job, (void)engine, (void)cancellable, (void)error;
    g_atomic_int_inc(&((Counter *)data)->ran);
    return g_strdup("ran");
}

static void counter_done(GObject *source, GAsyncResult *res, gpointer data)
{
    (void)source;
    Counter *c = data;
    g_autoptr(GError) error = NULL;
    g_free(sl_worker_run_finish(NULL, res, &error)); /* the worker is gone: not used */
    c->done++;
    c->cancelled += g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void test_free_with_queued(void)
{
    SlWorker *w = sl_worker_new();
    load_tiny(w);
    Gen *gen = gen_new();
    gen->endless = TRUE;
    GAsyncResult *res = NULL;
    sl_worker_run_async(w, gen_job, gen, gen_data_done, (GDestroyNotify)g_array_unref, NULL,
                        store_result, &res);
    Counter counter = {0};
    for (int i = 0; i < 5; i++)
        sl_worker_run_async(w, counter_job, &counter, counter_free, g_free, NULL, counter_done,
                            &counter);
    while (gen->emitted->len == 0)
        g_main_context_iteration(NULL, TRUE);
    gint64 t0 = g_get_monotonic_time();
    sl_worker_free(w); /* the running job has no cancellable of its own: free cancels it */
    g_assert_cmpfloat(seconds_since(t0), <, 2.0);
    wait_result(&res);
    while (counter.done < 5)
        g_main_context_iteration(NULL, TRUE);
    g_autoptr(GError) error = NULL;
    g_assert_null(sl_worker_run_finish(NULL, res, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_object_unref(res);
    g_assert_cmpint(counter.cancelled, ==, 5);
    g_assert_cmpint(counter.ran, ==, 0);
    g_assert_cmpint(counter.freed, ==, 5);
    g_assert_cmpint(gen->data_freed, ==, 1);
    gen_free(gen);

    /* Nothing loaded, jobs queued, none iterated before the free. */
    w = sl_worker_new();
    Counter c2 = {0};
    for (int i = 0; i < 3; i++)
        sl_worker_run_async(w, counter_job, &c2, counter_free, g_free, NULL, counter_done, &c2);
    sl_worker_free(w);
    while (c2.done < 3)
        g_main_context_iteration(NULL, TRUE);
    g_assert_cmpint(c2.ran, ==, 0);
    g_assert_cmpint(c2.freed, ==, 3);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (argc < 2)
        g_error("usage: %s tests/data/llama", argv[0]);
    data_dir = argv[1];
    g_test_add_func("/app/worker/no-model", test_no_model);
    g_test_add_func("/app/worker/load-info", test_load_info);
    g_test_add_func("/app/worker/generate", test_generate);
    g_test_add_func("/app/worker/blocking-other-thread", test_blocking_other_thread);
    g_test_add_func("/app/worker/order", test_order);
    g_test_add_func("/app/worker/cancel-in-prefill", test_cancel_in_prefill);
    g_test_add_func("/app/worker/cancel-while-decoding", test_cancel_while_decoding);
    g_test_add_func("/app/worker/cancel-before-start", test_cancel_before_start);
    g_test_add_func("/app/worker/switch-models", test_switch_models);
    g_test_add_func("/app/worker/free-with-queued", test_free_with_queued);
    return g_test_run();
}
