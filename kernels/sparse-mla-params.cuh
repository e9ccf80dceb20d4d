// sparse-mla-params.cuh: what sparse-mla.cu's launcher hands to its kernels,
// the mma.sync one there and the wgmma one in sparse-mla-wgmma.cu.
#ifndef SL_SPARSE_MLA_PARAMS_CUH
#define SL_SPARSE_MLA_PARAMS_CUH

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

// sparse-mla-wgmma.cu: the BF16 cache on sm_90a, 64 heads a CTA, one CTA per
// (row, head block, split) as the mma.sync kernel; q and kv 16-byte aligned.
cudaError_t sl_sparse_mla_wgmma(const SparseMlaParams &p, unsigned grid, cudaStream_t stream);

#endif
