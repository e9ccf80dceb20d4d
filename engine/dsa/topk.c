/* topk.c: exact, streaming top-k over one row of scores.
 *
 * Each score maps to a 32-bit rank key that orders exactly as the ranking:
 * NaN is 0, -0 is folded onto +0, negatives have all their bits flipped and
 * non-negatives get the sign bit set, so -inf < ... < -0 = +0 < ... < +inf
 * as unsigned integers, and every non-NaN key is at least key(-inf) > 0.
 * Equal keys rank by position, lower first.
 *
 * The selector keeps a buffer of up to cap = 2·k_max candidates (rank key,
 * position and the score as pushed), always in increasing position order.
 * While the buffer has never been full every score is a candidate. When it
 * fills, an exact selection keeps the k best: a radix select over the rank
 * keys finds the key prefix of the k-th best and how many entries with that
 * prefix belong to the k. It skips the leading bits that all keys share
 * (from their minimum and maximum), then takes read-only histogram passes of
 * 8 bits, stopping early once a whole bucket is kept. A stable filter then
 * keeps every key above the prefix and the first (lowest-position) entries
 * at it. Let v be the lowest key kept (the k-th best's). From then on a new
 * score is a candidate only if its key is > v: one with key v comes at a
 * higher position than every kept entry with key v, so it ranks below the
 * k-th best. The threshold only rises, so the pruning is exact, and the
 * kept entries stay in position order, so the result needs no sort.
 *
 * Pushes test blocks of 16 scores against the threshold with a branch-free
 * reduction first, so a row whose scores are mostly below the k-th best
 * costs about one vector compare per score; a block with a candidate is
 * appended without branches. Memory: sl_topk_bytes(k_max) (12 bytes per
 * candidate slot, 2·k_max + 16 slots), allocated once; nothing is allocated
 * per row or per push. */
#include "topk.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

#define SL_TOPK_BLOCK 16

/* The largest k_max: the buffer's counts stay below 2^31. */
#define SL_TOPK_K_MAX ((size_t)1 << 29)

typedef struct {
    int32_t pos;
    float score; /* as pushed */
} slot;

struct sl_topk {
    size_t k_max;
    size_t cap;      /* 2·k_max (at least 2): a compaction when reached */
    size_t k;        /* the current row's k */
    size_t count;    /* candidates in the buffer */
    uint32_t accept; /* a score is a candidate iff its key >= accept */
    uint32_t *key;   /* [cap + SL_TOPK_BLOCK], the rank keys */
    slot *slots;     /* [cap + SL_TOPK_BLOCK], increasing positions */
};

#define SL_TOPK_ENTRY (sizeof(uint32_t) + sizeof(slot))

/* The rank key of a score (see the top of the file); branch-free, so that
 * loops over it vectorise. */
static inline uint32_t rank_key(float s)
{
    uint32_t bits;
    memcpy(&bits, &s, sizeof bits);
    uint32_t mag = bits & 0x7fffffffu;
    bits &= (uint32_t)0 - (uint32_t)(mag != 0); /* -0 ranks as +0 */
    uint32_t key = bits ^ (((uint32_t)0 - (bits >> 31)) | 0x80000000u);
    return key & ((uint32_t)0 - (uint32_t)(mag <= 0x7f800000u)); /* NaN is 0 */
}

static size_t buffer_cap(size_t k_max)
{
    return k_max < 1 ? 2 : 2 * k_max;
}

size_t sl_topk_bytes(size_t k_max)
{
    if (k_max > SL_TOPK_K_MAX)
        return SIZE_MAX;
    return sizeof(sl_topk) + (buffer_cap(k_max) + SL_TOPK_BLOCK) * SL_TOPK_ENTRY;
}

sl_status sl_topk_new(size_t k_max, sl_topk **out, sl_error *err)
{
    *out = NULL;
    if (k_max > SL_TOPK_K_MAX)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "top-k: k_max %zu is too large (at most %zu)",
                       k_max, SL_TOPK_K_MAX);
    sl_topk *t = calloc(1, sizeof *t);
    if (!t)
        return sl_fail(err, SL_ERR_NO_MEMORY, "top-k: out of memory for the selector");
    t->k_max = k_max;
    t->cap = buffer_cap(k_max);
    const size_t n_slots = t->cap + SL_TOPK_BLOCK;
    t->key = malloc(n_slots * sizeof *t->key);
    t->slots = malloc(n_slots * sizeof *t->slots);
    if (!t->key || !t->slots) {
        sl_topk_free(t);
        return sl_fail(err, SL_ERR_NO_MEMORY, "top-k: out of memory for %zu candidates (%zu bytes)",
                       n_slots, sl_topk_bytes(k_max));
    }
    sl_topk_begin(t, k_max);
    *out = t;
    return SL_OK;
}

void sl_topk_free(sl_topk *topk)
{
    if (!topk)
        return;
    free(topk->key);
    free(topk->slots);
    free(topk);
}

void sl_topk_begin(sl_topk *topk, size_t k)
{
    topk->k = k < topk->k_max ? k : topk->k_max;
    topk->count = 0;
    /* k = 0 keeps nothing: no key reaches UINT32_MAX (key(+inf) = 0xff800000). */
    topk->accept = topk->k ? 0 : UINT32_MAX;
}

/* Keeps the k best of the buffer (count > k >= 1), in position order, and
 * raises the threshold to just above the k-th best key. Branch-free inner
 * loops; four interleaved histograms so that runs of equal digits do not
 * serialise on one counter. */
static void compact(sl_topk *t)
{
    const size_t n = t->count;
    uint32_t *restrict key = t->key;
    slot *restrict sl = t->slots;

    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        lo = key[i] < lo ? key[i] : lo;
        hi = key[i] > hi ? key[i] : hi;
    }
    /* The k-th best key is prefix on the bits of mask; need of the entries
     * matching it belong to the k. Bits [0, bit) are still open. */
    uint32_t prefix = lo, mask = UINT32_MAX;
    size_t need = t->k;
    int all_at = 0; /* every entry matching the prefix is kept */
    if (lo != hi) {
        int bit = 31;
        while (!((lo ^ hi) >> bit))
            bit--;
        bit++; /* the keys share their bits from `bit` up */
        mask = bit == 32 ? 0 : UINT32_MAX << bit;
        prefix = lo & mask;
        uint32_t hist[4][256];
        while (bit > 0 && !all_at) {
            const int width = bit < 8 ? bit : 8, shift = bit - width;
            const uint32_t dmask = ((uint32_t)1 << width) - 1;
            memset(hist, 0, sizeof hist);
            size_t i = 0;
            for (; i + 4 <= n; i += 4)
                for (size_t u = 0; u < 4; u++)
                    hist[u][(key[i + u] >> shift) & dmask] += (key[i + u] & mask) == prefix;
            for (; i < n; i++)
                hist[0][(key[i] >> shift) & dmask] += (key[i] & mask) == prefix;
            size_t b = dmask;
            for (;;) {
                const size_t h = (size_t)hist[0][b] + hist[1][b] + hist[2][b] + hist[3][b];
                if (h >= need) {
                    all_at = h == need;
                    break;
                }
                need -= h;
                b--; /* the matching entries number at least need, so b stays >= 0 */
            }
            prefix |= (uint32_t)b << shift;
            mask |= dmask << shift;
            bit = shift;
        }
    }
    /* Keep the entries whose masked key is above prefix, and the first
     * `need` (lowest positions) of those equal to it: those before index
     * cut. Note the lowest key kept. Slot j <= i is free to overwrite. */
    size_t cut = n;
    if (!all_at) {
        cut = 0;
        for (size_t seen = 0; seen < need; cut++)
            seen += (key[cut] & mask) == prefix;
    }
    size_t j = 0;
    uint32_t min_key = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        const uint32_t kk = key[i], m = kk & mask;
        const size_t take = (m > prefix) | ((m == prefix) & (i < cut));
        min_key = take && kk < min_key ? kk : min_key;
        key[j] = kk;
        sl[j] = sl[i];
        j += take;
    }
    t->count = j; /* == k */
    t->accept = min_key + 1; /* min_key <= key(+inf) < UINT32_MAX */
}

/* Appends scores[0..m), m <= SL_TOPK_BLOCK, those that pass the threshold,
 * without branches: each is written and the count advances by the test.
 * The buffer has SL_TOPK_BLOCK slots beyond cap for this. */
static inline void append(sl_topk *t, const float *scores, size_t m, int64_t first_pos)
{
    const uint32_t accept = t->accept;
    uint32_t *restrict key = t->key;
    slot *restrict sl = t->slots;
    size_t c = t->count;
    for (size_t j = 0; j < m; j++) {
        const uint32_t kk = rank_key(scores[j]);
        key[c] = kk;
        sl[c] = (slot){(int32_t)(first_pos + (int64_t)j), scores[j]};
        c += kk >= accept;
    }
    t->count = c;
    if (c >= t->cap)
        compact(t);
}

void sl_topk_push(sl_topk *topk, const float *scores, size_t n, int32_t first_pos)
{
    if (n == 0)
        return;
    /* Positions first_pos .. first_pos + n - 1 must fit in int32_t; the
     * rest of an overlong chunk is ignored rather than wrapped. */
    if (n - 1 > (size_t)((int64_t)INT32_MAX - first_pos))
        n = (size_t)((int64_t)INT32_MAX - first_pos) + 1;
    size_t i = 0;
    for (; i + SL_TOPK_BLOCK <= n; i += SL_TOPK_BLOCK) {
        /* Most blocks hold no candidate: a reduction that vectorises. */
        const uint32_t accept = topk->accept;
        uint32_t hit = 0;
        for (size_t j = 0; j < SL_TOPK_BLOCK; j++)
            hit |= (uint32_t)(rank_key(scores[i + j]) >= accept);
        if (hit)
            append(topk, scores + i, SL_TOPK_BLOCK, (int64_t)first_pos + (int64_t)i);
    }
    if (i < n)
        append(topk, scores + i, n - i, (int64_t)first_pos + (int64_t)i);
}

size_t sl_topk_end(sl_topk *topk, int32_t *positions, float *scores)
{
    if (topk->count > topk->k)
        compact(topk);
    const size_t n = topk->count;
    for (size_t i = 0; i < n; i++)
        positions[i] = topk->slots[i].pos;
    if (scores)
        for (size_t i = 0; i < n; i++)
            scores[i] = topk->slots[i].score;
    return n;
}

size_t sl_topk_row(sl_topk *topk, const float *scores, size_t n, size_t k, int32_t *positions)
{
    sl_topk_begin(topk, k);
    sl_topk_push(topk, scores, n, 0);
    return sl_topk_end(topk, positions, NULL);
}
