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

/* x[i] ·= s[i / group]: folds per-group scales into values (DeepSeek's
 * indexer folds each query head's FP8 scale into that head's weight). */
cudaError_t sl_k_scale_groups(float *x, const float *s, size_t n, int group, cudaStream_t stream);

/* ---- fill.cu: pseudo-random buffers for tests and benchmarks -------------- */

/* Uniform in [-scale, scale), a hash of (seed, index): reproducible. */
cudaError_t sl_k_fill_bf16(sl_bf16 *p, size_t n, uint64_t seed, float scale, cudaStream_t stream);
cudaError_t sl_k_fill_f32(float *p, size_t n, uint64_t seed, float scale, cudaStream_t stream);
/* Any finite e4m3 byte (never NaN). */
cudaError_t sl_k_fill_e4m3(uint8_t *p, size_t n, uint64_t seed, cudaStream_t stream);
/* DeepSeek's 656-byte MLA cache entries: random e4m3 latent, power-of-two
 * scales 2^-2 … 2^-9, rope in [-1, 1). */
cudaError_t sl_k_fill_kv656(uint8_t *p, size_t entries, uint64_t seed, cudaStream_t stream);

/* ---- topk.cu: exact top-k over rows of scores (DSA's selection) ----------- */

/* For each of `rows` rows of float32 scores (row r at scores + r·row_stride,
 * row_stride >= L when rows > 1), the k best of its first n_r positions,
 * n_r = row_len[r] clamped to [0, L] (row_len NULL: n_r = L; causal rows
 * pass t + 1), ranked exactly as engine/dsa/topk.c ranks: a higher score
 * first, equal scores the lower position first, +inf highest, -inf the
 * lowest number, -0 equal to +0, NaN below everything (selected only when
 * fewer than k non-NaN). out is rows × k int32: row r's min(k, n_r)
 * positions in increasing order, then -1 up to k. Exact and deterministic
 * for any k >= 0, L <= 2^30 and any number of equal scores: a radix select
 * over a 32-bit rank key, bounded by shared memory and the workspace (no
 * candidate buffer that can overflow). One CTA per row; when few long rows
 * would leave the GPU idle, sl_k_topk_workspace(rows, L, k) is non-zero
 * (about 8 KiB per row) and a workspace of that many bytes (4-byte
 * aligned, contents ignored) lets each row spread over several CTAs; with
 * a NULL or smaller one the one-CTA-per-row path runs, slower there but
 * the same result. Enqueues its kernels on stream;
 * cudaErrorInvalidValue for bad sizes. */
cudaError_t sl_k_topk(const float *scores, size_t row_stride, const int32_t *row_len, int rows,
                      int L, int k, int32_t *out, void *workspace, size_t workspace_bytes,
                      cudaStream_t stream);
size_t sl_k_topk_workspace(int rows, int L, int k);

#ifdef __cplusplus
}
#endif

#endif
