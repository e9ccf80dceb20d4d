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
 * - two sessions of one engine decode in turn, each on its own graph. */
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
    sl_tokens_free(&ids);
    sl_engine_close(eg), sl_engine_close(ep);
    return sl_test_finish();
}
