/* pretokenize.h: the pre-tokenizers that split text into words before BPE.
 *
 * Hand-written equivalents of the Hugging Face `tokenizers` pre-tokenizer
 * pipelines (each regex split with behaviour "Isolated": matches and the
 * gaps between them both become pieces; a later stage splits each piece of
 * the stage before it on its own, so lookaheads stop at piece ends):
 *
 *   gpt2      ByteLevel(use_regex): 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
 *             ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   smollm    Digits(individual_digits) (each \p{N} alone), then gpt2
 *   llama3    (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *             ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   qwen2     llama3 with \p{N} instead of \p{N}{1,3}
 *   deepseek3 \p{N}{1,3}, then [一-龥぀-ゟ゠-ヿ]+, then
 *             [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|
 *             [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|
 *             \s*[\r\n]+|\s+(?!\S)|\s+
 *
 * \s is White_Space; the case-insensitive contractions match as Oniguruma
 * (the regex engine of `tokenizers`) does: 's' also matches U+017F (ſ).
 *
 * Invalid UTF-8: the text is decoded strictly (no overlongs, surrogates or
 * code points above U+10FFFF); every byte that does not begin a valid
 * sequence is a piece of its own, and the valid runs between such bytes are
 * pre-tokenized independently. */
#ifndef SL_PRETOKENIZE_H
#define SL_PRETOKENIZE_H

#include "sightline-engine.h"

typedef enum {
    SL_PRE_GPT2,
    SL_PRE_SMOLLM,
    SL_PRE_LLAMA3,
    SL_PRE_QWEN2,
    SL_PRE_DEEPSEEK3,
} sl_pre_kind;

/* Maps a tokenizer.ggml.pre value to a kind; false when unknown. */
bool sl_pre_kind_from_name(const char *name, size_t len, sl_pre_kind *out);
const char *sl_pre_kind_name(sl_pre_kind kind);

/* Scratch buffers, reusable across calls; zero-initialise, then free. */
typedef struct {
    uint32_t *cps;   /* code points; SL_PRE_INVALID for an invalid byte */
    uint8_t *flags;  /* sl_unicode_flags() of each */
    size_t *offs;    /* byte offset of each, plus one past the end */
    size_t capacity; /* code points the arrays hold */
} sl_pre_work;

#define SL_PRE_INVALID 0xFFFFFFFFu

void sl_pre_work_free(sl_pre_work *work);

/* Called for each piece in order; a status other than SL_OK stops the
 * split and is returned. The pieces cover text exactly, without overlap. */
typedef sl_status (*sl_pre_emit)(void *ctx, const char *piece, size_t len, sl_error *err);

sl_status sl_pretokenize(sl_pre_kind kind, const char *text, size_t n, sl_pre_work *work,
                         sl_pre_emit emit, void *ctx, sl_error *err);

/* Strict UTF-8 decoding of one code point at s[0..n): returns its length
 * (1..4) and sets *cp, or 0 when s[0] does not begin a valid sequence. */
size_t sl_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

#endif
