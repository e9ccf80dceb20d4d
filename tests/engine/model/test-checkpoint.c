/* test-checkpoint.c: Hugging Face checkpoint directories (model/checkpoint.c).
 *
 * The valid directories are written by huggingface_hub and the safetensors
 * package (tests/reference/make-checkpoint-fixtures.py); expected.txt lists
 * every tensor with the file that holds it. The hostile directories are
 * built here, in a temporary folder, from copies of those shards: index files
 * with path traversal, missing shards and tensors, tensors in two shards or
 * in none of the map, JSON of the wrong shape, truncated shards, a broken
 * config.json. Each must give a clear error naming the file and never crash. */
#include "model/checkpoint.h"

#include "../test-util.h"

#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *fixtures;
static char tmpdir[4096];
static int n_cases;

#define SHARD(k) "model-0000" #k "-of-00006.safetensors"

/* ---- the fixtures ---------------------------------------------------------------- */

static void check_against_expected(const char *which)
{
    char dir[4200], path[4500];
    snprintf(dir, sizeof dir, "%s/%s", fixtures, which);
    sl_checkpoint *ck = NULL;
    sl_error err = {0};
    sl_status s = sl_checkpoint_open(dir, &ck, &err);
    CHECKF(s == SL_OK, "%s: %s", dir, err.message);
    if (s != SL_OK)
        return;
    CHECK(strcmp(sl_checkpoint_dir(ck), dir) == 0);
    const sl_json *config = sl_checkpoint_config(ck);
    CHECK(sl_json_type_of(config) == SL_JSON_OBJECT);
    CHECK(strcmp(sl_json_string(sl_json_object_get(config, "model_type"), NULL),
                 "deepseek_v32") == 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(strcmp(sl_checkpoint_config_path(ck), path) == 0);

    size_t len;
    snprintf(path, sizeof path, "%s/expected.txt", fixtures);
    char *text = sl_test_read_file(path, &len);
    CHECK(text != NULL);
    if (!text) {
        sl_checkpoint_close(ck);
        return;
    }
    int64_t n_seen = 0;
    const char *prev = "";
    bool sorted = true;
    for (int64_t i = 0; i < sl_checkpoint_n_tensors(ck); i++) {
        const sl_st_tensor *t = sl_checkpoint_tensor_at(ck, i);
        if (strcmp(prev, t->name) >= 0 && i > 0)
            sorted = false;
        prev = t->name;
    }
    CHECK(sorted);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char d[64], file[128], name[256], dtype[32];
        unsigned rank;
        int used;
        if (sscanf(line, "%63s %127s %255s %31s %u%n", d, file, name, dtype, &rank, &used) < 3 ||
            strcmp(d, which) != 0)
            continue;
        if (strcmp(file, "bytes") == 0) {
            CHECK(sl_checkpoint_bytes(ck) == strtoull(name, NULL, 10));
            continue;
        }
        n_seen++;
        const sl_st_tensor *t = sl_checkpoint_find(ck, name);
        CHECKF(t != NULL, "%s: %s not found", which, name);
        if (!t)
            continue;
        CHECK(strcmp(t->name, name) == 0);
        CHECK(strcmp(sl_st_dtype_name(t->dtype), dtype) == 0);
        CHECK(t->n_dims == rank);
        const char *p = line + used;
        for (unsigned k = 0; k < rank && k < SL_ST_MAX_DIMS; k++) {
            char *end;
            unsigned long long dim = strtoull(p, &end, 10);
            CHECK(t->dims[k] == dim);
            p = end;
        }
        snprintf(path, sizeof path, "%s/%s", dir, file);
        const char *holder = sl_checkpoint_file_of(ck, t);
        CHECKF(holder && strcmp(holder, path) == 0, "%s: %s is in %s, not %s", which, name,
               holder ? holder : "(null)", path);
        float first;
        CHECK(sl_st_to_f32(t, 0, 1, &first)); /* every tensor has a float dtype */
    }
    CHECK(n_seen == sl_checkpoint_n_tensors(ck) && n_seen == 13);
    CHECK(sl_checkpoint_n_files(ck) == (strcmp(which, "sharded") == 0 ? 6 : 1));
    CHECK(sl_checkpoint_file_at(ck, sl_checkpoint_n_files(ck)) == NULL);
    CHECK(sl_checkpoint_file_at(ck, 0) != NULL);
    CHECK(sl_checkpoint_find(ck, "model.layers.2.input_layernorm.weight") == NULL);
    CHECK(sl_checkpoint_find(ck, "") == NULL && sl_checkpoint_find(ck, NULL) == NULL);
    CHECK(sl_checkpoint_tensor_at(ck, -1) == NULL);
    CHECK(sl_checkpoint_tensor_at(ck, sl_checkpoint_n_tensors(ck)) == NULL);
    CHECK(sl_checkpoint_file_of(ck, NULL) == NULL);
    /* a tensor of another checkpoint with a name this one has */
    sl_checkpoint *other = NULL;
    CHECK(sl_checkpoint_open(dir, &other, &err) == SL_OK);
    if (other) {
        const sl_st_tensor *t = sl_checkpoint_find(other, "model.norm.weight");
        CHECK(t && sl_checkpoint_file_of(ck, t) == NULL);
        sl_checkpoint_close(other);
    }
    free(text);
    sl_checkpoint_close(ck);
}

static void test_fixtures(void)
{
    check_against_expected("sharded");
    check_against_expected("single");

    /* a trailing slash is dropped from the name */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/single//", fixtures);
    sl_checkpoint *ck = NULL;
    sl_error err = {0};
    CHECK(sl_checkpoint_open(dir, &ck, &err) == SL_OK);
    if (ck) {
        size_t n = strlen(sl_checkpoint_dir(ck));
        CHECK(n > 0 && sl_checkpoint_dir(ck)[n - 1] != '/');
        sl_checkpoint_close(ck);
    }

    /* accessors given NULL */
    CHECK(sl_checkpoint_dir(NULL) == NULL && sl_checkpoint_config(NULL) == NULL);
    CHECK(sl_checkpoint_find(NULL, "a") == NULL && sl_checkpoint_n_tensors(NULL) == 0);
    CHECK(sl_checkpoint_tensor_at(NULL, 0) == NULL && sl_checkpoint_bytes(NULL) == 0);
    CHECK(sl_checkpoint_file_of(NULL, NULL) == NULL && sl_checkpoint_n_files(NULL) == 0);
    sl_checkpoint_close(NULL);
    CHECK(sl_checkpoint_open(NULL, &ck, &err) == SL_ERR_INVALID_ARGUMENT && ck == NULL);
    CHECK(sl_checkpoint_open(dir, NULL, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECK(sl_checkpoint_open("", &ck, &err) == SL_ERR_INVALID_ARGUMENT);
}

/* ---- hostile directories ---------------------------------------------------------- */

static void *read_fixture(const char *rel, size_t *len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", fixtures, rel);
    void *p = sl_test_read_file(path, len);
    if (!p) {
        perror(path);
        exit(1);
    }
    return p;
}

static void write_bytes(const char *dir, const char *file, const void *bytes, size_t len)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(bytes, 1, len, f) != len)) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

static void put(const char *dir, const char *file, const char *text)
{
    write_bytes(dir, file, text, strlen(text));
}

/* Copies a shard of the sharded fixture into dir, as `as` (NULL: same name),
 * keeping only its first keep bytes (SIZE_MAX: all). */
static void copy_shard(const char *dir, const char *shard, const char *as, size_t keep)
{
    char rel[300];
    snprintf(rel, sizeof rel, "sharded/%s", shard);
    size_t len;
    void *bytes = read_fixture(rel, &len);
    write_bytes(dir, as ? as : shard, bytes, keep < len ? keep : len);
    free(bytes);
}

static void copy_all_shards(const char *dir)
{
    static const char *const shards[] = {SHARD(1), SHARD(2), SHARD(3),
                                         SHARD(4), SHARD(5), SHARD(6)};
    for (size_t i = 0; i < 6; i++)
        copy_shard(dir, shards[i], NULL, SIZE_MAX);
}

/* A fresh directory for a case, with the fixture's config.json. */
static const char *new_case(const char *name)
{
    static char dir[4200];
    snprintf(dir, sizeof dir, "%s/%03d-%s", tmpdir, n_cases++, name);
    if (mkdir(dir, 0700) != 0) {
        perror(dir);
        exit(1);
    }
    size_t len;
    char *config = read_fixture("sharded/config.json", &len);
    write_bytes(dir, "config.json", config, len);
    free(config);
    return dir;
}

/* The fixture's index with `from` replaced by `to` (first occurrence). */
static void put_index_edit(const char *dir, const char *from, const char *to)
{
    size_t len;
    char *index = read_fixture("sharded/model.safetensors.index.json", &len);
    char *at = strstr(index, from);
    if (!at) {
        fprintf(stderr, "the index has no '%s'\n", from);
        exit(1);
    }
    size_t a = (size_t)(at - index), b = strlen(from), c = strlen(to);
    char *out = malloc(len - b + c + 1);
    memcpy(out, index, a);
    memcpy(out + a, to, c);
    memcpy(out + a + c, at + b, len - a - b + 1);
    put(dir, "model.safetensors.index.json", out);
    free(out);
    free(index);
}

/* Opens dir: wanted is SL_OK or an error code; the message must contain
 * each of the NULL-terminated strings after wanted. */
static void expect_at(int line, const char *dir, sl_status wanted, ...)
{
    sl_checkpoint *ck = (sl_checkpoint *)(uintptr_t)1;
    sl_error err = {0};
    sl_status s = sl_checkpoint_open(dir, &ck, &err);
    CHECKF(s == wanted, "line %d: %s: got %s (%s), wanted %s", line, dir, sl_status_name(s),
           err.message, sl_status_name(wanted));
    if (s == SL_OK) {
        CHECK(ck && ck != (sl_checkpoint *)(uintptr_t)1);
        sl_checkpoint_close(ck);
        return;
    }
    CHECKF(ck == NULL, "line %d: out not cleared", line);
    va_list ap;
    va_start(ap, wanted);
    for (const char *says; (says = va_arg(ap, const char *));)
        CHECKF(strstr(err.message, says) != NULL, "line %d: '%s' does not say '%s'", line,
               err.message, says);
    va_end(ap);
}

#define EXPECT(dir, wanted, ...) expect_at(__LINE__, dir, wanted, __VA_ARGS__, (const char *)NULL)

#define INDEX "model.safetensors.index.json"

static void test_index_shapes(void)
{
    const char *d;
    static const struct {
        const char *name, *index, *says;
        sl_status status;
    } cases[] = {
        {"array", "[]", "the index is a JSON array, not an object", SL_ERR_FORMAT},
        {"string", "\"weights\"", "not an object", SL_ERR_FORMAT},
        {"empty-file", "", "JSON at byte 0", SL_ERR_FORMAT},
        {"bad-json", "{\"weight_map\": {\"a\": \"b\",}}", "JSON at byte", SL_ERR_FORMAT},
        {"truncated-json", "{\"weight_map\": {\"a\": \"b\"", "JSON at byte", SL_ERR_FORMAT},
        {"no-map", "{\"metadata\": {\"total_size\": 1}}", "no weight_map", SL_ERR_FORMAT},
        {"map-array", "{\"weight_map\": [\"a\"]}", "weight_map is not an object", SL_ERR_FORMAT},
        {"map-empty", "{\"weight_map\": {}}", "weight_map is empty", SL_ERR_FORMAT},
        {"value-number", "{\"weight_map\": {\"a\": 3}}",
         "tensor 'a' is mapped to a JSON number, not a file name", SL_ERR_FORMAT},
        {"value-null", "{\"weight_map\": {\"a\": null}}", "mapped to a JSON null", SL_ERR_FORMAT},
        {"metadata-array", "{\"metadata\": [], \"weight_map\": {\"a\": \"b\"}}",
         "metadata is a JSON array, not an object", SL_ERR_FORMAT},
        {"duplicate", "{\"weight_map\": {\"a\": \"x.safetensors\", \"a\": \"x.safetensors\"}}",
         "expected unique keys", SL_ERR_FORMAT},
        {"nul-key", "{\"weight_map\": {\"a\\u0000b\": \"x.safetensors\"}}",
         "weight_map key 'a\\x00b' contains a NUL character", SL_ERR_FORMAT},
        {"traversal", "{\"weight_map\": {\"a\": \"../config.json\"}}",
         "tensor 'a' is mapped to '../config.json', which is not a plain file name", SL_ERR_FORMAT},
        {"absolute", "{\"weight_map\": {\"a\": \"/etc/passwd\"}}", "not a plain file name",
         SL_ERR_FORMAT},
        {"subdir", "{\"weight_map\": {\"a\": \"sub/x.safetensors\"}}", "not a plain file name",
         SL_ERR_FORMAT},
        {"dotdot", "{\"weight_map\": {\"a\": \"..\"}}", "'..', which is not a plain", SL_ERR_FORMAT},
        {"dot", "{\"weight_map\": {\"a\": \".\"}}", "not a plain file name", SL_ERR_FORMAT},
        {"empty-name", "{\"weight_map\": {\"a\": \"\"}}", "'', which is not a plain", SL_ERR_FORMAT},
        {"backslash", "{\"weight_map\": {\"a\": \"..\\\\x.safetensors\"}}",
         "not a plain file name", SL_ERR_FORMAT},
        {"nul-name", "{\"weight_map\": {\"a\": \"x\\u0000.safetensors\"}}",
         "not a plain file name", SL_ERR_FORMAT},
        {"missing-shard", "{\"weight_map\": {\"a\": \"gone.safetensors\"}}",
         "gone.safetensors: cannot open", SL_ERR_IO},
        {"shard-is-config", "{\"weight_map\": {\"a\": \"config.json\"}}",
         "config.json: the header length", SL_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        d = new_case(cases[i].name);
        put(d, INDEX, cases[i].index);
        if (cases[i].status == SL_ERR_IO || strstr(cases[i].name, "shard"))
            EXPECT(d, cases[i].status, cases[i].says); /* the shard's own error */
        else
            EXPECT(d, cases[i].status, INDEX, cases[i].says);
    }
    /* a directory named as a shard */
    d = new_case("shard-is-dir");
    put(d, INDEX, "{\"weight_map\": {\"a\": \"sub.safetensors\"}}");
    char sub[4300];
    snprintf(sub, sizeof sub, "%s/sub.safetensors", d);
    mkdir(sub, 0700);
    EXPECT(d, SL_ERR_IO, "sub.safetensors: not a regular file");
    rmdir(sub);
}

static void test_index_contents(void)
{
    const char *d;

    /* the fixture as it is, copied: opens; total_size is not checked */
    d = new_case("copy");
    copy_all_shards(d);
    put_index_edit(d, "\"total_size\": 5512", "\"total_size\": 1");
    EXPECT(d, SL_OK, "");

    d = new_case("no-total-size");
    copy_all_shards(d);
    put_index_edit(d, "\"metadata\": {\n    \"total_size\": 5512\n  },", "");
    EXPECT(d, SL_OK, "");

    /* a shard missing from the directory */
    d = new_case("missing-shard-file");
    copy_all_shards(d);
    put_index_edit(d, "", "");
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", d, SHARD(3));
    unlink(path);
    EXPECT(d, SL_ERR_IO, SHARD(3), "cannot open");

    /* a tensor the map names but no shard has */
    d = new_case("missing-tensor");
    copy_all_shards(d);
    put_index_edit(d, "\"model.norm.weight\"", "\"model.norm.bias\": \"" SHARD(1)
                   "\", \"model.norm.weight\"");
    EXPECT(d, SL_ERR_FORMAT,
           INDEX ": tensor 'model.norm.bias' is mapped to '" SHARD(1)
           "', which does not contain it");

    /* a tensor mapped to the wrong shard */
    d = new_case("wrong-shard");
    copy_all_shards(d);
    put_index_edit(d, "\"model.norm.weight\": \"" SHARD(1), "\"model.norm.weight\": \"" SHARD(2));
    EXPECT(d, SL_ERR_FORMAT,
           "tensor 'model.norm.weight' is mapped to '" SHARD(2)
           "', which does not contain it (it is in '" SHARD(1) "')");

    /* a tensor in a shard that the map does not list */
    d = new_case("unlisted");
    copy_all_shards(d);
    put_index_edit(d, "\"model.norm.weight\": \"" SHARD(1) "\",", "");
    EXPECT(d, SL_ERR_FORMAT,
           "shard '" SHARD(1) "' holds tensor 'model.norm.weight', which weight_map does not list");

    /* the walk's tails: the last name of the map, or of the shards, left over */
    d = new_case("mapped-last");
    copy_all_shards(d);
    put_index_edit(d, "\"model.norm.weight\"", "\"zzz\": \"" SHARD(6) "\", \"model.norm.weight\"");
    EXPECT(d, SL_ERR_FORMAT, "'zzz' is mapped to '" SHARD(6) "', which does not contain it");
    d = new_case("unlisted-last");
    copy_all_shards(d);
    put_index_edit(d, "\"model.norm.weight\": \"" SHARD(1) "\"", "\"a\": \"" SHARD(1) "\"");
    EXPECT(d, SL_ERR_FORMAT, "'a' is mapped to '" SHARD(1) "', which does not contain it");
    d = new_case("unlisted-first");
    copy_all_shards(d);
    put_index_edit(d, "\"lm_head.weight\": \"" SHARD(2) "\",", "");
    EXPECT(d, SL_ERR_FORMAT,
           "shard '" SHARD(2) "' holds tensor 'lm_head.weight', which weight_map does not list");

    /* the same tensors in two shards: shard 1 copied as a seventh, mapped for one tensor */
    d = new_case("two-shards");
    copy_all_shards(d);
    copy_shard(d, SHARD(1), "extra.safetensors", SIZE_MAX);
    put_index_edit(d, "\"model.norm.weight\": \"" SHARD(1), "\"model.norm.weight\": \"extra.safetensors");
    EXPECT(d, SL_ERR_FORMAT, INDEX ": tensor 'model.embed_tokens.weight' is in two shards, 'extra.safetensors' and '" SHARD(1) "'");

    /* a truncated shard, and one with a broken header */
    d = new_case("truncated");
    copy_all_shards(d);
    copy_shard(d, SHARD(4), NULL, 1000);
    put_index_edit(d, "", "");
    EXPECT(d, SL_ERR_FORMAT, SHARD(4) ":");
    d = new_case("truncated-header");
    copy_all_shards(d);
    copy_shard(d, SHARD(2), NULL, 5);
    put_index_edit(d, "", "");
    EXPECT(d, SL_ERR_FORMAT, SHARD(2) ": the file has 5 bytes");
    d = new_case("empty-shard");
    copy_all_shards(d);
    copy_shard(d, SHARD(6), NULL, 0);
    put_index_edit(d, "", "");
    EXPECT(d, SL_ERR_FORMAT, SHARD(6));

    /* every truncation of one shard fails cleanly */
    size_t len;
    char *shard = read_fixture("sharded/" SHARD(3), &len);
    free(shard);
    for (size_t keep = 0; keep < len; keep += 37) {
        d = new_case("cut");
        copy_all_shards(d);
        copy_shard(d, SHARD(3), NULL, keep);
        put_index_edit(d, "", "");
        EXPECT(d, SL_ERR_FORMAT, SHARD(3));
    }
}

static void test_directory(void)
{
    const char *d;
    char path[4400];

    d = new_case("no-weights");
    EXPECT(d, SL_ERR_IO, "no weights: neither model.safetensors nor " INDEX);

    d = new_case("no-config");
    copy_shard(d, SHARD(1), "model.safetensors", SIZE_MAX);
    snprintf(path, sizeof path, "%s/config.json", d);
    unlink(path);
    EXPECT(d, SL_ERR_IO, "config.json: cannot open");

    static const struct {
        const char *name, *config, *says;
    } configs[] = {
        {"config-array", "[1, 2]", "config.json: a JSON array, not an object"},
        {"config-null", "null", "a JSON null, not an object"},
        {"config-empty", "", "config.json: JSON at byte 0"},
        {"config-broken", "{\"a\": 1", "config.json: JSON at byte"},
        {"config-bom", "\xEF\xBB\xBF{}", "config.json: JSON at byte 0"},
    };
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        d = new_case(configs[i].name);
        copy_shard(d, SHARD(1), "model.safetensors", SIZE_MAX);
        put(d, "config.json", configs[i].config);
        EXPECT(d, SL_ERR_FORMAT, configs[i].says);
    }

    /* model.safetensors wins over an index (as in transformers) */
    d = new_case("both");
    copy_shard(d, SHARD(1), "model.safetensors", SIZE_MAX);
    put(d, INDEX, "not even JSON");
    sl_checkpoint *ck = NULL;
    sl_error err = {0};
    CHECK(sl_checkpoint_open(d, &ck, &err) == SL_OK);
    CHECK(sl_checkpoint_n_tensors(ck) == 2 && sl_checkpoint_find(ck, "model.norm.weight"));
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    CHECK(sl_checkpoint_file_of(ck, sl_checkpoint_find(ck, "model.norm.weight")) &&
          strcmp(sl_checkpoint_file_of(ck, sl_checkpoint_find(ck, "model.norm.weight")), path) ==
              0);
    sl_checkpoint_close(ck);

    d = new_case("single-truncated");
    copy_shard(d, SHARD(1), "model.safetensors", 100);
    EXPECT(d, SL_ERR_FORMAT, "model.safetensors:");

    snprintf(path, sizeof path, "%s/does-not-exist", tmpdir);
    EXPECT(path, SL_ERR_IO, "does-not-exist: cannot open");
    snprintf(path, sizeof path, "%s/sharded/config.json", fixtures);
    EXPECT(path, SL_ERR_IO, "config.json: not a directory");
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    fixtures = argv[1];
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/sl-checkpoint-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    test_fixtures();
    test_index_shapes();
    test_index_contents();
    test_directory();
    nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    fprintf(stderr, "%d hostile and valid directories\n", n_cases);
    return sl_test_finish();
}
