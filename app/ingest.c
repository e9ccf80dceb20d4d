/* ingest.c: files into the library. Worker threads (a GThreadPool) read and parse; one
 * thread, the caller's, is the only writer and stores each document in one transaction. */
#include "ingest.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

void sl_ingest_result_free(SlIngestResult *r)
{
    if (!r)
        return;
    g_free(r->path);
    g_clear_error(&r->error);
    g_free(r);
}

static gboolean has_suffix_ci(const char *path, const char *suffix)
{
    gsize n = strlen(path), m = strlen(suffix);
    return n >= m && g_ascii_strcasecmp(path + n - m, suffix) == 0;
}

typedef struct {
    GFileType type;
    gint64 size, mtime;
} FileStat;

/* A failed read of path as the user should see it; takes local. */
static void set_read_error(GError **error, GError *local, const char *path)
{
    if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "%s: no such file (was it moved or deleted?)", path);
    else
        g_set_error(error, local->domain, local->code, "%s: cannot read: %s", path,
                    local->message);
    g_error_free(local);
}

static gboolean stat_file(GFile *f, const char *path, FileStat *st, GCancellable *cancellable,
                          GError **error)
{
    GError *local = NULL;
    g_autoptr(GFileInfo) info = g_file_query_info(
        f, G_FILE_ATTRIBUTE_STANDARD_TYPE "," G_FILE_ATTRIBUTE_STANDARD_SIZE
           "," G_FILE_ATTRIBUTE_TIME_MODIFIED "," G_FILE_ATTRIBUTE_TIME_MODIFIED_USEC,
        G_FILE_QUERY_INFO_NONE, cancellable, &local);
    if (!info) {
        set_read_error(error, local, path);
        return FALSE;
    }
    st->type = g_file_info_get_file_type(info);
    st->size = g_file_info_get_size(info);
    st->mtime = (gint64)g_file_info_get_attribute_uint64(info, G_FILE_ATTRIBUTE_TIME_MODIFIED) *
                    G_USEC_PER_SEC +
                g_file_info_get_attribute_uint32(info, G_FILE_ATTRIBUTE_TIME_MODIFIED_USEC);
    return TRUE;
}

/* Checks that path is a regular file we can ingest; fills st. */
static gboolean check_file(GFile *f, const char *path, FileStat *st, GCancellable *cancellable,
                           GError **error)
{
    if (!stat_file(f, path, st, cancellable, error))
        return FALSE;
    if (st->type != G_FILE_TYPE_REGULAR) {
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "%s: not a regular file (%s); only files can be added for now", path,
                    st->type == G_FILE_TYPE_DIRECTORY ? "a folder" : "a device, pipe or socket");
        return FALSE;
    }
    if (has_suffix_ci(path, ".pdf")) {
        if (st->size > SL_INGEST_MAX_PDF_BYTES) {
            g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                        "%s: too large (%" G_GINT64_FORMAT " bytes; the limit for PDF is %"
                        G_GINT64_FORMAT ")", path, st->size, SL_INGEST_MAX_PDF_BYTES);
            return FALSE;
        }
    } else if (st->size > SL_INGEST_MAX_TEXT_BYTES) {
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "%s: too large (%" G_GINT64_FORMAT " bytes; the limit for text is %d)", path,
                    st->size, SL_INGEST_MAX_TEXT_BYTES);
        return FALSE;
    }
    return TRUE;
}

static SlParsed *parse_checked(GFile *f, const char *path, const FileStat *st,
                               const char *password, GCancellable *cancellable, GError **error)
{
    char *data = NULL;
    gsize len = 0;
    GError *local = NULL;
    if (!g_file_load_contents(f, cancellable, &data, &len, NULL, &local)) {
        set_read_error(error, local, path);
        return NULL;
    }
    gboolean pdf = has_suffix_ci(path, ".pdf");
    if ((gint64)len > (pdf ? SL_INGEST_MAX_PDF_BYTES : SL_INGEST_MAX_TEXT_BYTES)) {
        g_free(data);
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "%s: too large (grew while being read)", path);
        return NULL;
    }
    g_autoptr(GBytes) bytes = g_bytes_new_take(data, len);
    gboolean markdown = has_suffix_ci(path, ".md") || has_suffix_ci(path, ".markdown");
    SlParsed *p = pdf ? sl_ingest_pdf_parse(path, bytes, password, error)
                      : sl_ingest_text_parse(path, bytes, markdown);
    if (!p)
        return NULL;
    p->sha256 = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, bytes);
    p->size = (gint64)len;
    p->mtime = st->mtime;
    return p;
}

SlParsed *sl_ingest_parse_file(const char *path, GCancellable *cancellable, GError **error)
{
    g_autofree char *abs = g_canonicalize_filename(path, NULL);
    g_autoptr(GFile) f = g_file_new_for_path(abs);
    FileStat st;
    if (!check_file(f, abs, &st, cancellable, error))
        return NULL;
    return parse_checked(f, abs, &st, NULL, cancellable, error);
}

/* One file's trip from a worker to the writer. */
typedef struct {
    guint index;
    char *path; /* absolute */
    SlParsed *parsed;
    gint64 unchanged_id; /* already in the library as it is */
    guint64 bytes;
    GError *error;
} Job;

typedef struct {
    SlLibrary *lib;
    GAsyncQueue *done;
    GCancellable *cancellable;
    const char *password;
} Shared;

static void cancelled_error(GError **error, const char *path)
{
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s: not added: cancelled", path);
}

static void work(gpointer data, gpointer user_data)
{
    Job *job = data;
    Shared *sh = user_data;
    g_autoptr(GFile) f = g_file_new_for_path(job->path);
    FileStat st;
    if (g_cancellable_is_cancelled(sh->cancellable))
        cancelled_error(&job->error, job->path);
    else if (check_file(f, job->path, &st, sh->cancellable, &job->error)) {
        job->bytes = (guint64)st.size;
        job->unchanged_id = sl_library_find_unchanged(sh->lib, job->path, st.size, st.mtime);
        if (job->unchanged_id && sh->password) {
            /* A password was given: read again a PDF that waits for one. */
            g_autofree char *id = g_strdup_printf("%" G_GINT64_FORMAT, job->unchanged_id);
            g_autoptr(SlDocument) doc = sl_library_get(sh->lib, id, NULL);
            if (doc && g_strcmp0(doc->status, "needs_password") == 0)
                job->unchanged_id = 0;
        }
        if (!job->unchanged_id)
            job->parsed = parse_checked(f, job->path, &st, sh->password, sh->cancellable,
                                        &job->error);
    }
    g_async_queue_push(sh->done, job);
}

GPtrArray *sl_ingest_files(SlLibrary *lib, const char *const *paths, const char *collection,
                           GCancellable *cancellable, SlIngestProgressFunc progress,
                           gpointer user_data)
{
    return sl_ingest_files_full(lib, paths, collection, NULL, cancellable, progress, user_data);
}

GPtrArray *sl_ingest_files_full(SlLibrary *lib, const char *const *paths, const char *collection,
                                const char *password, GCancellable *cancellable,
                                SlIngestProgressFunc progress, gpointer user_data)
{
    g_return_val_if_fail(lib && paths, NULL);
    guint n = g_strv_length((char **)paths);
    GPtrArray *results = g_ptr_array_new_full(n, (GDestroyNotify)sl_ingest_result_free);
    SlIngestProgress pr = {0, n, 0, 0, NULL};
    for (guint i = 0; i < n; i++) {
        SlIngestResult *r = g_new0(SlIngestResult, 1);
        r->path = g_canonicalize_filename(paths[i], NULL);
        GStatBuf sb;
        if (g_stat(r->path, &sb) == 0 && S_ISREG(sb.st_mode))
            pr.bytes_total += (guint64)sb.st_size;
        g_ptr_array_add(results, r);
    }
    if (n == 0)
        return results;

    Shared sh = {lib, g_async_queue_new(), cancellable, password};
    guint workers = CLAMP(g_get_num_processors(), 1, 4);
    GThreadPool *pool = g_thread_pool_new(work, &sh, (int)workers, FALSE, NULL);
    guint limit = 2 * workers, next = 0, in_flight = 0;
    for (;;) {
        while (next < n && in_flight < limit && !g_cancellable_is_cancelled(cancellable)) {
            Job *job = g_new0(Job, 1);
            job->index = next;
            job->path = g_strdup(((SlIngestResult *)results->pdata[next])->path);
            g_thread_pool_push(pool, job, NULL);
            next++;
            in_flight++;
        }
        if (in_flight == 0)
            break;
        Job *job = g_async_queue_pop(sh.done);
        in_flight--;
        SlIngestResult *r = results->pdata[job->index];
        if (job->error)
            r->error = g_steal_pointer(&job->error);
        else if (g_cancellable_is_cancelled(cancellable))
            cancelled_error(&r->error, r->path);
        else if (job->unchanged_id) {
            r->document_id = job->unchanged_id;
            r->outcome = SL_STORED_UNCHANGED;
            if (collection &&
                !sl_library_add_to_collection(lib, job->unchanged_id, collection, &r->error))
                g_prefix_error(&r->error, "%s: ", r->path);
        } else
            sl_library_store(lib, job->parsed, collection, &r->outcome, &r->document_id, &r->error);
        pr.documents_done++;
        pr.bytes_done += job->bytes;
        pr.path = r->path;
        if (progress)
            progress(&pr, user_data);
        sl_parsed_free(job->parsed);
        g_free(job->path);
        g_free(job);
    }
    for (guint i = next; i < n; i++) {
        SlIngestResult *r = results->pdata[i];
        cancelled_error(&r->error, r->path);
    }
    g_thread_pool_free(pool, FALSE, TRUE);
    g_async_queue_unref(sh.done);
    return results;
}

/* Progress handed to the caller's main context; the target outlives every hop. */
typedef struct {
    gatomicrefcount ref;
    SlIngestProgressFunc func;
    gpointer data;
    GDestroyNotify destroy;
} Target;

static Target *target_ref(Target *t)
{
    g_atomic_ref_count_inc(&t->ref);
    return t;
}

static void target_unref(Target *t)
{
    if (t && g_atomic_ref_count_dec(&t->ref)) {
        if (t->destroy)
            t->destroy(t->data);
        g_free(t);
    }
}

typedef struct {
    SlLibrary *lib;
    char **paths;
    char *collection;
    char *password;
    Target *target;
    GMainContext *context;
} TaskData;

static void task_data_free(TaskData *td)
{
    g_strfreev(td->paths);
    g_free(td->collection);
    g_free(td->password);
    target_unref(td->target);
    g_main_context_unref(td->context);
    g_free(td);
}

typedef struct {
    SlIngestProgress progress;
    char *path;
    Target *target;
} Hop;

static void hop_free(gpointer data)
{
    Hop *h = data;
    g_free(h->path);
    target_unref(h->target);
    g_free(h);
}

static gboolean hop_run(gpointer data)
{
    Hop *h = data;
    h->progress.path = h->path;
    h->target->func(&h->progress, h->target->data);
    return G_SOURCE_REMOVE;
}

static void hop_progress(const SlIngestProgress *p, gpointer data)
{
    TaskData *td = data;
    Hop *h = g_new0(Hop, 1);
    h->progress = *p;
    h->path = g_strdup(p->path);
    h->target = target_ref(td->target);
    /* An idle source, never g_main_context_invoke: that may run it here when the context is
     * free, and progress must run in the caller's thread. */
    GSource *source = g_idle_source_new();
    g_source_set_priority(source, G_PRIORITY_DEFAULT);
    g_source_set_callback(source, hop_run, h, hop_free);
    g_source_set_static_name(source, "sightline ingest progress");
    g_source_attach(source, td->context);
    g_source_unref(source);
}

static void ingest_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
    TaskData *td = task_data;
    GPtrArray *results =
        sl_ingest_files_full(td->lib, (const char *const *)td->paths, td->collection,
                             td->password, cancellable, td->target ? hop_progress : NULL, td);
    g_task_return_pointer(task, results, (GDestroyNotify)g_ptr_array_unref);
}

void sl_ingest_files_async(SlLibrary *lib, const char *const *paths, const char *collection,
                           GCancellable *cancellable, SlIngestProgressFunc progress,
                           gpointer progress_data, GDestroyNotify progress_destroy,
                           GAsyncReadyCallback callback, gpointer user_data)
{
    sl_ingest_files_async_full(lib, paths, collection, NULL, cancellable, progress, progress_data,
                               progress_destroy, callback, user_data);
}

void sl_ingest_files_async_full(SlLibrary *lib, const char *const *paths, const char *collection,
                                const char *password, GCancellable *cancellable,
                                SlIngestProgressFunc progress, gpointer progress_data,
                                GDestroyNotify progress_destroy, GAsyncReadyCallback callback,
                                gpointer user_data)
{
    g_return_if_fail(lib && paths);
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    g_task_set_source_tag(task, (gpointer)(guintptr)sl_ingest_files_async);
    g_task_set_check_cancellable(task, FALSE); /* the results say what was and wasn't added */
    TaskData *td = g_new0(TaskData, 1);
    td->lib = lib;
    td->paths = g_strdupv((char **)paths);
    td->collection = g_strdup(collection);
    td->password = g_strdup(password);
    td->context = g_main_context_ref_thread_default();
    if (progress) {
        td->target = g_new0(Target, 1);
        g_atomic_ref_count_init(&td->target->ref);
        td->target->func = progress;
        td->target->data = progress_data;
        td->target->destroy = progress_destroy;
    } else if (progress_destroy)
        progress_destroy(progress_data);
    g_task_set_task_data(task, td, (GDestroyNotify)task_data_free);
    g_task_run_in_thread(task, ingest_thread);
}

GPtrArray *sl_ingest_files_finish(SlLibrary *lib, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
