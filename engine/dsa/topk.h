/* topk.h: exact, streaming top-k over one row of scores.
 *
 * Ranking: a higher score ranks first; equal scores rank the lower position
 * first; +inf is the highest score, -inf the lowest number, and NaN ranks
 * below everything (a NaN is selected only when fewer than k non-NaN
 * scores were pushed). The result is exact and deterministic for any input.
 *
 * Scores arrive in chunks of increasing position (a row may be scored tile
 * by tile), so a [rows × L] score matrix is never needed: a selector holds
 * O(k) memory whatever L is. */
#ifndef SL_TOPK_H
#define SL_TOPK_H

#include "sightline-engine.h"

typedef struct sl_topk sl_topk;

/* A selector for rows with k ≤ k_max. */
sl_status sl_topk_new(size_t k_max, sl_topk **out, sl_error *err);
void sl_topk_free(sl_topk *topk);
/* Bytes a selector for k_max holds (for memory bounds). */
size_t sl_topk_bytes(size_t k_max);

/* Starts a row that keeps the k best (k ≤ k_max; a larger k is taken as
 * k_max). A selector may be reused for any number of rows. */
void sl_topk_begin(sl_topk *topk, size_t k);
/* Offers scores[i] for position first_pos + i, i < n. Positions must
 * increase across calls within a row (and fit in int32_t: the part of a
 * chunk beyond INT32_MAX is ignored). Allocates nothing. */
void sl_topk_push(sl_topk *topk, const float *scores, size_t n, int32_t first_pos);
/* Ends the row: writes the min(k, pushed) selected positions in increasing
 * position order, with their scores when scores is not NULL; returns the
 * count. */
size_t sl_topk_end(sl_topk *topk, int32_t *positions, float *scores);

/* One whole row at once: the same as begin, push, end. */
size_t sl_topk_row(sl_topk *topk, const float *scores, size_t n, size_t k, int32_t *positions);

#endif
