#!/usr/bin/env python3
"""Cost against position for a DeepSeek-V3.2 attention block, DSA against
dense, in the manner of Figure 3 of the DeepSeek-V3.2-Exp report.

Reads the JSON of bench-dsa-layer (ours, with DSA) and of peer-dense-layer.py
(the same block without DSA, PyTorch SDPA), prints a table with the ratios,
and draws two panels: prefill cost per token (the block's prefill time over L)
and the cost of one decode step, both against the position L.

usage: plot-dsa-layer.py DSA.json DENSE.json OUT.png [--table OUT.md]
needs: matplotlib
"""
import json
import sys


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    dsa = json.load(open(sys.argv[1]))
    dense = json.load(open(sys.argv[2]))
    by_len = {r["length"]: r for r in dense["rows"]}
    rows = []
    for r in dsa["rows"]:
        d = by_len.get(r["length"])
        if not d:
            continue
        rows.append((r["length"], r["prefill_ms"], d["prefill_ms"], r["decode_ms"] * 1000,
                     d["decode_ms"] * 1000))
    lines = [f"Device: {dsa['device']}. DSA: ours (top-k {dsa['top_k']}). Dense: {dense['peer']}.",
             "",
             "| position L | prefill, DSA (ms) | prefill, dense (ms) | ratio | decode, DSA (µs) "
             "| decode, dense (µs) | ratio |",
             "|---|---|---|---|---|---|---|"]
    for L, pd, pn, dd, dn in rows:
        lines.append(f"| {L:,} | {pd:.1f} | {pn:.1f} | {pn / pd:.2f}× | {dd:.0f} | {dn:.0f} | {dn / dd:.2f}× |")
    table = "\n".join(lines)
    print(table)
    if "--table" in sys.argv:
        open(sys.argv[sys.argv.index("--table") + 1], "w").write(table + "\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    Ls = [r[0] / 1024 for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    a.plot(Ls, [r[2] / r[0] * 1e3 for r in rows], "o-", label="dense (PyTorch SDPA, MHA form)")
    a.plot(Ls, [r[1] / r[0] * 1e3 for r in rows], "s-", label="DSA (ours, top-k 2048)")
    a.set_title("Prefill: one layer's attention block, per token")
    a.set_xlabel("token position L (K)")
    a.set_ylabel("µs per token")
    b.plot(Ls, [r[4] for r in rows], "o-", label="dense (PyTorch, MQA form)")
    b.plot(Ls, [r[3] for r in rows], "s-", label="DSA (ours, FP8 cache)")
    b.set_title("Decode: one token, one layer's attention block")
    b.set_xlabel("token position L (K)")
    b.set_ylabel("µs")
    for ax in (a, b):
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"DeepSeek-V3.2 attention block at full width on {dsa['device']}")
    fig.tight_layout()
    fig.savefig(sys.argv[3], dpi=110)


if __name__ == "__main__":
    main()
