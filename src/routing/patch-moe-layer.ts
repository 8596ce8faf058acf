import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { integer, oneOf, parseOptions, real } from '../util/options.js';
import { initializerSettingSchema, makeInitializer, serializeInitializer, type InitializerSetting } from './initializer-setting.js';
import { GATE_MODES } from './gate.js';
import { patchGrid, patchify, unpatchify, type PatchGrid } from './patchify.js';
import type { Routing } from './route.js';
import { createRng, tfSeed, type Rng } from '../util/random.js';
import { batchNormTraining } from '../ops/batch-norm-training.js';
import { createRouter, DEFAULT_ROUTER_CONFIG, routerSettingSchema } from './registry.js';
import type { Dispatch, RouteMode, Router, SparseDispatch } from './router.js';
import { routingView } from './dispatch.js';
import { routeOpAvailable } from './route-op.js';
import { tidy } from './tidy.js';
import { combineRows, COMBINES, softExperts, sparseExperts, takenPatches, UNTAKEN, type ExpertWeights, type PatchShape } from './patch-experts.js';
import { movingAverage } from '../ops/moving-average.js';
import { FORMULATIONS } from './formulation.js';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
type LayerVariable = tfl.LayerVariable;

export { PATCH_MOE_INITIALIZERS } from './initializer-setting.js';

const patchMoeSchema = z
  .object({
    /** Patch height and width on the feature map: a number for square patches or [height, width]. */
    patchSize: z.union([integer(1), z.tuple([integer(1), integer(1)])]),
    /** k. */
    experts: integer(1),
    /** l: patches each expert takes per image. */
    patchesPerExpert: integer(1),
    /** Output channels of each expert; the layer outputs experts * filtersPerExpert channels. */
    filtersPerExpert: integer(1),
    /** Side of each expert's square convolution kernel, 'same' padding: inside each patch (sparse) or over the whole map (official). */
    kernelSize: integer(1).default(1),
    /** How the MoE is computed (routing/formulation.ts): pmoe's sparse one or the official code's dense one. */
    formulation: oneOf(FORMULATIONS).default('sparse'),
    /** Official formulation: the momentum and epsilon of each expert's batch norm (Keras's defaults, as the official code). */
    batchNormMomentum: real(0, 1, { exclusiveMax: true }).default(0.99),
    batchNormEpsilon: real(0, Infinity, { exclusiveMin: true }).default(1e-3),
    /** The paper's router's gate mode (other routers gate by their own rule). */
    gate: oneOf(GATE_MODES).default('softmax-selected'),
    /** A router name or { name, ...options } (routing/registry.ts); unset: the paper's expert choice per image. */
    router: routerSettingSchema.optional(),
    /** How experts' outputs come back (routing/patch-experts.ts): 'concat' (unset: the paper's channel blocks) or 'sum' (width f). */
    combine: oneOf(COMBINES).optional(),
    /** A patch no expert took: 'zero' (unset) or 'pass' (its input unchanged; the output must be as wide as the input). */
    untaken: oneOf(UNTAKEN).optional(),
    useBias: z.boolean().default(true),
    /** Each expert's kernel: an Initializer, a name or tfjs's serialised form; each expert gets its own instance (and seed), so experts differ. */
    kernelInitializer: initializerSettingSchema.default('heNormal'),
    routerInitializer: initializerSettingSchema.default('glorotUniform'),
    /** Seeds the initialisers; without it they draw fresh random weights. */
    seed: integer(0).optional(),
  })
  .strict();

export type PatchMoeOptions = z.input<typeof patchMoeSchema>;
type PatchMoeSettings = z.output<typeof patchMoeSchema>;
export type PatchMoeLayerArgs = PatchMoeOptions & Omit<LayerArgs, keyof PatchMoeOptions>;

const SETTING_KEYS = Object.keys(patchMoeSchema.shape) as (keyof PatchMoeSettings)[];

/**
 * How call() builds its row lists from the chosen indices: `loops` reads them to the host, `tensors`
 * computes them with int32 tensor ops, `auto` takes loops on the backends that hold tensors in host
 * memory (cpu, wasm) and tensors elsewhere (webgpu, or any backend pmoe does not know).
 */
export type RowLists = 'auto' | 'loops' | 'tensors';
const HOST_MEMORY_BACKENDS = ['cpu', 'wasm'];

/**
 * A patch-level mixture of experts over a feature map [batch, H, W, C] (the paper's pMoE layer,
 * as used in WRN-pMoE). The map is cut into n patches; the router (`router`, by default the
 * paper's: each of k routers scores every patch and takes its top l) fills each expert's buffer.
 * Sparse formulation (the default): each expert runs a convolution on its buffer's patches only,
 * scaled by the gate; outputs go back to their patches' places (`combine`: in the expert's own
 * channel slice, or summed), zeros where no expert took the patch (`untaken`). Soft MoE's slots
 * mix patches instead. Official formulation: each expert runs BN-ReLU-conv over the whole map,
 * gated on its input (routing/formulation.ts; the paper's routing and 'concat' only).
 * Output [batch, H, W, k * filtersPerExpert] (concat, expert-major channels) or [batch, H, W, filtersPerExpert] (sum).
 * In training (`training: true`), a router with auxiliary losses adds them to the layer's losses
 * (tfjs-layers adds those to the loss it minimises), and a noisy router draws its noise.
 */
export class PatchMoE extends tfl.layers.Layer {
  static readonly className = 'PatchMoE';
  readonly settings: PatchMoeSettings;
  private routerKernel?: LayerVariable;
  private expertKernels: LayerVariable[] = [];
  private expertBiases: LayerVariable[] = [];
  /** Official formulation: each expert's batch norm. */
  private expertNorms: ExpertNorm[] = [];
  /** The router's other weights (Soft MoE's scale), by name. */
  private routerWeights: Record<string, LayerVariable> = {};
  private grid?: PatchGrid;
  /** [height, width, channels] of the feature map the layer was built for. */
  private mapShape?: [number, number, number];
  private channels = 0;
  private router?: Router;
  private noise?: Rng;
  /** The weighted auxiliary loss of the last training call (a layer loss; see the class comment). */
  private auxiliaryLoss?: tf.Scalar;
  /** Not a setting (not saved): lets tests build the row lists either way on any backend. */
  rowLists: RowLists = 'auto';

  constructor(args: PatchMoeLayerArgs) {
    const settings: Record<string, unknown> = {};
    // tfjs would name it patch_mo_e_PatchMoE1 (its snake case of the class name, then a uid).
    const base: Record<string, unknown> = { name: `patch_moe_${++layerCount}` };
    for (const [key, value] of Object.entries(args)) {
      if ((SETTING_KEYS as string[]).includes(key)) settings[key] = value;
      else base[key] = value;
    }
    super(base as LayerArgs);
    this.settings = parseOptions(patchMoeSchema, settings, 'PatchMoE');
  }

  private get patch() {
    const size = this.settings.patchSize;
    return typeof size === 'number' ? { height: size, width: size } : { height: size[0], width: size[1] };
  }

  private initializer(setting: InitializerSetting, offset: number) {
    const seed = this.settings.seed === undefined ? undefined : tfSeed(this.settings.seed + offset);
    return makeInitializer(setting, seed, offset);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    if (shape.length !== 4 || shape.slice(1).some((v) => v == null)) {
      throw new RangeError(`PatchMoE input must be [batch, height, width, channels] with known sizes; got [${shape.join(', ')}]`);
    }
    const [, height, width, channels] = shape as number[];
    this.grid = patchGrid(height, width, this.patch);
    const n = this.grid.rows * this.grid.cols;
    const { experts, patchesPerExpert, filtersPerExpert, kernelSize, useBias } = this.settings;
    if (patchesPerExpert > n) {
      throw new RangeError(`PatchMoE.patchesPerExpert must be an integer in 1..${n} (l <= n, the number of patches); got ${patchesPerExpert}`);
    }
    this.channels = channels;
    this.mapShape = [height, width, channels];
    const patchValues = this.patch.height * this.patch.width * channels;
    const router = (this.router = createRouter(this.settings.router ?? DEFAULT_ROUTER_CONFIG, { patches: n, experts, patchesPerExpert }, this.settings.gate));
    this.checkCombination(router, channels);
    if (this.routerKernel === undefined) {
      this.routerKernel = this.addWeight('router/kernel', [patchValues, router.scoreColumns], 'float32', this.initializer(this.settings.routerInitializer, 0));
      for (const [name, spec] of Object.entries(router.extraWeights)) {
        this.routerWeights[name] = this.addWeight(`router/${name}`, [...spec.shape], 'float32', tfl.initializers.constant({ value: spec.initialValue }));
      }
      const { importance, load, zLoss } = router.auxiliaryWeights;
      if (importance > 0 || load > 0 || zLoss > 0) this.addLoss(() => this.auxiliaryLoss ?? tf.scalar(0));
      this.noise = createRng(`patch-moe:${this.settings.seed ?? Math.random()}:noise`);
      for (let s = 0; s < experts; s++) {
        this.expertKernels.push(
          this.addWeight(
            `expert${s}/kernel`,
            [kernelSize, kernelSize, channels, filtersPerExpert],
            'float32',
            this.initializer(this.settings.kernelInitializer, 1 + s),
          ),
        );
        if (useBias) this.expertBiases.push(this.addWeight(`expert${s}/bias`, [filtersPerExpert], 'float32', tfl.initializers.zeros()));
        if (this.settings.formulation === 'official') {
          const norm = (name: string, initializer: ReturnType<typeof tfl.initializers.ones>, trainable: boolean) =>
            this.addWeight(`expert${s}_bn/${name}`, [channels], 'float32', initializer, undefined, trainable);
          this.expertNorms.push({
            gamma: norm('gamma', tfl.initializers.ones(), true),
            beta: norm('beta', tfl.initializers.zeros(), true),
            movingMean: norm('moving_mean', tfl.initializers.zeros(), false),
            movingVariance: norm('moving_variance', tfl.initializers.ones(), false),
          });
        }
      }
    }
    this.built = true;
  }

  /** The combinations of settings that have no meaning, refused with what would do. */
  private checkCombination(router: Router, channels: number): void {
    const { formulation, combine = 'concat', untaken = 'zero', experts, filtersPerExpert } = this.settings;
    if (formulation === 'official' && (router.host === undefined || combine !== 'concat' || untaken !== 'zero')) {
      throw new RangeError(
        `PatchMoE: the official formulation gates each expert's input by its chosen patches: it takes a sparse router, combine 'concat' and untaken 'zero'`,
      );
    }
    const width = combine === 'concat' ? experts * filtersPerExpert : filtersPerExpert;
    if (untaken === 'pass' && width !== channels) {
      throw new RangeError(
        `PatchMoE.untaken 'pass' hands an untaken patch on unchanged, so the output must be as wide as the input (${channels} channels); it is ${width} (combine '${combine}')`,
      );
    }
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const { combine = 'concat', experts, filtersPerExpert } = this.settings;
    return [shape[0], shape[1], shape[2], combine === 'concat' ? experts * filtersPerExpert : filtersPerExpert];
  }

  /**
   * `training: true` (as tfjs-layers' BatchNormalization): the official formulation's batch norms use
   * and record batch statistics, and the router routes as in training (noise, training capacity).
   */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown> = {}): tf.Tensor {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const training = kwargs['training'] === true;
    const { output, dispatch } = tidy(() => {
      const routed = this.route(input, training ? 'train' : 'eval');
      const result =
        this.settings.formulation === 'official' ? this.officialForward(input, routed.dispatch as SparseDispatch, training) : this.forward(input, routed);
      return { output: result, dispatch: routed.dispatch };
    });
    this.keepAuxiliaryLoss(training ? dispatch.metrics : undefined);
    tf.dispose(Object.values(dispatch).filter((v): v is tf.Tensor => v instanceof tf.Tensor));
    return output;
  }

  /** Keeps the weighted auxiliary loss of a training call for the layer's losses (the last one's). */
  private keepAuxiliaryLoss(metrics: tf.Tensor1D | undefined): void {
    const { importance, load, zLoss } = this.router!.auxiliaryWeights;
    if (importance === 0 && load === 0 && zLoss === 0) return;
    this.auxiliaryLoss?.dispose();
    this.auxiliaryLoss = metrics
      ? tf.keep(tf.tidy(() => tf.sum(tf.mul(tf.slice(metrics, [0], [3]), tf.tensor1d([importance, load, zLoss]))) as tf.Scalar))
      : undefined;
  }

  /** The routing of a batch, image by image (routing/dispatch.ts routingView; patches in row-major grid order). */
  routing(inputs: tf.Tensor4D): Routing {
    return tf.tidy(() => {
      const { dispatch } = this.route(inputs, 'eval', 'routing');
      return routingView(dispatch, inputs.shape[0], this.grid!.rows * this.grid!.cols);
    });
  }

  /** The input's patches [batch, n, ph * pw * C] and the router's dispatch of them (no experts). */
  private route(input: tf.Tensor, mode: RouteMode, caller = 'call'): { patches: tf.Tensor3D; dispatch: Dispatch } {
    if (!this.built || !this.grid || !this.routerKernel) this.build(input.shape);
    const expected = this.mapShape!;
    if (input.rank !== 4 || input.shape.slice(1).some((size, axis) => size !== expected[axis])) {
      throw new RangeError(
        `PatchMoE.${caller}: input must be a feature map [batch, ${expected.join(', ')}] ([batch, height, width, channels], the shape the layer was built for); got [${input.shape.join(', ')}]`,
      );
    }
    const grid = this.grid!;
    const router = this.router!;
    const batch = input.shape[0];
    const n = grid.rows * grid.cols;
    const patches = patchify(input as tf.Tensor4D, this.patch);
    // tf.topk has no gradient in TensorFlow.js: without pmoe's kernels, training would fail deep in the tape.
    if (!router.soft && !routeOpAvailable() && tf.engine().state.gradientDepth > 0 && tf.getGradient('TopK') == null) {
      throw new Error(
        "PatchMoE: training needs pmoe's kernels (TensorFlow.js has no TopK gradient): call `await initEngine()` (or `await useFastKernels()`) from 'pmoe' once before training",
      );
    }
    const k = this.settings.experts;
    const noise = mode === 'train' && router.drawsNoise ? Float32Array.from({ length: batch * n * k }, () => this.noise!.normal()) : undefined;
    const dispatch = router.route({
      patches: tf.reshape(patches, [batch * n, patches.shape[2]]) as tf.Tensor2D,
      kernel: this.routerKernel!.read() as tf.Tensor2D,
      weights: Object.fromEntries(Object.entries(this.routerWeights).map(([name, w]) => [name, w.read()])),
      batch,
      mode,
      ...(noise ? { noise: tf.tensor2d(noise, [batch * n, k]) } : {}),
    });
    return { patches, dispatch };
  }

  private forward(input: tf.Tensor, { patches, dispatch }: { patches: tf.Tensor3D; dispatch: Dispatch }): tf.Tensor4D {
    return tf.tidy(() => {
      const grid = this.grid!;
      const { experts: k, filtersPerExpert: f, kernelSize, combine = 'concat', untaken = 'zero' } = this.settings;
      const { height: ph, width: pw } = this.patch;
      const batch = input.shape[0];
      const n = grid.rows * grid.cols;
      const pixels = ph * pw;
      const shape: PatchShape = { batch, patches: n, height: ph, width: pw, channels: this.channels, filters: f, kernelSize };
      const weights: ExpertWeights = {
        kernels: this.expertKernels.map((w) => w.read() as tf.Tensor4D),
        biases: this.expertBiases.map((b) => b.read() as tf.Tensor1D),
      };
      const rows = tf.reshape(patches, [batch * n, pixels * this.channels]) as tf.Tensor2D;
      let placed: tf.Tensor2D;
      if (dispatch.kind === 'soft') placed = softExperts(dispatch, rows, shape, weights);
      else {
        const onHost = this.rowLists === 'loops' || (this.rowLists === 'auto' && HOST_MEMORY_BACKENDS.includes(tf.getBackend()));
        // The rows are integers off the gradient tape; where tensors live in host memory, reading
        // them is a view, and plain loops build the row lists that tensor index arithmetic built
        // slowly on wasm. Elsewhere the read would wait for the device on every call.
        placed = sparseExperts(dispatch, rows, shape, weights, onHost ? (dispatch.rows.dataSync() as Int32Array) : undefined);
      }
      let combined = combineRows(placed, combine, k, pixels, f);
      if (untaken === 'pass' && dispatch.kind === 'sparse' && !dispatch.full) {
        const taken = takenPatches(dispatch, batch * n);
        combined = tf.add(combined, tf.mul(rows, tf.sub(1, taken))) as tf.Tensor2D;
      }
      // [batch n, pixels width] is [batch, n, ph, pw, width]: channels inside each pixel.
      const width = combined.shape[1] / pixels;
      return unpatchify(tf.reshape(combined, [batch, n, pixels * width]) as tf.Tensor3D, grid, width);
    });
  }

  /**
   * The official formulation: expert s gets the map times its gate map (each chosen patch's gate
   * tiled over the patch, zero elsewhere), then BN_s, ReLU and its conv over the whole map.
   */
  private officialForward(input: tf.Tensor, dispatch: SparseDispatch, training: boolean): tf.Tensor4D {
    return tf.tidy(() => {
      const grid = this.grid!;
      const k = this.settings.experts;
      const { height: ph, width: pw } = this.patch;
      const [batch, height, width] = input.shape;
      const n = grid.rows * grid.cols;
      const [, places] = dispatch.rows.shape;
      // [k, batch n]: each place's gate at its patch (an expert's places hold distinct patches, so each
      // sum has one term; an empty place adds its gate 0 to patch 0).
      const rows = tf.maximum(tf.reshape(dispatch.rows, [k * places]), tf.scalar(0, 'int32'));
      const segments = tf.add(rows, tf.reshape(tf.tile(tf.reshape(tf.range(0, k * batch * n, batch * n, 'int32'), [k, 1]), [1, places]), [k * places]));
      const scattered = tf.unsortedSegmentSum(tf.reshape(dispatch.gates, [k * places]), segments as tf.Tensor1D, k * batch * n);
      // Tiled over each patch's pixels (rank 4: tfjs has the tile gradient up to rank 4 only).
      let gateMap = tf.reshape(tf.transpose(tf.reshape(scattered, [k, batch, n]), [1, 0, 2]), [batch * k * grid.rows, 1, grid.cols, 1]);
      if (ph * pw > 1) gateMap = tf.tile(gateMap, [1, ph, 1, pw]);
      const perExpert = tf.split(tf.transpose(tf.reshape(gateMap, [batch, k, height, width]), [0, 2, 3, 1]), k, 3);
      const outputs = perExpert.map((gates, s) => {
        const normalised = this.expertNorm(s, tf.mul(input, gates), training);
        const filter = this.expertKernels[s].read() as tf.Tensor4D;
        return tf.fused.conv2d({ x: tf.relu(normalised) as tf.Tensor4D, filter, strides: 1, pad: 'same', bias: this.expertBiases[s]?.read() });
      });
      return tf.concat(outputs, 3) as tf.Tensor4D;
    });
  }

  /** Expert s's batch norm, as tfjs-layers' BatchNormalization: batch statistics and moving averages when training, moving statistics otherwise. */
  private expertNorm(s: number, x: tf.Tensor, training: boolean): tf.Tensor {
    const { gamma, beta, movingMean, movingVariance } = this.expertNorms[s];
    const { batchNormMomentum: momentum, batchNormEpsilon: epsilon } = this.settings;
    const [scale, offset] = [gamma.read() as tf.Tensor1D, beta.read() as tf.Tensor1D];
    if (!training) return tf.batchNorm(x, movingMean.read(), movingVariance.read(), offset, scale, epsilon);
    const [y, mean, variance] = batchNormTraining(x, scale, offset, epsilon);
    for (const [variable, value] of [
      [movingMean, mean],
      [movingVariance, variance],
    ] as const) {
      tf.tidy(() => {
        variable.write(movingAverage(variable.read(), value, momentum));
      });
    }
    return y;
  }

  override dispose(): ReturnType<tfl.layers.Layer['dispose']> {
    this.auxiliaryLoss?.dispose();
    this.auxiliaryLoss = undefined;
    return super.dispose();
  }

  override getConfig(): tf.serialization.ConfigDict {
    const settings = Object.fromEntries(Object.entries(this.settings).filter(([, value]) => value !== undefined));
    return {
      ...super.getConfig(),
      ...(settings as tf.serialization.ConfigDict),
      // As tfjs layers write theirs: { className, config }.
      kernelInitializer: serializeInitializer(this.settings.kernelInitializer) as unknown as tf.serialization.ConfigDict,
      routerInitializer: serializeInitializer(this.settings.routerInitializer) as unknown as tf.serialization.ConfigDict,
    };
  }
}
tf.serialization.registerClass(PatchMoE);

let layerCount = 0;

interface ExpertNorm {
  readonly gamma: LayerVariable;
  readonly beta: LayerVariable;
  readonly movingMean: LayerVariable;
  readonly movingVariance: LayerVariable;
}

/** A PatchMoE layer, as tf.layers.dense makes a Dense one. */
export function patchMoE(args: PatchMoeLayerArgs): PatchMoE {
  return new PatchMoE(args);
}
