/* attention.h: causal grouped-query attention over a KV cache, on the CPU.
 *
 * Query row t (0 ≤ t < n_rows) sits at position first_pos + t and attends
 * to cache positions 0 … first_pos + t. Query head h reads KV head
 * h / (n_heads / n_kv_heads). Scores are scaled by 1/sqrt(head_dim).
 *
 * Keys are cached transposed in blocks of SL_KEY_BLOCK positions
 * ([block][kv head][dim][position in block]), so one query scores a whole
 * block with head_dim vector FMAs and no horizontal sums. Values are cached
 * row by row ([position][kv head][dim]). Work is split over (head, block of
 * query rows); a block of rows reuses each key block while it is in cache. */
#ifndef SL_ATTENTION_H
#define SL_ATTENTION_H

#include "cpu/threads.h"

enum { SL_KEY_BLOCK = 16 };

typedef struct {
    int n_heads, n_kv_heads, head_dim;
    const float *q;      /* n_rows × n_heads × head_dim */
    const float *k;      /* key cache, blocked as above */
    const float *v;      /* value cache: positions × n_kv_heads × head_dim */
    size_t first_pos, n_rows;
    float *out;          /* n_rows × n_heads × head_dim */
} sl_attention_args;

/* Floats a key cache needs for max_pos positions. */
size_t sl_key_cache_floats(size_t max_pos, int n_kv_heads, int head_dim);
/* Stores n key rows (n × n_kv_heads × head_dim) at positions pos … pos+n-1. */
void sl_key_cache_store(float *cache, size_t pos, size_t n, int n_kv_heads, int head_dim,
                        const float *rows);

/* Copies the key of KV head g at position pos out of the blocked cache. */
void sl_key_cache_get(const float *cache, size_t pos, int n_kv_heads, int head_dim, int g,
                      float *out);

/* Scaled scores q·k/sqrt(head_dim) of query head h of row `row` against
 * positions 0 … first_pos + row; writes scores[0 … first_pos + row] (and
 * may write up to the next multiple of SL_KEY_BLOCK). */
void sl_attention_row_scores(const sl_attention_args *args, int h, size_t row, float *scores);

/* Floats of scratch per pool thread for contexts of up to max_pos positions. */
size_t sl_attention_scratch_floats(size_t max_pos, int head_dim);

void sl_attention(sl_pool *pool, const sl_attention_args *args, float *scratch,
                  size_t scratch_floats_per_thread);

#endif
