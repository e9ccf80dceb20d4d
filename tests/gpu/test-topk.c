/* topk.cu against the CPU's exact streaming top-k (engine/dsa/topk.c): the
 * same positions, in the same (increasing) order, -1 after them, on fresh
 * random rows and on the rows that broke other engines' radix top-k (many
 * equal ReLU zeros at the threshold, L = 2^20), with ±inf, NaN, -0, causal
 * row lengths and odd sizes, on every path: rows split over CTAs, one CTA
 * a row, and long rows without the bitmaps. Outputs are poisoned before
 * every launch.
 * The seed is printed; SL_TOPK_SEED=n repeats a run. SL_TOPK_QUICK=n keeps
 * the cases of at most n scores only (for compute-sanitizer). */
#include "gpu-util.h"
#include "dsa/topk.h"
#include "sightline-kernels.h"

#include <stdint.h>
#include <time.h>

static uint64_t rng_state;

static uint64_t next_u64(void) { return sl_splitmix64(&rng_state); }

static float uniform(float lo, float hi) { return sl_uniform(&rng_state, lo, hi); }

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

enum kind {
    UNIFORM,     /* uniform in [-4, 4) */
    RELU,        /* 90% exact zeros, the rest positive on a coarse grid */
    ALL_EQUAL,   /* one value everywhere */
    FEW_VALUES,  /* eight distinct values: ties everywhere */
    LOW_BITS,    /* 1 + a few ulps: keys differ in their last bits only */
    ANY_BITS,    /* any 32-bit pattern: NaNs, infinities, subnormals, -0 */
    SPECIALS,    /* uniform with ±inf, ±0 and NaN sprinkled in */
    MANY_NAN,    /* 90% NaN (both signs, several payloads) */
    ALL_NAN,
    SIGNED_ZERO, /* ±0 mixed with a few ±1 */
    INCREASING,  /* the score is the position */
    DECREASING,
    N_KINDS
};

static const char *const kind_names[N_KINDS] = {
    "uniform", "relu", "all equal", "few values", "low bits", "any bits", "specials",
    "many NaN", "all NaN", "signed zero", "increasing", "decreasing",
};

static float draw(enum kind kind, int i, int L)
{
    uint64_t h = next_u64();
    switch (kind) {
    case UNIFORM: return uniform(-4.0f, 4.0f);
    case RELU: return (h & 0xff) < 230 ? 0.0f : (float)((h >> 8) % 512) * 0.0625f;
    case ALL_EQUAL: return 0.75f;
    case FEW_VALUES: return (float)(h % 8) - 3.0f;
    case LOW_BITS: return bits_float(0x3f800000u + (uint32_t)(h % 4096));
    case ANY_BITS: return bits_float((uint32_t)h);
    case SPECIALS:
        switch (h % 16) {
        case 0: return INFINITY;
        case 1: return -INFINITY;
        case 2: return NAN;
        case 3: return -NAN;
        case 4: return 0.0f;
        case 5: return -0.0f;
        default: return uniform(-4.0f, 4.0f);
        }
    case MANY_NAN:
        if (h % 10)
            return bits_float((uint32_t)(h >> 32) | 0x7f800001u); /* NaN, either sign */
        return uniform(-4.0f, 4.0f);
    case ALL_NAN: return bits_float(0x7fc00000u | (uint32_t)(h & 0x80000001u));
    case SIGNED_ZERO:
        switch (h % 8) {
        case 0: return 1.0f;
        case 1: return -1.0f;
        default: return (h >> 8) & 1 ? -0.0f : 0.0f;
        }
    case INCREASING: return (float)i;
    case DECREASING: return (float)(L - i);
    default: return 0.0f;
    }
}

static sl_topk *cpu_topk;
static int n_cases, n_split_cases;
static size_t quick; /* the most scores in a case; 0: no limit */

/* Checks row by row the output of a launch against the CPU; the number of
 * rows that differ. */
static int compare_rows(const char *name, const char *path, const int32_t *got,
                        const float *host, size_t stride, int rows, int L, int k,
                        const int32_t *row_len, int32_t *want)
{
    int wrong_rows = 0;
    for (int r = 0; r < rows; r++) {
        int n = L;
        if (row_len)
            n = row_len[r] < 0 ? 0 : row_len[r] < L ? row_len[r] : L;
        size_t c = sl_topk_row(cpu_topk, host + (size_t)r * stride, (size_t)n, (size_t)k, want);
        const int32_t *g = got + (size_t)r * (size_t)k;
        int bad = c != (size_t)(n < k ? n : k);
        for (size_t i = 0; i < (size_t)k; i++)
            bad += g[i] != (i < c ? want[i] : -1);
        if (bad && wrong_rows++ < 3) {
            size_t i = 0;
            while (i < (size_t)k && g[i] == (i < c ? want[i] : -1))
                i++;
            fprintf(stderr,
                    "  %s, %s: row %d (n %d, k %d): %d entries differ, first at %zu: "
                    "gpu %d, cpu %d\n",
                    name, path, r, n, k, bad, i, i < (size_t)k ? g[i] : 0,
                    i < (size_t)k ? (i < c ? want[i] : -1) : 0);
        }
    }
    return wrong_rows;
}

/* Runs the GPU top-k on rows × L scores (row r at host + r·stride) and
 * checks every row against the CPU: with the workspace the launcher asks
 * for (few long rows split over several CTAs), and without one (one CTA per
 * row), each into a poisoned output. */
static void check_rows(const char *name, const float *host, size_t stride, int rows, int L, int k,
                       const int32_t *row_len)
{
    if (quick && (size_t)rows * (size_t)L > quick)
        return;
    n_cases++;
    size_t n_scores = rows > 0 ? (size_t)(rows - 1) * stride + (size_t)L : 0;
    size_t n_out = (size_t)rows * (size_t)k;
    float *d_scores = sl_gpu_upload(host, n_scores * sizeof *host);
    int32_t *d_len = row_len ? sl_gpu_upload(row_len, (size_t)rows * sizeof *row_len) : NULL;
    size_t ws_bytes = sl_k_topk_workspace(rows, L, k);
    int32_t *want = malloc(((size_t)k + 1) * sizeof *want);
    CHECK(d_scores && (!row_len || d_len) && want);
    n_split_cases += ws_bytes > 0;
    /* path 2: split rows (where the launcher would); 1: one CTA per row; 0:
     * the same without the bitmaps (where a row is too long to keep whole) */
    for (int path_i = ws_bytes > 0 ? 2 : 1; path_i >= (L > 24576 ? 0 : 1); path_i--) {
        static const char *const paths[] = {"one CTA per row, no bitmaps", "one CTA per row",
                                            "split rows"};
        const char *path = paths[path_i];
        const int split = path_i == 2;
        sl_k_topk_tune_bitmaps(path_i != 0);
        int32_t *d_out = sl_gpu_poisoned(n_out * sizeof *d_out);
        void *ws = split ? sl_gpu_poisoned(ws_bytes) : NULL;
        CHECK(d_out && (!split || ws));
        CUDA_CHECK(
            sl_k_topk(d_scores, stride, d_len, rows, L, k, d_out, ws, split ? ws_bytes : 0, 0));
        CUDA_CHECK(cudaDeviceSynchronize());
        int32_t *got = sl_gpu_download(d_out, n_out * sizeof *got);
        int wrong_rows =
            got && want ? compare_rows(name, path, got, host, stride, rows, L, k, row_len, want)
                        : -1;
        CHECKF(wrong_rows == 0, "%s, %s (rows %d, L %d, k %d): %d rows differ", name, path, rows, L,
               k, wrong_rows);
        free(got);
        cudaFree(d_out), cudaFree(ws);
    }
    sl_k_topk_tune_bitmaps(1);
    free(want);
    cudaFree(d_scores), cudaFree(d_len);
}

/* rows × L scores of one kind, stride L (or L + pad). */
static void check_kind(enum kind kind, int rows, int L, int k, int pad)
{
    size_t stride = (size_t)L + (size_t)pad;
    float *s = malloc(((size_t)rows * stride + 1) * sizeof *s);
    for (int r = 0; r < rows; r++)
        for (size_t i = 0; i < stride; i++)
            s[(size_t)r * stride + i] = draw(kind, (int)i, L);
    char name[96];
    snprintf(name, sizeof name, "%s%s", kind_names[kind], pad ? " (padded stride)" : "");
    check_rows(name, s, stride, rows, L, k, NULL);
    free(s);
}

/* SGLang's repro (PR #30512): 100 winners and 8220 zeros at L = 8320,
 * k = 2048, so that 1948 of the zeros tie at the threshold. */
static void check_sglang_repro(void)
{
    const int L = 8320, k = 2048, rows = 8;
    float *s = malloc((size_t)rows * L * sizeof *s);
    for (int r = 0; r < rows; r++) {
        float *row = s + (size_t)r * L;
        for (int i = 0; i < L; i++)
            row[i] = 0.0f;
        for (int w = 0; w < 100; w++) /* winners anywhere, some twice */
            row[next_u64() % (uint64_t)L] = uniform(0.5f, 8.0f);
    }
    check_rows("100 winners + zeros", s, (size_t)L, rows, L, k, NULL);
    free(s);
}

/* `copies` copies of the boundary value at random positions, `above`
 * scores above it and the rest below: the threshold bin holds them all. */
static void check_threshold_ties(int rows, int L, int k, int above, int copies)
{
    float *s = malloc((size_t)rows * (size_t)L * sizeof *s);
    for (int r = 0; r < rows; r++) {
        float *row = s + (size_t)r * (size_t)L;
        for (int i = 0; i < L; i++)
            row[i] = uniform(-2.0f, 0.0f);
        for (int c = 0; c < copies; c++)
            row[next_u64() % (uint64_t)L] = 0.5f;
        for (int a = 0; a < above; a++)
            row[next_u64() % (uint64_t)L] = uniform(1.0f, 2.0f);
    }
    char name[96];
    snprintf(name, sizeof name, "%d ties at the threshold", copies);
    check_rows(name, s, (size_t)L, rows, L, k, NULL);
    free(s);
}

/* Causal rows: row t sees its first first_len + t positions (and a few
 * rows see none, or more than L). */
static void check_causal(enum kind kind, int rows, int L, int k, int first_len)
{
    float *s = malloc((size_t)rows * (size_t)L * sizeof *s);
    int32_t *len = malloc((size_t)rows * sizeof *len);
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < L; i++)
            s[(size_t)r * (size_t)L + (size_t)i] = draw(kind, i, L);
        len[r] = first_len + r;
    }
    len[0] = 0;
    if (rows > 2)
        len[1] = -5, len[rows - 1] = L + 100;
    char name[96];
    snprintf(name, sizeof name, "causal %s", kind_names[kind]);
    check_rows(name, s, (size_t)L, rows, L, k, len);
    free(s), free(len);
}

static void check_arguments(void)
{
    int32_t *d_out = sl_gpu_poisoned(64);
    float *d_s = sl_gpu_poisoned(64);
    CHECK(sl_k_topk(d_s, 16, NULL, 1, 16, -1, d_out, NULL, 0, 0) == cudaErrorInvalidValue);
    CHECK(sl_k_topk(d_s, 16, NULL, -1, 16, 4, d_out, NULL, 0, 0) == cudaErrorInvalidValue);
    CHECK(sl_k_topk(d_s, 8, NULL, 2, 16, 4, d_out, NULL, 0, 0) == cudaErrorInvalidValue);
    CHECK(sl_k_topk(d_s, 16, NULL, 1, 16, 4, NULL, NULL, 0, 0) == cudaErrorInvalidValue);
    CHECK(sl_k_topk(d_s, 16, NULL, 0, 16, 4, d_out, NULL, 0, 0) == cudaSuccess);
    CHECK(sl_k_topk(d_s, 16, NULL, 4, 16, 0, d_out, NULL, 0, 0) == cudaSuccess);
    CUDA_CHECK(cudaDeviceSynchronize());
    cudaFree(d_out), cudaFree(d_s);
}

/* Positions to slots of sequences laid end to end; -1 stays -1. */
static void check_to_slots(void)
{
    int32_t host[3 * 4] = {0, 5, -1, -1, 2, 3, 4, 9, -1, -1, -1, -1};
    int32_t *d = sl_gpu_upload(host, sizeof host);
    CUDA_CHECK(sl_k_topk_to_slots(d, 3, 4, 10, 0));
    int32_t *got = sl_gpu_download(d, sizeof host);
    int32_t want[12] = {0, 5, -1, -1, 12, 13, 14, 19, -1, -1, -1, -1};
    CHECK(got && memcmp(got, want, sizeof want) == 0);
    CHECK(sl_k_topk_to_slots(d, 3, 4, 1LL << 31, 0) == cudaErrorInvalidValue);
    free(got);
    cudaFree(d);
}

int main(void)
{
    sl_gpu_require();
    const char *env = getenv("SL_TOPK_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    fprintf(stderr, "seed %llu (SL_TOPK_SEED repeats it)\n", (unsigned long long)seed);
    rng_state = seed;
    env = getenv("SL_TOPK_QUICK");
    quick = env && *env ? strtoull(env, NULL, 10) : 0;
    sl_error err = {0};
    if (sl_topk_new(65536, &cpu_topk, &err) != SL_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    check_arguments();
    check_to_slots();

    /* Every kind: rows held whole in shared memory (L <= 24576), long rows
     * (the threshold's keys kept, or re-read), and a padded, unaligned stride. */
    for (int kind = 0; kind < N_KINDS; kind++) {
        check_kind((enum kind)kind, 64, 8192, 2048, 0);
        check_kind((enum kind)kind, 8, 131072, 2048, 0);
        check_kind((enum kind)kind, 16, 3001, 777, 3);
    }
    /* Odd sizes and k. */
    check_kind(UNIFORM, 3, 1, 1, 0);
    check_kind(UNIFORM, 3, 1, 2048, 0);
    check_kind(UNIFORM, 5, 2, 1, 1);
    check_kind(UNIFORM, 5, 7, 5, 0);
    check_kind(UNIFORM, 4, 2047, 2048, 0);
    check_kind(UNIFORM, 4, 2049, 2048, 0);
    check_kind(RELU, 4, 24577, 2048, 1);
    check_kind(UNIFORM, 4, 100003, 1, 0);
    check_kind(FEW_VALUES, 4, 100003, 4096, 0);
    check_kind(ANY_BITS, 4, 50001, 4095, 5);
    check_kind(SPECIALS, 4, 100003, 2048, 3);
    check_kind(LOW_BITS, 4, 65536, 8000, 0);
    check_kind(UNIFORM, 2, 40000, 39999, 0);
    /* The rows that broke SGLang's kernels. */
    check_sglang_repro();
    check_threshold_ties(8, 16384, 2048, 1000, 5000);
    check_threshold_ties(8, 131072, 2048, 2000, 5000); /* 48 of the ties kept */
    check_threshold_ties(8, 60000, 2048, 100, 50000);  /* the bin never fits: re-reads */
    check_threshold_ties(8, 131072, 2048, 100, 60000);
    check_threshold_ties(4, 1 << 20, 2048, 1500, 30000);
    check_kind(RELU, 200, 131072, 2048, 0); /* enough rows for one CTA per row */
    check_kind(UNIFORM, 4, 1 << 20, 2048, 0);
    check_kind(RELU, 4, 1 << 20, 2048, 0);
    check_kind(ALL_EQUAL, 2, 1 << 20, 2048, 0);
    check_kind(SPECIALS, 2, 1 << 20, 2048, 0);
    /* Causal rows. */
    check_causal(UNIFORM, 300, 4096, 2048, 1);
    check_causal(RELU, 300, 4096, 2048, 1900);
    check_causal(FEW_VALUES, 64, 65536, 2048, 30000);
    check_causal(RELU, 8, 131072, 2048, 100000);

    fprintf(stderr, "%d cases, %d of them also with rows split over CTAs\n", n_cases,
            n_split_cases);
    sl_topk_free(cpu_topk);
    return sl_test_finish();
}
