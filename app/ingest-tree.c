/* ingest-tree.c: which files of a folder to read (see sl_tree_walk in ingest.h). */
#include "gitignore.h"
#include "ingest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Deeper than this is a generated or hostile tree, not source. */
#define MAX_DEPTH 128

/* Version-control metadata: never entered, never reported. */
static const char *const vcs_folders[] = {".git", ".hg", ".svn", ".bzr", "_darcs", "CVS"};

/* Vendored dependencies, caches and build output: skipped unless asked for. */
static const char *const vendored_folders[] = {
    "node_modules", "bower_components", "vendor", "third_party", "third-party", "thirdparty",
    "__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".cache", ".gradle", ".idea", ".vs", ".eggs", "build", "_build", "dist",
    "target", "builddir", "CMakeFiles", ".next", ".nuxt", ".terraform", "Pods",
};

/* Extensions of files that are never text; anything else binary is found by its bytes. */
static const char *const binary_extensions[] = {
    "png", "jpg", "jpeg", "gif", "bmp", "ico", "icns", "webp", "tif", "tiff", "psd", "xcf",
    "zip", "gz", "tgz", "bz2", "xz", "zst", "lz", "lzma", "7z", "rar", "tar", "jar", "war",
    "whl", "deb", "rpm", "apk", "iso", "img", "dmg", "so", "o", "a", "obj", "lib", "dll",
    "exe", "dylib", "class", "pyc", "pyo", "wasm", "woff", "woff2", "ttf", "otf", "eot",
    "mp3", "mp4", "m4a", "wav", "ogg", "oga", "flac", "avi", "mov", "mkv", "webm", "sqlite",
    "sqlite3", "db", "gguf", "safetensors", "pt", "pth", "onnx", "npy", "npz", "pkl", "bin",
};

static gboolean in_list(const char *s, const char *const *list, gsize n)
{
    for (gsize i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return TRUE;
    return FALSE;
}

static gboolean binary_by_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        return FALSE;
    g_autofree char *ext = g_ascii_strdown(dot + 1, -1);
    return in_list(ext, binary_extensions, G_N_ELEMENTS(binary_extensions));
}

void sl_tree_entry_free(SlTreeEntry *e)
{
    if (!e)
        return;
    g_free(e->path);
    g_free(e->title);
    g_free(e->skipped);
    g_clear_error(&e->error);
    g_free(e);
}

typedef struct {
    const char *root; /* canonical, links resolved */
    const char *root_name;
    gint64 max_bytes;
    gboolean include_vendored;
    SlGitignore *ignore;
    GPtrArray *entries;
    GCancellable *cancellable;
} Walk;

static SlTreeEntry *add_entry(Walk *w, const char *abs, const char *rel, gint64 size)
{
    SlTreeEntry *e = g_new0(SlTreeEntry, 1);
    e->path = g_strdup(abs);
    e->title = g_strconcat(w->root_name, "/", rel, NULL);
    e->size = size;
    g_ptr_array_add(w->entries, e);
    return e;
}

/* Pushes the rules of dir/name when the file exists; TRUE when pushed. */
static gboolean push_rules(Walk *w, const char *dir, const char *name, const char *rel)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    char *text = NULL;
    gsize len = 0;
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR) || !g_file_get_contents(path, &text, &len, NULL))
        return FALSE;
    sl_gitignore_push(w->ignore, rel, text, len);
    g_free(text);
    return TRUE;
}

static gboolean inside_root(const Walk *w, const char *real)
{
    gsize n = strlen(w->root);
    return strncmp(real, w->root, n) == 0 && (real[n] == '/' || real[n] == '\0' ||
                                              (n == 1 && w->root[0] == '/'));
}

/* A link is never followed; say why when its target is not in the folder anyway. */
static void visit_link(Walk *w, const char *abs, const char *rel)
{
    char *real = realpath(abs, NULL);
    int err = errno;
    if (real && inside_root(w, real)) {
        free(real); /* read where it is */
        return;
    }
    SlTreeEntry *e = add_entry(w, abs, rel, 0);
    if (real)
        e->skipped = g_strdup_printf("symbolic link to %s, outside the folder: not followed", real);
    else if (err == ELOOP)
        e->skipped = g_strdup("symbolic link loop: not followed");
    else
        e->skipped = g_strdup_printf("broken symbolic link (%s)", g_strerror(err));
    free(real);
}

static void visit_file(Walk *w, const char *abs, const char *rel, const char *name, gint64 size)
{
    SlTreeEntry *e = add_entry(w, abs, rel, size);
    if (size > w->max_bytes)
        e->skipped = g_strdup_printf("too large (%" G_GINT64_FORMAT " bytes; the limit in a "
                                     "folder is %" G_GINT64_FORMAT ")", size, w->max_bytes);
    else if (binary_by_extension(name))
        e->skipped = g_strdup("binary (by its extension)");
}

static int compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(g_file_info_get_name(*(GFileInfo *const *)a),
                  g_file_info_get_name(*(GFileInfo *const *)b));
}

/* The folder's entries sorted by name, or NULL with error. */
static GPtrArray *list_folder(Walk *w, const char *abs, GError **error)
{
    g_autoptr(GFile) dir = g_file_new_for_path(abs);
    g_autoptr(GFileEnumerator) en = g_file_enumerate_children(
        dir, G_FILE_ATTRIBUTE_STANDARD_NAME "," G_FILE_ATTRIBUTE_STANDARD_TYPE
             "," G_FILE_ATTRIBUTE_STANDARD_SIZE,
        G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, w->cancellable, error);
    if (!en)
        return NULL;
    GPtrArray *infos = g_ptr_array_new_with_free_func(g_object_unref);
    for (;;) {
        GFileInfo *info = NULL;
        if (!g_file_enumerator_iterate(en, &info, NULL, w->cancellable, error)) {
            g_ptr_array_unref(infos);
            return NULL;
        }
        if (!info)
            break;
        g_ptr_array_add(infos, g_object_ref(info));
    }
    g_ptr_array_sort(infos, compare_names);
    return infos;
}

static gboolean walk_folder(Walk *w, const char *abs, const char *rel, int depth, GError **error);

static gboolean visit(Walk *w, const char *abs_dir, const char *rel_dir, GFileInfo *info,
                      int depth, GError **error)
{
    const char *name = g_file_info_get_name(info);
    GFileType type = g_file_info_get_file_type(info);
    if (in_list(name, vcs_folders, G_N_ELEMENTS(vcs_folders)))
        return TRUE; /* also a submodule's ".git" file */
    g_autofree char *abs = g_build_filename(abs_dir, name, NULL);
    g_autofree char *rel = *rel_dir ? g_strconcat(rel_dir, "/", name, NULL) : g_strdup(name);
    gboolean is_dir = type == G_FILE_TYPE_DIRECTORY;
    if (sl_gitignore_ignored(w->ignore, rel, is_dir))
        return TRUE;
    if (type == G_FILE_TYPE_SYMBOLIC_LINK) {
        visit_link(w, abs, rel);
    } else if (is_dir) {
        if (!w->include_vendored &&
            in_list(name, vendored_folders, G_N_ELEMENTS(vendored_folders))) {
            add_entry(w, abs, rel, 0)->skipped =
                g_strdup("vendored or generated folder: not read unless asked for");
            return TRUE;
        }
        return walk_folder(w, abs, rel, depth + 1, error);
    } else if (type == G_FILE_TYPE_REGULAR) {
        visit_file(w, abs, rel, name, g_file_info_get_size(info));
    } else {
        add_entry(w, abs, rel, 0)->skipped = g_strdup("not a regular file (a device, pipe or "
                                                      "socket)");
    }
    return TRUE;
}

/* FALSE on cancel, or when the root cannot be listed; a folder inside that cannot be listed
 * becomes an entry with its error. */
static gboolean walk_folder(Walk *w, const char *abs, const char *rel, int depth, GError **error)
{
    if (g_cancellable_set_error_if_cancelled(w->cancellable, error))
        return FALSE;
    if (depth > MAX_DEPTH) {
        add_entry(w, abs, rel, 0)->skipped = g_strdup_printf("folders nested deeper than %d: "
                                                             "not read", MAX_DEPTH);
        return TRUE;
    }
    GError *local = NULL;
    g_autoptr(GPtrArray) infos = list_folder(w, abs, &local);
    if (!infos) {
        if (depth == 0 || g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            g_set_error(error, local->domain, local->code, "%s: cannot read folder: %s", abs,
                        local->message);
            g_error_free(local);
            return FALSE;
        }
        SlTreeEntry *e = add_entry(w, abs, rel, 0);
        g_set_error(&e->error, local->domain, local->code, "%s: cannot read folder: %s", abs,
                    local->message);
        g_error_free(local);
        return TRUE;
    }
    gboolean pushed = push_rules(w, abs, ".gitignore", rel);
    gboolean ok = TRUE;
    for (guint i = 0; i < infos->len && ok; i++)
        ok = visit(w, abs, rel, infos->pdata[i], depth, error);
    if (pushed)
        sl_gitignore_pop(w->ignore);
    return ok;
}

gboolean sl_tree_walk(const char *root, const SlIngestOptions *options, GPtrArray *entries,
                      GCancellable *cancellable, GError **error)
{
    g_autofree char *abs = g_canonicalize_filename(root, NULL);
    char *real = realpath(abs, NULL);
    if (!real) {
        int err = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "%s: cannot read folder: %s",
                    abs, g_strerror(err));
        return FALSE;
    }
    g_autofree char *name = g_path_get_basename(real);
    g_autoptr(SlGitignore) ignore = sl_gitignore_new();
    Walk w = {real, name, SL_TREE_MAX_FILE_BYTES, FALSE, ignore, entries, cancellable};
    if (options && options->max_tree_file_bytes > 0)
        w.max_bytes = options->max_tree_file_bytes;
    if (options)
        w.include_vendored = options->include_vendored;
    g_autofree char *git_info = g_build_filename(real, ".git", "info", NULL);
    push_rules(&w, git_info, "exclude", ""); /* the lowest precedence: pushed first */
    gboolean ok = walk_folder(&w, real, "", 0, error);
    free(real);
    return ok;
}
