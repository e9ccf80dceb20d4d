#!/usr/bin/env python3
"""The same measurement as bench-engine, with Hugging Face transformers as the engine.

Loads the GGUF through transformers (dequantised to float32 torch tensors), then for each
context L: prefill L - N tokens, decode N tokens greedily with the KV cache, ending at L.
Token ids are pseudo-random over the vocabulary, as in bench-engine. Prints a table and,
with --json, writes the figures.

usage: peer-transformers.py MODEL.gguf [--threads N] [--contexts 512,2048] [--decode N] [--json F]
needs: pip install torch transformers accelerate gguf
"""
import argparse
import json
import os
import resource
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--contexts", default="512,2048")
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    d, f = os.path.split(os.path.abspath(a.model))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    vocab = model.config.vocab_size
    print(f"peer: transformers {__import__('transformers').__version__}, torch {torch.__version__}, "
          f"threads {a.threads}")
    print(f"{'context':>8} {'prefill tok/s':>14} {'decode tok/s':>14} {'peak MiB':>12}")
    results = []
    for ctx in (int(c) for c in a.contexts.split(",")):
        g = torch.Generator().manual_seed(12345)
        ids = torch.randint(0, vocab, (1, ctx - a.decode), generator=g)
        with torch.no_grad():
            t0 = time.perf_counter()
            out = model(ids, use_cache=True)
            t1 = time.perf_counter()
            past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
            for _ in range(a.decode):
                out = model(tok, past_key_values=past, use_cache=True)
                past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
            t2 = time.perf_counter()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        r = {"context": ctx, "prefill_tokens_per_s": (ctx - a.decode) / (t1 - t0),
             "decode_tokens_per_s": a.decode / (t2 - t1), "peak_rss_mib": rss}
        results.append(r)
        print(f"{ctx:>8} {r['prefill_tokens_per_s']:>14.1f} {r['decode_tokens_per_s']:>14.1f} {rss:>12.1f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"engine": "transformers", "threads": a.threads, "decode_tokens": a.decode,
                       "results": results}, fh)


if __name__ == "__main__":
    main()
