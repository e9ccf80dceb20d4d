/* bench-ask.c: asking on the CPU, end to end: time to first token and tokens per second for
 * contexts of 2K and 8K tokens, the same question again (tokens from the cache), and the
 * size of what an answer stores, also at 128K context (synthetic records of that size).
 * Not a test; run by hand:
 *   build/tests/bench/bench-ask [--pdf FILE] [--model M] [--answer N] [--dsa dense|oracle] */
#include "ask.h"
#include "ingest.h"
#include "library-private.h"
#include "span-map.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

static void remove_dir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        g_unlink(p);
    }
    g_rmdir(dir);
}

static void record_sizes(SlLibrary *lib, gint64 answer, gsize sizes[3])
{
    sl_library_lock(lib);
    sqlite3_stmt *st = sl_library_prepare(lib, "SELECT length(span_map), length(question_selections), "
                                               "length(answer_selections) FROM answer_records "
                                               "WHERE answer_id = ?1", NULL);
    sqlite3_bind_int64(st, 1, answer);
    if (sqlite3_step(st) == SQLITE_ROW)
        for (int i = 0; i < 3; i++)
            sizes[i] = (gsize)sqlite3_column_int64(st, i);
    sqlite3_finalize(st);
    sl_library_unlock(lib);
}

static void ask_once(SlLibrary *lib, sl_engine *engine, gint64 doc, int budget, int answer,
                     sl_dsa_mode mode, const char *label)
{
    SlAskRequest rq;
    sl_ask_request_init(&rq);
    rq.documents = &doc;
    rq.n_documents = 1;
    rq.question = "How do I fit a linear model and read its summary?";
    rq.budget = budget;
    rq.answer_tokens = answer;
    rq.dsa.mode = mode;
    rq.dsa.top_k = 512;
    GError *error = NULL;
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(SlAnswer) a = sl_ask_run(lib, engine, &rq, NULL, NULL, NULL, &error);
    double total = (double)(g_get_monotonic_time() - t0) / 1e6;
    if (!a) {
        printf("  %-6s %-6d error: %s\n", label, budget, error->message);
        g_error_free(error);
        return;
    }
    gsize sizes[3] = {0};
    record_sizes(lib, a->answer_id, sizes);
    printf("  %-6s %6d %7zu %8.0f %8.0f %9.1f %8.0f %8.1f %7.1f  %s  %zu+%zu+%zu B\n", label,
           budget, a->context_tokens, a->context_ms, a->prefill_ms,
           (double)a->context_tokens / (a->prefill_ms / 1000.0), a->first_token_ms,
           (double)a->answer_tokens / (a->decode_ms / 1000.0), total,
           a->tokens_cached ? "cached" : "fresh ", sizes[0], sizes[1], sizes[2]);
}

/* The records of one answer at 128K context, made up at their real sizes: a span map over
 * 131,072 tokens of a long PDF and selections of a 30-layer model with top-k 2048 recorded
 * for 64 question tokens and a 500-token answer. */
static void synthetic_128k(void)
{
    const gsize n = 131072, layers = 30, answer = 500, top_m = 64;
    g_autofree SlSpan *spans = g_new(SlSpan, n);
    guint32 offset = 0;
    for (gsize i = 0; i < n; i++) {
        if (i % 700 == 0)
            offset = 0; /* a new page about every 700 tokens */
        spans[i] = (SlSpan){1 + (guint32)(i / 40000), (gint32)(i / 700) + 1, offset};
        offset += 3 + (guint32)(g_random_int() % 5);
    }
    g_autoptr(GBytes) map = sl_span_map_encode(spans, n);
    g_autofree uint32_t *counts = g_new0(uint32_t, layers * (n + answer));
    for (gsize i = 0; i < layers * (n + answer); i++)
        counts[i] = g_random_int() % 8 == 0 ? g_random_int() % 500 : 0;
    g_autofree sl_selection_record *records = g_new0(sl_selection_record, answer);
    g_autofree int32_t *pos = g_new(int32_t, answer * top_m);
    g_autofree uint16_t *votes = g_new(uint16_t, answer * top_m);
    gsize lb = (layers + 7) / 8;
    g_autofree uint8_t *masks = g_new0(uint8_t, answer * top_m * lb);
    for (gsize r = 0; r < answer; r++) {
        for (gsize k = 0; k < top_m; k++) {
            pos[r * top_m + k] = (int32_t)(g_random_int() % n);
            votes[r * top_m + k] = (uint16_t)(layers - k * layers / top_m);
            for (gsize l = 0; l < votes[r * top_m + k]; l++) /* the layers that voted */
                masks[(r * top_m + k) * lb + l / 8] |= (uint8_t)(1u << (l % 8));
        }
        records[r] = (sl_selection_record){(int32_t)(n + r), true, (int)top_m, pos + r * top_m,
                                           votes + r * top_m, NULL, masks + r * top_m * lb};
    }
    sl_selection_view v = {(int)layers, 2048, n + answer, n + answer, counts, answer, records, NULL};
    uint8_t *data = NULL;
    size_t len = 0;
    sl_error err = {0};
    if (sl_selections_encode(&v, &data, &len, &err) != SL_OK) {
        printf("  128K: %s\n", err.message);
        return;
    }
    printf("\nRecords of one answer at 128K context (synthetic, real sizes): span map %zu B, "
           "answer selections %zu B, total %.2f MB (the limit is 2 MB)\n",
           g_bytes_get_size(map), len, (double)(g_bytes_get_size(map) + len) / 1e6);
    free(data);
}

int main(int argc, char **argv)
{
    const char *pdf = "/usr/share/R/doc/manual/R-intro.pdf", *model = "default";
    int answer = 64;
    sl_dsa_mode mode = SL_DSA_ORACLE;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--pdf"))
            pdf = argv[i + 1];
        else if (!strcmp(argv[i], "--model"))
            model = argv[i + 1];
        else if (!strcmp(argv[i], "--answer"))
            answer = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dsa"))
            mode = !strcmp(argv[i + 1], "dense") ? SL_DSA_DENSE : SL_DSA_ORACLE;
    }
    char path[4096];
    if (!sl_model_path(model, path, sizeof path)) {
        fprintf(stderr, "bench-ask: no model %s (packaging/fetch-model installs the default)\n", model);
        return 1;
    }
    if (!g_file_test(pdf, G_FILE_TEST_EXISTS)) {
        fprintf(stderr, "bench-ask: %s is missing (apt-get install r-doc-pdf)\n", pdf);
        return 1;
    }
    sl_engine_options eo = {.model_path = path};
    sl_engine *engine = NULL;
    sl_error err = {0};
    if (sl_engine_open(&eo, &engine, &err) != SL_OK) {
        fprintf(stderr, "bench-ask: %s\n", err.message);
        return 1;
    }
    g_autofree char *dir = g_dir_make_tmp("bench-ask-XXXXXX", NULL);
    g_autofree char *db = g_build_filename(dir, "library.db", NULL);
    SlLibrary *lib = sl_library_open(db, NULL);
    g_autoptr(GPtrArray) r = sl_ingest_files(lib, (const char *const[]){pdf, NULL}, NULL, NULL, NULL, NULL);
    gint64 doc = ((SlIngestResult *)r->pdata[0])->document_id;
    printf("bench-ask: %s, %d threads, %s on %s; DSA %s top-k 512; answers of up to %d tokens\n",
           path, sl_engine_threads(engine), g_path_get_basename(pdf), g_get_host_name(),
           mode == SL_DSA_ORACLE ? "oracle" : "dense", answer);
    printf("  %-6s %6s %7s %8s %8s %9s %8s %8s %7s  %s  %s\n", "run", "budget", "context",
           "ctx ms", "fill ms", "fill t/s", "TTFT ms", "dec t/s", "total s", "tokens",
           "records (span map + question + answer)");
    int budgets[2] = {2048, 8192};
    for (int b = 0; b < 2; b++) {
        ask_once(lib, engine, doc, budgets[b], answer, mode, b ? "8K" : "2K");
        ask_once(lib, engine, doc, budgets[b], answer, mode, b ? "8K+" : "2K+");
    }
    synthetic_128k();
    sl_library_close(lib);
    remove_dir(dir);
    sl_engine_close(engine);
    return 0;
}
