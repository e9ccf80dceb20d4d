/* engine-internal.h: what sl_engine holds, shared by engine.c and session.c. */
#ifndef SL_ENGINE_INTERNAL_H
#define SL_ENGINE_INTERNAL_H

#include "arch/arch.h"
#include "arch/llama.h"
#include "model/checkpoint.h"
#include "cpu/threads.h"
#include "model/gguf.h"
#include "tokenizer/tokenizer.h"

struct sl_engine {
    sl_gguf *gguf;             /* a GGUF model, or */
    sl_checkpoint *checkpoint; /* a Hugging Face checkpoint directory */
    const sl_arch_ops *arch;
    void *model;               /* the architecture's weights */
    sl_tokenizer *tok;
    sl_pool *pool;
    sl_model_info info;
    char *name;
    size_t memory_limit; /* 0: none beyond the machine's */
    bool use_blas;
    sl_error chat_error; /* why the model has no usable chat template */
    sl_indexer *indexer; /* NULL until sl_engine_load_indexer */
    char device[160];    /* sl_engine_device */
    char notice[608];    /* sl_engine_notice: why "auto" runs on the CPU; "" when it does not */
};

/* Memory the system reports as available now, or 0 when it cannot tell. */
size_t sl_available_memory(void);

#endif
