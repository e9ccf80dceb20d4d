/* checkpoint.h: a Hugging Face model directory (config.json and safetensors
 * weights, in one file or sharded), validated as a whole before use.
 *
 * The weights are model.safetensors when that file exists (transformers looks
 * for it first), else model.safetensors.index.json and the shards it names:
 *
 *   {"metadata": {"total_size": N}, "weight_map": {"tensor name": "shard file", ...}}
 *
 * The index is held to these rules: the root and weight_map are objects, and
 * metadata, when present, is an object (total_size is informative only and
 * not checked); weight_map is not empty and every value is a string naming a
 * plain file of the directory (not empty, no '/', '\', NUL or ".."); each
 * shard is a valid safetensors file (safetensors.h) and is opened once; each
 * mapped tensor is in the shard the map names; every tensor of every shard is
 * mapped, and to that shard; no tensor is in two shards (or listed twice).
 * config.json must be a JSON object. Errors name the file and the tensor or
 * key at fault: "DIR/model.safetensors.index.json: tensor 'x' is mapped to
 * 'a.safetensors', which does not contain it". Nothing is read from the
 * weights beyond the safetensors headers: the shards stay mapped read-only
 * until sl_checkpoint_close(). */
#ifndef SL_CHECKPOINT_H
#define SL_CHECKPOINT_H

#include "model/json.h"
#include "model/safetensors.h"
#include "sightline-engine.h"

typedef struct sl_checkpoint sl_checkpoint;

/* dir: a Hugging Face model directory: config.json, and either model.safetensors or
 * model.safetensors.index.json with its shards. Validates everything before returning. */
sl_status sl_checkpoint_open(const char *dir, sl_checkpoint **out, sl_error *err);
void sl_checkpoint_close(sl_checkpoint *ck); /* NULL is fine */
/* The directory as given (trailing slashes removed). */
const char *sl_checkpoint_dir(const sl_checkpoint *ck);
const sl_json *sl_checkpoint_config(const sl_checkpoint *ck); /* parsed config.json (root object) */
/* Path of config.json, for error messages about its keys. */
const char *sl_checkpoint_config_path(const sl_checkpoint *ck);
const sl_st_tensor *sl_checkpoint_find(const sl_checkpoint *ck, const char *name); /* NULL if absent */
/* Which file holds a tensor, for error messages ("dir/model-00002-of-00003.safetensors");
 * NULL for a tensor that is not this checkpoint's. */
const char *sl_checkpoint_file_of(const sl_checkpoint *ck, const sl_st_tensor *t);
/* All tensors of all files, sorted by name (strcmp order). */
int64_t sl_checkpoint_n_tensors(const sl_checkpoint *ck);
const sl_st_tensor *sl_checkpoint_tensor_at(const sl_checkpoint *ck, int64_t i);
/* Bytes of all mapped tensor files (for memory checks). */
uint64_t sl_checkpoint_bytes(const sl_checkpoint *ck);
/* The tensor files, in strcmp order of their names (one for model.safetensors). */
int64_t sl_checkpoint_n_files(const sl_checkpoint *ck);
const sl_safetensors *sl_checkpoint_file_at(const sl_checkpoint *ck, int64_t i);

#endif
