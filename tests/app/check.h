/* check.h: helpers shared by the app tests. */
#ifndef SL_TEST_APP_CHECK_H
#define SL_TEST_APP_CHECK_H

#include "library.h"

#include <glib.h>

/* Checks a library file on its own connection: PRAGMA integrity_check and foreign_key_check,
 * the FTS index, and that every document is whole (its pages and passages all there).
 * Returns the number of documents. */
int check_library(const char *db_path);
/* A value of one SQL query on its own connection, as a string (g_free). */
char *query_value(const char *db_path, const char *sql);
/* The first column of the one row an SQL query gives, through the open
 * library's own connection (under its lock). */
int count_rows(SlLibrary *lib, const char *sql);
/* A new temporary folder, and its removal with everything in it. */
char *make_tmp_dir(void);
void remove_tree(const char *path);

#endif
