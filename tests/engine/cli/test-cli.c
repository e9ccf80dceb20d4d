/* sightline-cli as a user runs it: exit status, messages that name the
 * problem, and outputs equal to what the engine API gives in-process. */
#include "../test-util.h"
#include "model/safetensors.h"

#include <sys/wait.h>

static const char *cli, *model, *tmpdir;

/* Runs a shell command line; returns its exit status, its stdout in out and
 * its stderr in err. */
static int run_split(char *out, size_t cap, char *err, size_t err_cap, const char *command)
{
    char cmd[4096], err_path[1024];
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "%s 2>%s", command, err_path);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, cap - 1, p) : 0;
    out[n] = 0;
    int status = p ? pclose(p) : -1;
    FILE *f = fopen(err_path, "rb");
    n = f ? fread(err, 1, err_cap - 1, f) : 0;
    err[n] = 0;
    if (f)
        fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs a shell command line; returns its exit status, stdout then stderr in out. */
static int run(char *out, size_t cap, const char *fmt, ...) SL_TEST_PRINTF(3, 4);
static int run(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[4096], err[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int status = run_split(out, cap, err, sizeof err, cmd);
    strncat(out, err, cap - strlen(out) - 1);
    return status;
}

static void test_errors(void)
{
    char out[8192];
    CHECK(run(out, sizeof out, "%s --help", cli) == 0 && strstr(out, "logits"));
    CHECK(run(out, sizeof out, "%s", cli) == 2);
    CHECK(run(out, sizeof out, "%s frobnicate", cli) == 2 && strstr(out, "frobnicate"));
    CHECK(run(out, sizeof out, "%s info %s/missing.gguf", cli, tmpdir) == 1);
    CHECKF(strstr(out, "missing.gguf") != NULL, "%s", out);
    CHECK(run(out, sizeof out, "%s logits --model %s --tokens 1,x --out %s/l.bin", cli, model, tmpdir) == 2);
    CHECKF(strstr(out, "1,x") != NULL, "%s", out);
    CHECK(run(out, sizeof out, "%s logits --model %s --tokens 1,99999 --out %s/l.bin", cli, model, tmpdir) == 1);
    CHECKF(strstr(out, "99999") != NULL, "%s", out);
    CHECK(run(out, sizeof out, "%s generate --model %s --top-p 7 hi", cli, model) == 2);
    CHECK(run(out, sizeof out, "%s generate --model %s --threads", cli, model) == 2);
}

static void test_logits_match_engine(sl_engine *e)
{
    char out[8192], path[1024];
    snprintf(path, sizeof path, "%s/logits.bin", tmpdir);
    int32_t ids[5] = {258, 10, 200, 7, 261};
    CHECK(run(out, sizeof out, "%s logits --model %s --tokens 258,10,200,7,261 --out %s", cli, model,
              path) == 0);
    size_t len = 0, vocab = (size_t)sl_engine_model(e)->n_vocab;
    float *file = sl_test_read_file(path, &len);
    CHECKF(file && len == 5 * vocab * sizeof(float), "%zu bytes", len);
    float *mine = malloc(5 * vocab * sizeof(float));
    sl_session *s = NULL;
    sl_error err = {0};
    CHECK(sl_session_new(e, 5, &s, &err) == SL_OK);
    CHECK(sl_session_prefill_all_logits(s, ids, 5, mine, &err) == SL_OK);
    if (file && len == 5 * vocab * sizeof(float)) {
        double worst = 0;
        for (size_t i = 0; i < 5 * vocab; i++)
            worst = fmax(worst, fabs((double)file[i] - (double)mine[i]));
        CHECKF(worst < 1e-5, "CLI and API differ by %g", worst);
    }
    sl_session_free(s);
    free(mine);
    free(file);
}

static void test_tokenize_and_generate(sl_engine *e)
{
    char out[8192], want[1024] = "";
    const char *text = "the then he";
    sl_tokens t = {0};
    sl_error err = {0};
    CHECK(sl_tokenize(e, text, strlen(text), true, &t, &err) == SL_OK);
    for (size_t i = 0; i < t.n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), i ? ",%d" : "%d", t.ids[i]);
    sl_tokens_free(&t);
    CHECK(run(out, sizeof out, "%s tokenize --model %s '%s'", cli, model, text) == 0);
    CHECKF(strncmp(out, want, strlen(want)) == 0, "got %s want %s", out, want);

    CHECK(run(out, sizeof out, "%s generate -q --model %s --temperature 0 -n 8 'the'", cli, model) == 0);
    CHECK(run(out, sizeof out, "%s generate -q --model %s --chat -n 8 --seed 3 'hello'", cli, model) == 0);
    char again[8192];
    CHECK(run(again, sizeof again, "%s generate -q --model %s --chat -n 8 --seed 3 'hello'", cli, model) == 0);
    CHECKF(strcmp(out, again) == 0, "same seed, different text: '%s' vs '%s'", out, again);
    CHECK(run(out, sizeof out, "printf 'hello\\nthe\\n/reset\\nhe\\n/exit\\n' | %s chat -q --model %s -n 6",
              cli, model) == 0);
    CHECKF(strstr(out, "Chatting with") != NULL, "%s", out);
}

/* Where the model runs: one line on stderr, the engine's own words (its
 * notice when "auto", the default, falls back to the CPU), none with -q;
 * stdout the same whatever the device. */
static void test_device_line(void)
{
    char out[4096], err[4096], cmd[2048], cpu_out[4096], want[1024];
    sl_engine_options opt = {.model_path = model, .n_threads = 1, .device = "auto"};
    sl_engine *e = NULL;
    sl_error e_err = {0};
    CHECKF(sl_engine_open(&opt, &e, &e_err) == SL_OK, "%s", e_err.message);
    if (!e)
        return;
    CHECKF(sl_engine_notice(e) != NULL, "runs on %s", sl_engine_device(e));
    snprintf(want, sizeof want, "sightline-cli: %s\n", sl_engine_notice(e) ? sl_engine_notice(e) : "");
    snprintf(cmd, sizeof cmd, "%s tokenize --model %s -t 1 'the then he'", cli, model);
    CHECK(run_split(out, sizeof out, err, sizeof err, cmd) == 0);
    CHECKF(strcmp(err, want) == 0, "stderr '%s', want '%s'", err, want);

    snprintf(cmd, sizeof cmd, "%s tokenize --model %s -t 1 --device cpu 'the then he'", cli, model);
    CHECK(run_split(cpu_out, sizeof cpu_out, err, sizeof err, cmd) == 0);
    CHECKF(strcmp(out, cpu_out) == 0 && out[0], "stdout '%s' with auto, '%s' with cpu", out, cpu_out);
    sl_engine_close(e);
    opt.device = "cpu";
    CHECK(sl_engine_open(&opt, &e, &e_err) == SL_OK);
    snprintf(want, sizeof want, "sightline-cli: running on %s\n", e ? sl_engine_device(e) : "");
    CHECKF(strcmp(err, want) == 0, "stderr '%s', want '%s'", err, want);
    sl_engine_close(e);

    snprintf(cmd, sizeof cmd, "%s tokenize -q --model %s -t 1 'the then he'", cli, model);
    CHECK(run_split(cpu_out, sizeof cpu_out, err, sizeof err, cmd) == 0);
    CHECKF(strcmp(out, cpu_out) == 0 && err[0] == 0, "with -q: stdout '%s', stderr '%s'", cpu_out, err);
    snprintf(cmd, sizeof cmd, "%s info --device cuda:x %s", cli, model);
    CHECK(run_split(out, sizeof out, err, sizeof err, cmd) == 1);
    CHECKF(strstr(err, "'cuda:x' is not cpu, auto") && !out[0], "stdout '%s', stderr '%s'", out, err);
    char help[16384];
    CHECK(run(help, sizeof help, "%s --help", cli) == 0 && strstr(help, "--device auto"));
}

/* DSA from the command line: selections written as JSON, errors named. */
static void test_dsa(void)
{
    char out[8192], json[1024], indexer[1024];
    snprintf(json, sizeof json, "%s/selections.json", tmpdir);
    snprintf(indexer, sizeof indexer, "%s", model);
    char *slash = strrchr(indexer, '/');
    snprintf(slash ? slash + 1 : indexer, sizeof indexer - (size_t)(slash ? slash + 1 - indexer : 0),
             "tiny-indexer.safetensors");
    CHECK(run(out, sizeof out, "%s generate -q --model %s --temperature 0 -n 4 --dsa oracle --top-k 4 "
              "--selections %s 'the then he the then he'", cli, model, json) == 0);
    size_t len;
    char *text = sl_test_read_file(json, &len);
    CHECKF(text && strstr(text, "\"mode\": \"oracle\"") && strstr(text, "\"records\"") &&
               strstr(text, "\"layer_counts\"") && strstr(text, "\"top_layers\""), "%s",
           text ? text : "(no file)");
    free(text);
    /* Valid JSON (Python's parser), and each top position's layers are as many as its votes. */
    CHECKF(run(out, sizeof out, "python3 -c 'import json, sys\n"
               "d = json.load(open(sys.argv[1]))\n"
               "for r in d[\"records\"]:\n"
               "    assert len(r[\"top_layers\"]) == len(r[\"top\"])\n"
               "    for (p, v), ls in zip(r[\"top\"], r[\"top_layers\"]):\n"
               "        assert len(ls) == v and len(set(ls)) == v, (p, v, ls)\n' %s", json) == 0,
           "%s", out);
    CHECK(run(out, sizeof out, "%s logits --model %s --tokens 258,10,200,7 --out %s/l.bin --dsa indexer "
              "--indexer %s --top-k 2 --selections %s", cli, model, tmpdir, indexer, json) == 0);
    text = sl_test_read_file(json, &len);
    CHECKF(text && strstr(text, "\"mode\": \"indexer\""), "%s", out);
    free(text);
    CHECK(run(out, sizeof out, "%s generate --model %s --dsa sideways x", cli, model) == 2);
    /* whether a model selects without --dsa, or has an indexer of its own,
     * is known once it is open: these fail then, with the reason */
    CHECK(run(out, sizeof out, "%s generate --model %s --selections %s x", cli, model, json) == 1);
    CHECKF(strstr(out, "--selections needs --dsa") != NULL, "%s", out);
    CHECK(run(out, sizeof out, "%s generate --model %s --dsa indexer x", cli, model) == 1);
    CHECKF(strstr(out, "--indexer FILE") != NULL, "%s", out);
}

/* logits (n × vocab floats at path) against the tensor name of the
 * safetensors file at golden: ‖got − ref‖ / ‖ref‖. */
static double logits_error(const char *path, const char *golden, const char *name, size_t n,
                           size_t vocab)
{
    sl_safetensors *g = NULL;
    sl_error err = {0};
    size_t len = 0;
    float *got = sl_test_read_file(path, &len), *ref = malloc(n * vocab * sizeof(float));
    const sl_st_tensor *t = sl_safetensors_open(golden, &g, &err) == SL_OK
                                ? sl_safetensors_find(g, name) : NULL;
    double num = 0, den = 0;
    if (t && got && len == n * vocab * sizeof(float) && (size_t)t->dims[0] * t->dims[1] == n * vocab) {
        sl_st_to_f32(t, 0, n * vocab, ref);
        for (size_t i = 0; i < n * vocab; i++) {
            num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
            den += (double)ref[i] * ref[i];
        }
    }
    free(got), free(ref);
    sl_safetensors_close(g);
    return den > 0 ? sqrt(num / den) : 1.0;
}

/* A DeepSeek-V3.2 checkpoint directory: info, logits equal to transformers'
 * (golden.safetensors beside it), selections of its own indexer, generate;
 * with --fp8-cache, logits equal to fp8-cache-golden.safetensors'. */
static void test_checkpoint(const char *dir)
{
    char out[16384], path[1024], json[1024], ids[1024] = "";
    CHECK(run(out, sizeof out, "%s info %s", cli, dir) == 0);
    CHECKF(strstr(out, "deepseek_v32") && strstr(out, "own indexer, top-k 8") &&
           strstr(out, "DeepSeek V3.2"), "%s", out);

    sl_safetensors *g = NULL;
    sl_error err = {0};
    snprintf(path, sizeof path, "%s/golden.safetensors", dir);
    CHECKF(sl_safetensors_open(path, &g, &err) == SL_OK, "%s", err.message);
    if (!g)
        return;
    const sl_st_tensor *tid = sl_safetensors_find(g, "ids"), *tl = sl_safetensors_find(g, "logits");
    size_t n = (size_t)tid->dims[0], vocab = (size_t)tl->dims[1];
    for (size_t i = 0; i < n; i++)
        snprintf(ids + strlen(ids), sizeof ids - strlen(ids), i ? ",%d" : "%d",
                 (int)((const int32_t *)tid->data)[i]);
    snprintf(path, sizeof path, "%s/ds-logits.bin", tmpdir);
    snprintf(json, sizeof json, "%s/ds-selections.json", tmpdir);
    CHECK(run(out, sizeof out, "%s logits --model %s --tokens %s --out %s --selections %s", cli, dir,
              ids, path, json) == 0);
    char golden[1024];
    snprintf(golden, sizeof golden, "%s/golden.safetensors", dir);
    double e = logits_error(path, golden, "logits", n, vocab);
    CHECKF(e < 1e-4, "logits against transformers': relative error %.3g", e);
    size_t len = 0;
    char *text = sl_test_read_file(json, &len);
    CHECKF(text && strstr(text, "\"mode\": \"indexer\"") && strstr(text, "\"top_k\": 8"), "%s",
           text ? text : out);
    free(text);
    sl_safetensors_close(g);
    CHECK(run(out, sizeof out, "%s logits --model %s --tokens %s --out %s --dsa dense", cli, dir, ids,
              path) == 0);
    CHECK(run(out, sizeof out, "%s logits --model %s --tokens %s --out %s --indexer-fp8", cli, dir,
              ids, path) == 0);
    CHECK(run(out, sizeof out, "%s logits --model %s --tokens 1,2 --out %s --indexer-fp8", cli, model,
              path) == 1 && strstr(out, "indexer of its own"));
    CHECK(run(out, sizeof out, "%s logits --model %s --tokens %s --out %s --fp8-cache", cli, dir,
              ids, path) == 0);
    snprintf(golden, sizeof golden, "%s/fp8-cache-golden.safetensors", dir);
    e = logits_error(path, golden, "logits", n, vocab);
    CHECKF(e < 1e-4, "--fp8-cache: logits against transformers with DeepSeek's FP8 caches: %.3g", e);
    CHECK(run(out, sizeof out, "%s logits --model %s --tokens 1,2 --out %s --fp8-cache", cli, model,
              path) == 1 && strstr(out, "FP8 KV cache"));
    CHECK(run(out, sizeof out, "%s generate --model %s --ctx 64 --max-tokens 4 --chat hello", cli,
              dir) == 0);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s SIGHTLINE-CLI MODEL TMPDIR DEEPSEEK-CHECKPOINT\n", argv[0]);
        return 2;
    }
    cli = argv[1];
    model = argv[2];
    tmpdir = argv[3];
    /* No driver: the default device, "auto", runs on the CPU on every machine, so that what
     * the CLI computes compares with the CPU engine here. */
    setenv("SIGHTLINE_LIBCUDA", "/nonexistent/libcuda.so.1", 1);
    test_errors();
    test_device_line();
    sl_engine_options opt = {.model_path = model};
    sl_engine *e = NULL;
    sl_error err = {0};
    CHECKF(sl_engine_open(&opt, &e, &err) == SL_OK, "%s", err.message);
    if (e) {
        test_logits_match_engine(e);
        test_tokenize_and_generate(e);
        test_dsa();
        sl_engine_close(e);
    }
    test_checkpoint(argv[4]);
    return sl_test_finish();
}
