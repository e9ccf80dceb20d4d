/* The byte-level BPE tokenizer of the default model against Hugging Face
 * `tokenizers` (smollm-golden.txt: every string must give identical ids,
 * with and without special-token parsing), round trips on the golden
 * strings, on random valid UTF-8 and on random bytes, special tokens, long
 * words, a small Llama-3-style vocabulary trained by `tokenizers`
 * (llama3-synth.txt), and the validation of tokenizer metadata.
 *
 * Needs the default model (SIGHTLINE_MODEL or the installed copy): fails
 * without it.
 *
 * Usage: test-tokenizer DATA_DIR */
#include "golden-util.h"

#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer.h"

#include <time.h>
#include <unistd.h>

/* decode(ids) == text with the bytes the vocabulary cannot encode removed. */
static bool round_trips(const sl_tokenizer *tok, const char *text, size_t n, const sl_tokens *ids)
{
    size_t at = 0;
    const unsigned char *u = (const unsigned char *)text;
    size_t i = 0;
    for (size_t k = 0; k < ids->n; k++) {
        size_t len;
        const char *p = sl_tokenizer_piece(tok, ids->ids[k], &len);
        if (!p)
            return false;
        for (size_t j = 0; j < len; j++) {
            while (i < n && sl_tokenizer_byte_token(tok, u[i]) < 0)
                i++;
            if (i >= n || text[i] != p[j])
                return false;
            i++;
            at++;
        }
    }
    while (i < n && sl_tokenizer_byte_token(tok, u[i]) < 0)
        i++;
    return i == n;
}

static bool same_ids(const sl_tokens *got, const int32_t *want, size_t n)
{
    return got->n == n && (n == 0 || memcmp(got->ids, want, n * sizeof *want) == 0);
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    fprintf(stderr, "  %s (%zu):", label, n);
    for (size_t i = 0; i < n && i < 40; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

static void test_golden(const sl_tokenizer *tok, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/smollm-golden.txt", dir);
    size_t len;
    char *data = sl_test_read_file(path, &len);
    CHECKF(data != NULL, "cannot read %s", path);
    if (!data)
        return;
    char *cursor = data, *f[3];
    int lines = 0, bad_special = 0, bad_plain = 0, bad_trip = 0;
    while (golden_next_line(&cursor, f, 3) == 3) {
        size_t n, n_special, n_plain;
        char *text = golden_unhex(f[0], strlen(f[0]), &n);
        int32_t *want_special = golden_ids(f[1], &n_special);
        int32_t *want_plain = golden_ids(f[2], &n_plain);
        sl_tokens got = {0};
        sl_error err = {0};
        CHECK(sl_tokenizer_encode(tok, text, n, true, &got, &err) == SL_OK);
        if (!same_ids(&got, want_special, n_special)) {
            if (++bad_special <= 5) {
                fprintf(stderr, "special mismatch on %s\n", f[0]);
                print_ids("want", want_special, n_special);
                print_ids("got ", got.ids, got.n);
            }
        }
        if (!round_trips(tok, text, n, &got))
            bad_trip++;
        got.n = 0;
        CHECK(sl_tokenizer_encode(tok, text, n, false, &got, &err) == SL_OK);
        if (!same_ids(&got, want_plain, n_plain)) {
            if (++bad_plain <= 5) {
                fprintf(stderr, "plain mismatch on %s\n", f[0]);
                print_ids("want", want_plain, n_plain);
                print_ids("got ", got.ids, got.n);
            }
        }
        if (!round_trips(tok, text, n, &got))
            bad_trip++;
        sl_tokens_free(&got);
        free(text);
        free(want_special);
        free(want_plain);
        lines++;
    }
    CHECKF(lines >= 300, "only %d golden strings", lines);
    CHECKF(bad_special == 0, "%d of %d strings differ (parse_special)", bad_special, lines);
    CHECKF(bad_plain == 0, "%d of %d strings differ (no parse_special)", bad_plain, lines);
    CHECKF(bad_trip == 0, "%d round trips failed", bad_trip);
    fprintf(stderr, "golden: %d strings, %d/%d identical with/without special tokens\n", lines,
            lines - bad_special, lines - bad_plain);
    free(data);
}

static size_t put_cp(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static uint32_t random_cp(uint64_t *state)
{
    uint64_t r = golden_rand(state);
    switch (r % 8) {
    case 0: return (uint32_t)(r >> 8) % 0x80;                 /* ASCII incl. controls */
    case 1: return " \n\t'.,0123456789"[(r >> 8) % 16];
    case 2: return 'a' + (uint32_t)(r >> 8) % 26;
    case 3: return 0x80 + (uint32_t)(r >> 8) % 0x780;          /* 2-byte */
    case 4: return 0x4E00 + (uint32_t)(r >> 8) % 0x5000;       /* CJK */
    case 5: return 0x1F300 + (uint32_t)(r >> 8) % 0x300;       /* emoji */
    case 6: {
        uint32_t cp = (uint32_t)(r >> 8) % 0x110000;           /* anything valid */
        return cp >= 0xD800 && cp < 0xE000 ? cp - 0x800 : cp;
    }
    default: return 0x300 + (uint32_t)(r >> 8) % 0x70;         /* combining marks */
    }
}

static void test_random_round_trips(const sl_tokenizer *tok)
{
    uint64_t state = 0x1234567887654321u;
    char buf[4096];
    int failures = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = 0, want = golden_rand(&state) % 1000;
        bool invalid = iter % 2 == 1;
        while (n + 4 < want) {
            if (invalid && golden_rand(&state) % 3 == 0)
                buf[n++] = (char)(golden_rand(&state) & 0xFF); /* any byte */
            else
                n += put_cp(buf + n, random_cp(&state));
        }
        for (int ps = 0; ps < 2; ps++) {
            sl_tokens ids = {0};
            sl_error err = {0};
            CHECK(sl_tokenizer_encode(tok, buf, n, ps, &ids, &err) == SL_OK);
            if (!round_trips(tok, buf, n, &ids))
                failures++;
            sl_tokens_free(&ids);
        }
    }
    CHECKF(failures == 0, "%d random round trips failed", failures);
}

/* Strings made only of bytes the vocabulary has: decode(encode(s)) == s exactly. */
static void test_exact_round_trip(const sl_tokenizer *tok)
{
    uint64_t state = 42;
    unsigned char buf[2048];
    int failures = 0;
    for (int iter = 0; iter < 500; iter++) {
        size_t n = golden_rand(&state) % sizeof buf;
        for (size_t i = 0; i < n;) {
            unsigned char b = (unsigned char)golden_rand(&state);
            if (sl_tokenizer_byte_token(tok, b) >= 0)
                buf[i++] = b;
        }
        sl_tokens ids = {0};
        sl_error err = {0};
        CHECK(sl_tokenizer_encode(tok, (const char *)buf, n, false, &ids, &err) == SL_OK);
        size_t at = 0;
        bool ok = true;
        for (size_t k = 0; k < ids.n && ok; k++) {
            size_t len;
            const char *p = sl_tokenizer_piece(tok, ids.ids[k], &len);
            ok = p && at + len <= n && memcmp(buf + at, p, len) == 0;
            at += len;
        }
        if (!ok || at != n)
            failures++;
        sl_tokens_free(&ids);
    }
    CHECKF(failures == 0, "%d exact round trips failed", failures);
}

static void test_specials(const sl_tokenizer *tok)
{
    const char *text = "<|im_start|>user\nHi<|im_end|>\n";
    sl_tokens a = {0}, b = {0};
    sl_error err = {0};
    CHECK(sl_tokenizer_encode(tok, text, strlen(text), true, &a, &err) == SL_OK);
    CHECK(sl_tokenizer_encode(tok, text, strlen(text), false, &b, &err) == SL_OK);
    int32_t start = sl_tokenizer_find(tok, "<|im_start|>");
    int32_t end = sl_tokenizer_find(tok, "<|im_end|>");
    CHECK(start == 1 && end == 2);
    CHECK(a.n >= 4 && a.ids[0] == start);
    bool has_end = false, plain_has_special = false;
    for (size_t i = 0; i < a.n; i++)
        has_end |= a.ids[i] == end;
    for (size_t i = 0; i < b.n; i++)
        plain_has_special |= sl_tokenizer_is_special(tok, b.ids[i]);
    CHECK(has_end);
    CHECK(!plain_has_special);
    CHECK(b.n > a.n);
    CHECK(round_trips(tok, text, strlen(text), &a));
    CHECK(round_trips(tok, text, strlen(text), &b));
    CHECK(sl_tokenizer_is_special(tok, start));
    CHECK(!sl_tokenizer_is_special(tok, 100));
    CHECK(!sl_tokenizer_is_special(tok, -1));
    CHECK(!sl_tokenizer_is_special(tok, sl_tokenizer_n_vocab(tok)));
    size_t len = 99;
    CHECK(sl_tokenizer_piece(tok, -1, &len) == NULL && len == 0);
    CHECK(sl_tokenizer_piece(tok, sl_tokenizer_n_vocab(tok), &len) == NULL);
    const char *p = sl_tokenizer_piece(tok, start, &len);
    CHECK(p && len == 12 && memcmp(p, "<|im_start|>", 12) == 0);
    CHECK(sl_tokenizer_find(tok, "no such token here") == -1);
    CHECK(sl_tokenizer_find(tok, NULL) == -1);
    /* Ġ is the byte-level space: the text "Ġthe" is a token, its piece " the". */
    int32_t the = sl_tokenizer_find(tok, "\xC4\xA0the");
    CHECK(the >= 0);
    p = sl_tokenizer_piece(tok, the, &len);
    CHECK(p && len == 4 && memcmp(p, " the", 4) == 0);
    CHECK(strcmp(sl_tokenizer_text(tok, the), "\xC4\xA0the") == 0);
    CHECK(sl_tokenizer_text(tok, -5) == NULL);
    CHECK(sl_tokenizer_bos(tok) == 1 && sl_tokenizer_eos(tok) == 2);
    CHECK(!sl_tokenizer_add_bos(tok));
    CHECK(sl_tokenizer_n_vocab(tok) == 49152);
    CHECK(sl_tokenizer_byte_token(tok, 'a') >= 0);
    CHECK(sl_tokenizer_byte_token(tok, 0xFF) == -1);
    /* Appending: encode adds to what is there. */
    size_t before = a.n;
    CHECK(sl_tokenizer_encode(tok, "x", 1, true, &a, &err) == SL_OK);
    CHECK(a.n == before + 1);
    /* Empty input. */
    CHECK(sl_tokenizer_encode(tok, "", 0, true, &a, &err) == SL_OK && a.n == before + 1);
    CHECK(sl_tokenizer_encode(tok, NULL, 0, true, &a, &err) == SL_OK);
    CHECK(sl_tokenizer_encode(tok, NULL, 3, true, &a, &err) == SL_ERR_INVALID_ARGUMENT);
    sl_tokens_free(&a);
    sl_tokens_free(&b);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Long words must not be quadratic: 100 KB without a space. No timing
 * asserts; the times are printed. */
static void test_long_words(const sl_tokenizer *tok)
{
    size_t n = 100 * 1024;
    char *buf = malloc(n * 4);
    uint64_t state = 7;
    const char *kinds[] = {"same letter", "random letters", "random CJK", "digits", "spaces",
                           "punctuation"};
    for (int kind = 0; kind < 6; kind++) {
        size_t len = 0;
        while (len < n) {
            uint64_t r = golden_rand(&state);
            switch (kind) {
            case 0: buf[len++] = 'a'; break;
            case 1: buf[len++] = (char)('a' + r % 26); break;
            case 2: len += put_cp(buf + len, 0x4E00 + (uint32_t)(r % 0x5000)); break;
            case 3: buf[len++] = (char)('0' + r % 10); break;
            case 4: buf[len++] = ' '; break;
            default: buf[len++] = "!@#$%^&*()-=+[]{};:,.<>/?"[r % 25]; break;
            }
        }
        sl_tokens ids = {0};
        sl_error err = {0};
        double t0 = now();
        CHECK(sl_tokenizer_encode(tok, buf, len, true, &ids, &err) == SL_OK);
        double t1 = now();
        CHECK(round_trips(tok, buf, len, &ids));
        fprintf(stderr, "long word (%s, %zu bytes): %zu tokens in %.3f s\n", kinds[kind], len,
                ids.n, t1 - t0);
        sl_tokens_free(&ids);
    }
    free(buf);
}

/* ---- a Llama-3-style vocabulary trained by tokenizers ------------------------- */

typedef struct {
    sl_gguf_string *items;
    size_t n, cap;
} string_list;

static void add_string(string_list *l, char *s, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->items = realloc(l->items, l->cap * sizeof *l->items);
    }
    l->items[l->n++] = (sl_gguf_string){s, len};
}

static void test_llama3_synth(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/llama3-synth.txt", dir);
    size_t len;
    char *data = sl_test_read_file(path, &len);
    CHECKF(data != NULL, "cannot read %s", path);
    if (!data)
        return;
    string_list vocab = {0}, merges = {0};
    char *cursor = data, *f[3];
    char **cases = NULL; /* hex, ids pairs of the E lines */
    size_t n_cases = 0;
    while (golden_next_line(&cursor, f, 3) >= 0) {
        if (f[0][0] == 'V') {
            size_t n;
            char *s = golden_unhex(f[1], strlen(f[1]), &n);
            add_string(&vocab, s, n);
        } else if (f[0][0] == 'M') {
            size_t a, b;
            char *l = golden_unhex(f[1], strlen(f[1]), &a);
            char *r = golden_unhex(f[2], strlen(f[2]), &b);
            char *m = malloc(a + b + 2);
            memcpy(m, l, a);
            m[a] = ' ';
            memcpy(m + a + 1, r, b);
            add_string(&merges, m, a + b + 1);
            free(l);
            free(r);
        } else if (f[0][0] == 'E') {
            cases = realloc(cases, (n_cases + 1) * 2 * sizeof *cases);
            cases[2 * n_cases] = f[1];
            cases[2 * n_cases + 1] = f[2];
            n_cases++;
        }
    }
    int32_t *types = malloc(vocab.n * sizeof *types);
    for (size_t i = 0; i < vocab.n; i++) {
        bool special = (vocab.items[i].len == 17 &&
                        memcmp(vocab.items[i].ptr, "<|begin_of_text|>", 17) == 0) ||
                       (vocab.items[i].len == 10 && memcmp(vocab.items[i].ptr, "<|eot_id|>", 10) == 0);
        types[i] = special ? SL_TOKEN_CONTROL : SL_TOKEN_NORMAL;
    }
    sl_tokenizer_parts parts = {
        .source = path,
        .model = {"gpt2", 4},
        .pre = {"llama-bpe", 9},
        .tokens = vocab.items,
        .n_tokens = vocab.n,
        .types = types,
        .merges = merges.items,
        .n_merges = merges.n,
        .bos = 0,
        .eos = 1,
        .unk = -1,
        .pad = -1,
    };
    sl_tokenizer *tok = NULL;
    sl_error err = {0};
    sl_status st = sl_tokenizer_from_parts(&parts, &tok, &err);
    CHECKF(st == SL_OK, "%s", err.message);
    int lines = 0, bad = 0;
    if (st == SL_OK) {
        for (size_t c = 0; c < n_cases; c++) {
            size_t n, n_want;
            char *text = golden_unhex(cases[2 * c], strlen(cases[2 * c]), &n);
            int32_t *want = golden_ids(cases[2 * c + 1], &n_want);
            sl_tokens got = {0};
            CHECK(sl_tokenizer_encode(tok, text, n, true, &got, &err) == SL_OK);
            if (!same_ids(&got, want, n_want) && ++bad <= 5) {
                fprintf(stderr, "llama3 synth mismatch on %s\n", cases[2 * c]);
                print_ids("want", want, n_want);
                print_ids("got ", got.ids, got.n);
            }
            lines++;
            sl_tokens_free(&got);
            free(text);
            free(want);
        }
    }
    CHECKF(lines >= 300 && bad == 0, "llama3 synth: %d of %d differ", bad, lines);
    fprintf(stderr, "llama3 synth: %d strings, %d identical (%zu tokens, %zu merges)\n", lines,
            lines - bad, vocab.n, merges.n);

    /* ---- metadata validation, on the same arrays ---- */
    sl_tokenizer *bad_tok = NULL;
    sl_tokenizer_parts p = parts;
    p.source = "/models/x.gguf";
    p.pre = (sl_gguf_string){"klingon", 7};
    st = sl_tokenizer_from_parts(&p, &bad_tok, &err);
    CHECK(st == SL_ERR_UNSUPPORTED && bad_tok == NULL);
    CHECK(strstr(err.message, "/models/x.gguf") && strstr(err.message, "'klingon'"));

    p = parts;
    p.model = (sl_gguf_string){"llama", 5};
    CHECK(sl_tokenizer_from_parts(&p, &bad_tok, &err) == SL_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "'llama'") != NULL);

    p = parts;
    p.bos = (int64_t)vocab.n;
    CHECK(sl_tokenizer_from_parts(&p, &bad_tok, &err) == SL_ERR_FORMAT);
    CHECK(strstr(err.message, "bos") != NULL);
    p = parts;
    p.eos = -7;
    CHECK(sl_tokenizer_from_parts(&p, &bad_tok, &err) == SL_ERR_FORMAT);

    p = parts;
    p.n_tokens = 0;
    CHECK(sl_tokenizer_from_parts(&p, &bad_tok, &err) == SL_ERR_FORMAT);

    int32_t saved = types[5];
    types[5] = 9;
    CHECK(sl_tokenizer_from_parts(&parts, &bad_tok, &err) == SL_ERR_FORMAT);
    CHECK(strstr(err.message, "type 9") != NULL);
    types[5] = saved;

    sl_gguf_string bad_merges[3] = {merges.items[0], {"a", 1}, {"zz\xC4\xA0 zq", 7}};
    p = parts;
    p.merges = bad_merges;
    p.n_merges = 2; /* "a": no space */
    CHECK(sl_tokenizer_from_parts(&p, &bad_tok, &err) == SL_ERR_FORMAT);
    CHECK(strstr(err.message, "merge 1") != NULL);
    bad_merges[1] = bad_merges[2]; /* tokens not in the vocabulary */
    CHECK(sl_tokenizer_from_parts(&p, &bad_tok, &err) == SL_ERR_FORMAT);
    CHECK(strstr(err.message, "missing from the vocabulary") != NULL);
    bad_merges[1] = (sl_gguf_string){"a  b", 4};
    CHECK(sl_tokenizer_from_parts(&p, &bad_tok, &err) == SL_ERR_FORMAT);

    /* No tokenizer.ggml.pre: the GPT-2 pattern. */
    p = parts;
    p.pre = (sl_gguf_string){NULL, 0};
    CHECK(sl_tokenizer_from_parts(&p, &bad_tok, &err) == SL_OK);
    sl_tokenizer_free(bad_tok);

    sl_tokenizer_free(tok);
    for (size_t i = 0; i < vocab.n; i++)
        free((char *)vocab.items[i].ptr);
    for (size_t i = 0; i < merges.n; i++)
        free((char *)merges.items[i].ptr);
    free(vocab.items);
    free(merges.items);
    free(types);
    free(cases);
    free(data);
}

/* ---- sl_tokenizer_from_gguf on small files written here ---------------------- */

typedef struct {
    const char *model, *pre;        /* NULL: key left out */
    int n_types;                    /* entries of token_type; -1: key left out */
    int64_t bos;                    /* -2: key left out */
    bool merges_as_ints;            /* merges of the wrong type */
    bool bad_merge;                 /* a merge of unknown tokens */
} gguf_spec;

static void put_u32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }
static void put_u64(FILE *f, uint64_t v) { fwrite(&v, 8, 1, f); }
static void put_str(FILE *f, const char *s, size_t n)
{
    put_u64(f, n);
    fwrite(s, 1, n, f);
}
static void put_key(FILE *f, const char *key, uint32_t type)
{
    put_str(f, key, strlen(key));
    put_u32(f, type);
}

/* A vocabulary of the 256 byte-level tokens, then "Ġt", "he", "Ġthe". */
static void write_tokenizer_gguf(const char *path, const gguf_spec *g)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    uint64_t n_kv = 1 + (g->model != NULL) + (g->pre != NULL) + (g->n_types >= 0) +
                    (g->bos != -2) + 1;
    fwrite("GGUF", 1, 4, f);
    put_u32(f, 3);
    put_u64(f, 0);
    put_u64(f, n_kv);
    if (g->model) {
        put_key(f, "tokenizer.ggml.model", 8);
        put_str(f, g->model, strlen(g->model));
    }
    if (g->pre) {
        put_key(f, "tokenizer.ggml.pre", 8);
        put_str(f, g->pre, strlen(g->pre));
    }
    put_key(f, "tokenizer.ggml.tokens", 9);
    put_u32(f, 8);
    put_u64(f, 259);
    for (unsigned b = 0; b < 256; b++) {
        /* The byte-level character of byte b, in UTF-8. */
        unsigned cp = b;
        if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)))
            cp = 0x100 + (b <= 0x20 ? b : b <= 0xA0 ? 0x21 + (b - 0x7F) : 0x43);
        char u[2];
        size_t n = put_cp(u, cp);
        put_str(f, u, n);
    }
    put_str(f, "\xC4\xA0t", 3);
    put_str(f, "he", 2);
    put_str(f, "\xC4\xA0the", 5);
    if (g->n_types >= 0) {
        put_key(f, "tokenizer.ggml.token_type", 9);
        put_u32(f, 5);
        put_u64(f, (uint64_t)g->n_types);
        for (int i = 0; i < g->n_types; i++)
            put_u32(f, 1);
    }
    if (g->bos != -2) {
        put_key(f, "tokenizer.ggml.bos_token_id", 4);
        put_u32(f, (uint32_t)g->bos);
    }
    put_key(f, "tokenizer.ggml.merges", 9);
    if (g->merges_as_ints) {
        put_u32(f, 5);
        put_u64(f, 1);
        put_u32(f, 0);
    } else {
        put_u32(f, 8);
        put_u64(f, 3);
        put_str(f, "\xC4\xA0 t", 4);
        put_str(f, g->bad_merge ? "x yz" : "h e", g->bad_merge ? 4 : 3);
        put_str(f, "\xC4\xA0t he", 6);
    }
    fclose(f);
}

static sl_status load_spec(const char *path, const gguf_spec *g, sl_tokenizer **tok, sl_error *err)
{
    write_tokenizer_gguf(path, g);
    sl_gguf *gguf = NULL;
    *tok = NULL;
    sl_status st = sl_gguf_open(path, &gguf, err);
    CHECKF(st == SL_OK, "%s", err->message);
    if (st == SL_OK)
        st = sl_tokenizer_from_gguf(gguf, tok, err);
    sl_gguf_close(gguf);
    return st;
}

static void test_from_gguf_validation(void)
{
    char path[] = "/tmp/sl-test-tokenizer-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    close(fd);
    const gguf_spec good = {"gpt2", "smollm", 259, 1, false, false};
    sl_tokenizer *tok;
    sl_error err = {0};
    CHECKF(load_spec(path, &good, &tok, &err) == SL_OK, "%s", err.message);
    if (tok) {
        sl_tokens ids = {0};
        CHECK(sl_tokenizer_encode(tok, " the", 4, false, &ids, &err) == SL_OK);
        CHECK(ids.n == 1 && ids.ids[0] == 258);
        CHECK(sl_tokenizer_bos(tok) == 1 && sl_tokenizer_eos(tok) == -1);
        sl_tokens_free(&ids);
        sl_tokenizer_free(tok);
    }

    gguf_spec g = good;
    g.n_types = 258;
    CHECK(load_spec(path, &g, &tok, &err) == SL_ERR_FORMAT && !tok);
    CHECKF(strstr(err.message, path) && strstr(err.message, "token_type"), "%s", err.message);

    g = good;
    g.n_types = -1; /* no token types: all normal */
    CHECKF(load_spec(path, &g, &tok, &err) == SL_OK, "%s", err.message);
    sl_tokenizer_free(tok);

    g = good;
    g.pre = "klingon";
    CHECK(load_spec(path, &g, &tok, &err) == SL_ERR_UNSUPPORTED);
    CHECKF(strstr(err.message, path) && strstr(err.message, "'klingon'"), "%s", err.message);

    g = good;
    g.pre = NULL; /* default */
    CHECKF(load_spec(path, &g, &tok, &err) == SL_OK, "%s", err.message);
    sl_tokenizer_free(tok);

    g = good;
    g.model = "llama";
    CHECK(load_spec(path, &g, &tok, &err) == SL_ERR_UNSUPPORTED);
    CHECKF(strstr(err.message, path) && strstr(err.message, "'llama'"), "%s", err.message);

    g = good;
    g.model = NULL;
    CHECK(load_spec(path, &g, &tok, &err) == SL_ERR_FORMAT);
    CHECKF(strstr(err.message, path) != NULL, "%s", err.message);

    g = good;
    g.bos = 259;
    CHECK(load_spec(path, &g, &tok, &err) == SL_ERR_FORMAT);
    CHECKF(strstr(err.message, path) && strstr(err.message, "bos"), "%s", err.message);

    g = good;
    g.merges_as_ints = true;
    CHECK(load_spec(path, &g, &tok, &err) == SL_ERR_FORMAT);
    CHECKF(strstr(err.message, path) != NULL, "%s", err.message);

    g = good;
    g.bad_merge = true;
    CHECK(load_spec(path, &g, &tok, &err) == SL_ERR_FORMAT);
    CHECKF(strstr(err.message, path) && strstr(err.message, "merge 1"), "%s", err.message);
    unlink(path);
}

static void test_tokens_reserve(void)
{
    sl_tokens t = {0};
    sl_error err = {0};
    CHECK(sl_tokens_reserve(&t, 10, &err) == SL_OK && t.capacity >= 10);
    t.n = 10;
    CHECK(sl_tokens_reserve(&t, 1000, &err) == SL_OK && t.capacity >= 1010);
    CHECK(sl_tokens_reserve(&t, SIZE_MAX, &err) == SL_ERR_NO_MEMORY);
    CHECK(sl_tokens_reserve(&t, SIZE_MAX / 2, &err) != SL_OK);
    sl_tokens_free(&t);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    test_tokens_reserve();
    test_llama3_synth(argv[1]);
    test_from_gguf_validation();

    const char *model = sl_test_model_path();
    sl_gguf *gguf = NULL;
    sl_tokenizer *tok = NULL;
    sl_error err = {0};
    sl_status st = sl_gguf_open(model, &gguf, &err);
    CHECKF(st == SL_OK, "cannot open the default model: %s", err.message);
    if (st == SL_OK) {
        st = sl_tokenizer_from_gguf(gguf, &tok, &err);
        CHECKF(st == SL_OK, "%s", err.message);
    }
    if (tok) {
        test_golden(tok, argv[1]);
        test_specials(tok);
        test_random_round_trips(tok);
        test_exact_round_trip(tok);
        test_long_words(tok);
    }
    sl_tokenizer_free(tok);
    sl_gguf_close(gguf);
    return sl_test_finish();
}
