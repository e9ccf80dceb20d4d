/* selection.c: the compact serialised form of selection records.
 *
 * Little-endian; "varint" is LEB128 (7 bits a byte, low first):
 *   "SLSL"  u32 version (1 or 2)
 *   varint n_layers, top_k, n_positions, bin_width, n_bins, n_records
 *   n_layers × n_bins varint bin counts
 *   per record: varint query_pos, u8 answer (0/1), varint n_top, then n_top ×
 *     version 1: (varint position, varint votes)
 *     version 2: (varint position, (n_layers + 7) / 8 bytes: the layers that
 *                selected it, bit l % 8 of byte l / 8; its votes are the bits set)
 * Decoding checks every count, position and layer bit against the file's own
 * header and the bytes left, so a hostile blob gives an error, never a bad
 * read. Version 1 is still read: its records have no layers (top_layers NULL). */
#include "error.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_LAYERS = 4096, MAX_TOP = 1 << 20 };

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    bool failed;
} writer;

static void put(writer *w, const void *p, size_t n)
{
    if (w->failed)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *b = realloc(w->buf, cap);
        if (!b) {
            w->failed = true;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put_varint(writer *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        b[n++] |= v ? 0x80 : 0;
    } while (v);
    put(w, b, n);
}

sl_status sl_selections_encode(const sl_selection_view *v, uint8_t **out, size_t *len, sl_error *err)
{
    size_t width = (v->n_positions + SL_SELECTION_BINS - 1) / SL_SELECTION_BINS;
    width = width ? width : 1;
    size_t n_bins = (v->n_positions + width - 1) / width;
    writer w = {0};
    /* Version 2 where every record knows its layers (a session's do); version 1 keeps what a
     * view without them has, such as one decoded from version 1. */
    uint32_t version = 2;
    for (size_t i = 0; i < v->n_records; i++)
        if (!v->records[i].top_layers)
            version = 1;
    size_t lb = ((size_t)v->n_layers + 7) / 8;
    put(&w, "SLSL", 4);
    put(&w, &version, 4);
    uint64_t head[] = {(uint64_t)v->n_layers, (uint64_t)v->top_k, v->n_positions, width, n_bins,
                       v->n_records};
    for (size_t i = 0; i < sizeof head / sizeof *head; i++)
        put_varint(&w, head[i]);
    for (int l = 0; l < v->n_layers; l++)
        for (size_t b = 0; b < n_bins; b++) {
            uint64_t sum = 0;
            for (size_t p = b * width; p < (b + 1) * width && p < v->n_positions; p++)
                sum += v->counts[(size_t)l * v->stride + p];
            put_varint(&w, sum > UINT32_MAX ? UINT32_MAX : sum);
        }
    for (size_t i = 0; i < v->n_records; i++) {
        const sl_selection_record *r = &v->records[i];
        uint8_t answer = r->answer;
        put_varint(&w, (uint64_t)r->query_pos);
        put(&w, &answer, 1);
        put_varint(&w, (uint64_t)r->n_top);
        for (int t = 0; t < r->n_top; t++) {
            put_varint(&w, (uint64_t)r->top_pos[t]);
            if (version == 1)
                put_varint(&w, r->top_votes[t]);
            else
                put(&w, r->top_layers + (size_t)t * lb, lb);
        }
    }
    if (w.failed) {
        free(w.buf);
        return sl_fail(err, SL_ERR_NO_MEMORY, "selections: out of memory encoding %zu records",
                       v->n_records);
    }
    *out = w.buf;
    *len = w.len;
    return SL_OK;
}

/* ---- decoding ------------------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
} reader;

static bool get_varint(reader *r, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return false;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return v <= max;
        }
    }
    return false;
}

typedef struct {
    sl_selections pub;
    uint32_t *bins;
    sl_selection_record *records;
    int32_t *top_pos;
    uint16_t *top_votes;
    uint8_t *top_layers; /* version 2 */
} selections_owned;

void sl_selections_free(sl_selections *s)
{
    selections_owned *o = (selections_owned *)s;
    if (!o)
        return;
    free(o->bins);
    free(o->records);
    free(o->top_pos);
    free(o->top_votes);
    free(o->top_layers);
    free(o);
}

/* Votes of one entry's layer bytes; false when a bit names a layer past n_layers. */
static bool layer_votes(const uint8_t *mask, size_t lb, int n_layers, uint64_t *votes)
{
    uint64_t n = 0;
    for (size_t b = 0; b < lb; b++) {
        unsigned v = mask[b];
        if (b == lb - 1 && n_layers % 8 && (v >> (n_layers % 8)))
            return false;
        for (; v; v &= v - 1)
            n++;
    }
    *votes = n;
    return true;
}

static sl_status decode_records(reader *r, selections_owned *o, int version, size_t *first,
                                sl_error *err)
{
    size_t n_top_total = 0, cap = 0, lb = ((size_t)o->pub.n_layers + 7) / 8;
    /* the fewest bytes an entry takes: a varint and its votes or layer bytes */
    size_t entry_min = version == 1 ? 2 : 1 + lb;
    for (size_t i = 0; i < o->pub.n_records; i++) {
        uint64_t q, n_top;
        if (!get_varint(r, o->pub.n_positions ? o->pub.n_positions - 1 : 0, &q) || r->p >= r->end ||
            *r->p > 1)
            return sl_fail(err, SL_ERR_FORMAT, "selections: record %zu is malformed", i);
        bool answer = *r->p++;
        if (!get_varint(r, MAX_TOP, &n_top) || n_top > (size_t)(r->end - r->p) / entry_min)
            return sl_fail(err, SL_ERR_FORMAT, "selections: record %zu has a bad count", i);
        if (n_top_total + n_top > cap) {
            cap = (n_top_total + n_top) * 2;
            int32_t *tp = realloc(o->top_pos, cap * sizeof *tp);
            if (tp)
                o->top_pos = tp;
            uint16_t *tv = tp ? realloc(o->top_votes, cap * sizeof *tv) : NULL;
            if (tv)
                o->top_votes = tv;
            uint8_t *tl = tv && version == 2 ? realloc(o->top_layers, cap * lb) : NULL;
            if (tl)
                o->top_layers = tl;
            if (!tp || !tv || (version == 2 && !tl))
                return sl_fail(err, SL_ERR_NO_MEMORY, "selections: out of memory");
        }
        for (uint64_t t = 0; t < n_top; t++) {
            uint64_t pos, votes;
            bool ok = get_varint(r, q, &pos);
            if (ok && version == 1)
                ok = get_varint(r, UINT16_MAX, &votes);
            else if (ok) {
                ok = (size_t)(r->end - r->p) >= lb &&
                     layer_votes(r->p, lb, o->pub.n_layers, &votes);
                if (ok) {
                    memcpy(o->top_layers + (n_top_total + t) * lb, r->p, lb);
                    r->p += lb;
                }
            }
            if (!ok)
                return sl_fail(err, SL_ERR_FORMAT, "selections: record %zu, entry %llu is malformed",
                               i, (unsigned long long)t);
            o->top_pos[n_top_total + t] = (int32_t)pos;
            o->top_votes[n_top_total + t] = (uint16_t)votes;
        }
        /* pointers are set once the arrays stop moving */
        o->records[i] = (sl_selection_record){(int32_t)q, answer, (int)n_top, NULL, NULL, NULL, NULL};
        first[i] = n_top_total;
        n_top_total += n_top;
    }
    for (size_t i = 0; i < o->pub.n_records; i++) {
        o->records[i].top_pos = o->top_pos + first[i];
        o->records[i].top_votes = o->top_votes + first[i];
        if (version == 2)
            o->records[i].top_layers = o->top_layers + first[i] * lb;
    }
    return SL_OK;
}

sl_status sl_selections_decode(const uint8_t *data, size_t len, sl_selections **out, sl_error *err)
{
    reader r = {data, data + len};
    uint32_t version;
    if (len < 8 || memcmp(data, "SLSL", 4) != 0)
        return sl_fail(err, SL_ERR_FORMAT, "selections: not a selection record (bad magic)");
    memcpy(&version, data + 4, 4);
    if (version != 1 && version != 2)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "selections: version %u is not supported", version);
    r.p += 8;
    uint64_t h[6];
    static const uint64_t max[6] = {MAX_LAYERS, 1u << 24, 1u << 30, 1u << 30, SL_SELECTION_BINS, 1u << 30};
    for (int i = 0; i < 6; i++)
        if (!get_varint(&r, max[i], &h[i]))
            return sl_fail(err, SL_ERR_FORMAT, "selections: header field %d is malformed", i);
    if (h[3] == 0 || h[4] != (h[2] + h[3] - 1) / h[3] || h[0] * h[4] > (uint64_t)(r.end - r.p) ||
        h[5] > (uint64_t)(r.end - r.p) || (h[5] > 0 && h[2] == 0))
        return sl_fail(err, SL_ERR_FORMAT, "selections: the header does not fit the data");
    selections_owned *o = calloc(1, sizeof *o);
    if (!o)
        return sl_fail(err, SL_ERR_NO_MEMORY, "selections: out of memory");
    o->pub = (sl_selections){(int)h[0], (int)h[1], h[2], h[3], h[4], NULL, h[5], NULL, (int)version};
    size_t n_bins = (size_t)(h[0] * h[4]);
    o->bins = malloc((n_bins ? n_bins : 1) * sizeof *o->bins);
    o->records = malloc((h[5] ? h[5] : 1) * sizeof *o->records);
    sl_status st = o->bins && o->records ? SL_OK
                                         : sl_fail(err, SL_ERR_NO_MEMORY, "selections: out of memory");
    for (size_t i = 0; st == SL_OK && i < n_bins; i++) {
        uint64_t c;
        if (!get_varint(&r, UINT32_MAX, &c))
            st = sl_fail(err, SL_ERR_FORMAT, "selections: bin %zu is malformed", i);
        else
            o->bins[i] = (uint32_t)c;
    }
    size_t *first = st == SL_OK ? malloc((h[5] ? h[5] : 1) * sizeof *first) : NULL;
    if (st == SL_OK && !first)
        st = sl_fail(err, SL_ERR_NO_MEMORY, "selections: out of memory");
    if (st == SL_OK)
        st = decode_records(&r, o, (int)version, first, err);
    free(first);
    if (st == SL_OK && r.p != r.end)
        st = sl_fail(err, SL_ERR_FORMAT, "selections: %zu bytes after the last record",
                     (size_t)(r.end - r.p));
    if (st != SL_OK) {
        sl_selections_free(&o->pub);
        return st;
    }
    o->pub.bins = o->bins;
    o->pub.records = o->records;
    *out = &o->pub;
    return SL_OK;
}
