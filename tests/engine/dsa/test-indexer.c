/* Indexer-mode DSA on the tiny llama against an oracle we did not write:
 * transformers' LlamaForCausalLM whose layers attend only where numpy's
 * indexer (on each layer's own input) selects (tests/reference/
 * make-indexer-fixture.py). Selections must be identical and logits within
 * 1e-4. Plus the indexer files the engine must refuse. */
#include "../test-util.h"

#include <stdint.h>

static const char *dir;

static char *path_in(const char *name)
{
    static char buf[4][1024];
    static int turn;
    char *p = buf[turn++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static void check_against_oracle(sl_engine *e, bool sparse_always)
{
    size_t len;
    uint8_t *g = sl_test_read_file(path_in("tiny-indexer-golden.bin"), &len);
    CHECK(g && len > 24 && memcmp(g, "SLIX", 4) == 0);
    if (!g)
        return;
    uint32_t hdr[5];
    memcpy(hdr, g + 4, sizeof hdr);
    uint32_t T = hdr[1], L = hdr[2], K = hdr[3], V = hdr[4];
    const int32_t *ids = (const int32_t *)(const void *)(g + 24);
    const int32_t *want_sel = ids + T;
    const float *want_logits = (const float *)(const void *)(want_sel + (size_t)L * T * K);
    CHECK(len == 24 + 4 * ((size_t)T + (size_t)L * T * K + (size_t)T * V));

    sl_session *s = NULL;
    sl_error err = {0};
    sl_dsa_options o = sl_dsa_default();
    o.mode = SL_DSA_INDEXER;
    o.top_k = (int)K;
    o.record_question = (int)T;
    o.record_raw = true;
    o.sparse_always = sparse_always;
    float *logits = malloc((size_t)T * V * sizeof(float));
    CHECK(sl_session_new(e, T, &s, &err) == SL_OK);
    CHECKF(sl_session_set_dsa(s, &o, &err) == SL_OK, "%s", err.message);
    CHECKF(sl_session_prefill_all_logits(s, ids, T, logits, &err) == SL_OK, "%s", err.message);
    sl_selection_view v;
    CHECK(sl_session_selections(s, &v, &err) == SL_OK);
    CHECK(v.n_records == T && v.top_k == (int)K && v.mass_kept == NULL);
    int wrong = 0;
    for (uint32_t t = 0; t < T && v.n_records == T; t++)
        for (uint32_t l = 0; l < L; l++)
            for (uint32_t j = 0; j < K; j++)
                wrong += v.records[t].raw[l * K + j] != want_sel[((size_t)l * T + t) * K + j];
    CHECKF(wrong == 0, "%d selected positions differ from the oracle's", wrong);
    double worst = 0;
    for (uint32_t t = 0; t < T; t++) {
        double num = 0, den = 0;
        for (uint32_t i = 0; i < V; i++) {
            double d = (double)logits[(size_t)t * V + i] - want_logits[(size_t)t * V + i];
            num += d * d;
            den += (double)want_logits[(size_t)t * V + i] * want_logits[(size_t)t * V + i];
        }
        worst = fmax(worst, sqrt(num / den));
    }
    fprintf(stderr, "  indexer mode%s: %d layers x %u rows selections match; worst logits error %.2e\n",
            sparse_always ? " (sparse path)" : "", (int)L, T, worst);
    CHECKF(worst <= 1e-4, "logits differ from the oracle by %g", worst);
    sl_session_free(s);
    free(logits);
    free(g);
}

static void expect_refused(sl_engine *e, const char *path, sl_status want, const char *words)
{
    sl_error err = {0};
    sl_status st = sl_engine_load_indexer(e, path, &err);
    CHECKF(st == want, "%s: %s, want %s (%s)", path, sl_status_name(st), sl_status_name(want), err.message);
    CHECKF(strstr(err.message, path) && strstr(err.message, words), "%s: message '%s' lacks '%s'", path,
           err.message, words);
}

/* With top-k ≥ the sequence, indexer mode is dense attention, on both paths. */
static void check_dense_equivalence(sl_engine *e)
{
    enum { T = 40 };
    int32_t ids[T];
    for (int i = 0; i < T; i++)
        ids[i] = (i * 53 + 7) % 256;
    size_t V = (size_t)sl_engine_model(e)->n_vocab;
    float *dense = malloc(T * V * sizeof(float)), *dsa = malloc(T * V * sizeof(float));
    sl_error err = {0};
    for (int run = 0; run < 3; run++) {
        sl_session *s = NULL;
        CHECK(sl_session_new(e, T, &s, &err) == SL_OK);
        if (run > 0) {
            sl_dsa_options o = sl_dsa_default();
            o.mode = SL_DSA_INDEXER;
            o.top_k = T;
            o.sparse_always = run == 2;
            CHECK(sl_session_set_dsa(s, &o, &err) == SL_OK);
        }
        CHECK(sl_session_prefill_all_logits(s, ids, T, run ? dsa : dense, &err) == SL_OK);
        sl_session_free(s);
        if (run == 0)
            continue;
        double worst = 0;
        for (size_t i = 0; i < T * V; i++)
            worst = fmax(worst, fabs((double)dsa[i] - dense[i]) / (fabs((double)dense[i]) + 1.0));
        CHECKF(worst < 1e-5, "indexer mode, top-k = L%s: differs from dense by %g",
               run == 2 ? " (sparse path)" : "", worst);
    }
    free(dense);
    free(dsa);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s tests/data/llama tests/data/safetensors/SOME.safetensors\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    sl_engine_options opt = {.model_path = path_in("tiny-llama.gguf"), .n_threads = 2};
    sl_engine *e = NULL;
    sl_error err = {0};
    CHECKF(sl_engine_open(&opt, &e, &err) == SL_OK, "%s", err.message);
    if (!e)
        return sl_test_finish();
    sl_session *s = NULL;
    sl_dsa_options o = sl_dsa_default();
    o.mode = SL_DSA_INDEXER;
    CHECK(sl_session_new(e, 8, &s, &err) == SL_OK);
    CHECK(sl_session_set_dsa(s, &o, &err) == SL_ERR_INVALID_ARGUMENT); /* none loaded yet */
    sl_session_free(s);

    expect_refused(e, path_in("no-such.safetensors"), SL_ERR_IO, "no-such");
    expect_refused(e, argv[2], SL_ERR_FORMAT, "not a Sightline indexer");
    expect_refused(e, path_in("broken/indexer-no-wk.safetensors"), SL_ERR_FORMAT, "layers.1.wk");
    expect_refused(e, path_in("broken/indexer-bad-layers.safetensors"), SL_ERR_FORMAT, "'layers'");
    expect_refused(e, path_in("broken/indexer-short-wq.safetensors"), SL_ERR_FORMAT, "layers.0.wq");
    expect_refused(e, path_in("broken/indexer-rope-too-wide.safetensors"), SL_ERR_FORMAT, "rope_dims");
    expect_refused(e, path_in("broken/indexer-version-2.safetensors"), SL_ERR_UNSUPPORTED, "version");
    CHECKF(sl_engine_load_indexer(e, path_in("tiny-indexer.safetensors"), &err) == SL_OK, "%s", err.message);
    check_against_oracle(e, false);
    check_against_oracle(e, true);
    check_dense_equivalence(e);
    sl_engine_close(e);

    /* the same file does not fit another model */
    opt.model_path = sl_test_model_path();
    CHECKF(sl_engine_open(&opt, &e, &err) == SL_OK, "%s", err.message);
    if (e) {
        expect_refused(e, path_in("tiny-indexer.safetensors"), SL_ERR_INVALID_ARGUMENT, "another model");
        sl_engine_close(e);
    }
    return sl_test_finish();
}
