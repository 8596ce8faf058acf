#!/usr/bin/env bash
# The GPU measurements of pmoe's WebGPU training step (docs/gpu.md), in at most 8 minutes on a GPU
# machine with its Vulkan driver:
#   1. the adapter, its features and subgroup-matrix configs, and the kernels pmoe runs there
#      (`pmoe backends`);
#   2. every kernel path's correctness check on that GPU: the WGSL kernel tests and the step's
#      agreement with tfjs autodiff on the CPU (fp32), the f16 subgroup-matrix convolutions against
#      tfjs where the adapter has them (tolerance 2e-2 of the largest output);
#   3. the bench's d and f on webgpu beside PyTorch on CUDA;
#   4. pmoe's step for WRN and WRN-pMoE at w = 10, batch 128, in the CIFAR and CelebA settings, with
#      one mixed step checked against fp32 first (logits 2e-2, gradients 5e-2 of the largest), beside
#      PyTorch's (TF32 off, TF32, bf16 autocast), against the issue's targets (bench/gpu-bench.ts);
#   5. one JSON file, results/gpu/<card>-<date>.json (commit it), with per model and shape
#      imagesPerSecond and per timed case ratioToTorch.
# Logs and the stages' own JSON go into the folder given (default gpu-results/). Each stage has a time
# limit; one that runs out or fails is reported and the next runs.
# GPU_SH_TINY=1: the same stages shrunk to check the script (w = 1, batch 2, an 8x8 WRN-pMoE, a case
# of two kernel tests, no bench), e.g. with PMOE_WEBGPU_SOFTWARE=1 on SwiftShader, as npm test does;
# its JSON goes into the output folder. PMOE_BENCH_PYTHON names PyTorch's python (default
# /usr/bin/python3). Needs the built dist/ (`npm ci` builds it).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-results}
mkdir -p "$out"
log() { printf '%s gpu.sh: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
tiny=${GPU_SH_TINY:-}
failed=()
stage() { # stage NAME SECONDS COMMAND...: runs it with a time limit, stdout into $out/NAME.out
  local name=$1 limit=$2
  shift 2
  log "$name (at most ${limit} s)"
  timeout --kill-after=10 "$limit" "$@" > "$out/$name.out" 2> "$out/$name.log"
  local status=$?
  if [ "$status" -ne 0 ]; then
    failed+=("$name")
    log "$name failed (status $status; $([ "$status" -eq 124 ] && echo 'out of time' || echo "see $out/$name.log"))"
    tail -n 5 "$out/$name.log" >&2
  fi
  return 0
}

node bin/pmoe.js backends --json > "$out/backends.json"
node bin/pmoe.js backends >&2
if ! node -e 'const b = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).backends.find((x) => x.name === "webgpu"); if (!b.usable) { console.error(b.reason); process.exit(1); }' "$out/backends.json"; then
  log "webgpu is not usable here (see $out/backends.json)"
  exit 1
fi

# The tests start the adapter the environment names: the GPU unless PMOE_WEBGPU_SOFTWARE=1.
export PMOE_WEBGPU_SOFTWARE=${PMOE_WEBGPU_SOFTWARE:-0} PMOE_REQUIRE_WEBGPU=1
if [ "$tiny" = 1 ]; then
  stage checks 600 node --test --test-name-pattern='^(1x1 valid stride 1|add, pass-gradient)' \
    dist/test/kernels/wgsl/convolution.test.js dist/test/kernels/wgsl/elementwise-head.test.js
else
  stage checks 210 node --test dist/test/kernels/wgsl/ dist/test/webgpu/webgpu-step-agreement.test.js
fi
grep -E '^# (pass|fail|skipped)' "$out/checks.out" >&2 || true

python=${PMOE_BENCH_PYTHON:-/usr/bin/python3}
torch_device=cpu
"$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null && torch_device=cuda
bench_json=()
if [ "$tiny" = 1 ]; then
  log "tiny: no bench (its smoke test runs in npm test)"
else
  stage bench 100 node dist/bench/bench.js --backend webgpu --torch-device "$torch_device" --cases d,f --steps 5 --rounds 2 --warmup 2 --json
  [ -s "$out/bench.out" ] && bench_json=(--bench-json "$out/bench.out")
fi

result_args=()
[ "$tiny" = 1 ] && result_args=(--tiny --out "$out/gpu-tiny.json")
stage gpu-bench "$([ "$tiny" = 1 ] && echo 900 || echo 150)" node dist/bench/gpu-bench.js "${result_args[@]}" "${bench_json[@]}" --python "$python"

if [ "${#failed[@]}" -gt 0 ]; then
  log "stages that failed: ${failed[*]} (logs in $out/)"
  exit 1
fi
log "done: results in $out/ and $(grep -o '"card": "[^"]*"' "$out/gpu-bench.out" | head -1)"
