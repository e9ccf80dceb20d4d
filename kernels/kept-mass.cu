// kept-mass.cu: the mass a selection keeps, a row's selected scores summed on
// the device, so that DSA's records need not copy whole score rows back.
#include "sightline-kernels.h"

namespace {

// One warp per row.
__global__ void selected_sum(const float *scores, size_t stride, const int32_t *sel, int rows,
                             int k, double *out)
{
    int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= rows)
        return;
    double sum = 0;
    for (int j = lane; j < k; j += 32) {
        int32_t p = sel[(size_t)r * k + j];
        if (p >= 0)
            sum += scores[(size_t)r * stride + p];
    }
    for (int off = 16; off > 0; off /= 2)
        sum += __shfl_xor_sync(0xffffffffu, sum, off);
    if (lane == 0)
        out[r] = sum;
}

} // namespace

extern "C" cudaError_t sl_k_selected_sum(const float *scores, size_t score_stride,
                                         const int32_t *sel, int rows, int k, double *out,
                                         cudaStream_t stream)
{
    if (rows < 0 || k < 0)
        return cudaErrorInvalidValue;
    if (rows == 0)
        return cudaSuccess;
    selected_sum<<<(rows + 3) / 4, 128, 0, stream>>>(scores, score_stride, sel, rows, k, out);
    return cudaGetLastError();
}
