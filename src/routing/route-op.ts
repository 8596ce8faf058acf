import * as tf from '@tensorflow/tfjs-core';
import { detach } from '../ops/detach.js';
import { output, values, type KernelArgs } from '../ops/kernel-io.js';
import { simdMatMul } from '../ops/rows-product.js';
import type { Floats, HostDispatch, HostRouter, HostScores, RouteMode, RouterInput, SparseDispatch, SparseLayout } from './router.js';

/**
 * One op for every sparse router's fast kernel (its HostRouter): scores [batch n, k] (row b n + j,
 * column s), and training noise [batch n, k] where the router draws it, give each expert's buffer
 * (rows int32 [k, places], -1 where empty), its gates [k, places] and its metrics [4] (the unweighted
 * auxiliary losses, then the dropped choices); the gradient reaches the scores through the gates and the auxiliary losses, by the
 * router's hand-derived backward. Runs on the backends whose tensors live in host memory (cpu,
 * wasm), where a router's few thousand numbers take plain loops well under a millisecond while
 * the tf formulation is a dozen ops each way. Each router's reference formulation stays beside
 * it; the tests hold the two together.
 */
export const ROUTE = 'PmoeRoute';
const ROUTE_GRAD = 'PmoeRouteGrad';
const BACKENDS = ['cpu', 'wasm'] as const;

/** The op's attributes. `router` keys a HostRouter registered by routeOp. */
export interface RouteAttrs {
  readonly router: string;
  readonly experts: number;
  readonly batch: number;
  readonly mode: RouteMode;
}

const hosts = new Map<string, HostRouter>();

function attrsOf(args: KernelArgs): RouteAttrs {
  return args.attrs as unknown as RouteAttrs;
}

function hostOf(attrs: RouteAttrs): HostRouter {
  const host = hosts.get(attrs.router);
  if (!host) throw new Error(`${ROUTE}: no router '${attrs.router}' is registered (routeOp registers it)`);
  return host;
}

function dispatchOf(host: HostRouter, attrs: RouteAttrs): HostDispatch {
  const places = host.places(attrs.batch, attrs.mode);
  return { places, rows: new Int32Array(attrs.experts * places), gates: new Float32Array(attrs.experts * places), dropped: 0, auxiliary: new Float64Array(3) };
}

/** The op's inputs, in order: scores, then the noise where the router draws it. */
function unpack(args: KernelArgs): { scores: tf.TensorInfo; noise?: tf.TensorInfo } {
  const [scores, noise] = args.inputs as unknown as tf.TensorInfo[];
  return { scores, noise };
}

function routeKernel(args: KernelArgs): tf.TensorInfo[] {
  const { scores, noise } = unpack(args);
  const attrs = attrsOf(args);
  const host = hostOf(attrs);
  const [rows, k] = scores.shape;
  const table: HostScores = { values: values(args.backend, scores) as Float32Array, rows, stride: k };
  const out = dispatchOf(host, attrs);
  host.forward(table, attrs.batch, attrs.mode, out, noise ? (values(args.backend, noise) as Float32Array) : undefined);
  return [
    output<Int32Array>(args.backend, [k, out.places], 'int32', (o) => o.set(out.rows)),
    output<Float32Array>(args.backend, [k, out.places], 'float32', (o) => o.set(out.gates)),
    output<Float32Array>(args.backend, [4], 'float32', (o) => o.set([...out.auxiliary, out.dropped])),
  ];
}

function routeGradKernel(args: KernelArgs): tf.TensorInfo {
  const { scores, rows, gates, dGates, dAuxiliary, noise } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const attrs = attrsOf(args);
  const host = hostOf(attrs);
  const [count, k] = scores!.shape;
  const table: HostScores = { values: values(args.backend, scores!) as Float32Array, rows: count, stride: k };
  const dispatch: HostDispatch = {
    places: rows!.shape[1],
    rows: values(args.backend, rows!) as Int32Array,
    gates: values(args.backend, gates!) as Float32Array,
    dropped: 0,
    auxiliary: new Float64Array(3),
  };
  const grad = new Float32Array(count * k);
  const noiseValues = noise ? (values(args.backend, noise) as Floats) : undefined;
  host.backward(table, attrs.batch, attrs.mode, dispatch, values(args.backend, dGates!) as Float32Array, values(args.backend, dAuxiliary!), grad, noiseValues);
  return output<Float32Array>(args.backend, [count, k], 'float32', (o) => o.set(grad));
}

const routeGradConfig: tf.GradConfig = {
  kernelName: ROUTE,
  saveAllInputs: true,
  outputsToSave: [true, true, false],
  gradFunc: (dy, saved, attrs) => {
    const [scores, noise] = saved;
    const [rows, gates] = saved.slice(-2);
    const dys = Array.isArray(dy) ? dy : [dy];
    const dGates = dys[1] ?? tf.zerosLike(gates);
    const dAuxiliary = dys[2] ?? tf.zeros([4]);
    const inputs: tf.NamedTensorMap = { scores, rows, gates, dGates, dAuxiliary };
    if (saved.length === 4) inputs.noise = noise;
    // The noise is data: its gradient is never used.
    const grads: Record<string, () => tf.Tensor> = { 0: () => tf.engine().runKernel(ROUTE_GRAD, inputs, attrs) as tf.Tensor };
    if (saved.length === 4) grads[1] = () => tf.zerosLike(noise);
    return grads;
  },
};

/** Registers the op's kernels on cpu and wasm and its gradient. Idempotent. */
export function registerRouteKernels(): void {
  for (const backendName of BACKENDS) {
    for (const [kernelName, kernelFunc] of [
      [ROUTE, routeKernel],
      [ROUTE_GRAD, routeGradKernel],
    ] as const) {
      if (tf.getKernel(kernelName, backendName) == null) tf.registerKernel({ kernelName, backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
    }
  }
  if (tf.getGradient(ROUTE) !== routeGradConfig) tf.registerGradient(routeGradConfig);
}

/** Whether the route op runs here: the backends whose tensors live in host memory. */
export function routeOpAvailable(): boolean {
  return (BACKENDS as readonly string[]).includes(tf.getBackend());
}

/**
 * A sparse router's fast path: the router product (SIMD on wasm), then its HostRouter in the route
 * op. `key` names the router (its configuration and shape); `layout` as SparseDispatch's.
 */
export function routeOp(host: HostRouter, key: string, input: RouterInput, experts: number, layout: SparseLayout): SparseDispatch {
  if (!hosts.has(key)) hosts.set(key, host);
  registerRouteKernels();
  return tf.tidy(() => {
    const scores = simdMatMul(input.patches, input.kernel);
    const attrs: RouteAttrs = { router: key, experts, batch: input.batch, mode: input.mode };
    const inputs = input.noise ? [scores, input.noise] : [scores];
    const [rows, gates, metrics] = tf.engine().runKernel(ROUTE, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    // Integers off the tape, as the reference leaves them.
    return { kind: 'sparse' as const, rows: detach(rows) as tf.Tensor2D, gates: gates as tf.Tensor2D, metrics: metrics as tf.Tensor1D, ...layout };
  });
}
