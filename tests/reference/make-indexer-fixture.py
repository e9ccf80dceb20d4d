#!/usr/bin/env python3
"""A random lightning indexer for the tiny llama, and DSA's result from an oracle we did not write.

Writes into tests/data/llama/ (next to tiny-llama.gguf, which make-tiny-llama.py makes):
  tiny-indexer.safetensors   the Sightline indexer format (engine/README.md): 2 heads of 16 dims,
                             RoPE on the first 8, top-k 8, both layers; random weights; written
                             by the `safetensors` package with the tiny model's SHA-256.
  tiny-indexer-golden.bin    for a fixed 40-token sequence: per layer and query row the selected
                             positions, and the logits of every row, from Hugging Face
                             transformers' LlamaForCausalLM (eager attention) whose layers are
                             each given, through a pre-hook, an attention mask that allows only
                             the positions numpy's indexer selects from that layer's input.
Format: "SLIX", u32 version 1, u32 n_tokens, u32 n_layers, u32 top_k, u32 vocab,
  i32 ids[n], then per layer per row: i32 selected[top_k] (-1 padded, ascending),
  then f32 logits[n][vocab].

Usage: make-indexer-fixture.py tests/data/llama     (deterministic; needs numpy torch
                                                    transformers accelerate gguf safetensors)
"""
import hashlib
import json
import os
import struct
import sys

import numpy as np
import torch
from safetensors.numpy import save_file
from transformers import AutoModelForCausalLM

H, D, ROPE, TOP_K, EPS = 2, 16, 8, 8, 1e-6


def indexer_weights(n_layers, n_embd, rng):
    w = {}
    for l in range(n_layers):
        w[f"layers.{l}.wq"] = (rng.standard_normal((H * D, n_embd)) * 0.3).astype(np.float32)
        w[f"layers.{l}.wk"] = (rng.standard_normal((D, n_embd)) * 0.3).astype(np.float32)
        w[f"layers.{l}.weights_proj"] = (rng.standard_normal((H, n_embd)) * 0.5).astype(np.float32)
        w[f"layers.{l}.k_norm.weight"] = (1 + rng.standard_normal(D) * 0.1).astype(np.float32)
        w[f"layers.{l}.k_norm.bias"] = (rng.standard_normal(D) * 0.1).astype(np.float32)
    return w


def save_sorted(tensors, path, metadata):
    """save_file, then the header rewritten with its keys sorted: the package writes metadata in
    hash order, which changes from run to run; the committed bytes must not."""
    save_file(tensors, path, metadata=metadata)
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + raw[8 + n:])


def rope_neox(x, pos, theta):
    """Rotate the first ROPE dims of the last axis: pairs (i, i + ROPE/2)."""
    half = ROPE // 2
    inv = 1.0 / theta ** (np.arange(0, ROPE, 2, dtype=np.float64) / ROPE)
    ang = pos[:, None] * inv[None, :]
    c, s = np.cos(ang), np.sin(ang)
    while c.ndim < x.ndim:
        c, s = c[:, None, :], s[:, None, :]
    a, b = x[..., :half].copy(), x[..., half:ROPE].copy()
    out = x.copy()
    out[..., :half] = a * c - b * s
    out[..., half:ROPE] = a * s + b * c
    return out


def select(w, l, xn, theta):
    """numpy's indexer on one layer's attention input xn [T, E]: the top-k per row."""
    T = xn.shape[0]
    pos = np.arange(T, dtype=np.float64)
    x = xn.astype(np.float64)
    q = (x @ w[f"layers.{l}.wq"].T.astype(np.float64)).reshape(T, H, D)
    k = x @ w[f"layers.{l}.wk"].T.astype(np.float64)
    k = (k - k.mean(-1, keepdims=True)) / np.sqrt(k.var(-1, keepdims=True) + EPS)
    k = k * w[f"layers.{l}.k_norm.weight"] + w[f"layers.{l}.k_norm.bias"]
    q, k = rope_neox(q, pos, theta), rope_neox(k, pos, theta)
    wt = (x @ w[f"layers.{l}.weights_proj"].T.astype(np.float64)) / np.sqrt(H * D)
    scores = np.einsum("th,tsh->ts", wt, np.maximum(np.einsum("thd,sd->tsh", q, k), 0))
    sel = np.full((T, TOP_K), -1, np.int32)
    for t in range(T):
        order = sorted(range(t + 1), key=lambda s: (-scores[t, s], s))[:TOP_K]
        chosen = sorted(order)
        sel[t, :len(chosen)] = chosen
    return sel


def main():
    out = sys.argv[1]
    model_path = os.path.join(out, "tiny-llama.gguf")
    sha = hashlib.sha256(open(model_path, "rb").read()).hexdigest()
    model = AutoModelForCausalLM.from_pretrained(out, gguf_file="tiny-llama.gguf", dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    cfg = model.config
    rng = np.random.default_rng(11)
    w = indexer_weights(cfg.num_hidden_layers, cfg.hidden_size, rng)
    meta = {"format": "sightline-indexer", "version": "1", "model": "tiny-llama",
            "model_sha256": sha, "n_heads": str(H), "head_dim": str(D), "rope_dims": str(ROPE),
            "top_k": str(TOP_K), "norm_eps": str(EPS),
            "layers": ",".join(str(l) for l in range(cfg.num_hidden_layers))}
    save_sorted(w, os.path.join(out, "tiny-indexer.safetensors"), meta)
    # files the engine must refuse, each with one thing wrong
    broken = {
        "indexer-no-wk.safetensors": ({k: v for k, v in w.items() if k != "layers.1.wk"}, meta),
        "indexer-bad-layers.safetensors": (w, {**meta, "layers": "0,7"}),
        "indexer-short-wq.safetensors": ({**w, "layers.0.wq": w["layers.0.wq"][:-1]}, meta),
        "indexer-rope-too-wide.safetensors": (w, {**meta, "rope_dims": "18"}),
        "indexer-version-2.safetensors": (w, {**meta, "version": "2"}),
    }
    for name, (tensors, m) in broken.items():
        save_sorted(tensors, os.path.join(out, "broken", name), m)

    ids = [int(x) for x in np.random.default_rng(5).integers(0, cfg.vocab_size, 40)]
    T = len(ids)
    selections = []

    def pre_hook(layer_index):
        def hook(module, args, kwargs):
            h = kwargs.get("hidden_states", args[0] if args else None)
            xn = module.input_layernorm(h)[0].detach().numpy()
            sel = select(w, layer_index, xn, cfg.rope_theta if hasattr(cfg, "rope_theta")
                         else cfg.rope_parameters["rope_theta"])
            selections.append(sel)
            mask = torch.full((1, 1, T, T), float("-inf"))
            for t in range(T):
                for s in sel[t]:
                    if s >= 0:
                        mask[0, 0, t, s] = 0.0
            kwargs["attention_mask"] = mask
            return args, kwargs
        return hook

    for l, layer in enumerate(model.model.layers):
        layer.register_forward_pre_hook(pre_hook(l), with_kwargs=True)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float().numpy()
    with open(os.path.join(out, "tiny-indexer-golden.bin"), "wb") as f:
        f.write(b"SLIX" + struct.pack("<IIIII", 1, T, len(selections), TOP_K, logits.shape[1]))
        f.write(np.asarray(ids, "<i4").tobytes())
        for sel in selections:
            f.write(np.ascontiguousarray(sel, "<i4").tobytes())
        f.write(np.ascontiguousarray(logits, "<f4").tobytes())
    print("layers", len(selections), "row 39 of layer 1:", selections[1][39])


if __name__ == "__main__":
    main()
