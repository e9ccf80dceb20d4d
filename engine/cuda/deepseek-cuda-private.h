/* deepseek-cuda-private.h: what the two halves of the DeepSeek-V3.2 GPU
 * backend share: the model on the device (deepseek-cuda.c uploads it) and
 * deepseek-cuda-forward.c runs it). */
#ifndef SL_DEEPSEEK_CUDA_PRIVATE_H
#define SL_DEEPSEEK_CUDA_PRIVATE_H

#include "arch/deepseek-private.h"
#include "cuda/cuda-common.h"

enum { SL_DS_BLAS_WORKSPACE = 32 << 20 };

typedef struct {
    float *attn_norm, *ffn_norm, *q_norm, *kv_norm, *ik_norm_w, *ik_norm_b;
    float *kv_b, *router, *router_bias;  /* float32 */
    sl_bf16 *q_a, *q_b, *kv_a, *o, *iq, *ik, *iw;
    sl_bf16 *gate, *up, *down;           /* the dense FFN, or the shared experts */
    sl_bf16 *e_gate, *e_up, *e_down;     /* n_experts each, back to back */
} gpu_layer;

typedef struct {
    sl_deepseek *cpu; /* hyper-parameters, and freed with us */
    int device;
    cublasHandle_t blas;
    cudaStream_t stream;
    void *blas_ws; /* cuBLAS's workspace */
    sl_bf16 *embed, *head;
    float *final_norm, *inv_freq;
    gpu_layer *layers;
    void **allocs; /* every device buffer of the weights */
    size_t n_allocs, cap_allocs;
    bool fast_mla; /* V3.2's 512 + 64 dims: sparse-mla.cu's kernel */
    bool fp8_cache;     /* DeepSeek's FP8 cache layouts (sl_engine_options.kv_cache_fp8) */
    bool fp8_indexer;   /* and the indexer's shape takes indexer.cu's FP8 paged kernel */
    bool graphs;        /* decode steps as CUDA graphs (sl_engine_options.no_graphs off) */
    char desc[160];
} gpu_ds;

/* Frees the device buffers and the CPU model taken over. */
void sl_deepseek_cuda_free(void *model);

#endif
