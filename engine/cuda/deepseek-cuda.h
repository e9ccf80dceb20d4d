/* deepseek-cuda.h: the DeepSeek-V3.2 forward pass on one NVIDIA GPU.
 *
 * The CPU model's weights (FP8 ones already dequantised at load) are
 * converted to BF16 and uploaded once; kv_b_proj (read per head by the MLA
 * kernels), the router and the norms stay float32. The residual stream is
 * float32; matrix products run through cuBLAS (BF16 in, float32
 * accumulation). MLA runs in its absorbed (MQA) form over a BF16 latent
 * cache, for prefill and decode alike: densely, or over each row's
 * selection. The selection is made on the device: the lightning indexer
 * (BF16, or DeepSeek's FP8 numerics emulated as the CPU does when the
 * session asks for them) or the oracle (the heads' attention mass), then the
 * exact top-k; the recorded rows' selections are copied back for the
 * session's records. MoE routing runs on the device; the chosen experts
 * come back to the host once a layer to size each expert's GEMMs. The CPU
 * path (arch/deepseek-v32.c) is the reference it is tested against
 * (tests/gpu/test-deepseek-cuda.c). */
#ifndef SL_DEEPSEEK_CUDA_H
#define SL_DEEPSEEK_CUDA_H

#include "arch/arch.h"
#include "arch/deepseek-v32.h"

extern const sl_arch_ops sl_deepseek_cuda_ops;

/* Uploads the model's weights to GPU `device` and takes the model over
 * (freed with the result). desc gets "cuda:N (name, X GiB)". graphs: decode
 * steps as CUDA graphs.
 * SL_ERR_NO_MEMORY, naming the sizes, when the weights do not fit in the
 * GPU's free memory; SL_ERR_UNSUPPORTED when there is no such device or a
 * dimension is beyond the kernels' limits. On failure the caller keeps the
 * model. */
sl_status sl_deepseek_cuda_new(sl_deepseek *model, int device, bool graphs, void **out, char *desc,
                               size_t desc_cap, sl_error *err);

#endif
