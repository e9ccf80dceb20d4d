/* pretokenize.c: regex-free splitters equal to the pre-tokenizer regexes
 * listed in pretokenize.h.
 *
 * Each regex is a "matcher": given the decoded code points of one piece and
 * a position i, it returns how many code points the regex matches when
 * starting exactly at i (0: no match there), trying the alternatives in
 * order with backtracking semantics, as a Perl-style engine does. The split
 * driver walks a piece, emitting matches and the gaps between them. */
#include "tokenizer/pretokenize.h"

#include "error.h"
#include "tokenizer/unicode-data.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint32_t *cp;
    const uint8_t *fl;
} text_view;

/* Matches starting at i, within the piece [.., end). */
typedef size_t (*matcher)(const text_view *t, size_t i, size_t end);

enum { MAX_STAGES = 3 };

/* ---- character classes ---------------------------------------------------- */

static bool is_l(const text_view *t, size_t i) { return t->fl[i] & SL_UC_L; }
static bool is_n(const text_view *t, size_t i) { return t->fl[i] & SL_UC_N; }
static bool is_space(const text_view *t, size_t i) { return t->fl[i] & SL_UC_SPACE; }
static bool is_crlf(const text_view *t, size_t i) { return t->cp[i] == '\r' || t->cp[i] == '\n'; }
/* [^\s\p{L}\p{N}] */
static bool is_other(const text_view *t, size_t i)
{
    return !(t->fl[i] & (SL_UC_L | SL_UC_N | SL_UC_SPACE));
}
/* [\p{P}\p{S}] */
static bool is_ps(const text_view *t, size_t i) { return t->fl[i] & (SL_UC_P | SL_UC_S); }
/* [\p{L}\p{M}] */
static bool is_lm(const text_view *t, size_t i) { return t->fl[i] & (SL_UC_L | SL_UC_M); }

typedef bool (*char_class)(const text_view *t, size_t i);

/* Length of the run of class cls starting at i (0 if none). */
static size_t run(const text_view *t, size_t i, size_t end, char_class cls)
{
    size_t j = i;
    while (j < end && cls(t, j))
        j++;
    return j - i;
}

/* " ?X+" : an optional space, then one or more of class cls. */
static size_t opt_space_run(const text_view *t, size_t i, size_t end, char_class cls)
{
    if (t->cp[i] == ' ' && i + 1 < end && cls(t, i + 1))
        return 1 + run(t, i + 1, end, cls);
    return run(t, i, end, cls);
}

/* \s+(?!\S) then \s+ : the whitespace alternatives shared by all patterns. */
static size_t spaces_tail(const text_view *t, size_t i, size_t end)
{
    size_t k = run(t, i, end, is_space);
    if (k == 0)
        return 0;
    if (i + k == end || k == 1)
        return k; /* at the end: \s+(?!\S) takes all; one char: \s+ takes it */
    return k - 1; /* leave the last space to precede the next word */
}

/* \s*[\r\n]+ : whitespace up to and including the last CR/LF of the run. */
static size_t spaces_to_newline(const text_view *t, size_t i, size_t end)
{
    size_t k = run(t, i, end, is_space);
    for (size_t j = k; j > 0; j--)
        if (is_crlf(t, i + j - 1))
            return j;
    return 0;
}

static bool ascii_eq_ci(uint32_t c, char lower)
{
    return c == (uint32_t)lower || c == (uint32_t)(lower - 'a' + 'A');
}

/* 's|'t|'re|'ve|'m|'ll|'d, case-sensitive or (?i:...) as Oniguruma folds:
 * 's' also matches U+017F LATIN SMALL LETTER LONG S. */
static size_t contraction(const text_view *t, size_t i, size_t end, bool ci)
{
    if (t->cp[i] != '\'' || i + 1 >= end)
        return 0;
    uint32_t a = t->cp[i + 1];
    uint32_t b = i + 2 < end ? t->cp[i + 2] : 0;
    if (!ci) {
        if (a == 's' || a == 't' || a == 'm' || a == 'd')
            return 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return 3;
        return 0;
    }
    if (ascii_eq_ci(a, 's') || a == 0x17F || ascii_eq_ci(a, 't') || ascii_eq_ci(a, 'm') ||
        ascii_eq_ci(a, 'd'))
        return 2;
    if ((ascii_eq_ci(a, 'r') && ascii_eq_ci(b, 'e')) ||
        (ascii_eq_ci(a, 'v') && ascii_eq_ci(b, 'e')) ||
        (ascii_eq_ci(a, 'l') && ascii_eq_ci(b, 'l')))
        return 3;
    return 0;
}

/* ---- the patterns ------------------------------------------------------------ */

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t match_gpt2(const text_view *t, size_t i, size_t end)
{
    size_t m;
    if ((m = contraction(t, i, end, false)))
        return m;
    if ((m = opt_space_run(t, i, end, is_l)))
        return m;
    if ((m = opt_space_run(t, i, end, is_n)))
        return m;
    if ((m = opt_space_run(t, i, end, is_other)))
        return m;
    return spaces_tail(t, i, end);
}

/* \p{N}: each number character alone (Digits with individual_digits). */
static size_t match_one_digit(const text_view *t, size_t i, size_t end)
{
    (void)end;
    return is_n(t, i) ? 1 : 0;
}

/* \p{N}{1,3} */
static size_t match_digits3(const text_view *t, size_t i, size_t end)
{
    size_t k = run(t, i, end, is_n);
    return k > 3 ? 3 : k;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_n}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t match_llama3_like(const text_view *t, size_t i, size_t end, size_t max_n)
{
    size_t m;
    if ((m = contraction(t, i, end, true)))
        return m;
    if (!is_crlf(t, i) && !is_l(t, i) && !is_n(t, i) && i + 1 < end && is_l(t, i + 1))
        return 1 + run(t, i + 1, end, is_l);
    if ((m = run(t, i, end, is_l)))
        return m;
    if ((m = run(t, i, end, is_n)))
        return m > max_n ? max_n : m;
    if ((m = opt_space_run(t, i, end, is_other)))
        return m + run(t, i + m, end, is_crlf);
    if ((m = spaces_to_newline(t, i, end)))
        return m;
    return spaces_tail(t, i, end);
}

static size_t match_llama3(const text_view *t, size_t i, size_t end)
{
    return match_llama3_like(t, i, end, 3);
}

static size_t match_qwen2(const text_view *t, size_t i, size_t end)
{
    return match_llama3_like(t, i, end, 1);
}

static bool is_cjk_kana(const text_view *t, size_t i)
{
    uint32_t c = t->cp[i];
    return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x3040 && c <= 0x309F) ||
           (c >= 0x30A0 && c <= 0x30FF);
}

/* [一-龥぀-ゟ゠-ヿ]+ */
static size_t match_cjk(const text_view *t, size_t i, size_t end)
{
    return run(t, i, end, is_cjk_kana);
}

static bool is_ascii_punct(uint32_t c)
{
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}

static bool is_ascii_letter(const text_view *t, size_t i)
{
    uint32_t c = t->cp[i];
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
 *  ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t match_deepseek3(const text_view *t, size_t i, size_t end)
{
    size_t m;
    if (is_ascii_punct(t->cp[i]) && i + 1 < end && is_ascii_letter(t, i + 1))
        return 1 + run(t, i + 1, end, is_ascii_letter);
    if (!is_crlf(t, i) && !(t->fl[i] & (SL_UC_L | SL_UC_P | SL_UC_S)) && i + 1 < end &&
        is_lm(t, i + 1))
        return 1 + run(t, i + 1, end, is_lm);
    if ((m = run(t, i, end, is_lm)))
        return m;
    if ((m = opt_space_run(t, i, end, is_ps)))
        return m + run(t, i + m, end, is_crlf);
    if ((m = spaces_to_newline(t, i, end)))
        return m;
    return spaces_tail(t, i, end);
}

/* ---- driver -------------------------------------------------------------------- */

typedef struct {
    const char *text;
    const size_t *offs;
    text_view view;
    const matcher *stages;
    int n_stages;
    sl_pre_emit emit;
    void *ctx;
    sl_error *err;
} split_state;

static sl_status split(const split_state *s, int stage, size_t begin, size_t end)
{
    if (begin == end)
        return SL_OK;
    if (stage == s->n_stages)
        return s->emit(s->ctx, s->text + s->offs[begin], s->offs[end] - s->offs[begin], s->err);
    matcher match = s->stages[stage];
    size_t gap = begin, i = begin;
    sl_status st;
    while (i < end) {
        size_t m = match(&s->view, i, end);
        if (m == 0) {
            i++;
            continue;
        }
        if ((st = split(s, stage + 1, gap, i)) != SL_OK)
            return st;
        if ((st = split(s, stage + 1, i, i + m)) != SL_OK)
            return st;
        i += m;
        gap = i;
    }
    return split(s, stage + 1, gap, end);
}

size_t sl_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

static sl_status reserve(sl_pre_work *w, size_t n, sl_error *err)
{
    if (n <= w->capacity)
        return SL_OK;
    size_t cap = w->capacity ? w->capacity : 256;
    while (cap < n)
        cap *= 2;
    if (cap > (SIZE_MAX / sizeof(size_t)) - 1)
        return sl_fail(err, SL_ERR_NO_MEMORY, "pre-tokenizer: text too long");
    uint32_t *cps = realloc(w->cps, cap * sizeof *cps);
    if (cps)
        w->cps = cps;
    uint8_t *flags = realloc(w->flags, cap);
    if (flags)
        w->flags = flags;
    size_t *offs = realloc(w->offs, (cap + 1) * sizeof *offs);
    if (offs)
        w->offs = offs;
    if (!cps || !flags || !offs)
        return sl_fail(err, SL_ERR_NO_MEMORY, "pre-tokenizer: out of memory for %zu characters",
                       n);
    w->capacity = cap;
    return SL_OK;
}

void sl_pre_work_free(sl_pre_work *work)
{
    if (!work)
        return;
    free(work->cps);
    free(work->flags);
    free(work->offs);
    memset(work, 0, sizeof *work);
}

sl_status sl_pretokenize(sl_pre_kind kind, const char *text, size_t n, sl_pre_work *work,
                         sl_pre_emit emit, void *ctx, sl_error *err)
{
    split_state s = {.text = text, .emit = emit, .ctx = ctx, .err = err};
    matcher stages[MAX_STAGES];
    switch (kind) {
    case SL_PRE_GPT2:
        stages[0] = match_gpt2;
        s.n_stages = 1;
        break;
    case SL_PRE_SMOLLM:
        stages[0] = match_one_digit;
        stages[1] = match_gpt2;
        s.n_stages = 2;
        break;
    case SL_PRE_LLAMA3:
        stages[0] = match_llama3;
        s.n_stages = 1;
        break;
    case SL_PRE_QWEN2:
        stages[0] = match_qwen2;
        s.n_stages = 1;
        break;
    case SL_PRE_DEEPSEEK3:
        stages[0] = match_digits3;
        stages[1] = match_cjk;
        stages[2] = match_deepseek3;
        s.n_stages = 3;
        break;
    default:
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "pre-tokenizer: unknown kind %d", (int)kind);
    }
    s.stages = stages;
    if (n == 0)
        return SL_OK;
    sl_status st = reserve(work, n, err);
    if (st != SL_OK)
        return st;

    /* Decode; each invalid byte becomes one SL_PRE_INVALID unit. */
    const unsigned char *u = (const unsigned char *)text;
    size_t count = 0;
    for (size_t pos = 0; pos < n;) {
        uint32_t cp;
        size_t len = sl_utf8_decode(u + pos, n - pos, &cp);
        work->offs[count] = pos;
        if (len == 0) {
            work->cps[count] = SL_PRE_INVALID;
            work->flags[count] = SL_UC_C;
            len = 1;
        } else {
            work->cps[count] = cp;
            work->flags[count] = sl_unicode_flags(cp);
        }
        count++;
        pos += len;
    }
    work->offs[count] = n;
    s.offs = work->offs;
    s.view.cp = work->cps;
    s.view.fl = work->flags;

    size_t begin = 0;
    for (size_t i = 0; i < count; i++) {
        if (work->cps[i] != SL_PRE_INVALID)
            continue;
        if ((st = split(&s, 0, begin, i)) != SL_OK)
            return st;
        if ((st = emit(ctx, text + work->offs[i], 1, err)) != SL_OK)
            return st;
        begin = i + 1;
    }
    return split(&s, 0, begin, count);
}

static const struct {
    const char *name;
    sl_pre_kind kind;
} pre_names[] = {
    {"gpt2", SL_PRE_GPT2},
    {"gpt-2", SL_PRE_GPT2},
    {"default", SL_PRE_GPT2},
    {"smollm", SL_PRE_SMOLLM},
    {"llama-bpe", SL_PRE_LLAMA3},
    {"llama3", SL_PRE_LLAMA3},
    {"llama-v3", SL_PRE_LLAMA3},
    {"qwen2", SL_PRE_QWEN2},
    {"deepseek-v3", SL_PRE_DEEPSEEK3},
};

bool sl_pre_kind_from_name(const char *name, size_t len, sl_pre_kind *out)
{
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++) {
        if (strlen(pre_names[i].name) == len && memcmp(pre_names[i].name, name, len) == 0) {
            *out = pre_names[i].kind;
            return true;
        }
    }
    return false;
}

const char *sl_pre_kind_name(sl_pre_kind kind)
{
    switch (kind) {
    case SL_PRE_GPT2: return "gpt2";
    case SL_PRE_SMOLLM: return "smollm";
    case SL_PRE_LLAMA3: return "llama-bpe";
    case SL_PRE_QWEN2: return "qwen2";
    case SL_PRE_DEEPSEEK3: return "deepseek-v3";
    }
    return "unknown";
}
