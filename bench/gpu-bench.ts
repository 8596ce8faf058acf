/**
 * `node dist/bench/gpu-bench.js`: the timed part of bench/gpu.sh. On the WebGPU adapter: pmoe's own
 * step for WRN and WRN-pMoE at the paper's width (w = 10, batch 128) in both settings (CIFAR 32x32,
 * k 4, l 16, 1x1 experts; CelebA 64x64, k 8, l 2, 3x3 experts), in fp32 and, where the adapter has
 * f16 subgroup matrices, mixed (after checking one mixed step against fp32 on the same weights);
 * PyTorch's same steps beside it (bench/reference/wrn_gpu.py: CUDA with TF32 off, TF32 and bf16
 * autocast; the CPU where torch sees no GPU); the issue's targets; the bench's d and f ratios when
 * given its JSON. Writes one JSON file (default results/gpu/<card>-<date>.json) and prints it.
 * `--tiny` (what npm test runs on SwiftShader): WRN-pMoE only, w = 1, batch 2, 8x8 inputs, one timed step.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { initEngine } from '../src/engine/backend.js';
import { releaseWebgpu, webgpuAdapter } from '../src/engine/webgpu/dawn.js';
import { buildWrnModel, resolveWrnModel } from '../src/models/wide-resnet.js';
import { describeWrnModel } from '../src/models/wrn-layers.js';
import { writeFileAtomically } from '../src/util/atomic-write.js';
import { deviceCapabilities, planKernels } from '../src/training/webgpu/precision.js';
import { tfjsWebgpuDevice } from '../src/training/webgpu/train-on-webgpu.js';
import { WebgpuImageTrainer } from '../src/training/webgpu/webgpu-trainer.js';
import { positiveInteger } from './cli-args.js';
import { DEFAULT_PYTHON } from './torch-peer.js';
import { modelSpec, timeWebgpuStep, type SettingName, type StepCase, type StepTiming } from './webgpu-step.js';

const opts = new Command()
  .name('gpu-bench')
  .description("pmoe's WebGPU step at the paper's scale beside PyTorch, against the issue's targets")
  .option('--tiny', 'w = 1, batch 2, small inputs, one timed step (checks the script, e.g. on SwiftShader)', false)
  .option('--steps <n>', 'timed steps per case (default 20; tiny 1)', positiveInteger)
  .option('--out <file>', 'the JSON file (default results/gpu/<card>-<date>.json)')
  .option('--python <path>', "PyTorch's python", process.env.PMOE_BENCH_PYTHON ?? DEFAULT_PYTHON)
  .option('--no-torch', 'without the PyTorch peer')
  .option('--bench-json <file>', "the bench's --json output (its d and f ratios go into the file)")
  .parse()
  .opts<{ tiny: boolean; steps?: number; out?: string; python: string; torch: boolean; benchJson?: string }>();

const log = (line: string) => process.stderr.write(`gpu-bench: ${line}\n`);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

await initEngine('webgpu');
const adapter = webgpuAdapter()!;
const device = tfjsWebgpuDevice()!;
const capabilities = deviceCapabilities(device);
const mixedPlan = planKernels('mixed', capabilities);
const widening = opts.tiny ? 1 : 10;
const batch = opts.tiny ? 2 : 128;
const steps = opts.steps ?? (opts.tiny ? 1 : 20);
const tinySizes: Record<SettingName, number> = { cifar: 8, celeba: 16 };

/** One fp32 and one mixed WRN-pMoE step from the same weights: how far mixed's numbers are from fp32's. */
async function checkMixed(): Promise<Record<string, unknown>> {
  if (!mixedPlan.matrix) return { ran: false, reason: mixedPlan.fallback };
  const results: Record<string, unknown>[] = [];
  for (const setting of ['cifar', 'celeba'] as const) {
    const c: StepCase = { architecture: 'wrn-pmoe', setting, wideningFactor: 1, batch: 8, channels: 3, inputSize: opts.tiny ? tinySizes[setting] : undefined };
    const { spec, inputSize, classes } = modelSpec(c);
    const config = resolveWrnModel(spec, { classes, inputSize, channels: 3, seed: 7 });
    const model = buildWrnModel(config);
    const weights = new Map(model.weights.map((w) => [w.originalName, w.read().dataSync() as Float32Array]));
    model.dispose();
    const images = Float32Array.from({ length: c.batch * inputSize * inputSize * 3 }, (_, i) => Math.cos(i * 0.37));
    const labels = Int32Array.from({ length: c.batch }, (_, i) => i % classes);
    const run = async (precision: 'fp32' | 'mixed') => {
      const trainer = new WebgpuImageTrainer(device, describeWrnModel(config), { learningRate: 0.1, precision });
      try {
        trainer.writeWeights((name) => weights.get(name)!);
        await trainer.step(images, labels);
        const logits = new Float32Array(await trainer.readActivation(c.batch, 'logits', c.batch * classes));
        return { logits, loss: (await trainer.readMetrics()).lossSum / c.batch, grads: await trainer.readGradients() };
      } finally {
        await trainer.destroy();
      }
    };
    const [fp32, mixed] = [await run('fp32'), await run('mixed')];
    const relative = (a: Float32Array, b: Float32Array) => {
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < b.length; i++) {
        diff = Math.max(diff, Math.abs(a[i] - b[i]));
        scale = Math.max(scale, Math.abs(b[i]));
      }
      return scale === 0 ? diff : diff / scale;
    };
    const largest = Math.max(...[...fp32.grads.values()].map((g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
    let gradientError = 0;
    for (const [name, g] of fp32.grads) {
      const m = mixed.grads.get(name)!;
      let diff = 0;
      for (let i = 0; i < g.length; i++) diff = Math.max(diff, Math.abs(m[i] - g[i]));
      gradientError = Math.max(gradientError, diff / largest);
    }
    const logitsError = relative(mixed.logits, fp32.logits);
    // Tolerances (docs/gpu.md): f16 operands round at 2^-11; through ten layers and their gradients, a few 1e-3 to 1e-2.
    results.push({ setting, logitsError, lossDifference: Math.abs(mixed.loss - fp32.loss), gradientError, passed: logitsError < 2e-2 && gradientError < 5e-2 });
  }
  return { ran: true, matrix: mixedPlan.matrix, cases: results, passed: results.every((r) => r.passed) };
}

log(`adapter: ${[adapter.vendor, adapter.architecture, adapter.device, adapter.description].filter(Boolean).join(', ')}`);
log(`features: ${adapter.features.join(', ')}`);
log(`subgroup matrices: ${adapter.subgroupMatrixConfigs.map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(', ') || 'none'}`);
const mixedCheck = await checkMixed();
log(`mixed vs fp32: ${JSON.stringify(mixedCheck)}`);

// Tiny: one model (each model's pipelines take minutes to compile on SwiftShader).
const MODELS: ['celeba' | 'cifar', 'wrn-pmoe' | 'wrn'][] = opts.tiny
  ? [['cifar', 'wrn-pmoe']]
  : [
      ['celeba', 'wrn-pmoe'],
      ['celeba', 'wrn'],
      ['cifar', 'wrn-pmoe'],
      ['cifar', 'wrn'],
    ];
const cases: StepTiming[] = [];
for (const [setting, architecture] of MODELS) {
  for (const precision of mixedCheck.passed ? (['fp32', 'mixed'] as const) : (['fp32'] as const)) {
    const c: StepCase = {
      architecture,
      setting,
      wideningFactor: widening,
      batch,
      channels: 3,
      inputSize: opts.tiny ? tinySizes[setting] : undefined,
      precision,
    };
    const timing = await timeWebgpuStep(c, steps, opts.tiny ? 1 : 3);
    log(
      `${architecture} ${setting} w=${widening} B=${batch} ${precision}: ${timing.imagesPerSecond} images/s (${timing.msPerStep} ms a step, ${timing.tflops} TFLOP/s)`,
    );
    cases.push(timing);
  }
}

interface TorchCase {
  architecture: string;
  setting: string;
  fp32: { msPerStep: number; imagesPerSecond: number };
  tf32?: { msPerStep: number; imagesPerSecond: number };
  bf16?: { msPerStep: number; imagesPerSecond: number };
}
let torch: { torch: string; device: string; cases: TorchCase[] } | { error: string } | undefined;
if (opts.torch) {
  const device =
    spawnSync(opts.python, ['-c', 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")'], { encoding: 'utf8' }).stdout?.trim() || 'none';
  if (device === 'none') torch = { error: `${opts.python} cannot import torch` };
  else {
    const request = {
      device,
      steps: opts.tiny ? 1 : 20,
      warmup: opts.tiny ? 1 : 3,
      cases: cases
        .filter((c) => (c.case.precision ?? 'fp32') === 'fp32')
        .map(({ case: c }) => ({ architecture: c.architecture, setting: c.setting, wideningFactor: c.wideningFactor, batch: c.batch, inputSize: c.inputSize })),
    };
    const run = spawnSync(opts.python, [join(root, 'bench', 'reference', 'wrn_gpu.py'), JSON.stringify(request)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    try {
      torch = JSON.parse(run.stdout) as typeof torch;
    } catch {
      torch = { error: `wrn_gpu.py failed: ${(run.stderr || run.stdout).trim().split('\n').at(-1)}` };
    }
  }
  log(`PyTorch: ${JSON.stringify(torch)}`);
}
const torchCases = torch && 'cases' in torch ? torch.cases : [];

const rows = cases.map((timing) => {
  const c = timing.case;
  const peer = torchCases.find((t) => t.architecture === c.architecture && t.setting === c.setting);
  return {
    model: c.architecture,
    shape: c.setting,
    inputSize: c.inputSize,
    wideningFactor: c.wideningFactor,
    batch: c.batch,
    precision: timing.precision,
    kernels: timing.kernels,
    imagesPerSecond: timing.imagesPerSecond,
    msPerStep: timing.msPerStep,
    tflops: timing.tflops,
    dispatchesPerStep: timing.dispatchesPerStep,
    steps: timing.steps,
    torch: peer ? { fp32: peer.fp32.imagesPerSecond, tf32: peer.tf32?.imagesPerSecond ?? null, bf16: peer.bf16?.imagesPerSecond ?? null } : null,
    // pmoe's time over PyTorch's (fp32, TF32 off) in the same run: the issue's "within 2x" is <= 2.
    ratioToTorch: peer ? Math.round((timing.msPerStep / peer.fp32.msPerStep) * 100) / 100 : null,
  };
});

const rate = (model: string, shape: string) => rows.find((r) => r.model === model && r.shape === shape && r.precision === 'fp32')?.imagesPerSecond ?? NaN;
const TABLE2 = { 'wrn-pmoe': 2200, wrn: 1300 } as const;
const targets = opts.tiny
  ? []
  : [
      ...(['wrn-pmoe', 'wrn'] as const).flatMap((model) => [
        { name: `${model} celeba images/s`, target: TABLE2[model], measured: rate(model, 'celeba') },
        { name: `${model} cifar images/s`, target: 4 * TABLE2[model], measured: rate(model, 'cifar') },
      ]),
      ...(['celeba', 'cifar'] as const).map((shape) => ({
        name: `wrn-pmoe epoch / wrn epoch, ${shape}`,
        target: 0.75,
        measured: Math.round((rate('wrn', shape) / rate('wrn-pmoe', shape)) * 100) / 100,
        atMost: true,
      })),
    ].map((t) => ({ ...t, met: Number.isFinite(t.measured) ? ('atMost' in t ? t.measured <= t.target : t.measured >= t.target) : null }));

let bench: unknown;
if (opts.benchJson) {
  const parsed = JSON.parse(readFileSync(opts.benchJson, 'utf8')) as { cases?: Record<string, { title?: string; ratio?: number | null }> };
  bench = Object.entries(parsed.cases ?? {}).map(([id, c]) => ({ id, title: c.title, ratioToTorch: c.ratio ?? null }));
}

const date = new Date().toISOString().slice(0, 10);
const card = (adapter.device || adapter.description || adapter.architecture || 'gpu')
  .toLowerCase()
  .replace(/[^a-z0-9]+/g, '-')
  .replace(/^-|-$/g, '');
const result = {
  card,
  date,
  tiny: opts.tiny,
  adapter,
  precisionDefault: 'fp32',
  mixedCheck,
  cases: rows,
  torch: torch && 'error' in torch ? torch : torch ? { version: torch.torch, device: torch.device } : null,
  targets,
  ...(bench ? { bench } : {}),
};
const out = opts.out ?? join(root, 'results', 'gpu', `${card}-${date}.json`);
mkdirSync(dirname(out), { recursive: true });
await writeFileAtomically(out, `${JSON.stringify(result, null, 2)}\n`);
log(`wrote ${out}`);
await releaseWebgpu();
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
