#!/usr/bin/env python3
"""Goldens for DeepSeek's FP8 caches on the CPU (sl_engine_options.kv_cache_fp8).

REF-FIX (DeepSeek-V3.2-Exp's inference code) rounds the MLA latent to e4m3 with
a power-of-two scale per block of 128 before caching it ("we use fp8 kv cache
in actual deployment, so here we simulate the precision by casting kv to fp8
and back to bf16"), and its indexer keys and queries are FP8 already. This
script runs transformers' DeepseekV32ForCausalLM in float32 on the committed
checkpoints with both put back: the FP8 indexer of make-deepseek-v32.py, and
the latent after kv_a_layernorm through act_quant_ue8m0 (a forward hook). The
rope key is not rounded (DeepSeek keeps it in BF16; the CPU keeps float32, as
transformers does here).

Writes NAME/fp8-cache-golden.safetensors for NAME in tiny-bf16 and small-f32
(the checkpoints transformers loads itself; fp8-sharded's latent of 144 is not
a multiple of DeepSeek's block of 128, so REF-FIX's act_quant does not take
it, and its FP8 cache is checked on the GPU against the CPU only):
    logits  F32 [T, vocab]   one full forward over golden.safetensors' ids
    topk.L  I32 [T, k]       layer L's indexer selection, as in golden.safetensors
    margin  F32 [1]          the smallest gap between any row's k-th and
                             (k+1)-th indexer scores, relative to the row's scale

Usage: make-fp8-cache-golden.py [tests/data/deepseek-v32]
Needs: torch, transformers >= 5.17, safetensors.
"""
import importlib.util
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ["tiny-bf16", "small-f32"]


def reference_module():
    spec = importlib.util.spec_from_file_location("make_deepseek_v32",
                                                  os.path.join(HERE, "make-deepseek-v32.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make(ref, root, name):
    path = os.path.join(root, name)
    golden = load_file(os.path.join(path, "golden.safetensors"))
    ids = golden["ids"].long()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    rounded = []

    def fp8_latent(_module, _inputs, out):
        rounded.append(out.shape)
        return ref.act_quant_ue8m0(out)

    hooks = [layer.self_attn.kv_a_layernorm.register_forward_hook(fp8_latent)
             for layer in model.model.layers]
    try:
        with ref.fp8_indexer(model):
            logits, topk, scores = ref.selections(model, ids)
    finally:
        for h in hooks:
            h.remove()
    assert len(rounded) == len(model.model.layers), f"{name}: the latent hook ran {len(rounded)} times"
    k = model.config.index_topk
    margin = min(ref.selection_margin(s, k) for s in scores.values())
    out = {"logits": logits.contiguous(), "margin": torch.tensor([margin], dtype=torch.float32)}
    for i, t in topk.items():
        out[f"topk.{i}"] = t.contiguous()
    save_file(out, os.path.join(path, "fp8-cache-golden.safetensors"))
    change = (logits - golden["fp8.logits"]).norm() / golden["fp8.logits"].norm()
    print(f"{name}: {len(ids)} tokens; the FP8 latent moves the logits by {change:.2e} relative; "
          f"selection margin {margin:.2e}")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "tests/data/deepseek-v32"
    ref = reference_module()
    for name in NAMES:
        make(ref, root, name)


if __name__ == "__main__":
    main()
