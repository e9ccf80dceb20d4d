// mla.cu: Multi-head Latent Attention in its absorbed (MQA) form at any
// dims, for DeepSeek checkpoints whose shapes the fast sparse-mla.cu kernels
// (576/512 only) do not take. The formulas are engine/arch/mla.c's MQA form:
//   q_lat = W_UK[h]ᵀ·q_nope, p_s = softmax_s(scale·(q_lat·c_s + q_pe·pe_s)),
//   out_h = W_UV[h]·Σ_s p_s·c_s
// with the cache entry c_s ‖ pe_s in bf16 and everything else in float32.
// Simple and correct rather than fast: one CTA per (row, head).
#include "sightline-kernels.h"

#include "block-sum.cuh"
#include "fp8-common.cuh"

#include <cuda_bf16.h>
#include <math.h>

namespace {

constexpr int THREADS = 256, WARPS = THREADS / 32, TILE = 64, MAX_PER_THREAD = 4;

// 1 / sqrt(mean(latent²) + eps) of a row's latent x[0, R), as sl_rmsnorm;
// every thread of the CTA gets it.
__device__ float latent_rms_scale(const float *x, int R, float eps)
{
    __shared__ float red[32];
    float ss = 0.0f;
    for (int i = threadIdx.x; i < R; i += blockDim.x)
        ss = fmaf(x[i], x[i], ss);
    return 1.0f / sqrtf(block_sum(ss, red) / (float)R + eps);
}

// One CTA per row: RMSNorm of the latent (as sl_rmsnorm), the rope part
// scaled, both rounded to bf16 into the cache entry. first_at: non-NULL, row
// t goes to entry *first_at + t (read on the device).
__global__ void cache_entries(const float *kva, const float *weight, int R, int rope, float eps,
                              float rope_scale, __nv_bfloat16 *entries, const int32_t *first_at)
{
    int D = R + rope;
    const float *x = kva + (size_t)blockIdx.x * D;
    size_t row = (first_at ? (size_t)__ldg(first_at) : 0) + blockIdx.x;
    __nv_bfloat16 *e = entries + row * D;
    float scale = latent_rms_scale(x, R, eps);
    for (int i = threadIdx.x; i < D; i += blockDim.x)
        e[i] = __float2bfloat16_rn(i < R ? __fmul_rn(__fmul_rn(x[i], scale), weight[i])
                                         : __fmul_rn(x[i], rope_scale));
}


// One CTA per row: the latent normed as cache_entries, then each block of
// 128 quantised as sl_fp8_fake_quant (REF-FIX's act_quant of the latent
// before caching), the rope part scaled and rounded to bf16.
__global__ void cache_entries_fp8(const float *kva, const float *weight, int R, int rope,
                                  float eps, float rope_scale, uint8_t *entries,
                                  const int32_t *first_at)
{
    __shared__ float v[THREADS * MAX_PER_THREAD];
    __shared__ float block_max[THREADS * MAX_PER_THREAD / 128];
    const float *x = kva + (size_t)blockIdx.x * (R + rope);
    size_t row = (first_at ? (size_t)__ldg(first_at) : 0) + blockIdx.x;
    uint8_t *e = entries + row * mla_fp8_entry_bytes(R, rope);
    int n_blocks = mla_fp8_scales(R);
    float scale = latent_rms_scale(x, R, eps);
    if ((int)threadIdx.x < n_blocks)
        block_max[threadIdx.x] = 0.0f;
    __syncthreads();
    for (int i = threadIdx.x; i < R; i += blockDim.x) {
        v[i] = __fmul_rn(__fmul_rn(x[i], scale), weight[i]);
        atomicMax(reinterpret_cast<int *>(&block_max[i / 128]), __float_as_int(fabsf(v[i])));
    }
    __syncthreads();
    float *scales = reinterpret_cast<float *>(e + R);
    __nv_bfloat16 *pe = reinterpret_cast<__nv_bfloat16 *>(e + mla_fp8_rope_offset(R));
    for (int i = threadIdx.x; i < R; i += blockDim.x)
        e[i] = e4m3_of(v[i], ue8m0_scale(block_max[i / 128])).__x;
    if ((int)threadIdx.x < n_blocks)
        scales[threadIdx.x] = ue8m0_scale(block_max[threadIdx.x]);
    for (int i = threadIdx.x; i < rope; i += blockDim.x)
        pe[i] = __float2bfloat16_rn(__fmul_rn(x[R + i], rope_scale));
}

// A CTA per entry, over n entries or *count_at (read on the device): FP8
// back to the BF16 entry (exact: an e4m3 value times a power of two fits
// bf16's 8 bits of mantissa).
__global__ void cache_entries_from_fp8(const uint8_t *entries, int n, const int32_t *count_at,
                                       int R, int rope, __nv_bfloat16 *out)
{
    if (count_at)
        n = min(n, __ldg(count_at));
    for (int entry = blockIdx.x; entry < n; entry += gridDim.x) {
        const uint8_t *e = entries + (size_t)entry * mla_fp8_entry_bytes(R, rope);
        const float *scales = reinterpret_cast<const float *>(e + R);
        const __nv_bfloat16 *pe =
            reinterpret_cast<const __nv_bfloat16 *>(e + mla_fp8_rope_offset(R));
        __nv_bfloat16 *o = out + (size_t)entry * (R + rope);
        for (int i = threadIdx.x; i < R + rope; i += blockDim.x) {
            if (i < R) {
                __nv_fp8_e4m3 q;
                q.__x = e[i];
                o[i] = __float2bfloat16_rn(__fmul_rn(static_cast<float>(q), scales[i / 128]));
            } else {
                o[i] = pe[i - R];
            }
        }
    }
}

// One CTA per (row, head): q_abs = W_UK[h]ᵀ·q_nope ‖ q_pe·rope_scale.
__global__ void absorb_q(const float *q, const float *kv_b, int H, int nope, int rope, int vd,
                         int R, float rope_scale, float *q_abs)
{
    int h = blockIdx.x % H;
    const float *qh = q + (size_t)blockIdx.x * (nope + rope);
    const float *w_uk = kv_b + (size_t)h * (nope + vd) * R;
    float *out = q_abs + (size_t)blockIdx.x * (R + rope);
    for (int r = threadIdx.x; r < R; r += blockDim.x) {
        float acc = 0.0f;
        for (int d = 0; d < nope; d++)
            acc = fmaf(qh[d], w_uk[(size_t)d * R + r], acc);
        out[r] = acc;
    }
    for (int i = threadIdx.x; i < rope; i += blockDim.x)
        out[R + i] = __fmul_rn(qh[nope + i], rope_scale);
}

// The position of a row's j-th key, or -1 where it is not to be read.
__device__ int key_at(const int32_t *idx, int j, int last)
{
    int p = idx ? idx[j] : j;
    return p < 0 || p > last ? -1 : p;
}

// scale · q·kv[p] for the tile's keys, one warp a key; -inf where invalid.
__device__ void tile_logits(const float *qs, const __nv_bfloat16 *kv, int D, const int32_t *idx,
                            int j0, int count, int last, float scale, float *logit, int *pos)
{
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int jj = warp; jj < count; jj += WARPS) {
        int p = key_at(idx, j0 + jj, last);
        float dot = 0.0f;
        if (p >= 0) {
            const __nv_bfloat16 *k = kv + (size_t)p * D;
            for (int i = lane; i < D; i += 32)
                dot = fmaf(qs[i], __bfloat162float(k[i]), dot);
            for (int off = 16; off > 0; off /= 2)
                dot += __shfl_xor_sync(0xffffffffu, dot, off);
        }
        if (lane == 0) {
            logit[jj] = p >= 0 ? scale * dot : -INFINITY;
            pos[jj] = p;
        }
    }
}

// One CTA per (row, head), keys in tiles with an online softmax; each
// thread owns latent dims r = tid + i·THREADS. lse may be NULL. first_at:
// non-NULL, the first position is *first_at, read on the device (a decode
// step captured once as a graph).
__global__ void attention(const float *q_abs, const __nv_bfloat16 *kv, const int32_t *indices,
                          int topk, int first_pos, const int32_t *first_at, int H, int R,
                          int rope, float scale, float *out_lat, float *lse)
{
    extern __shared__ float qs[]; // R + rope
    __shared__ float logit[TILE];
    __shared__ int pos[TILE];
    int first = first_at ? __ldg(first_at) : first_pos;
    int D = R + rope, t = blockIdx.x / H, last = first + t;
    const int32_t *idx = indices ? indices + (size_t)t * topk : nullptr;
    int n_keys = indices ? topk : last + 1;
    for (int i = threadIdx.x; i < D; i += blockDim.x)
        qs[i] = q_abs[(size_t)blockIdx.x * D + i];
    __syncthreads();
    float acc[MAX_PER_THREAD] = {0.0f, 0.0f, 0.0f, 0.0f};
    float m = -INFINITY, l = 0.0f;
    for (int j0 = 0; j0 < n_keys; j0 += TILE) {
        int count = n_keys - j0 < TILE ? n_keys - j0 : TILE;
        tile_logits(qs, kv, D, idx, j0, count, last, scale, logit, pos);
        __syncthreads();
        float tmax = -INFINITY;
        for (int jj = 0; jj < count; jj++)
            tmax = fmaxf(tmax, logit[jj]);
        float m_new = fmaxf(m, tmax);
        if (m_new != -INFINITY) {
            float corr = m == -INFINITY ? 0.0f : expf(m - m_new);
            l *= corr;
            for (int i = 0; i < MAX_PER_THREAD; i++)
                acc[i] *= corr;
            for (int jj = 0; jj < count; jj++) {
                if (pos[jj] < 0)
                    continue;
                float p = expf(logit[jj] - m_new);
                l += p;
                const __nv_bfloat16 *c = kv + (size_t)pos[jj] * D;
                for (int i = 0; i < MAX_PER_THREAD; i++) {
                    int r = threadIdx.x + i * THREADS;
                    if (r < R)
                        acc[i] = fmaf(p, __bfloat162float(c[r]), acc[i]);
                }
            }
            m = m_new;
        }
        __syncthreads();
    }
    float *o = out_lat + (size_t)blockIdx.x * R;
    for (int i = 0; i < MAX_PER_THREAD; i++) {
        int r = threadIdx.x + i * THREADS;
        if (r < R)
            o[r] = l > 0.0f ? acc[i] / l : 0.0f;
    }
    if (lse && threadIdx.x == 0)
        lse[blockIdx.x] = l > 0.0f ? m + logf(l) : -INFINITY;
}

// The oracle's mass: with each (row, head)'s lse known, every position's
// probability added into mass[t][p] (float atomics).
// first_at: non-NULL, one row (n = 1) at the position *first_at read on the
// device.
__global__ void head_mass(const float *q_abs, const __nv_bfloat16 *kv, const float *lse,
                          int first_pos, const int32_t *first_at, int n, int H, int R, int rope,
                          float scale, float *mass)
{
    extern __shared__ float qs[];
    if (first_at)
        first_pos = __ldg(first_at);
    int D = R + rope, t = blockIdx.x / H, last = first_pos + t;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int i = threadIdx.x; i < D; i += blockDim.x)
        qs[i] = q_abs[(size_t)blockIdx.x * D + i];
    __syncthreads();
    float z = lse[blockIdx.x];
    float *row = mass + (size_t)t * (size_t)(first_pos + n);
    for (int p = warp; p <= last; p += WARPS) {
        const __nv_bfloat16 *k = kv + (size_t)p * D;
        float dot = 0.0f;
        for (int i = lane; i < D; i += 32)
            dot = fmaf(qs[i], __bfloat162float(k[i]), dot);
        for (int off = 16; off > 0; off /= 2)
            dot += __shfl_xor_sync(0xffffffffu, dot, off);
        if (lane == 0 && z != -INFINITY)
            atomicAdd(row + p, expf(scale * dot - z));
    }
}

// One CTA per (row, head): out = W_UV[h]·o_lat, one warp per output dim.
__global__ void unabsorb(const float *out_lat, const float *kv_b, int H, int nope, int vd, int R,
                         __nv_bfloat16 *out)
{
    int h = blockIdx.x % H, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const float *o = out_lat + (size_t)blockIdx.x * R;
    const float *w_uv = kv_b + ((size_t)h * (nope + vd) + nope) * R;
    for (int d = warp; d < vd; d += WARPS) {
        float acc = 0.0f;
        for (int r = lane; r < R; r += 32)
            acc = fmaf(w_uv[(size_t)d * R + r], o[r], acc);
        for (int off = 16; off > 0; off /= 2)
            acc += __shfl_xor_sync(0xffffffffu, acc, off);
        if (lane == 0)
            out[(size_t)blockIdx.x * vd + d] = __float2bfloat16_rn(acc);
    }
}

__global__ void scale_cols(float *x, size_t rows, int stride, int count, float f)
{
    size_t n = rows * (size_t)count;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[(i / count) * stride + i % count] *= f;
}

bool bad_dims(int n, int H, int R, int rope)
{
    return n < 0 || H <= 0 || R <= 0 || R > THREADS * MAX_PER_THREAD || rope < 0 ||
           (size_t)(R + rope) * sizeof(float) > 48 * 1024;
}

} // namespace

cudaError_t sl_k_mla_cache_entries(const float *kva, const float *norm_weight, int n, int R,
                                   int rope, float eps, float rope_scale, sl_bf16 *entries,
                                   cudaStream_t stream)
{
    if (bad_dims(n, 1, R, rope))
        return cudaErrorInvalidValue;
    if (n > 0)
        cache_entries<<<n, THREADS, 0, stream>>>(kva, norm_weight, R, rope, eps, rope_scale,
                                                 reinterpret_cast<__nv_bfloat16 *>(entries),
                                                 nullptr);
    return cudaGetLastError();
}

cudaError_t sl_k_mla_cache_entries_at(const float *kva, const float *norm_weight, int n, int R,
                                      int rope, float eps, float rope_scale, sl_bf16 *cache,
                                      const int32_t *first_pos, cudaStream_t stream)
{
    if (bad_dims(n, 1, R, rope) || !first_pos)
        return cudaErrorInvalidValue;
    if (n > 0)
        cache_entries<<<n, THREADS, 0, stream>>>(kva, norm_weight, R, rope, eps, rope_scale,
                                                 reinterpret_cast<__nv_bfloat16 *>(cache),
                                                 first_pos);
    return cudaGetLastError();
}

size_t sl_k_mla_fp8_entry_bytes(int R, int rope)
{
    return R > 0 && rope >= 0 ? mla_fp8_entry_bytes(R, rope) : 0;
}

cudaError_t sl_k_mla_cache_entries_fp8(const float *kva, const float *norm_weight, int n, int R,
                                       int rope, float eps, float rope_scale, uint8_t *entries,
                                       cudaStream_t stream)
{
    if (bad_dims(n, 1, R, rope) || R % 4)
        return cudaErrorInvalidValue;
    if (n > 0)
        cache_entries_fp8<<<n, THREADS, 0, stream>>>(kva, norm_weight, R, rope, eps, rope_scale,
                                                     entries, nullptr);
    return cudaGetLastError();
}

cudaError_t sl_k_mla_cache_entries_fp8_at(const float *kva, const float *norm_weight, int n, int R,
                                          int rope, float eps, float rope_scale, uint8_t *cache,
                                          const int32_t *first_pos, cudaStream_t stream)
{
    if (bad_dims(n, 1, R, rope) || R % 4 || !first_pos)
        return cudaErrorInvalidValue;
    if (n > 0)
        cache_entries_fp8<<<n, THREADS, 0, stream>>>(kva, norm_weight, R, rope, eps, rope_scale,
                                                     cache, first_pos);
    return cudaGetLastError();
}

cudaError_t sl_k_mla_cache_from_fp8(const uint8_t *entries, int n, int R, int rope, sl_bf16 *out,
                                    cudaStream_t stream)
{
    if (bad_dims(n, 1, R, rope) || R % 4)
        return cudaErrorInvalidValue;
    if (n > 0)
        cache_entries_from_fp8<<<n < 65535 ? n : 65535, 128, 0, stream>>>(
            entries, n, nullptr, R, rope, reinterpret_cast<__nv_bfloat16 *>(out));
    return cudaGetLastError();
}

cudaError_t sl_k_mla_cache_from_fp8_at(const uint8_t *entries, const int32_t *count, int max_n,
                                       int R, int rope, sl_bf16 *out, cudaStream_t stream)
{
    if (bad_dims(max_n, 1, R, rope) || R % 4 || !count)
        return cudaErrorInvalidValue;
    if (max_n > 0)
        cache_entries_from_fp8<<<max_n < 4096 ? max_n : 4096, 128, 0, stream>>>(
            entries, max_n, count, R, rope, reinterpret_cast<__nv_bfloat16 *>(out));
    return cudaGetLastError();
}

cudaError_t sl_k_mla_absorb_q(const float *q, const float *kv_b, int n, int H, int nope, int rope,
                              int vd, int R, float rope_scale, float *q_abs, cudaStream_t stream)
{
    if (bad_dims(n, H, R, rope) || nope < 0 || vd <= 0)
        return cudaErrorInvalidValue;
    if (n > 0)
        absorb_q<<<n * H, THREADS, 0, stream>>>(q, kv_b, H, nope, rope, vd, R, rope_scale, q_abs);
    return cudaGetLastError();
}

cudaError_t sl_k_mla_attention(const float *q_abs, const sl_bf16 *kv, const int32_t *indices,
                               int topk, int n, int first_pos, int H, int R, int rope, float scale,
                               float *out_lat, float *lse, cudaStream_t stream)
{
    if (bad_dims(n, H, R, rope) || first_pos < 0 || (indices && topk < 0))
        return cudaErrorInvalidValue;
    size_t smem = (size_t)(R + rope) * sizeof(float);
    if (n > 0)
        attention<<<n * H, THREADS, smem, stream>>>(q_abs,
                                                    reinterpret_cast<const __nv_bfloat16 *>(kv),
                                                    indices, topk, first_pos, nullptr, H, R, rope,
                                                    scale, out_lat, lse);
    return cudaGetLastError();
}

cudaError_t sl_k_mla_attention_at(const float *q_abs, const sl_bf16 *kv, const int32_t *indices,
                                  int topk, int n, const int32_t *first_pos, int H, int R, int rope,
                                  float scale, float *out_lat, float *lse, cudaStream_t stream)
{
    if (bad_dims(n, H, R, rope) || !first_pos || (indices && topk < 0))
        return cudaErrorInvalidValue;
    size_t smem = (size_t)(R + rope) * sizeof(float);
    if (n > 0)
        attention<<<n * H, THREADS, smem, stream>>>(q_abs,
                                                    reinterpret_cast<const __nv_bfloat16 *>(kv),
                                                    indices, topk, 0, first_pos, H, R, rope,
                                                    scale, out_lat, lse);
    return cudaGetLastError();
}

cudaError_t sl_k_mla_head_mass(const float *q_abs, const sl_bf16 *kv, int n, int first_pos, int H,
                               int R, int rope, float scale, float *mass, float *lse,
                               float *out_lat, cudaStream_t stream)
{
    if (bad_dims(n, H, R, rope) || first_pos < 0)
        return cudaErrorInvalidValue;
    if (n == 0)
        return cudaSuccess;
    cudaError_t e = cudaMemsetAsync(mass, 0, (size_t)n * (size_t)(first_pos + n) * sizeof(float),
                                    stream);
    if (e == cudaSuccess)
        e = sl_k_mla_attention(q_abs, kv, NULL, 0, n, first_pos, H, R, rope, scale, out_lat, lse,
                               stream);
    if (e != cudaSuccess)
        return e;
    size_t smem = (size_t)(R + rope) * sizeof(float);
    head_mass<<<n * H, THREADS, smem, stream>>>(q_abs, reinterpret_cast<const __nv_bfloat16 *>(kv),
                                                lse, first_pos, nullptr, n, H, R, rope, scale,
                                                mass);
    return cudaGetLastError();
}

cudaError_t sl_k_mla_head_mass_at(const float *q_abs, const sl_bf16 *kv, const int32_t *pos,
                                  int max_pos, int H, int R, int rope, float scale, float *mass,
                                  float *lse, float *out_lat, cudaStream_t stream)
{
    if (bad_dims(1, H, R, rope) || !pos || max_pos < 1)
        return cudaErrorInvalidValue;
    cudaError_t e = cudaMemsetAsync(mass, 0, (size_t)max_pos * sizeof(float), stream);
    if (e == cudaSuccess)
        e = sl_k_mla_attention_at(q_abs, kv, NULL, 0, 1, pos, H, R, rope, scale, out_lat, lse,
                                  stream);
    if (e != cudaSuccess)
        return e;
    size_t smem = (size_t)(R + rope) * sizeof(float);
    head_mass<<<H, THREADS, smem, stream>>>(q_abs, reinterpret_cast<const __nv_bfloat16 *>(kv), lse,
                                            0, pos, 1, H, R, rope, scale, mass);
    return cudaGetLastError();
}

cudaError_t sl_k_mla_unabsorb(const float *out_lat, const float *kv_b, int n, int H, int nope,
                              int vd, int R, sl_bf16 *out, cudaStream_t stream)
{
    if (bad_dims(n, H, R, 0) || nope < 0 || vd <= 0)
        return cudaErrorInvalidValue;
    if (n > 0)
        unabsorb<<<n * H, THREADS, 0, stream>>>(out_lat, kv_b, H, nope, vd, R,
                                                reinterpret_cast<__nv_bfloat16 *>(out));
    return cudaGetLastError();
}

cudaError_t sl_k_scale_cols(float *x, int rows, int stride, int count, float f,
                            cudaStream_t stream)
{
    if (rows < 0 || count < 0 || stride < count)
        return cudaErrorInvalidValue;
    size_t n = (size_t)rows * (size_t)count;
    if (n == 0 || f == 1.0f)
        return cudaSuccess;
    size_t blocks = (n + THREADS - 1) / THREADS;
    scale_cols<<<blocks > 65535 ? 65535u : (unsigned)blocks, THREADS, 0, stream>>>(
        x, (size_t)rows, stride, count, f);
    return cudaGetLastError();
}
