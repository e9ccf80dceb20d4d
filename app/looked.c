/* looked.c: selection weights of a stored answer mapped onto source passages (see looked.h). */
#include "looked.h"

#include "engine-worker.h"
#include "library-private.h"
#include "sightline-engine.h"
#include "span-map.h"

#include <string.h>

void sl_looked_passage_free(SlLookedPassage *p)
{
    if (!p)
        return;
    g_free(p->title);
    g_free(p);
}

typedef struct {
    SlSpan *spans;
    gsize n_spans;
    sl_selections *sel;
    GHashTable *sources; /* number → SourceRow */
} Records;

typedef struct {
    gint64 document_id;
    char *title;
} SourceRow;

static void source_row_free(gpointer data)
{
    SourceRow *s = data;
    g_free(s->title);
    g_free(s);
}

static void records_clear(Records *r)
{
    g_free(r->spans);
    if (r->sel)
        sl_selections_free(r->sel);
    if (r->sources)
        g_hash_table_unref(r->sources);
}

static gboolean read_sources(SlLibrary *lib, gint64 answer, Records *r, GError **error)
{
    r->sources = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, source_row_free);
    sqlite3_stmt *st = sl_library_prepare(lib, "SELECT number, document_id, title FROM "
                                               "answer_sources WHERE answer_id = ?1", error);
    if (!st)
        return FALSE;
    sqlite3_bind_int64(st, 1, answer);
    while (sqlite3_step(st) == SQLITE_ROW) {
        SourceRow *s = g_new0(SourceRow, 1);
        s->document_id = sqlite3_column_int64(st, 1);
        s->title = g_strdup((const char *)sqlite3_column_text(st, 2));
        g_hash_table_insert(r->sources, GINT_TO_POINTER(sqlite3_column_int(st, 0)), s);
    }
    sqlite3_finalize(st);
    return TRUE;
}

/* The span map and the question's or the answer's selections. */
static gboolean read_records(SlLibrary *lib, gint64 answer, gboolean question, Records *r,
                             GError **error)
{
    sqlite3_stmt *st = sl_library_prepare(lib, question
                                                   ? "SELECT span_map, question_selections FROM "
                                                     "answer_records WHERE answer_id = ?1"
                                                   : "SELECT span_map, answer_selections FROM "
                                                     "answer_records WHERE answer_id = ?1",
                                          error);
    if (!st)
        return FALSE;
    sqlite3_bind_int64(st, 1, answer);
    gboolean ok = FALSE;
    if (sqlite3_step(st) != SQLITE_ROW)
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NOT_FOUND,
                    "no answer %" G_GINT64_FORMAT " in the library", answer);
    else if (sqlite3_column_type(st, 1) != SQLITE_BLOB)
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_NOT_FOUND,
                    "answer %" G_GINT64_FORMAT " was made with dense attention: nothing was "
                    "selected, so there is nothing to show", answer);
    else if ((r->spans = sl_span_map_decode(sqlite3_column_blob(st, 0),
                                            (gsize)sqlite3_column_bytes(st, 0), &r->n_spans,
                                            error))) {
        sl_error err = {0};
        ok = sl_selections_decode(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
                                  &r->sel, &err) == SL_OK;
        if (!ok)
            sl_set_engine_error(error, &err);
    }
    sqlite3_finalize(st);
    return ok;
}

/* Bits first..last of one top entry's layer bytes. */
static guint layer_bits(const guint8 *mask, int first, int last)
{
    guint n = 0;
    for (int l = first; l <= last; l++)
        n += (mask[l / 8] >> (l % 8)) & 1;
    return n;
}

/* Weight of each context position for the query. */
static double *position_weights(const Records *r, const SlLookedQuery *q, GError **error)
{
    const sl_selections *s = r->sel;
    double *w = g_new0(double, s->n_positions + 1);
    gboolean layers = q->first_layer >= 0;
    if (layers && (q->last_layer < q->first_layer || q->last_layer >= s->n_layers)) {
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "layers %d-%d: the model has layers 0-%d", q->first_layer, q->last_layer,
                    s->n_layers - 1);
        g_free(w);
        return NULL;
    }
    if (layers && q->token == -1) {
        /* Every token: the per-layer counts, which cover every selected position. */
        for (int l = q->first_layer; l <= q->last_layer; l++)
            for (gsize b = 0; b < s->n_bins; b++) {
                gsize from = b * s->bin_width, to = MIN(from + s->bin_width, s->n_positions);
                double share = (double)s->bins[(gsize)l * s->n_bins + b] / (double)(to - from);
                for (gsize p = from; p < to; p++)
                    w[p] += share;
            }
        return w;
    }
    gsize seen = 0, lb = ((gsize)s->n_layers + 7) / 8;
    for (gsize i = 0; i < s->n_records; i++) {
        const sl_selection_record *rec = &s->records[i];
        if (q->token == SL_LOOKED_LAST && i + 1 != s->n_records)
            continue;
        if (q->token >= 0 && seen++ != (gsize)q->token)
            continue;
        if (layers && !rec->top_layers) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                        "these records were stored before they kept their layers: one token's "
                        "selections are known over all layers only");
            g_free(w);
            return NULL;
        }
        /* One token over some layers: the layers of its top positions that chose them. */
        for (int k = 0; k < rec->n_top; k++)
            if (rec->top_pos[k] >= 0 && (gsize)rec->top_pos[k] < s->n_positions)
                w[rec->top_pos[k]] += layers ? layer_bits(rec->top_layers + (gsize)k * lb,
                                                          q->first_layer, q->last_layer)
                                             : rec->top_votes[k];
    }
    if (q->token >= 0 && (gsize)q->token >= s->n_records) {
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID,
                    "token %d: the %s has %zu recorded tokens", q->token,
                    q->question ? "question" : "answer", s->n_records);
        g_free(w);
        return NULL;
    }
    return w;
}

/* The passages of one page, by start, and its line offsets. */
typedef struct {
    GArray *starts, *lengths; /* gsize */
    GBytes *line_offsets;
} PageIndex;

static void page_index_free(gpointer data)
{
    PageIndex *pi = data;
    g_array_unref(pi->starts);
    g_array_unref(pi->lengths);
    if (pi->line_offsets)
        g_bytes_unref(pi->line_offsets);
    g_free(pi);
}

static PageIndex *load_page(SlLibrary *lib, gint64 doc, int page)
{
    PageIndex *pi = g_new0(PageIndex, 1);
    pi->starts = g_array_new(FALSE, FALSE, sizeof(gsize));
    pi->lengths = g_array_new(FALSE, FALSE, sizeof(gsize));
    sqlite3_stmt *st = sl_library_prepare(lib, "SELECT start, length FROM passages WHERE "
                                               "document_id = ?1 AND page = ?2 ORDER BY start", NULL);
    if (st) {
        sqlite3_bind_int64(st, 1, doc);
        sqlite3_bind_int(st, 2, page);
        while (sqlite3_step(st) == SQLITE_ROW) {
            gsize s = (gsize)sqlite3_column_int64(st, 0), l = (gsize)sqlite3_column_int64(st, 1);
            g_array_append_val(pi->starts, s);
            g_array_append_val(pi->lengths, l);
        }
        sqlite3_finalize(st);
    }
    st = sl_library_prepare(lib, "SELECT line_offsets FROM pages WHERE document_id = ?1 AND "
                                 "number = ?2", NULL);
    if (st) {
        sqlite3_bind_int64(st, 1, doc);
        sqlite3_bind_int(st, 2, page);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB)
            pi->line_offsets = g_bytes_new(sqlite3_column_blob(st, 0),
                                           (gsize)sqlite3_column_bytes(st, 0));
        sqlite3_finalize(st);
    }
    return pi;
}

/* The passage holding offset: the last one starting at or before it (the first when none). */
static guint passage_at(const PageIndex *pi, gsize offset)
{
    guint lo = 0, hi = pi->starts->len;
    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        if (g_array_index(pi->starts, gsize, mid) <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? lo - 1 : 0;
}

typedef struct {
    SlLibrary *lib;
    Records *r;
    GHashTable *pages;    /* "doc:page" → PageIndex */
    GHashTable *passages; /* "source:page:start" → SlLookedPassage (owned by out) */
    GPtrArray *out;
} Mapper;

static void add_weight(Mapper *m, const SlSpan *span, double w)
{
    const SourceRow *src = g_hash_table_lookup(m->r->sources, GUINT_TO_POINTER(span->source));
    gint64 doc = src ? src->document_id : 0;
    gsize start = 0, end = 0;
    PageIndex *pi = NULL;
    if (doc) {
        g_autofree char *pkey = g_strdup_printf("%" G_GINT64_FORMAT ":%d", doc, span->page);
        if (!(pi = g_hash_table_lookup(m->pages, pkey))) {
            pi = load_page(m->lib, doc, span->page);
            g_hash_table_insert(m->pages, g_steal_pointer(&pkey), pi);
        }
        if (pi->starts->len) {
            guint k = passage_at(pi, span->offset);
            start = g_array_index(pi->starts, gsize, k);
            end = start + g_array_index(pi->lengths, gsize, k);
        }
    }
    g_autofree char *key = g_strdup_printf("%u:%d:%zu", span->source, span->page, start);
    SlLookedPassage *p = g_hash_table_lookup(m->passages, key);
    if (!p) {
        p = g_new0(SlLookedPassage, 1);
        *p = (SlLookedPassage){(int)span->source, doc, g_strdup(src ? src->title : "?"),
                               span->page, start, end, 0, 0, 0, 0};
        if (pi && pi->line_offsets && end > start) {
            gsize n = 0;
            const void *lo = g_bytes_get_data(pi->line_offsets, &n);
            p->first_line = sl_line_at(lo, n, start);
            p->last_line = sl_line_at(lo, n, end - 1);
        }
        g_hash_table_insert(m->passages, g_steal_pointer(&key), p);
        g_ptr_array_add(m->out, p);
    }
    p->weight += w;
    p->positions++;
}

static int by_weight(gconstpointer a, gconstpointer b)
{
    const SlLookedPassage *x = *(SlLookedPassage *const *)a, *y = *(SlLookedPassage *const *)b;
    return x->weight > y->weight ? -1 : x->weight < y->weight;
}

GPtrArray *sl_answer_looked(SlLibrary *lib, gint64 answer_id, const SlLookedQuery *q, int limit,
                            GError **error)
{
    Records r = {0};
    sl_library_lock(lib);
    gboolean ok = read_sources(lib, answer_id, &r, error) &&
                  read_records(lib, answer_id, q->question, &r, error);
    g_autofree double *w = ok ? position_weights(&r, q, error) : NULL;
    GPtrArray *out = NULL;
    if (w) {
        out = g_ptr_array_new_with_free_func((GDestroyNotify)sl_looked_passage_free);
        Mapper m = {lib, &r, g_hash_table_new_full(g_str_hash, g_str_equal, g_free, page_index_free),
                    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL), out};
        double total = 0;
        for (gsize p = 0; p < MIN(r.sel->n_positions, r.n_spans); p++)
            if (w[p] > 0 && r.spans[p].source != 0) {
                add_weight(&m, &r.spans[p], w[p]);
                total += w[p];
            }
        g_hash_table_unref(m.pages);
        g_hash_table_unref(m.passages);
        for (guint i = 0; i < out->len; i++)
            ((SlLookedPassage *)out->pdata[i])->weight /= total > 0 ? total : 1;
        g_ptr_array_sort(out, by_weight);
        if (limit > 0 && out->len > (guint)limit)
            g_ptr_array_set_size(out, (guint)limit);
    }
    sl_library_unlock(lib);
    records_clear(&r);
    return out;
}

GArray *sl_answer_page_heat(SlLibrary *lib, gint64 answer_id, const SlLookedQuery *q,
                            gint64 document_id, int page, GError **error)
{
    Records r = {0};
    sl_library_lock(lib);
    gboolean ok = read_sources(lib, answer_id, &r, error) &&
                  read_records(lib, answer_id, q->question, &r, error);
    sl_library_unlock(lib);
    g_autofree double *w = ok ? position_weights(&r, q, error) : NULL;
    GArray *out = NULL;
    if (w) {
        out = g_array_new(FALSE, FALSE, sizeof(SlHeatPoint));
        for (gsize p = 0; p < MIN(r.sel->n_positions, r.n_spans); p++) {
            const SlSpan *s = &r.spans[p];
            if (w[p] <= 0 || s->source == 0 || s->page != page)
                continue;
            const SourceRow *src = g_hash_table_lookup(r.sources, GUINT_TO_POINTER(s->source));
            if (src && src->document_id == document_id) {
                SlHeatPoint hp = {s->offset, (float)w[p]};
                g_array_append_val(out, hp);
            }
        }
    }
    records_clear(&r);
    return out;
}

/* Reads an answer's records (question's or answer's) under the lock. */
static gboolean load_records(SlLibrary *lib, gint64 answer, gboolean question, Records *r,
                             GError **error)
{
    sl_library_lock(lib);
    gboolean ok = read_sources(lib, answer, r, error) && read_records(lib, answer, question, r, error);
    sl_library_unlock(lib);
    return ok;
}

GArray *sl_answer_context_map(SlLibrary *lib, gint64 answer_id, const SlLookedQuery *q,
                              guint n_bins, gsize *n_positions, GError **error)
{
    Records r = {0};
    g_autofree double *w = load_records(lib, answer_id, q->question, &r, error)
                               ? position_weights(&r, q, error) : NULL;
    GArray *bins = NULL;
    if (w && n_bins > 0) {
        gsize n = r.n_spans;
        *n_positions = n;
        n_bins = (guint)MIN((gsize)n_bins, MAX(n, 1));
        bins = g_array_sized_new(FALSE, TRUE, sizeof(SlContextBin), n_bins);
        for (guint b = 0; b < n_bins; b++) {
            gsize from = b * n / n_bins, to = (b + 1) * n / n_bins;
            SlContextBin bin = {(guint32)from, 0, 0, 0};
            g_autoptr(GHashTable) votes = g_hash_table_new(g_direct_hash, g_direct_equal);
            guint best = 0;
            for (gsize p = from; p < to; p++) {
                if (p < r.sel->n_positions)
                    bin.weight += w[p];
                guint key = r.spans[p].source;
                guint v = GPOINTER_TO_UINT(g_hash_table_lookup(votes, GUINT_TO_POINTER(key))) + 1;
                g_hash_table_insert(votes, GUINT_TO_POINTER(key), GUINT_TO_POINTER(v));
                if (v > best) { /* the source most of the bin's tokens come from */
                    best = v;
                    bin.source = key;
                    bin.page = r.spans[p].page;
                }
            }
            g_array_append_val(bins, bin);
        }
    }
    records_clear(&r);
    return bins;
}

void sl_inspection_free(SlInspection *in)
{
    if (!in)
        return;
    g_free(in->cells);
    g_free(in->distances);
    g_free(in);
}

SlInspection *sl_answer_inspect(SlLibrary *lib, gint64 answer_id, gboolean question, int token,
                                guint n_bins, GError **error)
{
    Records r = {0};
    if (!load_records(lib, answer_id, question, &r, error)) {
        records_clear(&r);
        return NULL;
    }
    const sl_selections *s = r.sel;
    SlInspection *in = g_new0(SlInspection, 1);
    in->n_layers = s->n_layers;
    in->n_positions = s->n_positions;
    in->n_bins = (guint)MIN((gsize)MAX(n_bins, 1u), MAX(s->n_bins, 1));
    in->cells = g_new0(float, (gsize)in->n_layers * in->n_bins);
    for (int l = 0; l < s->n_layers; l++)
        for (gsize b = 0; b < s->n_bins; b++)
            in->cells[(gsize)l * in->n_bins + b * in->n_bins / s->n_bins] +=
                (float)s->bins[(gsize)l * s->n_bins + b];
    in->n_buckets = 32;
    in->distances = g_new0(guint64, in->n_buckets);
    for (gsize i = 0; i < s->n_records; i++) {
        if (token >= 0 && (gsize)token != i)
            continue;
        const sl_selection_record *rec = &s->records[i];
        for (int k = 0; k < rec->n_top; k++) {
            gint64 d = (gint64)rec->query_pos - rec->top_pos[k];
            if (d < 0)
                continue;
            guint bucket = (guint)g_bit_storage((gulong)d + 1) - 1;
            in->distances[MIN(bucket, in->n_buckets - 1)] += rec->top_votes[k];
        }
    }
    records_clear(&r);
    return in;
}
