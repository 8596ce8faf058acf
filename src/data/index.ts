/** pmoe/data: loaders of the real data sets (MNIST and MNIST-patch, CIFAR-10, CelebA) and their variants. */
export { loadMnist } from './mnist.js';
export { readIdx, parseIdx } from './idx.js';
export { DataFileError } from './data-file-error.js';
export { buildMnistPatchPools, takeBalanced, materialize, renderImage, MNIST_PATCH_DEFAULTS } from './mnist-patch.js';
export { buildMnistQuadrants } from './mnist-quadrants.js';
export { loadData, DATA_SOURCES, type DataSpec } from './source.js';
export { loadCifar10 } from './cifar10.js';
export { loadCelebaIndex, loadCelebaImages } from './celeba.js';
export {
  celebaSmiling,
  celebaSpurious,
  celebaSmilingEyeglasses,
  cifarSubset,
  cifarBackgroundNoise,
  cifarVehicles,
  CIFAR10_CLASS_NAMES,
  CIFAR_VEHICLE_CLASSES,
  CIFAR_ANIMAL_CLASSES,
  SPURIOUS_GROUPS,
  SMILING_EYEGLASSES_CLASSES,
} from './image-variants.js';
export { loadImageData, planImageData, IMAGE_SOURCES, type ImageDataSpec, type ResolvedImageDataSpec, type LoadedImageData } from './image-source.js';
