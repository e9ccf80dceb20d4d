/* context.c: documents and a question into prompt tokens with a span map (see context.h).
 *
 * Everything is emitted as "pieces" (ids with their spans) whose length is known exactly
 * before they are chosen, so the budget is kept by construction, not by estimate. */
#include "context.h"

#include "engine-worker.h"
#include "library-private.h"
#include "tokens-cache.h"

#include <string.h>

/* Markers in the rendered template where the sources and the question go: they are
 * tokenised without special tokens, so a document cannot inject "<|im_start|>". */
#define SOURCES_MARK "\x01SOURCES\x01"
#define QUESTION_MARK "\x01QUESTION\x01"

static const char instructions[] =
    "You answer questions about the numbered sources the user gives, using only what they "
    "say. After each claim, cite where it comes from in brackets: [1] for source 1, [1, p. 4] "
    "for page 4 of a PDF, [2, line 30] or [2, lines 30-41] for lines of a file. If the "
    "sources do not say, answer that they do not.";

typedef struct {
    GArray *ids;   /* gint32 */
    GArray *spans; /* SlSpan */
} Piece;

static void piece_init(Piece *p)
{
    p->ids = g_array_new(FALSE, FALSE, sizeof(gint32));
    p->spans = g_array_new(FALSE, FALSE, sizeof(SlSpan));
}

static void piece_clear(Piece *p)
{
    g_clear_pointer(&p->ids, g_array_unref);
    g_clear_pointer(&p->spans, g_array_unref);
}

static void piece_add(Piece *p, gint32 id, SlSpan span)
{
    g_array_append_val(p->ids, id);
    g_array_append_val(p->spans, span);
}

static void piece_append(Piece *to, const Piece *from)
{
    g_array_append_vals(to->ids, from->ids->data, from->ids->len);
    g_array_append_vals(to->spans, from->spans->data, from->spans->len);
}

/* Words of the prompt itself (source 0). special: the text of special tokens is read as
 * those tokens (the chat template's own markers only). */
static gboolean add_words(Piece *p, const sl_engine *engine, const char *text, gssize len,
                          gboolean special, GError **error)
{
    sl_tokens toks = {0};
    sl_error err = {0};
    gsize n = len < 0 ? strlen(text) : (gsize)len;
    if (sl_tokenize(engine, text, n, special, &toks, &err) != SL_OK) {
        sl_set_engine_error(error, &err);
        return FALSE;
    }
    for (gsize i = 0; i < toks.n; i++)
        piece_add(p, toks.ids[i], (SlSpan){0, 0, 0});
    sl_tokens_free(&toks);
    return TRUE;
}

/* ---------------------------------------------------------------- documents */

typedef struct {
    int number;
    SlDocument *doc;
    GPtrArray *pages;       /* SlPageTokens, by page */
    GBytes *line_offsets;   /* code: of its one page */
    int first_page, last_page;
    gboolean cached;        /* its pages' tokens all came from the cache */
} Doc;

static void doc_clear(Doc *d)
{
    sl_document_free(d->doc);
    g_clear_pointer(&d->pages, g_ptr_array_unref);
    g_clear_pointer(&d->line_offsets, g_bytes_unref);
}

static GBytes *read_line_offsets(SlLibrary *lib, gint64 id, GError **error)
{
    sl_library_lock(lib);
    sqlite3_stmt *st = sl_library_prepare(lib, "SELECT line_offsets FROM pages WHERE "
                                                "document_id = ?1 AND number = 1", error);
    GBytes *out = NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB)
            out = g_bytes_new(sqlite3_column_blob(st, 0), (gsize)sqlite3_column_bytes(st, 0));
        else
            out = g_bytes_new(NULL, 0);
        sqlite3_finalize(st);
    }
    sl_library_unlock(lib);
    return out;
}

static gboolean load_doc(SlLibrary *lib, const sl_engine *engine, const SlContextPart *part,
                         int number, Doc *d, GCancellable *cancellable, GError **error)
{
    g_autofree char *key = g_strdup_printf("%" G_GINT64_FORMAT, part->document_id);
    d->number = number;
    if (!(d->doc = sl_library_get(lib, key, error)))
        return FALSE;
    d->first_page = part->first_page > 0 ? part->first_page : 1;
    d->last_page = part->last_page > 0 ? MIN(part->last_page, d->doc->pages) : d->doc->pages;
    if (!(d->pages = sl_tokens_cache_document(lib, engine, d->doc->id, &d->cached, cancellable,
                                              error)))
        return FALSE;
    if (strcmp(d->doc->kind, "code") == 0 &&
        !(d->line_offsets = read_line_offsets(lib, d->doc->id, error)))
        return FALSE;
    return TRUE;
}

static int n_lines(const Doc *d)
{
    return d->line_offsets ? (int)(g_bytes_get_size(d->line_offsets) / 4) : 0;
}

static guint32 line_start(const Doc *d, int line) /* 1-based */
{
    const guint8 *b = (const guint8 *)g_bytes_get_data(d->line_offsets, NULL) + 4 * (line - 1);
    return (guint32)b[0] | (guint32)b[1] << 8 | (guint32)b[2] << 16 | (guint32)b[3] << 24;
}

static SlPageTokens *page_tokens(const Doc *d, int page)
{
    for (guint i = 0; i < d->pages->len; i++) {
        SlPageTokens *t = d->pages->pdata[i];
        if (t->page == page)
            return t;
    }
    return NULL;
}

/* "[2] glib/gstring.c (code, 1204 lines)" and the like, with a blank line after. */
static gboolean add_header(Piece *p, const sl_engine *engine, const Doc *d, GError **error)
{
    const SlDocument *doc = d->doc;
    g_autofree char *what = NULL;
    if (strcmp(doc->status, "ok") != 0)
        what = g_strdup_printf("%s; no text: %s", doc->kind, doc->error ? doc->error : doc->status);
    else if (strcmp(doc->kind, "pdf") == 0)
        what = g_strdup_printf("PDF, %d page%s", doc->pages, doc->pages == 1 ? "" : "s");
    else if (strcmp(doc->kind, "code") == 0)
        what = g_strdup_printf("%s, %d lines", doc->language ? doc->language : "code", n_lines(d));
    else
        what = g_strdup(doc->language ? doc->language : "text");
    g_autofree char *line = g_strdup_printf("[%d] %s (%s)\n", d->number,
                                            doc->title ? doc->title : doc->path, what);
    return add_words(p, engine, line, -1, FALSE, error);
}

/* Code: "12| " before line 12. */
static gboolean add_line_number(Piece *p, const sl_engine *engine, int line, GError **error)
{
    char buf[32];
    g_snprintf(buf, sizeof buf, "%d| ", line);
    return add_words(p, engine, buf, -1, FALSE, error);
}

/* Bytes [s, e) of a page of code, tokenised again because a line starts inside them. */
static gboolean add_split(Piece *p, const sl_engine *engine, const Doc *d, const SlPageTokens *pt,
                          gsize s, gsize e, GError **error)
{
    SlPageTokens sub = {0};
    if (!sl_tokenize_with_offsets(engine, pt->text + s, e - s, &sub, error))
        return FALSE;
    for (gsize i = 0; i < sub.n; i++)
        piece_add(p, sub.ids[i], (SlSpan){(guint32)d->number, pt->page, (guint32)(s + sub.offsets[i])});
    g_free(sub.ids);
    g_free(sub.offsets);
    return TRUE;
}

/* The first line of code starting at or after byte s (1-based; lines + 1 when none). */
static int first_line_from(const Doc *d, gsize s)
{
    int lo = 1, hi = n_lines(d) + 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (line_start(d, mid) < s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The tokens of bytes [s, e) of a page (those that start there), with line numbers before
 * the lines of code. A token holding a line start ("\n    " does) is tokenised again in two,
 * so that the number stands at the start of its line. */
static gboolean add_text(Piece *p, const sl_engine *engine, const Doc *d, const SlPageTokens *pt,
                         gsize s, gsize e, GError **error)
{
    int lines = n_lines(d), line = lines ? first_line_from(d, s) : 1;
    for (gsize i = 0; i < pt->n; i++) {
        gsize o = pt->offsets[i];
        if (o < s || o >= e)
            continue;
        gsize end = i + 1 < pt->n ? pt->offsets[i + 1] : pt->text_len, cur = o;
        while (line <= lines && line_start(d, line) < end) {
            gsize at = line_start(d, line);
            if (at > cur) {
                if (!add_split(p, engine, d, pt, cur, at, error))
                    return FALSE;
                cur = at;
            }
            if (at >= o && !add_line_number(p, engine, line, error))
                return FALSE;
            line++;
        }
        if (cur == o)
            piece_add(p, pt->ids[i], (SlSpan){(guint32)d->number, pt->page, (guint32)o});
        else if (!add_split(p, engine, d, pt, cur, end, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean add_page_marker(Piece *p, const sl_engine *engine, int page, GError **error)
{
    g_autofree char *m = g_strdup_printf("\n--- page %d ---\n", page);
    return add_words(p, engine, m, -1, FALSE, error);
}

/* A document whole (its parts' pages), header included. */
static gboolean whole_doc(Piece *p, const sl_engine *engine, const Doc *d, GError **error)
{
    if (!add_header(p, engine, d, error))
        return FALSE;
    gboolean pdf = strcmp(d->doc->kind, "pdf") == 0;
    for (int pg = d->first_page; pg <= d->last_page; pg++) {
        const SlPageTokens *pt = page_tokens(d, pg);
        if (!pt)
            continue;
        if (pdf && !add_page_marker(p, engine, pg, error))
            return FALSE;
        if (!add_text(p, engine, d, pt, 0, pt->text_len, error))
            return FALSE;
    }
    return add_words(p, engine, "\n\n", -1, FALSE, error);
}

/* ---------------------------------------------------------------- passages */

typedef struct {
    gint64 id;
    Doc *doc;
    int page;
    gsize start, length;
    double rank;     /* BM25 (lower is better); G_MAXDOUBLE: matched no word */
    guint order;     /* in document order */
    Piece piece;     /* its tokens, line numbers included */
    gboolean chosen;
} Passage;

/* The passages of the documents' pages, in document order. */
static GArray *read_passages(SlLibrary *lib, Doc *docs, guint n_docs, GError **error)
{
    GArray *out = g_array_new(FALSE, TRUE, sizeof(Passage));
    sl_library_lock(lib);
    sqlite3_stmt *st = sl_library_prepare(lib, "SELECT id, page, start, length FROM passages "
                                                "WHERE document_id = ?1 AND page BETWEEN ?2 AND ?3 "
                                                "ORDER BY page, start", error);
    for (guint i = 0; st && i < n_docs; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, docs[i].doc->id);
        sqlite3_bind_int(st, 2, docs[i].first_page);
        sqlite3_bind_int(st, 3, docs[i].last_page);
        while (sqlite3_step(st) == SQLITE_ROW) {
            Passage ps = {sqlite3_column_int64(st, 0), &docs[i], sqlite3_column_int(st, 1),
                          (gsize)sqlite3_column_int64(st, 2), (gsize)sqlite3_column_int64(st, 3),
                          G_MAXDOUBLE, out->len, {NULL, NULL}, FALSE};
            g_array_append_val(out, ps);
        }
    }
    if (st)
        sqlite3_finalize(st);
    sl_library_unlock(lib);
    if (!st)
        g_clear_pointer(&out, g_array_unref);
    return out;
}

/* "w1" OR "w2" … over the question's words of two characters or more. */
static char *any_word_query(const char *question)
{
    GString *q = g_string_new(NULL);
    const char *p = question;
    while (*p) {
        while (*p && !g_unichar_isalnum(g_utf8_get_char(p)))
            p = g_utf8_next_char(p);
        const char *w = p;
        while (*p && g_unichar_isalnum(g_utf8_get_char(p)))
            p = g_utf8_next_char(p);
        if (g_utf8_strlen(w, p - w) >= 2)
            g_string_append_printf(q, "%s\"%.*s\"", q->len ? " OR " : "", (int)(p - w), w);
    }
    return g_string_free(q, FALSE);
}

/* Ranks passages by BM25 against the question's words. */
static gboolean rank_passages(SlLibrary *lib, GArray *passages, const char *question,
                              GError **error)
{
    g_autofree char *q = any_word_query(question ? question : "");
    if (!*q || passages->len == 0)
        return TRUE;
    g_autoptr(GHashTable) by_id = g_hash_table_new(g_int64_hash, g_int64_equal);
    for (guint i = 0; i < passages->len; i++) {
        Passage *ps = &g_array_index(passages, Passage, i);
        g_hash_table_insert(by_id, &ps->id, ps);
    }
    sl_library_lock(lib);
    sqlite3_stmt *st = sl_library_prepare(lib, "SELECT rowid, bm25(passages_fts) FROM passages_fts "
                                                "WHERE passages_fts MATCH ?1", error);
    gboolean ok = st != NULL;
    if (st) {
        sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            gint64 id = sqlite3_column_int64(st, 0);
            Passage *ps = g_hash_table_lookup(by_id, &id);
            if (ps)
                ps->rank = sqlite3_column_double(st, 1);
        }
        ok = rc == SQLITE_DONE || sl_library_step(lib, st, "ranking passages", error);
        sqlite3_finalize(st);
    }
    sl_library_unlock(lib);
    return ok;
}

static int by_rank(gconstpointer a, gconstpointer b)
{
    const Passage *x = *(Passage *const *)a, *y = *(Passage *const *)b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Chooses passages, best ranked first (then in document order), while they fit in room.
 * Each costs its tokens plus a page marker and a gap marker, an upper bound of what it adds. */
static gboolean choose_passages(const sl_engine *engine, GArray *passages, gsize room,
                                GError **error)
{
    Piece markers;
    piece_init(&markers);
    gboolean ok = add_page_marker(&markers, engine, 99999, error) &&
                  add_words(&markers, engine, "\n[…]\n", -1, FALSE, error);
    gsize overhead = markers.ids->len;
    piece_clear(&markers);
    if (!ok)
        return FALSE;
    g_autoptr(GPtrArray) order = g_ptr_array_sized_new(passages->len);
    for (guint i = 0; i < passages->len; i++)
        g_ptr_array_add(order, &g_array_index(passages, Passage, i));
    g_ptr_array_sort(order, by_rank);
    gsize used = 0;
    for (guint i = 0; i < order->len; i++) {
        Passage *ps = order->pdata[i];
        SlPageTokens *pt = page_tokens(ps->doc, ps->page);
        if (!pt)
            continue;
        piece_init(&ps->piece);
        if (!add_text(&ps->piece, engine, ps->doc, pt, ps->start, ps->start + ps->length, error))
            return FALSE;
        gsize cost = ps->piece.ids->len + overhead;
        if (used + cost <= room) {
            ps->chosen = TRUE;
            used += cost;
        }
        if (room - used < overhead + 8)
            break; /* nothing useful fits any more */
    }
    return TRUE;
}

/* ---------------------------------------------------------------- assembly */

/* The chosen passages of each document in document order, under its header, with page
 * markers and "[…]" where text was skipped. */
static gboolean assemble_passages(Piece *out, const sl_engine *engine, Doc *docs, guint n_docs,
                                  GArray *passages, GError **error)
{
    for (guint k = 0; k < n_docs; k++) {
        if (!add_header(out, engine, &docs[k], error))
            return FALSE;
        gboolean pdf = strcmp(docs[k].doc->kind, "pdf") == 0, prev_chosen = TRUE;
        int last_page = 0;
        for (guint i = 0; i < passages->len; i++) {
            Passage *ps = &g_array_index(passages, Passage, i);
            if (ps->doc != &docs[k])
                continue;
            if (ps->chosen) {
                if (!prev_chosen && !add_words(out, engine, "\n[…]\n", -1, FALSE, error))
                    return FALSE;
                if (pdf && ps->page != last_page && !add_page_marker(out, engine, ps->page, error))
                    return FALSE;
                last_page = ps->page;
                piece_append(out, &ps->piece);
            }
            prev_chosen = ps->chosen;
        }
        if (!prev_chosen && !add_words(out, engine, "\n[…]", -1, FALSE, error))
            return FALSE;
        if (!add_words(out, engine, "\n\n", -1, FALSE, error))
            return FALSE;
    }
    return TRUE;
}

/* "3-9, 14" from ascending numbers. */
static void append_ranges(GString *s, const GArray *numbers, gboolean pairs)
{
    guint step = pairs ? 2 : 1;
    for (guint i = 0; i < numbers->len; i += step) {
        int first = g_array_index(numbers, int, i);
        int last = pairs ? g_array_index(numbers, int, i + 1) : first;
        while (!pairs && i + 1 < numbers->len && g_array_index(numbers, int, i + 1) == last + 1)
            last = g_array_index(numbers, int, ++i);
        g_string_append_printf(s, "%s%d", s->len && s->str[s->len - 1] != ' ' ? ", " : "", first);
        if (last != first)
            g_string_append_printf(s, "-%d", last);
    }
}

static void add_line_range(GArray *ranges, int first, int last)
{
    guint n = ranges->len;
    if (n && g_array_index(ranges, int, n - 1) >= first - 1) { /* touches the previous one */
        g_array_index(ranges, int, n - 1) = MAX(g_array_index(ranges, int, n - 1), last);
        return;
    }
    g_array_append_val(ranges, first);
    g_array_append_val(ranges, last);
}

static void source_free(SlContextSource *s)
{
    g_free(s->title);
    g_free(s->kind);
    g_array_unref(s->pages_in);
    g_array_unref(s->line_ranges_in);
    g_free(s->included);
    g_free(s);
}

/* What each source gives (passages NULL: whole), and what was left out. */
static SlContextSource *describe_source(const Doc *d, GArray *passages, GString *left_out)
{
    SlContextSource *s = g_new0(SlContextSource, 1);
    s->number = d->number;
    s->document_id = d->doc->id;
    s->title = g_strdup(d->doc->title ? d->doc->title : d->doc->path);
    s->kind = g_strdup(d->doc->kind);
    s->n_pages = d->doc->pages;
    s->n_lines = n_lines(d);
    s->pages_in = g_array_new(FALSE, FALSE, sizeof(int));
    s->line_ranges_in = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GArray) pages_out = g_array_new(FALSE, FALSE, sizeof(int));
    for (int pg = d->first_page; pg <= d->last_page; pg++) {
        gboolean any = passages == NULL;
        for (guint i = 0; passages && i < passages->len; i++) {
            const Passage *ps = &g_array_index(passages, Passage, i);
            if (ps->doc == d && ps->page == pg && ps->chosen) {
                any = TRUE;
                if (s->n_lines)
                    add_line_range(s->line_ranges_in, first_line_from(d, ps->start),
                                   first_line_from(d, ps->start + ps->length) - 1);
            }
        }
        g_array_append_val(any ? s->pages_in : pages_out, pg);
    }
    if (!passages && s->n_lines)
        add_line_range(s->line_ranges_in, 1, s->n_lines);
    gboolean all_chosen = TRUE;
    for (guint i = 0; passages && i < passages->len; i++) {
        const Passage *ps = &g_array_index(passages, Passage, i);
        all_chosen &= ps->doc != d || ps->chosen;
    }
    GString *inc = g_string_new(NULL);
    gboolean pdf = strcmp(s->kind, "pdf") == 0;
    if (all_chosen && d->first_page == 1 && d->last_page == d->doc->pages)
        g_string_append(inc, "all");
    else if (s->n_lines) {
        g_string_append(inc, "lines ");
        append_ranges(inc, s->line_ranges_in, TRUE);
    } else if (pdf && s->pages_in->len) {
        g_string_append(inc, s->pages_in->len > 1 ? "pp. " : "p. ");
        append_ranges(inc, s->pages_in, FALSE);
    } else if (s->pages_in->len)
        g_string_append(inc, "part");
    s->included = g_string_free(inc, FALSE);
    if (passages && !all_chosen) {
        gsize total = 0, given = 0;
        for (guint i = 0; i < d->pages->len; i++)
            total += ((const SlPageTokens *)d->pages->pdata[i])->n;
        for (guint i = 0; i < passages->len; i++) {
            const Passage *ps = &g_array_index(passages, Passage, i);
            if (ps->doc == d && ps->chosen)
                given += ps->piece.ids->len;
        }
        g_string_append_printf(left_out, "%s[%d] %s (%zu of its %zu tokens given): ",
                               left_out->len ? "; " : "", s->number, s->title, given, total);
        if (s->pages_in->len == 0)
            g_string_append(left_out, "all of it");
        else if (pdf && pages_out->len) {
            g_string_append(left_out, pages_out->len > 1 ? "pp. " : "p. ");
            append_ranges(left_out, pages_out, FALSE);
            g_string_append(left_out, ", and parts of the others");
        } else if (s->n_lines)
            g_string_append_printf(left_out, "all but %s", s->included);
        else
            g_string_append(left_out, "parts");
    }
    return s;
}

/* ---------------------------------------------------------------- the prompt */

/* The rendered chat template, cut at the markers: before the sources, between them and the
 * question, after the question. */
static gboolean template_parts(const sl_engine *engine, SlContextKind kind, Piece parts[3],
                               GError **error)
{
    static const char *const user[] = {
        [SL_CONTEXT_ASK] = "Sources:\n\n" SOURCES_MARK "Question: " QUESTION_MARK,
        [SL_CONTEXT_SUMMARY] = "Sources:\n\n" SOURCES_MARK "Summarise the sources above: what "
                               "each one says, and how they relate, citing pages or lines. "
                               QUESTION_MARK,
        [SL_CONTEXT_MERGE] = "Sources:\n\n" SOURCES_MARK "These are summaries of parts of the "
                             "sources, in order. Merge them into one summary of the sources, "
                             "keeping their citations. " QUESTION_MARK,
    };
    sl_chat_message msgs[2] = {{"system", instructions}, {"user", user[kind]}};
    char *rendered = NULL;
    sl_error err = {0};
    if (sl_chat_render(engine, msgs, 2, true, &rendered, &err) != SL_OK) {
        sl_set_engine_error(error, &err);
        return FALSE;
    }
    const char *s = strstr(rendered, SOURCES_MARK);
    const char *q = s ? strstr(s, QUESTION_MARK) : NULL;
    gboolean ok = q != NULL;
    if (!ok)
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_UNSUPPORTED,
                    "the model's chat template does not keep the user's text as it is");
    for (int i = 0; i < 3; i++)
        piece_init(&parts[i]);
    ok = ok && add_words(&parts[0], engine, rendered, s - rendered, TRUE, error) &&
         add_words(&parts[1], engine, s + strlen(SOURCES_MARK), q - s - strlen(SOURCES_MARK),
                   TRUE, error) &&
         add_words(&parts[2], engine, q + strlen(QUESTION_MARK), -1, TRUE, error);
    free(rendered);
    return ok;
}

void sl_context_free(SlContext *c)
{
    if (!c)
        return;
    g_array_unref(c->ids);
    g_array_unref(c->spans);
    g_ptr_array_unref(c->sources);
    g_free(c->left_out);
    g_free(c);
}

typedef struct {
    Doc *docs;
    guint n;
} Docs;

static void docs_clear(Docs *d)
{
    for (guint i = 0; i < d->n; i++)
        doc_clear(&d->docs[i]);
    g_free(d->docs);
}

static gboolean load_docs(SlLibrary *lib, const sl_engine *engine, const SlContextPart *parts,
                          guint n, Docs *out, GCancellable *cancellable, GError **error)
{
    out->docs = g_new0(Doc, n ? n : 1);
    out->n = n;
    for (guint i = 0; i < n; i++)
        if (!load_doc(lib, engine, &parts[i], parts[i].number > 0 ? parts[i].number : (int)i + 1,
                      &out->docs[i], cancellable, error))
            return FALSE;
    return TRUE;
}

/* The sources block: documents whole, or chosen passages when they do not fit in room. */
static gboolean sources_block(SlLibrary *lib, const sl_engine *engine, const SlContextRequest *rq,
                              Docs *docs, gsize room, Piece *out, SlContext *c, GError **error)
{
    Piece whole;
    piece_init(&whole);
    gboolean ok = TRUE;
    for (guint i = 0; ok && i < docs->n; i++)
        ok = rq->kind == SL_CONTEXT_MERGE ? add_header(&whole, engine, &docs->docs[i], error)
                                          : whole_doc(&whole, engine, &docs->docs[i], error);
    if (ok && rq->kind == SL_CONTEXT_MERGE)
        ok = add_words(&whole, engine, rq->extra_text ? rq->extra_text : "", -1, FALSE, error) &&
             add_words(&whole, engine, "\n\n", -1, FALSE, error);
    c->whole = ok && whole.ids->len <= room;
    GString *left_out = g_string_new(NULL);
    g_autoptr(GArray) passages = NULL;
    if (ok && c->whole)
        piece_append(out, &whole);
    else if (ok && rq->kind == SL_CONTEXT_MERGE) {
        ok = FALSE;
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "the partial summaries take %u tokens, more than the %zu the budget leaves",
                    whole.ids->len, room);
    } else if (ok) {
        Piece headers;
        piece_init(&headers);
        for (guint i = 0; ok && i < docs->n; i++)
            ok = add_header(&headers, engine, &docs->docs[i], error) &&
                 add_words(&headers, engine, "\n[…]\n\n", -1, FALSE, error);
        gsize fixed = headers.ids->len;
        piece_clear(&headers);
        ok = ok && (passages = read_passages(lib, docs->docs, docs->n, error)) &&
             rank_passages(lib, passages, rq->question, error) &&
             choose_passages(engine, passages, room > fixed ? room - fixed : 0, error) &&
             assemble_passages(out, engine, docs->docs, docs->n, passages, error);
    }
    piece_clear(&whole);
    for (guint i = 0; ok && i < docs->n; i++)
        g_ptr_array_add(c->sources, describe_source(&docs->docs[i], c->whole ? NULL : passages,
                                                    left_out));
    for (guint i = 0; passages && i < passages->len; i++)
        piece_clear(&g_array_index(passages, Passage, i).piece);
    c->left_out = left_out->len ? g_string_free(left_out, FALSE) : (g_string_free(left_out, TRUE), NULL);
    if (ok && out->ids->len > room) { /* the bounds above make this impossible; say so if not */
        ok = FALSE;
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "internal error: the sources take %u tokens, over the %zu allowed",
                    out->ids->len, room);
    }
    return ok;
}

static int effective_budget(const sl_engine *engine, int asked)
{
    int n_ctx = sl_engine_model(engine)->n_ctx_train;
    int budget = asked > 0 ? MIN(asked, SL_CONTEXT_MAX_BUDGET) : SL_CONTEXT_MAX_BUDGET;
    return n_ctx > 0 ? MIN(budget, n_ctx) : budget;
}

SlContext *sl_context_build(SlLibrary *lib, const sl_engine *engine, const SlContextRequest *rq,
                            GCancellable *cancellable, GError **error)
{
    g_autoptr(SlContext) c = g_new0(SlContext, 1);
    c->ids = g_array_new(FALSE, FALSE, sizeof(gint32));
    c->spans = g_array_new(FALSE, FALSE, sizeof(SlSpan));
    c->sources = g_ptr_array_new_with_free_func((GDestroyNotify)source_free);
    c->budget = effective_budget(engine, rq->budget);
    c->answer_tokens = rq->answer_tokens;
    Piece parts[3] = {{NULL, NULL}, {NULL, NULL}, {NULL, NULL}}, question, sources;
    piece_init(&question);
    piece_init(&sources);
    Docs docs = {NULL, 0};
    gboolean ok = template_parts(engine, rq->kind, parts, error) &&
                  add_words(&question, engine, rq->question ? rq->question : "", -1, FALSE, error) &&
                  load_docs(lib, engine, rq->parts, rq->n_parts, &docs, cancellable, error);
    gssize fixed = (gssize)(parts[0].ids ? parts[0].ids->len + parts[1].ids->len + parts[2].ids->len : 0) +
                   (gssize)question.ids->len;
    gssize room = (gssize)c->budget - rq->answer_tokens - fixed;
    if (ok && room <= 0) {
        ok = FALSE;
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "a budget of %d tokens is too small: the instructions and the question take "
                    "%zd and the answer keeps %d", c->budget, fixed, rq->answer_tokens);
    }
    c->tokens_cached = ok;
    for (guint i = 0; ok && i < docs.n; i++)
        c->tokens_cached &= docs.docs[i].cached;
    ok = ok && sources_block(lib, engine, rq, &docs, (gsize)room, &sources, c, error);
    if (ok) {
        Piece all = {c->ids, c->spans};
        piece_append(&all, &parts[0]);
        piece_append(&all, &sources);
        piece_append(&all, &parts[1]);
        piece_append(&all, &question);
        piece_append(&all, &parts[2]);
    }
    for (int i = 0; i < 3; i++)
        piece_clear(&parts[i]);
    piece_clear(&question);
    piece_clear(&sources);
    docs_clear(&docs);
    return ok ? g_steal_pointer(&c) : NULL;
}

gboolean sl_context_measure(SlLibrary *lib, const sl_engine *engine, const SlContextPart *parts,
                            guint n_parts, gsize *tokens, GCancellable *cancellable,
                            GError **error)
{
    Docs docs = {NULL, 0};
    Piece whole;
    piece_init(&whole);
    gboolean ok = load_docs(lib, engine, parts, n_parts, &docs, cancellable, error);
    for (guint i = 0; ok && i < docs.n; i++)
        ok = whole_doc(&whole, engine, &docs.docs[i], error);
    *tokens = whole.ids->len;
    piece_clear(&whole);
    docs_clear(&docs);
    return ok;
}
