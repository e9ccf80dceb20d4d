/* attention.h: causal grouped-query attention over a KV cache, on the CPU.
 *
 * Query row t (0 ≤ t < n_rows) sits at position first_pos + t and attends
 * to cache positions 0 … first_pos + t. Query head h reads KV head
 * h / (n_heads / n_kv_heads). Scores are scaled by 1/sqrt(head_dim).
 * Work is split over (head, block of query rows); a block reuses each key
 * it loads for all its rows. */
#ifndef SL_ATTENTION_H
#define SL_ATTENTION_H

#include "cpu/threads.h"

typedef struct {
    int n_heads, n_kv_heads, head_dim;
    const float *q;      /* n_rows × n_heads × head_dim */
    const float *k, *v;  /* cache: positions × n_kv_heads × head_dim */
    size_t first_pos, n_rows;
    float *out;          /* n_rows × n_heads × head_dim */
} sl_attention_args;

/* Floats of scratch per pool thread for contexts of up to max_pos positions. */
size_t sl_attention_scratch_floats(size_t max_pos, int head_dim);

void sl_attention(sl_pool *pool, const sl_attention_args *args, float *scratch,
                  size_t scratch_floats_per_thread);

#endif
