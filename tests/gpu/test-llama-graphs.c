/* Decode steps as one CUDA graph, captured on a session's first step and
 * replayed with the token and position read on the device, against the same
 * steps launched one kernel at a time (no_graphs), on the small llama
 * (tests/data/llama/small-llama.gguf):
 * - the session says it decodes on a graph, and the other that it does not;
 * - greedy decoding on the graph, the other session fed the same tokens:
 *   every step's logits within 2e-3 of the other's (only the split of the
 *   key range differs, by the one made for the session's longest context);
 * - the session emptied back to an earlier position and decoded again: the
 *   graph reads the new positions (its logits still match);
 * - two sessions of one engine decode in turn, each on its own graph;
 * - under DSA, with the oracle and with an indexer file (small-indexer.
 *   safetensors beside the model) and top-k 80, decode steps from position
 *   70 to 109: the first ten attend densely, the rest over their selection,
 *   so the session captures its step again once; on the graph too, every
 *   step's logits within 2e-3 of launches, the indexer's selections equal
 *   and the oracle's (its mass summed by float atomics, so near-ties may
 *   fall either way) overlapping by 99%. */
#include "../engine/test-util.h"

enum { MAX = 600, PROMPT = 70, STEPS = 40, BACK = 31 };

static const char *TEXT =
    "The lighthouse keeper had kept the same routine for thirty-one years. Every evening, an hour "
    "before sunset, he climbed the ninety-four iron steps.";

static sl_engine *open_engine(const char *path, bool graphs)
{
    sl_engine *e = NULL;
    sl_error err = {0};
    sl_engine_options o = {.model_path = path, .device = "cuda:0", .no_graphs = !graphs};
    CHECKF(sl_engine_open(&o, &e, &err) == SL_OK, "%s", err.message);
    char indexer[4096];
    const char *slash = strrchr(path, '/');
    snprintf(indexer, sizeof indexer, "%.*ssmall-indexer.safetensors",
             slash ? (int)(slash - path + 1) : 0, path);
    CHECKF(!e || sl_engine_load_indexer(e, indexer, &err) == SL_OK, "%s", err.message);
    return e;
}

static sl_session *prefilled(sl_engine *e, const int32_t *ids, size_t n)
{
    sl_session *s = NULL;
    sl_error err = {0};
    CHECKF(e && sl_session_new(e, MAX, &s, &err) == SL_OK, "%s", err.message);
    CHECKF(s && sl_session_prefill(s, ids, n, NULL, &err) == SL_OK, "%s", err.message);
    return s;
}

/* steps greedy tokens on g (the graph); each fed to plain, logits compared. */
static double decode_both(sl_session *g, sl_session *plain, int steps, size_t vocab)
{
    sl_sampling greedy = sl_sampling_default();
    greedy.temperature = 0;
    sl_error err = {0};
    double worst = 0;
    for (int i = 0; i < steps && g && plain; i++) {
        int32_t t;
        CHECKF(sl_session_next(g, &greedy, &t, &err) == SL_OK, "%s", err.message);
        CHECKF(sl_session_prefill(plain, &t, 1, NULL, &err) == SL_OK, "%s", err.message);
        const float *a = sl_session_logits(g), *b = sl_session_logits(plain);
        double r = a && b ? sl_rel_error(a, b, vocab) : 1.0;
        worst = r > worst || isnan(r) ? r : worst;
    }
    return worst;
}

/* Selections of the decode rows: equal in how many of their positions, as
 * sets, over every layer. */
static double selections_overlap(sl_session *a, sl_session *b)
{
    sl_selection_view va, vb;
    sl_error err = {0};
    if (!a || !b || sl_session_selections(a, &va, &err) || sl_session_selections(b, &vb, &err) ||
        va.n_records != vb.n_records || !va.records[0].raw || !vb.records[0].raw)
        return 0;
    size_t same = 0, total = 0, per = (size_t)va.n_layers * (size_t)va.top_k;
    for (size_t r = 0; r < va.n_records; r++)
        for (size_t i = 0; i < per; i++) {
            int32_t x = va.records[r].raw[i];
            if (x < 0)
                continue;
            total++;
            const int32_t *row = vb.records[r].raw + i / (size_t)va.top_k * (size_t)va.top_k;
            for (int j = 0; j < va.top_k; j++)
                if (row[j] == x) {
                    same++;
                    break;
                }
        }
    return total ? (double)same / (double)total : 0;
}

/* DSA decode on the graph against launches, across the step where rows
 * first see more than k positions. */
static void check_dsa(sl_engine *eg, sl_engine *ep, const int32_t *ids, sl_dsa_mode mode,
                      size_t vocab)
{
    sl_dsa_options o = sl_test_dsa_options(mode, 80, 1);
    o.record_raw = true;
    sl_session *g = sl_test_dsa_session(eg, MAX, &o), *p = sl_test_dsa_session(ep, MAX, &o);
    sl_error err = {0};
    CHECK(g && p && sl_session_prefill(g, ids, PROMPT, NULL, &err) == SL_OK &&
          sl_session_prefill(p, ids, PROMPT, NULL, &err) == SL_OK);
    double worst = decode_both(g, p, STEPS, vocab), overlap = selections_overlap(g, p);
    const char *name = mode == SL_DSA_ORACLE ? "oracle" : "indexer";
    CHECKF(worst <= 2e-3, "%s: graph against launches: %.3g", name, worst);
    CHECKF(mode == SL_DSA_ORACLE ? overlap >= 0.99 : overlap == 1.0,
           "%s: selections overlap %.4f", name, overlap);
    CHECK(sl_session_decodes_on_graph(g) && !sl_session_decodes_on_graph(p));
    fprintf(stderr, "DSA %s, top-k 80, positions %d to %d: graph against launches %.1e, "
            "selections overlap %.4f\n", name, PROMPT, PROMPT + STEPS - 1, worst, overlap);
    sl_session_free(g), sl_session_free(p);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s small-llama.gguf\n", argv[0]);
        return 2;
    }
    if (!sl_test_has_gpu())
        return 77;
    sl_error err = {0};
    sl_engine *eg = open_engine(argv[1], true), *ep = open_engine(argv[1], false);
    sl_tokens ids = {0};
    CHECK(eg && sl_tokenize(eg, TEXT, strlen(TEXT), false, &ids, &err) == SL_OK && ids.n >= PROMPT);
    if (!eg || !ep || ids.n < PROMPT)
        return sl_test_finish();
    size_t vocab = (size_t)sl_engine_model(eg)->n_vocab;

    sl_session *g = prefilled(eg, ids.ids, PROMPT), *p = prefilled(ep, ids.ids, PROMPT);
    double first = decode_both(g, p, STEPS, vocab);
    CHECKF(first <= 2e-3, "graph against launches: %.3g", first);
    CHECK(sl_session_decodes_on_graph(g) && !sl_session_decodes_on_graph(p));

    /* back to an earlier position, then on again from there */
    sl_session_truncate(g, BACK), sl_session_truncate(p, BACK);
    CHECK(sl_session_prefill(g, ids.ids + BACK, 5, NULL, &err) == SL_OK);
    CHECK(sl_session_prefill(p, ids.ids + BACK, 5, NULL, &err) == SL_OK);
    double again = decode_both(g, p, STEPS, vocab);
    CHECKF(again <= 2e-3, "after emptying back to %d: %.3g", BACK, again);

    /* a second session of the same engine, in turn with the first */
    sl_session *g2 = prefilled(eg, ids.ids + 3, PROMPT - 3), *p2 = prefilled(ep, ids.ids + 3, PROMPT - 3);
    double turns = 0;
    for (int i = 0; i < 8; i++) {
        double a = decode_both(g, p, 2, vocab), b = decode_both(g2, p2, 3, vocab);
        turns = a > turns ? a : turns;
        turns = b > turns ? b : turns;
    }
    CHECKF(turns <= 2e-3, "two sessions in turn: %.3g", turns);
    CHECK(sl_session_decodes_on_graph(g) && sl_session_decodes_on_graph(g2));
    fprintf(stderr, "decode graph against launches, %d + %d steps: %.1e; after emptying back to "
            "%d: %.1e; two sessions in turn: %.1e\n", PROMPT, STEPS, first, BACK, again, turns);

    sl_session_free(g), sl_session_free(p), sl_session_free(g2), sl_session_free(p2);
    check_dsa(eg, ep, ids.ids, SL_DSA_ORACLE, vocab);
    check_dsa(eg, ep, ids.ids, SL_DSA_INDEXER, vocab);
    sl_tokens_free(&ids);
    sl_engine_close(eg), sl_engine_close(ep);
    return sl_test_finish();
}
