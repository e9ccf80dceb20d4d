/* ingest.h: reading files into the library, on worker threads, with progress and cancel. */
#ifndef SL_INGEST_H
#define SL_INGEST_H

#include "library.h"

G_BEGIN_DECLS

/* Files larger than this are refused (text; PDFs and trees get their own limits). */
#define SL_INGEST_MAX_TEXT_BYTES (64 * 1024 * 1024)
/* Passages are cut at paragraph or heading boundaries, at most this many bytes. */
#define SL_PASSAGE_MAX_BYTES 2048

/* ingest-text.c: a plain-text or Markdown file, already read. Invalid UTF-8 (and NUL bytes)
 * become U+FFFD in the text, the original bytes are kept and a warning says how many bytes
 * were replaced. markdown: headings start passages and give the title. */
SlParsed *sl_ingest_text_parse(const char *path, GBytes *contents, gboolean markdown);
/* Cuts a page's text into passages (appended to p->passages). */
void sl_ingest_split_passages(SlParsed *p, int page, const char *text, gsize len, gboolean markdown);
/* Where a passage starting at s should end, at most max bytes on and not after e: after the
 * last newline, else after the last space, else at the last character boundary. */
gsize sl_ingest_cut_point(const char *text, gsize s, gsize e, gsize max);
/* The valid UTF-8 text of contents, its length in *len. When bytes had to be replaced, the
 * original is kept in p->original and p->warning says so. */
char *sl_ingest_text_of(SlParsed *p, GBytes *contents, gsize *len);

/* ingest-code.c: a source file, already read: one page with its line offsets (u32 LE, the
 * byte where each line of the stored text starts), passages cut between top-level blocks. */
SlParsed *sl_ingest_code_parse(const char *path, GBytes *contents, const char *language);

/* Files larger than this are refused (PDF). */
#define SL_INGEST_MAX_PDF_BYTES (G_GINT64_CONSTANT(1024) * 1024 * 1024)

/* ingest-pdf.c: a PDF file, already read; password may be NULL; pages_read (may be NULL) is
 * incremented atomically after each page, for progress; cancellable stops between pages. An encrypted PDF without
 * its password (or with a wrong one) gives a document with status "needs_password", one
 * without text on any page status "no_text_layer". NULL with an error naming the file when
 * the file is corrupt or truncated. */
SlParsed *sl_ingest_pdf_parse(const char *path, GBytes *contents, const char *password,
                              gint *pages_read, GCancellable *cancellable, GError **error);

/* Reads and parses one file (path made absolute), by kind. Errors name the file. */
SlParsed *sl_ingest_parse_file(const char *path, GCancellable *cancellable, GError **error);

/* Files in a folder larger than this are skipped unless the caller sets another limit. */
#define SL_TREE_MAX_FILE_BYTES (2 * 1024 * 1024)

typedef struct {
    const char *password;       /* for encrypted PDFs, or NULL; with one, a PDF stored as
                                   needs_password is read again even when it did not change */
    gint64 max_tree_file_bytes; /* files in folders; 0: SL_TREE_MAX_FILE_BYTES */
    gboolean include_vendored;  /* also read node_modules, vendor, build and the like */
} SlIngestOptions;

/* One thing met while walking a folder: a file to read, or one skipped and why. */
typedef struct {
    char *path;    /* absolute */
    char *title;   /* the folder's name and the path below it: "glib/glib/gstring.c" */
    gint64 size;
    char *skipped; /* why it is not read, or NULL */
    GError *error; /* a folder inside that could not be listed */
} SlTreeEntry;

void sl_tree_entry_free(SlTreeEntry *e);

/* ingest-tree.c: the files of the folder root worth reading, depth first, by name within
 * each folder. Honours .gitignore files (nested ones too) and .git/info/exclude; never
 * enters .git and other version-control folders; skips vendored or generated folders
 * (unless options->include_vendored), files larger than the limit and files binary by their
 * extension (binary content is found when the file is read). Symbolic links are not
 * followed, as git does not: a link to something inside the folder is read where its target
 * is; one leading outside, a broken one or a loop is reported as skipped. Appends
 * SlTreeEntry * to entries; FALSE only when root cannot be read or on cancel. */
gboolean sl_tree_walk(const char *root, const SlIngestOptions *options, GPtrArray *entries,
                      GCancellable *cancellable, GError **error);

typedef struct {
    guint documents_done, documents_total;
    guint64 pages_done;     /* pages read, including those of documents being read */
    guint64 bytes_done, bytes_total;
    const char *path; /* the file just finished, or NULL while a long one is being read */
} SlIngestProgress;

typedef void (*SlIngestProgressFunc)(const SlIngestProgress *progress, gpointer user_data);

typedef struct {
    char *path;
    gint64 document_id;     /* when stored or found */
    SlStoreOutcome outcome; /* when error and skipped are NULL */
    GError *error;          /* why this file was not stored */
    char *skipped;          /* in a folder: why this file was left out (binary, too large…) */
} SlIngestResult;

void sl_ingest_result_free(SlIngestResult *r);

/* Ingests paths, files or folders: worker threads read and parse, the calling thread is the
 * one writer and stores each document in its own transaction. Returns one SlIngestResult per
 * file, in order: a folder gives one per file found in it (sl_tree_walk), a path listed twice
 * one. A file already stored with the same size and mtime is not read again, so an add that
 * was interrupted resumes where it stopped. progress runs on the calling thread after each
 * file and every few tenths of a second while a long one is read. After cancellation no
 * further document is stored and the files left over fail with G_IO_ERROR_CANCELLED. */
GPtrArray *sl_ingest_files(SlLibrary *lib, const char *const *paths, const char *collection,
                           GCancellable *cancellable, SlIngestProgressFunc progress,
                           gpointer user_data);

/* The same with options (NULL: the defaults). */
GPtrArray *sl_ingest_files_full(SlLibrary *lib, const char *const *paths, const char *collection,
                                const SlIngestOptions *options, GCancellable *cancellable,
                                SlIngestProgressFunc progress, gpointer user_data);

/* The same on a GTask thread; progress is called in the thread-default main context of the
 * caller. progress_destroy(progress_data) runs, in any thread, once no progress call is left.
 * lib must stay open until callback runs. */
void sl_ingest_files_async(SlLibrary *lib, const char *const *paths, const char *collection,
                           GCancellable *cancellable, SlIngestProgressFunc progress,
                           gpointer progress_data, GDestroyNotify progress_destroy,
                           GAsyncReadyCallback callback, gpointer user_data);
/* sl_ingest_files_async with options (NULL: the defaults), copied. */
void sl_ingest_files_async_full(SlLibrary *lib, const char *const *paths, const char *collection,
                                const SlIngestOptions *options, GCancellable *cancellable,
                                SlIngestProgressFunc progress, gpointer progress_data,
                                GDestroyNotify progress_destroy, GAsyncReadyCallback callback,
                                gpointer user_data);
GPtrArray *sl_ingest_files_finish(SlLibrary *lib, GAsyncResult *result, GError **error);

G_END_DECLS

#endif
