import { isAbsolute, normalize, sep } from 'node:path';

/**
 * The one check of a path read from a data file (an image name in CelebA's list_attr_celeba.txt):
 * it must name something inside its folder, so a list cannot make pmoe read, and train on, files
 * elsewhere. Refused: an empty name, an absolute path, a NUL byte, and any `..` that climbs above
 * the folder once the name is normalised. Returns why, or undefined when the name stays inside.
 * The check is on the name: a symbolic link inside the folder is the folder owner's choice.
 */
export function outsideFolderProblem(name: string): string | undefined {
  if (name === '') return 'it is empty';
  if (name.includes('\0')) return 'it holds a NUL byte';
  if (isAbsolute(name) || /^[A-Za-z]:/.test(name)) return 'it is an absolute path';
  const normal = normalize(name);
  if (normal === '..' || normal.startsWith(`..${sep}`) || normal.startsWith('../')) return "its '..' leads out of the folder";
  if (normal === '.' || normal === `.${sep}`) return 'it names the folder itself';
  return undefined;
}
