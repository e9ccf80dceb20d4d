#!/usr/bin/env python3
"""The dense peer of bench-dsa-layer: a DeepSeek-V3.2-shaped attention block
without DSA (as DeepSeek-V3.1 runs it), in PyTorch on the same GPU.

Random BF16 weights at full width: hidden 7168, 128 heads, q LoRA 1536, latent
512 + rope 64, nope 128, value 128. Prefill of L tokens runs MLA in MHA form:
the projections, each head's keys and values from the latent, causal
torch.nn.functional.scaled_dot_product_attention (PyTorch picks its fastest
backend; the one used is printed), and the output projection. One decode step
at position L runs the absorbed MQA form that dense MLA decoding uses: the
token's projections, q absorbed into the latent, scores against all L cached
latents, softmax, and the value and output projections. RoPE is left out (an
element-wise cost beside these). Times are per layer, with CUDA events after
warm-up, the median of the repeats.

Cost at a position (as the report's Figure 3 draws it): the last chunk of a
chunked prefill, rows L - C ... L - 1 (--chunk C, 4096 by default) against the
keys and values before them, as bench-dsa-layer times its own; the chunk's
attention is checked first against SDPA with the mask written out.

Decode runs for each batch size (--batches 1,64): B sequences, each one
token at position L with a cache of its own.

usage: peer-dense-layer.py [--lengths 8192,32768,65536,131072] [--batches 1,64] [--chunk 4096]
                           [--json F]
"""
import argparse
import json
import statistics

import torch
import torch.nn.functional as F

D, H, QL, KL, NOPE, ROPE, VD = 7168, 128, 1536, 512, 128, 64, 128


def timed(fn, repeats):
    fn()  # warm-up, twice: the first call may compile or autotune
    fn()
    times = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


class Layer:
    def __init__(self, gen):
        def w(rows, cols):
            return (torch.randn(rows, cols, generator=gen, device="cuda") * cols ** -0.5).bfloat16()
        self.q_a, self.q_b = w(QL, D), w(H * (NOPE + ROPE), QL)
        self.kv_a, self.kv_b = w(KL + ROPE, D), w(H * (NOPE + VD), KL)
        self.o = w(D, H * VD)
        self.scale = 0.135234  # V3.2's YaRN softmax scale

    def prefill(self, x):
        L = x.shape[0]
        q = F.linear(F.linear(x, self.q_a), self.q_b).view(L, H, NOPE + ROPE)
        kv = F.linear(x, self.kv_a)
        latent, k_pe = kv[:, :KL], kv[:, KL:]
        kvb = F.linear(latent, self.kv_b).view(L, H, NOPE + VD)
        k = torch.cat([kvb[..., :NOPE], k_pe[:, None, :].expand(L, H, ROPE)], -1)
        v = kvb[..., NOPE:]
        out = F.scaled_dot_product_attention(q.transpose(0, 1)[None], k.transpose(0, 1)[None],
                                             v.transpose(0, 1)[None], is_causal=True, scale=self.scale)
        return F.linear(out[0].transpose(0, 1).reshape(L, H * VD), self.o)

    def chunk(self, x, k_prefix, v_prefix):
        """The last chunk of a chunked prefill: x [C, D], the rows at positions
        L - C ... L - 1, against the keys and values of the L - C positions
        before them ([1, H, L - C, 192] and [1, H, L - C, 128], kept expanded
        from the latent: the peer is spared re-expanding them)."""
        C = x.shape[0]
        q = F.linear(F.linear(x, self.q_a), self.q_b).view(C, H, NOPE + ROPE)
        kv = F.linear(x, self.kv_a)
        kvb = F.linear(kv[:, :KL], self.kv_b).view(C, H, NOPE + VD)
        k = torch.cat([kvb[..., :NOPE], kv[:, None, KL:].expand(C, H, ROPE)], -1)
        def heads_first(t):
            return t.transpose(0, 1)[None].contiguous()
        out = attend_chunk(heads_first(q), heads_first(k), heads_first(kvb[..., NOPE:]),
                           k_prefix, v_prefix, self.scale)
        return F.linear(out[0].transpose(0, 1).reshape(C, H * VD), self.o)

    def decode(self, x, cache):
        """x [B, D]: one token of each of B sequences; cache [B, L, 576]."""
        B = x.shape[0]
        q = F.linear(F.linear(x, self.q_a), self.q_b).view(B, H, NOPE + ROPE)
        w_uk = self.kv_b.view(H, NOPE + VD, KL)[:, :NOPE]  # [H, NOPE, KL]
        w_uv = self.kv_b.view(H, NOPE + VD, KL)[:, NOPE:]  # [H, VD, KL]
        q_lat = torch.einsum("bhn,hnk->bhk", q[..., :NOPE], w_uk)
        qq = torch.cat([q_lat, q[..., NOPE:]], -1)  # [B, H, 576]
        p = torch.softmax((qq @ cache.transpose(1, 2)).float() * self.scale, -1).bfloat16()
        o_lat = p @ cache[..., :KL]  # [B, H, 512]
        o = torch.einsum("bhk,hvk->bhv", o_lat, w_uv)
        return F.linear(o.reshape(B, H * VD), self.o)


def attend_chunk(q, k, v, k_prefix, v_prefix, scale):
    """Attention of a chunk's queries q [1, H, C, 192] over the keys before it
    (all of them) and its own (causal), as chunked prefill runs it: cuDNN's
    fused attention over each part with its log-sum-exp, then the two merged
    (SDPA has no fast kernel for a lower-right causal mask with these head
    sizes: flash needs equal q and v sizes, and the memory-efficient kernel
    with that mask is several times slower)."""
    cudnn = torch.ops.aten._scaled_dot_product_cudnn_attention
    o_own, lse_own = cudnn(q, k, v, None, True, 0.0, True, False, scale=scale)[:2]
    if k_prefix is None or k_prefix.shape[2] == 0:
        return o_own
    o_pre, lse_pre = cudnn(q, k_prefix, v_prefix, None, True, 0.0, False, False, scale=scale)[:2]
    lse_pre, lse_own = lse_pre.view(*q.shape[:3], 1), lse_own.view(*q.shape[:3], 1)
    m = torch.maximum(lse_pre, lse_own)
    w_pre, w_own = torch.exp(lse_pre - m), torch.exp(lse_own - m)
    return ((o_pre.float() * w_pre + o_own.float() * w_own) / (w_pre + w_own)).bfloat16()


def check_attend_chunk(gen, L=2048, C=512, heads=8):
    """attend_chunk against SDPA with the lower-right causal mask written out
    (PyTorch's own kernels): the largest difference, relative to the largest
    output."""
    def r(*shape):
        return torch.randn(*shape, generator=gen, device="cuda").bfloat16()
    q, k, v = r(1, heads, C, NOPE + ROPE), r(1, heads, L, NOPE + ROPE), r(1, heads, L, VD)
    ours = attend_chunk(q, *(t.contiguous() for t in (k[:, :, L - C:], v[:, :, L - C:],
                                                      k[:, :, :L - C], v[:, :, :L - C])), 0.1352)
    mask = torch.ones(C, L, dtype=torch.bool, device="cuda").tril(L - C)
    ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask, scale=0.1352)
    return ((ours.float() - ref).abs().max() / ref.abs().max()).item()


def graph_of(fn):
    """fn captured as a CUDA graph (as the engine's decode is): its replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g.replay


def backend_name():
    """The attention kernel SDPA runs for the prefill's shapes (a small causal
    call under the profiler), by its CUDA kernel's name."""
    from torch.profiler import ProfilerActivity, profile
    q = torch.zeros(1, H, 256, NOPE + ROPE, device="cuda", dtype=torch.bfloat16)
    v = torch.zeros(1, H, 256, VD, device="cuda", dtype=torch.bfloat16)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        F.scaled_dot_product_attention(q, q, v, is_causal=True)
        torch.cuda.synchronize()
    names = [e.key for e in prof.key_averages() if e.device_type.name == "CUDA"]
    for hint, name in (("cudnn", "cuDNN"), ("flash", "flash"), ("fmha", "memory-efficient"),
                       ("mem_eff", "memory-efficient")):
        if any(hint in n.lower() for n in names):
            return name
    return names[0][:60] if names else "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", default="8192,32768,65536,131072")
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--json")
    a = ap.parse_args()
    gen = torch.Generator(device="cuda").manual_seed(0)
    layer = Layer(gen)
    rows = []
    with torch.no_grad():
        chunk_error = check_attend_chunk(gen)
        print(f"chunked attention against SDPA with the mask written out: {chunk_error:.2e} "
              "(largest difference over largest output)")
        if chunk_error > 2e-2:
            raise SystemExit("peer-dense-layer: the chunked attention is wrong")
        for L in [int(v) for v in a.lengths.split(",")]:
            x = torch.randn(L, D, generator=gen, device="cuda").bfloat16()
            prefill_ms = timed(lambda: layer.prefill(x), a.repeats)
            attn_flop = 2 * H * (NOPE + ROPE + VD) * L * L / 2  # causal MHA form
            row = {"length": L, "prefill_ms": prefill_ms,
                   "prefill_attention_tflops": attn_flop / prefill_ms / 1e9, "decode": []}
            print(f"L {L:7d}  dense prefill {prefill_ms:9.2f} ms  ({row['prefill_attention_tflops']:.0f} "
                  f"TFLOP/s counting attention only)", flush=True)
            del x
            torch.cuda.empty_cache()
            C = min(a.chunk, L) if a.chunk > 0 else L
            xc = torch.randn(C, D, generator=gen, device="cuda").bfloat16()
            k_prefix = torch.randn(1, H, L - C, NOPE + ROPE, generator=gen, device="cuda").bfloat16()
            v_prefix = torch.randn(1, H, L - C, VD, generator=gen, device="cuda").bfloat16()
            chunk_ms = timed(lambda: layer.chunk(xc, k_prefix, v_prefix), a.repeats)
            row["chunk"] = {"rows": C, "ms": chunk_ms}
            print(f"          chunk of {C} rows at positions {L - C} … {L - 1}: {chunk_ms:.2f} ms, "
                  f"{chunk_ms * 1000 / C:.2f} µs a token", flush=True)
            del xc, k_prefix, v_prefix
            torch.cuda.empty_cache()
            for B in [int(v) for v in a.batches.split(",")]:
                xb = torch.randn(B, D, generator=gen, device="cuda").bfloat16()
                cache = torch.randn(B, L, KL + ROPE, generator=gen, device="cuda").bfloat16()
                eager = timed(lambda: layer.decode(xb, cache), 20)
                graphed = timed(graph_of(lambda: layer.decode(xb, cache)), 20)
                row["decode"].append({"batch": B, "ms": graphed, "ms_without_graph": eager})
                print(f"          batch {B:3d}  dense decode {graphed * 1000:9.1f} µs "
                      f"({eager * 1000:.1f} without a graph)", flush=True)
                del xb, cache
                torch.cuda.empty_cache()
            rows.append(row)
    result = {"peer": f"PyTorch {torch.__version__} scaled_dot_product_attention ({backend_name()})",
              "chunk_peer": "cuDNN fused attention (PyTorch's aten op) over the prefix and over the "
                            "chunk, merged by log-sum-exp", "chunk_check": chunk_error,
              "device": torch.cuda.get_device_name(), "rows": rows}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
