/* Model files that are valid GGUF but not usable models, and limits: each
 * must be refused by sl_engine_open or sl_session_new with the right status
 * and a message that names the file and the problem (files made by
 * tests/reference/make-tiny-llama.py). */
#include "../test-util.h"

#include <stdio.h>

static const char *dir;

static void expect_refused(const char *name, sl_status want, const char *words)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/broken/%s", dir, name);
    sl_engine_options opt = {.model_path = path, .n_threads = 1};
    sl_engine *e = NULL;
    sl_error err = {0};
    sl_status st = sl_engine_open(&opt, &e, &err);
    CHECKF(st == want, "%s: status %s, want %s (%s)", name, sl_status_name(st),
           sl_status_name(want), err.message);
    CHECKF(e == NULL, "%s: an engine came back", name);
    CHECKF(strstr(err.message, path) != NULL, "%s: message does not name the file: %s", name,
           err.message);
    CHECKF(strstr(err.message, words) != NULL, "%s: message lacks '%s': %s", name, words,
           err.message);
    sl_engine_close(e);
}

static void check_limits(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tiny-llama.gguf", dir);
    sl_error err = {0};
    sl_engine *e = NULL;

    /* weights larger than the memory allowed */
    sl_engine_options opt = {.model_path = path, .n_threads = 1, .memory_limit = 4096};
    CHECK(sl_engine_open(&opt, &e, &err) == SL_ERR_NO_MEMORY);
    CHECKF(strstr(err.message, path) && strstr(err.message, "memory"), "%s", err.message);

    /* weights fit, a long KV cache does not */
    opt.memory_limit = 200u << 10; /* the weights are 148 KiB */
    CHECKF(sl_engine_open(&opt, &e, &err) == SL_OK, "%s", err.message);
    if (!e)
        return;
    sl_session *s = NULL;
    CHECK(sl_session_new(e, 256, &s, &err) == SL_ERR_NO_MEMORY);
    CHECKF(strstr(err.message, "256 tokens") != NULL, "%s", err.message);
    CHECK(s == NULL);
    /* more tokens than the model's context, and none */
    CHECK(sl_session_new(e, 257, &s, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECK(sl_session_new(e, 0, &s, &err) == SL_ERR_INVALID_ARGUMENT);
    sl_engine_close(e);

    /* an FP8 KV cache is DeepSeek-V3.2's */
    sl_engine_options fp8 = {.model_path = path, .n_threads = 1, .kv_cache_fp8 = true};
    e = NULL;
    CHECK(sl_engine_open(&fp8, &e, &err) == SL_ERR_UNSUPPORTED && e == NULL);
    CHECKF(strstr(err.message, path) && strstr(err.message, "FP8"), "%s", err.message);

    /* a session: out-of-vocabulary ids and a full context are errors, not crashes */
    opt.memory_limit = 0;
    CHECK(sl_engine_open(&opt, &e, &err) == SL_OK);
    CHECK(sl_session_new(e, 4, &s, &err) == SL_OK);
    int32_t bad[2] = {1, 100000};
    CHECK(sl_session_prefill(s, bad, 2, NULL, &err) == SL_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(err.message, "100000") != NULL, "%s", err.message);
    CHECK(sl_session_length(s) == 0);
    int32_t five[5] = {1, 2, 3, 4, 5};
    CHECK(sl_session_prefill(s, five, 5, NULL, &err) == SL_ERR_CONTEXT_FULL);
    CHECK(sl_session_prefill(s, five, 4, NULL, &err) == SL_OK);
    int32_t tok;
    CHECK(sl_session_next(s, NULL, &tok, &err) == SL_ERR_CONTEXT_FULL);
    sl_session_free(s);
    sl_engine_close(e);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s tests/data/llama\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    expect_refused("arch-mistery.gguf", SL_ERR_UNSUPPORTED, "'mistery'");
    expect_refused("no-block-count.gguf", SL_ERR_FORMAT, "llama.block_count");
    expect_refused("no-head-count.gguf", SL_ERR_FORMAT, "llama.attention.head_count");
    expect_refused("no-attn-q.gguf", SL_ERR_FORMAT, "blk.1.attn_q.weight");
    expect_refused("no-embeddings.gguf", SL_ERR_FORMAT, "token_embd.weight");
    expect_refused("short-ffn-up.gguf", SL_ERR_FORMAT, "blk.0.ffn_up.weight");
    expect_refused("rope-scaling-yarn.gguf", SL_ERR_UNSUPPORTED, "yarn");

    char missing[1024];
    snprintf(missing, sizeof missing, "%s/no-such-model.gguf", dir);
    sl_engine_options opt = {.model_path = missing};
    sl_engine *e = NULL;
    sl_error err = {0};
    CHECK(sl_engine_open(&opt, &e, &err) == SL_ERR_IO);
    CHECKF(strstr(err.message, missing) != NULL, "%s", err.message);

    check_limits();
    return sl_test_finish();
}
