/* Broken DeepSeek-V3.2 checkpoints: each opens with a clear error that names
 * the file and the key or tensor at fault, and never crashes.
 *
 * Each case is a copy of the tiny checkpoint (argv[1]) in a fresh directory
 * under argv[2], with one thing changed: a key of config.json, or a value
 * planted in the weights. */
#include "../test-util.h"
#include "model/json.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *source, *scratch;
static int case_no;

static bool write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(data, 1, len, f) == len;
    return f && !fclose(f) && ok;
}

static bool link_to(const char *dir, const char *name)
{
    char from[2048], to[2048];
    snprintf(from, sizeof from, "%s/%s", dir, name);
    snprintf(to, sizeof to, "%s/%s", source, name);
    char *real = realpath(to, NULL);
    bool ok = real && symlink(real, from) == 0;
    free(real);
    return ok;
}

/* A new case directory with the tokenizer, and the weights unless given. */
static const char *new_case(bool link_weights)
{
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s/case-%d", scratch, ++case_no);
    mkdir(dir, 0755);
    CHECK(link_to(dir, "tokenizer.json") && link_to(dir, "tokenizer_config.json"));
    if (link_weights)
        CHECK(link_to(dir, "model.safetensors"));
    return dir;
}

/* The source config with `from` replaced by `to` (which must occur once). */
static void write_config(const char *dir, const char *from, const char *to)
{
    char path[2048];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/config.json", source);
    char *text = sl_test_read_file(path, &len);
    char *at = text ? strstr(text, from) : NULL;
    CHECKF(at != NULL, "config.json has no '%s'", from);
    if (!at) {
        free(text);
        return;
    }
    size_t head = (size_t)(at - text), from_len = strlen(from), to_len = strlen(to);
    char *out = malloc(len - from_len + to_len + 1);
    memcpy(out, text, head);
    memcpy(out + head, to, to_len);
    memcpy(out + head + to_len, at + from_len, len - head - from_len);
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(write_file(path, out, len - from_len + to_len));
    free(out);
    free(text);
}

/* Opening dir fails with code (0: any error), and the message holds both parts. */
static void expect_error(const char *dir, sl_status code, const char *part1, const char *part2)
{
    sl_engine *e = NULL;
    sl_error err = {0};
    sl_engine_options opt = {.model_path = dir, .n_threads = 1};
    sl_status st = sl_engine_open(&opt, &e, &err);
    CHECKF(code ? st == code : st != SL_OK, "%s: status %d, expected %d (%s)", dir, st, code,
           err.message);
    CHECKF(strstr(err.message, part1) && (!part2 || strstr(err.message, part2)),
           "'%s' lacks '%s' / '%s'", err.message, part1, part2 ? part2 : "");
    sl_engine_close(e);
}

static void config_cases(void)
{
    static const struct {
        const char *from, *to;
        sl_status code;
        const char *says;
    } cases[] = {
        {"\"model_type\": \"deepseek_v32\"", "\"model_type\": \"llama\"", SL_ERR_UNSUPPORTED, "model_type 'llama'"},
        {"\"hidden_size\": 64,", "", SL_ERR_FORMAT, "'hidden_size' is missing"},
        {"\"hidden_size\": 64", "\"hidden_size\": \"64\"", SL_ERR_FORMAT, "'hidden_size' must be an integer"},
        {"\"hidden_size\": 64", "\"hidden_size\": -64", SL_ERR_FORMAT, "'hidden_size' = -64"},
        {"\"num_key_value_heads\": 4", "\"num_key_value_heads\": 2", SL_ERR_FORMAT, "num_key_value_heads 2"},
        {"\"type\": \"yarn\"", "\"type\": \"dynamic\"", SL_ERR_UNSUPPORTED, "'dynamic'"},
        {"\"q_lora_rank\": 32", "\"q_lora_rank\": null", SL_ERR_UNSUPPORTED, "q_lora_rank"},
        {"\"n_group\": 4", "\"n_group\": 3", SL_ERR_FORMAT, "groups"},
        {"\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": 7", SL_ERR_FORMAT, "num_experts_per_tok 7"},
        {"\"qk_rope_head_dim\": 16", "\"qk_rope_head_dim\": 15", SL_ERR_FORMAT, "qk_rope_head_dim"},
        {"\"scoring_func\": \"sigmoid\"", "\"scoring_func\": \"softmax\"", SL_ERR_UNSUPPORTED, "scoring_func"},
        {"\"num_hidden_layers\": 3", "\"num_hidden_layers\": 4", SL_ERR_FORMAT,
         "tensor 'model.layers.3.input_layernorm.weight' is missing"},
        {"\"hidden_size\": 64", "\"hidden_size\": 80", SL_ERR_FORMAT, "expected [1024, 80]"},
        {"\"kv_lora_rank\": 32", "\"kv_lora_rank\": 48", SL_ERR_FORMAT, "kv_a_proj_with_mqa"},
        {"\"vocab_size\": 1024", "\"vocab_size\": 1000", SL_ERR_FORMAT, "embed_tokens"},
        {"\"eos_token_id\": 1", "\"eos_token_id\": 5000", SL_ERR_FORMAT, "eos_token_id"},
        {"\"factor\": 40", "\"factor\": 1e400", SL_ERR_FORMAT, "factor"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *dir = new_case(true);
        write_config(dir, cases[i].from, cases[i].to);
        expect_error(dir, cases[i].code, dir, cases[i].says);
    }
}

/* Byte offset of a tensor's data in a safetensors file held in memory. */
static size_t tensor_offset(const char *file, size_t len, const char *name)
{
    uint64_t header = 0;
    memcpy(&header, file, 8);
    sl_json *root = NULL;
    sl_error err = {0};
    if (header + 8 > len || sl_json_parse(file + 8, (size_t)header, &root, &err) != SL_OK)
        return 0;
    const sl_json *offsets = sl_json_object_get(sl_json_object_get(root, name), "data_offsets");
    uint64_t begin = 0;
    bool ok = sl_json_uint64(sl_json_array_at(offsets, 0), &begin);
    sl_json_free(root);
    return ok ? (size_t)(8 + header + begin) : 0;
}

static void weight_cases(void)
{
    char path[2048];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/model.safetensors", source);
    char *file = sl_test_read_file(path, &len);
    const char *name = "model.layers.1.self_attn.kv_b_proj.weight";
    size_t at = file ? tensor_offset(file, len, name) : 0;
    CHECK(at > 0);
    if (!at) {
        free(file);
        return;
    }
    static const uint8_t planted[][2] = {{0xc0, 0x7f}, {0x80, 0x7f}}; /* BF16 NaN, +inf */
    for (size_t i = 0; i < 2; i++) {
        const char *dir = new_case(false);
        memcpy(file + at + 2 * 7, planted[i], 2); /* element 7 */
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        CHECK(write_file(path, file, len));
        write_config(dir, "\"model_type\"", "\"model_type\"");
        expect_error(dir, SL_ERR_FORMAT, name, "non-finite value at element 7");
    }
    free(file);
    /* no weights at all, and no tokenizer */
    const char *dir = new_case(false);
    write_config(dir, "\"model_type\"", "\"model_type\"");
    expect_error(dir, 0, dir, "model.safetensors");
    snprintf(path, sizeof path, "%s/case-%d", scratch, ++case_no);
    mkdir(path, 0755);
    CHECK(link_to(path, "model.safetensors"));
    write_config(path, "\"model_type\"", "\"model_type\"");
    expect_error(path, 0, "tokenizer.json", NULL);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test-deepseek-errors TINY-CHECKPOINT SCRATCH-DIR\n");
        return 2;
    }
    source = argv[1];
    char templ[512];
    snprintf(templ, sizeof templ, "%s/deepseek-errors-XXXXXX", argv[2]);
    scratch = mkdtemp(templ);
    CHECK(scratch != NULL);
    if (!scratch)
        return sl_test_finish();
    config_cases();
    weight_cases();
    return sl_test_finish();
}
