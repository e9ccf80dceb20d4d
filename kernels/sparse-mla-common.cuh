// sparse-mla-common.cuh: what sparse-mla.cu's launcher hands to its kernels,
// the mma.sync one there and the wgmma one in sparse-mla-wgmma.cu, and how
// each CTA finds its share of the work.
#ifndef SL_SPARSE_MLA_COMMON_CUH
#define SL_SPARSE_MLA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime_api.h>
#include <stdint.h>

#include "fp8-common.cuh"
#include "mma-ptx.cuh" // cp.async; both kernel files take it from here

// DeepSeek's FP8 cache entry at V3.2's dims (mla.cu writes it): 512 e4m3 |
// 4 float32 scales | 64 bf16 (rope).
constexpr int SPARSE_MLA_FP8_ROW = (int)mla_fp8_entry_bytes(512, 64);
static_assert(SPARSE_MLA_FP8_ROW == 656 && mla_fp8_rope_offset(512) == 512 + 16,
              "FlashMLA's FP8 entry");

struct SparseMlaParams {
    const __nv_bfloat16 *q;
    const uint8_t *kv; // bf16 rows of 1152 bytes, or FP8 entries of 656
    const int32_t *indices;
    int T, H, S, topk;
    float scale_log2; // softmax scale · log2(e)
    int hblocks, splits, blocks_per_split, nblocks;
    __nv_bfloat16 *out;
    float *lse;
    float *o_part;   // splits × T·H × 512 (normalised partial outputs)
    float *lse_part; // splits × T·H
};

// One CTA's share: `heads` heads of row t from h0, and blocks [b_begin, b_end)
// of 64 of the row's topk positions (one split of them).
struct SparseMlaWork {
    int t, h0, split, b_begin, b_end;
    const int32_t *row_idx; // the row's topk indices
};

static __device__ __forceinline__ SparseMlaWork sparse_mla_work(const SparseMlaParams &p, int heads)
{
    SparseMlaWork w;
    int bid = blockIdx.x;
    w.h0 = bid % p.hblocks * heads;
    bid /= p.hblocks;
    w.split = bid % p.splits;
    w.t = bid / p.splits;
    w.b_begin = w.split * p.blocks_per_split;
    w.b_end = min(p.nblocks, w.b_begin + p.blocks_per_split);
    w.row_idx = p.indices + (size_t)w.t * p.topk;
    return w;
}

// The cache position of entry i (< 64) of block b of the CTA's row, -1
// where it is invalid or past the CTA's blocks.
static __device__ __forceinline__ int sparse_mla_index(const SparseMlaParams &p,
                                                       const SparseMlaWork &w, int b, int i)
{
    int j = b * 64 + i;
    if (b >= w.b_end || j >= p.topk)
        return -1;
    int v = __ldg(w.row_idx + j);
    return v >= 0 && v < p.S ? v : -1;
}

static __device__ __forceinline__ uint32_t sparse_mla_e4m3x2_to_bf16x2(uint32_t two, float scale)
{
    __half2_raw h = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)two, __NV_E4M3);
    float2 f = __half22float2(__half2(h));
    __nv_bfloat162 b = __floats2bfloat162_rn(f.x * scale, f.y * scale);
    return *reinterpret_cast<uint32_t *>(&b);
}

// 64 raw FP8 entries (raw, rows of 656 bytes) as bf16 rows of 576 values in
// shared memory: 16-byte chunk c (of 72) of row r at dst0 + at(r, c). The
// threads [0, threads) share the work.
template <class At>
static __device__ __forceinline__ void sparse_mla_dequant(const uint8_t *raw, uint32_t dst0, At at,
                                                          int tid, int threads)
{
    for (int u = tid; u < 64 * 64; u += threads) { // 64 chunks of 8 latent values a row
        int r = u >> 6, c = u & 63;
        const uint8_t *e = raw + r * SPARSE_MLA_FP8_ROW;
        uint2 v = *reinterpret_cast<const uint2 *>(e + c * 8);
        float sc = *reinterpret_cast<const float *>(e + 512 + (c >> 4) * 4);
        uint4 w;
        w.x = sparse_mla_e4m3x2_to_bf16x2(v.x & 0xffffu, sc);
        w.y = sparse_mla_e4m3x2_to_bf16x2(v.x >> 16, sc);
        w.z = sparse_mla_e4m3x2_to_bf16x2(v.y & 0xffffu, sc);
        w.w = sparse_mla_e4m3x2_to_bf16x2(v.y >> 16, sc);
        asm volatile("st.shared.v4.b32 [%0], {%1,%2,%3,%4};\n" ::"r"(dst0 + at(r, c)), "r"(w.x),
                     "r"(w.y), "r"(w.z), "r"(w.w)
                     : "memory");
    }
    for (int u = tid; u < 64 * 8; u += threads) { // the rope, bf16 already
        int r = u >> 3, c = u & 7;
        uint4 w = *reinterpret_cast<const uint4 *>(raw + r * SPARSE_MLA_FP8_ROW + 512 + 16 + c * 16);
        asm volatile("st.shared.v4.b32 [%0], {%1,%2,%3,%4};\n" ::"r"(dst0 + at(r, 64 + c)),
                     "r"(w.x), "r"(w.y), "r"(w.z), "r"(w.w)
                     : "memory");
    }
}

// The block's 64 cache rows at positions ids[0, 64) into shared memory by
// cp.async (one commit group), invalid positions as zeros: FP8 entries raw
// at dst0 + r·656, BF16 rows' 16-byte chunk c (of 72) at dst0 + at(r, c).
template <bool FP8, class At>
static __device__ __forceinline__ void sparse_mla_gather(const SparseMlaParams &p, const int *ids,
                                                         uint32_t dst0, At at, int tid, int threads)
{
    constexpr int row_bytes = FP8 ? SPARSE_MLA_FP8_ROW : 576 * 2, chunks = row_bytes / 16;
    for (int i = tid; i < 64 * chunks; i += threads) {
        int r = i / chunks, c = i - r * chunks, id = ids[r];
        const uint8_t *src = p.kv + (size_t)(id < 0 ? 0 : id) * row_bytes + c * 16;
        cp_async16(dst0 + (FP8 ? r * SPARSE_MLA_FP8_ROW + c * 16 : at(r, c)), src, id >= 0);
    }
    cp_async_commit();
}

// q of the CTA's `heads` heads of its row (heads past H as zeros): 16-byte
// chunk c (of 72) of head r at dst0 + at(r, c), by cp.async, not committed.
template <class At>
static __device__ __forceinline__ void sparse_mla_load_q(const SparseMlaParams &p,
                                                         const SparseMlaWork &w, int heads,
                                                         uint32_t dst0, At at, int tid, int threads)
{
    for (int i = tid; i < heads * 72; i += threads) {
        int r = i / 72, c = i - r * 72, h = w.h0 + r;
        const __nv_bfloat16 *src = p.q + ((size_t)w.t * p.H + (h < p.H ? h : 0)) * 576 + c * 8;
        cp_async16(dst0 + at(r, c), src, h < p.H);
    }
}

// What both kernels do before their loop: the indices of the CTA's first
// block into s_idx (slot 0), q (sparse_mla_load_q), and the first block's
// gather(slot, buffer) (an empty commit group where the CTA has none).
// Returns the indices of the second block, loaded ahead (threads tid < 64).
template <class At, class Gather>
static __device__ __forceinline__ int sparse_mla_prologue(const SparseMlaParams &p,
                                                          const SparseMlaWork &w, int heads,
                                                          int *s_idx, uint32_t q_dst, At at,
                                                          Gather gather, int tid, int threads)
{
    int next_idx = -1;
    if (tid < 64) {
        s_idx[tid] = sparse_mla_index(p, w, w.b_begin, tid);
        next_idx = sparse_mla_index(p, w, w.b_begin + 1, tid);
    }
    sparse_mla_load_q(p, w, heads, q_dst, at, tid, threads);
    __syncthreads();
    if (w.b_begin < w.b_end)
        gather(0, 0);
    else
        cp_async_commit();
    return next_idx;
}

// sparse-mla-wgmma.cu: sm_90a, 64 heads a CTA, one CTA per
// (row, head block, split) as the mma.sync kernel; q and kv 16-byte aligned;
// fp8: the cache in DeepSeek's FP8 entries. variant 1: each warpgroup scores
// half of a block's positions; 2: one warpgroup scores them all; 3: a
// producer warpgroup and two consumers on alternate blocks (BF16 only; the
// FP8 cache runs 2).
cudaError_t sl_sparse_mla_wgmma(const SparseMlaParams &p, int variant, bool fp8, unsigned grid,
                                cudaStream_t stream);

#endif
