/* library-private.h: for app/ and its tests only. */
#ifndef SL_LIBRARY_PRIVATE_H
#define SL_LIBRARY_PRIVATE_H

#include "library.h"

#include <sqlite3.h>

/* The writer connection; lock with sl_library_lock while using it. */
sqlite3 *sl_library_db(SlLibrary *lib);
void sl_library_lock(SlLibrary *lib);
void sl_library_unlock(SlLibrary *lib);

/* With the lock held: SQLite calls whose errors become GErrors naming the library; doing
 * says what failed ("storing the answer"). sl_library_step accepts SQLITE_ROW and DONE. */
sqlite3_stmt *sl_library_prepare(SlLibrary *lib, const char *sql, GError **error);
gboolean sl_library_exec(SlLibrary *lib, const char *sql, const char *doing, GError **error);
gboolean sl_library_step(SlLibrary *lib, sqlite3_stmt *st, const char *doing, GError **error);
/* Rolls back a transaction still open after an error. */
void sl_library_rollback(SlLibrary *lib);
/* b, or NULL when b is NULL. */
void sl_library_bind_bytes(sqlite3_stmt *st, int i, GBytes *b);

#endif
