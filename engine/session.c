/* session.c: one conversation's state: KV cache, tokens, logits, sampler. */
#include "engine-internal.h"
#include "error.h"
#include "sampler.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct sl_session {
    sl_engine *engine;
    void *state; /* the architecture's */
    sl_sampler *sampler;
    size_t max_tokens, n;
    int32_t *tokens;
    float *logits; /* n_vocab: after the last token */
    bool has_logits;
    sl_dsa *dsa;         /* NULL: dense */
    sl_dsa_options dsa_options;
    uint64_t seeded_with;
    bool seeded;
    atomic_bool cancel;
};

sl_status sl_session_new(sl_engine *e, size_t max_tokens, sl_session **out, sl_error *err)
{
    if (max_tokens == 0 || max_tokens > (size_t)e->info.n_ctx_train)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT,
                       "session: %zu tokens is outside the model's context of 1 … %d", max_tokens,
                       e->info.n_ctx_train);
    size_t need = e->arch->state_bytes(e->model, sl_pool_size(e->pool), max_tokens);
    size_t have = sl_available_memory();
    size_t limit = e->memory_limit > e->info.weight_bytes ? e->memory_limit - e->info.weight_bytes : 1;
    if (e->memory_limit && (have == 0 || limit < have))
        have = limit; /* what the limit leaves beside the weights */
    if (have && need > have)
        return sl_fail(err, SL_ERR_NO_MEMORY,
                       "session: a context of %zu tokens needs %.1f MiB, only %.1f MiB is available",
                       max_tokens, (double)need / 1048576.0, (double)have / 1048576.0);
    sl_session *s = calloc(1, sizeof *s);
    if (!s)
        return sl_fail(err, SL_ERR_NO_MEMORY, "session: out of memory");
    s->engine = e;
    s->max_tokens = max_tokens;
    s->tokens = malloc(max_tokens * sizeof *s->tokens);
    s->logits = malloc((size_t)e->info.n_vocab * sizeof *s->logits);
    sl_status st = (s->tokens && s->logits) ? SL_OK
                                            : sl_fail(err, SL_ERR_NO_MEMORY, "session: out of memory");
    if (!st)
        st = e->arch->state_new(e->model, e->pool, max_tokens, e->use_blas, &s->state, err);
    if (!st)
        st = sl_sampler_new(e->info.n_vocab, 0, &s->sampler, err);
    if (!st && e->arch->own_indexer) { /* the model was trained to attend sparsely */
        sl_dsa_options dsa = sl_dsa_default();
        dsa.mode = SL_DSA_INDEXER;
        dsa.top_k = e->info.index_top_k;
        st = sl_session_set_dsa(s, &dsa, err);
    }
    if (st) {
        sl_session_free(s);
        return st;
    }
    *out = s;
    return SL_OK;
}

void sl_session_free(sl_session *s)
{
    if (!s)
        return;
    if (s->state)
        s->engine->arch->state_free(s->state);
    sl_dsa_free(s->dsa);
    sl_sampler_free(s->sampler);
    free(s->tokens);
    free(s->logits);
    free(s);
}

size_t sl_session_length(const sl_session *s) { return s->n; }
const int32_t *sl_session_tokens(const sl_session *s) { return s->tokens; }

void sl_session_truncate(sl_session *s, size_t n)
{
    if (n < s->n) {
        s->n = n;
        s->has_logits = false; /* the logits belonged to a token now gone */
    }
    if (s->dsa)
        sl_dsa_truncate(s->dsa, n);
}

void sl_session_cancel(sl_session *s) { atomic_store(&s->cancel, true); }

const float *sl_session_logits(const sl_session *s) { return s->has_logits ? s->logits : NULL; }

static sl_status check_ids(const sl_session *s, const int32_t *ids, size_t n, sl_error *err)
{
    if (n == 0)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "prefill: no tokens given");
    if (n > s->max_tokens - s->n)
        return sl_fail(err, SL_ERR_CONTEXT_FULL,
                       "prefill: %zu more tokens do not fit: %zu of %zu positions are used", n, s->n,
                       s->max_tokens);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= s->engine->info.n_vocab)
            return sl_fail(err, SL_ERR_INVALID_ARGUMENT,
                           "prefill: token %zu has id %d, outside the vocabulary of %d", i,
                           (int)ids[i], s->engine->info.n_vocab);
    return SL_OK;
}

/* Runs ids through the model chunk by chunk. out_all: n × n_vocab logits,
 * or NULL to keep only the last token's logits in the session. answer: the
 * tokens come from sl_session_next (for the DSA records). */
static sl_status run(sl_session *s, const int32_t *ids, size_t n, const sl_progress *progress,
                     float *out_all, bool answer, sl_error *err)
{
    sl_status st = check_ids(s, ids, n, err);
    if (st != SL_OK)
        return st;
    atomic_store(&s->cancel, false);
    size_t chunk = s->engine->arch->chunk(s->state), vocab = (size_t)s->engine->info.n_vocab;
    s->has_logits = false;
    for (size_t done = 0; done < n;) {
        size_t m = n - done < chunk ? n - done : chunk;
        bool last = done + m == n;
        float *logits = out_all ? out_all + done * vocab : (last ? s->logits : NULL);
        if (s->dsa) { /* the last record_question rows of a prefill, every answer row */
            size_t q = answer ? n : (size_t)s->dsa_options.record_question;
            size_t first_recorded = n > q ? n - q : 0;
            sl_dsa_begin_chunk(s->dsa, s->n, m, first_recorded > done ? first_recorded - done : 0,
                               answer);
        }
        st = s->engine->arch->forward(s->engine->model, s->state, s->engine->pool, ids + done, m,
                                      s->n, logits, out_all != NULL, s->dsa, err);
        if (st != SL_OK)
            return st;
        if (s->dsa && (st = sl_dsa_end_chunk(s->dsa, err)) != SL_OK)
            return st;
        memcpy(s->tokens + s->n, ids + done, m * sizeof *ids);
        s->n += m;
        done += m;
        if (progress && progress->callback && !progress->callback(progress->user_data, done, n))
            sl_session_cancel(s);
        if (atomic_load(&s->cancel) && done < n)
            return sl_fail(err, SL_ERR_CANCELLED, "prefill: cancelled after %zu of %zu tokens",
                           done, n);
    }
    if (out_all)
        memcpy(s->logits, out_all + (n - 1) * vocab, vocab * sizeof(float));
    s->has_logits = true;
    return SL_OK;
}

sl_status sl_session_prefill(sl_session *s, const int32_t *ids, size_t n,
                             const sl_progress *progress, sl_error *err)
{
    return run(s, ids, n, progress, NULL, false, err);
}

sl_status sl_session_prefill_all_logits(sl_session *s, const int32_t *ids, size_t n, float *out,
                                        sl_error *err)
{
    if (!out)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "prefill: no logits buffer given");
    return run(s, ids, n, NULL, out, false, err);
}

sl_status sl_session_next(sl_session *s, const sl_sampling *sampling, int32_t *token,
                          sl_error *err)
{
    if (!s->has_logits)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "next: prefill the session first");
    if (s->n >= s->max_tokens)
        return sl_fail(err, SL_ERR_CONTEXT_FULL, "next: all %zu positions are used", s->max_tokens);
    sl_sampling params = sampling ? *sampling : sl_sampling_default();
    if (!s->seeded || s->seeded_with != params.seed) {
        sl_sampler_seed(s->sampler, params.seed);
        s->seeded = true;
        s->seeded_with = params.seed;
    }
    int32_t id = sl_sampler_pick(s->sampler, &params, s->logits, s->tokens, s->n);
    if (atomic_load(&s->cancel))
        return sl_fail(err, SL_ERR_CANCELLED, "next: cancelled");
    sl_status st = run(s, &id, 1, NULL, NULL, true, err);
    if (st == SL_OK)
        *token = id;
    return st;
}

sl_status sl_session_set_dsa(sl_session *s, const sl_dsa_options *options, sl_error *err)
{
    if (s->n > 0)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "dsa: the session already holds %zu tokens",
                       s->n);
    bool own = s->engine->arch->own_indexer;
    if (options->mode != SL_DSA_DENSE && !s->engine->arch->dsa)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "dsa: %s runs dense attention only, so far; "
                       "the CPU runs DSA", sl_engine_device(s->engine));
    int dim = s->engine->info.index_dim;
    if (options->indexer_fp8 && !own)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "dsa: FP8 indexer numerics need a model with "
                       "an indexer of its own (DeepSeek-V3.2)");
    if (options->indexer_fp8 && (dim & (dim - 1)))
        return sl_fail(err, SL_ERR_UNSUPPORTED, "dsa: FP8 indexer numerics need a power-of-two "
                       "index head dim for the Hadamard transform, not %d", dim);
    if (options->mode == SL_DSA_INDEXER && !own && !s->engine->arch->indexer_files)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "dsa: %s runs the oracle; an indexer file runs "
                       "on the CPU", sl_engine_device(s->engine));
    if (options->mode == SL_DSA_INDEXER && !own && !s->engine->indexer)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "dsa: indexer mode needs an indexer: load "
                                                     "one with sl_engine_load_indexer (--indexer FILE)");
    sl_dsa_free(s->dsa);
    s->dsa = NULL;
    s->dsa_options = *options;
    if (options->mode == SL_DSA_DENSE)
        return SL_OK;
    const sl_model_info *m = &s->engine->info;
    sl_dsa_shape shape = {m->n_layers, m->n_heads, m->n_kv_heads, m->head_dim, s->max_tokens,
                          s->engine->arch->chunk(s->state), m->n_embd,
                          own ? NULL : s->engine->indexer, s->engine->arch->selects};
    return sl_dsa_new(options, &shape, s->engine->pool, &s->dsa, err);
}

bool sl_session_decodes_on_graph(const sl_session *s)
{
    return s->engine->arch->decodes_on_graph && s->engine->arch->decodes_on_graph(s->state);
}

sl_status sl_session_replay(sl_session *s, const sl_selection_view *from, sl_error *err)
{
    if (!s->dsa)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "replay: the session uses dense attention");
    if (!s->engine->arch->replays)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "replay: %s does not replay selections; the "
                       "CPU does", sl_engine_device(s->engine));
    return sl_dsa_set_replay(s->dsa, from, err);
}

sl_status sl_session_selections(const sl_session *s, sl_selection_view *out, sl_error *err)
{
    if (!s->dsa)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "selections: the session uses dense attention");
    sl_dsa_view(s->dsa, s->n, out);
    return SL_OK;
}
