/* arch.h: what the engine and a session need of an architecture's forward
 * pass, so that one session runs any of them. */
#ifndef SL_ARCH_H
#define SL_ARCH_H

#include "cpu/threads.h"
#include "dsa/dsa.h"

typedef struct {
    /* Bytes a state for max_tokens positions would allocate. */
    size_t (*state_bytes)(const void *model, int n_threads, size_t max_tokens);
    /* KV cache and activations for up to max_tokens positions. */
    sl_status (*state_new)(const void *model, const sl_pool *pool, size_t max_tokens,
                           bool use_blas, void **out, sl_error *err);
    void (*state_free)(void *state);
    /* The most tokens one forward call takes. */
    size_t (*chunk)(const void *state);
    /* Runs n ≤ chunk tokens at positions pos …; logits as sl_llama_forward
     * (host memory). Fails only where a device does (a GPU's error). */
    sl_status (*forward)(const void *model, void *state, sl_pool *pool, const int32_t *ids,
                         size_t n, size_t pos, float *logits, bool all_logits, sl_dsa *dsa,
                         sl_error *err);
    void (*model_free)(void *model);
    /* Whether the model selects with an indexer of its own (DeepSeek-V3.2). */
    bool own_indexer;
    /* Whether sessions may use DSA (oracle or indexer) on this backend. */
    bool dsa;
    /* Whether the forward pass fills the session's selections itself
     * (sl_dsa_rows), rather than calling sl_dsa_attention. */
    bool selects;
    /* Whether a lightning indexer file (llama family) runs on this backend. */
    bool indexer_files;
    /* Whether sessions may replay another's selections (sl_session_replay). */
    bool replays;
    /* Whether the state's decode steps run as one replayed CUDA graph (NULL: never). */
    bool (*decodes_on_graph)(const void *state);
    /* Optional: ix is becoming the engine's indexer file (the one before it
     * is freed next, with the sessions that used it gone): the backend may
     * prepare it for every session (the GPU uploads its weights once). */
    sl_status (*load_indexer)(void *model, const sl_indexer *ix, sl_error *err);
} sl_arch_ops;

#endif
