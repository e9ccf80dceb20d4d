/* gpu-util.h: what the gpu tests share: skip (exit 77) without a GPU, check
 * CUDA calls, poison outputs, compare with the CPU reference. */
#ifndef SL_GPU_UTIL_H
#define SL_GPU_UTIL_H

#include "../engine/test-util.h"

#include <cuda_runtime_api.h>

/* Exits 77 (meson's "skipped") where no CUDA device can be used, saying why. */
static inline void sl_gpu_require(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        fprintf(stderr, "no usable GPU (%s): skipped\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
        exit(77);
    }
    struct cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, 0) == cudaSuccess)
        fprintf(stderr, "GPU 0: %s, sm_%d%d, %.1f GiB\n", p.name, p.major, p.minor,
                (double)p.totalGlobalMem / (1 << 30));
}

#define CUDA_CHECK(call)                                                                   \
    do {                                                                                   \
        cudaError_t e_ = (call);                                                           \
        sl_test_checks++;                                                                  \
        if (e_ != cudaSuccess) {                                                           \
            sl_test_failures++;                                                            \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,                 \
                    cudaGetErrorString(e_));                                               \
        }                                                                                  \
    } while (0)

/* Device memory filled with 0xFF bytes: NaN as float, NaN as bf16, -1 as int. */
static inline void *sl_gpu_poisoned(size_t bytes)
{
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess)
        return NULL;
    cudaMemset(p, 0xFF, bytes);
    return p;
}

static inline void *sl_gpu_upload(const void *host, size_t bytes)
{
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess)
        return NULL;
    cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice);
    return p;
}

static inline void *sl_gpu_download(const void *dev, size_t bytes)
{
    void *h = malloc(bytes ? bytes : 1);
    if (h && cudaMemcpy(h, dev, bytes, cudaMemcpyDeviceToHost) != cudaSuccess) {
        free(h);
        return NULL;
    }
    return h;
}

/* splitmix64: fresh random test inputs from a seed. */
static inline uint64_t sl_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi), 24 random bits. */
static inline float sl_uniform(uint64_t *state, float lo, float hi)
{
    return lo + (hi - lo) * (float)((sl_splitmix64(state) >> 40) * (1.0 / 16777216.0));
}

/* bf16 by round to nearest even, and back, on the CPU. */
static inline uint16_t sl_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float sl_bf16_to_f32(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* n bf16 values of uniform(−amp, amp) drawn from state: the bits, and in
 * *values the same values as floats (both malloc'd). */
static inline uint16_t *sl_random_bf16(uint64_t *state, size_t n, float amp, float **values)
{
    uint16_t *b = malloc(n * sizeof *b);
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) {
        b[i] = sl_f32_to_bf16(amp * sl_uniform(state, -1.0f, 1.0f));
        f[i] = sl_bf16_to_f32(b[i]);
    }
    *values = f;
    return b;
}

/* An e4m3 (e4m3fn) byte as float: 1 sign, 4 exponent (bias 7), 3 mantissa
 * bits; S.1111.111 is NaN, there are no infinities. */
static inline float sl_e4m3_to_f32(uint8_t b)
{
    int sign = b >> 7, exp = (b >> 3) & 15, man = b & 7;
    if (exp == 15 && man == 7)
        return NAN;
    float v = exp ? ldexpf(1.0f + (float)man / 8.0f, exp - 7) : ldexpf((float)man / 8.0f, -6);
    return sign ? -v : v;
}

#endif
