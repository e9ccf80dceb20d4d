/* bench-library.c: the app core's library (app/library.h, app/ingest.h) on real files: PDF
 * pages per second against pdftotext, database bytes per page, search latency, and files per
 * second on a source tree. Prints a table, optionally JSON. Not a test; run by hand:
 *   build/tests/bench/bench-library [--pdf FILE] [--tree DIR] [--queries-repeat N]
 *                                   [--json FILE] [--skip-pdf] [--skip-tree]
 * The default PDF, R's reference manual (2415 pages), comes with Debian's r-doc-pdf. */
#include "ingest.h"
#include "library.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_PDF "/usr/share/R/doc/manual/refman.pdf"
#define DEFAULT_TREE "/usr/include"
#define SEARCH_LIMIT 10

/* Realistic questions to R's manuals: words, phrases, common and rare terms. */
static const char *const queries[] = {
    "linear model",      "data frame",        "regular expression", "matrix inverse",
    "\"random number\"", "plot",              "factor levels",      "missing values",
    "time series",       "quantile",          "character string",   "environment",
    "generalized linear", "sort order",       "apply function",     "file connection",
    "\"null hypothesis\"", "logical vector",  "sample variance",    "date time format",
};

typedef struct {
    const char *query;
    guint hits;
    double median_ms, max_ms;
} QueryFigures;

/* Everything measured, for the table and the JSON. */
typedef struct {
    char *cpu;
    guint cores;
    char *date;

    gboolean pdf_done;
    const char *pdf;
    int pages;
    gint64 pdf_bytes;
    double ingest_s, pdftotext_s;
    gint64 db_bytes;

    gboolean search_done;
    int repeat;
    QueryFigures per_query[G_N_ELEMENTS(queries)];
    double median_ms, p95_ms, max_ms;

    gboolean tree_done;
    const char *tree;
    guint stored, skipped, errors;
    guint64 tree_bytes;
    double tree_s;
} Figures;

static double seconds_since(gint64 t0)
{
    return (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
}

/* "model name" of the first processor in /proc/cpuinfo, or "unknown". */
static char *cpu_model(void)
{
    g_autofree char *info = NULL;
    if (!g_file_get_contents("/proc/cpuinfo", &info, NULL, NULL))
        return g_strdup("unknown");
    g_auto(GStrv) lines = g_strsplit(info, "\n", -1);
    for (char **l = lines; *l; l++) {
        const char *colon = strchr(*l, ':');
        if (g_str_has_prefix(*l, "model name") && colon)
            return g_strstrip(g_strdup(colon + 1));
    }
    return g_strdup("unknown");
}

static void describe_machine(Figures *fig)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    fig->cpu = cpu_model();
    fig->cores = g_get_num_processors();
    fig->date = g_date_time_format_iso8601(now);
    g_autofree char *date = g_date_time_format(now, "%Y-%m-%d %H:%M %Z");
    printf("bench-library: %s, %u cores, %s\n", fig->cpu, fig->cores, date);
}

/* Exits with a message naming the file and the Debian package that provides it. */
static void require(const char *path, GFileTest test, const char *what, const char *package)
{
    if (g_file_test(path, test))
        return;
    fprintf(stderr, "bench-library: %s: no such %s; install the Debian package %s "
                    "(apt-get install %s) or choose another with the options (--help)\n",
            path, what, package, package);
    exit(1);
}

/* Removes a temporary folder and what is in it (a library: the database, -wal, -shm). */
static void remove_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK))
            remove_tree(path);
        else
            g_remove(path);
    }
    g_rmdir(dir);
}

static gint64 file_size(const char *path)
{
    GStatBuf sb;
    return g_stat(path, &sb) == 0 ? (gint64)sb.st_size : 0;
}

/* A fresh library in a new temporary folder; *dir is set to the folder either way. */
static SlLibrary *temp_library(char **dir)
{
    GError *err = NULL;
    *dir = g_dir_make_tmp("bench-library-XXXXXX", &err);
    if (!*dir) {
        fprintf(stderr, "bench-library: %s\n", err->message);
        g_error_free(err);
        return NULL;
    }
    g_autofree char *db = g_build_filename(*dir, "library.db", NULL);
    SlLibrary *lib = sl_library_open(db, &err);
    if (!lib) {
        fprintf(stderr, "bench-library: %s\n", err->message);
        g_error_free(err);
    }
    return lib;
}

/* Ingests the PDF into lib, timed; the page count comes from the stored document. */
static gboolean time_pdf_ingest(SlLibrary *lib, Figures *fig)
{
    const char *const paths[] = {fig->pdf, NULL};
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(GPtrArray) results = sl_ingest_files(lib, paths, NULL, NULL, NULL, NULL);
    fig->ingest_s = seconds_since(t0);
    const SlIngestResult *r = results->pdata[0];
    if (r->error) {
        fprintf(stderr, "bench-library: %s\n", r->error->message);
        return FALSE;
    }
    GError *err = NULL;
    g_autofree char *id = g_strdup_printf("%" G_GINT64_FORMAT, r->document_id);
    g_autoptr(SlDocument) doc = sl_library_get(lib, id, &err);
    if (!doc) {
        fprintf(stderr, "bench-library: %s\n", err->message);
        g_error_free(err);
        return FALSE;
    }
    if (g_strcmp0(doc->status, "ok") != 0)
        fprintf(stderr, "bench-library: warning: %s stored with status %s\n", fig->pdf,
                doc->status);
    fig->pages = doc->pages;
    return fig->pages > 0;
}

/* The same file through pdftotext, text to /dev/null: the floor for text extraction. */
static gboolean time_pdftotext(Figures *fig)
{
    const char *argv[] = {"pdftotext", fig->pdf, "-", NULL};
    GError *err = NULL;
    int status = 0;
    gint64 t0 = g_get_monotonic_time();
    gboolean ok = g_spawn_sync(NULL, (char **)argv, NULL,
                               G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                                   G_SPAWN_STDERR_TO_DEV_NULL,
                               NULL, NULL, NULL, NULL, &status, &err) &&
                  g_spawn_check_wait_status(status, &err);
    fig->pdftotext_s = seconds_since(t0);
    if (!ok) {
        fprintf(stderr, "bench-library: pdftotext %s: %s\n", fig->pdf, err->message);
        g_error_free(err);
    }
    return ok;
}

static void print_pdf_speed(const Figures *fig)
{
    double ours = fig->pages / fig->ingest_s, theirs = fig->pages / fig->pdftotext_s;
    printf("\nPDF ingest: %s, %d pages, %.1f MB\n", fig->pdf, fig->pages,
           (double)fig->pdf_bytes / 1e6);
    printf("  %-22s %9s %10s\n", "", "seconds", "pages/s");
    printf("  %-22s %9.2f %10.1f  text, per-character boxes, passages and FTS index\n",
           "sightline ingest", fig->ingest_s, ours);
    printf("  %-22s %9.2f %10.1f  text only\n", "pdftotext FILE -", fig->pdftotext_s, theirs);
    printf("  %-22s %20.3f  ours / pdftotext\n", "ratio", ours / theirs);
}

/* Closing the last connection checkpoints the WAL into library.db (SQLite removes -wal then);
 * any -wal left over is counted too. */
static void measure_db_size(const char *dir, Figures *fig)
{
    g_autofree char *db = g_build_filename(dir, "library.db", NULL);
    g_autofree char *wal = g_build_filename(dir, "library.db-wal", NULL);
    fig->db_bytes = file_size(db) + file_size(wal);
    printf("\nDatabase size (after close)\n");
    printf("  %-22s %9.1f MB %9.1f KB/page\n", "library.db + -wal", (double)fig->db_bytes / 1e6,
           (double)fig->db_bytes / 1e3 / fig->pages);
    printf("  %-22s %9.1f MB %9.1f KB/page\n", "the PDF itself", (double)fig->pdf_bytes / 1e6,
           (double)fig->pdf_bytes / 1e3 / fig->pages);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const double *sorted, gsize n, double p)
{
    gsize rank = (gsize)ceil(p * (double)n);
    return sorted[rank > 0 ? rank - 1 : 0];
}

/* One query: a warm-up run counts the hits, then repeat timed runs. */
static gboolean time_query(SlLibrary *lib, const char *query, int repeat, double *ms,
                           QueryFigures *qf)
{
    GError *err = NULL;
    qf->query = query;
    for (int i = -1; i < repeat; i++) {
        gint64 t0 = g_get_monotonic_time();
        g_autoptr(GPtrArray) hits = sl_library_search(lib, query, SEARCH_LIMIT, &err);
        double dt = (double)(g_get_monotonic_time() - t0) / 1e3;
        if (!hits) {
            fprintf(stderr, "bench-library: searching %s: %s\n", query, err->message);
            g_error_free(err);
            return FALSE;
        }
        if (i < 0)
            qf->hits = hits->len;
        else
            ms[i] = dt;
    }
    qsort(ms, (gsize)repeat, sizeof *ms, compare_doubles);
    qf->median_ms = percentile(ms, (gsize)repeat, 0.5);
    qf->max_ms = ms[repeat - 1];
    return TRUE;
}

/* Search latency on the reopened library: per query, and over all runs. */
static gboolean time_searches(const char *dir, Figures *fig)
{
    GError *err = NULL;
    g_autofree char *db = g_build_filename(dir, "library.db", NULL);
    g_autoptr(SlLibrary) lib = sl_library_open(db, &err);
    if (!lib) {
        fprintf(stderr, "bench-library: %s\n", err->message);
        g_error_free(err);
        return FALSE;
    }
    gsize n_queries = G_N_ELEMENTS(queries), n = n_queries * (gsize)fig->repeat;
    g_autofree double *all = g_new(double, n);
    printf("\nSearch (at most %d hits; one warm-up, then %d timed runs per query)\n",
           SEARCH_LIMIT, fig->repeat);
    printf("  %-22s %6s %10s %10s\n", "query", "hits", "median ms", "max ms");
    for (gsize q = 0; q < n_queries; q++) {
        QueryFigures *qf = &fig->per_query[q];
        if (!time_query(lib, queries[q], fig->repeat, all + q * (gsize)fig->repeat, qf))
            return FALSE;
        printf("  %-22s %6u %10.3f %10.3f%s\n", qf->query, qf->hits, qf->median_ms, qf->max_ms,
               qf->hits ? "" : "  (no hits)");
    }
    qsort(all, n, sizeof *all, compare_doubles);
    fig->median_ms = percentile(all, n, 0.5);
    fig->p95_ms = percentile(all, n, 0.95);
    fig->max_ms = all[n - 1];
    printf("  all %" G_GSIZE_FORMAT " runs: median %.3f ms, p95 %.3f ms, max %.3f ms\n", n, fig->median_ms,
           fig->p95_ms, fig->max_ms);
    return TRUE;
}

/* Measurements 1 to 3 share one library: ingest, size on disk, then search. */
static gboolean bench_pdf(Figures *fig)
{
    fig->pdf_bytes = file_size(fig->pdf);
    /* Read the file once so that neither side pays for the disk. */
    g_autofree char *warm = NULL;
    GError *err = NULL;
    if (!g_file_get_contents(fig->pdf, &warm, NULL, &err)) {
        fprintf(stderr, "bench-library: %s\n", err->message);
        g_error_free(err);
        return FALSE;
    }
    g_clear_pointer(&warm, g_free);

    g_autofree char *dir = NULL;
    SlLibrary *lib = temp_library(&dir);
    gboolean ok = lib && time_pdf_ingest(lib, fig);
    g_clear_pointer(&lib, sl_library_close);
    ok = ok && time_pdftotext(fig);
    if (ok) {
        print_pdf_speed(fig);
        measure_db_size(dir, fig);
        fig->pdf_done = TRUE;
        fig->search_done = time_searches(dir, fig);
        ok = fig->search_done;
    }
    if (dir)
        remove_tree(dir);
    return ok;
}

typedef struct {
    guint64 bytes;
} TreeProgress;

static void on_tree_progress(const SlIngestProgress *progress, gpointer user_data)
{
    ((TreeProgress *)user_data)->bytes = progress->bytes_done;
}

/* Seconds to read every file of the folder with find and cat: the floor for reading it. */
static double time_cat_tree(const char *tree)
{
    const char *argv[] = {"sh", "-c", "find \"$1\" -type f -exec cat {} + >/dev/null 2>&1",
                          "sh", tree, NULL};
    gint64 t0 = g_get_monotonic_time();
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                      NULL, NULL))
        return 0;
    return seconds_since(t0);
}

/* Seconds for an add of the same folder again: nothing changed, nothing read. */
static double time_rescan(SlLibrary *lib, const char *tree)
{
    const char *const paths[] = {tree, NULL};
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(GPtrArray) results = sl_ingest_files(lib, paths, NULL, NULL, NULL, NULL);
    return seconds_since(t0);
}

/* Files per second on a folder given as is, against reading its files with cat. */
static void bench_tree(Figures *fig)
{
    g_autofree char *dir = NULL;
    SlLibrary *lib = temp_library(&dir);
    if (lib) {
        const char *const paths[] = {fig->tree, NULL};
        TreeProgress tp = {0};
        gint64 t0 = g_get_monotonic_time();
        g_autoptr(GPtrArray) results =
            sl_ingest_files(lib, paths, NULL, NULL, on_tree_progress, &tp);
        fig->tree_s = seconds_since(t0);
        fig->tree_bytes = tp.bytes;
        printf("\nSource tree: %s\n", fig->tree);
        for (guint i = 0; i < results->len; i++) {
            const SlIngestResult *r = results->pdata[i];
            if (r->document_id != 0)
                fig->stored++;
            else if (r->error) {
                /* A few messages say why; the count says how many. */
                if (fig->errors++ < 3)
                    printf("  error: %s\n", r->error->message);
            } else
                fig->skipped++;
        }
        fig->tree_done = fig->stored > 0;
        if (fig->tree_done) {
            printf("  %u stored, %u skipped, %u errors in %.2f s: %.1f files/s, %.1f MB/s\n",
                   fig->stored, fig->skipped, fig->errors, fig->tree_s,
                   fig->stored / fig->tree_s, (double)fig->tree_bytes / 1e6 / fig->tree_s);
            double again = time_rescan(lib, fig->tree), cat = time_cat_tree(fig->tree);
            printf("  add again, nothing changed:  %.2f s (%.0f files/s)\n", again,
                   fig->stored / again);
            printf("  find -exec cat (read only):  %.2f s (%.0f files/s): the reading floor\n",
                   cat, fig->stored / cat);
        } else
            printf("  nothing stored (%u skipped, %u errors): no figures; can ingest read "
                   "folders yet?\n", fig->skipped, fig->errors);
        sl_library_close(lib);
    }
    if (dir)
        remove_tree(dir);
}

static void json_string(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            g_string_append_printf(out, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            g_string_append_printf(out, "\\u%04x", (unsigned)*s);
        else
            g_string_append_c(out, *s);
    }
    g_string_append_c(out, '"');
}

static void json_pdf(GString *o, const Figures *fig)
{
    g_string_append(o, ",\n  \"pdf\": {\"file\": ");
    json_string(o, fig->pdf);
    g_string_append_printf(o, ", \"pages\": %d, \"bytes\": %" G_GINT64_FORMAT
                              ", \"ingest_s\": %.3f, \"ingest_pages_per_s\": %.2f"
                              ", \"pdftotext_s\": %.3f, \"pdftotext_pages_per_s\": %.2f"
                              ", \"ratio\": %.4f, \"db_bytes\": %" G_GINT64_FORMAT
                              ", \"db_bytes_per_page\": %.1f, \"pdf_bytes_per_page\": %.1f}",
                           fig->pages, fig->pdf_bytes, fig->ingest_s, fig->pages / fig->ingest_s,
                           fig->pdftotext_s, fig->pages / fig->pdftotext_s,
                           fig->pdftotext_s / fig->ingest_s, fig->db_bytes,
                           (double)fig->db_bytes / fig->pages,
                           (double)fig->pdf_bytes / fig->pages);
}

static void json_search(GString *o, const Figures *fig)
{
    g_string_append_printf(o, ",\n  \"search\": {\"limit\": %d, \"repeat\": %d, \"median_ms\": "
                              "%.4f, \"p95_ms\": %.4f, \"max_ms\": %.4f, \"queries\": [",
                           SEARCH_LIMIT, fig->repeat, fig->median_ms, fig->p95_ms, fig->max_ms);
    for (gsize q = 0; q < G_N_ELEMENTS(queries); q++) {
        const QueryFigures *qf = &fig->per_query[q];
        g_string_append(o, q ? ",\n    {\"query\": " : "\n    {\"query\": ");
        json_string(o, qf->query);
        g_string_append_printf(o, ", \"hits\": %u, \"median_ms\": %.4f, \"max_ms\": %.4f}",
                               qf->hits, qf->median_ms, qf->max_ms);
    }
    g_string_append(o, "]}");
}

static void json_tree(GString *o, const Figures *fig)
{
    g_string_append(o, ",\n  \"tree\": {\"folder\": ");
    json_string(o, fig->tree);
    g_string_append_printf(o, ", \"stored\": %u, \"skipped\": %u, \"errors\": %u, \"bytes\": %"
                              G_GUINT64_FORMAT ", \"seconds\": %.3f, \"files_per_s\": %.2f"
                              ", \"mb_per_s\": %.3f}",
                           fig->stored, fig->skipped, fig->errors, fig->tree_bytes, fig->tree_s,
                           fig->stored / fig->tree_s, (double)fig->tree_bytes / 1e6 / fig->tree_s);
}

/* Only what was measured goes in: a skipped or failed part is absent. */
static gboolean write_json(const char *path, const Figures *fig)
{
    g_autoptr(GString) o = g_string_new("{\n  \"cpu\": ");
    json_string(o, fig->cpu);
    g_string_append_printf(o, ",\n  \"cores\": %u,\n  \"date\": ", fig->cores);
    json_string(o, fig->date);
    if (fig->pdf_done)
        json_pdf(o, fig);
    if (fig->search_done)
        json_search(o, fig);
    if (fig->tree_done)
        json_tree(o, fig);
    g_string_append(o, "\n}\n");
    GError *err = NULL;
    if (!g_file_set_contents(path, o->str, (gssize)o->len, &err)) {
        fprintf(stderr, "bench-library: %s\n", err->message);
        g_error_free(err);
        return FALSE;
    }
    return TRUE;
}

int main(int argc, char **argv)
{
    Figures fig = {.pdf = DEFAULT_PDF, .tree = DEFAULT_TREE, .repeat = 20};
    char *pdf = NULL, *tree = NULL, *json = NULL;
    gboolean skip_pdf = FALSE, skip_tree = FALSE;
    const GOptionEntry entries[] = {
        {"pdf", 0, 0, G_OPTION_ARG_FILENAME, &pdf, "PDF to ingest (default " DEFAULT_PDF ")",
         "FILE"},
        {"tree", 0, 0, G_OPTION_ARG_FILENAME, &tree, "folder to ingest (default " DEFAULT_TREE
         ")", "DIR"},
        {"queries-repeat", 0, 0, G_OPTION_ARG_INT, &fig.repeat, "timed runs per query (20)", "N"},
        {"json", 0, 0, G_OPTION_ARG_FILENAME, &json, "also write the figures as JSON", "FILE"},
        {"skip-pdf", 0, 0, G_OPTION_ARG_NONE, &skip_pdf, "skip the PDF and search figures", NULL},
        {"skip-tree", 0, 0, G_OPTION_ARG_NONE, &skip_tree, "skip the source tree figures", NULL},
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- time the Sightline library");
    g_option_context_add_main_entries(ctx, entries, NULL);
    GError *err = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || fig.repeat < 1) {
        fprintf(stderr, "bench-library: %s\n", err ? err->message : "--queries-repeat must be >= 1");
        return 1;
    }
    if (pdf)
        fig.pdf = pdf;
    if (tree)
        fig.tree = tree;
    /* Check every input before the minutes of measuring start. */
    if (!skip_pdf) {
        require(fig.pdf, G_FILE_TEST_IS_REGULAR, "file", "r-doc-pdf");
        g_autofree char *pdftotext = g_find_program_in_path("pdftotext");
        if (!pdftotext)
            require("pdftotext", G_FILE_TEST_EXISTS, "program", "poppler-utils");
    }
    if (!skip_tree)
        require(fig.tree, G_FILE_TEST_IS_DIR, "folder", "libc6-dev");

    describe_machine(&fig);
    gboolean ok = skip_pdf || bench_pdf(&fig);
    if (!skip_tree)
        bench_tree(&fig);
    if (json && !write_json(json, &fig))
        ok = FALSE;
    g_free(fig.cpu);
    g_free(fig.date);
    g_free(pdf);
    g_free(tree);
    g_free(json);
    return ok ? 0 : 1;
}
