import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { integer, oneOf, parseOptions, real } from '../util/options.js';
import { initializerSettingSchema, makeInitializer, serializeInitializer, type Initializer, type InitializerSetting } from './initializer-setting.js';
import { GATE_MODES } from '../ops/gate.js';
import { patchGrid, patchify, unpatchify, type PatchGrid } from './patchify.js';
import { gatesForExperts, patchScores, route, type Routing } from './route.js';
import { gatherRows, placeRows } from '../ops/gather-rows.js';
import { tfSeed } from '../util/random.js';
import { expertChoice, expertChoiceAvailable } from '../ops/expert-choice.js';
import { expertOutputs, expertTargets, plainExpertOutputs } from '../ops/expert-outputs.js';
import { simdMatMul } from '../ops/rows-product.js';
import { concatRows, expandRows, expandRowsTensor, expertRowsTensor, patchRowsTensor, routingRows } from './routing-rows.js';
import { batchNormTraining } from '../ops/batch-norm-training.js';
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
    gate: oneOf(GATE_MODES).default('softmax-selected'),
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
 * as used in WRN-pMoE). The map is cut into n patches; each of k routers scores every patch and
 * takes its top l (expert choice). Sparse formulation (the default): each expert runs a convolution
 * on its l gathered patches only, scaled by the gate; outputs go back to their patches' places in
 * the expert's own channel slice, zeros where an expert took nothing. Official formulation: each
 * expert runs BN-ReLU-conv over the whole map, gated on its input (routing/formulation.ts).
 * Output [batch, H, W, k * filtersPerExpert], expert-major channels.
 */
export class PatchMoE extends tfl.layers.Layer {
  static readonly className = 'PatchMoE';
  readonly settings: PatchMoeSettings;
  private routerKernel?: LayerVariable;
  private expertKernels: LayerVariable[] = [];
  private expertBiases: LayerVariable[] = [];
  /** Official formulation: each expert's batch norm. */
  private expertNorms: ExpertNorm[] = [];
  private grid?: PatchGrid;
  private channels = 0;
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
    const patchValues = this.patch.height * this.patch.width * channels;
    if (this.routerKernel === undefined) {
      this.routerKernel = this.addWeight('router/kernel', [patchValues, experts], 'float32', this.initializer(this.settings.routerInitializer, 0));
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
          const norm = (name: string, initializer: Initializer, trainable: boolean) =>
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

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [shape[0], shape[1], shape[2], this.settings.experts * this.settings.filtersPerExpert];
  }

  /** `training: true` (as tfjs-layers' BatchNormalization): the official formulation's batch norms use and record batch statistics. */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown> = {}): tf.Tensor {
    return tf.tidy(() => {
      const input = Array.isArray(inputs) ? inputs[0] : inputs;
      const { output, routing } = this.settings.formulation === 'official' ? this.officialForward(input, kwargs['training'] === true) : this.forward(input);
      tf.dispose([routing.indices, routing.gates]);
      return output;
    });
  }

  /** The routing of a batch: chosen patch indices and gates per image and expert (patches in row-major grid order). */
  routing(inputs: tf.Tensor4D): Routing {
    return tf.tidy(() => this.route(inputs).routing);
  }

  /** The input's patches [batch, n, ph * pw * C] and their routing (the router product and top-l, no experts). */
  private route(input: tf.Tensor): { patches: tf.Tensor3D; routing: Routing } {
    if (!this.built || !this.grid || !this.routerKernel) this.build(input.shape);
    const grid = this.grid!;
    const { patchesPerExpert: l, gate } = this.settings;
    const batch = input.shape[0];
    const n = grid.rows * grid.cols;
    const patches = patchify(input as tf.Tensor4D, this.patch);
    const router = this.routerKernel!.read() as tf.Tensor2D;
    const routing = expertChoiceAvailable()
      ? expertChoice(simdMatMul(tf.reshape(patches, [batch * n, patches.shape[2]]) as tf.Tensor2D, router), n, l, gate)
      : route(patchScores(patches, router), l, gate);
    return { patches, routing };
  }

  private forward(input: tf.Tensor): { output: tf.Tensor4D; routing: Routing } {
    return tf.tidy(() => {
      const { patches, routing } = this.route(input);
      const grid = this.grid!;
      const { experts: k, patchesPerExpert: l, filtersPerExpert: f, kernelSize, gate } = this.settings;
      const { height: ph, width: pw } = this.patch;
      const batch = input.shape[0];
      const n = grid.rows * grid.cols;
      const pixels = ph * pw;
      const biases = this.expertBiases.map((b) => b.read() as tf.Tensor1D);
      const onHost = this.rowLists === 'loops' || (this.rowLists === 'auto' && HOST_MEMORY_BACKENDS.includes(tf.getBackend()));
      // The chosen indices are integers off the gradient tape; where tensors live in host memory,
      // reading them is a view, and plain loops build the row lists that tensor index arithmetic
      // built slowly on wasm. Elsewhere the read would wait for the device on every call.
      const indices = onHost ? (routing.indices.dataSync() as Int32Array) : undefined;
      const patchRows = indices ? undefined : patchRowsTensor(routing.indices, n);
      if (kernelSize === 1) {
        // A 1x1 expert is a product of its chosen pixels' channels with [C, f]; on pixel rows
        // [batch * n * pixels, C], each expert's output row is its input row, in its own channels.
        const rows = tf.reshape(patches, [batch * n * pixels, this.channels]) as tf.Tensor2D;
        let gates = gate === 'hard' ? tf.ones([k, batch * l, 1]) : gatesForExperts(routing.gates);
        if (pixels > 1) gates = tf.tile(gates, [1, 1, pixels]);
        const gateRows = tf.reshape(gates, [k, batch * l * pixels]) as tf.Tensor2D;
        const kernels = this.expertKernels.map((w) => tf.reshape(w.read(), [this.channels, f]) as tf.Tensor2D);
        let placed: tf.Tensor2D;
        if (indices) {
          const expertRows = routingRows(indices, batch, k, l, n);
          const pixelRows = concatRows(expertRows.map((expertRow) => (pixels === 1 ? expertRow : expandRows(expertRow, pixels))));
          placed = expertOutputs(rows, pixelRows, gateRows, kernels, biases);
        } else {
          const pixelRows = pixels === 1 ? patchRows! : expandRowsTensor(patchRows!, pixels);
          placed = plainExpertOutputs(rows, expertRowsTensor(pixelRows), gateRows, kernels, biases);
        }
        // [batch * n * pixels, k * f] is [batch, n, ph, pw, k, f]: expert-major channels inside each pixel.
        const output = unpatchify(tf.reshape(placed, [batch, n, pixels * k * f]) as tf.Tensor3D, grid, k * f);
        return { output, routing };
      }
      const expertRows = indices ? routingRows(indices, batch, k, l, n).map((expertRow) => tf.tensor1d(expertRow, 'int32')) : expertRowsTensor(patchRows!);
      const rows = tf.reshape(patches, [batch * n, pixels * this.channels]) as tf.Tensor2D;
      const perExpert = expertRows.map((expertRow, s) => {
        // One mini-image per gathered patch.
        const images = tf.reshape(gatherRows(rows, expertRow), [batch * l, ph, pw, this.channels]) as tf.Tensor4D;
        const y = tf.fused.conv2d({ x: images, filter: this.expertKernels[s].read() as tf.Tensor4D, strides: 1, pad: 'same', bias: biases[s] });
        return tf.reshape(y, [batch * l, pixels * f]);
      });
      let outputs = tf.stack(perExpert) as tf.Tensor3D; // [k, batch * l, ph * pw * f]
      if (gate !== 'hard') outputs = tf.mul(outputs, gatesForExperts(routing.gates));
      // Back to the patches' places, zeros where an expert took no patch: [batch * n * k, ph * pw * f].
      const placed = placeRows(tf.reshape(outputs, [k * batch * l, ph * pw * f]) as tf.Tensor2D, expertTargets(expertRows), batch * n * k);
      // Expert-major channels inside each pixel of the patch.
      const channelsLast = tf.transpose(tf.reshape(placed, [batch, n, k, ph, pw, f]), [0, 1, 3, 4, 2, 5]);
      const output = unpatchify(tf.reshape(channelsLast, [batch, n, ph * pw * k * f]) as tf.Tensor3D, grid, k * f);
      return { output, routing };
    });
  }

  /**
   * The official formulation: expert s gets the map times its gate map (each chosen patch's gate
   * tiled over the patch, zero elsewhere), then BN_s, ReLU and its conv over the whole map.
   */
  private officialForward(input: tf.Tensor, training: boolean): { output: tf.Tensor4D; routing: Routing } {
    return tf.tidy(() => {
      const { routing } = this.route(input);
      const grid = this.grid!;
      const { experts: k, patchesPerExpert: l } = this.settings;
      const { height: ph, width: pw } = this.patch;
      const [batch, height, width] = input.shape;
      const n = grid.rows * grid.cols;
      // [batch * k, 1, n]: the l gates scattered to their patches (a product with the chosen patches' one-hot rows).
      const chosen = tf.reshape(tf.oneHot(tf.reshape(routing.indices, [batch * k * l]), n), [batch * k, l, n]);
      const scattered = tf.matMul(tf.reshape(routing.gates, [batch * k, 1, l]), chosen);
      // Tiled over each patch's pixels (rank 4: tfjs has the tile gradient up to rank 4 only).
      let gateMap = tf.reshape(scattered, [batch * k * grid.rows, 1, grid.cols, 1]);
      if (ph * pw > 1) gateMap = tf.tile(gateMap, [1, ph, 1, pw]);
      const perExpert = tf.split(tf.transpose(tf.reshape(gateMap, [batch, k, height, width]), [0, 2, 3, 1]), k, 3);
      const outputs = perExpert.map((gates, s) => {
        const normalised = this.expertNorm(s, tf.mul(input, gates), training);
        const filter = this.expertKernels[s].read() as tf.Tensor4D;
        return tf.fused.conv2d({ x: tf.relu(normalised) as tf.Tensor4D, filter, strides: 1, pad: 'same', bias: this.expertBiases[s]?.read() });
      });
      return { output: tf.concat(outputs, 3) as tf.Tensor4D, routing };
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
