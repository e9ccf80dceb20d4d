/* document-view.h: SlDocumentView, one document of the library shown as it is: PDF pages
 * (zoom, page navigation, find), source files and text; with the heat of where the model
 * looked for an answer, and a passage or lines highlighted when a citation is followed. */
#ifndef SL_DOCUMENT_VIEW_H
#define SL_DOCUMENT_VIEW_H

#include "library.h"

#include <adwaita.h>

G_BEGIN_DECLS

#define SL_TYPE_DOCUMENT_VIEW (sl_document_view_get_type())
G_DECLARE_FINAL_TYPE(SlDocumentView, sl_document_view, SL, DOCUMENT_VIEW, GtkWidget)

void sl_document_view_set_library(SlDocumentView *self, SlLibrary *lib);
/* Shows a document (0: none); FALSE with an error when it cannot be shown. */
gboolean sl_document_view_show(SlDocumentView *self, gint64 id, GError **error);
gint64 sl_document_view_get_document(SlDocumentView *self);
void sl_document_view_show_page(SlDocumentView *self, int page);
int sl_document_view_get_page(SlDocumentView *self);
/* Highlights bytes [start, end) of a page's text (PDF) or lines first..last (code, text). */
void sl_document_view_highlight(SlDocumentView *self, int page, gsize start, gsize end,
                                int first_line, int last_line);
/* Heat for an answer (0: none) over the pages shown; log: logarithmic scale. */
void sl_document_view_set_answer(SlDocumentView *self, gint64 answer_id, gboolean log_scale);
/* Heat for one answer token (with its text, for the label), or -1 for the whole answer. */
void sl_document_view_set_token(SlDocumentView *self, int token, const char *text);
/* The model's layers, for the layer filter. */
void sl_document_view_set_n_layers(SlDocumentView *self, int n_layers);
/* Whether the heat of the page shown is still being read. */
gboolean sl_document_view_heat_pending(SlDocumentView *self);
/* The heat bar's words, and its layer choice (0: all, then runs of eight, then each layer). */
const char *sl_document_view_get_heat_description(SlDocumentView *self);
void sl_document_view_set_layers(SlDocumentView *self, guint choice);
/* For tests: characters (PDF) or lines (code) with heat on the page shown. */
gsize sl_document_view_get_n_hot(SlDocumentView *self);

G_END_DECLS

#endif
