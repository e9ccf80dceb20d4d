#!/usr/bin/env python3
"""GGUF fixtures and expected dequantised values from an independent implementation.

Everything here is written and computed by the `gguf` Python package
(GGUFWriter, gguf.quants.quantize/dequantize, GGUFReader) and numpy; nothing
of Sightline's is involved. The engine tests (tests/engine/gguf/) read these
files and compare the C reader and dequantiser against them.

Writes, under OUT_DIR (default tests/data/gguf):
  small.gguf          GGUF v3, general.alignment = 64, one tensor of each type
                      the engine dequantises, varied metadata (see METADATA).
  small-v2.gguf       GGUF v2, default alignment (32), two of the same tensors.
                      GGUFWriter only writes v3; for little-endian files v2 and
                      v3 are byte-for-byte the same layout (v3 only added
                      big-endian files), so this is a v3 file from GGUFWriter
                      with the version field (bytes 4..7) patched to 2.
  expected/NAME.f32   for each tensor NAME: gguf.quants.dequantize() of its
                      bytes, float32 little-endian, ggml order (dims[0] fastest).
  f16-rounding.bin    float32 → float16 rounding by numpy: records of
                      f32 input (LE), u16 numpy result (LE), u16 zero.
  smollm2-rows.txt    rows of the default model dequantised by the package:
  smollm2-rows.f32    the .txt lists "tensor row" per line (and the model's
                      sha256 as a comment); the .f32 holds those rows, in that
                      order, each dims[0] float32 values. Skipped (with a
                      message) when the model file is absent.

Deterministic: a fixed seed, no timestamps; running it again must leave the
committed files unchanged (git diff is empty).

Usage: make-gguf-fixtures.py [OUT_DIR] [MODEL.gguf]
Needs: pip install gguf numpy
"""
import hashlib
import os
import struct
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter, GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

SEED = 20250611
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_MODEL = os.path.expanduser(
    "~/.local/share/sightline/models/SmolLM2-135M-Instruct.Q4_1.gguf")

# Metadata of small.gguf: (key, value, value type, element type of arrays).
# test-gguf.c checks every one of these; keep the two in step.
METADATA = [
    ("general.name", "Sightline GGUF fixture", GGUFValueType.STRING, None),
    ("test.u8", 255, GGUFValueType.UINT8, None),
    ("test.i8", -128, GGUFValueType.INT8, None),
    ("test.u16", 65535, GGUFValueType.UINT16, None),
    ("test.i16", -32768, GGUFValueType.INT16, None),
    ("test.u32", 4294967295, GGUFValueType.UINT32, None),
    ("test.i32", -2147483648, GGUFValueType.INT32, None),
    ("test.u64", 18446744073709551615, GGUFValueType.UINT64, None),
    ("test.i64", -9223372036854775808, GGUFValueType.INT64, None),
    ("test.f32", -0.0015, GGUFValueType.FLOAT32, None),
    ("test.f64", 3.141592653589793, GGUFValueType.FLOAT64, None),
    ("test.f64_small", 0.25, GGUFValueType.FLOAT64, None),
    ("test.bool_true", True, GGUFValueType.BOOL, None),
    ("test.bool_false", False, GGUFValueType.BOOL, None),
    ("test.small_u64", 7, GGUFValueType.UINT64, None),
    ("test.small_i8", 100, GGUFValueType.INT8, None),
    ("test.string", "Grüße, 世界! 🌍 \"quoted\"\n\ttab", GGUFValueType.STRING, None),
    ("test.empty_string", "", GGUFValueType.STRING, None),
    ("test.array_str", ["alpha", "", "ünïcödé", "日本語", "🙂"], GGUFValueType.ARRAY,
     GGUFValueType.STRING),
    ("test.array_i32", [-1, 0, 1, 2147483647, -2147483648], GGUFValueType.ARRAY,
     GGUFValueType.INT32),
    ("test.array_u8", [0, 1, 127, 128, 255], GGUFValueType.ARRAY, GGUFValueType.UINT8),
    ("test.array_f32", [0.5, -2.0, 1e30], GGUFValueType.ARRAY, GGUFValueType.FLOAT32),
    ("test.array_bool", [True, False, True], GGUFValueType.ARRAY, GGUFValueType.BOOL),
    ("test.array_i64", [-9223372036854775808, 0, 9223372036854775807], GGUFValueType.ARRAY,
     GGUFValueType.INT64),
    ("test.array_u16", [0, 65535], GGUFValueType.ARRAY, GGUFValueType.UINT16),
    ("test.array_f64", [-1.0, 1e-300], GGUFValueType.ARRAY, GGUFValueType.FLOAT64),
]

F16_SPECIALS = [
    0x0000, 0x8000,          # ±0
    0x0001, 0x8001, 0x03ff,  # subnormals: smallest, its negative, largest
    0x0200, 0x0400,          # a mid subnormal, smallest normal
    0x3c00, 0xbc00, 0x7bff, 0xfbff,  # ±1, ±65504
    0x7c00, 0xfc00,          # ±inf
    0x7e00, 0xfe00, 0x7e01,  # quiet NaNs, one with a payload
    0x7d00,                  # a signalling NaN (payload kept by both sides)
]

F32_SPECIALS = [0.0, -0.0, 3.4028235e38, -3.4028235e38, 1e-45, -1e-45, 1.1754944e-38,
                np.inf, -np.inf, np.nan]


def ggml_shape(dims):
    """numpy shape of a tensor whose ggml dims (dims[0] fastest) are dims."""
    return tuple(reversed(dims))


def awkward_rows(rng, n_rows, row):
    """Rows for the quantisers: zeros, large magnitudes, all negative, random."""
    x = rng.standard_normal((n_rows, row)).astype(np.float32)
    x[0] = 0.0
    if n_rows > 1:
        x[1] = rng.uniform(-30000.0, 30000.0, row).astype(np.float32)
        x[1, 0] = 30000.0
    if n_rows > 2:
        x[2] = -np.abs(x[2]) - 1.0
    return x


def k_quant_blocks(rng, qtype, n_blocks):
    """Random super-blocks of a K-quant with chosen f16 scales (the package
    can dequantise K-quants but not quantise them): every bit pattern of the
    packed values and scales, scales zero, subnormal, negative and large."""
    block_elems, block_bytes = {
        T.Q2_K: (256, 84), T.Q3_K: (256, 110), T.Q4_K: (256, 144),
        T.Q5_K: (256, 176), T.Q6_K: (256, 210)}[qtype]
    blocks = rng.integers(0, 256, (n_blocks, block_bytes), dtype=np.uint8)
    scale_at = {T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2],
                T.Q6_K: [208]}[qtype]
    choices = [np.float16(0.0), np.float16(6e-8), np.float16(-0.0123), np.float16(1000.0)]
    for b in range(n_blocks):
        for k, at in enumerate(scale_at):
            if b < len(choices):
                d = choices[(b + k) % len(choices)]
            else:
                d = np.float16(rng.uniform(-0.02, 0.05))
            blocks[b, at:at + 2] = np.frombuffer(d.tobytes(), dtype=np.uint8)
    return blocks, block_elems


def build_tensors(rng):
    """(name, ggml dims, ggml type, bytes as numpy uint8/float array, expected f32)."""
    out = []

    x = rng.standard_normal(21).astype(np.float32)
    x[:len(F32_SPECIALS)] = F32_SPECIALS
    x = x.reshape(ggml_shape([7, 3]))
    out.append(("t.f32", [7, 3], T.F32, x, x.copy()))

    h = rng.integers(0, 0x10000, 30, dtype=np.uint16)
    h[:len(F16_SPECIALS)] = F16_SPECIALS
    h = h.view(np.float16).reshape(ggml_shape([5, 3, 2]))
    out.append(("t.f16", [5, 3, 2], T.F16, h, dequantize(h, T.F16)))

    x = (rng.standard_normal(18) * 100).astype(np.float32)
    x[:len(F32_SPECIALS)] = F32_SPECIALS
    x[len(F32_SPECIALS)] = 1.0039062  # rounds (to even) in bf16
    q = quantize(x.reshape(ggml_shape([9, 2])), T.BF16)
    out.append(("t.bf16", [9, 2], T.BF16, q, dequantize(q, T.BF16)))

    for name, dims, qtype in [("t.q8_0", [96, 5], T.Q8_0), ("t.q4_0", [64, 3, 2], T.Q4_0),
                              ("t.q4_1", [160, 3], T.Q4_1), ("t.q5_0", [32, 7], T.Q5_0),
                              ("t.q5_1", [96, 2, 1, 2], T.Q5_1)]:
        n_rows = int(np.prod(dims[1:]))
        x = awkward_rows(rng, n_rows, dims[0]).reshape(ggml_shape(dims))
        q = quantize(x, qtype)
        out.append((name, dims, qtype, q, dequantize(q, qtype)))

    for name, dims, qtype in [("t.q2_k", [256, 3], T.Q2_K), ("t.q3_k", [256, 2], T.Q3_K),
                              ("t.q4_k", [512, 2], T.Q4_K), ("t.q5_k", [256, 3], T.Q5_K),
                              ("t.q6_k", [512, 2], T.Q6_K)]:
        n_elems = int(np.prod(dims))
        blocks, block_elems = k_quant_blocks(rng, qtype, n_elems // 256)
        q = blocks.reshape(ggml_shape(dims[1:]) + (dims[0] // block_elems * blocks.shape[1],))
        out.append((name, dims, qtype, q, dequantize(q, qtype)))
    return out


def add_tensor(w, name, dims, qtype, data):
    if qtype in (T.F32, T.F16):
        w.add_tensor(name, data)
    else:
        w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=qtype)
    # GGUFWriter derives ggml dims from the numpy shape; check we agree.
    assert list(w.tensors[-1][name].shape[::-1]) == dims, (name, w.tensors[-1][name].shape)


def write_gguf(path, tensors, metadata, alignment=None):
    w = GGUFWriter(path, arch="sightline-test")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    for key, value, vtype, sub in metadata:
        w.add_key_value(key, value, vtype, sub_type=sub)
    for name, dims, qtype, data, _ in tensors:
        add_tensor(w, name, dims, qtype, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def check_with_reader(path, tensors):
    """Reads a file back with the package's reader: same tensors, same bytes."""
    r = GGUFReader(path)
    assert [t.name for t in r.tensors] == [t[0] for t in tensors]
    for t, (name, dims, qtype, data, expected) in zip(r.tensors, tensors):
        assert t.tensor_type == qtype and list(t.shape) == dims, name
        got = dequantize(t.data, qtype).astype(np.float32).reshape(-1)
        assert got.tobytes() == expected.astype(np.float32).reshape(-1).tobytes(), name


def f16_rounding_cases(rng):
    """float32 inputs around every interesting float16 boundary."""
    bits = []
    for h in range(0, 0x7c01, 97):  # spread over all finite f16 and inf
        f = np.array([h], dtype=np.uint16).view(np.float16).astype(np.float32)
        b = int(f.view(np.uint32)[0])
        bits += [b, b + 1, b - 1 if b else 0, b + 0x1000, b + 0xfff, b + 0x1001]
    special = [0x477fe000, 0x477fefff, 0x477ff000, 0x477ff001, 0x47800000,  # near 65504
               0x38800000, 0x387fffff, 0x387fe000, 0x387ff000,               # smallest normal
               0x33800000, 0x33000000, 0x33000001, 0x32ffffff, 0x337fffff,   # smallest subnormal
               0x00000001, 0x007fffff, 0x7f7fffff, 0x7f800000, 0x7fc00000]
    bits += special + rng.integers(0, 0x80000000, 2000, dtype=np.uint64).tolist()
    bits = np.array(bits, dtype=np.uint32)
    bits = np.concatenate([bits, bits | np.uint32(0x80000000)])
    f = bits.view(np.float32)
    f = f[~np.isnan(f)]  # NaN payload handling differs between converters
    with np.errstate(over="ignore"):
        h = f.astype(np.float16).view(np.uint16)
    rec = np.zeros(len(f), dtype=[("f", "<f4"), ("h", "<u2"), ("pad", "<u2")])
    rec["f"] = f
    rec["h"] = h
    return rec.tobytes()


MODEL_ROWS = [("token_embd.weight", r) for r in (0, 1, 2, 100, 1000, 49151)] + \
             [("blk.0.attn_q.weight", r) for r in (0, 1, 288, 575)]


def write_model_rows(out_dir, model):
    if not os.path.exists(model):
        print(f"{model}: absent, skipping smollm2-rows.* (run packaging/fetch-model)")
        return
    with open(model, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    r = GGUFReader(model)
    tensors = {t.name: t for t in r.tensors}
    lines = [f"# {os.path.basename(model)} sha256 {sha}",
             "# tensor row: values in smollm2-rows.f32, in this order, dims[0] float32 each"]
    values = []
    for name, row in MODEL_ROWS:
        t = tensors[name]
        values.append(dequantize(t.data[row:row + 1], t.tensor_type).astype(np.float32).reshape(-1))
        assert values[-1].size == t.shape[0]
        lines.append(f"{name} {row}")
    with open(os.path.join(out_dir, "smollm2-rows.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out_dir, "smollm2-rows.f32"), "wb") as f:
        f.write(np.concatenate(values).astype("<f4").tobytes())
    print(f"{model}: {len(tensors)} tensors, "
          f"{int(r.fields['GGUF.kv_count'].parts[0][0])} key-value pairs, rows written")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "data", "gguf")
    model = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_MODEL
    rng = np.random.default_rng(SEED)
    os.makedirs(os.path.join(out_dir, "expected"), exist_ok=True)

    tensors = build_tensors(rng)
    small = os.path.join(out_dir, "small.gguf")
    write_gguf(small, tensors, METADATA, alignment=64)
    check_with_reader(small, tensors)
    for name, _, _, _, expected in tensors:
        with open(os.path.join(out_dir, "expected", name + ".f32"), "wb") as f:
            f.write(expected.astype("<f4").reshape(-1).tobytes())

    v2_tensors = [t for t in tensors if t[0] in ("t.f32", "t.q8_0")]
    v2 = os.path.join(out_dir, "small-v2.gguf")
    write_gguf(v2, v2_tensors, [("general.name", "v2", GGUFValueType.STRING, None)])
    with open(v2, "r+b") as f:
        assert f.read(8) == b"GGUF" + struct.pack("<I", 3)
        f.seek(4)
        f.write(struct.pack("<I", 2))
    check_with_reader(v2, v2_tensors)

    with open(os.path.join(out_dir, "f16-rounding.bin"), "wb") as f:
        f.write(f16_rounding_cases(rng))

    write_model_rows(out_dir, model)


if __name__ == "__main__":
    main()
