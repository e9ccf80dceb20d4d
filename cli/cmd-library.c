/* cmd-library.c: add, list, show, rm, search and collections on the library. */
#include "cmd-library.h"

#include "ingest.h"
#include "library.h"

#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *library;
    const char *collection;
    const char *password;
    const char *max_file_size;
    gboolean include_vendored, verbose;
    int limit;
    GPtrArray *args;
} LibOptions;

static gboolean parse(int argc, char **argv, LibOptions *o, gboolean with_collection,
                      gboolean with_limit)
{
    o->args = g_ptr_array_new();
    o->limit = 20;
    gboolean options = TRUE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **target = NULL;
        const char *limit = NULL;
        if (options && !strcmp(a, "--")) {
            options = FALSE;
            continue;
        }
        if (options && !strcmp(a, "--library"))
            target = &o->library;
        else if (options && with_collection && !strcmp(a, "--collection"))
            target = &o->collection;
        else if (options && !strcmp(argv[0], "add") && !strcmp(a, "--password"))
            target = &o->password;
        else if (options && !strcmp(argv[0], "add") && !strcmp(a, "--max-file-size"))
            target = &o->max_file_size;
        else if (options && !strcmp(argv[0], "add") && !strcmp(a, "--include-vendored")) {
            o->include_vendored = TRUE;
            continue;
        } else if (options && !strcmp(argv[0], "add") && !strcmp(a, "--verbose")) {
            o->verbose = TRUE;
            continue;
        }
        else if (options && with_limit && !strcmp(a, "--limit"))
            target = &limit;
        else if (options && a[0] == '-' && a[1]) {
            fprintf(stderr, "sightline-cli %s: unknown option '%s' (see --help)\n", argv[0], a);
            g_clear_pointer(&o->args, g_ptr_array_unref);
            return FALSE;
        } else {
            g_ptr_array_add(o->args, argv[i]);
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sightline-cli %s: %s needs a value\n", argv[0], a);
            g_clear_pointer(&o->args, g_ptr_array_unref);
            return FALSE;
        }
        *target = argv[++i];
        if (limit) {
            char *end;
            long v = strtol(limit, &end, 10);
            if (*end || end == limit || v < 1 || v > 10000) {
                fprintf(stderr, "sightline-cli %s: --limit expects 1 to 10000, not '%s'\n", argv[0],
                        limit);
                g_clear_pointer(&o->args, g_ptr_array_unref);
                return FALSE;
            }
            o->limit = (int)v;
        }
    }
    return TRUE;
}

static SlLibrary *open_library(const LibOptions *o)
{
    GError *error = NULL;
    SlLibrary *lib = sl_library_open(o->library, &error);
    if (!lib) {
        fprintf(stderr, "sightline-cli: %s\n", error->message);
        g_error_free(error);
    }
    return lib;
}

static int usage_error(LibOptions *o, const char *cmd, const char *what)
{
    fprintf(stderr, "sightline-cli %s: %s (see --help)\n", cmd, what);
    g_ptr_array_unref(o->args);
    return 2;
}

typedef struct {
    GMainLoop *loop;
    GPtrArray *results;
    GCancellable *cancellable;
    gboolean tty;
    gboolean cancelled;
} AddState;

static void on_progress(const SlIngestProgress *p, gpointer data)
{
    AddState *s = data;
    if (!s->tty)
        return;
    g_autofree char *name = p->path ? g_path_get_basename(p->path) : g_strdup("");
    double frac = p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total
                                 : (double)p->documents_done / (double)p->documents_total;
    int bar = (int)(frac * 30 + 0.5);
    fprintf(stderr, "\r\033[K[%.*s%*s] %u/%u files  %" G_GUINT64_FORMAT " pages  %.40s", bar,
            "==============================", 30 - bar, "", p->documents_done,
            p->documents_total, p->pages_done, name);
    fflush(stderr);
}

static void on_done(GObject *source, GAsyncResult *res, gpointer data)
{
    AddState *s = data;
    s->results = sl_ingest_files_finish(NULL, res, NULL);
    g_main_loop_quit(s->loop);
}

static gboolean on_interrupt(gpointer data)
{
    AddState *s = data;
    s->cancelled = TRUE;
    g_cancellable_cancel(s->cancellable);
    return G_SOURCE_CONTINUE;
}

/* "2M", "512K", "100000": bytes; -1 when it is not a size. */
static gint64 parse_size(const char *s)
{
    char *end;
    gint64 v = g_ascii_strtoll(s, &end, 10);
    gint64 unit = 1;
    if (*end == 'K' || *end == 'k')
        unit = 1024, end++;
    else if (*end == 'M' || *end == 'm')
        unit = 1024 * 1024, end++;
    else if (*end == 'G' || *end == 'g')
        unit = 1024 * 1024 * 1024, end++;
    if (end == s || *end || v < 1 || v > G_MAXINT64 / unit)
        return -1;
    return v * unit;
}

/* Files left out of folders: a count by reason, and each one with --verbose. */
static void report_skipped(const GPtrArray *results, gboolean verbose)
{
    g_autoptr(GHashTable) by_reason = g_hash_table_new(g_str_hash, g_str_equal);
    guint total = 0;
    for (guint i = 0; i < results->len; i++) {
        const SlIngestResult *r = results->pdata[i];
        if (!r->skipped)
            continue;
        total++;
        if (verbose)
            printf("skipped %s: %s\n", r->path, r->skipped);
        /* "too large (123 bytes…" and "symbolic link to /x, outside…" counted by their kind */
        g_autofree char *kind = g_strndup(r->skipped, strcspn(r->skipped, "(:,"));
        g_strstrip(kind);
        gpointer key = (gpointer)g_intern_string(kind);
        g_hash_table_insert(by_reason, key,
                            GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(by_reason, key)) + 1));
    }
    if (!total)
        return;
    printf("skipped %u in folders:", total);
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, by_reason);
    const char *sep = " ";
    while (g_hash_table_iter_next(&it, &key, &value)) {
        printf("%s%u %s", sep, GPOINTER_TO_UINT(value), (const char *)key);
        sep = ", ";
    }
    printf("%s\n", verbose ? "" : " (--verbose lists them)");
}

int cmd_add(int argc, char **argv)
{
    LibOptions o = {0};
    if (!parse(argc, argv, &o, TRUE, FALSE))
        return 2;
    if (o.args->len == 0)
        return usage_error(&o, argv[0], "add needs one or more files or folders");
    SlIngestOptions options = {o.password, 0, o.include_vendored};
    if (o.max_file_size && (options.max_tree_file_bytes = parse_size(o.max_file_size)) < 0)
        return usage_error(&o, argv[0], "--max-file-size expects a size such as 2M or 500K");
    SlLibrary *lib = open_library(&o);
    if (!lib) {
        g_ptr_array_unref(o.args);
        return 1;
    }
    g_ptr_array_add(o.args, NULL);
    AddState s = {g_main_loop_new(NULL, FALSE), NULL, g_cancellable_new(), isatty(2), FALSE};
    guint sigint = g_unix_signal_add(SIGINT, on_interrupt, &s);
    sl_ingest_files_async_full(lib, (const char *const *)o.args->pdata, o.collection, &options,
                               s.cancellable, on_progress, &s, NULL, on_done, &s);
    g_main_loop_run(s.loop);
    g_source_remove(sigint);
    if (s.tty)
        fputs("\r\033[K", stderr);

    guint counts[4] = {0}, failed = 0;
    for (guint i = 0; i < s.results->len; i++) {
        SlIngestResult *r = s.results->pdata[i];
        if (r->error) {
            failed++;
            continue;
        }
        if (r->skipped)
            continue;
        counts[r->outcome]++;
        if (r->outcome == SL_STORED_ADDED || r->outcome == SL_STORED_UPDATED) {
            g_autofree char *id = g_strdup_printf("%" G_GINT64_FORMAT, r->document_id);
            g_autoptr(SlDocument) d = sl_library_get(lib, id, NULL);
            if (d && d->warning)
                fprintf(stderr, "sightline-cli: warning: %s: %s\n", r->path, d->warning);
        }
    }
    printf("added %u, updated %u, unchanged %u, duplicates %u, failed %u\n",
           counts[SL_STORED_ADDED], counts[SL_STORED_UPDATED], counts[SL_STORED_UNCHANGED],
           counts[SL_STORED_DUPLICATE], failed);
    report_skipped(s.results, o.verbose);
    for (guint i = 0; i < s.results->len; i++) {
        SlIngestResult *r = s.results->pdata[i];
        if (r->error && !(s.cancelled && g_error_matches(r->error, G_IO_ERROR, G_IO_ERROR_CANCELLED)))
            fprintf(stderr, "sightline-cli: %s\n", r->error->message);
    }
    if (s.cancelled)
        fprintf(stderr, "sightline-cli: interrupted; the files not added are left for next time\n");
    g_ptr_array_unref(s.results);
    g_object_unref(s.cancellable);
    g_main_loop_unref(s.loop);
    sl_library_close(lib);
    g_ptr_array_unref(o.args);
    return failed ? 1 : 0;
}

static char *format_size(gint64 size)
{
    return g_format_size_full((guint64)size, G_FORMAT_SIZE_DEFAULT);
}

int cmd_list(int argc, char **argv)
{
    LibOptions o = {0};
    if (!parse(argc, argv, &o, TRUE, FALSE))
        return 2;
    if (o.args->len)
        return usage_error(&o, argv[0], "list takes no arguments");
    SlLibrary *lib = open_library(&o);
    int rc = 1;
    if (lib) {
        GError *error = NULL;
        GPtrArray *docs = sl_library_list(lib, o.collection, &error);
        if (docs) {
            for (guint i = 0; i < docs->len; i++) {
                SlDocument *d = docs->pdata[i];
                g_autofree char *size = format_size(d->size);
                printf("%6" G_GINT64_FORMAT "  %-4s  %-6s  %9s  %s  (%s)\n", d->id, d->kind,
                       d->status, size, d->title ? d->title : "", d->path);
            }
            g_ptr_array_unref(docs);
            rc = 0;
        } else {
            fprintf(stderr, "sightline-cli: %s\n", error->message);
            g_error_free(error);
        }
        sl_library_close(lib);
    }
    g_ptr_array_unref(o.args);
    return rc;
}

int cmd_show(int argc, char **argv)
{
    LibOptions o = {0};
    if (!parse(argc, argv, &o, FALSE, FALSE))
        return 2;
    if (o.args->len != 1)
        return usage_error(&o, argv[0], "show needs one document (an id or a path)");
    SlLibrary *lib = open_library(&o);
    int rc = 1;
    if (lib) {
        GError *error = NULL;
        g_autoptr(SlDocument) d = sl_library_get(lib, o.args->pdata[0], &error);
        g_auto(GStrv) cols = d ? sl_library_document_collections(lib, d->id, &error) : NULL;
        if (d && cols) {
            g_autofree char *size = format_size(d->size);
            g_autoptr(GDateTime) added = g_date_time_new_from_unix_local(d->added_at / G_USEC_PER_SEC);
            g_autofree char *added_s = added ? g_date_time_format(added, "%Y-%m-%d %H:%M:%S") : NULL;
            g_autofree char *col_s = g_strjoinv(", ", cols);
            printf("id:          %" G_GINT64_FORMAT "\n", d->id);
            printf("path:        %s\n", d->path);
            printf("kind:        %s\n", d->kind);
            printf("title:       %s\n", d->title ? d->title : "");
            if (d->author)
                printf("author:      %s\n", d->author);
            if (d->language)
                printf("language:    %s\n", d->language);
            printf("status:      %s\n", d->status);
            if (d->error)
                printf("error:       %s\n", d->error);
            if (d->warning)
                printf("warning:     %s\n", d->warning);
            printf("pages:       %d\n", d->pages);
            printf("passages:    %d\n", d->passages);
            printf("size:        %s (%" G_GINT64_FORMAT " bytes)\n", size, d->size);
            printf("sha256:      %s\n", d->sha256);
            printf("added:       %s\n", added_s ? added_s : "?");
            printf("collections: %s\n", col_s);
            rc = 0;
        } else {
            fprintf(stderr, "sightline-cli: %s\n", error->message);
            g_error_free(error);
        }
        sl_library_close(lib);
    }
    g_ptr_array_unref(o.args);
    return rc;
}

int cmd_rm(int argc, char **argv)
{
    LibOptions o = {0};
    if (!parse(argc, argv, &o, FALSE, FALSE))
        return 2;
    if (o.args->len == 0)
        return usage_error(&o, argv[0], "rm needs one or more documents (ids or paths)");
    SlLibrary *lib = open_library(&o);
    int rc = lib ? 0 : 1;
    for (guint i = 0; lib && i < o.args->len; i++) {
        GError *error = NULL;
        g_autoptr(SlDocument) d = sl_library_get(lib, o.args->pdata[i], &error);
        if (d && sl_library_remove(lib, d->id, &error))
            printf("removed %" G_GINT64_FORMAT " %s\n", d->id, d->path);
        else {
            fprintf(stderr, "sightline-cli: %s\n", error->message);
            g_error_free(error);
            rc = 1;
        }
    }
    sl_library_close(lib);
    g_ptr_array_unref(o.args);
    return rc;
}

int cmd_search(int argc, char **argv)
{
    LibOptions o = {0};
    if (!parse(argc, argv, &o, FALSE, TRUE))
        return 2;
    if (o.args->len == 0)
        return usage_error(&o, argv[0], "search needs words to look for");
    g_ptr_array_add(o.args, NULL);
    g_autofree char *query = g_strjoinv(" ", (char **)o.args->pdata);
    SlLibrary *lib = open_library(&o);
    int rc = 1;
    if (lib) {
        GError *error = NULL;
        GPtrArray *hits = sl_library_search(lib, query, o.limit, &error);
        if (hits) {
            for (guint i = 0; i < hits->len; i++) {
                SlHit *h = hits->pdata[i];
                g_strdelimit(h->snippet, "\r\n\t", ' ');
                g_autofree char *where = h->first_line
                    ? g_strdup_printf("lines %d-%d", h->first_line, h->last_line)
                    : g_strdup_printf("page %d", h->page);
                printf("%" G_GINT64_FORMAT "  %s  %s  (%s)\n    %s\n", h->document_id, where,
                       h->title ? h->title : "", h->path, h->snippet ? h->snippet : "");
            }
            rc = hits->len ? 0 : 1;
            if (!hits->len)
                fprintf(stderr, "sightline-cli: nothing found for %s\n", query);
            g_ptr_array_unref(hits);
        } else {
            fprintf(stderr, "sightline-cli: %s\n", error->message);
            g_error_free(error);
        }
        sl_library_close(lib);
    }
    g_ptr_array_unref(o.args);
    return rc;
}

int cmd_collections(int argc, char **argv)
{
    LibOptions o = {0};
    if (!parse(argc, argv, &o, FALSE, FALSE))
        return 2;
    if (o.args->len)
        return usage_error(&o, argv[0], "collections takes no arguments");
    SlLibrary *lib = open_library(&o);
    int rc = 1;
    if (lib) {
        GError *error = NULL;
        GPtrArray *cols = sl_library_collections(lib, &error);
        if (cols) {
            for (guint i = 0; i < cols->len; i++) {
                SlCollection *c = cols->pdata[i];
                printf("%s  %d document%s\n", c->name, c->n_documents, c->n_documents == 1 ? "" : "s");
            }
            g_ptr_array_unref(cols);
            rc = 0;
        } else {
            fprintf(stderr, "sightline-cli: %s\n", error->message);
            g_error_free(error);
        }
        sl_library_close(lib);
    }
    g_ptr_array_unref(o.args);
    return rc;
}
