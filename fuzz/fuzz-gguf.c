/* libFuzzer target for the GGUF reader: the input becomes a file (a memfd,
 * opened through /proc/self/fd), sl_gguf_open validates it, and on success
 * every accessor is exercised and every tensor dequantised. A failure must
 * come with a message naming the file; the invariants the reader promises
 * are checked with __builtin_trap so the fuzzer reports them.
 *
 * Run: build-fuzz/fuzz/fuzz-gguf fuzz/corpus-gguf -max_total_time=600 */
#include "fuzz-util.h"
#include "model/dequant.h"
#include "model/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>


static volatile float sink;

/* Reads every byte of a region so ASan sees any overrun. */
static void touch(const void *p, size_t n)
{
    const volatile uint8_t *b = p;
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= b[i];
    sink += x;
}

static void exercise_key(const sl_gguf *g, int64_t i)
{
    sl_error err;
    const char *key = sl_gguf_kv_key(g, i);
    REQUIRE(key != NULL && sl_gguf_has(g, key));
    sl_gguf_type type = sl_gguf_kv_type(g, i);
    REQUIRE(type >= SL_GGUF_UINT8 && type <= SL_GGUF_FLOAT64);

    uint32_t u;
    int64_t s;
    float f;
    bool b;
    sl_gguf_string str;
    sl_status st;
    st = sl_gguf_get_u32(g, key, &u, &err);
    REQUIRE(st == SL_OK || (st == SL_ERR_FORMAT && strstr(err.message, sl_gguf_path(g))));
    sl_gguf_get_i64(g, key, &s, &err);
    sl_gguf_get_f32(g, key, &f, &err);
    sl_gguf_get_bool(g, key, &b, &err);
    if (sl_gguf_get_string(g, key, &str, &err) == SL_OK)
        touch(str.ptr, str.len);

    const sl_gguf_string *strs;
    uint64_t n;
    if (sl_gguf_get_string_array(g, key, &strs, &n, &err) == SL_OK)
        for (uint64_t k = 0; k < n; k++)
            touch(strs[k].ptr, strs[k].len);
    sl_gguf_type elem;
    const void *arr;
    if (sl_gguf_get_array(g, key, &elem, &arr, &n, &err) == SL_OK && elem != SL_GGUF_STRING) {
        size_t size = elem == SL_GGUF_UINT8 || elem == SL_GGUF_INT8 || elem == SL_GGUF_BOOL ? 1
                      : elem == SL_GGUF_UINT16 || elem == SL_GGUF_INT16                     ? 2
                      : elem == SL_GGUF_UINT64 || elem == SL_GGUF_INT64 || elem == SL_GGUF_FLOAT64
                          ? 8
                          : 4;
        touch(arr, (size_t)n * size);
    }
}

static void exercise_tensor(const sl_gguf *g, const sl_gguf_tensor *t)
{
    REQUIRE(t && sl_gguf_find_tensor(g, t->name) == t);
    REQUIRE(t->n_dims >= 1 && t->n_dims <= 4 && sl_type_supported(t->type));
    uint64_t n = 1, row_bytes;
    for (int d = 0; d < 4; d++)
        n *= t->dims[d];
    REQUIRE(n == t->n_elements);
    REQUIRE(sl_type_row_bytes(t->type, t->dims[0], &row_bytes));
    REQUIRE(row_bytes * (n / t->dims[0]) == t->n_bytes);
    const uint8_t *base = t->data;
    REQUIRE(t->n_bytes <= sl_gguf_file_size(g));

    size_t row = (size_t)t->dims[0];
    float *out = malloc(row * sizeof *out);
    if (!out)
        return;
    for (uint64_t r = 0; r < n / row; r++) {
        sl_dequantize_row(t->type, base + r * row_bytes, out, row);
        sink += out[row - 1];
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_input_file("fuzz.gguf", data, size, path);
    if (fd < 0)
        return 0;

    sl_gguf *g = NULL;
    sl_error err;
    sl_status s = sl_gguf_open(path, &g, &err);
    if (s != SL_OK) {
        REQUIRE(g == NULL && err.code == s && strstr(err.message, path));
        REQUIRE(s == SL_ERR_FORMAT || s == SL_ERR_UNSUPPORTED);
    } else {
        REQUIRE(sl_gguf_file_size(g) == size);
        REQUIRE(sl_gguf_version(g) == 2 || sl_gguf_version(g) == 3);
        for (int64_t i = 0; i < sl_gguf_n_kv(g); i++)
            exercise_key(g, i);
        REQUIRE(sl_gguf_kv_key(g, sl_gguf_n_kv(g)) == NULL);
        for (int64_t i = 0; i < sl_gguf_n_tensors(g); i++)
            exercise_tensor(g, sl_gguf_tensor_at(g, i));
        REQUIRE(sl_gguf_tensor_at(g, sl_gguf_n_tensors(g)) == NULL);
        sl_gguf_close(g);
    }
    close(fd);
    return 0;
}
