/* cmd-inspect.c: the info, tokenize and logits commands. */
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *template_name(sl_chat_template t)
{
    switch (t) {
    case SL_CHAT_CHATML: return "ChatML";
    case SL_CHAT_LLAMA3: return "Llama 3";
    case SL_CHAT_DEEPSEEK_V3: return "DeepSeek V3";
    case SL_CHAT_DEEPSEEK_V32: return "DeepSeek V3.2";
    case SL_CHAT_NONE: break;
    }
    return "none";
}

int cmd_info(cli_options *o)
{
    if (!o->model && o->n_args == 1)
        o->model = o->args[0];
    sl_engine *e = cli_open_engine(o);
    if (!e)
        return 1;
    const sl_model_info *m = sl_engine_model(e);
    printf("name:           %s\n", m->name);
    printf("architecture:   %s\n", m->architecture);
    printf("layers:         %d\n", m->n_layers);
    printf("embedding:      %d\n", m->n_embd);
    printf("heads:          %d query, %d key/value, head dim %d\n", m->n_heads, m->n_kv_heads,
           m->head_dim);
    printf("feed-forward:   %d\n", m->n_ff);
    printf("vocabulary:     %d\n", m->n_vocab);
    printf("context:        %d\n", m->n_ctx_train);
    printf("rope base:      %g\n", (double)m->rope_theta);
    printf("norm epsilon:   %g\n", (double)m->norm_eps);
    printf("output:         %s\n", m->tied_output ? "tied to the embeddings" : "own matrix");
    if (m->index_top_k > 0)
        printf("sparse attention: the model's own indexer, top-k %d\n", m->index_top_k);
    printf("chat template:  %s\n", template_name(m->chat_template));
    printf("file size:      %.1f MiB\n", (double)m->weight_bytes / 1048576.0);
    printf("runs on:        %s\n", sl_engine_device(e));
    sl_engine_close(e);
    return 0;
}

static void print_piece(const char *p, size_t len)
{
    putchar('\'');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\'' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('\'');
}

int cmd_tokenize(cli_options *o)
{
    size_t len = 0;
    char *text = o->prompt_file ? cli_read_file(o->prompt_file, &len) : NULL;
    if (!text && (o->prompt_file || o->n_args != 1)) {
        if (!o->prompt_file)
            fprintf(stderr, "sightline-cli: tokenize takes one TEXT argument (or -f FILE)\n");
        return 2;
    }
    sl_engine *e = cli_open_engine(o);
    if (!e) {
        free(text);
        return 1;
    }
    const char *t = text ? text : o->args[0];
    sl_tokens toks = {0};
    sl_error err = {0};
    int rc = 0;
    if (sl_tokenize(e, t, text ? len : strlen(t), !o->no_special, &toks, &err) != SL_OK) {
        cli_print_error(&err);
        rc = 1;
    }
    for (size_t i = 0; rc == 0 && i < toks.n; i++) {
        if (o->pieces) {
            size_t plen;
            const char *p = sl_token_piece(e, toks.ids[i], &plen);
            printf("%6d ", toks.ids[i]);
            print_piece(p, plen);
            putchar('\n');
        } else {
            printf(i ? ",%d" : "%d", toks.ids[i]);
        }
    }
    if (rc == 0 && !o->pieces)
        putchar('\n');
    sl_tokens_free(&toks);
    sl_engine_close(e);
    free(text);
    return rc;
}

/* Parses "1,2,3" into ids; false (with a message) on anything else. */
static bool parse_ids(const char *s, sl_tokens *out)
{
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            fprintf(stderr, "sightline-cli: --tokens expects ids like 1,2,3, not '%s'\n", s);
            return false;
        }
        if (out->n == out->capacity) {
            size_t cap = out->capacity ? out->capacity * 2 : 64;
            int32_t *ids = realloc(out->ids, cap * sizeof *ids);
            if (!ids)
                return false;
            out->ids = ids;
            out->capacity = cap;
        }
        out->ids[out->n++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    if (out->n == 0)
        fprintf(stderr, "sightline-cli: --tokens is empty\n");
    return out->n > 0;
}

int cmd_logits(cli_options *o)
{
    sl_tokens ids = {0};
    if (!o->tokens || !o->out) {
        fprintf(stderr, "sightline-cli: logits needs --tokens 1,2,3 and --out FILE\n");
        return 2;
    }
    if (!parse_ids(o->tokens, &ids)) {
        sl_tokens_free(&ids);
        return 2;
    }
    sl_engine *e = cli_open_engine(o);
    if (!e) {
        sl_tokens_free(&ids);
        return 1;
    }
    size_t vocab = (size_t)sl_engine_model(e)->n_vocab;
    float *logits = malloc(ids.n * vocab * sizeof(float));
    sl_session *s = NULL;
    sl_error err = {0};
    int rc = 1;
    size_t ctx = o->ctx ? o->ctx : ids.n;
    if (!logits)
        fprintf(stderr, "sightline-cli: out of memory for %zu x %zu logits\n", ids.n, vocab);
    else if (sl_session_new(e, ctx, &s, &err) != SL_OK)
        cli_print_error(&err);
    else if (!cli_session_dsa(e, s, o))
        ;
    else if (sl_session_prefill_all_logits(s, ids.ids, ids.n, logits, &err) != SL_OK)
        cli_print_error(&err);
    else if (o->selections && !cli_write_selections(e, s, o->dsa.mode, o->selections))
        ;
    else {
        FILE *f = fopen(o->out, "wb");
        if (!f || fwrite(logits, sizeof(float), ids.n * vocab, f) != ids.n * vocab ||
            fclose(f) != 0)
            fprintf(stderr, "sightline-cli: %s: could not write the logits: %s\n", o->out,
                    strerror(errno));
        else
            rc = 0;
    }
    sl_session_free(s);
    free(logits);
    sl_engine_close(e);
    sl_tokens_free(&ids);
    return rc;
}

int cmd_devices(cli_options *o)
{
    if (o->n_args) {
        fprintf(stderr, "sightline-cli: devices takes no arguments\n");
        return 2;
    }
    enum { CAP = 64 };
    sl_device_info d[CAP];
    char reason[128];
    int n = 0;
    sl_error err = {0};
    if (sl_devices_list(d, CAP, &n, reason, sizeof reason, &err) != SL_OK) {
        cli_print_error(&err);
        return 1;
    }
    if (n == 0) {
        printf("no GPU: %s; the engine runs on the CPU\n", reason);
        return 0;
    }
    for (int i = 0; i < n && i < CAP; i++)
        printf("%d  %s  %.1f GiB  compute %d.%d  %s%s%s\n", d[i].index, d[i].name,
               (double)d[i].total_bytes / (1024.0 * 1024.0 * 1024.0), d[i].cc_major, d[i].cc_minor,
               d[i].id, d[i].pci_bus_id[0] ? "  " : "", d[i].pci_bus_id);
    if (n > CAP)
        printf("(and %d more)\n", n - CAP);
#ifdef SL_HAVE_CUDA
    if (!o->quiet)
        fprintf(stderr, "--device auto (the default) runs a model on GPU %d when it can; "
                "--device auto:ID or cuda:N chooses another\n", d[0].index);
#else
    if (!o->quiet)
        fprintf(stderr, "this build has no CUDA backend: the engine runs on the CPU\n");
#endif
    return 0;
}
