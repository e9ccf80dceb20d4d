// block-sum.cuh: a CTA's sum of one value a thread, shared by the kernels
// that reduce a row in one CTA (mla.cu, lightning.cu).
#ifndef SL_BLOCK_SUM_CUH
#define SL_BLOCK_SUM_CUH

// Every thread gets the sum of v over the CTA: the warps' sums in order of
// warp, so that the result does not depend on timing. red holds one T per
// warp; blockDim.x is a multiple of 32.
template <typename T> __device__ T block_sum(T v, T *red)
{
    for (int off = 16; off > 0; off /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, off);
    if (threadIdx.x % 32 == 0)
        red[threadIdx.x / 32] = v;
    __syncthreads();
    T s = 0;
    for (int w = 0; w < (int)blockDim.x / 32; w++)
        s += red[w];
    __syncthreads();
    return s;
}

#endif
