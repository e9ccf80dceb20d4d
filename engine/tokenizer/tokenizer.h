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
void sl_tokenizer_free(sl_tokenizer *tok);

int32_t sl_tokenizer_n_vocab(const sl_tokenizer *tok);
/* Appends ids to out (growing it). See sl_tokenize() for parse_special and
 * for how invalid UTF-8 is handled. */
sl_status sl_tokenizer_encode(const sl_tokenizer *tok, const char *text, size_t n,
                              bool parse_special, sl_tokens *out, sl_error *err);
/* The decoded bytes of a token (byte-level mapping undone); NULL for a bad id. */
const char *sl_tokenizer_piece(const sl_tokenizer *tok, int32_t id, size_t *len);
bool sl_tokenizer_is_special(const sl_tokenizer *tok, int32_t id);
/* Id of a token by its exact text, or -1. */
int32_t sl_tokenizer_find(const sl_tokenizer *tok, const char *text);
int32_t sl_tokenizer_bos(const sl_tokenizer *tok); /* -1 when none */
int32_t sl_tokenizer_eos(const sl_tokenizer *tok);
/* Grows tokens to hold at least n more ids. */
sl_status sl_tokens_reserve(sl_tokens *tokens, size_t more, sl_error *err);

/* Chat templates: detected from tokenizer.chat_template (ChatML, Llama 3,
 * DeepSeek V3). A template we do not recognise is SL_ERR_UNSUPPORTED. */
sl_status sl_chat_detect(const sl_gguf *gguf, sl_chat_template *out, sl_error *err);
sl_status sl_chat_render_template(sl_chat_template tmpl, const sl_chat_message *messages,
                                  size_t n, bool add_assistant, char **out, sl_error *err);
/* The token text that ends an assistant turn in this template ("<|im_end|>"). */
const char *sl_chat_end_of_turn(sl_chat_template tmpl);

#endif
