/* sightline-cli: the engine from the command line. */
#include "options.h"
#ifdef SL_HAVE_APP
#include "cmd-ask.h"
#include "cmd-library.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In parts: ISO C compilers need not take string literals over 4095 bytes. */
static const char usage_commands[] =
    "usage: sightline-cli COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "commands:\n"
    "  generate --model M [--chat] PROMPT   continue PROMPT (or, with --chat, answer it),\n"
    "                                       streaming the text; -f FILE reads the prompt\n"
    "  chat --model M [--system TEXT]       interactive multi-turn chat on stdin/stdout\n"
    "  tokenize --model M [--pieces] [--no-special] TEXT\n"
    "                                       print token ids (and their text)\n"
    "  logits --model M --tokens 1,2,3 --out F\n"
    "                                       write float32 logits, n_tokens x vocab, row-major\n"
    "  info MODEL                           describe a model file\n"
    "  devices                              the NVIDIA GPUs the driver reports: name,\n"
    "                                       memory, compute capability, id\n";
#ifdef SL_HAVE_APP
static const char usage_library[] =
    "\n"
    "the library of documents (--library FILE: another than the default one in\n"
    "$XDG_DATA_HOME/sightline/library.db):\n"
    "  add PATH... [--collection C]         add PDF, text, Markdown and source files,\n"
    "      [--password P] [--verbose]       and folders (source trees: .gitignore is\n"
    "      [--max-file-size 2M]             honoured; binaries, files over 2M and\n"
    "      [--include-vendored]             node_modules, vendor, build... are skipped).\n"
    "                                       Again: only changed files are read; P opens\n"
    "                                       encrypted PDFs\n"
    "  list [--collection C]                the documents\n"
    "  show DOC                             one document (DOC: its id or path)\n"
    "  rm DOC...                            remove documents\n"
    "  search [--limit N] WORDS             passages with every word (\"a phrase\")\n"
    "  collections                          the collections and their sizes\n";
static const char usage_ask[] =
    "\n"
    "questions about documents of the library (the model: --model, default 'default'):\n"
    "  ask [--doc DOC]... [--collection C]  answer QUESTION from the documents (DOC: an id\n"
    "      [--budget N] [--conversation ID] or a path; again for more) or a collection,\n"
    "      QUESTION                         streaming it; then its sources, its citations\n"
    "                                       checked against them, what was left out, and\n"
    "                                       where the model looked. --budget: context\n"
    "                                       tokens, answer included (default: the model's);\n"
    "                                       -n: answer tokens (default 512); greedy unless\n"
    "                                       --temperature. Default --dsa oracle --top-k 512:\n"
    "                                       the oracle records real selections on any model,\n"
    "                                       at dense cost; --dsa dense records none\n"
    "  summarize DOC... [--collection C]    summarise documents (same options as ask)\n"
    "  explain ANSWER [--token N]           where the model looked for a stored answer:\n"
    "      [--layers A-B] [--question]      its passages ranked by selections, for the\n"
    "      [--limit N]                      whole answer, one answer token (0-based), some\n"
    "                                       layers (0-based), both, or the question\n"
    "  history [--conversation ID]          the answers, newest first\n"
    "      [--limit N]\n";
#endif
static const char usage_options[] =
    "\n"
    "options:\n"
    "  --model, -m FILE|default   a GGUF model; 'default' is the installed default model\n"
    "  --threads, -t N            CPU threads (default: all online CPUs)\n"
    "  --ctx N                    context size in tokens (default: the model's)\n"
    "  --max-tokens, -n N         tokens to generate per answer (default 256)\n"
    "  --temperature T            0 for greedy (default 0.7)\n"
    "  --sample-top-k N --top-p P --min-p P\n"
    "                             sampling filters (defaults 40, 0.95, 0.05; 0/1/0: off)\n"
    "  --repeat-penalty R --repeat-last-n N   (defaults 1.1 over 64 tokens; 1: off)\n"
    "  --seed N                   sampling seed (default 0); same seed, same text\n"
    "\n"
    "DeepSeek Sparse Attention (generate, chat, logits):\n"
    "  --dsa dense|oracle|indexer  dense attention (default; a DeepSeek-V3.2 checkpoint\n"
    "                             uses its own indexer); the top-k of the dense\n"
    "                             attention mass (oracle); or a lightning indexer\n"
    "  --top-k N                  positions each token attends to under DSA (default 2048;\n"
    "                             a DeepSeek-V3.2 checkpoint's index_topk)\n"
    "  --indexer FILE             the indexer weights (--dsa indexer, llama family)\n"
    "  --indexer-fp8              DeepSeek's FP8 numerics in a model's own indexer\n"
    "  --fp8-cache                DeepSeek-V3.2's caches in FP8, as DeepSeek deploys it:\n"
    "                             the latent and the indexer keys in e4m3 (656 and 132\n"
    "                             bytes a token on a GPU, against 1,152 and 256 in BF16)\n"
    "  --selections OUT.json      write what was selected: tokens, per-layer counts,\n"
    "                             per-token most selected positions\n"
    "  --top-m M                  positions kept per recorded token (default 64)\n"
    "\n"
    "  --device auto|cpu|cuda:N   where the model runs. auto (the default): the first\n"
    "                             GPU when it can run the model, else the CPU, saying\n"
    "                             why; auto:GPU prefers a GPU by number or id (see\n"
    "                             devices); cuda:N: GPU N or an error. The GPU runs\n"
    "                             llama-family models and DeepSeek-V3.2, dense or DSA\n"
    "  --blas                     prefill matrix products through BLAS (builds with BLAS)\n"
    "  --quiet, -q                no statistics, and no line saying where the model\n"
    "                             runs, on stderr\n"
    "  --help, -h                 this text\n";

static void print_usage(FILE *f)
{
    fputs(usage_commands, f);
#ifdef SL_HAVE_APP
    fputs(usage_library, f);
    fputs(usage_ask, f);
#endif
    fputs(usage_options, f);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    static const struct {
        const char *name;
        int (*run)(cli_options *);
    } commands[] = {{"info", cmd_info},       {"tokenize", cmd_tokenize}, {"logits", cmd_logits},
                    {"generate", cmd_generate}, {"chat", cmd_chat},
                    {"devices", cmd_devices}};
#ifdef SL_HAVE_APP
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } library_commands[] = {{"add", cmd_add},       {"list", cmd_list},     {"show", cmd_show},
                            {"rm", cmd_rm},         {"search", cmd_search}, {"collections", cmd_collections},
                            {"ask", cmd_ask},       {"summarize", cmd_summarize},
                            {"explain", cmd_explain}, {"history", cmd_history}};
#endif
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            print_usage(stdout);
            return 0;
        }
#ifdef SL_HAVE_APP
    for (size_t c = 0; c < sizeof library_commands / sizeof library_commands[0]; c++)
        if (!strcmp(argv[1], library_commands[c].name))
            return library_commands[c].run(argc - 1, argv + 1);
#endif
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        if (strcmp(argv[1], commands[c].name) != 0)
            continue;
        cli_options o = {0};
        int rc = cli_parse(argc - 2, argv + 2, &o) ? commands[c].run(&o) : 2;
        free(o.args);
        return rc;
    }
    fprintf(stderr, "sightline-cli: unknown command '%s' (see --help)\n", argv[1]);
    return 2;
}
