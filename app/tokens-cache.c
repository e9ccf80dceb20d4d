/* tokens-cache.c: page tokens, computed once per document and tokenizer (table token_cache).
 *
 * A page is tokenised on its own, so a context made of pages is made of cached pieces; the
 * ids at a page boundary may differ from those of the whole text tokenised at once, which is
 * as valid an input for the model. */
#include "tokens-cache.h"

#include "engine-worker.h"
#include "library-private.h"

#include <string.h>

void sl_page_tokens_free(SlPageTokens *t)
{
    if (!t)
        return;
    g_free(t->ids);
    g_free(t->offsets);
    g_free(t->text);
    g_free(t);
}

gboolean sl_tokenize_with_offsets(const sl_engine *engine, const char *text, gsize len,
                                  SlPageTokens *out, GError **error)
{
    sl_tokens toks = {0};
    sl_error err = {0};
    if (sl_tokenize(engine, text, len, false, &toks, &err) != SL_OK) {
        sl_set_engine_error(error, &err);
        return FALSE;
    }
    out->n = toks.n;
    out->ids = g_new(gint32, toks.n + 1);
    out->offsets = g_new(guint32, toks.n + 1);
    gsize at = 0;
    for (gsize i = 0; i < toks.n; i++) {
        size_t plen = 0;
        const char *piece = sl_token_piece(engine, toks.ids[i], &plen);
        /* A byte the vocabulary has no token for was dropped: step over it. */
        while (at < len && (plen > len - at || memcmp(text + at, piece, plen) != 0))
            at++;
        if (at >= len && plen > 0) {
            sl_tokens_free(&toks);
            g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                        "the tokens of a text do not spell it (token %zu of %zu)", i, toks.n);
            return FALSE;
        }
        out->ids[i] = toks.ids[i];
        out->offsets[i] = (guint32)at;
        at += plen;
    }
    sl_tokens_free(&toks);
    return TRUE;
}

static GBytes *le_bytes(const void *values, gsize n)
{
    /* int32 and u32 are stored little-endian; every machine we build for is. */
    G_STATIC_ASSERT(G_BYTE_ORDER == G_LITTLE_ENDIAN);
    return g_bytes_new(values, n * 4);
}

/* The cached tokens of one page, or FALSE when there are none (or they do not fit the text). */
static gboolean load_cached(sqlite3_stmt *st, SlPageTokens *t)
{
    gsize ids_len = (gsize)sqlite3_column_bytes(st, 1), off_len = (gsize)sqlite3_column_bytes(st, 2);
    if (ids_len != off_len || ids_len % 4)
        return FALSE;
    t->n = ids_len / 4;
    t->ids = g_malloc(ids_len + 4);
    t->offsets = g_malloc(off_len + 4);
    if (t->n) {
        memcpy(t->ids, sqlite3_column_blob(st, 1), ids_len);
        memcpy(t->offsets, sqlite3_column_blob(st, 2), off_len);
    }
    for (gsize i = 0; i < t->n; i++) /* a damaged row is computed again, never trusted */
        if (t->offsets[i] >= t->text_len || (i && t->offsets[i] < t->offsets[i - 1]))
            return FALSE;
    return TRUE;
}

/* Every page of doc with its cached tokens where the cache has them (ids NULL where not). */
static GPtrArray *read_pages(SlLibrary *lib, gint64 doc, const char *tokenizer, GError **error)
{
    GPtrArray *pages = g_ptr_array_new_with_free_func((GDestroyNotify)sl_page_tokens_free);
    sl_library_lock(lib);
    sqlite3_stmt *st = sl_library_prepare(
        lib,
        "SELECT p.number, c.ids, c.offsets, p.text FROM pages p LEFT JOIN token_cache c "
        "ON c.document_id = p.document_id AND c.page = p.number AND c.tokenizer = ?2 "
        "WHERE p.document_id = ?1 ORDER BY p.number",
        error);
    gboolean ok = st != NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, doc);
        sqlite3_bind_text(st, 2, tokenizer, -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            SlPageTokens *t = g_new0(SlPageTokens, 1);
            t->page = sqlite3_column_int(st, 0);
            t->text_len = (gsize)sqlite3_column_bytes(st, 3);
            t->text = g_strndup((const char *)sqlite3_column_text(st, 3), t->text_len);
            if (sqlite3_column_type(st, 1) != SQLITE_NULL && !load_cached(st, t)) {
                g_clear_pointer(&t->ids, g_free);
                g_clear_pointer(&t->offsets, g_free);
            }
            g_ptr_array_add(pages, t);
        }
        ok = rc == SQLITE_DONE;
        if (!ok)
            sl_library_step(lib, st, "reading pages", error); /* sets the error */
        sqlite3_finalize(st);
    }
    sl_library_unlock(lib);
    if (!ok)
        g_clear_pointer(&pages, g_ptr_array_unref);
    return pages;
}

static gboolean store_pages(SlLibrary *lib, gint64 doc, const char *tokenizer, GPtrArray *fresh,
                            GError **error)
{
    sl_library_lock(lib);
    gboolean ok = sl_library_exec(lib, "BEGIN IMMEDIATE", "caching tokens", error);
    sqlite3_stmt *st = ok ? sl_library_prepare(lib,
                                               "INSERT OR REPLACE INTO token_cache (document_id, "
                                               "page, tokenizer, ids, offsets) VALUES (?1, ?2, ?3, "
                                               "?4, ?5)",
                                               error)
                          : NULL;
    ok = st != NULL;
    for (guint i = 0; ok && i < fresh->len; i++) {
        const SlPageTokens *t = fresh->pdata[i];
        g_autoptr(GBytes) ids = le_bytes(t->ids, t->n), offsets = le_bytes(t->offsets, t->n);
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, doc);
        sqlite3_bind_int(st, 2, t->page);
        sqlite3_bind_text(st, 3, tokenizer, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, g_bytes_get_data(ids, NULL), (int)g_bytes_get_size(ids), SQLITE_STATIC);
        sqlite3_bind_blob(st, 5, g_bytes_get_data(offsets, NULL), (int)g_bytes_get_size(offsets),
                          SQLITE_STATIC);
        ok = sl_library_step(lib, st, "caching tokens", error);
    }
    sqlite3_finalize(st);
    if (ok)
        ok = sl_library_exec(lib, "COMMIT", "caching tokens", error);
    if (!ok)
        sl_library_rollback(lib);
    sl_library_unlock(lib);
    return ok;
}

GPtrArray *sl_tokens_cache_document(SlLibrary *lib, const sl_engine *engine, gint64 doc,
                                    gboolean *cached, GCancellable *cancellable, GError **error)
{
    const char *tokenizer = sl_tokenizer_id(engine);
    GPtrArray *pages = read_pages(lib, doc, tokenizer, error);
    if (!pages)
        return NULL;
    g_autoptr(GPtrArray) fresh = g_ptr_array_new();
    for (guint i = 0; i < pages->len; i++) {
        SlPageTokens *t = pages->pdata[i];
        if (t->ids)
            continue;
        if (g_cancellable_set_error_if_cancelled(cancellable, error) ||
            !sl_tokenize_with_offsets(engine, t->text, t->text_len, t, error)) {
            g_ptr_array_unref(pages);
            return NULL;
        }
        g_ptr_array_add(fresh, t);
    }
    if (cached)
        *cached = fresh->len == 0;
    /* A cache that cannot be written (a full disk) costs time next time, not this answer. */
    if (fresh->len && !store_pages(lib, doc, tokenizer, fresh, NULL))
        g_debug("document %" G_GINT64_FORMAT ": tokens not cached", doc);
    return pages;
}
