#!/usr/bin/env bash
# The GPU measurements, on a machine with a GPU and its Vulkan driver (docs/gpu.md):
#   1. `pmoe backends --json` (which adapter Dawn found),
#   2. the bench on webgpu beside PyTorch (on CUDA where the peer's torch sees a GPU) and on wasm
#      beside PyTorch on the CPU,
#   3. one short WRN-pMoE fig14 run at widening factor 10 (the paper's size) on WebGPU,
#   4. where one WRN-pMoE training step's time goes there (bench/step-profile.ts, with a CPU profile).
# Writes JSON into the folder given (default gpu-results/). fig14 needs CIFAR-10's binary folder:
#   CIFAR_DIR=/data/cifar-10-batches-bin bench/gpu.sh
# without it the same model runs on MNIST quadrants (wrn-mnist, shipped with pmoe).
# GPU_SH_TINY=1 shrinks every step (widening factor 1, smoke bench) to check the script itself,
# e.g. with PMOE_WEBGPU_SOFTWARE=1 on a machine without a GPU. PMOE_BENCH_PYTHON names the peer's
# python (default /usr/bin/python3); GPU_SH_BENCH_ARGS adds bench options (e.g. "--steps 5 --rounds 3").
# Needs the built dist/ (`npm ci` builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-results}
mkdir -p "$out"
log() { printf '%s gpu.sh: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

node bin/pmoe.js backends --json > "$out/backends.json"
if ! node -e 'const b = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).backends.find((x) => x.name === "webgpu"); if (!b.usable) { console.error(b.reason); process.exit(1); }' "$out/backends.json"; then
  log "webgpu is not usable here (see $out/backends.json)"
  exit 1
fi

if [ "${GPU_SH_TINY:-}" = 1 ]; then
  bench_args=(--smoke --cases a,e)
  widening=1 sizes='[200]' test_size=200 step_batch=8
else
  bench_args=()
  widening=10 sizes='[5000]' test_size=2000 step_batch=128
fi
read -r -a extra_args <<< "${GPU_SH_BENCH_ARGS:-}"
bench_args+=("${extra_args[@]}")
torch_device=cpu
if "${PMOE_BENCH_PYTHON:-/usr/bin/python3}" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  torch_device=cuda
fi

log "bench on webgpu, PyTorch on $torch_device"
node dist/bench/bench.js --backend webgpu --torch-device "$torch_device" --json "${bench_args[@]}" > "$out/bench-webgpu.json"
log "bench on wasm, PyTorch on the CPU (the same cases, for the ratio)"
node dist/bench/bench.js --backend wasm --json "${bench_args[@]}" > "$out/bench-wasm.json"

if [ -n "${CIFAR_DIR:-}" ]; then
  experiment=fig14 data=(--set "cifarDir=$CIFAR_DIR")
else
  log "CIFAR_DIR not set: the WRN-pMoE run uses MNIST quadrants (wrn-mnist) instead of fig14"
  experiment=wrn-mnist data=()
fi
log "$experiment: WRN-pMoE, widening factor $widening, one seed, one epoch, N = $sizes"
rm -f "$out/$experiment-w$widening.jsonl"
start=$(date +%s)
node bin/pmoe.js reproduce "$experiment" --backend webgpu --jobs 1 --json \
  "${data[@]}" --set "wideningFactor=$widening" --set seeds=1 --set epochs=1 --set batchSize=128 \
  --set "sizes=$sizes" --set "testSize=$test_size" --set 'models=["wrn-pmoe"]' \
  --out "$out/$experiment-w$widening.jsonl" > "$out/$experiment-w$widening-summary.json"
log "$experiment took $(( $(date +%s) - start )) s"

log "one WRN-pMoE step, w = $widening, batch $step_batch: issue, wait, kernels, CPU profile"
node dist/bench/step-profile.js --backend webgpu --widening "$widening" --batch "$step_batch" \
  --cpu-profile "$out/step.cpuprofile" > "$out/step-profile.json"
log "results in $out/"
