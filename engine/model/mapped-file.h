/* mapped-file.h: a whole regular file mapped read-only, for the readers. */
#ifndef SL_MAPPED_FILE_H
#define SL_MAPPED_FILE_H

#include "sightline-engine.h"

/* Maps path; *data is NULL and *size 0 for an empty file. Errors (missing,
 * not a regular file, unreadable, too large) name the path. */
sl_status sl_map_file(const char *path, const uint8_t **data, size_t *size, sl_error *err);
void sl_unmap_file(const uint8_t *data, size_t size);

#endif
