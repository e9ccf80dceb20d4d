#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_print_error(const sl_error *err)
{
    fprintf(stderr, "sightline-cli: %s\n", err->message[0] ? err->message : sl_status_name(err->code));
}

static bool parse_long(const char *name, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "sightline-cli: %s expects a whole number from %ld to %ld, not '%s'\n",
                name, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_float(const char *name, const char *s, float lo, float hi, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "sightline-cli: %s expects a number from %g to %g, not '%s'\n", name,
                (double)lo, (double)hi, s);
        return false;
    }
    *out = v;
    return true;
}

/* Options that only make sense together. */
static bool check_dsa_options(const cli_options *o)
{
    const char *problem = o->selections && o->dsa_given && o->dsa.mode == SL_DSA_DENSE
                              ? "--selections needs --dsa oracle or --dsa indexer"
                          : o->indexer && o->dsa.mode != SL_DSA_INDEXER
                              ? "--indexer goes with --dsa indexer"
                              : NULL;
    if (problem)
        fprintf(stderr, "sightline-cli: %s\n", problem);
    return problem == NULL;
}

bool cli_parse(int argc, char **argv, cli_options *o)
{
    o->sampling = sl_sampling_default();
    o->dsa = sl_dsa_default();
    o->max_tokens = 256;
    o->device = "auto";
    o->args = calloc((size_t)argc + 1, sizeof *o->args);
    if (!o->args)
        return false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        bool takes = true, ok = true;
        if (a[0] != '-' || strcmp(a, "-") == 0 || strcmp(a, "--") == 0) {
            if (strcmp(a, "--") == 0)
                while (++i < argc)
                    o->args[o->n_args++] = argv[i];
            else
                o->args[o->n_args++] = argv[i];
            continue;
        }
        if (!strcmp(a, "--chat") || !strcmp(a, "--no-special") || !strcmp(a, "--pieces") ||
            !strcmp(a, "--quiet") || !strcmp(a, "-q") || !strcmp(a, "--blas") ||
            !strcmp(a, "--indexer-fp8") || !strcmp(a, "--fp8-cache")) {
            o->dsa.indexer_fp8 |= !strcmp(a, "--indexer-fp8");
            o->fp8_cache |= !strcmp(a, "--fp8-cache");
            o->blas |= !strcmp(a, "--blas");
            o->chat |= !strcmp(a, "--chat");
            o->no_special |= !strcmp(a, "--no-special");
            o->pieces |= !strcmp(a, "--pieces");
            o->quiet |= !strcmp(a, "--quiet") || !strcmp(a, "-q");
            continue;
        }
        if (!v) {
            fprintf(stderr, "sightline-cli: %s needs a value\n", a);
            return false;
        }
        if (!strcmp(a, "--model") || !strcmp(a, "-m"))
            o->model = v;
        else if (!strcmp(a, "--device"))
            o->device = v;
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t"))
            ok = parse_long(a, v, 0, 1024, &n) && ((o->threads = (int)n), true);
        else if (!strcmp(a, "--ctx"))
            ok = parse_long(a, v, 1, 1L << 24, &n) && ((o->ctx = (size_t)n), true);
        else if (!strcmp(a, "--max-tokens") || !strcmp(a, "-n"))
            ok = parse_long(a, v, 0, 1L << 24, &n) && ((o->max_tokens = (int)n), true);
        else if (!strcmp(a, "--temperature"))
            ok = parse_float(a, v, 0.0f, 100.0f, &o->sampling.temperature);
        else if (!strcmp(a, "--sample-top-k"))
            ok = parse_long(a, v, 0, 1L << 30, &n) && ((o->sampling.top_k = (int)n), true);
        else if (!strcmp(a, "--top-k"))
            ok = parse_long(a, v, 1, 1L << 24, &n) && ((o->dsa.top_k = (int)n), true) &&
                 (o->top_k_given = true);
        else if (!strcmp(a, "--dsa")) {
            ok = !strcmp(v, "dense") || !strcmp(v, "oracle") || !strcmp(v, "indexer");
            o->dsa_given = true;
            o->dsa.mode = !strcmp(v, "oracle") ? SL_DSA_ORACLE
                        : !strcmp(v, "indexer") ? SL_DSA_INDEXER : SL_DSA_DENSE;
            if (!ok)
                fprintf(stderr, "sightline-cli: --dsa is dense, oracle or indexer, not '%s'\n", v);
        } else if (!strcmp(a, "--indexer"))
            o->indexer = v;
        else if (!strcmp(a, "--selections"))
            o->selections = v;
        else if (!strcmp(a, "--top-m"))
            ok = parse_long(a, v, 1, 65535, &n) && ((o->dsa.record_top_m = (int)n), true);
        else if (!strcmp(a, "--top-p"))
            ok = parse_float(a, v, 0.0f, 1.0f, &o->sampling.top_p);
        else if (!strcmp(a, "--min-p"))
            ok = parse_float(a, v, 0.0f, 1.0f, &o->sampling.min_p);
        else if (!strcmp(a, "--repeat-penalty"))
            ok = parse_float(a, v, 0.01f, 100.0f, &o->sampling.repeat_penalty);
        else if (!strcmp(a, "--repeat-last-n"))
            ok = parse_long(a, v, 0, 1L << 24, &n) && ((o->sampling.repeat_last_n = (int)n), true);
        else if (!strcmp(a, "--seed"))
            ok = parse_long(a, v, 0, 0x7fffffffL, &n) && ((o->sampling.seed = (uint64_t)n), true);
        else if (!strcmp(a, "--system"))
            o->system = v;
        else if (!strcmp(a, "--tokens"))
            o->tokens = v;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o"))
            o->out = v;
        else if (!strcmp(a, "--prompt-file") || !strcmp(a, "-f"))
            o->prompt_file = v;
        else {
            fprintf(stderr, "sightline-cli: unknown option '%s' (see --help)\n", a);
            return false;
        }
        if (!ok)
            return false;
        i += takes;
    }
    return check_dsa_options(o);
}

sl_engine *cli_open_engine(const cli_options *o)
{
    if (!o->model) {
        fprintf(stderr, "sightline-cli: no model given: use --model FILE, or --model default\n");
        return NULL;
    }
    char path[4096];
    if (!sl_model_path(o->model, path, sizeof path)) {
        fprintf(stderr, "sightline-cli: the model path is too long\n");
        return NULL;
    }
    sl_engine_options eo = {.model_path = path, .n_threads = o->threads, .use_blas = o->blas,
                            .kv_cache_fp8 = o->fp8_cache,
                            .device = o->device};
    sl_engine *e = NULL;
    sl_error err = {0};
    if (sl_engine_open(&eo, &e, &err) != SL_OK) {
        cli_print_error(&err);
        if (strcmp(o->model, "default") == 0 && err.code == SL_ERR_IO)
            fprintf(stderr, "sightline-cli: install the default model with packaging/fetch-model\n");
        e = NULL;
    } else if (o->indexer && sl_engine_load_indexer(e, o->indexer, &err) != SL_OK) {
        cli_print_error(&err);
        sl_engine_close(e);
        e = NULL;
    }
    if (e && !o->quiet)
        cli_print_device(sl_engine_device(e), sl_engine_notice(e));
    return e;
}

void cli_print_device(const char *device, const char *notice)
{
    if (notice)
        fprintf(stderr, "sightline-cli: %s\n", notice);
    else
        fprintf(stderr, "sightline-cli: running on %s\n", device);
}

char *cli_read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "sightline-cli: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    bool failed = ferror(f);
    if (f != stdin)
        fclose(f);
    if (!buf || failed) {
        fprintf(stderr, "sightline-cli: %s: could not read the file\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

bool cli_session_dsa(const sl_engine *e, sl_session *s, cli_options *o)
{
    sl_error err = {0};
    int own_k = sl_engine_model(e)->index_top_k;
    if (own_k > 0 && !o->dsa_given)
        o->dsa.mode = SL_DSA_INDEXER;
    if (own_k > 0 && !o->top_k_given)
        o->dsa.top_k = own_k;
    if (o->selections && o->dsa.mode == SL_DSA_DENSE) {
        fprintf(stderr, "sightline-cli: --selections needs --dsa oracle or --dsa indexer\n");
        return false;
    }
    if (sl_session_set_dsa(s, &o->dsa, &err) != SL_OK) {
        cli_print_error(&err);
        return false;
    }
    return true;
}
