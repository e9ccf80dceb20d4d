/* bench-sparse-mla.c: sparse MLA attention (kernels/sparse-mla.cu) in
 * TFLOP/s, counted as FlashMLA does: 2·topk·H·(576 + 512) per query row.
 * Prefill: 4096 rows, H = 128, topk 2048, bf16 cache of 8K … 128K positions,
 * on the default kernel (wgmma on sm_90), the mma.sync one and each of
 * wgmma's variants; the FP8 cases on the default kernel and on mma.sync.
 * Decode: FP8 cache of 32K positions, topk 2048, batch 1 (µs per layer) and
 * 128; decode caches rotate through four copies so that L2 does not hold
 * them. Median of timed repeats with CUDA events after warm-up. Not a test;
 * run by hand:  build/tests/bench/bench-sparse-mla [--json FILE] */
#include "bench-cuda.h"
#include "sightline-kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DQK = 576, DV = 512, FP8_ROW = 656, H = 128, TOPK = 2048, ROTATE = 4 };
static const float SCALE = 0.135234f;

static uint64_t state = 42;

static uint64_t next_u64(void) /* splitmix64 */
{
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int failed;

static void ck(cudaError_t e, const char *what)
{
    if (e != cudaSuccess) {
        fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
        failed = 1;
        exit(1);
    }
}

/* n bf16 values of uniform(−1, 1) on the device (fill.cu, a fresh seed each). */
static void *device_random_bf16(size_t n)
{
    void *d = NULL;
    ck(cudaMalloc(&d, n * 2), "cudaMalloc");
    ck(sl_k_fill_bf16(d, n, next_u64(), 1.0f, 0), "fill");
    return d;
}

/* S of DeepSeek's 656-byte FP8 entries (fill.cu): e4m3 bytes that are not NaN,
 * power-of-two scales, bf16 rope. */
static void *device_fp8_cache(int S)
{
    void *d = NULL;
    ck(cudaMalloc(&d, (size_t)S * FP8_ROW), "cudaMalloc");
    ck(sl_k_fill_kv656(d, (size_t)S, next_u64(), 0), "fill");
    return d;
}

/* topk distinct positions a row: (a·j + b) mod S, a odd, S a power of two. */
static int32_t *device_indices(int T, int S)
{
    int32_t *h = malloc((size_t)T * TOPK * sizeof *h);
    for (int t = 0; t < T; t++) {
        uint32_t a = (uint32_t)next_u64() | 1u, b = (uint32_t)next_u64();
        for (int j = 0; j < TOPK; j++)
            h[(size_t)t * TOPK + j] = (int32_t)((a * (uint32_t)j + b) & (uint32_t)(S - 1));
    }
    int32_t *d = NULL;
    ck(cudaMalloc((void **)&d, (size_t)T * TOPK * sizeof *h), "cudaMalloc");
    ck(cudaMemcpy(d, h, (size_t)T * TOPK * sizeof *h, cudaMemcpyHostToDevice), "cudaMemcpy");
    free(h);
    return d;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const void *q;
    const void *kv[ROTATE];
    const int32_t *idx[ROTATE];
    int T, S, fp8;
    sl_bf16 *out;
    float *lse;
    void *ws;
    size_t ws_bytes;
} run_args;

static void launch(const run_args *a, int i)
{
    int r = i % ROTATE;
    cudaError_t e = a->fp8 ? sl_k_sparse_mla_fp8(a->q, a->kv[r] ? a->kv[r] : a->kv[0], a->idx[r] ? a->idx[r] : a->idx[0],
                                                 a->T, H, a->S, TOPK, SCALE, a->out, a->lse, a->ws, a->ws_bytes, 0)
                           : sl_k_sparse_mla_bf16(a->q, a->kv[r] ? a->kv[r] : a->kv[0],
                                                  a->idx[r] ? a->idx[r] : a->idx[0], a->T, H, a->S, TOPK, SCALE,
                                                  a->out, a->lse, a->ws, a->ws_bytes, 0);
    ck(e, "launch");
}

/* Median microseconds per launch over `reps` timings of `per` launches each. */
static double time_us(const run_args *a, int warm, int reps, int per)
{
    cudaEvent_t e0, e1;
    ck(cudaEventCreate(&e0), "event");
    ck(cudaEventCreate(&e1), "event");
    for (int i = 0; i < warm; i++)
        launch(a, i);
    ck(cudaDeviceSynchronize(), "warm-up");
    float *ms = malloc((size_t)reps * sizeof *ms);
    int n = 0;
    for (int r = 0; r < reps; r++) {
        ck(cudaEventRecord(e0, 0), "record");
        for (int i = 0; i < per; i++)
            launch(a, n++);
        ck(cudaEventRecord(e1, 0), "record");
        ck(cudaEventSynchronize(e1), "sync");
        ck(cudaEventElapsedTime(&ms[r], e0, e1), "elapsed");
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp_float);
    double us = 1000.0 * ms[reps / 2] / per;
    free(ms);
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    return us;
}

static FILE *json;
static int json_n;

static void report(const char *name, int T, int S, double us)
{
    double tflops = 2.0 * TOPK * H * (DQK + DV) * (double)T / (us * 1e-6) / 1e12;
    printf("%-14s T=%-5d S=%-7d %10.1f us  %7.1f TFLOP/s\n", name, T, S, us, tflops);
    fflush(stdout);
    if (json)
        fprintf(json, "%s\n    {\"name\": \"%s\", \"T\": %d, \"H\": %d, \"S\": %d, \"topk\": %d, "
                      "\"us\": %.3f, \"tflops\": %.2f}",
                json_n++ ? "," : "", name, T, H, S, TOPK, us, tflops);
}

int main(int argc, char **argv)
{
    const char *json_path = NULL;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--json") && i + 1 < argc)
            json_path = argv[++i];
    struct cudaDeviceProp prop;
    if (!bench_device("bench-sparse-mla", &prop))
        return 77;
    printf("%s, %d SMs\n", prop.name, prop.multiProcessorCount);
    if (json_path) {
        json = fopen(json_path, "w");
        if (json)
            fprintf(json, "{\n  \"device\": \"%s\",\n  \"flop_per_row\": \"2*topk*H*(576+512)\",\n  \"results\": [",
                    prop.name);
    }

    /* prefill: bf16 cache */
    const int T_PRE = 4096, S_MAX = 131072;
    void *q = device_random_bf16((size_t)T_PRE * H * DQK);
    void *kv = device_random_bf16((size_t)S_MAX * DQK);
    sl_bf16 *out = NULL;
    float *lse = NULL;
    ck(cudaMalloc((void **)&out, (size_t)T_PRE * H * DV * 2), "cudaMalloc");
    ck(cudaMalloc((void **)&lse, (size_t)T_PRE * H * sizeof(float)), "cudaMalloc");
    const int sizes[] = {8192, 32768, 65536, 131072};
    for (int i = 0; i < 4; i++) {
        run_args a = {q, {kv}, {device_indices(T_PRE, sizes[i])}, T_PRE, sizes[i], 0, out, lse, NULL, 0};
        report("prefill_bf16", T_PRE, sizes[i], time_us(&a, 1, 5, 1));
        sl_k_sparse_mla_tune_wgmma(-1); /* the mma.sync kernel, where wgmma is the default */
        report("prefill_bf16_mma", T_PRE, sizes[i], time_us(&a, 1, 5, 1));
        for (int v = 1; v <= 3; v++) { /* each wgmma variant */
            static const char *const names[] = {"", "prefill_wgmma1", "prefill_wgmma2",
                                                "prefill_wgmma3"};
            sl_k_sparse_mla_tune_wgmma(v);
            report(names[v], T_PRE, sizes[i], time_us(&a, 1, 5, 1));
        }
        sl_k_sparse_mla_tune_wgmma(0);
        cudaFree((void *)a.idx[0]);
    }

    /* decode (and one prefill) on the FP8 cache of 32K positions */
    const int S_DEC = 32768;
    run_args d = {q, {0}, {0}, 0, S_DEC, 1, out, lse, NULL, 0};
    for (int r = 0; r < ROTATE; r++)
        d.kv[r] = device_fp8_cache(S_DEC);
    d.T = T_PRE;
    d.idx[0] = device_indices(T_PRE, S_DEC);
    report("prefill_fp8", T_PRE, S_DEC, time_us(&d, 1, 5, 1));
    sl_k_sparse_mla_tune_wgmma(-1);
    report("prefill_fp8_mma", T_PRE, S_DEC, time_us(&d, 1, 5, 1));
    sl_k_sparse_mla_tune_wgmma(0);
    cudaFree((void *)d.idx[0]);
    const int batches[] = {1, 2, 32, 64, 128};
    for (int i = 0; i < 5; i++) {
        d.T = batches[i];
        for (int r = 0; r < ROTATE; r++)
            d.idx[r] = device_indices(d.T, S_DEC);
        d.ws_bytes = sl_k_sparse_mla_workspace(d.T, H, TOPK);
        d.ws = NULL;
        if (d.ws_bytes)
            ck(cudaMalloc(&d.ws, d.ws_bytes), "cudaMalloc");
        report("decode_fp8", d.T, S_DEC, time_us(&d, 20, 21, 20));
        sl_k_sparse_mla_tune_wgmma(-1);
        report("decode_fp8_mma", d.T, S_DEC, time_us(&d, 20, 21, 20));
        sl_k_sparse_mla_tune_wgmma(0);
        /* the same on the bf16 cache, for comparison */
        run_args b = d;
        b.fp8 = 0;
        for (int r = 0; r < ROTATE; r++)
            b.kv[r] = kv;
        report("decode_bf16", b.T, S_DEC, time_us(&b, 20, 21, 20));
        sl_k_sparse_mla_tune_wgmma(-1);
        report("decode_bf16_mma", b.T, S_DEC, time_us(&b, 20, 21, 20));
        sl_k_sparse_mla_tune_wgmma(2);
        report("decode_bf16_wgmma2", b.T, S_DEC, time_us(&b, 20, 21, 20));
        sl_k_sparse_mla_tune_wgmma(3);
        report("decode_bf16_wgmma3", b.T, S_DEC, time_us(&b, 20, 21, 20));
        sl_k_sparse_mla_tune_wgmma(0);
        for (int r = 0; r < ROTATE; r++)
            cudaFree((void *)d.idx[r]);
        cudaFree(d.ws);
    }
    if (json) {
        fprintf(json, "\n  ]\n}\n");
        fclose(json);
    }
    return failed;
}
