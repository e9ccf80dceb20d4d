/* tokenizer.h: byte-level BPE from GGUF metadata, and chat templates.
 *
 * Built from tokenizer.ggml.{model,pre,tokens,token_type,merges,*_token_id}.
 * The pre-tokenizer is chosen by tokenizer.ggml.pre; an unknown one is a
 * clear SL_ERR_UNSUPPORTED naming the file and the value. */
#ifndef SL_TOKENIZER_H
#define SL_TOKENIZER_H

#include "model/gguf.h"
#include "sightline-engine.h"

typedef struct sl_tokenizer sl_tokenizer;

sl_status sl_tokenizer_from_gguf(const sl_gguf *gguf, sl_tokenizer **out, sl_error *err);
/* From a Hugging Face model directory: dir/tokenizer.json, and
 * dir/tokenizer_config.json when present (bos/eos/pad tokens, add_bos_token).
 * What is accepted is described in tokenizer-json.c; an unknown
 * pre-tokenizer or normalizer is SL_ERR_UNSUPPORTED naming the file. */
sl_status sl_tokenizer_from_json(const char *dir, sl_tokenizer **out, sl_error *err);
void sl_tokenizer_free(sl_tokenizer *tok);

int32_t sl_tokenizer_n_vocab(const sl_tokenizer *tok);
/* 64 hex digits: the SHA-256 of the pre-tokenizer, vocabulary and merges. */
const char *sl_tokenizer_fingerprint(const sl_tokenizer *tok);
/* Appends ids to out (growing it). See sl_tokenize() for parse_special and
 * for how invalid UTF-8 is handled.
 *
 * parse_special: the texts of control (type 3) and user-defined (type 4)
 * tokens become their ids, leftmost match first, the longest where several
 * start at the same byte; without it they are plain text.
 * Invalid UTF-8: the text is decoded strictly (overlong forms, surrogates and
 * code points above U+10FFFF are invalid); each byte that does not begin a
 * valid sequence is a pre-token of its own (its byte-level token), and the
 * valid runs between such bytes are pre-tokenized on their own. Valid UTF-8
 * gives what Hugging Face `tokenizers` gives.
 * Bytes the vocabulary has no byte-level token for (SmolLM2 lacks 21 of the
 * 256: 0x04 0x06 0x13 0x14 0x16 0x1D 0xC0 0xC1 0xF1 0xF2 0xF5..0xFF) cannot be
 * encoded and are dropped, as `tokenizers` drops them; see
 * sl_tokenizer_byte_token(). So decode(encode(s)) == s for every byte string
 * s, once those bytes are removed from s. */
sl_status sl_tokenizer_encode(const sl_tokenizer *tok, const char *text, size_t n,
                              bool parse_special, sl_tokens *out, sl_error *err);
/* The decoded bytes of a token (byte-level mapping undone); NULL for a bad id. */
const char *sl_tokenizer_piece(const sl_tokenizer *tok, int32_t id, size_t *len);
bool sl_tokenizer_is_special(const sl_tokenizer *tok, int32_t id);
/* Id of a token by its exact text, or -1. */
int32_t sl_tokenizer_find(const sl_tokenizer *tok, const char *text);
int32_t sl_tokenizer_bos(const sl_tokenizer *tok); /* -1 when none */
int32_t sl_tokenizer_eos(const sl_tokenizer *tok);
/* The token of one byte in the byte-level alphabet; -1 when the vocabulary
 * has none (such a byte is dropped by sl_tokenizer_encode()). */
int32_t sl_tokenizer_byte_token(const sl_tokenizer *tok, uint8_t byte);
/* tokenizer.ggml.add_bos_token (false when absent). */
bool sl_tokenizer_add_bos(const sl_tokenizer *tok);
/* The token's text as stored in the vocabulary (byte-level alphabet for
 * normal tokens), NUL-terminated; NULL for a bad id. */
const char *sl_tokenizer_text(const sl_tokenizer *tok, int32_t id);
/* Grows tokens to hold at least n more ids. */
sl_status sl_tokens_reserve(sl_tokens *tokens, size_t more, sl_error *err);

/* Chat templates: detected from the Jinja text of a template (ChatML,
 * Llama 3, DeepSeek V3, DeepSeek V3.2). A template we do not recognise is
 * SL_ERR_UNSUPPORTED; source (the file) is named in the message. */
sl_status sl_chat_detect_text(const char *source, const char *text, size_t len,
                              sl_chat_template *out, sl_error *err);
/* From tokenizer.chat_template of a GGUF file. */
sl_status sl_chat_detect(const sl_gguf *gguf, sl_chat_template *out, sl_error *err);
/* From a Hugging Face directory: chat_template of dir/tokenizer_config.json (a
 * string, or the "default" of a list of named templates), else
 * dir/chat_template.jinja, else SL_CHAT_DEEPSEEK_V32 when dir/config.json has
 * model_type "deepseek_v32" (DeepSeek-V3.2 ships no Jinja template, only
 * encoding/encoding_dsv32.py). None at all is SL_ERR_UNSUPPORTED. */
sl_status sl_chat_detect_dir(const char *dir, sl_chat_template *out, sl_error *err);
sl_status sl_chat_render_template(sl_chat_template tmpl, const sl_chat_message *messages,
                                  size_t n, bool add_assistant, char **out, sl_error *err);
/* The token text that ends an assistant turn in this template ("<|im_end|>");
 * "" for SL_CHAT_NONE. */
const char *sl_chat_end_of_turn(sl_chat_template tmpl);

#endif
