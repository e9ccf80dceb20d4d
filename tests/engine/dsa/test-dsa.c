/* DSA in a session, on the tiny random llama and on the default model:
 * - top-k ≥ the sequence: every path (dense kernel, forced sparse path)
 *   gives the dense logits; at the boundary the short and sparse paths agree;
 * - a small top-k changes the logits (the selection matters);
 * - the records agree with a brute-force aggregation of the raw per-layer
 *   selections (votes, top M, per-layer counts, and the layer bits of each
 *   top position: a word's heat over any range of layers). */
#include "../test-util.h"

static double rel_diff(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / den);
}

/* All logits of ids under the given DSA options (dense when opt is NULL). */
static float *run_logits(sl_engine *e, const int32_t *ids, size_t n, const sl_dsa_options *opt,
                         sl_session **keep)
{
    size_t vocab = (size_t)sl_engine_model(e)->n_vocab;
    float *out = malloc(n * vocab * sizeof(float));
    sl_session *s = NULL;
    sl_error err = {0};
    CHECKF(sl_session_new(e, n + 8, &s, &err) == SL_OK, "%s", err.message);
    if (opt)
        CHECKF(sl_session_set_dsa(s, opt, &err) == SL_OK, "%s", err.message);
    CHECKF(sl_session_prefill_all_logits(s, ids, n, out, &err) == SL_OK, "%s", err.message);
    if (keep)
        *keep = s;
    else
        sl_session_free(s);
    return out;
}

static void check_equivalence(sl_engine *e, const int32_t *ids, size_t n)
{
    size_t vocab = (size_t)sl_engine_model(e)->n_vocab;
    float *dense = run_logits(e, ids, n, NULL, NULL);
    sl_dsa_options o = sl_dsa_default();
    o.mode = SL_DSA_ORACLE;
    o.top_k = (int)n; /* covers everything: the dense kernel runs */
    float *short_path = run_logits(e, ids, n, &o, NULL);
    CHECKF(memcmp(short_path, dense, n * vocab * sizeof(float)) == 0, "short path is not dense");
    o.sparse_always = true; /* the sparse path over every position */
    float *sparse = run_logits(e, ids, n, &o, NULL);
    double d = rel_diff(sparse, dense, n * vocab);
    fprintf(stderr, "  top-k = L, sparse path vs dense: %.2e\n", d);
    CHECKF(d < 1e-5, "sparse path vs dense: %g", d);

    /* the boundary: k = n/2; rows below it take the short path in one run and
     * the sparse path in the other, and the two agree at every row */
    o.top_k = (int)(n / 2);
    o.sparse_always = false;
    float *mixed = run_logits(e, ids, n, &o, NULL);
    o.sparse_always = true;
    float *all_sparse = run_logits(e, ids, n, &o, NULL);
    d = rel_diff(mixed, all_sparse, n * vocab);
    fprintf(stderr, "  top-k = L/2, short+sparse vs sparse-only: %.2e\n", d);
    CHECKF(d < 1e-5, "boundary: %g", d);
    double changed = rel_diff(mixed + (n - 1) * vocab, dense + (n - 1) * vocab, vocab);
    fprintf(stderr, "  top-k = L/2, last row vs dense: %.2e\n", changed);
    CHECKF(changed > 1e-4, "a top-k of half the context changed nothing: %g", changed);
    free(dense);
    free(short_path);
    free(sparse);
    free(mixed);
    free(all_sparse);
}

static void check_records(sl_engine *e, const int32_t *ids, size_t n)
{
    sl_dsa_options o = sl_dsa_default();
    o.mode = SL_DSA_ORACLE;
    o.top_k = 8;
    o.record_top_m = 5;
    o.record_question = 6;
    o.record_raw = true;
    sl_session *s = NULL;
    free(run_logits(e, ids, n, &o, &s));
    sl_error err = {0};
    int32_t tok;
    sl_sampling greedy = sl_sampling_default();
    greedy.temperature = 0;
    for (int i = 0; i < 3; i++)
        CHECK(sl_session_next(s, &greedy, &tok, &err) == SL_OK);
    sl_selection_view v;
    CHECK(sl_session_selections(s, &v, &err) == SL_OK);
    CHECKF(v.n_records == 6 + 3, "%zu records", v.n_records);
    int L = v.n_layers;
    uint32_t *counts = calloc((size_t)L * v.n_positions, sizeof *counts);
    uint16_t *votes = calloc(v.n_positions, sizeof *votes);
    for (size_t i = 0; i < v.n_records; i++) {
        const sl_selection_record *r = &v.records[i];
        CHECK(r->answer == (i >= 6));
        CHECK(r->query_pos == (int32_t)(i < 6 ? n - 6 + i : n + (i - 6)));
        CHECK(r->raw != NULL);
        memset(votes, 0, v.n_positions * sizeof *votes);
        for (int l = 0; l < L; l++)
            for (int j = 0; j < v.top_k; j++) {
                int32_t p = r->raw[l * v.top_k + j];
                CHECK(p >= -1 && p <= r->query_pos);
                if (p >= 0) {
                    votes[p]++;
                    counts[(size_t)l * v.n_positions + (size_t)p]++;
                }
            }
        /* brute force top M: votes descending, then position ascending */
        CHECK(r->n_top == 5);
        for (int t = 0; t < r->n_top; t++) {
            int32_t best = -1;
            for (int32_t p = 0; p <= r->query_pos; p++) {
                bool taken = false;
                for (int u = 0; u < t; u++)
                    taken |= r->top_pos[u] == p;
                if (!taken && (best < 0 || votes[p] > votes[best]))
                    best = p;
            }
            CHECKF(r->top_pos[t] == best && r->top_votes[t] == votes[best],
                   "record %zu rank %d: %d (%u votes), want %d (%u)", i, t, r->top_pos[t],
                   r->top_votes[t], best, votes[best]);
        }
        /* The word's heat over layers a..b from the record's layer bits equals what the
         * raw per-layer selections give, for every range (one layer, halves, all). */
        CHECK(r->top_layers != NULL);
        size_t lb = ((size_t)L + 7) / 8;
        for (int a = 0; r->top_layers && a < L; a++)
            for (int b = a; b < L; b++)
                for (int t = 0; t < r->n_top; t++) {
                    int from_bits = 0, from_raw = 0;
                    for (int l = a; l <= b; l++) {
                        from_bits += (r->top_layers[(size_t)t * lb + (size_t)l / 8] >> (l % 8)) & 1;
                        for (int j = 0; j < v.top_k; j++)
                            from_raw += r->raw[l * v.top_k + j] == r->top_pos[t];
                    }
                    CHECKF(from_bits == from_raw, "record %zu, position %d, layers %d-%d: %d "
                           "from the layer bits, %d from the raw selections", i, r->top_pos[t],
                           a, b, from_bits, from_raw);
                    if (a == 0 && b == L - 1)
                        CHECK(from_bits == r->top_votes[t]);
                }
    }
    int wrong = 0;
    for (int l = 0; l < L; l++)
        for (size_t p = 0; p < v.n_positions; p++)
            wrong += counts[(size_t)l * v.n_positions + p] != v.counts[(size_t)l * v.stride + p];
    CHECKF(wrong == 0, "%d per-layer counts differ from the raw selections", wrong);
    free(counts);
    free(votes);
    sl_session_free(s);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s TINY-MODEL.gguf\n", argv[0]);
        return 2;
    }
    sl_engine_options opt = {.model_path = argv[1], .n_threads = 2};
    sl_engine *e = NULL;
    sl_error err = {0};
    CHECKF(sl_engine_open(&opt, &e, &err) == SL_OK, "%s", err.message);
    if (!e)
        return sl_test_finish();
    int32_t ids[60];
    uint64_t x = 99;
    for (size_t i = 0; i < 60; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((x >> 33) % 256);
    }
    check_equivalence(e, ids, 60);
    check_records(e, ids, 40);
    sl_engine_close(e);
    return sl_test_finish();
}
