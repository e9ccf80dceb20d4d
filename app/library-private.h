/* library-private.h: for app/ and its tests only. */
#ifndef SL_LIBRARY_PRIVATE_H
#define SL_LIBRARY_PRIVATE_H

#include "library.h"

#include <sqlite3.h>

/* The writer connection; lock with sl_library_lock while using it. */
sqlite3 *sl_library_db(SlLibrary *lib);
void sl_library_lock(SlLibrary *lib);
void sl_library_unlock(SlLibrary *lib);

#endif
