/* ingest.c: files into the library. Worker threads (a GThreadPool) read and parse; one
 * thread, the caller's, is the only writer and stores each document in one transaction. */
#include "ingest.h"

#include "language.h"

#include <glib/gstdio.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <string.h>
#include <sys/stat.h>

void sl_ingest_result_free(SlIngestResult *r)
{
    if (!r)
        return;
    g_free(r->path);
    g_clear_error(&r->error);
    g_free(r->skipped);
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

/* The most bytes a file may have: max_tree_bytes for a file found in a folder (0: not in a
 * folder), else by kind. */
static gint64 size_limit(const char *path, gint64 max_tree_bytes)
{
    if (max_tree_bytes > 0)
        return max_tree_bytes;
    return has_suffix_ci(path, ".pdf") ? SL_INGEST_MAX_PDF_BYTES : SL_INGEST_MAX_TEXT_BYTES;
}

/* Checks that path is a regular file we can ingest; fills st. */
static gboolean check_file(GFile *f, const char *path, gint64 max_tree_bytes, FileStat *st,
                           GCancellable *cancellable, GError **error)
{
    if (!stat_file(f, path, st, cancellable, error))
        return FALSE;
    if (st->type != G_FILE_TYPE_REGULAR) {
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "%s: not a regular file (a device, pipe or socket)", path);
        return FALSE;
    }
    gint64 limit = size_limit(path, max_tree_bytes);
    if (st->size > limit) {
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "%s: too large (%" G_GINT64_FORMAT " bytes; the limit is %" G_GINT64_FORMAT
                    ")", path, st->size, limit);
        return FALSE;
    }
    return TRUE;
}

/* What to read and how: one file, from a list or from a folder. */
typedef struct {
    const char *path;
    const char *title;      /* instead of the parser's, or NULL */
    gint64 max_tree_bytes;  /* found in a folder: its limit; else 0 */
    const char *password;
    gint *pages_read;
    GCancellable *cancellable;
} ParseRequest;

/* Binary content: a NUL in the first 8000 bytes, as git decides. */
static gboolean looks_binary(const char *data, gsize len)
{
    return memchr(data, '\0', MIN(len, 8000)) != NULL;
}

/* NULL with *skipped set when a file of a folder turns out to be binary. */
static SlParsed *parse_checked(GFile *f, const ParseRequest *rq, const FileStat *st,
                               char **skipped, GError **error)
{
    char *data = NULL;
    gsize len = 0;
    GError *local = NULL;
    if (!g_file_load_contents(f, rq->cancellable, &data, &len, NULL, &local)) {
        set_read_error(error, local, rq->path);
        return NULL;
    }
    if ((gint64)len > size_limit(rq->path, rq->max_tree_bytes)) {
        g_free(data);
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "%s: too large (grew while being read)", rq->path);
        return NULL;
    }
    g_autoptr(GBytes) bytes = g_bytes_new_take(data, len);
    const char *language = NULL;
    SlFileKind kind = sl_file_kind(rq->path, data, len, &language);
    if (rq->max_tree_bytes > 0 && kind != SL_FILE_PDF && looks_binary(data, len)) {
        *skipped = g_strdup("binary (NUL bytes in its first 8000)");
        return NULL;
    }
    SlParsed *p = NULL;
    switch (kind) {
    case SL_FILE_PDF:
        p = sl_ingest_pdf_parse(rq->path, bytes, rq->password, rq->pages_read, rq->cancellable,
                                error);
        break;
    case SL_FILE_CODE:
        p = sl_ingest_code_parse(rq->path, bytes, language);
        break;
    case SL_FILE_MARKDOWN:
    case SL_FILE_TEXT:
        p = sl_ingest_text_parse(rq->path, bytes, kind == SL_FILE_MARKDOWN);
        break;
    }
    if (!p)
        return NULL;
    if (rq->title) {
        g_free(p->title);
        p->title = g_strdup(rq->title);
    }
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
    if (!check_file(f, abs, 0, &st, cancellable, error))
        return NULL;
    ParseRequest rq = {abs, NULL, 0, NULL, NULL, cancellable};
    char *skipped = NULL;
    return parse_checked(f, &rq, &st, &skipped, error);
}

/* One file's trip from a worker to the writer. */
typedef struct {
    guint index;
    char *path; /* absolute */
    char *title;
    gint64 max_tree_bytes;
    SlParsed *parsed;
    gint64 unchanged_id; /* already in the library as it is */
    guint64 bytes;
    char *skipped;
    GError *error;
} Job;

typedef struct {
    SlLibrary *lib;
    GAsyncQueue *done;
    GCancellable *cancellable;
    const char *password;
    gint pages_read; /* atomic */
} Shared;

static void cancelled_error(GError **error, const char *path)
{
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s: not added: cancelled", path);
}

/* Whether a document stored unchanged must still be read: a password was given for a PDF
 * that waits for one. */
static gboolean read_again(SlLibrary *lib, gint64 id, const char *password)
{
    if (!password)
        return FALSE;
    g_autofree char *key = g_strdup_printf("%" G_GINT64_FORMAT, id);
    g_autoptr(SlDocument) doc = sl_library_get(lib, key, NULL);
    return doc && g_strcmp0(doc->status, "needs_password") == 0;
}

/* Reading files is background work: its threads yield to the window's (Linux: a thread's
 * own nice value). */
static void lower_priority_once(void)
{
#ifdef __linux__
    static GPrivate done;
    if (!g_private_get(&done)) {
        g_private_set(&done, GINT_TO_POINTER(1));
        if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) != 0)
            g_debug("could not lower the priority of an ingest thread");
    }
#endif
}

static void work(gpointer data, gpointer user_data)
{
    Job *job = data;
    Shared *sh = user_data;
    lower_priority_once();
    g_autoptr(GFile) f = g_file_new_for_path(job->path);
    FileStat st;
    if (g_cancellable_is_cancelled(sh->cancellable))
        cancelled_error(&job->error, job->path);
    else if (check_file(f, job->path, job->max_tree_bytes, &st, sh->cancellable, &job->error)) {
        job->bytes = (guint64)st.size;
        job->unchanged_id = sl_library_find_unchanged(sh->lib, job->path, st.size, st.mtime);
        if (job->unchanged_id && read_again(sh->lib, job->unchanged_id, sh->password))
            job->unchanged_id = 0;
        if (!job->unchanged_id) {
            ParseRequest rq = {job->path, job->title, job->max_tree_bytes, sh->password,
                               &sh->pages_read, sh->cancellable};
            job->parsed = parse_checked(f, &rq, &st, &job->skipped, &job->error);
            if (job->parsed && strcmp(job->parsed->kind, "pdf") != 0)
                g_atomic_int_inc(&sh->pages_read); /* a PDF counts its pages as it goes */
        }
    }
    g_async_queue_push(sh->done, job);
}

/* A result still to be read, with what its job needs. */
typedef struct {
    SlIngestResult *result;
    char *title;
    gint64 max_tree_bytes;
} Pending;

static void add_result(GPtrArray *results, GHashTable *seen, GArray *pending, char *path,
                       const char *title, gint64 max_tree_bytes, char *skipped, GError *error)
{
    if (!g_hash_table_add(seen, path)) { /* listed twice, or a file of a folder also listed */
        g_free(skipped);
        g_clear_error(&error);
        return;
    }
    SlIngestResult *r = g_new0(SlIngestResult, 1);
    r->path = g_strdup(path);
    r->skipped = skipped;
    r->error = error;
    g_ptr_array_add(results, r);
    if (!skipped && !error) {
        Pending pd = {r, g_strdup(title), max_tree_bytes};
        g_array_append_val(pending, pd);
    }
}

/* Files and folders into results: one per file, folders walked. */
static void expand_paths(const char *const *paths, const SlIngestOptions *options,
                         GCancellable *cancellable, GPtrArray *results, GArray *pending)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    gint64 tree_limit = options && options->max_tree_file_bytes > 0 ? options->max_tree_file_bytes
                                                                    : SL_TREE_MAX_FILE_BYTES;
    for (guint i = 0; paths[i]; i++) {
        char *abs = g_canonicalize_filename(paths[i], NULL);
        if (!g_file_test(abs, G_FILE_TEST_IS_DIR)) {
            add_result(results, seen, pending, abs, NULL, 0, NULL, NULL);
            continue;
        }
        g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func((GDestroyNotify)sl_tree_entry_free);
        GError *error = NULL;
        if (!sl_tree_walk(abs, options, entries, cancellable, &error)) {
            add_result(results, seen, pending, abs, NULL, 0, NULL, error);
            continue;
        }
        g_free(abs);
        for (guint k = 0; k < entries->len; k++) {
            SlTreeEntry *e = entries->pdata[k];
            add_result(results, seen, pending, g_steal_pointer(&e->path), e->title, tree_limit,
                       g_steal_pointer(&e->skipped), g_steal_pointer(&e->error));
        }
    }
}

GPtrArray *sl_ingest_files(SlLibrary *lib, const char *const *paths, const char *collection,
                           GCancellable *cancellable, SlIngestProgressFunc progress,
                           gpointer user_data)
{
    return sl_ingest_files_full(lib, paths, collection, NULL, cancellable, progress, user_data);
}

/* The writer's part for one finished job. */
static void finish_job(SlLibrary *lib, Job *job, SlIngestResult *r, const char *collection,
                       GCancellable *cancellable)
{
    if (job->error)
        r->error = g_steal_pointer(&job->error);
    else if (job->skipped)
        r->skipped = g_steal_pointer(&job->skipped);
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
}

static void job_free(Job *job)
{
    sl_parsed_free(job->parsed);
    g_free(job->path);
    g_free(job->title);
    g_free(job->skipped);
    g_clear_error(&job->error);
    g_free(job);
}

/* How often progress is given while a long file is being read. */
#define PROGRESS_INTERVAL_US (250 * 1000)

GPtrArray *sl_ingest_files_full(SlLibrary *lib, const char *const *paths, const char *collection,
                                const SlIngestOptions *options, GCancellable *cancellable,
                                SlIngestProgressFunc progress, gpointer user_data)
{
    g_return_val_if_fail(lib && paths, NULL);
    GPtrArray *results = g_ptr_array_new_with_free_func((GDestroyNotify)sl_ingest_result_free);
    g_autoptr(GArray) pending = g_array_new(FALSE, FALSE, sizeof(Pending));
    expand_paths(paths, options, cancellable, results, pending);
    guint n = pending->len;
    SlIngestProgress pr = {0, n, 0, 0, 0, NULL};
    for (guint i = 0; i < n; i++) {
        GStatBuf sb;
        const char *path = g_array_index(pending, Pending, i).result->path;
        if (g_stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            pr.bytes_total += (guint64)sb.st_size;
    }

    Shared sh = {lib, g_async_queue_new(), cancellable, options ? options->password : NULL, 0};
    guint workers = CLAMP(g_get_num_processors(), 1, 4);
    GThreadPool *pool = g_thread_pool_new(work, &sh, (int)workers, FALSE, NULL);
    guint limit = 2 * workers, next = 0, in_flight = 0;
    for (;;) {
        while (next < n && in_flight < limit && !g_cancellable_is_cancelled(cancellable)) {
            Pending *pd = &g_array_index(pending, Pending, next);
            Job *job = g_new0(Job, 1);
            job->index = next;
            job->path = g_strdup(pd->result->path);
            job->title = g_steal_pointer(&pd->title);
            job->max_tree_bytes = pd->max_tree_bytes;
            g_thread_pool_push(pool, job, NULL);
            next++;
            in_flight++;
        }
        if (in_flight == 0)
            break;
        Job *job = g_async_queue_timeout_pop(sh.done, PROGRESS_INTERVAL_US);
        pr.pages_done = (guint64)g_atomic_int_get(&sh.pages_read);
        if (!job) { /* a long file is still being read */
            pr.path = NULL;
            if (progress)
                progress(&pr, user_data);
            continue;
        }
        in_flight--;
        SlIngestResult *r = g_array_index(pending, Pending, job->index).result;
        finish_job(lib, job, r, collection, cancellable);
        pr.documents_done++;
        pr.bytes_done += job->bytes;
        pr.path = r->path;
        if (progress)
            progress(&pr, user_data);
        job_free(job);
    }
    for (guint i = next; i < n; i++) {
        Pending *pd = &g_array_index(pending, Pending, i);
        cancelled_error(&pd->result->error, pd->result->path);
        g_free(pd->title);
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
    SlIngestOptions options; /* options.password points at password */
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
                             &td->options, cancellable, td->target ? hop_progress : NULL, td);
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
                                const SlIngestOptions *options, GCancellable *cancellable,
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
    if (options)
        td->options = *options;
    td->password = g_strdup(td->options.password);
    td->options.password = td->password;
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
