/* test-library.c: the SQLite library and text ingestion (suite app). */
#include "boxes.h"
#include "schema-sql.h"
#include "check.h"
#include "ingest.h"
#include "library-private.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LICENSES "/usr/share/common-licenses"

typedef struct {
    char *dir;
    char *db;
    SlLibrary *lib;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
    f->dir = make_tmp_dir();
    f->db = g_build_filename(f->dir, "sub", "library.db", NULL);
    GError *error = NULL;
    f->lib = sl_library_open(f->db, &error);
    g_assert_no_error(error);
    g_assert_nonnull(f->lib);
}

static void teardown(Fixture *f, gconstpointer data)
{
    if (f->lib) {
        sl_library_close(f->lib);
        check_library(f->db);
    }
    remove_tree(f->dir);
    g_free(f->dir);
    g_free(f->db);
}

static char *write_file(const char *dir, const char *name, const char *data, gssize len)
{
    char *path = g_build_filename(dir, name, NULL);
    GError *error = NULL;
    g_file_set_contents(path, data, len, &error);
    g_assert_no_error(error);
    return path;
}

/* Ingests paths (NULL-terminated) and returns the results. */
static GPtrArray *ingest(Fixture *f, const char *collection, ...) G_GNUC_NULL_TERMINATED;
static GPtrArray *ingest(Fixture *f, const char *collection, ...)
{
    g_autoptr(GPtrArray) paths = g_ptr_array_new();
    va_list ap;
    va_start(ap, collection);
    const char *p;
    while ((p = va_arg(ap, const char *)))
        g_ptr_array_add(paths, (gpointer)p);
    va_end(ap);
    g_ptr_array_add(paths, NULL);
    return sl_ingest_files(f->lib, (const char *const *)paths->pdata, collection, NULL, NULL, NULL);
}

static SlIngestResult *result(GPtrArray *results, guint i)
{
    return results->pdata[i];
}

static void test_schema_new(Fixture *f, gconstpointer data)
{
    g_autofree char *v = query_value(f->db, "PRAGMA user_version");
    g_assert_cmpint(atoi(v), ==, SL_LIBRARY_SCHEMA_VERSION);
    g_autofree char *mode = query_value(f->db, "PRAGMA journal_mode");
    g_assert_cmpstr(mode, ==, "wal");
    g_assert_cmpint(count_rows(f->lib, "PRAGMA foreign_keys"), ==, 1);
    g_assert_cmpint(count_rows(f->lib, "PRAGMA busy_timeout"), >, 0);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM sqlite_schema WHERE name IN ('documents', "
                                  "'pages', 'originals', 'passages', 'passages_fts', 'collections', "
                                  "'document_collections')"),
                    ==, 7);
    /* Opening again migrates nothing and keeps the version. */
    sl_library_close(f->lib);
    GError *error = NULL;
    f->lib = sl_library_open(f->db, &error);
    g_assert_no_error(error);
}

static void exec_raw(const char *path, const char *sql)
{
    sqlite3 *db;
    g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_exec(db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
    sqlite3_close(db);
}

static void test_schema_migrate_v0(void)
{
    g_autofree char *dir = make_tmp_dir();
    g_autofree char *path = g_build_filename(dir, "v0.db", NULL);
    exec_raw(path, "CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('kept');");
    GError *error = NULL;
    SlLibrary *lib = sl_library_open(path, &error);
    g_assert_no_error(error);
    sl_library_close(lib);
    g_autofree char *v = query_value(path, "PRAGMA user_version");
    g_assert_cmpint(atoi(v), ==, SL_LIBRARY_SCHEMA_VERSION);
    g_autofree char *kept = query_value(path, "SELECT x FROM notes");
    g_assert_cmpstr(kept, ==, "kept");
    check_library(path);

    /* A v0 database whose tables clash: the migration fails as a whole and says so. */
    g_autofree char *clash = g_build_filename(dir, "clash.db", NULL);
    exec_raw(clash, "CREATE TABLE passages (x TEXT);");
    lib = sl_library_open(clash, &error);
    g_assert_null(lib);
    g_assert_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_DATABASE);
    g_assert_nonnull(strstr(error->message, clash));
    g_assert_nonnull(strstr(error->message, "schema version 0 to 1"));
    g_clear_error(&error);
    g_autofree char *v2 = query_value(clash, "PRAGMA user_version");
    g_assert_cmpstr(v2, ==, "0");
    g_autofree char *n = query_value(clash, "SELECT count(*) FROM sqlite_schema WHERE name = 'documents'");
    g_assert_cmpstr(n, ==, "0");

    /* Not a database at all. */
    g_autofree char *junk = write_file(dir, "junk.db", "this is not an SQLite database, at all....", -1);
    lib = sl_library_open(junk, &error);
    g_assert_null(lib);
    g_assert_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_DATABASE);
    g_assert_nonnull(strstr(error->message, junk));
    g_clear_error(&error);
    remove_tree(dir);
}

/* Version 1 stored boxes as float32; opening converts them to format 2, the same boxes to
 * within the quantum, and drops a blob that was never valid. */
static void test_schema_migrate_v1_boxes(void)
{
    g_autofree char *dir = make_tmp_dir();
    g_autofree char *path = g_build_filename(dir, "v1.db", NULL);
    GError *error = NULL;
    exec_raw(path, (const char *)sl_schema_sql); /* what version 1 created */
    float old[3][4] = {{72.0f, 90.5f, 78.25f, 102.0f}, {78.25f, 90.5f, 83.1f, 102.0f},
                       {-3.0f, 700.7f, 1200.0f, 710.0f}};
    GString *sql = g_string_new("PRAGMA user_version = 1; INSERT INTO documents (id, path, kind, "
                                "sha256, pages, passages, size, mtime, added_at) VALUES (1, '/a.pdf', "
                                "'pdf', 'x', 2, 0, 1, 1, 1); INSERT INTO pages VALUES (1, 1, 'ab\n', X'");
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 4; k++) {
            guint32 bits;
            memcpy(&bits, &old[i][k], 4);
            for (int b = 0; b < 4; b++)
                g_string_append_printf(sql, "%02x", (bits >> (8 * b)) & 0xff);
        }
    g_string_append(sql, "', NULL); INSERT INTO pages VALUES (1, 2, 'x', X'0102030405', NULL);");
    exec_raw(path, sql->str);
    g_string_free(sql, TRUE);

    SlLibrary *lib = sl_library_open(path, &error);
    g_assert_no_error(error);
    sl_library_close(lib);
    g_autofree char *v = query_value(path, "PRAGMA user_version");
    g_assert_cmpint(atoi(v), ==, SL_LIBRARY_SCHEMA_VERSION);
    g_autofree char *dropped = query_value(path, "SELECT boxes IS NULL FROM pages WHERE number = 2");
    g_assert_cmpstr(dropped, ==, "1");
    sqlite3 *db;
    g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
    sqlite3_stmt *st;
    g_assert_cmpint(sqlite3_prepare_v2(db, "SELECT boxes FROM pages WHERE number = 1", -1, &st,
                                       NULL), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
    gsize n = 0;
    g_autofree float *boxes = sl_boxes_decode(sqlite3_column_blob(st, 0),
                                              (gsize)sqlite3_column_bytes(st, 0), &n, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(n, ==, 3);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 4; k++)
            g_assert_cmpfloat_with_epsilon(boxes[4 * i + k], old[i][k], 0.5 / SL_BOXES_UNITS_PER_POINT);
    sqlite3_finalize(st);
    sqlite3_close(db);
    remove_tree(dir);
}

/* The window's list never waits for a writer: busy at once while one holds the library. */
static void test_list_nowait(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) r = ingest(f, NULL, LICENSES "/GPL-2", NULL);
    GError *error = NULL;
    sl_library_lock(f->lib); /* as the writer does while it stores a document */
    g_autoptr(GPtrArray) busy = sl_library_list_nowait(f->lib, NULL, &error);
    sl_library_unlock(f->lib);
    g_assert_null(busy);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_BUSY);
    g_clear_error(&error);
    g_autoptr(GPtrArray) docs = sl_library_list_nowait(f->lib, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(docs->len, ==, 1);
}

static void test_schema_future(void)
{
    g_autofree char *dir = make_tmp_dir();
    g_autofree char *path = g_build_filename(dir, "future.db", NULL);
    exec_raw(path, "PRAGMA user_version = 99; CREATE TABLE documents (future TEXT);");
    GError *error = NULL;
    SlLibrary *lib = sl_library_open(path, &error);
    g_assert_null(lib);
    g_assert_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NEWER);
    g_assert_nonnull(strstr(error->message, "newer Sightline"));
    g_assert_nonnull(strstr(error->message, "99"));
    g_clear_error(&error);
    g_autofree char *v = query_value(path, "PRAGMA user_version");
    g_assert_cmpstr(v, ==, "99");
    remove_tree(dir);
}

static void test_default_path(void)
{
    g_autofree char *p = sl_library_default_path();
    g_autofree char *want = g_build_filename(g_get_user_data_dir(), "sightline", "library.db", NULL);
    g_assert_cmpstr(p, ==, want);
}

/* Checks a stored document against its file: bytes, passages within bounds and in order. */
static void check_document(Fixture *f, gint64 id, const char *path)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    GError *error = NULL;
    g_autoptr(GBytes) orig = sl_library_original(f->lib, id, &error);
    g_assert_no_error(error);
    g_assert_cmpmem(g_bytes_get_data(orig, NULL), g_bytes_get_size(orig), data, len);

    sl_library_lock(f->lib);
    sqlite3_stmt *st = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(sl_library_db(f->lib),
                                       "SELECT start, length, text FROM passages WHERE "
                                       "document_id = ?1 ORDER BY id",
                                       -1, &st, NULL),
                    ==, SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    gint64 prev_end = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        gint64 start = sqlite3_column_int64(st, 0), length = sqlite3_column_int64(st, 1);
        g_assert_cmpint(start, >=, prev_end);
        g_assert_cmpint(length, >, 0);
        g_assert_cmpint(length, <=, SL_PASSAGE_MAX_BYTES);
        const char *text = (const char *)sqlite3_column_text(st, 2);
        g_assert_cmpint(sqlite3_column_bytes(st, 2), ==, length);
        g_assert_true(g_utf8_validate(text, length, NULL));
        prev_end = start + length;
    }
    sqlite3_finalize(st);
    sl_library_unlock(f->lib);
}

static void test_ingest_licenses(Fixture *f, gconstpointer data)
{
    GDir *d = g_dir_open(LICENSES, 0, NULL);
    if (!d) {
        g_test_skip(LICENSES " is missing");
        return;
    }
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(d))) {
        char *p = g_build_filename(LICENSES, name, NULL);
        if (g_file_test(p, G_FILE_TEST_IS_REGULAR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
            g_ptr_array_add(paths, p);
        else
            g_free(p);
    }
    g_dir_close(d);
    g_assert_cmpuint(paths->len, >, 3);
    g_ptr_array_add(paths, NULL);
    g_autoptr(GPtrArray) results =
        sl_ingest_files(f->lib, (const char *const *)paths->pdata, NULL, NULL, NULL, NULL);
    g_assert_cmpuint(results->len, ==, paths->len - 1);
    guint added = 0;
    for (guint i = 0; i < results->len; i++) {
        SlIngestResult *r = result(results, i);
        g_assert_no_error(r->error);
        if (r->outcome == SL_STORED_ADDED) {
            added++;
            check_document(f, r->document_id, r->path);
        } else
            g_assert_cmpint(r->outcome, ==, SL_STORED_DUPLICATE);
    }
    g_assert_cmpint(check_library(f->db), ==, (int)added);

    /* The second time, nothing is read again. */
    g_autoptr(GPtrArray) again =
        sl_ingest_files(f->lib, (const char *const *)paths->pdata, NULL, NULL, NULL, NULL);
    for (guint i = 0; i < again->len; i++) {
        g_assert_no_error(result(again, i)->error);
        g_assert_cmpint(result(again, i)->outcome, ==,
                        result(results, i)->outcome == SL_STORED_ADDED ? SL_STORED_UNCHANGED
                                                                       : SL_STORED_DUPLICATE);
    }
}

static void test_search_phrase(Fixture *f, gconstpointer data)
{
    if (!g_file_test(LICENSES "/GPL-2", G_FILE_TEST_EXISTS)) {
        g_test_skip("no GPL-2 text");
        return;
    }
    g_autoptr(GPtrArray) r = ingest(f, NULL, LICENSES "/GPL-2", LICENSES "/Apache-2.0", NULL);
    GError *error = NULL;
    g_autoptr(GPtrArray) hits =
        sl_library_search(f->lib, "\"free software foundation\" warranty", 5, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(hits->len, >, 0);
    SlHit *h = hits->pdata[0];
    g_assert_cmpint(h->document_id, ==, result(r, 0)->document_id);
    g_assert_cmpint(h->page, ==, 1);
    g_assert_cmpstr(h->title, ==, "GNU GENERAL PUBLIC LICENSE");
    g_assert_nonnull(strstr(h->snippet, "["));
    g_assert_nonnull(strstr(h->snippet, "]"));
    for (guint i = 1; i < hits->len; i++)
        g_assert_cmpfloat(((SlHit *)hits->pdata[i - 1])->score, <=, ((SlHit *)hits->pdata[i])->score);

    /* The phrase in the wrong order does not match as a phrase. */
    g_autoptr(GPtrArray) none = sl_library_search(f->lib, "\"foundation software free\"", 5, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(none->len, ==, 0);
    /* FTS5 syntax in the words is taken as words, never an error. */
    static const char *const odd[] = {"AND OR NOT", "\"unbalanced", "a*b (c) ^d: NEAR(", "\"\"", "",
                                      "\"", "col:umn"};
    for (size_t i = 0; i < G_N_ELEMENTS(odd); i++) {
        GPtrArray *x = sl_library_search(f->lib, odd[i], 5, &error);
        g_assert_no_error(error);
        g_ptr_array_unref(x);
    }
}

static void test_dedupe(Fixture *f, gconstpointer data)
{
    const char *text = "A text seen twice.\n\nSecond paragraph.\n";
    g_autofree char *a = write_file(f->dir, "a.txt", text, -1);
    g_autofree char *b = write_file(f->dir, "b.txt", text, -1);
    g_autoptr(GPtrArray) r = ingest(f, "first", a, b, NULL);
    g_assert_no_error(result(r, 0)->error);
    g_assert_no_error(result(r, 1)->error);
    /* Workers finish in any order: whichever is stored first is the document. */
    SlStoreOutcome o0 = result(r, 0)->outcome, o1 = result(r, 1)->outcome;
    g_assert_true((o0 == SL_STORED_ADDED && o1 == SL_STORED_DUPLICATE) ||
                  (o0 == SL_STORED_DUPLICATE && o1 == SL_STORED_ADDED));
    g_assert_cmpint(result(r, 1)->document_id, ==, result(r, 0)->document_id);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM documents"), ==, 1);
    g_autofree char *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, text, -1);
    g_autofree char *id = g_strdup_printf("%" G_GINT64_FORMAT, result(r, 0)->document_id);
    g_autoptr(SlDocument) d = sl_library_get(f->lib, id, NULL);
    g_assert_cmpstr(d->sha256, ==, sha);
    g_assert_cmpstr(d->path, ==, o0 == SL_STORED_ADDED ? a : b);
    g_assert_cmpstr(d->title, ==, "A text seen twice.");
    g_assert_cmpint(d->passages, ==, 1);
}

static void set_mtime(const char *path, gint64 seconds)
{
    g_autoptr(GFile) file = g_file_new_for_path(path);
    GError *error = NULL;
    g_file_set_attribute_uint64(file, G_FILE_ATTRIBUTE_TIME_MODIFIED, (guint64)seconds,
                                G_FILE_QUERY_INFO_NONE, NULL, &error);
    g_assert_no_error(error);
}

static guint n_hits(Fixture *f, const char *q)
{
    GError *error = NULL;
    GPtrArray *hits = sl_library_search(f->lib, q, 10, &error);
    g_assert_no_error(error);
    guint n = hits->len;
    g_ptr_array_unref(hits);
    return n;
}

static void test_reingest(Fixture *f, gconstpointer data)
{
    g_autofree char *a = write_file(f->dir, "notes.md", "# Notes\n\nThe zebrafish swims.\n", -1);
    set_mtime(a, 1000000);
    g_autoptr(GPtrArray) r1 = ingest(f, "c", a, NULL);
    g_assert_cmpint(result(r1, 0)->outcome, ==, SL_STORED_ADDED);
    g_assert_cmpuint(n_hits(f, "zebrafish"), ==, 1);

    /* Same content, new mtime: unchanged (the hash decides). */
    set_mtime(a, 2000000);
    g_autoptr(GPtrArray) r2 = ingest(f, NULL, a, NULL);
    g_assert_cmpint(result(r2, 0)->outcome, ==, SL_STORED_UNCHANGED);

    /* New content: re-ingested under the same id, collections kept, the index follows. */
    g_free(write_file(f->dir, "notes.md", "# Notes\n\nThe axolotl waits.\n\n## More\n\nText.\n", -1));
    set_mtime(a, 3000000);
    g_autoptr(GPtrArray) r3 = ingest(f, NULL, a, NULL);
    g_assert_no_error(result(r3, 0)->error);
    g_assert_cmpint(result(r3, 0)->outcome, ==, SL_STORED_UPDATED);
    g_assert_cmpint(result(r3, 0)->document_id, ==, result(r1, 0)->document_id);
    g_assert_cmpuint(n_hits(f, "zebrafish"), ==, 0);
    g_assert_cmpuint(n_hits(f, "axolotl"), ==, 1);
    g_autoptr(SlDocument) d = sl_library_get(f->lib, a, NULL);
    g_assert_cmpint(d->passages, ==, 2);
    g_assert_cmpint(d->mtime, ==, (gint64)3000000 * G_USEC_PER_SEC);
    g_auto(GStrv) cols = sl_library_document_collections(f->lib, d->id, NULL);
    g_assert_cmpstrv(cols, ((const char *const[]){"c", NULL}));
    check_document(f, d->id, a);
}

static void test_remove(Fixture *f, gconstpointer data)
{
    g_autofree char *a = write_file(f->dir, "a.txt", "Platypus facts.\n", -1);
    g_autofree char *b = write_file(f->dir, "b.txt", "Other \xff facts.\n", -1);
    g_autoptr(GPtrArray) r = ingest(f, "set", a, b, NULL);
    gint64 id = result(r, 1)->document_id;
    GError *error = NULL;
    g_assert_true(sl_library_remove(f->lib, id, &error));
    g_assert_no_error(error);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM documents"), ==, 1);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM originals"), ==, 0);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM document_collections"), ==, 1);
    g_assert_cmpuint(n_hits(f, "other"), ==, 0);
    g_assert_cmpuint(n_hits(f, "platypus"), ==, 1);
    g_assert_false(sl_library_remove(f->lib, id, &error));
    g_assert_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_autoptr(SlDocument) none = sl_library_get(f->lib, b, &error);
    g_assert_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NOT_FOUND);
    g_clear_error(&error);
    check_library(f->db);
}

static void test_collections(Fixture *f, gconstpointer data)
{
    g_autofree char *a = write_file(f->dir, "a.txt", "One.\n", -1);
    g_autofree char *b = write_file(f->dir, "b.txt", "Two.\n", -1);
    g_autoptr(GPtrArray) r = ingest(f, "papers", a, b, NULL);
    GError *error = NULL;
    g_assert_true(sl_library_add_to_collection(f->lib, result(r, 0)->document_id, "contracts", &error));
    g_assert_no_error(error);
    g_assert_true(sl_library_add_to_collection(f->lib, result(r, 0)->document_id, "contracts", &error));
    g_assert_false(sl_library_add_to_collection(f->lib, 9999, "contracts", &error));
    g_assert_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_autoptr(GPtrArray) cols = sl_library_collections(f->lib, &error);
    g_assert_cmpuint(cols->len, ==, 2);
    g_assert_cmpstr(((SlCollection *)cols->pdata[0])->name, ==, "contracts");
    g_assert_cmpint(((SlCollection *)cols->pdata[0])->n_documents, ==, 1);
    g_assert_cmpstr(((SlCollection *)cols->pdata[1])->name, ==, "papers");
    g_assert_cmpint(((SlCollection *)cols->pdata[1])->n_documents, ==, 2);
    g_autoptr(GPtrArray) in = sl_library_list(f->lib, "contracts", &error);
    g_assert_cmpuint(in->len, ==, 1);
    g_autoptr(GPtrArray) all = sl_library_list(f->lib, NULL, &error);
    g_assert_cmpuint(all->len, ==, 2);
    g_assert_true(sl_library_remove(f->lib, result(r, 0)->document_id, &error));
    g_autoptr(GPtrArray) after = sl_library_list(f->lib, "contracts", &error);
    g_assert_cmpuint(after->len, ==, 0);
}

static void test_invalid_utf8(Fixture *f, gconstpointer data)
{
    static const char bytes[] = "Valid start.\n\nLatin-1 caf\xe9, cut \xc3, overlong \xc0\xaf, "
                                "NUL \0 here, stray \x80\xbf and \xf4\x90\x80\x80.\n\nEnd \xff";
    g_autofree char *a = write_file(f->dir, "bad.txt", bytes, sizeof bytes - 1);
    g_autoptr(GPtrArray) r = ingest(f, NULL, a, NULL);
    g_assert_no_error(result(r, 0)->error);
    gint64 id = result(r, 0)->document_id;
    GError *error = NULL;
    g_autoptr(GBytes) orig = sl_library_original(f->lib, id, &error);
    g_assert_no_error(error);
    g_assert_cmpmem(g_bytes_get_data(orig, NULL), g_bytes_get_size(orig), bytes, sizeof bytes - 1);
    g_autofree char *sid = g_strdup_printf("%" G_GINT64_FORMAT, id);
    g_autoptr(SlDocument) d = sl_library_get(f->lib, sid, &error);
    g_assert_nonnull(d->warning);
    g_assert_nonnull(strstr(d->warning, "U+FFFD"));
    g_assert_cmpstr(d->status, ==, "ok");
    check_document(f, id, a);
    g_assert_cmpuint(n_hits(f, "overlong"), ==, 1);
    g_assert_cmpuint(n_hits(f, "end"), ==, 1);

    /* Valid UTF-8 keeps no second copy. */
    g_autofree char *ok = write_file(f->dir, "ok.txt", "Caf\xc3\xa9 \xe2\x82\xac.\n", -1);
    g_autoptr(GPtrArray) r2 = ingest(f, NULL, ok, NULL);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM originals"), ==, 1);
    check_document(f, result(r2, 0)->document_id, ok);
}

static void test_passages(Fixture *f, gconstpointer data)
{
    /* A long Markdown file: headings start passages, long paragraphs and long lines (with
     * multi-byte characters) are cut at bounded sizes on character boundaries. */
    GString *s = g_string_new("Intro line before any heading.\n\n");
    for (int sec = 0; sec < 5; sec++) {
        g_string_append_printf(s, "## Section %d\n\n", sec);
        for (int para = 0; para < 6; para++) {
            for (int w = 0; w < 60; w++)
                g_string_append_printf(s, "word%d ", w);
            g_string_append(s, "\n\n");
        }
    }
    for (int i = 0; i < 3000; i++)
        g_string_append(s, "\xc3\xa9\xe2\x82\xac");
    g_string_append(s, "\n");
    g_autofree char *a = write_file(f->dir, "long.md", s->str, (gssize)s->len);
    g_autoptr(GPtrArray) r = ingest(f, NULL, a, NULL);
    g_assert_no_error(result(r, 0)->error);
    check_document(f, result(r, 0)->document_id, a);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM passages WHERE heading = 'Section 3' "
                                  "AND text LIKE '## Section 3%'"),
                    ==, 1);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(DISTINCT heading) FROM passages"), ==, 5);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM passages WHERE heading IS NULL"), ==, 1);
    g_autoptr(SlDocument) d = sl_library_get(f->lib, a, NULL);
    g_assert_cmpstr(d->title, ==, "Section 0");
    g_string_free(s, TRUE);

    /* An empty file is a document with one empty page and no passages. */
    g_autofree char *e = write_file(f->dir, "empty.txt", "", 0);
    g_autoptr(GPtrArray) r2 = ingest(f, NULL, e, NULL);
    g_assert_no_error(result(r2, 0)->error);
    g_autoptr(SlDocument) de = sl_library_get(f->lib, e, NULL);
    g_assert_cmpint(de->passages, ==, 0);
    g_assert_cmpstr(de->title, ==, "empty.txt");
}

static void expect_failure(Fixture *f, const char *path, GQuark domain, int code)
{
    int before = count_rows(f->lib, "SELECT count(*) FROM documents");
    g_autoptr(GPtrArray) r = ingest(f, "x", path, NULL);
    g_assert_error(result(r, 0)->error, domain, code);
    g_assert_nonnull(strstr(result(r, 0)->error->message, path));
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM documents"), ==, before);
}

static void test_unreadable(Fixture *f, gconstpointer data)
{
    g_autofree char *dir = g_build_filename(f->dir, "folder.txt", NULL);
    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    g_autoptr(GPtrArray) none = ingest(f, "x", dir, NULL); /* a folder, walked: empty */
    g_assert_cmpuint(none->len, ==, 0);
    g_autofree char *fifo = g_build_filename(f->dir, "fifo.txt", NULL);
    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    expect_failure(f, fifo, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID);
    g_autofree char *pdf = write_file(f->dir, "paper.PDF", "%PDF-1.4\n", -1);
    expect_failure(f, pdf, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID); /* a damaged PDF */
    g_autofree char *loop = g_build_filename(f->dir, "loop.txt", NULL);
    g_assert_cmpint(symlink(loop, loop), ==, 0);
    g_autoptr(GPtrArray) r = ingest(f, NULL, loop, NULL);
    g_assert_nonnull(result(r, 0)->error);
    g_assert_nonnull(strstr(result(r, 0)->error->message, loop));

    g_autofree char *locked = write_file(f->dir, "locked.txt", "secret\n", -1);
    g_assert_cmpint(g_chmod(locked, 0), ==, 0);
    if (geteuid() != 0) {
        expect_failure(f, locked, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
    } else {
        /* root reads it anyway; the folder and the FIFO above stand for unreadable files. */
        g_autoptr(GPtrArray) rr = ingest(f, NULL, locked, NULL);
        g_assert_no_error(result(rr, 0)->error);
    }
}

static void delete_later_file(const SlIngestProgress *p, gpointer data)
{
    char **victim = data;
    if (*victim) {
        g_unlink(*victim);
        g_clear_pointer(victim, g_free);
    }
}

static void test_vanished(Fixture *f, gconstpointer data)
{
    g_autofree char *gone = g_build_filename(f->dir, "gone.txt", NULL);
    expect_failure(f, gone, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);

    /* Files that vanish while the ingest runs: each is whole or absent, never half. */
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
    for (int i = 0; i < 40; i++) {
        g_autofree char *name = g_strdup_printf("f%02d.txt", i);
        g_autofree char *text = g_strdup_printf("File %d.\n\nSome words.\n", i);
        g_ptr_array_add(paths, write_file(f->dir, name, text, -1));
    }
    g_ptr_array_add(paths, NULL);
    char *victim = g_strdup(paths->pdata[39]);
    g_autoptr(GPtrArray) r = sl_ingest_files(f->lib, (const char *const *)paths->pdata, NULL, NULL,
                                             delete_later_file, &victim);
    g_assert_null(victim);
    int ok = 0;
    for (guint i = 0; i < r->len; i++) {
        if (result(r, i)->error) {
            g_assert_cmpuint(i, ==, 39);
            g_assert_error(result(r, i)->error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
        } else
            ok++;
    }
    g_assert_cmpint(check_library(f->db), ==, ok);
}

static void test_full(Fixture *f, gconstpointer data)
{
    g_autofree char *small = write_file(f->dir, "small.txt", "Small.\n", -1);
    g_autoptr(GPtrArray) r0 = ingest(f, NULL, small, NULL);
    g_assert_no_error(result(r0, 0)->error);
    GString *big = g_string_new(NULL);
    for (int i = 0; i < 20000; i++)
        g_string_append_printf(big, "Line %d of a large text that does not fit.\n%s", i,
                               i % 7 ? "" : "\n");
    g_autofree char *bigp = write_file(f->dir, "big.txt", big->str, (gssize)big->len);
    g_string_free(big, TRUE);

    /* Make the database full: a few pages more than it has now. */
    sl_library_lock(f->lib);
    g_assert_cmpint(sqlite3_exec(sl_library_db(f->lib), "PRAGMA wal_checkpoint(TRUNCATE)", NULL,
                                 NULL, NULL),
                    ==, SQLITE_OK);
    sl_library_unlock(f->lib);
    int pages = count_rows(f->lib, "PRAGMA page_count");
    g_autofree char *limit = g_strdup_printf("PRAGMA max_page_count = %d", pages + 4);
    sl_library_lock(f->lib);
    g_assert_cmpint(sqlite3_exec(sl_library_db(f->lib), limit, NULL, NULL, NULL), ==, SQLITE_OK);
    sl_library_unlock(f->lib);

    g_autoptr(GPtrArray) r = ingest(f, "full", bigp, NULL);
    g_assert_error(result(r, 0)->error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_FULL);
    g_assert_nonnull(strstr(result(r, 0)->error->message, bigp));
    g_assert_nonnull(strstr(result(r, 0)->error->message, "full"));
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM documents"), ==, 1);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM collections"), ==, 0);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM passages WHERE document_id != 1"), ==, 0);
    g_assert_cmpint(sqlite3_get_autocommit(sl_library_db(f->lib)), !=, 0);
    check_library(f->db);

    /* With room again, the same file goes in. */
    sl_library_lock(f->lib);
    g_assert_cmpint(sqlite3_exec(sl_library_db(f->lib), "PRAGMA max_page_count = 1073741823", NULL,
                                 NULL, NULL),
                    ==, SQLITE_OK);
    sl_library_unlock(f->lib);
    g_autoptr(GPtrArray) r2 = ingest(f, "full", bigp, NULL);
    g_assert_no_error(result(r2, 0)->error);
    check_document(f, result(r2, 0)->document_id, bigp);
}

typedef struct {
    GCancellable *cancellable;
    guint after;
} CancelAt;

static void cancel_after(const SlIngestProgress *p, gpointer data)
{
    CancelAt *c = data;
    if (p->documents_done == c->after)
        g_cancellable_cancel(c->cancellable);
}

static void test_cancel(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
    for (int i = 0; i < 60; i++) {
        g_autofree char *name = g_strdup_printf("c%02d.txt", i);
        g_autofree char *text = g_strdup_printf("Cancel test %d.\n\nParagraph.\n", i);
        g_ptr_array_add(paths, write_file(f->dir, name, text, -1));
    }
    g_ptr_array_add(paths, NULL);
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    CancelAt c = {cancellable, 5};
    g_autoptr(GPtrArray) r = sl_ingest_files(f->lib, (const char *const *)paths->pdata, NULL,
                                             cancellable, cancel_after, &c);
    g_assert_cmpuint(r->len, ==, 60);
    int ok = 0, cancelled = 0;
    for (guint i = 0; i < r->len; i++) {
        if (!result(r, i)->error)
            ok++;
        else {
            g_assert_error(result(r, i)->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
            g_assert_nonnull(strstr(result(r, i)->error->message, result(r, i)->path));
            cancelled++;
        }
    }
    g_assert_cmpint(ok, ==, 5);
    g_assert_cmpint(cancelled, ==, 55);
    g_assert_cmpint(check_library(f->db), ==, 5);

    /* Run again: the rest goes in, the first five are unchanged. */
    g_autoptr(GPtrArray) r2 = sl_ingest_files(f->lib, (const char *const *)paths->pdata, NULL,
                                              NULL, NULL, NULL);
    int unchanged = 0;
    for (guint i = 0; i < r2->len; i++) {
        g_assert_no_error(result(r2, i)->error);
        unchanged += result(r2, i)->outcome == SL_STORED_UNCHANGED;
    }
    g_assert_cmpint(unchanged, ==, 5);
    g_assert_cmpint(check_library(f->db), ==, 60);
}

typedef struct {
    GMainLoop *loop;
    GPtrArray *results;
    GThread *main_thread;
    guint progress_calls;
    guint last_done;
    gint destroyed;
} AsyncState;

static void async_progress(const SlIngestProgress *p, gpointer data)
{
    AsyncState *s = data;
    g_assert_true(g_thread_self() == s->main_thread);
    g_assert_cmpuint(p->documents_done, >, s->last_done);
    g_assert_cmpuint(p->bytes_done, <=, p->bytes_total);
    s->last_done = p->documents_done;
    s->progress_calls++;
}

static void async_destroy(gpointer data)
{
    g_atomic_int_set(&((AsyncState *)data)->destroyed, 1);
}

static void async_done(GObject *source, GAsyncResult *res, gpointer data)
{
    AsyncState *s = data;
    GError *error = NULL;
    s->results = sl_ingest_files_finish(NULL, res, &error);
    g_assert_no_error(error);
    g_main_loop_quit(s->loop);
}

static void test_async(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
    for (int i = 0; i < 12; i++) {
        g_autofree char *name = g_strdup_printf("async%02d.txt", i);
        g_autofree char *text = g_strdup_printf("Async %d.\n", i);
        g_ptr_array_add(paths, write_file(f->dir, name, text, -1));
    }
    g_ptr_array_add(paths, NULL);
    AsyncState s = {g_main_loop_new(NULL, FALSE), NULL, g_thread_self(), 0, 0, FALSE};
    sl_ingest_files_async(f->lib, (const char *const *)paths->pdata, "async", NULL, async_progress,
                          &s, async_destroy, async_done, &s);
    g_main_loop_run(s.loop);
    /* Let the last progress hops run; the task lets go of progress_data in some thread. */
    for (int i = 0; i < 5000 && !g_atomic_int_get(&s.destroyed); i++) {
        while (g_main_context_iteration(NULL, FALSE))
            ;
        g_usleep(1000);
    }
    g_assert_cmpuint(s.results->len, ==, 12);
    g_assert_cmpuint(s.progress_calls, ==, 12);
    g_assert_cmpuint(s.last_done, ==, 12);
    g_assert_true(g_atomic_int_get(&s.destroyed));
    for (guint i = 0; i < s.results->len; i++)
        g_assert_no_error(result(s.results, i)->error);
    g_ptr_array_unref(s.results);
    g_main_loop_unref(s.loop);
    g_assert_cmpint(check_library(f->db), ==, 12);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/app/schema/migrate-v0", test_schema_migrate_v0);
    g_test_add_func("/app/schema/migrate-v1-boxes", test_schema_migrate_v1_boxes);
    g_test_add_func("/app/schema/future", test_schema_future);
    g_test_add_func("/app/schema/default-path", test_default_path);
#define ADD(name, fn) g_test_add(name, Fixture, NULL, setup, fn, teardown)
    ADD("/app/schema/new", test_schema_new);
    ADD("/app/ingest/licenses", test_ingest_licenses);
    ADD("/app/library/list-nowait", test_list_nowait);
    ADD("/app/ingest/dedupe", test_dedupe);
    ADD("/app/ingest/reingest", test_reingest);
    ADD("/app/ingest/invalid-utf8", test_invalid_utf8);
    ADD("/app/ingest/passages", test_passages);
    ADD("/app/ingest/unreadable", test_unreadable);
    ADD("/app/ingest/vanished", test_vanished);
    ADD("/app/ingest/full", test_full);
    ADD("/app/ingest/cancel", test_cancel);
    ADD("/app/ingest/async", test_async);
    ADD("/app/library/remove", test_remove);
    ADD("/app/library/collections", test_collections);
    ADD("/app/search/phrase", test_search_phrase);
    return g_test_run();
}
