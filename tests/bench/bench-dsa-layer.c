/* bench-dsa-layer: one DeepSeek-V3.2 attention block at full width on the GPU,
 * with DSA: time per layer for a prefill of L tokens and for one decode step at
 * position L. The dense peer of the same block is tests/bench/peer-dense-layer.py
 * (PyTorch SDPA); tests/bench/plot-dsa-layer.py draws both as cost curves.
 *
 * Shapes (reference/dsa.md §1.1): hidden 7168, 128 heads, q LoRA 1536, latent
 * 512 + rope 64, nope 128, value 128; indexer 64 heads × 128, top-k 2048.
 * Random BF16 weights; the projections run through cuBLAS (BF16 in, float32
 * accumulation). What runs, per block of query rows:
 *   cq = x·Wq_a;  q = cq·Wq_b;  q's nope part absorbed into the latent (W_UK)
 *   kv = x·Wkv_a (the cache, BF16 for prefill, DeepSeek's FP8 656-byte
 *       entries for decode)
 *   indexer: qI = cq·WIq, kI = x·WIk, w = x·WIw; q and k to e4m3 with
 *       power-of-two scales, q's folded into w; FP8 scores of each row against
 *       its causal prefix (row chunks: the [L × L] matrix never exists)
 *   exact top-k 2048 per row; sparse MQA attention over the selection;
 *   the value projection out of the latent (W_UV), then Wo.
 * Left out, as element-wise costs beside these: the RMSNorms, the RoPEs and
 * the indexer's LayerNorm and Hadamard rotation. The FFN (MoE) is not part of
 * the block: it costs the same per token with or without DSA.
 * Times: CUDA events after a warm-up, the median of the repeats.
 *
 * Decode runs for a batch of sequences, each at position L with caches of its
 * own (--batches 1,64): batch 1 is what a desktop user waits on, and is bound
 * by reading the weights; a larger batch is the serving regime of the
 * V3.2-Exp report's cost figure, where attention dominates.
 *
 * Cost at a position, as the report's Figure 3 draws it (the cost of a token
 * at position L, not the mean over a prompt of L): the last chunk of a chunked
 * prefill, rows L - C … L - 1 (--chunk C, 4096 by default) against the cache
 * of the rows before them, the chunk's own projections included.
 *
 * Each prefill is also run once with an event between its stages, and the
 * time of each stage summed over the row blocks is printed beside it (where
 * the prefill's time goes; those events add a little to that one run).
 *
 * usage: bench-dsa-layer [--lengths 8192,32768,65536,131072] [--batches 1,64] [--json F]
 *                        [--chunk 4096] [--score-rows 1024] [--sparse-mla V] [--topk-bitmaps 1]
 * --sparse-mla and --topk-bitmaps choose kernels as sl_k_sparse_mla_tune_wgmma
 * and sl_k_topk_tune_bitmaps do (the defaults: 0 and 1). */
#include "bench-cuda.h"
#include "sightline-kernels.h"

#include <cublas_v2.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D = 7168, H = 128, QL = 1536, KL = 512, ROPE = 64, NOPE = 128, VD = 128,
       QK = NOPE + ROPE, HI = 64, DI = 128, TOPK = 2048,
       ROW_BLOCK = 8192 }; /* query rows projected and attended at a time */
/* Rows of indexer scores held at a time (--score-rows): the top-k reads back
 * what the indexer wrote, from L2 where the rows × L scores fit in it. */
static int score_rows = 1024;
static const float SCALE = 0.135234f;

#define CB(call)                                                                           \
    do {                                                                                   \
        cublasStatus_t s_ = (call);                                                        \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                 \
            fprintf(stderr, "%s:%d: %s: cuBLAS status %d\n", __FILE__, __LINE__, #call,   \
                    (int)s_);                                                              \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

static cublasHandle_t blas;
static cudaStream_t stream; /* every launch: decode steps are captured as a graph */

static void *dev(size_t bytes)
{
    void *p = NULL;
    CK(cudaMalloc(&p, bytes));
    return p;
}

/* y[t][o] = Σ_i x[t][i]·W[o][i]: W [out × in] row-major BF16, x [n × in] BF16,
 * y [n × out] in BF16 or float32. */
static void linear(const sl_bf16 *w, int out, int in, const sl_bf16 *x, int n, void *y,
                   bool y_f32)
{
    float one = 1.0f, zero = 0.0f;
    CB(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, CUDA_R_16BF, in, x,
                    CUDA_R_16BF, in, &zero, y, y_f32 ? CUDA_R_32F : CUDA_R_16BF, out,
                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

/* Stage marks: events recorded between the prefill's stages in one extra run. */
enum { ST_PROJECT, ST_INDEXER, ST_TOPK, ST_ATTEND, ST_OUT, N_STAGES, MAX_MARKS = 4096 };
static const char *const stage_names[N_STAGES] = {"projections", "indexer", "top-k",
                                                  "sparse MLA", "out"};
static struct {
    bool on;
    int n;
    cudaEvent_t ev[MAX_MARKS];
    int stage[MAX_MARKS]; /* the stage that ended at ev[i] */
} marks;

static void mark(int stage_done)
{
    if (!marks.on || marks.n == MAX_MARKS)
        return;
    if (!marks.ev[marks.n])
        CK(cudaEventCreate(&marks.ev[marks.n]));
    CK(cudaEventRecord(marks.ev[marks.n], stream));
    marks.stage[marks.n++] = stage_done;
}

typedef struct {
    sl_bf16 *q_a, *q_b, *kv_a, *kv_b, *o, *iq, *ik, *iw;
} weights;

static sl_bf16 *random_bf16(size_t n, uint64_t seed, float scale)
{
    sl_bf16 *p = dev(n * 2);
    CK(sl_k_fill_bf16(p, n, seed, scale, stream));
    return p;
}

static weights make_weights(void)
{
    return (weights){
        random_bf16((size_t)QL * D, 1, 1.0f / sqrtf(D)),
        random_bf16((size_t)H * QK * QL, 2, 1.0f / sqrtf(QL)),
        random_bf16((size_t)(KL + ROPE) * D, 3, 1.0f / sqrtf(D)),
        random_bf16((size_t)H * (NOPE + VD) * KL, 4, 1.0f / sqrtf(KL)),
        random_bf16((size_t)D * H * VD, 5, 1.0f / sqrtf(H * VD)),
        random_bf16((size_t)HI * DI * QL, 6, 1.0f / sqrtf(QL)),
        random_bf16((size_t)DI * D, 7, 1.0f / sqrtf(D)),
        random_bf16((size_t)HI * D, 8, 1.0f / sqrtf(D)),
    };
}

/* Q[t][h] = [q_nope·W_UK[h] (512) ‖ q_pe (64)] from q [n][H][192]. */
static void absorb(const weights *w, const sl_bf16 *q, int n, sl_bf16 *Q)
{
    float one = 1.0f, zero = 0.0f;
    CB(cublasGemmStridedBatchedEx(blas, CUBLAS_OP_N, CUBLAS_OP_N, KL, n, NOPE, &one, w->kv_b,
                                  CUDA_R_16BF, KL, (long long)(NOPE + VD) * KL, q, CUDA_R_16BF,
                                  H * QK, QK, &zero, Q, CUDA_R_16BF, H * (KL + ROPE), KL + ROPE,
                                  H, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    CK(cudaMemcpy2DAsync(Q + KL, (KL + ROPE) * 2, q + NOPE, QK * 2, ROPE * 2, (size_t)n * H,
                         cudaMemcpyDeviceToDevice, stream));
}

/* O[t][h] = W_UV[h]·O_lat[t][h] (512 → 128), then y = O·Woᵀ. */
static void unabsorb_and_project(const weights *w, const sl_bf16 *o_lat, int n, sl_bf16 *o,
                                 sl_bf16 *y)
{
    float one = 1.0f, zero = 0.0f;
    CB(cublasGemmStridedBatchedEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, VD, n, KL, &one,
                                  w->kv_b + (size_t)NOPE * KL, CUDA_R_16BF, KL,
                                  (long long)(NOPE + VD) * KL, o_lat, CUDA_R_16BF, H * KL, KL,
                                  &zero, o, CUDA_R_16BF, H * VD, VD, H, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
    linear(w->o, D, H * VD, o, n, y, false);
}

typedef struct {
    int L, first;               /* rows first … L - 1 are prefilled; the cache holds the rest */
    sl_bf16 *x, *kv;            /* [L][7168], the BF16 latent cache [L][576] */
    uint8_t *k8;                /* indexer keys, e4m3 [L][128] */
    float *k_scale, *kf;        /* [L], float32 keys before quantisation [L][128] */
    sl_bf16 *cq, *q, *Q, *o_lat, *o, *y;
    float *qf, *q_scale, *wI, *scores, *lse;
    uint8_t *q8;
    int32_t *ks, *ke, *idx;
    void *mla_ws;
    size_t mla_ws_bytes;
} prefill_bufs;

/* Rows r0 … r1 - 1 of the latent cache and the indexer's FP8 keys. */
static void project_cache(const weights *w, prefill_bufs *b, int r0, int r1)
{
    const sl_bf16 *x = b->x + (size_t)r0 * D;
    linear(w->kv_a, KL + ROPE, D, x, r1 - r0, b->kv + (size_t)r0 * (KL + ROPE), false);
    linear(w->ik, DI, D, x, r1 - r0, b->kf + (size_t)r0 * DI, true);
    CK(sl_k_quant_e4m3(b->kf + (size_t)r0 * DI, b->k8 + (size_t)r0 * DI, b->k_scale + r0,
                       (size_t)(r1 - r0) * DI, DI, stream));
}

/* Every stage of one layer's prefill of rows first … L - 1, row block by row
 * block, against a cache that already holds rows 0 … first - 1 (a chunked
 * prefill's last chunk; first = 0 is the whole prompt). */
static void prefill(const weights *w, prefill_bufs *b)
{
    int L = b->L;
    mark(-1);
    project_cache(w, b, b->first, L);
    mark(ST_PROJECT);
    for (int r0 = b->first; r0 < L; r0 += ROW_BLOCK) {
        int n = L - r0 < ROW_BLOCK ? L - r0 : ROW_BLOCK;
        const sl_bf16 *x = b->x + (size_t)r0 * D;
        linear(w->q_a, QL, D, x, n, b->cq, false);
        linear(w->q_b, H * QK, QL, b->cq, n, b->q, false);
        absorb(w, b->q, n, b->Q);
        linear(w->iq, HI * DI, QL, b->cq, n, b->qf, true);
        CK(sl_k_quant_e4m3(b->qf, b->q8, b->q_scale, (size_t)n * HI * DI, DI, stream));
        linear(w->iw, HI, D, x, n, b->wI, true);
        CK(sl_k_scale_groups(b->wI, b->q_scale, (size_t)n * HI, 1, stream));
        mark(ST_PROJECT);
        for (int s0 = 0; s0 < n; s0 += score_rows) {
            int m = n - s0 < score_rows ? n - s0 : score_rows;
            int visible = r0 + s0 + m; /* keys the chunk's last row sees */
            CK(sl_k_indexer_fp8(b->q8 + (size_t)s0 * HI * DI, b->wI + (size_t)s0 * HI, b->k8,
                                b->k_scale, b->ks + r0 + s0, b->ke + r0 + s0, m, HI, DI, visible,
                                b->scores, (size_t)L, stream));
            mark(ST_INDEXER);
            CK(sl_k_topk(b->scores, (size_t)L, b->ke + r0 + s0, m, visible, TOPK,
                         b->idx + (size_t)s0 * TOPK, NULL, 0, stream));
            mark(ST_TOPK);
        }
        CK(sl_k_sparse_mla_bf16(b->Q, b->kv, b->idx, n, H, L, TOPK, SCALE, b->o_lat, b->lse,
                                b->mla_ws, b->mla_ws_bytes, stream));
        mark(ST_ATTEND);
        unabsorb_and_project(w, b->o_lat, n, b->o, b->y);
        mark(ST_OUT);
    }
}

/* One more prefill with the marks on: milliseconds spent in each stage. */
static void prefill_stages(const weights *w, prefill_bufs *b, float ms[N_STAGES])
{
    memset(ms, 0, N_STAGES * sizeof *ms);
    marks.on = true;
    marks.n = 0;
    prefill(w, b);
    marks.on = false;
    CK(cudaStreamSynchronize(stream));
    for (int i = 1; i < marks.n; i++) {
        float t;
        CK(cudaEventElapsedTime(&t, marks.ev[i - 1], marks.ev[i]));
        ms[marks.stage[i]] += t;
    }
}

static prefill_bufs prefill_alloc(int L)
{
    prefill_bufs b = {.L = L};
    size_t n = ROW_BLOCK;
    b.x = random_bf16((size_t)L * D, 11, 1.0f);
    b.kv = dev((size_t)L * (KL + ROPE) * 2);
    b.k8 = dev((size_t)L * DI);
    b.k_scale = dev((size_t)L * 4);
    b.kf = dev((size_t)L * DI * 4);
    b.cq = dev(n * QL * 2);
    b.q = dev(n * H * QK * 2);
    b.Q = dev(n * H * (KL + ROPE) * 2);
    b.o_lat = dev(n * H * KL * 2);
    b.o = dev(n * H * VD * 2);
    b.y = dev(n * D * 2);
    b.qf = dev(n * HI * DI * 4);
    b.q8 = dev(n * HI * DI);
    b.q_scale = dev(n * HI * 4);
    b.wI = dev(n * HI * 4);
    b.scores = dev((size_t)score_rows * L * 4);
    b.idx = dev(n * TOPK * 4);
    b.lse = dev(n * H * 4);
    int32_t *ks = calloc((size_t)L, 4), *ke = malloc((size_t)L * 4);
    for (int t = 0; t < L; t++)
        ke[t] = t + 1; /* causal: row t sees positions 0 … t */
    b.ks = dev((size_t)L * 4);
    b.ke = dev((size_t)L * 4);
    CK(cudaMemcpy(b.ks, ks, (size_t)L * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(b.ke, ke, (size_t)L * 4, cudaMemcpyHostToDevice));
    free(ks);
    free(ke);
    b.mla_ws_bytes = sl_k_sparse_mla_workspace((int)n, H, TOPK);
    b.mla_ws = b.mla_ws_bytes ? dev(b.mla_ws_bytes) : NULL;
    return b;
}

static void prefill_free(prefill_bufs *b)
{
    void *all[] = {b->x, b->kv, b->k8, b->k_scale, b->kf, b->cq, b->q, b->Q, b->o_lat, b->o,
                   b->y, b->qf, b->q8, b->q_scale, b->wI, b->scores, b->idx, b->ks, b->ke,
                   b->mla_ws, b->lse};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        cudaFree(all[i]);
}

typedef struct {
    int L, B;                   /* B sequences, each at position L - 1 */
    sl_bf16 *x, *cq, *q, *Q, *o_lat, *o, *y;
    uint8_t *kv656, *ikv, *q8;  /* MLA cache [B·L][656 B]; paged indexer cache */
    float *qf, *q_scale, *wI, *scores, *lse;
    int32_t *table, *ks, *ke, *idx;
    void *mla_ws, *topk_ws;
    size_t mla_ws_bytes, topk_ws_bytes;
} decode_bufs;

/* One decode step of B sequences, each one token at position L - 1 against
 * its own caches of L positions: the MLA cache in DeepSeek's FP8 entries, the
 * indexer's keys paged in blocks of 64 tokens (132 B a token). */
static void decode(const weights *w, decode_bufs *b)
{
    int B = b->B, L = b->L;
    linear(w->q_a, QL, D, b->x, B, b->cq, false);
    linear(w->q_b, H * QK, QL, b->cq, B, b->q, false);
    absorb(w, b->q, B, b->Q);
    linear(w->iq, HI * DI, QL, b->cq, B, b->qf, true);
    CK(sl_k_quant_e4m3(b->qf, b->q8, b->q_scale, (size_t)B * HI * DI, DI, stream));
    linear(w->iw, HI, D, b->x, B, b->wI, true);
    CK(sl_k_scale_groups(b->wI, b->q_scale, (size_t)B * HI, 1, stream));
    CK(sl_k_indexer_fp8_paged(b->q8, b->wI, b->ikv, b->table, (L + 63) / 64, b->ks, b->ke, B, HI,
                              DI, L, b->scores, (size_t)L, stream));
    CK(sl_k_topk(b->scores, (size_t)L, b->ke, B, L, TOPK, b->idx, b->topk_ws, b->topk_ws_bytes,
                 stream));
    CK(sl_k_topk_to_slots(b->idx, B, TOPK, L, stream));
    CK(sl_k_sparse_mla_fp8(b->Q, b->kv656, b->idx, B, H, B * L, TOPK, SCALE, b->o_lat, b->lse,
                           b->mla_ws, b->mla_ws_bytes, stream));
    unabsorb_and_project(w, b->o_lat, B, b->o, b->y);
}

static decode_bufs decode_alloc(int L, int B)
{
    decode_bufs b = {.L = L, .B = B};
    size_t n = (size_t)B, blocks = ((size_t)L + 63) / 64;
    b.x = random_bf16(n * D, 21, 1.0f);
    b.cq = dev(n * QL * 2);
    b.q = dev(n * H * QK * 2);
    b.Q = dev(n * H * (KL + ROPE) * 2);
    b.o_lat = dev(n * H * KL * 2);
    b.o = dev(n * H * VD * 2);
    b.y = dev(n * D * 2);
    b.kv656 = dev(n * (size_t)L * 656);
    CK(sl_k_fill_kv656(b.kv656, n * (size_t)L, 22, stream));
    b.ikv = dev(n * blocks * 64 * (DI + 4)); /* e4m3 keys, then float scales, per block */
    CK(sl_k_fill_e4m3(b.ikv, n * blocks * 64 * (DI + 4), 23, stream));
    b.qf = dev(n * HI * DI * 4);
    b.q8 = dev(n * HI * DI);
    b.q_scale = dev(n * HI * 4);
    b.wI = dev(n * HI * 4);
    b.scores = dev(n * (size_t)L * 4);
    b.idx = dev(n * TOPK * 4);
    b.lse = dev(n * H * 4);
    int32_t *table = malloc(n * blocks * 4), *ks = calloc(n, 4), *ke = malloc(n * 4);
    for (size_t r = 0; r < n; r++) {
        ke[r] = L;
        for (size_t i = 0; i < blocks; i++)
            table[r * blocks + i] = (int32_t)(r * blocks + i);
    }
    b.table = dev(n * blocks * 4);
    b.ks = dev(n * 4);
    b.ke = dev(n * 4);
    CK(cudaMemcpy(b.table, table, n * blocks * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(b.ks, ks, n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(b.ke, ke, n * 4, cudaMemcpyHostToDevice));
    free(table), free(ks), free(ke);
    b.mla_ws_bytes = sl_k_sparse_mla_workspace(B, H, TOPK);
    b.mla_ws = b.mla_ws_bytes ? dev(b.mla_ws_bytes) : NULL;
    b.topk_ws_bytes = sl_k_topk_workspace(B, L, TOPK); /* few long rows spread over CTAs */
    b.topk_ws = b.topk_ws_bytes ? dev(b.topk_ws_bytes) : NULL;
    return b;
}

static void decode_free(decode_bufs *b)
{
    void *all[] = {b->x, b->cq, b->q, b->Q, b->o_lat, b->o, b->y, b->kv656, b->ikv, b->q8,
                   b->qf, b->q_scale, b->wI, b->scores, b->lse, b->table, b->ks, b->ke, b->idx,
                   b->mla_ws, b->topk_ws};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        cudaFree(all[i]);
}

static int by_value(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Median milliseconds of repeats of fn(ctx), after one warm-up. */
static float median_ms(void (*fn)(const weights *, void *), const weights *w, void *ctx,
                       int repeats)
{
    float t[64];
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    fn(w, ctx);
    CK(cudaStreamSynchronize(stream));
    for (int i = 0; i < repeats; i++) {
        CK(cudaEventRecord(a, stream));
        fn(w, ctx);
        CK(cudaEventRecord(b, stream));
        CK(cudaEventSynchronize(b));
        CK(cudaEventElapsedTime(&t[i], a, b));
    }
    qsort(t, (size_t)repeats, sizeof *t, by_value);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return t[repeats / 2];
}

static void run_prefill(const weights *w, void *b) { prefill(w, b); }

static void print_stages(const char *what, int L, int rows, const float ms[N_STAGES])
{
    printf("%8d %s stages (%d rows):", L, what, rows);
    for (int s = 0; s < N_STAGES; s++)
        printf(" %s %.2f ms%s", stage_names[s], ms[s], s + 1 < N_STAGES ? "," : "\n");
}

static void json_stages(FILE *out, const float ms[N_STAGES])
{
    fputc('{', out);
    for (int s = 0; s < N_STAGES; s++)
        fprintf(out, "%s\"%s\": %.4f", s ? ", " : "", stage_names[s], ms[s]);
    fputc('}', out);
}

static void run_decode(const weights *w, void *b) { decode(w, b); }

/* One decode step as a CUDA graph, as the engine runs it: launch gaps gone.
 * False (and said why) when the step cannot be captured. */
static bool decode_graph(const weights *w, decode_bufs *b, cudaGraphExec_t *exec)
{
    cudaGraph_t g = NULL;
    decode(w, b); /* first launches set kernel attributes, outside the capture */
    CK(cudaStreamSynchronize(stream));
    CK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
    decode(w, b);
    cudaError_t e = cudaStreamEndCapture(stream, &g);
    if (e == cudaSuccess)
        e = cudaGraphInstantiate(exec, g, 0);
    if (g)
        cudaGraphDestroy(g);
    if (e != cudaSuccess)
        fprintf(stderr, "bench-dsa-layer: decode not captured as a graph: %s\n", cudaGetErrorString(e));
    cudaGetLastError();
    return e == cudaSuccess;
}

static void run_graph(const weights *w, void *exec)
{
    (void)w;
    CK(cudaGraphLaunch(*(cudaGraphExec_t *)exec, stream));
}

int main(int argc, char **argv)
{
    const char *lengths = "8192,32768,65536,131072", *batches = "1,64", *json = NULL;
    int chunk = 4096;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--lengths"))
            lengths = argv[i + 1];
        else if (!strcmp(argv[i], "--batches"))
            batches = argv[i + 1];
        else if (!strcmp(argv[i], "--json"))
            json = argv[i + 1];
        else if (!strcmp(argv[i], "--chunk"))
            chunk = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--score-rows"))
            score_rows = atoi(argv[i + 1]) > 0 ? atoi(argv[i + 1]) : score_rows;
        else if (!strcmp(argv[i], "--sparse-mla"))
            sl_k_sparse_mla_tune_wgmma(atoi(argv[i + 1]));
        else if (!strcmp(argv[i], "--topk-bitmaps"))
            sl_k_topk_tune_bitmaps(atoi(argv[i + 1]));
    }
    struct cudaDeviceProp prop;
    if (!bench_device("bench-dsa-layer", &prop))
        return 1;
    CB(cublasCreate(&blas));
    CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    CB(cublasSetStream(blas, stream));
    weights w = make_weights();
    FILE *out = json ? fopen(json, "w") : NULL;
    if (out)
        fprintf(out, "{\"device\": \"%s\", \"top_k\": %d, \"rows\": [", prop.name, TOPK);
    printf("DeepSeek-V3.2 attention block with DSA (top-k %d) on %s\n", TOPK, prop.name);
    printf("%8s %12s %6s %12s %20s\n", "L", "prefill ms", "batch", "decode µs",
           "(without a graph)");
    int batch[8], n_batch = 0;
    for (const char *p = batches; *p && n_batch < 8; p = strchr(p, ',') ? strchr(p, ',') + 1 : "")
        batch[n_batch++] = atoi(p);
    char *list = strdup(lengths);
    int first = 1;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int L = atoi(tok);
        prefill_bufs pb = prefill_alloc(L);
        float p_ms = median_ms(run_prefill, &w, &pb, 3), stage_ms[N_STAGES];
        prefill_stages(&w, &pb, stage_ms);
        print_stages("prefill", L, L, stage_ms);
        int C = chunk > 0 && chunk < L ? chunk : L;
        pb.first = L - C; /* the whole prefill just filled the cache before it */
        float c_ms = median_ms(run_prefill, &w, &pb, 5), chunk_stage_ms[N_STAGES];
        prefill_stages(&w, &pb, chunk_stage_ms);
        printf("%8d chunk of %d rows at positions %d … %d: %.2f ms, %.2f µs a token\n", L, C,
               L - C, L - 1, c_ms, c_ms * 1000.0f / C);
        print_stages("chunk", L, C, chunk_stage_ms);
        prefill_free(&pb);
        if (out) {
            fprintf(out, "%s\n {\"length\": %d, \"prefill_ms\": %.4f, \"prefill_stages_ms\": ",
                    first ? "" : ",", L, p_ms);
            json_stages(out, stage_ms);
            fprintf(out, ", \"chunk\": {\"rows\": %d, \"ms\": %.4f, \"stages_ms\": ", C, c_ms);
            json_stages(out, chunk_stage_ms);
            fprintf(out, "}, \"decode\": [");
        }
        first = 0;
        for (int i = 0; i < n_batch; i++) {
            decode_bufs db = decode_alloc(L, batch[i]);
            float d_eager = median_ms(run_decode, &w, &db, 31);
            cudaGraphExec_t exec;
            float d_ms = d_eager;
            if (decode_graph(&w, &db, &exec)) {
                d_ms = median_ms(run_graph, &w, &exec, 31);
                CK(cudaGraphExecDestroy(exec));
            }
            decode_free(&db);
            printf("%8d %12.2f %6d %12.1f %20.1f\n", L, p_ms, batch[i], d_ms * 1000.0f,
                   d_eager * 1000.0f);
            fflush(stdout);
            if (out)
                fprintf(out, "%s{\"batch\": %d, \"ms\": %.6f, \"ms_without_graph\": %.6f}",
                        i ? ", " : "", batch[i], d_ms, d_eager);
        }
        if (out)
            fprintf(out, "]}");
    }
    if (out) {
        fprintf(out, "]}\n");
        fclose(out);
    }
    free(list);
    cublasDestroy(blas);
    return 0;
}
