#include "cpu/threads.h"

#include "error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct sl_pool {
    int n_threads; /* including the caller */
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    /* the current loop */
    sl_pool_fn fn;
    void *ctx;
    size_t n;
    atomic_size_t next;
    int busy;            /* workers still inside the current loop */
    unsigned generation; /* bumped for each loop so workers see new work */
    bool quit;
};

typedef struct {
    sl_pool *pool;
    int index;
} worker_arg;

static void run_tasks(sl_pool *pool, int thread)
{
    for (;;) {
        size_t i = atomic_fetch_add(&pool->next, 1);
        if (i >= pool->n)
            return;
        pool->fn(pool->ctx, i, thread);
    }
}

static void *worker_main(void *p)
{
    worker_arg arg = *(worker_arg *)p;
    free(p);
    sl_pool *pool = arg.pool;
    unsigned seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->quit && pool->generation == seen)
            pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->quit)
            break;
        seen = pool->generation;
        pthread_mutex_unlock(&pool->lock);
        run_tasks(pool, arg.index);
        pthread_mutex_lock(&pool->lock);
        if (--pool->busy == 0)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int sl_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

sl_status sl_pool_new(int n_threads, sl_pool **out, sl_error *err)
{
    if (n_threads <= 0)
        n_threads = sl_cpu_count();
    if (n_threads > 1024)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "threads: %d is more than 1024", n_threads);
    sl_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return sl_fail(err, SL_ERR_NO_MEMORY, "threads: out of memory");
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->workers = calloc((size_t)n_threads, sizeof *pool->workers);
    if (!pool->workers) {
        sl_pool_free(pool);
        return sl_fail(err, SL_ERR_NO_MEMORY, "threads: out of memory");
    }
    for (int t = 1; t < n_threads; t++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (arg) {
            arg->pool = pool;
            arg->index = t;
        }
        if (!arg || pthread_create(&pool->workers[t], NULL, worker_main, arg) != 0) {
            free(arg);
            pool->n_threads = t; /* the threads started so far get joined */
            sl_pool_free(pool);
            return sl_fail(err, SL_ERR_NO_MEMORY, "threads: could not start thread %d of %d", t,
                           n_threads);
        }
    }
    *out = pool;
    return SL_OK;
}

void sl_pool_free(sl_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->quit = true;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int t = 1; t < pool->n_threads && pool->workers; t++)
        pthread_join(pool->workers[t], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool->workers);
    free(pool);
}

int sl_pool_size(const sl_pool *pool) { return pool->n_threads; }

void sl_pool_for(sl_pool *pool, size_t n, sl_pool_fn fn, void *ctx)
{
    if (n == 0)
        return;
    if (pool->n_threads == 1 || n == 1) {
        for (size_t i = 0; i < n; i++)
            fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n = n;
    atomic_store(&pool->next, 0);
    pool->busy = pool->n_threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);

    run_tasks(pool, 0);

    pthread_mutex_lock(&pool->lock);
    while (pool->busy > 0)
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}
