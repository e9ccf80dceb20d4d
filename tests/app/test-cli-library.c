/* test-cli-library.c: sightline-cli's library commands, and crash safety with a real kill -9
 * of sightline-cli in the middle of adding many files (suite app). */
#include "check.h"

#include "sightline-engine.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

static const char *cli;

/* Runs sightline-cli with args (NULL-terminated); returns its exit status. */
static int run_cli(char **out, char **err, ...) G_GNUC_NULL_TERMINATED;
static int run_cli(char **out, char **err, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)cli);
    va_list ap;
    va_start(ap, err);
    const char *a;
    while ((a = va_arg(ap, const char *)))
        g_ptr_array_add(argv, (gpointer)a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    int status = 0;
    GError *error = NULL;
    g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, err, &status,
                 &error);
    g_assert_no_error(error);
    g_assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static char *write_file(const char *dir, const char *name, const char *text)
{
    char *path = g_build_filename(dir, name, NULL);
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    return path;
}

static void test_commands(void)
{
    g_autofree char *dir = make_tmp_dir();
    g_autofree char *db = g_build_filename(dir, "lib.db", NULL);
    g_autofree char *a = write_file(dir, "a.md", "# Kestrels\n\nThe kestrel hovers over fields.\n");
    g_autofree char *b = write_file(dir, "b.txt", "Owls hunt at night.\n");
    g_autofree char *missing = g_build_filename(dir, "missing.txt", NULL);
    char *out = NULL, *err = NULL;

    g_assert_cmpint(run_cli(&out, &err, "add", "--library", db, "--collection", "birds", a, b,
                            missing, NULL),
                    ==, 1);
    g_assert_nonnull(strstr(out, "added 2"));
    g_assert_nonnull(strstr(out, "failed 1"));
    g_assert_nonnull(strstr(err, missing));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_cmpint(run_cli(&out, &err, "list", "--library", db, NULL), ==, 0);
    g_assert_nonnull(strstr(out, "Kestrels"));
    g_assert_nonnull(strstr(out, b));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_cmpint(run_cli(&out, &err, "search", "--library", db, "kestrel hovers", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "[kestrel] [hovers]"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&out, &err, "search", "--library", db, "penguin", NULL), ==, 1);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_cmpint(run_cli(&out, &err, "show", "--library", db, a, NULL), ==, 0);
    g_assert_nonnull(strstr(out, "collections: birds"));
    g_assert_nonnull(strstr(out, "passages:    1"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_cmpint(run_cli(&out, &err, "collections", "--library", db, NULL), ==, 0);
    g_assert_cmpstr(out, ==, "birds  2 documents\n");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_cmpint(run_cli(&out, &err, "rm", "--library", db, "1", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "removed 1"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&out, &err, "rm", "--library", db, "1", NULL), ==, 1);
    g_assert_nonnull(strstr(err, "no document 1"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_cmpint(run_cli(&out, &err, "add", "--library", db, "--bogus", a, NULL), ==, 2);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&out, &err, "search", "--library", db, "--limit", "0", "x", NULL), ==, 2);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&out, &err, "show", "--library", NULL), ==, 2);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(check_library(db), ==, 1);
    remove_tree(dir);
}

/* A real full disk: a small tmpfs, mounted in a private user and mount namespace (unshare), so
 * nothing outside the test sees it. Skipped where namespaces are not allowed. */
static void test_full_disk(void)
{
    g_autofree char *unshare = g_find_program_in_path("unshare");
    if (!unshare) {
        g_test_skip("no unshare");
        return;
    }
    g_autofree char *dir = make_tmp_dir();
    g_autofree char *mnt = g_build_filename(dir, "mnt", NULL);
    g_autofree char *saved = g_build_filename(dir, "saved", NULL);
    g_assert_cmpint(g_mkdir(mnt, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(saved, 0700), ==, 0);
    int probe = 0;
    const char *probe_argv[] = {unshare, "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs \"$1\"",
                                "sh", mnt, NULL};
    if (!g_spawn_sync(NULL, (char **)probe_argv, NULL,
                      G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL,
                      NULL, &probe, NULL) ||
        !WIFEXITED(probe) || WEXITSTATUS(probe) != 0) {
        g_test_skip("cannot mount a tmpfs in a user namespace here");
        remove_tree(dir);
        return;
    }
    g_autofree char *small = write_file(dir, "small.txt", "A small text that fits.\n");
    GString *s = g_string_new(NULL);
    for (int i = 0; i < 40000; i++)
        g_string_append_printf(s, "Line %d of a text too large for the disk.\n%s", i, i % 9 ? "" : "\n");
    g_autofree char *big = write_file(dir, "big.txt", s->str);
    g_string_free(s, TRUE);

    const char *script = "mount -t tmpfs -o size=512k tmpfs \"$1\" || exit 99; "
                         "\"$2\" add --library \"$1/lib.db\" \"$3\" && "
                         "\"$2\" add --library \"$1/lib.db\" \"$4\"; rc=$?; "
                         "cp \"$1\"/lib.db* \"$5\"/ || exit 98; exit $rc";
    const char *argv[] = {unshare, "-rm", "sh", "-c", script, "sh", mnt, cli, small, big, saved, NULL};
    g_autofree char *out = NULL, *err = NULL;
    int status = 0;
    GError *error = NULL;
    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
    g_assert_no_error(error);
    g_test_message("stdout: %s\nstderr: %s", out, err);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    g_assert_nonnull(strstr(err, big));
    g_assert_nonnull(strstr(err, "full"));
    g_autofree char *db = g_build_filename(saved, "lib.db", NULL);
    g_assert_cmpint(check_library(db), ==, 1);
    g_autofree char *title = query_value(db, "SELECT title FROM documents");
    g_assert_cmpstr(title, ==, "A small text that fits.");
    remove_tree(dir);
}

#define N_FILES 300

static void remove_db(const char *db)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < G_N_ELEMENTS(suffix); i++) {
        g_autofree char *p = g_strconcat(db, suffix[i], NULL);
        g_unlink(p);
    }
}

static void test_kill9(void)
{
    g_autofree char *dir = make_tmp_dir();
    g_autofree char *db = g_build_filename(dir, "lib.db", NULL);
    g_autofree char *base = NULL;
    if (!g_file_get_contents("/usr/share/common-licenses/GPL-2", &base, NULL, NULL)) {
        GString *s = g_string_new(NULL);
        for (int i = 0; i < 600; i++)
            g_string_append_printf(s, "Line %d of the synthetic text.\n%s", i, i % 5 ? "" : "\n");
        base = g_string_free(s, FALSE);
    }
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(argv, g_strdup(cli));
    g_ptr_array_add(argv, g_strdup("add"));
    g_ptr_array_add(argv, g_strdup("--library"));
    g_ptr_array_add(argv, g_strdup(db));
    /* A tree of texts and sources, added as one folder. */
    g_autofree char *tree = g_build_filename(dir, "tree", NULL);
    for (int i = 0; i < N_FILES; i++) {
        g_autofree char *sub = g_strdup_printf("%s/part%d", tree, i % 6);
        g_assert_cmpint(g_mkdir_with_parents(sub, 0700), ==, 0);
        g_autofree char *name = g_strdup_printf(i % 3 ? "doc%03d.txt" : "src%03d.c", i);
        g_autofree char *text = g_strdup_printf("Document %d, marker q%dq.\n\n%s\n\n%s", i, i, base, base);
        g_free(write_file(sub, name, text));
    }
    g_ptr_array_add(argv, g_strdup(tree));
    g_ptr_array_add(argv, NULL);

    GRand *rand = g_rand_new_with_seed(g_test_rand_int());
    int kills = 0, partial = 0, last = 0;
    gint32 max_delay = 400000; /* µs; doubled after a round that stored nothing (a slow machine) */
    for (int round = 0; round < 10; round++) {
        GPid pid;
        GError *error = NULL;
        g_spawn_async(NULL, (char **)argv->pdata, NULL,
                      G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL |
                          G_SPAWN_STDERR_TO_DEV_NULL,
                      NULL, NULL, &pid, &error);
        g_assert_no_error(error);
        g_usleep((gulong)g_rand_int_range(rand, 20000, max_delay));
        kill(pid, SIGKILL);
        int status = 0;
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_spawn_close_pid(pid);
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
            kills++;
        int n = 0;
        if (g_file_test(db, G_FILE_TEST_EXISTS)) {
            /* Killed while creating the schema: the migration is one transaction, so the
             * file holds no schema at all (version 0), never part of one. */
            g_autofree char *version = query_value(db, "PRAGMA user_version");
            g_autofree char *tables = query_value(db, "SELECT count(*) FROM sqlite_schema");
            if (g_strcmp0(version, "0") == 0) {
                g_autofree char *integrity = query_value(db, "PRAGMA integrity_check");
                g_assert_cmpstr(integrity, ==, "ok");
                g_assert_cmpstr(tables, ==, "0");
            } else
                n = check_library(db);
        }
        if (n == last && max_delay < 8000000)
            max_delay *= 2;
        last = n;
        g_test_message("round %d: %s, %d documents whole", round,
                       WIFSIGNALED(status) ? "killed" : "finished", n);
        if (n > 0 && n < N_FILES)
            partial++;
        if (n == N_FILES) {
            remove_db(db); /* start over, to be killed again */
            last = 0;
        }
    }
    g_rand_free(rand);
    g_assert_cmpint(kills, >=, 3);
    g_assert_cmpint(partial, >=, 1);

    /* A run to the end completes what the killed ones left, without reading again what
     * they stored. */
    int status = 0;
    GError *error = NULL;
    g_autofree char *out = NULL;
    g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                 NULL, &status, &error);
    g_assert_no_error(error);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_assert_cmpint(check_library(db), ==, N_FILES);
    g_autofree char *summary = g_strdup_printf("added %d, updated 0, unchanged %d,", N_FILES - last,
                                               last);
    if (!strstr(out, summary))
        g_error("expected \"%s\" in: %s", summary, out);
    remove_tree(dir);
}

/* add --password: an encrypted PDF (made with qpdf from a packaged one) waits for its
 * password, then is read with it. */
static void test_password(void)
{
    const char *real = "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf";
    g_autofree char *qpdf = g_find_program_in_path("qpdf");
    if (!qpdf || !g_file_test(real, G_FILE_TEST_EXISTS)) {
        g_test_skip("needs qpdf and shared-mime-info's PDF (packaging/setup installs both)");
        return;
    }
    g_autofree char *dir = make_tmp_dir();
    g_autofree char *db = g_build_filename(dir, "lib.db", NULL);
    g_autofree char *locked = g_build_filename(dir, "locked.pdf", NULL);
    const char *argv[] = {qpdf, "--encrypt", "s3cret", "owner", "256", "--", real, locked, NULL};
    int status = 0;
    GError *error = NULL;
    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, NULL,
                 &status, &error);
    g_assert_no_error(error);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    char *out = NULL, *err = NULL;

    g_assert_cmpint(run_cli(&out, &err, "add", "--library", db, locked, NULL), ==, 0);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&out, &err, "show", "--library", db, locked, NULL), ==, 0);
    g_assert_nonnull(strstr(out, "needs_password"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_cmpint(run_cli(&out, &err, "add", "--library", db, "--password", "s3cret", locked,
                            NULL),
                    ==, 0);
    g_assert_nonnull(strstr(out, "updated 1"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&out, &err, "show", "--library", db, locked, NULL), ==, 0);
    g_assert_nonnull(strstr(out, "status:      ok"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&out, &err, "search", "--library", db, "\"shared mime\"", NULL), ==, 0);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    /* --password is for add only. */
    g_assert_cmpint(run_cli(&out, &err, "list", "--library", db, "--password", "x", NULL), ==, 2);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    check_library(db);
    remove_tree(dir);
}

/* The answer id in ask's statistics line ("..., answer 12"). */
static char *answer_id(const char *err)
{
    const char *at = strstr(err, ", answer ");
    g_assert_nonnull(at);
    at += strlen(", answer ");
    return g_strndup(at, strspn(at, "0123456789"));
}

/* ask, history and explain with the default model on two real license texts: small budgets
 * and answers, so it stays quick. */
static void test_ask(void)
{
    char model[4096];
    g_assert_true(sl_model_path("default", model, sizeof model));
    if (!g_file_test(model, G_FILE_TEST_EXISTS)) {
        g_autofree char *why = g_strdup_printf("no default model at %s (packaging/fetch-model)", model);
        g_test_skip(why);
        return;
    }
    static const char *const texts[] = {"/usr/share/common-licenses/BSD",
                                        "/usr/share/common-licenses/CC0-1.0"};
    g_autofree char *dir = make_tmp_dir();
    g_autofree char *db = g_build_filename(dir, "lib.db", NULL);
    char *paths[2], *out = NULL, *err = NULL;
    for (int i = 0; i < 2; i++) {
        g_autofree char *text = NULL;
        g_assert_true(g_file_get_contents(texts[i], &text, NULL, NULL));
        paths[i] = write_file(dir, i ? "CC0-1.0" : "BSD", text);
    }
    g_assert_cmpint(run_cli(&out, &err, "add", "--library", db, "--collection", "c", paths[0],
                            paths[1], NULL),
                    ==, 0);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    /* The titles as the library has them, to find them among the sources. */
    g_assert_cmpint(run_cli(&out, &err, "list", "--library", db, NULL), ==, 0);
    g_assert_nonnull(strstr(out, "Copyright (c) The Regents of the University of California."));
    g_assert_nonnull(strstr(out, "Creative Commons Legal Code"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    int rc = run_cli(&out, &err, "ask", "--library", db, "--collection", "c", "-m", "default",
                     "--budget", "1024", "-n", "12", "--dsa", "oracle", "--top-k", "64",
                     "What does the license permit?", NULL);
    g_test_message("ask: %s\n%s", out, err);
    g_assert_cmpint(rc, ==, 0);
    const char *sources = strstr(out, "\nSources:\n");
    g_assert_nonnull(sources);
    const char *citations = strstr(sources, "\nCitations:\n");
    g_assert_nonnull(citations);
    /* Both, numbered 1 and 2 in either order (the files are added in parallel). */
    g_autofree char *listed = g_strndup(sources, (gsize)(citations - sources));
    g_assert_true(g_regex_match_simple("^  \\[[12]\\] Copyright \\(c\\) The Regents of the "
                                       "University of California\\. — ",
                                       listed, G_REGEX_MULTILINE, 0));
    g_assert_true(g_regex_match_simple("^  \\[[12]\\] Creative Commons Legal Code — ", listed,
                                       G_REGEX_MULTILINE, 0));
    g_assert_nonnull(strstr(sources, "\nLeft out: ")); /* 1,900 tokens in a budget of 1,024 */
    g_assert_nonnull(strstr(sources, "\nWhere the model looked (selected by the oracle):\n"));
    g_assert_nonnull(strstr(err, "context "));
    /* Where the model ran, by default "auto": a GPU, or the CPU and why. */
    g_assert_true(g_regex_match_simple("^sightline-cli: (running on .*|.* on the CPU)$", err,
                                       G_REGEX_MULTILINE, 0));
    g_autofree char *id = answer_id(err);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_cmpint(run_cli(&out, &err, "history", "--library", db, NULL), ==, 0);
    g_assert_true(g_regex_match_simple("^ +1 .* ask +oracle/64 +[0-9]+/1024 +What does the "
                                       "license permit\\?\n",
                                       out, G_REGEX_MULTILINE, 0));
    g_assert_cmpstr(id, ==, "1");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* explain: the whole answer, some layers, one token; passages with their shares. */
    const char *const variants[][3] = {{NULL}, {"--layers", "0-3", NULL}, {"--token", "0", NULL},
                                       {"--question", NULL}};
    for (gsize v = 0; v < G_N_ELEMENTS(variants); v++) {
        rc = run_cli(&out, &err, "explain", "--library", db, id, variants[v][0], variants[v][1], NULL);
        g_test_message("explain %s %s: %s%s", variants[v][0] ? variants[v][0] : "",
                       variants[v][1] ? variants[v][1] : "", out, err);
        g_assert_cmpint(rc, ==, 0);
        g_assert_nonnull(strstr(out, "Where the model looked for "));
        g_assert_true(g_regex_match_simple("^ +[0-9]+\\.[0-9]% +\\[[12]\\] ", out,
                                           G_REGEX_MULTILINE, 0));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
    }
    /* One token in some layers: the layers that chose its most selected positions. */
    rc = run_cli(&out, &err, "explain", "--library", db, id, "--token", "1", "--layers", "0-3", NULL);
    g_test_message("explain --token 1 --layers 0-3: %s%s", out, err);
    g_assert_cmpint(rc, ==, 0);
    g_assert_nonnull(strstr(out, "Where the model looked for token 1 of the answer, layers 0-3"));
    g_assert_true(g_regex_match_simple("^ +[0-9]+\\.[0-9]% +\\[[12]\\] ", out, G_REGEX_MULTILINE, 0));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&out, &err, "explain", "--library", db, id, "--layers", "0-999", NULL),
                    ==, 1);
    g_assert_nonnull(strstr(err, "layers 0-999: the model has layers 0-"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&out, &err, "explain", "--library", db, id, "--token", "99999", NULL),
                    ==, 1);
    g_assert_nonnull(strstr(err, "token 99999"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&out, &err, "explain", "--library", db, "42", NULL), ==, 1);
    g_assert_nonnull(strstr(err, "no answer 42"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* Dense: no selections recorded, and explain says so. */
    rc = run_cli(&out, &err, "ask", "--library", db, "--doc", "1", "--budget", "1024", "-n", "6",
                 "--dsa", "dense", "--device", "cpu", "What is this?", NULL);
    g_test_message("ask --dsa dense: %s\n%s", out, err);
    g_assert_cmpint(rc, ==, 0);
    g_assert_true(g_regex_match_simple("^sightline-cli: running on the CPU \\([0-9]+ threads\\)$",
                                       err, G_REGEX_MULTILINE, 0));
    g_assert_nonnull(strstr(out, "\nSources:\n"));
    g_assert_null(strstr(out, "Where the model looked"));
    g_autofree char *dense = answer_id(err);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&out, &err, "explain", "--library", db, dense, NULL), ==, 1);
    g_assert_nonnull(strstr(err, "dense"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&out, &err, "history", "--library", db, "--limit", "1", NULL), ==, 0);
    g_assert_true(g_regex_match_simple("^ +2 .* ask +dense ", out, G_REGEX_MULTILINE, 0));
    g_assert_null(strstr(out, "oracle"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* Clear errors before any model is loaded. */
    g_assert_cmpint(run_cli(&out, &err, "ask", "--library", db, "--collection", "none", "q", NULL),
                    ==, 1);
    g_assert_nonnull(strstr(err, "no collection 'none'"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&out, &err, "ask", "--library", db, "--doc", "9", "q", NULL), ==, 1);
    g_assert_nonnull(strstr(err, "no document 9"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&out, &err, "ask", "--library", db, "q", NULL), ==, 2);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    check_library(db);
    for (int i = 0; i < 2; i++)
        g_free(paths[i]);
    remove_tree(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (argc < 2) {
        g_printerr("usage: %s SIGHTLINE-CLI\n", argv[0]);
        return 2;
    }
    cli = argv[1];
    g_test_add_func("/app/cli/commands", test_commands);
    g_test_add_func("/app/cli/kill-9", test_kill9);
    g_test_add_func("/app/cli/full-disk", test_full_disk);
    g_test_add_func("/app/cli/password", test_password);
    g_test_add_func("/app/cli/ask", test_ask);
    return g_test_run();
}
