/* chat-view.h: SlChatView, the conversation pane: the scope, a question, the answer as it
 * streams (with a stop button), its citations, what was left out, where the model looked,
 * the budget used, and earlier answers. */
#ifndef SL_CHAT_VIEW_H
#define SL_CHAT_VIEW_H

#include "engine-worker.h"
#include "library.h"

#include <adwaita.h>

G_BEGIN_DECLS

#define SL_TYPE_CHAT_VIEW (sl_chat_view_get_type())
G_DECLARE_FINAL_TYPE(SlChatView, sl_chat_view, SL, CHAT_VIEW, GtkWidget)

typedef enum {
    SL_SCOPE_DOCUMENT,   /* the document shown */
    SL_SCOPE_SELECTED,   /* the documents selected in the library */
    SL_SCOPE_COLLECTION, /* the documents of the collection shown */
    SL_SCOPE_ALL,
} SlScope;

void sl_chat_view_setup(SlChatView *self, SlLibrary *lib, SlWorker *worker, GSettings *settings);
/* The documents each scope means, kept up to date by the window. */
void sl_chat_view_set_scope_documents(SlChatView *self, SlScope scope, const GArray *ids);
/* Asks (or summarises, with question NULL) about the scope's documents. */
void sl_chat_view_ask(SlChatView *self, const char *question);
void sl_chat_view_stop(SlChatView *self);
void sl_chat_view_focus_question(SlChatView *self);
gboolean sl_chat_view_is_busy(SlChatView *self);
/* The last answer shown, or 0. */
gint64 sl_chat_view_get_answer(SlChatView *self);
/* Shows a stored answer. */
void sl_chat_view_show_answer(SlChatView *self, gint64 answer_id);
/* For tests: the citation buttons' labels, in order, and the looked-at rows shown. */
GPtrArray *sl_chat_view_get_citation_labels(SlChatView *self);
guint sl_chat_view_get_n_looked(SlChatView *self);
/* Bins of the context map shown (0 while it is read). */
guint sl_chat_view_get_n_map_bins(SlChatView *self);
const char *sl_chat_view_get_text(SlChatView *self);
/* The answer's tokens whose words a click finds (0 while not known: an earlier answer's are
 * read on the engine's thread after it is shown, and need the model that wrote it). */
guint sl_chat_view_get_n_words(SlChatView *self);
gboolean sl_chat_view_words_pending(SlChatView *self);
/* Marks answer token `token` and emits "token-activated", as a click on its word does. */
void sl_chat_view_activate_token(SlChatView *self, int token);
/* Activates the n-th citation button, as a click does. */
void sl_chat_view_activate_citation(SlChatView *self, guint n);

G_END_DECLS

#endif
