/* bench-gqa-attention.c: causal grouped-query attention on the GPU
 * (kernels/gqa-attention.cu) for SmolLM2-135M's shape (9 query heads, 3 KV
 * heads, head dim 64) and Llama-3-8B's (32/8, 128): prefill of 8K tokens,
 * decode of one token at positions 2K and 8K (µs per layer, with the split
 * combine), DSA's sparse variant with topk 2048, and the oracle's head mass.
 * FLOP counted as 4·H·Dh per (row, visible position) (QKᵀ and PV); decode
 * also in GB/s of K and V read. Decode caches rotate through 8 copies so
 * that L2 does not hold them. Median of timed repeats with CUDA events after
 * warm-up; decode also as a CUDA graph of 50 launches ("graph": the GPU's
 * time without the host's launch overhead), and with the split-KV target
 * swept (sl_k_gqa_tune), and prefill at head dim 64 with one m16 tile a
 * warp beside the default two. Not a test; run by hand:
 *   build/tests/bench/bench-gqa-attention [--json FILE] */
#include "bench-cuda.h"
#include "sightline-kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CTX = 8192, ROTATE = 8, TOPK = 2048 };

static cudaStream_t stream;

static void ck(cudaError_t e, const char *what)
{
    if (e != cudaSuccess) {
        fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
        exit(1);
    }
}

static void *dev_bf16(size_t n, uint64_t seed)
{
    void *p = NULL;
    ck(cudaMalloc(&p, n * 2), "cudaMalloc");
    ck(sl_k_fill_bf16(p, n, seed, 1.0f, 0), "fill");
    return p;
}

typedef struct {
    const char *model;
    int H, Hkv, Dh;
} shape;

typedef enum { DENSE, SPARSE, MASS } kind;

typedef struct {
    kind k;
    shape s;
    int n, first_pos;
    const sl_bf16 *q, *kc, *vc; /* caches: ROTATE copies of CTX positions (decode) */
    const int32_t *idx;
    sl_bf16 *out;
    float *mass;
    void *ws;
    size_t ws_bytes;
    int rotate;
} run_args;

static void launch(const run_args *a, int i)
{
    size_t off = a->rotate ? (size_t)(i % ROTATE) * CTX * (size_t)a->s.Hkv * (size_t)a->s.Dh : 0;
    float scale = 1.0f / sqrtf((float)a->s.Dh);
    cudaError_t e;
    if (a->k == DENSE)
        e = sl_k_gqa_attention(a->q, a->kc + off, a->vc + off, a->n, a->first_pos, a->s.H, a->s.Hkv, a->s.Dh, scale,
                               a->out, a->ws, a->ws_bytes, stream);
    else if (a->k == SPARSE)
        e = sl_k_gqa_sparse_attention(a->q, a->kc + off, a->vc + off, a->idx, a->n, TOPK, a->first_pos, a->s.H,
                                      a->s.Hkv, a->s.Dh, scale, a->out, a->ws, a->ws_bytes, stream);
    else
        e = sl_k_gqa_head_mass(a->q, a->kc + off, a->n, a->first_pos, a->s.H, a->s.Hkv, a->s.Dh, scale, a->mass,
                               a->ws, a->ws_bytes, stream);
    ck(e, "launch");
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Median microseconds per launch over `reps` timings of `per` launches each. */
static double time_us(const run_args *a, int warm, int reps, int per)
{
    cudaEvent_t e0, e1;
    ck(cudaEventCreate(&e0), "event");
    ck(cudaEventCreate(&e1), "event");
    for (int i = 0; i < warm; i++)
        launch(a, i);
    ck(cudaStreamSynchronize(stream), "warm-up");
    float *ms = malloc((size_t)reps * sizeof *ms);
    int n = 0;
    for (int r = 0; r < reps; r++) {
        ck(cudaEventRecord(e0, stream), "record");
        for (int i = 0; i < per; i++)
            launch(a, n++);
        ck(cudaEventRecord(e1, stream), "record");
        ck(cudaEventSynchronize(e1), "sync");
        ck(cudaEventElapsedTime(&ms[r], e0, e1), "elapsed");
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp_float);
    double us = 1000.0 * ms[reps / 2] / per;
    free(ms);
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    return us;
}

/* The same for a CUDA graph of `per` launches, launched `reps` times. */
static double time_graph_us(const run_args *a, int reps, int per)
{
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    ck(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed), "capture");
    for (int i = 0; i < per; i++)
        launch(a, i);
    ck(cudaStreamEndCapture(stream, &graph), "capture");
    ck(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
    cudaEvent_t e0, e1;
    ck(cudaEventCreate(&e0), "event");
    ck(cudaEventCreate(&e1), "event");
    for (int i = 0; i < 3; i++)
        ck(cudaGraphLaunch(exec, stream), "graph");
    ck(cudaStreamSynchronize(stream), "warm-up");
    float *ms = malloc((size_t)reps * sizeof *ms);
    for (int r = 0; r < reps; r++) {
        ck(cudaEventRecord(e0, stream), "record");
        ck(cudaGraphLaunch(exec, stream), "graph");
        ck(cudaEventRecord(e1, stream), "record");
        ck(cudaEventSynchronize(e1), "sync");
        ck(cudaEventElapsedTime(&ms[r], e0, e1), "elapsed");
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp_float);
    double us = 1000.0 * ms[reps / 2] / per;
    free(ms);
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    cudaGraphExecDestroy(exec), cudaGraphDestroy(graph);
    return us;
}

static FILE *json;
static int json_n;

static void report(const char *name, const run_args *a, double us)
{
    /* visible (row, position) pairs */
    double pairs = 0;
    for (int t = 0; t < a->n; t++) {
        double vis = (double)a->first_pos + t + 1;
        pairs += a->k == SPARSE ? (vis < TOPK ? vis : TOPK) : vis;
    }
    double flop = 4.0 * a->s.H * a->s.Dh * pairs; /* the head mass: two QKᵀ passes */
    double tflops = flop / (us * 1e-6) / 1e12;
    double bytes = a->n == 1 ? 2.0 * 2.0 * (a->k == SPARSE && pairs < a->first_pos + 1 ? pairs : a->first_pos + 1) *
                                   a->s.Hkv * a->s.Dh
                             : 0;
    double gbs = bytes / (us * 1e-6) / 1e9;
    printf("%-10s %-14s n=%-5d pos=%-5d %10.1f us  %7.2f TFLOP/s", a->s.model, name, a->n, a->first_pos, us, tflops);
    if (bytes > 0)
        printf("  %7.1f GB/s of K+V", gbs);
    printf("\n");
    fflush(stdout);
    if (json)
        fprintf(json,
                "%s\n    {\"model\": \"%s\", \"case\": \"%s\", \"H\": %d, \"Hkv\": %d, \"Dh\": %d, \"n\": %d, "
                "\"first_pos\": %d, \"topk\": %d, \"us\": %.3f, \"tflops\": %.3f, \"kv_gbs\": %.1f}",
                json_n++ ? "," : "", a->s.model, name, a->s.H, a->s.Hkv, a->s.Dh, a->n, a->first_pos,
                a->k == SPARSE ? TOPK : 0, us, tflops, gbs);
}

/* TOPK entries a row: all visible positions where there are at most TOPK
 * (then -1), else TOPK random visible ones (a repeat counts twice). */
static int32_t *device_indices(int n, int first_pos)
{
    int32_t *h = malloc((size_t)n * TOPK * sizeof *h);
    uint64_t z = 12345;
    for (int t = 0; t < n; t++) {
        int vis = first_pos + t + 1;
        for (int j = 0; j < TOPK; j++) {
            z = z * 6364136223846793005ull + 1442695040888963407ull;
            h[(size_t)t * TOPK + j] = j < vis ? (vis <= TOPK ? j : (int32_t)((z >> 33) % (uint64_t)vis)) : -1;
        }
    }
    int32_t *d = NULL;
    ck(cudaMalloc((void **)&d, (size_t)n * TOPK * sizeof *h), "cudaMalloc");
    ck(cudaMemcpy(d, h, (size_t)n * TOPK * sizeof *h, cudaMemcpyHostToDevice), "cudaMemcpy");
    free(h);
    return d;
}

static void bench_shape(shape s)
{
    size_t kv = (size_t)ROTATE * CTX * (size_t)s.Hkv * (size_t)s.Dh;
    sl_bf16 *q = dev_bf16((size_t)CTX * (size_t)s.H * (size_t)s.Dh, 1);
    sl_bf16 *kc = dev_bf16(kv, 2), *vc = dev_bf16(kv, 3);
    sl_bf16 *out = NULL;
    ck(cudaMalloc((void **)&out, (size_t)CTX * (size_t)s.H * (size_t)s.Dh * 2), "cudaMalloc");
    run_args a = {DENSE, s, CTX, 0, q, kc, vc, NULL, out, NULL, NULL, 0, 0};

    /* prefill: 8K rows from position 0 */
    report("prefill", &a, time_us(&a, 2, 7, 1));
    if (s.Dh == 64) { /* one m16 tile a warp instead of two */
        sl_k_gqa_tune(0, 1);
        report("prefill-mt1", &a, time_us(&a, 2, 7, 1));
        sl_k_gqa_tune(0, 0);
    }

    /* decode: one token at positions 2K and 8K, per layer */
    const int dpos[2] = {2047, CTX - 1};
    for (int i = 0; i < 2; i++) {
        char name[64];
        a.n = 1, a.first_pos = dpos[i], a.rotate = 1;
        a.ws_bytes = sl_k_gqa_attention_workspace(1, a.first_pos, s.H, s.Hkv, s.Dh);
        ck(cudaMalloc(&a.ws, a.ws_bytes ? a.ws_bytes : 1), "cudaMalloc");
        report(i ? "decode-8K" : "decode-2K", &a, time_us(&a, 20, 21, 50));
        report(i ? "decode-8K-graph" : "decode-2K-graph", &a, time_graph_us(&a, 21, 50));
        cudaFree(a.ws);
        const int tunes[4] = {2, 4, 8, 16};
        for (int j = 0; j < 4; j++) {
            sl_k_gqa_tune(tunes[j], 0);
            a.ws_bytes = sl_k_gqa_attention_workspace(1, a.first_pos, s.H, s.Hkv, s.Dh);
            ck(cudaMalloc(&a.ws, a.ws_bytes ? a.ws_bytes : 1), "cudaMalloc");
            snprintf(name, sizeof name, "decode-%s-graph-t%d", i ? "8K" : "2K", tunes[j]);
            report(name, &a, time_graph_us(&a, 21, 50));
            cudaFree(a.ws);
        }
        sl_k_gqa_tune(0, 0);
        a.ws = NULL, a.ws_bytes = 0;
        report(i ? "decode-8K-nows-graph" : "decode-2K-nows-graph", &a, time_graph_us(&a, 21, 50));
    }

    /* DSA: topk 2048 over 8K positions, prefill and decode */
    a.k = SPARSE;
    a.n = CTX, a.first_pos = 0, a.rotate = 0;
    a.idx = device_indices(CTX, 0);
    report("sparse-prefill", &a, time_us(&a, 2, 7, 1));
    cudaFree((void *)a.idx);
    a.n = 1, a.first_pos = CTX - 1, a.rotate = 1;
    a.idx = device_indices(1, CTX - 1);
    a.ws_bytes = sl_k_gqa_sparse_attention_workspace(1, TOPK, s.H, s.Hkv, s.Dh);
    ck(cudaMalloc(&a.ws, a.ws_bytes ? a.ws_bytes : 1), "cudaMalloc");
    report("sparse-decode", &a, time_us(&a, 20, 21, 50));
    report("sparse-decode-graph", &a, time_graph_us(&a, 21, 50));
    cudaFree(a.ws), cudaFree((void *)a.idx);
    a.ws = NULL, a.idx = NULL;

    /* the oracle's head mass: 8K rows, and one row at 8K */
    a.k = MASS;
    ck(cudaMalloc((void **)&a.mass, (size_t)CTX * CTX * sizeof(float)), "cudaMalloc");
    const int mn[2] = {CTX, 1}, mp[2] = {0, CTX - 1};
    for (int i = 0; i < 2; i++) {
        a.n = mn[i], a.first_pos = mp[i], a.rotate = i;
        a.ws_bytes = sl_k_gqa_head_mass_workspace(a.n, a.first_pos, s.H, s.Hkv, s.Dh);
        ck(cudaMalloc(&a.ws, a.ws_bytes), "cudaMalloc");
        report(i ? "mass-decode" : "mass-prefill", &a, time_us(&a, 2, 7, i ? 20 : 1));
        if (i)
            report("mass-decode-graph", &a, time_graph_us(&a, 21, 20));
        cudaFree(a.ws);
    }
    cudaFree(a.mass);
    cudaFree(q), cudaFree(kc), cudaFree(vc), cudaFree(out);
}

int main(int argc, char **argv)
{
    const char *json_path = NULL;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--json") && i + 1 < argc)
            json_path = argv[++i];
    struct cudaDeviceProp prop;
    if (!bench_device("bench-gqa-attention", &prop))
        return 77;
    printf("%s, %d SMs\n", prop.name, prop.multiProcessorCount);
    ck(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
    if (json_path) {
        json = fopen(json_path, "w");
        if (json)
            fprintf(json, "{\n  \"device\": \"%s\",\n  \"flop_per_pair\": \"4*H*Dh\",\n  \"results\": [", prop.name);
    }
    const shape shapes[2] = {{"SmolLM2", 9, 3, 64}, {"Llama-3-8B", 32, 8, 128}};
    for (int i = 0; i < 2; i++)
        bench_shape(shapes[i]);
    if (json) {
        fprintf(json, "\n  ]\n}\n");
        fclose(json);
    }
    return 0;
}
