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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint16_t sl_bf16;

/* ---- quant.cu: conversions and DeepSeek's FP8 block quantisation ---------- */

cudaError_t sl_k_f32_to_bf16(const float *in, sl_bf16 *out, size_t n, cudaStream_t stream);
cudaError_t sl_k_bf16_to_f32(const sl_bf16 *in, float *out, size_t n, cudaStream_t stream);
/* in [n] into row *row of out (rows of n bf16), the row read on the device. */
cudaError_t sl_k_f32_to_bf16_at(const float *in, sl_bf16 *out, size_t n, const int32_t *row,
                                cudaStream_t stream);
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
/* Tests and benchmarks: on (the default), one CTA's long row, where its
 * positions fit two bitmaps in shared memory, is read twice and its
 * selection read off the bitmaps; off, it is read a third time for the
 * output. Not thread-safe; leave it alone elsewhere. */
void sl_k_topk_tune_bitmaps(int on);
/* Positions to cache slots, for rows that are different sequences laid end to
 * end in one cache: idx[r·k + j] += r·slots_per_row where it is not -1.
 * cudaErrorInvalidValue when a slot would not fit in int32. */
cudaError_t sl_k_topk_to_slots(int32_t *idx, int rows, int k, long long slots_per_row,
                               cudaStream_t stream);
/* ---- indexer.cu: the lightning indexer's scores (DSA) --------------------- */

/* For a chunk of `rows` query rows and all L keys:
 *   scores[r·score_stride + s] = Σ_h w[r,h] · ReLU(q[r,h,:] · k[s,:])
 * for s in [ks[r], ke[r]) ∩ [0, L), and -inf for every other s < L (columns
 * from L to score_stride are left alone). fp32 accumulation; the products of
 * bf16 (or e4m3) values are exact in fp32, only the order of the sums
 * differs from the CPU's sl_lightning_scores.
 * Layouts (row-major, device memory): q [rows, H, D], w [rows, H] fp32,
 * k [L, D], ks and ke [rows] int32 (a causal row at position p: 0, p + 1),
 * scores [rows, score_stride] fp32 with score_stride >= L. The caller chunks
 * rows so that the whole [T, L] matrix never exists: pass q + r0·H·D,
 * w + r0·H, ks + r0, ke + r0 for rows r0 …
 * H: a multiple of 8 from 8 to 128; D: 64 or 128; 16-byte aligned q and k.
 * Grid: tiles of 256 keys (512 from 128 rows) × groups of 32 rows.
 * sm_90 has no native e4m3 mma.sync: the FP8 entry points widen e4m3 to f16
 * (exact) and run f16 mma.sync, so they read half the key bytes of bf16 at
 * the same tensor-core rate. */
cudaError_t sl_k_indexer_bf16(const sl_bf16 *q, const float *w, const sl_bf16 *k,
                              const int32_t *ks, const int32_t *ke, int rows, int H, int D, int L,
                              float *scores, size_t score_stride, cudaStream_t stream);
/* FP8 as DeepSeek-V3.2 (DeepGEMM's fp8_mqa_logits with clean_logits):
 *   scores[r, s] = k_scale[s] · Σ_h w[r,h] · ReLU(q8[r,h,:] · k8[s,:])
 * q8 [rows, H, D] and k8 [L, D] e4m3 bytes, k_scale [L] fp32 (> 0). The
 * per-(row, head) scale of q is folded into w by the caller. */
cudaError_t sl_k_indexer_fp8(const uint8_t *q, const float *w, const uint8_t *k,
                             const float *k_scale, const int32_t *ks, const int32_t *ke, int rows,
                             int H, int D, int L, float *scores, size_t score_stride,
                             cudaStream_t stream);
/* The same over the paged indexer cache (decode): blocks of 64 tokens, each
 * 64·D bytes of e4m3 keys then 64 fp32 scales (132 B a token for D = 128).
 * Row r's key s lies in block block_table[r·block_table_stride + s / 64],
 * slot s % 64; block_table_stride >= ceil(L / 64), or 0 for rows of one
 * sequence sharing one table. Only the keys in [ks[r], ke[r]) are read, so
 * table entries past a row's end may be anything. One row per CTA (each row
 * may be its own sequence). */
cudaError_t sl_k_indexer_fp8_paged(const uint8_t *q, const float *w, const uint8_t *kv_cache,
                                   const int32_t *block_table, int block_table_stride,
                                   const int32_t *ks, const int32_t *ke, int rows, int H, int D,
                                   int L, float *scores, size_t score_stride, cudaStream_t stream);
/* Tuning, for benchmarks: keys per warp of the later launches with H <= 64
 * (32 or 64; 0 chooses). Not thread-safe; leave it alone elsewhere. */
void sl_k_indexer_tune(int keys_per_warp);
/* Tuning, for tests and benchmarks: the FP8 kernel on Hopper's wgmma
 * (indexer-wgmma.cu), for sm_90 devices at H = 64, D = 128; not chosen by
 * default yet. variant -1: never (the mma.sync kernel); 0: the default;
 * 1: 256 keys a CTA, one q row a step;
 * 2: 128 keys a CTA, two rows a step; 3: 128 keys, one row a step. 1 to 3
 * run at any number of rows where the device and shape allow. Not
 * thread-safe; leave it alone elsewhere. */
void sl_k_indexer_tune_wgmma(int variant);

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
/* Benchmarks and tests: which kernel takes the BF16 cache. mode -1: the
 * mma.sync kernel always; 0: the default (the wgmma kernel, sparse-mla-wgmma.cu,
 * on sm_90 devices: variant 3 for the BF16 cache where each CTA has 4 or more
 * blocks of 64 positions, variant 2 otherwise); 1 to 3: that kernel's variants wherever
 * the device allows (1: each warpgroup scores half of a block's positions;
 * 2: one scores them all; 3: warp-specialised, a producer warpgroup and two
 * consumers on alternate blocks, the BF16 cache only: the FP8 one takes 2).
 * Not thread-safe; leave it alone elsewhere. */
void sl_k_sparse_mla_tune_wgmma(int mode);

/* ---- ops.cu: the per-token operations of a layer, and greedy argmax -------
 *
 * Activations are float32 rows, row-major, n rows of dim (or heads × head_dim)
 * values. Each follows its CPU reference (engine/cpu/ops.c, engine/sampler.c)
 * formula for formula (IEEE division and square root, cosf and sinf, no fused
 * products where the CPU writes two): results are within a few float ulps of
 * the CPU's. Sizes are counts (n = 0 does nothing); a negative one is
 * cudaErrorInvalidValue. */

/* out[t][j] = table[ids[t]][j] as float, for t < n, j < dim; table is
 * [rows][dim] bf16 (the token embedding). Ids outside [0, rows) are the
 * caller's to prevent. */
cudaError_t sl_k_embed_rows(const sl_bf16 *table, int dim, const int32_t *ids, int n, float *out,
                            cudaStream_t stream);
/* Per row of x [n][dim]: x / sqrt(mean(x²) + eps) · weight, as sl_rmsnorm
 * (the sum of squares in float), written to out_f32 and/or to out_bf16
 * (round to nearest even of the float result); either may be NULL, and
 * out_f32 may equal x. dim > 0. */
cudaError_t sl_k_rmsnorm(const float *x, const float *weight, int n, int dim, float eps,
                         float *out_f32, sl_bf16 *out_bf16, cudaStream_t stream);
/* Rotary embedding in place on x [n][heads][head_dim], row t at position
 * first_pos + t: pair i < rot_dims/2 of each head turned by the angle
 * (float)pos · inv_freq[i] (float32, cosf and sinf of it, as the CPU).
 * Interleaved pairs (2i, 2i + 1), as GGUF llama weights expect
 * (sl_rope_interleaved); NeoX pairs (i, i + rot_dims/2) (sl_rope_neox).
 * Values past rot_dims are left alone. inv_freq: device, rot_dims/2 floats
 * (sl_rope_inv_freq). rot_dims even, at most head_dim; first_pos >= 0. */
cudaError_t sl_k_rope_interleaved(float *x, int n, int heads, int head_dim, int rot_dims,
                                  int first_pos, const float *inv_freq, cudaStream_t stream);
cudaError_t sl_k_rope_neox(float *x, int n, int heads, int head_dim, int rot_dims, int first_pos,
                           const float *inv_freq, cudaStream_t stream);
/* The same with the first position read on the device from *first_pos (a
 * decode step captured once as a CUDA graph, its position written before each
 * replay). */
cudaError_t sl_k_rope_interleaved_at(float *x, int n, int heads, int head_dim, int rot_dims,
                                     const int32_t *first_pos, const float *inv_freq,
                                     cudaStream_t stream);
cudaError_t sl_k_rope_neox_at(float *x, int n, int heads, int head_dim, int rot_dims,
                              const int32_t *first_pos, const float *inv_freq, cudaStream_t stream);
/* A decode step's q, k and v in one launch: qkv holds one row's q ‖ k ‖ v
 * (heads, kv_heads and kv_heads × head_dim floats); q and k turned as
 * sl_k_rope_interleaved at the position *pos, read on the device (a decode
 * step replayed as a CUDA graph), then q as BF16 into q_out and k, v as BF16
 * into row *pos of k_cache and v_cache (rows of kv_heads × head_dim).
 * head_dim even. */
cudaError_t sl_k_rope_qkv_at(const float *qkv, int heads, int kv_heads, int head_dim, int rot_dims,
                             const int32_t *pos, const float *inv_freq, sl_bf16 *q_out,
                             sl_bf16 *k_cache, sl_bf16 *v_cache, cudaStream_t stream);
/* ---- gemv.cu: a decode step's products, fused (one token; W [out][in] bf16,
 * 16-byte aligned; in a multiple of 8, at most 12032) ---------------------- */

/* y = W · xn, xn = x [in] normalised as sl_k_rmsnorm (norm_w, eps) and
 * rounded to bf16, as the products of a prefill take it. */
cudaError_t sl_k_gemv_norm(const float *x, const float *norm_w, float eps, int in,
                           const sl_bf16 *W, int out, float *y, cudaStream_t stream);
/* h = bf16(silu(W[0, out) · xn) · W[out, 2·out) · xn) (sl_k_swiglu of the gate
 * and up rows), xn as in sl_k_gemv_norm; W holds 2·out rows. */
cudaError_t sl_k_gemv_norm_swiglu(const float *x, const float *norm_w, float eps, int in,
                                  const sl_bf16 *W, int out, sl_bf16 *h, cudaStream_t stream);
/* y += W · x, x [in] bf16 (the residual added in the product). */
cudaError_t sl_k_gemv_add(const sl_bf16 *x, int in, const sl_bf16 *W, int out, float *y,
                          cudaStream_t stream);

/* out = silu(gate) · up = gate / (1 + e^-gate) · up as bf16 (round to
 * nearest even), gate and up separate [n][dim] float buffers, as
 * sl_swiglu. */
cudaError_t sl_k_swiglu(const float *gate, const float *up, int n, int dim, sl_bf16 *out,
                        cudaStream_t stream);
/* x[i] += y[i] for i < n (the residual add). */
cudaError_t sl_k_add(float *x, const float *y, size_t n, cudaStream_t stream);
/* Greedy decoding: out[r] = the index of the largest of logits[r][0, vocab),
 * the lowest such index on ties; NaN never wins (-0 and +0 tie); a row of
 * NaN only gives vocab - 1, as engine/sampler.c's greedy loop. vocab > 0. */
cudaError_t sl_k_argmax(const float *logits, int n_rows, int vocab, int32_t *out,
                        cudaStream_t stream);


/* ---- gqa-attention.cu: causal grouped-query flash attention (llama family) -
 *
 * Causal grouped-query flash attention over a BF16 KV cache.
 *   q       [n][H][Dh] bf16: rows at positions first_pos … first_pos+n−1
 *           (4-byte aligned)
 *   k_cache, v_cache [max_pos][Hkv][Dh] bf16 holding positions 0 …
 *           first_pos+n−1 (16-byte aligned; nothing past them is read)
 *   out     [n][H][Dh] bf16: row t, head h attends to positions 0 …
 *           first_pos+t of KV head h / (H / Hkv), softmax of scale · q·k
 *           (scale = 1/sqrt(Dh) for the llama family, given), fp32
 *           accumulation on the tensor cores (mma.sync bf16)
 * Dh = 64 or 128; H a multiple of Hkv. Prefill and decode alike: where the
 * tiles would not fill the GPU (few rows, long cache), the key range is split
 * across CTAs whose partial results go to the workspace (device memory,
 * sl_k_gqa_attention_workspace(…) bytes, 0 when no split pays) and are
 * combined by a second kernel; a NULL or smaller workspace cuts the split to
 * fit, down to none (slower, the same result). Stream-ordered; a workspace
 * must not be shared by launches that may run at the same time.
 * cudaErrorInvalidValue for bad sizes or pointers. */
cudaError_t sl_k_gqa_attention(const sl_bf16 *q, const sl_bf16 *k_cache, const sl_bf16 *v_cache, int n,
                               int first_pos, int H, int Hkv, int Dh, float scale, sl_bf16 *out,
                               void *workspace, size_t workspace_bytes, cudaStream_t s);
size_t sl_k_gqa_attention_workspace(int n, int first_pos, int H, int Hkv, int Dh);
/* One query row (a decode step) at the position *pos read on the device,
 * over positions 0 … *pos < max_pos: the launch is the same at every
 * position (the key range split for max_pos, the splits past *pos empty),
 * so that it can be captured once as a CUDA graph and replayed. workspace:
 * sl_k_gqa_attention_workspace(1, max_pos - 1, H, Hkv, Dh) bytes. */
cudaError_t sl_k_gqa_decode_attention_at(const sl_bf16 *q, const sl_bf16 *k_cache,
                                         const sl_bf16 *v_cache, const int32_t *pos, int max_pos,
                                         int H, int Hkv, int Dh, float scale, sl_bf16 *out,
                                         void *workspace, size_t workspace_bytes, cudaStream_t s);
/* The same over each row's selected positions only (DSA for the llama
 * family): indices [n][topk] int32, shared by all heads of row t; an entry
 * that is negative or ≥ first_pos+t+1 is skipped (a repeated one counts
 * twice). A row with no valid entry gets zeros. Workspace as above, of
 * sl_k_gqa_sparse_attention_workspace(n, topk, H, Hkv, Dh) bytes. */
cudaError_t sl_k_gqa_sparse_attention(const sl_bf16 *q, const sl_bf16 *k_cache, const sl_bf16 *v_cache,
                                      const int32_t *indices, int n, int topk, int first_pos, int H,
                                      int Hkv, int Dh, float scale, sl_bf16 *out, void *workspace,
                                      size_t workspace_bytes, cudaStream_t s);
size_t sl_k_gqa_sparse_attention_workspace(int n, int topk, int H, int Hkv, int Dh);
/* One row (a decode step captured once as a CUDA graph) at the position *pos
 * read on the device. */
cudaError_t sl_k_gqa_sparse_attention_at(const sl_bf16 *q, const sl_bf16 *k_cache,
                                         const sl_bf16 *v_cache, const int32_t *indices, int topk,
                                         const int32_t *pos, int H, int Hkv, int Dh, float scale,
                                         sl_bf16 *out, void *workspace, size_t workspace_bytes,
                                         cudaStream_t s);
/* The oracle's selection scores: for each row t and visible position p ≤
 * first_pos+t, mass[t·(first_pos+n) + p] = Σ_h softmax_h(scale · q_h·K)[p],
 * the attention probabilities summed over the H heads (engine/dsa's
 * oracle_select); 0 past first_pos+t. mass is float [n][first_pos+n].
 * Two passes (each head's lse, then the sum by float atomics, so the last
 * bits may vary from run to run). The workspace is required:
 * sl_k_gqa_head_mass_workspace(…) bytes (16-byte aligned); a smaller one
 * holding at least the n·H lse values runs unsplit. */
cudaError_t sl_k_gqa_head_mass(const sl_bf16 *q, const sl_bf16 *k_cache, int n, int first_pos, int H,
                               int Hkv, int Dh, float scale, float *mass, void *workspace,
                               size_t workspace_bytes, cudaStream_t s);
size_t sl_k_gqa_head_mass_workspace(int n, int first_pos, int H, int Hkv, int Dh);
/* One row at the position *pos < max_pos read on the device: mass [max_pos]
 * (zeros past *pos); workspace: sl_k_gqa_head_mass_workspace(1, max_pos - 1,
 * H, Hkv, Dh) bytes. */
cudaError_t sl_k_gqa_head_mass_at(const sl_bf16 *q, const sl_bf16 *k_cache, const int32_t *pos,
                                  int max_pos, int H, int Hkv, int Dh, float scale, float *mass,
                                  void *workspace, size_t workspace_bytes, cudaStream_t s);
/* Tuning, for benchmarks and tests: the later launches split the key range
 * to reach about ctas_per_sm CTAs an SM (0 chooses: 1; the workspace sizes
 * follow it), and prefill at head dim 64 gives each warp prefill_mtiles
 * (1 or 2; 0 chooses: 2) tiles of 16 rows. Not thread-safe; leave it alone
 * elsewhere. */
void sl_k_gqa_tune(int ctas_per_sm, int prefill_mtiles);

/* ---- mla.cu: MLA's absorbed (MQA) form at any dims (DeepSeek checkpoints) --
 *
 * For shapes the sparse-mla.cu kernels (576/512) do not take; simple rather
 * than fast: one CTA per (row, head). Dims: R (kv_lora) ≤ 1024, R + rope ≤
 * 12288. kv_b [H][nope + vd][R] float32 holds W_UK[h] then W_UV[h] per head
 * (engine/arch/mla.h). A cache entry is [R + rope] bf16: the normed latent,
 * then the rotated rope key. Rows are at positions first_pos + t. */

/* kva [n][R + rope] float32 (latent, then the already rotated rope part) →
 * entries [n][R + rope] bf16: RMSNorm(latent)·weight as sl_rmsnorm, and the
 * rope part times rope_scale (YaRN's attention factor). */
cudaError_t sl_k_mla_cache_entries(const float *kva, const float *norm_weight, int n, int R,
                                   int rope, float eps, float rope_scale, sl_bf16 *entries,
                                   cudaStream_t stream);
/* q [n][H][nope + rope] float32 (q_pe rotated) → q_abs [n][H][R + rope]:
 * W_UK[h]ᵀ·q_nope, then q_pe·rope_scale. */
cudaError_t sl_k_mla_absorb_q(const float *q, const float *kv_b, int n, int H, int nope, int rope,
                              int vd, int R, float rope_scale, float *q_abs, cudaStream_t stream);
/* out_lat [n][H][R] = Σ_s softmax_s(scale · q_abs·kv[s]) · kv[s][0, R) over
 * row t's positions: indices [n][topk] (entries < 0 or > first_pos + t are
 * skipped), or with indices NULL every position ≤ first_pos + t. A row with
 * none gets zeros. lse [n][H] (natural log; may be NULL). kv: the layer's
 * cache, [positions][R + rope] bf16. */
cudaError_t sl_k_mla_attention(const float *q_abs, const sl_bf16 *kv, const int32_t *indices,
                               int topk, int n, int first_pos, int H, int R, int rope, float scale,
                               float *out_lat, float *lse, cudaStream_t stream);
/* The same with the first position read on the device (*first_pos). */
cudaError_t sl_k_mla_attention_at(const float *q_abs, const sl_bf16 *kv, const int32_t *indices,
                                  int topk, int n, const int32_t *first_pos, int H, int R, int rope,
                                  float scale, float *out_lat, float *lse, cudaStream_t stream);
/* The oracle's mass as sl_mla_head_mass: mass[t·(first_pos + n) + p] =
 * Σ_h p_h,p for p ≤ first_pos + t, 0 past it. lse [n][H] and out_lat
 * [n][H][R] are scratch (dense attention's). Float atomics: the last bits
 * may vary from run to run. */
cudaError_t sl_k_mla_head_mass(const float *q_abs, const sl_bf16 *kv, int n, int first_pos, int H,
                               int R, int rope, float scale, float *mass, float *lse,
                               float *out_lat, cudaStream_t stream);
/* One row at the position *pos < max_pos read on the device: mass [max_pos],
 * zeros past *pos. */
cudaError_t sl_k_mla_head_mass_at(const float *q_abs, const sl_bf16 *kv, const int32_t *pos,
                                  int max_pos, int H, int R, int rope, float scale, float *mass,
                                  float *lse, float *out_lat, cudaStream_t stream);
/* DeepSeek's FP8 latent cache (REF-FIX rounds the latent so before caching;
 * FlashMLA's 656-byte entry at R = 512, rope = 64, which sl_k_sparse_mla_fp8
 * reads): R e4m3 bytes, a float32 power-of-two scale per block of 128 latent
 * values (the last block may be shorter), the rope part in bf16, padded to a
 * multiple of 16 bytes: sl_k_mla_fp8_entry_bytes(R, rope) bytes an entry.
 * R a multiple of 4. The writer takes kva as sl_k_mla_cache_entries and
 * quantises the normed latent per block as sl_fp8_fake_quant; the reader
 * turns entries 0 … n − 1 back into sl_k_mla_cache_entries' bf16 layout
 * (exactly: e4m3 times a power of two is a bf16 value). */
size_t sl_k_mla_fp8_entry_bytes(int R, int rope);
cudaError_t sl_k_mla_cache_entries_fp8(const float *kva, const float *norm_weight, int n, int R,
                                       int rope, float eps, float rope_scale, uint8_t *entries,
                                       cudaStream_t stream);
cudaError_t sl_k_mla_cache_from_fp8(const uint8_t *entries, int n, int R, int rope, sl_bf16 *out,
                                    cudaStream_t stream);
/* A decode step captured once as a CUDA graph reads its position on the
 * device: the entries of rows 0 … n - 1 go to positions *first_pos … of
 * cache; the reader turns entries 0 … *count - 1 back (at most max_n). */
cudaError_t sl_k_mla_cache_entries_at(const float *kva, const float *norm_weight, int n, int R,
                                      int rope, float eps, float rope_scale, sl_bf16 *cache,
                                      const int32_t *first_pos, cudaStream_t stream);
cudaError_t sl_k_mla_cache_entries_fp8_at(const float *kva, const float *norm_weight, int n, int R,
                                          int rope, float eps, float rope_scale, uint8_t *cache,
                                          const int32_t *first_pos, cudaStream_t stream);
cudaError_t sl_k_mla_cache_from_fp8_at(const uint8_t *entries, const int32_t *count, int max_n,
                                       int R, int rope, sl_bf16 *out, cudaStream_t stream);
/* out [n][H][vd] bf16 = W_UV[h]·out_lat[t][h]. */
cudaError_t sl_k_mla_unabsorb(const float *out_lat, const float *kv_b, int n, int H, int nope,
                              int vd, int R, sl_bf16 *out, cudaStream_t stream);
/* x[r·stride + i] ·= f for r < rows, i < count (YaRN's factor on rope dims). */
cudaError_t sl_k_scale_cols(float *x, int rows, int stride, int count, float f,
                            cudaStream_t stream);

/* ---- lightning.cu: the lightning indexer's pieces at any dims -------------- */

/* In place on x [n][dim]: (x − mean) / sqrt(var + eps) · weight + bias, mean
 * and variance in double, as sl_layernorm. */
cudaError_t sl_k_layernorm(float *x, const float *weight, const float *bias, int n, int dim,
                           float eps, cudaStream_t stream);
/* DeepSeek's FP8 indexer numerics in place on x [n][dim], dim a power of two
 * ≤ 8192: each row Hadamard-rotated (sl_hadamard, bit for bit), then per
 * block of min(128, dim) rounded to e4m3 with a power-of-two scale and
 * multiplied back (sl_fp8_fake_quant). The results are bf16-exact. */
cudaError_t sl_k_hadamard_fp8(float *x, int n, int dim, cudaStream_t stream);
/* DeepSeek's FP8 indexer cache, as sl_k_indexer_fp8_paged reads it: blocks
 * of 64 tokens, sl_k_indexer_fp8_block_bytes(D) = 64·(D + 4) bytes each (64·D
 * e4m3 bytes of keys, then their 64 float32 scales; 132 bytes a token at D =
 * 128). The writer stores keys k [n][D] float32 at positions first_pos …,
 * each with its ue8m0 scale as sl_k_quant_e4m3 (keys already rounded by
 * sl_k_hadamard_fp8 keep their values exactly); the reader turns positions
 * 0 … n − 1 back into bf16 [n][D] (exact). D ≤ 128, a multiple of 4. */
size_t sl_k_indexer_fp8_block_bytes(int D);
cudaError_t sl_k_indexer_keys_fp8(const float *k, int n, int D, int first_pos, uint8_t *cache,
                                  cudaStream_t stream);
cudaError_t sl_k_indexer_keys_from_fp8(const uint8_t *cache, int n, int D, sl_bf16 *out,
                                       cudaStream_t stream);
/* The same with positions read on the device (a decode step captured once
 * as a CUDA graph): keys to *first_pos …; keys 0 … *count - 1 back (at most
 * max_n). */
cudaError_t sl_k_indexer_keys_fp8_at(const float *k, int n, int D, const int32_t *first_pos,
                                     uint8_t *cache, cudaStream_t stream);
cudaError_t sl_k_indexer_keys_from_fp8_at(const uint8_t *cache, const int32_t *count, int max_n,
                                          int D, sl_bf16 *out, cudaStream_t stream);
/* sl_k_indexer_bf16's scores for any H and D with H·D + H ≤ 12288 and rows ≤
 * 65535: the fast kernel where it takes the shape (sl_k_indexer_bf16_takes),
 * else one thread per key, the heads summed in order. */
bool sl_k_indexer_bf16_takes(int H, int D);
cudaError_t sl_k_indexer_any(const sl_bf16 *q, const float *w, const sl_bf16 *k, const int32_t *ks,
                             const int32_t *ke, int rows, int H, int D, int L, float *scores,
                             size_t score_stride, cudaStream_t stream);

/* ---- kept-mass.cu: what a selection keeps ----------------------------------- */

/* out[r] = Σ_j scores[r·score_stride + sel[r·k + j]] over the entries of
 * sel's row r that are ≥ 0 (in double): the mass a row's selection keeps. */
cudaError_t sl_k_selected_sum(const float *scores, size_t score_stride, const int32_t *sel,
                              int rows, int k, double *out, cudaStream_t stream);

/* ---- moe.cu: DeepSeek-V3's routed experts around their GEMMs --------------- */

/* sl_moe_route for n tokens, one CTA each: logits [n][n_experts] float32,
 * bias [n_experts] (may be NULL) → experts and weights [n][top_k]. Ties as the
 * CPU (the lower group, the lower expert). n_experts ≤ 1024, n_group ≤ 64. */
cudaError_t sl_k_moe_route(const float *logits, const float *bias, int n, int n_experts,
                           int n_group, int topk_group, int top_k, bool normalise, float scale,
                           int32_t *experts, float *weights, cudaStream_t stream);
/* out[i] = x[rows[i]] for i < n, rows of dim bf16. */
cudaError_t sl_k_gather_rows(const sl_bf16 *x, int dim, const int32_t *rows, int n, sl_bf16 *out,
                             cudaStream_t stream);
/* Token-major routed rows (row t·K + j: token t's j-th choice, as
 * sl_k_moe_route writes them): slot[t·K + r] = the row of token t's r-th
 * smallest expert, the order in which the CPU adds them; as sl_k_moe_combine's
 * slot and weight_index both. K ≥ 1. */
cudaError_t sl_k_moe_token_order(const int32_t *experts, int n, int K, int32_t *slot,
                                 cudaStream_t stream);
/* out[i] = base + index[i] · stride_bytes for i < n (device pointers: the
 * chosen experts' matrices for a batched GEMM, without the choice leaving the
 * device). */
cudaError_t sl_k_offset_pointers(const int32_t *index, int n, const void *base, size_t stride_bytes,
                                 const void **out, cudaStream_t stream);
/* x[t] += Σ_r weights[weight_index[t·K + r]] · y[slot[t·K + r]] for t < n,
 * r < K in order (the caller orders each token's experts as the CPU adds
 * them); rows of dim float32. n ≤ 65535. */
cudaError_t sl_k_moe_combine(const float *y, const int32_t *slot, const int32_t *weight_index,
                             const float *weights, int n, int K, int dim, float *x,
                             cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
