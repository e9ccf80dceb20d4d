/* threads.h: a fixed pool of worker threads running parallel-for loops.
 *
 * sl_pool_for(pool, n, fn, ctx) calls fn(ctx, i, thread) for every i in
 * [0, n) across the pool (the calling thread takes part) and returns when
 * all are done. Work is handed out in order through an atomic counter, so
 * uneven tasks balance themselves. One loop at a time per pool. */
#ifndef SL_THREADS_H
#define SL_THREADS_H

#include "sightline-engine.h"

typedef struct sl_pool sl_pool;
typedef void (*sl_pool_fn)(void *ctx, size_t i, int thread);

sl_status sl_pool_new(int n_threads, sl_pool **out, sl_error *err);
void sl_pool_free(sl_pool *pool);
int sl_pool_size(const sl_pool *pool);
void sl_pool_for(sl_pool *pool, size_t n, sl_pool_fn fn, void *ctx);
/* Online CPUs, at least 1. */
int sl_cpu_count(void);

#endif
