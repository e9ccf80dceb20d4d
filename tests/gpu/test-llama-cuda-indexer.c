/* A lightning indexer file (llama family) on the GPU against the same model
 * and file on the CPU, for an indexer of the tensor-core kernel's shape and
 * one of a shape only the generic kernel takes (tests/data/llama,
 * make-small-llama.py).
 *
 * The GPU computes in BF16, so near-ties among the indexer's scores may
 * choose differently, and on this random model with peaked attention one
 * other position among 16 moves a row's output far: BF16 weights alone, on
 * the CPU, move its logits by up to 1.2 (relative) in indexer mode, against
 * 3e-2 in dense mode. So the CPU replays the GPU's selections
 * (sl_session_replay) and the logits are compared on the same attended sets:
 * every prefill row and every decoded step within 8e-2 of the CPU's (dense,
 * the GPU measured 5.1e-2 on an H100, where BF16 weights alone give 2.9e-2).
 * The CPU still makes its own choices on those inputs: the selected sets must
 * overlap the GPU's by at least 95% over every row and selecting layer, and
 * at the first layer, whose input no selection has touched, every position
 * the GPU selects must be among the CPU's best 2k there. Also: every
 * selection is causal, of min(k, t + 1) distinct positions; layers without
 * an indexer select nothing; decoding records each answer token; with top-k
 * at least the length, indexer mode equals dense attention, and the sparse
 * path forced over every position stays within 2e-2 of it. The GPU uploads
 * a file's weights once, when the engine loads it: an engine that loaded one
 * file and then another gives sessions the same logits, bit for bit, as an
 * engine that loaded only the second. */
#include "../engine/test-util.h"

enum { K = 16, DECODE = 4 };

static const char *TEXT =
    "The lighthouse keeper had kept the same routine for thirty-one years. Every evening, an hour "
    "before sunset, he climbed the ninety-four iron steps with a can of paraffin in one hand and a "
    "cloth in the other, polished the great lens until it threw his own face back at him a hundred "
    "times, and trimmed the wick with a care that bordered on ceremony. The ships that passed the "
    "point never saw him; they saw only the light, turning its slow circle over the water, and "
    "trusted it the way one trusts the ground underfoot. When the letter came from the harbour "
    "board announcing that the light would be automated in the spring, he read it twice, folded it "
    "into quarters, and put it in the drawer with the tide tables.";

static const char *dir;

static const char *path_in(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static sl_engine *open_engine(const char *device, const char *indexer)
{
    sl_engine *e = NULL;
    sl_error err = {0};
    sl_engine_options o = {.model_path = path_in("small-llama.gguf"), .n_threads = 2,
                           .device = device};
    CHECKF(sl_engine_open(&o, &e, &err) == SL_OK, "%s", err.message);
    if (e)
        CHECKF(sl_engine_load_indexer(e, path_in(indexer), &err) == SL_OK, "%s", err.message);
    return e;
}

static sl_session *indexer_session(sl_engine *e, size_t max, int k, bool sparse_always)
{
    sl_dsa_options o = sl_test_dsa_options(SL_DSA_INDEXER, k, (int)max); /* every row */
    o.sparse_always = sparse_always;
    return sl_test_dsa_session(e, max, &o);
}

static bool contains(const int32_t *list, size_t n, int32_t p)
{
    for (size_t j = 0; j < n; j++)
        if (list[j] == p)
            return true;
    return false;
}

typedef struct {
    double same, total;     /* positions both chose, positions the CPU chose */
    size_t far;             /* first-layer positions outside the CPU's best 2k */
    size_t bad;             /* selections not causal, not distinct or of the wrong size */
} agreement;

/* One GPU record against the CPU's record of the same query (k) and the
 * CPU's top-2k one (wide), layer by layer. */
static void compare(const sl_selection_record *g, const sl_selection_record *c,
                    const sl_selection_record *wide, int n_layers, agreement *a)
{
    size_t want = (size_t)g->query_pos + 1 < K ? (size_t)g->query_pos + 1 : K;
    bool first_selecting = true;
    for (int l = 0; l < n_layers; l++) {
        const int32_t *gl = g->raw + (size_t)l * K, *cl = c->raw + (size_t)l * K;
        size_t valid = 0, cpu_valid = 0;
        for (int j = 0; j < K; j++) {
            valid += gl[j] >= 0;
            cpu_valid += cl[j] >= 0;
            if (gl[j] > g->query_pos || (gl[j] >= 0 && contains(gl, (size_t)j, gl[j])))
                a->bad++;
        }
        if (cpu_valid == 0) { /* a layer without an indexer: nothing selected on either */
            a->bad += valid != 0;
            continue;
        }
        a->bad += valid != want;
        for (int j = 0; j < K; j++)
            a->same += gl[j] >= 0 && contains(cl, K, gl[j]);
        a->total += (double)cpu_valid;
        for (int j = 0; first_selecting && wide && j < K; j++)
            a->far += gl[j] >= 0 && !contains(wide->raw + (size_t)l * 2 * K, 2 * K, gl[j]);
        first_selecting = false;
    }
}

static void check_indexer(const char *indexer)
{
    sl_engine *cpu = open_engine("cpu", indexer), *gpu = open_engine("cuda:0", indexer);
    sl_error err = {0};
    sl_tokens ids = {0};
    CHECK(cpu && sl_tokenize(cpu, TEXT, strlen(TEXT), false, &ids, &err) == SL_OK);
    if (!cpu || !gpu || ids.n < 4 * K) {
        sl_engine_close(cpu), sl_engine_close(gpu);
        return;
    }
    size_t n = ids.n, vocab = (size_t)sl_engine_model(cpu)->n_vocab, max = n + DECODE;
    float *lc = malloc(max * vocab * 4), *lg = malloc(max * vocab * 4), *ld = malloc(n * vocab * 4);
    sl_session *sg = indexer_session(gpu, max, K, false);
    sl_session *sc = indexer_session(cpu, max, K, false);
    sl_session *wide = indexer_session(cpu, max, 2 * K, false);
    CHECKF(sl_session_prefill_all_logits(sg, ids.ids, n, lg, &err) == SL_OK, "%s", err.message);
    /* decoding on the GPU; the CPU reads the same tokens */
    sl_sampling greedy = sl_sampling_default();
    greedy.temperature = 0;
    int32_t answer[DECODE];
    for (int i = 0; i < DECODE; i++) {
        CHECKF(sl_session_next(sg, &greedy, &answer[i], &err) == SL_OK, "%s", err.message);
        if (sl_session_logits(sg))
            memcpy(lg + (n + (size_t)i) * vocab, sl_session_logits(sg), vocab * 4);
    }
    sl_selection_view vc, vg, vw;
    CHECK(sl_session_selections(sg, &vg, &err) == SL_OK);
    CHECKF(sl_session_replay(sc, &vg, &err) == SL_OK, "%s", err.message);
    CHECKF(sl_session_prefill_all_logits(sc, ids.ids, n, lc, &err) == SL_OK, "%s", err.message);
    for (int i = 0; i < DECODE; i++) {
        CHECKF(sl_session_prefill(sc, &answer[i], 1, NULL, &err) == SL_OK, "%s", err.message);
        if (sl_session_logits(sc))
            memcpy(lc + (n + (size_t)i) * vocab, sl_session_logits(sc), vocab * 4);
    }
    CHECKF(sl_session_prefill(wide, ids.ids, n, NULL, &err) == SL_OK, "%s", err.message);
    CHECKF(sl_session_prefill(wide, answer, DECODE, NULL, &err) == SL_OK, "%s", err.message);
    double worst = 0;
    for (size_t t = 0; t < max; t++) {
        double r = sl_rel_error(lg + t * vocab, lc + t * vocab, vocab);
        worst = r > worst || isnan(r) ? r : worst;
    }
    CHECKF(worst <= 8e-2, "%s: logits, GPU against the CPU on its selections %.3g", indexer, worst);

    CHECK(sl_session_selections(sc, &vc, &err) == SL_OK && sl_session_selections(sg, &vg, &err) == SL_OK &&
          sl_session_selections(wide, &vw, &err) == SL_OK);
    CHECK(vg.n_records == max && vc.n_records == max && vw.n_records == max &&
          vg.records[vg.n_records - 1].answer);
    CHECK(vg.mass_kept == NULL); /* as the CPU: only the oracle knows the dense mass */
    agreement a = {0};
    for (size_t r = 0; r < vg.n_records && r < vc.n_records && r < vw.n_records; r++) {
        CHECK(vg.records[r].query_pos == vc.records[r].query_pos &&
              vw.records[r].query_pos == vc.records[r].query_pos);
        compare(&vg.records[r], &vc.records[r], &vw.records[r], vg.n_layers, &a);
    }
    double overlap = a.total > 0 ? a.same / a.total : 0;
    CHECKF(overlap >= 0.95, "%s: selections overlap %.3f", indexer, overlap);
    CHECKF(a.far == 0, "%s: %zu first-layer positions outside the CPU's best %d", indexer, a.far,
           2 * K);
    CHECKF(a.bad == 0, "%s: %zu selections not causal, distinct and of the right size", indexer,
           a.bad);

    /* top-k at least the length: indexer mode is dense attention, and the
     * sparse path forced over every position agrees with it up to the
     * kernels' BF16 outputs */
    sl_session *dense = NULL, *all = indexer_session(gpu, n, (int)n, false);
    sl_session *forced = indexer_session(gpu, n, (int)n, true);
    CHECK(sl_session_new(gpu, n, &dense, &err) == SL_OK);
    CHECK(sl_session_prefill_all_logits(dense, ids.ids, n, ld, &err) == SL_OK);
    CHECK(sl_session_prefill_all_logits(all, ids.ids, n, lg, &err) == SL_OK);
    double same_dense = sl_rel_error(lg, ld, n * vocab);
    CHECKF(same_dense <= 1e-6, "%s: top-k %zu against dense: %.3g", indexer, n, same_dense);
    CHECKF(sl_session_prefill_all_logits(forced, ids.ids, n, lg, &err) == SL_OK, "%s", err.message);
    double sparse_dense = sl_rel_error(lg, ld, n * vocab);
    CHECKF(sparse_dense <= 2e-2, "%s: sparse over everything against dense: %.3g", indexer,
           sparse_dense);
    fprintf(stderr, "%s: %zu tokens + %d decoded, top-k %d: logits within %.2e of the CPU's on "
            "the same selections, own selections overlap %.1f%%, top-k ≥ length equals dense "
            "(%.1e; forced sparse %.1e)\n", indexer, n, DECODE, K, worst, 100 * overlap,
            same_dense, sparse_dense);

    sl_session_free(sc), sl_session_free(sg), sl_session_free(wide);
    sl_session_free(dense), sl_session_free(all), sl_session_free(forced);
    sl_tokens_free(&ids);
    free(lc), free(lg), free(ld);
    sl_engine_close(cpu);
    sl_engine_close(gpu);
}

/* Logits of a short prefill in indexer mode on e, into out (n × vocab). */
static void prefill_logits(sl_engine *e, const int32_t *ids, size_t n, float *out)
{
    sl_session *s = e ? indexer_session(e, n, 4, false) : NULL;
    sl_error err = {0};
    CHECKF(s && sl_session_prefill_all_logits(s, ids, n, out, &err) == SL_OK, "%s", err.message);
    sl_session_free(s);
}

static void check_reload(void)
{
    enum { N = 24 };
    sl_engine *twice = open_engine("cuda:0", "small-indexer.safetensors");
    sl_engine *once = open_engine("cuda:0", "small-indexer-odd.safetensors");
    sl_error err = {0};
    CHECKF(twice && sl_engine_load_indexer(twice, path_in("small-indexer-odd.safetensors"),
                                           &err) == SL_OK, "%s", err.message);
    sl_tokens ids = {0};
    CHECK(once && sl_tokenize(once, TEXT, strlen(TEXT), false, &ids, &err) == SL_OK && ids.n >= N);
    size_t V = once ? (size_t)sl_engine_model(once)->n_vocab : 1;
    float *a = calloc(N * V, 4), *b = calloc(N * V, 4);
    if (ids.n >= N) {
        prefill_logits(twice, ids.ids, N, a);
        prefill_logits(once, ids.ids, N, b);
    }
    CHECKF(!memcmp(a, b, N * V * 4), "an indexer loaded after another: logits differ from its own");
    fprintf(stderr, "an indexer loaded over another: its sessions' logits as its own engine's\n");
    free(a), free(b);
    sl_tokens_free(&ids);
    sl_engine_close(twice), sl_engine_close(once);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s tests/data/llama\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    if (!sl_test_has_gpu())
        return 77;
    check_indexer("small-indexer.safetensors");      /* 8 heads of 64: the tensor-core kernel */
    check_indexer("small-indexer-odd.safetensors");  /* 3 heads of 24: the generic kernel */
    check_reload();
    return sl_test_finish();
}
