/* DeepSeek-V3.2 on the GPU against the same checkpoint on the CPU (itself
 * tested against transformers: tests/engine/deepseek).
 *
 * The random test checkpoints are ill-conditioned: their tokens choose
 * experts by near-ties, and the indexer's k-th and (k+1)-th scores are close,
 * so that BF16 alone flips choices within a few dozen tokens, and a flipped
 * row moves far, and the rows attending to it (BF16 moves transformers' own
 * logits by up to 1.3 relative over 300 tokens; on an H100, where our CPU
 * stays within 2e-6 of transformers in float32 at every row). So the test
 * takes the checkpoints with routing that cannot flip (fixed-routing/, made
 * by tests/reference/make-fixed-routing.py: only the bias that chooses the
 * experts changed), and the CPU replays the GPU's selections
 * (sl_session_replay), so that both attend to the same positions:
 * - a prompt of 48 tokens fed in pieces of 20, 17 and 11 (each a forward
 *   call at a later position), then 6 single-token steps (the decode path),
 *   in four modes: dense attention, the lightning indexer with the model's
 *   top-k (at most 24, so that rows select), the same with DeepSeek's FP8
 *   indexer numerics, and the oracle;
 * - every row's logits within 3e-2 relative (‖gpu − cpu‖/‖cpu‖) of the
 *   CPU's: the GPU holds weights, activations it multiplies and the latent
 *   cache in BF16 (on the CPU, BF16 weights alone move them by 1.5e-2);
 * - every recorded selection causal, of min(k, row length) distinct
 *   positions; and equal to the CPU's own choice on the same inputs as sets
 *   up to near-ties that BF16 may decide otherwise: the sets overlap by at
 *   least 90% over all rows and layers, and no row differs in more than a
 *   quarter of its positions (a wrong score would move far more);
 * - over 300 tokens (two prefill chunks), with top-k at least the length,
 *   the sparse path equals dense attention on the GPU (≤ 1e-6), and the
 *   oracle keeps all of the mass;
 * - in oracle mode, the share of the mass kept is in (0, 1];
 * - device "auto" takes the GPU, with no notice;
 * - decode steps as CUDA graphs (the default: captured once, the position
 *   read on the device) give the same logits, bit for bit, and the same
 *   selections as launched kernel by kernel (no_graphs), in dense and indexer
 *   modes, with BF16 and FP8 caches, and the sessions say which they did
 *   (the oracle's mass is summed by float atomics: there within 2e-3 and
 *   overlapping by 99%);
 * - all of it again with DeepSeek's FP8 caches (kv_cache_fp8) on both: the
 *   CPU rounds its latent and indexer keys as the GPU stores them (656- and
 *   132-byte entries at V3.2's dims; here the same layouts at the
 *   checkpoints' dims). The logits' bound is 8e-2 there: a latent value
 *   that BF16 moved across an e4m3 rounding point moves a whole e4m3 step
 *   (1/16 to 1/8 of it, against BF16's 1/256), so the same upstream
 *   differences come out larger (worst rows 4.2 to 5.6e-2 on an H100). As a
 *   control, the GPU's FP8-cache logits must be farther from the CPU's
 *   float-cache ones than from its FP8-cache ones, by 1.3× on the mean row
 *   (1.54 to 1.67× on an H100), so a GPU cache that skipped the rounding
 *   (nearer the float cache) could not pass; that the rounding is the CPU's
 *   value for value is gpu-mla's and gpu-lightning's to show. */
#include "../engine/test-util.h"

#include <stdint.h>

enum { PROMPT = 300, SHORT = 48, STEPS = 6, MAX_K = 256 };
static const size_t PIECES[] = {20, 17, 11}; /* SHORT */

static const char *TEXT =
    "The lighthouse keeper had kept the same routine for thirty-one years. Every evening, an hour "
    "before sunset, he climbed the ninety-four iron steps with a can of paraffin in one hand and a "
    "cloth in the other, polished the great lens until it threw his own face back at him a hundred "
    "times, and trimmed the wick with a care that bordered on ceremony. The ships that passed the "
    "point never saw him; they saw only the light, turning its slow circle over the water, and "
    "trusted it the way one trusts the ground underfoot. When the letter came from the harbour "
    "board announcing that the light would be automated in the spring, he read it twice, folded it "
    "into quarters, and put it in the drawer with the tide tables. Then he went up the steps as "
    "usual, and that night he stayed at the top until dawn. In the morning the fog came in early, "
    "thick and grey, and the foghorn sounded its two long notes every half minute until noon; he "
    "counted them without meaning to, as he had counted them for three decades, 1, 2, 3, 4, 5.";

typedef struct {
    const char *name;
    sl_dsa_mode mode;
    int top_k; /* 0: the model's */
    bool fp8;
} mode_case;

static sl_session *session(sl_engine *e, size_t max, const mode_case *m, int top_k)
{
    sl_dsa_options o = sl_test_dsa_options(m->mode, top_k, (int)max);
    o.indexer_fp8 = m->fp8;
    return sl_test_dsa_session(e, max, &o);
}

static int by_value(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The valid entries of a -1 padded row, sorted; their count. */
static size_t sorted_set(const int32_t *row, int k, int32_t *out)
{
    size_t n = 0;
    for (int j = 0; j < k; j++)
        if (row[j] >= 0)
            out[n++] = row[j];
    qsort(out, n, 4, by_value);
    return n;
}

static size_t common(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t same = 0;
    for (size_t i = 0, j = 0; i < na && j < nb;)
        a[i] == b[j] ? (same++, i++, j++) : a[i] < b[j] ? i++ : j++;
    return same;
}

/* GPU records against CPU records: validity, and overlap up to near-ties. */
static double compare_selections(sl_session *cpu, sl_session *gpu, const char *what)
{
    sl_selection_view vc, vg;
    sl_error err = {0};
    if (!(sl_session_selections(cpu, &vc, &err) == SL_OK &&
          sl_session_selections(gpu, &vg, &err) == SL_OK)) {
        CHECKF(false, "%s: %s", what, err.message);
        return 0;
    }
    CHECKF(vc.n_records == vg.n_records && vg.n_records == SHORT + STEPS, "%s: %zu and %zu records",
           what, vc.n_records, vg.n_records);
    int k = vg.top_k;
    double same = 0, total = 0;
    size_t worst_row = 0;
    int32_t a[MAX_K], b[MAX_K];
    for (size_t r = 0; r < vg.n_records && r < vc.n_records && k <= MAX_K; r++) {
        const sl_selection_record *g = &vg.records[r], *c = &vc.records[r];
        CHECK(g->query_pos == c->query_pos);
        size_t want = (size_t)g->query_pos + 1 < (size_t)k ? (size_t)g->query_pos + 1 : (size_t)k;
        for (int l = 0; l < vg.n_layers; l++) {
            size_t na = sorted_set(g->raw + (size_t)l * k, k, a);
            size_t nb = sorted_set(c->raw + (size_t)l * k, k, b);
            bool distinct = true;
            for (size_t i = 1; i < na; i++)
                distinct &= a[i] != a[i - 1];
            CHECKF(na == want && nb == want && distinct && (na == 0 || a[na - 1] <= g->query_pos),
                   "%s: row %d layer %d: %zu positions selected (CPU %zu), %zu wanted", what,
                   (int)g->query_pos, l, na, nb, want);
            size_t s = common(a, na, b, nb), differ = na - s;
            worst_row = differ > worst_row ? differ : worst_row;
            CHECKF(4 * differ <= na, "%s: row %d layer %d: %zu of %zu positions differ", what,
                   (int)g->query_pos, l, differ, na);
            same += (double)s;
            total += (double)na;
        }
    }
    double overlap = total > 0 ? same / total : 0;
    CHECKF(overlap >= 0.9, "%s: selections overlap %.3f", what, overlap);
    fprintf(stderr, "  %s: selections overlap %.2f%% (at most %zu of %d differ in a row)\n", what,
            100 * overlap, worst_row, k);
    if (vg.mass_kept)
        for (int l = 0; l < vg.n_layers; l++)
            CHECKF(vg.mass_kept[l] > 0 && vg.mass_kept[l] <= 1.0 + 1e-6, "%s: layer %d keeps %g",
                   what, l, vg.mass_kept[l]);
    return overlap;
}

/* The short prompt in pieces, then single steps: every row's logits. */
static void run(sl_session *s, const int32_t *ids, size_t V, float *logits)
{
    sl_error err = {0};
    size_t done = 0;
    for (size_t i = 0; i < sizeof PIECES / sizeof *PIECES; done += PIECES[i++])
        CHECKF(s && sl_session_prefill_all_logits(s, ids + done, PIECES[i], logits + done * V,
                                                  &err) == SL_OK, "%s", err.message);
    for (int i = 0; i < STEPS; i++) {
        CHECKF(s && sl_session_prefill(s, ids + SHORT + i, 1, NULL, &err) == SL_OK, "%s",
               err.message);
        const float *l = s ? sl_session_logits(s) : NULL;
        if (l)
            memcpy(logits + (SHORT + (size_t)i) * V, l, V * sizeof(float));
    }
}

/* The GPU first; the CPU replays its selections; the worst row's error, and
 * the mean over rows into *mean. */
static double run_both(sl_session *cpu, sl_session *gpu, const int32_t *ids, size_t V,
                       float *lc, float *lg, double *mean)
{
    sl_selection_view vg;
    sl_error err = {0};
    run(gpu, ids, V, lg);
    if (gpu && sl_session_selections(gpu, &vg, &err) == SL_OK) /* else dense */
        CHECKF(sl_session_replay(cpu, &vg, &err) == SL_OK, "%s", err.message);
    run(cpu, ids, V, lc);
    double worst = 0;
    *mean = 0;
    for (size_t t = 0; t < SHORT + STEPS; t++) {
        double r = sl_rel_error(lg + t * V, lc + t * V, V);
        worst = r > worst || isnan(r) ? r : worst;
        *mean += r / (SHORT + STEPS);
    }
    return worst;
}

/* The GPU's logits against the CPU's in mode m (bound: see the top); the
 * mean of the rows' errors. */
static double check_mode(sl_engine *cpu, sl_engine *gpu, const int32_t *ids, const mode_case *m,
                         const char *name, double bound)
{
    double mean = 1.0;
    const sl_model_info *info = sl_engine_model(cpu);
    size_t V = (size_t)info->n_vocab, max = SHORT + STEPS;
    /* the model's top-k, or 24 where that would cover the whole short prompt */
    int k = m->top_k ? m->top_k : info->index_top_k < 24 ? info->index_top_k : 24;
    float *lc = calloc(max * V, 4), *lg = calloc(max * V, 4);
    sl_session *sc = session(cpu, max, m, k), *sg = session(gpu, max, m, k);
    char what[96];
    snprintf(what, sizeof what, "%s %s", name, m->name);
    double worst = sc && sg ? run_both(sc, sg, ids, V, lc, lg, &mean) : 1.0;
    CHECKF(worst <= bound, "%s: logits: GPU against CPU %.3g", what, worst);
    fprintf(stderr, "%s, top-k %d: logits within %.2e of the CPU's over %d rows and %d steps "
            "(mean %.2e)\n", what, m->mode == SL_DSA_DENSE ? 0 : k, worst, SHORT, STEPS, mean);
    if (sc && sg && m->mode != SL_DSA_DENSE)
        compare_selections(sc, sg, what);
    sl_session_free(sc), sl_session_free(sg);
    free(lc), free(lg);
    return mean;
}

/* On the GPU, top-k ≥ the length through the selection path equals dense. */
static void check_full_selection(sl_engine *gpu, const int32_t *ids, const char *name)
{
    size_t V = (size_t)sl_engine_model(gpu)->n_vocab;
    float *ld = malloc(PROMPT * V * 4), *ls = malloc(PROMPT * V * 4);
    static const mode_case dense = {"dense", SL_DSA_DENSE, 1, false};
    static const mode_case modes[] = {{"indexer", SL_DSA_INDEXER, 0, false},
                                      {"oracle", SL_DSA_ORACLE, 0, false}};
    sl_session *sd = session(gpu, PROMPT, &dense, 1);
    sl_error err = {0};
    CHECK(sd && sl_session_prefill_all_logits(sd, ids, PROMPT, ld, &err) == SL_OK);
    for (size_t i = 0; i < 2; i++) {
        sl_dsa_options o = sl_dsa_default();
        o.mode = modes[i].mode;
        o.top_k = PROMPT;
        o.sparse_always = true;
        sl_session *s = NULL;
        CHECK(sl_session_new(gpu, PROMPT, &s, &err) == SL_OK && sl_session_set_dsa(s, &o, &err) == SL_OK);
        CHECK(s && sl_session_prefill_all_logits(s, ids, PROMPT, ls, &err) == SL_OK);
        double e = sl_rel_error(ls, ld, PROMPT * V);
        CHECKF(e <= 1e-6, "%s %s: top-k %d against dense: %.3g", name, modes[i].name, PROMPT, e);
        sl_selection_view v;
        if (s && sl_session_selections(s, &v, &err) == SL_OK && v.mass_kept)
            for (int l = 0; l < v.n_layers; l++)
                CHECKF(fabs(v.mass_kept[l] - 1.0) <= 1e-4, "%s: layer %d keeps %g of all", name, l,
                       v.mass_kept[l]);
        fprintf(stderr, "%s %s, top-k ≥ length: equals dense (%.1e)\n", name, modes[i].name, e);
        sl_session_free(s);
    }
    sl_session_free(sd);
    free(ld), free(ls);
}

static const mode_case MODES[] = {
    {"dense", SL_DSA_DENSE, 1, false},
    {"indexer", SL_DSA_INDEXER, 0, false},
    {"indexer fp8", SL_DSA_INDEXER, 0, true},
    {"oracle", SL_DSA_ORACLE, 16, false},
};

/* Decode steps as CUDA graphs against the same steps launched kernel by
 * kernel: the same logits bit for bit, and the same selections; the oracle's
 * mass is summed by float atomics, so there within 2e-3 and overlapping by
 * 99% (a near-tie may fall either way). */
static void check_graphs(sl_engine *graphs, sl_engine *launches, const int32_t *ids,
                         const mode_case *m, const char *name)
{
    size_t V = (size_t)sl_engine_model(graphs)->n_vocab, max = SHORT + STEPS, rows = max * V;
    int k = sl_engine_model(graphs)->index_top_k < 24 ? sl_engine_model(graphs)->index_top_k : 24;
    float *a = calloc(rows, 4), *b = calloc(rows, 4);
    sl_session *sa = session(graphs, max, m, k), *sb = session(launches, max, m, k);
    run(sa, ids, V, a);
    run(sb, ids, V, b);
    CHECKF(sa && sl_session_decodes_on_graph(sa) && sb && !sl_session_decodes_on_graph(sb),
           "%s %s: decodes on a graph: %d and %d", name, m->name,
           sa && sl_session_decodes_on_graph(sa), sb && sl_session_decodes_on_graph(sb));
    bool oracle = m->mode == SL_DSA_ORACLE;
    size_t differ = 0;
    double worst = 0;
    for (size_t i = 0; i < rows; i++)
        differ += memcmp(&a[i], &b[i], 4) != 0;
    for (size_t t = 0; t < max; t++) {
        double e = sl_rel_error(a + t * V, b + t * V, V);
        worst = e > worst || isnan(e) ? e : worst;
    }
    double overlap = 1.0;
    char what[96];
    snprintf(what, sizeof what, "%s %s, graphs against launches", name, m->name);
    if (m->mode != SL_DSA_DENSE && sa && sb)
        overlap = compare_selections(sb, sa, what);
    CHECKF(oracle ? worst <= 2e-3 && overlap >= 0.99 : differ == 0 && overlap == 1.0,
           "%s %s: graphs against launches: %zu logits differ (worst row %.3g), selections "
           "overlap %.4f", name, m->name, differ, worst, overlap);
    fprintf(stderr, "%s %s: %d decode steps as CUDA graphs against launches: %zu of %zu logits "
            "differ (worst row %.1e)\n", name, m->name, STEPS, differ, rows, worst);
    sl_session_free(sa), sl_session_free(sb);
    free(a), free(b);
}

static sl_engine *open_engine(const char *dir, const char *device, bool fp8_cache, bool graphs)
{
    sl_engine *e = NULL;
    sl_error err = {0};
    sl_engine_options o = {.model_path = dir, .n_threads = 4, .device = device,
                           .kv_cache_fp8 = fp8_cache, .no_graphs = !graphs};
    CHECKF(sl_engine_open(&o, &e, &err) == SL_OK, "%s", err.message);
    const char *where = strcmp(device, "cpu") == 0 ? "the CPU" : device;
    CHECK(!e || strncmp(sl_engine_device(e), where, strlen(where)) == 0);
    return e;
}

/* Every mode on the CPU and on the GPU, with BF16 or DeepSeek's FP8 caches
 * (kv_cache_fp8: the indexer takes FP8 numerics in every mode); the worst
 * dense row. */
static double check_engines(sl_engine *cpu, sl_engine *gpu, const int32_t *ids, const char *name,
                            bool fp8_cache)
{
    char what[64];
    snprintf(what, sizeof what, "%s%s", name, fp8_cache ? " (FP8 cache)" : "");
    double dense = 1.0;
    for (size_t i = 0; cpu && gpu && i < sizeof MODES / sizeof *MODES; i++)
        if (!fp8_cache || !MODES[i].fp8) { /* the FP8 cache's indexer is FP8 already */
            double e = check_mode(cpu, gpu, ids, &MODES[i], what, fp8_cache ? 8e-2 : 3e-2);
            dense = MODES[i].mode == SL_DSA_DENSE ? e : dense;
        }
    if (gpu)
        check_full_selection(gpu, ids, what);
    return dense;
}

static void check_checkpoint(const char *dir)
{
    const char *name = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    sl_error err = {0};
    sl_engine *cpu = open_engine(dir, "cpu", false, false);
    sl_engine *gpu = open_engine(dir, "cuda:0", false, true);
    sl_engine *cpu8 = open_engine(dir, "cpu", true, false);
    sl_engine *gpu8 = open_engine(dir, "cuda:0", true, true);
    sl_tokens ids = {0};
    CHECK(cpu && sl_tokenize(cpu, TEXT, strlen(TEXT), false, &ids, &err) == SL_OK);
    CHECKF(ids.n >= PROMPT + STEPS, "%s: the text is %zu tokens", name, ids.n);
    if (ids.n >= PROMPT + STEPS) {
        check_engines(cpu, gpu, ids.ids, name, false);
        double fp8 = check_engines(cpu8, gpu8, ids.ids, name, true);
        /* the control: the GPU's FP8 cache rounds as the CPU's, not as none */
        char control[96];
        snprintf(control, sizeof control, "%s (FP8 cache on the GPU, not on the CPU)", name);
        double plain = check_mode(cpu, gpu8, ids.ids, &MODES[0], control, 1.0);
        CHECKF(plain >= 1.3 * fp8, "%s: the GPU's FP8-cache logits are %.3g from the CPU's FP8 "
               "cache and %.3g from its float one (mean over rows)", name, fp8, plain);
        fprintf(stderr, "%s: the GPU's FP8-cache logits are %.2e from the CPU's FP8 cache, %.2e "
                "from its float one (mean over rows)\n", name, fp8, plain);
        sl_engine *launches = open_engine(dir, "cuda:0", false, false);
        sl_engine *launches8 = open_engine(dir, "cuda:0", true, false);
        char name8[64];
        snprintf(name8, sizeof name8, "%s (FP8 cache)", name);
        for (size_t i = 0; i < sizeof MODES / sizeof *MODES; i++) {
            check_graphs(gpu, launches, ids.ids, &MODES[i], name);
            if (!MODES[i].fp8)
                check_graphs(gpu8, launches8, ids.ids, &MODES[i], name8);
        }
        sl_engine_close(launches), sl_engine_close(launches8);
    }
    sl_tokens_free(&ids);
    sl_engine_close(cpu), sl_engine_close(gpu), sl_engine_close(cpu8), sl_engine_close(gpu8);
    sl_engine *any = NULL;
    sl_engine_options oa = {.model_path = dir, .device = "auto"};
    CHECKF(sl_engine_open(&oa, &any, &err) == SL_OK, "%s", err.message);
    CHECKF(any && strncmp(sl_engine_device(any), "cuda:", 5) == 0 && !sl_engine_notice(any),
           "%s: auto runs on '%s', notice '%s'", name, any ? sl_engine_device(any) : "",
           any && sl_engine_notice(any) ? sl_engine_notice(any) : "(none)");
    sl_engine_close(any);
}

int main(int argc, char **argv)
{
    if (!sl_test_has_gpu())
        return 77;
    for (int i = 1; i < argc; i++)
        check_checkpoint(argv[i]);
    return sl_test_finish();
}
