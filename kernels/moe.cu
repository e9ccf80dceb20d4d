// moe.cu: DeepSeek-V3's mixture of experts around the expert GEMMs: the
// router's choice (engine/arch/moe.c's sl_moe_route, step for step), the
// rows gathered for each expert, and the weighted sum of their outputs.
#include "sightline-kernels.h"

#include <cuda_bf16.h>
#include <math.h>

namespace {

constexpr int MAX_EXPERTS = 1024, MAX_GROUPS = 64;

// Index of the largest of x[0..n) among allowed (NULL: all), the lower on ties.
__device__ int best_index(const float *x, int n, const float *allowed)
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if ((!allowed || allowed[i] != 0.0f) && (best < 0 || x[i] > x[best]))
            best = i;
    return best;
}

__device__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// One CTA per token: the scores in parallel, the choice by one thread in
// the CPU's order, so that ties go the same way.
__global__ void route(const float *logits, const float *bias, int E, int G, int topk_group,
                      int top_k, bool normalise, float scale, int32_t *experts, float *weights)
{
    __shared__ float choice[MAX_EXPERTS], allowed[MAX_EXPERTS];
    __shared__ float group_score[MAX_GROUPS], group_left[MAX_GROUPS];
    const float *lg = logits + (size_t)blockIdx.x * E;
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        choice[e] = sigmoid(lg[e]) + (bias ? bias[e] : 0.0f);
        allowed[e] = 0.0f;
    }
    __syncthreads();
    if (threadIdx.x != 0)
        return;
    int per = E / G;
    for (int g = 0; g < G; g++) { // the sum of each group's two best choices
        const float *c = choice + g * per;
        int first = best_index(c, per, nullptr);
        float second = -INFINITY;
        for (int i = 0; i < per; i++)
            if (i != first && c[i] > second)
                second = c[i];
        group_score[g] = c[first] + (per > 1 ? second : 0.0f);
        group_left[g] = 1.0f;
    }
    for (int i = 0; i < topk_group; i++) {
        int g = best_index(group_score, G, group_left);
        group_left[g] = 0.0f;
        for (int e = g * per; e < (g + 1) * per; e++)
            allowed[e] = 1.0f;
    }
    int32_t *ex = experts + (size_t)blockIdx.x * top_k;
    float *wt = weights + (size_t)blockIdx.x * top_k, sum = 0.0f;
    for (int i = 0; i < top_k; i++) {
        int e = best_index(choice, E, allowed);
        allowed[e] = 0.0f;
        ex[i] = e;
        wt[i] = sigmoid(lg[e]); // without the bias
        sum += wt[i];
    }
    for (int i = 0; i < top_k; i++)
        wt[i] = (normalise ? wt[i] / (sum + 1e-20f) : wt[i]) * scale;
}

__global__ void gather_rows(const __nv_bfloat16 *x, int dim, const int32_t *rows, int n,
                            __nv_bfloat16 *out)
{
    for (int i = blockIdx.x; i < n; i += gridDim.x)
        for (int d = threadIdx.x; d < dim; d += blockDim.x)
            out[(size_t)i * dim + d] = x[(size_t)rows[i] * dim + d];
}

// One CTA per token: x[t] += Σ_r weights[wi[t,r]] · y[slot[t,r]], r in order.
__global__ void combine(const float *y, const int32_t *slot, const int32_t *wi,
                        const float *weights, int K, int dim, float *x)
{
    size_t t = blockIdx.x;
    for (int d = threadIdx.x; d < dim; d += blockDim.x) {
        float acc = 0.0f;
        for (int r = 0; r < K; r++) {
            size_t i = t * K + r;
            acc += weights[wi[i]] * y[(size_t)slot[i] * dim + d];
        }
        x[t * dim + d] += acc;
    }
}

// One thread per token: its K rows (token-major, row t·K + j for its j-th
// choice) in increasing order of expert, the order in which the CPU adds them.
__global__ void token_order(const int32_t *experts, int n, int K, int32_t *slot)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n)
        return;
    const int32_t *e = experts + (size_t)t * K;
    int32_t *s = slot + (size_t)t * K;
    for (int j = 0; j < K; j++) { // insertion sort: K is small
        int r = j;
        for (; r > 0 && e[s[r - 1] - t * K] > e[j]; r--)
            s[r] = s[r - 1];
        s[r] = t * K + j;
    }
}

__global__ void offset_pointers(const int32_t *index, int n, const char *base, size_t stride,
                                const void **out)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = base + (size_t)index[i] * stride;
}

} // namespace

cudaError_t sl_k_moe_token_order(const int32_t *experts, int n, int K, int32_t *slot,
                                 cudaStream_t stream)
{
    if (n < 0 || K < 1 || (size_t)n * K > 0x7fffffff)
        return cudaErrorInvalidValue;
    if (n > 0)
        token_order<<<(n + 127) / 128, 128, 0, stream>>>(experts, n, K, slot);
    return cudaGetLastError();
}

cudaError_t sl_k_offset_pointers(const int32_t *index, int n, const void *base, size_t stride_bytes,
                                 const void **out, cudaStream_t stream)
{
    if (n < 0)
        return cudaErrorInvalidValue;
    if (n > 0)
        offset_pointers<<<(n + 127) / 128, 128, 0, stream>>>(
            index, n, static_cast<const char *>(base), stride_bytes, out);
    return cudaGetLastError();
}

cudaError_t sl_k_moe_route(const float *logits, const float *bias, int n, int n_experts,
                           int n_group, int topk_group, int top_k, bool normalise, float scale,
                           int32_t *experts, float *weights, cudaStream_t stream)
{
    if (n < 0 || n_experts < 1 || n_experts > MAX_EXPERTS || n_group < 1 ||
        n_group > MAX_GROUPS || n_experts % n_group || topk_group < 1 || topk_group > n_group ||
        top_k < 1 || top_k > topk_group * (n_experts / n_group))
        return cudaErrorInvalidValue;
    if (n > 0)
        route<<<n, 256, 0, stream>>>(logits, bias, n_experts, n_group, topk_group, top_k,
                                     normalise, scale, experts, weights);
    return cudaGetLastError();
}

cudaError_t sl_k_gather_rows(const sl_bf16 *x, int dim, const int32_t *rows, int n, sl_bf16 *out,
                             cudaStream_t stream)
{
    if (n < 0 || dim <= 0)
        return cudaErrorInvalidValue;
    if (n > 0)
        gather_rows<<<n < 65535 ? n : 65535, 256, 0, stream>>>(
            reinterpret_cast<const __nv_bfloat16 *>(x), dim, rows, n,
            reinterpret_cast<__nv_bfloat16 *>(out));
    return cudaGetLastError();
}

cudaError_t sl_k_moe_combine(const float *y, const int32_t *slot, const int32_t *weight_index,
                             const float *weights, int n, int K, int dim, float *x,
                             cudaStream_t stream)
{
    if (n < 0 || K < 0 || dim <= 0 || n > 65535)
        return cudaErrorInvalidValue;
    if (n > 0)
        combine<<<n, 256, 0, stream>>>(y, slot, weight_index, weights, K, dim, x);
    return cudaGetLastError();
}
