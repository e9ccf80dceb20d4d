// fill.cu: pseudo-random device buffers for tests and benchmarks, made on the
// GPU so that a 2 GB input costs no host time. A counter-based hash of
// (seed, index): the same seed gives the same values on every launch.
#include "sightline-kernels.h"

#include <cuda_bf16.h>

namespace {

__device__ uint32_t hash(uint64_t seed, uint64_t i)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull ^ (i + 0x632BE59BD9B4E019ull);
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return (uint32_t)x;
}

__device__ float uniform(uint64_t seed, uint64_t i) // in [-1, 1)
{
    return (float)(hash(seed, i) >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

__global__ void fill_bf16(__nv_bfloat16 *p, size_t n, uint64_t seed, float scale)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = __float2bfloat16_rn(scale * uniform(seed, i));
}

__global__ void fill_f32(float *p, size_t n, uint64_t seed, float scale)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = scale * uniform(seed, i);
}

// e4m3 bytes of any finite value: S.1111.111 (NaN) is never made.
__global__ void fill_e4m3(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint8_t b = (uint8_t)hash(seed, i);
        p[i] = (b & 0x7f) == 0x7f ? (uint8_t)(b - 1) : b;
    }
}

// DeepSeek's 656-byte MLA cache entry: 512 e4m3 latent bytes, 4 float32
// power-of-two scales, 64 bf16 rope values. One thread per 4-byte word.
__global__ void fill_kv656(uint8_t *p, size_t entries, uint64_t seed)
{
    size_t words = entries * 164;
    for (size_t w = blockIdx.x * (size_t)blockDim.x + threadIdx.x; w < words; w += (size_t)gridDim.x * blockDim.x) {
        size_t e = w / 164, o = (w % 164) * 4;
        uint8_t *at = p + e * 656 + o;
        if (o < 512) {
            for (int j = 0; j < 4; j++) {
                uint8_t b = (uint8_t)hash(seed, w * 4 + j);
                at[j] = (b & 0x7f) == 0x7f ? (uint8_t)(b - 1) : b;
            }
        } else if (o < 528) {
            *reinterpret_cast<float *>(at) = ldexpf(1.0f, -(int)(hash(seed, w) % 8) - 2);
        } else {
            __nv_bfloat16 v[2] = {__float2bfloat16_rn(uniform(seed, 2 * w)),
                                  __float2bfloat16_rn(uniform(seed, 2 * w + 1))};
            *reinterpret_cast<__nv_bfloat162 *>(at) = *reinterpret_cast<__nv_bfloat162 *>(v);
        }
    }
}

unsigned grid_for(size_t n)
{
    size_t blocks = (n + 255) / 256;
    return blocks > 65535 ? 65535u : (unsigned)(blocks ? blocks : 1);
}

} // namespace

extern "C" cudaError_t sl_k_fill_bf16(sl_bf16 *p, size_t n, uint64_t seed, float scale, cudaStream_t s)
{
    fill_bf16<<<grid_for(n), 256, 0, s>>>(reinterpret_cast<__nv_bfloat16 *>(p), n, seed, scale);
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_fill_f32(float *p, size_t n, uint64_t seed, float scale, cudaStream_t s)
{
    fill_f32<<<grid_for(n), 256, 0, s>>>(p, n, seed, scale);
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_fill_e4m3(uint8_t *p, size_t n, uint64_t seed, cudaStream_t s)
{
    fill_e4m3<<<grid_for(n), 256, 0, s>>>(p, n, seed);
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_fill_kv656(uint8_t *p, size_t entries, uint64_t seed, cudaStream_t s)
{
    fill_kv656<<<grid_for(entries * 164), 256, 0, s>>>(p, entries, seed);
    return cudaGetLastError();
}
