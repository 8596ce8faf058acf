import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { BACKEND_NAMES, initEngine, type BackendName } from '../engine/backend.js';
import { DATA_SOURCES, loadData, SYNTHETIC_TEST_SIZE } from '../data/source.js';
import { SYNTHETIC_DEFAULTS } from '../data/synthetic.js';
import { MNIST_PATCH_DEFAULTS } from '../data/mnist-patch.js';
import { MODEL_KINDS } from '../models/build.js';
import { INIT_SCHEMES } from '../models/init.js';
import { OUTPUT_WEIGHTS } from '../models/output-weights.js';
import { GATE_MODES, POOLINGS } from '../routing/gate.js';
import { ROUTER_NAMES } from '../routing/registry.js';
import { runOnce, type PatchRunRecord } from '../training/run.js';
import type { TrainingHooks } from '../training/train.js';
import { EXPERIMENTS } from '../experiments/registry.js';
import { maxJobs } from '../experiments/sweep.js';
import { MAX_EPOCHS } from '../experiments/plan-size.js';
import { runDemo, DEMO_DEFAULTS, formatDemoTable } from './demo.js';
import { formatSweepSummary, reproduce, retryPolicy, sweepSummary, type ReproduceOptions } from './reproduce.js';
import { parseOverrides } from '../util/overrides.js';
import { clusterCommand } from './cluster.js';
import { checkBackendStarts } from './backends.js';
import type { ScalingCommandOptions } from './scaling.js';
import { appendJsonLine } from '../experiments/results-file.js';
import { preflightRun } from '../experiments/preflight.js';
import { integer, OptionError, real } from '../util/options.js';
import { parseInteger, parseIntegerList, parseIntegerOr, parseNumber, parseWith } from './numbers.js';
import { exitOnSignals } from './interrupt.js';
import { checkEnvironment } from './environment.js';
import { checkRecordsOutput, checkReportFolder, checkWritableFolder } from './output-path.js';
import { fsProblem } from '../util/fs-problem.js';
import { shellWord } from '../util/shell-word.js';
import { startProgress, type Progress } from './progress.js';
import { releaseWebgpu } from '../engine/webgpu/dawn.js';
import { epochLogHooks } from '../training/epoch-log.js';
import { PMOE_MODEL_FILE, PMOE_MODEL_MARK } from '../models/pmoe-model-file.js';
import { replaceableFileProblem } from '../util/output-file.js';
import { OPTIONAL_PACKAGES, requirePackages } from '../util/optional-package.js';

const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function backendOption() {
  return new Option('--backend <name>', 'TensorFlow.js backend; auto prefers a GPU (webgpu), then tfjs-node when installed, then wasm')
    .choices(BACKEND_NAMES)
    .default('auto');
}

// Four worker processes per core at most (maxJobs): one process per planned run would exhaust the machine.
const jobsArgument = parseWith(integer(1, maxJobs()));
const shardCountArgument = parseWith(integer(1));

// Run-spec keys whose `pmoe train` flag has another name.
const FLAG_ALIASES: Record<string, string> = { learningRate: 'lr', routerLearningRate: 'routerLr', testCount: 'testSize' };

/** Names the flag the user typed where an OptionError names a spec key: `--lr (training.learningRate): must be ...`. */
function withFlags(error: unknown, command: Command): unknown {
  if (!(error instanceof OptionError)) return error;
  const flagOf = new Map(command.options.map((option) => [option.attributeName(), option.long]));
  error.message = error.message.replace(/^(?:[\w-]+\.)?(\w+)(?=:| must)/gm, (name, key: string) => {
    const flag = flagOf.get(FLAG_ALIASES[key] ?? key);
    if (!flag) return name;
    return flag === `--${name}` ? flag : `${flag} (${name})`;
  });
  return error;
}

// `pmoe train` options that only one kind of data reads.
const SYNTHETIC_ONLY = ['d', 'n', 'p', 'deltaD', 'deltaR', 'noise', 'confusers', 'classes'];
const GRID_ONLY = ['gridSize', 'discriminativeDigits', 'fillDigits', 'sampleSeed'];

/** Refuses a data option the chosen --data does not read, rather than ignoring it. */
function checkDataFlags(o: Record<string, unknown>, command: Command): void {
  const synthetic = o.data === 'synthetic';
  const given = (synthetic ? GRID_ONLY : SYNTHETIC_ONLY).filter((key) => o[key] !== undefined);
  if (given.length === 0) return;
  const flags = given.map((key) => command.options.find((option) => option.attributeName() === key)?.long ?? key);
  const readers = synthetic ? '--data mnist-patch and fashion-patch' : '--data synthetic';
  throw new OptionError(`${flags.join(', ')}: read by ${readers} only, not by --data ${String(o.data)}`);
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function summariseRun(record: PatchRunRecord): string {
  const last = record.epochs.at(-1);
  const lines = [
    `model ${record.training.model}, ${record.data.source} data, N = ${record.data.trainSize}, ${record.data.source === 'synthetic' ? record.data.testSize : record.data.testCount} test samples${record.lStar === undefined ? '' : `, l* = ${record.lStar}`}, backend ${record.backend}`,
    `test accuracy ${(100 * (last?.testAccuracy ?? NaN)).toFixed(2)}%  train accuracy ${(100 * (last?.trainAccuracy ?? NaN)).toFixed(2)}%  test loss ${last?.testLoss.toFixed(4)}`,
  ];
  if (record.spurious) {
    const s = record.spurious;
    lines.push(
      `spurious feature s = ${s.strength}: balanced test accuracy ${(100 * s.balancedAccuracy).toFixed(2)}%, worst group ${(100 * s.worstGroupAccuracy).toFixed(2)}%, reversed ${(100 * s.reversedAccuracy).toFixed(2)}%`,
    );
  }
  if (record.routingRate)
    lines.push(
      `discriminative routing rate ${(100 * record.routingRate.rate).toFixed(2)}% (per class ${record.routingRate.perClass.map((r) => (100 * r).toFixed(1)).join(', ')})`,
    );
  lines.push(`wall time ${(record.wallTimeMs / 1000).toFixed(1)} s`);
  return lines.join('\n');
}

/** The `pmoe` command with every subcommand and option, not yet run: main parses argv with it (tests walk its options). */
export function pmoeProgram(argv: readonly string[]): Command {
  const program = new Command('pmoe')
    .description('Patch-level Mixture-of-Experts CNNs (pMoE, ICML 2023) on TensorFlow.js')
    .version(version)
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  program
    .command('demo')
    .description(
      "train the CNN, separate pMoE and joint pMoE on the paper's synthetic data model at a few training-set sizes; print test accuracy and routing rate",
    )
    .option('--sizes <list>', 'training-set sizes N, comma-separated', parseWith(z.array(integer(1)).min(1), parseIntegerList), DEMO_DEFAULTS.sizes)
    .option('--epochs <n>', 'epochs per run', parseWith(integer(1, MAX_EPOCHS)), DEMO_DEFAULTS.epochs)
    .option('--seed <n>', 'seed of data and models', parseWith(integer(0)), DEMO_DEFAULTS.seed)
    .option('--jobs <n>', 'parallel workers (default: one per core; one on a GPU)', jobsArgument)
    .addOption(backendOption())
    .option('--json', 'print one JSON object instead of the table')
    .action(async (options: { sizes: number[]; epochs: number; seed: number; jobs?: number; backend: BackendName; json?: boolean }) => {
      // Two-layer models: auto stays off the GPU (EngineOptions.gpu), as the demo's sweep workers do.
      const backend = await initEngine(options.backend, { gpu: false });
      const progress = startProgress(options.sizes.length * 3, 'demo', options.json === true && !process.stderr.isTTY);
      const result = await runDemo({ ...options, backend: options.backend }, (done, label) => progress.update(done, label));
      progress.stop();
      if (options.json) printJson({ ...result, backend });
      else process.stdout.write(`${formatDemoTable(result, backend)}\n`);
    });

  program
    .command('train')
    .description('train one model on one data source; every setting is an option')
    .addOption(new Option('--model <kind>', 'cnn, separate (routers first, then experts) or joint pMoE').choices(MODEL_KINDS).default('joint'))
    .addOption(
      new Option(
        '--data <source>',
        "synthetic (the paper's data model), mnist-patch (4x4 grids of MNIST digits) or fashion-patch (the same grids of Fashion-MNIST items)",
      )
        .choices(DATA_SOURCES)
        .default('synthetic'),
    )
    .option('--train-size <n>', 'N, training samples', parseInteger, 200)
    .option(
      '--test-size <n>',
      `test samples (default ${SYNTHETIC_TEST_SIZE}; mnist-patch, fashion-patch: the test pool, default ${MNIST_PATCH_DEFAULTS.testCount})`,
      parseInteger,
    )
    .option('--grid-size <n>', `mnist-patch, fashion-patch: cells per side, n = grid^2 (default ${MNIST_PATCH_DEFAULTS.gridSize}, the paper's)`, parseInteger)
    .option(
      '--discriminative-digits <list>',
      'mnist-patch, fashion-patch: the class items, one per class (default 1,0; Fashion-MNIST: 1 Trouser, 0 T-shirt/top)',
      parseIntegerList,
    )
    .option('--fill-digits <list>', 'mnist-patch, fashion-patch: the items of the other cells (default 2,3,4,5,6,7,8,9)', parseIntegerList)
    .option('--sample-seed <n>', 'mnist-patch: seed of the N training images drawn from the pool (default --seed)', parseInteger)
    .option('--d <n>', `synthetic: patch dimension d (default ${SYNTHETIC_DEFAULTS.d})`, parseInteger)
    .option('--n <n>', `synthetic: patches per sample n (default ${SYNTHETIC_DEFAULTS.n})`, parseInteger)
    .option('--p <n>', `synthetic: number of class-irrelevant pattern sets p (default ${SYNTHETIC_DEFAULTS.p})`, parseInteger)
    .option('--delta-d <x>', `synthetic: <o_1, o_2> (default ${SYNTHETIC_DEFAULTS.deltaD})`, parseNumber)
    .option('--delta-r <x>', `synthetic: bound on |<o_i, q>| for irrelevant patches q (default ${SYNTHETIC_DEFAULTS.deltaR})`, parseNumber)
    .option('--noise <x>', `synthetic: spread of each irrelevant set (default ${SYNTHETIC_DEFAULTS.noise})`, parseNumber)
    .option(
      '--confusers <n>',
      `synthetic: most irrelevant patches per sample that lean towards the patterns (default ${SYNTHETIC_DEFAULTS.confusers}; l* = 1 + confusers)`,
      parseInteger,
    )
    .option('--classes <n>', `synthetic: number of classes (default ${SYNTHETIC_DEFAULTS.classes})`, parseInteger)
    .option('--data-seed <n>', 'synthetic: seed of the data (default: --seed)', parseInteger)
    .option(
      '--spurious-strength <x>',
      "a spurious feature: training images carry their own class's spurious item with probability s in 0.5..1 (0.5: no association); adds balanced and reversed test sets",
      parseNumber,
    )
    .option(
      '--spurious-items <list>',
      'mnist-patch, fashion-patch: the spurious item (a fill digit) of each class (default 6,7; Fashion-MNIST 3,9)',
      parseIntegerList,
    )
    .option('--neurons <n>', 'cnn: neurons m (paper 40)', parseInteger)
    .option('--experts <n>', 'pmoe: experts k (separate: the number of classes; joint: 8)', parseInteger)
    .option('--neurons-per-expert <n>', 'pmoe: neurons per expert m/k (separate 20, joint 5)', parseInteger)
    .option(
      '--patches-per-expert <l>',
      "pmoe: l, patches each expert takes (separate 2, joint 6); lstar: l* of the drawn synthetic data, the separate regime's l",
      parseIntegerOr('lstar'),
    )
    .addOption(new Option('--gate <mode>', 'pmoe: gate (separate: hard, joint: softmax-selected)').choices(GATE_MODES))
    .addOption(new Option('--pooling <mode>', 'pmoe: pool over the l selected (paper) or all n (official code)').choices(POOLINGS))
    .option(
      '--router <setting>',
      `pmoe: who routes, a name (${ROUTER_NAMES.join(', ')}) or JSON with name and options, e.g. '{"name":"token-choice","topK":2}' (default: the paper's expert choice; docs/routing.md)`,
      (text: string) => {
        if (text.trim().startsWith('{')) {
          try {
            return JSON.parse(text) as unknown;
          } catch (error) {
            throw new InvalidArgumentError(`not JSON (${(error as Error).message})`);
          }
        }
        if (!(ROUTER_NAMES as readonly string[]).includes(text))
          throw new InvalidArgumentError(`expected one of ${ROUTER_NAMES.join(', ')} or JSON with a name`);
        return text;
      },
    )
    .addOption(new Option('--output-weights <scheme>', 'fixed second layer: N(0,1) (paper) or constant per expert (official code)').choices(OUTPUT_WEIGHTS))
    .addOption(new Option('--init <scheme>', 'initial weight scales: paper or the official code').choices(INIT_SCHEMES))
    .option('--epochs <n>', 'epochs (paper 150)', parseInteger)
    .option('--batch-size <n>', 'mini-batch size (paper 20)', parseInteger)
    .option('--lr <x>', 'SGD learning rate (paper 0.2)', parseNumber)
    .option('--router-epochs <n>', 'separate: router-phase epochs (official code 100)', parseInteger)
    .option('--router-lr <x>', 'separate: router-phase learning rate (default --lr)', parseNumber)
    .option('--router-samples <n>', 'separate: N_r, samples for the router phase (default N)', parseInteger)
    .option('--eval-every <n>', 'evaluate every this many epochs', parseInteger)
    .option('--seed <n>', 'seed of model initialisation and shuffling', parseInteger, 0)
    .option('--out <file>', 'append the run record as one JSON line to this file')
    .option(
      '--save-model <dir>',
      'save the trained model to <dir>/pmoe-model.json (loadModel reads it; a pMoE also feeds pmoe report --routing-model and pmoe serve --model)',
    )
    .option('--log-dir <dir>', 'append one JSON line per evaluated epoch to <dir>/train-<start time>.jsonl as training goes (and a CSV beside it)')
    .addOption(backendOption())
    .option('--json', 'print the run record as JSON')
    .action(async (o: Record<string, unknown>, command: Command) => {
      checkDataFlags(o, command);
      const training = {
        model: o.model,
        epochs: o.epochs,
        batchSize: o.batchSize,
        learningRate: o.lr,
        routerEpochs: o.routerEpochs,
        routerLearningRate: o.routerLr,
        routerSamples: o.routerSamples,
        evalEvery: o.evalEvery,
        seed: o.seed,
      } as Record<string, unknown>;
      const data = (
        o.data === 'synthetic'
          ? {
              source: o.data,
              trainSize: o.trainSize,
              testSize: o.testSize,
              d: o.d,
              n: o.n,
              p: o.p,
              deltaD: o.deltaD,
              deltaR: o.deltaR,
              noise: o.noise,
              confusers: o.confusers,
              classes: o.classes,
              seed: o.dataSeed ?? o.seed,
              spuriousStrength: o.spuriousStrength,
              spuriousItems: o.spuriousItems,
            }
          : {
              source: o.data,
              trainSize: o.trainSize,
              testCount: o.testSize,
              gridSize: o.gridSize,
              sampleSeed: o.sampleSeed ?? o.seed,
              seed: o.dataSeed,
              discriminativeDigits: o.discriminativeDigits,
              fillDigits: o.fillDigits,
              spuriousStrength: o.spuriousStrength,
              spuriousItems: o.spuriousItems,
            }
      ) as Record<string, unknown>;
      const model = {
        neurons: o.neurons,
        experts: o.experts,
        neuronsPerExpert: o.neuronsPerExpert,
        patchesPerExpert: o.patchesPerExpert,
        gate: o.gate,
        pooling: o.pooling,
        router: o.router,
        outputWeights: o.outputWeights,
        init: o.init,
      } as Record<string, unknown>;
      const defined = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
      const quiet = o.json === true && !process.stderr.isTTY;
      let progress: Progress | undefined;
      let currentPhase = '';
      const spec = { data: defined(data) as never, model: defined(model), training: defined(training) };
      // --patches-per-expert lstar: l* is known once the data is drawn; 1 + confusers bounds it.
      const wantsLStar = spec.model.patchesPerExpert === 'lstar';
      if (wantsLStar && o.data !== 'synthetic') {
        throw new OptionError(`--patches-per-expert lstar: l* is known for --data synthetic only (got --data ${String(o.data)})`);
      }
      // Every setting, the memory and the output path are checked before the engine starts.
      try {
        const bound = Math.min(Number(o.n ?? SYNTHETIC_DEFAULTS.n), 1 + Number(o.confusers ?? SYNTHETIC_DEFAULTS.confusers));
        preflightRun(wantsLStar ? { ...spec, model: { ...spec.model, patchesPerExpert: bound } } : spec);
      } catch (error) {
        throw withFlags(error, command);
      }
      // Loaded when used: the report and web modules (Vega among them) would double the start-up time of every command.
      const { runOnceAndSave } = await import('../web/train-and-save.js');
      if (o.saveModel) {
        await checkWritableFolder(o.saveModel as string, '--save-model', [PMOE_MODEL_FILE], (file) =>
          replaceableFileProblem(file, PMOE_MODEL_MARK, 'pmoe (a saved model)'),
        );
      }
      if (o.logDir) await checkWritableFolder(o.logDir as string, '--log-dir');
      if (o.out) await checkRecordsOutput(o.out as string, '--out');
      let savedTo: string | undefined;
      const keepRunningOnSignals = exitOnSignals('train', () =>
        [
          o.out ? `nothing appended to ${String(o.out)}` : 'no record written',
          ...(o.saveModel ? [savedTo ? `model saved to ${savedTo}` : 'no model saved'] : []),
        ].join(', '),
      );
      // train runs the two-layer models: auto stays off the GPU (EngineOptions.gpu).
      await initEngine(o.backend as BackendName, { gpu: false });
      if (wantsLStar) spec.model.patchesPerExpert = (await loadData(spec.data)).lStar; // the same draw as the run's
      const progressHooks: TrainingHooks = {
        onEpoch(phase, epoch, total, metrics) {
          if (phase !== currentPhase) {
            progress?.stop();
            progress = startProgress(total, `train ${String(o.model)} (${phase})`, quiet);
            currentPhase = phase;
          }
          progress?.update(epoch, metrics ? `test acc ${(100 * metrics.testAccuracy).toFixed(1)}%` : '');
        },
      };
      const hooks = o.logDir ? epochLogHooks(o.logDir as string, `train-${new Date().toISOString().replace(/[:.]/g, '-')}`, progressHooks) : progressHooks;
      let record: PatchRunRecord;
      if (o.saveModel) {
        const saved = await runOnceAndSave(spec, o.saveModel as string, hooks);
        record = saved.record as PatchRunRecord; // a two-layer spec gives a two-layer record
        savedTo = saved.modelPath;
      } else record = await runOnce(spec, hooks);
      progress?.stop();
      if (o.out) {
        try {
          appendJsonLine(o.out as string, record);
        } catch (error) {
          throw new Error(`--out: cannot append the run record to '${String(o.out)}': ${fsProblem(error)}`, { cause: error });
        }
      }
      keepRunningOnSignals();
      if (o.json) printJson(record);
      else process.stdout.write(`${summariseRun(record)}\n${savedTo ? `model saved to ${savedTo}\n` : ''}`);
    });

  program
    .command('reproduce')
    .description(
      `run a named experiment of the paper as a resumable sweep (${Object.keys(EXPERIMENTS).join(', ')}); results are appended to results/<name>.jsonl`,
    )
    .argument('<name>', 'experiment name')
    .option('--quick', 'a reduced version that finishes in minutes')
    .option('--jobs <n>', 'parallel worker processes (default: one per core; one on a GPU)', jobsArgument)
    .option('--shard <i/N|auto>', 'run only shard i of N (split a sweep across machines); auto: from a Slurm array or Kubernetes Indexed Job')
    .option('--shard-count <n>', "--shard auto: the number of shards (default PMOE_SHARD_COUNT, else the Slurm array's size)", shardCountArgument)
    .option('--out <file>', 'results file (default results/<name>[-quick].jsonl; a shard: results/<name>[-quick].shard-<i>-of-<N>.jsonl)')
    .option(
      '--set <key=value>',
      'override an experiment option, e.g. --set seeds=2 --set sizes=[100,500]; repeatable',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--retry-failed', 'run again every run that failed in the results file, divergences too')
    .option('--no-retry', 'keep the failed runs of the results file (default: run again those whose cause can change: data, crash, killed, out of memory)')
    .option('--log-dir <dir>', 'append one JSON line per evaluated epoch of each run to <dir>/<run key>.jsonl as it trains (and a CSV beside it)')
    .addOption(backendOption())
    .addOption(
      new Option(
        '--precision <p>',
        "WRN and WRN-pMoE on webgpu: pmoe's step in fp32, or mixed (convolutions on f16 subgroup matrices where the GPU has them)",
      ).choices(['fp32', 'mixed']),
    )
    .option('--json', 'print a JSON summary')
    .action(async (name: string, options: ReproduceOptions) => {
      await checkBackendStarts(options.backend);
      const result = await reproduce(name, options);
      const summary = sweepSummary(name, result);
      if (options.json) printJson(summary);
      else process.stdout.write(`${formatSweepSummary(name, result, retryPolicy(options))}\n`);
      // A sweep with failed runs did not produce its figure: say so to scripts.
      if (summary.failed > 0) process.exitCode = 1;
    });

  program
    .command('scaling')
    .description(
      'the sample-complexity law: bisect over N for the smallest training set at which the CNN, separate and joint pMoE reach the target accuracy, over a grid of n and l; resumable (results/scaling.jsonl), then writes the report (scaling.md, .svg, .json)',
    )
    .option('--quick', 'a reduced grid that finishes in minutes')
    .option('--jobs <n>', 'parallel worker processes (default: one per core; one on a GPU)', jobsArgument)
    .option(
      '--shard <i/N|auto>',
      "run only shard i of N of the grid's cells (split the bisections across machines); auto: from a Slurm array or Kubernetes Indexed Job",
    )
    .option('--shard-count <n>', "--shard auto: the number of shards (default PMOE_SHARD_COUNT, else the Slurm array's size)", shardCountArgument)
    .option('--out <file>', 'results file (default results/scaling[-quick].jsonl; a shard: results/scaling[-quick].shard-<i>-of-<N>.jsonl)')
    .option('--report-dir <dir>', 'folder of the report (default report; a shard: report/scaling.shard-<i>-of-<N>)')
    .option('--report-only', 'write the report from the results file without running anything')
    .option(
      '--set <key=value>',
      'override an option, e.g. --set seeds=3 --set patchCounts=[8,16,32]; repeatable',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .addOption(backendOption())
    .option('--json', 'print a JSON summary')
    .action(async (options: ScalingCommandOptions) => {
      requirePackages('pmoe scaling (its report)', OPTIONAL_PACKAGES.report);
      await checkBackendStarts(options.backend);
      const { formatScaling, hasRetriableFailures, scalingCommand } = await import('./scaling.js');
      const result = await scalingCommand(options);
      if (hasRetriableFailures(result)) process.exitCode = 1;
      if (options.json) {
        const { report, outcome, ...rest } = result;
        printJson({
          ...rest,
          cells: report.cells,
          fits: report.fits,
          ratioFits: report.ratioFits,
          findings: report.findings,
          warnings: report.warnings,
          rounds: outcome?.rounds.length,
          runs: outcome?.runs,
          ranNow: outcome?.ranNow,
          skipped: outcome?.skipped,
        });
      } else process.stdout.write(`${formatScaling(result)}\n`);
    });

  program
    .command('scaling-regimes')
    .description(
      'the sample-complexity law in several regimes of the data model (delta_r, noise, confusers, step budget): one resumable bisection sweep per regime (results/scaling-regimes-<regime>.jsonl), then the report of the fitted exponents',
    )
    .option('--quick', 'a reduced grid that finishes in minutes')
    .option('--jobs <n>', 'parallel worker processes (default: one per core; one on a GPU)', jobsArgument)
    .option('--results-dir <dir>', 'folder of the results files', 'results')
    .option('--report-dir <dir>', 'folder of the report', 'report')
    .option('--report-only', 'write the report from the results files without running anything')
    .option(
      '--set <key=value>',
      `override a scaling option for every regime, or choose regimes: --set 'regimes=["baseline","noise-high"]'; repeatable`,
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .addOption(backendOption())
    .option('--json', 'print the report as JSON')
    .action(async (options: import('./scaling-regimes.js').ScalingRegimesCommandOptions) => {
      requirePackages('pmoe scaling-regimes (its report)', OPTIONAL_PACKAGES.report);
      await checkBackendStarts(options.backend);
      const { scalingRegimesCommand } = await import('./scaling-regimes.js');
      const { report, files } = await scalingRegimesCommand(options);
      if (options.json) printJson({ ...report, files });
      else process.stdout.write(`${report.findings.map((f) => `- ${f}`).join('\n')}\nreport in ${files.markdown}, ${files.svg}\n`);
    });

  program
    .command('report')
    .description("SVG figures, Markdown tables beside the paper's numbers and aggregated JSON from results files (shards are merged)")
    .argument('<results...>', 'JSON Lines results files written by pmoe reproduce')
    .option('--out <dir>', 'output folder', 'report')
    .option('--success-accuracy <x>', 'fig5 and scaling: final test accuracy that counts as a success', parseWith(real(0, 1, { exclusiveMin: true })))
    .option('--router-l <list>', 'fig8: the l values to draw', parseWith(z.array(integer(1)).min(1), parseIntegerList))
    .option('--routing-model <dir>', 'a model saved by pmoe train --data mnist-patch --save-model: adds routing pictures to index.html')
    .option('--log-dir <dir>', 'per-epoch logs written by pmoe train|reproduce --log-dir: adds training curves to index.html')
    .option('--json', 'print the summary as JSON')
    .action(
      async (
        paths: string[],
        options: { out: string; successAccuracy?: number; routerL?: number[]; routingModel?: string; logDir?: string; json?: boolean },
      ) => {
        requirePackages('pmoe report', OPTIONAL_PACKAGES.report);
        const [
          { checkRoutingModel, routingSection },
          { trainingCurvesSection },
          { reportCommand },
          { regenerateCommand },
          { HTML_REPORT_FILE, writeHtmlReport },
        ] = await Promise.all([
          import('../report/html/routing-section.js'),
          import('../report/html/training-curves.js'),
          import('../report/report-command.js'),
          import('../report/report.js'),
          import('../report/html/page.js'),
        ]);
        await checkReportFolder(options.out, '--out', [HTML_REPORT_FILE]);
        exitOnSignals('report', () => `the report in ${options.out} is incomplete (files already written there are whole; index.html is written last)`);
        // The model is validated and its pictures drawn before any part of the report is written.
        const routing = options.routingModel ? await routingSection(await checkRoutingModel(options.routingModel)) : undefined;
        const curves = options.logDir ? await trainingCurvesSection(options.logDir) : undefined;
        const figureOptions = { successAccuracy: options.successAccuracy, routerPatchesPerExpert: options.routerL };
        const { summary, text } = await reportCommand(paths, { out: options.out, ...figureOptions });
        const regenerate = `${regenerateCommand(paths, options.out, figureOptions)}${options.routingModel ? ` --routing-model ${shellWord(options.routingModel)}` : ''}${options.logDir ? ` --log-dir ${shellWord(options.logDir)}` : ''}`;
        const page = await writeHtmlReport(summary, { routing, curves, regenerate });
        if (options.json) printJson({ ...summary, page });
        else process.stdout.write(`${text}\npage: ${page}\n`);
      },
    );

  program
    .command('merge')
    .description('join the shard files of one sweep into one results file with every run once (written atomically)')
    .argument('<results...>', 'shard files written by pmoe reproduce --shard (or any results files of one experiment)')
    .requiredOption('--out <file>', 'merged results file, e.g. results/fig4.jsonl')
    .option('--json', 'print a JSON summary')
    .action(async (paths: string[], options: { out: string; json?: boolean }) => {
      const { formatMerge, mergeCommand } = await import('./merge.js');
      const summary = await mergeCommand(paths, options.out);
      for (const warning of summary.warnings) process.stderr.write(`warning: ${warning}\n`);
      if (options.json) printJson(summary);
      else process.stdout.write(`${formatMerge(summary)}\n`);
    });

  program
    .command('status')
    .description('per experiment: planned runs done, failed and missing, per shard, from results files or folders')
    .argument('<paths...>', 'results files, or folders whose .jsonl files are read')
    .option('--quick', 'the sweep ran with --quick (default: match the default or quick plan, whichever holds the runs)')
    .option(
      '--set <key=value>',
      'the --set overrides the sweep ran with; repeatable',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--json', 'print the status as JSON')
    .action(async (paths: string[], options: { quick?: boolean; set: string[]; json?: boolean }) => {
      const { formatStatus, statusCommand } = await import('./status.js');
      const statuses = await statusCommand(paths, { quick: options.quick, overrides: parseOverrides(options.set) });
      if (options.json) printJson(statuses);
      else process.stdout.write(`${formatStatus(statuses)}\n`);
    });

  program.addCommand(clusterCommand(() => argv.slice(2)));

  program
    .command('serve')
    .description('the interactive page: run a saved pMoE in the browser on test images or digits you compose (http://127.0.0.1:<port>/)')
    .option('--port <n>', 'port; 0 picks a free one', parseWith(integer(0, 65535)), 8765)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--model <dir>', "a model saved by pmoe train --save-model (default: the page's own model, web/data/pmoe-model.json)")
    .action(async (options: { port: number; host: string; model?: string }) => {
      const { exposureWarning, startServer } = await import('../web/serve.js');
      const warning = exposureWarning(options.host);
      if (warning) process.stderr.write(`${warning}\n`);
      const server = await startServer(options);
      process.stdout.write(`serving ${server.url} (model ${server.modelPath}); Ctrl-C stops\n`);
      const stop = () => {
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  program
    .command('backends')
    .description('list the TensorFlow.js backends, whether each runs here (with the WebGPU adapter), and what --backend auto picks')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const { formatBackends, listBackends } = await import('./backends.js');
      const listing = await listBackends();
      if (options.json) printJson(listing);
      else process.stdout.write(`${formatBackends(listing)}\n`);
    });

  // A command-line error says which help to read, instead of printing the whole help after it.
  const commandPath = (command: Command): string => (command.parent ? `${commandPath(command.parent)} ${command.name()}` : command.name());
  const everyCommand = (command: Command): Command[] => [command, ...command.commands.flatMap(everyCommand)];
  for (const command of everyCommand(program)) command.showHelpAfterError(`see \`${commandPath(command)} --help\``);
  // The environment's settings are checked before any command works (environment.ts).
  program.hook('preAction', () => checkEnvironment());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = pmoeProgram(argv);
  try {
    await program.parseAsync(argv);
  } finally {
    // dawn.node keeps the process alive while its instance is held.
    await releaseWebgpu();
  }
}
