#!/usr/bin/env python3
"""Golden next-token logits of the default model from Hugging Face transformers.

transformers loads the GGUF file itself (dequantising through the `gguf`
package) into a LlamaForCausalLM and runs it in float32; nothing of ours is
involved. The token ids come from transformers' own tokenizer for the file,
so the engine test feeds exactly the ids the oracle saw.

Writes tests/data/llama/smollm2-logits.bin:
  magic "SLLG", u32 version 1, u32 n_vocab, u32 n_prompts, then per prompt:
  u32 n_tokens, i32 ids[n_tokens], u32 n_positions, u32 positions[n_positions],
  f32 logits[n_positions][n_vocab]   (all little-endian)

Usage: make-llama-logits.py MODEL.gguf OUT.bin
Needs: pip install torch transformers accelerate gguf numpy
"""
import os
import struct
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

PROMPTS = [
    # English prose
    "The lighthouse keeper had kept the same routine for thirty-one years. Every evening, an hour "
    "before sunset, he climbed the ninety-four iron steps with a can of paraffin in one hand and a "
    "cloth in the other, polished the great lens until it threw his own face back at him a hundred "
    "times, and trimmed the wick with a care that bordered on ceremony. The ships that passed the "
    "point never saw him; they saw only the light, turning its slow circle over the water, and "
    "trusted it the way one trusts the ground underfoot. When the letter came from the harbour "
    "board announcing that the light would be automated in the spring, he read it twice, folded it "
    "into quarters, and put it in the drawer with the tide tables. Then he went up the steps as "
    "usual. That night there was a storm from the south-west, the kind that pushes the sea over the "
    "breakwater and rattles the windows in their frames, and he stayed at the top until dawn, "
    "watching the beam sweep across the rain, counting the seconds between each flash as if the "
    "count itself were holding something together. In the morning the sky was washed clean and",
    # C source code
    "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\n/* A growable array of "
    "integers. */\ntypedef struct {\n    int *items;\n    size_t len, cap;\n} int_vec;\n\n"
    "static int vec_push(int_vec *v, int x)\n{\n    if (v->len == v->cap) {\n        size_t cap = "
    "v->cap ? v->cap * 2 : 16;\n        int *items = realloc(v->items, cap * sizeof *items);\n"
    "        if (!items)\n            return -1;\n        v->items = items;\n        v->cap = cap;\n"
    "    }\n    v->items[v->len++] = x;\n    return 0;\n}\n\nstatic int compare_ints(const void *a, "
    "const void *b)\n{\n    int x = *(const int *)a, y = *(const int *)b;\n    return (x > y) - "
    "(x < y);\n}\n\nint main(int argc, char **argv)\n{\n    int_vec v = {0};\n    for (int i = 1; "
    "i < argc; i++) {\n        char *end;\n        long n = strtol(argv[i], &end, 10);\n        if "
    "(*end) {\n            fprintf(stderr, \"not a number: %s\\n\", argv[i]);\n            return 1;\n"
    "        }\n        if (vec_push(&v, (int)n) != 0)\n            return 1;\n    }\n    qsort(v.items, "
    "v.len, sizeof *v.items, compare_ints);\n    for (size_t i = 0; i < v.len; i++)\n",
    # a chat-formatted technical question (special tokens in the ids)
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n<|im_start|>user\nI am reading a long contract of about ninety pages and I need "
    "to understand the termination clauses. The agreement says that either party may terminate for "
    "convenience with ninety days' written notice, but a separate schedule lists a minimum "
    "commitment period of twenty-four months, an early termination fee equal to the remaining "
    "monthly charges, and a clause that survives termination covering confidentiality, indemnity "
    "and the return of equipment. There is also a section about termination for cause if a party "
    "materially breaches the agreement and fails to cure the breach within thirty days of notice, "
    "and another that allows immediate termination on insolvency. How do these provisions interact, "
    "and which one would apply if the supplier stopped delivering the service for two months? "
    "Please explain step by step, citing which clause governs each step, and tell me what I should "
    "ask the supplier in writing before I decide whether to terminate, keeping in mind that I "
    "would rather avoid paying the early termination fee if the contract lets me.<|im_end|>\n"
    "<|im_start|>assistant\n",
]


def main():
    model_path, out_path = sys.argv[1], sys.argv[2]
    torch.set_num_threads(os.cpu_count() or 1)
    d, f = os.path.split(os.path.abspath(model_path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    model.eval()
    assert type(model).__name__ == "LlamaForCausalLM", type(model).__name__
    vocab = model.config.vocab_size
    with open(out_path, "wb") as out:
        out.write(b"SLLG" + struct.pack("<III", 1, vocab, len(PROMPTS)))
        for text in PROMPTS:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            assert len(ids) >= 200, len(ids)
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0].float().numpy()
            positions = [len(ids) // 2, len(ids) - 1]
            out.write(struct.pack("<I", len(ids)) + np.asarray(ids, "<i4").tobytes())
            out.write(struct.pack("<I", len(positions)) + np.asarray(positions, "<u4").tobytes())
            out.write(np.ascontiguousarray(logits[positions], "<f4").tobytes())
            print(f"{len(ids)} tokens, positions {positions}, argmax at last: "
                  f"{int(logits[-1].argmax())} ({tok.decode([int(logits[-1].argmax())])!r})")


if __name__ == "__main__":
    main()
