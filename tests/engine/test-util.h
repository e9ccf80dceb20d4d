/* test-util.h: a tiny check harness for the engine tests (no GLib).
 * Each CHECK prints the failing expression with its location and counts
 * it; a test's main() ends with `return sl_test_finish();`. */
#ifndef SL_TEST_UTIL_H
#define SL_TEST_UTIL_H

#include "sightline-engine.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define SL_TEST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SL_TEST_PRINTF(a, b)
/* ‖a − ref‖ / ‖ref‖ (0 when both are zero). */
static inline double sl_rel_error(const float *a, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

#endif

static int sl_test_checks, sl_test_failures;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        sl_test_checks++;                                                                  \
        if (!(cond)) {                                                                     \
            sl_test_failures++;                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
        }                                                                                  \
    } while (0)

#define CHECKF(cond, ...)                                                                  \
    do {                                                                                   \
        sl_test_checks++;                                                                  \
        if (!(cond)) {                                                                     \
            sl_test_failures++;                                                            \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
        }                                                                                  \
    } while (0)

static inline int sl_test_finish(void)
{
    fprintf(stderr, "%d checks, %d failed\n", sl_test_checks, sl_test_failures);
    return sl_test_failures ? 1 : 0;
}

/* The default model: $SIGHTLINE_MODEL, else the installed copy. Tests that
 * need it fail (not skip) without it: packaging/setup installs it. */
static inline const char *sl_test_model_path(void)
{
    static char path[4096];
    const char *env = getenv("SIGHTLINE_MODEL");
    if (env && *env)
        return env;
    sl_model_path("default", path, sizeof path);
    return path;
}

/* DSA options that record the question's first `record` rows with their raw
 * selections, in mode with top-k k (0: the default). */
static inline sl_dsa_options sl_test_dsa_options(sl_dsa_mode mode, int k, int record)
{
    sl_dsa_options o = sl_dsa_default();
    o.mode = mode;
    o.top_k = k;
    o.record_question = record;
    o.record_raw = true;
    return o;
}

/* A session of max positions with DSA options o; NULL (a failed check)
 * when either step fails. */
static inline sl_session *sl_test_dsa_session(sl_engine *e, size_t max, const sl_dsa_options *o)
{
    sl_session *s = NULL;
    sl_error err = {0};
    CHECKF(sl_session_new(e, max, &s, &err) == SL_OK && sl_session_set_dsa(s, o, &err) == SL_OK,
           "%s", err.message);
    return s;
}

/* Whether the engine finds a GPU; if not, says why on stderr (the gpu
 * suite's tests then exit 77, which meson counts as skipped). */
static inline bool sl_test_has_gpu(void)
{
    sl_device_info gpus[8];
    int n_gpus = 0;
    char why[256] = "";
    sl_error err = {0};
    if (sl_devices_list(gpus, 8, &n_gpus, why, sizeof why, &err) == SL_OK && n_gpus > 0)
        return true;
    fprintf(stderr, "no GPU (%s): skipped\n", why[0] ? why : err.message);
    return false;
}

/* Reads a whole file; NULL on failure. */
static inline void *sl_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        *len = (size_t)n;
    }
    return buf;
}

/* ‖a − ref‖ / ‖ref‖ (0 when both are zero). */
static inline double sl_rel_error(const float *a, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

#endif
