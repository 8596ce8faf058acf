import type * as tf from '@tensorflow/tfjs-core';

/**
 * What a router is, in the shape tutel and V-MoE give theirs: patch scores go in; a dispatch comes
 * out (which patches each expert's buffer holds, with their gates), with the router's metrics.
 * Consumers (the two-layer pMoE, the PatchMoE layer, the fused steps) call a router and never
 * look at its name; each router is one file (./routers/*.ts) and one line of ./registry.ts.
 *
 * Shapes name their axes. A batch holds `batch` images of n patches each; patch j of image b is
 * row b n + j of the batch's patch rows [batch n, d]. Each of the k experts has a buffer of
 * `places` (V-MoE's groups x capacity, E x G C): place i of expert s holds one patch row, or none.
 * Symbols of the paper: n patches per image, k experts, l patches per expert.
 */

/** Routing differs between training and evaluation (noise, capacity). */
export type RouteMode = 'train' | 'eval';

export type Floats = Float32Array | Float64Array;

/** The shape a router is built for. */
export interface RouterShape {
  /** n: patches per image. */
  readonly patches: number;
  /** k: experts. */
  readonly experts: number;
  /** l: the model's patches per expert per image (the paper's budget; the pooling scale 1/l). */
  readonly patchesPerExpert: number;
}

/** Values of the auxiliary losses in one forward pass (unweighted); absent when the router does not compute it. */
export interface AuxiliaryLossValues {
  /** V-MoE's importance loss: CV^2 of each expert's summed router probability. */
  readonly importance?: number;
  /** V-MoE's load loss: CV^2 of each expert's probability of being chosen under re-drawn noise. */
  readonly load?: number;
  /** ST-MoE's router z-loss: mean over patches of logsumexp over experts of the scores, squared. */
  readonly zLoss?: number;
}

/** The auxiliary losses, in the order of a dispatch's metrics. */
export const AUXILIARY_LOSSES = ['importance', 'load', 'zLoss'] as const;
export type AuxiliaryLoss = (typeof AUXILIARY_LOSSES)[number];

/**
 * A dispatch's metrics [4]: the three auxiliary losses, unweighted and differentiable w.r.t. the
 * scores (0 where not computed), then the choices dropped for want of capacity (no gradient).
 */
export const ROUTER_METRICS = [...AUXILIARY_LOSSES, 'dropped'] as const;

/** Weights of the auxiliary losses (0: not computed). */
export type AuxiliaryWeights = Readonly<Record<AuxiliaryLoss, number>>;

/**
 * A sparse dispatch as tensors: each expert's buffer of patch rows and gates.
 * `rows` [experts, places] int32: the patch row (b n + j) in each place, -1 where the place is empty.
 * `gates` [experts, places]: the gate G of each place (0 where empty), differentiable w.r.t. the scores.
 * `slotsPerImage`: set when place b * slotsPerImage + t of every expert belongs to image b (routers
 * that route each image alone); unset when a place may hold any image's patch (routers over a group).
 * `unitGates`: every gate is 1 and none depends on the scores (the paper's hard gates), so consumers may skip them.
 * `metrics` [4]: the router's metrics (ROUTER_METRICS order, as V-MoE's routers return theirs).
 */
export interface SparseDispatch extends SparseLayout {
  readonly kind: 'sparse';
  readonly rows: tf.Tensor2D;
  readonly gates: tf.Tensor2D;
  readonly metrics: tf.Tensor1D;
}

/** How a sparse router's places are laid out (see SparseDispatch); `full`: no place is ever empty. */
export interface SparseLayout {
  readonly slotsPerImage?: number;
  readonly unitGates?: boolean;
  readonly full?: boolean;
}

/**
 * A soft dispatch (Soft MoE): every expert place is a slot mixing all of its image's patches.
 * `dispatch` [batch, experts * slots, n]: slot weights over the image's patches (each row sums to 1).
 * `combine` [batch, n, experts * slots]: each patch's weights over the slots (each row sums to 1).
 * Slots are expert-major: slot t of expert s is column s * slots + t.
 */
export interface SoftDispatch {
  readonly kind: 'soft';
  readonly dispatch: tf.Tensor3D;
  readonly combine: tf.Tensor3D;
  readonly slots: number;
  readonly metrics: tf.Tensor1D;
}

export type Dispatch = SparseDispatch | SoftDispatch;

/** A router's trainable weights beside its kernel [d, scoreColumns] (Soft MoE's scale). */
export interface RouterWeightSpec {
  readonly shape: readonly number[];
  /** Constant initial value. */
  readonly initialValue: number;
}

/** What a router reads in a forward pass. */
export interface RouterInput {
  /** [batch n, d]: the batch's patches, image-major. */
  readonly patches: tf.Tensor2D;
  /** [d, scoreColumns]: the router kernel (the paper's w_s as columns). */
  readonly kernel: tf.Tensor2D;
  /** The router's other weights, by the names of `extraWeights`. */
  readonly weights?: Readonly<Record<string, tf.Tensor>>;
  readonly batch: number;
  readonly mode: RouteMode;
  /** Training noise [batch n, k] (standard normal; the router scales it), where the router draws noise. */
  readonly noise?: tf.Tensor2D;
}

/**
 * Scores on the host: the score of patch row r for expert s at values[r * stride + s]
 * (stride >= experts: the fused steps pad the columns to a multiple of 4).
 */
export interface HostScores {
  readonly values: Floats;
  readonly rows: number;
  readonly stride: number;
}

/**
 * A sparse dispatch on the host, laid out as SparseDispatch: expert s's place i at s * places + i.
 * The caller allocates it (hostDispatch) with room for its largest batch.
 */
export interface HostDispatch {
  places: number;
  readonly rows: Int32Array;
  readonly gates: Floats;
  /** Choices refused for want of capacity in the last forward pass (token choice). */
  dropped: number;
  /** Unweighted auxiliary losses of the last forward pass, in AUXILIARY_LOSSES order (0 where not computed). */
  readonly auxiliary: Float64Array;
}

/**
 * A sparse router's kernel on plain arrays (the fast path of the cpu and wasm backends and of the
 * fused training steps), with its hand-derived gradient.
 */
export interface HostRouter {
  /** Places per expert for a batch of `batch` images. */
  places(batch: number, mode: RouteMode): number;
  /** Fills `out` (rows, gates, dropped, auxiliary) from the scores of `batch` images; `noise` [rows, k] standard normal. */
  forward(scores: HostScores, batch: number, mode: RouteMode, out: HostDispatch, noise?: Floats): void;
  /**
   * Writes the scores' gradient (laid out as `scores`, its first scores.rows rows, the padding
   * columns zero) from the gates' (dGates, laid out as out.gates) and the auxiliary losses'
   * (dAuxiliary [3]; the caller passes each loss's weight times the upstream gradient).
   */
  backward(
    scores: HostScores,
    batch: number,
    mode: RouteMode,
    out: HostDispatch,
    dGates: Floats,
    dAuxiliary: ArrayLike<number>,
    dScores: Floats,
    noise?: Floats,
  ): void;
}

/** A [rows, >= columns] matrix on the host: entry (i, c) at values[i * stride + c]. */
export interface StridedRows {
  readonly values: Floats;
  readonly rows: number;
  readonly stride: number;
}

/** Soft MoE's weights of a batch on the host: logits, dispatch (softmax over each image's rows) and combine (over the slots), [rows, k p]. */
export interface SoftHostState {
  readonly logits: Float64Array;
  readonly dispatch: Float64Array;
  readonly combine: Float64Array;
}

/** Soft MoE's routing on plain arrays (routers/soft-moe.ts documents the arithmetic). */
export interface SoftHostRouter {
  /** n: patch rows per image. */
  readonly patches: number;
  /** k p: slot columns. */
  readonly columns: number;
  normaliseKernel(mu: StridedRows, out: StridedRows): Float64Array;
  kernelGradient(mu: StridedRows, dNormalised: StridedRows, inverse: Float64Array, out: StridedRows): void;
  forward(products: HostScores, rowNorms: Floats, scale: number, out: SoftHostState): void;
  backward(
    state: SoftHostState,
    dDispatch: Float64Array,
    dCombine: Float64Array,
    rowNorms: Floats,
    scale: number,
    rows: number,
    dProducts: Floats,
    stride: number,
  ): number;
}

/**
 * One configured router. `route` picks its fast kernel (cpu and wasm) or its plain reference in one
 * place (./sparse-router.ts); `reference` is the plain formulation the tests hold the fast one to.
 */
export interface Router {
  /** The resolved configuration, every default filled in. */
  readonly config: RouterConfigBase;
  readonly shape: RouterShape;
  /** Columns of the router kernel: k, or k times the slots for Soft MoE. */
  readonly scoreColumns: number;
  /** Weights beside the kernel, by name. */
  readonly extraWeights: Readonly<Record<string, RouterWeightSpec>>;
  /** Whether a training forward pass reads `noise`. */
  readonly drawsNoise: boolean;
  /** Auxiliary loss weights (added to the training loss by the caller). */
  readonly auxiliaryWeights: AuxiliaryWeights;
  /** Whether the scores get a gradient (from the gates or an auxiliary loss): false for hard gates alone. */
  readonly differentiable: boolean;
  /** The kernel on plain arrays, for sparse routers. */
  readonly host?: HostRouter;
  /** Soft MoE's routing on plain arrays (routers/soft-moe.ts), for the fused step. */
  readonly soft?: SoftHostRouter;
  /** Routes a batch: its fast kernel where the backend has it, else `reference`. */
  route(input: RouterInput): Dispatch;
  /** The plain formulation (tf ops, autodiff). */
  reference(input: RouterInput): Dispatch;
}

/** Every router's configuration has its name; each router adds its own options. */
export interface RouterConfigBase {
  readonly name: string;
}
