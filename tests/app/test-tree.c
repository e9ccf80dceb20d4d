/* test-tree.c: source trees (suite app). Which files a folder gives is checked against git
 * itself (git ls-files --others --exclude-standard) on random trees with random .gitignore
 * rules; line offsets against grep -b; a real tree from a Debian package (GLib's headers). */
#include "check.h"
#include "gitignore.h"
#include "ingest.h"
#include "library-private.h"

#include <glib/gstdio.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#define REAL_TREE "/usr/include/glib-2.0"

typedef struct {
    char *dir;  /* scratch */
    char *tree; /* the folder added */
    char *db;
    SlLibrary *lib;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
    f->dir = make_tmp_dir();
    f->tree = g_build_filename(f->dir, "project", NULL);
    g_assert_cmpint(g_mkdir(f->tree, 0700), ==, 0);
    f->db = g_build_filename(f->dir, "library.db", NULL);
    GError *error = NULL;
    f->lib = sl_library_open(f->db, &error);
    g_assert_no_error(error);
}

static void teardown(Fixture *f, gconstpointer data)
{
    sl_library_close(f->lib);
    check_library(f->db);
    remove_tree(f->dir);
    g_free(f->dir);
    g_free(f->tree);
    g_free(f->db);
}

/* Writes root/rel, creating its folders. */
static void put(const char *root, const char *rel, const char *data, gssize len)
{
    g_autofree char *path = g_build_filename(root, rel, NULL);
    g_autofree char *dir = g_path_get_dirname(path);
    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    GError *error = NULL;
    g_file_set_contents(path, data, len, &error);
    g_assert_no_error(error);
}

static void link_at(const char *root, const char *rel, const char *target)
{
    g_autofree char *path = g_build_filename(root, rel, NULL);
    g_assert_cmpint(symlink(target, path), ==, 0);
}

/* Runs a command (argv) in dir with git kept away from the user's configuration; stdout. */
static char *run_in(const char *dir, const char *const *argv)
{
    g_auto(GStrv) env = g_get_environ();
    env = g_environ_setenv(env, "HOME", dir, TRUE);
    env = g_environ_setenv(env, "XDG_CONFIG_HOME", dir, TRUE);
    env = g_environ_setenv(env, "GIT_CONFIG_NOSYSTEM", "1", TRUE);
    char *out = NULL;
    int status = 0;
    GError *error = NULL;
    g_spawn_sync(dir, (char **)argv, env, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                 NULL, &out, NULL, &status, &error);
    g_assert_no_error(error);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    return out;
}

/* The files of root that a walk would read: paths relative to root, sorted. */
static GPtrArray *walked(const char *root, const SlIngestOptions *options)
{
    g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func((GDestroyNotify)sl_tree_entry_free);
    GError *error = NULL;
    g_assert_true(sl_tree_walk(root, options, entries, NULL, &error));
    g_assert_no_error(error);
    g_autofree char *real = realpath(root, NULL);
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < entries->len; i++) {
        SlTreeEntry *e = entries->pdata[i];
        g_assert_true(g_str_has_prefix(e->path, real) && e->path[strlen(real)] == '/');
        if (!e->skipped && !e->error)
            g_ptr_array_add(out, g_strdup(e->path + strlen(real) + 1));
    }
    g_ptr_array_sort(out, (GCompareFunc)g_strcmp0);
    return out;
}

static int compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---------------------------------------------------------------- .gitignore against git */

static const char *const names[] = {"a", "b", "ab", "a.c", "b.c", "x.txt", "y.md", "foo", "Foo",
                                    "a b", "a[1]", "deep", "lib.h", "#x", "!y"};
static const char *const patterns[] = {
    "*.c", "a", "/a", "a/", "!a.c", "**/b", "a/**", "a/**/b.c", "[ab]*", "?", "*.[ch]",
    "!*.txt", "foo/", "/x.txt", "b/a.c", "deep/**/x.txt", "*", "!b", "!foo/", "F*",
    "\\#x", "\\!y", "a\\ b", "a\\[1]", "[!a]*", "**", "*/a.c", "/deep/foo", "**/foo/**",
    "a?c", "[a-b].c", "deep/", "!/a", "*.md ", "# comment", "", "lib.[!c]",
};

static guint32 rng_state;
static guint32 rnd(guint32 n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 16) % n;
}

static void random_tree(const char *root, const char *rel, int depth)
{
    guint n = 1 + rnd(5);
    for (guint i = 0; i < n; i++) {
        const char *name = names[rnd(G_N_ELEMENTS(names))];
        g_autofree char *child = *rel ? g_strconcat(rel, "/", name, NULL) : g_strdup(name);
        g_autofree char *path = g_build_filename(root, child, NULL);
        if (g_file_test(path, G_FILE_TEST_EXISTS))
            continue;
        if (depth < 3 && rnd(3) == 0)
            random_tree(root, child, depth + 1);
        else
            put(root, child, "text\n", -1);
    }
    if (rnd(2) == 0) {
        GString *rules = g_string_new(NULL);
        for (guint k = 1 + rnd(4); k > 0; k--)
            g_string_append_printf(rules, "%s\n", patterns[rnd(G_N_ELEMENTS(patterns))]);
        g_autofree char *gi = *rel ? g_strconcat(rel, "/.gitignore", NULL) : g_strdup(".gitignore");
        put(root, gi, rules->str, (gssize)rules->len);
        g_string_free(rules, TRUE);
    }
}

/* Regular files below root, .git aside. */
static guint count_files(const char *root)
{
    g_autofree char *out = run_in(root, (const char *const[]){"find", ".", "-path", "./.git",
                                                               "-prune", "-o", "-type", "f",
                                                               "-print", NULL});
    guint n = 0;
    for (const char *p = out; (p = strchr(p, '\n')); p++)
        n++;
    return n;
}

static void test_gitignore_like_git(Fixture *f, gconstpointer data)
{
    guint files = 0, kept = 0;
    for (guint seed = 1; seed <= 150; seed++) {
        rng_state = seed;
        g_autofree char *root = g_strdup_printf("%s/t%u", f->dir, seed);
        g_assert_cmpint(g_mkdir(root, 0700), ==, 0);
        random_tree(root, "", 0);
        g_free(run_in(root, (const char *const[]){"git", "init", "-q", ".", NULL}));
        g_autofree char *listed =
            run_in(root, (const char *const[]){"git", "ls-files", "--others", "--exclude-standard",
                                               "-z", NULL});
        g_autoptr(GPtrArray) expected = g_ptr_array_new_with_free_func(g_free);
        for (const char *p = listed; *p; p += strlen(p) + 1)
            g_ptr_array_add(expected, g_strdup(p));
        g_ptr_array_sort(expected, compare_strings);
        g_autoptr(GPtrArray) got = walked(root, NULL);
        files += count_files(root);
        kept += expected->len;
        g_ptr_array_sort(got, compare_strings);
        for (guint i = 0; i < MAX(expected->len, got->len); i++) {
            const char *e = i < expected->len ? expected->pdata[i] : "(none)";
            const char *g = i < got->len ? got->pdata[i] : "(none)";
            if (strcmp(e, g) != 0)
                g_error("seed %u (%s): git lists %s where the walk gives %s", seed, root, e, g);
        }
        remove_tree(root);
    }
    /* The rules must have had work to do: a fair share of the files ignored, not all. */
    g_test_message("%u files in 150 trees, %u not ignored", files, kept);
    g_assert_cmpuint(kept, >, files / 5);
    g_assert_cmpuint(kept, <, files * 4 / 5);
}

/* Examples from gitignore(5), which git's own behaviour confirms above. */
static void test_wildmatch(void)
{
    static const struct {
        const char *pattern, *text;
        gboolean match;
    } cases[] = {
        {"*.c", "a.c", TRUE},          {"*.c", "d/a.c", FALSE},     {"**/foo", "foo", TRUE},
        {"**/foo", "a/b/foo", TRUE},   {"abc/**", "abc/x/y", TRUE}, {"abc/**", "abc", FALSE},
        {"a/**/b", "a/b", TRUE},       {"a/**/b", "a/x/y/b", TRUE}, {"a/**/b", "ab", FALSE},
        {"?", "/", FALSE},             {"[a-c]x", "bx", TRUE},      {"[!a-c]x", "dx", TRUE},
        {"[!a-c]x", "ax", FALSE},      {"a\\*", "a*", TRUE},        {"a\\*", "ab", FALSE},
        {"[[:digit:]]z", "7z", TRUE},  {"[]]", "]", TRUE},          {"a[", "a[", TRUE},
        {"a**b", "axxb", TRUE},        {"a**b", "a/b", FALSE},      {"doc/frotz", "doc/frotz", TRUE},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
        if (sl_gitignore_wildmatch(cases[i].pattern, cases[i].text) != cases[i].match)
            g_error("wildmatch(\"%s\", \"%s\") should be %d", cases[i].pattern, cases[i].text,
                    cases[i].match);
}

/* ---------------------------------------------------------------- a tree with everything */

/* The result for root/rel, or NULL. */
static SlIngestResult *find_result(GPtrArray *results, const char *root, const char *rel)
{
    g_autofree char *real = realpath(root, NULL);
    g_autofree char *path = g_build_filename(real, rel, NULL);
    for (guint i = 0; i < results->len; i++) {
        SlIngestResult *r = results->pdata[i];
        if (strcmp(r->path, path) == 0)
            return r;
    }
    return NULL;
}

static void assert_stored(SlLibrary *lib, GPtrArray *results, const char *root, const char *rel,
                          const char *kind, const char *language)
{
    SlIngestResult *r = find_result(results, root, rel);
    if (!r || r->error || r->skipped || !r->document_id)
        g_error("%s: not stored (%s)", rel,
                !r ? "no result" : r->error ? r->error->message : r->skipped ? r->skipped : "?");
    g_autofree char *id = g_strdup_printf("%" G_GINT64_FORMAT, r->document_id);
    g_autoptr(SlDocument) d = sl_library_get(lib, id, NULL);
    g_assert_cmpstr(d->kind, ==, kind);
    g_assert_cmpstr(d->language, ==, language);
    g_autofree char *title = g_strconcat("project/", rel, NULL);
    g_assert_cmpstr(d->title, ==, title);
}

static void assert_skipped(GPtrArray *results, const char *root, const char *rel, const char *why)
{
    SlIngestResult *r = find_result(results, root, rel);
    if (!r || !r->skipped || !strstr(r->skipped, why))
        g_error("%s: should be skipped as \"%s\" (%s)", rel, why,
                !r ? "no result" : r->skipped ? r->skipped : "not skipped");
    g_assert_cmpint(r->document_id, ==, 0);
}

static void assert_absent(GPtrArray *results, const char *root, const char *rel)
{
    if (find_result(results, root, rel))
        g_error("%s: should not be met at all", rel);
}

static void make_everything_tree(const char *t, const char *outside)
{
    put(t, ".gitignore", "*.log\n!keep.log\n/secret.txt\nout/\n", -1);
    put(t, "src/.gitignore", "generated_*.c\n", -1);
    put(t, "src/main.c", "#include \"util.h\"\n\nint main(void)\n{\n    return helper();\n}\n", -1);
    put(t, "src/util.h", "int helper(void);\n", -1);
    put(t, "src/generated_table.c", "int table[] = {1};\n", -1);
    put(t, "src/secret.txt", "not the root's secret\n", -1);
    put(t, "scripts/run", "#!/usr/bin/env python3\nprint('hi')\n", -1);
    put(t, "README.md", "# Project\n\nIt does things.\n", -1);
    put(t, "notes.txt", "plain notes\n", -1);
    put(t, "Makefile", "all:\n\tcc -o main src/main.c\n", -1);
    put(t, "CMakeLists.txt", "project(x C)\n", -1);
    put(t, "debug.log", "noise\n", -1);
    put(t, "keep.log", "kept on purpose\n", -1);
    put(t, "secret.txt", "hidden\n", -1);
    put(t, "out/result.txt", "build output\n", -1);
    put(t, "node_modules/left-pad/index.js", "module.exports = 1;\n", -1);
    put(t, "logo.png", "\x89PNG\r\n", 6);
    put(t, "blob.dat", "ab\0cd", 5);
    g_autofree char *big = g_strnfill(SL_TREE_MAX_FILE_BYTES + 1, 'x');
    put(t, "big.txt", big, -1);
    put(outside, "passwords.txt", "hunter2\n", -1);
    link_at(t, "to-outside", outside);                 /* a folder outside */
    g_autofree char *pw = g_build_filename(outside, "passwords.txt", NULL);
    link_at(t, "passwords-link.txt", pw);              /* a file outside */
    link_at(t, "src/up", "..");                        /* a loop back to the root */
    link_at(t, "self", "self");                        /* a link to itself */
    link_at(t, "dangling.c", "nowhere.c");
    link_at(t, "main-link.c", "src/main.c");           /* inside: read where it is */
}

static void test_everything(Fixture *f, gconstpointer data)
{
    g_autofree char *outside = g_build_filename(f->dir, "outside", NULL);
    make_everything_tree(f->tree, outside);
    g_free(run_in(f->tree, (const char *const[]){"git", "init", "-q", ".", NULL}));
    g_autoptr(GPtrArray) r = sl_ingest_files(f->lib, (const char *const[]){f->tree, NULL}, "proj",
                                             NULL, NULL, NULL);
    assert_stored(f->lib, r, f->tree, "src/main.c", "code", "c");
    assert_stored(f->lib, r, f->tree, "src/util.h", "code", "chdr");
    assert_stored(f->lib, r, f->tree, "src/secret.txt", "text", NULL);
    assert_stored(f->lib, r, f->tree, "scripts/run", "code", "python3");
    assert_stored(f->lib, r, f->tree, "README.md", "text", "markdown");
    assert_stored(f->lib, r, f->tree, "notes.txt", "text", NULL);
    assert_stored(f->lib, r, f->tree, "Makefile", "code", "makefile");
    assert_stored(f->lib, r, f->tree, "CMakeLists.txt", "code", "cmake");
    assert_stored(f->lib, r, f->tree, "keep.log", "text", NULL);
    assert_stored(f->lib, r, f->tree, ".gitignore", "text", NULL);
    assert_absent(r, f->tree, "debug.log");
    assert_absent(r, f->tree, "secret.txt");
    assert_absent(r, f->tree, "out/result.txt");
    assert_absent(r, f->tree, "src/generated_table.c");
    assert_absent(r, f->tree, ".git/config");
    assert_absent(r, f->tree, "main-link.c");
    assert_absent(r, f->tree, "src/up");
    assert_skipped(r, f->tree, "node_modules", "vendored");
    assert_absent(r, f->tree, "node_modules/left-pad/index.js");
    assert_skipped(r, f->tree, "logo.png", "binary");
    assert_skipped(r, f->tree, "blob.dat", "binary");
    assert_skipped(r, f->tree, "big.txt", "too large");
    assert_skipped(r, f->tree, "to-outside", "outside the folder");
    assert_skipped(r, f->tree, "passwords-link.txt", "outside the folder");
    assert_skipped(r, f->tree, "self", "loop");
    assert_skipped(r, f->tree, "dangling.c", "broken symbolic link");
    for (guint i = 0; i < r->len; i++) { /* nothing from outside, nothing failed */
        SlIngestResult *x = r->pdata[i];
        g_assert_no_error(x->error);
        g_assert_true(g_str_has_prefix(x->path, f->dir) && !strstr(x->path, "/outside/"));
    }
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM passages WHERE text LIKE '%hunter2%'"),
                    ==, 0);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM documents"), ==, 11);
    g_assert_cmpint(count_rows(f->lib, "SELECT count(*) FROM document_collections"), ==, 11);

    /* What git itself would add is what was stored, besides what we skip on purpose. */
    g_autofree char *listed = run_in(f->tree, (const char *const[]){"git", "ls-files", "--others",
                                                                     "--exclude-standard", "-z", NULL});
    guint git_files = 0;
    for (const char *p = listed; *p; p += strlen(p) + 1) {
        git_files++;
        SlIngestResult *x = find_result(r, f->tree, p);
        g_assert_true(x || strcmp(p, "main-link.c") == 0 || strcmp(p, "src/up") == 0 ||
                      g_str_has_prefix(p, "node_modules/"));
    }
    /* the 11 stored, the 2 links inside, index.js and the 7 files and links skipped */
    g_assert_cmpuint(git_files, ==, 11 + 2 + 1 + 7);

    /* A larger limit and vendored folders on request. */
    SlIngestOptions all = {NULL, 4 * SL_TREE_MAX_FILE_BYTES, TRUE};
    g_autoptr(GPtrArray) r2 = sl_ingest_files_full(f->lib, (const char *const[]){f->tree, NULL},
                                                   NULL, &all, NULL, NULL, NULL);
    assert_stored(f->lib, r2, f->tree, "big.txt", "text", NULL);
    assert_stored(f->lib, r2, f->tree, "node_modules/left-pad/index.js", "code", "js");
    g_assert_cmpint(find_result(r2, f->tree, "src/main.c")->outcome, ==, SL_STORED_UNCHANGED);
}

/* ---------------------------------------------------------------- a real tree */

/* Byte offsets of the lines of path, from grep -b. */
static GArray *grep_line_offsets(const char *path)
{
    g_autofree char *out = run_in("/", (const char *const[]){"grep", "-a", "-b", "", path, NULL});
    GArray *offsets = g_array_new(FALSE, FALSE, sizeof(guint32));
    for (char *line = out; *line;) {
        guint32 v = (guint32)g_ascii_strtoull(line, NULL, 10);
        g_array_append_val(offsets, v);
        char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    return offsets;
}

static void check_code_document(sqlite3 *db, gint64 id, const char *path)
{
    sqlite3_stmt *st = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(db, "SELECT text, line_offsets FROM pages WHERE "
                                           "document_id = ?1 AND number = 1", -1, &st, NULL), ==, SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
    const char *text = (const char *)sqlite3_column_text(st, 0);
    gsize len = (gsize)sqlite3_column_bytes(st, 0);
    const guint8 *blob = sqlite3_column_blob(st, 1);
    gsize n_lines = (gsize)sqlite3_column_bytes(st, 1) / 4;
    g_autoptr(GArray) expected = grep_line_offsets(path);
    if (n_lines != expected->len)
        g_error("%s: %zu line offsets stored, grep -b counts %u lines", path, n_lines, expected->len);
    for (gsize i = 0; i < n_lines; i++) {
        guint32 v = (guint32)blob[4 * i] | (guint32)blob[4 * i + 1] << 8 |
                    (guint32)blob[4 * i + 2] << 16 | (guint32)blob[4 * i + 3] << 24;
        if (v != g_array_index(expected, guint32, i))
            g_error("%s: line %zu starts at %u, grep -b says %u", path, i + 1, v,
                    g_array_index(expected, guint32, i));
    }
    /* Passages: in order, apart, each at most a passage long and, when it starts a line,
     * on a line start; together they hold every non-blank character. */
    sqlite3_stmt *ps = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(db, "SELECT start, length FROM passages WHERE "
                                           "document_id = ?1 ORDER BY id", -1, &ps, NULL), ==, SQLITE_OK);
    sqlite3_bind_int64(ps, 1, id);
    gsize covered_to = 0, non_blank = 0, in_passages = 0;
    while (sqlite3_step(ps) == SQLITE_ROW) {
        gsize s = (gsize)sqlite3_column_int64(ps, 0), l = (gsize)sqlite3_column_int64(ps, 1);
        g_assert_cmpuint(s, >=, covered_to);
        g_assert_cmpuint(s + l, <=, len);
        g_assert_cmpuint(l, <=, SL_PASSAGE_MAX_BYTES);
        g_assert_true(s == 0 || text[s - 1] == '\n' || l == SL_PASSAGE_MAX_BYTES ||
                      covered_to == s);
        for (gsize k = s; k < s + l; k++)
            in_passages += !g_ascii_isspace(text[k]);
        covered_to = s + l;
    }
    for (gsize k = 0; k < len; k++)
        non_blank += !g_ascii_isspace(text[k]);
    g_assert_cmpuint(in_passages, ==, non_blank);
    sqlite3_finalize(ps);
    sqlite3_finalize(st);
}

static void test_real_tree(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) r = sl_ingest_files(f->lib, (const char *const[]){REAL_TREE, NULL}, NULL,
                                             NULL, NULL, NULL);
    g_assert_cmpuint(r->len, >, 50); /* libglib2.0-dev's headers */
    sqlite3 *db = NULL;
    g_assert_cmpint(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    guint code = 0;
    for (guint i = 0; i < r->len; i++) {
        SlIngestResult *x = r->pdata[i];
        g_assert_no_error(x->error);
        g_assert_null(x->skipped);
        g_autofree char *id = g_strdup_printf("%" G_GINT64_FORMAT, x->document_id);
        g_autoptr(SlDocument) d = sl_library_get(f->lib, id, NULL);
        if (g_str_has_suffix(x->path, ".h")) {
            g_assert_cmpstr(d->kind, ==, "code");
            g_assert_cmpstr(d->language, ==, "chdr");
            check_code_document(db, x->document_id, x->path);
            code++;
        }
    }
    sqlite3_close(db);
    g_assert_cmpuint(code, >, 50);
    /* Searching code finds the header that declares it. */
    GError *error = NULL;
    g_autoptr(GPtrArray) hits = sl_library_search(f->lib, "g_string_append_len", 5, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(hits->len, >, 0);
    gboolean gstring = FALSE;
    for (guint i = 0; i < hits->len; i++) {
        SlHit *h = hits->pdata[i];
        if (!g_str_has_suffix(h->path, "/gstring.h"))
            continue;
        gstring = TRUE;
        /* The hit's lines hold a line where grep -n finds the name. */
        g_autofree char *lines = run_in("/", (const char *const[]){"grep", "-n", "g_string_append_len",
                                                                   h->path, NULL});
        gboolean inside = FALSE;
        for (const char *l = lines; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "") {
            int n = atoi(l);
            inside |= n >= h->first_line && n <= h->last_line;
        }
        if (!inside)
            g_error("hit lines %d-%d of %s miss every line grep finds:\n%s", h->first_line,
                    h->last_line, h->path, lines);
    }
    g_assert_true(gstring);
}

/* Passages of code end where blocks end: each function of this file starts a passage. */
static void test_code_passages(Fixture *f, gconstpointer data)
{
    GString *src = g_string_new("#include <stdio.h>\n\n");
    for (int fn = 0; fn < 6; fn++) {
        g_string_append_printf(src, "static int function_%d(int x)\n{\n", fn);
        for (int k = 0; k < 40; k++)
            g_string_append_printf(src, "    x = x * %d + %d; /* step %d */\n", fn + 3, k, k);
        g_string_append(src, "    return x;\n}\n\n");
    }
    put(f->tree, "functions.c", src->str, (gssize)src->len);
    g_autofree char *path = g_build_filename(f->tree, "functions.c", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(SlParsed) p = sl_ingest_parse_file(path, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(p->passages->len, >=, 6);
    for (guint i = 1; i < p->passages->len; i++) {
        const SlPassage *ps = &g_array_index(p->passages, SlPassage, i);
        const char *at = g_array_index(p->pages, SlPage, 0).text + ps->start;
        if (!g_str_has_prefix(at, "static int function_"))
            g_error("passage %u starts inside a function: %.40s", i, at);
    }
    g_string_free(src, TRUE);
}

/* An add of a folder that is stopped resumes: the files stored are not read again. */
static void stop_after(const SlIngestProgress *p, gpointer data)
{
    if (p->documents_done == 20)
        g_cancellable_cancel(data);
}

static void test_resume(Fixture *f, gconstpointer data)
{
    for (int i = 0; i < 200; i++) {
        g_autofree char *rel = g_strdup_printf("pkg%d/module_%03d.py", i % 7, i);
        g_autofree char *body = g_strdup_printf("def f_%d():\n    return %d\n", i, i);
        put(f->tree, rel, body, -1);
    }
    g_autoptr(GCancellable) stop = g_cancellable_new();
    g_autoptr(GPtrArray) r1 = sl_ingest_files(f->lib, (const char *const[]){f->tree, NULL}, NULL,
                                              stop, stop_after, stop);
    guint stored = 0, cancelled = 0;
    for (guint i = 0; i < r1->len; i++) {
        SlIngestResult *x = r1->pdata[i];
        stored += x->document_id != 0;
        cancelled += g_error_matches(x->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    }
    g_assert_cmpuint(r1->len, ==, 200);
    g_assert_cmpuint(stored, >=, 20);
    g_assert_cmpuint(stored + cancelled, ==, 200);
    g_assert_cmpuint(cancelled, >, 0);
    g_autoptr(GPtrArray) r2 = sl_ingest_files(f->lib, (const char *const[]){f->tree, NULL}, NULL,
                                              NULL, NULL, NULL);
    guint unchanged = 0, added = 0;
    for (guint i = 0; i < r2->len; i++) {
        SlIngestResult *x = r2->pdata[i];
        g_assert_no_error(x->error);
        unchanged += x->outcome == SL_STORED_UNCHANGED;
        added += x->outcome == SL_STORED_ADDED;
    }
    g_assert_cmpuint(unchanged, ==, stored);
    g_assert_cmpuint(added, ==, 200 - stored);
}

/* A folder inside that cannot be listed is an error naming it; the rest is read. */
static void test_unreadable_folder(Fixture *f, gconstpointer data)
{
    put(f->tree, "open/a.c", "int a;\n", -1);
    put(f->tree, "closed/b.c", "int b;\n", -1);
    g_autofree char *closed = g_build_filename(f->tree, "closed", NULL);
    g_assert_cmpint(g_chmod(closed, 0), ==, 0);
    g_autoptr(GPtrArray) r = sl_ingest_files(f->lib, (const char *const[]){f->tree, NULL}, NULL,
                                             NULL, NULL, NULL);
    assert_stored(f->lib, r, f->tree, "open/a.c", "code", "c");
    if (geteuid() != 0) {
        SlIngestResult *x = find_result(r, f->tree, "closed");
        g_assert_nonnull(x);
        g_assert_error(x->error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
        g_assert_nonnull(strstr(x->error->message, closed));
    } else { /* root lists it anyway */
        assert_stored(f->lib, r, f->tree, "closed/b.c", "code", "c");
    }
    /* A root that is not there: one error naming it. */
    g_autofree char *gone = g_build_filename(f->dir, "gone", NULL);
    g_autoptr(GPtrArray) r2 = sl_ingest_files(f->lib, (const char *const[]){gone, NULL}, NULL,
                                              NULL, NULL, NULL);
    g_assert_cmpuint(r2->len, ==, 1);
    g_assert_nonnull(((SlIngestResult *)r2->pdata[0])->error);
    g_assert_nonnull(strstr(((SlIngestResult *)r2->pdata[0])->error->message, gone));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/app/tree/wildmatch", test_wildmatch);
#define ADD(name, fn) g_test_add(name, Fixture, NULL, setup, fn, teardown)
    ADD("/app/tree/gitignore-like-git", test_gitignore_like_git);
    ADD("/app/tree/everything", test_everything);
    ADD("/app/tree/real", test_real_tree);
    ADD("/app/tree/code-passages", test_code_passages);
    ADD("/app/tree/resume", test_resume);
    ADD("/app/tree/unreadable-folder", test_unreadable_folder);
    return g_test_run();
}
