#!/usr/bin/env python3
"""Cost against position for a DeepSeek-V3.2 attention block, DSA against
dense, in the manner of Figure 3 of the DeepSeek-V3.2-Exp report.

Reads the JSON of bench-dsa-layer (ours, with DSA) and of peer-dense-layer.py
(the same block without DSA, PyTorch SDPA), prints a table with the ratios,
and draws two panels: prefill cost per token and the cost of one decode step,
both against the position L. Prefill is drawn two ways: the cost of a token at
position L (the last chunk of a chunked prefill over its rows: Figure 3's
measure) and the mean over a whole prompt of L (the prefill's time over L).

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
    batches = [d["batch"] for d in dsa["rows"][0]["decode"]]
    rows = []  # (L, prefill DSA, prefill dense, {batch: (decode DSA µs, decode dense µs)},
    #            (µs a token at position L: DSA, dense) or None)
    for r in dsa["rows"]:
        d = by_len.get(r["length"])
        if not d:
            continue
        dense_dec = {x["batch"]: x["ms"] for x in d["decode"]}
        dec = {x["batch"]: (x["ms"] * 1000, dense_dec[x["batch"]] * 1000)
               for x in r["decode"] if x["batch"] in dense_dec}
        at = None
        if r.get("chunk") and d.get("chunk") and r["chunk"]["rows"] == d["chunk"]["rows"]:
            at = tuple(c["ms"] * 1000 / c["rows"] for c in (r["chunk"], d["chunk"]))
        rows.append((r["length"], r["prefill_ms"], d["prefill_ms"], dec, at))
    chunked = all(r[4] for r in rows)
    head = "| position L | prefill, DSA (ms) | prefill, dense (ms) | ratio |"
    rule = "|---|---|---|---|"
    if chunked:
        head += " a token at L, DSA (µs) | dense (µs) | ratio |"
        rule += "---|---|---|"
    for B in batches:
        head += f" decode ×{B}, DSA (µs) | dense (µs) | ratio |"
        rule += "---|---|---|"
    lines = [f"Device: {dsa['device']}. DSA: ours (top-k {dsa['top_k']}). Dense: {dense['peer']}.",
             "Prefill: a whole prompt of L tokens (ms)" + (
                 "; a token at L: the last chunk of a chunked prefill "
                 f"({dsa['rows'][0]['chunk']['rows']} rows ending at L) over its rows." if chunked
                 else "."),
             "Decode: one step of B sequences, each at position L; µs for the whole step.", "",
             head, rule]
    for L, pd, pn, dec, at in rows:
        line = f"| {L:,} | {pd:.1f} | {pn:.1f} | {pn / pd:.2f}× |"
        if chunked:
            line += f" {at[0]:.2f} | {at[1]:.2f} | {at[1] / at[0]:.2f}× |"
        for B in batches:
            dd, dn = dec.get(B, (float("nan"), float("nan")))
            line += f" {dd:.0f} | {dn:.0f} | {dn / dd:.2f}× |"
        lines.append(line)
    table = "\n".join(lines)
    print(table)
    if "--table" in sys.argv:
        open(sys.argv[sys.argv.index("--table") + 1], "w").write(table + "\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    Ls = [r[0] / 1024 for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.6))
    if chunked:
        a.plot(Ls, [r[4][1] for r in rows], "o-", color="C0",
               label="dense (PyTorch SDPA, MHA form), a token at L")
        a.plot(Ls, [r[4][0] for r in rows], "s-", color="C1", label="DSA (ours, top-k 2048), a token at L")
    a.plot(Ls, [r[2] / r[0] * 1e3 for r in rows], "o--", color="C0", alpha=0.5,
           label="dense, mean over a prompt of L")
    a.plot(Ls, [r[1] / r[0] * 1e3 for r in rows], "s--", color="C1", alpha=0.5,
           label="DSA, mean over a prompt of L")
    a.set_title("Prefill: one layer's attention block, per token")
    a.set_xlabel("token position L (K)")
    a.set_ylabel("µs per token")
    for B in batches:
        b.plot(Ls, [r[3][B][1] / B for r in rows], "o-", label=f"dense (PyTorch, MQA form), batch {B}")
        b.plot(Ls, [r[3][B][0] / B for r in rows], "s-", label=f"DSA (ours, FP8 cache), batch {B}")
    b.set_title("Decode: one layer's attention block, per token")
    b.set_xlabel("token position L (K)")
    b.set_ylabel("µs per token (step time / batch)")
    b.set_yscale("log")
    a.set_ylim(bottom=0)
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"DeepSeek-V3.2 attention block at full width on {dsa['device']}")
    fig.tight_layout()
    fig.savefig(sys.argv[3], dpi=110)


if __name__ == "__main__":
    main()
