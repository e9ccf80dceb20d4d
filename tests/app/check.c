/* check.c: helpers shared by the app tests. */
#include "check.h"
#include "library-private.h"

#include <glib/gstdio.h>
#include <sqlite3.h>

char *query_value(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    g_assert_cmpint(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        g_error("%s: %s", sql, sqlite3_errmsg(db));
    int rc = sqlite3_step(st);
    char *out = rc == SQLITE_ROW ? g_strdup((const char *)sqlite3_column_text(st, 0)) : NULL;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        g_error("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static gint64 query_int(const char *db_path, const char *sql)
{
    g_autofree char *v = query_value(db_path, sql);
    return v ? g_ascii_strtoll(v, NULL, 10) : 0;
}

int check_library(const char *db_path)
{
    g_autofree char *integrity = query_value(db_path, "PRAGMA integrity_check");
    g_assert_cmpstr(integrity, ==, "ok");
    g_autofree char *fk = query_value(db_path, "SELECT count(*) FROM pragma_foreign_key_check");
    g_assert_cmpstr(fk, ==, "0");
    /* Raises an error (caught by query_value) when the index and its content differ. */
    g_free(query_value(db_path, "INSERT INTO passages_fts (passages_fts) VALUES ('integrity-check')"));
    /* Every document whole: as many pages and passages as its row says, at least one page
     * (none only for an encrypted PDF waiting for its password). */
    g_assert_cmpint(query_int(db_path,
                              "SELECT count(*) FROM documents d "
                              "WHERE (d.pages < 1 AND d.status != 'needs_password') "
                              "OR d.pages != (SELECT count(*) FROM pages WHERE document_id = d.id) "
                              "OR d.passages != (SELECT count(*) FROM passages WHERE document_id = d.id) "
                              "OR (d.status = 'ok' AND d.size > 0 AND d.passages = 0)"),
                    ==, 0);
    g_assert_cmpint(query_int(db_path,
                              "SELECT count(*) FROM passages_fts WHERE rowid NOT IN "
                              "(SELECT id FROM passages)"),
                    ==, 0);
    return (int)query_int(db_path, "SELECT count(*) FROM documents");
}

char *make_tmp_dir(void)
{
    GError *error = NULL;
    char *dir = g_dir_make_tmp("sightline-app-XXXXXX", &error);
    g_assert_no_error(error);
    return dir;
}

void remove_tree(const char *path)
{
    GStatBuf st;
    if (g_lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        g_chmod(path, 0700);
        GDir *d = g_dir_open(path, 0, NULL);
        const char *name;
        while (d && (name = g_dir_read_name(d))) {
            g_autofree char *child = g_build_filename(path, name, NULL);
            remove_tree(child);
        }
        if (d)
            g_dir_close(d);
        g_rmdir(path);
    } else
        g_unlink(path);
}

int count_rows(SlLibrary *lib, const char *sql)
{
    sl_library_lock(lib);
    sqlite3_stmt *st = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(sl_library_db(lib), sql, -1, &st, NULL), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sl_library_unlock(lib);
    return n;
}
