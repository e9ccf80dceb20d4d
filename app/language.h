/* language.h: how a file is read, and the language of a source file (from its name, its
 * extension or its shebang line), as GtkSourceView's language id. */
#ifndef SL_LANGUAGE_H
#define SL_LANGUAGE_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
    SL_FILE_TEXT,     /* plain text, or a file of no known kind */
    SL_FILE_MARKDOWN, /* *.md, *.markdown */
    SL_FILE_CODE,     /* a source file of a known language */
    SL_FILE_PDF,      /* *.pdf */
} SlFileKind;

/* path: its name is what counts; head: the file's first bytes (a shebang), or NULL.
 * *language: the language id for code and Markdown, else NULL (static strings). */
SlFileKind sl_file_kind(const char *path, const char *head, gsize head_len, const char **language);

G_END_DECLS

#endif
