/* mla.h: Multi-head Latent Attention (DeepSeek-V2/V3) over a latent cache,
 * on the CPU, in its two equivalent forms.
 *
 * The cache holds, per position s, the normed latent c_s (kv_lora floats)
 * and the rotated shared key part pe_s (rope floats). kv_b holds, per head
 * h, W_UK[h] (nope × kv_lora) then W_UV[h] (v_dim × kv_lora). A query head
 * is [q_nope (nope) | q_pe (rope)]. For the positions S a row attends to:
 *
 *   MHA form (prefill): k_h,s = [W_UK[h]·c_s | pe_s], v_h,s = W_UV[h]·c_s,
 *     out_h = Σ_s softmax_s(scale · q_h·k_h,s) · v_h,s
 *   MQA form (decode, "absorbed"): q_lat = W_UK[h]ᵀ·q_nope,
 *     p_s = softmax_s(scale · (q_lat·c_s + q_pe·pe_s)), out_h = W_UV[h]·Σ_s p_s·c_s
 *
 * The two are the same function; the MHA form costs less when many rows
 * share the keys, the MQA form when one row reads a long cache. */
#ifndef SL_MLA_H
#define SL_MLA_H

#include "cpu/threads.h"

typedef struct {
    int n_heads, nope, rope, v_dim, kv_lora;
    float scale;          /* softmax scale (with YaRN's mscale²) */
    const float *kv_b;    /* n_heads × (nope + v_dim) × kv_lora */
    const float *latent;  /* cache: positions × kv_lora */
    const float *pe;      /* cache: positions × rope */
    const float *q;       /* n_rows × n_heads × (nope + rope) */
    size_t first_pos, n_rows; /* row t is at position first_pos + t */
    float *out;           /* n_rows × n_heads × v_dim */
} sl_mla_args;

/* What each row attends to: row t reads positions[t·stride …] (count[t] of
 * them, increasing); with positions NULL, every position ≤ its own. */
typedef struct {
    const int32_t *positions;
    const size_t *count;
    size_t stride;
} sl_mla_selection;

/* Floats of scratch per pool thread, for caches of up to max_pos positions. */
size_t sl_mla_scratch_floats(const sl_mla_args *shape, size_t max_pos);

void sl_mla_mha(sl_pool *pool, const sl_mla_args *args, const sl_mla_selection *sel,
                float *scratch, size_t floats_per_thread);
void sl_mla_mqa(sl_pool *pool, const sl_mla_args *args, const sl_mla_selection *sel,
                float *scratch, size_t floats_per_thread);

/* The oracle's view of one row: mass[s] = Σ_h p_h,s over every position
 * s ≤ its own (dense attention, MQA form). scratch: sl_mla_scratch_floats. */
void sl_mla_head_mass(const sl_mla_args *args, size_t row, float *mass, float *scratch);

#endif
