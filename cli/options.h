/* options.h: command-line options shared by the sightline-cli commands. */
#ifndef SL_CLI_OPTIONS_H
#define SL_CLI_OPTIONS_H

#include "sightline-engine.h"

typedef struct {
    const char *model;      /* path, or "default" */
    int threads;
    const char *device;     /* --device auto|auto:GPU|cpu|cuda|cuda:N (default auto) */
    size_t ctx;             /* session size in tokens; 0: the model's */
    int max_tokens;         /* tokens to generate */
    sl_sampling sampling;
    const char *system;     /* chat: system message */
    const char *tokens;     /* logits: comma-separated ids */
    const char *out;        /* logits: output file */
    const char *prompt_file;
    bool chat;              /* generate: wrap the prompt as a user turn */
    bool no_special;        /* tokenize: special-token text is plain text */
    bool pieces;            /* tokenize: print each token's text */
    bool quiet;
    bool blas;              /* prefill products through BLAS */
    bool fp8_cache;         /* --fp8-cache: DeepSeek-V3.2's caches in FP8 */
    sl_dsa_options dsa;     /* --dsa, --top-k */
    bool dsa_given, top_k_given;
    const char *indexer;    /* --indexer FILE */
    const char *selections; /* --selections OUT.json */
    int n_args;             /* positional arguments */
    char **args;
} cli_options;

/* Parses argv after the command name; prints the problem and returns false
 * on a bad option. */
bool cli_parse(int argc, char **argv, cli_options *o);
/* Opens the engine for o->model, printing any error, then (unless --quiet)
 * where it runs. */
sl_engine *cli_open_engine(const cli_options *o);
/* One line on stderr: "sightline-cli: running on <device>", or the engine's
 * notice when "auto" fell back to the CPU. */
void cli_print_device(const char *device, const char *notice);
/* Prints "sightline-cli: <message>" for an error to stderr. */
void cli_print_error(const sl_error *err);
/* Applies o's DSA options to a new session, printing any error. A model with
 * an indexer of its own (DeepSeek-V3.2) uses it unless --dsa says otherwise;
 * o->dsa becomes what the session runs. */
bool cli_session_dsa(const sl_engine *e, sl_session *s, cli_options *o);
/* Writes the session's selection records to path as JSON. */
bool cli_write_selections(sl_engine *e, const sl_session *s, sl_dsa_mode mode, const char *path);
/* Reads a whole file into a NUL-terminated malloc'd buffer. */
char *cli_read_file(const char *path, size_t *len);

int cmd_info(cli_options *o);
int cmd_tokenize(cli_options *o);
int cmd_logits(cli_options *o);
int cmd_generate(cli_options *o);
int cmd_chat(cli_options *o);
int cmd_devices(cli_options *o);

#endif
