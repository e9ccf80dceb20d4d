/* DSA on the default model:
 * - with top-k ≥ the sequence length, oracle DSA gives transformers' dense
 *   logits (≤ 1e-3), on the sparse path too; at top-k 64 it does not;
 * - a question about a fact planted deep in a long real document (the GPL-2
 *   text): the oracle's selections for the question tokens include the
 *   planted sentence, which is selected far more often than the rest of the
 *   document body. */
#include "../test-util.h"

#include <stdint.h>

static const char planted[] = "The lighthouse keeper's cat, a grey tabby, is named Marmalade.";

static double rel_error(const float *a, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return sqrt(num / den);
}

/* The first prompt of smollm2-logits.bin: its ids and transformers' logits at its last token. */
static void check_logits(sl_engine *e, const char *golden)
{
    size_t len;
    uint8_t *file = sl_test_read_file(golden, &len);
    CHECK(file && len > 20);
    if (!file)
        return;
    uint32_t vocab, n, n_pos;
    memcpy(&vocab, file + 8, 4);
    memcpy(&n, file + 16, 4);
    const int32_t *ids = (const int32_t *)(const void *)(file + 20);
    memcpy(&n_pos, file + 20 + 4 * (size_t)n, 4);
    const float *ref_last = (const float *)(const void *)(file + 24 + 4 * (size_t)n + 4 * (size_t)n_pos) +
                            (size_t)(n_pos - 1) * vocab;
    static const struct { int k; bool sparse; bool close; } runs[] = {
        {4096, false, true}, {4096, true, true}, {64, false, false}};
    for (size_t r = 0; r < 3; r++) {
        sl_session *s = NULL;
        sl_error err = {0};
        sl_dsa_options o = sl_dsa_default();
        o.mode = SL_DSA_ORACLE;
        o.top_k = runs[r].k;
        o.sparse_always = runs[r].sparse;
        CHECK(sl_session_new(e, n, &s, &err) == SL_OK);
        CHECK(sl_session_set_dsa(s, &o, &err) == SL_OK);
        CHECKF(sl_session_prefill(s, ids, n, NULL, &err) == SL_OK, "%s", err.message);
        double re = rel_error(sl_session_logits(s), ref_last, vocab);
        fprintf(stderr, "  oracle top-k %d%s, %u tokens: relative error to dense %.2e\n", runs[r].k,
                runs[r].sparse ? " (sparse path)" : "", n, re);
        CHECKF(runs[r].close ? re <= 1e-3 : re > 1e-2, "top-k %d: %g", runs[r].k, re);
        sl_session_free(s);
    }
    free(file);
}

/* Positions whose pieces overlap bytes [start, end) of the decoded text. */
static void find_span(sl_engine *e, const int32_t *ids, size_t n, size_t start, size_t end,
                      size_t *first, size_t *last)
{
    size_t at = 0;
    *first = SIZE_MAX;
    *last = 0;
    for (size_t p = 0; p < n; p++) {
        size_t len;
        sl_token_piece(e, ids[p], &len);
        if (at < end && at + len > start) {
            *first = p < *first ? p : *first;
            *last = p;
        }
        at += len;
    }
}

static void check_planted_fact(sl_engine *e, const char *document)
{
    size_t len;
    char *doc = sl_test_read_file(document, &len);
    CHECKF(doc != NULL, "cannot read %s", document);
    if (!doc)
        return;
    const char *cut = strstr(doc, "  4. You may not copy"); /* a third of the way in */
    CHECK(cut != NULL);
    if (!cut)
        return;
    size_t body = len + sizeof planted + 256;
    char *user = malloc(body);
    snprintf(user, body, "%.*s  %s\n\n%s\n\nQuestion: What is the name of the lighthouse keeper's cat?",
             (int)(cut - doc), doc, planted, cut);
    sl_chat_message msg = {"user", user};
    char *prompt = NULL;
    sl_error err = {0};
    sl_tokens ids = {0};
    CHECK(sl_chat_render(e, &msg, 1, true, &prompt, &err) == SL_OK);
    CHECK(sl_tokenize(e, prompt, strlen(prompt), true, &ids, &err) == SL_OK);
    size_t start = (size_t)(strstr(prompt, planted) - prompt), first, last;
    find_span(e, ids.ids, ids.n, start, start + strlen(planted), &first, &last);
    fprintf(stderr, "  %zu prompt tokens; planted sentence at positions %zu-%zu\n", ids.n, first, last);

    sl_session *s = NULL;
    sl_dsa_options o = sl_dsa_default();
    o.mode = SL_DSA_ORACLE;
    o.top_k = 64;
    CHECK(sl_session_new(e, ids.n, &s, &err) == SL_OK);
    CHECK(sl_session_set_dsa(s, &o, &err) == SL_OK);
    CHECKF(sl_session_prefill(s, ids.ids, ids.n, NULL, &err) == SL_OK, "%s", err.message);
    sl_selection_view v;
    CHECK(sl_session_selections(s, &v, &err) == SL_OK);
    CHECK(v.n_records == 64);

    /* the question's most voted positions reach into the planted sentence */
    int hits = 0;
    for (size_t i = 0; i < v.n_records; i++)
        for (int t = 0; t < v.records[i].n_top; t++)
            hits += v.records[i].top_pos[t] >= (int32_t)first && v.records[i].top_pos[t] <= (int32_t)last;
    /* selections over the document body (past the first tokens, before the
     * question): the planted sentence against the rest */
    size_t body_end = ids.n - 200, rank_better = 0;
    double planted_sum = 0, rest_sum = 0, best_planted = 0;
    double *total = calloc(ids.n, sizeof *total);
    for (int l = 0; l < v.n_layers; l++)
        for (size_t p = 0; p < ids.n; p++)
            total[p] += v.counts[(size_t)l * v.stride + p];
    for (size_t p = 16; p < body_end; p++) {
        bool in = p >= first && p <= last;
        *(in ? &planted_sum : &rest_sum) += total[p];
        if (in && total[p] > best_planted)
            best_planted = total[p];
    }
    for (size_t p = 16; p < body_end; p++)
        rank_better += total[p] > best_planted;
    double ratio = (planted_sum / (double)(last - first + 1)) /
                   (rest_sum / (double)(body_end - 16 - (last - first + 1)));
    fprintf(stderr, "  question top-64 lists hit the planted sentence %d times; selected %.2fx as "
                    "often as the body; its best token ranks %zu of %zu\n",
            hits, ratio, rank_better + 1, body_end - 16);
    CHECKF(hits >= 1, "no question record's top positions reach the planted sentence");
    CHECKF(ratio >= 1.3, "the planted sentence is selected only %.2fx as often as the body", ratio);
    CHECKF(rank_better + 1 <= (body_end - 16) / 20, "its best token ranks only %zu", rank_better + 1);
    free(total);
    sl_session_free(s);
    sl_tokens_free(&ids);
    free(prompt);
    free(user);
    free(doc);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s smollm2-logits.bin GPL-2\n", argv[0]);
        return 2;
    }
    sl_engine_options opt = {.model_path = sl_test_model_path()};
    sl_engine *e = NULL;
    sl_error err = {0};
    CHECKF(sl_engine_open(&opt, &e, &err) == SL_OK, "%s", err.message);
    if (!e)
        return sl_test_finish();
    check_logits(e, argv[1]);
    check_planted_fact(e, argv[2]);
    sl_engine_close(e);
    return sl_test_finish();
}
