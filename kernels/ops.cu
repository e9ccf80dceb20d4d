// ops.cu: the small per-token operations of a transformer layer on float32
// activations (embedding rows, RMSNorm, RoPE, SwiGLU, the residual add) and
// greedy argmax. Each follows its CPU reference in engine/cpu/ops.c (or
// engine/sampler.c) formula for formula: IEEE division and square root,
// cosf/sinf rather than the fast intrinsics, and the products that the CPU
// writes as separate operations kept separate (__fmul_rn, no contraction),
// so the results differ from the CPU's by a few float ulps at most.
#include "ops-common.cuh"
#include "sightline-kernels.h"

#include <cuda_bf16.h>

namespace {

unsigned grid_for(size_t n, unsigned threads)
{
    size_t blocks = (n + threads - 1) / threads;
    return blocks > 65535 ? 65535u : (unsigned)(blocks ? blocks : 1);
}

// ---- embedding rows ----------------------------------------------------------

// One CTA per token: out[t][j] = table[ids[t]][j].
__global__ void embed_rows(const __nv_bfloat16 *table, int dim, const int32_t *ids, float *out)
{
    size_t t = blockIdx.x;
    const __nv_bfloat16 *row = table + (size_t)ids[t] * (size_t)dim;
    float *o = out + t * (size_t)dim;
    for (int j = threadIdx.x; j < dim; j += blockDim.x)
        o[j] = __bfloat162float(row[j]);
}

// ---- RMSNorm -----------------------------------------------------------------

// One CTA per row. The sum of squares in float (fma per thread, then a tree
// over the CTA); the scale 1 / sqrt(mean + eps) with IEEE sqrt and division;
// out = x · scale · weight in that order, as sl_rmsnorm. Every element is
// read by the thread that later writes it, so out_f32 may equal x.
__global__ void rmsnorm(const float *x, const float *weight, int dim, float eps, float *out_f32,
                        __nv_bfloat16 *out_bf16)
{
    size_t base = blockIdx.x * (size_t)dim;
    const float *xr = x + base;
    float scale = block_rms_scale(xr, dim, eps);
    for (int j = threadIdx.x; j < dim; j += blockDim.x) {
        float v = __fmul_rn(__fmul_rn(xr[j], scale), weight[j]);
        if (out_f32)
            out_f32[base + j] = v;
        if (out_bf16)
            out_bf16[base + j] = __float2bfloat16_rn(v);
    }
}

// ---- RoPE --------------------------------------------------------------------

// One thread per (row, head, pair). The angle (float)pos · inv_freq[i] in
// float32, then cosf and sinf of it, as sl_rope_interleaved / sl_rope_neox.
// NeoX pairs (i, i + rot/2); interleaved pairs (2i, 2i + 1).
// The pair (a, b) turned by angle: cosf and sinf of it, each product rounded
// on its own as the CPU writes them.
__device__ __forceinline__ void turn(float &a, float &b, float angle)
{
    float c = cosf(angle), s = sinf(angle);
    float ra = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
    b = __fadd_rn(__fmul_rn(a, s), __fmul_rn(b, c));
    a = ra;
}

// first_at: non-NULL, the first position is *first_at, read on the device
// (a decode step captured once as a graph).
template <bool neox>
__global__ void rope(float *x, size_t pairs, int heads, int head_dim, int half, int first_pos,
                     const int32_t *first_at, const float *inv_freq)
{
    long long first = first_at ? (long long)__ldg(first_at) : (long long)first_pos;
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < pairs;
         k += (size_t)gridDim.x * blockDim.x) {
        int i = (int)(k % (size_t)half);
        size_t th = k / (size_t)half; // row · heads + head
        size_t t = th / (size_t)heads;
        float angle = __fmul_rn((float)(first + (long long)t), inv_freq[i]);
        float *p = x + th * (size_t)head_dim;
        float *pa = neox ? p + i : p + 2 * i;
        float *pb = neox ? p + i + half : p + 2 * i + 1;
        float a = *pa, b = *pb;
        turn(a, b, angle);
        *pa = a, *pb = b;
    }
}

// One decode row's q ‖ k ‖ v in one launch, one thread per pair of values:
// q and k turned as rope<false> at position *pos_dev (read on the device: a
// decode step replayed as a graph), then q as BF16 into q_out and k, v as
// BF16 into row *pos_dev of their caches.
__global__ void rope_qkv_at(const float *qkv, int heads, int kv_heads, int head_dim, int half,
                            const int32_t *pos_dev, const float *inv_freq, __nv_bfloat16 *q_out,
                            __nv_bfloat16 *k_cache, __nv_bfloat16 *v_cache)
{
    int pos = __ldg(pos_dev), per_head = head_dim / 2;
    int q_pairs = heads * per_head, kv_pairs = kv_heads * per_head;
    size_t kvd = (size_t)kv_heads * (size_t)head_dim;
    for (int k = blockIdx.x * blockDim.x + threadIdx.x; k < q_pairs + 2 * kv_pairs;
         k += gridDim.x * blockDim.x) {
        int part = k < q_pairs ? 0 : k < q_pairs + kv_pairs ? 1 : 2; // q, k, v
        int pair = k - (part ? q_pairs : 0) - (part == 2 ? kv_pairs : 0);
        int i = pair % per_head;
        size_t at = (size_t)(pair / per_head) * (size_t)head_dim + 2 * (size_t)i;
        const float *src = qkv + (part ? (size_t)q_pairs * 2 : 0) + (part == 2 ? kvd : 0);
        __nv_bfloat16 *dst = part == 0 ? q_out : (part == 1 ? k_cache : v_cache) + (size_t)pos * kvd;
        float a = src[at], b = src[at + 1];
        if (part < 2 && i < half)
            turn(a, b, __fmul_rn((float)pos, inv_freq[i]));
        dst[at] = __float2bfloat16_rn(a);
        dst[at + 1] = __float2bfloat16_rn(b);
    }
}

cudaError_t rope_launch(bool neox, float *x, int n, int heads, int head_dim, int rot_dims,
                        int first_pos, const int32_t *first_at, const float *inv_freq,
                        cudaStream_t s)
{
    if (n < 0 || heads < 0 || head_dim <= 0 || rot_dims < 0 || rot_dims % 2 || rot_dims > head_dim ||
        first_pos < 0)
        return cudaErrorInvalidValue;
    size_t pairs = (size_t)n * (size_t)heads * (size_t)(rot_dims / 2);
    if (pairs == 0)
        return cudaSuccess;
    if (neox)
        rope<true><<<grid_for(pairs, 256), 256, 0, s>>>(x, pairs, heads, head_dim, rot_dims / 2,
                                                        first_pos, first_at, inv_freq);
    else
        rope<false><<<grid_for(pairs, 256), 256, 0, s>>>(x, pairs, heads, head_dim, rot_dims / 2,
                                                         first_pos, first_at, inv_freq);
    return cudaGetLastError();
}

// ---- SwiGLU, add ---------------------------------------------------------------

// silu(gate) · up (silu_mul), rounded to bf16.
__global__ void swiglu(const float *gate, const float *up, size_t n, __nv_bfloat16 *out)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2bfloat16_rn(silu_mul(gate[i], up[i]));
}

// x += y; float4 accesses where both are 16-byte aligned.
__global__ void add(float *x, const float *y, size_t n, bool vec4)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t i0 = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    size_t done = 0;
    if (vec4) {
        size_t n4 = n / 4;
        float4 *x4 = reinterpret_cast<float4 *>(x);
        const float4 *y4 = reinterpret_cast<const float4 *>(y);
        for (size_t i = i0; i < n4; i += stride) {
            float4 a = x4[i], b = y4[i];
            a.x += b.x, a.y += b.y, a.z += b.z, a.w += b.w;
            x4[i] = a;
        }
        done = n4 * 4;
    }
    for (size_t i = done + i0; i < n; i += stride)
        x[i] += y[i];
}

// ---- argmax --------------------------------------------------------------------

// Whether (v, i) ranks before (bv, bi): i < 0 is "nothing yet" (and NaN is
// never a candidate), then the larger value, then the lower index.
__device__ bool beats(float v, int i, float bv, int bi)
{
    if (i < 0)
        return false;
    if (bi < 0)
        return true;
    return v > bv || (v == bv && i < bi);
}

// One CTA per row: each thread scans a strided share (indices increasing, so
// only a strictly larger value replaces), then a warp and a CTA reduction.
__global__ void argmax(const float *logits, int vocab, int32_t *out)
{
    __shared__ float warp_v[32];
    __shared__ int warp_i[32];
    const float *row = logits + blockIdx.x * (size_t)vocab;
    float bv = 0.0f;
    int bi = -1;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
        float v = row[j];
        if (!isnan(v) && (bi < 0 || v > bv))
            bv = v, bi = j;
    }
    for (int off = 16; off > 0; off /= 2) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, off);
        int oi = __shfl_xor_sync(0xffffffffu, bi, off);
        if (beats(ov, oi, bv, bi))
            bv = ov, bi = oi;
    }
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0)
        warp_v[warp] = bv, warp_i[warp] = bi;
    __syncthreads();
    if (warp == 0) {
        int warps = blockDim.x / 32;
        bv = lane < warps ? warp_v[lane] : 0.0f;
        bi = lane < warps ? warp_i[lane] : -1;
        for (int off = 16; off > 0; off /= 2) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, off);
            int oi = __shfl_xor_sync(0xffffffffu, bi, off);
            if (beats(ov, oi, bv, bi))
                bv = ov, bi = oi;
        }
        if (lane == 0)
            out[blockIdx.x] = bi < 0 ? vocab - 1 : bi; // all NaN: the sampler's answer
    }
}

} // namespace

extern "C" cudaError_t sl_k_embed_rows(const sl_bf16 *table, int dim, const int32_t *ids, int n,
                                       float *out, cudaStream_t s)
{
    if (dim < 0 || n < 0)
        return cudaErrorInvalidValue;
    if (dim == 0 || n == 0)
        return cudaSuccess;
    unsigned threads = dim >= 1024 ? 256 : 128;
    embed_rows<<<(unsigned)n, threads, 0, s>>>(reinterpret_cast<const __nv_bfloat16 *>(table), dim,
                                               ids, out);
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_rmsnorm(const float *x, const float *weight, int n, int dim, float eps,
                                    float *out_f32, sl_bf16 *out_bf16, cudaStream_t s)
{
    if (n < 0 || dim <= 0)
        return cudaErrorInvalidValue;
    if (n == 0 || (!out_f32 && !out_bf16))
        return cudaSuccess;
    // About 8 values a thread: 32 threads for 64, 192 for 1536, 896 for 7168.
    int threads = ((dim + 7) / 8 + 31) / 32 * 32;
    threads = threads < 32 ? 32 : threads > 1024 ? 1024 : threads;
    rmsnorm<<<(unsigned)n, (unsigned)threads, 0, s>>>(x, weight, dim, eps, out_f32,
                                                      reinterpret_cast<__nv_bfloat16 *>(out_bf16));
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_rope_interleaved(float *x, int n, int heads, int head_dim, int rot_dims,
                                             int first_pos, const float *inv_freq, cudaStream_t s)
{
    return rope_launch(false, x, n, heads, head_dim, rot_dims, first_pos, NULL, inv_freq, s);
}

extern "C" cudaError_t sl_k_rope_interleaved_at(float *x, int n, int heads, int head_dim,
                                                int rot_dims, const int32_t *first_pos,
                                                const float *inv_freq, cudaStream_t s)
{
    if (!first_pos)
        return cudaErrorInvalidValue;
    return rope_launch(false, x, n, heads, head_dim, rot_dims, 0, first_pos, inv_freq, s);
}

extern "C" cudaError_t sl_k_rope_qkv_at(const float *qkv, int heads, int kv_heads, int head_dim,
                                        int rot_dims, const int32_t *pos, const float *inv_freq,
                                        sl_bf16 *q_out, sl_bf16 *k_cache, sl_bf16 *v_cache,
                                        cudaStream_t s)
{
    if (!pos || heads < 0 || kv_heads < 0 || head_dim <= 0 || head_dim % 2 || rot_dims < 0 ||
        rot_dims % 2 || rot_dims > head_dim)
        return cudaErrorInvalidValue;
    size_t pairs = (size_t)(heads + 2 * kv_heads) * (size_t)(head_dim / 2);
    if (pairs == 0)
        return cudaSuccess;
    rope_qkv_at<<<grid_for(pairs, 256), 256, 0, s>>>(
        qkv, heads, kv_heads, head_dim, rot_dims / 2, pos, inv_freq,
        reinterpret_cast<__nv_bfloat16 *>(q_out), reinterpret_cast<__nv_bfloat16 *>(k_cache),
        reinterpret_cast<__nv_bfloat16 *>(v_cache));
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_rope_neox(float *x, int n, int heads, int head_dim, int rot_dims,
                                      int first_pos, const float *inv_freq, cudaStream_t s)
{
    return rope_launch(true, x, n, heads, head_dim, rot_dims, first_pos, NULL, inv_freq, s);
}

extern "C" cudaError_t sl_k_rope_neox_at(float *x, int n, int heads, int head_dim, int rot_dims,
                                         const int32_t *first_pos, const float *inv_freq,
                                         cudaStream_t s)
{
    if (!first_pos)
        return cudaErrorInvalidValue;
    return rope_launch(true, x, n, heads, head_dim, rot_dims, 0, first_pos, inv_freq, s);
}

extern "C" cudaError_t sl_k_swiglu(const float *gate, const float *up, int n, int dim, sl_bf16 *out,
                                   cudaStream_t s)
{
    if (n < 0 || dim < 0)
        return cudaErrorInvalidValue;
    size_t total = (size_t)n * (size_t)dim;
    if (total == 0)
        return cudaSuccess;
    swiglu<<<grid_for(total, 256), 256, 0, s>>>(gate, up, total,
                                                 reinterpret_cast<__nv_bfloat16 *>(out));
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_add(float *x, const float *y, size_t n, cudaStream_t s)
{
    if (n == 0)
        return cudaSuccess;
    bool vec4 = ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(y)) & 15) == 0;
    add<<<grid_for(vec4 ? n / 4 + 1 : n, 256), 256, 0, s>>>(x, y, n, vec4);
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_argmax(const float *logits, int n_rows, int vocab, int32_t *out,
                                   cudaStream_t s)
{
    if (n_rows < 0 || vocab <= 0)
        return cudaErrorInvalidValue;
    if (n_rows == 0)
        return cudaSuccess;
    unsigned threads = vocab >= 8192 ? 1024 : vocab >= 1024 ? 256 : 32;
    argmax<<<(unsigned)n_rows, threads, 0, s>>>(logits, vocab, out);
    return cudaGetLastError();
}
