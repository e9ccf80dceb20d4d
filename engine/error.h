/* error.h: filling sl_error, inside the engine. */
#ifndef SL_ERROR_H
#define SL_ERROR_H

#include "sightline-engine.h"

#if defined(__GNUC__)
#define SL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SL_PRINTF(a, b)
#endif

/* Sets err (if not NULL) and returns code, so callers can `return sl_fail(...)`. */
sl_status sl_fail(sl_error *err, sl_status code, const char *fmt, ...) SL_PRINTF(3, 4);

#endif
