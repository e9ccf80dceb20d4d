#!/usr/bin/env python3
"""DeepSeek-V3.2 test checkpoints whose expert routing cannot flip, for comparing two
implementations that round differently (the GPU against the CPU: tests/gpu/test-deepseek-cuda.c).

The small random checkpoints (make-deepseek-v32.py) route tokens to experts by near-ties:
BF16 rounding alone flips some token's choice within a few dozen tokens, and a flipped expert
moves that row, and the rows attending to it, far. Each layer's e_score_correction_bias only
chooses the experts (the routing weights leave it out), so setting it to a permutation of
0, 4, 8, ... makes every choice, of groups and of experts, decided by margins of 4 where the
sigmoid scores span less than 1; everything else is the original checkpoint, byte for byte.

Writes tests/data/deepseek-v32/fixed-routing/NAME/ for NAME in tiny-bf16, small-f32 and
fp8-sharded: the weight files that hold a bias as patched copies, the others, the config,
the shard index and the tokenizer as links to the original.

Usage: make-fixed-routing.py [tests/data/deepseek-v32]    (deterministic; needs numpy)
"""
import json
import os
import struct
import sys

import numpy as np

NAMES = ["tiny-bf16", "small-f32", "fp8-sharded"]
SUFFIX = "mlp.gate.e_score_correction_bias"


def header(data):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), 8 + n


def patched(path, seed):
    """The file's bytes with every routing bias replaced, or None if it holds none."""
    data = bytearray(open(path, "rb").read())
    head, base = header(data)
    names = sorted(k for k in head if k.endswith(SUFFIX))
    for i, name in enumerate(names):
        t = head[name]
        if t["dtype"] != "F32" or len(t["shape"]) != 1:
            raise SystemExit(f"{path}: {name} is {t['dtype']} {t['shape']}, expected F32 [E]")
        n = t["shape"][0]
        values = np.random.default_rng(seed + i).permutation(n).astype("<f4") * 4.0
        lo, hi = (base + o for o in t["data_offsets"])
        data[lo:hi] = values.tobytes()
    return bytes(data) if names else None


def make(root, name, seed):
    src = os.path.join(root, name)
    dst = os.path.join(root, "fixed-routing", name)
    os.makedirs(dst, exist_ok=True)
    for f in sorted(os.listdir(src)):
        if f == "golden.safetensors":  # transformers' outputs of the original routing
            continue
        out = os.path.join(dst, f)
        if os.path.lexists(out):
            os.remove(out)
        body = patched(os.path.join(src, f), seed) if f.endswith(".safetensors") else None
        if body is None:
            os.symlink(os.path.join("..", "..", name, f), out)
        else:
            with open(out, "wb") as w:
                w.write(body)
        seed += 100


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "data", "deepseek-v32")
    for i, name in enumerate(NAMES):
        make(root, name, 1000 * (i + 1))


if __name__ == "__main__":
    main()
