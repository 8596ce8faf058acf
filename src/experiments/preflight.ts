/**
 * Checks a run before any data or model exists: every option as the trainer will read it, and
 * the memory the run will need. `pmoe train` and every sweep call it first, so a bad setting
 * fails the command in a moment instead of after data loading, or as a results file of failed runs.
 */
import { checkDataMemory, planData } from '../data/source.js';
import { paperDefaults } from '../models/build.js';
import { twoLayerCnnSchema } from '../models/two-layer-cnn.js';
import { twoLayerPmoeSchema } from '../models/two-layer-pmoe.js';
import { isImageRunSpec, planImageRun, type ImageRunSpec, type RunSpec } from '../training/run.js';
import { trainingSchema } from '../training/train.js';
import { checkMemory, estimateRunBytes, type MemoryLimit } from '../util/memory-estimate.js';
import { OptionError, parseOptions } from '../util/options.js';

/**
 * Throws the error the run would meet (OptionError, MemoryLimitError) without making anything;
 * returns the run's estimated memory in bytes.
 */
export function preflightRun(spec: RunSpec, limit?: MemoryLimit): number {
  if ('kind' in spec) {
    if (!isImageRunSpec(spec))
      throw new OptionError(`kind: must be 'image' for an image run, or absent for a two-layer run (got ${JSON.stringify((spec as { kind: unknown }).kind)})`);
    return preflightImageRun(spec, limit);
  }
  const training = parseOptions(trainingSchema, spec.training ?? {}, 'training');
  const data = planData(spec.data);
  const kind = training.model;
  // The rules below mirror trainModel's and buildModel's, which meet them only after the data is made.
  if (training.epochs === 0 && kind !== 'separate') {
    throw new OptionError(`training.epochs: must be an integer >= 1 for the ${kind} model (0 is allowed for separate training only) (got 0)`);
  }
  const given = Object.fromEntries(Object.entries(spec.model ?? {}).filter(([, value]) => value !== undefined));
  const model = {
    ...paperDefaults(kind, data.classes),
    ...given,
    patchCount: data.patchCount,
    patchDim: data.patchDim,
    classes: data.classes,
    seed: given.seed ?? training.seed,
  };
  let parameters: number;
  if (kind === 'cnn') {
    const cnn = parseOptions(twoLayerCnnSchema, model, 'cnn');
    parameters = cnn.patchDim * cnn.neurons;
  } else {
    const pmoe = parseOptions(twoLayerPmoeSchema, model, 'pmoe');
    if (kind === 'separate' && pmoe.experts !== data.classes) {
      throw new OptionError(`pmoe.experts must equal the number of classes (${data.classes}) for separate training, one router per class; got ${pmoe.experts}`);
    }
    parameters = pmoe.patchDim * pmoe.experts * (1 + pmoe.neuronsPerExpert);
  }
  return checkDataMemory(data, parameters, limit);
}

/** An image run (the WRN experiments): its options, and the memory of its images (the model's weights are not counted). */
function preflightImageRun(spec: ImageRunSpec, limit?: MemoryLimit): number {
  const { data } = planImageRun(spec);
  const [height, width, channels] = data.imageShape;
  const estimate = estimateRunBytes({ samples: data.samples, patchCount: 1, patchDim: height * width * channels });
  const what = `an image run on ${data.spec.source} (${data.spec.trainSize} training + ${data.samples - data.spec.trainSize} test images of ${height} x ${width} x ${channels})`;
  checkMemory(estimate, what, 'use fewer images (trainSize, testSize)', limit);
  return estimate;
}
