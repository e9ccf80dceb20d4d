/* dsa.h: DeepSeek Sparse Attention in a session, on the CPU.
 *
 * Per layer and query token t: choose S_t (k = min(top_k, t+1) positions),
 * then every head attends to S_t only. The selection comes from the oracle
 * (top-k of the dense attention distribution summed over heads) or, later,
 * a lightning indexer. Where k covers every earlier position the selection
 * is everything and the dense kernel runs (the two paths agree; a test
 * forces the sparse one). Selections of recorded rows become the records of
 * sightline-engine.h. */
#ifndef SL_DSA_H
#define SL_DSA_H

#include "cpu/attention.h"
#include "dsa/indexer.h"
#include "dsa/topk.h"

typedef struct sl_dsa sl_dsa;

typedef struct {
    int n_layers, n_heads, n_kv_heads, head_dim;
    size_t max_tokens; /* session positions */
    size_t max_chunk;  /* most rows one forward call takes */
    int n_embd;
    const sl_indexer *indexer; /* SL_DSA_INDEXER: the engine's indexer */
    bool model_selects; /* the model selects itself (DeepSeek-V3.2): see sl_dsa_rows */
} sl_dsa_shape;

sl_status sl_dsa_new(const sl_dsa_options *options, const sl_dsa_shape *shape,
                     const sl_pool *pool, sl_dsa **out, sl_error *err);
void sl_dsa_free(sl_dsa *dsa);

/* Before a forward call over n rows at positions pos …: rows ≥ record_from
 * are recorded, as answer tokens or as question tokens. */
void sl_dsa_begin_chunk(sl_dsa *dsa, size_t pos, size_t n, size_t record_from, bool answer);
/* Whether the layer selects (else it keeps dense attention). */
bool sl_dsa_layer_active(const sl_dsa *dsa, int layer);
/* Attention of one layer under DSA: writes args->out for every row. x is
 * the layer's attention input (n_rows × n_embd), which the indexer reads.
 * The dense kernel's scratch is passed for the rows that see ≤ k positions. */
void sl_dsa_attention(sl_dsa *dsa, sl_pool *pool, int layer, const sl_attention_args *args,
                      const float *x, float *dense_scratch, size_t dense_scratch_per_thread);
/* After every layer of the call: the recorded rows' votes become records. */
sl_status sl_dsa_end_chunk(sl_dsa *dsa, sl_error *err);
/* Forgets records of positions ≥ n; at n = 0, the counts too. */
void sl_dsa_truncate(sl_dsa *dsa, size_t n);
void sl_dsa_view(sl_dsa *dsa, size_t n_positions, sl_selection_view *out);

/* For a model that selects with its own indexer (shape.model_selects): per
 * layer, it fills the rows' selections (row t: positions at t·stride, count[t]
 * of them, increasing), then calls sl_dsa_rows_done, which records them. Rows
 * below dense_rows selected everything. The per-thread selectors hold
 * max(k, record_top_m) positions. */
sl_dsa_mode sl_dsa_mode_of(const sl_dsa *dsa);
/* SL_DSA_INDEXER with an indexer file: that indexer (else NULL). */
const sl_indexer *sl_dsa_indexer(const sl_dsa *dsa);
size_t sl_dsa_k(const sl_dsa *dsa);
bool sl_dsa_sparse_always(const sl_dsa *dsa);
/* How many of n rows at positions pos … see at most k positions: those rows
 * select every position, and attend densely (none when the session takes
 * the sparse path always). They come first. */
size_t sl_dsa_dense_rows(const sl_dsa *dsa, size_t n, size_t pos);
bool sl_dsa_indexer_fp8(const sl_dsa *dsa);
sl_topk *sl_dsa_topk(sl_dsa *dsa, int thread);
int32_t *sl_dsa_rows(sl_dsa *dsa, size_t *stride, size_t **count);
/* The first row of the current call that is recorded (rows before it need
 * not be copied back from a device). */
size_t sl_dsa_first_recorded(const sl_dsa *dsa);
void sl_dsa_rows_done(sl_dsa *dsa, int layer, size_t dense_rows);
/* The rows to attend with, after sl_dsa_rows_done: the rows it selected, or
 * where the session replays selections (sl_dsa_set_replay), the replayed
 * ones for rows from dense_rows on (stride k, count[t] each). */
int32_t *sl_dsa_attend_rows(sl_dsa *dsa, int layer, size_t dense_rows, size_t *stride,
                           size_t **count);
/* Replay (sl_session_replay): each sparse row attends to what `from` recorded
 * for its position, where it did; its own choice is still made and recorded.
 * On failure nothing changes. */
sl_status sl_dsa_set_replay(sl_dsa *dsa, const sl_selection_view *from, sl_error *err);
/* The oracle: the share of the dense mass that one sparse row's selection kept. */
void sl_dsa_note_kept(sl_dsa *dsa, int thread, int layer, double kept);

#endif
