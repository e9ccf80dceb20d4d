// sparse-mla-common.cuh: what sparse-mla.cu's launcher hands to its kernels,
// the mma.sync one there and the wgmma one in sparse-mla-wgmma.cu, and how
// each CTA finds its share of the work.
#ifndef SL_SPARSE_MLA_COMMON_CUH
#define SL_SPARSE_MLA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>
#include <stdint.h>

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

// sparse-mla-wgmma.cu: the BF16 cache on sm_90a, 64 heads a CTA, one CTA per
// (row, head block, split) as the mma.sync kernel; q and kv 16-byte aligned.
// variant 1: each warpgroup scores half of a block's positions; 2: one
// warpgroup scores them all.
cudaError_t sl_sparse_mla_wgmma(const SparseMlaParams &p, int variant, unsigned grid,
                                cudaStream_t stream);

#endif
