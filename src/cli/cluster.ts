import { mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { BACKEND_NAMES, type BackendName } from '../engine/backend.js';
import { slurmScript } from '../cluster/slurm-script.js';
import { checkSweepJob, mergedResultsPath, shardFilesPattern, type SweepJob } from '../cluster/sweep-job.js';
import { MAX_PLANNED_RUNS } from '../experiments/plan-size.js';
import { writeFileAtomically } from '../util/atomic-write.js';
import { integer, OptionError } from '../util/options.js';
import { isBareWord, refuseControlCharacters, shellWord } from '../util/shell-word.js';
import { parseWith } from './numbers.js';
import { checkReplaceable, checkWritableFolder } from './output-path.js';

const BIN = fileURLToPath(new URL('../../../bin/pmoe.js', import.meta.url));

interface CommonOptions {
  tasks: number;
  quick?: boolean;
  set: string[];
  cpusPerTask: number;
  gpusPerTask?: number;
  mem?: string;
  maxRunning?: number;
  backend: BackendName;
  pmoe?: string;
  out?: string;
  json?: boolean;
}

/** Counts a scheduler file takes: tasks no more than a sweep's runs, CPUs and GPUs no more than a node of today has. */
const taskCount = parseWith(integer(1, MAX_PLANNED_RUNS));
const deviceCount = parseWith(integer(1, 1024));

function commonOptions(command: Command, outDefault: string): Command {
  return command
    .argument('<experiment>', 'a pmoe reproduce experiment (fig4, ...) or scaling')
    .requiredOption('--tasks <n>', 'array tasks (shards); task i runs shard i+1', taskCount)
    .option('--quick', 'the reduced version of the experiment')
    .option(
      '--set <key=value>',
      'override an experiment option, as pmoe reproduce --set; repeatable',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--cpus-per-task <n>', 'CPUs per task; each task runs this many worker processes (--jobs)', deviceCount, 1)
    .option('--gpus-per-task <n>', 'GPUs per task (with --backend tensorflow; see docs/cluster.md)', deviceCount)
    .option('--mem <size>', 'memory per task (Slurm: 4G; Kubernetes: 4Gi)')
    .option('--max-running <n>', 'at most this many tasks at once', taskCount)
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend of the tasks').choices(BACKEND_NAMES).default('auto'))
    .option('--out <file>', `file to write (default ${outDefault})`)
    .option('--json', 'print a JSON summary');
}

function sweepJob(experiment: string, o: CommonOptions): SweepJob {
  return { experiment, tasks: o.tasks, quick: o.quick, set: o.set, jobs: o.cpusPerTask, backend: o.backend };
}

/** The command line that wrote a file, for its header. */
const invocation = (argv: readonly string[]) => ['pmoe', ...argv].map(shellWord).join(' ');

/** What every file this command writes holds in its header; a file without it was written by someone else and is not replaced. */
const WRITTEN_BY = 'Written by: pmoe cluster';

/**
 * Every text that goes into the file, checked before anything is written: no control character
 * anywhere (a newline would end a directive or a comment line and start a command), and the
 * values of #SBATCH directives, which Slurm reads unquoted, one bare word each.
 */
function checkTexts(argv: readonly string[], texts: Readonly<Record<string, string | readonly string[] | undefined>>, bare: readonly string[]): void {
  for (const [option, value] of Object.entries(texts)) {
    for (const text of typeof value === 'string' ? [value] : (value ?? [])) {
      refuseControlCharacters(text, option);
      // An empty --pmoe would leave `exec reproduce ...`, running whatever `reproduce` is on the node.
      if (text.trim() === '') throw new OptionError(`${option}: must not be empty`);
      if (bare.includes(option) && !isBareWord(text)) {
        throw new OptionError(`${option}: must be one word of letters, digits and _@%+=:,./- as an #SBATCH directive takes it (got ${JSON.stringify(text)})`);
      }
    }
  }
  // Whatever else the command line holds goes into the header's "Written by" line.
  argv.forEach((argument, index) => refuseControlCharacters(argument, `argument ${index + 1} of the command line`));
}

/** Checks `path` (a new file, or one this command wrote) before any work, then writes it atomically. */
async function checkOut(path: string): Promise<void> {
  await checkReplaceable(path, '--out', WRITTEN_BY, 'pmoe cluster');
}

async function writeOut(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomically(path, text);
}

function describeSplit(job: SweepJob): { summary: string; warning?: string } {
  const { units, unit } = checkSweepJob(job);
  const summary = `${units} ${unit} over ${job.tasks} tasks (up to ${Math.ceil(units / job.tasks)} each)`;
  return units < job.tasks ? { summary, warning: `${job.tasks - units} of the ${job.tasks} tasks will have no ${unit}: fewer tasks would do` } : { summary };
}

function print(json: boolean | undefined, value: Record<string, unknown>, lines: readonly string[], warning?: string): void {
  if (warning) process.stderr.write(`warning: ${warning}\n`);
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${lines.join('\n')}\n`);
}

/** `pmoe cluster slurm|k8s`: scheduler files that run a sweep's shards as array tasks or Job indices. */
export function clusterCommand(argvOf: () => readonly string[]): Command {
  const cluster = new Command('cluster').description('write a Slurm job array script or a Kubernetes Indexed Job that runs a sweep in shards (--shard auto)');

  commonOptions(
    cluster.command('slurm').description('write an sbatch script: a job array whose task i runs shard i+1 of the sweep'),
    '<experiment>[-quick].sbatch',
  )
    .option('--partition <name>', 'Slurm partition')
    .option('--time <limit>', 'time limit per task, e.g. 2:00:00')
    .option('--pmoe <command>', 'how the nodes start pmoe (default: this node and this pmoe, by absolute path)')
    .option('--workdir <dir>', 'folder the tasks run in; results/ and logs/ go under it', '.')
    .action(async (experiment: string, o: CommonOptions & { partition?: string; time?: string; workdir: string }) => {
      const out = o.out ?? `${experiment}${o.quick ? '-quick' : ''}.sbatch`;
      checkTexts(
        argvOf(),
        { experiment, '--set': o.set, '--partition': o.partition, '--time': o.time, '--mem': o.mem, '--workdir': o.workdir, '--pmoe': o.pmoe, '--out': out },
        ['--partition', '--time', '--mem'],
      );
      const job = sweepJob(experiment, o);
      const { summary, warning } = describeSplit(job);
      const workdir = resolve(o.workdir);
      const logDir = resolve(workdir, 'logs');
      await checkOut(out);
      await checkWritableFolder(logDir, '--workdir');
      const script = slurmScript(job, {
        pmoe: o.pmoe ? o.pmoe.split(/\s+/).filter(Boolean) : [process.execPath, BIN],
        workdir,
        logDir,
        partition: o.partition,
        gpusPerTask: o.gpusPerTask,
        memory: o.mem,
        time: o.time,
        maxRunning: o.maxRunning,
        writtenBy: invocation(argvOf()),
      });
      // Slurm does not make the log folder: a task whose --output folder is missing fails at once.
      await mkdir(logDir, { recursive: true });
      await writeOut(out, script);
      const merge = `pmoe merge ${shardFilesPattern(job)} --out ${mergedResultsPath(job)}`;
      print(
        o.json,
        { script: out, tasks: job.tasks, summary, logs: logDir, submit: `sbatch ${out}`, merge },
        [
          `wrote ${out}: ${summary}; logs in ${logDir}`,
          `submit:   sbatch ${shellWord(out)}`,
          `progress: pmoe status ${[`${workdir}/results`, ...(job.quick ? ['--quick'] : []), ...job.set.flatMap((pair) => ['--set', pair])].map(shellWord).join(' ')}`,
          `rerun unfinished tasks by index (they resume): sbatch --array=3,5 ${shellWord(out)}`,
          `when done, in ${workdir}: ${merge}`,
        ],
        warning,
      );
    });

  commonOptions(
    cluster.command('k8s').description('write a Kubernetes Indexed Job manifest: completion index i runs shard i+1 of the sweep'),
    '<experiment>[-quick].job.yaml',
  )
    .option('--image <image>', 'container image with pmoe installed', 'pmoe:latest')
    .option('--claim <name>', 'PersistentVolumeClaim mounted at <workdir>/results, where every pod writes its shard file', 'pmoe-results')
    .option('--workdir <dir>', 'folder the container runs in', '/work')
    .option('--pmoe <command>', 'how the image starts pmoe', 'pmoe')
    .option('--retries <n>', 'retries of a failed index (backoffLimitPerIndex)', parseWith(integer(0)), 2)
    .action(async (experiment: string, o: CommonOptions & { image: string; claim: string; workdir: string; pmoe: string; retries: number }) => {
      const out = o.out ?? `${experiment}${o.quick ? '-quick' : ''}.job.yaml`;
      checkTexts(
        argvOf(),
        { experiment, '--set': o.set, '--image': o.image, '--claim': o.claim, '--mem': o.mem, '--workdir': o.workdir, '--pmoe': o.pmoe, '--out': out },
        [],
      );
      // The container's working folder and the volume's mount point: Kubernetes takes absolute paths only.
      if (!isAbsolute(o.workdir))
        throw new OptionError(`--workdir: must be an absolute path in the container, such as /work (got ${JSON.stringify(o.workdir)})`);
      const job = sweepJob(experiment, o);
      const { summary, warning } = describeSplit(job);
      await checkOut(out);
      // Loaded when used: the YAML library is not needed by any other command.
      const { kubernetesJob } = await import('../cluster/k8s-job.js');
      await writeOut(
        out,
        kubernetesJob(job, {
          image: o.image,
          pmoe: o.pmoe.split(/\s+/).filter(Boolean),
          workdir: o.workdir,
          claim: o.claim,
          gpusPerTask: o.gpusPerTask,
          memory: o.mem,
          maxRunning: o.maxRunning,
          retries: o.retries,
          writtenBy: invocation(argvOf()),
        }),
      );
      print(
        o.json,
        { manifest: out, tasks: job.tasks, summary, apply: `kubectl apply -f ${out}` },
        [
          `wrote ${out}: ${summary}; image ${o.image}, results on claim ${o.claim}`,
          `apply:    kubectl apply -f ${shellWord(out)}`,
          `progress: kubectl get pods -l app=pmoe; then pmoe status on the claim's files`,
          `when done, with the claim's files in results/: pmoe merge ${shardFilesPattern(job)} --out ${mergedResultsPath(job)}`,
        ],
        warning,
      );
    });
  return cluster;
}
