/**
 * A private single-node Slurm cluster for tests: munged on its own socket and key, slurmctld and
 * slurmd with their own slurm.conf (SLURM_CONF), free ports, state and logs, all in one temporary
 * folder. Nothing of the machine's own Slurm or munge configuration is read or changed.
 *
 * Plugins are the ones that need no cgroups or root-only set-up: proctrack/linuxproc (jobs are
 * tracked by process tree), task/none, select/cons_tres, no accounting.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism, hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const NODE = 'pmoe-node';
const DAEMONS = ['munged', 'mungekey', 'slurmctld', 'slurmd'] as const;
const CLIENTS = ['sbatch', 'squeue', 'scancel', 'scontrol', 'sinfo'] as const;

function which(program: string): string | undefined {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':')]) {
    const path = join(dir, program);
    if (spawnSync('test', ['-x', path]).status === 0) return path;
  }
  return undefined;
}

/** Why a cluster cannot start here (the programs it needs are missing), or undefined when it can. */
export function slurmUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `a private Slurm cluster needs Linux (this is ${process.platform})`;
  const missing = [...DAEMONS, ...CLIENTS].filter((program) => !which(program));
  return missing.length === 0 ? undefined : `${missing.join(', ')} not installed (Debian packages slurm-wlm and munge; .ci/run installs them)`;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface SlurmCluster {
  readonly dir: string;
  /** The environment client commands and jobs need (SLURM_CONF). */
  readonly env: NodeJS.ProcessEnv;
  /** Runs a Slurm client command against this cluster; its stdout. */
  command(program: (typeof CLIENTS)[number], ...args: string[]): Promise<string>;
  /** Waits until no job of `jobId` (every array task) is pending or running. */
  waitForJob(jobId: string, timeoutMs: number): Promise<void>;
  /** `scontrol show job` state of one job or array task: RUNNING, COMPLETED, CANCELLED, ... */
  jobState(jobId: string): Promise<string>;
  /** Cancels every job, stops the daemons and every process still running in `dir`, removes `dir`. */
  stop(): Promise<void>;
}

/**
 * Starts the cluster in `dir` (made if missing); stops what it started if it does not come up.
 * `cpus`: what the node offers (default the machine's cores); more than the machine has lets
 * that many one-CPU tasks run at once.
 */
export async function startSlurm(dir: string, options: { cpus?: number } = {}): Promise<SlurmCluster> {
  await mkdir(join(dir, 'state'), { recursive: true });
  await mkdir(join(dir, 'spool'), { recursive: true });
  await mkdir(join(dir, 'log'), { recursive: true });
  const user = userInfo().username;
  const isRoot = process.getuid?.() === 0;
  const socket = join(dir, 'munge.socket');
  const [controllerPort, nodePort] = [await freePort(), await freePort()];
  const conf = join(dir, 'slurm.conf');
  const cpus = options.cpus ?? availableParallelism();
  await writeFile(
    conf,
    [
      'ClusterName=pmoetest',
      `SlurmctldHost=${hostname()}(127.0.0.1)`,
      `SlurmctldPort=${controllerPort}`,
      `SlurmdPort=${nodePort}`,
      `SlurmUser=${user}`,
      `SlurmdUser=${user}`,
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      `StateSaveLocation=${join(dir, 'state')}`,
      `SlurmdSpoolDir=${join(dir, 'spool')}`,
      `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
      `SlurmctldLogFile=${join(dir, 'log', 'slurmctld.log')}`,
      `SlurmdLogFile=${join(dir, 'log', 'slurmd.log')}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'MpiDefault=none',
      'ReturnToService=2',
      // A cancelled task gets SIGTERM, then SIGKILL after this many seconds (default 30).
      'KillWait=2',
      // The node may offer more CPUs than the machine has (options.cpus).
      'SlurmdParameters=config_overrides',
      `NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=1000 State=UNKNOWN`,
      `PartitionName=test Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'),
  );
  const env: NodeJS.ProcessEnv = { ...process.env, SLURM_CONF: conf };
  // Settings of a surrounding Slurm job would leak into sbatch (e.g. SLURM_JOB_ID).
  for (const name of Object.keys(env)) if (name.startsWith('SLURM_') && name !== 'SLURM_CONF') delete env[name];
  const daemons: ChildProcess[] = [];
  const killDaemons = () => {
    for (const child of daemons) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  // A test process that dies before stop() still takes the daemons with it.
  process.once('exit', killDaemons);
  const daemon = (program: string, args: string[], log: string) => {
    const out = openSync(join(dir, 'log', log), 'a');
    try {
      daemons.push(spawn(program, args, { env, stdio: ['ignore', out, out] }));
    } finally {
      closeSync(out);
    }
  };

  const logs = async () => {
    const names = await readdir(join(dir, 'log')).catch(() => [] as string[]);
    const parts = await Promise.all(names.map(async (name) => `--- ${name}\n${(await readFile(join(dir, 'log', name), 'utf8').catch(() => '')).slice(-2000)}`));
    return parts.join('\n');
  };

  const command = async (program: string, ...args: string[]) => (await run(program, args, { env, timeout: 30_000 })).stdout;

  const stopDaemons = async () => {
    for (const child of [...daemons].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    process.off('exit', killDaemons);
  };

  /** Job processes (slurmstepd, the job's script and what it started) run in `dir` or below it. */
  const stopLeftovers = async () => {
    for (const entry of await readdir('/proc').catch(() => [] as string[])) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
      if (cwd === dir || cwd.startsWith(`${dir}/`)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  };

  const cluster: SlurmCluster = {
    dir,
    env,
    command,
    async waitForJob(jobId, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while ((await command('squeue', '-h', '-j', jobId, '-o', '%i %T')).trim() !== '') {
        if (Date.now() > deadline)
          throw new Error(`job ${jobId} did not finish in ${timeoutMs / 1000} s:\n${await command('squeue', '-j', jobId)}\n${await logs()}`);
        await sleep(250);
      }
    },
    async jobState(jobId) {
      const text = await command('scontrol', 'show', 'job', jobId);
      return /JobState=(\w+)/.exec(text)?.[1] ?? 'UNKNOWN';
    },
    async stop() {
      try {
        await command('scancel', '--user', user).catch(() => undefined);
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline && (await command('squeue', '-h').catch(() => '')).trim() !== '') await sleep(250);
      } finally {
        await stopDaemons();
        await stopLeftovers();
        await rm(dir, { recursive: true, force: true });
      }
    },
  };

  try {
    await run('mungekey', ['--create', '--keyfile', join(dir, 'munge.key')], { env });
    daemon(
      'munged',
      [
        '--foreground',
        ...(isRoot ? ['--force'] : []),
        `--socket=${socket}`,
        `--key-file=${join(dir, 'munge.key')}`,
        `--pid-file=${join(dir, 'munged.pid')}`,
        `--log-file=${join(dir, 'log', 'munged.log')}`,
        `--seed-file=${join(dir, 'munged.seed')}`,
      ],
      'munged.out',
    );
    const mungeDeadline = Date.now() + 10_000;
    while (!(await readdir(dir)).includes('munge.socket')) {
      if (Date.now() > mungeDeadline) throw new Error('munged did not create its socket in 10 s');
      await sleep(100);
    }
    daemon('slurmctld', ['-D'], 'slurmctld.out');
    daemon('slurmd', ['-D', '-N', NODE], 'slurmd.out');
    // Up when the node reports idle to the controller.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const state = await command('sinfo', '-h', '-n', NODE, '-o', '%t').catch(() => '');
      if (state.trim() === 'idle') break;
      const died = daemons.find((child) => child.exitCode !== null || child.signalCode !== null);
      if (died || state.trim() === 'inval' || Date.now() > deadline)
        throw new Error(`${died ? `${died.spawnfile} exited` : 'node not idle in 30 s'} (sinfo: '${state.trim()}')`);
      await sleep(200);
    }
    return cluster;
  } catch (error) {
    const detail = await logs();
    await cluster.stop().catch(() => undefined);
    throw new Error(`the test Slurm cluster did not start: ${(error as Error).message}\n${detail}`, { cause: error });
  }
}
