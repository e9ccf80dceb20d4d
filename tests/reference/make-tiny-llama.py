#!/usr/bin/env python3
"""A tiny random llama GGUF, its logits from transformers, and broken variants.

Writes into tests/data/llama/:
  tiny-llama.gguf          2 layers, hidden 64, 4 query / 2 KV heads, head dim 16,
                           ff 96, vocab 262 (byte-level GPT-2 alphabet, one merge,
                           ChatML specials), an untied output matrix, weights in
                           F32, F16, Q8_0 and Q4_1; written by the `gguf` package.
  tiny-llama-logits.bin    logits of transformers' LlamaForCausalLM on that file for
                           a fixed 40-token sequence (format of make-llama-logits.py,
                           every position stored).
  broken/*.gguf            well-formed GGUF files that are not usable models: each
                           must be refused by sl_engine_open with a clear error.

Usage: make-tiny-llama.py OUT_DIR      (deterministic; needs gguf numpy torch
                                        transformers accelerate)
"""
import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFWriter
from gguf.quants import quantize

N_LAYER, N_EMBD, N_HEAD, N_KV, N_FF = 2, 64, 4, 2, 96
HEAD_DIM = N_EMBD // N_HEAD


def byte_alphabet():
    """GPT-2's printable stand-ins for the 256 byte values."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def vocab():
    tokens = byte_alphabet() + ["\u0120t", "<|endoftext|>", "<|im_start|>", "<|im_end|>",
                                "\u0120th", "he"]
    types = [1] * 257 + [3, 3, 3] + [1, 1]
    merges = ["\u0120 t", "\u0120t h", "h e"]
    return tokens, types, merges


CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
          "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def tensors(rng):
    def w(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    n_vocab = len(vocab()[0])
    out = {"token_embd.weight": (w(n_vocab, N_EMBD, scale=1.0), Q.Q8_0),
           "output_norm.weight": (1.0 + w(N_EMBD, scale=0.1), Q.F32),
           "output.weight": (w(n_vocab, N_EMBD), Q.F16)}
    for i in range(N_LAYER):
        p = f"blk.{i}."
        out[p + "attn_norm.weight"] = (1.0 + w(N_EMBD, scale=0.1), Q.F32)
        out[p + "ffn_norm.weight"] = (1.0 + w(N_EMBD, scale=0.1), Q.F32)
        out[p + "attn_q.weight"] = (w(N_HEAD * HEAD_DIM, N_EMBD), Q.Q4_1)
        out[p + "attn_k.weight"] = (w(N_KV * HEAD_DIM, N_EMBD), Q.Q8_0)
        out[p + "attn_v.weight"] = (w(N_KV * HEAD_DIM, N_EMBD), Q.F16)
        out[p + "attn_output.weight"] = (w(N_EMBD, N_HEAD * HEAD_DIM), Q.Q4_1)
        out[p + "ffn_gate.weight"] = (w(N_FF, N_EMBD), Q.Q8_0)
        out[p + "ffn_up.weight"] = (w(N_FF, N_EMBD), Q.F32)
        out[p + "ffn_down.weight"] = (w(N_EMBD, N_FF), Q.Q4_1)
    return out


def write(path, arch="llama", drop_key=None, drop_tensor=None, reshape=None, extra=None):
    rng = np.random.default_rng(20261123)
    tokens, types, merges = vocab()
    gw = GGUFWriter(path, arch)
    gw.add_name("tiny-llama")
    meta = {
        "block_count": lambda: gw.add_block_count(N_LAYER),
        "context_length": lambda: gw.add_context_length(256),
        "embedding_length": lambda: gw.add_embedding_length(N_EMBD),
        "feed_forward_length": lambda: gw.add_feed_forward_length(N_FF),
        "head_count": lambda: gw.add_head_count(N_HEAD),
        "head_count_kv": lambda: gw.add_head_count_kv(N_KV),
        "rope": lambda: gw.add_rope_freq_base(10000.0),
        "eps": lambda: gw.add_layer_norm_rms_eps(1e-5),
    }
    for key, add in meta.items():
        if key != drop_key:
            add()
    gw.add_tokenizer_model("gpt2")
    gw.add_tokenizer_pre("smollm")
    gw.add_token_list(tokens)
    gw.add_token_types(types)
    gw.add_token_merges(merges)
    gw.add_bos_token_id(258)
    gw.add_eos_token_id(259)
    gw.add_chat_template(CHATML)
    for k, v in (extra or {}).items():
        gw.add_string(k, v)
    for name, (data, qtype) in tensors(rng).items():
        if name == drop_tensor:
            continue
        if reshape and name == reshape:
            data = data[:-1]  # one row short
        q = quantize(data, qtype) if qtype not in (Q.F32,) else data
        gw.add_tensor(name, q, raw_dtype=qtype)
    gw.write_header_to_file()
    gw.write_kv_data_to_file()
    gw.write_tensors_to_file()
    gw.close()


def golden_logits(model_path, out_path):
    import torch
    from transformers import AutoModelForCausalLM
    d, f = os.path.split(os.path.abspath(model_path))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    assert type(model).__name__ == "LlamaForCausalLM"
    rng = np.random.default_rng(7)
    ids = [int(x) for x in rng.integers(0, model.config.vocab_size, 40)]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float().numpy()
    vocab_size = logits.shape[1]
    with open(out_path, "wb") as out:
        out.write(b"SLLG" + struct.pack("<III", 1, vocab_size, 1))
        out.write(struct.pack("<I", len(ids)) + np.asarray(ids, "<i4").tobytes())
        out.write(struct.pack("<I", len(ids)) + np.arange(len(ids), dtype="<u4").tobytes())
        out.write(np.ascontiguousarray(logits, "<f4").tobytes())


def main():
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "broken"), exist_ok=True)
    model = os.path.join(out, "tiny-llama.gguf")
    write(model)
    golden_logits(model, os.path.join(out, "tiny-llama-logits.bin"))
    broken = {
        "arch-mistery.gguf": dict(arch="mistery"),
        "no-block-count.gguf": dict(drop_key="block_count"),
        "no-head-count.gguf": dict(drop_key="head_count"),
        "no-attn-q.gguf": dict(drop_tensor="blk.1.attn_q.weight"),
        "no-embeddings.gguf": dict(drop_tensor="token_embd.weight"),
        "short-ffn-up.gguf": dict(reshape="blk.0.ffn_up.weight"),
        "rope-scaling-yarn.gguf": dict(extra={"llama.rope.scaling.type": "yarn"}),
    }
    for name, how in broken.items():
        write(os.path.join(out, "broken", name), **how)


if __name__ == "__main__":
    main()
