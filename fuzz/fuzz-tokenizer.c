/* fuzz-tokenizer: libFuzzer target for the tokenizer.
 *
 * The input bytes are encoded with and without special-token parsing by the
 * default model's tokenizer (loaded once: $SIGHTLINE_MODEL, else the
 * installed copy, as sl_model_path() finds it); decoding the ids must give the input back, less the
 * bytes the vocabulary has no token for (see sl_tokenizer_encode()). The
 * input is also split by every pre-tokenizer, whose pieces must cover it
 * exactly. Any mismatch aborts.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Dgui=disabled
 *   build-fuzz/fuzz/fuzz-tokenizer -max_total_time=600 CORPUS_DIR */
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sl_tokenizer *tokenizer(void)
{
    static sl_tokenizer *tok;
    static sl_gguf *gguf;
    if (tok)
        return tok;
    char path[4096];
    const char *env = getenv("SIGHTLINE_MODEL");
    if (env && *env)
        snprintf(path, sizeof path, "%s", env);
    else
        sl_model_path("default", path, sizeof path);
    sl_error err = {0};
    if (sl_gguf_open(path, &gguf, &err) != SL_OK ||
        sl_tokenizer_from_gguf(gguf, &tok, &err) != SL_OK) {
        fprintf(stderr, "fuzz-tokenizer: cannot load the tokenizer: %s\n", err.message);
        abort();
    }
    return tok;
}

static void check_round_trip(const sl_tokenizer *tok, const uint8_t *data, size_t size,
                             const sl_tokens *ids, bool parse_special)
{
    size_t i = 0;
    for (size_t k = 0; k < ids->n; k++) {
        size_t len;
        const char *p = sl_tokenizer_piece(tok, ids->ids[k], &len);
        if (!p) {
            fprintf(stderr, "fuzz-tokenizer: id %d out of range\n", ids->ids[k]);
            abort();
        }
        if (!parse_special && sl_tokenizer_is_special(tok, ids->ids[k])) {
            fprintf(stderr, "fuzz-tokenizer: special id %d without parse_special\n", ids->ids[k]);
            abort();
        }
        for (size_t j = 0; j < len; j++) {
            while (i < size && sl_tokenizer_byte_token(tok, data[i]) < 0)
                i++;
            if (i >= size || data[i] != (uint8_t)p[j]) {
                fprintf(stderr,
                        "fuzz-tokenizer: decode(encode(x)) != x at input byte %zu (token %zu, "
                        "id %d, parse_special %d)\n",
                        i, k, ids->ids[k], (int)parse_special);
                abort();
            }
            i++;
        }
    }
    while (i < size && sl_tokenizer_byte_token(tok, data[i]) < 0)
        i++;
    if (i != size) {
        fprintf(stderr, "fuzz-tokenizer: decoded text stops at byte %zu of %zu\n", i, size);
        abort();
    }
}

typedef struct {
    const uint8_t *data;
    size_t size, at;
} cover_state;

static sl_status cover(void *ctx, const char *piece, size_t len, sl_error *err)
{
    (void)err;
    cover_state *c = ctx;
    if (len == 0 || (const uint8_t *)piece != c->data + c->at || c->at + len > c->size) {
        fprintf(stderr, "fuzz-tokenizer: pre-tokenizer piece at %zu does not follow on\n", c->at);
        abort();
    }
    c->at += len;
    return SL_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const sl_tokenizer *tok = tokenizer();
    for (int ps = 0; ps < 2; ps++) {
        sl_tokens ids = {0};
        sl_error err = {0};
        if (sl_tokenizer_encode(tok, (const char *)data, size, ps, &ids, &err) != SL_OK) {
            fprintf(stderr, "fuzz-tokenizer: encode failed: %s\n", err.message);
            abort();
        }
        check_round_trip(tok, data, size, &ids, ps);
        free(ids.ids);
    }
    sl_pre_work work = {0};
    for (int kind = SL_PRE_GPT2; kind <= SL_PRE_DEEPSEEK3; kind++) {
        cover_state c = {data, size, 0};
        sl_error err = {0};
        if (sl_pretokenize((sl_pre_kind)kind, (const char *)data, size, &work, cover, &c, &err) !=
                SL_OK ||
            c.at != size) {
            fprintf(stderr, "fuzz-tokenizer: pre-tokenizer %d covered %zu of %zu bytes\n", kind,
                    c.at, size);
            abort();
        }
    }
    sl_pre_work_free(&work);
    return 0;
}
