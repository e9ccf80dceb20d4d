/* cmd-ask.c: ask, summarize, explain and history: questions to the model about documents of
 * the library, and the stored answers read back. */
#include "cmd-ask.h"

#include "options.h"

#include "ask.h"
#include "history.h"
#include "library.h"
#include "looked.h"

#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ask's defaults: the oracle gives real selections on any model (at dense cost). */
#define ASK_TOP_K 512
#define LOOKED_SHOWN 5
#define EXCERPT_CHARS 76

static gboolean parse_int(const char *cmd, const char *name, const char *s, gint64 lo, gint64 hi,
                          gint64 *out)
{
    char *end;
    gint64 v = g_ascii_strtoll(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "sightline-cli %s: %s expects a whole number from %" G_GINT64_FORMAT
                        " to %" G_GINT64_FORMAT ", not '%s'\n",
                cmd, name, lo, hi, s);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

static SlLibrary *open_library(const char *path)
{
    GError *error = NULL;
    SlLibrary *lib = sl_library_open(path, &error);
    if (!lib) {
        fprintf(stderr, "sightline-cli: %s\n", error->message);
        g_error_free(error);
    }
    return lib;
}

static void print_gerror(GError *error)
{
    fprintf(stderr, "sightline-cli: %s\n", error->message);
    g_error_free(error);
}

/* ---------------------------------------------------------------- options of ask, summarize */

typedef struct {
    const char *library, *collection;
    GPtrArray *docs;       /* const char *: --doc values (and summarize's arguments) */
    GPtrArray *args;       /* const char *: the other arguments */
    gint64 conversation;
    gint64 budget;
    cli_options eng;       /* --model, --threads, --dsa, -n, sampling... (options.c) */
} AskOptions;

static void ask_options_clear(AskOptions *o)
{
    g_clear_pointer(&o->docs, g_ptr_array_unref);
    g_clear_pointer(&o->args, g_ptr_array_unref);
    free(o->eng.args);
    o->eng.args = NULL;
}

static gboolean is_one_of(const char *a, const char *const *names)
{
    for (; *names; names++)
        if (!strcmp(a, *names))
            return TRUE;
    return FALSE;
}

/* The engine options ask takes, handed to cli_parse. */
static const char *const engine_valued[] = {
    "--model", "-m", "--threads", "-t", "--max-tokens", "-n", "--temperature", "--sample-top-k",
    "--top-p", "--min-p", "--repeat-penalty", "--repeat-last-n", "--seed", "--dsa", "--top-k",
    "--indexer", "--top-m", "--device", NULL};
static const char *const engine_flags[] = {"--quiet", "-q", NULL};

static gboolean parse_ask(int argc, char **argv, AskOptions *o)
{
    const char *cmd = argv[0];
    o->docs = g_ptr_array_new();
    o->args = g_ptr_array_new();
    g_autoptr(GPtrArray) engine = g_ptr_array_new();
    gboolean dsa = FALSE, top_k = FALSE, max_tokens = FALSE, temperature = FALSE;
    gboolean options = TRUE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options || a[0] != '-' || !a[1]) {
            g_ptr_array_add(o->args, argv[i]);
            continue;
        }
        if (!strcmp(a, "--")) {
            options = FALSE;
            continue;
        }
        if (is_one_of(a, engine_flags)) {
            g_ptr_array_add(engine, argv[i]);
            continue;
        }
        gboolean known = is_one_of(a, engine_valued) ||
                         is_one_of(a, (const char *const[]){"--library", "--doc", "--collection",
                                                            "--budget", "--conversation", NULL});
        if (!known) {
            fprintf(stderr, "sightline-cli %s: unknown option '%s' (see --help)\n", cmd, a);
            return FALSE;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sightline-cli %s: %s needs a value\n", cmd, a);
            return FALSE;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--library"))
            o->library = v;
        else if (!strcmp(a, "--doc"))
            g_ptr_array_add(o->docs, (gpointer)v);
        else if (!strcmp(a, "--collection"))
            o->collection = v;
        else if (!strcmp(a, "--budget")) {
            if (!parse_int(cmd, a, v, 64, SL_CONTEXT_MAX_BUDGET, &o->budget))
                return FALSE;
        } else if (!strcmp(a, "--conversation")) {
            if (!parse_int(cmd, a, v, 1, G_MAXINT64, &o->conversation))
                return FALSE;
        } else {
            dsa |= !strcmp(a, "--dsa");
            top_k |= !strcmp(a, "--top-k");
            max_tokens |= !strcmp(a, "-n") || !strcmp(a, "--max-tokens");
            temperature |= !strcmp(a, "--temperature");
            g_ptr_array_add(engine, (gpointer)a);
            g_ptr_array_add(engine, (gpointer)v);
        }
    }
    /* --indexer alone means --dsa indexer. */
    gboolean indexer = FALSE;
    for (guint i = 0; i < engine->len; i++)
        indexer |= !strcmp(engine->pdata[i], "--indexer");
    if (indexer && !dsa) {
        g_ptr_array_add(engine, (gpointer) "--dsa");
        g_ptr_array_add(engine, (gpointer) "indexer");
        dsa = TRUE;
    }
    if (!cli_parse((int)engine->len, (char **)engine->pdata, &o->eng))
        return FALSE;
    if (!dsa)
        o->eng.dsa.mode = SL_DSA_ORACLE;
    if (!top_k)
        o->eng.dsa.top_k = ASK_TOP_K;
    if (!temperature)
        o->eng.sampling.temperature = 0; /* greedy: the same question, the same answer */
    if (!max_tokens)
        o->eng.max_tokens = 0;           /* the request's default */
    else if (o->eng.max_tokens < 1) {
        fprintf(stderr, "sightline-cli %s: -n expects at least 1\n", cmd);
        return FALSE;
    }
    if (!o->eng.model)
        o->eng.model = "default";
    return TRUE;
}

/* Adds a document once; FALSE (printed) when it cannot be used. */
static gboolean add_document(GArray *ids, const SlDocument *d, gboolean quiet_skip)
{
    for (guint i = 0; i < ids->len; i++)
        if (g_array_index(ids, gint64, i) == d->id)
            return TRUE;
    if (strcmp(d->status, "ok") != 0 || d->pages == 0) {
        const char *why = !strcmp(d->status, "needs_password") ? "it needs its password (add --password)"
                          : !strcmp(d->status, "no_text_layer") ? "it has no text layer"
                          : !strcmp(d->status, "ok")            ? "it has no text"
                                                                : "it could not be read";
        fprintf(stderr, "sightline-cli: %s %" G_GINT64_FORMAT " (%s): %s\n",
                quiet_skip ? "skipping" : "cannot use document", d->id,
                d->title ? d->title : d->path, why);
        return quiet_skip;
    }
    g_array_append_val(ids, d->id);
    return TRUE;
}

/* The documents of --doc (and refs), then those of --collection, in that order. */
static GArray *resolve_documents(SlLibrary *lib, const char *cmd, GPtrArray *refs,
                                 const char *collection)
{
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(gint64));
    for (guint i = 0; i < refs->len; i++) {
        GError *error = NULL;
        g_autoptr(SlDocument) d = sl_library_get(lib, refs->pdata[i], &error);
        if (!d) {
            print_gerror(error);
            return NULL;
        }
        if (!add_document(ids, d, FALSE))
            return NULL;
    }
    if (collection) {
        GError *error = NULL;
        g_autoptr(GPtrArray) cols = sl_library_collections(lib, &error);
        if (!cols) {
            print_gerror(error);
            return NULL;
        }
        gboolean found = FALSE;
        for (guint i = 0; i < cols->len; i++)
            found |= !strcmp(((SlCollection *)cols->pdata[i])->name, collection);
        if (!found) {
            fprintf(stderr, "sightline-cli %s: no collection '%s' in the library %s "
                            "(sightline-cli collections lists them)\n",
                    cmd, collection, sl_library_path(lib));
            return NULL;
        }
        g_autoptr(GPtrArray) docs = sl_library_list(lib, collection, &error);
        if (!docs) {
            print_gerror(error);
            return NULL;
        }
        for (guint i = 0; i < docs->len; i++)
            add_document(ids, docs->pdata[i], TRUE);
    }
    if (ids->len == 0) {
        fprintf(stderr, "sightline-cli %s: no documents to read\n", cmd);
        return NULL;
    }
    return g_steal_pointer(&ids);
}

/* ---------------------------------------------------------------- printing answers */

static char *one_line(const char *text, int max_chars)
{
    g_autofree char *s = g_strdup(text ? text : "");
    g_strdelimit(s, "\r\n\t", ' ');
    g_strstrip(s);
    if (max_chars > 0 && g_utf8_strlen(s, -1) > max_chars) {
        g_autofree char *cut = g_utf8_substring(s, 0, max_chars - 1);
        return g_strconcat(cut, "…", NULL);
    }
    return g_steal_pointer(&s);
}

static const char *selected_by(const char *mode)
{
    return !strcmp(mode, "indexer") ? "the indexer" : "the oracle";
}

static void print_passages(SlLibrary *lib, const GPtrArray *passages)
{
    if (passages->len == 0)
        printf("  none: what was selected fell on the prompt's own words, not on the sources\n");
    for (guint i = 0; i < passages->len; i++) {
        const SlLookedPassage *p = passages->pdata[i];
        g_autofree char *where = p->first_line
                                     ? g_strdup_printf("lines %d-%d", p->first_line, p->last_line)
                                     : g_strdup_printf("p. %d", p->page);
        printf("  %5.1f%%  [%d] %s, %s\n", p->weight * 100.0, p->source, p->title, where);
        g_autofree char *excerpt =
            p->document_id ? sl_library_page_excerpt(lib, p->document_id, p->page, p->start,
                                                     p->end, EXCERPT_CHARS)
                           : NULL;
        if (excerpt && *excerpt)
            printf("          %s\n", excerpt);
        else if (!p->document_id)
            printf("          (the document was removed since)\n");
    }
}

static const char *source_title(const SlAnswer *a, int number)
{
    for (guint i = 0; i < a->sources->len; i++) {
        const SlContextSource *s = a->sources->pdata[i];
        if (s->number == number)
            return s->title;
    }
    return "?";
}

static void print_citations(const SlAnswer *a)
{
    printf("\nCitations:\n");
    if (!a->citations || a->citations->len == 0)
        printf("  none\n");
    for (guint i = 0; a->citations && i < a->citations->len; i++) {
        const SlCitation *c = &g_array_index(a->citations, SlCitation, i);
        g_autofree char *bracket = g_strndup(a->text + c->start, c->end - c->start);
        g_strdelimit(bracket, "\r\n\t", ' ');
        gboolean shared = (i > 0 && g_array_index(a->citations, SlCitation, i - 1).start == c->start) ||
                          (i + 1 < a->citations->len &&
                           g_array_index(a->citations, SlCitation, i + 1).start == c->start);
        g_autofree char *which = shared ? g_strdup_printf(" (source %d)", c->source) : g_strdup("");
        if (c->status == SL_CITATION_OK) {
            g_autofree char *where =
                c->first_line ? (c->last_line != c->first_line
                                     ? g_strdup_printf(", lines %d-%d", c->first_line, c->last_line)
                                     : g_strdup_printf(", line %d", c->first_line))
                : c->first_page ? (c->last_page != c->first_page
                                       ? g_strdup_printf(", pp. %d-%d", c->first_page, c->last_page)
                                       : g_strdup_printf(", p. %d", c->first_page))
                                : g_strdup("");
            printf("  %s%s  ok: [%d] %s%s\n", bracket, which, c->source, source_title(a, c->source),
                   where);
        } else
            printf("  %s%s  %s: %s\n", bracket, which,
                   c->status == SL_CITATION_NOT_IN_CONTEXT ? "not in the context" : "not resolved",
                   c->problem ? c->problem : sl_citation_status_name(c->status));
    }
}

static void print_answer(SlLibrary *lib, const SlAnswer *a, sl_dsa_mode mode)
{
    gsize len = strlen(a->text);
    if (len && a->text[len - 1] != '\n')
        putchar('\n');
    printf("\nSources:\n");
    for (guint i = 0; i < a->sources->len; i++) {
        const SlContextSource *s = a->sources->pdata[i];
        printf("  [%d] %s — %s\n", s->number, s->title,
               s->included && *s->included ? s->included : "nothing (left out)");
    }
    print_citations(a);
    if (a->left_out)
        printf("\nLeft out: %s\n", a->left_out);
    if (mode == SL_DSA_DENSE)
        return;
    const char *name = mode == SL_DSA_INDEXER ? "indexer" : "oracle";
    printf("\nWhere the model looked (selected by %s):\n", selected_by(name));
    SlLookedQuery q = {FALSE, -1, -1, -1};
    GError *error = NULL;
    g_autoptr(GPtrArray) passages = sl_answer_looked(lib, a->answer_id, &q, LOOKED_SHOWN, &error);
    if (passages)
        print_passages(lib, passages);
    else {
        printf("  (not available: %s)\n", error->message);
        g_error_free(error);
    }
}

static void print_stats(const SlAnswer *a)
{
    double prefill = a->prefill_ms > 0 ? (double)a->context_tokens * 1000.0 / a->prefill_ms : 0;
    double decode = a->decode_ms > 0 ? (double)a->answer_tokens * 1000.0 / a->decode_ms : 0;
    fprintf(stderr,
            "sightline-cli: context %zu/%d tokens%s, first token %.2f s, prefill %.0f tok/s, "
            "decode %.1f tok/s (%zu tokens), answer %" G_GINT64_FORMAT "\n",
            a->context_tokens, a->budget, a->tokens_cached ? " (cached)" : "",
            a->first_token_ms / 1000.0, prefill, decode, a->answer_tokens, a->answer_id);
}

/* ---------------------------------------------------------------- running a question */

typedef struct {
    GMainLoop *loop;
    SlWorker *worker;
    GCancellable *cancellable;
    SlAnswer *answer;
    GError *error;
    gboolean tty, progress_shown, streaming, cancelled;
    char *part;    /* "part 2 of 5" while a long summary is made */
} AskState;

static void clear_progress(AskState *s)
{
    if (s->progress_shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        s->progress_shown = FALSE;
    }
}

static void on_stage(const char *stage, gsize done, gsize total, gpointer data)
{
    AskState *s = data;
    if (!s->tty || s->streaming)
        return;
    if (g_str_has_prefix(stage, "part ")) {
        g_free(s->part);
        s->part = g_strdup(stage);
    }
    fprintf(stderr, "\r\033[K%s%s%s", s->part ? s->part : "", s->part ? ": " : "", stage);
    if (!strcmp(stage, "prefill"))
        fprintf(stderr, " %zu/%zu tokens", done, total);
    fflush(stderr);
    s->progress_shown = TRUE;
}

static void on_text(const char *text, gpointer data)
{
    AskState *s = data;
    clear_progress(s);
    s->streaming = TRUE;
    fputs(text, stdout);
    fflush(stdout);
}

static void on_done(GObject *source, GAsyncResult *res, gpointer data)
{
    (void)source;
    AskState *s = data;
    s->answer = sl_ask_finish(s->worker, res, &s->error);
    g_main_loop_quit(s->loop);
}

static gboolean on_interrupt(gpointer data)
{
    AskState *s = data;
    s->cancelled = TRUE;
    g_cancellable_cancel(s->cancellable);
    return G_SOURCE_CONTINUE;
}

static SlWorker *load_model(const cli_options *eng)
{
    char path[4096];
    if (!sl_model_path(eng->model, path, sizeof path)) {
        fprintf(stderr, "sightline-cli: the model path is too long\n");
        return NULL;
    }
    SlWorker *w = sl_worker_new();
    SlModelOptions mo = {path, eng->threads, 0, eng->indexer, eng->device};
    GError *error = NULL;
    if (!sl_worker_load_model(w, &mo, &error)) {
        gboolean missing = !g_file_test(path, G_FILE_TEST_EXISTS);
        print_gerror(error);
        if (missing && !strcmp(eng->model, "default"))
            fprintf(stderr, "sightline-cli: install the default model with packaging/fetch-model\n");
        sl_worker_free(w);
        return NULL;
    }
    g_autofree char *device = NULL, *notice = NULL;
    if (!eng->quiet && sl_worker_model_device(w, &device, &notice))
        cli_print_device(device, notice);
    return w;
}

static int run_ask(const char *cmd, AskOptions *o, SlContextKind kind, GPtrArray *refs,
                   const char *question)
{
    SlLibrary *lib = open_library(o->library);
    if (!lib)
        return 1;
    int rc = 1;
    g_autoptr(GArray) ids = resolve_documents(lib, cmd, refs, o->collection);
    if (ids && o->conversation) {
        GError *error = NULL;
        g_autoptr(GPtrArray) rows = sl_library_answers(lib, o->conversation, 1, &error);
        if (!rows)
            print_gerror(error);
        else if (rows->len == 0)
            fprintf(stderr, "sightline-cli %s: no conversation %" G_GINT64_FORMAT
                            " in the library %s (sightline-cli history lists them)\n",
                    cmd, o->conversation, sl_library_path(lib));
        if (!rows || rows->len == 0)
            g_clear_pointer(&ids, g_array_unref);
    }
    SlWorker *worker = ids ? load_model(&o->eng) : NULL;
    if (!worker) {
        sl_library_close(lib);
        return 1;
    }
    SlAskRequest rq;
    sl_ask_request_init(&rq);
    rq.kind = kind;
    rq.documents = (const gint64 *)(void *)ids->data;
    rq.n_documents = ids->len;
    rq.question = question;
    rq.budget = (int)o->budget;
    if (o->eng.max_tokens > 0)
        rq.answer_tokens = o->eng.max_tokens;
    rq.dsa = o->eng.dsa;
    rq.sampling = o->eng.sampling;
    rq.conversation_id = o->conversation;

    AskState s = {g_main_loop_new(NULL, FALSE), worker, g_cancellable_new(), NULL, NULL,
                  isatty(2), FALSE, FALSE, FALSE, NULL};
    SlAskCallbacks callbacks = {on_stage, on_text, &s};
    guint sigint = g_unix_signal_add(SIGINT, on_interrupt, &s);
    sl_ask_async(worker, lib, &rq, &callbacks, s.cancellable, on_done, &s);
    g_main_loop_run(s.loop);
    g_source_remove(sigint);
    clear_progress(&s);

    if (s.answer) {
        print_answer(lib, s.answer, rq.dsa.mode);
        fflush(stdout);
        if (!o->eng.quiet)
            print_stats(s.answer);
        rc = 0;
    } else {
        if (s.streaming)
            putchar('\n');
        fflush(stdout);
        if (s.cancelled || g_error_matches(s.error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            fprintf(stderr, "sightline-cli: cancelled; nothing was stored\n");
            rc = 130;
        } else
            fprintf(stderr, "sightline-cli: %s\n", s.error ? s.error->message : "the answer failed");
        g_clear_error(&s.error);
    }
    sl_answer_free(s.answer);
    sl_worker_free(worker);
    g_free(s.part);
    g_object_unref(s.cancellable);
    g_main_loop_unref(s.loop);
    sl_library_close(lib);
    return rc;
}

static int ask_main(AskOptions *o)
{
    if (o->args->len == 0) {
        fprintf(stderr, "sightline-cli ask: ask needs a question (see --help)\n");
        return 2;
    }
    if (o->docs->len == 0 && !o->collection) {
        fprintf(stderr, "sightline-cli ask: which documents? --doc ID (again for more) or "
                        "--collection C\n");
        return 2;
    }
    g_ptr_array_add(o->args, NULL);
    g_autofree char *question = g_strjoinv(" ", (char **)o->args->pdata);
    g_strstrip(question);
    if (!*question) {
        fprintf(stderr, "sightline-cli ask: the question is empty\n");
        return 2;
    }
    return run_ask("ask", o, SL_CONTEXT_ASK, o->docs, question);
}

int cmd_ask(int argc, char **argv)
{
    AskOptions o = {0};
    int rc = parse_ask(argc, argv, &o) ? ask_main(&o) : 2;
    ask_options_clear(&o);
    return rc;
}

static int summarize_main(AskOptions *o)
{
    for (guint i = 0; i < o->args->len; i++)
        g_ptr_array_add(o->docs, o->args->pdata[i]);
    if (o->docs->len == 0 && !o->collection) {
        fprintf(stderr, "sightline-cli summarize: summarize needs documents (ids or paths) or "
                        "--collection C\n");
        return 2;
    }
    return run_ask("summarize", o, SL_CONTEXT_SUMMARY, o->docs, NULL);
}

int cmd_summarize(int argc, char **argv)
{
    AskOptions o = {0};
    int rc = parse_ask(argc, argv, &o) ? summarize_main(&o) : 2;
    ask_options_clear(&o);
    return rc;
}

/* ---------------------------------------------------------------- explain, history */

typedef struct {
    const char *library;
    gint64 conversation, token, limit;
    int first_layer, last_layer;
    gboolean question;
    GPtrArray *args;
} ReadOptions;

/* "A-B" or "A": 0-based layers. */
static gboolean parse_layers(const char *s, int *first, int *last)
{
    char *end;
    gint64 a = g_ascii_strtoll(s, &end, 10), b = a;
    if (end == s || a < 0 || a > 100000)
        return FALSE;
    if (*end == '-') {
        const char *from = end + 1;
        b = g_ascii_strtoll(from, &end, 10);
        if (end == from || b < 0 || b > 100000)
            return FALSE;
    }
    if (*end || b < a)
        return FALSE;
    *first = (int)a;
    *last = (int)b;
    return TRUE;
}

static gboolean parse_read(int argc, char **argv, ReadOptions *o, gboolean explain)
{
    const char *cmd = argv[0];
    o->args = g_ptr_array_new();
    o->token = -1;
    o->first_layer = o->last_layer = -1;
    o->limit = explain ? 10 : 20;
    gboolean options = TRUE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options || a[0] != '-' || !a[1]) {
            g_ptr_array_add(o->args, argv[i]);
            continue;
        }
        if (!strcmp(a, "--")) {
            options = FALSE;
            continue;
        }
        if (explain && !strcmp(a, "--question")) {
            o->question = TRUE;
            continue;
        }
        gboolean known = !strcmp(a, "--library") || !strcmp(a, "--limit") ||
                         (explain ? !strcmp(a, "--token") || !strcmp(a, "--layers")
                                  : !strcmp(a, "--conversation"));
        if (!known) {
            fprintf(stderr, "sightline-cli %s: unknown option '%s' (see --help)\n", cmd, a);
            return FALSE;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sightline-cli %s: %s needs a value\n", cmd, a);
            return FALSE;
        }
        const char *v = argv[++i];
        gboolean ok = TRUE;
        if (!strcmp(a, "--library"))
            o->library = v;
        else if (!strcmp(a, "--limit"))
            ok = parse_int(cmd, a, v, 1, 10000, &o->limit);
        else if (!strcmp(a, "--conversation"))
            ok = parse_int(cmd, a, v, 1, G_MAXINT64, &o->conversation);
        else if (!strcmp(a, "--token"))
            ok = parse_int(cmd, a, v, 0, G_MAXINT, &o->token);
        else if (!(ok = parse_layers(v, &o->first_layer, &o->last_layer)))
            fprintf(stderr, "sightline-cli %s: --layers expects A-B (0-based, A <= B) or A, not "
                            "'%s'\n", cmd, v);
        if (!ok)
            return FALSE;
    }
    return TRUE;
}

static void print_record_sizes(SlLibrary *lib, gint64 id)
{
    gsize span = 0, question = 0, answer = 0;
    if (!sl_library_answer_record_sizes(lib, id, &span, &question, &answer, NULL))
        return;
    g_autofree char *a = g_format_size(span), *b = g_format_size(question),
                    *c = g_format_size(answer);
    printf("\nRecords: span map %s, question's selections %s, answer's selections %s\n", a, b, c);
}

static int explain_answer(SlLibrary *lib, const ReadOptions *o, gint64 id)
{
    GError *error = NULL;
    g_autoptr(SlAnswerRow) row = sl_library_answer(lib, id, &error);
    if (!row) {
        print_gerror(error);
        return 1;
    }
    if (!strcmp(row->dsa_mode, "dense")) {
        fprintf(stderr, "sightline-cli: answer %" G_GINT64_FORMAT " was made with dense attention "
                        "(--dsa dense): nothing was selected, so there is nothing to explain; ask "
                        "with --dsa oracle or --dsa indexer to record where the model looks\n",
                id);
        return 1;
    }
    SlLookedQuery q = {o->question, (int)o->token, o->first_layer, o->last_layer};
    g_autoptr(GPtrArray) passages = sl_answer_looked(lib, id, &q, (int)o->limit, &error);
    if (!passages) {
        print_gerror(error);
        return 1;
    }
    const char *whose = o->question ? "the question" : "the answer";
    g_autofree char *who = o->token >= 0
                               ? g_strdup_printf("token %" G_GINT64_FORMAT " of %s", o->token, whose)
                               : g_strdup_printf("%s, all its tokens", whose);
    g_autofree char *what = o->first_layer >= 0
                                ? g_strdup_printf("%s, layers %d-%d", who, o->first_layer, o->last_layer)
                                : g_strdup(who);
    g_autofree char *question = one_line(row->question, 70);
    printf("Answer %" G_GINT64_FORMAT " (%s): %s\n", id, row->kind,
           *question ? question : "(a summary)");
    printf("Where the model looked for %s (selected by %s, top-k %d):\n", what,
           selected_by(row->dsa_mode), row->top_k);
    print_passages(lib, passages);
    print_record_sizes(lib, id);
    return 0;
}

static int explain_main(const ReadOptions *o)
{
    gint64 id = 0;
    if (o->args->len != 1) {
        fprintf(stderr, "sightline-cli explain: explain needs one answer id (sightline-cli "
                        "history lists them)\n");
        return 2;
    }
    if (!parse_int("explain", "ANSWER", o->args->pdata[0], 1, G_MAXINT64, &id))
        return 2;
    SlLibrary *lib = open_library(o->library);
    if (!lib)
        return 1;
    int rc = explain_answer(lib, o, id);
    sl_library_close(lib);
    return rc;
}

int cmd_explain(int argc, char **argv)
{
    ReadOptions o = {0};
    int rc = parse_read(argc, argv, &o, TRUE) ? explain_main(&o) : 2;
    g_ptr_array_unref(o.args);
    return rc;
}

/* "summary of BSD, MIT" for a summary's question column. */
static char *summary_title(SlLibrary *lib, gint64 id)
{
    g_autoptr(GPtrArray) sources = sl_library_answer_sources(lib, id, NULL);
    GString *s = g_string_new("summary of ");
    for (guint i = 0; sources && i < sources->len; i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "",
                               ((SlAnswerSource *)sources->pdata[i])->title);
    return g_string_free(s, FALSE);
}

static int history_list(SlLibrary *lib, const ReadOptions *o)
{
    GError *error = NULL;
    g_autoptr(GPtrArray) rows = sl_library_answers(lib, o->conversation, (int)o->limit, &error);
    if (!rows) {
        print_gerror(error);
        return 1;
    }
    for (guint i = 0; i < rows->len; i++) {
        const SlAnswerRow *r = rows->pdata[i];
        g_autoptr(GDateTime) t = g_date_time_new_from_unix_local(r->created_at / G_USEC_PER_SEC);
        g_autofree char *date = t ? g_date_time_format(t, "%Y-%m-%d %H:%M") : g_strdup("?");
        g_autofree char *dsa = r->top_k ? g_strdup_printf("%s/%d", r->dsa_mode, r->top_k)
                                        : g_strdup(r->dsa_mode);
        g_autofree char *tokens = g_strdup_printf("%d/%d", r->context_tokens, r->budget);
        g_autofree char *question = !strcmp(r->kind, "summary") && !*r->question
                                        ? summary_title(lib, r->id)
                                        : g_strdup(r->question);
        g_autofree char *q = one_line(question, 80);
        const char *a = r->answer + strspn(r->answer, " \t\r\n");
        g_autofree char *first = g_strndup(a, strcspn(a, "\n"));
        g_autofree char *line = one_line(first, 90);
        printf("%6" G_GINT64_FORMAT "  %s  %-7s  %-12s  %-11s  %s\n", r->id, date, r->kind, dsa,
               tokens, q);
        printf("        %s\n", line);
    }
    if (rows->len == 0 && o->conversation) {
        fprintf(stderr, "sightline-cli: no conversation %" G_GINT64_FORMAT " in the library %s\n",
                o->conversation, sl_library_path(lib));
        return 1;
    }
    return 0;
}

static int history_main(const ReadOptions *o)
{
    if (o->args->len) {
        fprintf(stderr, "sightline-cli history: history takes no arguments (see --help)\n");
        return 2;
    }
    SlLibrary *lib = open_library(o->library);
    if (!lib)
        return 1;
    int rc = history_list(lib, o);
    sl_library_close(lib);
    return rc;
}

int cmd_history(int argc, char **argv)
{
    ReadOptions o = {0};
    int rc = parse_read(argc, argv, &o, FALSE) ? history_main(&o) : 2;
    g_ptr_array_unref(o.args);
    return rc;
}
