/* chat.c: recognising a model's chat template and rendering messages with it.
 *
 * The Jinja templates are not interpreted: each supported family is
 * recognised by a marker in tokenizer.chat_template and rendered by hand,
 * exactly as its template renders (messages with role and content only):
 *
 *   ChatML (SmolLM2): when the first message is not a system message, a
 *     system turn "You are a helpful AI assistant named SmolLM, trained by
 *     Hugging Face" comes first; each message is
 *     "<|im_start|>ROLE\nCONTENT<|im_end|>\n"; the assistant opening is
 *     "<|im_start|>assistant\n".
 *   Llama 3 (Meta-Llama-3-*-Instruct): "<|begin_of_text|>" before the first
 *     message; each is "<|start_header_id|>ROLE<|end_header_id|>\n\n"
 *     + CONTENT with surrounding whitespace trimmed + "<|eot_id|>".
 *   DeepSeek V3: "<｜begin▁of▁sentence｜>", then the system messages joined by
 *     "\n\n", then "<｜User｜>CONTENT" per user message and
 *     "<｜Assistant｜>CONTENT<｜end▁of▁sentence｜>" per assistant message;
 *     the assistant opening is "<｜Assistant｜>". Other roles (tools) need
 *     fields sl_chat_message does not have: SL_ERR_INVALID_ARGUMENT.
 *   DeepSeek V3.2 (detected by "<｜Assistant｜></think>" in the template): as V3 for
 *     the beginning, the system prompts and the user turns, but an assistant
 *     turn opens with "<｜Assistant｜></think>" (an empty thinking block: the
 *     non-thinking mode) and only right after a user turn; an answer in the
 *     history is cut to what follows its first "</think>"; the assistant
 *     opening is "<｜Assistant｜></think>", after a user turn only. This is
 *     the DeepSeek-V3.1(-Terminus) chat_template with thinking unset (the
 *     copy we read was V3.1-Terminus's, quoted in ik_llama.cpp issue #804;
 *     DeepSeek-V3.2-Exp's tokenizer_config.json is meant to carry the same
 *     one, which we could not read here). DeepSeek-V3.2 ships no
 *     Jinja template but encoding/encoding_dsv32.py; its chat mode
 *     ("<｜User｜>{user}<｜Assistant｜></think>" then "{answer}<｜end▁of▁sentence｜>")
 *     renders the same text for a system prompt first, then alternating
 *     user and assistant turns ending in a user turn, with the assistant
 *     opening asked for. It differs elsewhere: it keeps each system message
 *     in place, unjoined; it always follows a user turn with the opening; it
 *     keeps an answer's text before "</think>".
 *     Golden renderings: tests/data/deepseek-v32/chat-golden.txt.
 *
 * A file without tokenizer.chat_template has no template: we do not guess
 * one (transformers, too, refuses to apply a missing template), except for
 * a DeepSeek-V3.2 directory (sl_chat_detect_dir), whose format is published
 * as Python rather than as a template. */
#include "tokenizer/tokenizer.h"

#include "error.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode-data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMOLLM_SYSTEM "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

#define DS_BOS "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define DS_EOS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define DS_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define DS_ASSISTANT "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"

static bool contains(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (k > n)
        return false;
    for (size_t i = 0; i + k <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, k) == 0)
            return true;
    return false;
}

sl_status sl_chat_detect_text(const char *source, const char *text, size_t len,
                              sl_chat_template *out, sl_error *err)
{
    if (!out || (!text && len))
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "chat: no template text given");
    if (!source)
        source = "chat template";
    sl_gguf_string s = {text ? text : "", text ? len : 0};
    if (contains(s.ptr, s.len, "<|im_start|>")) {
        *out = SL_CHAT_CHATML;
        return SL_OK;
    }
    if (contains(s.ptr, s.len, "<|start_header_id|>")) {
        /* Llama 3.1 and later put a dated system turn first: not this form. */
        if (contains(s.ptr, s.len, "Cutting Knowledge Date"))
            return sl_fail(err, SL_ERR_UNSUPPORTED,
                           "%s: the Llama 3.1+ chat template (dated system turn, tools) is not "
                           "supported; only the Llama 3 one is",
                           source);
        *out = SL_CHAT_LLAMA3;
        return SL_OK;
    }
    if (contains(s.ptr, s.len, DS_ASSISTANT)) {
        /* V3.1 and later open non-thinking turns with an empty thinking
         * block; R1's "<｜Assistant｜><think>\n" stays with V3, as before */
        *out = contains(s.ptr, s.len, DS_ASSISTANT "</think>") ? SL_CHAT_DEEPSEEK_V32
                                                               : SL_CHAT_DEEPSEEK_V3;
        return SL_OK;
    }
    /* Quote the start of the template: about 60 bytes, whole characters,
     * control characters escaped. */
    char quote[256];
    size_t q = 0;
    for (size_t i = 0; i < s.len && i < 60 && q + 8 < sizeof quote;) {
        uint32_t cp;
        size_t n = sl_utf8_decode((const unsigned char *)s.ptr + i, s.len - i, &cp);
        if (n == 0 || cp < 0x20) {
            unsigned char c = (unsigned char)s.ptr[i];
            q += (size_t)snprintf(quote + q, sizeof quote - q,
                                  c == '\n' ? "\\n" : c == '\t' ? "\\t" : "\\x%02x", c);
            i++;
            continue;
        }
        memcpy(quote + q, s.ptr + i, n);
        q += n;
        i += n;
    }
    quote[q] = 0;
    return sl_fail(err, SL_ERR_UNSUPPORTED,
                   "%s: chat template not recognised (supported: ChatML, Llama 3, DeepSeek V3, "
                   "DeepSeek V3.2): '%s%s'",
                   source, quote, s.len > 60 ? "..." : "");
}

sl_status sl_chat_detect(const sl_gguf *g, sl_chat_template *out, sl_error *err)
{
    const char *key = "tokenizer.chat_template";
    if (!g || !out)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "chat: no GGUF file given");
    if (!sl_gguf_has(g, key))
        return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: no chat template (%s is missing)",
                       sl_gguf_path(g), key);
    sl_gguf_string s;
    sl_status st = sl_gguf_get_string(g, key, &s, err);
    if (st)
        return st;
    return sl_chat_detect_text(sl_gguf_path(g), s.ptr, s.len, out, err);
}

const char *sl_chat_end_of_turn(sl_chat_template tmpl)
{
    switch (tmpl) {
    case SL_CHAT_CHATML: return "<|im_end|>";
    case SL_CHAT_LLAMA3: return "<|eot_id|>";
    case SL_CHAT_DEEPSEEK_V3: return DS_EOS;
    case SL_CHAT_DEEPSEEK_V32: return DS_EOS;
    default: return "";
    }
}

/* ---- a growing string ------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} strbuf;

static void put(strbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (n > SIZE_MAX / 2 - b->len - 1) {
        b->failed = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->failed = true;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
}

static void puts_(strbuf *b, const char *s) { put(b, s, strlen(s)); }

/* Python's str.isspace(), which Jinja's trim filter (str.strip) uses. */
static bool py_space(uint32_t cp)
{
    return (cp >= 0x1C && cp <= 0x1F) || (sl_unicode_flags(cp) & SL_UC_SPACE);
}

/* Appends s with leading and trailing whitespace removed. */
static void put_trimmed(strbuf *b, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), start = 0, end = 0, i = 0;
    bool seen = false;
    while (i < n) {
        uint32_t cp;
        size_t len = sl_utf8_decode(u + i, n - i, &cp);
        if (len == 0) {
            len = 1;
            cp = 0xFFFD; /* not a space */
        }
        if (!py_space(cp)) {
            if (!seen)
                start = i;
            seen = true;
            end = i + len;
        }
        i += len;
    }
    if (seen)
        put(b, s + start, end - start);
}

static bool role_is(const sl_chat_message *m, const char *role) { return strcmp(m->role, role) == 0; }

sl_status sl_chat_render_template(sl_chat_template tmpl, const sl_chat_message *messages,
                                  size_t n, bool add_assistant, char **out, sl_error *err)
{
    if (!out || (n && !messages))
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "chat: no messages or output given");
    for (size_t i = 0; i < n; i++)
        if (!messages[i].role || !messages[i].content)
            return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "chat: message %zu has no %s", i,
                           messages[i].role ? "content" : "role");
    strbuf b = {0};
    put(&b, "", 0);
    switch (tmpl) {
    case SL_CHAT_CHATML:
        for (size_t i = 0; i < n; i++) {
            if (i == 0 && !role_is(&messages[0], "system"))
                puts_(&b, "<|im_start|>system\n" SMOLLM_SYSTEM "<|im_end|>\n");
            puts_(&b, "<|im_start|>");
            puts_(&b, messages[i].role);
            puts_(&b, "\n");
            puts_(&b, messages[i].content);
            puts_(&b, "<|im_end|>\n");
        }
        if (add_assistant)
            puts_(&b, "<|im_start|>assistant\n");
        break;
    case SL_CHAT_LLAMA3:
        for (size_t i = 0; i < n; i++) {
            if (i == 0)
                puts_(&b, "<|begin_of_text|>");
            puts_(&b, "<|start_header_id|>");
            puts_(&b, messages[i].role);
            puts_(&b, "<|end_header_id|>\n\n");
            put_trimmed(&b, messages[i].content);
            puts_(&b, "<|eot_id|>");
        }
        if (add_assistant)
            puts_(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case SL_CHAT_DEEPSEEK_V3:
    case SL_CHAT_DEEPSEEK_V32: {
        bool v32 = tmpl == SL_CHAT_DEEPSEEK_V32;
        for (size_t i = 0; i < n; i++)
            if (!role_is(&messages[i], "system") && !role_is(&messages[i], "user") &&
                !role_is(&messages[i], "assistant")) {
                free(b.buf);
                return sl_fail(err, SL_ERR_INVALID_ARGUMENT,
                               "chat: message %zu has role '%.40s'; the DeepSeek V3%s template "
                               "takes system, user and assistant",
                               i, messages[i].role, v32 ? ".2" : "");
            }
        puts_(&b, DS_BOS);
        bool first_system = true;
        for (size_t i = 0; i < n; i++) {
            if (!role_is(&messages[i], "system"))
                continue;
            if (!first_system)
                puts_(&b, "\n\n");
            puts_(&b, messages[i].content);
            first_system = false;
        }
        if (!v32) {
            for (size_t i = 0; i < n; i++) {
                if (role_is(&messages[i], "user")) {
                    puts_(&b, DS_USER);
                    puts_(&b, messages[i].content);
                } else if (role_is(&messages[i], "assistant")) {
                    puts_(&b, DS_ASSISTANT);
                    puts_(&b, messages[i].content);
                    puts_(&b, DS_EOS);
                }
            }
            if (add_assistant)
                puts_(&b, DS_ASSISTANT);
            break;
        }
        /* V3.2: an assistant turn opens (with the empty thinking block
         * "</think>") only right after a user turn; history drops whatever
         * came before the first "</think>" of an answer. */
        bool last_user = false;
        for (size_t i = 0; i < n; i++) {
            if (role_is(&messages[i], "user")) {
                puts_(&b, DS_USER);
                puts_(&b, messages[i].content);
                last_user = true;
            } else if (role_is(&messages[i], "assistant")) {
                if (last_user)
                    puts_(&b, DS_ASSISTANT "</think>");
                last_user = false;
                const char *c = messages[i].content, *end = strstr(c, "</think>");
                puts_(&b, end ? end + 8 : c);
                puts_(&b, DS_EOS);
            }
        }
        if (add_assistant && last_user)
            puts_(&b, DS_ASSISTANT "</think>");
        break;
    }
    default:
        free(b.buf);
        return sl_fail(err, SL_ERR_UNSUPPORTED, "chat: no chat template to render with");
    }
    if (b.failed) {
        free(b.buf);
        return sl_fail(err, SL_ERR_NO_MEMORY, "chat: out of memory rendering %zu messages", n);
    }
    *out = b.buf;
    return SL_OK;
}
