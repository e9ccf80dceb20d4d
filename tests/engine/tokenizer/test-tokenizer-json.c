/* test-tokenizer-json.c: tokenizers from Hugging Face directories
 * (tokenizer/tokenizer-json.c) and the DeepSeek V3.2 chat template.
 *
 * tests/data/deepseek-v32/ (tests/reference/make-deepseek-tokenizer.py): a
 * 1024-token byte-level BPE trained by Hugging Face `tokenizers` with
 * DeepSeek V3's pre-tokenizer, its token ids for a varied set of texts from
 * `tokenizers` (also under the GPT-2, SmolLM, Llama 3 and Qwen2
 * pre-tokenizers), and chat renderings from transformers' apply_chat_template.
 * Hostile variants of its tokenizer.json and tokenizer_config.json are made
 * here, in a temporary folder; each must give a clear error, never a crash. */
#include "golden-util.h"
#include "tokenizer/bpe.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *data_dir;
static char tok_dir[4200];
static char tmpdir[4096];
static int n_cases;

/* ---- the trained tokenizer ----------------------------------------------------------- */

static char *decode_all(const sl_tokenizer *tok, const int32_t *ids, size_t n, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        sl_tokenizer_piece(tok, ids[i], &l);
        total += l;
    }
    char *out = malloc(total + 1);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *p = sl_tokenizer_piece(tok, ids[i], &l);
        memcpy(out + at, p, l);
        at += l;
    }
    out[at] = 0;
    *len = at;
    return out;
}

static bool same_ids(const sl_tokens *got, const int32_t *want, size_t n)
{
    return got->n == n && (n == 0 || memcmp(got->ids, want, n * sizeof *want) == 0);
}

static void test_golden(const sl_tokenizer *tok)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/tokenizer-golden.txt", data_dir);
    size_t len;
    char *text = sl_test_read_file(path, &len);
    CHECKF(text != NULL, "%s", path);
    if (!text)
        return;
    char *cursor = text, *f[3];
    int lines = 0, bad = 0;
    while (golden_next_line(&cursor, f, 3) == 3) {
        size_t n, nw, np;
        char *s = golden_unhex(f[0], strlen(f[0]), &n);
        int32_t *with = golden_ids(f[1], &nw), *plain = golden_ids(f[2], &np);
        sl_tokens a = {0}, b = {0};
        sl_error err;
        CHECK(sl_tokenizer_encode(tok, s, n, true, &a, &err) == SL_OK);
        CHECK(sl_tokenizer_encode(tok, s, n, false, &b, &err) == SL_OK);
        bool ok = same_ids(&a, with, nw) && same_ids(&b, plain, np);
        size_t dl;
        char *back = decode_all(tok, a.ids, a.n, &dl);
        ok = ok && dl == n && memcmp(back, s, n) == 0;
        free(back);
        back = decode_all(tok, b.ids, b.n, &dl);
        ok = ok && dl == n && memcmp(back, s, n) == 0;
        free(back);
        if (!ok) {
            bad++;
            fprintf(stderr, "golden mismatch for %s: got", f[0]);
            for (size_t i = 0; i < a.n; i++)
                fprintf(stderr, "%s%d", i ? "," : " ", a.ids[i]);
            fprintf(stderr, " / want %s\n", f[1]);
        }
        lines++;
        sl_tokens_free(&a);
        sl_tokens_free(&b);
        free(s);
        free(with);
        free(plain);
    }
    CHECK(lines >= 100);
    CHECKF(bad == 0, "%d of %d golden lines differ", bad, lines);
    fprintf(stderr, "tokenizer golden: %d texts, %d identical\n", lines, lines - bad);
    free(text);
}

static void test_roundtrip(const sl_tokenizer *tok)
{
    uint64_t state = 0x5eed5eed;
    char buf[300];
    int bad = 0;
    for (int round = 0; round < 2000; round++) {
        size_t n = golden_rand(&state) % sizeof buf;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = golden_rand(&state);
            /* mostly ASCII and multi-byte UTF-8 leads, some any byte */
            buf[i] = (char)(r % 4 == 0 ? (r >> 8) & 0xFF : r % 4 == 1 ? 0xE0 | (r >> 8 & 0xF)
                                                                         : 0x20 + (r >> 8) % 95);
        }
        sl_tokens t = {0};
        sl_error err;
        CHECK(sl_tokenizer_encode(tok, buf, n, round % 2, &t, &err) == SL_OK);
        size_t dl;
        char *back = decode_all(tok, t.ids, t.n, &dl);
        if (dl != n || memcmp(back, buf, n) != 0)
            bad++;
        free(back);
        sl_tokens_free(&t);
    }
    CHECKF(bad == 0, "%d of 2000 random byte strings do not round-trip", bad);
}

static void test_trained(void)
{
    sl_tokenizer *tok = NULL;
    sl_error err = {0};
    sl_status s = sl_tokenizer_from_json(tok_dir, &tok, &err);
    CHECKF(s == SL_OK, "%s", err.message);
    if (s != SL_OK)
        return;
    CHECK(sl_tokenizer_n_vocab(tok) == 1024);
    CHECK(sl_tokenizer_bos(tok) == 0 && sl_tokenizer_eos(tok) == 1);
    CHECK(sl_tokenizer_add_bos(tok));
    CHECK(sl_tokenizer_find(tok, "<\xef\xbd\x9cUser\xef\xbd\x9c>") == 2);
    CHECK(sl_tokenizer_find(tok, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>") == 3);
    CHECK(sl_tokenizer_find(tok, "<think>") == 4 && sl_tokenizer_find(tok, "</think>") == 5);
    CHECK(sl_tokenizer_is_special(tok, 0) && sl_tokenizer_is_special(tok, 1) &&
          sl_tokenizer_is_special(tok, 2) && sl_tokenizer_is_special(tok, 6));
    CHECK(!sl_tokenizer_is_special(tok, 4) && !sl_tokenizer_is_special(tok, 5));
    for (unsigned b = 0; b < 256; b++)
        CHECK(sl_tokenizer_byte_token(tok, (uint8_t)b) >= 0);
    const char *fp = sl_tokenizer_fingerprint(tok);
    CHECK(fp && strlen(fp) == 64 && strspn(fp, "0123456789abcdef") == 64);
    sl_tokenizer *again = NULL;
    CHECK(sl_tokenizer_from_json(tok_dir, &again, &err) == SL_OK);
    if (again) {
        CHECK(strcmp(sl_tokenizer_fingerprint(again), fp) == 0);
        sl_tokenizer_free(again);
    }
    test_golden(tok);
    test_roundtrip(tok);
    sl_tokenizer_free(tok);

    /* a trailing slash */
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/", tok_dir);
    CHECK(sl_tokenizer_from_json(dir, &tok, &err) == SL_OK);
    sl_tokenizer_free(tok);
    CHECK(sl_tokenizer_from_json(NULL, &tok, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECK(sl_tokenizer_from_json(dir, NULL, &err) == SL_ERR_INVALID_ARGUMENT);
}

/* The same vocabulary under the GPT-2, SmolLM, Llama 3 and Qwen2 pre-tokenizers. */
static void test_pre_variants(void)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/pre-variants-golden.txt", data_dir);
    size_t len;
    char *text = sl_test_read_file(path, &len);
    CHECKF(text != NULL, "%s", path);
    if (!text)
        return;
    char *cursor = text, *f[3], kind[32] = "";
    sl_tokenizer *tok = NULL;
    int lines = 0, bad = 0, kinds = 0;
    while (golden_next_line(&cursor, f, 3) == 3) {
        sl_error err = {0};
        if (strcmp(kind, f[0]) != 0) {
            sl_tokenizer_free(tok);
            tok = NULL;
            snprintf(kind, sizeof kind, "%s", f[0]);
            char dir[4400];
            snprintf(dir, sizeof dir, "%s/pre-variants/%s", data_dir, kind);
            CHECKF(sl_tokenizer_from_json(dir, &tok, &err) == SL_OK, "%s", err.message);
            kinds++;
        }
        if (!tok)
            continue;
        size_t n, nw;
        char *s = golden_unhex(f[1], strlen(f[1]), &n);
        int32_t *want = golden_ids(f[2], &nw);
        sl_tokens a = {0};
        CHECK(sl_tokenizer_encode(tok, s, n, true, &a, &err) == SL_OK);
        if (!same_ids(&a, want, nw)) {
            bad++;
            fprintf(stderr, "%s: mismatch for %s: want %s\n", kind, f[1], f[2]);
        }
        lines++;
        sl_tokens_free(&a);
        free(s);
        free(want);
    }
    sl_tokenizer_free(tok);
    CHECK(kinds == 4 && lines >= 400);
    CHECKF(bad == 0, "%d of %d pre-tokenizer variant lines differ", bad, lines);
    fprintf(stderr, "pre-tokenizer variants: %d kinds, %d texts, %d identical\n", kinds, lines,
            lines - bad);
    free(text);
}

/* ---- chat ------------------------------------------------------------------------------ */

static void test_chat(void)
{
    sl_chat_template t = SL_CHAT_NONE;
    sl_error err = {0};
    CHECKF(sl_chat_detect_dir(tok_dir, &t, &err) == SL_OK, "%s", err.message);
    CHECK(t == SL_CHAT_DEEPSEEK_V32);
    CHECK(strcmp(sl_chat_end_of_turn(SL_CHAT_DEEPSEEK_V32),
                 "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>") == 0);

    char path[4300];
    snprintf(path, sizeof path, "%s/chat-golden.txt", data_dir);
    size_t len;
    char *text = sl_test_read_file(path, &len);
    CHECKF(text != NULL, "%s", path);
    if (!text)
        return;
    char *cursor = text, *f[4];
    int lines = 0, bad = 0;
    while (golden_next_line(&cursor, f, 4) == 4) {
        sl_chat_message msgs[16];
        char *owned[32];
        size_t n = 0, n_owned = 0;
        for (char *p = f[2]; *p && n < 16;) {
            char *comma = strchr(p, ','), *colon = strchr(p, ':');
            size_t end = comma ? (size_t)(comma - p) : strlen(p);
            size_t rl = (size_t)(colon - p), hl = end - rl - 1, cl;
            char *role = malloc(rl + 1);
            memcpy(role, p, rl);
            role[rl] = 0;
            owned[n_owned++] = role;
            char *content = golden_unhex(colon + 1, hl, &cl);
            owned[n_owned++] = content;
            msgs[n++] = (sl_chat_message){role, content};
            p += end + (comma ? 1 : 0);
        }
        size_t wl;
        char *want = golden_unhex(f[3], strlen(f[3]), &wl);
        char *got = NULL;
        sl_status s = sl_chat_render_template(SL_CHAT_DEEPSEEK_V32, msgs, n, f[1][0] == '1', &got,
                                              &err);
        if (s != SL_OK || strlen(got) != wl || memcmp(got, want, wl) != 0) {
            bad++;
            fprintf(stderr, "chat mismatch (%s, add %s):\n  got  '%s'\n  want '%s'\n", f[2], f[1],
                    got ? got : err.message, want);
        }
        lines++;
        free(got);
        free(want);
        for (size_t i = 0; i < n_owned; i++)
            free(owned[i]);
    }
    CHECK(lines >= 20);
    CHECKF(bad == 0, "%d of %d chat renderings differ", bad, lines);
    free(text);

    sl_chat_message tool[] = {{"user", "u"}, {"tool", "x"}};
    char *out = NULL;
    CHECK(sl_chat_render_template(SL_CHAT_DEEPSEEK_V32, tool, 2, true, &out, &err) ==
          SL_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "DeepSeek V3.2") != NULL);

    /* detection from template text */
    CHECK(sl_chat_detect_text("x", "{{'<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>'}}", 23, &t, &err) ==
              SL_OK &&
          t == SL_CHAT_DEEPSEEK_V3);
    CHECK(sl_chat_detect_text("x", "<|im_start|>", 12, &t, &err) == SL_OK && t == SL_CHAT_CHATML);
    /* R1: "</think>" in the history, "<｜Assistant｜><think>" to open: not V3.2 */
    static const char r1[] = "{% set content = content.split('</think>')[-1] %}"
                             "{{'<\xef\xbd\x9c" "Assistant\xef\xbd\x9c><think>\\n'}}";
    CHECK(sl_chat_detect_text("x", r1, strlen(r1), &t, &err) == SL_OK && t == SL_CHAT_DEEPSEEK_V3);
    CHECK(sl_chat_detect_text("my.jinja", "{{ nothing }}", 13, &t, &err) == SL_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "my.jinja: chat template not recognised") != NULL);
    CHECK(sl_chat_detect_text("x", NULL, 3, &t, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECK(sl_chat_detect_dir(NULL, &t, &err) == SL_ERR_INVALID_ARGUMENT);
}

/* ---- hostile directories ----------------------------------------------------------------- */

static char *fixture_json, *fixture_config;

static const char *new_case(const char *name)
{
    static char dir[4300];
    snprintf(dir, sizeof dir, "%s/%03d-%s", tmpdir, n_cases++, name);
    if (mkdir(dir, 0700) != 0) {
        perror(dir);
        exit(1);
    }
    return dir;
}

static void put(const char *dir, const char *file, const char *text, size_t len)
{
    char path[4500];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(text, 1, len, f) != len)) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

/* s with [from, to) (found by markers: from the first `a` to the first `b`
 * after it, or the whole marker a when b is NULL) replaced by with. */
static char *edit(const char *s, const char *a, const char *b, const char *with)
{
    const char *from = strstr(s, a);
    if (!from) {
        fprintf(stderr, "no '%s' in the fixture\n", a);
        exit(1);
    }
    const char *to = b ? strstr(from, b) : from + strlen(a);
    if (!to) {
        fprintf(stderr, "no '%s' in the fixture\n", b);
        exit(1);
    }
    size_t n1 = (size_t)(from - s), n2 = strlen(with), n3 = strlen(to);
    char *out = malloc(n1 + n2 + n3 + 1);
    memcpy(out, s, n1);
    memcpy(out + n1, with, n2);
    memcpy(out + n1 + n2, to, n3 + 1);
    return out;
}

/* A directory with tokenizer.json = fixture edited (a, b, with) and the
 * fixture's tokenizer_config.json (or config when not NULL). */
static const char *make_case(const char *name, const char *a, const char *b, const char *with,
                             const char *config)
{
    const char *d = new_case(name);
    char *json = a ? edit(fixture_json, a, b, with) : NULL;
    const char *j = json ? json : fixture_json;
    put(d, "tokenizer.json", j, strlen(j));
    const char *c = config ? config : fixture_config;
    put(d, "tokenizer_config.json", c, strlen(c));
    free(json);
    return d;
}

static void expect_at(int line, const char *dir, sl_status wanted, const char *says)
{
    sl_tokenizer *tok = (sl_tokenizer *)(uintptr_t)1;
    sl_error err = {0};
    sl_status s = sl_tokenizer_from_json(dir, &tok, &err);
    CHECKF(s == wanted, "line %d: %s: got %s (%s), wanted %s", line, dir, sl_status_name(s),
           err.message, sl_status_name(wanted));
    if (s == SL_OK) {
        sl_tokens t = {0};
        CHECK(sl_tokenizer_encode(tok, "Hello 123456 world", 18, true, &t, &err) == SL_OK);
        sl_tokens_free(&t);
        sl_tokenizer_free(tok);
    } else {
        CHECKF(tok == NULL, "line %d: out not cleared", line);
    }
    if (says && s != SL_OK)
        CHECKF(strstr(err.message, says) != NULL, "line %d: '%s' does not say '%s'", line,
               err.message, says);
}

#define EXPECT(dir, wanted, says) expect_at(__LINE__, dir, wanted, says)

#define PRE_START "\"pre_tokenizer\": {"
#define PRE_END "\n \"post_processor\""

static void test_pre_tokenizers(void)
{
    const char *d;
    /* the known ones, as their tokenizer.json files write them */
    d = make_case("gpt2", PRE_START, PRE_END,
                  "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
                  "\"trim_offsets\": true, \"use_regex\": true},",
                  NULL);
    EXPECT(d, SL_OK, NULL);
    d = make_case("smollm", PRE_START, PRE_END,
                  "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
                  "\"Digits\", \"individual_digits\": true}, {\"type\": \"ByteLevel\", "
                  "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}]},",
                  NULL);
    EXPECT(d, SL_OK, NULL);
    d = make_case("llama3", PRE_START, PRE_END,
                  "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
                  "\"Split\", \"pattern\": {\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|"
                  "[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+"
                  "[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}, \"behavior\": "
                  "\"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", "
                  "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]},",
                  NULL);
    EXPECT(d, SL_OK, NULL);
    /* DeepSeek V3's regexes with \uXXXX and \r\n escapes instead of characters */
    d = make_case("ds3-escaped", "\"Regex\": \"[\xe4\xb8\x80-\xe9\xbe\xa5", "]+\"",
                  "\"Regex\": \"[\\\\u4e00-\\\\u9fa5\\\\u3040-\\\\u309f\\\\u30a0-\\\\u30ff", NULL);
    EXPECT(d, SL_OK, NULL);

    static const struct {
        const char *name, *pre;
    } unknown[] = {
        {"whitespace", "\"pre_tokenizer\": {\"type\": \"Whitespace\"},"},
        {"prefix-space", "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true},"},
        {"default-prefix", "\"pre_tokenizer\": {\"type\": \"ByteLevel\"},"},
        {"null", "\"pre_tokenizer\": null,"},
        {"array", "\"pre_tokenizer\": [1],"},
        {"empty-seq", "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": []},"},
        {"seq-not-array", "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": 5},"},
        {"other-regex",
         "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
         "\"pattern\": {\"Regex\": \"\\\\s+\"}, \"behavior\": \"Isolated\", \"invert\": false}, "
         "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]},"},
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        d = make_case(unknown[i].name, PRE_START, PRE_END, unknown[i].pre, NULL);
        EXPECT(d, SL_ERR_UNSUPPORTED, "tokenizer.json: pre_tokenizer");
    }
    /* DeepSeek V3's with one change each */
    d = make_case("ds3-merged", "\"behavior\": \"Isolated\"", NULL,
                  "\"behavior\": \"MergedWithPrevious\"", NULL);
    EXPECT(d, SL_ERR_UNSUPPORTED, "pre_tokenizer Sequence[Split, Split, Split, ByteLevel] is not");
    d = make_case("ds3-invert", "\"invert\": false", NULL, "\"invert\": true", NULL);
    EXPECT(d, SL_ERR_UNSUPPORTED, "is not one the engine knows");
    d = make_case("ds3-digits", "\\\\p{N}{1,3}", NULL, "\\\\p{N}{1,4}", NULL);
    EXPECT(d, SL_ERR_UNSUPPORTED, "is not one the engine knows");
    d = make_case("ds3-use-regex", "\"use_regex\": false", NULL, "\"use_regex\": true", NULL);
    EXPECT(d, SL_ERR_UNSUPPORTED, "is not one the engine knows");
    d = make_case("ds3-string", "\"Regex\": \"\\\\p{N}{1,3}\"", NULL,
                  "\"String\": \"\\\\p{N}{1,3}\"", NULL);
    EXPECT(d, SL_ERR_UNSUPPORTED, "is not one the engine knows");
}

static void test_hostile(void)
{
    const char *d;
    d = make_case("not-json", "{", NULL, "[", NULL);
    EXPECT(d, SL_ERR_FORMAT, "tokenizer.json: JSON at byte");
    d = new_case("empty");
    put(d, "tokenizer.json", "", 0);
    EXPECT(d, SL_ERR_FORMAT, "tokenizer.json: JSON at byte 0");
    d = new_case("array");
    put(d, "tokenizer.json", "[]", 2);
    EXPECT(d, SL_ERR_FORMAT, "tokenizer.json: a JSON array, not an object");
    d = new_case("missing");
    EXPECT(d, SL_ERR_IO, "tokenizer.json: cannot open");
    d = new_case("no-model");
    put(d, "tokenizer.json", "{}", 2);
    EXPECT(d, SL_ERR_FORMAT, "tokenizer.json: model is missing, not an object");

    d = make_case("wordpiece", "\"type\": \"BPE\"", NULL, "\"type\": \"WordPiece\"", NULL);
    EXPECT(d, SL_ERR_UNSUPPORTED, "model.type 'WordPiece' is not supported");
    d = make_case("byte-fallback", "\"byte_fallback\": false", NULL, "\"byte_fallback\": true",
                  NULL);
    EXPECT(d, SL_ERR_UNSUPPORTED, "byte_fallback");
    d = make_case("dropout", "\"dropout\": null", NULL, "\"dropout\": 0.1", NULL);
    EXPECT(d, SL_ERR_UNSUPPORTED, "model.dropout");
    d = make_case("prefix", "\"continuing_subword_prefix\": null", NULL,
                  "\"continuing_subword_prefix\": \"##\"", NULL);
    EXPECT(d, SL_ERR_UNSUPPORTED, "continuing_subword_prefix");
    d = make_case("nfc", "\"normalizer\": {", "\n \"pre_tokenizer\"",
                  "\"normalizer\": {\"type\": \"NFC\"},", NULL);
    EXPECT(d, SL_ERR_UNSUPPORTED, "tokenizer.json: normalizer 'NFC' is not supported");
    d = make_case("no-normalizer", "\"normalizer\": {", "\n \"pre_tokenizer\"",
                  "\"normalizer\": null,", NULL);
    EXPECT(d, SL_OK, NULL);
    d = make_case("ignore-merges", "\"ignore_merges\": false", NULL, "\"ignore_merges\": true",
                  NULL);
    EXPECT(d, SL_OK, NULL);
    d = make_case("ignore-merges-str", "\"ignore_merges\": false", NULL,
                  "\"ignore_merges\": \"yes\"", NULL);
    EXPECT(d, SL_ERR_FORMAT, "model.ignore_merges is not a boolean");

    /* the vocabulary */
    d = make_case("vocab-array", "\"vocab\": {", "\n  },\n  \"merges\"",
                  "\"vocab\": [1], \"x\": {\"a\": 1", NULL);
    EXPECT(d, SL_ERR_FORMAT, "model.vocab is array, not an object");
    d = make_case("id-string", "\"!\": 7", NULL, "\"!\": \"7\"", NULL);
    EXPECT(d, SL_ERR_FORMAT, "vocabulary token '!' has id string, not an integer");
    d = make_case("id-fraction", "\"!\": 7", NULL, "\"!\": 7.5", NULL);
    EXPECT(d, SL_ERR_FORMAT, "has id 7.5, not an integer");
    d = make_case("id-negative", "\"!\": 7", NULL, "\"!\": -7", NULL);
    EXPECT(d, SL_ERR_FORMAT, "vocabulary token '!' has id -7, outside 0..");
    d = make_case("id-huge", "\"!\": 7", NULL, "\"!\": 99999999999", NULL);
    EXPECT(d, SL_ERR_FORMAT, "outside 0..");
    d = make_case("id-twice", "\"!\": 7", NULL, "\"!\": 8", NULL);
    EXPECT(d, SL_ERR_FORMAT, "both have id 8");
    d = make_case("id-hole", "\"!\": 7", NULL, "\"!\": 1030", NULL);
    EXPECT(d, SL_ERR_FORMAT, "no token has id 7 (ids must be dense");
    d = make_case("dup-key", "\"!\": 7", NULL, "\"!\": 7, \"!\": 7", NULL);
    EXPECT(d, SL_ERR_FORMAT, "expected unique keys in an object, found '!' again");

    /* added tokens */
    d = make_case("added-object", "\"added_tokens\": [", NULL, "\"added_tokens\": {\"a\": [", NULL);
    EXPECT(d, SL_ERR_FORMAT, "tokenizer.json:");
    d = make_case("added-conflict", "\"id\": 6,", NULL, "\"id\": 7,", NULL);
    EXPECT(d, SL_ERR_FORMAT, "vocabulary token '!' and added token");
    d = make_case("added-elsewhere", "\"id\": 2,", NULL, "\"id\": 3,", NULL);
    EXPECT(d, SL_ERR_FORMAT, "both have id 3");
    d = make_case("added-lstrip", "\"lstrip\": false", NULL, "\"lstrip\": true", NULL);
    EXPECT(d, SL_ERR_UNSUPPORTED, "has lstrip set");
    d = make_case("added-single", "\"single_word\": false", NULL, "\"single_word\": true", NULL);
    EXPECT(d, SL_ERR_UNSUPPORTED, "single_word");
    d = make_case("added-special-str", "\"special\": true", NULL, "\"special\": 1", NULL);
    EXPECT(d, SL_ERR_FORMAT, "must be booleans");
    d = make_case("added-empty", "\"content\": \"<think>\"", NULL, "\"content\": \"\"", NULL);
    EXPECT(d, SL_ERR_FORMAT, "added_tokens[4] has no content");
    d = make_case("added-no-id", "\"id\": 4,", NULL, "", NULL);
    EXPECT(d, SL_ERR_FORMAT, "added token '<think>' has id null, not an integer");
    d = make_case("added-not-object", "\"added_tokens\": [", NULL, "\"added_tokens\": [3, ", NULL);
    EXPECT(d, SL_ERR_FORMAT, "added_tokens[0] is a JSON number, not an object");
    /* a new added token beyond the vocabulary: dense, so it is fine */
    d = make_case("added-new", "\"added_tokens\": [", NULL,
                  "\"added_tokens\": [{\"id\": 1024, \"content\": \"<extra>\", \"special\": "
                  "true},",
                  NULL);
    EXPECT(d, SL_OK, NULL);
    d = make_case("added-twice", "\"added_tokens\": [", NULL,
                  "\"added_tokens\": [{\"id\": 1024, \"content\": \"<x>\"}, {\"id\": 1025, "
                  "\"content\": \"<x>\"},",
                  NULL);
    EXPECT(d, SL_ERR_FORMAT, "added token '<x>' is listed twice");
    d = make_case("added-dup-vocab", "\"added_tokens\": [", NULL,
                  "\"added_tokens\": [{\"id\": 1024, \"content\": \"!\"},", NULL);
    EXPECT(d, SL_ERR_FORMAT, "added token '!' has id 1024, but the vocabulary gives it id 7");

    /* merges */
    d = make_case("merges-object", "\"merges\": [", NULL, "\"merges\": {\"a\": [", NULL);
    EXPECT(d, SL_ERR_FORMAT, "tokenizer.json:");
    d = make_case("merge-number", "\"merges\": [", NULL, "\"merges\": [5, ", NULL);
    EXPECT(d, SL_ERR_FORMAT, "merge 0 is a JSON number");
    d = make_case("merge-triple", "\"merges\": [", NULL, "\"merges\": [[\"a\", \"b\", \"c\"], ",
                  NULL);
    EXPECT(d, SL_ERR_FORMAT, "merge 0 is a JSON array");
    d = make_case("merge-space", "\"merges\": [", NULL, "\"merges\": [[\"a b\", \"c\"], ", NULL);
    EXPECT(d, SL_ERR_UNSUPPORTED, "merge 0 ['a b', ...] has a token with a space");
    d = make_case("merge-unknown", "\"merges\": [", NULL, "\"merges\": [[\"\xc4\xa0\", \"zq\"], ",
                  NULL);
    EXPECT(d, SL_ERR_FORMAT, "refers to a token missing from the vocabulary");
    d = make_case("merge-strings", "\"merges\": [", NULL, "\"merges\": [\"\xc4\xa0 \xc4\xa0\", ",
                  NULL);
    EXPECT(d, SL_OK, NULL);
    d = make_case("merge-bad-string", "\"merges\": [", NULL, "\"merges\": [\"ab\", ", NULL);
    EXPECT(d, SL_ERR_FORMAT, "merge 0 'ab' is not two tokens");

    /* tokenizer_config.json */
    d = make_case("config-array", NULL, NULL, NULL, "[]");
    EXPECT(d, SL_ERR_FORMAT, "tokenizer_config.json: a JSON array, not an object");
    d = make_case("config-broken", NULL, NULL, NULL, "{\"bos_token\": ");
    EXPECT(d, SL_ERR_FORMAT, "tokenizer_config.json: JSON at byte");
    d = make_case("bos-unknown", NULL, NULL, NULL, "{\"bos_token\": \"<s>\"}");
    EXPECT(d, SL_ERR_FORMAT, "tokenizer_config.json: bos_token '<s>' is not in the vocabulary");
    d = make_case("bos-number", NULL, NULL, NULL, "{\"bos_token\": 0}");
    EXPECT(d, SL_ERR_FORMAT, "bos_token is a JSON number, not a token");
    d = make_case("add-bos-str", NULL, NULL, NULL,
                  "{\"bos_token\": {\"content\": \"!\"}, \"add_bos_token\": \"yes\"}");
    EXPECT(d, SL_ERR_FORMAT, "add_bos_token is a JSON string, not a boolean");
    d = make_case("add-bos-no-bos", NULL, NULL, NULL, "{\"add_bos_token\": true}");
    EXPECT(d, SL_ERR_FORMAT, "add_bos_token is true but there is no bos_token");

    /* what the config decides */
    sl_error err;
    sl_tokenizer *tok = NULL;
    d = make_case("bos-object", NULL, NULL, NULL,
                  "{\"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"!\"}, \"eos_token\": "
                  "null, \"add_bos_token\": false}");
    CHECK(sl_tokenizer_from_json(d, &tok, &err) == SL_OK);
    CHECK(tok && sl_tokenizer_bos(tok) == 7 && sl_tokenizer_eos(tok) == -1 &&
          !sl_tokenizer_add_bos(tok));
    sl_tokenizer_free(tok);
    /* without add_bos_token, the TemplateProcessing post-processor adds bos */
    d = make_case("bos-from-post", NULL, NULL, NULL,
                  "{\"bos_token\": \"<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>\"}");
    CHECK(sl_tokenizer_from_json(d, &tok, &err) == SL_OK);
    CHECK(tok && sl_tokenizer_bos(tok) == 0 && sl_tokenizer_add_bos(tok));
    sl_tokenizer_free(tok);
    /* no tokenizer_config.json at all */
    d = new_case("no-config");
    put(d, "tokenizer.json", fixture_json, strlen(fixture_json));
    CHECK(sl_tokenizer_from_json(d, &tok, &err) == SL_OK);
    CHECK(tok && sl_tokenizer_bos(tok) == -1 && !sl_tokenizer_add_bos(tok));
    /* add_bos is part of the fingerprint (it changes the ids of a text) */
    sl_tokenizer *ref = NULL;
    CHECK(sl_tokenizer_from_json(tok_dir, &ref, &err) == SL_OK);
    if (tok && ref)
        CHECK(strcmp(sl_tokenizer_fingerprint(tok), sl_tokenizer_fingerprint(ref)) != 0);
    sl_tokenizer_free(tok);
    /* one merge less: another fingerprint */
    const char *m = strstr(fixture_json, "\"merges\": [");
    const char *first_end = m ? strstr(m, "],") : NULL; /* the end of the first pair */
    CHECK(first_end != NULL);
    if (!first_end)
        return;
    char first[256];
    snprintf(first, sizeof first, "%.*s", (int)(first_end + 2 - m), m);
    d = make_case("one-merge-less", first, NULL, "\"merges\": [", NULL);
    CHECK(sl_tokenizer_from_json(d, &tok, &err) == SL_OK);
    if (tok && ref)
        CHECK(strcmp(sl_tokenizer_fingerprint(tok), sl_tokenizer_fingerprint(ref)) != 0);
    sl_tokenizer_free(tok);
    sl_tokenizer_free(ref);

    /* chat templates of hostile configs */
    sl_chat_template t;
    d = make_case("chat-none", NULL, NULL, NULL, "{}");
    CHECK(sl_chat_detect_dir(d, &t, &err) == SL_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "no chat template") != NULL);
    d = make_case("chat-number", NULL, NULL, NULL, "{\"chat_template\": 3}");
    CHECK(sl_chat_detect_dir(d, &t, &err) == SL_ERR_FORMAT);
    CHECK(strstr(err.message, "chat_template is a JSON number") != NULL);
    d = make_case("chat-unknown", NULL, NULL, NULL, "{\"chat_template\": \"{{ x }}\"}");
    CHECK(sl_chat_detect_dir(d, &t, &err) == SL_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "tokenizer_config.json: chat template not recognised") != NULL);
    d = make_case("chat-list", NULL, NULL, NULL,
                  "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"x\"}, {\"name\": "
                  "\"default\", \"template\": \"<|im_start|>\"}]}");
    CHECK(sl_chat_detect_dir(d, &t, &err) == SL_OK && t == SL_CHAT_CHATML);
    d = make_case("chat-jinja", NULL, NULL, NULL, "{}");
    put(d, "chat_template.jinja", "{{'<|start_header_id|>'}}", 25);
    CHECK(sl_chat_detect_dir(d, &t, &err) == SL_OK && t == SL_CHAT_LLAMA3);
    d = make_case("chat-v32-config", NULL, NULL, NULL, "{}");
    put(d, "config.json", "{\"model_type\": \"deepseek_v32\"}", 30);
    CHECK(sl_chat_detect_dir(d, &t, &err) == SL_OK && t == SL_CHAT_DEEPSEEK_V32);
    d = make_case("chat-v3-config", NULL, NULL, NULL, "{}");
    put(d, "config.json", "{\"model_type\": \"deepseek_v3\"}", 29);
    CHECK(sl_chat_detect_dir(d, &t, &err) == SL_ERR_UNSUPPORTED);
    d = make_case("chat-broken-model-config", NULL, NULL, NULL, "{}");
    put(d, "config.json", "{\"model_type\": ", 14);
    CHECK(sl_chat_detect_dir(d, &t, &err) == SL_ERR_UNSUPPORTED);
    d = make_case("chat-broken-config", NULL, NULL, NULL, "{");
    CHECK(sl_chat_detect_dir(d, &t, &err) == SL_ERR_FORMAT);
}

/* Every truncation of tokenizer.json fails cleanly (or, at its very end, loads). */
static void test_truncations(void)
{
    size_t len = strlen(fixture_json);
    int ok = 0;
    for (size_t keep = 0; keep < len; keep += 1 + keep / 8) {
        const char *d = new_case("cut");
        put(d, "tokenizer.json", fixture_json, keep);
        sl_tokenizer *tok = NULL;
        sl_error err;
        sl_status s = sl_tokenizer_from_json(d, &tok, &err);
        CHECK(s != SL_OK && tok == NULL && strstr(err.message, "tokenizer.json") != NULL);
        ok += s != SL_OK;
        sl_tokenizer_free(tok);
    }
    CHECK(ok > 10);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DATA_DIR (tests/data/deepseek-v32)\n", argv[0]);
        return 2;
    }
    data_dir = argv[1];
    snprintf(tok_dir, sizeof tok_dir, "%s/tokenizer", data_dir);
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/sl-tokenizer-json-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    char path[4400];
    size_t len;
    snprintf(path, sizeof path, "%s/tokenizer.json", tok_dir);
    fixture_json = sl_test_read_file(path, &len);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", tok_dir);
    fixture_config = sl_test_read_file(path, &len);
    if (!fixture_json || !fixture_config) {
        fprintf(stderr, "%s: cannot read the fixture\n", tok_dir);
        return 1;
    }
    test_trained();
    test_pre_variants();
    test_chat();
    test_pre_tokenizers();
    test_hostile();
    test_truncations();
    free(fixture_json);
    free(fixture_config);
    nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    fprintf(stderr, "%d hostile and valid directories\n", n_cases);
    return sl_test_finish();
}
