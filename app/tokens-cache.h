/* tokens-cache.h: the tokens of each page of a document, per tokenizer, computed once and
 * kept in the library (table token_cache), with the byte where each token starts. */
#ifndef SL_TOKENS_CACHE_H
#define SL_TOKENS_CACHE_H

#include "library.h"
#include "sightline-engine.h"

G_BEGIN_DECLS

typedef struct {
    int page;          /* 1-based */
    gint32 *ids;
    guint32 *offsets;  /* byte of the page's text where each token starts, ascending */
    gsize n;
    char *text;        /* the page's text (what offsets index) */
    gsize text_len;
} SlPageTokens;

void sl_page_tokens_free(SlPageTokens *t);

/* The tokens of every page of document doc under the engine's tokenizer, in page order (a
 * GPtrArray of SlPageTokens): from the cache, or tokenised now and stored (one transaction
 * per document). *cached (may be NULL): whether every page came from the cache. */
GPtrArray *sl_tokens_cache_document(SlLibrary *lib, const sl_engine *engine, gint64 doc,
                                    gboolean *cached, GCancellable *cancellable,
                                    GError **error);

/* Tokenises text without special tokens and finds where each token starts. Bytes the
 * vocabulary cannot encode are dropped by the tokenizer; the offsets skip them. */
gboolean sl_tokenize_with_offsets(const sl_engine *engine, const char *text, gsize len,
                                  SlPageTokens *out, GError **error);

G_END_DECLS

#endif
