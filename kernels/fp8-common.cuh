// fp8-common.cuh: DeepSeek's e4m3 block quantisation (act_quant with
// scale_fmt "ue8m0", engine/cpu/fp8.c), shared by quant.cu, lightning.cu and
// fp8-cache.cu so that every FP8 value the GPU makes rounds the same way.
#ifndef SL_FP8_COMMON_CUH
#define SL_FP8_COMMON_CUH

#include <cuda_fp8.h>

// The power-of-two scale of a block whose largest magnitude is amax:
// 2^ceil(log2(max(amax, 1e-4) / 448)), exactly (frexp gives m·2^e, m in [½, 1)).
static __device__ __forceinline__ float ue8m0_scale(float amax)
{
    int e;
    float m = frexpf(fmaxf(amax, 1e-4f) / 448.0f, &e);
    return ldexpf(1.0f, m == 0.5f ? e - 1 : e);
}

// x / s as e4m3 (round to nearest even, saturating at ±448).
static __device__ __forceinline__ __nv_fp8_e4m3 e4m3_of(float x, float s)
{
    return __nv_fp8_e4m3(fminf(fmaxf(x / s, -448.0f), 448.0f));
}

// One warp rounds x[0, n) as one block: its amax by a warp reduction, the
// e4m3 bytes of each lane's share into out; every lane gets the scale.
static __device__ __forceinline__ float warp_quant_e4m3(const float *x, int n, uint8_t *out)
{
    int lane = threadIdx.x % 32;
    float amax = 0.0f;
    for (int i = lane; i < n; i += 32)
        amax = fmaxf(amax, fabsf(x[i]));
    for (int off = 16; off > 0; off /= 2)
        amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
    float s = ue8m0_scale(amax);
    for (int i = lane; i < n; i += 32)
        out[i] = e4m3_of(x[i], s).__x;
    return s;
}

// DeepSeek's FP8 MLA cache entry (FlashMLA's 656 bytes at R = 512, rope =
// 64): R e4m3 bytes of the latent, a float32 power-of-two scale per block of
// 128 latent values (the last block may be shorter), the rope part in bf16,
// the entry padded to a multiple of 16 bytes.
__host__ __device__ constexpr int mla_fp8_scales(int R) { return (R + 127) / 128; }

__host__ __device__ constexpr int mla_fp8_rope_offset(int R) { return R + 4 * mla_fp8_scales(R); }

__host__ __device__ constexpr size_t mla_fp8_entry_bytes(int R, int rope)
{
    return ((size_t)mla_fp8_rope_offset(R) + 2 * (size_t)rope + 15) / 16 * 16;
}

#endif
