/* bench-fp8-gemm: DeepSeek's FP8 matrix products (e4m3 weights with one float
 * scale per 128 × 128 block, e4m3 activations with one per 1 × 128 block)
 * through cuBLASLt's block-scaled mode on Hopper, against its BF16 products
 * of the same shapes. Not a test; run by hand on an sm_90 GPU:
 *   build/tests/bench/bench-fp8-gemm
 *
 * First it works out, against a float64 product on the host, how cuBLASLt
 * wants the two scale tensors laid out: each of the four orders (block rows
 * or block columns first, for each operand) is tried on the same small
 * product with distinct scales, and only the right one matches (to BF16's
 * rounding of the output). Then it times the products of a DeepSeek-V3.2
 * attention block (8,192 tokens × hidden 7168; the projections of
 * bench-dsa-layer) and a square 8192³, FP8 block-scaled against BF16, with
 * CUDA events after warm-up (median of the repeats).
 *
 * Convention (column-major, as cuBLASLt): Y[M tokens][N] row-major is
 * D = N × M = op(A) · B with A the weights W[N][K] (stored K × N, ld K,
 * transposed) and B the activations X[M][K] (stored K × M, ld K). */
#include "bench-cuda.h"

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 7;

static uint32_t next_u32(void) /* xorshift64* */
{
    state ^= state >> 12, state ^= state << 25, state ^= state >> 27;
    return (uint32_t)((state * 0x2545f4914f6cdd1dull) >> 32);
}

static float e4m3_value(uint8_t b)
{
    int e = (b >> 3) & 15, m = b & 7;
    float v = e ? ldexpf(1.0f + m / 8.0f, e - 7) : ldexpf(m / 8.0f, -6);
    return b & 0x80 ? -v : v;
}

/* A random e4m3 byte of moderate size (exponent field 4 … 10: 1/8 … 15). */
static uint8_t random_e4m3(void)
{
    uint32_t r = next_u32();
    return (uint8_t)((r & 0x80) | ((4 + r % 7) << 3) | ((r >> 8) & 7));
}

static float random_scale(void) { return 0.5f + (float)(next_u32() % 1024) / 1024.0f; }

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

typedef struct {
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, ld;
    cublasLtMatmulAlgo_t algo;
    const void *a, *b;
    void *d, *ws;
    size_t ws_bytes;
} gemm;

static const size_t kWorkspace = (size_t)64 << 20;

/* A product D[N × M] = op(A)·B as above; fp8: block-scaled with the given
 * scale tensors (device). Returns 0, or -1 where cuBLASLt offers no
 * algorithm (printed). */
static int gemm_setup(gemm *g, int fp8, int M, int N, int K, const void *a, const void *b,
                      const float *a_scale, const float *b_scale, void *d, void *ws)
{
    g->a = a, g->b = b, g->d = d, g->ws = ws, g->ws_bytes = kWorkspace;
    cudaDataType_t in = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
    if (cublasLtMatmulDescCreate(&g->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F))
        return -1;
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    if (fp8) {
        int32_t am = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F;
        int32_t bm = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
        cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &am, sizeof am);
        cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &bm, sizeof bm);
        cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a_scale,
                                       sizeof a_scale);
        cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b_scale,
                                       sizeof b_scale);
    }
    cublasLtMatrixLayoutCreate(&g->la, in, (uint64_t)K, (uint64_t)N, K);
    cublasLtMatrixLayoutCreate(&g->lb, in, (uint64_t)K, (uint64_t)M, K);
    cublasLtMatrixLayoutCreate(&g->ld, CUDA_R_16BF, (uint64_t)N, (uint64_t)M, N);
    cublasLtMatmulPreference_t pref;
    cublasLtMatmulPreferenceCreate(&pref);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                         &g->ws_bytes, sizeof g->ws_bytes);
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(g->lt, g->desc, g->la, g->lb, g->ld, g->ld,
                                                       pref, 1, &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st || !found) {
        printf("  no %s algorithm for M %d N %d K %d (status %d)\n", fp8 ? "FP8" : "BF16", M, N,
               K, (int)st);
        return -1;
    }
    g->algo = res.algo;
    return 0;
}

static cublasStatus_t gemm_run(const gemm *g)
{
    const float one = 1.0f, zero = 0.0f;
    return cublasLtMatmul(g->lt, g->desc, &one, g->a, g->la, g->b, g->lb, &zero, g->d, g->ld, g->d,
                          g->ld, &g->algo, g->ws, g->ws_bytes, 0);
}

static void gemm_free(gemm *g)
{
    cublasLtMatrixLayoutDestroy(g->la), cublasLtMatrixLayoutDestroy(g->lb);
    cublasLtMatrixLayoutDestroy(g->ld), cublasLtMatmulDescDestroy(g->desc);
}

static float bf16_value(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- which scale layout ----------------------------------------------------- */

static int find_layout(cublasLtHandle_t lt, void *ws)
{
    /* whole groups of 4 blocks every way, in case cuBLASLt pads a scale dimension to 4 */
    enum { M = 256, N = 512, K = 512, MB = M, NB = N / 128, KB = K / 128 };
    uint8_t *x = malloc((size_t)M * K), *w = malloc((size_t)N * K);
    float sx[M][KB], sw[NB][KB];
    for (size_t i = 0; i < (size_t)M * K; i++)
        x[i] = random_e4m3();
    for (size_t i = 0; i < (size_t)N * K; i++)
        w[i] = random_e4m3();
    for (int m = 0; m < MB; m++)
        for (int kb = 0; kb < KB; kb++)
            sx[m][kb] = random_scale();
    for (int nb = 0; nb < NB; nb++)
        for (int kb = 0; kb < KB; kb++)
            sw[nb][kb] = random_scale();
    double *ref = calloc((size_t)M * N, sizeof *ref), ref_norm = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)e4m3_value(x[(size_t)m * K + k]) * sx[m][k / 128] *
                     (double)e4m3_value(w[(size_t)n * K + k]) * sw[n / 128][k / 128];
            ref[(size_t)m * N + n] = s;
            ref_norm += s * s;
        }
    void *dx, *dw, *dy;
    float *dsx, *dsw;
    CK(cudaMalloc(&dx, (size_t)M * K));
    CK(cudaMalloc(&dw, (size_t)N * K));
    CK(cudaMalloc(&dy, (size_t)M * N * 2));
    CK(cudaMalloc((void **)&dsx, sizeof sx));
    CK(cudaMalloc((void **)&dsw, sizeof sw));
    CK(cudaMemcpy(dx, x, (size_t)M * K, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dw, w, (size_t)N * K, cudaMemcpyHostToDevice));
    uint16_t *y = malloc((size_t)M * N * 2);
    int found = -1;
    for (int order = 0; order < 4; order++) {
        const int w_kb_inner = !(order & 1), x_kb_inner = !(order & 2);
        float tw[NB * KB], tx[MB * KB];
        for (int nb = 0; nb < NB; nb++)
            for (int kb = 0; kb < KB; kb++)
                tw[w_kb_inner ? nb * KB + kb : kb * NB + nb] = sw[nb][kb];
        for (int m = 0; m < MB; m++)
            for (int kb = 0; kb < KB; kb++)
                tx[x_kb_inner ? m * KB + kb : kb * MB + m] = sx[m][kb];
        CK(cudaMemcpy(dsw, tw, sizeof tw, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dsx, tx, sizeof tx, cudaMemcpyHostToDevice));
        CK(cudaMemset(dy, 0xff, (size_t)M * N * 2)); /* NaN: poisoned */
        gemm g = {.lt = lt};
        if (gemm_setup(&g, 1, M, N, K, dw, dx, dsw, dsx, dy, ws))
            break;
        cublasStatus_t st = gemm_run(&g);
        CK(cudaDeviceSynchronize());
        gemm_free(&g);
        CK(cudaMemcpy(y, dy, (size_t)M * N * 2, cudaMemcpyDeviceToHost));
        double err = 0;
        for (size_t i = 0; i < (size_t)M * N; i++) {
            double d = bf16_value(y[i]) - ref[i];
            err += d * d;
        }
        err = sqrt(err / ref_norm);
        printf("scales: weights [%s], activations [%s]: status %d, relative error %.3g\n",
               w_kb_inner ? "N/128][K/128" : "K/128][N/128", x_kb_inner ? "M][K/128" : "K/128][M",
               (int)st, err);
        if (st == CUBLAS_STATUS_SUCCESS && err < 1e-2 && found < 0)
            found = order;
    }
    printf("layout: %s\n", found < 0 ? "none of the four matched" : "found (the line under 1e-2)");
    cudaFree(dx), cudaFree(dw), cudaFree(dy), cudaFree(dsx), cudaFree(dsw);
    free(x), free(w), free(ref), free(y);
    return found;
}

/* ---- timing ----------------------------------------------------------------- */

static cudaError_t run_gemm(void *g, int rep)
{
    (void)rep;
    return gemm_run(g) == CUBLAS_STATUS_SUCCESS ? cudaGetLastError() : cudaErrorUnknown;
}

static void time_shape(cublasLtHandle_t lt, void *ws, const char *name, int M, int N, int K)
{
    size_t a_bytes = (size_t)N * K * 2, b_bytes = (size_t)M * K * 2;
    void *a, *b, *d;
    float *sa, *sb;
    CK(cudaMalloc(&a, a_bytes));
    CK(cudaMalloc(&b, b_bytes));
    CK(cudaMalloc(&d, (size_t)M * N * 2));
    CK(cudaMemset(a, 0x3a, a_bytes)); /* small values in either type */
    CK(cudaMemset(b, 0x3a, b_bytes));
    size_t sa_n = (size_t)ceil_div(N, 128) * ceil_div(K, 128), sb_n = (size_t)M * ceil_div(K, 128);
    CK(cudaMalloc((void **)&sa, sa_n * 4));
    CK(cudaMalloc((void **)&sb, sb_n * 4));
    CK(cudaMemset(sa, 0, sa_n * 4));
    CK(cudaMemset(sb, 0, sb_n * 4));
    double flop = 2.0 * M * N * K, ms[2] = {-1, -1};
    for (int fp8 = 0; fp8 < 2; fp8++) {
        gemm g = {.lt = lt};
        if (gemm_setup(&g, fp8, M, N, K, a, b, sa, sb, d, ws))
            continue;
        ms[fp8] = time_ms(run_gemm, &g, 3, 15);
        gemm_free(&g);
    }
    printf("%-12s M %5d N %5d K %5d   bf16 %8.3f ms %6.0f TFLOP/s   fp8 block-scaled %8.3f ms "
           "%6.0f TFLOP/s   %.2fx\n",
           name, M, N, K, ms[0], ms[0] > 0 ? flop / ms[0] / 1e9 : 0, ms[1],
           ms[1] > 0 ? flop / ms[1] / 1e9 : 0, ms[0] > 0 && ms[1] > 0 ? ms[0] / ms[1] : 0);
    cudaFree(a), cudaFree(b), cudaFree(d), cudaFree(sa), cudaFree(sb);
}

int main(void)
{
    struct cudaDeviceProp prop;
    if (!bench_device("bench-fp8-gemm", &prop))
        return 77;
    printf("%s, sm_%d%d, cuBLASLt %zu\n", prop.name, prop.major, prop.minor,
           cublasLtGetVersion());
    cublasLtHandle_t lt;
    if (cublasLtCreate(&lt) != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "bench-fp8-gemm: cublasLtCreate failed\n");
        return 1;
    }
    void *ws;
    CK(cudaMalloc(&ws, kWorkspace));
    int layout = find_layout(lt, ws);
    /* The V3.2 block's products at 8,192 tokens (bench-dsa-layer's row block). */
    const int T = 8192;
    time_shape(lt, ws, "square", 8192, 8192, 8192);
    time_shape(lt, ws, "q_a", T, 1536, 7168);
    time_shape(lt, ws, "q_b", T, 128 * 192, 1536);
    time_shape(lt, ws, "kv_a", T, 576, 7168);
    time_shape(lt, ws, "indexer q", T, 64 * 128, 1536);
    time_shape(lt, ws, "o", T, 7168, 128 * 128);
    cudaFree(ws);
    cublasLtDestroy(lt);
    return layout < 0;
}
