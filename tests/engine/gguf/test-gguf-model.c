/* The default model (SmolLM2-135M-Instruct, Q4_1) through the GGUF reader:
 * counts, types and metadata as the gguf Python package reads them, and
 * dequantised rows of token_embd.weight (Q8_0) and blk.0.attn_q.weight
 * (Q4_1) equal, bit for bit, to the package's (FIXTURE_DIR/smollm2-rows.*,
 * written by tests/reference/make-gguf-fixtures.py; see test-gguf.c for why
 * bit-exact). Like the other tests that need the model, this one fails
 * when the model is absent: packaging/setup installs it.
 *
 * Usage: test-gguf-model FIXTURE_DIR [MODEL.gguf] */
#include "../test-util.h"
#include "model/dequant.h"
#include "model/gguf.h"

#include <stdint.h>

static void check_u32(const sl_gguf *g, const char *key, uint32_t want)
{
    sl_error err = {0};
    uint32_t v = 0;
    CHECKF(sl_gguf_get_u32(g, key, &v, &err) == SL_OK && v == want, "%s = %u (%s)", key, v, err.message);
}

static void check_metadata(const sl_gguf *g)
{
    sl_error err = {0};
    CHECK(sl_gguf_version(g) == 3);
    CHECKF(sl_gguf_n_kv(g) == 33, "%lld key-value pairs", (long long)sl_gguf_n_kv(g));
    sl_gguf_string s;
    CHECK(sl_gguf_get_string(g, "general.architecture", &s, &err) == SL_OK && s.len == 5 &&
          memcmp(s.ptr, "llama", 5) == 0);
    check_u32(g, "llama.block_count", 30);
    check_u32(g, "llama.embedding_length", 576);
    check_u32(g, "llama.feed_forward_length", 1536);
    check_u32(g, "llama.attention.head_count", 9);
    check_u32(g, "llama.attention.head_count_kv", 3);
    check_u32(g, "llama.context_length", 8192);
    check_u32(g, "llama.vocab_size", 49152);
    float theta = 0;
    CHECK(sl_gguf_get_f32(g, "llama.rope.freq_base", &theta, &err) == SL_OK && theta == 100000.0f);

    const sl_gguf_string *tokens = NULL;
    uint64_t n = 0;
    CHECK(sl_gguf_get_string_array(g, "tokenizer.ggml.tokens", &tokens, &n, &err) == SL_OK && n == 49152);
    CHECK(sl_gguf_get_string_array(g, "tokenizer.ggml.merges", &tokens, &n, &err) == SL_OK && n == 48900);
    sl_gguf_type t;
    const void *data;
    CHECK(sl_gguf_get_array(g, "tokenizer.ggml.token_type", &t, &data, &n, &err) == SL_OK &&
          t == SL_GGUF_INT32 && n == 49152);
}

static void check_tensors(const sl_gguf *g)
{
    CHECKF(sl_gguf_n_tensors(g) == 272, "%lld tensors", (long long)sl_gguf_n_tensors(g));
    int q4_1 = 0, q8_0 = 0, f32 = 0, other = 0;
    for (int64_t i = 0; i < sl_gguf_n_tensors(g); i++) {
        uint32_t type = sl_gguf_tensor_at(g, i)->type;
        q4_1 += type == SL_TYPE_Q4_1;
        q8_0 += type == SL_TYPE_Q8_0;
        f32 += type == SL_TYPE_F32;
        other += type != SL_TYPE_Q4_1 && type != SL_TYPE_Q8_0 && type != SL_TYPE_F32;
    }
    CHECKF(q4_1 == 210 && q8_0 == 1 && f32 == 61 && other == 0, "Q4_1 %d, Q8_0 %d, F32 %d, other %d", q4_1,
           q8_0, f32, other);
    const sl_gguf_tensor *emb = sl_gguf_find_tensor(g, "token_embd.weight");
    const sl_gguf_tensor *q = sl_gguf_find_tensor(g, "blk.0.attn_q.weight");
    const sl_gguf_tensor *norm = sl_gguf_find_tensor(g, "output_norm.weight");
    CHECK(emb && emb->type == SL_TYPE_Q8_0 && emb->n_dims == 2 && emb->dims[0] == 576 &&
          emb->dims[1] == 49152);
    CHECK(q && q->type == SL_TYPE_Q4_1 && q->n_dims == 2 && q->dims[0] == 576 && q->dims[1] == 576);
    CHECK(norm && norm->type == SL_TYPE_F32 && norm->n_dims == 1 && norm->dims[0] == 576);
}

/* Each line of the manifest names a tensor and a row; the .f32 file holds
 * those rows in order. */
static void check_rows(const sl_gguf *g, const char *dir)
{
    char path[4096];
    size_t manifest_len = 0, values_len = 0;
    snprintf(path, sizeof path, "%s/smollm2-rows.txt", dir);
    char *manifest = sl_test_read_file(path, &manifest_len);
    snprintf(path, sizeof path, "%s/smollm2-rows.f32", dir);
    float *values = sl_test_read_file(path, &values_len);
    CHECKF(manifest && values, "cannot read %s/smollm2-rows.*", dir);
    size_t used = 0;
    int rows = 0;
    for (char *line = manifest ? strtok(manifest, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        char name[128];
        unsigned long long row;
        if (line[0] == '#' || sscanf(line, "%127s %llu", name, &row) != 2)
            continue;
        const sl_gguf_tensor *t = sl_gguf_find_tensor(g, name);
        CHECKF(t && row < t->dims[1], "%s row %llu", name, row);
        if (!t || row >= t->dims[1])
            continue;
        size_t n = (size_t)t->dims[0];
        CHECKF((used + n) * sizeof(float) <= values_len, "smollm2-rows.f32 too short");
        if ((used + n) * sizeof(float) > values_len)
            break;
        uint64_t row_bytes = 0;
        CHECK(sl_type_row_bytes(t->type, n, &row_bytes));
        float *got = malloc(n * sizeof *got);
        sl_dequantize_row(t->type, (const uint8_t *)t->data + row * row_bytes, got, n);
        CHECKF(memcmp(got, values + used, n * sizeof *got) == 0, "%s row %llu differs from the gguf package",
               name, row);
        free(got);
        used += n;
        rows++;
    }
    CHECK(rows == 10 && used * sizeof(float) == values_len);
    free(manifest);
    free(values);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR [MODEL.gguf]\n", argv[0]);
        return 2;
    }
    const char *model = argc > 2 ? argv[2] : sl_test_model_path();
    sl_gguf *g = NULL;
    sl_error err = {0};
    CHECKF(sl_gguf_open(model, &g, &err) == SL_OK, "%s (packaging/fetch-model installs it)", err.message);
    if (g) {
        check_metadata(g);
        check_tensors(g);
        check_rows(g, argv[1]);
        sl_gguf_close(g);
    }
    return sl_test_finish();
}
