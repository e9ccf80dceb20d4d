/* window.h: SlWindow, the main window: library sidebar, document view, conversation. */
#ifndef SL_WINDOW_H
#define SL_WINDOW_H

#include <adwaita.h>

G_BEGIN_DECLS

typedef struct _SlApplication SlApplication;
typedef struct _SlLibrarySidebar SlLibrarySidebar;
typedef struct _SlDocumentView SlDocumentView;
typedef struct _SlChatView SlChatView;

#define SL_TYPE_WINDOW (sl_window_get_type())
G_DECLARE_FINAL_TYPE(SlWindow, sl_window, SL, WINDOW, AdwApplicationWindow)

SlWindow *sl_window_new(SlApplication *app);
/* Adds files and folders to the library (as a drop does). */
void sl_window_add_files(SlWindow *self, GFile **files, guint n);
void sl_window_show_preferences(SlWindow *self);
void sl_window_toast(SlWindow *self, const char *text);
/* The parts, for tests. */
SlLibrarySidebar *sl_window_get_sidebar(SlWindow *self);
SlDocumentView *sl_window_get_document_view(SlWindow *self);
SlChatView *sl_window_get_chat_view(SlWindow *self);

G_END_DECLS

#endif
