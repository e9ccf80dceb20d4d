/* ask.h: asking and summarising over documents of the library, on the engine's thread.
 *
 * A job builds the context (context.h), prefills it, streams the answer, records what the
 * indexer selected for the question and for the answer, resolves the answer's citations and
 * stores everything with the answer in one transaction. Cancelled at any point (prefill
 * included), it stores nothing and leaves the engine ready for the next job.
 *
 * A summary of documents larger than the budget is made by parts (runs of PDF pages, each
 * summarised citing its pages), then the partial summaries are merged; the stored context
 * and selections are those of the merge, whose sources are the partial summaries' words. */
#ifndef SL_ASK_H
#define SL_ASK_H

#include "citations.h"
#include "context.h"
#include "engine-worker.h"

G_BEGIN_DECLS

typedef struct {
    SlContextKind kind;       /* SL_CONTEXT_ASK or SL_CONTEXT_SUMMARY */
    const gint64 *documents;  /* in the order to number them */
    guint n_documents;
    const char *question;     /* for a summary: extra wishes, or NULL */
    int budget;               /* context tokens, answer included; 0: the model's context */
    int answer_tokens;        /* the most the answer may take; 0: 512 */
    sl_dsa_options dsa;       /* mode SL_DSA_DENSE: no selections recorded */
    sl_sampling sampling;
    gint64 conversation_id;   /* 0: a new conversation */
} SlAskRequest;

/* Filled with the defaults: greedy sampling, dense attention, 512 answer tokens. */
void sl_ask_request_init(SlAskRequest *rq);

/* Events, in the caller's main context (or on the calling thread for sl_ask_run without a
 * job). stage: "context", "prefill", "answer", or "part 2 of 5" for long summaries. */
typedef struct {
    void (*stage)(const char *stage, gsize done, gsize total, gpointer user_data);
    void (*text)(const char *text, gpointer user_data); /* the answer as it streams */
    gpointer user_data;
} SlAskCallbacks;

typedef struct {
    gint64 answer_id, conversation_id;
    char *text;
    GArray *citations;        /* SlCitation */
    GPtrArray *sources;       /* SlContextSource * of the final context */
    char *left_out;           /* NULL when nothing was left out */
    gsize context_tokens, answer_tokens;
    int budget;
    gboolean tokens_cached;   /* every page's tokens came from the cache */
    GArray *token_offsets;    /* guint32: byte of text where each answer token starts (the
                                 answer's selection records are in this order) */
    GPtrArray *looked;        /* SlLookedPassage *: where the answer looked, heaviest first (at
                                 most 8; empty for dense attention), computed on the job's
                                 thread so that the window need not */
    double context_ms, prefill_ms, first_token_ms, decode_ms; /* first_token_ms: from the start */
} SlAnswer;

void sl_answer_free(SlAnswer *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SlAnswer, sl_answer_free)

/* Runs the whole job on the calling thread with engine (the worker's, or one of the
 * caller's own). job: the worker job it runs in, for events and cancel; NULL to call the
 * callbacks directly. */
SlAnswer *sl_ask_run(SlLibrary *lib, sl_engine *engine, const SlAskRequest *rq,
                     SlWorkerJob *job, const SlAskCallbacks *callbacks,
                     GCancellable *cancellable, GError **error);

/* The same as a job of the worker; rq and callbacks are copied. lib must stay open. */
void sl_ask_async(SlWorker *worker, SlLibrary *lib, const SlAskRequest *rq,
                  const SlAskCallbacks *callbacks, GCancellable *cancellable,
                  GAsyncReadyCallback done, gpointer user_data);
SlAnswer *sl_ask_finish(SlWorker *worker, GAsyncResult *result, GError **error);

G_END_DECLS

#endif
