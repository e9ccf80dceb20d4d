#!/usr/bin/env python3
"""Hugging Face checkpoint directories for tests/engine/model/test-checkpoint.c.

The sharded directory is written by huggingface_hub.save_torch_state_dict (the
code transformers' save_pretrained uses): it splits the state dict into
shards, writes them with the `safetensors` package and writes
model.safetensors.index.json. The single-file directory is written by
safetensors.torch.save_file. Nothing of Sightline's is involved.

Writes, under OUT_DIR (default tests/data/checkpoint):
  sharded/config.json
  sharded/model.safetensors.index.json
  sharded/model-0000K-of-0000N.safetensors   (N >= 3: a small max_shard_size)
  single/config.json
  single/model.safetensors
  expected.txt    one line per tensor: DIR FILE NAME DTYPE RANK DIMS...
                  (DIR sharded or single; FILE the file that holds it), then
                  one line per directory: DIR bytes TOTAL (all tensor files).

Deterministic: fixed seed; running it again must leave the committed files
unchanged (git diff is empty).

Usage: make-checkpoint-fixtures.py [OUT_DIR]
Needs: pip install safetensors torch huggingface_hub
"""
import json
import os
import shutil
import sys

import torch
from huggingface_hub import save_torch_state_dict
from safetensors import safe_open
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED = 20261123

CONFIG = {
    "architectures": ["DeepseekV32ForCausalLM"],
    "model_type": "deepseek_v32",
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "vocab_size": 32,
    "torch_dtype": "bfloat16",
}


def state_dict():
    g = torch.Generator().manual_seed(SEED)
    sd = {
        "model.embed_tokens.weight": torch.randn(32, 16, generator=g).to(torch.bfloat16),
        "model.norm.weight": torch.ones(16, dtype=torch.float32),
        "lm_head.weight": torch.randn(32, 16, generator=g).to(torch.bfloat16),
    }
    for layer in range(2):
        p = f"model.layers.{layer}."
        sd[p + "input_layernorm.weight"] = torch.ones(16, dtype=torch.bfloat16)
        sd[p + "self_attn.q_a_proj.weight"] = (torch.randn(8, 16, generator=g) * 8).to(
            torch.float8_e4m3fn)
        sd[p + "self_attn.q_a_proj.weight_scale_inv"] = torch.rand(1, 1, generator=g)
        sd[p + "mlp.gate_proj.weight"] = torch.randn(24, 16, generator=g).to(torch.bfloat16)
        sd[p + "mlp.down_proj.weight"] = torch.randn(16, 24, generator=g).to(torch.bfloat16)
    return sd


def write_config(d):
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2, sort_keys=True)
        f.write("\n")


def describe(d, name, lines):
    total = 0
    for fn in sorted(os.listdir(os.path.join(OUT, d))):
        if not fn.endswith(".safetensors"):
            continue
        path = os.path.join(OUT, d, fn)
        total += os.path.getsize(path)
        with safe_open(path, "pt") as f:
            for k in sorted(f.keys()):
                sl = f.get_slice(k)
                shape = sl.get_shape()
                lines.append(" ".join([d, fn, k, sl.get_dtype(), str(len(shape))] +
                                      [str(x) for x in shape]))
    lines.append(f"{d} bytes {total}")


if __name__ == "__main__":
    OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests/data/checkpoint")
    sd = state_dict()
    for d in ("sharded", "single"):
        shutil.rmtree(os.path.join(OUT, d), ignore_errors=True)
        os.makedirs(os.path.join(OUT, d))
        write_config(os.path.join(OUT, d))
    save_torch_state_dict(sd, os.path.join(OUT, "sharded"), max_shard_size=1200)
    save_file(sd, os.path.join(OUT, "single", "model.safetensors"))
    n_shards = sum(fn.endswith(".safetensors") for fn in os.listdir(os.path.join(OUT, "sharded")))
    assert n_shards >= 3, n_shards
    lines = []
    describe("sharded", "sharded", lines)
    describe("single", "single", lines)
    with open(os.path.join(OUT, "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{n_shards} shards, {len(sd)} tensors")
