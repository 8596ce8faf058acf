import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { integer, oneOf, parseOptions } from '../util/options.js';
import { GATE_MODES } from './gate.js';
import { patchGrid, patchify, unpatchify, type PatchGrid } from './patchify.js';
import { gatherForExperts, gatesForExperts, patchScores, route, type Routing } from './route.js';
import { gatherRows } from '../engine/gather-rows.js';
import { tfSeed } from '../engine/random.js';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
type LayerVariable = tfl.LayerVariable;

/** Initialisers a PatchMoE accepts; each expert gets its own instance (and seed), so experts differ. */
export const PATCH_MOE_INITIALIZERS = ['glorotUniform', 'glorotNormal', 'heNormal', 'heUniform', 'leCunNormal', 'leCunUniform'] as const;

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
    /** Side of each expert's square convolution kernel, applied inside the patch with 'same' padding. */
    kernelSize: integer(1).default(1),
    gate: oneOf(GATE_MODES).default('softmax-selected'),
    useBias: z.boolean().default(true),
    kernelInitializer: oneOf(PATCH_MOE_INITIALIZERS).default('heNormal'),
    routerInitializer: oneOf(PATCH_MOE_INITIALIZERS).default('glorotUniform'),
    /** Seeds the initialisers; without it they draw fresh random weights. */
    seed: integer(0).optional(),
  })
  .strict();

export type PatchMoeOptions = z.input<typeof patchMoeSchema>;
type PatchMoeSettings = z.output<typeof patchMoeSchema>;
export type PatchMoeLayerArgs = PatchMoeOptions & Omit<LayerArgs, keyof PatchMoeOptions>;

const SETTING_KEYS = Object.keys(patchMoeSchema.shape) as (keyof PatchMoeSettings)[];

/**
 * A patch-level mixture of experts over a feature map [batch, H, W, C] (the paper's pMoE layer,
 * as used in WRN-pMoE). The map is cut into n patches; each of k routers scores every patch and
 * takes its top l (expert choice); each expert runs a convolution on its l gathered patches only,
 * scaled by the gate; outputs go back to their patches' places in the expert's own channel slice.
 * Output [batch, H, W, k * filtersPerExpert], zeros where an expert took nothing.
 */
export class PatchMoE extends tfl.layers.Layer {
  static readonly className = 'PatchMoE';
  readonly settings: PatchMoeSettings;
  private routerKernel?: LayerVariable;
  private expertKernels: LayerVariable[] = [];
  private expertBiases: LayerVariable[] = [];
  private grid?: PatchGrid;
  private channels = 0;

  constructor(args: PatchMoeLayerArgs) {
    const settings: Record<string, unknown> = {};
    const base: Record<string, unknown> = {};
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

  private initializer(name: (typeof PATCH_MOE_INITIALIZERS)[number], offset: number) {
    const seed = this.settings.seed === undefined ? undefined : tfSeed(this.settings.seed + offset);
    return tfl.initializers[name]({ seed });
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
          this.addWeight(`expert${s}/kernel`, [kernelSize, kernelSize, channels, filtersPerExpert], 'float32', this.initializer(this.settings.kernelInitializer, 1 + s)),
        );
        if (useBias) this.expertBiases.push(this.addWeight(`expert${s}/bias`, [filtersPerExpert], 'float32', tfl.initializers.zeros()));
      }
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [shape[0], shape[1], shape[2], this.settings.experts * this.settings.filtersPerExpert];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const { output, routing } = this.forward(Array.isArray(inputs) ? inputs[0] : inputs);
      tf.dispose([routing.indices, routing.gates]);
      return output;
    });
  }

  /** The routing of a batch: chosen patch indices and gates per image and expert (patches in row-major grid order). */
  routing(inputs: tf.Tensor4D): Routing {
    return tf.tidy(() => {
      const { routing } = this.forward(inputs);
      return routing;
    });
  }

  private forward(input: tf.Tensor): { output: tf.Tensor4D; routing: Routing } {
    if (!this.built || !this.grid || !this.routerKernel) this.build(input.shape);
    const grid = this.grid!;
    const { experts: k, patchesPerExpert: l, filtersPerExpert: f, kernelSize, gate } = this.settings;
    const { height: ph, width: pw } = this.patch;
    const batch = input.shape[0];
    const n = grid.rows * grid.cols;
    return tf.tidy(() => {
      const patches = patchify(input as tf.Tensor4D, this.patch); // [batch, n, ph * pw * C]
      const routing = route(patchScores(patches, this.routerKernel!.read() as tf.Tensor2D), l, gate);
      // [k, batch * l, ph * pw * C] -> one mini-image per gathered patch.
      const gathered = gatherForExperts(patches, routing.indices);
      const perExpert = tf.unstack(gathered).map((rows, s) => {
        const images = tf.reshape(rows, [batch * l, ph, pw, this.channels]) as tf.Tensor4D;
        let y: tf.Tensor = tf.conv2d(images, this.expertKernels[s].read() as tf.Tensor4D, 1, kernelSize === 1 ? 'valid' : 'same');
        if (this.expertBiases[s]) y = tf.add(y, this.expertBiases[s].read());
        return tf.reshape(y, [batch * l, ph * pw * f]);
      });
      let outputs = tf.stack(perExpert) as tf.Tensor3D; // [k, batch * l, ph * pw * f]
      if (gate !== 'hard') outputs = tf.mul(outputs, gatesForExperts(routing.gates));
      // Back to the patches' places: row r of `withZero` is gathered output r; the last row is zeros.
      const withZero = tf.concat([tf.reshape(outputs, [k * batch * l, ph * pw * f]), tf.zeros([1, ph * pw * f])]) as tf.Tensor2D;
      const placed = gatherRows(withZero, placementRows(routing.indices, n)); // [batch * n * k, ph * pw * f]
      const channelsLast = tf.transpose(tf.reshape(placed, [batch, n, k, ph, pw, f]), [0, 1, 3, 4, 2, 5]);
      const output = unpatchify(tf.reshape(channelsLast, [batch, n, ph * pw * k * f]) as tf.Tensor3D, grid, k * f);
      return { output, routing };
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    const settings = Object.fromEntries(Object.entries(this.settings).filter(([, value]) => value !== undefined));
    return { ...super.getConfig(), ...(settings as tf.serialization.ConfigDict) };
  }
}
tf.serialization.registerClass(PatchMoE);

/**
 * For each (image, patch, expert), the row of the expert-major gathered outputs that belongs there,
 * or the zero row when the expert did not take that patch: [batch * n * k] int32.
 */
function placementRows(indices: tf.Tensor3D, n: number): tf.Tensor1D {
  const [batch, k, l] = indices.shape;
  return tf.tidy(() => {
    // 1 + the gathered row of (b, s, t), which is s * batch * l + b * l + t; 0 marks "not taken".
    const rowPlusOne = tf.add(
      tf.add(tf.reshape(tf.range(0, batch * l, l, 'int32'), [batch, 1, 1]), tf.reshape(tf.range(0, k * batch * l, batch * l, 'int32'), [1, k, 1])),
      tf.reshape(tf.range(1, l + 1, 1, 'int32'), [1, 1, l]),
    );
    const byPatch = tf.sum(tf.mul(tf.oneHot(indices, n), tf.expandDims(rowPlusOne, 3)), 2); // [batch, k, n]
    const rows = tf.where(tf.equal(byPatch, 0), tf.fill(byPatch.shape, k * batch * l, 'int32'), tf.sub(byPatch, tf.scalar(1, 'int32')));
    return tf.reshape(tf.transpose(rows, [0, 2, 1]), [batch * n * k]) as tf.Tensor1D;
  });
}
