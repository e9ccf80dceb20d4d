/* DeepSeek-V3.2 checkpoints against transformers' DeepseekV32ForCausalLM.
 *
 * tests/reference/make-deepseek-v32.py made small random checkpoints of the
 * architecture (BF16; F32; FP8 with block scales in three shards) and, with
 * transformers in float32, every row's logits, every layer's indexer
 * selection, and a greedy continuation produced with transformers' KV cache.
 * The script drew prompts until every choice was unambiguous: in each row
 * the k-th and (k+1)-th indexer scores, and at each greedy step the two best
 * logits, differ by more than 1e-3 of the row's scale. So ties are decided
 * before the test runs, and an exact implementation must choose the same
 * sets and tokens; the test asks for exactly that.
 *
 * Checked for each checkpoint:
 * - the prefill (MLA's MHA form): every row's logits within 1e-4 relative
 *   error (‖ours − ref‖ / ‖ref‖), every layer's selection equal as a set;
 * - decoding one token at a time (the absorbed MQA form): the same greedy
 *   tokens, and each step's logits within 1e-4;
 * - with top-k at least the sequence length, the sparse path (forced through
 *   the indexer and top-k) equals dense attention;
 * - with DeepSeek's FP8 indexer numerics (Hadamard rotation, e4m3 with
 *   power-of-two scales), the logits and selections of the same forward in
 *   transformers with DeepSeek's two FP8 steps put back into its indexer;
 *   they change 36 of 96 and 23 of 120 selections of the two checkpoints
 *   where top-k is below the length;
 * - with --fp8-cache, DeepSeek's FP8 caches (kv_cache_fp8: the latent and
 *   the indexer keys rounded to e4m3 as DeepSeek caches them) against
 *   transformers with the same rounding put back (fp8-cache-golden.safetensors,
 *   tests/reference/make-fp8-cache-golden.py): the prefill's logits and
 *   selections as above, and each row's logits when the ids are fed one at a
 *   time (the decode form). */
#include "../test-util.h"
#include "model/safetensors.h"

#include <stdint.h>

enum { MAX_LAYERS = 16 };
static const double TOLERANCE = 1e-4;

typedef struct {
    sl_safetensors *file;
    const int32_t *ids;
    size_t T, n_prompt, V, k;
    float *logits;                   /* T × V */
    const sl_st_tensor *topk[MAX_LAYERS]; /* T × k each */
    float *fp8_logits;               /* the same with DeepSeek's FP8 indexer numerics */
    const sl_st_tensor *fp8_topk[MAX_LAYERS];
} golden;

/* One forward's reference: its logits and each layer's selections. */
typedef struct {
    const char *label; /* "", " (FP8 indexer)", " (FP8 cache)" */
    const float *logits;
    const sl_st_tensor *const *topk;
} reference;

static bool load_golden(const char *dir, int n_layers, golden *g)
{
    char path[4096];
    sl_error err = {0};
    snprintf(path, sizeof path, "%s/golden.safetensors", dir);
    if (sl_safetensors_open(path, &g->file, &err) != SL_OK) {
        fprintf(stderr, "%s\n", err.message);
        return false;
    }
    const sl_st_tensor *ids = sl_safetensors_find(g->file, "ids");
    const sl_st_tensor *np = sl_safetensors_find(g->file, "n_prompt");
    const sl_st_tensor *lg = sl_safetensors_find(g->file, "logits");
    if (!ids || !np || !lg || n_layers > MAX_LAYERS)
        return false;
    g->ids = ids->data;
    g->T = (size_t)ids->dims[0];
    g->n_prompt = (size_t)*(const int32_t *)np->data;
    g->V = (size_t)lg->dims[1];
    const sl_st_tensor *lg8 = sl_safetensors_find(g->file, "fp8.logits");
    if (!lg8)
        return false;
    g->logits = malloc(g->T * g->V * sizeof(float));
    g->fp8_logits = malloc(g->T * g->V * sizeof(float));
    sl_st_to_f32(lg, 0, g->T * g->V, g->logits);
    sl_st_to_f32(lg8, 0, g->T * g->V, g->fp8_logits);
    for (int l = 0; l < n_layers; l++) {
        snprintf(path, sizeof path, "topk.%d", l);
        if (!(g->topk[l] = sl_safetensors_find(g->file, path)))
            return false;
        snprintf(path, sizeof path, "fp8.topk.%d", l);
        if (!(g->fp8_topk[l] = sl_safetensors_find(g->file, path)))
            return false;
        g->k = (size_t)g->topk[l]->dims[1];
    }
    return true;
}

static int by_value(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* transformers' selection of row t in layer l, as a sorted set of visible
 * positions (rows with fewer than k visible positions carry masked junk). */
static size_t golden_set(const golden *g, const reference *ref, int l, size_t t, int32_t *out)
{
    const int32_t *row = (const int32_t *)ref->topk[l]->data + t * g->k;
    size_t n = 0;
    for (size_t j = 0; j < g->k; j++)
        if (row[j] >= 0 && (size_t)row[j] <= t)
            out[n++] = row[j];
    qsort(out, n, sizeof *out, by_value);
    return n;
}

static sl_session *session(sl_engine *e, size_t T, sl_dsa_mode mode, int top_k, bool sparse,
                           bool fp8)
{
    sl_session *s = NULL;
    sl_error err = {0};
    sl_dsa_options o = sl_dsa_default();
    o.mode = mode;
    o.top_k = top_k;
    o.record_question = (int)T;
    o.record_raw = true;
    o.sparse_always = sparse;
    o.indexer_fp8 = fp8;
    if (sl_session_new(e, T, &s, &err) != SL_OK || sl_session_set_dsa(s, &o, &err) != SL_OK) {
        fprintf(stderr, "%s\n", err.message);
        sl_session_free(s);
        return NULL;
    }
    return s;
}

/* fp8: DeepSeek's FP8 indexer numerics; ref: the goldens made as the engine
 * and the session compute. */
static void check_prefill(sl_engine *e, const golden *g, const reference *want_ref,
                          const char *name, bool fp8)
{
    const sl_model_info *m = sl_engine_model(e);
    const float *ref = want_ref->logits;
    sl_session *s = session(e, g->T, SL_DSA_INDEXER, m->index_top_k, false, fp8);
    float *out = malloc(g->T * g->V * sizeof(float));
    sl_error err = {0};
    CHECK(s && sl_session_prefill_all_logits(s, g->ids, g->T, out, &err) == SL_OK);
    double worst = 0;
    for (size_t t = 0; s && t < g->T; t++) {
        double r = sl_rel_error(out + t * g->V, ref + t * g->V, g->V);
        worst = r > worst ? r : worst;
        CHECKF(r <= TOLERANCE, "%s%s: row %zu: relative error %.3g", name, want_ref->label, t, r);
    }
    sl_selection_view view;
    CHECK(s && sl_session_selections(s, &view, &err) == SL_OK);
    size_t compared = 0, sparse_rows = 0;
    int32_t *want = malloc(g->k * sizeof *want), *got = malloc(g->k * sizeof *got);
    for (size_t r = 0; s && r < view.n_records; r++) {
        const sl_selection_record *rec = &view.records[r];
        size_t t = (size_t)rec->query_pos;
        sparse_rows += t >= (size_t)m->index_top_k;
        for (int l = 0; l < m->n_layers; l++) {
            size_t n_want = golden_set(g, want_ref, l, t, want), n_got = 0;
            for (int j = 0; j < view.top_k; j++)
                if (rec->raw[(size_t)l * (size_t)view.top_k + (size_t)j] >= 0)
                    got[n_got++] = rec->raw[(size_t)l * (size_t)view.top_k + (size_t)j];
            qsort(got, n_got, sizeof *got, by_value);
            CHECKF(n_got == n_want && !memcmp(got, want, n_got * sizeof *got),
                   "%s%s: layer %d row %zu: %zu positions selected, transformers %zu", name,
                   want_ref->label, l, t, n_got, n_want);
            compared++;
        }
    }
    CHECKF(s && view.n_records == g->T, "%s: %zu records", name, s ? view.n_records : 0);
    fprintf(stderr, "%s%s: prefill: worst relative error %.2e over %zu rows; %zu selections equal "
            "(%zu rows past top-k %d)\n", name, want_ref->label, worst, g->T, compared, sparse_rows,
            m->index_top_k);
    free(want);
    free(got);
    free(out);
    sl_session_free(s);
}

static void check_decode(sl_engine *e, const golden *g, const char *name)
{
    sl_session *s = session(e, g->T, SL_DSA_INDEXER, sl_engine_model(e)->index_top_k, false, false);
    sl_error err = {0};
    CHECK(s && sl_session_prefill(s, g->ids, g->n_prompt, NULL, &err) == SL_OK);
    sl_sampling greedy = sl_sampling_default();
    greedy.temperature = 0;
    double worst = 0;
    for (size_t t = g->n_prompt; s && t <= g->T; t++) {
        const float *logits = sl_session_logits(s);
        double r = logits ? sl_rel_error(logits, g->logits + (t - 1) * g->V, g->V) : 1.0;
        worst = r > worst ? r : worst;
        CHECKF(r <= TOLERANCE, "%s: decode row %zu: relative error %.3g", name, t - 1, r);
        if (t == g->T)
            break;
        int32_t token = -1;
        CHECK(sl_session_next(s, &greedy, &token, &err) == SL_OK);
        CHECKF(token == g->ids[t], "%s: step %zu: token %d, transformers %d", name, t, (int)token,
               (int)g->ids[t]);
    }
    fprintf(stderr, "%s: decode: %zu greedy tokens equal, worst relative error %.2e\n", name,
            g->T - g->n_prompt, worst);
    sl_session_free(s);
}

static void check_dense_equivalence(sl_engine *e, const golden *g, const char *name)
{
    float *dense = malloc(g->T * g->V * sizeof(float)), *sparse = malloc(g->T * g->V * sizeof(float));
    sl_session *a = session(e, g->T, SL_DSA_DENSE, 1, false, false);
    sl_session *b = session(e, g->T, SL_DSA_INDEXER, (int)g->T, true, false);
    sl_error err = {0};
    CHECK(a && sl_session_prefill_all_logits(a, g->ids, g->T, dense, &err) == SL_OK);
    CHECK(b && sl_session_prefill_all_logits(b, g->ids, g->T, sparse, &err) == SL_OK);
    double worst = 0;
    for (size_t t = 0; t < g->T; t++) {
        double r = sl_rel_error(sparse + t * g->V, dense + t * g->V, g->V);
        worst = r > worst ? r : worst;
    }
    CHECKF(worst <= 1e-6, "%s: top-k %zu differs from dense by %.3g", name, g->T, worst);
    /* and where top-k is below the length, DSA must differ from dense */
    if (g->k < g->T)
        CHECKF(sl_rel_error(dense + (g->T - 1) * g->V, g->logits + (g->T - 1) * g->V, g->V) > 1e-3,
               "%s: dense attention equals the sparse reference", name);
    fprintf(stderr, "%s: top-k ≥ length equals dense (%.1e)\n", name, worst);
    free(dense);
    free(sparse);
    sl_session_free(a);
    sl_session_free(b);
}

/* fp8-cache-golden.safetensors: the forward with DeepSeek's FP8 caches. */
static bool load_cache_golden(const char *dir, int n_layers, const golden *g, sl_safetensors **file,
                              float **logits, const sl_st_tensor **topk)
{
    char path[4096];
    sl_error err = {0};
    snprintf(path, sizeof path, "%s/fp8-cache-golden.safetensors", dir);
    if (sl_safetensors_open(path, file, &err) != SL_OK) {
        fprintf(stderr, "%s\n", err.message);
        return false;
    }
    const sl_st_tensor *lg = sl_safetensors_find(*file, "logits");
    if (!lg || (size_t)lg->dims[0] != g->T || (size_t)lg->dims[1] != g->V)
        return false;
    *logits = malloc(g->T * g->V * sizeof(float));
    sl_st_to_f32(lg, 0, g->T * g->V, *logits);
    for (int l = 0; l < n_layers; l++) {
        snprintf(path, sizeof path, "topk.%d", l);
        if (!(topk[l] = sl_safetensors_find(*file, path)))
            return false;
    }
    return true;
}

/* The ids fed one at a time after the prompt (the absorbed decode form): each
 * row's logits against ref's. */
static void check_fed_rows(sl_engine *e, const golden *g, const reference *ref, const char *name)
{
    sl_session *s = session(e, g->T, SL_DSA_INDEXER, sl_engine_model(e)->index_top_k, false, false);
    sl_error err = {0};
    CHECK(s && sl_session_prefill(s, g->ids, g->n_prompt, NULL, &err) == SL_OK);
    double worst = 0;
    for (size_t t = g->n_prompt; s && t <= g->T; t++) {
        const float *logits = sl_session_logits(s);
        double r = logits ? sl_rel_error(logits, ref->logits + (t - 1) * g->V, g->V) : 1.0;
        worst = r > worst ? r : worst;
        CHECKF(r <= TOLERANCE, "%s%s: fed row %zu: relative error %.3g", name, ref->label, t - 1, r);
        if (t < g->T)
            CHECK(sl_session_prefill(s, g->ids + t, 1, NULL, &err) == SL_OK);
    }
    fprintf(stderr, "%s%s: %zu rows fed one at a time, worst relative error %.2e\n", name,
            ref->label, g->T - g->n_prompt, worst);
    sl_session_free(s);
}

/* The checkpoint with DeepSeek's FP8 caches against its FP8-cache goldens. */
static void check_fp8_cache(const char *dir, const char *name)
{
    sl_engine *e = NULL;
    sl_error err = {0};
    sl_engine_options opt = {.model_path = dir, .n_threads = 2, .kv_cache_fp8 = true};
    CHECKF(sl_engine_open(&opt, &e, &err) == SL_OK, "%s", err.message);
    golden g = {0};
    sl_safetensors *file = NULL;
    float *logits = NULL;
    const sl_st_tensor *topk[MAX_LAYERS] = {0};
    int n_layers = e ? sl_engine_model(e)->n_layers : 0;
    if (e && load_golden(dir, n_layers, &g) &&
        load_cache_golden(dir, n_layers, &g, &file, &logits, topk)) {
        reference ref = {" (FP8 cache)", logits, topk};
        check_prefill(e, &g, &ref, name, false);
        check_fed_rows(e, &g, &ref, name);
    } else {
        CHECKF(false, "%s: the FP8-cache goldens load", name);
    }
    free(logits), free(g.logits), free(g.fp8_logits);
    sl_safetensors_close(file);
    sl_safetensors_close(g.file);
    sl_engine_close(e);
}

/* argv: checkpoint directories; those after --fp8-cache have FP8-cache goldens. */
int main(int argc, char **argv)
{
    bool fp8_cache = false;
    for (int i = 1; i < argc; i++) {
        const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
        if (strcmp(argv[i], "--fp8-cache") == 0) {
            fp8_cache = true;
            continue;
        }
        if (fp8_cache) {
            check_fp8_cache(argv[i], name);
            continue;
        }
        sl_engine *e = NULL;
        sl_error err = {0};
        sl_engine_options opt = {.model_path = argv[i], .n_threads = 2};
        if (sl_engine_open(&opt, &e, &err) != SL_OK) {
            fprintf(stderr, "%s\n", err.message);
            CHECK(!"the checkpoint opens");
            continue;
        }
        const sl_model_info *m = sl_engine_model(e);
        CHECK(strcmp(m->architecture, "deepseek_v32") == 0 && m->index_top_k > 0);
        golden g = {0};
        if (load_golden(argv[i], m->n_layers, &g)) {
            CHECK(g.k == ((size_t)m->index_top_k < g.T ? (size_t)m->index_top_k : g.T));
            reference plain = {"", g.logits, g.topk}, fp8 = {" (FP8 indexer)", g.fp8_logits, g.fp8_topk};
            check_prefill(e, &g, &plain, name, false);
            check_prefill(e, &g, &fp8, name, true);
            check_decode(e, &g, name);
            check_dense_equivalence(e, &g, name);
        } else {
            CHECK(!"the golden file loads");
        }
        free(g.logits);
        free(g.fp8_logits);
        sl_safetensors_close(g.file);
        sl_engine_close(e);
    }
    return sl_test_finish();
}
