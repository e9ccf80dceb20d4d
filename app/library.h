/* library.h: the SQLite library of documents (DESIGN.md §5).
 *
 * One database file, WAL, foreign keys on, schema migrated by PRAGMA user_version. One
 * connection is the single writer; every document is stored in one transaction, so a crash
 * leaves it whole or absent. All calls are thread-safe (they serialise on the library). */
#ifndef SL_LIBRARY_H
#define SL_LIBRARY_H

#include <gio/gio.h>

G_BEGIN_DECLS

#define SL_LIBRARY_ERROR (sl_library_error_quark())
GQuark sl_library_error_quark(void);

typedef enum {
    SL_LIBRARY_ERROR_DATABASE,    /* SQLite failed, or the file is not a library */
    SL_LIBRARY_ERROR_FULL,        /* the disk or the database is full */
    SL_LIBRARY_ERROR_NEWER,       /* written by a newer Sightline */
    SL_LIBRARY_ERROR_NOT_FOUND,   /* no such document */
    SL_LIBRARY_ERROR_UNSUPPORTED, /* a kind of file not ingested (yet) */
    SL_LIBRARY_ERROR_INVALID,     /* not a regular file, too large */
} SlLibraryError;

/* The schema version this build writes (PRAGMA user_version). */
#define SL_LIBRARY_SCHEMA_VERSION 3

typedef struct _SlLibrary SlLibrary;

typedef struct {
    gint64 id;
    char *path;
    char *kind;    /* "pdf", "code", "text" */
    char *sha256;  /* lowercase hex */
    char *title;
    char *author;
    char *language; /* code and Markdown: a GtkSourceView language id, or NULL */
    int pages;
    int passages;
    gint64 size;
    gint64 mtime;  /* microseconds since the epoch */
    char *status;  /* "ok", "needs_password", "no_text_layer", "error" */
    char *error;
    char *warning;
    gint64 added_at;
} SlDocument;

void sl_document_free(SlDocument *doc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SlDocument, sl_document_free)

/* A parsed document, ready to be stored (filled by the ingest-*.c parsers). */
typedef struct {
    int number;          /* 1-based */
    char *text;          /* valid UTF-8, NUL-terminated */
    gsize len;           /* bytes */
    GBytes *boxes;       /* PDF: per-character boxes (boxes.h), or NULL */
    GBytes *line_offsets; /* code: u32 LE line starts, or NULL */
} SlPage;

typedef struct {
    int page;            /* SlPage.number */
    gsize start, length; /* bytes of the page's text */
    char *heading;       /* or NULL */
} SlPassage;

typedef struct {
    char *path;          /* absolute, canonical */
    const char *kind;    /* static string: "pdf", "code", "text" */
    char *sha256;
    char *title;
    char *author;
    char *language;
    gint64 size, mtime;
    const char *status;  /* static string */
    char *error;
    char *warning;
    GBytes *original;    /* the file's bytes when pages' text differs from them, else NULL */
    GArray *pages;       /* of SlPage */
    GArray *passages;    /* of SlPassage */
} SlParsed;

SlParsed *sl_parsed_new(const char *path);
void sl_parsed_free(SlParsed *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SlParsed, sl_parsed_free)

typedef enum {
    SL_STORED_ADDED,     /* a new document */
    SL_STORED_UPDATED,   /* the same path with new content: re-ingested */
    SL_STORED_UNCHANGED, /* the same path and content */
    SL_STORED_DUPLICATE, /* the same content under another path: not stored twice */
} SlStoreOutcome;

const char *sl_store_outcome_name(SlStoreOutcome o);

/* $XDG_DATA_HOME/sightline/library.db */
char *sl_library_default_path(void);
/* Opens or creates the library at path (NULL: the default), creating its folder and
 * migrating its schema. Refuses a library written by a newer Sightline. */
SlLibrary *sl_library_open(const char *path, GError **error);
void sl_library_close(SlLibrary *lib);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SlLibrary, sl_library_close)
const char *sl_library_path(const SlLibrary *lib);

/* The id of the document at path when its size and mtime are these, else 0: a file the
 * library already holds as it is, which need not be read again. */
gint64 sl_library_find_unchanged(SlLibrary *lib, const char *path, gint64 size, gint64 mtime);

/* Stores p in one transaction (or finds it unchanged or a duplicate) and adds it to the
 * collection (created if needed) when collection is not NULL. */
gboolean sl_library_store(SlLibrary *lib, const SlParsed *p, const char *collection,
                          SlStoreOutcome *outcome, gint64 *id, GError **error);

/* doc: a document id, or a path (made absolute). */
SlDocument *sl_library_get(SlLibrary *lib, const char *doc, GError **error);
/* Documents by id, of a collection or (NULL) all; NULL on error. */
GPtrArray *sl_library_list(SlLibrary *lib, const char *collection, GError **error);
/* The same, or NULL with G_IO_ERROR_BUSY at once while a writer holds the library (a
 * document being stored): for a window that must not wait. */
GPtrArray *sl_library_list_nowait(SlLibrary *lib, const char *collection, GError **error);
gboolean sl_library_remove(SlLibrary *lib, gint64 id, GError **error);
/* The text of one page (valid UTF-8; g_free) and, when not NULL, its character boxes as
 * stored (boxes.h; NULL when it has none). NULL with NOT_FOUND for a page that is not there. */
char *sl_library_page_text(SlLibrary *lib, gint64 id, int page, gsize *len, GBytes **boxes,
                           GError **error);
/* The file's bytes as ingested: the kept original, or the pages' text. */
GBytes *sl_library_original(SlLibrary *lib, gint64 id, GError **error);

typedef struct {
    char *name;
    int n_documents;
} SlCollection;
void sl_collection_free(SlCollection *c);

gboolean sl_library_add_to_collection(SlLibrary *lib, gint64 id, const char *name, GError **error);
/* Collections, by name; NULL on error. */
GPtrArray *sl_library_collections(SlLibrary *lib, GError **error);
/* The names of the collections holding a document. */
GStrv sl_library_document_collections(SlLibrary *lib, gint64 id, GError **error);

typedef struct {
    gint64 document_id;
    int page;
    int first_line, last_line; /* code: the passage's lines (1-based); else 0 */
    char *title;
    char *path;
    char *snippet; /* matches between [ and ] */
    double score;  /* BM25: lower is better */
} SlHit;
void sl_hit_free(SlHit *h);

/* The 1-based line holding byte offset of a page, given its line offsets (u32 LE, as in
 * pages.line_offsets); 0 without offsets. */
int sl_line_at(const void *line_offsets, gsize size, gsize offset);

/* Passages matching every word of query ("quoted words" match as a phrase), best first. */
GPtrArray *sl_library_search(SlLibrary *lib, const char *query, int limit, GError **error);

G_END_DECLS

#endif
