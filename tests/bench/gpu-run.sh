#!/usr/bin/env bash
# gpu-run.sh OUT: on a machine with an NVIDIA GPU (no GTK needed), build the
# engine and the kernels, run the gpu test suite, and time the DSA kernels and
# the DeepSeek-V3.2 attention block with and without DSA, and decode on CUDA
# graphs against launches on the DeepSeek test checkpoints. Logs, JSON and the
# cost-curve plot (when matplotlib is there) go to OUT. KERNEL_BENCHES=0 skips
# the per-kernel benchmarks.
set -uo pipefail
out="${1:?usage: gpu-run.sh OUT}"
mkdir -p "$out"
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$out/gpu.txt"

meson setup build-gpu -Dgui=disabled -Dcuda=enabled >"$out/setup.log" 2>&1 || { tail -30 "$out/setup.log"; exit 1; }
ninja -C build-gpu >"$out/build.log" 2>&1 || { grep -B2 -A12 -m3 error "$out/build.log"; exit 1; }

echo "== gpu suite"
meson test -C build-gpu --suite gpu --print-errorlogs >"$out/gpu-tests.log" 2>&1
status=$?
grep -E "^ *[0-9]+/[0-9]+ |^Ok:|^Fail:|^Skipped:" "$out/gpu-tests.log"
cp build-gpu/meson-logs/testlog.txt "$out/gpu-testlog.txt" 2>/dev/null

b=build-gpu/tests/bench
if [[ ${KERNEL_BENCHES:-1} != 0 ]]; then
    echo "== kernels"
    "$b/bench-indexer" --json "$out/indexer.json" >"$out/indexer.txt" 2>&1
    "$b/bench-sparse-mla" --json "$out/sparse-mla.json" >"$out/sparse-mla.txt" 2>&1
    "$b/bench-topk-gpu" --json "$out/topk.json" >"$out/topk.txt" 2>&1
    "$b/bench-fp8-gemm" >"$out/fp8-gemm.txt" 2>&1
    tail -n 25 "$out/indexer.txt" "$out/sparse-mla.txt" "$out/fp8-gemm.txt"
fi

echo "== DeepSeek-V3.2 attention block: DSA (ours) and dense (PyTorch)"
"$b/bench-dsa-layer" --json "$out/dsa-layer.json" 2>&1 | tee "$out/dsa-layer.txt"
python3 tests/bench/peer-dense-layer.py --json "$out/dense-layer.json" 2>&1 | tee "$out/dense-layer.txt"
python3 tests/bench/plot-dsa-layer.py "$out/dsa-layer.json" "$out/dense-layer.json" \
    "$out/dsa-layer.png" --table "$out/dsa-layer.md" 2>&1 | tail -n 12
echo "== decode on CUDA graphs against launches (DeepSeek-V3.2's test checkpoints)"
for m in small-f32 fp8-sharded; do
    for flags in "" --no-graphs; do
        "$b/bench-engine" --model "tests/data/deepseek-v32/$m" --device cuda:0 \
            --contexts 4096,16384 --decode 256 $flags 2>&1 | grep -v "^ context"
    done
done | tee "$out/engine-deepseek-graphs.txt"
echo "== DeepSeek-V3.2 goldens regenerated with this machine's transformers"
python3 tests/reference/check-deepseek-goldens.py 2>&1 | grep -v "^Loading" | tail -n 3
exit $status
