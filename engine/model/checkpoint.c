/* checkpoint.c: a Hugging Face model directory: config.json and the
 * safetensors files, checked against model.safetensors.index.json.
 *
 * The index's weight_map and the tensors of all shards are each sorted by
 * name and walked side by side, so a checkpoint of ~100 000 tensors (a
 * DeepSeek-V3 of 163 shards) is checked in O(n log n). */
#include "model/checkpoint.h"

#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SINGLE_FILE "model.safetensors"
#define INDEX_FILE "model.safetensors.index.json"
#define CONFIG_FILE "config.json"

typedef struct {
    const char *name;
    const sl_st_tensor *t;
    int64_t file;
} entry;

struct sl_checkpoint {
    char *dir;
    char *config_path;
    sl_json *config;
    sl_safetensors **files;
    int64_t n_files;
    entry *entries; /* sorted by name */
    int64_t n_entries;
    uint64_t bytes;
};

/* ---- helpers ------------------------------------------------------------------ */

typedef char shown_name[4 * SL_QUOTE_MAX + 8];

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static int compare_entries(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->file < y->file ? -1 : x->file > y->file;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *file_name(const sl_checkpoint *ck, int64_t file)
{
    const char *path = sl_safetensors_path(ck->files[file]);
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* ---- opening -------------------------------------------------------------------- */

static sl_status add_file(sl_checkpoint *ck, const char *name, sl_error *err)
{
    char *path = join(ck->dir, name);
    if (!path)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: no memory", ck->dir);
    sl_status s = sl_safetensors_open(path, &ck->files[ck->n_files], err);
    free(path);
    if (s != SL_OK)
        return s;
    ck->n_files++;
    return SL_OK;
}

/* Every tensor of every file, sorted by name; a name in two files is refused. */
static sl_status gather_tensors(sl_checkpoint *ck, const char *index_path, sl_error *err)
{
    uint64_t n = 0;
    for (int64_t f = 0; f < ck->n_files; f++)
        n += (uint64_t)sl_safetensors_n_tensors(ck->files[f]);
    if (n > SIZE_MAX / sizeof(entry))
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: too many tensors", ck->dir);
    ck->entries = malloc((size_t)(n ? n : 1) * sizeof *ck->entries);
    if (!ck->entries)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: no memory for %llu tensors", ck->dir,
                       (unsigned long long)n);
    for (int64_t f = 0; f < ck->n_files; f++)
        for (int64_t i = 0; i < sl_safetensors_n_tensors(ck->files[f]); i++) {
            const sl_st_tensor *t = sl_safetensors_tensor_at(ck->files[f], i);
            ck->entries[ck->n_entries++] = (entry){t->name, t, f};
        }
    qsort(ck->entries, (size_t)ck->n_entries, sizeof *ck->entries, compare_entries);
    for (int64_t i = 1; i < ck->n_entries; i++) {
        const entry *a = &ck->entries[i - 1], *b = &ck->entries[i];
        if (strcmp(a->name, b->name) == 0) {
            shown_name shown, fa, fb;
            sl_quote(shown, sizeof shown, a->name, strlen(a->name));
            sl_quote(fa, sizeof fa, file_name(ck, a->file), strlen(file_name(ck, a->file)));
            sl_quote(fb, sizeof fb, file_name(ck, b->file), strlen(file_name(ck, b->file)));
            return sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s' is in two shards, '%s' and '%s'",
                           index_path, shown, fa, fb);
        }
    }
    return SL_OK;
}

static bool plain_file_name(const char *s, size_t len)
{
    if (len == 0 || memchr(s, 0, len) || memchr(s, '/', len) || memchr(s, '\\', len))
        return false;
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == '.' && s[i + 1] == '.')
            return false;
    return !(len == 1 && s[0] == '.');
}

typedef struct {
    const char *name;
    size_t name_len;
    const char *shard;
    int64_t file;
} mapped;

static int compare_mapped(const void *a, const void *b)
{
    const mapped *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static int64_t find_file(const char *const *names, int64_t n, const char *name)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(names[mid], name);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Reads the index, opens its shards, and checks the map against them. */
static sl_status open_sharded(sl_checkpoint *ck, const char *index_path, sl_error *err)
{
    sl_json *index = NULL;
    sl_status s = sl_json_parse_file(index_path, &index, err);
    if (s != SL_OK)
        return s;
    mapped *map = NULL;
    const char **names = NULL;
    const sl_json *wm = sl_json_object_get(index, "weight_map");
    const sl_json *meta = sl_json_object_get(index, "metadata");
    size_t n = sl_json_object_size(wm);
    if (sl_json_type_of(index) != SL_JSON_OBJECT) {
        s = sl_fail(err, SL_ERR_FORMAT, "%s: the index is a JSON %s, not an object", index_path,
                    sl_json_type_name(sl_json_type_of(index)));
        goto done;
    }
    if (meta && sl_json_type_of(meta) != SL_JSON_OBJECT) {
        s = sl_fail(err, SL_ERR_FORMAT, "%s: metadata is a JSON %s, not an object", index_path,
                    sl_json_type_name(sl_json_type_of(meta)));
        goto done;
    }
    if (!wm || sl_json_type_of(wm) != SL_JSON_OBJECT) {
        s = sl_fail(err, SL_ERR_FORMAT, "%s: %s", index_path,
                    !wm ? "no weight_map" : "weight_map is not an object");
        goto done;
    }
    if (n == 0) {
        s = sl_fail(err, SL_ERR_FORMAT, "%s: weight_map is empty", index_path);
        goto done;
    }
    map = calloc(n, sizeof *map);
    names = calloc(n, sizeof *names);
    if (!map || !names) {
        s = sl_fail(err, SL_ERR_NO_MEMORY, "%s: no memory for %zu tensors", index_path, n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const char *key;
        size_t key_len, len;
        const sl_json *v = sl_json_object_at(wm, i, &key, &key_len);
        const char *shard = sl_json_string(v, &len);
        shown_name shown;
        sl_quote(shown, sizeof shown, key, key_len);
        if (memchr(key, 0, key_len)) {
            s = sl_fail(err, SL_ERR_FORMAT, "%s: weight_map key '%s' contains a NUL character",
                        index_path, shown);
            goto done;
        }
        if (!shard) {
            s = sl_fail(err, SL_ERR_FORMAT, "%s: tensor '%s' is mapped to a JSON %s, not a file name",
                        index_path, shown, sl_json_type_name(sl_json_type_of(v)));
            goto done;
        }
        if (!plain_file_name(shard, len)) {
            shown_name sf;
            sl_quote(sf, sizeof sf, shard, len);
            s = sl_fail(err, SL_ERR_FORMAT,
                        "%s: tensor '%s' is mapped to '%s', which is not a plain file name in the "
                        "directory",
                        index_path, shown, sf);
            goto done;
        }
        map[i] = (mapped){key, key_len, shard, -1};
        names[i] = shard;
    }
    /* The shards, each once. */
    qsort(names, n, sizeof *names, compare_strings);
    size_t n_names = 0;
    for (size_t i = 0; i < n; i++)
        if (n_names == 0 || strcmp(names[n_names - 1], names[i]) != 0)
            names[n_names++] = names[i];
    ck->files = calloc(n_names, sizeof *ck->files);
    if (!ck->files) {
        s = sl_fail(err, SL_ERR_NO_MEMORY, "%s: no memory", index_path);
        goto done;
    }
    for (size_t i = 0; i < n_names; i++)
        if ((s = add_file(ck, names[i], err)) != SL_OK)
            goto done;
    for (size_t i = 0; i < n; i++)
        map[i].file = find_file(names, (int64_t)n_names, map[i].shard);
    if ((s = gather_tensors(ck, index_path, err)) != SL_OK)
        goto done;

    /* Walk the map and the tensors side by side, both sorted by name. */
    qsort(map, n, sizeof *map, compare_mapped);
    size_t i = 0;
    int64_t j = 0;
    while (i < n || j < ck->n_entries) {
        int c = i == n ? 1 : j == ck->n_entries ? -1 : strcmp(map[i].name, ck->entries[j].name);
        shown_name shown, sf;
        if (c == 0 && i + 1 < n && strcmp(map[i].name, map[i + 1].name) == 0) {
            sl_quote(shown, sizeof shown, map[i].name, map[i].name_len);
            s = sl_fail(err, SL_ERR_FORMAT, "%s: weight_map lists tensor '%s' twice", index_path,
                        shown);
            goto done;
        }
        if (c < 0 || (c == 0 && map[i].file != ck->entries[j].file)) {
            sl_quote(shown, sizeof shown, map[i].name, map[i].name_len);
            sl_quote(sf, sizeof sf, map[i].shard, strlen(map[i].shard));
            if (c == 0) {
                shown_name other;
                const char *o = file_name(ck, ck->entries[j].file);
                sl_quote(other, sizeof other, o, strlen(o));
                s = sl_fail(err, SL_ERR_FORMAT,
                            "%s: tensor '%s' is mapped to '%s', which does not contain it (it is "
                            "in '%s')",
                            index_path, shown, sf, other);
            } else {
                s = sl_fail(err, SL_ERR_FORMAT,
                            "%s: tensor '%s' is mapped to '%s', which does not contain it",
                            index_path, shown, sf);
            }
            goto done;
        }
        if (c > 0) {
            const char *name = ck->entries[j].name, *f = file_name(ck, ck->entries[j].file);
            sl_quote(shown, sizeof shown, name, strlen(name));
            sl_quote(sf, sizeof sf, f, strlen(f));
            s = sl_fail(err, SL_ERR_FORMAT,
                        "%s: shard '%s' holds tensor '%s', which weight_map does not list",
                        index_path, sf, shown);
            goto done;
        }
        i++;
        j++;
    }
done:
    free(map);
    free(names);
    sl_json_free(index);
    return s;
}

static sl_status open_single(sl_checkpoint *ck, sl_error *err)
{
    ck->files = calloc(1, sizeof *ck->files);
    if (!ck->files)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: no memory", ck->dir);
    sl_status s = add_file(ck, SINGLE_FILE, err);
    if (s == SL_OK)
        s = gather_tensors(ck, ck->dir, err); /* one file: names are unique already */
    return s;
}

/* 1 when path exists, 0 when it does not, -1 on another error (err set). */
static int exists(const char *path, sl_error *err)
{
    struct stat sb;
    if (stat(path, &sb) == 0)
        return 1;
    if (errno == ENOENT)
        return 0;
    sl_fail(err, SL_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    return -1;
}

static sl_status open_checkpoint(sl_checkpoint *ck, sl_error *err)
{
    struct stat sb;
    if (stat(ck->dir, &sb) != 0)
        return sl_fail(err, SL_ERR_IO, "%s: cannot open: %s", ck->dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return sl_fail(err, SL_ERR_IO, "%s: not a directory", ck->dir);

    ck->config_path = join(ck->dir, CONFIG_FILE);
    char *single = join(ck->dir, SINGLE_FILE), *index = join(ck->dir, INDEX_FILE);
    sl_status s = SL_OK;
    if (!ck->config_path || !single || !index) {
        s = sl_fail(err, SL_ERR_NO_MEMORY, "%s: no memory", ck->dir);
        goto done;
    }
    if ((s = sl_json_parse_file(ck->config_path, &ck->config, err)) != SL_OK)
        goto done;
    if (sl_json_type_of(ck->config) != SL_JSON_OBJECT) {
        s = sl_fail(err, SL_ERR_FORMAT, "%s: a JSON %s, not an object", ck->config_path,
                    sl_json_type_name(sl_json_type_of(ck->config)));
        goto done;
    }
    int has_single = exists(single, err);
    int has_index = has_single == 0 ? exists(index, err) : 0;
    if (has_single < 0 || has_index < 0)
        s = SL_ERR_IO;
    else if (has_single)
        s = open_single(ck, err);
    else if (has_index)
        s = open_sharded(ck, index, err);
    else
        s = sl_fail(err, SL_ERR_IO, "%s: no weights: neither %s nor %s is there", ck->dir,
                    SINGLE_FILE, INDEX_FILE);
    if (s == SL_OK)
        for (int64_t f = 0; f < ck->n_files; f++)
            ck->bytes += sl_safetensors_file_size(ck->files[f]);
done:
    free(single);
    free(index);
    return s;
}

sl_status sl_checkpoint_open(const char *dir, sl_checkpoint **out, sl_error *err)
{
    if (out)
        *out = NULL;
    if (!dir || !out || !*dir)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "sl_checkpoint_open: %s",
                       !out ? "out is NULL" : "no directory given");
    sl_checkpoint *ck = calloc(1, sizeof *ck);
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    char *copy = malloc(len + 1);
    if (!ck || !copy) {
        free(ck);
        free(copy);
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: no memory", dir);
    }
    memcpy(copy, dir, len);
    copy[len] = 0;
    ck->dir = copy;
    sl_status s = open_checkpoint(ck, err);
    if (s != SL_OK) {
        sl_checkpoint_close(ck);
        return s;
    }
    *out = ck;
    return SL_OK;
}

void sl_checkpoint_close(sl_checkpoint *ck)
{
    if (!ck)
        return;
    for (int64_t f = 0; f < ck->n_files; f++)
        sl_safetensors_close(ck->files[f]);
    free(ck->files);
    free(ck->entries);
    sl_json_free(ck->config);
    free(ck->config_path);
    free(ck->dir);
    free(ck);
}

/* ---- accessors ----------------------------------------------------------------- */

const char *sl_checkpoint_dir(const sl_checkpoint *ck) { return ck ? ck->dir : NULL; }
const sl_json *sl_checkpoint_config(const sl_checkpoint *ck) { return ck ? ck->config : NULL; }
const char *sl_checkpoint_config_path(const sl_checkpoint *ck)
{
    return ck ? ck->config_path : NULL;
}
int64_t sl_checkpoint_n_tensors(const sl_checkpoint *ck) { return ck ? ck->n_entries : 0; }
uint64_t sl_checkpoint_bytes(const sl_checkpoint *ck) { return ck ? ck->bytes : 0; }
int64_t sl_checkpoint_n_files(const sl_checkpoint *ck) { return ck ? ck->n_files : 0; }

const sl_safetensors *sl_checkpoint_file_at(const sl_checkpoint *ck, int64_t i)
{
    return ck && i >= 0 && i < ck->n_files ? ck->files[i] : NULL;
}

const sl_st_tensor *sl_checkpoint_tensor_at(const sl_checkpoint *ck, int64_t i)
{
    return ck && i >= 0 && i < ck->n_entries ? ck->entries[i].t : NULL;
}

static const entry *find_entry(const sl_checkpoint *ck, const char *name)
{
    if (!ck || !name)
        return NULL;
    int64_t lo = 0, hi = ck->n_entries;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ck->entries[mid].name, name);
        if (c == 0)
            return &ck->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const sl_st_tensor *sl_checkpoint_find(const sl_checkpoint *ck, const char *name)
{
    const entry *e = find_entry(ck, name);
    return e ? e->t : NULL;
}

const char *sl_checkpoint_file_of(const sl_checkpoint *ck, const sl_st_tensor *t)
{
    const entry *e = t ? find_entry(ck, t->name) : NULL;
    return e && e->t == t ? sl_safetensors_path(ck->files[e->file]) : NULL;
}
