/* ops.cu against the CPU: embedding rows (sl_matrix_row of a bf16 table),
 * RMSNorm (sl_rmsnorm), interleaved and NeoX RoPE (sl_rope_interleaved,
 * sl_rope_neox; a decode step's rope and cache rows in one launch against
 * the same then rounded), SwiGLU (sl_swiglu), the residual add and greedy argmax
 * (engine/sampler.c's loop), on fresh random inputs of 1, 7 and 513 rows.
 * Outputs are poisoned (0xFF: NaN) before each launch; in-place buffers
 * carry a poisoned guard after them that must survive.
 *   float32 results: relative error ≤ 1e-6 (RMSNorm per value, RoPE per
 *     head vector: ‖gpu − cpu‖ / ‖cpu‖), the maximum reached is printed;
 *   bf16 results: within one bf16 ulp of the CPU's value rounded to
 *     nearest even (the share equal to it is printed);
 *   embedding rows, the add and argmax: exact.
 * The seed is printed; SL_OPS_SEED=n repeats a run. */
#include "gpu-util.h"
#include "cpu/matmul.h"
#include "cpu/ops.h"
#include "model/dequant.h"
#include "sightline-kernels.h"

#include <stdint.h>
#include <time.h>

#define F32_BOUND 1e-6

static uint64_t rng_state;

static uint64_t next_u64(void) { return sl_splitmix64(&rng_state); }

static float uniform(float lo, float hi) { return sl_uniform(&rng_state, lo, hi); }

/* The largest error of each kind seen, for the summary. */
static double max_rms_err, max_rope_err;
static size_t bf16_values, bf16_equal;

/* Distance in bf16 steps between two bf16 values (±0 equal). */
static int bf16_steps(uint16_t a, uint16_t b)
{
    int oa = a & 0x8000 ? -(int)(a & 0x7fff) : (int)a;
    int ob = b & 0x8000 ? -(int)(b & 0x7fff) : (int)b;
    return abs(oa - ob);
}

/* bf16 results against the CPU's floats: how many are more than one step
 * from round-to-nearest-even of the reference and more than floor away from
 * it (a rotated pair's a·cos − b·sin can cancel to a value whose own step is
 * finer than the float error of its terms: floor is that error's size). */
static size_t bf16_off_beyond(const uint16_t *got, const float *ref, size_t n, double floor)
{
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t want = sl_f32_to_bf16(ref[i]);
        int d = bf16_steps(got[i], want);
        double g = sl_bf16_to_f32(got[i]);
        off += (d > 1 && !(fabs(g - ref[i]) <= floor)) || isnan(g);
        bf16_equal += d == 0;
    }
    bf16_values += n;
    return off;
}

static size_t bf16_off(const uint16_t *got, const float *ref, size_t n)
{
    return bf16_off_beyond(got, ref, n, 0.0);
}

/* A float buffer on the device of n values then `guard` poisoned ones. */
static float *upload_guarded(const float *h, size_t n, size_t guard)
{
    float *d = sl_gpu_poisoned((n + guard) * sizeof *d);
    if (d)
        cudaMemcpy(d, h, n * sizeof *d, cudaMemcpyHostToDevice);
    return d;
}

static int guard_intact(const float *d, size_t n, size_t guard)
{
    uint8_t *g = sl_gpu_download(d + n, guard * sizeof(float));
    int ok = g != NULL;
    for (size_t i = 0; ok && i < guard * sizeof(float); i++)
        ok = g[i] == 0xFF;
    free(g);
    return ok;
}

static void check_embed(int rows, int dim, int n)
{
    uint16_t *table = malloc((size_t)rows * (size_t)dim * 2);
    for (size_t i = 0; i < (size_t)rows * (size_t)dim; i++)
        table[i] = sl_f32_to_bf16(ldexpf(uniform(-1, 1), (int)(next_u64() % 16) - 8));
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int t = 0; t < n; t++)
        ids[t] = t == 1 ? ids[0] : (int32_t)(next_u64() % (uint64_t)rows); /* a repeat */
    uint16_t *dt = sl_gpu_upload(table, (size_t)rows * (size_t)dim * 2);
    int32_t *di = sl_gpu_upload(ids, (size_t)n * sizeof *ids);
    float *dout = sl_gpu_poisoned((size_t)n * (size_t)dim * sizeof(float));
    CUDA_CHECK(sl_k_embed_rows(dt, dim, di, n, dout, 0));
    float *out = sl_gpu_download(dout, (size_t)n * (size_t)dim * sizeof(float));
    sl_matrix w = {.name = "embed", .type = SL_TYPE_BF16, .rows = rows, .cols = dim,
                   .data = table, .row_bytes = (size_t)dim * 2};
    float *ref = malloc((size_t)dim * sizeof *ref);
    size_t wrong = 0;
    for (int t = 0; out && t < n; t++) {
        sl_matrix_row(&w, ids[t], ref);
        wrong += memcmp(out + (size_t)t * (size_t)dim, ref, (size_t)dim * sizeof *ref) != 0;
    }
    CHECKF(out && wrong == 0, "embed %d rows of %d: %zu rows differ", n, dim, wrong);
    free(table), free(ids), free(out), free(ref);
    cudaFree(dt), cudaFree(di), cudaFree(dout);
}

/* mode 0: float and bf16 out; 1: bf16 only; 2: float in place (out = x). */
static void check_rmsnorm(int n, int dim, float eps, int mode)
{
    size_t total = (size_t)n * (size_t)dim;
    float *x = malloc(total * sizeof *x), *w = malloc((size_t)dim * sizeof *w);
    float *ref = malloc(total * sizeof *ref);
    for (int t = 0; t < n; t++) {
        int e = (int)(next_u64() % 24) - 12; /* rows of very different size */
        for (int j = 0; j < dim; j++)
            x[(size_t)t * (size_t)dim + (size_t)j] = ldexpf(uniform(-1, 1), e);
    }
    if (n > 3) /* a row of zeros: 0 · 1/sqrt(eps) */
        memset(x + 3 * (size_t)dim, 0, (size_t)dim * sizeof *x);
    for (int j = 0; j < dim; j++)
        w[j] = uniform(-2, 2);
    for (int t = 0; t < n; t++)
        sl_rmsnorm(ref + (size_t)t * (size_t)dim, x + (size_t)t * (size_t)dim, w, (size_t)dim, eps);
    size_t guard = 64;
    float *dx = upload_guarded(x, total, guard), *dw = sl_gpu_upload(w, (size_t)dim * sizeof *w);
    float *df = mode == 0 ? sl_gpu_poisoned(total * sizeof(float)) : mode == 2 ? dx : NULL;
    uint16_t *db = mode != 2 ? sl_gpu_poisoned(total * 2) : NULL;
    CUDA_CHECK(sl_k_rmsnorm(dx, dw, n, dim, eps, df, db, 0));
    float *f = df ? sl_gpu_download(df, total * sizeof(float)) : NULL;
    uint16_t *b = db ? sl_gpu_download(db, total * 2) : NULL;
    double err = 0;
    size_t wrong = 0;
    for (size_t i = 0; f && i < total; i++) {
        double e = ref[i] != 0 ? fabs(((double)f[i] - ref[i]) / ref[i]) : f[i] != 0 ? INFINITY : 0;
        err = !(e <= err) ? e : err; /* NaN sticks */
        wrong += b && b[i] != sl_f32_to_bf16(f[i]); /* bf16 is the float result rounded */
    }
    if (f)
        CHECKF(err <= F32_BOUND, "rmsnorm %d × %d mode %d: relative error %.3g", n, dim, mode, err);
    if (err > max_rms_err || isnan(err))
        max_rms_err = err;
    if (b) {
        size_t off = bf16_off(b, ref, total);
        CHECKF(off == 0 && wrong == 0, "rmsnorm %d × %d mode %d: %zu bf16 off by more than one step, "
               "%zu not the float result rounded", n, dim, mode, off, wrong);
    }
    CHECKF(guard_intact(dx, total, guard), "rmsnorm %d × %d: wrote past the rows", n, dim);
    free(x), free(w), free(ref), free(f), free(b);
    cudaFree(dx), cudaFree(dw);
    if (mode == 0)
        cudaFree(df);
    cudaFree(db);
}

enum { INTERLEAVED, NEOX };

/* total values of uniform(-4, 4) in *x and a copy in *ref (for the CPU to
 * turn); returns the inverse frequencies of rot dims (sl_rope_inv_freq). */
static float *rope_inputs(size_t total, int rot, float theta, float **x, float **ref)
{
    float *inv = calloc((size_t)(rot / 2 + 1), sizeof *inv);
    *x = malloc(total * sizeof **x);
    *ref = malloc(total * sizeof **ref);
    for (size_t i = 0; i < total; i++)
        (*x)[i] = uniform(-4, 4);
    memcpy(*ref, *x, total * sizeof **x);
    sl_rope_inv_freq(inv, rot, theta);
    return inv;
}

static void check_rope(int kind, int n, int heads, int head_dim, int rot, int first_pos, float theta)
{
    int neox = kind == NEOX;
    size_t row = (size_t)heads * (size_t)head_dim, total = (size_t)n * row;
    float *x, *ref, *inv = rope_inputs(total, rot, theta, &x, &ref);
    for (int t = 0; t < n; t++) {
        size_t pos = (size_t)first_pos + (size_t)t;
        if (neox)
            for (int h = 0; h < heads; h++)
                sl_rope_neox(ref + (size_t)t * row + (size_t)h * (size_t)head_dim, rot, pos, inv);
        else
            sl_rope_interleaved(ref + (size_t)t * row, heads, head_dim, rot, pos, inv);
    }
    size_t guard = 64;
    float *dx = upload_guarded(x, total, guard), *dinv = sl_gpu_upload(inv, (size_t)(rot / 2 + 1) * sizeof *inv);
    cudaError_t e = neox ? sl_k_rope_neox(dx, n, heads, head_dim, rot, first_pos, dinv, 0)
                         : sl_k_rope_interleaved(dx, n, heads, head_dim, rot, first_pos, dinv, 0);
    CUDA_CHECK(e);
    float *got = sl_gpu_download(dx, total * sizeof(float));
    double err = 0;
    size_t tail_wrong = 0;
    for (size_t v = 0; got && v < (size_t)n * (size_t)heads; v++) {
        const float *g = got + v * (size_t)head_dim, *r = ref + v * (size_t)head_dim;
        double ev = sl_rel_error(g, r, (size_t)rot);
        err = !(ev <= err) ? ev : err;
        tail_wrong += memcmp(g + rot, r + rot, (size_t)(head_dim - rot) * sizeof(float)) != 0;
    }
    CHECKF(got && err <= F32_BOUND && tail_wrong == 0,
           "rope %s %d × %d × %d rot %d from %d: relative error %.3g, %zu tails changed",
           neox ? "neox" : "interleaved", n, heads, head_dim, rot, first_pos, err, tail_wrong);
    if (err > max_rope_err || isnan(err))
        max_rope_err = err;
    CHECKF(guard_intact(dx, total, guard), "rope: wrote past the rows");
    free(x), free(ref), free(inv), free(got);
    cudaFree(dx), cudaFree(dinv);
}

/* sl_k_rope_qkv_at: one row's q ‖ k ‖ v, turned (q, k) at a device position
 * and rounded to BF16 into q_out and row pos of caches of `rows` rows, poisoned
 * first: every row but pos must stay poisoned. */
static void check_rope_qkv(int heads, int kv_heads, int head_dim, int rot, int pos, int rows,
                           float theta)
{
    size_t qd = (size_t)heads * (size_t)head_dim, kvd = (size_t)kv_heads * (size_t)head_dim;
    size_t total = qd + 2 * kvd, cache = (size_t)rows * kvd;
    float *x, *ref, *inv = rope_inputs(total, rot, theta, &x, &ref);
    sl_rope_interleaved(ref, heads, head_dim, rot, (size_t)pos, inv);
    sl_rope_interleaved(ref + qd, kv_heads, head_dim, rot, (size_t)pos, inv);
    float *dx = sl_gpu_upload(x, total * sizeof *x);
    float *dinv = sl_gpu_upload(inv, (size_t)(rot / 2 + 1) * sizeof *inv);
    int32_t *dpos = sl_gpu_upload(&pos, sizeof pos);
    uint16_t *dq = sl_gpu_poisoned((qd ? qd : 1) * 2), *dk = sl_gpu_poisoned(cache * 2),
             *dv = sl_gpu_poisoned(cache * 2);
    CUDA_CHECK(sl_k_rope_qkv_at(dx, heads, kv_heads, head_dim, rot, dpos, dinv, (sl_bf16 *)dq,
                                (sl_bf16 *)dk, (sl_bf16 *)dv, 0));
    uint16_t *q = sl_gpu_download(dq, qd * 2), *k = sl_gpu_download(dk, cache * 2),
             *v = sl_gpu_download(dv, cache * 2);
    size_t off = 0, v_wrong = 0, others = 0;
    if (q && k && v) {
        /* inputs in [-4, 4): the terms' float error is below 2^-20 · 8 */
        off = bf16_off_beyond(q, ref, qd, 8.0 / 1048576) +
              bf16_off_beyond(k + (size_t)pos * kvd, ref + qd, kvd, 8.0 / 1048576);
        for (size_t i = 0; i < kvd; i++) /* v is only rounded: exactly */
            v_wrong += v[(size_t)pos * kvd + i] != sl_f32_to_bf16(x[qd + kvd + i]);
        for (size_t i = 0; i < cache; i++)
            others += (i / kvd != (size_t)pos) && (k[i] != 0xFFFF || v[i] != 0xFFFF);
    }
    CHECKF(q && k && v && off == 0 && v_wrong == 0 && others == 0,
           "rope_qkv %d+%d heads × %d rot %d at %d of %d rows: %zu q/k values off, %zu v "
           "values wrong, %zu values of other rows written", heads, kv_heads, head_dim, rot, pos,
           rows, off, v_wrong, others);
    free(x), free(ref), free(inv), free(q), free(k), free(v);
    cudaFree(dx), cudaFree(dinv), cudaFree(dpos), cudaFree(dq), cudaFree(dk), cudaFree(dv);
}

static void check_swiglu(int n, int dim)
{
    size_t total = (size_t)n * (size_t)dim;
    float *g = malloc(total * sizeof *g), *u = malloc(total * sizeof *u);
    for (size_t i = 0; i < total; i++) {
        g[i] = uniform(-12, 12);
        u[i] = uniform(-4, 4);
    }
    if (total > 8) { /* past sl_expf's cap at e^88.3, both ways, and zero */
        g[0] = -100.0f, g[1] = -89.0f, g[2] = 100.0f, g[3] = 0.0f, g[4] = -0.0f;
    }
    float *dg = sl_gpu_upload(g, total * sizeof *g), *du = sl_gpu_upload(u, total * sizeof *u);
    uint16_t *dout = sl_gpu_poisoned(total * 2);
    CUDA_CHECK(sl_k_swiglu(dg, du, n, dim, dout, 0));
    uint16_t *out = sl_gpu_download(dout, total * 2);
    sl_swiglu(g, u, total); /* g becomes the reference */
    size_t off = out ? bf16_off(out, g, total) : total;
    CHECKF(off == 0, "swiglu %d × %d: %zu of %zu bf16 off by more than one step", n, dim, off, total);
    free(g), free(u), free(out);
    cudaFree(dg), cudaFree(du), cudaFree(dout);
}

/* misalign: x one float past an aligned address (the scalar path). */
static void check_add(size_t n, int misalign)
{
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        x[i] = uniform(-100, 100);
        y[i] = uniform(-1, 1);
    }
    size_t guard = 16, lead = misalign ? 1 : 0;
    float *base = sl_gpu_poisoned((lead + n + guard) * sizeof(float));
    float *dx = base + lead, *dy = sl_gpu_upload(y, n * sizeof *y);
    cudaMemcpy(dx, x, n * sizeof *x, cudaMemcpyHostToDevice);
    CUDA_CHECK(sl_k_add(dx, dy, n, 0));
    float *got = sl_gpu_download(dx, n * sizeof *x);
    size_t wrong = 0;
    for (size_t i = 0; got && i < n; i++)
        wrong += got[i] != x[i] + y[i];
    CHECKF(got && wrong == 0, "add %zu%s: %zu differ", n, misalign ? " misaligned" : "", wrong);
    CHECKF(guard_intact(dx, n, guard), "add %zu: wrote past the end", n);
    if (lead) {
        uint32_t before = 0;
        cudaMemcpy(&before, base, 4, cudaMemcpyDeviceToHost);
        CHECKF(before == 0xFFFFFFFFu, "add %zu: wrote before the start", n);
    }
    free(x), free(y), free(got);
    cudaFree(base), cudaFree(dy);
}

/* engine/sampler.c's greedy choice. */
static int32_t cpu_argmax(const float *l, int vocab)
{
    int32_t best = 0;
    for (int32_t i = 1; i < vocab; i++)
        if (l[i] > l[best] || isnan(l[best]))
            best = i;
    return best;
}

enum row_kind { RANDOM, TIES, WITH_NAN, ALL_NAN, ALL_NEG_INF, TWO_INF, ZEROS, FEW_VALUES, N_ROW_KINDS };

static void fill_row(float *l, int vocab, enum row_kind kind)
{
    for (int i = 0; i < vocab; i++)
        l[i] = uniform(-30, 30);
    int a = (int)(next_u64() % (uint64_t)vocab), b = (int)(next_u64() % (uint64_t)vocab);
    switch (kind) {
    case RANDOM:
        break;
    case TIES: /* the maximum at several places, the lowest of them wins */
        for (int k = 0; k < 5; k++)
            l[next_u64() % (uint64_t)vocab] = 31.0f;
        l[a] = 31.0f;
        break;
    case WITH_NAN: /* NaN first, NaN around a planted maximum, 10% NaN */
        for (int i = 0; i < vocab; i++)
            if (next_u64() % 10 == 0)
                l[i] = i % 2 ? NAN : -NAN;
        l[0] = NAN;
        l[a] = 40.0f;
        if (a > 0)
            l[a - 1] = NAN;
        if (a + 1 < vocab)
            l[a + 1] = NAN;
        break;
    case ALL_NAN:
        for (int i = 0; i < vocab; i++)
            l[i] = NAN;
        break;
    case ALL_NEG_INF:
        for (int i = 0; i < vocab; i++)
            l[i] = -INFINITY;
        break;
    case TWO_INF:
        l[a] = INFINITY, l[b] = INFINITY;
        break;
    case ZEROS: /* -0 and +0 tie */
        for (int i = 0; i < vocab; i++)
            l[i] = next_u64() % 2 ? 0.0f : -0.0f;
        break;
    case FEW_VALUES:
        for (int i = 0; i < vocab; i++)
            l[i] = (float)(next_u64() % 4);
        break;
    default:
        break;
    }
}

/* kind < 0: the rows take the kinds in turn (a single row, a random one). */
static void check_argmax(int n_rows, int vocab, int kind_of_all)
{
    size_t total = (size_t)n_rows * (size_t)vocab;
    float *l = malloc(total * sizeof *l);
    int32_t *ref = malloc((size_t)n_rows * sizeof *ref);
    for (int r = 0; r < n_rows; r++) {
        enum row_kind kind = kind_of_all >= 0 ? (enum row_kind)kind_of_all
                             : n_rows == 1 ? (enum row_kind)(next_u64() % N_ROW_KINDS)
                                           : (enum row_kind)(r % N_ROW_KINDS);
        fill_row(l + (size_t)r * (size_t)vocab, vocab, kind);
        ref[r] = cpu_argmax(l + (size_t)r * (size_t)vocab, vocab);
    }
    float *dl = sl_gpu_upload(l, total * sizeof *l);
    int32_t *dout = sl_gpu_poisoned(((size_t)n_rows + 1) * sizeof *dout);
    CUDA_CHECK(sl_k_argmax(dl, n_rows, vocab, dout, 0));
    int32_t *got = sl_gpu_download(dout, ((size_t)n_rows + 1) * sizeof *dout);
    int wrong = 0;
    for (int r = 0; got && r < n_rows; r++) {
        if (got[r] != ref[r] && wrong++ < 3)
            fprintf(stderr, "argmax %d × %d row %d: %d, the CPU %d\n", n_rows, vocab, r, got[r], ref[r]);
    }
    CHECKF(got && wrong == 0 && got[n_rows] == -1, "argmax %d × %d: %d rows differ", n_rows, vocab, wrong);
    free(l), free(ref), free(got);
    cudaFree(dl), cudaFree(dout);
}

static void check_invalid(void)
{
    float *p = sl_gpu_poisoned(4096);
    CHECK(sl_k_rope_neox(p, 1, 1, 64, 63, 0, p, 0) == cudaErrorInvalidValue);
    CHECK(sl_k_rope_interleaved(p, 1, 1, 64, 66, 0, p, 0) == cudaErrorInvalidValue);
    CHECK(sl_k_rope_interleaved(p, 1, 1, 64, 64, -1, p, 0) == cudaErrorInvalidValue);
    sl_bf16 *b = (sl_bf16 *)(void *)p;
    CHECK(sl_k_rope_qkv_at(p, 1, 1, 64, 64, NULL, p, b, b, b, 0) == cudaErrorInvalidValue);
    CHECK(sl_k_rope_qkv_at(p, 1, 1, 63, 62, (int32_t *)(void *)p, p, b, b, b, 0) ==
          cudaErrorInvalidValue);
    CHECK(sl_k_rope_qkv_at(p, 1, 1, 64, 66, (int32_t *)(void *)p, p, b, b, b, 0) ==
          cudaErrorInvalidValue);
    CHECK(sl_k_argmax(p, 1, 0, (int32_t *)(void *)p, 0) == cudaErrorInvalidValue);
    CHECK(sl_k_rmsnorm(p, p, 1, 0, 1e-6f, p, NULL, 0) == cudaErrorInvalidValue);
    CHECK(sl_k_swiglu(p, p, -1, 64, (sl_bf16 *)(void *)p, 0) == cudaErrorInvalidValue);
    CHECK(sl_k_embed_rows((const sl_bf16 *)(void *)p, 64, (const int32_t *)(void *)p, 0, p, 0) == cudaSuccess);
    CHECK(sl_k_add(p, p, 0, 0) == cudaSuccess);
    cudaFree(p);
}

int main(void)
{
    sl_gpu_require();
    const char *env = getenv("SL_OPS_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    fprintf(stderr, "seed %llu (SL_OPS_SEED=%llu repeats this run)\n", (unsigned long long)seed,
            (unsigned long long)seed);
    rng_state = seed;

    static const int rows[] = {1, 7, 513};
    static const int dims[] = {64, 576, 1536};
    for (int r = 0; r < 3; r++) {
        for (int d = 0; d < 3; d++) {
            int n = rows[r], dim = dims[d];
            check_embed(1000, dim, n);
            for (int mode = 0; mode < 3; mode++)
                check_rmsnorm(n, dim, mode == 1 ? 1e-5f : 1e-6f, mode);
            check_swiglu(n, dim);
            check_add((size_t)n * (size_t)dim, 0);
            check_add((size_t)n * (size_t)dim + 3, 1);
            check_argmax(n, dim, -1);
        }
        int n = rows[r];
        check_rmsnorm(n, 7168, 1e-6f, 0);
        check_argmax(n, 49152, -1);
        check_argmax(n, 1, -1);
        /* RoPE: head layouts of those widths, whole and partial rotation,
         * from position 0 and from far positions (large angles). */
        static const int first[] = {0, 4093, 131000};
        for (int f = 0; f < 3; f++) {
            for (int kind = INTERLEAVED; kind <= NEOX; kind++) {
                check_rope(kind, n, 9, 64, 64, first[f], 10000.0f);    /* 576 */
                check_rope(kind, n, 12, 128, 128, first[f], 1e6f);     /* 1536 */
                check_rope(kind, n, 24, 64, 32, first[f], 10000.0f);   /* 1536, partial */
                check_rope(kind, n, 1, 576, 64, first[f], 10000.0f);   /* one 576-wide head */
                check_rope(kind, n, 3, 96, 0, first[f], 10000.0f);     /* nothing to turn */
            }
        }
    }
    /* A decode step's q ‖ k ‖ v: SmolLM2's 9 + 3 heads of 64, 32 + 8 of 128,
     * a partial turn, at the first, a middle and the last row of a cache. */
    static const int at[][2] = {{0, 1}, {0, 9}, {4093, 8192}, {8191, 8192}, {131000, 131072}};
    for (int i = 0; i < 5; i++) {
        check_rope_qkv(9, 3, 64, 64, at[i][0], at[i][1], 1e5f);
        check_rope_qkv(32, 8, 128, 128, at[i][0], at[i][1], 5e5f);
        check_rope_qkv(4, 2, 96, 32, at[i][0], at[i][1], 1e4f);
    }
    for (int k = 0; k < 4 * N_ROW_KINDS; k++) /* every kind of row alone, four times */
        check_argmax(1, 49152, k % N_ROW_KINDS);
    check_invalid();
    CUDA_CHECK(cudaDeviceSynchronize());
    fprintf(stderr, "rmsnorm: max relative error %.3g (per value); rope: %.3g (per head); bound %.0e\n",
            max_rms_err, max_rope_err, F32_BOUND);
    fprintf(stderr, "bf16 (rmsnorm, swiglu): %zu values, %.4f%% equal to the CPU's rounded, the rest "
            "one step off\n", bf16_values, bf16_values ? 100.0 * (double)bf16_equal / (double)bf16_values : 0.0);
    return sl_test_finish();
}
