/* llama-cuda.h: the llama-family forward pass on one NVIDIA GPU.
 *
 * The weights are dequantised from the model file (whatever its type) to
 * BF16 and uploaded once; the KV cache is BF16 on the device. Matrix
 * products run through cuBLAS (BF16 in, float32 accumulation); norms, RoPE,
 * SwiGLU and attention through the kernels of kernels/; the residual stream
 * stays float32. DSA runs on the device too: the selection's scores (the
 * heads' attention mass for the oracle, or a lightning indexer file's,
 * llama-cuda-indexer.h), their exact top-k, sparse attention; the records
 * come back once per forward call. Decode steps without DSA run as CUDA
 * graphs. Compiled only where CUDA is
 * (SL_HAVE_CUDA); the CPU llama (arch/llama.c) is the reference it is tested
 * against (tests/gpu). */
#ifndef SL_LLAMA_CUDA_H
#define SL_LLAMA_CUDA_H

#include "arch/arch.h"
#include "arch/llama.h"

extern const sl_arch_ops sl_llama_cuda_ops;

/* Uploads llama's weights to GPU `device` and takes llama over (freed with
 * the result). graphs: decode steps as CUDA graphs (false: launch by launch,
 * to measure what graphs give). desc gets "cuda:N (name, X GiB)".
 * SL_ERR_NO_MEMORY, naming the sizes, when the weights do not fit in the
 * GPU's free memory; SL_ERR_UNSUPPORTED when there is no such device. */
sl_status sl_llama_cuda_new(sl_llama *llama, int device, bool graphs, void **out, char *desc,
                            size_t desc_cap, sl_error *err);

#endif
