/* test-topk.c: the streaming exact top-k of DSA (engine/dsa/topk.h) against
 * a brute-force oracle: sort the whole row by the ranking (higher score
 * first, NaN last, equal scores by lower position), take k, sort the
 * positions. The oracle compares floats directly (no bit tricks), so it is
 * independent of the selector's rank keys.
 *
 * Rows: random; all equal; ReLU-like (the SGLang repro: L = 8320, k = 2048,
 * 100 winners + 8220 zeros); heavy ties at the threshold; ±inf; NaN (some
 * and all, any sign and payload); -0 with +0; k > L, k = 1, k = 0, L = 1;
 * L in {1, 2, 3, 17, 1000, 2048, 2049, 65536, 131072, 2^20}; increasing and
 * decreasing rows (a compaction every k scores); ulp-adjacent scores; many
 * small rows with few values. Every row goes through a selector shared by
 * all rows (k_max = 8192: reuse) and a tight one (k_max = k: a compaction
 * every k candidates), in one push, through sl_topk_row, and in chunks of
 * random sizes (0 and 1 included) at an offset first position, which must
 * all give the oracle's positions, in increasing order, with the scores as
 * pushed (bit for bit: -0 and NaN payloads kept).
 *
 * Memory: a row of L = 131072 is scored tile by tile (4096 scores into one
 * small buffer) and streamed into a selector for k_max = 2048. Bound: the
 * selector's sl_topk_bytes(2048) plus the tile is at most 64 KiB + tile, and
 * the peak RSS grows by less than 1/8 of the [rows × L] float matrix that is
 * never built (64 × 131072 × 4 B = 32 MiB, so under 4 MiB). */
#include "../test-util.h"

#include "dsa/topk.h"

#include <stdint.h>
#include <sys/resource.h>

/* ---- deterministic generators ---- */

static uint64_t rng_state = 0x5eed5eed1234abcdull;

static uint64_t next_u64(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t below(size_t n) { return n ? (size_t)(next_u64() % n) : 0; }

static float uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)((next_u64() >> 40) * (1.0 / 16777216.0));
}

static float from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

/* NaNs of either sign, quiet or signalling, with various payloads. */
static float some_nan(void)
{
    static const uint32_t nans[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800001u,
                                    0x7fffffffu, 0xffffffffu, 0x7fa12345u};
    return from_bits(nans[below(sizeof nans / sizeof nans[0])]);
}

/* ---- the oracle ---- */

typedef struct {
    float s;
    int32_t pos;
} entry;

static int cmp_rank(const void *pa, const void *pb)
{
    const entry *a = pa, *b = pb;
    int na = isnan(a->s), nb = isnan(b->s);
    if (na != nb)
        return na ? 1 : -1;
    if (!na && a->s != b->s)
        return a->s > b->s ? -1 : 1; /* -0 == +0 here: a tie */
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static int cmp_i32(const void *pa, const void *pb)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return a < b ? -1 : a > b;
}

static size_t oracle(const float *s, size_t n, size_t k, int32_t first_pos, int32_t *out)
{
    entry *e = malloc((n ? n : 1) * sizeof *e);
    if (!e) {
        fprintf(stderr, "oracle: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        e[i] = (entry){s[i], first_pos + (int32_t)i};
    qsort(e, n, sizeof *e, cmp_rank);
    size_t m = k < n ? k : n;
    for (size_t i = 0; i < m; i++)
        out[i] = e[i].pos;
    qsort(out, m, sizeof *out, cmp_i32);
    free(e);
    return m;
}

/* ---- checking one row ---- */

static sl_topk *sel;        /* one selector for every row below: reuse is tested too */
static size_t sel_k_max;
static int32_t *want_pos, *got_pos, *got_pos2;
static float *got_score;
static size_t out_cap;

/* Compares a result with the oracle's; reports the first difference. */
static void compare(const char *what, const char *how, const float *s, size_t n, size_t k,
                    int32_t first_pos, size_t want_n, size_t got_n, const int32_t *got,
                    const float *got_s)
{
    CHECKF(got_n == want_n, "%s (%s): L=%zu k=%zu: %zu selected, want %zu", what, how, n, k, got_n,
           want_n);
    size_t m = got_n < want_n ? got_n : want_n;
    for (size_t i = 0; i < m; i++) {
        if (got[i] < first_pos || (uint64_t)((int64_t)got[i] - first_pos) >= n ||
            got[i] != want_pos[i]) {
            CHECKF(0, "%s (%s): L=%zu k=%zu: slot %zu is position %d, want %d", what, how, n, k, i,
                   (int)got[i], (int)want_pos[i]);
            return;
        }
        if (i && got[i] <= got[i - 1]) {
            CHECKF(0, "%s (%s): positions not increasing at slot %zu", what, how, i);
            return;
        }
        if (got_s && to_bits(got_s[i]) != to_bits(s[got[i] - first_pos])) {
            CHECKF(0, "%s (%s): slot %zu: score %08x, pushed %08x", what, how, i,
                   (unsigned)to_bits(got_s[i]), (unsigned)to_bits(s[got[i] - first_pos]));
            return;
        }
    }
    CHECK(1); /* count the row as one passing check */
}

/* Pushes a row into t in chunks of random sizes (0 and 1 included) from
 * position base on; returns the count and fills got_pos, got_score. */
static size_t push_chunked(sl_topk *t, const float *s, size_t n, size_t k, int32_t base,
                           size_t max_chunk)
{
    sl_topk_begin(t, k);
    size_t at = 0;
    while (at < n) {
        size_t c;
        switch (below(4)) {
        case 0: c = 0; break;
        case 1: c = 1; break;
        case 2: c = below(40); break;
        default: c = below(max_chunk); break;
        }
        if (c > n - at)
            c = n - at;
        sl_topk_push(t, s + at, c, base + (int32_t)at);
        at += c;
    }
    sl_topk_push(t, s + n, 0, base + (int32_t)n); /* empty at the end */
    return sl_topk_end(t, got_pos, got_score);
}

/* Checks one row against the oracle: with the shared selector (one push,
 * sl_topk_row, two chunkings at first position 1000), and with a tight one
 * (k_max = k, so the buffer compacts every k candidates): one push and one
 * chunking. */
static void check_row(const char *what, const float *s, size_t n, size_t k)
{
    if (k > out_cap || n > 0x7fffffff) {
        CHECKF(0, "%s: test sizes too large", what);
        return;
    }
    size_t k_eff = k < sel_k_max ? k : sel_k_max;
    size_t want_n = oracle(s, n, k_eff, 0, want_pos);

    sl_topk_begin(sel, k);
    sl_topk_push(sel, s, n, 0);
    size_t got_n = sl_topk_end(sel, got_pos, got_score);
    compare(what, "one push", s, n, k, 0, want_n, got_n, got_pos, got_score);

    got_n = sl_topk_row(sel, s, n, k, got_pos2);
    compare(what, "sl_topk_row", s, n, k, 0, want_n, got_n, got_pos2, NULL);

    sl_topk *tight = NULL;
    CHECK(sl_topk_new(k_eff, &tight, NULL) == SL_OK);
    if (tight) {
        got_n = sl_topk_row(tight, s, n, k_eff, got_pos2);
        compare(what, "tight selector", s, n, k, 0, want_n, got_n, got_pos2, NULL);
    }

    /* Chunked, at first position 1000: the oracle's positions shift by 1000. */
    const int32_t base = 1000;
    for (size_t i = 0; i < want_n; i++)
        want_pos[i] += base;
    got_n = push_chunked(sel, s, n, k, base, 600);
    compare(what, "small chunks", s, n, k, base, want_n, got_n, got_pos, got_score);
    got_n = push_chunked(sel, s, n, k, base, 9000);
    compare(what, "large chunks", s, n, k, base, want_n, got_n, got_pos, got_score);
    if (tight) {
        got_n = push_chunked(tight, s, n, k_eff, base, 3000);
        compare(what, "tight, chunks", s, n, k, base, want_n, got_n, got_pos, got_score);
        sl_topk_free(tight);
    }
}

/* ---- row kinds ---- */

static float *row; /* [2^20] */

static void fill_uniform(size_t n)
{
    for (size_t i = 0; i < n; i++)
        row[i] = uniform(-4.0f, 4.0f);
}

/* ReLU-like: mostly exact zeros, a few positive, quantised (many ties). */
static void fill_relu(size_t n, unsigned zero_per_256)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t h = next_u64();
        row[i] = (h & 0xff) < zero_per_256 ? 0.0f : (float)((h >> 8) % 64 + 1) * 0.125f;
    }
}

static void test_sizes(void)
{
    static const size_t sizes[] = {1, 2, 3, 17, 1000, 2048, 2049, 65536, 131072};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        size_t ks[] = {1, 2, 17, 2048, 2049, n, n + 1, 1 + below((n < 9000 ? n : 9000) + 10)};
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
            if (n >= 65536 && ki != 0 && ki != 3 && ki != 7)
                continue; /* keep the large rows few */
            char what[64];
            snprintf(what, sizeof what, "uniform L=%zu", n);
            fill_uniform(n);
            check_row(what, row, n, ks[ki]);
            snprintf(what, sizeof what, "relu L=%zu", n);
            fill_relu(n, 230);
            check_row(what, row, n, ks[ki]);
        }
    }
    /* L = 2^20 on three rows. */
    const size_t big = (size_t)1 << 20;
    fill_uniform(big);
    check_row("uniform L=2^20", row, big, 2048);
    fill_relu(big, 250);
    check_row("relu L=2^20", row, big, 2048);
    for (size_t i = 0; i < big; i++) /* quantised: ties at every threshold */
        row[i] = (float)(int)uniform(0.0f, 3000.0f);
    check_row("quantised L=2^20", row, big, 2048);
}

static void test_all_equal(void)
{
    const float values[] = {0.0f, -0.0f, 1.5f, -3.0f, INFINITY, -INFINITY, NAN, 1e-45f};
    const size_t n = 5000;
    for (size_t vi = 0; vi < sizeof values / sizeof values[0]; vi++) {
        for (size_t i = 0; i < n; i++)
            row[i] = values[vi];
        char what[64];
        snprintf(what, sizeof what, "all equal to %g", (double)values[vi]);
        check_row(what, row, n, 2048);
        check_row(what, row, n, 1);
        check_row(what, row, n, n);
        /* Expected directly: the lowest k positions. */
        size_t got = sl_topk_row(sel, row, n, 2048, got_pos);
        int ok = got == 2048;
        for (size_t i = 0; ok && i < got; i++)
            ok = got_pos[i] == (int32_t)i;
        CHECKF(ok, "%s: not positions 0..2047", what);
    }
    /* +0 and -0 mixed: one value, so the lowest positions win. */
    for (size_t i = 0; i < n; i++)
        row[i] = (next_u64() & 1) ? 0.0f : -0.0f;
    check_row("+0 and -0", row, n, 2048);
    size_t got = sl_topk_row(sel, row, n, 100, got_pos);
    CHECK(got == 100 && got_pos[0] == 0 && got_pos[99] == 99);
}

/* SGLang #30512: seq 8320, topk 2048, 100 winners + 8220 zeros gave 924 slots of -1. */
static void test_sglang_repro(void)
{
    const size_t n = 8320, k = 2048;
    for (int variant = 0; variant < 3; variant++) {
        for (size_t i = 0; i < n; i++)
            row[i] = 0.0f;
        for (int w = 0; w < 100;) {
            size_t p = below(n);
            if (row[p] == 0.0f) {
                /* distinct winners, equal winners, or winners equal among a tie */
                row[p] = variant == 0 ? uniform(0.01f, 5.0f) : variant == 1 ? 1.0f : 1e-30f;
                w++;
            }
        }
        check_row("SGLang repro", row, n, k);
        sl_topk_begin(sel, k);
        sl_topk_push(sel, row, n, 0);
        size_t got = sl_topk_end(sel, got_pos, got_score);
        size_t winners = 0, zeros = 0, bad = 0;
        int32_t last_zero = -1;
        for (size_t i = 0; i < got; i++) {
            if (got_pos[i] < 0 || (size_t)got_pos[i] >= n)
                bad++;
            else if (row[got_pos[i]] > 0.0f)
                winners++;
            else {
                zeros++;
                last_zero = got_pos[i];
            }
        }
        /* The zeros kept are the 1948 lowest-position zeros. */
        size_t zeros_upto = 0;
        for (int32_t p = 0; p <= last_zero; p++)
            zeros_upto += row[p] == 0.0f;
        CHECKF(got == k && winners == 100 && zeros == 1948 && bad == 0 && zeros_upto == 1948,
               "repro %d: %zu selected, %zu winners, %zu zeros, %zu invalid, %zu zeros up to %d",
               variant, got, winners, zeros, bad, zeros_upto, (int)last_zero);
    }
    /* A smaller k than the winners: only winners. */
    check_row("SGLang repro k=50", row, n, 50);
}

/* Thousands of scores exactly at the k-th value, at random positions. */
static void test_threshold_ties(void)
{
    const size_t n = 40000;
    for (int t = 0; t < 6; t++) {
        size_t above = below(2048);      /* scores above the threshold value */
        size_t at = 2048 - above + 1 + below(8000); /* at it: always more than fit */
        for (size_t i = 0; i < n; i++)
            row[i] = i < above ? 3.0f + (float)below(4) : i < above + at ? 2.0f : -(float)below(5);
        for (size_t i = n - 1; i > 0; i--) { /* shuffle */
            size_t j = below(i + 1);
            float x = row[i];
            row[i] = row[j];
            row[j] = x;
        }
        check_row("threshold ties", row, n, 2048);
        check_row("threshold ties k=1", row, n, 1);
        check_row("threshold ties k=2047", row, n, 2047);
    }
    /* Ties spread over the row, late ones at the threshold: pruning must
     * reject a later tie and keep earlier ones. */
    for (size_t i = 0; i < n; i++)
        row[i] = (float)(i % 7);
    check_row("periodic ties", row, n, 2048);
    check_row("periodic ties k=5715", row, n, 5715);
    /* Neighbouring floats (one ulp apart, both signs, across 0): an
     * off-by-one in the threshold shows here. */
    for (int t = 0; t < 4; t++) {
        for (size_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)below(t < 2 ? 3000 : 6);
            row[i] = t % 2 ? from_bits(0x3f800000u + u) : from_bits((next_u64() & 1) << 31 | u);
        }
        check_row("ulp neighbours", row, n, 2048);
        check_row("ulp neighbours k=1", row, n, 1);
    }
    for (size_t i = 0; i < n; i++)
        row[i] = from_bits(0xbf800000u - (uint32_t)i); /* increasing by one ulp */
    check_row("ulp increasing", row, n, 2048);
}

static void test_specials(void)
{
    const size_t n = 3000;
    /* ±inf among finite scores and ties. */
    for (int t = 0; t < 4; t++) {
        for (size_t i = 0; i < n; i++) {
            size_t r = below(100);
            row[i] = r < 5 ? INFINITY : r < 10 ? -INFINITY : r < 40 ? 0.0f : uniform(-1e30f, 1e30f);
        }
        check_row("inf", row, n, 2048);
        check_row("inf k=1", row, n, 1);
        check_row("inf k=2950", row, n, 2950); /* reaches into -inf */
        check_row("inf k=L", row, n, n);
    }
    /* Extremes next to inf: FLT_MAX, -FLT_MAX, denormals. */
    for (size_t i = 0; i < n; i++) {
        static const uint32_t b[] = {0x7f7fffffu, 0xff7fffffu, 0x00000001u, 0x80000001u,
                                     0x7f800000u, 0xff800000u, 0x00000000u, 0x80000000u};
        row[i] = from_bits(b[below(8)]);
    }
    check_row("extremes", row, n, 2048);
    check_row("extremes k=100", row, n, 100);
    /* Some NaN: selected only when fewer than k non-NaN scores. */
    for (int t = 0; t < 4; t++) {
        for (size_t i = 0; i < n; i++) {
            size_t r = below(100);
            row[i] = r < 30 ? some_nan() : r < 35 ? -INFINITY : r < 40 ? INFINITY : uniform(-2, 2);
        }
        check_row("some NaN", row, n, 2048); /* about 2100 non-NaN: no NaN selected */
        check_row("some NaN k=2500", row, n, 2500); /* NaN at the lowest positions */
        check_row("some NaN k=L", row, n, n);
        check_row("some NaN k=1", row, n, 1);
    }
    for (size_t i = 0; i < n; i++)
        row[i] = some_nan();
    check_row("all NaN", row, n, 2048);
    check_row("all NaN k=1", row, n, 1);
    size_t got = sl_topk_row(sel, row, n, 2048, got_pos);
    CHECK(got == 2048 && got_pos[0] == 0 && got_pos[2047] == 2047);
    /* NaN first then scores: NaN candidates must be dropped once better ones come. */
    for (size_t i = 0; i < n; i++)
        row[i] = i < 2500 ? some_nan() : uniform(-1, 1);
    check_row("NaN then scores", row, n, 400);
    check_row("NaN then scores k=600", row, n, 600);
}

static void test_small_and_k(void)
{
    /* L = 1, k > L, k = 0, k beyond k_max (taken as k_max). */
    row[0] = 0.5f;
    check_row("L=1", row, 1, 1);
    check_row("L=1 k=5", row, 1, 5);
    row[0] = NAN;
    check_row("L=1 NaN", row, 1, 1);
    fill_uniform(500);
    check_row("k>L", row, 500, 2048);
    check_row("k=0", row, 500, 0);
    check_row("L=0", row, 0, 10);
    fill_uniform(3 * sel_k_max);
    check_row("k>k_max", row, 3 * sel_k_max, sel_k_max + 7);
    /* Empty row from begin/end alone. */
    sl_topk_begin(sel, 10);
    CHECK(sl_topk_end(sel, got_pos, got_score) == 0);
    /* Negative first position, pushed one by one. */
    fill_uniform(300);
    size_t want_n = oracle(row, 300, 20, -150, want_pos);
    sl_topk_begin(sel, 20);
    for (size_t i = 0; i < 300; i++)
        sl_topk_push(sel, row + i, 1, -150 + (int32_t)i);
    size_t got_n = sl_topk_end(sel, got_pos, got_score);
    compare("negative positions", "one by one", row, 300, 20, -150, want_n, got_n, got_pos,
            got_score);
}

/* Increasing rows make every score a candidate (a compaction every k
 * scores); decreasing rows fill the buffer once; sawtooth in between. */
static void test_orders(void)
{
    const size_t n = 131072;
    for (size_t i = 0; i < n; i++)
        row[i] = (float)i;
    check_row("increasing", row, n, 2048);
    check_row("increasing k=1", row, n, 1);
    for (size_t i = 0; i < n; i++)
        row[i] = -(float)i;
    check_row("decreasing", row, n, 2048);
    for (size_t i = 0; i < n; i++)
        row[i] = (float)(i % 5000) + (float)(i / 5000) * 0.5f;
    check_row("sawtooth", row, n, 2048);
    for (size_t i = 0; i < n; i++) /* increasing by steps of equal scores */
        row[i] = (float)(i / 3000);
    check_row("increasing steps", row, n, 2048);
    for (int t = 0; t < 20; t++) {
        size_t m = 1 + below(20000), k = 1 + below(3000);
        int kind = (int)below(3);
        if (kind == 0)
            fill_uniform(m);
        else if (kind == 1)
            fill_relu(m, (unsigned)below(256));
        else
            for (size_t i = 0; i < m; i++)
                row[i] = (float)below(1 + below(50));
        check_row("random mix", row, m, k);
    }
    /* Many small rows, small k, few distinct values: a compaction every
     * few scores in the tight selector. */
    for (int t = 0; t < 400; t++) {
        size_t m = below(300), k = below(12);
        size_t values = 1 + below(6);
        for (size_t i = 0; i < m; i++) {
            size_t v = below(values + 1);
            row[i] = v == values ? (below(2) ? NAN : -INFINITY) : (float)v - 2.0f;
        }
        check_row("small rows", row, m, k);
    }
}

/* ---- the memory bound ---- */

/* The score of (row r, position s) as an indexer might produce it: a
 * ReLU-like head-weighted sum (many exact zeros) or a dense score. */
static float gen_score(uint64_t r, uint64_t s)
{
    uint64_t z = r * 0x9e3779b97f4a7c15ull + s * 0xc2b2ae3d27d4eb4full + 0x165667b19e3779f9ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    if (r % 2 == 0)
        return (z & 0xff) < 200 ? 0.0f : (float)((z >> 8) % 512) * (1.0f / 64.0f);
    return (float)((z >> 40) * (1.0 / 16777216.0)) * 8.0f - 4.0f;
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* KiB on Linux */
}

static void test_memory_bound(void)
{
    enum { ROWS = 64, L = 131072, K = 2048, TILE = 4096 };
    const size_t matrix_bytes = (size_t)ROWS * L * sizeof(float);
    const size_t bound = 64 * 1024 + TILE * sizeof(float);
    const size_t held = sl_topk_bytes(K) + TILE * sizeof(float);

    long rss0 = max_rss_kib();
    sl_topk *t = NULL;
    sl_error err = {0};
    CHECK(sl_topk_new(K, &t, &err) == SL_OK);
    float *tile = malloc(TILE * sizeof *tile);
    int32_t *pos = malloc(K * sizeof *pos);
    int32_t *kept = malloc(2 * K * sizeof *kept); /* rows 0 and 1, checked below */
    if (!t || !tile || !pos || !kept) {
        CHECK(0);
        return;
    }
    uint64_t checksum = 0;
    for (uint64_t r = 0; r < ROWS; r++) {
        sl_topk_begin(t, K);
        for (size_t at = 0; at < L; at += TILE) {
            for (size_t i = 0; i < TILE; i++)
                tile[i] = gen_score(r, at + i);
            sl_topk_push(t, tile, TILE, (int32_t)at);
        }
        size_t n = sl_topk_end(t, pos, NULL);
        CHECK(n == K);
        for (size_t i = 0; i < n; i++)
            checksum = checksum * 31 + (uint64_t)pos[i];
        if (r < 2)
            memcpy(kept + r * K, pos, K * sizeof *pos);
    }
    long rss1 = max_rss_kib();
    long growth = (rss1 - rss0) * 1024;

    fprintf(stderr,
            "memory bound: L=%d k=%d, %d rows in tiles of %d: selector %zu B + tile %zu B = %zu B "
            "(bound 64 KiB + tile = %zu B); peak RSS grew %ld KiB (bound %zu KiB = 1/8 of the "
            "%zu KiB [rows x L] matrix); checksum %016llx\n",
            L, K, ROWS, TILE, sl_topk_bytes(K), (size_t)TILE * sizeof(float), held, bound,
            growth / 1024, matrix_bytes / 8 / 1024, matrix_bytes / 1024,
            (unsigned long long)checksum);
    CHECKF(held <= bound, "selector + tile %zu B > %zu B", held, bound);
    CHECKF(growth < (long)(matrix_bytes / 8), "peak RSS grew %ld B", growth);

    /* The tiled rows are also exact: rebuild rows 0 and 1 whole for the oracle. */
    for (uint64_t r = 0; r < 2; r++) {
        for (size_t i = 0; i < L; i++)
            row[i] = gen_score(r, i);
        size_t want_n = oracle(row, L, K, 0, want_pos);
        compare("tiled memory-bound row", r ? "dense" : "relu", row, L, K, 0, want_n, K,
                kept + r * K, NULL);
    }
    sl_topk_free(t);
    free(tile);
    free(pos);
    free(kept);
}

static void test_new(void)
{
    static int dummy;
    sl_topk *t = (sl_topk *)(void *)&dummy; /* must be overwritten with NULL */
    sl_error err = {0};
    CHECK(sl_topk_new(SIZE_MAX, &t, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECK(t == NULL && err.code == SL_ERR_INVALID_ARGUMENT && err.message[0]);
    CHECK(sl_topk_new(SIZE_MAX / 2, &t, NULL) == SL_ERR_INVALID_ARGUMENT);
    sl_topk_free(NULL);
    CHECK(sl_topk_bytes(2048) <= 64 * 1024);
    CHECK(sl_topk_bytes(2048) < sl_topk_bytes(4096));
    /* k_max = 0: every row is empty. */
    CHECK(sl_topk_new(0, &t, &err) == SL_OK && t);
    if (t) {
        float x[3] = {1, 2, 3};
        int32_t p[1];
        CHECK(sl_topk_row(t, x, 3, 1, p) == 0);
        sl_topk_free(t);
    }
}

int main(void)
{
    sel_k_max = 8192;
    out_cap = 3 * sel_k_max + 64;
    sl_error err = {0};
    if (sl_topk_new(sel_k_max, &sel, &err) != SL_OK) {
        fprintf(stderr, "sl_topk_new: %s\n", err.message);
        return 1;
    }
    size_t row_cap = (size_t)1 << 20;
    row = malloc(row_cap * sizeof *row);
    want_pos = malloc(row_cap * sizeof *want_pos); /* the oracle may return up to n */
    got_pos = malloc(out_cap * sizeof *got_pos);
    got_pos2 = malloc(out_cap * sizeof *got_pos2);
    got_score = malloc(out_cap * sizeof *got_score);
    /* (Large blocks are mapped lazily: untouched, they add nothing to RSS.) */
    if (!row || !want_pos || !got_pos || !got_pos2 || !got_score) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }

    /* First, while the peak RSS is still that of a small process. */
    test_memory_bound();

    test_new();
    test_small_and_k();
    test_all_equal();
    test_sglang_repro();
    test_threshold_ties();
    test_specials();
    test_orders();
    test_sizes();

    sl_topk_free(sel);
    free(row);
    free(want_pos);
    free(got_pos);
    free(got_pos2);
    free(got_score);
    return sl_test_finish();
}
