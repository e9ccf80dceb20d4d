/* history.c: the stored questions and answers read back (see history.h). */
#include "history.h"

#include "library-private.h"

#include <string.h>

void sl_answer_row_free(SlAnswerRow *r)
{
    if (!r)
        return;
    g_free(r->kind);
    g_free(r->question);
    g_free(r->answer);
    g_free(r->model);
    g_free(r->dsa_mode);
    g_free(r->left_out);
    g_free(r);
}

void sl_answer_source_free(SlAnswerSource *s)
{
    if (!s)
        return;
    g_free(s->title);
    g_free(s->included);
    g_free(s);
}

#define ANSWER_COLUMNS                                                                        \
    "id, conversation_id, kind, question, answer, model, dsa_mode, top_k, budget, "           \
    "context_tokens, left_out, prefill_ms, first_token_ms, decode_ms, created_at, "           \
    "length(answer_tokens) / 4"

static char *column_dup(sqlite3_stmt *st, int i)
{
    return g_strdup((const char *)sqlite3_column_text(st, i));
}

static gpointer answer_from_row(sqlite3_stmt *st)
{
    SlAnswerRow *r = g_new0(SlAnswerRow, 1);
    r->id = sqlite3_column_int64(st, 0);
    r->conversation_id = sqlite3_column_int64(st, 1);
    r->kind = column_dup(st, 2);
    r->question = column_dup(st, 3);
    r->answer = column_dup(st, 4);
    r->model = column_dup(st, 5);
    r->dsa_mode = column_dup(st, 6);
    r->top_k = sqlite3_column_int(st, 7);
    r->budget = sqlite3_column_int(st, 8);
    r->context_tokens = sqlite3_column_int(st, 9);
    r->left_out = column_dup(st, 10);
    r->prefill_ms = sqlite3_column_double(st, 11);
    r->first_token_ms = sqlite3_column_double(st, 12);
    r->decode_ms = sqlite3_column_double(st, 13);
    r->created_at = sqlite3_column_int64(st, 14);
    r->answer_tokens = sqlite3_column_int(st, 15);
    return r;
}

/* Steps st to the end, adding each row made by from_row to out; FALSE on an error. */
static gboolean collect(SlLibrary *lib, sqlite3_stmt *st, GPtrArray *out,
                        gpointer (*from_row)(sqlite3_stmt *st), const char *doing, GError **error)
{
    for (;;) {
        if (!sl_library_step(lib, st, doing, error))
            return FALSE;
        if (sqlite3_data_count(st) == 0)
            return TRUE; /* SQLITE_DONE */
        g_ptr_array_add(out, from_row(st));
    }
}

GPtrArray *sl_library_answers(SlLibrary *lib, gint64 conversation, int limit, GError **error)
{
    g_return_val_if_fail(lib, NULL);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)sl_answer_row_free);
    sl_library_lock(lib);
    sqlite3_stmt *st = sl_library_prepare(
        lib,
        "SELECT " ANSWER_COLUMNS " FROM answers WHERE ?1 = 0 OR conversation_id = ?1 "
        "ORDER BY created_at DESC, id DESC LIMIT ?2",
        error);
    gboolean ok = st != NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, conversation);
        sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
        ok = collect(lib, st, out, answer_from_row,
                     "reading the answers", error);
        sqlite3_finalize(st);
    }
    sl_library_unlock(lib);
    if (!ok)
        g_clear_pointer(&out, g_ptr_array_unref);
    return out;
}

SlAnswerRow *sl_library_answer(SlLibrary *lib, gint64 id, GError **error)
{
    g_return_val_if_fail(lib, NULL);
    SlAnswerRow *r = NULL;
    sl_library_lock(lib);
    sqlite3_stmt *st = sl_library_prepare(lib, "SELECT " ANSWER_COLUMNS " FROM answers WHERE id = ?1",
                                          error);
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        if (sl_library_step(lib, st, "reading an answer", error)) {
            if (sqlite3_data_count(st))
                r = answer_from_row(st);
            else
                g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NOT_FOUND,
                            "no answer %" G_GINT64_FORMAT " in the library %s", id,
                            sl_library_path(lib));
        }
        sqlite3_finalize(st);
    }
    sl_library_unlock(lib);
    return r;
}

static gpointer source_from_row(sqlite3_stmt *st)
{
    SlAnswerSource *s = g_new0(SlAnswerSource, 1);
    s->number = sqlite3_column_int(st, 0);
    s->document_id = sqlite3_column_int64(st, 1);
    s->title = column_dup(st, 2);
    s->included = column_dup(st, 3);
    return s;
}

GPtrArray *sl_library_answer_sources(SlLibrary *lib, gint64 answer_id, GError **error)
{
    g_return_val_if_fail(lib, NULL);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)sl_answer_source_free);
    sl_library_lock(lib);
    sqlite3_stmt *st = sl_library_prepare(lib,
                                          "SELECT number, document_id, title, included FROM "
                                          "answer_sources WHERE answer_id = ?1 ORDER BY number",
                                          error);
    gboolean ok = st != NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, answer_id);
        ok = collect(lib, st, out, source_from_row,
                     "reading the answer's sources", error);
        sqlite3_finalize(st);
    }
    sl_library_unlock(lib);
    if (!ok)
        g_clear_pointer(&out, g_ptr_array_unref);
    return out;
}

gboolean sl_library_answer_record_sizes(SlLibrary *lib, gint64 answer_id, gsize *span_map,
                                        gsize *question, gsize *answer, GError **error)
{
    g_return_val_if_fail(lib, FALSE);
    gboolean ok = FALSE;
    sl_library_lock(lib);
    sqlite3_stmt *st = sl_library_prepare(lib,
                                          "SELECT length(span_map), "
                                          "ifnull(length(question_selections), 0), "
                                          "ifnull(length(answer_selections), 0) "
                                          "FROM answer_records WHERE answer_id = ?1",
                                          error);
    if (st) {
        sqlite3_bind_int64(st, 1, answer_id);
        if (sl_library_step(lib, st, "reading an answer's records", error)) {
            if (sqlite3_data_count(st)) {
                if (span_map)
                    *span_map = (gsize)sqlite3_column_int64(st, 0);
                if (question)
                    *question = (gsize)sqlite3_column_int64(st, 1);
                if (answer)
                    *answer = (gsize)sqlite3_column_int64(st, 2);
                ok = TRUE;
            } else
                g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NOT_FOUND,
                            "no records of answer %" G_GINT64_FORMAT " in the library %s",
                            answer_id, sl_library_path(lib));
        }
        sqlite3_finalize(st);
    }
    sl_library_unlock(lib);
    return ok;
}

/* The start of the UTF-8 character holding offset i of s (len bytes). */
static gsize char_start(const char *s, gsize len, gsize i)
{
    if (i >= len)
        return len;
    while (i > 0 && ((guchar)s[i] & 0xc0) == 0x80)
        i--;
    return i;
}

char *sl_library_page_excerpt(SlLibrary *lib, gint64 document_id, int page, gsize start,
                              gsize end, int max_chars)
{
    g_return_val_if_fail(lib, NULL);
    char *out = NULL;
    sl_library_lock(lib);
    sqlite3_stmt *st = sl_library_prepare(lib, "SELECT text FROM pages WHERE document_id = ?1 "
                                               "AND number = ?2", NULL);
    if (st) {
        sqlite3_bind_int64(st, 1, document_id);
        sqlite3_bind_int(st, 2, page);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *text = (const char *)sqlite3_column_text(st, 0);
            gsize len = (gsize)sqlite3_column_bytes(st, 0);
            gsize from = char_start(text, len, start);
            gsize to = end == 0 ? len : char_start(text, len, end);
            if (to < from)
                to = from;
            /* Whitespace runs (newlines, tabs, line-number columns' spaces) made one space. */
            GString *s = g_string_sized_new(MIN(to - from, 1024) + 8);
            int chars = 0;
            gboolean cut = FALSE, space = FALSE;
            for (const char *p = text + from; p < text + to; p = g_utf8_next_char(p)) {
                gunichar c = g_utf8_get_char_validated(p, (gssize)(text + to - p));
                if (c == (gunichar)-1 || c == (gunichar)-2)
                    break;
                if (g_unichar_isspace(c)) {
                    space = s->len > 0;
                    continue;
                }
                if (max_chars > 0 && chars + (space ? 1 : 0) >= max_chars) {
                    cut = TRUE;
                    break;
                }
                if (space) {
                    g_string_append_c(s, ' ');
                    chars++;
                    space = FALSE;
                }
                if (g_unichar_iscntrl(c))
                    c = ' ';
                g_string_append_unichar(s, c);
                chars++;
            }
            if (cut)
                g_string_append(s, "…");
            out = g_string_free(s, FALSE);
        }
        sqlite3_finalize(st);
    }
    sl_library_unlock(lib);
    return out;
}

GArray *sl_answer_token_offsets(SlLibrary *lib, const sl_engine *engine, gint64 answer_id,
                                GError **error)
{
    g_return_val_if_fail(lib && engine, NULL);
    g_autofree char *text = NULL, *tokenizer = NULL;
    g_autoptr(GBytes) ids = NULL;
    gsize text_len = 0;
    gboolean found = FALSE, ok = FALSE;
    sl_library_lock(lib);
    sqlite3_stmt *st = sl_library_prepare(lib, "SELECT answer, answer_tokens, tokenizer FROM "
                                               "answers WHERE id = ?1", error);
    if (st) {
        sqlite3_bind_int64(st, 1, answer_id);
        if ((ok = sl_library_step(lib, st, "reading an answer's tokens", error)) &&
            (found = sqlite3_data_count(st) > 0)) {
            text_len = (gsize)sqlite3_column_bytes(st, 0);
            text = g_strndup((const char *)sqlite3_column_text(st, 0), text_len);
            const void *blob = sqlite3_column_blob(st, 1);
            ids = g_bytes_new(blob, blob ? (gsize)sqlite3_column_bytes(st, 1) : 0);
            tokenizer = column_dup(st, 2);
        }
        sqlite3_finalize(st);
    }
    sl_library_unlock(lib);
    if (!ok)
        return NULL;
    if (!found) {
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NOT_FOUND,
                    "no answer %" G_GINT64_FORMAT " in the library %s", answer_id,
                    sl_library_path(lib));
        return NULL;
    }
    if (g_strcmp0(tokenizer, sl_tokenizer_id(engine)) != 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    "answer %" G_GINT64_FORMAT " was written by a model with another tokenizer "
                    "than the one loaded", answer_id);
        return NULL;
    }
    gsize n_bytes = 0;
    const guint8 *p = g_bytes_get_data(ids, &n_bytes);
    if (n_bytes % 4 != 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "answer %" G_GINT64_FORMAT ": its tokens take %zu bytes, not a multiple of 4",
                    answer_id, n_bytes);
        return NULL;
    }
    /* The rule of ask.c's decode: each token starts where the text so far ends. */
    GArray *offsets = g_array_sized_new(FALSE, FALSE, sizeof(guint32), (guint)(n_bytes / 4));
    gsize at = 0;
    for (gsize i = 0; i < n_bytes / 4; i++) {
        guint32 u = (guint32)p[4 * i] | (guint32)p[4 * i + 1] << 8 | (guint32)p[4 * i + 2] << 16 |
                    (guint32)p[4 * i + 3] << 24;
        int32_t id = (int32_t)u;
        guint32 start = (guint32)at;
        g_array_append_val(offsets, start);
        if (sl_token_is_special(engine, id))
            continue;
        size_t len = 0;
        const char *piece = sl_token_piece(engine, id, &len);
        if (!piece || at + len > text_len || memcmp(text + at, piece, len) != 0) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                        "answer %" G_GINT64_FORMAT ": token %zu (id %d) is not its text at byte %zu",
                        answer_id, i, id, at);
            g_array_unref(offsets);
            return NULL;
        }
        at += len;
    }
    if (at != text_len) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "answer %" G_GINT64_FORMAT ": its tokens make %zu bytes of its %zu", answer_id,
                    at, text_len);
        g_array_unref(offsets);
        return NULL;
    }
    return offsets;
}
