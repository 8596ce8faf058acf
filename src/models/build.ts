import { OptionError } from '../util/options.js';
import { TwoLayerCnn, type TwoLayerCnnOptions } from './two-layer-cnn.js';
import { TwoLayerPmoe, type TwoLayerPmoeOptions } from './two-layer-pmoe.js';

/** The three models of the paper's experiments: the CNN baseline and pMoE in either regime. */
export const MODEL_KINDS = ['cnn', 'separate', 'joint'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

type Shared = 'patchCount' | 'patchDim' | 'classes' | 'outputWeights' | 'init' | 'hiddenInitStd' | 'seed';
export type ModelOptions = { kind: ModelKind } & Pick<TwoLayerCnnOptions, Shared> &
  Partial<Pick<TwoLayerCnnOptions, 'neurons'>> &
  Partial<Omit<TwoLayerPmoeOptions, Shared | 'regime'>>;

/**
 * The paper's MNIST settings per model (section 5): CNN 40 neurons; separate pMoE k = c experts
 * of 20 neurons, l = 2, hard gates; joint pMoE 8 experts of 5 neurons, l = 6, softmax over the selected.
 */
export function paperDefaults(kind: ModelKind, classes = 2): Record<string, unknown> {
  if (kind === 'cnn') return { neurons: 40 };
  if (kind === 'separate') return { experts: classes, neuronsPerExpert: 20, patchesPerExpert: 2, gate: 'hard', regime: 'separate' };
  return { experts: 8, neuronsPerExpert: 5, patchesPerExpert: 6, gate: 'softmax-selected', regime: 'joint' };
}

function defined(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}

/** The model a kind builds: the CNN, or a TwoLayerPmoe for either training regime. */
export type ModelOf<K extends ModelKind> = K extends 'cnn' ? TwoLayerCnn : TwoLayerPmoe;

export function buildModel<K extends ModelKind>(options: ModelOptions & { kind: K }): ModelOf<K> {
  const { kind, ...rest } = options;
  const merged = { ...paperDefaults(kind, rest.classes ?? 2), ...defined(rest) };
  if (kind === 'cnn') return new TwoLayerCnn(merged as TwoLayerCnnOptions) as ModelOf<K>;
  if (kind === 'separate' && merged.experts !== (rest.classes ?? 2)) {
    throw new OptionError(
      `pmoe.experts must equal the number of classes (${rest.classes ?? 2}) for separate training, one router per class; got ${String(merged.experts)}`,
    );
  }
  return new TwoLayerPmoe(merged as TwoLayerPmoeOptions) as ModelOf<K>;
}
