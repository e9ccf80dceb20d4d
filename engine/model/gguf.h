/* gguf.h: a validating GGUF v2/v3 reader over mmap.
 *
 * sl_gguf_open() checks the whole file before returning: magic, version,
 * counts, every string and array length, metadata types, tensor names
 * (unique, valid UTF-8), dims (no overflow), tensor types, offsets,
 * alignment and that each tensor lies inside the file. After a successful
 * open every accessor below is safe to call with any argument. */
#ifndef SL_GGUF_H
#define SL_GGUF_H

#include "sightline-engine.h"

typedef enum {
    SL_GGUF_UINT8 = 0,
    SL_GGUF_INT8 = 1,
    SL_GGUF_UINT16 = 2,
    SL_GGUF_INT16 = 3,
    SL_GGUF_UINT32 = 4,
    SL_GGUF_INT32 = 5,
    SL_GGUF_FLOAT32 = 6,
    SL_GGUF_BOOL = 7,
    SL_GGUF_STRING = 8,
    SL_GGUF_ARRAY = 9,
    SL_GGUF_UINT64 = 10,
    SL_GGUF_INT64 = 11,
    SL_GGUF_FLOAT64 = 12,
    SL_GGUF_NONE = -1, /* sl_gguf_kv_type() of an index out of range */
} sl_gguf_type;

/* A string inside the mapped file: not NUL-terminated. */
typedef struct {
    const char *ptr;
    size_t len;
} sl_gguf_string;

typedef struct {
    const char *name;     /* NUL-terminated copy */
    uint32_t type;        /* ggml type, see dequant.h */
    uint32_t n_dims;      /* 1..4 */
    uint64_t dims[4];     /* dims[0] is the contiguous (row) dimension; unused dims are 1 */
    uint64_t n_elements;
    uint64_t n_bytes;
    const void *data;     /* inside the mapping, aligned as the file says */
} sl_gguf_tensor;

typedef struct sl_gguf sl_gguf;

sl_status sl_gguf_open(const char *path, sl_gguf **out, sl_error *err);
void sl_gguf_close(sl_gguf *gguf);

const char *sl_gguf_path(const sl_gguf *gguf);
uint32_t sl_gguf_version(const sl_gguf *gguf);
size_t sl_gguf_file_size(const sl_gguf *gguf);
/* The whole mapped file (sl_gguf_file_size bytes), e.g. to hash it. */
const uint8_t *sl_gguf_file_bytes(const sl_gguf *gguf);

/* Metadata. Each getter returns SL_OK, or SL_ERR_FORMAT with a message
 * naming the file and key when the key is missing or of another type.
 * Integer getters accept any integer type whose value fits; get_f32 accepts
 * FLOAT32, and FLOAT64 when the value fits in a float. String values are
 * not checked for UTF-8 (keys and tensor names are). */
bool sl_gguf_has(const sl_gguf *gguf, const char *key);
int64_t sl_gguf_n_kv(const sl_gguf *gguf);
const char *sl_gguf_kv_key(const sl_gguf *gguf, int64_t i); /* NUL-terminated copy */
sl_gguf_type sl_gguf_kv_type(const sl_gguf *gguf, int64_t i);
sl_status sl_gguf_get_u32(const sl_gguf *gguf, const char *key, uint32_t *out, sl_error *err);
sl_status sl_gguf_get_i64(const sl_gguf *gguf, const char *key, int64_t *out, sl_error *err);
sl_status sl_gguf_get_f32(const sl_gguf *gguf, const char *key, float *out, sl_error *err);
sl_status sl_gguf_get_bool(const sl_gguf *gguf, const char *key, bool *out, sl_error *err);
sl_status sl_gguf_get_string(const sl_gguf *gguf, const char *key, sl_gguf_string *out,
                             sl_error *err);
/* Arrays: strings come as a table built at open; numbers as a pointer into
 * the file (may be unaligned: read with memcpy) plus their element type.
 * sl_gguf_get_array() on an array of strings gives elem_type SL_GGUF_STRING
 * and data pointing at that table (const sl_gguf_string *). Arrays of
 * arrays are refused at open (SL_ERR_UNSUPPORTED). */
sl_status sl_gguf_get_string_array(const sl_gguf *gguf, const char *key,
                                   const sl_gguf_string **out, uint64_t *n, sl_error *err);
sl_status sl_gguf_get_array(const sl_gguf *gguf, const char *key, sl_gguf_type *elem_type,
                            const void **data, uint64_t *n, sl_error *err);

/* Tensors. */
int64_t sl_gguf_n_tensors(const sl_gguf *gguf);
const sl_gguf_tensor *sl_gguf_tensor_at(const sl_gguf *gguf, int64_t i);
const sl_gguf_tensor *sl_gguf_find_tensor(const sl_gguf *gguf, const char *name);

#endif
