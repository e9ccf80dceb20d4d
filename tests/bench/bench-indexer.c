/* bench-indexer: the lightning indexer's score kernels (kernels/indexer.cu)
 * on the GPU, beside the machine's measured ceilings. Not a test; run by hand:
 *   build/tests/bench/bench-indexer [--json OUT] [--quick]
 * Ceilings: device-to-device copy (GB/s, bytes read + written) and cuBLASLt
 * GEMM at 8192³ in BF16 and FP8 (e4m3 inputs with scales, bf16 out).
 * Indexer (H = 64, D = 128): prefill, 4096 rows at the last positions of
 * L = 8K, 32K, 128K (causal); TFLOP/s counts 2·H·D per (row, key) pair in
 * range. Decode: one row over L = 32K and 128K, µs and GB/s of key bytes
 * read (keys rotate among copies larger than L2 together; fp8 counts the
 * scales), and a batch of 64 rows, each its own 32K keys in the paged
 * cache. Each at 32 and 64 keys a warp of the mma.sync kernel; FP8 prefill
 * also on the wgmma kernel (sm_90 only; variants 1-3, see
 * sl_k_indexer_tune_wgmma), in the same run. Timed with CUDA events after
 * warm-up; the median of the repeats. */
#include "bench-cuda.h"
#include "sightline-kernels.h"

#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CKB(call)                                                                          \
    do {                                                                                   \
        cublasStatus_t s_ = (call);                                                        \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                 \
            fprintf(stderr, "%s:%d: %s: cublas status %d\n", __FILE__, __LINE__, #call,   \
                    (int)s_);                                                              \
            return -1.0;                                                                   \
        }                                                                                  \
    } while (0)

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint32_t next_u32(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* bf16 of uniform [-1, 1): sign, exponent 118..126, random mantissa. */
static uint16_t random_bf16(void)
{
    uint32_t r = next_u32();
    return (uint16_t)(((r & 1) << 15) | ((118 + (r >> 1) % 9) << 7) | ((r >> 8) & 0x7f));
}

/* e4m3 of magnitude 2^-3 … 2^2 (no NaN, nothing near overflow). */
static uint8_t random_e4m3(void)
{
    uint32_t r = next_u32();
    return (uint8_t)(((r & 1) << 7) | ((4 + (r >> 1) % 6) << 3) | ((r >> 8) & 7));
}

static void *upload_random(size_t n, int elem)
{
    uint8_t *h = malloc(n * (size_t)elem);
    for (size_t i = 0; i < n; i++) {
        if (elem == 2) {
            uint16_t b = random_bf16();
            memcpy(h + 2 * i, &b, 2);
        } else if (elem == 1) {
            h[i] = random_e4m3();
        } else {
            float f = (float)(next_u32() >> 8) / 8388608.0f - 1.0f;
            memcpy(h + 4 * i, &f, 4);
        }
    }
    void *d = NULL;
    CK(cudaMalloc(&d, n * (size_t)elem));
    CK(cudaMemcpy(d, h, n * (size_t)elem, cudaMemcpyHostToDevice));
    free(h);
    return d;
}

/* ---- ceilings ------------------------------------------------------------- */

typedef struct {
    void *src, *dst;
    size_t bytes;
} copy_ctx;

static cudaError_t run_copy(void *c, int rep)
{
    (void)rep;
    copy_ctx *x = c;
    return cudaMemcpyAsync(x->dst, x->src, x->bytes, cudaMemcpyDeviceToDevice, 0);
}

typedef struct {
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
    void *a, *b, *c, *ws;
    size_t ws_bytes;
    float alpha, beta;
} gemm_ctx;

static cudaError_t run_gemm(void *c, int rep)
{
    (void)rep;
    gemm_ctx *g = c;
    cublasStatus_t s = cublasLtMatmul(g->lt, g->desc, &g->alpha, g->a, g->la, g->b, g->lb,
                                      &g->beta, g->c, g->lc, g->c, g->lc, &g->algo, g->ws,
                                      g->ws_bytes, 0);
    return s == CUBLAS_STATUS_SUCCESS ? cudaGetLastError() : cudaErrorUnknown;
}

/* TFLOP/s of D = Aᵀ·B at n³ (A, B: e4m3 or bf16; D bf16; fp32 compute). */
static double gemm_tflops(cublasLtHandle_t lt, int fp8, int n)
{
    gemm_ctx g = {.lt = lt, .alpha = 1.0f, .beta = 0.0f, .ws_bytes = (size_t)64 << 20};
    cudaDataType_t in = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
    size_t nn = (size_t)n * (size_t)n;
    g.a = upload_random(nn, fp8 ? 1 : 2);
    g.b = upload_random(nn, fp8 ? 1 : 2);
    CK(cudaMalloc(&g.c, nn * 2));
    CK(cudaMalloc(&g.ws, g.ws_bytes));
    float one = 1.0f, *d_one = NULL;
    CK(cudaMalloc((void **)&d_one, sizeof one));
    CK(cudaMemcpy(d_one, &one, sizeof one, cudaMemcpyHostToDevice));
    CKB(cublasLtMatmulDescCreate(&g.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CKB(cublasLtMatmulDescSetAttribute(g.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CKB(cublasLtMatmulDescSetAttribute(g.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    if (fp8) {
        CKB(cublasLtMatmulDescSetAttribute(g.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &d_one,
                                           sizeof d_one));
        CKB(cublasLtMatmulDescSetAttribute(g.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &d_one,
                                           sizeof d_one));
    }
    CKB(cublasLtMatrixLayoutCreate(&g.la, in, (uint64_t)n, (uint64_t)n, (int64_t)n));
    CKB(cublasLtMatrixLayoutCreate(&g.lb, in, (uint64_t)n, (uint64_t)n, (int64_t)n));
    CKB(cublasLtMatrixLayoutCreate(&g.lc, CUDA_R_16BF, (uint64_t)n, (uint64_t)n, (int64_t)n));
    cublasLtMatmulPreference_t pref;
    CKB(cublasLtMatmulPreferenceCreate(&pref));
    CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                             &g.ws_bytes, sizeof g.ws_bytes));
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    CKB(cublasLtMatmulAlgoGetHeuristic(lt, g.desc, g.la, g.lb, g.lc, g.lc, pref, 1, &res, &found));
    if (!found) {
        fprintf(stderr, "cublasLt: no %s algorithm\n", fp8 ? "FP8" : "BF16");
        return -1.0;
    }
    g.algo = res.algo;
    double ms = time_ms(run_gemm, &g, 3, 15);
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(g.la), cublasLtMatrixLayoutDestroy(g.lb);
    cublasLtMatrixLayoutDestroy(g.lc), cublasLtMatmulDescDestroy(g.desc);
    cudaFree(g.a), cudaFree(g.b), cudaFree(g.c), cudaFree(g.ws), cudaFree(d_one);
    return 2.0 * (double)n * (double)n * (double)n / (ms * 1e-3) / 1e12;
}

/* ---- the indexer ---------------------------------------------------------- */

enum { BF16, FP8, FP8_PAGED };
static const char *mode_name[] = {"bf16", "fp8", "fp8-paged"};

typedef struct {
    int mode, rows, H, D, L, copies;
    void *q, *k;          /* k: `copies` key sets (or paged caches), one after another */
    float *w, *kscale, *out;
    int32_t *ks, *ke, *bt;
    size_t k_bytes;       /* one key set */
    size_t kscale_n;
} ix_ctx;

static cudaError_t run_ix(void *c, int rep)
{
    ix_ctx *x = c;
    int copy = rep % x->copies;
    const uint8_t *k = (const uint8_t *)x->k + (size_t)copy * x->k_bytes;
    switch (x->mode) {
    case BF16:
        return sl_k_indexer_bf16(x->q, x->w, (const sl_bf16 *)k, x->ks, x->ke, x->rows, x->H, x->D,
                                 x->L, x->out, (size_t)x->L, 0);
    case FP8:
        return sl_k_indexer_fp8(x->q, x->w, k, x->kscale + (size_t)copy * x->kscale_n, x->ks,
                                x->ke, x->rows, x->H, x->D, x->L, x->out, (size_t)x->L, 0);
    default:
        return sl_k_indexer_fp8_paged(x->q, x->w, k, x->bt, (x->L + 63) / 64, x->ks, x->ke,
                                      x->rows, x->H, x->D, x->L, x->out, (size_t)x->L, 0);
    }
}

typedef struct {
    const char *mode, *kind;
    int rows, L, keys_per_warp, wgmma;
    double ms, tflops, gbps;
} ix_result;

/* wgmma: 0 the mma.sync kernel at keys_per_warp; 1-3 that wgmma variant. */
static ix_result bench_ix(int mode, int rows, int L, int keys_per_warp, int wgmma, size_t l2)
{
    const int H = 64, D = 128;
    ix_ctx x = {.mode = mode, .rows = rows, .H = H, .D = D, .L = L};
    int elem = mode == BF16 ? 2 : 1;
    /* Paged with several rows: a decode batch, each row its own sequence of
     * L keys in its own blocks; the others: one sequence of keys. */
    int batch = mode == FP8_PAGED ? rows : 1;
    x.k_bytes = mode == FP8_PAGED ? (size_t)batch * ((L + 63) / 64) * 64 * (D + 4)
                                  : (size_t)L * D * (size_t)elem;
    size_t read_bytes = x.k_bytes + (mode == FP8 ? (size_t)L * 4 : 0);
    /* Decode reads only keys: rotate copies so that their total passes 2·L2. */
    int decode = rows == 1 || mode == FP8_PAGED;
    x.copies = read_bytes > 2 * l2 || !decode ? 1 : (int)((2 * l2 + read_bytes - 1) / read_bytes) + 1;
    x.q = upload_random((size_t)rows * H * D, elem);
    x.w = upload_random((size_t)rows * H, 4);
    x.k = upload_random(x.k_bytes * (size_t)x.copies, elem == 2 ? 2 : 1);
    if (mode == FP8_PAGED) {
        /* Scales in each block's tail: overwrite them with 2^-4. */
        size_t nb = (size_t)batch * ((L + 63) / 64) * (size_t)x.copies;
        float *sc = malloc(64 * sizeof *sc);
        for (int i = 0; i < 64; i++)
            sc[i] = 0.0625f;
        for (size_t b = 0; b < nb; b++)
            CK(cudaMemcpy((uint8_t *)x.k + b * 64 * (D + 4) + 64 * D, sc, 64 * sizeof *sc,
                          cudaMemcpyHostToDevice));
        free(sc);
        int nbl = (L + 63) / 64;
        int32_t *bt = malloc((size_t)rows * nbl * 4);
        for (int r = 0; r < rows; r++)
            for (int b = 0; b < nbl; b++)
                bt[(size_t)r * nbl + b] = r * nbl + (int32_t)(((size_t)b * 7919u) % (size_t)nbl);
        CK(cudaMalloc((void **)&x.bt, (size_t)rows * nbl * 4));
        CK(cudaMemcpy(x.bt, bt, (size_t)rows * nbl * 4, cudaMemcpyHostToDevice));
        free(bt);
    }
    x.kscale_n = (size_t)L;
    float *ksc = malloc((size_t)L * x.copies * sizeof *ksc);
    for (size_t i = 0; i < (size_t)L * x.copies; i++)
        ksc[i] = 0.0625f;
    CK(cudaMalloc((void **)&x.kscale, (size_t)L * x.copies * sizeof *ksc));
    CK(cudaMemcpy(x.kscale, ksc, (size_t)L * x.copies * sizeof *ksc, cudaMemcpyHostToDevice));
    free(ksc);
    int32_t *ks = malloc((size_t)rows * 4), *ke = malloc((size_t)rows * 4);
    double pairs = 0;
    for (int r = 0; r < rows; r++) {
        ks[r] = 0;
        ke[r] = decode ? L : L - rows + r + 1;
        pairs += ke[r] > 0 ? ke[r] : 0;
    }
    CK(cudaMalloc((void **)&x.ks, (size_t)rows * 4));
    CK(cudaMalloc((void **)&x.ke, (size_t)rows * 4));
    CK(cudaMemcpy(x.ks, ks, (size_t)rows * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(x.ke, ke, (size_t)rows * 4, cudaMemcpyHostToDevice));
    free(ks), free(ke);
    CK(cudaMalloc((void **)&x.out, (size_t)rows * L * sizeof(float)));
    int reps = !decode ? (L > 65536 ? 5 : 10) : rows > 1 ? 20 : 50;
    sl_k_indexer_tune(wgmma ? 0 : keys_per_warp);
    sl_k_indexer_tune_wgmma(wgmma ? wgmma : -1);
    double ms = time_ms(run_ix, &x, decode ? 2 * x.copies : 2, reps);
    ix_result r = {.mode = mode_name[mode], .kind = decode ? "decode" : "prefill",
                   .rows = rows, .L = L, .keys_per_warp = wgmma ? 0 : keys_per_warp,
                   .wgmma = wgmma, .ms = ms};
    sl_k_indexer_tune(0);
    sl_k_indexer_tune_wgmma(0);
    r.tflops = 2.0 * H * D * pairs / (ms * 1e-3) / 1e12;
    r.gbps = (double)read_bytes / (ms * 1e-3) / 1e9;
    cudaFree(x.q), cudaFree(x.w), cudaFree(x.k), cudaFree(x.kscale), cudaFree(x.ks);
    cudaFree(x.ke), cudaFree(x.out), cudaFree(x.bt);
    return r;
}

int main(int argc, char **argv)
{
    const char *json = NULL;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json") && i + 1 < argc)
            json = argv[++i];
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else {
            fprintf(stderr, "usage: bench-indexer [--json OUT] [--quick]\n");
            return 2;
        }
    }
    struct cudaDeviceProp prop;
    if (!bench_device("bench-indexer", &prop))
        return 77;
    size_t l2 = (size_t)prop.l2CacheSize;

    /* Ceilings. */
    copy_ctx cc = {.bytes = (size_t)1 << 30};
    CK(cudaMalloc(&cc.src, cc.bytes));
    CK(cudaMalloc(&cc.dst, cc.bytes));
    CK(cudaMemset(cc.src, 0x3c, cc.bytes));
    double copy_ms = time_ms(run_copy, &cc, 3, 20);
    double copy_gbps = 2.0 * (double)cc.bytes / (copy_ms * 1e-3) / 1e9;
    cudaFree(cc.src), cudaFree(cc.dst);
    cublasLtHandle_t lt;
    double bf16_tf = -1, fp8_tf = -1;
    if (cublasLtCreate(&lt) == CUBLAS_STATUS_SUCCESS) {
        bf16_tf = gemm_tflops(lt, 0, 8192);
        fp8_tf = gemm_tflops(lt, 1, 8192);
        cublasLtDestroy(lt);
    }
    printf("device %s, %d SMs, L2 %zu MiB\n", prop.name, prop.multiProcessorCount, l2 >> 20);
    printf("ceilings: d2d copy %.0f GB/s (read + write), cuBLASLt 8192^3 bf16 %.0f TFLOP/s, "
           "fp8 %.0f TFLOP/s\n",
           copy_gbps, bf16_tf, fp8_tf);

    ix_result res[64];
    int nr = 0;
    int hopper = prop.major == 9 && prop.minor == 0;
    static const int prefill_L[] = {8192, 32768, 131072};
    static const int decode_L[] = {32768, 131072};
    /* Both tilings (32 and 64 keys a warp) of each. */
    for (int mode = BF16; mode <= FP8; mode++)
        for (int i = 0; i < (quick ? 1 : 3); i++)
            for (int kpw = 32; kpw <= 64; kpw *= 2)
                res[nr++] = bench_ix(mode, 4096, prefill_L[i], kpw, 0, l2);
    for (int i = 0; hopper && i < (quick ? 1 : 3); i++)
        for (int v = 1; v <= 3; v++)
            res[nr++] = bench_ix(FP8, 4096, prefill_L[i], 0, v, l2);
    for (int mode = BF16; mode <= FP8_PAGED; mode++)
        for (int i = 0; i < 2; i++)
            for (int kpw = 32; kpw <= 64; kpw *= 2)
                res[nr++] = bench_ix(mode, 1, decode_L[i], kpw, 0, l2);
    /* A decode batch: 64 sequences of 32K keys each in the paged cache. */
    for (int kpw = 32; kpw <= 64; kpw *= 2)
        res[nr++] = bench_ix(FP8_PAGED, 64, 32768, kpw, 0, l2);
    printf("%-10s %-8s %-9s %5s %7s %11s %8s %8s %9s\n", "indexer", "kind", "kernel", "rows", "L",
           "time", "TFLOP/s", "of fp8", "key GB/s");
    for (int i = 0; i < nr; i++) {
        char kernel[16];
        if (res[i].wgmma)
            snprintf(kernel, sizeof kernel, "wgmma-%d", res[i].wgmma);
        else
            snprintf(kernel, sizeof kernel, "mma-%d", res[i].keys_per_warp);
        printf("%-10s %-8s %-9s %5d %7d %8.1f us %8.1f %7.1f%% %9.0f\n", res[i].mode, res[i].kind,
               kernel, res[i].rows, res[i].L, res[i].ms * 1e3, res[i].tflops,
               fp8_tf > 0 ? 100.0 * res[i].tflops / fp8_tf : 0.0, res[i].gbps);
    }

    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) {
            perror(json);
            return 1;
        }
        fprintf(f, "{\n  \"device\": \"%s\",\n  \"sms\": %d,\n", prop.name, prop.multiProcessorCount);
        fprintf(f, "  \"ceilings\": {\"d2d_copy_gbps\": %.1f, \"cublaslt_bf16_tflops\": %.1f, "
                   "\"cublaslt_fp8_tflops\": %.1f, \"gemm_n\": 8192},\n",
                copy_gbps, bf16_tf, fp8_tf);
        fprintf(f, "  \"indexer\": {\"H\": 64, \"D\": 128, \"runs\": [\n");
        for (int i = 0; i < nr; i++)
            fprintf(f,
                    "    {\"mode\": \"%s\", \"kind\": \"%s\", \"keys_per_warp\": %d, "
                    "\"wgmma_variant\": %d, \"rows\": %d, \"L\": %d, \"us\": %.2f, "
                    "\"tflops\": %.2f, \"key_gbps\": %.1f}%s\n",
                    res[i].mode, res[i].kind, res[i].keys_per_warp, res[i].wgmma, res[i].rows,
                    res[i].L,
                    res[i].ms * 1e3,
                    res[i].tflops, res[i].gbps, i + 1 < nr ? "," : "");
        fprintf(f, "  ]}\n}\n");
        fclose(f);
    }
    return 0;
}
