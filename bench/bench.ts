#!/usr/bin/env node
/**
 * `npm run bench`: pmoe (TensorFlow.js, wasm or webgpu) against a PyTorch reference on the paper's models,
 * alternating blocks of steps in one invocation. See bench/run.ts for what is measured.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { releaseWebgpu } from '../src/engine/webgpu/dawn.js';
import { formatReport } from './report.js';
import { CASE_IDS, FULL_DEFAULTS, runBench, SMOKE_DEFAULTS, type CaseId } from './run.js';
import { DEFAULT_PYTHON, DEFAULT_TORCH_THREADS } from './torch-peer.js';
import { positiveInteger } from './cli-args.js';

function caseList(value: string): CaseId[] {
  const ids = value.split(',').map((id) => id.trim());
  const unknown = ids.filter((id) => !(CASE_IDS as readonly string[]).includes(id));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown case ${unknown.join(', ')}; cases are ${CASE_IDS.join(', ')}`);
  return ids as CaseId[];
}

const program = new Command()
  .name('pmoe-bench')
  .description("pmoe (tfjs wasm) vs PyTorch per training step on the paper's models, with the machine's matmul ceiling")
  .option('--steps <n>', `timed steps per block (default ${FULL_DEFAULTS.steps}; smoke ${SMOKE_DEFAULTS.steps})`, positiveInteger)
  .option('--rounds <r>', `alternating rounds (default ${FULL_DEFAULTS.rounds}; smoke ${SMOKE_DEFAULTS.rounds})`, positiveInteger)
  .option('--warmup <n>', `untimed steps per side before the rounds (default ${FULL_DEFAULTS.warmup}; smoke ${SMOKE_DEFAULTS.warmup})`, (v) => {
    const parsed = Number(v);
    if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError('must be an integer of at least 0');
    return parsed;
  })
  .option('--smoke', 'a few steps of each case: finiteness, no leaks, and pmoe/PyTorch numerical agreement (what CI runs)', false)
  .option('--json', 'print one JSON object instead of the table', false)
  .option('--cases <list>', `comma-separated subset of ${CASE_IDS.join(',')}`, caseList, [...CASE_IDS])
  .addOption(new Option('--python <path>', 'python that can import torch').default(process.env.PMOE_BENCH_PYTHON ?? DEFAULT_PYTHON))
  .option('--torch-threads <n>', "PyTorch's intra-op threads", positiveInteger, DEFAULT_TORCH_THREADS)
  .addOption(
    new Option('--torch-device <device>', "PyTorch's device: cpu, or cuda (a GPU; needs torch >= 2.0 with CUDA)").choices(['cpu', 'cuda']).default('cpu'),
  )
  .option('--no-torch', 'pmoe figures only, without the PyTorch peer')
  .addOption(
    new Option(
      '--path <path>',
      'how pmoe computes the model steps a-d and f: fused (what training runs on wasm) or autodiff (the reference; what webgpu runs)',
    ).choices(['fused', 'autodiff']),
  )
  .addOption(
    new Option('--backend <name>', "pmoe's backend: wasm, or webgpu (a GPU through Dawn; PMOE_WEBGPU_SOFTWARE=1 for SwiftShader)")
      .choices(['wasm', 'webgpu'])
      .default('wasm'),
  );

program.parse();
const opts = program.opts<{
  steps?: number;
  rounds?: number;
  warmup?: number;
  smoke: boolean;
  json: boolean;
  cases: CaseId[];
  python: string;
  torchThreads: number;
  torchDevice: 'cpu' | 'cuda';
  torch: boolean;
  path?: 'fused' | 'autodiff';
  backend: 'wasm' | 'webgpu';
}>();
const defaults = opts.smoke ? SMOKE_DEFAULTS : FULL_DEFAULTS;

const result = await runBench({
  steps: opts.steps ?? defaults.steps,
  rounds: opts.rounds ?? defaults.rounds,
  warmup: opts.warmup ?? defaults.warmup,
  smoke: opts.smoke,
  cases: opts.cases,
  python: opts.torch ? opts.python : null,
  torchThreads: opts.torchThreads,
  torchDevice: opts.torchDevice,
  path: opts.path,
  backend: opts.backend,
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatReport(result)}\n`);
// Failed checks (agreement, finiteness, leaks) fail the command, in smoke mode and out of it.
process.exitCode = result.ok ? 0 : 1;
await releaseWebgpu();
