// indexer.cu: the lightning indexer's scores (DeepSeek Sparse Attention),
//   scores[t, s] = kscale[s] · Σ_h w[t,h] · ReLU(q[t,h,:] · k[s,:])
// for s in [ks[t], ke[t]), -inf elsewhere in [0, L), fp32 accumulation.
//
// As a GEMM: M = keys, N = the heads of one query row, K = D. A CTA of 8
// warps takes a tile of keys (32 a warp, two m16 tiles, 256 a CTA; or 64 a
// warp and 512 a CTA for prefill) and a group of 32 query rows (1 for the
// paged cache, whose rows may each be a sequence of their own). Each warp loads its keys' A fragments into registers once and
// keeps them for every row of the group; each row's q [H, D] is staged in
// shared memory (double buffered, the next row's global loads in flight while
// the current row computes), read as B fragments by all 8 warps. Per 8 heads
// (one n8 tile) the warp runs D/16 mma.sync m16n8k16 per m-tile into fp32,
// then folds ReLU and the head weights into two running sums per key; the
// quad of lanes that shares a key row adds its sums with two shuffles.
//
// The reduction over d is a sum, so d may be permuted as long as A and B
// agree: thread t of a quad takes, for k-step ks, the 4 elements
//   d = 32·(ks/2) + 8t + 4·(ks%2) + i,  i = 0..3,
// so that one 16-byte load gives two k-steps (bf16). For e4m3 sources the
// 16-byte chunk holds 16 elements, d = 64·(ks/4) + 16t + 4·(ks%4) + i; the
// keys are widened to f16 in registers and q is widened into shared memory
// in the bf16 order above, so the fragment loads are the same for both.
//
// FP8 on sm_90: mma.sync with e4m3 operands is not native on Hopper (ptxas
// lowers it to an e4m3->f16 unpack and two f16 HMMA 16816), so this kernel
// widens e4m3 to f16 once (exact: every e4m3 value is an f16) and runs f16
// mma.sync with fp32 accumulation. Products are exact and the sums are fp32,
// as for bf16; FP8 halves the key bytes read, not the tensor-core time.
#include "sightline-kernels.h"
#include "device.cuh"
#include "indexer-cache.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <math.h>

// indexer-wgmma.cu: the FP8 kernel on wgmma (sm_90a), H = 64, D = 128.
cudaError_t sl_indexer_fp8_wgmma(const uint8_t *q, const float *w, const uint8_t *k,
                                 const float *k_scale, const int32_t *ks, const int32_t *ke,
                                 int rows, int L, float *scores, size_t score_stride,
                                 int variant, cudaStream_t stream);

namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kRowsPerCta = 32;
constexpr int kPage = kIndexerPage;          // tokens per block of the paged cache

enum class Src { bf16, fp8, fp8_paged };

struct Params {
    const uint8_t *q;        // [rows, H, D] bf16 or e4m3
    const float *w;          // [rows, H]
    const uint8_t *k;        // [L, D] bf16 or e4m3; or the paged cache
    const float *k_scale;    // [L] (fp8), NULL for bf16
    const int32_t *block_table; // paged: [rows, block_table_stride]
    int block_table_stride;
    const int32_t *ks, *ke;  // [rows]
    int rows, H, L;
    int rows_per_cta;        // rows sharing one tile of keys (1 for the paged cache)
    float *scores;
    size_t stride;
};

__device__ __forceinline__ uint32_t e4m3x2_to_f16x2(uint32_t two)
{
    __half2_raw h = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)(two & 0xffffu), __NV_E4M3);
    return (uint32_t)h.x | ((uint32_t)h.y << 16);
}

template <bool F16>
__device__ __forceinline__ void mma16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                         uint32_t a3, uint32_t b0, uint32_t b1)
{
    if constexpr (F16)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Shared-memory row of one head's q in the 16-bit order: 2D bytes plus 64,
// so that the 8 lanes of a 16-byte load phase (heads g, g+1; t = 0..3) hit
// distinct banks.
template <int D> __host__ __device__ constexpr int q_row_bytes() { return 2 * D + 64; }

template <int D, Src S>
__device__ __forceinline__ const uint8_t *key_row(const Params &p, int row, int s)
{
    if constexpr (S == Src::fp8_paged) {
        int blk = p.block_table[(size_t)row * p.block_table_stride + s / kPage];
        return p.k + indexer_key_offset(D, blk, s % kPage);
    } else if constexpr (S == Src::fp8) {
        return p.k + (size_t)s * D;
    } else {
        return p.k + (size_t)s * (2 * D);
    }
}

template <int D, Src S>
__device__ __forceinline__ float key_scale(const Params &p, int row, int s)
{
    if constexpr (S == Src::fp8_paged) {
        int blk = p.block_table[(size_t)row * p.block_table_stride + s / kPage];
        return *reinterpret_cast<const float *>(p.k + indexer_scale_offset(D, blk, s % kPage));
    } else if constexpr (S == Src::fp8) {
        return p.k_scale[s];
    } else {
        return 1.0f;
    }
}

// Global q of one row -> registers (the next row's, while this one computes).
template <int D, Src S, int HMAX> struct QStage {
    static constexpr int kBytes = S == Src::bf16 ? 2 * D : D; // per head
    static constexpr int kChunksPerHead = kBytes / 16;
    static constexpr int kMaxChunks = (HMAX * kChunksPerHead + kThreads - 1) / kThreads;
    uint4 v[kMaxChunks > 0 ? kMaxChunks : 1];
    float w;

    __device__ __forceinline__ void load(const Params &p, int row)
    {
        const uint4 *src = reinterpret_cast<const uint4 *>(p.q + (size_t)row * p.H * kBytes);
        int n = p.H * kChunksPerHead;
#pragma unroll
        for (int i = 0; i < kMaxChunks; i++) {
            int c = threadIdx.x + i * kThreads;
            if (c < n)
                v[i] = __ldg(src + c);
        }
        if ((int)threadIdx.x < p.H)
            w = __ldg(p.w + (size_t)row * p.H + threadIdx.x);
    }

    __device__ __forceinline__ void store(const Params &p, uint8_t *qs, float *ws) const
    {
        int n = p.H * kChunksPerHead;
#pragma unroll
        for (int i = 0; i < kMaxChunks; i++) {
            int c = threadIdx.x + i * kThreads;
            if (c >= n)
                continue;
            int h = c / kChunksPerHead, cc = c % kChunksPerHead;
            uint8_t *dst = qs + h * q_row_bytes<D>();
            if constexpr (S == Src::bf16) {
                *reinterpret_cast<uint4 *>(dst + cc * 16) = v[i];
            } else {
                // chunk cc = 4j + t: 16 e4m3 at d = 64j + 16t + m -> f16 at
                // 64j + 8t (k-steps 4j, 4j+1) and 64j + 32 + 8t (4j+2, 4j+3).
                int j = cc / 4, t = cc % 4;
                uint4 lo, hi;
                lo.x = e4m3x2_to_f16x2(v[i].x);
                lo.y = e4m3x2_to_f16x2(v[i].x >> 16);
                lo.z = e4m3x2_to_f16x2(v[i].y);
                lo.w = e4m3x2_to_f16x2(v[i].y >> 16);
                hi.x = e4m3x2_to_f16x2(v[i].z);
                hi.y = e4m3x2_to_f16x2(v[i].z >> 16);
                hi.z = e4m3x2_to_f16x2(v[i].w);
                hi.w = e4m3x2_to_f16x2(v[i].w >> 16);
                *reinterpret_cast<uint4 *>(dst + 2 * (64 * j + 8 * t)) = lo;
                *reinterpret_cast<uint4 *>(dst + 2 * (64 * j + 32 + 8 * t)) = hi;
            }
        }
        if ((int)threadIdx.x < p.H)
            ws[threadIdx.x] = w;
    }
};

// HMAX: 64 or 128, the most heads (sizes the registers that stage q).
// MT: m16 tiles per warp (2: 32 keys a warp, 256 a CTA; 4: 64 and 512).
template <int D, Src S, int HMAX, int MT>
__global__ void __launch_bounds__(kThreads, HMAX <= 64 && MT == 2 ? 2 : 1)
    indexer_kernel(const Params p)
{
    constexpr int KS = D / 16;      // k16 steps
    constexpr bool F16 = S != Src::bf16;
    constexpr int kMT = MT, kKeysPerWarp = 16 * MT, kTileKeys = kWarps * kKeysPerWarp;
    extern __shared__ __align__(16) uint8_t smem[];
    const int qbuf_bytes = p.H * q_row_bytes<D>();
    // Two buffers of q rows, then two of head weights; buffer b of row i is i & 1.
    auto qs = [&](int b) { return smem + b * qbuf_bytes; };
    auto ws = [&](int b) { return reinterpret_cast<float *>(smem + 2 * qbuf_bytes) + b * p.H; };

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, t = lane % 4;
    const int tile0 = blockIdx.x * kTileKeys;
    const int wkey0 = tile0 + warp * kKeysPerWarp;
    const int row0 = blockIdx.y * p.rows_per_cta;
    const int nrows = min(p.rows_per_cta, p.rows - row0);

    // Which rows of the group touch this tile at all.
    const int tile_end = min(tile0 + kTileKeys, p.L);

    // A fragments: a[mt][r][ks][0] = elements i = 0,1 of key row
    // wkey0 + 16mt + 8r + g, a[..][1] = i = 2,3.
    uint32_t a[kMT][2][KS][2];
    auto row_range = [&](int row, int &lo, int &hi) {
        lo = max(p.ks[row], 0);
        hi = min(p.ke[row], p.L);
    };

    // Keys past L are zeros. The paged cache reads only the keys of its one
    // row's range: block-table entries past it need not be valid. Otherwise
    // keys past every row's end are not read (a decode step captured as a
    // graph passes the whole cache's length as L).
    int klo = 0, khi = p.L;
    if constexpr (S == Src::fp8_paged) {
        row_range(row0, klo, khi);
    } else {
        int top = 0;
        for (int i = 0; i < nrows; i++)
            top = max(top, p.ke[row0 + i]);
        khi = min(khi, top);
    }
    auto load_keys = [&](int row) {
#pragma unroll
        for (int mt = 0; mt < kMT; mt++)
#pragma unroll
            for (int r = 0; r < 2; r++) {
                int s = wkey0 + 16 * mt + 8 * r + g;
                bool ok = s >= klo && s < khi;
                const uint4 *src = ok ? reinterpret_cast<const uint4 *>(key_row<D, S>(p, row, s))
                                      : nullptr;
                if constexpr (S == Src::bf16) {
#pragma unroll
                    for (int j = 0; j < KS / 2; j++) {
                        uint4 v = ok ? __ldg(src + 4 * j + t) : make_uint4(0, 0, 0, 0);
                        a[mt][r][2 * j][0] = v.x;
                        a[mt][r][2 * j][1] = v.y;
                        a[mt][r][2 * j + 1][0] = v.z;
                        a[mt][r][2 * j + 1][1] = v.w;
                    }
                } else {
#pragma unroll
                    for (int j = 0; j < KS / 4; j++) {
                        uint4 v = ok ? __ldg(src + 4 * j + t) : make_uint4(0, 0, 0, 0);
                        const uint32_t u[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                        for (int m = 0; m < 4; m++) {
                            a[mt][r][4 * j + m][0] = e4m3x2_to_f16x2(u[m]);
                            a[mt][r][4 * j + m][1] = e4m3x2_to_f16x2(u[m] >> 16);
                        }
                    }
                }
            }
    };

    // Every load in flight before the first use: q's first row, the key
    // scales, then the keys (whose e4m3 widening waits for them).
    QStage<D, S, HMAX> stage;
    stage.load(p, row0);
    float kscale[kMT][2];
#pragma unroll
    for (int mt = 0; mt < kMT; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            int s = wkey0 + 16 * mt + 8 * r + g;
            kscale[mt][r] = (S != Src::bf16 && s >= klo && s < khi) ? key_scale<D, S>(p, row0, s)
                                                                     : 1.0f;
        }
    load_keys(row0);
    stage.store(p, qs(0), ws(0));
    __syncthreads();

    for (int i = 0; i < nrows; i++) {
        const int row = row0 + i;
        const bool more = i + 1 < nrows;
        if (more)
            stage.load(p, row + 1);

        int lo, hi;
        row_range(row, lo, hi);
        float *out = p.scores + (size_t)row * p.stride;
        const bool active = lo < hi && lo < tile_end && hi > tile0;
        if (!active) {
            for (int s = tile0 + threadIdx.x; s < tile_end; s += kThreads)
                out[s] = -INFINITY;
        } else {
            const uint8_t *qb = qs(i & 1);
            const float *wb = ws(i & 1);
            float sum[kMT][2];
#pragma unroll
            for (int mt = 0; mt < kMT; mt++)
                sum[mt][0] = sum[mt][1] = 0.0f;
            // B fragments of heads 8nt + g: 16 bytes give two k-steps. With
            // 64 keys a warp (one CTA an SM) the next n-tile's are loaded
            // while this one's mma run; with 32 (two CTAs, 128 registers)
            // the other CTA's warps hide the wait.
            constexpr bool kPrefetch = MT == 4;
            const int n_tiles = p.H / 8;
            auto load_b = [&](uint4 (&b)[KS / 2], int nt) {
                const uint8_t *qrow = qb + (8 * nt + g) * q_row_bytes<D>();
#pragma unroll
                for (int j = 0; j < KS / 2; j++)
                    b[j] = *reinterpret_cast<const uint4 *>(qrow + 64 * j + 16 * t);
            };
            uint4 b[KS / 2];
            if constexpr (kPrefetch)
                load_b(b, 0);
            for (int nt = 0; nt < n_tiles; nt++) {
                uint4 bn[KS / 2];
                if constexpr (kPrefetch)
                    load_b(bn, nt + 1 < n_tiles ? nt + 1 : 0);
                else
                    load_b(b, nt);
                float2 wv = *reinterpret_cast<const float2 *>(wb + 8 * nt + 2 * t);
                float c[kMT][4];
#pragma unroll
                for (int mt = 0; mt < kMT; mt++)
                    c[mt][0] = c[mt][1] = c[mt][2] = c[mt][3] = 0.0f;
#pragma unroll
                for (int ks = 0; ks < KS; ks++) {
                    uint32_t b0 = ks % 2 ? b[ks / 2].z : b[ks / 2].x;
                    uint32_t b1 = ks % 2 ? b[ks / 2].w : b[ks / 2].y;
#pragma unroll
                    for (int mt = 0; mt < kMT; mt++)
                        mma16816<F16>(c[mt], a[mt][0][ks][0], a[mt][1][ks][0], a[mt][0][ks][1],
                                      a[mt][1][ks][1], b0, b1);
                }
#pragma unroll
                for (int mt = 0; mt < kMT; mt++) {
                    sum[mt][0] += wv.x * fmaxf(c[mt][0], 0.0f) + wv.y * fmaxf(c[mt][1], 0.0f);
                    sum[mt][1] += wv.x * fmaxf(c[mt][2], 0.0f) + wv.y * fmaxf(c[mt][3], 0.0f);
                }
                if constexpr (kPrefetch) {
#pragma unroll
                    for (int j = 0; j < KS / 2; j++)
                        b[j] = bn[j];
                }
            }
#pragma unroll
            for (int mt = 0; mt < kMT; mt++)
#pragma unroll
                for (int r = 0; r < 2; r++) {
                    float v = sum[mt][r];
                    v += __shfl_xor_sync(0xffffffffu, v, 1);
                    v += __shfl_xor_sync(0xffffffffu, v, 2);
                    int s = wkey0 + 16 * mt + 8 * r + g;
                    if ((2 * mt + r) % 4 == t && s < p.L)
                        out[s] = (s >= lo && s < hi) ? v * kscale[mt][r] : -INFINITY;
                }
        }
        if (more)
            stage.store(p, qs((i + 1) & 1), ws((i + 1) & 1));
        __syncthreads();
    }
}

size_t smem_bytes(int H, int D)
{
    return 2 * (size_t)H * (size_t)(2 * D + 64) + 2 * (size_t)H * sizeof(float);
}

int g_keys_per_warp = 0; // sl_k_indexer_tune
int g_wgmma_variant = 0;  // sl_k_indexer_tune_wgmma


// The wgmma kernel (indexer-wgmma.cu) takes FP8 at H = 64, D = 128 on sm_90
// with 16-byte aligned q and 4-byte aligned k, from 64 rows (one group of
// rows a CTA): 1.7x this kernel's rate in prefill. Its sums carry the FP8
// tensor cores' reduced accumulation precision (about 2e-4 relative), as
// DeepSeek's own indexer kernel does; this one's are exact in fp32.
constexpr bool kWgmmaByDefault = true;

int wgmma_variant(const Params &p, int D)
{
    int wanted = g_wgmma_variant > 0 ? g_wgmma_variant
                 : g_wgmma_variant == 0 && kWgmmaByDefault && p.rows >= 64 ? 1
                                                                          : 0;
    // the device is asked last: nothing is asked on the launches that do not want the kernel
    if (!wanted || p.H != 64 || D != 128 || (uintptr_t)p.q % 16 || (uintptr_t)p.k % 4 ||
        !sl_device_is_sm90())
        return 0;
    return wanted;
}

template <int D, Src S, int HMAX, int MT>
cudaError_t launch_h(const Params &p, cudaStream_t stream)
{
    size_t smem = smem_bytes(p.H, D);
    static bool attr_set = false; // a race here only repeats the call
    if (!attr_set) {
        cudaError_t e = cudaFuncSetAttribute(indexer_kernel<D, S, HMAX, MT>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)smem_bytes(HMAX, D));
        if (e != cudaSuccess)
            return e;
        attr_set = true;
    }
    constexpr int kTileKeys = kWarps * 16 * MT;
    dim3 grid((unsigned)((p.L + kTileKeys - 1) / kTileKeys),
              (unsigned)((p.rows + p.rows_per_cta - 1) / p.rows_per_cta));
    indexer_kernel<D, S, HMAX, MT><<<grid, kThreads, smem, stream>>>(p);
    return cudaGetLastError();
}

template <int D, Src S> cudaError_t launch_d(const Params &p, cudaStream_t stream)
{
    if (p.H > 64)
        return launch_h<D, S, 128, 2>(p, stream);
    // 64 keys a warp for prefill (a CTA an SM, half the shared-memory reads
    // per mma: +5-8% at 4096 rows), 32 for decode (twice the CTAs in flight).
    bool wide = g_keys_per_warp ? g_keys_per_warp == 64 : p.rows >= 128 && S != Src::fp8_paged;
    return wide ? launch_h<D, S, 64, 4>(p, stream) : launch_h<D, S, 64, 2>(p, stream);
}

template <Src S> cudaError_t launch(Params p, int D, cudaStream_t stream)
{
    p.rows_per_cta = S == Src::fp8_paged ? 1 : kRowsPerCta;
    if (p.rows < 0 || p.L < 0 || p.H < 8 || p.H > 128 || p.H % 8 || (D != 64 && D != 128) ||
        p.stride < (size_t)p.L || !p.q || !p.w || !p.k || !p.ks || !p.ke || !p.scores ||
        (S == Src::fp8 && !p.k_scale) || (S == Src::fp8_paged && !p.block_table))
        return cudaErrorInvalidValue;
    if (p.rows == 0 || p.L == 0)
        return cudaSuccess;
    if ((p.rows + p.rows_per_cta - 1) / p.rows_per_cta > 65535)
        return cudaErrorInvalidValue;
    if (S == Src::fp8) {
        int variant = wgmma_variant(p, D);
        if (variant)
            return sl_indexer_fp8_wgmma(p.q, p.w, p.k, p.k_scale, p.ks, p.ke, p.rows, p.L,
                                        p.scores, p.stride, variant, stream);
    }
    return D == 64 ? launch_d<64, S>(p, stream) : launch_d<128, S>(p, stream);
}

} // namespace

extern "C" cudaError_t sl_k_indexer_bf16(const sl_bf16 *q, const float *w, const sl_bf16 *k,
                                         const int32_t *ks, const int32_t *ke, int rows, int H,
                                         int D, int L, float *scores, size_t score_stride,
                                         cudaStream_t stream)
{
    Params p{};
    p.q = reinterpret_cast<const uint8_t *>(q);
    p.w = w;
    p.k = reinterpret_cast<const uint8_t *>(k);
    p.ks = ks, p.ke = ke;
    p.rows = rows, p.H = H, p.L = L;
    p.scores = scores, p.stride = score_stride;
    return launch<Src::bf16>(p, D, stream);
}

extern "C" cudaError_t sl_k_indexer_fp8(const uint8_t *q, const float *w, const uint8_t *k,
                                        const float *k_scale, const int32_t *ks,
                                        const int32_t *ke, int rows, int H, int D, int L,
                                        float *scores, size_t score_stride, cudaStream_t stream)
{
    Params p{};
    p.q = q, p.w = w, p.k = k, p.k_scale = k_scale;
    p.ks = ks, p.ke = ke;
    p.rows = rows, p.H = H, p.L = L;
    p.scores = scores, p.stride = score_stride;
    return launch<Src::fp8>(p, D, stream);
}

extern "C" cudaError_t sl_k_indexer_fp8_paged(const uint8_t *q, const float *w,
                                              const uint8_t *kv_cache, const int32_t *block_table,
                                              int block_table_stride, const int32_t *ks,
                                              const int32_t *ke, int rows, int H, int D, int L,
                                              float *scores, size_t score_stride,
                                              cudaStream_t stream)
{
    Params p{};
    p.q = q, p.w = w, p.k = kv_cache;
    p.block_table = block_table, p.block_table_stride = block_table_stride;
    p.ks = ks, p.ke = ke;
    p.rows = rows, p.H = H, p.L = L;
    p.scores = scores, p.stride = score_stride;
    if (block_table_stride < 0 ||
        (block_table_stride != 0 && block_table_stride < (L + kPage - 1) / kPage))
        return cudaErrorInvalidValue;
    return launch<Src::fp8_paged>(p, D, stream);
}

extern "C" void sl_k_indexer_tune(int keys_per_warp)
{
    g_keys_per_warp = keys_per_warp;
}

extern "C" void sl_k_indexer_tune_wgmma(int variant)
{
    g_wgmma_variant = variant;
}
