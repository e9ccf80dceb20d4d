/* library-sidebar.h: SlLibrarySidebar, the documents of the library: filter and full-text
 * search, collections,
 * state of each document, adding (with progress and cancel) and removing. */
#ifndef SL_LIBRARY_SIDEBAR_H
#define SL_LIBRARY_SIDEBAR_H

#include "library.h"

#include <adwaita.h>

G_BEGIN_DECLS

#define SL_TYPE_LIBRARY_SIDEBAR (sl_library_sidebar_get_type())
G_DECLARE_FINAL_TYPE(SlLibrarySidebar, sl_library_sidebar, SL, LIBRARY_SIDEBAR, GtkWidget)

void sl_library_sidebar_set_library(SlLibrarySidebar *self, SlLibrary *lib);
/* Reads the documents and collections again. */
void sl_library_sidebar_reload(SlLibrarySidebar *self);
/* Adds files and folders in the background; "ingest-finished" tells how it went. */
void sl_library_sidebar_add_files(SlLibrarySidebar *self, GFile **files, guint n);
/* The same into a collection (created if needed), which the list then shows. */
void sl_library_sidebar_add_files_to(SlLibrarySidebar *self, GFile **files, guint n,
                                     const char *collection);
/* Cancels an add that runs; TRUE when one did. */
gboolean sl_library_sidebar_cancel_add(SlLibrarySidebar *self);
gboolean sl_library_sidebar_is_adding(SlLibrarySidebar *self);
/* The ids of the selected documents (GArray of gint64). */
GArray *sl_library_sidebar_get_selected(SlLibrarySidebar *self);
/* The ids of the documents shown (the collection's, or all). */
GArray *sl_library_sidebar_get_shown(SlLibrarySidebar *self);
/* The collection chosen, or NULL for all documents. */
const char *sl_library_sidebar_get_collection(SlLibrarySidebar *self);
/* Selects the document with this id, if shown. */
void sl_library_sidebar_select(SlLibrarySidebar *self, gint64 id);
guint sl_library_sidebar_get_n_documents(SlLibrarySidebar *self);
/* Filters the documents by title and lists the passages that hold the words, as typing in
 * the search entry does; the passages found. */
void sl_library_sidebar_search(SlLibrarySidebar *self, const char *query);
guint sl_library_sidebar_get_n_hits(SlLibrarySidebar *self);

G_END_DECLS

#endif
