#!/usr/bin/env python3
"""A small random llama GGUF the GPU runs (head dim 64), and two lightning indexers for it.

The tiny llama (make-tiny-llama.py) has heads of 16 dims, which the GPU does not take, and the
default model is too large for the repository; this one is small enough to commit.

Writes into tests/data/llama/:
  small-llama.gguf              3 layers, hidden 128, 2 query / 1 KV heads of 64 dims, ff 256,
                                context 2048, tied embeddings, the tiny llama's byte-level
                                vocabulary (262 tokens) and ChatML template; Q8_0, F16 and F32
                                weights; written by the `gguf` package.
  small-indexer.safetensors     8 heads of 64 dims, RoPE on the first 32, top-k 16, layers 0 and 2
                                (layer 1 keeps dense attention): the shape the GPU's tensor-core
                                indexer kernel takes. BF16 weights.
  small-indexer-odd.safetensors 3 heads of 24 dims, RoPE on the first 8, top-k 16, layers 0 and
                                1: a shape only the GPU's generic scoring kernel takes. F32.
Both indexers hold the model file's SHA-256. Random weights: the tests compare the GPU with
the CPU on them, and the CPU with transformers elsewhere.

Usage: make-small-llama.py tests/data/llama    (deterministic; needs gguf numpy)
"""
import hashlib
import importlib.util
import json
import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFWriter
from gguf.quants import quantize

N_LAYER, N_EMBD, N_HEAD, N_KV, N_FF, N_CTX = 3, 128, 2, 1, 256, 2048
HEAD_DIM = N_EMBD // N_HEAD
HERE = os.path.dirname(os.path.abspath(__file__))


def load_script(name):
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), os.path.join(HERE, name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tiny = load_script("make-tiny-llama.py")  # vocabulary and chat template


def tensors(rng, n_vocab):
    def w(*shape, scale=0.15):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    out = {"token_embd.weight": (w(n_vocab, N_EMBD, scale=1.0), Q.Q8_0),
           "output_norm.weight": (1.0 + w(N_EMBD, scale=0.1), Q.F32)}
    for i in range(N_LAYER):
        p = f"blk.{i}."
        out[p + "attn_norm.weight"] = (1.0 + w(N_EMBD, scale=0.1), Q.F32)
        out[p + "ffn_norm.weight"] = (1.0 + w(N_EMBD, scale=0.1), Q.F32)
        out[p + "attn_q.weight"] = (w(N_HEAD * HEAD_DIM, N_EMBD), Q.Q8_0)
        out[p + "attn_k.weight"] = (w(N_KV * HEAD_DIM, N_EMBD), Q.Q8_0)
        out[p + "attn_v.weight"] = (w(N_KV * HEAD_DIM, N_EMBD), Q.F16)
        out[p + "attn_output.weight"] = (w(N_EMBD, N_HEAD * HEAD_DIM), Q.Q8_0)
        out[p + "ffn_gate.weight"] = (w(N_FF, N_EMBD), Q.Q8_0)
        out[p + "ffn_up.weight"] = (w(N_FF, N_EMBD), Q.Q8_0)
        out[p + "ffn_down.weight"] = (w(N_EMBD, N_FF), Q.Q8_0)
    return out


def write_model(path):
    rng = np.random.default_rng(20261207)
    tokens, types, merges = tiny.vocab()
    gw = GGUFWriter(path, "llama")
    gw.add_name("small-llama")
    gw.add_block_count(N_LAYER)
    gw.add_context_length(N_CTX)
    gw.add_embedding_length(N_EMBD)
    gw.add_feed_forward_length(N_FF)
    gw.add_head_count(N_HEAD)
    gw.add_head_count_kv(N_KV)
    gw.add_rope_freq_base(10000.0)
    gw.add_layer_norm_rms_eps(1e-5)
    gw.add_tokenizer_model("gpt2")
    gw.add_tokenizer_pre("smollm")
    gw.add_token_list(tokens)
    gw.add_token_types(types)
    gw.add_token_merges(merges)
    gw.add_bos_token_id(258)
    gw.add_eos_token_id(259)
    gw.add_chat_template(tiny.CHATML)
    for name, (data, qtype) in tensors(rng, len(tokens)).items():
        gw.add_tensor(name, data if qtype == Q.F32 else quantize(data, qtype), raw_dtype=qtype)
    gw.write_header_to_file()
    gw.write_kv_data_to_file()
    gw.write_tensors_to_file()
    gw.close()


def bf16_bits(a):
    """float32 to bf16 (round to nearest even) as uint16, for numpy without a bf16 type."""
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def write_indexer(path, sha, seed, heads, dim, rope, layers, bf16):
    rng = np.random.default_rng(seed)
    w = {}
    for l in layers:
        w[f"layers.{l}.wq"] = rng.standard_normal((heads * dim, N_EMBD)) * 0.3
        w[f"layers.{l}.wk"] = rng.standard_normal((dim, N_EMBD)) * 0.3
        w[f"layers.{l}.weights_proj"] = rng.standard_normal((heads, N_EMBD)) * 0.5
        w[f"layers.{l}.k_norm.weight"] = 1 + rng.standard_normal(dim) * 0.1
        w[f"layers.{l}.k_norm.bias"] = rng.standard_normal(dim) * 0.1
    meta = {"format": "sightline-indexer", "version": "1", "model": "small-llama",
            "model_sha256": sha, "n_heads": str(heads), "head_dim": str(dim),
            "rope_dims": str(rope), "top_k": "16", "norm_eps": "1e-06",
            "layers": ",".join(str(l) for l in layers)}
    write_safetensors(path, {k: v.astype(np.float32) for k, v in w.items()}, meta, bf16)


def write_safetensors(path, tensors, meta, bf16):
    """The safetensors layout written directly (numpy has no bf16), keys sorted so that the
    bytes are the same from run to run."""
    header, blobs, at = {"__metadata__": meta}, [], 0
    for name in sorted(tensors):
        data = bf16_bits(tensors[name]) if bf16 else tensors[name]
        raw = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": "BF16" if bf16 else "F32", "shape": list(data.shape),
                        "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    out = sys.argv[1]
    model = os.path.join(out, "small-llama.gguf")
    write_model(model)
    sha = hashlib.sha256(open(model, "rb").read()).hexdigest()
    write_indexer(os.path.join(out, "small-indexer.safetensors"), sha, 31, 8, 64, 32, [0, 2], True)
    write_indexer(os.path.join(out, "small-indexer-odd.safetensors"), sha, 37, 3, 24, 8, [0, 1],
                  False)


if __name__ == "__main__":
    main()
