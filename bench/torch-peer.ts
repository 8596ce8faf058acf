import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Debian's python3, the one that sees `apt-get install python3-torch` (not a pyenv shim). */
export const DEFAULT_PYTHON = '/usr/bin/python3';

/**
 * PyTorch's intra-op threads: both cores of the reference machine. On a machine shared with other
 * work, 2 threads can be many times slower than 1 (a thread waits at each parallel region's barrier
 * for a descheduled sibling); --torch-threads 1 shows that.
 */
export const DEFAULT_TORCH_THREADS = 2;

/** bench/reference/peer.py, found from dist/bench/ (compiled) or bench/ (sources). */
export const PEER_SCRIPT = fileURLToPath(new URL('../../bench/reference/peer.py', import.meta.url));

export const INSTALL_HINT =
  'PyTorch is the reference peer: install it with `apt-get install python3-torch` and run it with ' +
  `Debian's ${DEFAULT_PYTHON} (the default here; --python PATH picks another interpreter that can import torch).`;

export interface PeerInfo {
  readonly torch: string;
  readonly threads: number;
  readonly python: string;
  /** The BLAS torch was built with (its BLAS_INFO): 'generic' is a plain loop, Debian's build. */
  readonly blas: string;
  /** Where the peer computes: 'cpu', or the CUDA device's name. */
  readonly device: string;
}

/** The peer's device: the CPU (default), or a CUDA GPU (needs a torch >= 2.0 built with CUDA). */
export type TorchDevice = 'cpu' | 'cuda';

type Reply = { ok: boolean; error?: string; noTorch?: boolean } & Record<string, unknown>;

/**
 * The PyTorch side of the benchmark: one long-lived python process (bench/reference/peer.py),
 * one JSON object per line each way. Its start-up, imports and transfers happen outside any timing;
 * it times its own steps and sends the times back.
 */
export class TorchPeer {
  private readonly lines: Interface;
  private readonly waiting: { resolve: (reply: Reply) => void; reject: (error: Error) => void }[] = [];
  private exited: Error | undefined;
  private stderrTail = '';

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
    this.lines.on('line', (line) => {
      const next = this.waiting.shift();
      if (!next) return;
      try {
        next.resolve(JSON.parse(line) as Reply);
      } catch {
        next.reject(new Error(`PyTorch peer sent a line that is not JSON: ${line.slice(0, 200)}`));
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-2000);
    });
    const fail = (error: Error) => {
      this.exited ??= error;
      for (const pending of this.waiting.splice(0)) pending.reject(this.exited);
    };
    child.on('error', (error) => fail(error));
    child.on('close', (code, signal) => {
      const tail = this.stderrTail.trim();
      fail(new Error(`PyTorch peer exited (${signal ?? `code ${code}`})${tail ? `: ${tail}` : ''}`));
    });
    child.stdin.on('error', () => undefined); // a dead peer is reported through 'close'
  }

  /** Starts the peer; resolves to the peer, or to the reason there is none (no python, no torch). */
  static async start(
    python = DEFAULT_PYTHON,
    threads = DEFAULT_TORCH_THREADS,
    device: TorchDevice = 'cpu',
  ): Promise<{ peer: TorchPeer; info: PeerInfo } | { reason: string }> {
    const child = spawn(python, [PEER_SCRIPT], {
      stdio: ['pipe', 'pipe', 'pipe'],
      // OpenMP threads that spin after PyTorch's block of steps would take the cores from pmoe's
      // next block: measured pmoe case d 129 ms with spinning, 95 ms passive; PyTorch's own step
      // unchanged (47.6 and 46.5 ms).
      env: { OMP_WAIT_POLICY: 'PASSIVE', ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
    });
    const peer = new TorchPeer(child);
    try {
      const info = await peer.request({ cmd: 'hello', threads, device });
      return {
        peer,
        info: { torch: String(info.torch), threads: Number(info.threads), python: String(info.python), blas: String(info.blas), device: String(info.device) },
      };
    } catch (error) {
      peer.kill();
      const message = error instanceof Error ? error.message : String(error);
      return { reason: message.includes('ENOENT') ? `${python} not found` : message };
    }
  }

  /** Sends one request and waits for its answer; rejects on {ok: false} or when the peer dies. */
  request(message: Record<string, unknown>): Promise<Reply> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise<Reply>((resolve, reject) => {
      this.waiting.push({
        resolve: (reply) => (reply.ok ? resolve(reply) : reject(new Error(reply.error ?? 'PyTorch peer failed'))),
        reject,
      });
      this.child.stdin.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** The peer's CPU time so far (seconds, all its threads). */
  async cpuSeconds(): Promise<number> {
    return Number((await this.request({ cmd: 'cpu' })).seconds);
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const exit = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    await this.request({ cmd: 'quit' }).catch(() => undefined);
    this.child.stdin.end();
    const timer = setTimeout(() => this.kill(), 5000);
    await exit;
    clearTimeout(timer);
    this.lines.close();
  }

  private kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill();
  }
}
