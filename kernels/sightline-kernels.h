/* sightline-kernels.h: the C launchers of the CUDA kernels in kernels/.
 *
 * Kernels know nothing of models: they take device pointers, sizes and a
 * stream, and return the launch's cudaError_t (cudaSuccess, or why the
 * launch failed: a bad size is cudaErrorInvalidValue before anything runs).
 * Each family is checked against its CPU reference in engine/cpu/ or
 * engine/dsa/ by the gpu test suite (tests/gpu). Layouts are row-major.
 * bf16 is __nv_bfloat16's bits as uint16_t, so that C callers need no CUDA
 * C++ headers. */
#ifndef SIGHTLINE_KERNELS_H
#define SIGHTLINE_KERNELS_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint16_t sl_bf16;

/* ---- quant.cu: conversions and DeepSeek's FP8 block quantisation ---------- */

cudaError_t sl_k_f32_to_bf16(const float *in, sl_bf16 *out, size_t n, cudaStream_t stream);
cudaError_t sl_k_bf16_to_f32(const sl_bf16 *in, float *out, size_t n, cudaStream_t stream);
/* Per block of `block` consecutive values (n a multiple of block): the
 * power-of-two scale s = 2^ceil(log2(max(amax, 1e-4) / 448)) and the e4m3
 * bytes of x / s (round to nearest even, saturating at ±448), as DeepSeek's
 * act_quant with scale_fmt "ue8m0" (engine/cpu/fp8.c). */
cudaError_t sl_k_quant_e4m3(const float *in, uint8_t *out, float *scales, size_t n, int block,
                            cudaStream_t stream);

/* ---- sparse-mla.cu: DeepSeek sparse attention in MLA's MQA mode ----------
 *
 * FlashMLA's sparse kernels (flash_mla_sparse_fwd, and flash_mla_with_kvcache
 * with indices): T query rows, each of H heads (any H ≥ 1; H a multiple of
 * 64 wastes nothing) and its own topk cache positions, over one shared cache
 * of S positions.
 *   q       [T][H][576] bf16: 512 latent (W_UK-absorbed q_nope) ‖ 64 rope
 *   kv      [S][576] bf16 (sl_k_sparse_mla_bf16): key = all 576 values,
 *           value = the first 512
 *   kv656   [S][656 bytes] (sl_k_sparse_mla_fp8), DeepSeek's FP8 cache entry:
 *           512 e4m3 bytes of the latent, 4 float32 scales (one per 128
 *           latent values, powers of two), 64 bf16 rope values; latent value
 *           d is e4m3[d] · scale[d / 128], dequantised to bf16 (exactly) on
 *           the fly; 16-byte aligned
 *   indices [T][topk] int32: positions into the cache; −1, any negative or
 *           any ≥ S is invalid and skipped. Indices should be distinct (a
 *           repeated one counts twice, as in FlashMLA).
 *   out     [T][H][512] bf16: Σ_j softmax_j(scale · q·k_j) · v_j over the
 *           row's valid positions, fp32 accumulation; zeros for a row with no
 *           valid position
 *   lse     [T][H] float32: the natural-log log-sum-exp of scale · q·k_j
 *           (FlashMLA's is base 2: divide by ln 2); −inf for a row with none
 * scale is the softmax scale, given (DeepSeek-V3.2: 0.135234, YaRN's
 * 192^-0.5 · mscale², not 576^-0.5).
 *
 * One launcher per cache format serves both prefill (many rows) and decode
 * (T = a batch of single tokens): where T·⌈H/64⌉ CTAs would not fill the
 * GPU, each row's topk range is split across CTAs (split-KV) whose partial
 * results go to the workspace and are combined by a second kernel. The
 * workspace (device memory, sl_k_sparse_mla_workspace(T, H, topk) bytes for
 * the current device, 0 when no split pays) may be NULL or smaller: the
 * split is then cut to fit, down to none. Stream-ordered; workspace must not
 * be shared by launches that may run at the same time. */
size_t sl_k_sparse_mla_workspace(int T, int H, int topk);
cudaError_t sl_k_sparse_mla_bf16(const sl_bf16 *q, const sl_bf16 *kv, const int32_t *indices, int T,
                                 int H, int S, int topk, float scale, sl_bf16 *out, float *lse,
                                 void *workspace, size_t workspace_bytes, cudaStream_t stream);
cudaError_t sl_k_sparse_mla_fp8(const sl_bf16 *q, const uint8_t *kv656, const int32_t *indices, int T,
                                int H, int S, int topk, float scale, sl_bf16 *out, float *lse,
                                void *workspace, size_t workspace_bytes, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
