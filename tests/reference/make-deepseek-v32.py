#!/usr/bin/env python3
"""Small random DeepSeek-V3.2 checkpoints and their golden outputs from transformers.

Each configuration has the architecture of DeepSeek-V3.2-Exp (MLA with q and kv
LoRA, YaRN RoPE, the lightning indexer, sigmoid MoE with group-limited routing
and shared experts, leading dense layers) at toy width. Weights are random;
the checkpoint is written as DeepSeek publishes theirs (config.json in their
key names, per-expert tensors, FP8 e4m3 weights with 128x128 block scales in
`weight_scale_inv`, or BF16 / F32), and transformers' DeepseekV32ForCausalLM
computes the goldens in float32 on the same weights (for FP8, on the weights
dequantised by torch). For the BF16 and F32 configurations the script also
loads the written directory back through transformers' own loader and checks
that it gives the same logits, so the file layout is the one transformers
reads.

Writes e4m3-golden.safetensors (torch's e4m3 rounding of 42K values: x, e4m3)
and, for each configuration NAME, tests/data/deepseek-v32/NAME/:
  config.json, model.safetensors (or shards + model.safetensors.index.json),
  tokenizer.json and tokenizer_config.json (links to ../tokenizer/, made by
  make-deepseek-tokenizer.py),
  golden.safetensors:
    ids        I32 [T]           prompt + greedy continuation
    n_prompt   I32 [1]           how many of ids are the prompt
    logits     F32 [T, vocab]    one full forward over ids (causal)
    topk.L     I32 [T, k]        layer L's indexer selection for every row,
                                 as transformers returns it (torch.topk over
                                 the causally masked scores; for rows with
                                 fewer than k visible positions the entries
                                 past the row are masked junk)
  fp8.logits, fp8.topk.L        the same forward with DeepSeek's FP8 indexer
                                 numerics (Hadamard rotation and e4m3 rounding of
                                 the indexer's q and k, as DeepSeek's reference
                                 Indexer does and transformers leaves out)
The greedy continuation is produced by transformers' generate() with its KV
cache, so it also checks the decode path.

Usage: make-deepseek-v32.py OUT_DIR        (normally tests/data/deepseek-v32)
Needs: torch, transformers >= 5.17 (DeepseekV32ForCausalLM), safetensors.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModelForCausalLM, DeepseekV32ForCausalLM

VOCAB = 1024  # the test tokenizer's size (tests/data/deepseek-v32/tokenizer)
FP8_MAX = 448.0
BLOCK = 128
MIN_MARGIN = 1e-3  # relative gap that rounding cannot bridge

CONFIGS = {
    # Selection matters: index_topk 8 < 32 tokens. BF16 weights, one shard.
    "tiny-bf16": dict(
        dtype="bf16", shards=1, n_prompt=26, n_new=6, seed=1,
        config=dict(hidden_size=64, intermediate_size=96, moe_intermediate_size=32,
                    num_hidden_layers=3, first_k_dense_replace=1, num_attention_heads=4,
                    q_lora_rank=32, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=16,
                    v_head_dim=16, n_routed_experts=8, n_shared_experts=1, n_group=4,
                    topk_group=2, num_experts_per_tok=2, norm_topk_prob=True,
                    routed_scaling_factor=2.5, index_n_heads=16, index_head_dim=32,
                    index_topk=8)),
    # Other widths, F32 weights, no normalisation of the routing weights;
    # index_topk 64 >= every row, so DSA is dense attention here.
    "small-f32": dict(
        dtype="f32", shards=1, n_prompt=20, n_new=4, seed=2,
        config=dict(hidden_size=96, intermediate_size=160, moe_intermediate_size=24,
                    num_hidden_layers=4, first_k_dense_replace=2, num_attention_heads=6,
                    q_lora_rank=48, kv_lora_rank=64, qk_nope_head_dim=32, qk_rope_head_dim=16,
                    v_head_dim=24, n_routed_experts=16, n_shared_experts=2, n_group=8,
                    topk_group=3, num_experts_per_tok=4, norm_topk_prob=False,
                    routed_scaling_factor=1.5, index_n_heads=8, index_head_dim=64,
                    index_topk=64)),
    # FP8 e4m3 weights with 128x128 block scales over widths that are not
    # multiples of 128 (partial blocks), in three shards; index_topk 16 < 40.
    "fp8-sharded": dict(
        dtype="fp8", shards=3, n_prompt=34, n_new=6, seed=3,
        config=dict(hidden_size=192, intermediate_size=320, moe_intermediate_size=80,
                    num_hidden_layers=3, first_k_dense_replace=1, num_attention_heads=4,
                    q_lora_rank=160, kv_lora_rank=144, qk_nope_head_dim=32, qk_rope_head_dim=32,
                    v_head_dim=40, n_routed_experts=8, n_shared_experts=1, n_group=2,
                    topk_group=1, num_experts_per_tok=3, norm_topk_prob=True,
                    routed_scaling_factor=2.5, index_n_heads=12, index_head_dim=64,
                    index_topk=16)),
}


def deepseek_config(c):
    """config.json in the key names of DeepSeek-V3.2-Exp's own file."""
    out = {
        "architectures": ["DeepseekV32ForCausalLM"],
        "model_type": "deepseek_v32",
        "vocab_size": VOCAB,
        "num_key_value_heads": c["num_attention_heads"],
        "num_nextn_predict_layers": 0,
        "ep_size": 1,
        "topk_method": "noaux_tc",
        "scoring_func": "sigmoid",
        "moe_layer_freq": 1,
        "hidden_act": "silu",
        "max_position_embeddings": 163840,
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-6,
        "use_cache": True,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "tie_word_embeddings": False,
        "rope_theta": 10000,
        "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0,
                         "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096,
                         "type": "yarn"},
        "attention_bias": False,
        "attention_dropout": 0.0,
    }
    out.update(c)
    return out


def randomise(model, gen):
    """Weights with unit-scale activations, so that every part matters."""
    def normal(shape, std):
        return torch.randn(shape, generator=gen) * std

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name or name.endswith("k_norm.weight"):
                p.copy_(1.0 + normal(p.shape, 0.1))
            elif name.endswith(".bias"):
                p.copy_(normal(p.shape, 0.1))
            elif name.endswith("embed_tokens.weight"):
                p.copy_(normal(p.shape, 1.0))
            elif name.endswith("experts.gate_up_proj"):
                p.copy_(normal(p.shape, p.shape[2] ** -0.5))
            elif name.endswith("experts.down_proj"):
                p.copy_(normal(p.shape, p.shape[2] ** -0.5))
            elif p.dim() == 2:
                p.copy_(normal(p.shape, p.shape[1] ** -0.5))
            else:
                raise SystemExit(f"no rule for {name}")
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_(normal(b.shape, 0.05))


def hadamard(x):
    """x times the Sylvester Hadamard matrix over its last dim, scaled by n^-1/2."""
    n = x.shape[-1]
    h = torch.ones(1, 1)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return x @ h * n ** -0.5


def act_quant_ue8m0(x):
    """DeepSeek's act_quant with scale_fmt "ue8m0" over blocks of 128 of the
    last dim, dequantised again: e4m3 values times a power-of-two scale
    2^ceil(log2(max(amax, 1e-4) / 448)); the e4m3 rounding is torch's cast."""
    shape = x.shape
    n = shape[-1]
    block = min(n, BLOCK)
    x = x.reshape(*shape[:-1], n // block, block)
    amax = x.abs().amax(-1, keepdim=True).clamp(min=1e-4)
    m, e = torch.frexp(amax / FP8_MAX)
    s = torch.ldexp(torch.ones_like(amax), torch.where(m == 0.5, e - 1, e))
    y = (x / s).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn).float() * s
    return y.reshape(shape)


def fp8_indexer_forward(self, hidden_states, q_resid, position_embeddings, attention_mask,
                        position_ids, past_key_values=None):
    """transformers' DeepseekV32Indexer.forward (no cache) with the two steps of
    DeepSeek's own Indexer.forward that transformers leaves out: the Hadamard
    rotation of q and k (rotate_activation) and their FP8 rounding (act_quant)."""
    from transformers.models.deepseek_v32.modeling_deepseek_v32 import apply_rotary_pos_emb
    b, t, _ = hidden_states.shape
    cos, sin = position_embeddings
    q = self.wq_b(q_resid).view(b, t, self.n_heads, self.head_dim)
    r = self.qk_rope_head_dim
    q_rot, q_pass = torch.split(q, [r, self.head_dim - r], dim=-1)
    k = self.k_norm(self.wk(hidden_states)).unsqueeze(2)
    k_rot, k_pass = torch.split(k, [r, self.head_dim - r], dim=-1)
    q_rot, k_rot = apply_rotary_pos_emb(q_rot, k_rot, cos, sin, unsqueeze_dim=2)
    q = act_quant_ue8m0(hadamard(torch.cat([q_rot, q_pass], dim=-1)))
    k = act_quant_ue8m0(hadamard(torch.cat([k_rot, k_pass], dim=-1).squeeze(2)))
    scores = F.relu(torch.matmul(q.float(), k.transpose(-1, -2).float().unsqueeze(1)) * self.softmax_scale)
    weights = self.weights_proj(hidden_states.float()).float() * (self.n_heads ** -0.5)
    index_scores = torch.matmul(weights.unsqueeze(-2), scores).squeeze(-2) + attention_mask
    return index_scores.topk(min(self.index_topk, index_scores.shape[-1]), dim=-1).indices.to(torch.int32)


def checkpoint_tensors(model, cfg):
    """The model's weights under DeepSeek's checkpoint names, float32."""
    out = {}
    for name, t in list(model.state_dict().items()):
        if name.endswith("experts.gate_up_proj"):
            inter = cfg["moe_intermediate_size"]
            base = name[: -len("gate_up_proj")]
            for e in range(t.shape[0]):
                out[f"{base}{e}.gate_proj.weight"] = t[e, :inter].clone()
                out[f"{base}{e}.up_proj.weight"] = t[e, inter:].clone()
        elif name.endswith("experts.down_proj"):
            base = name[: -len("down_proj")]
            for e in range(t.shape[0]):
                out[f"{base}{e}.down_proj.weight"] = t[e].clone()
        elif "rotary_emb" in name:
            continue
        else:
            out[name] = t.clone()
    return out


def is_fp8_weight(name, t):
    """The tensors DeepSeek stores in FP8: every projection of attention, the
    indexer's wq_b and wk, and the MLPs and experts. Not the embeddings, the
    head, norms, the router or the indexer's weights_proj."""
    if t.dim() != 2 or not name.endswith(".weight"):
        return False
    if "embed_tokens" in name or name.startswith("lm_head") or "norm" in name:
        return False
    if name.endswith("mlp.gate.weight") or "weights_proj" in name:
        return False
    return True


def quantise_fp8(w):
    """e4m3 with one scale per 128x128 block (scale = amax / 448); returns the
    e4m3 tensor, the scales, and the dequantised float32 weights."""
    rows, cols = w.shape
    br, bc = math.ceil(rows / BLOCK), math.ceil(cols / BLOCK)
    scale = torch.empty(br, bc, dtype=torch.float32)
    q = torch.empty(rows, cols, dtype=torch.float8_e4m3fn)
    deq = torch.empty(rows, cols, dtype=torch.float32)
    for i in range(br):
        for j in range(bc):
            blk = w[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK]
            s = max(blk.abs().max().item(), 1e-12) / FP8_MAX
            qb = (blk / s).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
            scale[i, j] = s
            q[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK] = qb
            deq[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK] = qb.to(torch.float32) * s
    return q, scale, deq


def store_dtype(tensors, dtype):
    """Rounds the weights to the file's dtype; returns (file tensors, the
    float32 values the model must compute with)."""
    files, exact = {}, {}
    for name, t in tensors.items():
        if name.endswith("e_score_correction_bias") or dtype == "f32":
            files[name] = t.float().contiguous()
            exact[name] = t.float()
        elif dtype == "fp8" and is_fp8_weight(name, t):
            q, s, deq = quantise_fp8(t.float())
            files[name] = q.contiguous()
            files[name[: -len("weight")] + "weight_scale_inv"] = s
            exact[name] = deq
        else:
            files[name] = t.to(torch.bfloat16).contiguous()
            exact[name] = files[name].float()
    return files, exact


def load_exact(model, exact, cfg):
    """Puts the file's exact values back into the model."""
    sd = {}
    inter = cfg["moe_intermediate_size"]
    for name in model.state_dict():
        if name.endswith("experts.gate_up_proj"):
            base = name[: -len("gate_up_proj")]
            n = cfg["n_routed_experts"]
            sd[name] = torch.stack([torch.cat([exact[f"{base}{e}.gate_proj.weight"],
                                               exact[f"{base}{e}.up_proj.weight"]]) for e in range(n)])
            assert sd[name].shape[1] == 2 * inter
        elif name.endswith("experts.down_proj"):
            base = name[: -len("down_proj")]
            sd[name] = torch.stack([exact[f"{base}{e}.down_proj.weight"]
                                    for e in range(cfg["n_routed_experts"])])
        elif name in exact:
            sd[name] = exact[name]
    missing = model.load_state_dict(sd, strict=False)
    left = [k for k in missing.missing_keys if "rotary_emb" not in k]
    if left or missing.unexpected_keys:
        raise SystemExit(f"state mismatch: {left} {missing.unexpected_keys}")


def write_shards(files, out_dir, n_shards):
    names = sorted(files)
    if n_shards == 1:
        save_file(files, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
        return
    weight_map, total = {}, 0
    per = math.ceil(len(names) / n_shards)
    for s in range(n_shards):
        part = names[s * per:(s + 1) * per]
        fname = f"model-{s + 1:05d}-of-{n_shards:05d}.safetensors"
        save_file({n: files[n] for n in part}, os.path.join(out_dir, fname), metadata={"format": "pt"})
        for n in part:
            weight_map[n] = fname
            total += files[n].numel() * files[n].element_size()
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def selections(model, ids):
    """Every layer's indexer output (its top-k indices) on one forward, and the
    score rows that torch.topk ranked to choose them."""
    got, scores = {}, {}
    hooks = []
    original_topk = torch.Tensor.topk

    def capture(i):
        def patched(self, *args, **kwargs):
            scores[i] = self[0].float().clone()
            return original_topk(self, *args, **kwargs)
        return patched

    for i, layer in enumerate(model.model.layers):
        ix = layer.self_attn.indexer

        def pre(_m, _inp, i=i):
            torch.Tensor.topk = capture(i)

        def post(_m, _inp, out, i=i):
            torch.Tensor.topk = original_topk
            got[i] = out[0].to(torch.int32).clone()
        hooks += [ix.register_forward_pre_hook(pre), ix.register_forward_hook(post)]
    try:
        with torch.no_grad():
            logits = model(ids[None]).logits[0].float()
    finally:
        torch.Tensor.topk = original_topk
        for h in hooks:
            h.remove()
    return logits, got, scores


class fp8_indexer:
    """Within the block, every indexer of the model runs fp8_indexer_forward."""
    def __init__(self, model):
        self.indexers = [layer.self_attn.indexer for layer in model.model.layers]

    def __enter__(self):
        for ix in self.indexers:
            ix.forward = fp8_indexer_forward.__get__(ix)

    def __exit__(self, *exc):
        for ix in self.indexers:
            del ix.forward


def selection_margin(scores, k):
    """The smallest gap, relative to the row's largest magnitude, between the
    k-th and (k+1)-th visible score of any row that has more than k visible
    positions. Where it is large, the selected set is unambiguous."""
    worst = math.inf
    for t in range(k, scores.shape[0]):
        row = scores[t, : t + 1]
        top = torch.sort(row, descending=True).values
        scale = max(row.abs().max().item(), 1e-30)
        worst = min(worst, (top[k - 1] - top[k]).item() / scale)
    return worst


def greedy_margin(logits, first):
    """The smallest gap between the best and second-best logit of the rows
    whose argmax chose a continuation token."""
    top = torch.topk(logits[first - 1:-1], 2, dim=-1).values
    return (top[:, 0] - top[:, 1]).min().item()


def make(name, spec, root):
    out_dir = os.path.join(root, name)
    os.makedirs(out_dir, exist_ok=True)
    cfg = deepseek_config(spec["config"])
    if spec["dtype"] == "fp8":
        cfg["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3",
                                      "quant_method": "fp8", "weight_block_size": [BLOCK, BLOCK],
                                      "scale_fmt": "ue8m0"}
    cfg["torch_dtype"] = {"bf16": "bfloat16", "f32": "float32", "fp8": "bfloat16"}[spec["dtype"]]
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)

    # transformers reads the same config.json (without the FP8 section, which
    # would make it expect its own FP8 kernels: the goldens use the
    # dequantised weights instead).
    hf_cfg = dict(cfg)
    hf_cfg.pop("quantization_config", None)
    config = AutoConfig.for_model(**{k: v for k, v in hf_cfg.items() if k != "architectures"})
    config._attn_implementation = "eager"
    gen = torch.Generator().manual_seed(spec["seed"])
    model = DeepseekV32ForCausalLM(config).float().eval()
    randomise(model, gen)
    files, exact = store_dtype(checkpoint_tensors(model, cfg), spec["dtype"])
    load_exact(model, exact, cfg)
    write_shards(files, out_dir, spec["shards"])
    for name_ in ("tokenizer.json", "tokenizer_config.json"):  # the shared test tokenizer
        link = os.path.join(out_dir, name_)
        if not os.path.lexists(link):
            os.symlink(os.path.join("..", "tokenizer", name_), link)

    # Draw prompts until every choice is unambiguous: each indexer row's k-th
    # and (k+1)-th scores and each greedy step's two best logits are apart by
    # more than rounding, so an exact implementation must choose the same sets
    # and tokens (see tests/engine/deepseek).
    for attempt in range(100):
        prompt = torch.randint(7, VOCAB, (spec["n_prompt"],), generator=gen)
        with torch.no_grad():
            full = model.generate(prompt[None], max_new_tokens=spec["n_new"],
                                  min_new_tokens=spec["n_new"], do_sample=False,
                                  eos_token_id=None, pad_token_id=0)[0]
        logits, topk, scores = selections(model, full)
        with fp8_indexer(model):
            fp8_logits, fp8_topk, fp8_scores = selections(model, full)
        k = cfg["index_topk"]
        margin = min(selection_margin(s, k) for s in list(scores.values()) + list(fp8_scores.values()))
        if margin > MIN_MARGIN and greedy_margin(logits, spec["n_prompt"]) > MIN_MARGIN:
            break
    else:
        raise SystemExit(f"{name}: no prompt without near-ties in 100 draws")
    # Greedy decoding with the cache must agree with the full forward.
    for t in range(spec["n_prompt"], len(full)):
        assert logits[t - 1].argmax().item() == full[t].item(), f"{name}: cache and full forward differ"

    golden = {"ids": full.to(torch.int32), "n_prompt": torch.tensor([spec["n_prompt"]], dtype=torch.int32),
              "logits": logits.contiguous()}
    for i, t in topk.items():
        golden[f"topk.{i}"] = t.contiguous()
    # the same forward with DeepSeek's FP8 indexer numerics
    golden["fp8.logits"] = fp8_logits.contiguous()
    for i, t in fp8_topk.items():
        golden[f"fp8.topk.{i}"] = t.contiguous()
    save_file(golden, os.path.join(out_dir, "golden.safetensors"))

    if spec["dtype"] != "fp8":
        # transformers' own loader on the written directory gives the same logits.
        loaded = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32,
                                                      attn_implementation="eager").eval()
        with torch.no_grad():
            again = loaded(full[None]).logits[0].float()
        diff = (again - logits).abs().max().item()
        assert diff < 1e-4, f"{name}: reloaded checkpoint differs by {diff}"
    print(f"{name}: {len(full)} tokens, logits |max| {logits.abs().max():.3f}, "
          f"top-k {cfg['index_topk']}, files {sorted(os.listdir(out_dir))}")


def e4m3_golden(root):
    """torch's float32 -> float8_e4m3fn cast on random values of every
    magnitude and on every midpoint between neighbouring e4m3 values (ties)."""
    gen = torch.Generator().manual_seed(7)
    grid = torch.arange(0, 256, dtype=torch.uint8).view(torch.float8_e4m3fn).float()
    grid = torch.sort(grid[torch.isfinite(grid) & (grid >= 0)]).values
    mids = (grid[1:] + grid[:-1]) / 2
    rand = torch.exp2(torch.rand(20000, generator=gen) * 22 - 13) * FP8_MAX / 512
    x = torch.cat([grid, mids, rand, torch.nextafter(mids, torch.zeros_like(mids)),
                   torch.nextafter(mids, torch.full_like(mids, 1e9))])
    x = torch.cat([x, -x]).clamp(-FP8_MAX, FP8_MAX)
    save_file({"x": x.contiguous(), "e4m3": x.to(torch.float8_e4m3fn).float().contiguous()},
              os.path.join(root, "e4m3-golden.safetensors"))


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    torch.manual_seed(0)
    e4m3_golden(sys.argv[1])
    for name, spec in CONFIGS.items():
        make(name, spec, sys.argv[1])


if __name__ == "__main__":
    main()
