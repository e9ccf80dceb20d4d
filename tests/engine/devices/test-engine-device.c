/* test-engine-device.c: where sl_engine_open puts a model. Device "auto"
 * without a GPU that takes the model opens on the CPU with a notice naming
 * the reason (no driver, no GPU, a failing driver, none of the chosen GPUs, a
 * GPU that refuses the model), and computes what "cpu" computes; "cpu" has no
 * notice; device strings that name nothing are refused, naming the string;
 * an explicit "cuda:N" that fails stays an error. The driver is absent or the
 * stand-in of fake-libcuda.c, and tiny-llama's heads (16 dims) are ones no
 * GPU runs, so this gives the same answers on machines with and without a
 * GPU; tests/gpu checks that "auto" takes a real one. */
#include "../test-util.h"

static const char *model, *checkpoint;

static const char *ALPHA = "GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf"; /* the stand-in's GPU 0 */
static const char *BETA = "GPU-b0b1b2b3-b4b5-b6b7-b8b9-babbbcbdbebf";  /* and its GPU 1 */

static void use_driver(const char *lib, const char *mode)
{
    setenv("SIGHTLINE_LIBCUDA", lib, 1);
    setenv("FAKE_CUDA", mode, 1);
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

static sl_engine *open_on(const char *path, const char *device, sl_error *err)
{
    sl_engine_options o = {.model_path = path, .n_threads = 1, .device = device};
    sl_engine *e = NULL;
    *err = (sl_error){0};
    sl_status st = sl_engine_open(&o, &e, err);
    CHECKF((st == SL_OK) == (e != NULL), "%s: status %s", device, sl_status_name(st));
    return st == SL_OK ? e : NULL;
}

/* The logits of a few tokens. */
static float *logits_of(sl_engine *e)
{
    static const int32_t ids[] = {258, 10, 200, 7};
    size_t vocab = (size_t)sl_engine_model(e)->n_vocab;
    float *out = malloc(4 * vocab * sizeof *out);
    sl_session *s = NULL;
    sl_error err = {0};
    CHECKF(out && sl_session_new(e, 8, &s, &err) == SL_OK &&
               sl_session_prefill_all_logits(s, ids, 4, out, &err) == SL_OK,
           "%s", err.message);
    sl_session_free(s);
    return out;
}

/* "auto" opens on the CPU with a notice that holds want (and says so), and
 * the model computes there as "cpu" does: the GPU's refusal left it whole. */
static void check_fallback(const char *device, const char *want, const float *cpu_logits)
{
    sl_error err;
    sl_engine *e = open_on(model, device, &err);
    CHECKF(e, "%s: %s", device, err.message);
    if (!e)
        return;
    const char *notice = sl_engine_notice(e);
    CHECKF(notice && strstr(notice, want), "%s: notice '%s', want '%s'", device,
           notice ? notice : "(none)", want);
    CHECKF(notice && ends_with(notice, " on the CPU"),
           "%s: notice '%s' does not end saying it runs on the CPU", device, notice);
    CHECKF(strncmp(sl_engine_device(e), "the CPU (", 9) == 0, "%s: runs on '%s'", device,
           sl_engine_device(e));
    float *got = logits_of(e);
    size_t n = 4 * (size_t)sl_engine_model(e)->n_vocab;
    CHECKF(got && memcmp(got, cpu_logits, n * sizeof *got) == 0,
           "%s: the CPU model after a fallback computes other logits", device);
    free(got);
    sl_engine_close(e);
}

static void check_refused(const char *device, sl_status code, const char *want)
{
    sl_error err;
    sl_engine *e = open_on(model, device, &err);
    CHECKF(!e && err.code == code && strstr(err.message, want), "device '%s': %s '%s'", device,
           sl_status_name(err.code), err.message);
    sl_engine_close(e);
}

static void test_bad_devices(void)
{
    static const char *const bad[] = {"", "gpu", "CPU", "auto:", "autox", "cuda:", "cuda:x",
                                      "cuda:-1", "cuda:1024", "cuda:0x"};
    char quoted[64];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(quoted, sizeof quoted, "'%s' is not cpu, auto", bad[i]);
        check_refused(bad[i], SL_ERR_INVALID_ARGUMENT, quoted);
    }
    /* Asked for by name, a GPU that cannot take the model is an error. */
    check_refused("cuda:1000", SL_ERR_UNSUPPORTED, "cuda:1000");
}

/* A DeepSeek-V3.2 checkpoint: where "auto" puts it, the device and the
 * notice agree (the GPU or no notice; the CPU and why). */
static void test_checkpoint(void)
{
    sl_error err;
    sl_engine *e = open_on(checkpoint, "auto", &err);
    CHECKF(e, "%s", err.message);
    if (!e)
        return;
    bool on_gpu = strncmp(sl_engine_device(e), "cuda:", 5) == 0;
    CHECKF(on_gpu == (sl_engine_notice(e) == NULL), "runs on '%s', notice '%s'",
           sl_engine_device(e), sl_engine_notice(e) ? sl_engine_notice(e) : "(none)");
    sl_engine_close(e);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: test-engine-device FAKE-LIBCUDA.so MODEL.gguf CHECKPOINT-DIR\n");
        return 2;
    }
    const char *fake = argv[1];
    model = argv[2];
    checkpoint = argv[3];
    use_driver("/nonexistent/libcuda.so.1", "two");

    sl_error err;
    sl_engine *cpu = open_on(model, "cpu", &err);
    CHECKF(cpu, "%s", err.message);
    if (!cpu)
        return sl_test_finish();
    CHECK(sl_engine_notice(cpu) == NULL);
    float *cpu_logits = logits_of(cpu);
    sl_engine_close(cpu);
    sl_engine *plain = open_on(model, NULL, &err);
    CHECK(plain && sl_engine_notice(plain) == NULL &&
          strncmp(sl_engine_device(plain), "the CPU (", 9) == 0);
    sl_engine_close(plain);

#ifdef SL_HAVE_CUDA
    check_fallback("auto", "no NVIDIA GPU found (no NVIDIA driver found)", cpu_logits);
    check_fallback("auto:0", "no NVIDIA driver found", cpu_logits);
    use_driver(fake, "none");
    check_fallback("auto", "no NVIDIA GPU found (the driver found no GPU)", cpu_logits);
    use_driver(fake, "broken");
    check_fallback("auto", "the GPUs could not be listed", cpu_logits);
    check_fallback("auto", "cuInit returned 999", cpu_logits);
    /* Two GPUs that take no model with heads of 16 dims: each refusal names its GPU, so the
     * notice tells which one "auto" chose. */
    use_driver(fake, "two");
    check_fallback("auto", "cuda:0: attention heads of 16 dims", cpu_logits);
    char device[160];
    snprintf(device, sizeof device, "auto:%s", BETA);
    check_fallback(device, "cuda:1:", cpu_logits);
    snprintf(device, sizeof device, "auto:GPU-gone,%s,%s", ALPHA, BETA);
    check_fallback(device, "cuda:0:", cpu_logits);
    check_fallback("auto:GPU-gone,1", "cuda:1:", cpu_logits);
    check_fallback("auto:GPU-gone,7", "none of the GPUs chosen (GPU-gone,7) is among the 2", cpu_logits);
    check_fallback("auto:GPU-a0a1a2a3", "none of the GPUs chosen", cpu_logits); /* ids match whole */
#else
    (void)fake, (void)ALPHA, (void)BETA;
    check_fallback("auto", "this build has no CUDA backend", cpu_logits);
    check_fallback("auto:0", "this build has no CUDA backend", cpu_logits);
#endif
    test_bad_devices();
    test_checkpoint();
    free(cpu_logits);
    return sl_test_finish();
}
