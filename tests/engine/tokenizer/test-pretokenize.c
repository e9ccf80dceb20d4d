/* The pre-tokenizers against Hugging Face `tokenizers`' own splits
 * (pretokenize-golden.txt, from tests/reference/make-tokenizer-golden.py),
 * the strict UTF-8 decoder, and how invalid bytes are split off.
 *
 * Usage: test-pretokenize DATA_DIR */
#include "golden-util.h"

#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode-data.h"

typedef struct {
    char **pieces;
    size_t *lens;
    size_t n, cap;
} piece_list;

static sl_status collect(void *ctx, const char *piece, size_t len, sl_error *err)
{
    (void)err;
    piece_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->pieces = realloc(l->pieces, l->cap * sizeof *l->pieces);
        l->lens = realloc(l->lens, l->cap * sizeof *l->lens);
    }
    l->pieces[l->n] = malloc(len + 1);
    memcpy(l->pieces[l->n], piece, len);
    l->lens[l->n++] = len;
    return SL_OK;
}

static void list_clear(piece_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->pieces[i]);
    l->n = 0;
}

static void list_free(piece_list *l)
{
    list_clear(l);
    free(l->pieces);
    free(l->lens);
}

static bool kind_from_golden(const char *name, sl_pre_kind *kind)
{
    if (strcmp(name, "llama3") == 0)
        return sl_pre_kind_from_name("llama-bpe", 9, kind);
    if (strcmp(name, "deepseek3") == 0)
        return sl_pre_kind_from_name("deepseek-v3", 11, kind);
    return sl_pre_kind_from_name(name, strlen(name), kind);
}

static void print_pieces(const char *label, const piece_list *l)
{
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < l->n; i++) {
        fputs(" [", stderr);
        for (size_t k = 0; k < l->lens[i]; k++) {
            unsigned char c = (unsigned char)l->pieces[i][k];
            if (c >= 0x20 && c < 0x7F)
                fputc(c, stderr);
            else
                fprintf(stderr, "\\x%02x", c);
        }
        fputc(']', stderr);
    }
    fputc('\n', stderr);
}

static void test_golden(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/pretokenize-golden.txt", dir);
    size_t len;
    char *data = sl_test_read_file(path, &len);
    CHECKF(data != NULL, "cannot read %s", path);
    if (!data)
        return;
    char *cursor = data, *f[3];
    int lines = 0, mismatches = 0, per_kind[8] = {0};
    piece_list got = {0}, want = {0};
    sl_pre_work work = {0};
    while (golden_next_line(&cursor, f, 3) >= 0) {
        sl_pre_kind kind;
        if (!kind_from_golden(f[0], &kind)) {
            CHECKF(false, "unknown kind %s", f[0]);
            continue;
        }
        size_t n;
        char *text = golden_unhex(f[1], strlen(f[1]), &n);
        list_clear(&want);
        for (char *p = f[2]; *p;) {
            char *comma = strchr(p, ',');
            size_t hl = comma ? (size_t)(comma - p) : strlen(p);
            size_t pl;
            char *piece = golden_unhex(p, hl, &pl);
            collect(&want, piece, pl, NULL);
            free(piece);
            p += hl + (comma ? 1 : 0);
        }
        list_clear(&got);
        sl_error err = {0};
        sl_status st = sl_pretokenize(kind, text, n, &work, collect, &got, &err);
        CHECK(st == SL_OK);
        bool same = got.n == want.n;
        for (size_t i = 0; same && i < got.n; i++)
            same = got.lens[i] == want.lens[i] &&
                   memcmp(got.pieces[i], want.pieces[i], got.lens[i]) == 0;
        lines++;
        per_kind[kind]++;
        if (!same) {
            mismatches++;
            if (mismatches <= 10) {
                fprintf(stderr, "%s mismatch on %s\n", f[0], f[1]);
                print_pieces("want", &want);
                print_pieces("got ", &got);
            }
        }
        free(text);
    }
    CHECKF(mismatches == 0, "%d of %d splits differ from tokenizers", mismatches, lines);
    CHECKF(lines >= 5 * 300, "only %d golden lines", lines);
    fprintf(stderr, "pre-tokenizer golden: %d splits, %d identical\n", lines, lines - mismatches);
    list_free(&got);
    list_free(&want);
    sl_pre_work_free(&work);
    free(data);
}

static void test_utf8_decoder(void)
{
    struct {
        const char *bytes;
        size_t n;
        size_t len;
        uint32_t cp;
    } cases[] = {
        {"A", 1, 1, 'A'},
        {"\xC3\xA9", 2, 2, 0xE9},
        {"\xE2\x82\xAC", 3, 3, 0x20AC},
        {"\xF0\x9F\x98\x80", 4, 4, 0x1F600},
        {"\xF4\x8F\xBF\xBF", 4, 4, 0x10FFFF},
        {"\xC0\x80", 2, 0, 0},         /* overlong NUL */
        {"\xC1\xBF", 2, 0, 0},         /* overlong */
        {"\xE0\x80\xAF", 3, 0, 0},     /* overlong '/' */
        {"\xF0\x80\x80\xAF", 4, 0, 0}, /* overlong */
        {"\xED\xA0\x80", 3, 0, 0},     /* surrogate D800 */
        {"\xF4\x90\x80\x80", 4, 0, 0}, /* above U+10FFFF */
        {"\xF5\x80\x80\x80", 4, 0, 0},
        {"\xFF", 1, 0, 0},
        {"\x80", 1, 0, 0},             /* lone continuation */
        {"\xC3", 1, 0, 0},             /* truncated */
        {"\xE2\x82", 2, 0, 0},         /* truncated */
        {"\xC3\x28", 2, 0, 0},         /* bad continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t cp = 0;
        size_t len = sl_utf8_decode((const unsigned char *)cases[i].bytes, cases[i].n, &cp);
        CHECKF(len == cases[i].len, "case %zu: length %zu, want %zu", i, len, cases[i].len);
        if (len)
            CHECKF(cp == cases[i].cp, "case %zu: U+%04X", i, (unsigned)cp);
    }
}

/* Each invalid byte is a piece of its own; the valid runs around it are
 * split as if they stood alone. */
static void test_invalid_bytes(void)
{
    static const struct {
        const char *text;
        size_t n;
        const char *pieces[8];
    } cases[] = {
        {"ab\xFF" "cd", 5, {"ab", "\xFF", "cd"}},
        {"\xFF\xFE", 2, {"\xFF", "\xFE"}},
        {"hello \xC3( world", 14, {"hello", " ", "\xC3", "(", " world"}},
        {"\xE2\x82 x", 4, {"\xE2", "\x82", " x"}},
        {"a  \x80  b", 7, {"a", "  ", "\x80", " ", " b"}},
        {"\xED\xA0\x80", 3, {"\xED", "\xA0", "\x80"}},
    };
    piece_list got = {0};
    sl_pre_work work = {0};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        list_clear(&got);
        sl_error err = {0};
        CHECK(sl_pretokenize(SL_PRE_GPT2, cases[c].text, cases[c].n, &work, collect, &got, &err) ==
              SL_OK);
        size_t want = 0;
        while (want < 8 && cases[c].pieces[want])
            want++;
        bool same = got.n == want;
        for (size_t i = 0; same && i < want; i++)
            same = got.lens[i] == strlen(cases[c].pieces[i]) &&
                   memcmp(got.pieces[i], cases[c].pieces[i], got.lens[i]) == 0;
        CHECKF(same, "invalid-byte case %zu", c);
        if (!same)
            print_pieces("got", &got);
    }
    list_free(&got);
    sl_pre_work_free(&work);
}

/* Pieces always cover the text exactly, for every kind and any bytes. */
static void test_random_cover(void)
{
    uint64_t state = 0x9E3779B97F4A7C15u;
    sl_pre_work work = {0};
    piece_list got = {0};
    char buf[512];
    for (int iter = 0; iter < 4000; iter++) {
        size_t n = golden_rand(&state) % sizeof buf;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = golden_rand(&state);
            /* Mostly ASCII and spaces, some high bytes. */
            static const char alphabet[] = " \n\t'a1.Zs\xC3\xA9\r";
            if (r % 4 == 0)
                buf[i] = (char)((r >> 8) & 0xFF);
            else
                buf[i] = alphabet[(r >> 8) % (sizeof alphabet - 1)];
        }
        for (int kind = SL_PRE_GPT2; kind <= SL_PRE_DEEPSEEK3; kind++) {
            list_clear(&got);
            sl_error err = {0};
            CHECK(sl_pretokenize((sl_pre_kind)kind, buf, n, &work, collect, &got, &err) == SL_OK);
            size_t at = 0;
            bool ok = true;
            for (size_t i = 0; i < got.n && ok; i++) {
                ok = got.lens[i] > 0 && at + got.lens[i] <= n &&
                     memcmp(buf + at, got.pieces[i], got.lens[i]) == 0;
                at += got.lens[i];
            }
            CHECKF(ok && at == n, "kind %d: pieces do not cover the text", kind);
        }
    }
    list_free(&got);
    sl_pre_work_free(&work);
}

static void test_names(void)
{
    sl_pre_kind k;
    CHECK(sl_pre_kind_from_name("smollm", 6, &k) && k == SL_PRE_SMOLLM);
    CHECK(sl_pre_kind_from_name("gpt2", 4, &k) && k == SL_PRE_GPT2);
    CHECK(sl_pre_kind_from_name("default", 7, &k) && k == SL_PRE_GPT2);
    CHECK(sl_pre_kind_from_name("llama-bpe", 9, &k) && k == SL_PRE_LLAMA3);
    CHECK(sl_pre_kind_from_name("deepseek-v3", 11, &k) && k == SL_PRE_DEEPSEEK3);
    CHECK(!sl_pre_kind_from_name("smollmx", 7, &k));
    CHECK(!sl_pre_kind_from_name("smol", 4, &k));
    CHECK(!sl_pre_kind_from_name("", 0, &k));
}

static void test_unicode_table(void)
{
    CHECK(sl_unicode_flags('a') == SL_UC_L);
    CHECK(sl_unicode_flags('7') == SL_UC_N);
    CHECK(sl_unicode_flags(' ') == (SL_UC_Z | SL_UC_SPACE));
    CHECK(sl_unicode_flags('\n') == (SL_UC_C | SL_UC_SPACE));
    CHECK(sl_unicode_flags(0x1C) == SL_UC_C); /* not White_Space */
    CHECK(sl_unicode_flags(0x85) == (SL_UC_C | SL_UC_SPACE));
    CHECK(sl_unicode_flags(0xA0) == (SL_UC_Z | SL_UC_SPACE));
    CHECK(sl_unicode_flags(0x3000) == (SL_UC_Z | SL_UC_SPACE));
    CHECK(sl_unicode_flags(0x200B) == SL_UC_C); /* zero width space: Cf */
    CHECK(sl_unicode_flags(0x301) == SL_UC_M);
    CHECK(sl_unicode_flags(0x4E00) == SL_UC_L);   /* range entry First */
    CHECK(sl_unicode_flags(0x9FFF) == SL_UC_L);   /* CJK range Last */
    CHECK(sl_unicode_flags(0xAC00 + 100) == SL_UC_L); /* inside Hangul range */
    CHECK(sl_unicode_flags(0x20000 + 5) == SL_UC_L);
    CHECK(sl_unicode_flags(0xD800) == SL_UC_C);
    CHECK(sl_unicode_flags(0xE000) == SL_UC_C);
    CHECK(sl_unicode_flags(0x1F600) == SL_UC_S);
    CHECK(sl_unicode_flags(0x0378) == SL_UC_C); /* unassigned */
    CHECK(sl_unicode_flags(0x10FFFF) == SL_UC_C);
    CHECK(sl_unicode_flags(0x110000) == SL_UC_C);
    CHECK(sl_unicode_flags(0xFFFFFFFF) == SL_UC_C);
    CHECK(sl_unicode_flags('!') == SL_UC_P);
    CHECK(sl_unicode_flags('$') == SL_UC_S);
    CHECK(sl_unicode_flags(0x00BD) == SL_UC_N); /* ½ */
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    test_names();
    test_unicode_table();
    test_utf8_decoder();
    test_invalid_bytes();
    test_random_cover();
    test_golden(argv[1]);
    return sl_test_finish();
}
