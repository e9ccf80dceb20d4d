/* The oracle (DSA) of the default model on the GPU against the same on the
 * CPU: the heads' attention mass on the device, its exact top-k, and sparse
 * attention over the selection. The GPU computes in BF16, so near-ties may
 * choose differently: the selected sets must overlap by at least 90% on
 * average (every recorded row, every layer) and the logits stay within 5e-2
 * of the CPU's. Also: every selection is causal and of the right size; the
 * share of the mass kept is in (0, 1]; decoding records each answer token;
 * and with top-k at least the length the oracle equals dense attention. */
#include "../engine/test-util.h"

enum { K = 64, RECORD = 16 };

static const char *TEXT =
    "The lighthouse keeper had kept the same routine for thirty-one years. Every evening, an hour "
    "before sunset, he climbed the ninety-four iron steps with a can of paraffin in one hand and a "
    "cloth in the other, polished the great lens until it threw his own face back at him a hundred "
    "times, and trimmed the wick with a care that bordered on ceremony. The ships that passed the "
    "point never saw him; they saw only the light, turning its slow circle over the water, and "
    "trusted it the way one trusts the ground underfoot. When the letter came from the harbour "
    "board announcing that the light would be automated in the spring, he read it twice, folded it "
    "into quarters, and put it in the drawer with the tide tables. Then he went up the steps as "
    "usual, and that night he stayed at the top until dawn.";

static sl_session *oracle_session(sl_engine *e, size_t max, int k)
{
    sl_dsa_options o = sl_test_dsa_options(SL_DSA_ORACLE, k, RECORD);
    return sl_test_dsa_session(e, max, &o);
}

static int by_value(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* |A ∩ B| of two -1 padded lists of k positions. */
static size_t overlap(const int32_t *a, const int32_t *b, size_t k)
{
    int32_t x[K], y[K];
    size_t nx = 0, ny = 0, same = 0;
    for (size_t j = 0; j < k; j++) {
        if (a[j] >= 0)
            x[nx++] = a[j];
        if (b[j] >= 0)
            y[ny++] = b[j];
    }
    qsort(x, nx, 4, by_value);
    qsort(y, ny, 4, by_value);
    for (size_t i = 0, j = 0; i < nx && j < ny;)
        x[i] == y[j] ? (same++, i++, j++) : x[i] < y[j] ? i++ : j++;
    return same;
}

int main(void)
{
    if (!sl_test_has_gpu())
        return 77;
    sl_error err = {0};
    sl_engine *cpu = NULL, *gpu = NULL;
    sl_engine_options oc = {.model_path = sl_test_model_path(), .n_threads = 4};
    sl_engine_options og = {.model_path = sl_test_model_path(), .device = "cuda:0"};
    CHECKF(sl_engine_open(&oc, &cpu, &err) == SL_OK, "%s", err.message);
    CHECKF(sl_engine_open(&og, &gpu, &err) == SL_OK, "%s", err.message);
    sl_tokens ids = {0};
    CHECK(cpu && sl_tokenize(cpu, TEXT, strlen(TEXT), false, &ids, &err) == SL_OK);
    if (!cpu || !gpu || ids.n < 2 * K)
        return sl_test_finish();
    size_t n = ids.n, vocab = (size_t)sl_engine_model(cpu)->n_vocab;
    float *lc = malloc(n * vocab * 4), *lg = malloc(n * vocab * 4), *ld = malloc(n * vocab * 4);

    sl_session *sc = oracle_session(cpu, n + 8, K), *sg = oracle_session(gpu, n + 8, K);
    CHECKF(sl_session_prefill_all_logits(sc, ids.ids, n, lc, &err) == SL_OK, "%s", err.message);
    CHECKF(sl_session_prefill_all_logits(sg, ids.ids, n, lg, &err) == SL_OK, "%s", err.message);
    double worst = 0;
    for (size_t t = 0; t < n; t++) {
        double r = sl_rel_error(lg + t * vocab, lc + t * vocab, vocab);
        worst = r > worst ? r : worst;
    }
    CHECKF(worst <= 5e-2, "oracle logits: GPU against CPU %.3g", worst);

    sl_selection_view vc, vg;
    CHECK(sl_session_selections(sc, &vc, &err) == SL_OK && sl_session_selections(sg, &vg, &err) == SL_OK);
    CHECK(vc.n_records == RECORD && vg.n_records == RECORD);
    double same = 0, total = 0;
    for (size_t r = 0; r < vg.n_records && r < vc.n_records; r++) {
        const sl_selection_record *a = &vg.records[r], *b = &vc.records[r];
        CHECK(a->query_pos == b->query_pos);
        for (int l = 0; l < vg.n_layers; l++) {
            const int32_t *ga = a->raw + (size_t)l * K, *cb = b->raw + (size_t)l * K;
            size_t valid = 0;
            for (int j = 0; j < K; j++) {
                CHECK(ga[j] <= a->query_pos);
                valid += ga[j] >= 0;
            }
            CHECK(valid == K);
            same += (double)overlap(ga, cb, K);
            total += K;
        }
    }
    CHECKF(total > 0 && same / total >= 0.9, "selections overlap %.3f", total > 0 ? same / total : 0);
    for (int l = 0; vg.mass_kept && l < vg.n_layers; l++)
        CHECKF(vg.mass_kept[l] > 0 && vg.mass_kept[l] <= 1.0 + 1e-6, "layer %d keeps %g", l,
               vg.mass_kept[l]);
    CHECK(vg.mass_kept != NULL);

    /* decoding on the GPU records every answer token */
    sl_sampling greedy = sl_sampling_default();
    greedy.temperature = 0;
    for (int i = 0; i < 4; i++) {
        int32_t tok;
        CHECKF(sl_session_next(sg, &greedy, &tok, &err) == SL_OK, "%s", err.message);
    }
    CHECK(sl_session_selections(sg, &vg, &err) == SL_OK && vg.n_records == RECORD + 4 &&
          vg.records[vg.n_records - 1].answer);

    /* top-k at least the length: the oracle is dense attention */
    sl_session *dense = NULL, *all = oracle_session(gpu, n, (int)n);
    CHECK(sl_session_new(gpu, n, &dense, &err) == SL_OK);
    CHECK(sl_session_prefill_all_logits(dense, ids.ids, n, ld, &err) == SL_OK);
    CHECK(sl_session_prefill_all_logits(all, ids.ids, n, lg, &err) == SL_OK);
    double same_dense = sl_rel_error(lg, ld, n * vocab);
    CHECKF(same_dense <= 1e-6, "top-k %zu against dense: %.3g", n, same_dense);
    fprintf(stderr, "%zu tokens, top-k %d: logits within %.2e of the CPU's, selections overlap "
            "%.1f%%, top-k ≥ length equals dense (%.1e)\n", n, K, worst, 100 * same / total,
            same_dense);

    sl_session_free(sc), sl_session_free(sg), sl_session_free(dense), sl_session_free(all);
    sl_tokens_free(&ids);
    free(lc), free(lg), free(ld);
    sl_engine_close(cpu);
    sl_engine_close(gpu);
    return sl_test_finish();
}
