/* libFuzzer target for the safetensors reader: the input becomes a file (a
 * memfd, opened through /proc/self/fd), sl_safetensors_open validates it,
 * and on success every tensor is looked up, read to its last byte and, for
 * float dtypes, converted to float32; every metadata entry is looked up. A
 * failure must come with a message naming the file. What the reader
 * promises is checked with __builtin_trap so the fuzzer reports it: counts
 * and byte sizes agree with the shapes, tensors lie inside the input and do
 * not overlap, and together they cover the data section exactly.
 *
 * Run: build-fuzz/fuzz/fuzz-safetensors fuzz/corpus-safetensors
 *        -dict=fuzz/safetensors.dict -max_total_time=600 */
#include "fuzz-util.h"
#include "model/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>


static volatile float sink;

/* Reads every byte of a region so a bad pointer faults here. */
static void touch(const void *p, size_t n)
{
    const volatile uint8_t *b = p;
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= b[i];
    sink += x;
}

/* By start, then size: empty tensors sort before one that starts where
 * they are. */
static int by_data(const void *a, const void *b)
{
    const sl_st_tensor *s = *(const sl_st_tensor *const *)a, *t = *(const sl_st_tensor *const *)b;
    const uint8_t *x = s->data, *y = t->data;
    if (x != y)
        return x < y ? -1 : 1;
    return s->n_bytes < t->n_bytes ? -1 : s->n_bytes > t->n_bytes;
}

static void exercise(const sl_safetensors *st, size_t size, const uint8_t *input)
{
    int64_t n = sl_safetensors_n_tensors(st);
    REQUIRE(n >= 0 && sl_safetensors_tensor_at(st, n) == NULL);
    REQUIRE(sl_safetensors_tensor_at(st, -1) == NULL);
    REQUIRE(sl_safetensors_find(st, "__metadata__") == NULL);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = header_len << 8 | input[i];
    REQUIRE(header_len <= size - 8);
    uint64_t data_size = size - 8 - header_len, total = 0;

    const sl_st_tensor **sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    REQUIRE(sorted != NULL);
    for (int64_t i = 0; i < n; i++) {
        const sl_st_tensor *t = sl_safetensors_tensor_at(st, i);
        REQUIRE(t && t->name && sl_safetensors_find(st, t->name) == t);
        REQUIRE(sl_st_dtype_name(t->dtype) != NULL && t->n_dims <= SL_ST_MAX_DIMS);
        uint64_t count = 1;
        bool zero = false;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            zero |= t->dims[d] == 0;
            count *= t->dims[d]; /* wraps only when a zero dimension makes it moot */
        }
        REQUIRE(zero ? t->n_elements == 0 : t->n_elements == count);
        REQUIRE(t->n_bytes == t->n_elements * sl_st_dtype_size(t->dtype));
        REQUIRE(t->n_bytes <= data_size);
        total += t->n_bytes;
        touch(t->data, (size_t)t->n_bytes);
        sorted[i] = t;

        float *out = malloc((size_t)(t->n_elements ? t->n_elements : 1) * sizeof(float));
        REQUIRE(out != NULL);
        bool is_float = t->dtype == SL_ST_F32 || t->dtype == SL_ST_F16 || t->dtype == SL_ST_BF16 ||
                        t->dtype == SL_ST_F64 || t->dtype == SL_ST_F8_E4M3 ||
                        t->dtype == SL_ST_F8_E5M2;
        REQUIRE(sl_st_to_f32(t, 0, t->n_elements, out) == is_float);
        if (is_float && t->n_elements > 0) {
            float last;
            REQUIRE(sl_st_to_f32(t, t->n_elements - 1, 1, &last));
            uint32_t a, b;
            memcpy(&a, &last, 4);
            memcpy(&b, &out[t->n_elements - 1], 4);
            REQUIRE(a == b);
            sink += out[0];
        }
        REQUIRE(!sl_st_to_f32(t, t->n_elements, 1, out));
        free(out);
    }
    /* the tensors tile the data section */
    REQUIRE(total == data_size);
    qsort(sorted, (size_t)n, sizeof *sorted, by_data);
    for (int64_t i = 1; i < n; i++)
        REQUIRE((const uint8_t *)sorted[i - 1]->data + sorted[i - 1]->n_bytes <=
                (const uint8_t *)sorted[i]->data);
    free(sorted);

    int64_t m = sl_safetensors_n_metadata(st);
    for (int64_t i = 0; i < m; i++) {
        const char *key = sl_safetensors_metadata_key(st, i);
        REQUIRE(key != NULL);
        const char *value = sl_safetensors_metadata(st, key);
        REQUIRE(value != NULL);
        touch(value, strlen(value));
    }
    REQUIRE(sl_safetensors_metadata_key(st, m) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_input_file("fuzz.safetensors", data, size, path);
    if (fd < 0)
        return 0;

    sl_safetensors *st = NULL;
    sl_error err;
    sl_status s = sl_safetensors_open(path, &st, &err);
    if (s != SL_OK) {
        REQUIRE(st == NULL && err.code == s && strstr(err.message, path));
        REQUIRE(s == SL_ERR_FORMAT || s == SL_ERR_UNSUPPORTED || s == SL_ERR_NO_MEMORY);
    } else {
        REQUIRE(strcmp(sl_safetensors_path(st), path) == 0);
        exercise(st, size, data);
        sl_safetensors_close(st);
    }
    close(fd);
    return 0;
}
