/* gemv.cu against the CPU: a decode step's fused products on fresh random
 * inputs of the default model's shapes and odd ones, outputs poisoned first.
 * The reference: x normalised by sl_rmsnorm and rounded to bf16 (what the
 * kernels multiply), the products in float64, sl_swiglu's formula after.
 *   sl_k_gemv_norm, sl_k_gemv_add: ‖gpu − cpu‖/‖cpu‖ ≤ 1e-5 (float32 sums),
 *     the rows past `out` untouched;
 *   sl_k_gemv_norm_swiglu: ≤ 8e-3 (its output is bf16: two steps);
 *   sizes it does not take are refused before anything runs. */
#include "gpu-util.h"
#include "cpu/ops.h"
#include "sightline-kernels.h"

enum { GUARD = 64 };

static uint64_t rng = 0x9e3779b9;

/* W [out][in] bf16 on the device, its values on the host. */
static uint16_t *random_matrix(int out, int in, float **values)
{
    return sl_random_bf16(&rng, (size_t)out * (size_t)in, 1.0f / sqrtf((float)in), values);
}

/* x normalised as sl_rmsnorm, rounded to bf16. */
static float *normalised(const float *x, const float *w, int in, float eps)
{
    float *xn = malloc((size_t)in * sizeof *xn);
    sl_rmsnorm(xn, x, w, (size_t)in, eps);
    for (int i = 0; i < in; i++)
        xn[i] = sl_bf16_to_f32(sl_f32_to_bf16(xn[i]));
    return xn;
}

static double dot(const float *w, const float *x, int in)
{
    double s = 0;
    for (int i = 0; i < in; i++)
        s += (double)w[i] * (double)x[i];
    return s;
}

static float *random_floats(int n, float lo, float hi)
{
    float *v = malloc((size_t)n * sizeof *v);
    for (int i = 0; i < n; i++)
        v[i] = sl_uniform(&rng, lo, hi);
    return v;
}

/* norm: sl_k_gemv_norm (y = W · xn); else sl_k_gemv_add (y = y0 + W · x). */
static void check_gemv(int in, int out, int norm)
{
    const float eps = 1e-5f;
    float *W, *x = random_floats(in, -3, 3), *nw = random_floats(in, 0.5f, 1.5f);
    float *y0 = random_floats(out, -2, 2);
    uint16_t *Wb = random_matrix(out, in, &W), *xb = malloc((size_t)in * 2);
    for (int i = 0; i < in; i++) { /* add takes x as bf16 */
        xb[i] = sl_f32_to_bf16(x[i]);
        if (!norm)
            x[i] = sl_bf16_to_f32(xb[i]);
    }
    float *xn = norm ? normalised(x, nw, in, eps) : x, *ref = malloc((size_t)out * sizeof *ref);
    for (int o = 0; o < out; o++)
        ref[o] = (float)((norm ? 0.0 : (double)y0[o]) + dot(W + (size_t)o * in, xn, in));
    void *dW = sl_gpu_upload(Wb, (size_t)out * in * 2), *dx = sl_gpu_upload(x, (size_t)in * 4);
    void *dxb = sl_gpu_upload(xb, (size_t)in * 2), *dnw = sl_gpu_upload(nw, (size_t)in * 4);
    float *dy = sl_gpu_poisoned((size_t)(out + GUARD) * 4);
    if (norm) {
        CUDA_CHECK(sl_k_gemv_norm(dx, dnw, eps, in, dW, out, dy, 0));
    } else {
        cudaMemcpy(dy, y0, (size_t)out * 4, cudaMemcpyHostToDevice);
        CUDA_CHECK(sl_k_gemv_add(dxb, in, dW, out, dy, 0));
    }
    float *y = sl_gpu_download(dy, (size_t)(out + GUARD) * 4);
    double err = y ? sl_rel_error(y, ref, (size_t)out) : 1;
    size_t guard_written = 0;
    for (int i = 0; y && i < GUARD; i++)
        guard_written += !isnan(y[out + i]);
    fprintf(stderr, "%s in %5d out %5d: relative error %.2e\n", norm ? "norm" : "add ", in, out,
            err);
    CHECKF(err <= 1e-5 && guard_written == 0, "%s %d × %d: error %.3g, %zu values written past out",
           norm ? "gemv_norm" : "gemv_add", out, in, err, guard_written);
    if (xn != x)
        free(xn);
    free(W), free(x), free(nw), free(y0), free(Wb), free(xb), free(ref), free(y);
    cudaFree(dW), cudaFree(dx), cudaFree(dxb), cudaFree(dnw), cudaFree(dy);
}

/* sl_k_gemv_norm_swiglu: W holds F gate rows then F up rows. */
static void check_swiglu(int in, int F)
{
    const float eps = 1e-6f;
    float *W, *x = random_floats(in, -3, 3), *nw = random_floats(in, 0.5f, 1.5f);
    uint16_t *Wb = random_matrix(2 * F, in, &W);
    float *xn = normalised(x, nw, in, eps), *gate = malloc((size_t)F * 4), *up = malloc((size_t)F * 4);
    for (size_t i = 0; i < (size_t)F * in; i++) /* gate rows × 4 (exact): a wider range of gates */
        Wb[i] = sl_f32_to_bf16(4.0f * sl_bf16_to_f32(Wb[i]));
    for (int o = 0; o < F; o++) {
        gate[o] = (float)(4.0 * dot(W + (size_t)o * in, xn, in));
        up[o] = (float)dot(W + (size_t)(F + o) * in, xn, in);
    }
    sl_swiglu(gate, up, (size_t)F);
    void *dW = sl_gpu_upload(Wb, (size_t)2 * F * in * 2), *dx = sl_gpu_upload(x, (size_t)in * 4);
    void *dnw = sl_gpu_upload(nw, (size_t)in * 4);
    uint16_t *dh = sl_gpu_poisoned((size_t)F * 2);
    CUDA_CHECK(sl_k_gemv_norm_swiglu(dx, dnw, eps, in, dW, F, (sl_bf16 *)(void *)dh, 0));
    uint16_t *hb = sl_gpu_download(dh, (size_t)F * 2);
    float *h = malloc((size_t)F * 4);
    for (int o = 0; hb && o < F; o++)
        h[o] = sl_bf16_to_f32(hb[o]);
    double err = hb ? sl_rel_error(h, gate, (size_t)F) : 1;
    fprintf(stderr, "swiglu in %5d F %5d: relative error %.2e\n", in, F, err);
    CHECKF(err <= 8e-3, "gemv_norm_swiglu %d × %d: error %.3g", F, in, err);
    free(W), free(x), free(nw), free(Wb), free(xn), free(gate), free(up), free(hb), free(h);
    cudaFree(dW), cudaFree(dx), cudaFree(dnw), cudaFree(dh);
}

int main(void)
{
    sl_gpu_require();
    /* SmolLM2-135M's: q ‖ k ‖ v 960 × 576, the output 576 × 576, down 576 × 1536 */
    static const int shapes[][2] = {{576, 960}, {576, 576}, {1536, 576}, {8, 3},
                                    {4096, 1001}, {12032, 7}, {64, 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        for (int norm = 0; norm < 2; norm++)
            check_gemv(shapes[i][0], shapes[i][1], norm);
    check_swiglu(576, 1536);
    check_swiglu(64, 5);
    check_swiglu(2048, 333);
    float *p = sl_gpu_poisoned(1 << 16);
    const sl_bf16 *w = (const sl_bf16 *)(const void *)p;
    CHECK(sl_k_gemv_norm(p, p, 1e-5f, 12, w, 4, p, 0) == cudaErrorInvalidValue);      /* in % 8 */
    CHECK(sl_k_gemv_norm(p, p, 1e-5f, 12040, w, 4, p, 0) == cudaErrorInvalidValue);   /* too wide */
    CHECK(sl_k_gemv_add((const sl_bf16 *)(const void *)p, 64, w + 1, 4, p, 0) ==
          cudaErrorInvalidValue); /* W not 16-byte aligned */
    CHECK(sl_k_gemv_add((const sl_bf16 *)(const void *)p, 64, w, 0, p, 0) == cudaSuccess);
    cudaFree(p);
    CUDA_CHECK(cudaDeviceSynchronize());
    return sl_test_finish();
}
