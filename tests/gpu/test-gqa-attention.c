/* gqa-attention.cu against a direct softmax on the CPU: for each row t and
 * head h, float64 logits scale · q·k_p over the row's visible positions (all
 * of 0 … first_pos+t, or the row's valid selected ones), their softmax and
 * Σ_p w_p · v_p, from the same bf16-rounded inputs; KV head h / (H / Hkv).
 * Fresh random inputs of odd sizes (n = 1 … 300, caches up to 8K positions,
 * 9/3, 8/8 and 32/8 heads, head dims 64 and 128), the split-KV path and the
 * unsplit one, sparse rows with invalid entries (−1, future positions) and
 * rows with none; outputs poisoned first. Then the oracle's head mass, and
 * the decode step that reads its position on the device (for a CUDA graph
 * replayed at every position): against the same reference, with the cache
 * past the position filled with NaN (never to be read), and a launch made
 * for caches of up to max_pos positions. */
#include "gpu-util.h"
#include "sightline-kernels.h"

static uint64_t rng = 0x9a11;

static uint64_t next_u64(void) { return sl_splitmix64(&rng); }

static uint16_t *random_bf16(size_t n, float amp, float **values)
{
    return sl_random_bf16(&rng, n, amp, values);
}

typedef struct {
    int n, first_pos, H, Hkv, Dh;
    int topk;      /* 0: dense causal; else sparse with topk entries a row */
    int holes;     /* sparse: one entry in `holes` invalid (0: none) */
    int empty;     /* sparse: every `empty`-th row has no valid entry (0: none) */
    int workspace; /* pass the workspace (split-KV where it pays) */
    float amp;     /* q's amplitude: larger is a peakier softmax */
} gqa_case;

/* Row t's entries: distinct random visible positions (as many as there are,
 * up to topk), then holes: −1 or a position past the row's end. */
static int32_t *make_indices(const gqa_case *c)
{
    size_t S = (size_t)c->first_pos + (size_t)c->n;
    int32_t *idx = malloc((size_t)c->n * (size_t)c->topk * sizeof *idx);
    int32_t *perm = malloc(S * sizeof *perm);
    for (int t = 0; t < c->n; t++) {
        int32_t *row = idx + (size_t)t * (size_t)c->topk;
        int vis = c->first_pos + t + 1;
        for (int s = 0; s < vis; s++)
            perm[s] = s;
        for (int j = 0; j < c->topk; j++) {
            if (j < vis) {
                int k = j + (int)(next_u64() % (uint64_t)(vis - j));
                int32_t x = perm[j];
                perm[j] = perm[k], perm[k] = x;
                row[j] = perm[j];
            } else {
                row[j] = -1;
            }
        }
        for (int j = 0; j < c->topk; j++) {
            int hole = (c->holes && next_u64() % (uint64_t)c->holes == 0) ||
                       (c->empty && t % c->empty == c->empty - 1) || row[j] < 0;
            if (hole)
                row[j] = (next_u64() & 1) ? -1 - (int32_t)(next_u64() % 3) : vis + (int32_t)(next_u64() % 1000);
        }
    }
    free(perm);
    return idx;
}

/* out [n][H][Dh] (and, if mass is not NULL, mass [n][first_pos+n]). */
static void reference(const gqa_case *c, const float *q, const float *k, const float *v, const int32_t *idx,
                      float scale, float *out, float *mass)
{
    size_t S = (size_t)c->first_pos + (size_t)c->n, Dh = (size_t)c->Dh, kvd = (size_t)c->Hkv * Dh;
    int G = c->H / c->Hkv;
    int32_t *pos = malloc(S * sizeof *pos + (size_t)c->topk * sizeof *pos + 4);
    double *logit = malloc((S + (size_t)c->topk + 1) * sizeof *logit), *acc = malloc(Dh * sizeof *acc);
    if (mass)
        memset(mass, 0, (size_t)c->n * S * sizeof *mass);
    for (int t = 0; t < c->n; t++) {
        int vis = c->first_pos + t + 1, np = 0;
        if (c->topk) {
            for (int j = 0; j < c->topk; j++) {
                int32_t x = idx[(size_t)t * (size_t)c->topk + (size_t)j];
                if (x >= 0 && x < vis)
                    pos[np++] = x;
            }
        } else {
            for (int s = 0; s < vis; s++)
                pos[np++] = s;
        }
        for (int h = 0; h < c->H; h++) {
            const float *qh = q + ((size_t)t * (size_t)c->H + (size_t)h) * Dh;
            size_t g = (size_t)(h / G);
            double mx = -INFINITY;
            for (int j = 0; j < np; j++) {
                const float *kp = k + (size_t)pos[j] * kvd + g * Dh;
                double dot = 0;
                for (size_t d = 0; d < Dh; d++)
                    dot += (double)qh[d] * (double)kp[d];
                logit[j] = (double)scale * dot;
                mx = logit[j] > mx ? logit[j] : mx;
            }
            double sum = 0;
            for (int j = 0; j < np; j++)
                sum += (logit[j] = exp(logit[j] - mx));
            memset(acc, 0, Dh * sizeof *acc);
            for (int j = 0; j < np; j++) {
                const float *vp = v + (size_t)pos[j] * kvd + g * Dh;
                for (size_t d = 0; d < Dh; d++)
                    acc[d] += logit[j] * (double)vp[d];
                if (mass)
                    mass[(size_t)t * S + (size_t)pos[j]] += (float)(logit[j] / sum);
            }
            float *o = out + ((size_t)t * (size_t)c->H + (size_t)h) * Dh;
            for (size_t d = 0; d < Dh; d++)
                o[d] = sum > 0 ? (float)(acc[d] / sum) : 0.0f;
        }
    }
    free(pos), free(logit), free(acc);
}

static double worst_attention, worst_mass;

static void check(const gqa_case *c)
{
    const float scale = 1.0f / sqrtf((float)c->Dh);
    size_t S = (size_t)c->first_pos + (size_t)c->n, rows = (size_t)c->n * (size_t)c->H;
    size_t qn = rows * (size_t)c->Dh, kvn = S * (size_t)c->Hkv * (size_t)c->Dh;
    float *q, *k, *v;
    uint16_t *qb = random_bf16(qn, c->amp, &q), *kb = random_bf16(kvn, 1.0f, &k), *vb = random_bf16(kvn, 1.0f, &v);
    int32_t *idx = c->topk ? make_indices(c) : NULL;
    float *ref = malloc(qn * sizeof *ref);
    reference(c, q, k, v, idx, scale, ref, NULL);

    uint16_t *d_q = sl_gpu_upload(qb, qn * 2), *d_k = sl_gpu_upload(kb, kvn * 2), *d_v = sl_gpu_upload(vb, kvn * 2);
    int32_t *d_idx = idx ? sl_gpu_upload(idx, (size_t)c->n * (size_t)c->topk * sizeof *idx) : NULL;
    uint16_t *d_out = sl_gpu_poisoned(qn * 2);
    size_t ws = 0;
    if (c->workspace)
        ws = c->topk ? sl_k_gqa_sparse_attention_workspace(c->n, c->topk, c->H, c->Hkv, c->Dh)
                     : sl_k_gqa_attention_workspace(c->n, c->first_pos, c->H, c->Hkv, c->Dh);
    void *d_ws = ws ? sl_gpu_poisoned(ws) : NULL;
    if (c->topk)
        CUDA_CHECK(sl_k_gqa_sparse_attention(d_q, d_k, d_v, d_idx, c->n, c->topk, c->first_pos, c->H, c->Hkv,
                                             c->Dh, scale, d_out, d_ws, ws, 0));
    else
        CUDA_CHECK(sl_k_gqa_attention(d_q, d_k, d_v, c->n, c->first_pos, c->H, c->Hkv, c->Dh, scale, d_out, d_ws,
                                      ws, 0));
    CUDA_CHECK(cudaDeviceSynchronize());
    uint16_t *ob = sl_gpu_download(d_out, qn * 2);
    float *out = malloc(qn * sizeof *out);
    size_t empty_wrong = 0;
    for (size_t i = 0; ob && i < qn; i++) {
        out[i] = sl_bf16_to_f32(ob[i]);
        if (c->topk && c->empty && (int)(i / ((size_t)c->H * (size_t)c->Dh)) % c->empty == c->empty - 1)
            empty_wrong += out[i] != 0.0f;
    }
    double err = ob ? sl_rel_error(out, ref, qn) : NAN;
    worst_attention = err > worst_attention || isnan(err) ? err : worst_attention;
    fprintf(stderr, "%s n=%d first_pos=%d H=%d/%d Dh=%d topk=%d%s: rel error %.2e\n", c->topk ? "sparse" : "dense ",
            c->n, c->first_pos, c->H, c->Hkv, c->Dh, c->topk, ws ? " (split)" : "", err);
    CHECKF(err <= 1e-2, "rel error %g", err);
    CHECKF(empty_wrong == 0, "%zu values of empty rows not zero", empty_wrong);
    free(q), free(k), free(v), free(qb), free(kb), free(vb), free(idx), free(ref), free(ob), free(out);
    cudaFree(d_q), cudaFree(d_k), cudaFree(d_v), cudaFree(d_idx), cudaFree(d_out), cudaFree(d_ws);
}

static void check_mass(const gqa_case *c)
{
    const float scale = 1.0f / sqrtf((float)c->Dh);
    size_t S = (size_t)c->first_pos + (size_t)c->n, rows = (size_t)c->n * (size_t)c->H;
    size_t qn = rows * (size_t)c->Dh, kvn = S * (size_t)c->Hkv * (size_t)c->Dh, mn = (size_t)c->n * S;
    float *q, *k, *v;
    uint16_t *qb = random_bf16(qn, c->amp, &q), *kb = random_bf16(kvn, 1.0f, &k), *vb = random_bf16(kvn, 1.0f, &v);
    float *ref = malloc(qn * sizeof *ref), *ref_mass = malloc(mn * sizeof *ref_mass);
    reference(c, q, k, v, NULL, scale, ref, ref_mass);
    uint16_t *d_q = sl_gpu_upload(qb, qn * 2), *d_k = sl_gpu_upload(kb, kvn * 2);
    float *d_mass = sl_gpu_poisoned(mn * sizeof(float));
    size_t ws = sl_k_gqa_head_mass_workspace(c->n, c->first_pos, c->H, c->Hkv, c->Dh);
    if (!c->workspace) /* the lse only: unsplit */
        ws = ((size_t)c->n * (size_t)c->H * sizeof(float) + 255) / 256 * 256;
    void *d_ws = sl_gpu_poisoned(ws);
    CUDA_CHECK(sl_k_gqa_head_mass(d_q, d_k, c->n, c->first_pos, c->H, c->Hkv, c->Dh, scale, d_mass, d_ws, ws, 0));
    CUDA_CHECK(cudaDeviceSynchronize());
    float *mass = sl_gpu_download(d_mass, mn * sizeof(float));
    size_t future_wrong = 0;
    for (int t = 0; mass && t < c->n; t++)
        for (size_t s = (size_t)c->first_pos + (size_t)t + 1; s < S; s++)
            future_wrong += mass[(size_t)t * S + s] != 0.0f;
    double err = mass ? sl_rel_error(mass, ref_mass, mn) : NAN;
    worst_mass = err > worst_mass || isnan(err) ? err : worst_mass;
    fprintf(stderr, "mass   n=%d first_pos=%d H=%d/%d Dh=%d%s: rel error %.2e\n", c->n, c->first_pos, c->H, c->Hkv,
            c->Dh, c->workspace ? "" : " (unsplit)", err);
    CHECKF(err <= 1e-3, "mass rel error %g", err);
    CHECKF(future_wrong == 0, "%zu future positions with mass", future_wrong);
    free(q), free(k), free(v), free(qb), free(kb), free(vb), free(ref), free(ref_mass), free(mass);
    cudaFree(d_q), cudaFree(d_k), cudaFree(d_mass), cudaFree(d_ws);
}

/* One decode row at position pos, read on the device, in a cache of max_pos
 * positions whose entries past pos are NaN. */
static void check_decode_at(int pos, int max_pos, int H, int Hkv, int Dh)
{
    const gqa_case c = {1, pos, H, Hkv, Dh, 0, 0, 0, 1, 1.0f};
    const float scale = 1.0f / sqrtf((float)Dh);
    size_t qn = (size_t)H * (size_t)Dh, kvd = (size_t)Hkv * (size_t)Dh, kvn = (size_t)max_pos * kvd;
    float *q, *k, *v;
    uint16_t *qb = random_bf16(qn, 1.0f, &q), *kb = random_bf16(kvn, 1.0f, &k), *vb = random_bf16(kvn, 1.0f, &v);
    for (size_t i = ((size_t)pos + 1) * kvd; i < kvn; i++)
        kb[i] = vb[i] = 0x7fc0; /* NaN */
    float *ref = malloc(qn * sizeof *ref);
    reference(&c, q, k, v, NULL, scale, ref, NULL);
    int32_t at = pos;
    uint16_t *d_q = sl_gpu_upload(qb, qn * 2), *d_k = sl_gpu_upload(kb, kvn * 2), *d_v = sl_gpu_upload(vb, kvn * 2);
    int32_t *d_pos = sl_gpu_upload(&at, sizeof at);
    uint16_t *d_out = sl_gpu_poisoned(qn * 2);
    size_t ws = sl_k_gqa_attention_workspace(1, max_pos - 1, H, Hkv, Dh);
    void *d_ws = ws ? sl_gpu_poisoned(ws) : NULL;
    CUDA_CHECK(sl_k_gqa_decode_attention_at(d_q, d_k, d_v, d_pos, max_pos, H, Hkv, Dh, scale, d_out, d_ws, ws, 0));
    CUDA_CHECK(cudaDeviceSynchronize());
    uint16_t *ob = sl_gpu_download(d_out, qn * 2);
    float *out = malloc(qn * sizeof *out);
    for (size_t i = 0; ob && i < qn; i++)
        out[i] = sl_bf16_to_f32(ob[i]);
    double err = ob ? sl_rel_error(out, ref, qn) : NAN;
    worst_attention = err > worst_attention || isnan(err) ? err : worst_attention;
    fprintf(stderr, "decode at device position %d of %d H=%d/%d Dh=%d: rel error %.2e\n", pos, max_pos, H,
            Hkv, Dh, err);
    CHECKF(err <= 1e-2, "rel error %g", err);
    free(q), free(k), free(v), free(qb), free(kb), free(vb), free(ref), free(ob), free(out);
    cudaFree(d_q), cudaFree(d_k), cudaFree(d_v), cudaFree(d_pos), cudaFree(d_out), cudaFree(d_ws);
}

int main(void)
{
    sl_gpu_require();
    const gqa_case dense[] = {
        /* n  first_pos H  Hkv Dh topk holes empty ws amp */
        {1, 0, 9, 3, 64, 0, 0, 0, 1, 1.0f},
        {1, 1, 9, 3, 64, 0, 0, 0, 1, 1.0f},
        {1, 8190, 9, 3, 64, 0, 0, 0, 1, 1.0f},
        {1, 8190, 9, 3, 64, 0, 0, 0, 0, 1.0f},
        {3, 1, 9, 3, 64, 0, 0, 0, 1, 2.0f},
        {3, 8188, 9, 3, 64, 0, 0, 0, 1, 1.0f},
        {77, 0, 9, 3, 64, 0, 0, 0, 1, 1.0f},
        {77, 4095, 9, 3, 64, 0, 0, 0, 1, 3.0f},
        {300, 0, 9, 3, 64, 0, 0, 0, 1, 1.0f},
        {300, 7891, 9, 3, 64, 0, 0, 0, 1, 1.0f},
        {1, 4095, 8, 8, 128, 0, 0, 0, 1, 1.0f},
        {3, 0, 8, 8, 64, 0, 0, 0, 1, 1.0f},
        {77, 1, 8, 8, 128, 0, 0, 0, 1, 2.0f},
        {77, 8114, 8, 8, 64, 0, 0, 0, 1, 1.0f},
        {300, 4095, 8, 8, 128, 0, 0, 0, 1, 1.0f},
        {1, 8190, 32, 8, 128, 0, 0, 0, 1, 1.0f},
        {3, 4095, 32, 8, 128, 0, 0, 0, 1, 1.0f},
        {3, 8188, 32, 8, 64, 0, 0, 0, 0, 1.0f},
        {77, 0, 32, 8, 128, 0, 0, 0, 1, 1.0f},
        {300, 1, 32, 8, 128, 0, 0, 0, 1, 2.0f},
        {300, 1, 32, 8, 64, 0, 0, 0, 1, 1.0f},
    };
    const gqa_case sparse[] = {
        /* n  first_pos H  Hkv Dh topk holes empty ws amp */
        {1, 8190, 9, 3, 64, 1, 0, 0, 1, 1.0f},
        {1, 0, 9, 3, 64, 7, 0, 0, 1, 1.0f},
        {3, 4095, 9, 3, 64, 7, 3, 0, 1, 1.0f},
        {3, 1, 9, 3, 128, 256, 5, 0, 1, 1.0f},
        {77, 4095, 9, 3, 64, 256, 4, 10, 1, 2.0f},
        {300, 1, 9, 3, 64, 256, 7, 0, 1, 1.0f},
        {300, 7891, 9, 3, 64, 7, 3, 9, 1, 1.0f},
        {1, 8190, 8, 8, 128, 256, 9, 0, 1, 1.0f},
        {77, 0, 8, 8, 64, 7, 0, 5, 1, 1.0f},
        {300, 4095, 8, 8, 128, 256, 11, 0, 1, 1.0f},
        {1, 8190, 32, 8, 128, 256, 5, 0, 1, 1.0f},
        {1, 8190, 32, 8, 128, 256, 5, 0, 0, 1.0f},
        {3, 8188, 32, 8, 128, 256, 0, 2, 1, 1.0f},
        {77, 4095, 32, 8, 64, 1, 2, 0, 1, 1.0f},
        {300, 4095, 32, 8, 128, 256, 6, 7, 1, 3.0f},
    };
    const gqa_case mass[] = {
        {1, 8190, 9, 3, 64, 0, 0, 0, 1, 1.0f},
        {1, 8190, 9, 3, 64, 0, 0, 0, 0, 1.0f},
        {3, 4095, 8, 8, 128, 0, 0, 0, 1, 2.0f},
        {77, 100, 9, 3, 64, 0, 0, 0, 1, 1.0f},
        {300, 0, 32, 8, 128, 0, 0, 0, 1, 1.0f},
    };
    for (size_t i = 0; i < sizeof dense / sizeof *dense; i++)
        check(&dense[i]);
    for (size_t i = 0; i < sizeof sparse / sizeof *sparse; i++)
        check(&sparse[i]);
    for (size_t i = 0; i < sizeof mass / sizeof *mass; i++)
        check_mass(&mass[i]);
    static const int at[][5] = {
        /* pos max_pos H Hkv Dh */
        {0, 1, 9, 3, 64},       {0, 8192, 9, 3, 64},   {63, 64, 9, 3, 64},
        {64, 4096, 9, 3, 64},   {1000, 1001, 8, 8, 128}, {2047, 8192, 9, 3, 64},
        {8190, 8191, 32, 8, 128}, {5, 8192, 32, 8, 128}, {4095, 8192, 8, 8, 64},
    };
    for (size_t i = 0; i < sizeof at / sizeof *at; i++)
        check_decode_at(at[i][0], at[i][1], at[i][2], at[i][3], at[i][4]);
    /* the other prefill tiling at head dim 64 with more splits, then twice
     * the default's splits (SL_GQA_QUICK: skipped) */
    if (!getenv("SL_GQA_QUICK")) {
        sl_k_gqa_tune(8, 1);
        fprintf(stderr, "one m16 tile a warp in prefill, splits for 8 CTAs an SM:\n");
        for (size_t i = 0; i < sizeof dense / sizeof *dense; i++)
            check(&dense[i]);
        check(&sparse[7]);
        check(&sparse[10]);
        for (size_t i = 0; i < sizeof mass / sizeof *mass; i++)
            check_mass(&mass[i]);
        sl_k_gqa_tune(2, 0);
        fprintf(stderr, "splits for 2 CTAs an SM:\n");
        check(&dense[2]);
        check(&dense[7]);
        check(&dense[15]);
        check(&sparse[7]);
        check(&sparse[10]);
        check_mass(&mass[0]);
        sl_k_gqa_tune(0, 0);
    }
    fprintf(stderr, "worst rel error: attention %.2e (bound 1e-2), head mass %.2e (bound 1e-3)\n",
            worst_attention, worst_mass);
    /* bad sizes are refused before anything runs */
    uint16_t *d = sl_gpu_poisoned(1 << 16);
    CHECK(sl_k_gqa_attention(d, d, d, 1, 0, 9, 3, 96, 0.1f, d, NULL, 0, 0) == cudaErrorInvalidValue);
    CHECK(sl_k_gqa_attention(d, d, d, 1, 0, 9, 4, 64, 0.1f, d, NULL, 0, 0) == cudaErrorInvalidValue);
    CHECK(sl_k_gqa_sparse_attention(d, d, d, NULL, 1, 4, 0, 9, 3, 64, 0.1f, d, NULL, 0, 0) ==
          cudaErrorInvalidValue);
    CHECK(sl_k_gqa_head_mass(d, d, 1, 0, 9, 3, 64, 0.1f, (float *)d, NULL, 0, 0) == cudaErrorInvalidValue);
    CHECK(sl_k_gqa_attention(d, d, d, 0, 5, 9, 3, 64, 0.1f, d, NULL, 0, 0) == cudaSuccess);
    CHECK(sl_k_gqa_decode_attention_at(d, d, d, NULL, 8, 9, 3, 64, 0.1f, d, NULL, 0, 0) ==
          cudaErrorInvalidValue);
    CHECK(sl_k_gqa_decode_attention_at(d, d, d, (int32_t *)d, 0, 9, 3, 64, 0.1f, d, NULL, 0, 0) ==
          cudaErrorInvalidValue);
    cudaFree(d);
    return sl_test_finish();
}
