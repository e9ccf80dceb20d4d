/* history.h: the stored questions and answers read back (tables answers, answer_sources,
 * answer_records of schema-3.sql). All calls are thread-safe (they serialise on the library). */
#ifndef SL_HISTORY_H
#define SL_HISTORY_H

#include "library.h"

#include "sightline-engine.h"

G_BEGIN_DECLS

typedef struct {
    gint64 id, conversation_id;
    char *kind;          /* "ask" or "summary" */
    char *question;
    char *answer;
    char *model;
    char *dsa_mode;      /* "dense", "oracle" or "indexer" */
    int top_k;           /* 0 for dense */
    int budget;
    int context_tokens;
    char *left_out;      /* NULL when nothing was left out */
    double prefill_ms, first_token_ms, decode_ms;
    gint64 created_at;   /* microseconds since the epoch */
    int answer_tokens;   /* tokens of the answer (end of turn excluded) */
} SlAnswerRow;

void sl_answer_row_free(SlAnswerRow *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SlAnswerRow, sl_answer_row_free)

/* Answers, newest first, of one conversation (0: all), at most limit (<= 0: all). */
GPtrArray *sl_library_answers(SlLibrary *lib, gint64 conversation, int limit, GError **error);
/* One answer; SL_LIBRARY_ERROR_NOT_FOUND naming the id when there is none. */
SlAnswerRow *sl_library_answer(SlLibrary *lib, gint64 id, GError **error);

typedef struct {
    int number;          /* 1-based, as the model saw it */
    gint64 document_id;  /* 0 when the document was removed since */
    char *title;
    char *included;      /* pages or lines given, for people */
} SlAnswerSource;

void sl_answer_source_free(SlAnswerSource *s);

/* The sources numbered in an answer's context, by number (empty for an unknown answer). */
GPtrArray *sl_library_answer_sources(SlLibrary *lib, gint64 answer_id, GError **error);

/* Bytes of the stored records of an answer: the span map, the question's and the answer's
 * selections (0 for a dense answer). SL_LIBRARY_ERROR_NOT_FOUND when it has none. */
gboolean sl_library_answer_record_sizes(SlLibrary *lib, gint64 answer_id, gsize *span_map,
                                        gsize *question, gsize *answer, GError **error);

/* Where each token of a stored answer starts in its text (guint32 bytes, as SlAnswer's
 * token_offsets are for a fresh answer): its stored token ids read again with the engine's
 * tokenizer, which must be the one that wrote it (the tokenizer ids match). Special tokens
 * take no text, as when the answer was written. Errors: SL_LIBRARY_ERROR_NOT_FOUND for no
 * such answer; G_IO_ERROR_NOT_SUPPORTED when the tokenizers differ; G_IO_ERROR_INVALID_DATA
 * when the tokens' text is not the stored text (a damaged or edited answer). The engine is
 * only read: call it on the engine's worker. */
GArray *sl_answer_token_offsets(SlLibrary *lib, const sl_engine *engine, gint64 answer_id,
                                GError **error);

/* Bytes start to end of a page's text on one line (whitespace runs made one space, ends
 * trimmed), cut after max_chars characters (> 0) with "…"; end 0: to the end of the
 * page. Offsets inside a character are moved to its start. NULL when the page is not in the
 * library (or the database fails). */
char *sl_library_page_excerpt(SlLibrary *lib, gint64 document_id, int page, gsize start,
                              gsize end, int max_chars);

G_END_DECLS

#endif
