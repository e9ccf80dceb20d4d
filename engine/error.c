#include "error.h"

#include <stdarg.h>
#include <stdio.h>

sl_status sl_fail(sl_error *err, sl_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *sl_status_name(sl_status status)
{
    switch (status) {
    case SL_OK: return "ok";
    case SL_ERR_INVALID_ARGUMENT: return "invalid argument";
    case SL_ERR_IO: return "I/O error";
    case SL_ERR_FORMAT: return "malformed file";
    case SL_ERR_UNSUPPORTED: return "unsupported";
    case SL_ERR_NO_MEMORY: return "out of memory";
    case SL_ERR_CONTEXT_FULL: return "context full";
    case SL_ERR_CANCELLED: return "cancelled";
    }
    return "unknown status";
}
