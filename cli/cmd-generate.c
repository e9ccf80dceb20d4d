/* cmd-generate.c: the generate and chat commands (streamed text). */
#include "options.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static sl_session *volatile interrupted_session;

/* Ctrl-C stops the answer being written; with none being written, it quits. */
static void on_interrupt(int sig)
{
    if (interrupted_session) {
        sl_session_cancel(interrupted_session); /* an atomic store: signal-safe */
        return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    char *text; /* the answer so far, NUL-terminated */
    size_t len, cap;
} answer_text;

static bool append(answer_text *a, const char *p, size_t n)
{
    if (a->len + n + 1 > a->cap) {
        size_t cap = (a->len + n + 1) * 2;
        char *t = realloc(a->text, cap);
        if (!t)
            return false;
        a->text = t;
        a->cap = cap;
    }
    memcpy(a->text + a->len, p, n);
    a->len += n;
    a->text[a->len] = 0;
    return true;
}

/* Feeds ids after the first `keep` tokens of the session, then samples up to
 * o->max_tokens tokens, streaming their text to stdout. */
static sl_status answer(sl_engine *e, sl_session *s, const cli_options *o, const sl_tokens *ids,
                        size_t keep, answer_text *out, sl_error *err)
{
    sl_session_truncate(s, keep);
    interrupted_session = s;
    double t0 = now_seconds();
    sl_status st = sl_session_prefill(s, ids->ids + keep, ids->n - keep, NULL, err);
    double t1 = now_seconds();
    int n = 0;
    while (st == SL_OK && n < o->max_tokens) {
        int32_t id;
        st = sl_session_next(s, &o->sampling, &id, err);
        if (st != SL_OK || sl_token_ends_turn(e, id))
            break;
        n++;
        if (sl_token_is_special(e, id))
            continue;
        size_t len;
        const char *piece = sl_token_piece(e, id, &len);
        fwrite(piece, 1, len, stdout);
        fflush(stdout);
        if (out && !append(out, piece, len))
            st = SL_ERR_NO_MEMORY;
    }
    double t2 = now_seconds();
    interrupted_session = NULL;
    putchar('\n');
    fflush(stdout); /* before the statistics on stderr */
    if (!o->quiet)
        fprintf(stderr, "[%s: %zu prompt tokens in %.2f s, %.1f tokens/s; %d generated at %.1f tokens/s]\n",
                sl_engine_device(e),
                ids->n - keep, t1 - t0, (double)(ids->n - keep) / (t1 - t0 + 1e-9), n,
                (double)n / (t2 - t1 + 1e-9));
    return st;
}

static bool prepend(sl_tokens *t, int32_t id)
{
    int32_t *ids = realloc(t->ids, (t->n + 1) * sizeof *ids);
    if (!ids)
        return false;
    memmove(ids + 1, ids, t->n * sizeof *ids);
    ids[0] = id;
    t->ids = ids;
    t->capacity = ++t->n;
    return true;
}

static size_t common_prefix(const sl_session *s, const sl_tokens *ids)
{
    const int32_t *held = sl_session_tokens(s);
    size_t n = sl_session_length(s) < ids->n ? sl_session_length(s) : ids->n, i = 0;
    while (i < n && held[i] == ids->ids[i])
        i++;
    return i == ids->n ? i - 1 : i; /* always feed at least one token to get logits */
}

static sl_session *new_session(sl_engine *e, cli_options *o)
{
    size_t ctx = o->ctx ? o->ctx : (size_t)sl_engine_model(e)->n_ctx_train;
    sl_session *s = NULL;
    sl_error err = {0};
    if (sl_session_new(e, ctx, &s, &err) != SL_OK)
        cli_print_error(&err);
    else if (!cli_session_dsa(e, s, o)) {
        sl_session_free(s);
        s = NULL;
    }
    return s;
}

int cmd_generate(cli_options *o)
{
    size_t len = 0;
    char *file = o->prompt_file ? cli_read_file(o->prompt_file, &len) : NULL;
    if (!file && (o->prompt_file || o->n_args != 1)) {
        if (!o->prompt_file)
            fprintf(stderr, "sightline-cli: generate takes one PROMPT argument (or -f FILE)\n");
        return 2;
    }
    const char *prompt = file ? file : o->args[0];
    sl_engine *e = cli_open_engine(o);
    sl_session *s = e ? new_session(e, o) : NULL;
    sl_error err = {0};
    sl_tokens ids = {0};
    char *rendered = NULL;
    sl_status st = s ? SL_OK : SL_ERR_INVALID_ARGUMENT;
    if (st == SL_OK && o->chat) {
        sl_chat_message msgs[2] = {{"system", o->system}, {"user", prompt}};
        size_t first = o->system ? 0 : 1;
        st = sl_chat_render(e, msgs + first, 2 - first, true, &rendered, &err);
        prompt = rendered;
    }
    if (st == SL_OK)
        st = sl_tokenize(e, prompt, strlen(prompt), !o->no_special, &ids, &err);
    /* raw text starts with BOS where the model asks for it; chat templates write their own */
    if (st == SL_OK && !o->chat && sl_engine_model(e)->add_bos &&
        !prepend(&ids, sl_engine_model(e)->bos_id))
        st = SL_ERR_NO_MEMORY;
    if (st == SL_OK && ids.n == 0) {
        snprintf(err.message, sizeof err.message, "the prompt is empty");
        st = err.code = SL_ERR_INVALID_ARGUMENT;
    }
    if (st == SL_OK) {
        signal(SIGINT, on_interrupt);
        st = answer(e, s, o, &ids, 0, NULL, &err);
        if ((st == SL_OK || st == SL_ERR_CANCELLED) && o->selections &&
            !cli_write_selections(e, s, o->dsa.mode, o->selections))
            st = SL_ERR_IO;
    }
    if (st != SL_OK && s)
        cli_print_error(&err);
    sl_tokens_free(&ids);
    free(rendered);
    free(file);
    sl_session_free(s);
    sl_engine_close(e);
    return st == SL_OK || st == SL_ERR_CANCELLED ? 0 : 1;
}

typedef struct {
    sl_chat_message *items;
    size_t n, cap;
} conversation;

static bool add_message(conversation *c, const char *role, const char *content)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        sl_chat_message *m = realloc(c->items, cap * sizeof *m);
        if (!m)
            return false;
        c->items = m;
        c->cap = cap;
    }
    char *copy = strdup(content);
    if (!copy)
        return false;
    c->items[c->n++] = (sl_chat_message){role, copy};
    return true;
}

static void clear_messages(conversation *c, size_t keep)
{
    while (c->n > keep)
        free((char *)c->items[--c->n].content);
}

/* One user turn: render the whole conversation, reuse the cached prefix,
 * stream the answer and keep it in the conversation. */
static sl_status chat_turn(sl_engine *e, sl_session *s, const cli_options *o, conversation *c,
                           sl_tokens *ids, sl_error *err)
{
    char *rendered = NULL;
    ids->n = 0;
    sl_status st = sl_chat_render(e, c->items, c->n, true, &rendered, err);
    if (st == SL_OK)
        st = sl_tokenize(e, rendered, strlen(rendered), true, ids, err);
    free(rendered);
    if (st != SL_OK)
        return st;
    size_t keep = common_prefix(s, ids);
    answer_text reply = {0};
    st = answer(e, s, o, ids, keep, &reply, err);
    if ((st == SL_OK || st == SL_ERR_CANCELLED) && !add_message(c, "assistant", reply.text ? reply.text : ""))
        st = SL_ERR_NO_MEMORY;
    free(reply.text);
    return st;
}

int cmd_chat(cli_options *o)
{
    sl_engine *e = cli_open_engine(o);
    sl_session *s = e ? new_session(e, o) : NULL;
    if (!s) {
        sl_engine_close(e);
        return 1;
    }
    conversation c = {0};
    size_t base = 0;
    if (o->system && add_message(&c, "system", o->system))
        base = 1;
    sl_tokens ids = {0};
    char line[65536];
    int rc = 0;
    signal(SIGINT, on_interrupt);
    fprintf(stderr, "Chatting with %s. /reset forgets the conversation, /exit or Ctrl-D leaves.\n",
            sl_engine_model(e)->name);
    for (;;) {
        fputs("> ", stderr);
        if (!fgets(line, sizeof line, stdin))
            break;
        line[strcspn(line, "\r\n")] = 0;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit"))
            break;
        if (!strcmp(line, "/reset")) {
            clear_messages(&c, base);
            sl_session_truncate(s, 0);
            continue;
        }
        if (!line[0])
            continue;
        sl_error err = {0};
        sl_status st = add_message(&c, "user", line) ? chat_turn(e, s, o, &c, &ids, &err)
                                                      : SL_ERR_NO_MEMORY;
        if ((st == SL_OK || st == SL_ERR_CANCELLED) && o->selections)
            cli_write_selections(e, s, o->dsa.mode, o->selections);
        if (st == SL_ERR_CONTEXT_FULL) {
            cli_print_error(&err);
            fprintf(stderr, "sightline-cli: the conversation fills the context: /reset to start over\n");
            clear_messages(&c, c.n - 1);
        } else if (st != SL_OK && st != SL_ERR_CANCELLED) {
            cli_print_error(&err);
            rc = 1;
            break;
        }
    }
    sl_tokens_free(&ids);
    clear_messages(&c, 0);
    free(c.items);
    sl_session_free(s);
    sl_engine_close(e);
    return rc;
}
