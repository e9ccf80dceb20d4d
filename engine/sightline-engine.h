/* sightline-engine.h: the one public header of the Sightline engine.
 *
 * Plain C11, no GLib. Every fallible call returns sl_status and fills an
 * sl_error (code + a message naming the file, tensor or argument at fault).
 * No call aborts or prints on bad input. */
#ifndef SIGHTLINE_ENGINE_H
#define SIGHTLINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SL_OK = 0,
    SL_ERR_INVALID_ARGUMENT, /* a caller passed something out of range */
    SL_ERR_IO,               /* open/read/mmap failed */
    SL_ERR_FORMAT,           /* a file is malformed or hostile */
    SL_ERR_UNSUPPORTED,      /* well-formed, but not something we handle */
    SL_ERR_NO_MEMORY,        /* an allocation failed or would exceed a limit */
    SL_ERR_CONTEXT_FULL,     /* the session has no room for more tokens */
    SL_ERR_CANCELLED,        /* sl_session_cancel() was called */
} sl_status;

typedef struct {
    sl_status code;
    char message[512];
} sl_error;

const char *sl_status_name(sl_status status);

/* ---- engine ------------------------------------------------------------ */

typedef struct sl_engine sl_engine;

typedef struct {
    const char *model_path; /* a GGUF file, or a Hugging Face checkpoint directory */
    int n_threads;          /* 0: one per online CPU */
    size_t memory_limit;    /* bytes the engine may use; 0: what the machine has */
    bool use_blas;          /* prefill products through BLAS (builds with BLAS only) */
    const char *device;     /* where the model runs (see below); NULL: "cpu" */
    bool no_graphs;         /* GPU: decode steps launch by launch, not as CUDA graphs (to measure) */
    bool kv_cache_fp8;      /* DeepSeek-V3.2's caches in FP8 as DeepSeek deploys it: the MLA
                               latent in e4m3 with a power-of-two scale per 128 values, and
                               the indexer keys in e4m3 (so with DeepSeek's FP8 indexer
                               numerics). On a GPU the caches take DeepSeek's layouts, 656
                               and 132 bytes a token at V3.2's dims (1,152 and 256 in BF16);
                               the CPU rounds its caches the same way. Llama models refuse it. */
} sl_engine_options;

/* Devices:
 * - "cpu" (or NULL): the CPU.
 * - "cuda" / "cuda:N": GPU N (the driver's ordinal; "cuda" is 0). The GPU runs
 *   llama-family models, dense or with the DSA oracle; when it cannot take
 *   the model (no such GPU, a build without CUDA, an architecture or head size
 *   it does not run yet, too little GPU memory) sl_engine_open fails, saying why.
 * - "auto": the first GPU when there is one that takes the model, else the CPU.
 *   "auto:GPU[,GPU…]" takes the first of the GPUs named (by ordinal, or by
 *   sl_device_info id: "GPU-<uuid>") that the machine has, else the CPU.
 *   Falling back is not an error: sl_engine_notice says why. */

typedef enum {
    SL_CHAT_CHATML,
    SL_CHAT_LLAMA3,
    SL_CHAT_DEEPSEEK_V3,
    SL_CHAT_DEEPSEEK_V32, /* V3.2's turns: "<｜Assistant｜></think>" */
    SL_CHAT_NONE, /* the model has no template we know: sl_chat_render says why */
} sl_chat_template;

typedef struct {
    const char *architecture; /* "llama" or "deepseek_v32" */
    const char *name;         /* general.name, or "" */
    int n_layers;
    int n_embd;
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int n_ff;
    int n_vocab;
    int n_ctx_train;
    float rope_theta;
    float norm_eps;
    bool tied_output;
    sl_chat_template chat_template;
    int32_t bos_id, eos_id, eot_id; /* -1 where the model has none */
    bool add_bos;             /* raw text should start with bos_id */
    size_t weight_bytes; /* bytes of weights as mapped from the file */
    int index_top_k;     /* the model's own indexer's top-k (DeepSeek-V3.2); 0: none */
    int index_heads, index_dim; /* and its heads and their dims */
    int kv_lora_rank, rope_dim; /* MLA's latent and shared rope key (DeepSeek); 0 for llama */
    uint64_t n_params;          /* weights, counted in elements (FP8 scales excluded) */
    bool fp8_weights;           /* the checkpoint stores FP8 e4m3 block-scaled weights */
} sl_model_info;

/* The default model's file name, and where packaging/fetch-model installs
 * it: $XDG_DATA_HOME/sightline/models/, else ~/.local/share/sightline/models/. */
#define SL_DEFAULT_MODEL_FILE "SmolLM2-135M-Instruct.Q4_1.gguf"
/* Writes the path of model into out: "default" becomes the installed default
 * model, anything else is copied as it is. False when it does not fit. */
bool sl_model_path(const char *model, char *out, size_t cap);

sl_status sl_engine_open(const sl_engine_options *options, sl_engine **out, sl_error *err);
void sl_engine_close(sl_engine *engine);
const sl_model_info *sl_engine_model(const sl_engine *engine);
int sl_engine_threads(const sl_engine *engine);
/* Where the engine computes: "the CPU (N threads)" or "cuda:N (name, memory)". */
const char *sl_engine_device(const sl_engine *engine);
/* One line when device "auto" runs on the CPU, saying why: "no NVIDIA GPU
 * found (no NVIDIA driver found): running on the CPU", or the GPU's refusal
 * (the reason sl_engine_open gives for "cuda:N"), ending the same way. NULL
 * when the engine runs where it was asked to. */
const char *sl_engine_notice(const sl_engine *engine);

/* ---- devices ----------------------------------------------------------- */

/* One NVIDIA GPU as the driver describes it. */
typedef struct {
    int index;             /* the driver's ordinal (CUDA_VISIBLE_DEVICES and
                              CUDA_DEVICE_ORDER change it) */
    char name[128];        /* "NVIDIA H100 80GB HBM3" */
    uint64_t total_bytes;  /* the device's memory */
    int cc_major, cc_minor;/* compute capability, 9.0 for Hopper */
    char id[64];           /* stable across runs: "GPU-<uuid>" as nvidia-smi writes it, or
                              "PCI-<bus id>" from drivers without UUIDs */
    char pci_bus_id[32];   /* "00000000:3B:00.0", or "" */
} sl_device_info;

/* Lists the NVIDIA GPUs through the driver (libcuda.so.1, loaded at run time;
 * $SIGHTLINE_LIBCUDA names another file). Fills out[0..min(cap, n)) and sets
 * *n_found to n. No driver or no GPU is not an error: SL_OK with n = 0 and
 * reason ("no NVIDIA driver found", "the driver found no GPU"); reason is ""
 * when GPUs were found. A driver that fails gives SL_ERR_IO (SL_ERR_UNSUPPORTED
 * for one too old) with the call and its CUresult code in err. Thread-safe;
 * the first call may take a second while the driver starts. */
sl_status sl_devices_list(sl_device_info *out, int cap, int *n_found, char *reason,
                          size_t reason_cap, sl_error *err);

/* ---- tokens ------------------------------------------------------------ */

typedef struct {
    int32_t *ids;
    size_t n;
    size_t capacity;
} sl_tokens;

void sl_tokens_free(sl_tokens *tokens);

/* Appends the ids of utf8[0..n) to out. With parse_special, the text of
 * special tokens (e.g. "<|im_start|>") becomes their id; without, it is
 * tokenised as plain text. Invalid UTF-8 bytes are kept, each as its
 * byte-level token, so decode(encode(s)) == s for every byte string, except
 * that bytes the vocabulary has no token for are dropped, as Hugging Face
 * `tokenizers` drops them (SmolLM2 lacks 21 of the 256, e.g. 0x1D, 0xFF;
 * details in tokenizer/tokenizer.h). */
sl_status sl_tokenize(const sl_engine *engine, const char *utf8, size_t n, bool parse_special,
                      sl_tokens *out, sl_error *err);

/* The bytes of one token (may be a partial UTF-8 sequence). NULL, *len = 0
 * for an id out of range. The pointer lives as long as the engine. */
const char *sl_token_piece(const sl_engine *engine, int32_t id, size_t *len);
bool sl_token_is_special(const sl_engine *engine, int32_t id);
/* The tokenizer's identity, 64 hex digits (SHA-256 of its pre-tokenizer, vocabulary and
 * merges): models that share it turn every text into the same ids. */
const char *sl_tokenizer_id(const sl_engine *engine);
/* True for tokens that end a turn (eos, eot, <|im_end|> …). */
bool sl_token_ends_turn(const sl_engine *engine, int32_t id);

/* ---- chat -------------------------------------------------------------- */

typedef struct {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
} sl_chat_message;

/* Renders messages with the model's template into a malloc'd UTF-8 string
 * (free()). With add_assistant, ends with the opening of an assistant turn. */
sl_status sl_chat_render(const sl_engine *engine, const sl_chat_message *messages, size_t n,
                         bool add_assistant, char **out, sl_error *err);

/* ---- sessions ---------------------------------------------------------- */

typedef struct sl_session sl_session;

typedef struct {
    /* Called after each chunk of prefill; return false to cancel. */
    bool (*callback)(void *user_data, size_t done, size_t total);
    void *user_data;
} sl_progress;

typedef struct {
    float temperature;        /* 0: greedy */
    int top_k;                /* 0: off */
    float top_p;              /* 1: off */
    float min_p;              /* 0: off */
    float repeat_penalty;     /* 1: off */
    int repeat_last_n;        /* tokens the penalty looks back over */
    uint64_t seed;
} sl_sampling;

sl_sampling sl_sampling_default(void);

sl_status sl_session_new(sl_engine *engine, size_t max_tokens, sl_session **out, sl_error *err);
void sl_session_free(sl_session *session);
size_t sl_session_length(const sl_session *session);
/* The tokens the session holds (sl_session_length() of them). */
const int32_t *sl_session_tokens(const sl_session *session);
/* Forgets tokens from position n on (n <= length). */
void sl_session_truncate(sl_session *session, size_t n);

/* Runs the model over ids, appending them to the session. Afterwards the
 * logits of the last token are available. */
sl_status sl_session_prefill(sl_session *session, const int32_t *ids, size_t n,
                             const sl_progress *progress, sl_error *err);
/* Next-token logits of the last token (n_vocab floats), or NULL if none. */
const float *sl_session_logits(const sl_session *session);
/* Whether the session's decode steps run as one CUDA graph, captured on its
 * first step and replayed (a GPU with graphs on, and no DSA); false on the
 * CPU, and where capturing failed and steps launch kernel by kernel. */
bool sl_session_decodes_on_graph(const sl_session *session);
/* Samples a token from the current logits and feeds it; *token gets it. */
sl_status sl_session_next(sl_session *session, const sl_sampling *sampling, int32_t *token,
                          sl_error *err);
/* Logits of every position of ids (n × n_vocab floats, row-major) into out. */
sl_status sl_session_prefill_all_logits(sl_session *session, const int32_t *ids, size_t n,
                                        float *out, sl_error *err);
void sl_session_cancel(sl_session *session); /* thread-safe */

/* ---- DeepSeek Sparse Attention ------------------------------------------ */

typedef enum {
    SL_DSA_DENSE,   /* no DSA: every head attends to every earlier position */
    SL_DSA_INDEXER, /* a lightning indexer scores positions; its top-k are attended */
    SL_DSA_ORACLE,  /* the top-k of the dense attention distribution summed over heads:
                       the teacher an indexer imitates, at dense cost */
} sl_dsa_mode;

typedef struct {
    sl_dsa_mode mode;
    int top_k;             /* positions each query token keeps (default 2048) */
    int record_top_m;      /* per recorded token: the M most voted positions (default 64) */
    int record_question;   /* the last N tokens of each prefill are recorded (default 64) */
    bool record_raw;       /* keep every layer's whole selection per recorded token */
    bool sparse_always;    /* take the sparse path even where k covers every position
                              (it equals dense there; for tests and measurement) */
    bool indexer_fp8;      /* a model's own indexer (DeepSeek-V3.2) with DeepSeek's FP8
                              numerics: q and k Hadamard-rotated, then e4m3 with one
                              power-of-two scale each (needs a power-of-two index dim) */
} sl_dsa_options;

sl_dsa_options sl_dsa_default(void);

/* Loads a lightning indexer for the engine's model (format: engine/README.md);
 * it must name the model by its SHA-256. Sessions in SL_DSA_INDEXER mode use it. */
sl_status sl_engine_load_indexer(sl_engine *engine, const char *path, sl_error *err);

/* Switches a session to DSA; only while it holds no tokens. */
sl_status sl_session_set_dsa(sl_session *session, const sl_dsa_options *options, sl_error *err);

/* What the indexer selected (DESIGN.md §4.5). A record belongs to one query
 * token: the last record_question tokens of each prefill, and each token fed
 * by sl_session_next(). The token sampled after query position p was chosen
 * from logits computed with the selections recorded at p. "Selected by the
 * indexer" is not "what mattered": these are what attention was allowed to
 * see. */
typedef struct {
    int32_t query_pos;
    bool answer;              /* fed by sl_session_next(), not by a prefill */
    int n_top;                /* ≤ record_top_m */
    const int32_t *top_pos;   /* the most voted positions: votes descending, then position */
    const uint16_t *top_votes;/* how many DSA layers selected each */
    const int32_t *raw;       /* record_raw: n_layers × top_k positions, -1 padded; else NULL */
    /* Which layers selected each top position: n_top × ((n_layers + 7) / 8) bytes, bit l % 8
     * of byte l / 8 for layer l; top_votes[t] is the number of bits of entry t. So a word's
     * selections over layers a..b are the bits a..b of its top positions (positions outside
     * its top M are not kept). NULL in records decoded from version 1 of the compact form. */
    const uint8_t *top_layers;
} sl_selection_record;

typedef struct {
    int n_layers;             /* layers of the model (counts has a row for each) */
    int top_k;
    size_t n_positions;       /* positions the counts cover: the session's length */
    size_t stride;            /* counts row stride */
    const uint32_t *counts;   /* n_layers × stride: times each position was selected by each
                                 layer, over the query tokens recorded since the session was
                                 last emptied (sl_session_truncate to 0) */
    size_t n_records;
    const sl_selection_record *records;
    /* n_layers: over every query row so far, the mean share of the dense
     * attention mass (summed over heads) that the selection kept; NULL
     * outside oracle mode, where the dense distribution is not computed. */
    const double *mass_kept;
} sl_selection_view;

/* Fills out (pointers valid until the session changes); SL_ERR_INVALID_ARGUMENT
 * for a dense session, which selects nothing. */
sl_status sl_session_selections(const sl_session *session, sl_selection_view *out, sl_error *err);

/* Makes each sparse row of the session attend to the selection that `from`
 * recorded for its position (another session's view, with record_raw, the
 * same layers and top-k), while the session still makes and records its own
 * choice. A test oracle: the CPU, given the GPU's selections, computes what
 * the GPU should have, without near-ties that BF16 decides otherwise
 * changing the attended sets; and its own choices show which selections
 * differ on the same inputs. The records are copied; positions without one
 * keep their own selection. Call after sl_session_set_dsa, which forgets it.
 * The CPU only (SL_ERR_UNSUPPORTED elsewhere). */
sl_status sl_session_replay(sl_session *session, const sl_selection_view *from, sl_error *err);

/* The compact serialised form of a selection view, for storing with an
 * answer (format: engine/README.md). Per-layer counts are summed into at
 * most SL_SELECTION_BINS bins of equal width; records keep their top
 * positions, votes and the layers that voted exactly (version 2; a view
 * whose records lack top_layers is written as version 1, without them, and
 * both versions decode); raw lists are not stored. One answer of 500
 * tokens over 128K positions and 61 layers stays under 2 MB. */
enum { SL_SELECTION_BINS = 8192 };

typedef struct {
    int n_layers, top_k;
    size_t n_positions;
    size_t bin_width, n_bins;  /* bin b covers positions [b·width, (b+1)·width) */
    const uint32_t *bins;      /* n_layers × n_bins */
    size_t n_records;
    const sl_selection_record *records; /* raw is NULL; top_layers NULL for version 1 */
    int version;               /* of the form decoded: 1 or 2 */
} sl_selections;

/* Encodes v into a malloc'd buffer (free()). */
sl_status sl_selections_encode(const sl_selection_view *v, uint8_t **out, size_t *len, sl_error *err);
/* Decodes and validates data; *out is freed with sl_selections_free. */
sl_status sl_selections_decode(const uint8_t *data, size_t len, sl_selections **out, sl_error *err);
void sl_selections_free(sl_selections *selections);

#ifdef __cplusplus
}
#endif
#endif
