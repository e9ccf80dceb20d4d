/* bpe.h: building a tokenizer from plain arrays (inside the engine and for
 * tests; sl_tokenizer_from_gguf() and sl_tokenizer_from_json() gather these
 * from their files). */
#ifndef SL_BPE_H
#define SL_BPE_H

#include "tokenizer/tokenizer.h"

/* GGUF token types (tokenizer.ggml.token_type). */
enum {
    SL_TOKEN_UNDEFINED = 0,
    SL_TOKEN_NORMAL = 1,
    SL_TOKEN_UNKNOWN = 2,
    SL_TOKEN_CONTROL = 3,
    SL_TOKEN_USER_DEFINED = 4,
    SL_TOKEN_UNUSED = 5,
    SL_TOKEN_BYTE = 6,
};

typedef struct {
    const char *source;           /* named in error messages (the file) */
    sl_gguf_string model;         /* tokenizer.ggml.model: must be "gpt2" */
    sl_gguf_string pre;           /* tokenizer.ggml.pre; len 0 and ptr NULL: "default" */
    const sl_gguf_string *tokens; /* n_tokens strings */
    uint64_t n_tokens;
    const int32_t *types; /* n_tokens values, or NULL: all normal */
    const sl_gguf_string *merges; /* "left right", in rank order */
    uint64_t n_merges;
    int64_t bos, eos, unk, pad; /* -1: none */
    bool add_bos;
    /* Whether a word that is itself a token skips the merges (tokenizers'
     * BPE ignore_merges); SL_MERGES_DEFAULT: as the pre-tokenizer implies
     * (llama-bpe ignores them, as llama.cpp does for it). */
    enum { SL_MERGES_DEFAULT, SL_MERGES_APPLY, SL_MERGES_IGNORE } ignore_merges;
} sl_tokenizer_parts;

sl_status sl_tokenizer_from_parts(const sl_tokenizer_parts *parts, sl_tokenizer **out,
                                  sl_error *err);

#endif
