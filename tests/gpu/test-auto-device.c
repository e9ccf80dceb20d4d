/* Device "auto" on a machine with a GPU: the default model opens on the first
 * GPU, with no notice, and its logits agree with the CPU's to BF16 precision;
 * "auto:ID" takes the GPU of that id; an id the machine lacks, a model the
 * GPU refuses (tiny-llama: heads of 16 dims) and a GPU whose memory is taken
 * each open on the CPU with the notice that says why, and compute there what
 * "cpu" computes. sightline-cli says on stderr that it runs on the GPU.
 * Exits 77 (skipped) without a GPU. */
#include "../engine/test-util.h"

#include <cuda_runtime_api.h>

static const char *cli, *tiny;

static const int32_t IDS[] = {1, 50, 100, 200, 7, 30, 2, 88, 160, 250}; /* < both vocabularies */
enum { N_IDS = sizeof IDS / sizeof *IDS };

static sl_engine *open_on(const char *path, const char *device)
{
    sl_engine_options o = {.model_path = path, .n_threads = 4, .device = device};
    sl_engine *e = NULL;
    sl_error err = {0};
    CHECKF(sl_engine_open(&o, &e, &err) == SL_OK, "%s: %s", device, err.message);
    return e;
}

static float *logits_of(sl_engine *e)
{
    size_t vocab = (size_t)sl_engine_model(e)->n_vocab;
    float *out = malloc(N_IDS * vocab * sizeof *out);
    sl_session *s = NULL;
    sl_error err = {0};
    CHECKF(out && sl_session_new(e, 64, &s, &err) == SL_OK &&
               sl_session_prefill_all_logits(s, IDS, N_IDS, out, &err) == SL_OK,
           "%s", err.message);
    sl_session_free(s);
    return out;
}

/* "auto" (or "auto:ID") opens on the GPU `want` names ("cuda:N ("), with no notice. */
static void check_on_gpu(const char *device, const char *want, const float *cpu_logits)
{
    sl_engine *e = open_on(sl_test_model_path(), device);
    if (!e)
        return;
    fprintf(stderr, "%s: %s\n", device, sl_engine_device(e));
    CHECKF(strncmp(sl_engine_device(e), want, strlen(want)) == 0 && !sl_engine_notice(e),
           "%s: runs on '%s', notice '%s'", device, sl_engine_device(e),
           sl_engine_notice(e) ? sl_engine_notice(e) : "(none)");
    float *got = logits_of(e);
    double rel = got ? sl_rel_error(got, cpu_logits, N_IDS * (size_t)sl_engine_model(e)->n_vocab) : 1;
    CHECKF(rel < 3e-2, "%s: logits differ from the CPU's by %.3g (relative)", device, rel);
    free(got);
    sl_engine_close(e);
}

/* "auto" opens path on the CPU with a notice holding want, computing what "cpu" does. */
static void check_fallback(const char *path, const char *device, const char *want)
{
    sl_engine *cpu = open_on(path, "cpu"), *e = open_on(path, device);
    if (cpu && e) {
        const char *notice = sl_engine_notice(e);
        fprintf(stderr, "%s: %s; %s\n", device, sl_engine_device(e), notice ? notice : "(none)");
        CHECKF(notice && strstr(notice, want) && strncmp(sl_engine_device(e), "the CPU (", 9) == 0,
               "%s: runs on '%s', notice '%s', want '%s'", device, sl_engine_device(e),
               notice ? notice : "(none)", want);
        float *a = logits_of(cpu), *b = logits_of(e);
        size_t n = N_IDS * (size_t)sl_engine_model(e)->n_vocab;
        CHECKF(a && b && memcmp(a, b, n * sizeof *a) == 0, "%s: other logits than the CPU's", device);
        free(a);
        free(b);
    }
    sl_engine_close(cpu);
    sl_engine_close(e);
}

/* With all but 64 (or 128) MiB of GPU 0 taken, the default model's weights
 * (270 MB in BF16) do not fit. */
static void check_no_memory(void)
{
    size_t free_bytes = 0, total = 0;
    void *hog = NULL;
    bool taken = cudaSetDevice(0) == cudaSuccess &&
                 cudaMemGetInfo(&free_bytes, &total) == cudaSuccess && free_bytes > (256u << 20) &&
                 (cudaMalloc(&hog, free_bytes - (64u << 20)) == cudaSuccess ||
                  cudaMalloc(&hog, free_bytes - (128u << 20)) == cudaSuccess);
    cudaGetLastError(); /* a first try that failed leaves nothing behind */
    if (!taken) {
        CHECKF(false, "could not take GPU 0's memory (%zu bytes free)", free_bytes);
        return;
    }
    check_fallback(sl_test_model_path(), "auto", "GiB free");
    cudaFree(hog);
}

static void check_cli(void)
{
    char cmd[4096], line[1024] = "";
    snprintf(cmd, sizeof cmd, "%s tokenize --model '%s' hello 2>&1 >/dev/null", cli,
             sl_test_model_path());
    FILE *p = popen(cmd, "r");
    if (p && !fgets(line, sizeof line, p))
        line[0] = 0;
    CHECKF(p && pclose(p) == 0 && strncmp(line, "sightline-cli: running on cuda:0 (", 34) == 0,
           "sightline-cli said '%s'", line);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test-gpu-auto-device SIGHTLINE-CLI TINY-LLAMA.gguf\n");
        return 2;
    }
    cli = argv[1];
    tiny = argv[2];
    enum { CAP = 16 };
    sl_device_info d[CAP];
    char why[128] = "";
    int n = 0;
    sl_error err = {0};
    if (sl_devices_list(d, CAP, &n, why, sizeof why, &err) != SL_OK || n == 0) {
        fprintf(stderr, "no GPU (%s): skipped\n", why[0] ? why : err.message);
        return 77;
    }
    sl_engine *cpu = open_on(sl_test_model_path(), "cpu");
    if (!cpu)
        return sl_test_finish();
    float *cpu_logits = logits_of(cpu);
    sl_engine_close(cpu);

    check_on_gpu("auto", "cuda:0 (", cpu_logits);
    char device[128], want[32];
    int last = n < CAP ? n - 1 : CAP - 1;
    snprintf(device, sizeof device, "auto:GPU-gone,%s", d[last].id);
    snprintf(want, sizeof want, "cuda:%d (", d[last].index);
    check_on_gpu(device, want, cpu_logits);
    check_fallback(sl_test_model_path(), "auto:GPU-00000000-0000-0000-0000-000000000000",
                   "none of the GPUs chosen");
    check_fallback(tiny, "auto", "cuda:0: attention heads of 16 dims");
    check_no_memory();
    check_cli();
    free(cpu_logits);
    return sl_test_finish();
}
