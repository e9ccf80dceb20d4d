/* bench-dsa-quality: what oracle-mode DSA costs in quality on real text.
 *
 * For each document (first --max-tokens tokens): perplexity with dense
 * attention and with oracle DSA at each top-k, and per layer the mean share
 * of the dense attention mass (summed over heads) that the top-k kept. This
 * is the ceiling a trained indexer aims for. Prints tables; writes JSON.
 *
 * usage: bench-dsa-quality --model M|default [--k 256,512,1024,2048]
 *        [--max-tokens 8000] [--threads N] [--json OUT] DOCUMENT...        */
#include "sightline-engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { CHUNK = 256, MAX_K = 16 };

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        buf[*len = (size_t)n] = 0;
    return buf;
}

/* Mean negative log-likelihood of ids[1..n) given the prefix; with DSA at
 * top_k (0: dense). mass_kept (n_layers) is filled in oracle mode. */
static double mean_nll(sl_engine *e, const int32_t *ids, size_t n, int top_k, double *mass_kept)
{
    size_t vocab = (size_t)sl_engine_model(e)->n_vocab;
    float *logits = malloc((size_t)CHUNK * vocab * sizeof(float));
    sl_session *s = NULL;
    sl_error err = {0};
    if (!logits || sl_session_new(e, n, &s, &err) != SL_OK) {
        fprintf(stderr, "bench: %s\n", err.message);
        exit(1);
    }
    if (top_k > 0) {
        sl_dsa_options o = sl_dsa_default();
        o.mode = SL_DSA_ORACLE;
        o.top_k = top_k;
        o.record_question = 0;
        if (sl_session_set_dsa(s, &o, &err) != SL_OK) {
            fprintf(stderr, "bench: %s\n", err.message);
            exit(1);
        }
    }
    double nll = 0;
    for (size_t done = 0; done < n;) {
        size_t m = n - done < CHUNK ? n - done : CHUNK;
        if (sl_session_prefill_all_logits(s, ids + done, m, logits, &err) != SL_OK) {
            fprintf(stderr, "bench: %s\n", err.message);
            exit(1);
        }
        for (size_t i = 0; i < m && done + i + 1 < n; i++) {
            const float *row = logits + i * vocab;
            double max = -INFINITY, z = 0;
            for (size_t v = 0; v < vocab; v++)
                max = row[v] > max ? row[v] : max;
            for (size_t v = 0; v < vocab; v++)
                z += exp(row[v] - max);
            nll += max + log(z) - row[ids[done + i + 1]];
        }
        done += m;
    }
    if (top_k > 0) {
        sl_selection_view view;
        if (sl_session_selections(s, &view, &err) == SL_OK && view.mass_kept)
            memcpy(mass_kept, view.mass_kept, (size_t)view.n_layers * sizeof(double));
    }
    sl_session_free(s);
    free(logits);
    return nll / (double)(n - 1);
}

int main(int argc, char **argv)
{
    const char *model = NULL, *json = NULL, *klist = "256,512,1024,2048";
    int threads = 0;
    size_t max_tokens = 8000;
    int first_doc = argc;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--model")) model = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--k")) klist = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--max-tokens")) max_tokens = (size_t)atol(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--json")) json = argv[++i];
        else { first_doc = i; break; }
    }
    if (!model || first_doc >= argc) {
        fprintf(stderr, "usage: bench-dsa-quality --model M [--k 256,512] [--max-tokens N] "
                        "[--threads N] [--json OUT] DOCUMENT...\n");
        return 2;
    }
    int ks[MAX_K], n_k = 0;
    for (const char *p = klist; *p && n_k < MAX_K; p = strchr(p, ',') ? strchr(p, ',') + 1 : "")
        ks[n_k++] = atoi(p);
    char path[4096];
    sl_model_path(model, path, sizeof path);
    sl_engine_options opt = {.model_path = path, .n_threads = threads};
    sl_engine *e = NULL;
    sl_error err = {0};
    if (sl_engine_open(&opt, &e, &err) != SL_OK) {
        fprintf(stderr, "bench: %s\n", err.message);
        return 1;
    }
    int L = sl_engine_model(e)->n_layers, n_docs = argc - first_doc;
    double *kept = calloc((size_t)n_k * (size_t)L, sizeof(double));
    double *one = calloc((size_t)L, sizeof(double));
    FILE *js = json ? fopen(json, "w") : NULL;
    if (js)
        fprintf(js, "{\"model\": \"%s\", \"threads\": %d, \"documents\": [", sl_engine_model(e)->name,
                sl_engine_threads(e));
    printf("%-28s %7s %9s", "document", "tokens", "dense");
    for (int k = 0; k < n_k; k++)
        printf("   k=%-5d", ks[k]);
    printf("   (perplexity)\n");
    for (int d = 0; d < n_docs; d++) {
        size_t len;
        const char *doc = argv[first_doc + d];
        char *text = read_file(doc, &len);
        sl_tokens toks = {0};
        if (!text || sl_tokenize(e, text, len, false, &toks, &err) != SL_OK || toks.n < 2) {
            fprintf(stderr, "bench: %s: cannot read or tokenize\n", doc);
            return 1;
        }
        size_t n = toks.n < max_tokens ? toks.n : max_tokens;
        const char *base = strrchr(doc, '/') ? strrchr(doc, '/') + 1 : doc;
        double dense = exp(mean_nll(e, toks.ids, n, 0, NULL));
        printf("%-28s %7zu %9.3f", base, n, dense);
        fflush(stdout);
        if (js)
            fprintf(js, "%s{\"document\": \"%s\", \"tokens\": %zu, \"perplexity\": {\"dense\": %.4f",
                    d ? ", " : "", base, n, dense);
        for (int k = 0; k < n_k; k++) {
            double ppl = exp(mean_nll(e, toks.ids, n, ks[k], one));
            printf("   %7.3f", ppl);
            fflush(stdout);
            if (js)
                fprintf(js, ", \"%d\": %.4f", ks[k], ppl);
            for (int l = 0; l < L; l++)
                kept[(size_t)k * (size_t)L + (size_t)l] += one[l] / n_docs;
        }
        printf("\n");
        if (js)
            fprintf(js, "}}");
        sl_tokens_free(&toks);
        free(text);
    }
    printf("\nshare of dense attention mass kept by the top-k (mean over documents and queries)\n%5s",
           "layer");
    for (int k = 0; k < n_k; k++)
        printf("   k=%-5d", ks[k]);
    printf("\n");
    for (int l = 0; l < L; l++) {
        printf("%5d", l);
        for (int k = 0; k < n_k; k++)
            printf("   %7.4f", kept[(size_t)k * (size_t)L + (size_t)l]);
        printf("\n");
    }
    if (js) {
        fprintf(js, "], \"mass_kept\": {");
        for (int k = 0; k < n_k; k++) {
            fprintf(js, "%s\"%d\": [", k ? ", " : "", ks[k]);
            for (int l = 0; l < L; l++)
                fprintf(js, "%s%.5f", l ? ", " : "", kept[(size_t)k * (size_t)L + (size_t)l]);
            fprintf(js, "]");
        }
        fprintf(js, "}}\n");
        fclose(js);
    }
    free(kept);
    free(one);
    sl_engine_close(e);
    return 0;
}
