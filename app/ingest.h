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

/* Files larger than this are refused (PDF). */
#define SL_INGEST_MAX_PDF_BYTES (G_GINT64_CONSTANT(1024) * 1024 * 1024)

/* ingest-pdf.c: a PDF file, already read; password may be NULL. An encrypted PDF without
 * its password (or with a wrong one) gives a document with status "needs_password", one
 * without text on any page status "no_text_layer". NULL with an error naming the file when
 * the file is corrupt or truncated. */
SlParsed *sl_ingest_pdf_parse(const char *path, GBytes *contents, const char *password,
                              GError **error);

/* Reads and parses one file (path made absolute), by kind. Errors name the file. */
SlParsed *sl_ingest_parse_file(const char *path, GCancellable *cancellable, GError **error);

typedef struct {
    guint documents_done, documents_total;
    guint64 bytes_done, bytes_total;
    const char *path; /* the file just finished */
} SlIngestProgress;

typedef void (*SlIngestProgressFunc)(const SlIngestProgress *progress, gpointer user_data);

typedef struct {
    char *path;
    gint64 document_id;     /* when stored or found */
    SlStoreOutcome outcome; /* when error is NULL */
    GError *error;          /* why this file was not stored */
} SlIngestResult;

void sl_ingest_result_free(SlIngestResult *r);

/* Ingests paths: worker threads read and parse, the calling thread is the one writer and
 * stores each document in its own transaction. Returns one SlIngestResult per path, in order.
 * progress runs on the calling thread after each file. After cancellation no further document
 * is stored and the files left over fail with G_IO_ERROR_CANCELLED. */
GPtrArray *sl_ingest_files(SlLibrary *lib, const char *const *paths, const char *collection,
                           GCancellable *cancellable, SlIngestProgressFunc progress,
                           gpointer user_data);

/* The same with a password for encrypted PDFs (NULL: none). With a password, a PDF stored as
 * needs_password is read again even when the file did not change. */
GPtrArray *sl_ingest_files_full(SlLibrary *lib, const char *const *paths, const char *collection,
                                const char *password, GCancellable *cancellable,
                                SlIngestProgressFunc progress, gpointer user_data);

/* The same on a GTask thread; progress is called in the thread-default main context of the
 * caller. progress_destroy(progress_data) runs, in any thread, once no progress call is left.
 * lib must stay open until callback runs. */
void sl_ingest_files_async(SlLibrary *lib, const char *const *paths, const char *collection,
                           GCancellable *cancellable, SlIngestProgressFunc progress,
                           gpointer progress_data, GDestroyNotify progress_destroy,
                           GAsyncReadyCallback callback, gpointer user_data);
/* sl_ingest_files_async with a password for encrypted PDFs (NULL: none). */
void sl_ingest_files_async_full(SlLibrary *lib, const char *const *paths, const char *collection,
                                const char *password, GCancellable *cancellable,
                                SlIngestProgressFunc progress, gpointer progress_data,
                                GDestroyNotify progress_destroy, GAsyncReadyCallback callback,
                                gpointer user_data);
GPtrArray *sl_ingest_files_finish(SlLibrary *lib, GAsyncResult *result, GError **error);

G_END_DECLS

#endif
