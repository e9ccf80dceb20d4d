/* bench-engine: prefill and decode speed of the CPU engine, and peak memory.
 *
 * For each context length L: prefill L − N tokens (tokens/s), then decode N
 * tokens greedily, ending at L (tokens/s), so both are measured at about L. Prints a table and writes
 * JSON. Token ids are a fixed pseudo-random sequence over the vocabulary:
 * speed does not depend on what the text says.
 *
 * usage: bench-engine --model M|default [--blas] [--threads N] [--contexts 512,2048,8192]
 *                     [--decode N] [--device cpu|cuda:N] [--no-graphs] [--fp8-cache]
 *                     [--dsa oracle|indexer] [--json OUT]
 * --dsa: sessions with DeepSeek Sparse Attention (top-k 2048) in that mode
 * (the app's default is the oracle); a DeepSeek-V3.2 model's sessions take
 * its indexer without it. --no-graphs: on a GPU, decode steps launch by launch instead of as CUDA
 * graphs, to measure what the graphs give. --fp8-cache: DeepSeek-V3.2's
 * caches in FP8 (sl_engine_options.kv_cache_fp8). */
#include "sightline-engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static void cpu_name(char *out, size_t n)
{
    snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(out, n, "%s", strchr(line, ':') + 2);
            out[strcspn(out, "\n")] = 0;
            break;
        }
    if (f)
        fclose(f);
}

typedef struct {
    int context;
    double prefill_tps, decode_tps, rss_mib;
    bool on_graph; /* the decode steps ran as one replayed CUDA graph */
} result;

static const char *dsa_mode; /* --dsa, or NULL */

static int run_one(sl_engine *e, int context, int n_decode, result *r)
{
    sl_error err = {0};
    sl_session *s = NULL;
    int vocab = sl_engine_model(e)->n_vocab;
    int n_prefill = context - n_decode;
    if (n_prefill < 1) {
        fprintf(stderr, "bench: context %d leaves nothing to prefill\n", context);
        return 1;
    }
    int32_t *ids = malloc((size_t)context * sizeof *ids);
    uint64_t x = 12345;
    for (int i = 0; i < context; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((x >> 33) % (uint64_t)vocab);
    }
    sl_dsa_options dsa = sl_dsa_default();
    dsa.mode = dsa_mode && !strcmp(dsa_mode, "oracle") ? SL_DSA_ORACLE : SL_DSA_INDEXER;
    if (sl_session_new(e, (size_t)context, &s, &err) != SL_OK ||
        (dsa_mode && sl_session_set_dsa(s, &dsa, &err) != SL_OK)) {
        sl_session_free(s);
        fprintf(stderr, "bench: %s\n", err.message);
        free(ids);
        return 1;
    }
    double t0 = now();
    sl_status st = sl_session_prefill(s, ids, (size_t)n_prefill, NULL, &err);
    double t1 = now();
    sl_sampling greedy = sl_sampling_default();
    greedy.temperature = 0.0f;
    greedy.repeat_penalty = 1.0f;
    for (int i = 0; st == SL_OK && i < n_decode; i++) {
        int32_t tok;
        st = sl_session_next(s, &greedy, &tok, &err);
    }
    double t2 = now();
    if (st != SL_OK)
        fprintf(stderr, "bench: %s\n", err.message);
    r->context = context;
    r->prefill_tps = n_prefill / (t1 - t0);
    r->decode_tps = n_decode / (t2 - t1);
    r->rss_mib = peak_rss_mib();
    r->on_graph = sl_session_decodes_on_graph(s);
    sl_session_free(s);
    free(ids);
    return st != SL_OK;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *json = NULL, *contexts = "512,2048,8192";
    int threads = 0, n_decode = 64;
    bool blas = false, no_graphs = false, fp8_cache = false;
    const char *device = NULL;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--blas") || !strcmp(argv[i], "--no-graphs") ||
            !strcmp(argv[i], "--fp8-cache")) {
            *(!strcmp(argv[i], "--blas") ? &blas : !strcmp(argv[i], "--no-graphs") ? &no_graphs
                                                                                  : &fp8_cache) = true;
            memmove(argv + i, argv + i + 1, (size_t)(argc - i - 1) * sizeof *argv);
            argc--;
            i--;
        }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--contexts")) contexts = argv[i + 1];
        else if (!strcmp(argv[i], "--decode")) n_decode = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--json")) json = argv[i + 1];
        else if (!strcmp(argv[i], "--device")) device = argv[i + 1];
        else if (!strcmp(argv[i], "--dsa")) dsa_mode = argv[i + 1];
    }
    if (!model) {
        fprintf(stderr, "usage: bench-engine --model M [--threads N] [--contexts 512,2048] "
                        "[--decode N] [--device cpu|cuda:N] [--no-graphs] [--fp8-cache] "
                        "[--dsa oracle|indexer] [--json OUT]\n");
        return 2;
    }
    char path[4096];
    if (!sl_model_path(model, path, sizeof path))
        return 2;
    sl_engine_options opt = {.model_path = path, .n_threads = threads, .use_blas = blas,
                             .device = device, .no_graphs = no_graphs,
                             .kv_cache_fp8 = fp8_cache};
    sl_engine *e = NULL;
    sl_error err = {0};
    double t0 = now();
    if (sl_engine_open(&opt, &e, &err) != SL_OK) {
        fprintf(stderr, "bench: %s\n", err.message);
        return 1;
    }
    double load_s = now() - t0;
    char cpu[256];
    struct utsname un;
    uname(&un);
    cpu_name(cpu, sizeof cpu);
    printf("model: %s   on: %s   matmul: %s   cpu: %s   load: %.2f s%s%s%s%s\n",
           sl_engine_model(e)->name, sl_engine_device(e), blas ? "BLAS" : "own kernels", cpu, load_s,
           no_graphs ? "   decode: no CUDA graphs" : "", fp8_cache ? "   FP8 cache" : "",
           dsa_mode ? "   DSA: " : "", dsa_mode ? dsa_mode : "");
    printf("%8s %14s %14s %12s %12s\n", "context", "prefill tok/s", "decode tok/s", "peak MiB",
           "decode graph");
    result res[16];
    int n = 0, rc = 0;
    for (const char *p = contexts; *p && n < 16; p = strchr(p, ',') ? strchr(p, ',') + 1 : "") {
        if (run_one(e, atoi(p), n_decode, &res[n])) { /* said why; not a row */
            rc = 1;
            continue;
        }
        printf("%8d %14.1f %14.1f %12.1f %12s\n", res[n].context, res[n].prefill_tps,
               res[n].decode_tps, res[n].rss_mib, res[n].on_graph ? "yes" : "no");
        fflush(stdout);
        n++;
    }
    if (json) {
        FILE *f = fopen(json, "w");
        if (f) {
            fprintf(f, "{\"model\": \"%s\", \"device\": \"%s\", \"threads\": %d, \"cpu\": \"%s\", "
                       "\"kernel\": \"%s %s\", \"matmul\": \"%s\", \"decode_tokens\": %d, "
                       "\"load_seconds\": %.3f, \"cuda_graphs\": %s, \"results\": [",
                    sl_engine_model(e)->name, sl_engine_device(e), sl_engine_threads(e), cpu,
                    un.sysname, un.release,
                    blas ? "blas" : "own", n_decode, load_s, no_graphs ? "false" : "true");
            for (int i = 0; i < n; i++)
                fprintf(f, "%s{\"context\": %d, \"prefill_tokens_per_s\": %.2f, "
                           "\"decode_tokens_per_s\": %.2f, \"peak_rss_mib\": %.1f, "
                           "\"decode_graph\": %s}",
                        i ? ", " : "", res[i].context, res[i].prefill_tps, res[i].decode_tps,
                        res[i].rss_mib, res[i].on_graph ? "true" : "false");
            fprintf(f, "]}\n");
            fclose(f);
        }
    }
    sl_engine_close(e);
    return rc;
}
