/* Replaying selections (sl_session_replay), on the CPU, for both ways a
 * model selects (sl_dsa_attention: llama; the model's own rows:
 * DeepSeek-V3.2). Session A records its selections; then:
 * - an oracle session replaying A's view gives A's logits bit for bit (on
 *   DeepSeek A uses the indexer, so the oracle's own choice differs and only
 *   the replay makes them equal);
 * - replaying a view whose sparse rows keep only the first half of their
 *   positions changes the logits, while the session's own choice at the
 *   first layer, whose input no selection has touched, is still recorded
 *   and equals a plain oracle session's;
 * - a dense session, a view of other layers or top-k, a record without raw
 *   selections, past the session or naming a position its query cannot see
 *   are refused, and a refused replay leaves the session as it was:
 *   choosing for itself, or replaying what it replayed before. */
#include "../test-util.h"

enum { N = 120, K = 8 };

static const char *TEXT =
    "Every evening, an hour before sunset, the keeper climbed the ninety-four iron steps with a "
    "can of paraffin in one hand and a cloth in the other, polished the great lens until it threw "
    "his own face back at him a hundred times, and trimmed the wick with a care that bordered on "
    "ceremony. The ships that passed the point never saw him; they saw only the light, turning "
    "its slow circle over the water, and trusted it the way one trusts the ground underfoot.";

static sl_session *recording(sl_engine *e, sl_dsa_mode mode)
{
    sl_dsa_options o = sl_test_dsa_options(mode, K, N);
    return sl_test_dsa_session(e, N, &o);
}

static float *prefill(sl_session *s, const int32_t *ids, size_t vocab)
{
    float *out = calloc(N * vocab, sizeof(float));
    sl_error err = {0};
    CHECKF(s && sl_session_prefill_all_logits(s, ids, N, out, &err) == SL_OK, "%s", err.message);
    return out;
}

/* A copy of v whose rows that selected k positions keep the first k / 2. */
typedef struct {
    sl_selection_view view;
    sl_selection_record *records;
    int32_t *raw;
} halved_view;

static void halve(const sl_selection_view *v, halved_view *h)
{
    size_t per = (size_t)v->n_layers * (size_t)v->top_k;
    h->view = *v;
    h->records = malloc(v->n_records * sizeof *h->records);
    h->raw = malloc(v->n_records * per * sizeof *h->raw);
    for (size_t r = 0; r < v->n_records; r++) {
        h->records[r] = v->records[r];
        memcpy(h->raw + r * per, v->records[r].raw, per * sizeof *h->raw);
        for (size_t l = 0; l < (size_t)v->n_layers; l++) {
            int32_t *row = h->raw + r * per + l * (size_t)v->top_k;
            if (row[v->top_k - 1] >= 0) /* a sparse row */
                for (int j = v->top_k / 2; j < v->top_k; j++)
                    row[j] = -1;
        }
        h->records[r].raw = h->raw + r * per;
    }
    h->view.records = h->records;
}

static bool same_layer0(const sl_selection_view *a, const sl_selection_view *b)
{
    if (a->n_records != b->n_records)
        return false;
    for (size_t r = 0; r < a->n_records; r++)
        if (memcmp(a->records[r].raw, b->records[r].raw, (size_t)a->top_k * sizeof(int32_t)))
            return false;
    return true;
}

static void check_refusals(sl_engine *e, const sl_selection_view *va,
                           const int32_t *ids, const float *plain_oracle, size_t vocab)
{
    sl_error err = {0};
    sl_session *dense = NULL;
    CHECK(sl_session_new(e, N, &dense, &err) == SL_OK);
    sl_dsa_options o = sl_dsa_default();
    CHECK(sl_session_set_dsa(dense, &o, &err) == SL_OK);
    CHECK(sl_session_replay(dense, va, &err) == SL_ERR_INVALID_ARGUMENT);
    sl_session_free(dense);

    sl_session *b = recording(e, SL_DSA_ORACLE);
    sl_selection_view bad = *va;
    bad.top_k = K + 1;
    CHECK(sl_session_replay(b, &bad, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(err.message, "top-k") != NULL, "%s", err.message);
    bad = *va;
    bad.n_layers = va->n_layers + 1;
    CHECK(sl_session_replay(b, &bad, &err) == SL_ERR_INVALID_ARGUMENT);

    halved_view h;
    halve(va, &h);
    h.records[3].raw = NULL;
    CHECK(sl_session_replay(b, &h.view, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(err.message, "no raw") != NULL, "%s", err.message);
    h.records[3] = va->records[3];
    h.raw[(size_t)5 * (size_t)va->n_layers * K] = h.records[5].query_pos + 1; /* the future */
    h.records[5].raw = h.raw + (size_t)5 * (size_t)va->n_layers * K;
    CHECK(sl_session_replay(b, &h.view, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(err.message, "selects position") != NULL, "%s", err.message);
    h.records[5] = va->records[5];
    h.records[7].query_pos = N + 3;
    CHECK(sl_session_replay(b, &h.view, &err) == SL_ERR_INVALID_ARGUMENT);
    free(h.records), free(h.raw);

    /* after every refusal it still chooses for itself */
    float *lb = prefill(b, ids, vocab);
    CHECK(memcmp(lb, plain_oracle, N * vocab * sizeof(float)) == 0);
    free(lb);
    sl_session_free(b);
}

static void check_model(sl_engine *e, sl_dsa_mode mode_a, const char *name)
{
    size_t vocab = (size_t)sl_engine_model(e)->n_vocab;
    sl_tokens ids = {0};
    sl_error err = {0};
    CHECK(sl_tokenize(e, TEXT, strlen(TEXT), false, &ids, &err) == SL_OK && ids.n >= N);
    if (ids.n < N)
        return;
    sl_session *a = recording(e, mode_a), *c = recording(e, SL_DSA_ORACLE);
    float *la = prefill(a, ids.ids, vocab), *lc = prefill(c, ids.ids, vocab);
    sl_selection_view va, vc, vb, vp;
    CHECK(sl_session_selections(a, &va, &err) == SL_OK && va.n_records == N);
    CHECK(sl_session_selections(c, &vc, &err) == SL_OK);

    sl_session *b = recording(e, SL_DSA_ORACLE);
    CHECKF(sl_session_replay(b, &va, &err) == SL_OK, "%s", err.message);
    halved_view hostile;
    halve(&va, &hostile);
    hostile.raw[(size_t)9 * (size_t)va.n_layers * K + 1] = hostile.records[9].query_pos + 2;
    CHECK(sl_session_replay(b, &hostile.view, &err) == SL_ERR_INVALID_ARGUMENT);
    free(hostile.records), free(hostile.raw);
    float *lb = prefill(b, ids.ids, vocab); /* still A's selections, not the refused ones */
    CHECKF(memcmp(lb, la, N * vocab * sizeof(float)) == 0, "%s: replaying A is not A",
           name);
    CHECK(sl_session_selections(b, &vb, &err) == SL_OK && same_layer0(&vb, &vc));
    if (mode_a != SL_DSA_ORACLE) /* its own choice differs from what it replayed */
        CHECKF(!same_layer0(&vb, &va), "%s: the oracle chose as the indexer", name);

    halved_view h;
    halve(&va, &h);
    sl_session *p = recording(e, SL_DSA_ORACLE);
    CHECKF(sl_session_replay(p, &h.view, &err) == SL_OK, "%s", err.message);
    float *lp = prefill(p, ids.ids, vocab);
    double moved = sl_rel_error(lp, la, N * vocab);
    CHECKF(moved > 1e-3, "%s: half the selection moved the logits by %g", name, moved);
    CHECK(sl_session_selections(p, &vp, &err) == SL_OK && same_layer0(&vp, &vc));
    fprintf(stderr, "%s: replay equals the recording session; half selections move the "
            "logits by %.3f\n", name, moved);

    check_refusals(e, &va, ids.ids, lc, vocab);
    free(h.records), free(h.raw);
    free(la), free(lb), free(lc), free(lp);
    sl_session_free(a), sl_session_free(b), sl_session_free(c), sl_session_free(p);
    sl_tokens_free(&ids);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s LLAMA.gguf DEEPSEEK_DIR\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < 3; i++) {
        sl_engine *e = NULL;
        sl_error err = {0};
        sl_engine_options o = {.model_path = argv[i], .n_threads = 2, .device = "cpu"};
        CHECKF(sl_engine_open(&o, &e, &err) == SL_OK, "%s", err.message);
        if (e)
            check_model(e, i == 1 ? SL_DSA_ORACLE : SL_DSA_INDEXER, argv[i]);
        sl_engine_close(e);
    }
    return sl_test_finish();
}
