/* bpe.c: byte-level BPE (the GPT-2 scheme, as Hugging Face `tokenizers`
 * runs it): vocabulary and merge tables, special-token matching, encoding
 * and the decoded bytes of each token.
 *
 * Encoding: with parse_special, the text is first cut at special tokens
 * (leftmost, then longest match); each remaining span is split by the
 * pre-tokenizer; each word's bytes become the byte-level alphabet's tokens
 * and are merged by rank (lowest rank first, leftmost first among equals)
 * with a heap, so a word of n bytes costs O(n log n). */
#include "tokenizer/bpe.h"

#include "error.h"
#include "model/sha256.h"
#include "tokenizer/pretokenize.h"

#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX

typedef struct {
    const char *text;
    uint32_t len;
    int32_t id;
} special_entry;

typedef struct {
    uint64_t key; /* left id << 32 | right id; EMPTY_KEY when free */
    int32_t rank;
    int32_t result;
} merge_slot;

#define EMPTY_KEY UINT64_MAX

struct sl_tokenizer {
    int32_t n_vocab;
    sl_pre_kind pre;
    bool ignore_merges; /* a word that is itself a token is not merged (Llama 3) */
    bool add_bos;
    int32_t bos, eos, unk, pad;

    char *text;        /* all token texts, each NUL-terminated */
    size_t *text_off;  /* n_vocab + 1 */
    char *piece;       /* decoded bytes of each token, each NUL-terminated */
    size_t *piece_off; /* n_vocab + 1 (each entry's length excludes the NUL) */
    uint8_t *type;

    int32_t *vocab_slots; /* id + 1, 0 when free */
    size_t vocab_mask;
    merge_slot *merge_slots;
    size_t merge_mask;

    int32_t byte_id[256];
    char fingerprint[65]; /* SHA-256 of what decides the ids: see fingerprint() */
    special_entry *specials; /* sorted by text bytes */
    size_t n_specials;
    bool special_first[256];
};

/* ---- byte-level alphabet (GPT-2 bytes_to_unicode) ------------------------- */

static uint32_t byte_to_cp(unsigned b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
        return b;
    /* The other 68 bytes, in order, take U+0100 onwards. */
    unsigned k;
    if (b <= 0x20)
        k = b;
    else if (b <= 0xA0)
        k = 0x21 + (b - 0x7F);
    else
        k = 0x21 + 0x22; /* 0xAD */
    return 0x100 + k;
}

/* Inverse of byte_to_cp; -1 for a code point outside the alphabet. */
static int cp_to_byte(uint32_t cp)
{
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp < 0x100 || cp > 0x143)
        return -1;
    unsigned k = cp - 0x100;
    if (k <= 0x20)
        return (int)k;
    if (k <= 0x42)
        return (int)(0x7F + (k - 0x21));
    return 0xAD;
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2; /* the alphabet stays below U+0800 */
}

/* ---- hashing ---------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdu;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53u;
    x ^= x >> 33;
    return x;
}

static size_t table_size(uint64_t n)
{
    size_t size = 16;
    while (size < n * 2)
        size *= 2;
    return size;
}

static const char *tok_text(const sl_tokenizer *t, int32_t id, size_t *len)
{
    *len = t->text_off[id + 1] - t->text_off[id] - 1;
    return t->text + t->text_off[id];
}

static int32_t vocab_lookup(const sl_tokenizer *t, const char *s, size_t n)
{
    size_t i = (size_t)hash_bytes(s, n) & t->vocab_mask;
    for (;;) {
        int32_t v = t->vocab_slots[i];
        if (v == 0)
            return -1;
        size_t len;
        const char *txt = tok_text(t, v - 1, &len);
        if (len == n && memcmp(txt, s, n) == 0)
            return v - 1;
        i = (i + 1) & t->vocab_mask;
    }
}

static const merge_slot *merge_lookup(const sl_tokenizer *t, int32_t left, int32_t right)
{
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    size_t i = (size_t)hash_u64(key) & t->merge_mask;
    for (;;) {
        const merge_slot *s = &t->merge_slots[i];
        if (s->key == key)
            return s;
        if (s->key == EMPTY_KEY)
            return NULL;
        i = (i + 1) & t->merge_mask;
    }
}

/* ---- construction ------------------------------------------------------------- */

void sl_tokenizer_free(sl_tokenizer *t)
{
    if (!t)
        return;
    free(t->text);
    free(t->text_off);
    free(t->piece);
    free(t->piece_off);
    free(t->type);
    free(t->vocab_slots);
    free(t->merge_slots);
    free(t->specials);
    free(t);
}

static int special_cmp(const void *a, const void *b)
{
    const special_entry *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->text, y->text, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Decodes a normal token's text through the byte-level alphabet into out;
 * false when a character lies outside the alphabet (or the text is not
 * UTF-8): such a token decodes to its text as it is. */
static bool unmap_bytes(const char *s, size_t n, char *out, size_t *out_len)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = sl_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        int b = len ? cp_to_byte(cp) : -1;
        if (b < 0)
            return false;
        out[k++] = (char)b;
        i += len;
    }
    *out_len = k;
    return true;
}

static sl_status build_texts(sl_tokenizer *t, const sl_tokenizer_parts *p, sl_error *err)
{
    size_t total = 0;
    for (uint64_t i = 0; i < p->n_tokens; i++) {
        if (p->tokens[i].len > SIZE_MAX / 4 - total - 1)
            return sl_fail(err, SL_ERR_FORMAT, "%s: token texts too long", p->source);
        total += p->tokens[i].len + 1;
    }
    size_t n = (size_t)p->n_tokens;
    t->text = malloc(total);
    t->piece = malloc(total);
    t->text_off = malloc((n + 1) * sizeof *t->text_off);
    t->piece_off = malloc((n + 1) * sizeof *t->piece_off);
    t->type = malloc(n);
    if (!t->text || !t->piece || !t->text_off || !t->piece_off || !t->type)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory for the vocabulary", p->source);
    size_t at = 0, pat = 0;
    for (size_t i = 0; i < n; i++) {
        const sl_gguf_string *s = &p->tokens[i];
        int32_t ty = p->types ? p->types[i] : SL_TOKEN_NORMAL;
        if (ty < SL_TOKEN_UNDEFINED || ty > SL_TOKEN_BYTE)
            return sl_fail(err, SL_ERR_FORMAT, "%s: token %zu has type %d (valid: 0..6)",
                           p->source, i, (int)ty);
        if (ty == SL_TOKEN_UNDEFINED)
            ty = SL_TOKEN_NORMAL;
        t->type[i] = (uint8_t)ty;
        t->text_off[i] = at;
        if (s->len)
            memcpy(t->text + at, s->ptr, s->len);
        at += s->len;
        t->text[at++] = 0;

        t->piece_off[i] = pat;
        size_t plen = 0;
        bool mapped = ty != SL_TOKEN_CONTROL && ty != SL_TOKEN_USER_DEFINED &&
                      unmap_bytes(s->ptr, s->len, t->piece + pat, &plen);
        if (!mapped) {
            if (s->len)
                memcpy(t->piece + pat, s->ptr, s->len);
            plen = s->len;
        }
        pat += plen;
        t->piece[pat++] = 0;
    }
    t->text_off[n] = at;
    t->piece_off[n] = pat;
    return SL_OK;
}

static sl_status build_vocab(sl_tokenizer *t, const char *source, sl_error *err)
{
    size_t size = table_size((uint64_t)t->n_vocab);
    t->vocab_slots = calloc(size, sizeof *t->vocab_slots);
    if (!t->vocab_slots)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory for the vocabulary", source);
    t->vocab_mask = size - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t len;
        const char *s = tok_text(t, id, &len);
        size_t i = (size_t)hash_bytes(s, len) & t->vocab_mask;
        bool dup = false;
        while (t->vocab_slots[i] != 0) {
            size_t olen;
            const char *o = tok_text(t, t->vocab_slots[i] - 1, &olen);
            if (olen == len && memcmp(o, s, len) == 0) {
                dup = true; /* a repeated text keeps its first (lowest) id */
                break;
            }
            i = (i + 1) & t->vocab_mask;
        }
        if (!dup)
            t->vocab_slots[i] = id + 1;
    }
    return SL_OK;
}

static sl_status build_merges(sl_tokenizer *t, const sl_tokenizer_parts *p, sl_error *err)
{
    if (p->n_merges > INT32_MAX)
        return sl_fail(err, SL_ERR_FORMAT, "%s: %llu merges is too many", p->source,
                       (unsigned long long)p->n_merges);
    size_t size = table_size(p->n_merges);
    t->merge_slots = malloc(size * sizeof *t->merge_slots);
    if (!t->merge_slots)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory for the merges", p->source);
    for (size_t i = 0; i < size; i++)
        t->merge_slots[i].key = EMPTY_KEY;
    t->merge_mask = size - 1;

    size_t max_len = 0;
    for (uint64_t r = 0; r < p->n_merges; r++)
        if (p->merges[r].len > max_len)
            max_len = p->merges[r].len;
    char *joined = malloc(max_len + 1);
    if (!joined)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory for the merges", p->source);

    sl_status st = SL_OK;
    for (uint64_t r = 0; r < p->n_merges && st == SL_OK; r++) {
        const sl_gguf_string *m = &p->merges[r];
        const char *sp = m->len ? memchr(m->ptr, ' ', m->len) : NULL;
        int shown = (int)(m->len > 80 ? 80 : m->len);
        if (!sp || sp == m->ptr || sp == m->ptr + m->len - 1 ||
            memchr(sp + 1, ' ', m->len - (size_t)(sp - m->ptr) - 1)) {
            st = sl_fail(err, SL_ERR_FORMAT,
                         "%s: merge %llu '%.*s' is not two tokens separated by one space",
                         p->source, (unsigned long long)r, shown, m->len ? m->ptr : "");
            break;
        }
        size_t llen = (size_t)(sp - m->ptr), rlen = m->len - llen - 1;
        int32_t left = vocab_lookup(t, m->ptr, llen);
        int32_t right = vocab_lookup(t, sp + 1, rlen);
        memcpy(joined, m->ptr, llen);
        memcpy(joined + llen, sp + 1, rlen);
        int32_t result = vocab_lookup(t, joined, llen + rlen);
        if (left < 0 || right < 0 || result < 0) {
            st = sl_fail(err, SL_ERR_FORMAT,
                         "%s: merge %llu '%.*s' refers to a token missing from the vocabulary",
                         p->source, (unsigned long long)r, shown, m->ptr);
            break;
        }
        uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
        size_t i = (size_t)hash_u64(key) & t->merge_mask;
        while (t->merge_slots[i].key != EMPTY_KEY && t->merge_slots[i].key != key)
            i = (i + 1) & t->merge_mask;
        /* A repeated pair takes its later rank, as `tokenizers` does. */
        t->merge_slots[i] = (merge_slot){key, (int32_t)r, result};
    }
    free(joined);
    return st;
}

static sl_status build_specials(sl_tokenizer *t, sl_error *err, const char *source)
{
    size_t n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if ((t->type[id] == SL_TOKEN_CONTROL || t->type[id] == SL_TOKEN_USER_DEFINED) &&
            t->text_off[id + 1] - t->text_off[id] > 1)
            n++;
    if (n == 0)
        return SL_OK;
    t->specials = malloc(n * sizeof *t->specials);
    if (!t->specials)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory", source);
    n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t len;
        const char *s = tok_text(t, id, &len);
        if ((t->type[id] == SL_TOKEN_CONTROL || t->type[id] == SL_TOKEN_USER_DEFINED) && len &&
            len <= UINT32_MAX)
            t->specials[n++] = (special_entry){s, (uint32_t)len, id};
    }
    qsort(t->specials, n, sizeof *t->specials, special_cmp);
    /* Equal texts: keep the lowest id. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || t->specials[k - 1].len != t->specials[i].len ||
            memcmp(t->specials[k - 1].text, t->specials[i].text, t->specials[i].len) != 0)
            t->specials[k++] = t->specials[i];
    t->n_specials = k;
    for (size_t i = 0; i < k; i++)
        t->special_first[(unsigned char)t->specials[i].text[0]] = true;
    return SL_OK;
}

static sl_status check_id(const sl_tokenizer_parts *p, int64_t id, const char *what, sl_error *err)
{
    if (id < -1 || id >= (int64_t)p->n_tokens)
        return sl_fail(err, SL_ERR_FORMAT, "%s: %s %lld is outside the vocabulary (%llu tokens)",
                       p->source, what, (long long)id, (unsigned long long)p->n_tokens);
    return SL_OK;
}

static void fingerprint(sl_tokenizer *t, const sl_tokenizer_parts *p);

sl_status sl_tokenizer_from_parts(const sl_tokenizer_parts *p, sl_tokenizer **out, sl_error *err)
{
    const char *src = p->source ? p->source : "tokenizer";
    sl_tokenizer_parts parts = *p;
    parts.source = src;
    p = &parts;
    if (!(p->model.len == 4 && memcmp(p->model.ptr, "gpt2", 4) == 0))
        return sl_fail(err, SL_ERR_UNSUPPORTED,
                       "%s: tokenizer model '%.*s' is not supported (supported: gpt2, byte-level BPE)",
                       src, (int)(p->model.len > 64 ? 64 : p->model.len),
                       p->model.ptr ? p->model.ptr : "");
    sl_pre_kind pre = SL_PRE_GPT2;
    if (p->pre.ptr && !sl_pre_kind_from_name(p->pre.ptr, p->pre.len, &pre))
        return sl_fail(err, SL_ERR_UNSUPPORTED,
                       "%s: pre-tokenizer '%.*s' is not supported (supported: smollm, gpt2, "
                       "default, llama-bpe, qwen2, deepseek-v3)",
                       src, (int)(p->pre.len > 64 ? 64 : p->pre.len), p->pre.ptr);
    if (p->n_tokens == 0 || p->n_tokens > INT32_MAX)
        return sl_fail(err, SL_ERR_FORMAT, "%s: the vocabulary has %llu tokens", src,
                       (unsigned long long)p->n_tokens);
    sl_status st;
    if ((st = check_id(p, p->bos, "bos token id", err)) ||
        (st = check_id(p, p->eos, "eos token id", err)) ||
        (st = check_id(p, p->unk, "unknown token id", err)) ||
        (st = check_id(p, p->pad, "padding token id", err)))
        return st;

    sl_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory", src);
    t->n_vocab = (int32_t)p->n_tokens;
    t->pre = pre;
    t->ignore_merges = p->ignore_merges == SL_MERGES_DEFAULT ? pre == SL_PRE_LLAMA3
                                                             : p->ignore_merges == SL_MERGES_IGNORE;
    t->add_bos = p->add_bos;
    t->bos = (int32_t)p->bos;
    t->eos = (int32_t)p->eos;
    t->unk = (int32_t)p->unk;
    t->pad = (int32_t)p->pad;
    st = build_texts(t, p, err);
    if (!st)
        st = build_vocab(t, src, err);
    if (!st) {
        /* A byte without a token cannot be encoded: it is dropped, as
         * `tokenizers` drops it (SmolLM2 lacks 21 of the 256). */
        for (unsigned b = 0; b < 256; b++) {
            char buf[2];
            size_t len = put_utf8(buf, byte_to_cp(b));
            t->byte_id[b] = vocab_lookup(t, buf, len);
        }
    }
    if (!st)
        st = build_merges(t, p, err);
    if (!st)
        st = build_specials(t, err, src);
    if (st) {
        sl_tokenizer_free(t);
        return st;
    }
    fingerprint(t, p);
    *out = t;
    return SL_OK;
}

/* ---- identity -------------------------------------------------------------------- */

static void hash_string(sl_sha256 *sha, const char *s, size_t n)
{
    uint64_t len = n;
    sl_sha256_update(sha, &len, sizeof len); /* lengths make the stream unambiguous */
    sl_sha256_update(sha, s, n);
}

/* What decides the ids a text becomes: the pre-tokenizer, the vocabulary with its token
 * types, the merges in rank order. Two models with the same fingerprint tokenise alike, so
 * tokens cached for one serve the other. */
static void fingerprint(sl_tokenizer *t, const sl_tokenizer_parts *p)
{
    sl_sha256 sha;
    sl_sha256_init(&sha);
    hash_string(&sha, "sightline-bpe-1", 15);
    hash_string(&sha, p->pre.ptr ? p->pre.ptr : "default", p->pre.ptr ? p->pre.len : 7);
    uint8_t flags = (uint8_t)(t->ignore_merges | t->add_bos << 1);
    sl_sha256_update(&sha, &flags, 1);
    for (uint64_t i = 0; i < p->n_tokens; i++) {
        hash_string(&sha, p->tokens[i].ptr, p->tokens[i].len);
        int32_t type = p->types ? p->types[i] : 1;
        sl_sha256_update(&sha, &type, sizeof type);
    }
    for (uint64_t i = 0; i < p->n_merges; i++)
        hash_string(&sha, p->merges[i].ptr, p->merges[i].len);
    sl_sha256_hex(&sha, t->fingerprint);
}

const char *sl_tokenizer_fingerprint(const sl_tokenizer *t) { return t->fingerprint; }

/* ---- accessors ------------------------------------------------------------------- */

int32_t sl_tokenizer_n_vocab(const sl_tokenizer *t) { return t->n_vocab; }
int32_t sl_tokenizer_bos(const sl_tokenizer *t) { return t->bos; }
int32_t sl_tokenizer_eos(const sl_tokenizer *t) { return t->eos; }
bool sl_tokenizer_add_bos(const sl_tokenizer *t) { return t->add_bos; }
int32_t sl_tokenizer_byte_token(const sl_tokenizer *t, uint8_t byte) { return t->byte_id[byte]; }

const char *sl_tokenizer_piece(const sl_tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_vocab) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = t->piece_off[id + 1] - t->piece_off[id] - 1;
    return t->piece + t->piece_off[id];
}

const char *sl_tokenizer_text(const sl_tokenizer *t, int32_t id)
{
    if (id < 0 || id >= t->n_vocab)
        return NULL;
    return t->text + t->text_off[id];
}

bool sl_tokenizer_is_special(const sl_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && t->type[id] == SL_TOKEN_CONTROL;
}

int32_t sl_tokenizer_find(const sl_tokenizer *t, const char *text)
{
    if (!text)
        return -1;
    return vocab_lookup(t, text, strlen(text));
}

sl_status sl_tokens_reserve(sl_tokens *tokens, size_t more, sl_error *err)
{
    if (more > SIZE_MAX / sizeof(int32_t) - tokens->n)
        return sl_fail(err, SL_ERR_NO_MEMORY, "tokens: %zu more ids do not fit", more);
    size_t need = tokens->n + more;
    if (need <= tokens->capacity)
        return SL_OK;
    size_t cap = tokens->capacity ? tokens->capacity : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / sizeof(int32_t) / 2 ? need : cap * 2;
    int32_t *ids = realloc(tokens->ids, cap * sizeof *ids);
    if (!ids)
        return sl_fail(err, SL_ERR_NO_MEMORY, "tokens: out of memory for %zu ids", cap);
    tokens->ids = ids;
    tokens->capacity = cap;
    return SL_OK;
}

/* ---- encoding ----------------------------------------------------------------------- */

typedef struct {
    int32_t rank;
    int32_t result;
    int32_t left, right; /* the ids the pair had when queued */
    size_t pos;          /* index of the left symbol */
} heap_item;

typedef struct {
    const sl_tokenizer *tok;
    sl_tokens *out;
    sl_pre_work pre;
    int32_t *sym; /* id of the symbol starting at each byte; -1 once merged away */
    size_t *prev, *next;
    size_t sym_cap;
    heap_item *heap;
    size_t heap_n, heap_cap;
    char *mapped; /* a word in the byte-level alphabet (ignore_merges) */
    size_t mapped_cap;
} encoder;

static bool item_less(const heap_item *a, const heap_item *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static sl_status heap_push(encoder *e, heap_item it, sl_error *err)
{
    if (e->heap_n == e->heap_cap) {
        size_t cap = e->heap_cap ? e->heap_cap * 2 : 64;
        heap_item *h = realloc(e->heap, cap * sizeof *h);
        if (!h)
            return sl_fail(err, SL_ERR_NO_MEMORY, "tokenizer: out of memory");
        e->heap = h;
        e->heap_cap = cap;
    }
    size_t i = e->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!item_less(&it, &e->heap[parent]))
            break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = it;
    return SL_OK;
}

static heap_item heap_pop(encoder *e)
{
    heap_item top = e->heap[0];
    heap_item last = e->heap[--e->heap_n];
    size_t i = 0, n = e->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && item_less(&e->heap[c + 1], &e->heap[c]))
            c++;
        if (!item_less(&e->heap[c], &last))
            break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n)
        e->heap[i] = last;
    return top;
}

static sl_status push_pair(encoder *e, size_t left, size_t right, sl_error *err)
{
    const merge_slot *m = merge_lookup(e->tok, e->sym[left], e->sym[right]);
    if (!m)
        return SL_OK;
    return heap_push(e, (heap_item){m->rank, m->result, e->sym[left], e->sym[right], left}, err);
}

static sl_status grow_symbols(encoder *e, size_t n, sl_error *err)
{
    if (n <= e->sym_cap)
        return SL_OK;
    size_t cap = e->sym_cap ? e->sym_cap : 64;
    while (cap < n)
        cap *= 2;
    int32_t *sym = realloc(e->sym, cap * sizeof *sym);
    if (sym)
        e->sym = sym;
    size_t *prev = realloc(e->prev, cap * sizeof *prev);
    if (prev)
        e->prev = prev;
    size_t *next = realloc(e->next, cap * sizeof *next);
    if (next)
        e->next = next;
    if (!sym || !prev || !next)
        return sl_fail(err, SL_ERR_NO_MEMORY, "tokenizer: out of memory for a %zu-byte word", n);
    e->sym_cap = cap;
    return SL_OK;
}

static sl_status append_id(encoder *e, int32_t id, sl_error *err)
{
    sl_status st = sl_tokens_reserve(e->out, 1, err);
    if (st)
        return st;
    e->out->ids[e->out->n++] = id;
    return SL_OK;
}

/* Whole word as one token, when ignore_merges and it is in the vocabulary. */
static int32_t whole_word(encoder *e, const unsigned char *w, size_t n, sl_error *err,
                          sl_status *st)
{
    *st = SL_OK;
    if (n > SIZE_MAX / 2)
        return -1;
    if (2 * n > e->mapped_cap) {
        char *m = realloc(e->mapped, 2 * n);
        if (!m) {
            *st = sl_fail(err, SL_ERR_NO_MEMORY, "tokenizer: out of memory");
            return -1;
        }
        e->mapped = m;
        e->mapped_cap = 2 * n;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += put_utf8(e->mapped + k, byte_to_cp(w[i]));
    return vocab_lookup(e->tok, e->mapped, k);
}

static sl_status bpe_word(void *ctx, const char *piece, size_t n, sl_error *err)
{
    encoder *e = ctx;
    const sl_tokenizer *t = e->tok;
    const unsigned char *w = (const unsigned char *)piece;
    sl_status st;
    if (n == 1)
        return t->byte_id[w[0]] < 0 ? SL_OK : append_id(e, t->byte_id[w[0]], err);
    if (t->ignore_merges) {
        int32_t id = whole_word(e, w, n, err, &st);
        if (st)
            return st;
        if (id >= 0)
            return append_id(e, id, err);
    }
    if ((st = grow_symbols(e, n, err)))
        return st;
    /* One symbol per byte; bytes without a token are left out, so their
     * neighbours meet (as in `tokenizers`). */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (t->byte_id[w[i]] >= 0)
            e->sym[k++] = t->byte_id[w[i]];
    n = k;
    if (n == 0)
        return SL_OK;
    for (size_t i = 0; i < n; i++) {
        e->prev[i] = i ? i - 1 : NONE;
        e->next[i] = i + 1 < n ? i + 1 : NONE;
    }
    e->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if ((st = push_pair(e, i, i + 1, err)))
            return st;
    while (e->heap_n) {
        heap_item it = heap_pop(e);
        size_t l = it.pos;
        if (e->sym[l] != it.left)
            continue;
        size_t r = e->next[l];
        if (r == NONE || e->sym[r] != it.right)
            continue;
        e->sym[l] = it.result;
        e->sym[r] = -1;
        e->next[l] = e->next[r];
        if (e->next[r] != NONE)
            e->prev[e->next[r]] = l;
        if (e->prev[l] != NONE && (st = push_pair(e, e->prev[l], l, err)))
            return st;
        if (e->next[l] != NONE && (st = push_pair(e, l, e->next[l], err)))
            return st;
    }
    for (size_t i = 0; i != NONE; i = e->next[i])
        if ((st = append_id(e, e->sym[i], err)))
            return st;
    return SL_OK;
}

/* The special token matching at text[pos..n), longest first; NULL if none. */
static const special_entry *match_special(const sl_tokenizer *t, const char *text, size_t n,
                                          size_t pos)
{
    const unsigned char *u = (const unsigned char *)text + pos;
    size_t avail = n - pos;
    size_t lo = 0, hi = t->n_specials;
    const special_entry *best = NULL;
    /* [lo, hi) holds the specials whose first k bytes equal u[0..k). */
    for (size_t k = 0; k < avail && lo < hi; k++) {
        unsigned c = u[k];
        size_t a = lo, b = hi;
        /* First entry whose byte k is >= c (entries of length k sort first). */
        while (a < b) {
            size_t mid = a + (b - a) / 2;
            const special_entry *s = &t->specials[mid];
            if (s->len <= k || (unsigned char)s->text[k] < c)
                a = mid + 1;
            else
                b = mid;
        }
        size_t new_lo = a;
        b = hi;
        while (a < b) {
            size_t mid = a + (b - a) / 2;
            if ((unsigned char)t->specials[mid].text[k] <= c)
                a = mid + 1;
            else
                b = mid;
        }
        lo = new_lo;
        hi = a;
        if (lo < hi && t->specials[lo].len == k + 1)
            best = &t->specials[lo];
    }
    return best;
}

sl_status sl_tokenizer_encode(const sl_tokenizer *t, const char *text, size_t n,
                              bool parse_special, sl_tokens *out, sl_error *err)
{
    if (!t || !out || (!text && n))
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "tokenizer: no text or output given");
    encoder e = {.tok = t, .out = out};
    sl_status st = SL_OK;
    size_t start = 0;
    if (parse_special && t->n_specials) {
        for (size_t pos = 0; pos < n && st == SL_OK;) {
            const special_entry *s = NULL;
            if (t->special_first[(unsigned char)text[pos]])
                s = match_special(t, text, n, pos);
            if (!s) {
                pos++;
                continue;
            }
            if (pos > start)
                st = sl_pretokenize(t->pre, text + start, pos - start, &e.pre, bpe_word, &e, err);
            if (st == SL_OK)
                st = append_id(&e, s->id, err);
            pos += s->len;
            start = pos;
        }
    }
    if (st == SL_OK && n > start)
        st = sl_pretokenize(t->pre, text + start, n - start, &e.pre, bpe_word, &e, err);
    sl_pre_work_free(&e.pre);
    free(e.sym);
    free(e.prev);
    free(e.next);
    free(e.heap);
    free(e.mapped);
    return st;
}
