/* library.c: the SQLite library: opening, migrations, storing and querying documents. */
#include "library-private.h"

#include "boxes.h"
#include "schema-sql.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

struct _SlLibrary {
    sqlite3 *db;
    char *path;
    GMutex lock; /* one writer: every use of db holds it */
};

G_DEFINE_QUARK(sl-library-error-quark, sl_library_error)

static gboolean pack_old_boxes(SlLibrary *lib, GError **error);

/* Migration i takes the schema from version i to i + 1: SQL, then a conversion in C. */
static const struct {
    const char *sql;
    gboolean (*convert)(SlLibrary *lib, GError **error);
} migrations[] = {
    {(const char *)sl_schema_sql, NULL}, /* 0 → 1 */
    {NULL, pack_old_boxes},              /* 1 → 2: pages.boxes in format 2 (boxes.h) */
    {(const char *)sl_schema_3_sql, NULL}, /* 2 → 3: tokens cache, answers and records */
};
G_STATIC_ASSERT(G_N_ELEMENTS(migrations) == SL_LIBRARY_SCHEMA_VERSION);

sqlite3 *sl_library_db(SlLibrary *lib) { return lib->db; }
void sl_library_lock(SlLibrary *lib) { g_mutex_lock(&lib->lock); }
void sl_library_unlock(SlLibrary *lib) { g_mutex_unlock(&lib->lock); }
const char *sl_library_path(const SlLibrary *lib) { return lib->path; }

static void set_db_error(GError **error, SlLibrary *lib, int rc, const char *doing)
{
    int primary = rc & 0xff;
    if (primary == SQLITE_FULL)
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_FULL,
                    "%s: the library %s is full (%s); nothing of it was stored", doing, lib->path,
                    sqlite3_errstr(rc));
    else
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_DATABASE, "%s: library %s: %s",
                    doing, lib->path, lib->db ? sqlite3_errmsg(lib->db) : sqlite3_errstr(rc));
}

static gboolean exec(SlLibrary *lib, const char *sql, const char *doing, GError **error)
{
    int rc = sqlite3_exec(lib->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        set_db_error(error, lib, rc, doing);
        return FALSE;
    }
    return TRUE;
}

static sqlite3_stmt *prepare(SlLibrary *lib, const char *sql, GError **error)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(lib->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        set_db_error(error, lib, rc, "preparing a query");
        return NULL;
    }
    return st;
}

/* Rolls back a transaction still open after an error (SQLite may have ended it). */
static void rollback(SlLibrary *lib)
{
    if (!sqlite3_get_autocommit(lib->db))
        sqlite3_exec(lib->db, "ROLLBACK", NULL, NULL, NULL);
}

static gboolean step_done(SlLibrary *lib, sqlite3_stmt *st, const char *doing, GError **error)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        set_db_error(error, lib, rc, doing);
        return FALSE;
    }
    return TRUE;
}

sqlite3_stmt *sl_library_prepare(SlLibrary *lib, const char *sql, GError **error)
{
    return prepare(lib, sql, error);
}

gboolean sl_library_exec(SlLibrary *lib, const char *sql, const char *doing, GError **error)
{
    return exec(lib, sql, doing, error);
}

gboolean sl_library_step(SlLibrary *lib, sqlite3_stmt *st, const char *doing, GError **error)
{
    return step_done(lib, st, doing, error);
}

void sl_library_rollback(SlLibrary *lib)
{
    rollback(lib);
}

static void bind_bytes_or_null(sqlite3_stmt *st, int i, GBytes *b);

void sl_library_bind_bytes(sqlite3_stmt *st, int i, GBytes *b)
{
    bind_bytes_or_null(st, i, b);
}

static int user_version(SlLibrary *lib, GError **error)
{
    sqlite3_stmt *st = prepare(lib, "PRAGMA user_version", error);
    if (!st)
        return -1;
    int v = -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    else
        set_db_error(error, lib, rc, "reading the schema version");
    sqlite3_finalize(st);
    return v;
}

static gboolean migrate(SlLibrary *lib, GError **error)
{
    if (!exec(lib, "BEGIN IMMEDIATE", "starting the schema migration", error))
        return FALSE;
    int v = user_version(lib, error);
    if (v < 0) {
        rollback(lib);
        return FALSE;
    }
    if (v > SL_LIBRARY_SCHEMA_VERSION) {
        rollback(lib);
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NEWER,
                    "the library %s was written by a newer Sightline (schema version %d; this one "
                    "knows versions up to %d): it was left untouched",
                    lib->path, v, SL_LIBRARY_SCHEMA_VERSION);
        return FALSE;
    }
    for (; v < SL_LIBRARY_SCHEMA_VERSION; v++) {
        char *msg = NULL;
        GError *local = NULL;
        if ((migrations[v].sql &&
             sqlite3_exec(lib->db, migrations[v].sql, NULL, NULL, &msg) != SQLITE_OK) ||
            (migrations[v].convert && !migrations[v].convert(lib, &local))) {
            g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_DATABASE,
                        "cannot migrate the library %s from schema version %d to %d: %s; it was "
                        "left untouched",
                        lib->path, v, v + 1,
                        msg ? msg : local ? local->message : "unknown error");
            sqlite3_free(msg);
            g_clear_error(&local);
            rollback(lib);
            return FALSE;
        }
        char pragma[64];
        g_snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (!exec(lib, pragma, "setting the schema version", error)) {
            rollback(lib);
            return FALSE;
        }
    }
    if (!exec(lib, "COMMIT", "committing the schema migration", error)) {
        rollback(lib);
        return FALSE;
    }
    return TRUE;
}

char *sl_library_default_path(void)
{
    return g_build_filename(g_get_user_data_dir(), "sightline", "library.db", NULL);
}

SlLibrary *sl_library_open(const char *path, GError **error)
{
    g_autofree char *def = path ? NULL : sl_library_default_path();
    SlLibrary *lib = g_new0(SlLibrary, 1);
    g_mutex_init(&lib->lock);
    lib->path = g_strdup(path ? path : def);

    g_autofree char *dir = g_path_get_dirname(lib->path);
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        int e = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
                    "cannot create the folder %s for the library: %s", dir, g_strerror(e));
        sl_library_close(lib);
        return NULL;
    }
    int rc = sqlite3_open_v2(lib->path, &lib->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        set_db_error(error, lib, rc, "opening");
        sl_library_close(lib);
        return NULL;
    }
    sqlite3_extended_result_codes(lib->db, 1);
    sqlite3_busy_timeout(lib->db, 5000);
    /* journal_mode answers with the mode in force: check that it is WAL. */
    sqlite3_stmt *st = prepare(lib, "PRAGMA journal_mode = WAL", error);
    if (!st) {
        sl_library_close(lib);
        return NULL;
    }
    rc = sqlite3_step(st);
    gboolean wal = rc == SQLITE_ROW &&
                   g_ascii_strcasecmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!wal) {
        if (rc == SQLITE_ROW)
            g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_DATABASE,
                        "cannot open the library %s in WAL mode", lib->path);
        else
            set_db_error(error, lib, rc, "opening (is it an SQLite database?)");
        sl_library_close(lib);
        return NULL;
    }
    if (!exec(lib, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;", "configuring", error) ||
        !migrate(lib, error)) {
        sl_library_close(lib);
        return NULL;
    }
    return lib;
}

void sl_library_close(SlLibrary *lib)
{
    if (!lib)
        return;
    if (lib->db)
        sqlite3_close_v2(lib->db);
    g_mutex_clear(&lib->lock);
    g_free(lib->path);
    g_free(lib);
}

SlParsed *sl_parsed_new(const char *path)
{
    SlParsed *p = g_new0(SlParsed, 1);
    p->path = g_strdup(path);
    p->kind = "text";
    p->status = "ok";
    p->pages = g_array_new(FALSE, TRUE, sizeof(SlPage));
    p->passages = g_array_new(FALSE, TRUE, sizeof(SlPassage));
    return p;
}

void sl_parsed_free(SlParsed *p)
{
    if (!p)
        return;
    for (guint i = 0; i < p->pages->len; i++) {
        SlPage *pg = &g_array_index(p->pages, SlPage, i);
        g_free(pg->text);
        g_clear_pointer(&pg->boxes, g_bytes_unref);
        g_clear_pointer(&pg->line_offsets, g_bytes_unref);
    }
    for (guint i = 0; i < p->passages->len; i++)
        g_free(g_array_index(p->passages, SlPassage, i).heading);
    g_array_unref(p->pages);
    g_array_unref(p->passages);
    g_clear_pointer(&p->original, g_bytes_unref);
    g_free(p->path);
    g_free(p->sha256);
    g_free(p->title);
    g_free(p->author);
    g_free(p->language);
    g_free(p->error);
    g_free(p->warning);
    g_free(p);
}

const char *sl_store_outcome_name(SlStoreOutcome o)
{
    switch (o) {
    case SL_STORED_ADDED: return "added";
    case SL_STORED_UPDATED: return "updated";
    case SL_STORED_UNCHANGED: return "unchanged";
    case SL_STORED_DUPLICATE: return "duplicate";
    }
    return "?";
}

gint64 sl_library_find_unchanged(SlLibrary *lib, const char *path, gint64 size, gint64 mtime)
{
    gint64 id = 0;
    g_mutex_lock(&lib->lock);
    sqlite3_stmt *st = prepare(lib,
                               "SELECT id FROM documents WHERE path = ?1 AND size = ?2 AND mtime = ?3",
                               NULL);
    if (st) {
        sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, size);
        sqlite3_bind_int64(st, 3, mtime);
        if (sqlite3_step(st) == SQLITE_ROW)
            id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    g_mutex_unlock(&lib->lock);
    return id;
}

/* The id of a row matching one text parameter, 0 if none, -1 on error. */
static gint64 query_id(SlLibrary *lib, const char *sql, const char *arg, GError **error)
{
    sqlite3_stmt *st = prepare(lib, sql, error);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    gint64 id = 0;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE) {
        set_db_error(error, lib, rc, "looking up");
        id = -1;
    }
    sqlite3_finalize(st);
    return id;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_bytes_or_null(sqlite3_stmt *st, int i, GBytes *b)
{
    gsize n = 0;
    const void *d = b ? g_bytes_get_data(b, &n) : NULL;
    if (b)
        sqlite3_bind_blob64(st, i, d ? d : "", n, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* Format 1 boxes (four float32 LE per character) into format 2. A blob of a length that
 * cannot be format 1 is dropped: boxes come back by adding the PDF again. */
static gboolean pack_old_boxes(SlLibrary *lib, GError **error)
{
    sqlite3_stmt *rd = prepare(lib, "SELECT document_id, number, boxes FROM pages "
                                    "WHERE boxes IS NOT NULL", error);
    sqlite3_stmt *wr = prepare(lib, "UPDATE pages SET boxes = ?3 WHERE document_id = ?1 "
                                    "AND number = ?2", error);
    gboolean ok = rd && wr;
    /* Rewriting rows of the table being read is safe here: the key stays, only the blob
     * changes, and the read order follows the key. */
    while (ok && sqlite3_step(rd) == SQLITE_ROW) {
        gsize size = (gsize)sqlite3_column_bytes(rd, 2);
        const guint8 *old = sqlite3_column_blob(rd, 2);
        g_autofree float *xyxy = g_new(float, size / 4 + 1);
        for (gsize i = 0; i + 4 <= size; i += 4) {
            guint32 bits = (guint32)old[i] | (guint32)old[i + 1] << 8 |
                           (guint32)old[i + 2] << 16 | (guint32)old[i + 3] << 24;
            memcpy(&xyxy[i / 4], &bits, 4);
        }
        g_autoptr(GBytes) packed = size % 16 == 0 ? sl_boxes_encode(xyxy, size / 16) : NULL;
        sqlite3_reset(wr);
        sqlite3_bind_int64(wr, 1, sqlite3_column_int64(rd, 0));
        sqlite3_bind_int(wr, 2, sqlite3_column_int(rd, 1));
        bind_bytes_or_null(wr, 3, packed);
        ok = step_done(lib, wr, "packing the character boxes", error);
    }
    sqlite3_finalize(rd);
    sqlite3_finalize(wr);
    return ok;
}

/* Collection membership, inside the caller's transaction. */
static gboolean add_to_collection_locked(SlLibrary *lib, gint64 id, const char *name, GError **error)
{
    sqlite3_stmt *st = prepare(lib,
                               "INSERT OR IGNORE INTO collections (name, created_at) VALUES (?1, ?2)",
                               error);
    if (!st)
        return FALSE;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, g_get_real_time());
    gboolean ok = step_done(lib, st, "creating a collection", error);
    sqlite3_finalize(st);
    if (!ok || !(st = prepare(lib,
                              "INSERT OR IGNORE INTO document_collections (document_id, collection_id) "
                              "SELECT ?1, id FROM collections WHERE name = ?2",
                              error)))
        return FALSE;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    ok = step_done(lib, st, "adding to a collection", error);
    sqlite3_finalize(st);
    return ok;
}

/* Writes the document row (new, or over an old id), its pages, original and passages. */
static gboolean write_document(SlLibrary *lib, const SlParsed *p, gint64 old_id, gint64 *id,
                               GError **error)
{
    static const char *const clear[] = {
        "DELETE FROM passages WHERE document_id = ?1",
        "DELETE FROM pages WHERE document_id = ?1",
        "DELETE FROM originals WHERE document_id = ?1",
    };
    sqlite3_stmt *st;
    if (old_id) {
        for (size_t i = 0; i < G_N_ELEMENTS(clear); i++) {
            if (!(st = prepare(lib, clear[i], error)))
                return FALSE;
            sqlite3_bind_int64(st, 1, old_id);
            gboolean ok = step_done(lib, st, "removing the old version", error);
            sqlite3_finalize(st);
            if (!ok)
                return FALSE;
        }
    }
    st = prepare(lib,
                 old_id ? "UPDATE documents SET path = ?2, kind = ?3, sha256 = ?4, title = ?5, "
                          "author = ?6, language = ?7, pages = ?8, passages = ?9, size = ?10, "
                          "mtime = ?11, status = ?12, error = ?13, warning = ?14, added_at = ?15 "
                          "WHERE id = ?1"
                        : "INSERT INTO documents (path, kind, sha256, title, author, language, "
                          "pages, passages, size, mtime, status, error, warning, added_at) "
                          "VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                 error);
    if (!st)
        return FALSE;
    if (old_id)
        sqlite3_bind_int64(st, 1, old_id);
    sqlite3_bind_text(st, 2, p->path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, p->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, p->sha256, -1, SQLITE_TRANSIENT);
    bind_text_or_null(st, 5, p->title);
    bind_text_or_null(st, 6, p->author);
    bind_text_or_null(st, 7, p->language);
    sqlite3_bind_int(st, 8, (int)p->pages->len);
    sqlite3_bind_int(st, 9, (int)p->passages->len);
    sqlite3_bind_int64(st, 10, p->size);
    sqlite3_bind_int64(st, 11, p->mtime);
    sqlite3_bind_text(st, 12, p->status, -1, SQLITE_STATIC);
    bind_text_or_null(st, 13, p->error);
    bind_text_or_null(st, 14, p->warning);
    sqlite3_bind_int64(st, 15, g_get_real_time());
    gboolean ok = step_done(lib, st, "storing the document", error);
    sqlite3_finalize(st);
    if (!ok)
        return FALSE;
    *id = old_id ? old_id : sqlite3_last_insert_rowid(lib->db);

    if (!(st = prepare(lib,
                       "INSERT INTO pages (document_id, number, text, boxes, line_offsets) "
                       "VALUES (?1, ?2, ?3, ?4, ?5)",
                       error)))
        return FALSE;
    for (guint i = 0; ok && i < p->pages->len; i++) {
        const SlPage *pg = &g_array_index(p->pages, SlPage, i);
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, *id);
        sqlite3_bind_int(st, 2, pg->number);
        sqlite3_bind_text64(st, 3, pg->text, pg->len, SQLITE_STATIC, SQLITE_UTF8);
        bind_bytes_or_null(st, 4, pg->boxes);
        bind_bytes_or_null(st, 5, pg->line_offsets);
        ok = step_done(lib, st, "storing a page", error);
    }
    sqlite3_finalize(st);
    if (!ok)
        return FALSE;

    if (p->original) {
        if (!(st = prepare(lib, "INSERT INTO originals (document_id, bytes) VALUES (?1, ?2)", error)))
            return FALSE;
        sqlite3_bind_int64(st, 1, *id);
        bind_bytes_or_null(st, 2, p->original);
        ok = step_done(lib, st, "storing the original bytes", error);
        sqlite3_finalize(st);
        if (!ok)
            return FALSE;
    }

    if (!(st = prepare(lib,
                       "INSERT INTO passages (document_id, page, start, length, heading, text) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                       error)))
        return FALSE;
    for (guint i = 0; ok && i < p->passages->len; i++) {
        const SlPassage *ps = &g_array_index(p->passages, SlPassage, i);
        const SlPage *pg = NULL;
        for (guint j = 0; j < p->pages->len && !pg; j++)
            if (g_array_index(p->pages, SlPage, j).number == ps->page)
                pg = &g_array_index(p->pages, SlPage, j);
        if (!pg || ps->start + ps->length > pg->len) {
            g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                        "%s: passage %u lies outside its page", p->path, i);
            ok = FALSE;
            break;
        }
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, *id);
        sqlite3_bind_int(st, 2, ps->page);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)ps->start);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)ps->length);
        bind_text_or_null(st, 5, ps->heading);
        sqlite3_bind_text64(st, 6, pg->text + ps->start, ps->length, SQLITE_STATIC, SQLITE_UTF8);
        ok = step_done(lib, st, "storing a passage", error);
    }
    sqlite3_finalize(st);
    return ok;
}

static gboolean store_locked(SlLibrary *lib, const SlParsed *p, const char *collection,
                             SlStoreOutcome *outcome, gint64 *id, GError **error)
{
    sqlite3_stmt *st =
        prepare(lib, "SELECT id, sha256, status FROM documents WHERE path = ?1", error);
    if (!st)
        return FALSE;
    sqlite3_bind_text(st, 1, p->path, -1, SQLITE_TRANSIENT);
    gint64 old_id = 0;
    gboolean same = FALSE;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        old_id = sqlite3_column_int64(st, 0);
        same = g_strcmp0((const char *)sqlite3_column_text(st, 1), p->sha256) == 0;
        /* An encrypted PDF now read with its password is new content for the same bytes. */
        if (same && g_strcmp0((const char *)sqlite3_column_text(st, 2), "needs_password") == 0 &&
            g_strcmp0(p->status, "needs_password") != 0)
            same = FALSE;
    } else if (rc != SQLITE_DONE) {
        set_db_error(error, lib, rc, "looking up the document");
        sqlite3_finalize(st);
        return FALSE;
    }
    sqlite3_finalize(st);

    if (same) {
        /* Content as stored; only the file's times or size record changed. */
        if (!(st = prepare(lib, "UPDATE documents SET mtime = ?2, size = ?3 WHERE id = ?1", error)))
            return FALSE;
        sqlite3_bind_int64(st, 1, old_id);
        sqlite3_bind_int64(st, 2, p->mtime);
        sqlite3_bind_int64(st, 3, p->size);
        gboolean ok = step_done(lib, st, "updating the document", error);
        sqlite3_finalize(st);
        if (!ok)
            return FALSE;
        *id = old_id;
        *outcome = SL_STORED_UNCHANGED;
    } else {
        gint64 dup = old_id ? 0
                            : query_id(lib, "SELECT id FROM documents WHERE sha256 = ?1 LIMIT 1",
                                       p->sha256, error);
        if (dup < 0)
            return FALSE;
        if (dup) {
            *id = dup;
            *outcome = SL_STORED_DUPLICATE;
        } else {
            if (!write_document(lib, p, old_id, id, error))
                return FALSE;
            *outcome = old_id ? SL_STORED_UPDATED : SL_STORED_ADDED;
        }
    }
    return !collection || add_to_collection_locked(lib, *id, collection, error);
}

gboolean sl_library_store(SlLibrary *lib, const SlParsed *p, const char *collection,
                          SlStoreOutcome *outcome, gint64 *id, GError **error)
{
    g_return_val_if_fail(lib && p && p->sha256, FALSE);
    SlStoreOutcome o_unused;
    gint64 id_unused;
    if (!outcome)
        outcome = &o_unused;
    if (!id)
        id = &id_unused;
    g_mutex_lock(&lib->lock);
    GError *local = NULL;
    gboolean ok = exec(lib, "BEGIN IMMEDIATE", "starting a transaction", &local) &&
                  store_locked(lib, p, collection, outcome, id, &local) &&
                  exec(lib, "COMMIT", "committing", &local);
    if (!ok) {
        rollback(lib);
        g_propagate_prefixed_error(error, local, "%s: ", p->path);
    }
    g_mutex_unlock(&lib->lock);
    return ok;
}

void sl_document_free(SlDocument *d)
{
    if (!d)
        return;
    g_free(d->path);
    g_free(d->kind);
    g_free(d->sha256);
    g_free(d->title);
    g_free(d->author);
    g_free(d->language);
    g_free(d->status);
    g_free(d->error);
    g_free(d->warning);
    g_free(d);
}

#define DOCUMENT_COLUMNS                                                                    \
    "d.id, d.path, d.kind, d.sha256, d.title, d.author, d.pages, d.passages, d.size, "      \
    "d.mtime, d.status, d.error, d.warning, d.added_at, d.language"

static char *column_dup(sqlite3_stmt *st, int i)
{
    return g_strdup((const char *)sqlite3_column_text(st, i));
}

static SlDocument *document_from_row(sqlite3_stmt *st)
{
    SlDocument *d = g_new0(SlDocument, 1);
    d->id = sqlite3_column_int64(st, 0);
    d->path = column_dup(st, 1);
    d->kind = column_dup(st, 2);
    d->sha256 = column_dup(st, 3);
    d->title = column_dup(st, 4);
    d->author = column_dup(st, 5);
    d->pages = sqlite3_column_int(st, 6);
    d->passages = sqlite3_column_int(st, 7);
    d->size = sqlite3_column_int64(st, 8);
    d->mtime = sqlite3_column_int64(st, 9);
    d->status = column_dup(st, 10);
    d->error = column_dup(st, 11);
    d->warning = column_dup(st, 12);
    d->added_at = sqlite3_column_int64(st, 13);
    d->language = column_dup(st, 14);
    return d;
}

static gboolean all_digits(const char *s)
{
    if (!*s)
        return FALSE;
    for (; *s; s++)
        if (!g_ascii_isdigit(*s))
            return FALSE;
    return TRUE;
}

SlDocument *sl_library_get(SlLibrary *lib, const char *doc, GError **error)
{
    g_return_val_if_fail(lib && doc, NULL);
    gboolean by_id = all_digits(doc);
    g_autofree char *path = by_id ? NULL : g_canonicalize_filename(doc, NULL);
    SlDocument *d = NULL;
    g_mutex_lock(&lib->lock);
    sqlite3_stmt *st = prepare(lib,
                               by_id ? "SELECT " DOCUMENT_COLUMNS " FROM documents d WHERE d.id = ?1"
                                     : "SELECT " DOCUMENT_COLUMNS " FROM documents d WHERE d.path = ?1",
                               error);
    if (st) {
        if (by_id)
            sqlite3_bind_int64(st, 1, g_ascii_strtoll(doc, NULL, 10));
        else
            sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            d = document_from_row(st);
        else if (rc == SQLITE_DONE)
            g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NOT_FOUND,
                        "no document %s in the library %s", by_id ? doc : path, lib->path);
        else
            set_db_error(error, lib, rc, "reading a document");
        sqlite3_finalize(st);
    }
    g_mutex_unlock(&lib->lock);
    return d;
}

/* wait: FALSE gives up at once (G_IO_ERROR_BUSY) when the writer holds the library. */
static GPtrArray *list_documents(SlLibrary *lib, const char *collection, gboolean wait,
                                 GError **error)
{
    g_return_val_if_fail(lib, NULL);
    if (wait)
        g_mutex_lock(&lib->lock);
    else if (!g_mutex_trylock(&lib->lock)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY, "the library is being written");
        return NULL;
    }
    GPtrArray *docs = g_ptr_array_new_with_free_func((GDestroyNotify)sl_document_free);
    sqlite3_stmt *st = prepare(
        lib,
        collection ? "SELECT " DOCUMENT_COLUMNS " FROM documents d "
                     "JOIN document_collections dc ON dc.document_id = d.id "
                     "JOIN collections c ON c.id = dc.collection_id WHERE c.name = ?1 ORDER BY d.id"
                   : "SELECT " DOCUMENT_COLUMNS " FROM documents d ORDER BY d.id",
        error);
    int rc = SQLITE_ERROR;
    if (st) {
        if (collection)
            sqlite3_bind_text(st, 1, collection, -1, SQLITE_TRANSIENT);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            g_ptr_array_add(docs, document_from_row(st));
        if (rc != SQLITE_DONE)
            set_db_error(error, lib, rc, "listing documents");
        sqlite3_finalize(st);
    }
    g_mutex_unlock(&lib->lock);
    if (rc != SQLITE_DONE)
        g_clear_pointer(&docs, g_ptr_array_unref);
    return docs;
}

GPtrArray *sl_library_list(SlLibrary *lib, const char *collection, GError **error)
{
    return list_documents(lib, collection, TRUE, error);
}

GPtrArray *sl_library_list_nowait(SlLibrary *lib, const char *collection, GError **error)
{
    return list_documents(lib, collection, FALSE, error);
}

gboolean sl_library_remove(SlLibrary *lib, gint64 id, GError **error)
{
    g_return_val_if_fail(lib, FALSE);
    g_mutex_lock(&lib->lock);
    gboolean ok = FALSE;
    sqlite3_stmt *st = prepare(lib, "DELETE FROM documents WHERE id = ?1", error);
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        ok = step_done(lib, st, "removing a document", error);
        sqlite3_finalize(st);
        if (ok && sqlite3_changes(lib->db) == 0) {
            g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NOT_FOUND,
                        "no document %" G_GINT64_FORMAT " in the library %s", id, lib->path);
            ok = FALSE;
        }
    }
    g_mutex_unlock(&lib->lock);
    return ok;
}

GBytes *sl_library_original(SlLibrary *lib, gint64 id, GError **error)
{
    g_return_val_if_fail(lib, NULL);
    g_mutex_lock(&lib->lock);
    GBytes *out = NULL;
    /* The kept original if any, else the pages' text in order. */
    sqlite3_stmt *st = prepare(lib,
                               "SELECT bytes FROM originals WHERE document_id = ?1 "
                               "UNION ALL SELECT NULL WHERE NOT EXISTS "
                               "(SELECT 1 FROM originals WHERE document_id = ?1)",
                               error);
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB)
            out = g_bytes_new(sqlite3_column_blob(st, 0), (gsize)sqlite3_column_bytes(st, 0));
        else if (rc != SQLITE_ROW)
            set_db_error(error, lib, rc, "reading the original");
        sqlite3_finalize(st);
        if (rc == SQLITE_ROW && !out &&
            (st = prepare(lib, "SELECT text FROM pages WHERE document_id = ?1 ORDER BY number",
                          error))) {
            GByteArray *b = g_byte_array_new();
            int n = 0;
            sqlite3_bind_int64(st, 1, id);
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                g_byte_array_append(b, sqlite3_column_text(st, 0), (guint)sqlite3_column_bytes(st, 0));
                n++;
            }
            if (rc != SQLITE_DONE)
                set_db_error(error, lib, rc, "reading pages");
            else if (n == 0)
                g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NOT_FOUND,
                            "no document %" G_GINT64_FORMAT " in the library %s", id, lib->path);
            out = rc == SQLITE_DONE && n ? g_byte_array_free_to_bytes(b)
                                         : (g_byte_array_unref(b), NULL);
            sqlite3_finalize(st);
        }
    }
    g_mutex_unlock(&lib->lock);
    return out;
}

void sl_collection_free(SlCollection *c)
{
    if (c) {
        g_free(c->name);
        g_free(c);
    }
}

gboolean sl_library_add_to_collection(SlLibrary *lib, gint64 id, const char *name, GError **error)
{
    g_return_val_if_fail(lib && name, FALSE);
    g_mutex_lock(&lib->lock);
    GError *local = NULL;
    gint64 found = 0;
    gboolean ok = exec(lib, "BEGIN IMMEDIATE", "starting a transaction", &local);
    if (ok) {
        g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
        found = query_id(lib, "SELECT id FROM documents WHERE id = ?1", ids, &local);
        ok = found > 0;
        if (found == 0)
            g_set_error(&local, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NOT_FOUND,
                        "no document %" G_GINT64_FORMAT " in the library %s", id, lib->path);
    }
    ok = ok && add_to_collection_locked(lib, id, name, &local) &&
         exec(lib, "COMMIT", "committing", &local);
    if (!ok) {
        rollback(lib);
        g_propagate_error(error, local);
    }
    g_mutex_unlock(&lib->lock);
    return ok;
}

GPtrArray *sl_library_collections(SlLibrary *lib, GError **error)
{
    g_return_val_if_fail(lib, NULL);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)sl_collection_free);
    g_mutex_lock(&lib->lock);
    int rc = SQLITE_ERROR;
    sqlite3_stmt *st = prepare(lib,
                               "SELECT c.name, count(dc.document_id) FROM collections c "
                               "LEFT JOIN document_collections dc ON dc.collection_id = c.id "
                               "GROUP BY c.id ORDER BY c.name",
                               error);
    if (st) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            SlCollection *c = g_new0(SlCollection, 1);
            c->name = column_dup(st, 0);
            c->n_documents = sqlite3_column_int(st, 1);
            g_ptr_array_add(out, c);
        }
        if (rc != SQLITE_DONE)
            set_db_error(error, lib, rc, "listing collections");
        sqlite3_finalize(st);
    }
    g_mutex_unlock(&lib->lock);
    if (rc != SQLITE_DONE)
        g_clear_pointer(&out, g_ptr_array_unref);
    return out;
}

GStrv sl_library_document_collections(SlLibrary *lib, gint64 id, GError **error)
{
    g_return_val_if_fail(lib, NULL);
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    g_mutex_lock(&lib->lock);
    int rc = SQLITE_ERROR;
    sqlite3_stmt *st = prepare(lib,
                               "SELECT c.name FROM collections c JOIN document_collections dc "
                               "ON dc.collection_id = c.id WHERE dc.document_id = ?1 ORDER BY c.name",
                               error);
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            g_strv_builder_add(b, (const char *)sqlite3_column_text(st, 0));
        if (rc != SQLITE_DONE)
            set_db_error(error, lib, rc, "reading collections");
        sqlite3_finalize(st);
    }
    g_mutex_unlock(&lib->lock);
    return rc == SQLITE_DONE ? g_strv_builder_end(b) : NULL;
}

void sl_hit_free(SlHit *h)
{
    if (!h)
        return;
    g_free(h->title);
    g_free(h->path);
    g_free(h->snippet);
    g_free(h);
}

/* An FTS5 query from the user's words: each word, and each "quoted phrase", becomes a quoted
 * FTS5 string (so no word is read as an operator); all of them must match. */
static char *fts_query(const char *q)
{
    GString *out = g_string_new(NULL);
    const char *s = q;
    while (*s) {
        while (*s && g_ascii_isspace(*s))
            s++;
        if (!*s)
            break;
        const char *start, *end;
        if (*s == '"') {
            start = ++s;
            end = strchr(s, '"');
            if (!end)
                end = s + strlen(s);
            s = *end ? end + 1 : end;
        } else {
            start = s;
            while (*s && !g_ascii_isspace(*s))
                s++;
            end = s;
        }
        if (end == start)
            continue;
        if (out->len)
            g_string_append_c(out, ' ');
        g_string_append_c(out, '"');
        for (const char *c = start; c < end; c++) {
            if (*c == '"')
                g_string_append_c(out, '"');
            g_string_append_c(out, *c);
        }
        g_string_append_c(out, '"');
    }
    return g_string_free(out, FALSE);
}

int sl_line_at(const void *line_offsets, gsize size, gsize offset)
{
    const guint8 *b = line_offsets;
    gsize n = b ? size / 4 : 0, lo = 0, hi = n; /* the last line starting at or before offset */
    while (lo < hi) {
        gsize mid = lo + (hi - lo) / 2;
        const guint8 *p = b + 4 * mid;
        guint32 at = (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
        if (at <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (int)lo;
}

GPtrArray *sl_library_search(SlLibrary *lib, const char *query, int limit, GError **error)
{
    g_return_val_if_fail(lib && query, NULL);
    GPtrArray *hits = g_ptr_array_new_with_free_func((GDestroyNotify)sl_hit_free);
    g_autofree char *fq = fts_query(query);
    if (!*fq)
        return hits;
    g_mutex_lock(&lib->lock);
    int rc = SQLITE_ERROR;
    sqlite3_stmt *st = prepare(
        lib,
        "SELECT p.document_id, p.page, d.title, d.path, "
        "snippet(passages_fts, 0, '[', ']', '…', 16), bm25(passages_fts), "
        "pg.line_offsets, p.start, p.length "
        "FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid "
        "JOIN documents d ON d.id = p.document_id "
        "JOIN pages pg ON pg.document_id = p.document_id AND pg.number = p.page "
        "WHERE passages_fts MATCH ?1 ORDER BY bm25(passages_fts) LIMIT ?2",
        error);
    if (st) {
        sqlite3_bind_text(st, 1, fq, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, limit > 0 ? limit : 20);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            SlHit *h = g_new0(SlHit, 1);
            h->document_id = sqlite3_column_int64(st, 0);
            h->page = sqlite3_column_int(st, 1);
            h->title = column_dup(st, 2);
            h->path = column_dup(st, 3);
            h->snippet = column_dup(st, 4);
            h->score = sqlite3_column_double(st, 5);
            const void *lines = sqlite3_column_blob(st, 6);
            gsize n = (gsize)sqlite3_column_bytes(st, 6);
            gsize start = (gsize)sqlite3_column_int64(st, 7), len = (gsize)sqlite3_column_int64(st, 8);
            h->first_line = sl_line_at(lines, n, start);
            h->last_line = sl_line_at(lines, n, len ? start + len - 1 : start);
            g_ptr_array_add(hits, h);
        }
        if (rc != SQLITE_DONE)
            set_db_error(error, lib, rc, "searching");
        sqlite3_finalize(st);
    }
    g_mutex_unlock(&lib->lock);
    if (rc != SQLITE_DONE)
        g_clear_pointer(&hits, g_ptr_array_unref);
    return hits;
}

char *sl_library_page_text(SlLibrary *lib, gint64 id, int page, gsize *len, GBytes **boxes,
                           GError **error)
{
    g_mutex_lock(&lib->lock);
    sqlite3_stmt *st = prepare(lib, "SELECT text, boxes FROM pages WHERE document_id = ?1 AND "
                                    "number = ?2", error);
    char *text = NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int(st, 2, page);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            gsize n = (gsize)sqlite3_column_bytes(st, 0);
            text = g_strndup((const char *)sqlite3_column_text(st, 0), n);
            if (len)
                *len = n;
            if (boxes)
                *boxes = sqlite3_column_type(st, 1) == SQLITE_BLOB
                             ? g_bytes_new(sqlite3_column_blob(st, 1), (gsize)sqlite3_column_bytes(st, 1))
                             : NULL;
        } else if (rc == SQLITE_DONE)
            g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NOT_FOUND,
                        "document %" G_GINT64_FORMAT " has no page %d", id, page);
        else
            set_db_error(error, lib, rc, "reading a page");
        sqlite3_finalize(st);
    }
    g_mutex_unlock(&lib->lock);
    return text;
}
