/* engine.c: opening a model file into an engine (weights, tokenizer,
 * chat template, thread pool). */
#include "engine-internal.h"

#include "arch/deepseek-v32.h"
#include "cpu/matmul.h"
#ifdef SL_HAVE_CUDA
#include "cuda/deepseek-cuda.h"
#include "cuda/llama-cuda.h"
#endif
#include "error.h"
#include "model/sha256.h"


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool sl_model_path(const char *model, char *out, size_t cap)
{
    if (strcmp(model, "default") != 0)
        return (size_t)snprintf(out, cap, "%s", model) < cap;
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    int n = xdg && *xdg ? snprintf(out, cap, "%s/sightline/models/%s", xdg, SL_DEFAULT_MODEL_FILE)
                        : snprintf(out, cap, "%s/.local/share/sightline/models/%s",
                                   home ? home : ".", SL_DEFAULT_MODEL_FILE);
    return n >= 0 && (size_t)n < cap;
}

static size_t physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : 0;
}

size_t sl_available_memory(void)
{
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : 0;
}

static sl_status check_architecture(const sl_gguf *g, sl_engine *e, sl_error *err)
{
    sl_gguf_string arch;
    sl_status st = sl_gguf_get_string(g, "general.architecture", &arch, err);
    if (st != SL_OK)
        return st;
    if (!(arch.len == 5 && memcmp(arch.ptr, "llama", 5) == 0))
        return sl_fail(err, SL_ERR_UNSUPPORTED,
                       "%s: architecture '%.*s' is not supported (supported: llama)",
                       sl_gguf_path(g), (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
    e->info.architecture = "llama";
    sl_gguf_string name = {"", 0};
    if (sl_gguf_has(g, "general.name") && sl_gguf_get_string(g, "general.name", &name, NULL) != SL_OK)
        name = (sl_gguf_string){"", 0};
    e->name = strndup(name.ptr, name.len);
    if (!e->name)
        return sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory", sl_gguf_path(g));
    e->info.name = e->name;
    return SL_OK;
}

static void find_turn_ends(sl_engine *e)
{
    e->info.bos_id = sl_tokenizer_bos(e->tok);
    e->info.eos_id = sl_tokenizer_eos(e->tok);
    e->info.add_bos = sl_tokenizer_add_bos(e->tok) && e->info.bos_id >= 0;
    e->info.eot_id = -1;
    uint32_t v;
    if (e->gguf && sl_gguf_has(e->gguf, "tokenizer.ggml.eot_token_id") &&
        sl_gguf_get_u32(e->gguf, "tokenizer.ggml.eot_token_id", &v, NULL) == SL_OK &&
        v < (uint32_t)e->info.n_vocab)
        e->info.eot_id = (int32_t)v;
    if (e->info.chat_template != SL_CHAT_NONE) {
        int32_t id = sl_tokenizer_find(e->tok, sl_chat_end_of_turn(e->info.chat_template));
        if (id >= 0)
            e->info.eot_id = id;
    }
}

static sl_status check_fits(const sl_engine *e, const char *path, size_t need, sl_error *err)
{
    size_t have = physical_memory();
    if (e->memory_limit && (have == 0 || e->memory_limit < have))
        have = e->memory_limit;
    if (have && need > have)
        return sl_fail(err, SL_ERR_NO_MEMORY,
                       "%s: the model needs %.1f MiB of memory, but only %.1f MiB %s", path,
                       (double)need / 1048576.0, (double)have / 1048576.0,
                       have == e->memory_limit ? "are allowed" : "are installed");
    return SL_OK;
}

static sl_status open_gguf(sl_engine *e, const char *path, sl_error *err)
{
    sl_status st = sl_gguf_open(path, &e->gguf, err);
    if (!st)
        st = check_architecture(e->gguf, e, err);
    if (!st)
        st = check_fits(e, path, sl_gguf_file_size(e->gguf), err);
    sl_llama *llama = NULL;
    if (!st && !(st = sl_llama_load(e->gguf, &llama, &e->info, err))) {
        e->arch = &sl_llama_ops;
        e->model = llama;
    }
    if (!st)
        st = sl_tokenizer_from_gguf(e->gguf, &e->tok, err);
    if (st)
        return st;
    sl_error chat_err = {0};
    if (sl_chat_detect(e->gguf, &e->info.chat_template, &chat_err) != SL_OK) {
        e->info.chat_template = SL_CHAT_NONE;
        e->chat_error = chat_err;
    }
    uint32_t ctx = 0;
    if (sl_gguf_has(e->gguf, "llama.context_length"))
        st = sl_gguf_get_u32(e->gguf, "llama.context_length", &ctx, err);
    e->info.n_ctx_train = ctx ? (int)ctx : 2048;
    e->info.weight_bytes = sl_gguf_file_size(e->gguf);
    for (int64_t i = 0; i < sl_gguf_n_tensors(e->gguf); i++)
        e->info.n_params += sl_gguf_tensor_at(e->gguf, i)->n_elements;
    return st;
}

/* A Hugging Face checkpoint directory: DeepSeek-V3.2, with tokenizer.json. */
static sl_status open_checkpoint(sl_engine *e, const char *dir, sl_error *err)
{
    sl_status st = sl_checkpoint_open(dir, &e->checkpoint, err);
    if (!st)
        st = check_fits(e, dir, (size_t)sl_checkpoint_bytes(e->checkpoint), err);
    sl_deepseek *ds = NULL;
    if (!st && !(st = sl_deepseek_load(e->checkpoint, &ds, &e->info, err))) {
        e->arch = &sl_deepseek_ops;
        e->model = ds;
        e->info.architecture = "deepseek_v32";
        const char *slash = strrchr(sl_checkpoint_dir(e->checkpoint), '/');
        e->name = strdup(slash ? slash + 1 : sl_checkpoint_dir(e->checkpoint));
        if (!e->name)
            st = sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory", dir);
        e->info.name = e->name;
    }
    if (!st)
        st = sl_tokenizer_from_json(dir, &e->tok, err);
    if (st)
        return st;
    sl_error chat_err = {0};
    if (sl_chat_detect_dir(dir, &e->info.chat_template, &chat_err) != SL_OK) {
        e->info.chat_template = SL_CHAT_NONE;
        e->chat_error = chat_err;
    }
    e->info.weight_bytes = (size_t)sl_checkpoint_bytes(e->checkpoint);
    for (int64_t i = 0; i < sl_checkpoint_n_tensors(e->checkpoint); i++) {
        const sl_st_tensor *t = sl_checkpoint_tensor_at(e->checkpoint, i);
        size_t len = strlen(t->name);
        bool scale = len > 10 && strcmp(t->name + len - 10, "_scale_inv") == 0;
        e->info.n_params += scale ? 0 : t->n_elements;
        e->info.fp8_weights |= t->dtype == SL_ST_F8_E4M3;
    }
    return SL_OK;
}

enum { ON_CPU = -1, BAD_DEVICE = -2, AUTO = -3 };

/* The GPU an options' device string names: ON_CPU, AUTO ("auto" or
 * "auto:GPU"), or BAD_DEVICE when it names nothing we know. */
static int cuda_device(const char *device)
{
    if (!device || strcmp(device, "cpu") == 0)
        return ON_CPU;
    if (strcmp(device, "auto") == 0 || (strncmp(device, "auto:", 5) == 0 && device[5]))
        return AUTO;
    if (strcmp(device, "cuda") == 0)
        return 0;
    char *end;
    long n = strncmp(device, "cuda:", 5) == 0 ? strtol(device + 5, &end, 10) : -1;
    return n >= 0 && n < 1024 && device[5] && !*end ? (int)n : BAD_DEVICE;
}

/* Moves a llama or DeepSeek-V3.2 model onto GPU `device`;
 * graphs: decode steps as CUDA graphs where the backend has them. */
static sl_status to_gpu(sl_engine *e, int device, bool graphs, sl_error *err)
{
#ifdef SL_HAVE_CUDA
    void *gpu = NULL;
    sl_status st;
    if (e->arch == &sl_llama_ops) {
        if ((st = sl_llama_cuda_new(e->model, device, graphs, &gpu, e->device, sizeof e->device,
                                    err)))
            return st;
        e->arch = &sl_llama_cuda_ops;
    } else if (e->arch == &sl_deepseek_ops) {
        if ((st = sl_deepseek_cuda_new(e->model, device, graphs, &gpu, e->device, sizeof e->device,
                                       err)))
            return st;
        e->arch = &sl_deepseek_cuda_ops;
    } else {
        return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: the GPU does not run %s yet; it runs on the "
                       "CPU", e->name, e->info.architecture);
    }
    e->model = gpu;
    return SL_OK;
#else
    (void)e, (void)graphs;
    return sl_fail(err, SL_ERR_UNSUPPORTED, "cuda:%d: this build has no CUDA backend (it was "
                   "built where nvcc was not found)", device);
#endif
}

#ifdef SL_HAVE_CUDA
/* The ordinal of the GPU name[0..len) names, by its id or its ordinal, among
 * the n_found listed in d[0..n); -1 when none. */
static int find_gpu(const sl_device_info *d, int n, int n_found, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(d[i].id) == len && strncmp(d[i].id, name, len) == 0)
            return d[i].index;
    char *end;
    long ordinal = len && name[0] >= '0' && name[0] <= '9' ? strtol(name, &end, 10) : -1;
    return ordinal >= 0 && end == name + len && ordinal < n_found ? (int)ordinal : -1;
}
#endif

/* The GPU "auto" takes: the first of want's comma-separated GPUs (ordinals
 * or sl_device_info ids) that this machine has, or with want NULL the first
 * GPU; -1 with why filled when there is none to take. */
static int pick_gpu(const char *want, char *why, size_t cap)
{
#ifdef SL_HAVE_CUDA
    enum { CAP = 64 };
    sl_device_info d[CAP];
    char reason[128] = "";
    int n = 0;
    sl_error err = {0};
    if (sl_devices_list(d, CAP, &n, reason, sizeof reason, &err) != SL_OK) {
        snprintf(why, cap, "the GPUs could not be listed (%s)", err.message);
        return -1;
    }
    if (n == 0) {
        snprintf(why, cap, "no NVIDIA GPU found (%s)", reason);
        return -1;
    }
    for (const char *p = want; p; p = p[strcspn(p, ",")] ? p + strcspn(p, ",") + 1 : NULL) {
        int gpu = find_gpu(d, n < CAP ? n : CAP, n, p, strcspn(p, ","));
        if (gpu >= 0)
            return gpu;
    }
    if (!want)
        return 0;
    snprintf(why, cap, "none of the GPUs chosen (%.200s) is among the %d this machine has", want, n);
    return -1;
#else
    (void)want;
    snprintf(why, cap, "this build has no CUDA backend");
    return -1;
#endif
}

/* device "auto" or "auto:GPU": the GPU when one takes the model, else the CPU
 * with e->notice saying why. to_gpu leaves the CPU model as it was when it
 * fails, so the engine goes on with it. Returns the GPU used, or ON_CPU. */
static int place_auto(sl_engine *e, const char *device, bool graphs)
{
    char why[sizeof e->notice - 32];
    int gpu = pick_gpu(device[4] == ':' ? device + 5 : NULL, why, sizeof why);
    sl_error gpu_err = {0};
    if (gpu >= 0 && to_gpu(e, gpu, graphs, &gpu_err) == SL_OK)
        return gpu;
    if (gpu >= 0)
        snprintf(why, sizeof why, "%s", gpu_err.message);
    /* Some refusals already end saying that the model runs on the CPU. */
    const char *cpu = "runs on the CPU";
    size_t n = strlen(why), tail = strlen(cpu);
    if (n >= tail && strcmp(why + n - tail, cpu) == 0)
        snprintf(e->notice, sizeof e->notice, "%s", why);
    else
        snprintf(e->notice, sizeof e->notice, "%s: running on the CPU", why);
    return ON_CPU;
}

/* sl_engine_options.kv_cache_fp8: DeepSeek-V3.2's caches only. */
static sl_status use_fp8_cache(sl_engine *e, const char *path, sl_error *err)
{
    if (e->arch != &sl_deepseek_ops)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: an FP8 KV cache is DeepSeek-V3.2's (its MLA "
                       "latent and indexer keys); a %s model has none", path,
                       e->info.architecture);
    return sl_deepseek_use_fp8_cache(e->model, err);
}

static bool is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

sl_status sl_engine_open(const sl_engine_options *opt, sl_engine **out, sl_error *err)
{
    if (!opt || !opt->model_path || !out)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "engine: no model path given");
    int gpu = cuda_device(opt->device); /* checked before a long load */
    if (gpu == BAD_DEVICE)
        return sl_fail(err, SL_ERR_INVALID_ARGUMENT, "engine: device '%.40s' is not cpu, auto, "
                       "auto:GPU, cuda or cuda:N", opt->device);
    sl_engine *e = calloc(1, sizeof *e);
    if (!e)
        return sl_fail(err, SL_ERR_NO_MEMORY, "engine: out of memory");
    e->memory_limit = opt->memory_limit;
    e->use_blas = opt->use_blas;
    if (opt->use_blas && !sl_matmul_have_blas()) {
        free(e);
        return sl_fail(err, SL_ERR_UNSUPPORTED, "engine: BLAS was asked for, but this build has none");
    }
    sl_status st = is_directory(opt->model_path) ? open_checkpoint(e, opt->model_path, err)
                                                 : open_gguf(e, opt->model_path, err);
    /* A checkpoint's embedding may have rows past the tokenizer's last id
     * (DeepSeek pads 128,815 tokens to 129,280); a GGUF file's must match. */
    int n_tok = st ? 0 : sl_tokenizer_n_vocab(e->tok);
    if (!st && (e->gguf ? n_tok != e->info.n_vocab : n_tok > e->info.n_vocab))
        st = sl_fail(err, SL_ERR_FORMAT, "%s: the tokenizer has %d tokens but the model %d",
                     opt->model_path, n_tok, e->info.n_vocab);
    if (!st)
        find_turn_ends(e);
    if (!st && opt->kv_cache_fp8)
        st = use_fp8_cache(e, opt->model_path, err);
    if (!st && gpu == AUTO)
        gpu = place_auto(e, opt->device, !opt->no_graphs);
    else if (!st && gpu >= 0)
        st = to_gpu(e, gpu, !opt->no_graphs, err);
    if (!st)
        st = sl_pool_new(opt->n_threads, &e->pool, err);
    if (!st && gpu < 0)
        snprintf(e->device, sizeof e->device, "the CPU (%d thread%s)", sl_pool_size(e->pool),
                 sl_pool_size(e->pool) == 1 ? "" : "s");
    if (st) {
        sl_engine_close(e);
        return st;
    }
    *out = e;
    return SL_OK;
}

void sl_engine_close(sl_engine *e)
{
    if (!e)
        return;
    sl_pool_free(e->pool);
    sl_tokenizer_free(e->tok);
    if (e->model)
        e->arch->model_free(e->model);
    sl_gguf_close(e->gguf);
    sl_checkpoint_close(e->checkpoint);
    sl_indexer_free(e->indexer);
    free(e->name);
    free(e);
}

const sl_model_info *sl_engine_model(const sl_engine *e) { return &e->info; }
int sl_engine_threads(const sl_engine *e) { return sl_pool_size(e->pool); }
const char *sl_engine_device(const sl_engine *e) { return e->device; }
const char *sl_engine_notice(const sl_engine *e) { return e->notice[0] ? e->notice : NULL; }

sl_status sl_tokenize(const sl_engine *e, const char *utf8, size_t n, bool parse_special,
                      sl_tokens *out, sl_error *err)
{
    return sl_tokenizer_encode(e->tok, utf8, n, parse_special, out, err);
}

void sl_tokens_free(sl_tokens *t)
{
    free(t->ids);
    *t = (sl_tokens){0};
}

const char *sl_token_piece(const sl_engine *e, int32_t id, size_t *len)
{
    const char *p = sl_tokenizer_piece(e->tok, id, len);
    if (!p)
        *len = 0;
    return p;
}

bool sl_token_is_special(const sl_engine *e, int32_t id) { return sl_tokenizer_is_special(e->tok, id); }

bool sl_token_ends_turn(const sl_engine *e, int32_t id)
{
    return id >= 0 && (id == e->info.eos_id || id == e->info.eot_id);
}

sl_status sl_chat_render(const sl_engine *e, const sl_chat_message *messages, size_t n,
                         bool add_assistant, char **out, sl_error *err)
{
    if (e->info.chat_template == SL_CHAT_NONE) {
        if (err)
            *err = e->chat_error;
        return e->chat_error.code ? e->chat_error.code : SL_ERR_UNSUPPORTED;
    }
    return sl_chat_render_template(e->info.chat_template, messages, n, add_assistant, out, err);
}

const char *sl_tokenizer_id(const sl_engine *e)
{
    return sl_tokenizer_fingerprint(e->tok);
}

/* SHA-256 of the model file (already mapped), as 64 hex digits. */
static void model_sha256(const sl_engine *e, char hex[65])
{
    sl_sha256 sha;
    sl_sha256_init(&sha);
    sl_sha256_update(&sha, sl_gguf_file_bytes(e->gguf), sl_gguf_file_size(e->gguf));
    sl_sha256_hex(&sha, hex);
}

sl_status sl_engine_load_indexer(sl_engine *e, const char *path, sl_error *err)
{
    char hex[65];
    sl_indexer *ix = NULL;
    if (!e->gguf)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "%s: %s selects with its own indexer; indexer "
                       "files are for llama-family models", path, e->info.architecture);
    model_sha256(e, hex);
    sl_status st = sl_indexer_load(path, &e->info, hex, &ix, err);
    if (!st && e->arch->load_indexer && (st = e->arch->load_indexer(e->model, ix, err)))
        sl_indexer_free(ix);
    if (st != SL_OK)
        return st;
    sl_indexer_free(e->indexer);
    e->indexer = ix;
    return SL_OK;
}
