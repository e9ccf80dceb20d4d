#!/usr/bin/env python3
"""safetensors fixtures and expected values from an independent implementation.

Every file here is written by the `safetensors` Python package (the Rust
crate underneath it serialises the header and lays out the data), from
tensors made by torch and numpy; the expected float32 values are torch's and
numpy's own conversions. Nothing of Sightline's is involved. The engine tests
(tests/engine/model/test-safetensors.c) read these files and compare the C
reader and sl_st_to_f32 against them.

Writes, under OUT_DIR (default tests/data/safetensors):
  floats.safetensors  safetensors.torch.save: every float dtype the
                      engine converts (F32, F16, BF16, F64, F8_E4M3, F8_E5M2),
                      odd shapes, a scalar, an empty tensor, all 256 bit
                      patterns of both FP8 formats, F16/BF16/F64 specials
                      (±0, ±inf, NaN, subnormals, the largest finite, values
                      that overflow or underflow float32); metadata with
                      non-ASCII text.
  ints.safetensors    safetensors.numpy.save: BOOL, U8, I8, I16, U16,
                      I32, U32, I64, U64 (with their extreme values) and an F32
                      of rank 4; metadata.
  empty.safetensors   safetensors.numpy.save({}): no tensors, no metadata.
  expected/manifest.txt
                      one line per tensor: FILE NAME DTYPE RANK DIMS...
                      (dims outermost first, as the file writes them).
  expected/metadata.txt
                      one line per metadata entry: FILE xKEY xVALUE, key and
                      value as "x" and the hex of their UTF-8 bytes.
  expected/FILE/NAME.raw
                      the tensor's bytes as numpy gives them (little-endian,
                      C order).
  expected/FILE/NAME.f32
                      float tensors only: torch's .to(torch.float32) (numpy's
                      astype(float32) for F64), float32 little-endian.

Deterministic: fixed seeds, no timestamps, metadata in sorted key order
(see canonical()); running it again must leave the
committed files unchanged (git diff is empty).

Usage: make-safetensors-fixtures.py [OUT_DIR]
Needs: pip install safetensors torch numpy
"""
import os
import shutil
import sys

import numpy as np
import torch
import json
import struct

from safetensors.numpy import save as save_numpy
from safetensors.torch import save as save_torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED = 20251123

FLOAT_METADATA = {
    "format": "pt",
    "note": "naïve café — ünïcödé ✓ 日本語 𝄞",
    "empty": "",
    "quote\"and\\backslash": "tab\there, newline\nthere",
}
INT_METADATA = {"source": "numpy", "version": "1"}


def float_tensors():
    g = torch.Generator().manual_seed(SEED)
    t = {}
    t["f32.matrix"] = torch.randn(3, 5, generator=g)
    t["f32.scalar"] = torch.tensor(-2.75, dtype=torch.float32)
    t["f32.empty"] = torch.zeros(0, 4, dtype=torch.float32)
    specials = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1.0, -1.0])

    f16 = torch.cat([torch.randn(14, generator=g) * 100,
                     specials,
                     torch.tensor([65504.0, -65504.0, 6.1035156e-05, 5.9604645e-08, 3e-06])])
    t["f16.odd"] = f16.to(torch.float16).reshape(2, 13)  # 26 values

    bf16 = torch.cat([torch.randn(6, generator=g) * 1e3,
                      specials,
                      torch.tensor([3.3895e38, -1e-38, 9.2e-41])])
    t["bf16.odd"] = bf16.to(torch.bfloat16).reshape(2, 1, 8)  # 16 values

    t["f64.vec"] = torch.tensor([0.1, -1e300, 1e300, 1e-300, -0.0, float("nan"),
                                 3.4028235677973366e38, 1.0000000596046448, 2.5,
                                 1.401298464324817e-45, 16777217.0], dtype=torch.float64)

    bytes_all = torch.arange(256, dtype=torch.int32).to(torch.uint8)
    t["f8_e4m3.all"] = bytes_all.view(torch.float8_e4m3fn).clone()
    t["f8_e5m2.all"] = bytes_all.view(torch.float8_e5m2).clone().reshape(16, 16)
    t["f8_e4m3.weight"] = (torch.randn(5, 7, generator=g) * 4).to(torch.float8_e4m3fn)
    t["bf16.row"] = torch.randn(1, 33, generator=g).to(torch.bfloat16)
    return t


def int_tensors():
    rng = np.random.default_rng(SEED)
    t = {}
    t["bool.flags"] = np.array([True, False, False, True, True], dtype=np.bool_)
    t["u8.bytes"] = np.array([0, 1, 127, 128, 255], dtype=np.uint8)
    t["i8.signed"] = np.array([[-128, -1, 0], [1, 2, 127]], dtype=np.int8)
    t["i16.vals"] = np.array([-32768, 32767, 0, -2], dtype=np.int16)
    t["u16.vals"] = np.array([0, 65535, 4660], dtype=np.uint16)
    t["i32.ids"] = rng.integers(-2**31, 2**31 - 1, size=(3, 3), dtype=np.int32, endpoint=True)
    t["u32.ids"] = np.array([0, 4294967295, 305419896], dtype=np.uint32)
    t["i64.pos"] = np.array([-2**63, 2**63 - 1, 0, 42], dtype=np.int64)
    t["u64.big"] = np.array([2**64 - 1, 0], dtype=np.uint64)
    t["f32.rank4"] = rng.standard_normal((2, 3, 1, 2)).astype(np.float32)
    return t


def canonical(save, tensors, metadata):
    """The package's bytes, taken on a call where __metadata__ came out with
    its keys sorted. The crate keeps metadata in a randomly seeded hash map,
    so its order changes from call to call; asking again until the order is
    the sorted one keeps the files byte-for-byte reproducible while every
    byte is still the package's own output."""
    for _ in range(100000):
        data = save(tensors, metadata=metadata) if metadata else save(tensors)
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + n])
        keys = list(header.get("__metadata__", {}))
        if keys == sorted(keys):
            return data
    raise SystemExit("no call wrote the metadata in sorted order")


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def raw_bytes(x):
    """The tensor's bytes in memory order (the host is little-endian)."""
    if isinstance(x, torch.Tensor):
        return x.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
    return np.ascontiguousarray(x).tobytes()


DTYPE_NAMES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2",
    np.dtype(np.bool_): "BOOL", np.dtype(np.uint8): "U8", np.dtype(np.int8): "I8",
    np.dtype(np.int16): "I16", np.dtype(np.uint16): "U16", np.dtype(np.int32): "I32",
    np.dtype(np.uint32): "U32", np.dtype(np.int64): "I64", np.dtype(np.uint64): "U64",
    np.dtype(np.float32): "F32",
}


def main():
    assert sys.byteorder == "little"
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests/data/safetensors")
    expected = os.path.join(out, "expected")
    if os.path.isdir(expected):
        shutil.rmtree(expected)
    os.makedirs(expected)

    floats = float_tensors()
    ints = int_tensors()
    write(os.path.join(out, "floats.safetensors"), canonical(save_torch, floats, FLOAT_METADATA))
    write(os.path.join(out, "ints.safetensors"), canonical(save_numpy, ints, INT_METADATA))
    write(os.path.join(out, "empty.safetensors"), canonical(save_numpy, {}, None))

    manifest, metadata = [], []
    for file, tensors in (("floats", floats), ("ints", ints)):
        os.makedirs(os.path.join(expected, file))
        for name in sorted(tensors):
            x = tensors[name]
            dtype = DTYPE_NAMES[x.dtype]
            shape = list(x.shape)
            manifest.append(" ".join([file + ".safetensors", name, dtype, str(len(shape))] +
                                     [str(d) for d in shape]))
            with open(os.path.join(expected, file, name + ".raw"), "wb") as f:
                f.write(raw_bytes(x))
            if dtype in ("F32", "F16", "BF16", "F64", "F8_E4M3", "F8_E5M2"):
                if isinstance(x, torch.Tensor) and x.dtype != torch.float64:
                    f32 = x.to(torch.float32).numpy()
                else:
                    f32 = np.asarray(x.numpy() if isinstance(x, torch.Tensor) else x)
                    with np.errstate(over="ignore"):
                        f32 = f32.astype(np.float32)
                with open(os.path.join(expected, file, name + ".f32"), "wb") as f:
                    f.write(np.ascontiguousarray(f32, dtype="<f4").tobytes())
    for file, meta in (("floats", FLOAT_METADATA), ("ints", INT_METADATA)):
        for key in sorted(meta):
            metadata.append("%s.safetensors x%s x%s" % (file, key.encode().hex(),
                                                          meta[key].encode().hex()))
    with open(os.path.join(expected, "manifest.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(manifest) + "\n")
    with open(os.path.join(expected, "metadata.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(metadata) + "\n")


if __name__ == "__main__":
    main()
