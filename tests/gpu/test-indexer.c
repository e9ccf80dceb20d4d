/* indexer.cu against the CPU's sl_lightning_scores (engine/dsa/indexer.c)
 * on float copies of the same bf16 or e4m3 values: fresh random inputs of
 * odd sizes, causal, ragged and tile-edge ranges, outputs poisoned first;
 * every tiling, and for FP8 at H = 64, D = 128 each variant of the wgmma
 * kernel (indexer-wgmma.cu; on a GPU other than sm_90 these run the
 * mma.sync kernel again). In range:
 * ‖gpu − cpu‖ / ‖cpu‖ within 1e-5 (the products are exact in fp32, only the
 * order of the sums differs); outside: exactly -inf; past L: untouched. The
 * wgmma kernel's bound is 1e-2: Hopper's FP8 tensor cores accumulate with
 * reduced precision (the DeepSeek-V3 report, §3.3.2: about 14 bits; their
 * fp8_mqa_logits sums the same way), measured on an H100 at 1.9–2.7e-4 in
 * every case and 4.6e-3 where five rows see one key each (sums that
 * cancel); a wrong row, key or head would be off by the scores themselves. */
#include "gpu-util.h"
#include "dsa/indexer.h"
#include "sightline-kernels.h"

enum { KIND_BF16, KIND_FP8, KIND_PAGED, KIND_WGMMA };
static const char *kind_name[] = {"bf16", "fp8", "fp8-paged", "fp8-wgmma"};

static uint64_t rng = 0x5eed1234abcdull;

static uint32_t next_u32(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static float uniform(void) /* [-1, 1) */
{
    return (float)(next_u32() >> 8) / 8388608.0f - 1.0f;
}

static uint8_t random_e4m3(void)
{
    uint8_t b;
    do
        b = (uint8_t)next_u32();
    while ((b & 0x7f) == 0x7f); /* no NaN */
    return b;
}

static double worst[4];
static int cases[4];

enum { CAUSAL, RAGGED, EDGES };
static const char *range_name[] = {"causal", "ragged", "edges"};

/* Ranges: causal rows at the last positions (pos = L − rows + r, so rows
 * past the start are empty); ragged: random starts and ends, some empty,
 * some past either edge; edges: starts and ends at multiples of 64 (the
 * kernels' key tiles are 128 to 512) and one either side. */
static void make_ranges(int rows, int L, int ragged, int32_t *ks, int32_t *ke)
{
    for (int r = 0; r < rows; r++) {
        if (ragged == EDGES) {
            int tiles = L / 64 + 2;
            ks[r] = 64 * (int32_t)(next_u32() % (uint32_t)tiles) + (int32_t)(next_u32() % 3) - 1;
            ke[r] = 64 * (int32_t)(next_u32() % (uint32_t)tiles) + (int32_t)(next_u32() % 3) - 1;
        } else if (!ragged) {
            ks[r] = 0;
            ke[r] = L - rows + r + 1;
        } else {
            ks[r] = (int32_t)(next_u32() % (uint32_t)(L + 4)) - 3;
            ke[r] = ks[r] + (int32_t)(next_u32() % (uint32_t)(L + 4));
            if (next_u32() % 8 == 0)
                ke[r] = ks[r] - 1; /* empty */
        }
    }
}

/* Where a failed case is worst: its row and key, and how many rows are off. */
static void print_worst(const float *out, const float *ref, const int32_t *ks, const int32_t *ke,
                        int rows, int L, size_t stride)
{
    double most = 0;
    int wr = -1, wk = -1, rows_off = 0;
    float wg = 0, wc = 0;
    for (int r = 0, at = 0; out && r < rows; r++) {
        int lo = ks[r] > 0 ? ks[r] : 0, hi = ke[r] < L ? ke[r] : L;
        bool off = false;
        for (int s = lo; s < hi; s++, at++) {
            double d = fabs((double)out[(size_t)r * stride + (size_t)s] - ref[at]);
            off |= d > 1e-4 * (fabs(ref[at]) + 1e-3);
            if (d > most)
                most = d, wr = r, wk = s, wg = out[(size_t)r * stride + (size_t)s], wc = ref[at];
        }
        rows_off += off;
    }
    fprintf(stderr, "  worst at row %d key %d: %.6g against %.6g; %d rows off\n", wr, wk, wg, wc,
            rows_off);
}

static void check(int kind, int rows, int H, int D, int L, int ragged)
{
    size_t nq = (size_t)rows * H * D, nk = (size_t)L * D, stride = (size_t)L + 3;
    int elem = kind == KIND_BF16 ? 2 : 1;
    uint8_t *q = malloc(nq * elem), *k = malloc(nk * elem);
    float *qf = malloc(nq * sizeof *qf), *kf = malloc(nk * sizeof *kf);
    float *w = malloc((size_t)rows * H * sizeof *w), *ksc = malloc((size_t)L * sizeof *ksc);
    int32_t *ks = malloc((size_t)rows * 4), *ke = malloc((size_t)rows * 4);
    for (size_t i = 0; i < nq; i++) {
        if (kind == KIND_BF16) {
            uint16_t b = sl_f32_to_bf16(uniform());
            memcpy(q + 2 * i, &b, 2);
            qf[i] = sl_bf16_to_f32(b);
        } else {
            q[i] = random_e4m3();
            qf[i] = sl_e4m3_to_f32(q[i]);
        }
    }
    for (int s = 0; s < L; s++) {
        ksc[s] = kind == KIND_BF16 ? 1.0f : ldexpf(1.0f, -(int)(next_u32() % 12));
        for (int d = 0; d < D; d++) {
            size_t i = (size_t)s * D + (size_t)d;
            if (kind == KIND_BF16) {
                uint16_t b = sl_f32_to_bf16(uniform());
                memcpy(k + 2 * i, &b, 2);
                kf[i] = sl_bf16_to_f32(b);
            } else {
                k[i] = random_e4m3();
                kf[i] = sl_e4m3_to_f32(k[i]) * ksc[s]; /* exact: a power of two */
            }
        }
    }
    for (size_t i = 0; i < (size_t)rows * H; i++)
        w[i] = uniform();
    make_ranges(rows, L, ragged, ks, ke);

    /* The paged cache: each row its own shuffled block table; blocks wholly
     * outside a row's range point far past the cache (they must not be read). */
    int nb = (L + 63) / 64, bt_stride = nb + 1, nblocks = nb * 2 + 1;
    size_t block_bytes = (size_t)64 * (D + 4);
    uint8_t *cache = NULL;
    int32_t *bt = NULL;
    if (kind == KIND_PAGED) {
        cache = calloc((size_t)nblocks * rows, block_bytes);
        bt = malloc((size_t)rows * bt_stride * 4);
        int *perm = malloc((size_t)nblocks * sizeof *perm);
        for (int r = 0; r < rows; r++) {
            int lo = ks[r] > 0 ? ks[r] : 0, hi = ke[r] < L ? ke[r] : L;
            for (int b = 0; b < nblocks; b++)
                perm[b] = b;
            for (int b = nblocks - 1; b > 0; b--) {
                int j = (int)(next_u32() % (uint32_t)(b + 1)), x = perm[b];
                perm[b] = perm[j], perm[j] = x;
            }
            for (int b = 0; b < bt_stride; b++) {
                int blk = r * nblocks + perm[b];
                bool used = b < nb && lo < hi && b * 64 < hi && (b + 1) * 64 > lo;
                bt[(size_t)r * bt_stride + b] = used ? blk : 0x3fffffff;
                if (!used)
                    continue;
                for (int j = 0; j < 64 && b * 64 + j < L; j++) {
                    int s = b * 64 + j;
                    memcpy(cache + (size_t)blk * block_bytes + (size_t)j * D, k + (size_t)s * D,
                           (size_t)D);
                    memcpy(cache + (size_t)blk * block_bytes + (size_t)64 * D + (size_t)j * 4,
                           &ksc[s], 4);
                }
            }
        }
        free(perm);
    }

    void *dq = sl_gpu_upload(q, nq * elem), *dk = sl_gpu_upload(k, nk * elem);
    float *dw = sl_gpu_upload(w, (size_t)rows * H * sizeof *w);
    float *dks = sl_gpu_upload(ksc, (size_t)L * sizeof *ksc);
    int32_t *dks_ = sl_gpu_upload(ks, (size_t)rows * 4), *dke = sl_gpu_upload(ke, (size_t)rows * 4);
    void *dcache = kind == KIND_PAGED ? sl_gpu_upload(cache, (size_t)nblocks * rows * block_bytes)
                                      : NULL;
    int32_t *dbt = kind == KIND_PAGED ? sl_gpu_upload(bt, (size_t)rows * bt_stride * 4) : NULL;
    /* The CPU over each row's range. */
    size_t n_in = 0;
    for (int r = 0; r < rows; r++) {
        int lo = ks[r] > 0 ? ks[r] : 0, hi = ke[r] < L ? ke[r] : L;
        n_in += hi > lo ? (size_t)(hi - lo) : 0;
    }
    float *ref = malloc((n_in ? n_in : 1) * sizeof *ref), *got = malloc((n_in ? n_in : 1) * sizeof *got);
    for (int r = 0, at = 0; r < rows; r++) {
        int lo = ks[r] > 0 ? ks[r] : 0, hi = ke[r] < L ? ke[r] : L;
        if (hi > lo) {
            sl_lightning_scores((size_t)H, (size_t)D, qf + (size_t)r * H * D, w + (size_t)r * H, kf,
                                (size_t)lo, (size_t)(hi - lo), ref + at);
            at += hi - lo;
        }
    }

    /* Both tilings of the mma.sync kernel (32 and 64 keys a warp), then for
     * FP8 at its shape each variant of the wgmma kernel. */
    float *dout = sl_gpu_poisoned((size_t)rows * stride * sizeof(float));
    int n_variants = kind == KIND_FP8 && H == 64 && D == 128 ? 5 : 2;
    for (int vi = 0; vi < n_variants; vi++) {
        int variant = vi < 2 ? 32 << vi : vi - 1, wgmma = vi >= 2;
        int tally = wgmma ? KIND_WGMMA : kind;
        sl_k_indexer_tune(wgmma ? 0 : variant);
        sl_k_indexer_tune_wgmma(wgmma ? variant : -1);
        CUDA_CHECK(cudaMemset(dout, 0xFF, (size_t)rows * stride * sizeof(float)));
        if (kind == KIND_BF16)
            CUDA_CHECK(sl_k_indexer_bf16(dq, dw, dk, dks_, dke, rows, H, D, L, dout, stride, 0));
        else if (kind == KIND_FP8)
            CUDA_CHECK(sl_k_indexer_fp8(dq, dw, dk, dks, dks_, dke, rows, H, D, L, dout, stride, 0));
        else
            CUDA_CHECK(sl_k_indexer_fp8_paged(dq, dw, dcache, dbt, bt_stride, dks_, dke, rows, H, D,
                                              L, dout, stride, 0));
        CUDA_CHECK(cudaDeviceSynchronize());
        float *out = sl_gpu_download(dout, (size_t)rows * stride * sizeof(float));
        size_t at = 0, bad_outside = 0;
        for (int r = 0; out && r < rows; r++) {
            int lo = ks[r] > 0 ? ks[r] : 0, hi = ke[r] < L ? ke[r] : L;
            const float *o = out + (size_t)r * stride;
            if (hi > lo) {
                memcpy(got + at, o + lo, (size_t)(hi - lo) * sizeof *got);
                at += (size_t)(hi - lo);
            }
            for (int s = 0; s < L; s++)
                if ((s < lo || s >= hi) && !(isinf(o[s]) && o[s] < 0))
                    bad_outside++;
            for (size_t s = (size_t)L; s < stride; s++) {
                uint32_t u;
                memcpy(&u, &o[s], 4);
                bad_outside += u != 0xffffffffu;
            }
        }
        size_t nan_in = 0;
        for (size_t i = 0; i < at; i++)
            nan_in += !isfinite(got[i]);
        double err = out ? sl_rel_error(got, ref, at) : 1.0;
        double bound = wgmma ? 1e-2 : 1e-5;
        if (!(err <= bound) || nan_in || bad_outside || !out) {
            fprintf(stderr, "%s/%d rows %d H %d D %d L %d %s: rel err %.3g, %zu non-finite in "
                            "range, %zu wrong outside\n",
                    kind_name[tally], variant, rows, H, D, L, range_name[ragged], err, nan_in,
                    bad_outside);
            print_worst(out, ref, ks, ke, rows, L, stride);
        }
        CHECK(out && err <= bound && nan_in == 0 && bad_outside == 0);
        if (err > worst[tally] || err != err)
            worst[tally] = err;
        cases[tally]++;
        free(out);
    }
    sl_k_indexer_tune(0);
    sl_k_indexer_tune_wgmma(0);

    free(q), free(k), free(qf), free(kf), free(w), free(ksc), free(ks), free(ke), free(cache),
        free(bt), free(ref), free(got);
    cudaFree(dq), cudaFree(dk), cudaFree(dw), cudaFree(dks), cudaFree(dks_), cudaFree(dke),
        cudaFree(dcache), cudaFree(dbt), cudaFree(dout);
}

static void check_bad_sizes(void)
{
    float *d = sl_gpu_poisoned(64);
    CHECK(sl_k_indexer_bf16((void *)d, d, (void *)d, (void *)d, (void *)d, 1, 12, 128, 4, d, 4,
                            0) == cudaErrorInvalidValue);
    CHECK(sl_k_indexer_bf16((void *)d, d, (void *)d, (void *)d, (void *)d, 1, 64, 96, 4, d, 4, 0) ==
          cudaErrorInvalidValue);
    CHECK(sl_k_indexer_fp8((void *)d, d, (void *)d, d, (void *)d, (void *)d, 1, 64, 128, 4, d, 3,
                           0) == cudaErrorInvalidValue);
    CHECK(sl_k_indexer_fp8((void *)d, d, (void *)d, d, (void *)d, (void *)d, 0, 64, 128, 4, d, 4,
                           0) == cudaSuccess);
    cudaFree(d);
}

int main(void)
{
    sl_gpu_require();
    static const int row_sizes[] = {1, 5, 130}, key_sizes[] = {1, 63, 1000, 8193};
    for (int kind = KIND_BF16; kind <= KIND_FP8; kind++)
        for (int ri = 0; ri < 3; ri++)
            for (int li = 0; li < 4; li++)
                for (int ragged = CAUSAL; ragged <= RAGGED; ragged++)
                    check(kind, row_sizes[ri], 64, 128, key_sizes[li], ragged);
    /* The wgmma kernel's groups of 64 rows (two a step in one variant):
     * odd counts past one group, keys past one tile, ranges on tile edges. */
    static const int wg_rows[] = {67, 129}, wg_keys[] = {255, 257, 2049};
    for (int ri = 0; ri < 2; ri++)
        for (int li = 0; li < 3; li++)
            for (int ragged = CAUSAL; ragged <= EDGES; ragged++)
                check(KIND_FP8, wg_rows[ri], 64, 128, wg_keys[li], ragged);
    /* Other shapes: few and many heads, D = 64. */
    for (int kind = KIND_BF16; kind <= KIND_FP8; kind++) {
        check(kind, 37, 8, 64, 777, 1);
        check(kind, 33, 24, 128, 513, 0);
        check(kind, 70, 128, 128, 1500, 1);
        check(kind, 9, 128, 64, 300, 0);
        check(kind, 40, 72, 64, 2049, 1);
    }
    check_bad_sizes();
    /* The paged cache last: a wrong block lookup would fault. */
    check(KIND_PAGED, 1, 64, 128, 8193, 0);
    check(KIND_PAGED, 5, 64, 128, 1000, 1);
    check(KIND_PAGED, 3, 64, 128, 63, 0);
    check(KIND_PAGED, 7, 16, 64, 700, 1);
    for (int kind = 0; kind < 4; kind++)
        fprintf(stderr, "indexer %s: %d cases, worst ||gpu - cpu|| / ||cpu|| = %.3g\n",
                kind_name[kind], cases[kind], worst[kind]);
    return sl_test_finish();
}
