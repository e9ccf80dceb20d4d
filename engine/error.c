#include "error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

const char *sl_quote(char *buf, size_t cap, const char *s, size_t len)
{
    size_t o = 0, i = 0;
    while (i < len && o + 8 < cap) {
        uint8_t c = (uint8_t)s[i];
        size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (i + n > SL_QUOTE_MAX || n > len - i) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7F || c == '\'' || c == '\\') {
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02X", (unsigned)c);
        } else {
            if (o + n + 8 >= cap)
                break;
            memcpy(buf + o, s + i, n);
            o += n;
        }
        i += n;
    }
    buf[o] = 0;
    return buf;
}
