/* sparse-mla.cu against a direct softmax on the CPU: for each row and head,
 * float64 logits scale · q·k_j over the row's valid indices, their softmax,
 * and Σ_j p_j · v_j, from the same bf16-rounded inputs (for the FP8 cache,
 * from the dequantised entries). Fresh random inputs of odd sizes, invalid
 * indices (−1 and ≥ S) among valid ones, rows with none, partial blocks, the
 * split-KV path and the unsplit one; outputs poisoned first. Every case
 * runs on both kernels: mma.sync and, on sm_90 devices, each variant of
 * wgmma. */
#include "gpu-util.h"
#include "sightline-kernels.h"

enum { DQK = 576, DV = 512, FP8_ROW = 656 };

static uint64_t rng = 0x5eed;

static uint64_t next_u64(void) { return sl_splitmix64(&rng); }

static float uniform(void) { return sl_uniform(&rng, -1.0f, 1.0f); }

static uint16_t *random_bf16(size_t n, float amp, float **values)
{
    return sl_random_bf16(&rng, n, amp, values);
}

typedef struct {
    int T, H, S, topk;
    int fp8;        /* the 656-byte FP8 cache */
    int holes;      /* one index in `holes` invalid (0: none) */
    int empty;      /* every `empty`-th row has no valid index (0: none) */
    int valid_max;  /* only the first valid_max indices of a row valid (0: all) */
    int workspace;  /* pass the workspace (split-KV where it pays) */
    float amp;      /* q's amplitude: larger is a peakier softmax */
} mla_case;

/* Distinct random positions in [0, S), then holes: −1 or past the end. */
static int32_t *make_indices(const mla_case *c)
{
    int32_t *idx = malloc((size_t)c->T * (size_t)c->topk * sizeof *idx);
    int32_t *perm = malloc((size_t)c->S * sizeof *perm);
    for (int t = 0; t < c->T; t++) {
        int32_t *row = idx + (size_t)t * (size_t)c->topk;
        for (int s = 0; s < c->S; s++)
            perm[s] = s;
        for (int j = 0; j < c->topk; j++) {
            int k = j + (int)(next_u64() % (uint64_t)(c->S - j));
            int32_t x = perm[j];
            perm[j] = perm[k], perm[k] = x;
            row[j] = perm[j];
        }
        for (int j = 0; j < c->topk; j++) {
            int hole = (c->holes && next_u64() % (uint64_t)c->holes == 0) ||
                       (c->empty && t % c->empty == c->empty - 1) ||
                       (c->valid_max && j >= c->valid_max);
            if (hole)
                row[j] = (j & 1) ? -1 : c->S + (int32_t)(next_u64() % 1000);
        }
    }
    free(perm);
    return idx;
}

/* The FP8 cache of S random entries through sl_k_quant_e4m3 (DeepSeek's
 * ue8m0 block quantisation), and its dequantised values as [S][576] floats. */
static uint8_t *make_fp8_cache(int S, float **deq)
{
    size_t n = (size_t)S * DV;
    float *lat = malloc(n * sizeof *lat);
    for (size_t i = 0; i < n; i++)
        lat[i] = uniform() * (1.0f + (float)(i / 128 % 5)); /* blocks of different size */
    float *d_lat = sl_gpu_upload(lat, n * sizeof *lat), *d_sc = sl_gpu_poisoned((size_t)S * 4 * sizeof(float));
    uint8_t *d_q = sl_gpu_poisoned(n);
    CUDA_CHECK(sl_k_quant_e4m3(d_lat, d_q, d_sc, n, 128, 0));
    CUDA_CHECK(cudaDeviceSynchronize());
    uint8_t *bytes = sl_gpu_download(d_q, n);
    float *scales = sl_gpu_download(d_sc, (size_t)S * 4 * sizeof(float));
    uint8_t *cache = malloc((size_t)S * FP8_ROW);
    float *kv = malloc((size_t)S * DQK * sizeof *kv);
    for (int s = 0; bytes && scales && s < S; s++) {
        uint8_t *e = cache + (size_t)s * FP8_ROW;
        memcpy(e, bytes + (size_t)s * DV, DV);
        memcpy(e + DV, scales + (size_t)s * 4, 16);
        for (int d = 0; d < DV; d++)
            kv[(size_t)s * DQK + d] = sl_e4m3_to_f32(e[d]) * scales[(size_t)s * 4 + d / 128];
        for (int d = 0; d < 64; d++) {
            uint16_t b = sl_f32_to_bf16(uniform());
            memcpy(e + DV + 16 + 2 * d, &b, 2);
            kv[(size_t)s * DQK + DV + d] = sl_bf16_to_f32(b);
        }
    }
    free(lat), free(bytes), free(scales);
    cudaFree(d_lat), cudaFree(d_sc), cudaFree(d_q);
    *deq = kv;
    return cache;
}

static void reference(const mla_case *c, const float *q, const float *kv, const int32_t *idx, float scale,
                      float *out, float *lse)
{
    double *logit = malloc((size_t)c->topk * sizeof *logit), *acc = malloc(DV * sizeof *acc);
    for (int t = 0; t < c->T; t++)
        for (int h = 0; h < c->H; h++) {
            const float *qh = q + ((size_t)t * (size_t)c->H + (size_t)h) * DQK;
            const int32_t *row = idx + (size_t)t * (size_t)c->topk;
            double mx = -INFINITY;
            for (int j = 0; j < c->topk; j++) {
                if (row[j] < 0 || row[j] >= c->S)
                    continue;
                const float *k = kv + (size_t)row[j] * DQK;
                double dot = 0;
                for (int d = 0; d < DQK; d++)
                    dot += (double)qh[d] * (double)k[d];
                logit[j] = (double)scale * dot;
                if (logit[j] > mx)
                    mx = logit[j];
            }
            double sum = 0;
            memset(acc, 0, DV * sizeof *acc);
            for (int j = 0; j < c->topk; j++) {
                if (row[j] < 0 || row[j] >= c->S)
                    continue;
                double w = exp(logit[j] - mx);
                sum += w;
                const float *v = kv + (size_t)row[j] * DQK;
                for (int d = 0; d < DV; d++)
                    acc[d] += w * (double)v[d];
            }
            float *o = out + ((size_t)t * (size_t)c->H + (size_t)h) * DV;
            for (int d = 0; d < DV; d++)
                o[d] = sum > 0 ? (float)(acc[d] / sum) : 0.0f;
            lse[(size_t)t * (size_t)c->H + (size_t)h] = sum > 0 ? (float)(mx + log(sum)) : -INFINITY;
        }
    free(logit), free(acc);
}

static const char *kernel_name = "";

static void check(const mla_case *c)
{
    const float scale = 0.135234f;
    size_t rows = (size_t)c->T * (size_t)c->H;
    float *q, *kv = NULL;
    uint16_t *qb = random_bf16(rows * DQK, c->amp, &q), *kvb = NULL;
    uint8_t *cache = NULL;
    if (c->fp8)
        cache = make_fp8_cache(c->S, &kv);
    else
        kvb = random_bf16((size_t)c->S * DQK, 1.0f, &kv);
    int32_t *idx = make_indices(c);
    float *ref = malloc(rows * DV * sizeof *ref), *ref_lse = malloc(rows * sizeof *ref_lse);
    reference(c, q, kv, idx, scale, ref, ref_lse);

    uint16_t *d_q = sl_gpu_upload(qb, rows * DQK * 2);
    void *d_kv = c->fp8 ? sl_gpu_upload(cache, (size_t)c->S * FP8_ROW)
                        : sl_gpu_upload(kvb, (size_t)c->S * DQK * 2);
    int32_t *d_idx = sl_gpu_upload(idx, (size_t)c->T * (size_t)c->topk * sizeof *idx);
    uint16_t *d_out = sl_gpu_poisoned(rows * DV * 2);
    float *d_lse = sl_gpu_poisoned(rows * sizeof(float));
    size_t ws = c->workspace ? sl_k_sparse_mla_workspace(c->T, c->H, c->topk) : 0;
    void *d_ws = ws ? sl_gpu_poisoned(ws) : NULL;
    if (c->fp8)
        CUDA_CHECK(sl_k_sparse_mla_fp8(d_q, d_kv, d_idx, c->T, c->H, c->S, c->topk, scale, d_out, d_lse, d_ws,
                                       ws, 0));
    else
        CUDA_CHECK(sl_k_sparse_mla_bf16(d_q, d_kv, d_idx, c->T, c->H, c->S, c->topk, scale, d_out, d_lse,
                                        d_ws, ws, 0));
    CUDA_CHECK(cudaDeviceSynchronize());
    uint16_t *ob = sl_gpu_download(d_out, rows * DV * 2);
    float *lse = sl_gpu_download(d_lse, rows * sizeof(float));
    float *out = malloc(rows * DV * sizeof *out);
    double lse_err = 0;
    size_t empty = 0, empty_wrong = 0;
    for (size_t i = 0; ob && i < rows * DV; i++)
        out[i] = sl_bf16_to_f32(ob[i]);
    for (size_t r = 0; lse && r < rows; r++) {
        if (isinf(ref_lse[r])) {
            empty++;
            int wrong = !(isinf(lse[r]) && lse[r] < 0);
            for (int d = 0; d < DV; d++)
                wrong |= out[r * DV + d] != 0.0f;
            empty_wrong += wrong;
        } else {
            double e = fabs((double)lse[r] - (double)ref_lse[r]);
            lse_err = e > lse_err || isnan(e) ? e : lse_err;
        }
    }
    double err = ob ? sl_rel_error(out, ref, rows * DV) : NAN;
    fprintf(stderr, "%s%s T=%d H=%d S=%d topk=%d%s: rel error %.2e, lse error %.2e, %zu empty rows\n",
            c->fp8 ? "fp8 " : "bf16", kernel_name, c->T, c->H, c->S, c->topk,
            ws ? " (split)" : "", err, lse_err, empty);
    CHECKF(err <= 1e-2, "rel error %g", err);
    CHECKF(lse_err <= 1e-3, "lse error %g", lse_err);
    CHECKF(empty_wrong == 0, "%zu of %zu empty rows not zero with lse -inf", empty_wrong, empty);
    free(q), free(kv), free(qb), free(kvb), free(cache), free(idx), free(ref), free(ref_lse);
    free(ob), free(lse), free(out);
    cudaFree(d_q), cudaFree(d_kv), cudaFree(d_idx), cudaFree(d_out), cudaFree(d_lse), cudaFree(d_ws);
}

int main(void)
{
    sl_gpu_require();
    const mla_case cases[] = {
        /* T   H     S  topk fp8 holes empty vmax ws  amp */
        {1, 16, 1001, 1, 0, 0, 0, 0, 1, 1.0f},
        {1, 16, 1001, 7, 0, 3, 0, 0, 1, 1.0f},
        {3, 64, 4099, 64, 0, 5, 3, 0, 1, 1.0f},
        {77, 128, 3001, 64, 0, 7, 10, 0, 1, 1.0f},
        {77, 16, 2999, 100, 0, 4, 9, 0, 1, 2.0f},
        {3, 128, 5003, 2048, 0, 9, 0, 0, 1, 3.0f},
        {1, 128, 5003, 2048, 0, 9, 0, 0, 0, 1.0f},
        {5, 32, 3000, 2048, 0, 0, 4, 100, 1, 1.0f},
        {2, 48, 777, 700, 0, 2, 0, 0, 1, 1.0f},
        {1, 128, 5003, 2048, 1, 11, 0, 0, 1, 1.0f},
        {3, 64, 2001, 64, 1, 5, 3, 0, 1, 2.0f},
        {77, 128, 3001, 128, 1, 6, 11, 0, 1, 1.0f},
        {7, 128, 4001, 2048, 1, 0, 0, 0, 0, 1.0f},
    };
    struct cudaDeviceProp prop;
    int sm90 = cudaGetDeviceProperties(&prop, 0) == cudaSuccess && prop.major == 9 && prop.minor == 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sl_k_sparse_mla_tune_wgmma(-1);
        kernel_name = " mma.sync";
        check(&cases[i]);
        static const char *const names[] = {"", " wgmma 1", " wgmma 2", " wgmma 3"};
        for (int variant = 1; sm90 && variant <= 3; variant++) {
            sl_k_sparse_mla_tune_wgmma(variant);
            kernel_name = names[variant];
            check(&cases[i]);
        }
    }
    sl_k_sparse_mla_tune_wgmma(0);
    /* bad sizes are refused before anything runs */
    CHECK(sl_k_sparse_mla_bf16(NULL, NULL, NULL, 1, 0, 1, 1, 0.1f, NULL, NULL, NULL, 0, 0) ==
          cudaErrorInvalidValue);
    return sl_test_finish();
}
