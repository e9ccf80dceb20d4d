#!/usr/bin/env python3
"""Regenerates the DeepSeek-V3.2 goldens with the transformers installed here
and compares them with the committed ones: the same weights bit for bit, the
same token ids and selected sets, and logits within a tolerance. Run it where
another version of transformers or torch is installed, to see that the goldens
do not depend on the one that made them.

usage: check-deepseek-goldens.py [COMMITTED-DIR]   (default tests/data/deepseek-v32)
"""
import os
import subprocess
import sys
import tempfile

import torch
import transformers
from safetensors.torch import load_file


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "tests/data/deepseek-v32"
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(here, "make-deepseek-v32.py"), tmp], check=True,
                       stdout=subprocess.DEVNULL)
        worst, bad = 0.0, 0
        for name in ("tiny-bf16", "small-f32", "fp8-sharded"):
            a = load_file(os.path.join(root, name, "golden.safetensors"))
            b = load_file(os.path.join(tmp, name, "golden.safetensors"))
            for key in a:
                if key.endswith("logits"):
                    d = ((a[key] - b[key]).norm() / a[key].norm()).item()
                    worst = max(worst, d)
                    bad += d > 1e-5
                elif not torch.equal(a[key], b[key]):
                    print(f"{name}: {key} differs")
                    bad += 1
        print(f"transformers {transformers.__version__}, torch {torch.__version__}: "
              f"worst relative logits difference {worst:.2e}; {bad} differences")
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
