/* error.h: filling sl_error, inside the engine. */
#ifndef SL_ERROR_H
#define SL_ERROR_H

#include "sightline-engine.h"

#if defined(__GNUC__)
#define SL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SL_PRINTF(a, b)
enum { SL_QUOTE_MAX = 80 }; /* longest name or value quoted in a message */

/* Quotes s[0..len) for a message into buf: at most SL_QUOTE_MAX bytes, cut at
 * a character boundary (then "..."), control bytes, quotes and backslashes as
 * \xNN. Returns buf. */
const char *sl_quote(char *buf, size_t cap, const char *s, size_t len);

#endif

/* Sets err (if not NULL) and returns code, so callers can `return sl_fail(...)`. */
sl_status sl_fail(sl_error *err, sl_status code, const char *fmt, ...) SL_PRINTF(3, 4);

enum { SL_QUOTE_MAX = 80 }; /* longest name or value quoted in a message */

/* Quotes s[0..len) for a message into buf: at most SL_QUOTE_MAX bytes, cut at
 * a character boundary (then "..."), control bytes, quotes and backslashes as
 * \xNN. Returns buf. */
const char *sl_quote(char *buf, size_t cap, const char *s, size_t len);

#endif
