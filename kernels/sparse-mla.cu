// sparse-mla.cu: DeepSeek sparse attention in MLA's MQA mode (FlashMLA's
// sparse kernels): each query row t has H heads of 576 (512 latent ‖ 64 rope)
// and attends to the topk cache positions indices[t, :], one shared 576-wide
// key per position whose first 512 values are also its value.
//
// One CTA takes 64 heads of one row (a range of its topk blocks when split),
// 8 warps. Per block of 64 selected positions, the 64 keys are gathered into
// shared memory once (cp.async, zero-filled where the index is invalid; for
// the FP8 cache the raw 656-byte entries, then dequantised to bf16 in shared
// memory), and all 64 heads use them:
//   QK: the 8 warps form 2 groups of 4, each group 32 heads; warp w of a
//       group computes the scores of its 32 heads against positions
//       16w … 16w+15 (mma.sync m16n8k16 bf16, fp32 accumulators, Q and K
//       from shared memory by ldmatrix); the group's warps swap their row
//       maxima through shared memory, so that all run the same online
//       softmax (base 2), and write their part of P (bf16) to shared memory;
//   PV: the same warp accumulates O for its 32 heads and value columns
//       128w … 128w+127 (128 fp32 registers a thread) from P and V (ldmatrix
//       .trans), so that each value tile read serves 32 heads.
// Rows of 1152 bytes (and P's rows of 128) are stored with their 16-byte
// chunks XOR-swizzled by row % 8, so that ldmatrix's 8 rows hit 8 bank
// groups. With split-KV the partial results (normalised O and lse) go to the
// workspace and a second kernel combines them. On sm_90 the launcher hands
// both caches to the wgmma kernel of sparse-mla-wgmma.cu instead; this one
// serves other GPUs (sl_k_sparse_mla_tune_wgmma chooses for tests).
#include "sightline-kernels.h"
#include "device.cuh"
#include "sparse-mla-common.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <math.h>

namespace {


constexpr int D_QK = 576, D_V = 512;
constexpr int HB = 64;       // heads per CTA
constexpr int BK = 64;       // positions per block
static_assert(BK == 64, "sparse_mla_index counts blocks of 64");
constexpr int THREADS = 256; // 8 warps
constexpr int ROW_BYTES = D_QK * 2;
constexpr int FP8_ROW = SPARSE_MLA_FP8_ROW;
constexpr int MAX_SPLITS = 64;

constexpr size_t smem_bytes(bool fp8)
{
    return (size_t)HB * ROW_BYTES                         // Q
           + (size_t)(fp8 ? 1 : 2) * BK * ROW_BYTES       // K/V, bf16
           + (fp8 ? (size_t)BK * FP8_ROW : 0)             // raw FP8 entries
           + (size_t)HB * BK * 2                          // P
           + 3 * BK * sizeof(int)                         // indices, 3 blocks
           + 2 * 4 * HB * sizeof(float);                  // row maxima, sums (W ≤ 4)
}

using Params = SparseMlaParams;

// Byte offset of 16-byte chunk c of row r in a swizzled 1152-byte-row tile.
__device__ __forceinline__ uint32_t swz(int r, int c)
{
    return (uint32_t)(r * ROW_BYTES + ((c ^ (r & 7)) << 4));
}

// The same in P's 128-byte rows.
__device__ __forceinline__ uint32_t swz_p(int r, int c)
{
    return (uint32_t)(r * (BK * 2) + ((c ^ (r & 7)) << 4));
}

// The warps of head group `group` (barrier 1 + group, `threads` threads).
__device__ __forceinline__ void group_sync(int group, int threads)
{
    asm volatile("bar.sync %0, %1;\n" ::"r"(1 + group), "r"(threads) : "memory");
}

// W warps share a group of 64·W/8 heads: in QK each takes BK/W positions of
// them, in PV 512/W value columns; they swap row maxima and sums through
// shared memory at a barrier of the group. W = 4 is used; W = 2 (pairs of
// warps, 16 heads a group) is correct too and measured 8% slower.
template <bool FP8, int W>
__global__ void __launch_bounds__(THREADS, 1) sparse_mla(const Params p)
{
    constexpr int G = THREADS / 32 / W; // head groups
    constexpr int GH = HB / G;          // heads of a group: 16 (W = 2) or 32 (W = 4)
    constexpr int MT = GH / 16;         // m16 tiles a warp
    constexpr int NQ = BK / W / 8;      // n8 tiles of positions a warp (QK)
    constexpr int NV = D_V / W / 8;     // n8 tiles of value columns a warp (PV)
    static_assert(MT * NV * 4 == 128 && MT * NQ * 4 == 16 && NQ % 2 == 0, "tiling");

    extern __shared__ __align__(128) uint8_t smem[];
    uint8_t *s_q = smem;
    uint8_t *s_kv = s_q + HB * ROW_BYTES;
    uint8_t *s_raw = s_kv + (FP8 ? 1 : 2) * BK * ROW_BYTES;
    uint8_t *s_p = s_raw + (FP8 ? BK * FP8_ROW : 0);
    int *s_idx = reinterpret_cast<int *>(s_p + HB * BK * 2); // [3][BK]
    float *s_max = reinterpret_cast<float *>(s_idx + 3 * BK); // [W][HB]
    float *s_sum = s_max + W * HB;                            // [W][HB]

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int gi = warp % G, wi = warp / G; // group, warp within the group
    const int g = lane >> 2, tq = lane & 3;

    const SparseMlaWork work = sparse_mla_work(p, HB);
    const int t = work.t, split = work.split, h0 = work.h0;
    const int b_begin = work.b_begin, b_end = work.b_end;
    // Index of position tid of block b, -1 where invalid (tid < BK only).
    auto load_index = [&](int b) { return sparse_mla_index(p, work, b, tid); };
    // Gathers the block whose indices are in slot into shared memory (one
    // commit group); invalid positions read as zeros.
    auto gather = [&](int slot, int buf) {
        const int *ids = s_idx + slot * BK;
        sparse_mla_gather<FP8>(p, ids, smem_addr(FP8 ? s_raw : s_kv + buf * BK * ROW_BYTES), swz,
                               tid, THREADS);
    };

    int next_idx =
        sparse_mla_prologue(p, work, HB, s_idx, smem_addr(s_q), swz, gather, tid, THREADS);

    float o[MT][NV][4];
#pragma unroll
    for (int mi = 0; mi < MT; mi++)
#pragma unroll
        for (int n = 0; n < NV; n++)
            o[mi][n][0] = o[mi][n][1] = o[mi][n][2] = o[mi][n][3] = 0.0f;
    // This thread's rows (heads within the CTA): row(mi, i) = rbase + 16 mi + 8 i.
    const int rbase = gi * GH + g;
    float m_run[2 * MT], l_run[2 * MT];
#pragma unroll
    for (int r = 0; r < 2 * MT; r++)
        m_run[r] = -INFINITY, l_run[r] = 0.0f;
    const int a_row = gi * GH + (lane & 15), a_half = lane >> 4;
    const int b_row = wi * (BK / W) + (lane & 7) + ((lane >> 4) << 3), b_half = (lane >> 3) & 1;
    const int v_row = (lane & 7) + (((lane >> 3) & 1) << 3), v_half = lane >> 4;

    for (int b = b_begin, it = 0; b < b_end; b++, it++) {
        const int slot = it % 3, nslot = (it + 1) % 3;
        // The indices of block b + 1 (loaded one step ago) go to their slot,
        // whose last readers (block b − 2) are all past the barrier below.
        if (tid < BK) {
            s_idx[nslot * BK + tid] = next_idx;
            next_idx = load_index(b + 2);
        }
        cp_async_wait_all();
        const int any = __syncthreads_or(tid < BK && s_idx[slot * BK + tid] >= 0);
        const uint8_t *kvb;
        if (FP8) {
            if (any) {
                // raw → bf16, into the swizzled rows the warps read
                sparse_mla_dequant(s_raw, smem_addr(s_kv), swz, tid, THREADS);
                __syncthreads();
            }
            if (b + 1 < b_end)
                gather(nslot, 0);
            kvb = s_kv;
        } else {
            if (b + 1 < b_end)
                gather(nslot, (it + 1) & 1);
            kvb = s_kv + (it & 1) * BK * ROW_BYTES;
        }
        if (!any)
            continue;

        // ---- S = Q Kᵀ: GH heads × BK/W positions a warp
        float s[MT][NQ][4];
#pragma unroll
        for (int mi = 0; mi < MT; mi++)
#pragma unroll
            for (int n = 0; n < NQ; n++)
                s[mi][n][0] = s[mi][n][1] = s[mi][n][2] = s[mi][n][3] = 0.0f;
        const uint32_t q0 = smem_addr(s_q), k0 = smem_addr(kvb);
#pragma unroll 4
        for (int kk = 0; kk < D_QK / 16; kk++) {
            uint32_t a[MT][4];
#pragma unroll
            for (int mi = 0; mi < MT; mi++)
                ldsm_x4(q0 + swz(a_row + 16 * mi, kk * 2 + a_half), a[mi]);
#pragma unroll
            for (int n2 = 0; n2 < NQ / 2; n2++) {
                uint32_t kb[4];
                ldsm_x4(k0 + swz(b_row + 16 * n2, kk * 2 + b_half), kb);
#pragma unroll
                for (int mi = 0; mi < MT; mi++) {
                    mma_bf16(s[mi][2 * n2], a[mi], kb[0], kb[1]);
                    mma_bf16(s[mi][2 * n2 + 1], a[mi], kb[2], kb[3]);
                }
            }
        }

        // ---- online softmax (base 2) over the block, shared by the group
        const int *ids = s_idx + slot * BK;
        float bmax[2 * MT];
#pragma unroll
        for (int r = 0; r < 2 * MT; r++)
            bmax[r] = -INFINITY;
#pragma unroll
        for (int n = 0; n < NQ; n++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const bool valid = ids[wi * (BK / W) + n * 8 + 2 * tq + e] >= 0;
#pragma unroll
                for (int mi = 0; mi < MT; mi++)
#pragma unroll
                    for (int i = 0; i < 2; i++) {
                        float &x = s[mi][n][2 * i + e];
                        x = valid ? x * p.scale_log2 : -INFINITY;
                        bmax[2 * mi + i] = fmaxf(bmax[2 * mi + i], x);
                    }
            }
#pragma unroll
        for (int r = 0; r < 2 * MT; r++) {
            bmax[r] = fmaxf(bmax[r], __shfl_xor_sync(0xffffffffu, bmax[r], 1));
            bmax[r] = fmaxf(bmax[r], __shfl_xor_sync(0xffffffffu, bmax[r], 2));
            if (tq == 0)
                s_max[wi * HB + rbase + 8 * r] = bmax[r]; // 8r = 16 mi + 8 i
        }
        group_sync(gi, W * 32);
        float alpha[2 * MT], m_use[2 * MT];
#pragma unroll
        for (int r = 0; r < 2 * MT; r++) {
            float m_new = m_run[r];
#pragma unroll
            for (int w = 0; w < W; w++)
                m_new = fmaxf(m_new, s_max[w * HB + rbase + 8 * r]);
            m_use[r] = m_new == -INFINITY ? 0.0f : m_new;
            alpha[r] = exp2f(m_run[r] - m_use[r]);
            m_run[r] = m_new;
        }
#pragma unroll
        for (int mi = 0; mi < MT; mi++) {
            float rsum[2] = {0.0f, 0.0f};
#pragma unroll
            for (int n = 0; n < NQ; n++) {
                float p0 = exp2f(s[mi][n][0] - m_use[2 * mi]), p1 = exp2f(s[mi][n][1] - m_use[2 * mi]);
                float p2 = exp2f(s[mi][n][2] - m_use[2 * mi + 1]), p3 = exp2f(s[mi][n][3] - m_use[2 * mi + 1]);
                rsum[0] += p0 + p1;
                rsum[1] += p2 + p3;
                const int c = wi * NQ + n, r = rbase + 16 * mi;
                *reinterpret_cast<__nv_bfloat162 *>(s_p + swz_p(r, c) + tq * 4) = __floats2bfloat162_rn(p0, p1);
                *reinterpret_cast<__nv_bfloat162 *>(s_p + swz_p(r + 8, c) + tq * 4) = __floats2bfloat162_rn(p2, p3);
            }
#pragma unroll
            for (int i = 0; i < 2; i++)
                l_run[2 * mi + i] = l_run[2 * mi + i] * alpha[2 * mi + i] + rsum[i];
#pragma unroll
            for (int n = 0; n < NV; n++) {
                o[mi][n][0] *= alpha[2 * mi];
                o[mi][n][1] *= alpha[2 * mi];
                o[mi][n][2] *= alpha[2 * mi + 1];
                o[mi][n][3] *= alpha[2 * mi + 1];
            }
        }
        group_sync(gi, W * 32);

        // ---- O += P V: GH heads × 512/W value columns a warp
        const uint32_t p0 = smem_addr(s_p);
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
            uint32_t a[MT][4];
#pragma unroll
            for (int mi = 0; mi < MT; mi++)
                ldsm_x4(p0 + swz_p(a_row + 16 * mi, kk * 2 + a_half), a[mi]);
#pragma unroll
            for (int n2 = 0; n2 < NV / 2; n2++) {
                uint32_t v[4];
                ldsm_x4_t(k0 + swz(kk * 16 + v_row, wi * NV + n2 * 2 + v_half), v);
#pragma unroll
                for (int mi = 0; mi < MT; mi++) {
                    mma_bf16(o[mi][2 * n2], a[mi], v[0], v[1]);
                    mma_bf16(o[mi][2 * n2 + 1], a[mi], v[2], v[3]);
                }
            }
        }
    }
    cp_async_wait_all();

    // ---- the row sums of the group's warps, then out and lse
#pragma unroll
    for (int r = 0; r < 2 * MT; r++) {
        l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 1);
        l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 2);
        if (tq == 0)
            s_sum[wi * HB + rbase + 8 * r] = l_run[r];
    }
    group_sync(gi, W * 32);
    const size_t rows = (size_t)p.T * p.H;
#pragma unroll
    for (int mi = 0; mi < MT; mi++)
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const int r = 2 * mi + i, h = h0 + rbase + 8 * r;
            if (h >= p.H)
                continue;
            float l = 0.0f;
#pragma unroll
            for (int w = 0; w < W; w++)
                l += s_sum[w * HB + rbase + 8 * r];
            const float inv = l > 0.0f ? 1.0f / l : 0.0f;
            const float lse = l > 0.0f ? (m_run[r] + log2f(l)) * 0.69314718055994531f : -INFINITY;
            const size_t row = (size_t)t * p.H + h;
            const int col = wi * (D_V / W) + 2 * tq;
            if (p.splits == 1) {
                __nv_bfloat16 *dst = p.out + row * D_V + col;
#pragma unroll
                for (int n = 0; n < NV; n++)
                    *reinterpret_cast<__nv_bfloat162 *>(dst + n * 8) =
                        __floats2bfloat162_rn(o[mi][n][2 * i] * inv, o[mi][n][2 * i + 1] * inv);
                if (wi == 0 && tq == 0)
                    p.lse[row] = lse;
            } else {
                float *dst = p.o_part + ((size_t)split * rows + row) * D_V + col;
#pragma unroll
                for (int n = 0; n < NV; n++)
                    *reinterpret_cast<float2 *>(dst + n * 8) =
                        make_float2(o[mi][n][2 * i] * inv, o[mi][n][2 * i + 1] * inv);
                if (wi == 0 && tq == 0)
                    p.lse_part[(size_t)split * rows + row] = lse;
            }
        }
}

// One CTA of 128 threads per (row, head): out = Σ_s e^(lse_s − lse) · o_s.
__global__ void __launch_bounds__(128) combine(const float *o_part, const float *lse_part, int splits,
                                               size_t rows, __nv_bfloat16 *out, float *lse)
{
    const size_t row = blockIdx.x;
    float mx = -INFINITY;
    for (int s = 0; s < splits; s++)
        mx = fmaxf(mx, lse_part[s * rows + row]);
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    float sum = 0.0f;
    if (mx != -INFINITY) {
        for (int s = 0; s < splits; s++) {
            float w = expf(lse_part[s * rows + row] - mx);
            if (w == 0.0f)
                continue;
            float4 v = reinterpret_cast<const float4 *>(o_part + (s * rows + row) * D_V)[threadIdx.x];
            sum += w;
            acc.x += w * v.x, acc.y += w * v.y, acc.z += w * v.z, acc.w += w * v.w;
        }
    }
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    __nv_bfloat162 *dst = reinterpret_cast<__nv_bfloat162 *>(out + row * D_V) + 2 * threadIdx.x;
    dst[0] = __floats2bfloat162_rn(acc.x * inv, acc.y * inv);
    dst[1] = __floats2bfloat162_rn(acc.z * inv, acc.w * inv);
    if (threadIdx.x == 0)
        lse[row] = sum > 0.0f ? mx + logf(sum) : -INFINITY;
}

struct Plan {
    int hblocks, nblocks, splits, blocks_per_split;
};

// Splits of the topk range so that a small batch still fills the GPU; capped
// by the workspace (max_bytes; SIZE_MAX to ask what it would take).
Plan plan(int T, int H, int topk, size_t max_bytes)
{
    Plan pl;
    pl.hblocks = (H + HB - 1) / HB;
    pl.nblocks = (topk + BK - 1) / BK;
    pl.splits = 1;
    int dev = 0, sms = 132;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
        sms = 132;
    const long long ctas = (long long)T * pl.hblocks;
    if (pl.nblocks > 1 && ctas > 0 && ctas < sms) {
        long long want = (sms + ctas - 1) / ctas;
        if (want > pl.nblocks)
            want = pl.nblocks;
        if (want > MAX_SPLITS)
            want = MAX_SPLITS;
        const size_t per_split = (size_t)T * (size_t)H * (D_V + 1) * sizeof(float);
        if (per_split > 0 && (size_t)want > max_bytes / per_split)
            want = (long long)(max_bytes / per_split);
        pl.splits = want > 1 ? (int)want : 1;
    }
    pl.blocks_per_split = pl.nblocks > 0 ? (pl.nblocks + pl.splits - 1) / pl.splits : 1;
    if (pl.nblocks > 0)
        pl.splits = (pl.nblocks + pl.blocks_per_split - 1) / pl.blocks_per_split;
    return pl;
}

int g_wgmma = 0; // sl_k_sparse_mla_tune_wgmma

// The wgmma kernel (sparse-mla-wgmma.cu) takes both caches on sm_90 with
// 16-byte aligned q and kv. By default: the warp-specialised variant 3 for
// the BF16 cache where a CTA has blocks enough to pipeline (1.7-1.9x variant
// 2 in prefill), variant 2 otherwise (8% faster than 1); kernels/README.md.
constexpr int kWsMinBlocks = 4;

int default_variant(bool fp8, int blocks_per_cta)
{
    return !fp8 && blocks_per_cta >= kWsMinBlocks ? 3 : 2;
}

// The wgmma variant to run, 0 for the mma.sync kernel.
int wgmma_variant(const void *q, const void *kv, bool fp8, int blocks_per_cta)
{
    int wanted = g_wgmma > 0 ? g_wgmma : g_wgmma == 0 ? default_variant(fp8, blocks_per_cta) : 0;
    if (!wanted || (uintptr_t)q % 16 || (uintptr_t)kv % 16)
        return 0;
    return sl_device_is_sm90() ? wanted : 0; // asked last: nothing is asked where not wanted
}

template <bool FP8>
cudaError_t launch(const sl_bf16 *q, const void *kv, const int32_t *indices, int T, int H, int S, int topk,
                   float scale, sl_bf16 *out, float *lse, void *workspace, size_t workspace_bytes,
                   cudaStream_t stream)
{
    if (T < 0 || H <= 0 || S < 0 || topk < 0 || !(scale > 0.0f) || !q || !out || !lse ||
        (T > 0 && topk > 0 && (!kv || !indices)))
        return cudaErrorInvalidValue;
    if ((long long)T * H > 0x7fffffffLL)
        return cudaErrorInvalidValue;
    if (T == 0)
        return cudaSuccess;
    Plan pl = plan(T, H, topk, workspace ? workspace_bytes : 0);
    const long long grid = (long long)T * pl.hblocks * pl.splits;
    if (grid > 0x7fffffffLL)
        return cudaErrorInvalidValue;
    const size_t rows = (size_t)T * H;
    Params p;
    p.q = reinterpret_cast<const __nv_bfloat16 *>(q);
    p.kv = static_cast<const uint8_t *>(kv);
    p.indices = indices;
    p.T = T, p.H = H, p.S = S, p.topk = topk;
    p.scale_log2 = scale * 1.4426950408889634f;
    p.hblocks = pl.hblocks, p.splits = pl.splits;
    p.blocks_per_split = pl.blocks_per_split, p.nblocks = pl.nblocks;
    p.out = reinterpret_cast<__nv_bfloat16 *>(out);
    p.lse = lse;
    p.o_part = static_cast<float *>(workspace);
    p.lse_part = pl.splits > 1 ? p.o_part + (size_t)pl.splits * rows * D_V : nullptr;
    cudaError_t e;
    if (int variant = wgmma_variant(q, kv, FP8, pl.blocks_per_split)) {
        e = sl_sparse_mla_wgmma(p, variant, FP8, (unsigned)grid, stream);
    } else {
        // Groups of 4 warps (32 heads): 8% faster than pairs (16 heads) in
        // prefill and decode alike (kernels/README.md).
        void (*kernel)(Params) = sparse_mla<FP8, 4>;
        const size_t smem = smem_bytes(FP8);
        e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess)
            return e;
        kernel<<<(unsigned)grid, THREADS, smem, stream>>>(p);
        e = cudaGetLastError();
    }
    if (e != cudaSuccess || pl.splits == 1)
        return e;
    combine<<<(unsigned)rows, 128, 0, stream>>>(p.o_part, p.lse_part, pl.splits, rows, p.out, lse);
    return cudaGetLastError();
}

} // namespace

extern "C" size_t sl_k_sparse_mla_workspace(int T, int H, int topk)
{
    if (T <= 0 || H <= 0 || topk <= 0)
        return 0;
    Plan pl = plan(T, H, topk, SIZE_MAX);
    return pl.splits > 1 ? (size_t)pl.splits * T * H * (D_V + 1) * sizeof(float) : 0;
}

extern "C" cudaError_t sl_k_sparse_mla_bf16(const sl_bf16 *q, const sl_bf16 *kv, const int32_t *indices, int T,
                                            int H, int S, int topk, float scale, sl_bf16 *out, float *lse,
                                            void *workspace, size_t workspace_bytes, cudaStream_t stream)
{
    return launch<false>(q, kv, indices, T, H, S, topk, scale, out, lse, workspace, workspace_bytes, stream);
}

extern "C" cudaError_t sl_k_sparse_mla_fp8(const sl_bf16 *q, const uint8_t *kv656, const int32_t *indices, int T,
                                           int H, int S, int topk, float scale, sl_bf16 *out, float *lse,
                                           void *workspace, size_t workspace_bytes, cudaStream_t stream)
{
    return launch<true>(q, kv656, indices, T, H, S, topk, scale, out, lse, workspace, workspace_bytes, stream);
}

extern "C" void sl_k_sparse_mla_tune_wgmma(int mode)
{
    g_wgmma = mode;
}
