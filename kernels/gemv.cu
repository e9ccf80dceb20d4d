// gemv.cu: a decode step's matrix products (one token, y = W·x with W
// [out][in] bf16), each fused with what comes before or after it, so that a
// llama layer takes four launches for its products instead of seven:
//   sl_k_gemv_norm:        the RMSNorm of x first (the q ‖ k ‖ v product);
//   sl_k_gemv_norm_swiglu: the RMSNorm first and SwiGLU after (gate ‖ up);
//   sl_k_gemv_add:         the residual added after (the output products).
// The input, rounded to bf16 as the prefill's products take it, sits in
// shared memory; each warp takes whole rows, its lanes reading 16 bytes of
// the row at a time, the products summed in float32 and over the warp by
// shuffles. Bound by reading W; the norm is recomputed by every CTA (a few
// hundred values, cheaper than a launch).
#include "ops-common.cuh"
#include "sightline-kernels.h"

#include <cuda_bf16.h>

namespace {

constexpr int THREADS = 256, WARPS = THREADS / 32;
constexpr int MAX_IN = 12032; // the input in shared memory: 47 KiB of floats, beside the norm's

enum class In { NORM, BF16 };
enum class Out { STORE, ADD, SWIGLU };

// Σ_i row[i] · xs[i] over the warp, the whole sum in every lane.
__device__ __forceinline__ float row_dot(const __nv_bfloat16 *row, const float *xs, int in, int lane)
{
    float acc = 0.0f;
    for (int c = lane; c < in / 8; c += 32) {
        uint4 w = __ldg(reinterpret_cast<const uint4 *>(row) + c);
        const float4 *x4 = reinterpret_cast<const float4 *>(xs + 8 * c);
        float4 a = x4[0], b = x4[1];
        const __nv_bfloat162 *w2 = reinterpret_cast<const __nv_bfloat162 *>(&w);
        float2 w0 = __bfloat1622float2(w2[0]), w1 = __bfloat1622float2(w2[1]);
        float2 w2f = __bfloat1622float2(w2[2]), w3 = __bfloat1622float2(w2[3]);
        acc = fmaf(w0.x, a.x, acc);
        acc = fmaf(w0.y, a.y, acc);
        acc = fmaf(w1.x, a.z, acc);
        acc = fmaf(w1.y, a.w, acc);
        acc = fmaf(w2f.x, b.x, acc);
        acc = fmaf(w2f.y, b.y, acc);
        acc = fmaf(w3.x, b.z, acc);
        acc = fmaf(w3.y, b.w, acc);
    }
    for (int off = 16; off > 0; off /= 2)
        acc += __shfl_xor_sync(0xffffffffu, acc, off);
    return acc;
}

// NORM: x_f32 normalised by norm_w (as sl_k_rmsnorm) then rounded to bf16;
// BF16: x_bf16. STORE: y[o] = W[o]·x; ADD: y[o] += W[o]·x; SWIGLU (W of 2·out
// rows, gate then up): h[o] = bf16(silu(W[o]·x) · W[out + o]·x).
template <In IN, Out OUT>
__global__ void __launch_bounds__(THREADS) gemv(const float *x_f32, const float *norm_w, float eps,
                                                const __nv_bfloat16 *x_bf16, int in,
                                                const __nv_bfloat16 *W, int out, float *y,
                                                __nv_bfloat16 *h)
{
    extern __shared__ float4 xs4[];
    float *xs = reinterpret_cast<float *>(xs4);
    if constexpr (IN == In::NORM) {
        const float scale = block_rms_scale(x_f32, in, eps);
        for (int j = threadIdx.x; j < in; j += THREADS)
            xs[j] = __bfloat162float(
                __float2bfloat16_rn(__fmul_rn(__fmul_rn(x_f32[j], scale), norm_w[j])));
    } else {
        for (int j = threadIdx.x; j < in; j += THREADS)
            xs[j] = __bfloat162float(x_bf16[j]);
    }
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int o = blockIdx.x * WARPS + warp; o < out; o += gridDim.x * WARPS) {
        float v = row_dot(W + (size_t)o * in, xs, in, lane);
        float u = OUT == Out::SWIGLU ? row_dot(W + (size_t)(out + o) * in, xs, in, lane) : 0.0f;
        if (lane != 0)
            continue;
        if constexpr (OUT == Out::STORE)
            y[o] = v;
        else if constexpr (OUT == Out::ADD)
            y[o] += v;
        else
            h[o] = __float2bfloat16_rn(silu_mul(v, u));
    }
}

template <In IN, Out OUT>
cudaError_t launch(const float *x_f32, const float *norm_w, float eps, const sl_bf16 *x_bf16, int in,
                   const sl_bf16 *W, int out, float *y, sl_bf16 *h, cudaStream_t s)
{
    if (in <= 0 || in % 8 || in > MAX_IN || out < 0 || (uintptr_t)W % 16)
        return cudaErrorInvalidValue;
    if (out == 0)
        return cudaSuccess;
    unsigned grid = (unsigned)((out + WARPS - 1) / WARPS);
    gemv<IN, OUT><<<grid, THREADS, (size_t)in * sizeof(float), s>>>(
        x_f32, norm_w, eps, reinterpret_cast<const __nv_bfloat16 *>(x_bf16), in,
        reinterpret_cast<const __nv_bfloat16 *>(W), out, y, reinterpret_cast<__nv_bfloat16 *>(h));
    return cudaGetLastError();
}

} // namespace

extern "C" cudaError_t sl_k_gemv_norm(const float *x, const float *norm_w, float eps, int in,
                                      const sl_bf16 *W, int out, float *y, cudaStream_t stream)
{
    return launch<In::NORM, Out::STORE>(x, norm_w, eps, nullptr, in, W, out, y, nullptr, stream);
}

extern "C" cudaError_t sl_k_gemv_norm_swiglu(const float *x, const float *norm_w, float eps, int in,
                                             const sl_bf16 *W, int out, sl_bf16 *h,
                                             cudaStream_t stream)
{
    return launch<In::NORM, Out::SWIGLU>(x, norm_w, eps, nullptr, in, W, out, nullptr, h, stream);
}

extern "C" cudaError_t sl_k_gemv_add(const sl_bf16 *x, int in, const sl_bf16 *W, int out, float *y,
                                     cudaStream_t stream)
{
    return launch<In::BF16, Out::ADD>(nullptr, nullptr, 0.0f, x, in, W, out, y, nullptr, stream);
}
