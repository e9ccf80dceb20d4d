/* mla.cu against the CPU's MLA (engine/arch/mla.c, MQA form) and
 * sl_rmsnorm: fresh random inputs of odd sizes (latents of 40 to 600 dims,
 * 1 to 7 heads, caches up to 300 positions), outputs poisoned first.
 * - cache entries: RMSNorm of the latent and the scaled rope part, each
 *   value within one bf16 step (2^-7 relative) of the CPU's;
 * - attention (absorb, attend, W_UV): dense causal and over selections with
 *   invalid entries (-1, future positions) against sl_mla_mqa on the same
 *   bf16-rounded cache: ‖gpu − cpu‖/‖cpu‖ ≤ 5e-3 (the output is bf16);
 * - the oracle's mass against sl_mla_head_mass: ≤ 1e-4 per row;
 * - at V3.2's dims (512 + 64), sparse-mla.cu's kernel on the bf16 queries
 *   equals this one on the same values (≤ 1e-2), so the engine may use
 *   either;
 * - DeepSeek's FP8 cache entries (656 bytes at 512 + 64; any latent a
 *   multiple of 4): the latent as sl_rmsnorm then sl_fp8_fake_quant per block
 *   of 128 (all but a few of a thousand values equal, the rest one e4m3 step
 *   off, where the norm's last float bit decides a rounding), the scales
 *   powers of two where the layout puts them, the rope part as the BF16
 *   entry's; read back exactly; and sparse-mla.cu's FP8 kernel over the
 *   entries equal to its BF16 kernel over them read back (≤ 2e-3). */
#include "gpu-util.h"
#include "arch/mla.h"
#include "cpu/fp8.h"
#include "cpu/ops.h"
#include "sightline-kernels.h"

static uint64_t rng = 0x3a1a;

static float uniform(float amp) { return amp * sl_uniform(&rng, -1.0f, 1.0f); }

static float *random_floats(size_t n, float amp)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = uniform(amp);
    return v;
}

typedef struct {
    int n, first_pos, H, nope, rope, vd, R, topk;
} mla_case;

/* Row t: up to topk distinct visible positions (increasing), their count in
 * count[t]; the GPU's copy is padded with -1 and future positions. */
static void make_selection(const mla_case *c, int32_t *cpu, size_t *count, int32_t *gpu)
{
    for (int t = 0; t < c->n; t++) {
        int vis = c->first_pos + t + 1, m = 0;
        for (int p = 0; p < vis && m < c->topk; p++) /* keep p with probability ~ topk / vis */
            if ((int)(sl_splitmix64(&rng) % (uint64_t)vis) < c->topk || vis - p <= c->topk - m)
                cpu[(size_t)t * c->topk + m++] = p;
        count[t] = (size_t)m;
        for (int j = 0; j < c->topk; j++)
            gpu[(size_t)t * c->topk + j] = j < m ? cpu[(size_t)t * c->topk + j]
                                         : (j % 2 ? -1 : vis + j);
    }
}

static void check_case(const mla_case *c, sl_pool *pool)
{
    int n = c->n, P = c->first_pos + c->n, H = c->H, R = c->R, D = c->R + c->rope;
    int qk = c->nope + c->rope;
    float eps = 1e-6f, rope_scale = 1.25f, scale = 1.0f / sqrtf((float)qk);
    size_t kvb_n = (size_t)H * (size_t)(c->nope + c->vd) * (size_t)R;
    float *kva = random_floats((size_t)P * D, 2.0f), *w = random_floats((size_t)R, 1.5f);
    float *kv_b = random_floats(kvb_n, 1.0f / sqrtf((float)R));
    float *q = random_floats((size_t)n * H * qk, 1.0f);

    /* cache entries */
    float *d_kva = sl_gpu_upload(kva, (size_t)P * D * 4), *d_w = sl_gpu_upload(w, (size_t)R * 4);
    sl_bf16 *d_kv = sl_gpu_poisoned((size_t)P * D * 2);
    CUDA_CHECK(sl_k_mla_cache_entries(d_kva, d_w, P, R, c->rope, eps, rope_scale, d_kv, 0));
    uint16_t *kv = sl_gpu_download(d_kv, (size_t)P * D * 2);
    float *latent = malloc((size_t)P * R * 4), *pe = malloc((size_t)P * (c->rope + 1) * 4);
    double worst_entry = 0;
    for (int p = 0; p < P; p++) {
        float ref[1024];
        sl_rmsnorm(ref, kva + (size_t)p * D, w, (size_t)R, eps);
        for (int i = 0; i < D; i++) {
            float want = i < R ? ref[i] : kva[(size_t)p * D + i] * rope_scale;
            float got = sl_bf16_to_f32(kv[(size_t)p * D + i]);
            double e = fabs((double)got - want) / (fabs(want) + 1e-30);
            worst_entry = e > worst_entry ? e : worst_entry;
            if (i < R)
                latent[(size_t)p * R + i] = got;
            else
                pe[(size_t)p * c->rope + i - R] = got;
        }
    }
    CHECKF(worst_entry <= 1.0 / 128, "R %d: cache entry off by %.3g", R, worst_entry);

    /* the CPU on the same bf16 cache, its q_pe scaled as the GPU scales it */
    float *q_cpu = malloc((size_t)n * H * qk * 4), *out_cpu = malloc((size_t)n * H * c->vd * 4);
    memcpy(q_cpu, q, (size_t)n * H * qk * 4);
    for (size_t r = 0; r < (size_t)n * H; r++)
        for (int i = 0; i < c->rope; i++)
            q_cpu[r * qk + c->nope + i] *= rope_scale;
    sl_mla_args a = {H, c->nope, c->rope, c->vd, R, scale, kv_b, latent, pe, q_cpu,
                     (size_t)c->first_pos, (size_t)n, out_cpu};
    size_t per = sl_mla_scratch_floats(&a, (size_t)P);
    float *scratch = malloc(per * (size_t)sl_pool_size(pool) * 4);

    float *d_q = sl_gpu_upload(q, (size_t)n * H * qk * 4), *d_kvb = sl_gpu_upload(kv_b, kvb_n * 4);
    float *d_qabs = sl_gpu_poisoned((size_t)n * H * D * 4), *d_lat = sl_gpu_poisoned((size_t)n * H * R * 4);
    float *d_lse = sl_gpu_poisoned((size_t)n * H * 4);
    sl_bf16 *d_out = sl_gpu_poisoned((size_t)n * H * c->vd * 2);
    CUDA_CHECK(sl_k_mla_absorb_q(d_q, d_kvb, n, H, c->nope, c->rope, c->vd, R, rope_scale, d_qabs, 0));

    int32_t *sel_cpu = malloc((size_t)n * c->topk * 4), *sel_gpu = malloc((size_t)n * c->topk * 4);
    size_t *count = malloc((size_t)n * sizeof *count);
    make_selection(c, sel_cpu, count, sel_gpu);
    int32_t *d_sel = sl_gpu_upload(sel_gpu, (size_t)n * c->topk * 4);
    for (int sparse = 0; sparse < 2; sparse++) {
        sl_mla_selection sel = {sel_cpu, count, (size_t)c->topk};
        sl_mla_mqa(pool, &a, sparse ? &sel : NULL, scratch, per);
        CUDA_CHECK(sl_k_mla_attention(d_qabs, d_kv, sparse ? d_sel : NULL, c->topk, n, c->first_pos,
                                      H, R, c->rope, scale, d_lat, d_lse, 0));
        CUDA_CHECK(sl_k_mla_unabsorb(d_lat, d_kvb, n, H, c->nope, c->vd, R, d_out, 0));
        uint16_t *out = sl_gpu_download(d_out, (size_t)n * H * c->vd * 2);
        float *got = malloc((size_t)n * H * c->vd * 4);
        for (size_t i = 0; i < (size_t)n * H * c->vd; i++)
            got[i] = sl_bf16_to_f32(out[i]);
        double e = sl_rel_error(got, out_cpu, (size_t)n * H * c->vd);
        CHECKF(e <= 5e-3, "R %d n %d pos %d %s: attention off by %.3g", R, n, c->first_pos,
               sparse ? "sparse" : "dense", e);
        free(out), free(got);
    }

    float *d_mass = sl_gpu_poisoned((size_t)n * P * 4);
    CUDA_CHECK(sl_k_mla_head_mass(d_qabs, d_kv, n, c->first_pos, H, R, c->rope, scale, d_mass,
                                  d_lse, d_lat, 0));
    float *mass = sl_gpu_download(d_mass, (size_t)n * P * 4), *ref = malloc((size_t)P * 4);
    double worst_mass = 0;
    for (int t = 0; t < n; t++) {
        sl_mla_head_mass(&a, (size_t)t, ref, scratch);
        int vis = c->first_pos + t + 1;
        double e = sl_rel_error(mass + (size_t)t * P, ref, (size_t)vis);
        worst_mass = e > worst_mass ? e : worst_mass;
        for (int p = vis; p < P; p++)
            CHECK(mass[(size_t)t * P + p] == 0.0f);
    }
    CHECKF(worst_mass <= 1e-4, "R %d: head mass off by %.3g", R, worst_mass);
    fprintf(stderr, "n %3d pos %3d H %d nope %2d rope %2d vd %2d R %3d top-k %3d: entries %.1e, "
            "mass %.1e\n", n, c->first_pos, H, c->nope, c->rope, c->vd, R, c->topk, worst_entry,
            worst_mass);

    free(kva), free(w), free(kv_b), free(q), free(kv), free(latent), free(pe), free(q_cpu);
    free(out_cpu), free(scratch), free(sel_cpu), free(sel_gpu), free(count), free(mass), free(ref);
    void *dev[] = {d_kva, d_w, d_kv, d_q, d_kvb, d_qabs, d_lat, d_lse, d_out, d_sel, d_mass};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
        cudaFree(dev[i]);
}

/* sparse-mla.cu's kernel against this one at 512 + 64, on the same bf16 queries. */
static void check_fast_kernel_agrees(void)
{
    int n = 3, H = 16, S = 300, topk = 64, R = 512, D = 576;
    float scale = 0.135f, *qv;
    uint16_t *qb = sl_random_bf16(&rng, (size_t)n * H * D, 1.0f, &qv);
    float *kvv;
    uint16_t *kvb = sl_random_bf16(&rng, (size_t)S * D, 1.0f, &kvv);
    mla_case c = {n, S - n, H, 0, 64, 1, R, topk};
    int32_t *sel_cpu = malloc((size_t)n * topk * 4), *sel_gpu = malloc((size_t)n * topk * 4);
    size_t count[3];
    make_selection(&c, sel_cpu, count, sel_gpu);
    for (size_t i = 0; i < (size_t)n * topk; i++) /* the fast kernel skips only -1 and ≥ S */
        sel_gpu[i] = sel_gpu[i] > (int32_t)(c.first_pos + i / topk) ? -1 : sel_gpu[i];
    float *d_q = sl_gpu_upload(qv, (size_t)n * H * D * 4), *d_lat = sl_gpu_poisoned((size_t)n * H * R * 4);
    sl_bf16 *d_qb = sl_gpu_upload(qb, (size_t)n * H * D * 2), *d_kv = sl_gpu_upload(kvb, (size_t)S * D * 2);
    sl_bf16 *d_fast = sl_gpu_poisoned((size_t)n * H * R * 2);
    float *d_lse = sl_gpu_poisoned((size_t)n * H * 4);
    int32_t *d_sel = sl_gpu_upload(sel_gpu, (size_t)n * topk * 4);
    CUDA_CHECK(sl_k_mla_attention(d_q, d_kv, d_sel, topk, n, c.first_pos, H, R, 64, scale, d_lat,
                                  NULL, 0));
    CUDA_CHECK(sl_k_sparse_mla_bf16(d_qb, d_kv, d_sel, n, H, S, topk, scale, d_fast, d_lse, NULL, 0, 0));
    float *mine = sl_gpu_download(d_lat, (size_t)n * H * R * 4), *fast = malloc((size_t)n * H * R * 4);
    uint16_t *fb = sl_gpu_download(d_fast, (size_t)n * H * R * 2);
    for (size_t i = 0; i < (size_t)n * H * R; i++)
        fast[i] = sl_bf16_to_f32(fb[i]);
    double e = sl_rel_error(fast, mine, (size_t)n * H * R);
    CHECKF(e <= 1e-2, "sparse-mla.cu against mla.cu at 512 + 64: %.3g", e);
    fprintf(stderr, "512 + 64, top-k %d: sparse-mla.cu within %.1e of mla.cu\n", topk, e);
    free(qv), free(qb), free(kvv), free(kvb), free(sel_cpu), free(sel_gpu), free(mine), free(fast), free(fb);
    void *dev[] = {d_q, d_lat, d_qb, d_kv, d_fast, d_lse, d_sel};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
        cudaFree(dev[i]);
}

/* n bf16 values on the device as floats on the host (malloc'd). */
static float *bf16_floats(const sl_bf16 *d, size_t n)
{
    uint16_t *b = sl_gpu_download(d, n * 2);
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; b && i < n; i++)
        f[i] = sl_bf16_to_f32(b[i]);
    free(b);
    return f;
}

/* FP8 entries of P positions against the CPU; at 512 + 64 the FP8 sparse
 * kernel over them against the BF16 one over them read back. */
static void check_fp8_entries(int P, int R, int rope)
{
    int D = R + rope;
    size_t entry = sl_k_mla_fp8_entry_bytes(R, rope);
    float eps = 1e-6f, rope_scale = 0.75f;
    float *kva = random_floats((size_t)P * D, 3.0f), *w = random_floats((size_t)R, 1.5f);
    float *d_kva = sl_gpu_upload(kva, (size_t)P * D * 4), *d_w = sl_gpu_upload(w, (size_t)R * 4);
    uint8_t *d_e = sl_gpu_poisoned((size_t)P * entry);
    sl_bf16 *d_back = sl_gpu_poisoned((size_t)P * D * 2);
    CUDA_CHECK(sl_k_mla_cache_entries_fp8(d_kva, d_w, P, R, rope, eps, rope_scale, d_e, 0));
    CUDA_CHECK(sl_k_mla_cache_from_fp8(d_e, P, R, rope, d_back, 0));
    uint8_t *e = sl_gpu_download(d_e, (size_t)P * entry);
    uint16_t *back = sl_gpu_download(d_back, (size_t)P * D * 2);
    size_t differ = 0, far = 0, bad = 0, n_blocks = (size_t)(R + 127) / 128;
    for (int p = 0; p < P; p++) {
        float ref[1024];
        sl_rmsnorm(ref, kva + (size_t)p * D, w, (size_t)R, eps);
        for (int b = 0; b < R; b += 128)
            sl_fp8_fake_quant(ref + b, (size_t)(R - b < 128 ? R - b : 128));
        const uint8_t *ep = e + (size_t)p * entry;
        float scales[8];
        for (size_t b = 0; b < n_blocks; b++) {
            int x;
            memcpy(&scales[b], ep + R + 4 * b, 4);
            bad += !(scales[b] > 0 && frexpf(scales[b], &x) == 0.5f);
        }
        for (int i = 0; i < D; i++) {
            float got = sl_bf16_to_f32(back[(size_t)p * D + i]);
            if (i < R) { /* one e4m3 step: 1/8 of a normal value, 2^-9 scales below them */
                float step = fmaxf(0.13f * fabsf(ref[i]), 0.002f * scales[i / 128]);
                differ += got != ref[i];
                far += !(fabsf(got - ref[i]) <= step);
            } else {
                uint16_t pe;
                memcpy(&pe, ep + R + 4 * n_blocks + 2 * (size_t)(i - R), 2);
                bad += pe != back[(size_t)p * D + i] ||
                       pe != sl_f32_to_bf16(kva[(size_t)p * D + i] * rope_scale);
            }
        }
    }
    CHECKF(1000 * differ <= (size_t)P * R && far == 0 && bad == 0, "FP8 entries %d + %d: %zu "
           "latent values differ (%zu by more than a step), %zu scales or rope values wrong", R,
           rope, differ, far, bad);
    fprintf(stderr, "FP8 entries %3d + %2d (%zu B): %zu of %zu latent values one e4m3 step off\n",
            R, rope, entry, differ, (size_t)P * R);
    if (R == 512 && rope == 64) {
        CHECK(entry == 656);
        int n = 5, H = 64, topk = 128;
        float scale = 0.135f, *qv;
        uint16_t *qb = sl_random_bf16(&rng, (size_t)n * H * D, 1.0f, &qv);
        int32_t *sel = malloc((size_t)n * topk * 4);
        for (int i = 0; i < n * topk; i++) /* some invalid */
            sel[i] = i % 37 == 5 ? -1 : (int32_t)(sl_splitmix64(&rng) % (uint64_t)P);
        sl_bf16 *d_q = sl_gpu_upload(qb, (size_t)n * H * D * 2);
        sl_bf16 *d_o8 = sl_gpu_poisoned((size_t)n * H * R * 2), *d_o16 = sl_gpu_poisoned((size_t)n * H * R * 2);
        float *d_lse = sl_gpu_poisoned((size_t)n * H * 4);
        int32_t *d_sel = sl_gpu_upload(sel, (size_t)n * topk * 4);
        CUDA_CHECK(sl_k_sparse_mla_fp8(d_q, d_e, d_sel, n, H, P, topk, scale, d_o8, d_lse, NULL, 0, 0));
        CUDA_CHECK(sl_k_sparse_mla_bf16(d_q, d_back, d_sel, n, H, P, topk, scale, d_o16, d_lse, NULL, 0, 0));
        float *o8 = bf16_floats(d_o8, (size_t)n * H * R), *o16 = bf16_floats(d_o16, (size_t)n * H * R);
        double err = sl_rel_error(o8, o16, (size_t)n * H * R);
        CHECKF(err <= 2e-3, "sparse MLA over FP8 entries against BF16 ones: %.3g", err);
        fprintf(stderr, "sparse MLA over the FP8 entries within %.1e of the BF16 kernel over them "
                "read back\n", err);
        free(qv), free(qb), free(sel), free(o8), free(o16);
        cudaFree(d_q), cudaFree(d_o8), cudaFree(d_o16), cudaFree(d_lse), cudaFree(d_sel);
    }
    free(kva), free(w), free(e), free(back);
    cudaFree(d_kva), cudaFree(d_w), cudaFree(d_e), cudaFree(d_back);
}

int main(void)
{
    sl_gpu_require();
    sl_pool *pool = NULL;
    sl_error err = {0};
    CHECK(sl_pool_new(2, &pool, &err) == SL_OK);
    static const mla_case cases[] = {
        {5, 37, 3, 16, 16, 24, 72, 8},   {1, 200, 6, 32, 16, 24, 64, 64}, {17, 0, 4, 32, 32, 40, 144, 16},
        {3, 90, 2, 8, 8, 8, 600, 33},    {1, 0, 1, 16, 16, 16, 40, 1},    {7, 250, 5, 24, 8, 12, 96, 100},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_case(&cases[i], pool);
    check_fast_kernel_agrees();
    check_fp8_entries(300, 512, 64);
    check_fp8_entries(70, 144, 32);
    check_fp8_entries(33, 1024, 16);
    sl_pool_free(pool);
    return sl_test_finish();
}
