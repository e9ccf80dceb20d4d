/* safetensors.h: a validating reader of .safetensors files over mmap.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON header
 * ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 *   "__metadata__": {"key": "string", …}}), then the data section; offsets are
 * relative to its start. sl_safetensors_open() validates everything before
 * returning: header length within the file, well-formed UTF-8 JSON of
 * bounded depth, known dtypes, shapes whose element count does not
 * overflow and matches end − begin, offsets inside the data section,
 * tensors that do not overlap, unique names, string-only metadata. Errors
 * name the file and the tensor or key at fault.
 *
 * As in the reference implementation (the Rust crate behind the Python
 * package), the header must start with '{' and be at most
 * SL_ST_MAX_HEADER_BYTES, and the tensors must cover the data section
 * exactly: no holes between them and no bytes after the last. Tensor
 * entries with members other than dtype, shape and data_offsets, and names
 * or metadata containing NUL characters, are refused too. Tensor data is
 * little-endian, as the format defines; sl_st_to_f32 assumes a
 * little-endian host.
 *
 * Shapes are row-major as the file writes them: dims[0] is the OUTERMOST
 * dimension (unlike GGUF, whose dims[0] is contiguous). */
#ifndef SL_SAFETENSORS_H
#define SL_SAFETENSORS_H

#include "sightline-engine.h"

typedef enum {
    SL_ST_BOOL, SL_ST_U8, SL_ST_I8, SL_ST_I16, SL_ST_U16, SL_ST_F16, SL_ST_BF16, SL_ST_I32,
    SL_ST_U32, SL_ST_F32, SL_ST_F64, SL_ST_I64, SL_ST_U64, SL_ST_F8_E4M3, SL_ST_F8_E5M2,
} sl_st_dtype;

enum { SL_ST_MAX_DIMS = 8 };
/* The largest JSON header accepted (the reference implementation's limit). */
enum { SL_ST_MAX_HEADER_BYTES = 100000000 };

typedef struct {
    const char *name;      /* NUL-terminated copy */
    sl_st_dtype dtype;
    uint32_t n_dims;       /* 0 (a scalar) … SL_ST_MAX_DIMS */
    uint64_t dims[SL_ST_MAX_DIMS];
    uint64_t n_elements;
    uint64_t n_bytes;
    const void *data;      /* inside the mapping; may be unaligned */
} sl_st_tensor;

typedef struct sl_safetensors sl_safetensors;

sl_status sl_safetensors_open(const char *path, sl_safetensors **out, sl_error *err);
void sl_safetensors_close(sl_safetensors *st);
const char *sl_safetensors_path(const sl_safetensors *st);
/* Bytes of the whole file (header and data), as mapped. */
uint64_t sl_safetensors_file_size(const sl_safetensors *st);

const char *sl_st_dtype_name(sl_st_dtype dtype); /* "F32" … */
size_t sl_st_dtype_size(sl_st_dtype dtype);      /* bytes per element */

int64_t sl_safetensors_n_tensors(const sl_safetensors *st);
const sl_st_tensor *sl_safetensors_tensor_at(const sl_safetensors *st, int64_t i);
const sl_st_tensor *sl_safetensors_find(const sl_safetensors *st, const char *name);

/* __metadata__ entries (all strings); NULL when absent. */
int64_t sl_safetensors_n_metadata(const sl_safetensors *st);
const char *sl_safetensors_metadata_key(const sl_safetensors *st, int64_t i);
const char *sl_safetensors_metadata(const sl_safetensors *st, const char *key);

/* Converts n elements of a float tensor (F32, F16, BF16, F64, F8_E4M3,
 * F8_E5M2) to float32; false for other dtypes. */
bool sl_st_to_f32(const sl_st_tensor *t, uint64_t first, uint64_t n, float *out);

#endif
