/* tokenizer-json.c: the tokenizer of a Hugging Face model directory
 * (tokenizer.json, with tokenizer_config.json when present), validated and
 * turned into sl_tokenizer_parts.
 *
 * tokenizer.json must describe what bpe.c runs: model.type "BPE" without
 * dropout, subword prefixes/suffixes or byte fallback; no normalizer (null,
 * or an empty Sequence, as DeepSeek V3 has); a pre-tokenizer recognised by
 * its structure and regex strings as one of pretokenize.c's:
 *
 *   gpt2       ByteLevel(add_prefix_space=false, use_regex=true)
 *   smollm     Sequence[Digits(individual_digits=true), ByteLevel(use_regex=true)]
 *   llama-bpe  Sequence[Split(Llama 3 regex), ByteLevel(use_regex=false)]
 *   qwen2      Sequence[Split(Qwen2 regex), ByteLevel(use_regex=false)]
 *   deepseek-v3 Sequence[Split(\p{N}{1,3}), Split([一-龥぀-ゟ゠-ヿ]+),
 *              Split(DeepSeek V3's regex), ByteLevel(use_regex=false)]
 *
 * (each Split with behavior "Isolated" and invert false; every ByteLevel
 * with add_prefix_space false). Regex strings are compared after writing
 * CR, LF and TAB characters as the escapes \r \n \t and \uXXXX escapes as
 * their characters, so both ways the files spell them match. Anything else
 * is SL_ERR_UNSUPPORTED naming the file.
 *
 * The vocabulary (model.vocab, text -> id) and added_tokens (special: true
 * -> control, false -> user-defined) together must give every id 0..n-1
 * exactly one text; an added token may repeat a vocabulary entry with the
 * same id and text. An added token with lstrip, rstrip or single_word set
 * is SL_ERR_UNSUPPORTED. Merges are "a b" strings or ["a", "b"] pairs;
 * model.ignore_merges (false when absent) is honoured whatever the
 * pre-tokenizer. (Qwen2's own files have an NFC normalizer, so they are
 * refused for that.)
 * tokenizer_config.json gives bos_token, eos_token, pad_token (strings or
 * {"content": ...} objects) and add_bos_token; without add_bos_token, the
 * post_processor decides: a TemplateProcessing whose single sequence starts
 * with the bos token adds it.
 *
 * The tokenizer's fingerprint is bpe.c's: the pre-tokenizer's GGUF name
 * (tokenizer.ggml.pre: "deepseek-v3", "llama-bpe" ...), the tokens with
 * their types, the merges as "a b" strings (pairs are joined), add_bos and
 * ignore_merges; so a GGUF conversion with the same tokens, types and
 * merges has the same one. */
#include "tokenizer/bpe.h"

#include "error.h"
#include "model/json.h"
#include "tokenizer/pretokenize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


/* ---- messages ------------------------------------------------------------------ */

typedef char quoted[4 * SL_QUOTE_MAX + 16];

static const char *type_name(const sl_json *v) { return sl_json_type_name(sl_json_type_of(v)); }

/* ---- small readers ---------------------------------------------------------------- */

static bool str_is(const sl_json *v, const char *want)
{
    size_t len;
    const char *s = sl_json_string(v, &len);
    return s && len == strlen(want) && memcmp(s, want, len) == 0;
}

/* An optional boolean: absent or null gives dflt; false when v is another type. */
static bool opt_bool(const sl_json *obj, const char *key, bool dflt, bool *out)
{
    const sl_json *v = sl_json_object_get(obj, key);
    if (!v || sl_json_type_of(v) == SL_JSON_NULL) {
        *out = dflt;
        return true;
    }
    return sl_json_bool(v, out);
}

/* Absent, null or "": the member is unset. */
static bool unset_string(const sl_json *obj, const char *key)
{
    const sl_json *v = sl_json_object_get(obj, key);
    size_t len;
    return !v || sl_json_type_of(v) == SL_JSON_NULL || (sl_json_string(v, &len) && len == 0);
}

/* ---- the pre-tokenizer ------------------------------------------------------------- */

static const char LLAMA3_RE[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
                                "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
                                "\\s+(?!\\S)|\\s+";
static const char QWEN2_RE[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
                               "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
                               "\\s+(?!\\S)|\\s+";
static const char DS3_DIGITS_RE[] = "\\p{N}{1,3}";
/* [一-龥぀-ゟ゠-ヿ]+ */
static const char DS3_CJK_RE[] = "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f"
                                 "\xe3\x82\xa0-\xe3\x83\xbf]+";
static const char DS3_MAIN_RE[] = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|"
                                  "[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
                                  " ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The next unit of a regex in canonical form: CR/LF/TAB characters as their
 * escapes, "\uXXXX" as the character's UTF-8. Writes it to out (at most 4
 * bytes) and returns how many bytes of s it took. */
static size_t canonical_unit(const char *s, size_t n, char *out, size_t *out_len)
{
    if (s[0] == '\r' || s[0] == '\n' || s[0] == '\t') {
        out[0] = '\\';
        out[1] = s[0] == '\r' ? 'r' : s[0] == '\n' ? 'n' : 't';
        *out_len = 2;
        return 1;
    }
    if (s[0] == '\\' && n >= 2 && s[1] == '\\') {
        out[0] = out[1] = '\\';
        *out_len = 2;
        return 2;
    }
    if (s[0] == '\\' && n >= 6 && s[1] == 'u') {
        uint32_t cp = 0;
        bool ok = true;
        for (int k = 2; k < 6; k++) {
            int h = hex_value(s[k]);
            ok = ok && h >= 0;
            cp = cp << 4 | (uint32_t)(h < 0 ? 0 : h);
        }
        if (ok && cp >= 0x80 && !(cp >= 0xD800 && cp <= 0xDFFF)) {
            if (cp < 0x800) {
                out[0] = (char)(0xC0 | cp >> 6);
                out[1] = (char)(0x80 | (cp & 0x3F));
                *out_len = 2;
            } else {
                out[0] = (char)(0xE0 | cp >> 12);
                out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[2] = (char)(0x80 | (cp & 0x3F));
                *out_len = 3;
            }
            return 6;
        }
    }
    out[0] = s[0];
    *out_len = 1;
    return 1;
}

/* Writes the canonical form of s[0..n) into out (cap bytes); false when it does not fit. */
static bool canonical(const char *s, size_t n, char *out, size_t cap, size_t *len)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char unit[4];
        size_t ul;
        i += canonical_unit(s + i, n - i, unit, &ul);
        if (o + ul > cap)
            return false;
        memcpy(out + o, unit, ul);
        o += ul;
    }
    *len = o;
    return true;
}

static bool regex_equal(const char *a, size_t na, const char *b, size_t nb)
{
    char ca[512], cb[512];
    size_t la, lb;
    return canonical(a, na, ca, sizeof ca, &la) && canonical(b, nb, cb, sizeof cb, &lb) &&
           la == lb && memcmp(ca, cb, la) == 0;
}

/* Split(Regex(re), behavior Isolated, invert false). */
static bool is_split(const sl_json *p, const char *re)
{
    const sl_json *pattern = sl_json_object_get(p, "pattern");
    const sl_json *regex = sl_json_object_get(pattern, "Regex");
    bool invert;
    size_t len;
    const char *s = sl_json_string(regex, &len);
    return str_is(sl_json_object_get(p, "type"), "Split") && s &&
           sl_json_object_size(pattern) == 1 &&
           str_is(sl_json_object_get(p, "behavior"), "Isolated") &&
           opt_bool(p, "invert", false, &invert) && !invert &&
           regex_equal(s, len, re, strlen(re));
}

/* ByteLevel(add_prefix_space=false, use_regex as given); HF's defaults are true. */
static bool is_byte_level(const sl_json *p, bool use_regex)
{
    bool prefix, regex;
    return str_is(sl_json_object_get(p, "type"), "ByteLevel") &&
           opt_bool(p, "add_prefix_space", true, &prefix) && !prefix &&
           opt_bool(p, "use_regex", true, &regex) && regex == use_regex;
}

static bool is_digits(const sl_json *p)
{
    bool individual;
    return str_is(sl_json_object_get(p, "type"), "Digits") &&
           opt_bool(p, "individual_digits", false, &individual) && individual;
}

static bool match_pre(const sl_json *pre, sl_pre_kind *kind)
{
    if (is_byte_level(pre, true)) {
        *kind = SL_PRE_GPT2;
        return true;
    }
    if (!str_is(sl_json_object_get(pre, "type"), "Sequence"))
        return false;
    const sl_json *seq = sl_json_object_get(pre, "pretokenizers");
    size_t n = sl_json_array_size(seq);
    const sl_json *p0 = sl_json_array_at(seq, 0), *p1 = sl_json_array_at(seq, 1);
    if (n == 1 && is_byte_level(p0, true)) {
        *kind = SL_PRE_GPT2;
        return true;
    }
    if (n == 2 && is_digits(p0) && is_byte_level(p1, true)) {
        *kind = SL_PRE_SMOLLM;
        return true;
    }
    if (n == 2 && is_split(p0, LLAMA3_RE) && is_byte_level(p1, false)) {
        *kind = SL_PRE_LLAMA3;
        return true;
    }
    if (n == 2 && is_split(p0, QWEN2_RE) && is_byte_level(p1, false)) {
        *kind = SL_PRE_QWEN2;
        return true;
    }
    if (n == 4 && is_split(p0, DS3_DIGITS_RE) && is_split(p1, DS3_CJK_RE) &&
        is_split(sl_json_array_at(seq, 2), DS3_MAIN_RE) &&
        is_byte_level(sl_json_array_at(seq, 3), false)) {
        *kind = SL_PRE_DEEPSEEK3;
        return true;
    }
    return false;
}

/* "Sequence[Split, Split, ByteLevel]" or "Whitespace": what the file has, for the message. */
static void describe_pre(char *buf, size_t cap, const sl_json *pre)
{
    quoted q;
    size_t len = 0;
    const char *type = sl_json_string(sl_json_object_get(pre, "type"), &len);
    if (!type) {
        snprintf(buf, cap, "a JSON %s", type_name(pre));
        return;
    }
    size_t o = (size_t)snprintf(buf, cap, "%s", sl_quote(q, sizeof q, type, len));
    const sl_json *seq = sl_json_object_get(pre, "pretokenizers");
    if (!seq || o >= cap)
        return;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (size_t i = 0; i < sl_json_array_size(seq) && o < cap; i++) {
        const char *t = sl_json_string(sl_json_object_get(sl_json_array_at(seq, i), "type"), &len);
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "",
                              t ? sl_quote(q, sizeof q, t, len) : "?");
    }
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
}

/* ---- building the parts -------------------------------------------------------------- */

typedef struct {
    const char *path;  /* DIR/tokenizer.json */
    const char *cpath; /* DIR/tokenizer_config.json */
    sl_error *err;
    sl_json *root, *config;
    sl_gguf_string *tokens;
    int32_t *types;
    uint8_t *from_added; /* 1 where an added token gave the id */
    uint64_t n;
    sl_gguf_string *merges;
    char *merge_text;
} loader;

static void loader_free(loader *L)
{
    sl_json_free(L->root);
    sl_json_free(L->config);
    free(L->tokens);
    free(L->types);
    free(L->from_added);
    free(L->merges);
    free(L->merge_text);
}

static sl_status check_model(loader *L, const sl_json *model)
{
    quoted q;
    size_t len;
    if (sl_json_type_of(model) != SL_JSON_OBJECT)
        return sl_fail(L->err, SL_ERR_FORMAT, "%s: model is %s, not an object", L->path,
                       model ? type_name(model) : "missing");
    const sl_json *type = sl_json_object_get(model, "type");
    const char *t = sl_json_string(type, &len);
    if (type && !str_is(type, "BPE"))
        return sl_fail(L->err, SL_ERR_UNSUPPORTED,
                       "%s: model.type '%s' is not supported (only byte-level BPE is)", L->path,
                       t ? sl_quote(q, sizeof q, t, len) : type_name(type));
    if (!unset_string(model, "continuing_subword_prefix") ||
        !unset_string(model, "end_of_word_suffix"))
        return sl_fail(L->err, SL_ERR_UNSUPPORTED,
                       "%s: model.continuing_subword_prefix/end_of_word_suffix are not supported "
                       "(byte-level BPE has none)",
                       L->path);
    const sl_json *dropout = sl_json_object_get(model, "dropout");
    if (dropout && sl_json_type_of(dropout) != SL_JSON_NULL)
        return sl_fail(L->err, SL_ERR_UNSUPPORTED, "%s: model.dropout is not supported", L->path);
    bool fallback;
    if (!opt_bool(model, "byte_fallback", false, &fallback) || fallback)
        return sl_fail(L->err, SL_ERR_UNSUPPORTED,
                       "%s: model.byte_fallback is not supported (byte-level BPE needs none)",
                       L->path);
    return SL_OK;
}

/* A token id: an integer in 0..limit-1. */
static sl_status read_id(loader *L, const sl_json *v, const char *what, const char *text,
                         size_t text_len, uint64_t limit, uint64_t *out)
{
    quoted q;
    int64_t id;
    if (!sl_json_int64(v, &id))
        return sl_fail(L->err, SL_ERR_FORMAT, "%s: %s '%s' has id %s, not an integer", L->path,
                       what, sl_quote(q, sizeof q, text, text_len),
                       sl_json_number_text(v, NULL) ? sl_json_number_text(v, NULL) : type_name(v));
    if (id < 0 || (uint64_t)id >= limit)
        return sl_fail(L->err, SL_ERR_FORMAT,
                       "%s: %s '%s' has id %lld, outside 0..%llu (ids must be dense: there are "
                       "%llu tokens)",
                       L->path, what, sl_quote(q, sizeof q, text, text_len), (long long)id,
                       (unsigned long long)limit - 1, (unsigned long long)limit);
    *out = (uint64_t)id;
    return SL_OK;
}

static sl_status read_vocab(loader *L, const sl_json *model, const sl_json *added)
{
    const sl_json *vocab = sl_json_object_get(model, "vocab");
    if (sl_json_type_of(vocab) != SL_JSON_OBJECT)
        return sl_fail(L->err, SL_ERR_FORMAT, "%s: model.vocab is %s, not an object", L->path,
                       vocab ? type_name(vocab) : "missing");
    if (added && sl_json_type_of(added) != SL_JSON_ARRAY)
        return sl_fail(L->err, SL_ERR_FORMAT, "%s: added_tokens is a JSON %s, not an array",
                       L->path, type_name(added));
    size_t nv = sl_json_object_size(vocab), na = sl_json_array_size(added);
    /* Dense ids: none can reach the number of entries. */
    uint64_t limit = (uint64_t)nv + na;
    if (limit == 0)
        return sl_fail(L->err, SL_ERR_FORMAT, "%s: the vocabulary is empty", L->path);
    if (limit > INT32_MAX)
        return sl_fail(L->err, SL_ERR_FORMAT, "%s: %llu tokens is too many", L->path,
                       (unsigned long long)limit);
    L->tokens = calloc((size_t)limit, sizeof *L->tokens);
    L->types = calloc((size_t)limit, sizeof *L->types);
    L->from_added = calloc((size_t)limit, 1);
    if (!L->tokens || !L->types || !L->from_added)
        return sl_fail(L->err, SL_ERR_NO_MEMORY, "%s: no memory for %llu tokens", L->path,
                       (unsigned long long)limit);
    uint64_t n = 0;
    quoted q, q2;
    for (size_t i = 0; i < nv; i++) {
        const char *text;
        size_t len;
        uint64_t id;
        const sl_json *v = sl_json_object_at(vocab, i, &text, &len);
        sl_status s = read_id(L, v, "vocabulary token", text, len, limit, &id);
        if (s)
            return s;
        if (L->tokens[id].ptr)
            return sl_fail(L->err, SL_ERR_FORMAT, "%s: tokens '%s' and '%s' both have id %llu",
                           L->path, sl_quote(q, sizeof q, L->tokens[id].ptr, L->tokens[id].len),
                           sl_quote(q2, sizeof q2, text, len), (unsigned long long)id);
        L->tokens[id] = (sl_gguf_string){text, len};
        L->types[id] = SL_TOKEN_NORMAL;
        if (id + 1 > n)
            n = id + 1;
    }
    for (size_t i = 0; i < na; i++) {
        const sl_json *a = sl_json_array_at(added, i);
        if (sl_json_type_of(a) != SL_JSON_OBJECT)
            return sl_fail(L->err, SL_ERR_FORMAT, "%s: added_tokens[%zu] is a JSON %s, not an object",
                           L->path, i, type_name(a));
        size_t len;
        const char *text = sl_json_string(sl_json_object_get(a, "content"), &len);
        if (!text || len == 0)
            return sl_fail(L->err, SL_ERR_FORMAT, "%s: added_tokens[%zu] has no content",
                           L->path, i);
        uint64_t id;
        const sl_json *idv = sl_json_object_get(a, "id");
        sl_status s = read_id(L, idv, "added token", text, len, limit, &id);
        if (s)
            return s;
        bool special, lstrip, rstrip, single;
        if (!opt_bool(a, "special", false, &special) || !opt_bool(a, "lstrip", false, &lstrip) ||
            !opt_bool(a, "rstrip", false, &rstrip) || !opt_bool(a, "single_word", false, &single))
            return sl_fail(L->err, SL_ERR_FORMAT,
                           "%s: added token '%s': special, lstrip, rstrip and single_word must be "
                           "booleans",
                           L->path, sl_quote(q, sizeof q, text, len));
        if (lstrip || rstrip || single)
            return sl_fail(L->err, SL_ERR_UNSUPPORTED,
                           "%s: added token '%s' has %s set, which the engine does not support",
                           L->path, sl_quote(q, sizeof q, text, len),
                           lstrip ? "lstrip" : rstrip ? "rstrip" : "single_word");
        if (L->tokens[id].ptr) {
            bool same = L->tokens[id].len == len && memcmp(L->tokens[id].ptr, text, len) == 0;
            if (!same || L->from_added[id])
                return sl_fail(L->err, SL_ERR_FORMAT, "%s: %s '%s' and added token '%s' both have id %llu",
                               L->path, L->from_added[id] ? "added token" : "vocabulary token",
                               sl_quote(q, sizeof q, L->tokens[id].ptr, L->tokens[id].len),
                               sl_quote(q2, sizeof q2, text, len), (unsigned long long)id);
        } else if (!memchr(text, 0, len)) {
            /* the same text under another id of the vocabulary */
            int64_t other;
            const sl_json *v = sl_json_object_get(vocab, text);
            if (v && sl_json_int64(v, &other))
                return sl_fail(L->err, SL_ERR_FORMAT,
                               "%s: added token '%s' has id %llu, but the vocabulary gives it id %lld",
                               L->path, sl_quote(q, sizeof q, text, len), (unsigned long long)id,
                               (long long)other);
        }
        L->tokens[id] = (sl_gguf_string){text, len};
        L->types[id] = special ? SL_TOKEN_CONTROL : SL_TOKEN_USER_DEFINED;
        L->from_added[id] = 1;
        if (id + 1 > n)
            n = id + 1;
    }
    for (uint64_t id = 0; id < n; id++)
        if (!L->tokens[id].ptr)
            return sl_fail(L->err, SL_ERR_FORMAT,
                           "%s: no token has id %llu (ids must be dense: 0..%llu)", L->path,
                           (unsigned long long)id, (unsigned long long)n - 1);
    L->n = n;
    /* Two added tokens with one text, under different ids. */
    for (size_t i = 0; i < na; i++) {
        const sl_json *a = sl_json_array_at(added, i);
        size_t len;
        const char *text = sl_json_string(sl_json_object_get(a, "content"), &len);
        for (size_t j = i + 1; j < na && na <= 4096; j++) {
            size_t len2;
            const char *t2 = sl_json_string(sl_json_object_get(sl_json_array_at(added, j), "content"),
                                            &len2);
            if (len2 == len && memcmp(t2, text, len) == 0)
                return sl_fail(L->err, SL_ERR_FORMAT, "%s: added token '%s' is listed twice",
                               L->path, sl_quote(q, sizeof q, text, len));
        }
    }
    return SL_OK;
}

static sl_status read_merges(loader *L, const sl_json *model)
{
    const sl_json *merges = sl_json_object_get(model, "merges");
    /* no merges at all is valid: every word stays in single bytes */
    if (merges && sl_json_type_of(merges) != SL_JSON_ARRAY)
        return sl_fail(L->err, SL_ERR_FORMAT, "%s: model.merges is a JSON %s, not an array",
                       L->path, type_name(merges));
    size_t n = sl_json_array_size(merges);
    L->merges = calloc(n ? n : 1, sizeof *L->merges);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const sl_json *m = sl_json_array_at(merges, i);
        size_t a, b;
        if (sl_json_type_of(m) == SL_JSON_ARRAY && sl_json_array_size(m) == 2 &&
            sl_json_string(sl_json_array_at(m, 0), &a) && sl_json_string(sl_json_array_at(m, 1), &b))
            total += a + b + 2;
    }
    L->merge_text = malloc(total ? total : 1);
    if (!L->merges || !L->merge_text)
        return sl_fail(L->err, SL_ERR_NO_MEMORY, "%s: no memory for %zu merges", L->path, n);
    size_t at = 0;
    quoted q;
    for (size_t i = 0; i < n; i++) {
        const sl_json *m = sl_json_array_at(merges, i);
        size_t len;
        const char *s = sl_json_string(m, &len);
        if (s) {
            L->merges[i] = (sl_gguf_string){s, len};
            continue;
        }
        size_t a, b;
        const char *left = sl_json_string(sl_json_array_at(m, 0), &a);
        const char *right = sl_json_string(sl_json_array_at(m, 1), &b);
        if (sl_json_type_of(m) != SL_JSON_ARRAY || sl_json_array_size(m) != 2 || !left || !right)
            return sl_fail(L->err, SL_ERR_FORMAT,
                           "%s: merge %zu is a JSON %s, not \"a b\" or [\"a\", \"b\"]", L->path, i,
                           type_name(m));
        if (memchr(left, ' ', a) || memchr(right, ' ', b))
            return sl_fail(L->err, SL_ERR_UNSUPPORTED,
                           "%s: merge %zu ['%s', ...] has a token with a space, which byte-level "
                           "BPE never makes",
                           L->path, i, sl_quote(q, sizeof q, left, a));
        char *p = L->merge_text + at;
        memcpy(p, left, a);
        p[a] = ' ';
        memcpy(p + a + 1, right, b);
        p[a + b + 1] = 0;
        L->merges[i] = (sl_gguf_string){p, a + b + 1};
        at += a + b + 2;
    }
    return SL_OK;
}

static int64_t find_token(const loader *L, const char *text, size_t len)
{
    for (uint64_t i = 0; i < L->n; i++)
        if (L->tokens[i].len == len && memcmp(L->tokens[i].ptr, text, len) == 0)
            return (int64_t)i;
    return -1;
}

/* bos_token etc. of tokenizer_config.json: a string, {"content": ...}, null or absent. */
static sl_status config_token(loader *L, const char *key, bool required_in_vocab, int64_t *id,
                              const char **text, size_t *text_len)
{
    *id = -1;
    if (text)
        *text = NULL;
    const sl_json *v = sl_json_object_get(L->config, key);
    if (!v || sl_json_type_of(v) == SL_JSON_NULL)
        return SL_OK;
    if (sl_json_type_of(v) == SL_JSON_OBJECT)
        v = sl_json_object_get(v, "content");
    size_t len;
    const char *s = sl_json_string(v, &len);
    if (!s)
        return sl_fail(L->err, SL_ERR_FORMAT,
                       "%s: %s is a JSON %s, not a token (a string or {\"content\": ...})",
                       L->cpath, key, type_name(v));
    *id = find_token(L, s, len);
    quoted q;
    if (*id < 0 && required_in_vocab)
        return sl_fail(L->err, SL_ERR_FORMAT, "%s: %s '%s' is not in the vocabulary of %s",
                       L->cpath, key, sl_quote(q, sizeof q, s, len), L->path);
    if (text) {
        *text = s;
        *text_len = len;
    }
    return SL_OK;
}

/* Without add_bos_token: does the post-processor put bos first? */
static bool post_processor_adds(const sl_json *pp, const char *bos, size_t bos_len)
{
    if (!bos || !str_is(sl_json_object_get(pp, "type"), "TemplateProcessing"))
        return false;
    const sl_json *first = sl_json_array_at(sl_json_object_get(pp, "single"), 0);
    const sl_json *id = sl_json_object_get(sl_json_object_get(first, "SpecialToken"), "id");
    size_t len;
    const char *s = sl_json_string(id, &len);
    return s && len == bos_len && memcmp(s, bos, len) == 0;
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static sl_status load(loader *L, sl_tokenizer **out)
{
    sl_status s = sl_json_parse_file(L->path, &L->root, L->err);
    if (s)
        return s;
    if (sl_json_type_of(L->root) != SL_JSON_OBJECT)
        return sl_fail(L->err, SL_ERR_FORMAT, "%s: a JSON %s, not an object", L->path,
                       type_name(L->root));
    if (file_exists(L->cpath)) {
        if ((s = sl_json_parse_file(L->cpath, &L->config, L->err)))
            return s;
        if (sl_json_type_of(L->config) != SL_JSON_OBJECT)
            return sl_fail(L->err, SL_ERR_FORMAT, "%s: a JSON %s, not an object", L->cpath,
                           type_name(L->config));
    }
    const sl_json *model = sl_json_object_get(L->root, "model");
    if ((s = check_model(L, model)))
        return s;

    const sl_json *norm = sl_json_object_get(L->root, "normalizer");
    if (norm && sl_json_type_of(norm) != SL_JSON_NULL &&
        !(str_is(sl_json_object_get(norm, "type"), "Sequence") &&
          sl_json_type_of(sl_json_object_get(norm, "normalizers")) == SL_JSON_ARRAY &&
          sl_json_array_size(sl_json_object_get(norm, "normalizers")) == 0)) {
        quoted q;
        size_t len;
        const char *t = sl_json_string(sl_json_object_get(norm, "type"), &len);
        return sl_fail(L->err, SL_ERR_UNSUPPORTED,
                       "%s: normalizer '%s' is not supported (byte-level BPE without a "
                       "normalizer only)",
                       L->path, t ? sl_quote(q, sizeof q, t, len) : type_name(norm));
    }

    const sl_json *pre = sl_json_object_get(L->root, "pre_tokenizer");
    sl_pre_kind kind;
    if (!match_pre(pre, &kind)) {
        char what[400];
        describe_pre(what, sizeof what, pre);
        return sl_fail(L->err, SL_ERR_UNSUPPORTED,
                       "%s: pre_tokenizer %s is not one the engine knows (GPT-2 ByteLevel, "
                       "SmolLM, Llama 3, Qwen2, DeepSeek V3)",
                       L->path, pre ? what : "(none)");
    }

    if ((s = read_vocab(L, model, sl_json_object_get(L->root, "added_tokens"))) ||
        (s = read_merges(L, model)))
        return s;

    const char *name = sl_pre_kind_name(kind);
    sl_tokenizer_parts p = {
        .source = L->path,
        .model = {"gpt2", 4},
        .pre = {name, strlen(name)},
        .tokens = L->tokens,
        .n_tokens = L->n,
        .types = L->types,
        .merges = L->merges,
        .n_merges = sl_json_array_size(sl_json_object_get(model, "merges")),
        .bos = -1, .eos = -1, .unk = -1, .pad = -1,
    };
    bool ignore;
    if (!opt_bool(model, "ignore_merges", false, &ignore))
        return sl_fail(L->err, SL_ERR_FORMAT, "%s: model.ignore_merges is not a boolean", L->path);
    p.ignore_merges = ignore ? SL_MERGES_IGNORE : SL_MERGES_APPLY;
    size_t len;
    const char *unk = sl_json_string(sl_json_object_get(model, "unk_token"), &len);
    if (unk)
        p.unk = find_token(L, unk, len);

    const char *bos_text = NULL;
    size_t bos_len = 0;
    if (L->config) {
        if ((s = config_token(L, "bos_token", true, &p.bos, &bos_text, &bos_len)) ||
            (s = config_token(L, "eos_token", true, &p.eos, NULL, NULL)) ||
            (s = config_token(L, "pad_token", false, &p.pad, NULL, NULL)))
            return s;
        const sl_json *add = sl_json_object_get(L->config, "add_bos_token");
        if (add && sl_json_type_of(add) != SL_JSON_NULL) {
            if (!sl_json_bool(add, &p.add_bos))
                return sl_fail(L->err, SL_ERR_FORMAT, "%s: add_bos_token is a JSON %s, not a boolean",
                               L->cpath, type_name(add));
        } else {
            p.add_bos = post_processor_adds(sl_json_object_get(L->root, "post_processor"),
                                            bos_text, bos_len);
        }
    }
    if (p.add_bos && p.bos < 0)
        return sl_fail(L->err, SL_ERR_FORMAT, "%s: add_bos_token is true but there is no bos_token",
                       L->cpath);
    return sl_tokenizer_from_parts(&p, out, L->err);
}

sl_status sl_tokenizer_from_json(const char *dir, sl_tokenizer **out, sl_error *err)
{
    if (out)
        *out = NULL;
    if (!dir || !out)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "sl_tokenizer_from_json: %s is NULL",
                       dir ? "out" : "dir");
    char *path = join(dir, "tokenizer.json"), *cpath = join(dir, "tokenizer_config.json");
    sl_status s;
    if (!path || !cpath) {
        s = sl_fail(err, SL_ERR_NO_MEMORY, "%s: no memory", dir);
    } else {
        loader L = {.path = path, .cpath = cpath, .err = err};
        s = load(&L, out);
        loader_free(&L);
    }
    free(path);
    free(cpath);
    return s;
}

/* ---- the chat template of a directory ------------------------------------------------ */

sl_status sl_chat_detect_dir(const char *dir, sl_chat_template *out, sl_error *err)
{
    if (!dir || !out)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "sl_chat_detect_dir: %s is NULL",
                       dir ? "out" : "dir");
    *out = SL_CHAT_NONE;
    char *cpath = join(dir, "tokenizer_config.json"), *jpath = join(dir, "chat_template.jinja");
    sl_json *config = NULL;
    sl_status s = SL_OK;
    if (!cpath || !jpath) {
        s = sl_fail(err, SL_ERR_NO_MEMORY, "%s: no memory", dir);
        goto done;
    }
    if (file_exists(cpath)) {
        if ((s = sl_json_parse_file(cpath, &config, err)))
            goto done;
        const sl_json *t = sl_json_object_get(config, "chat_template");
        if (sl_json_type_of(t) == SL_JSON_ARRAY) {
            /* named templates: [{"name": "default", "template": "..."}, ...] */
            const sl_json *pick = NULL;
            for (size_t i = 0; i < sl_json_array_size(t); i++)
                if (str_is(sl_json_object_get(sl_json_array_at(t, i), "name"), "default"))
                    pick = sl_json_object_get(sl_json_array_at(t, i), "template");
            t = pick;
        }
        size_t len;
        const char *text = sl_json_string(t, &len);
        if (text) {
            s = sl_chat_detect_text(cpath, text, len, out, err);
            goto done;
        }
        if (t && sl_json_type_of(t) != SL_JSON_NULL) {
            s = sl_fail(err, SL_ERR_FORMAT, "%s: chat_template is a JSON %s, not a string",
                        cpath, type_name(t));
            goto done;
        }
    }
    /* transformers 4.43+ may save the template beside the config */
    if (file_exists(jpath)) {
        FILE *f = fopen(jpath, "rb");
        char *text = NULL;
        long n = -1;
        if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
            n < (1L << 24) && (text = malloc((size_t)n + 1)) && fread(text, 1, (size_t)n, f) == (size_t)n)
            s = sl_chat_detect_text(jpath, text, (size_t)n, out, err);
        else
            s = sl_fail(err, SL_ERR_IO, "%s: cannot read", jpath);
        free(text);
        if (f)
            fclose(f);
        goto done;
    }
    /* DeepSeek-V3.2 ships its format as Python (encoding/encoding_dsv32.py),
     * not as a Jinja template: its config.json names the architecture */
    sl_json_free(config);
    config = NULL;
    char *mpath = join(dir, "config.json");
    if (mpath && file_exists(mpath) && sl_json_parse_file(mpath, &config, NULL) == SL_OK &&
        str_is(sl_json_object_get(config, "model_type"), "deepseek_v32")) {
        *out = SL_CHAT_DEEPSEEK_V32;
        free(mpath);
        goto done;
    }
    free(mpath);
    s = sl_fail(err, SL_ERR_UNSUPPORTED,
                "%s: no chat template (no chat_template in tokenizer_config.json, no "
                "chat_template.jinja)",
                dir);
done:
    sl_json_free(config);
    free(cpath);
    free(jpath);
    return s;
}
