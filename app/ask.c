/* ask.c: one question (or summary) from context to stored answer (see ask.h). */
#include "ask.h"

#include "library-private.h"
#include "looked.h"
#include "tokens-cache.h"

#include <string.h>

#define DEFAULT_ANSWER_TOKENS 512

void sl_ask_request_init(SlAskRequest *rq)
{
    memset(rq, 0, sizeof *rq);
    rq->kind = SL_CONTEXT_ASK;
    rq->answer_tokens = DEFAULT_ANSWER_TOKENS;
    rq->dsa = sl_dsa_default();
    rq->dsa.mode = SL_DSA_DENSE;
    rq->sampling = sl_sampling_default();
    rq->sampling.temperature = 0;
}

void sl_answer_free(SlAnswer *a)
{
    if (!a)
        return;
    g_free(a->text);
    if (a->citations)
        g_array_unref(a->citations);
    if (a->sources)
        g_ptr_array_unref(a->sources);
    if (a->looked)
        g_ptr_array_unref(a->looked);
    if (a->token_offsets)
        g_array_unref(a->token_offsets);
    g_free(a->left_out);
    g_free(a);
}

/* ---------------------------------------------------------------- events */

typedef struct {
    SlWorkerJob *job;
    const SlAskCallbacks *cb;
    GCancellable *cancellable;
    gint64 started, last_stage;
} Run;

typedef struct {
    SlAskCallbacks cb; /* a copy: the event may run after the job's data is gone */
    char *stage, *text;
    gsize done, total;
} Event;

static gboolean event_run(gpointer data)
{
    Event *e = data;
    if (e->stage && e->cb.stage)
        e->cb.stage(e->stage, e->done, e->total, e->cb.user_data);
    if (e->text && e->cb.text)
        e->cb.text(e->text, e->cb.user_data);
    return G_SOURCE_REMOVE;
}

static void event_free(gpointer data)
{
    Event *e = data;
    g_free(e->stage);
    g_free(e->text);
    g_free(e);
}

static void emit(Run *r, const char *stage, gsize done, gsize total, const char *text)
{
    if (!r->cb)
        return;
    Event *e = g_new0(Event, 1);
    *e = (Event){*r->cb, g_strdup(stage), g_strdup(text), done, total};
    if (r->job)
        sl_worker_job_emit(r->job, event_run, e, event_free);
    else {
        event_run(e);
        event_free(e);
    }
}

/* Prefill progress: events at most every 100 ms, and a stop once cancelled. */
static bool on_prefill(void *data, size_t done, size_t total)
{
    Run *r = data;
    gint64 now = g_get_monotonic_time();
    if (done == total || now - r->last_stage > 100000) {
        r->last_stage = now;
        emit(r, "prefill", done, total, NULL);
    }
    return !g_cancellable_is_cancelled(r->cancellable);
}

static double ms_since(gint64 t0)
{
    return (double)(g_get_monotonic_time() - t0) / 1000.0;
}

/* ---------------------------------------------------------------- generation */

typedef struct {
    GString *text;
    GArray *tokens;            /* gint32, end of turn excluded */
    GArray *offsets;           /* guint32: where each token's text starts */
    GBytes *question_selections, *answer_selections;
    double prefill_ms, first_token_ms, decode_ms;
} Generation;

static void generation_clear(Generation *g)
{
    if (g->text)
        g_string_free(g->text, TRUE);
    if (g->tokens)
        g_array_unref(g->tokens);
    if (g->offsets)
        g_array_unref(g->offsets);
    g_clear_pointer(&g->question_selections, g_bytes_unref);
    g_clear_pointer(&g->answer_selections, g_bytes_unref);
}

static GBytes *encode_view(const sl_selection_view *v, GError **error)
{
    uint8_t *data = NULL;
    size_t len = 0;
    sl_error err = {0};
    if (sl_selections_encode(v, &data, &len, &err) != SL_OK) {
        sl_set_engine_error(error, &err);
        return NULL;
    }
    GBytes *b = g_bytes_new(data, len);
    free(data);
    return b;
}

/* The answer's own selections: counts less those of the question, answer records only. */
static GBytes *answer_view(const sl_selection_view *v, const guint32 *question_counts,
                           gsize q_positions, gsize q_stride, GError **error)
{
    sl_selection_view a = *v;
    g_autofree uint32_t *counts = g_new(uint32_t, (gsize)v->n_layers * v->stride + 1);
    for (int l = 0; l < v->n_layers; l++)
        for (gsize p = 0; p < v->n_positions; p++) {
            guint32 before = p < q_positions ? question_counts[(gsize)l * q_stride + p] : 0;
            counts[(gsize)l * v->stride + p] = v->counts[(gsize)l * v->stride + p] - before;
        }
    g_autofree sl_selection_record *records = g_new(sl_selection_record, v->n_records + 1);
    gsize n = 0;
    for (gsize i = 0; i < v->n_records; i++)
        if (v->records[i].answer)
            records[n++] = v->records[i];
    a.counts = counts;
    a.records = records;
    a.n_records = n;
    return encode_view(&a, error);
}

static gboolean engine_failed(sl_status st, const sl_error *err, Run *r, GError **error)
{
    if (st == SL_OK)
        return FALSE;
    if (st == SL_ERR_CANCELLED || g_cancellable_is_cancelled(r->cancellable))
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled; nothing was stored");
    else
        sl_set_engine_error(error, err);
    return TRUE;
}

/* Emits the part of text from *sent on that is whole UTF-8. */
static void stream_text(Run *r, const GString *text, gsize *sent)
{
    const char *end;
    g_utf8_validate_len(text->str + *sent, text->len - *sent, &end);
    gsize upto = (gsize)(end - text->str);
    if (upto > *sent) {
        g_autofree char *piece = g_strndup(text->str + *sent, upto - *sent);
        emit(r, NULL, 0, 0, piece);
        *sent = upto;
    }
}

static gboolean decode(sl_engine *engine, sl_session *s, const SlAskRequest *rq, Run *r,
                       Generation *g, gboolean stream, GError **error)
{
    int max = rq->answer_tokens > 0 ? rq->answer_tokens : DEFAULT_ANSWER_TOKENS;
    gint64 t0 = g_get_monotonic_time();
    gsize sent = 0;
    for (int n = 0; n < max; n++) {
        if (g_cancellable_set_error_if_cancelled(r->cancellable, error)) {
            g_prefix_error(error, "answer not finished: ");
            return FALSE;
        }
        int32_t id;
        sl_error err = {0};
        if (engine_failed(sl_session_next(s, &rq->sampling, &id, &err), &err, r, error))
            return FALSE;
        if (n == 0)
            g->first_token_ms = ms_since(r->started);
        if (sl_token_ends_turn(engine, id))
            break;
        g_array_append_val(g->tokens, id);
        guint32 at = (guint32)g->text->len;
        g_array_append_val(g->offsets, at);
        if (sl_token_is_special(engine, id))
            continue;
        size_t len;
        const char *piece = sl_token_piece(engine, id, &len);
        g_string_append_len(g->text, piece, (gssize)len);
        if (stream)
            stream_text(r, g->text, &sent);
    }
    g->decode_ms = ms_since(t0);
    return TRUE;
}

/* Prefills ids and generates an answer; with DSA, records the selections of both. */
static gboolean generate(sl_engine *engine, const SlAskRequest *rq, const GArray *ids, Run *r,
                         Generation *g, gboolean stream, GError **error)
{
    g->text = g_string_new(NULL);
    g->tokens = g_array_new(FALSE, FALSE, sizeof(gint32));
    g->offsets = g_array_new(FALSE, FALSE, sizeof(guint32));
    int max = rq->answer_tokens > 0 ? rq->answer_tokens : DEFAULT_ANSWER_TOKENS;
    sl_session *s = NULL;
    sl_error err = {0};
    if (engine_failed(sl_session_new(engine, ids->len + (gsize)max, &s, &err), &err, r, error))
        return FALSE;
    /* set even for dense: a model with an indexer of its own (DeepSeek-V3.2)
     * starts its sessions selecting, and dense must mean dense */
    gboolean dsa = rq->dsa.mode != SL_DSA_DENSE, ok = TRUE;
    if (engine_failed(sl_session_set_dsa(s, &rq->dsa, &err), &err, r, error))
        ok = FALSE;
    if (r->job)
        sl_worker_job_watch_session(r->job, s);
    gint64 t0 = g_get_monotonic_time();
    sl_progress progress = {on_prefill, r};
    ok = ok && !engine_failed(sl_session_prefill(s, (const int32_t *)ids->data, ids->len,
                                                 &progress, &err), &err, r, error);
    g->prefill_ms = ms_since(t0);
    g_autofree guint32 *q_counts = NULL;
    gsize q_positions = 0, q_stride = 0;
    sl_selection_view v;
    if (ok && dsa && !engine_failed(sl_session_selections(s, &v, &err), &err, r, error)) {
        q_positions = v.n_positions;
        q_stride = v.stride;
        q_counts = g_memdup2(v.counts, (gsize)v.n_layers * v.stride * sizeof(guint32));
        ok = (g->question_selections = encode_view(&v, error)) != NULL;
    } else if (dsa)
        ok = FALSE;
    if (ok)
        emit(r, "answer", 0, (gsize)max, NULL);
    ok = ok && decode(engine, s, rq, r, g, stream, error);
    if (ok && dsa && !engine_failed(sl_session_selections(s, &v, &err), &err, r, error))
        ok = (g->answer_selections = answer_view(&v, q_counts, q_positions, q_stride, error)) != NULL;
    else if (ok && dsa)
        ok = FALSE;
    if (r->job)
        sl_worker_job_watch_session(r->job, NULL);
    sl_session_free(s);
    return ok;
}

/* ---------------------------------------------------------------- storing */

static const char *dsa_mode_name(sl_dsa_mode m)
{
    return m == SL_DSA_INDEXER ? "indexer" : m == SL_DSA_ORACLE ? "oracle" : "dense";
}

typedef struct {
    const SlAskRequest *rq;
    const SlContext *ctx;
    const Generation *gen;
    const char *model;
    const char *tokenizer;
    double context_ms;
} Record;

static gboolean insert_conversation(SlLibrary *lib, const char *question, gint64 *id,
                                    GError **error)
{
    sqlite3_stmt *st = sl_library_prepare(lib, "INSERT INTO conversations (title, created_at) "
                                               "VALUES (?1, ?2)", error);
    if (!st)
        return FALSE;
    g_autofree char *title = g_utf8_substring(question, 0, MIN(g_utf8_strlen(question, -1), 80));
    sqlite3_bind_text(st, 1, title, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, g_get_real_time());
    gboolean ok = sl_library_step(lib, st, "storing the conversation", error);
    sqlite3_finalize(st);
    *id = sqlite3_last_insert_rowid(sl_library_db(lib));
    return ok;
}

static gboolean insert_answer(SlLibrary *lib, const Record *rec, gint64 conversation, gint64 *id,
                              GError **error)
{
    sqlite3_stmt *st = sl_library_prepare(
        lib,
        "INSERT INTO answers (conversation_id, kind, question, answer, answer_tokens, model, "
        "tokenizer, dsa_mode, top_k, budget, context_tokens, left_out, prefill_ms, "
        "first_token_ms, decode_ms, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
        "?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        error);
    if (!st)
        return FALSE;
    const SlAskRequest *rq = rec->rq;
    sqlite3_bind_int64(st, 1, conversation);
    sqlite3_bind_text(st, 2, rq->kind == SL_CONTEXT_ASK ? "ask" : "summary", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rq->question ? rq->question : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, rec->gen->text->str, (int)rec->gen->text->len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, rec->gen->tokens->data, (int)(rec->gen->tokens->len * 4), SQLITE_STATIC);
    sqlite3_bind_text(st, 6, rec->model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, rec->tokenizer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, dsa_mode_name(rq->dsa.mode), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 9, rq->dsa.mode == SL_DSA_DENSE ? 0 : rq->dsa.top_k);
    sqlite3_bind_int(st, 10, rec->ctx->budget);
    sqlite3_bind_int64(st, 11, (gint64)rec->ctx->ids->len);
    if (rec->ctx->left_out)
        sqlite3_bind_text(st, 12, rec->ctx->left_out, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 13, rec->gen->prefill_ms);
    sqlite3_bind_double(st, 14, rec->gen->first_token_ms);
    sqlite3_bind_double(st, 15, rec->gen->decode_ms);
    sqlite3_bind_int64(st, 16, g_get_real_time());
    gboolean ok = sl_library_step(lib, st, "storing the answer", error);
    sqlite3_finalize(st);
    *id = sqlite3_last_insert_rowid(sl_library_db(lib));
    return ok;
}

static gboolean insert_sources_and_records(SlLibrary *lib, const Record *rec, gint64 answer,
                                           GError **error)
{
    sqlite3_stmt *st = sl_library_prepare(lib, "INSERT INTO answer_sources (answer_id, number, "
                                               "document_id, title, included) VALUES (?1, ?2, "
                                               "?3, ?4, ?5)", error);
    gboolean ok = st != NULL;
    for (guint i = 0; ok && i < rec->ctx->sources->len; i++) {
        const SlContextSource *s = rec->ctx->sources->pdata[i];
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, answer);
        sqlite3_bind_int(st, 2, s->number);
        sqlite3_bind_int64(st, 3, s->document_id);
        sqlite3_bind_text(st, 4, s->title, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, s->included, -1, SQLITE_STATIC);
        ok = sl_library_step(lib, st, "storing the sources", error);
    }
    if (st)
        sqlite3_finalize(st);
    g_autoptr(GBytes) spans = sl_span_map_encode((const SlSpan *)rec->ctx->spans->data,
                                                 rec->ctx->spans->len);
    st = ok ? sl_library_prepare(lib, "INSERT INTO answer_records (answer_id, span_map, "
                                      "question_selections, answer_selections) VALUES (?1, ?2, "
                                      "?3, ?4)", error)
            : NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, answer);
        sl_library_bind_bytes(st, 2, spans);
        sl_library_bind_bytes(st, 3, rec->gen->question_selections);
        sl_library_bind_bytes(st, 4, rec->gen->answer_selections);
        ok = sl_library_step(lib, st, "storing the answer's records", error);
        sqlite3_finalize(st);
    }
    return ok && st;
}

/* Everything in one transaction: the answer is stored whole or not at all. */
static gboolean store(SlLibrary *lib, const Record *rec, gint64 *conversation, gint64 *answer,
                      GError **error)
{
    sl_library_lock(lib);
    gboolean ok = sl_library_exec(lib, "BEGIN IMMEDIATE", "storing the answer", error);
    gboolean new_conversation = *conversation == 0;
    if (ok && new_conversation)
        ok = insert_conversation(lib, rec->rq->question && *rec->rq->question
                                          ? rec->rq->question : "Summary", conversation, error);
    ok = ok && insert_answer(lib, rec, *conversation, answer, error) &&
         insert_sources_and_records(lib, rec, *answer, error) &&
         sl_library_exec(lib, "COMMIT", "storing the answer", error);
    if (!ok) {
        sl_library_rollback(lib);
        if (new_conversation)
            *conversation = 0;
    }
    sl_library_unlock(lib);
    return ok;
}

/* ---------------------------------------------------------------- the job */

static SlContext *build(SlLibrary *lib, sl_engine *engine, const SlAskRequest *rq,
                        SlContextKind kind, const SlContextPart *parts, guint n,
                        const char *extra, Run *r, GError **error)
{
    emit(r, "context", 0, 1, NULL);
    SlContextRequest crq = {kind, parts, n, rq->question, extra, rq->budget,
                            rq->answer_tokens > 0 ? rq->answer_tokens : DEFAULT_ANSWER_TOKENS};
    return sl_context_build(lib, engine, &crq, r->cancellable, error);
}

/* Parts of the documents, each small enough to be summarised on its own: whole documents,
 * or runs of PDF pages whose tokens stay under room. */
static GArray *summary_parts(SlLibrary *lib, sl_engine *engine, const SlAskRequest *rq, gsize room,
                             GCancellable *cancellable, GError **error)
{
    GArray *parts = g_array_new(FALSE, FALSE, sizeof(SlContextPart));
    for (guint i = 0; i < rq->n_documents; i++) {
        g_autoptr(GPtrArray) pages = sl_tokens_cache_document(lib, engine, rq->documents[i], NULL,
                                                              cancellable, error);
        if (!pages) {
            g_array_unref(parts);
            return NULL;
        }
        SlContextPart part = {rq->documents[i], 0, 0, (int)i + 1};
        gsize used = 0;
        for (guint k = 0; k < pages->len; k++) {
            const SlPageTokens *pt = pages->pdata[k];
            gsize cost = pt->n + 16; /* the page marker and a margin for line numbers */
            if (part.first_page && used + cost > room) {
                g_array_append_val(parts, part);
                part.first_page = 0;
                used = 0;
            }
            if (!part.first_page)
                part.first_page = pt->page;
            part.last_page = pt->page;
            used += cost;
        }
        if (part.first_page || pages->len == 0)
            g_array_append_val(parts, part);
    }
    return parts;
}

/* "Part 2: [1] R-intro.pdf, pp. 41-80" and its summary. */
static void add_partial(GString *all, guint i, const SlContext *ctx, const SlContextPart *part,
                        const char *summary)
{
    const SlContextSource *s = ctx->sources->pdata[0];
    g_string_append_printf(all, "Part %u: [%d] %s", i + 1, s->number, s->title);
    if (part->first_page && strcmp(s->kind, "pdf") == 0)
        g_string_append_printf(all, ", pp. %d-%d", part->first_page, part->last_page);
    g_string_append_printf(all, "\n%s\n\n", summary);
}

/* A summary of documents larger than the budget: each part summarised, then the partial
 * summaries merged. Returns the merge's context; *text_left_out: what the parts left out. */
static SlContext *summarise_parts(SlLibrary *lib, sl_engine *engine, const SlAskRequest *rq, Run *r,
                                  gsize room, Generation *final, char **text_left_out,
                                  GError **error)
{
    g_autoptr(GArray) parts = summary_parts(lib, engine, rq, room, r->cancellable, error);
    if (!parts)
        return NULL;
    if (parts->len == 1) { /* one document of one page: its best passages, no merge */
        SlContext *ctx = build(lib, engine, rq, SL_CONTEXT_SUMMARY, &g_array_index(parts, SlContextPart, 0),
                               1, NULL, r, error);
        if (ctx && !generate(engine, rq, ctx->ids, r, final, TRUE, error))
            g_clear_pointer(&ctx, sl_context_free);
        *text_left_out = ctx ? g_strdup(ctx->left_out) : NULL;
        return ctx;
    }
    GString *all = g_string_new(NULL), *left = g_string_new(NULL);
    gboolean ok = TRUE;
    for (guint i = 0; ok && i < parts->len; i++) {
        g_autofree char *stage = g_strdup_printf("part %u of %u", i + 1, parts->len);
        emit(r, stage, i, parts->len, NULL);
        const SlContextPart *part = &g_array_index(parts, SlContextPart, i);
        g_autoptr(SlContext) ctx = build(lib, engine, rq, SL_CONTEXT_SUMMARY, part, 1, NULL, r, error);
        Generation g = {0};
        ok = ctx && generate(engine, rq, ctx->ids, r, &g, FALSE, error);
        if (ok)
            add_partial(all, i, ctx, part, g.text->str);
        if (ok && ctx->left_out)
            g_string_append_printf(left, "%s%s", left->len ? "; " : "", ctx->left_out);
        generation_clear(&g);
    }
    g_autofree SlContextPart *whole = g_new0(SlContextPart, rq->n_documents + 1);
    for (guint i = 0; i < rq->n_documents; i++)
        whole[i] = (SlContextPart){rq->documents[i], 0, 0, (int)i + 1};
    SlContext *merged = ok ? build(lib, engine, rq, SL_CONTEXT_MERGE, whole, rq->n_documents,
                                   all->str, r, error)
                           : NULL;
    ok = merged && generate(engine, rq, merged->ids, r, final, TRUE, error);
    g_string_free(all, TRUE);
    *text_left_out = left->len ? g_string_free(left, FALSE) : (g_string_free(left, TRUE), NULL);
    if (!ok)
        g_clear_pointer(&merged, sl_context_free);
    return merged;
}

/* The context's sources as the citation checker sees them; *owned keeps what they point at. */
static SlSource *citation_sources(const SlContext *ctx)
{
    SlSource *out = g_new0(SlSource, ctx->sources->len + 1);
    for (guint i = 0; i < ctx->sources->len; i++) {
        const SlContextSource *s = ctx->sources->pdata[i];
        out[i] = (SlSource){s->number, s->document_id, s->kind, s->n_pages, s->n_lines,
                            (const int *)(void *)s->pages_in->data, s->pages_in->len,
                            (const int *)(void *)s->line_ranges_in->data,
                            s->line_ranges_in->len / 2};
        if (strcmp(s->kind, "pdf") != 0) {
            out[i].pages_in_context = NULL;
            out[i].n_pages_in_context = 0;
        }
        if (!s->n_lines) {
            out[i].line_ranges_in_context = NULL;
            out[i].n_line_ranges = 0;
        }
    }
    return out;
}

static SlAnswer *make_answer(SlContext *ctx, Generation *g, const Record *rec, gint64 answer,
                             gint64 conversation, gboolean cached, char *left_out)
{
    SlAnswer *a = g_new0(SlAnswer, 1);
    a->answer_id = answer;
    a->conversation_id = conversation;
    a->text = g_strdup(g->text->str);
    g_autofree SlSource *sources = citation_sources(ctx);
    a->citations = sl_citations_parse(a->text, sources, ctx->sources->len);
    a->sources = g_ptr_array_ref(ctx->sources);
    a->left_out = left_out;
    a->context_tokens = ctx->ids->len;
    a->answer_tokens = g->tokens->len;
    a->token_offsets = g_array_ref(g->offsets);
    a->budget = ctx->budget;
    a->tokens_cached = cached;
    a->context_ms = rec->context_ms;
    a->prefill_ms = g->prefill_ms;
    a->first_token_ms = g->first_token_ms;
    a->decode_ms = g->decode_ms;
    return a;
}

SlAnswer *sl_ask_run(SlLibrary *lib, sl_engine *engine, const SlAskRequest *rq,
                     SlWorkerJob *job, const SlAskCallbacks *callbacks,
                     GCancellable *cancellable, GError **error)
{
    Run r = {job, callbacks, cancellable, g_get_monotonic_time(), 0};
    if (rq->n_documents == 0) {
        g_set_error(error, SL_LIBRARY_ERROR, SL_LIBRARY_ERROR_INVALID, "no documents to ask about");
        return NULL;
    }
    g_autofree SlContextPart *parts = g_new0(SlContextPart, rq->n_documents);
    for (guint i = 0; i < rq->n_documents; i++)
        parts[i] = (SlContextPart){rq->documents[i], 0, 0, (int)i + 1};
    SlContext *ctx = build(lib, engine, rq, rq->kind, parts, rq->n_documents, NULL, &r, error);
    double context_ms = ms_since(r.started);
    Generation g = {0};
    char *left_out = NULL;
    gboolean ok = ctx != NULL;
    gboolean cached = ok && ctx->tokens_cached; /* before a long summary replaces ctx */
    if (ok && rq->kind == SL_CONTEXT_SUMMARY && !ctx->whole) {
        gsize room = (gsize)(ctx->budget - ctx->answer_tokens) * 3 / 4;
        g_clear_pointer(&ctx, sl_context_free);
        ok = (ctx = summarise_parts(lib, engine, rq, &r, room, &g, &left_out, error)) != NULL;
    } else if (ok) {
        left_out = g_strdup(ctx->left_out);
        ok = generate(engine, rq, ctx->ids, &r, &g, TRUE, error);
    }
    const sl_model_info *info = sl_engine_model(engine);
    Record rec = {rq, ctx, &g, info->name && *info->name ? info->name : info->architecture,
                  sl_tokenizer_id(engine), context_ms};
    gint64 conversation = rq->conversation_id, answer = 0;
    if (ok && g_cancellable_set_error_if_cancelled(cancellable, error))
        ok = FALSE; /* a cancel that came after the last token still stores nothing */
    ok = ok && store(lib, &rec, &conversation, &answer, error);
    SlAnswer *a = ok ? make_answer(ctx, &g, &rec, answer, conversation, cached, left_out) : NULL;
    if (a && rq->dsa.mode != SL_DSA_DENSE) {
        SlLookedQuery q = {FALSE, -1, -1, -1};
        a->looked = sl_answer_looked(lib, answer, &q, 8, NULL);
    }
    if (a && !a->looked)
        a->looked = g_ptr_array_new_with_free_func((GDestroyNotify)sl_looked_passage_free);
    if (!ok)
        g_free(left_out);
    generation_clear(&g);
    sl_context_free(ctx);
    return a;
}

/* ---------------------------------------------------------------- on the worker */

typedef struct {
    SlLibrary *lib;
    SlAskRequest rq;
    GArray *documents;
    char *question;
    SlAskCallbacks callbacks;
} Job;

static void job_free(gpointer data)
{
    Job *j = data;
    g_array_unref(j->documents);
    g_free(j->question);
    g_free(j);
}

static gpointer job_run(SlWorkerJob *job, sl_engine *engine, gpointer data,
                        GCancellable *cancellable, GError **error)
{
    Job *j = data;
    return sl_ask_run(j->lib, engine, &j->rq, job, &j->callbacks, cancellable, error);
}

void sl_ask_async(SlWorker *worker, SlLibrary *lib, const SlAskRequest *rq,
                  const SlAskCallbacks *callbacks, GCancellable *cancellable,
                  GAsyncReadyCallback done, gpointer user_data)
{
    Job *j = g_new0(Job, 1);
    j->lib = lib;
    j->rq = *rq;
    j->documents = g_array_new(FALSE, FALSE, sizeof(gint64));
    g_array_append_vals(j->documents, rq->documents, rq->n_documents);
    j->rq.documents = (const gint64 *)(void *)j->documents->data;
    j->question = g_strdup(rq->question);
    j->rq.question = j->question;
    if (callbacks)
        j->callbacks = *callbacks;
    sl_worker_run_async(worker, job_run, j, job_free, (GDestroyNotify)sl_answer_free, cancellable,
                        done, user_data);
}

SlAnswer *sl_ask_finish(SlWorker *worker, GAsyncResult *result, GError **error)
{
    return sl_worker_run_finish(worker, result, error);
}
