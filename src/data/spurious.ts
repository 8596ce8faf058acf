/**
 * A spurious feature, the same in every data source pmoe builds: besides the class-discriminative
 * patch, an image carries one spurious item z (a filler digit or clothing item, or in the synthetic
 * data model a pattern), one item per class. In the training set z is the image's own class's item
 * with probability s (the spurious strength) and another class's item otherwise; so z predicts the
 * class in training as often as s says, but says nothing about it by construction.
 *
 * Three assignments of z to a set of labelled images:
 * - `training`: z = y with probability s, else a uniformly random other class's item;
 * - `balanced`: every (class, item) group holds as near the same number of images as the counts allow;
 * - `reversed`: z is never the image's own class's item (binary: always the other class's), spread evenly.
 *
 * s = 0.5 is no association: a source then draws exactly the data it draws without the feature
 * (no dedicated spurious patch; the items are ordinary fillers there). The balanced and reversed
 * test sets carry the spurious patch at every s, so models trained at s = 0.5 are tested on the same sets.
 */
import { createRng, type Rng } from '../util/random.js';
import { real } from '../util/options.js';

/** s: no association. */
export const NO_ASSOCIATION = 0.5;

/** The option every source takes: s in [0.5, 1] (below 0.5 is the same association with the items swapped). */
export const spuriousStrengthSchema = real(NO_ASSOCIATION, 1);

export type SpuriousAssignment = 'training' | 'balanced' | 'reversed';

/** The spurious item of each image of a set: z[i] = the class whose item image i carries. */
export function spuriousValues(labels: ArrayLike<number>, classes: number, assignment: SpuriousAssignment, strength: number, rng: Rng): Int32Array {
  const values = new Int32Array(labels.length);
  if (assignment === 'training') {
    for (let i = 0; i < labels.length; i++) {
      const y = labels[i];
      if (rng.next() < strength) values[i] = y;
      else {
        const other = rng.int(classes - 1);
        values[i] = other >= y ? other + 1 : other;
      }
    }
    return values;
  }
  // Within each class the images take the allowed items in turn, in a shuffled order: groups differ by at most one image.
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  byClass.forEach((members, y) => {
    rng.shuffle(members);
    const allowed = Array.from({ length: classes }, (_, item) => item).filter((item) => assignment === 'balanced' || item !== y);
    members.forEach((image, position) => (values[image] = allowed[position % allowed.length]));
  });
  return values;
}

/** The stream of a set's spurious values: its own, so the rest of the set's draws do not depend on the assignment. */
export function spuriousRng(source: string, seed: number | string, split: string, assignment: SpuriousAssignment): Rng {
  return createRng(`${source}-spurious:${seed}:${split}:${assignment}`);
}

/** Where a set's spurious item is and which it is. */
export interface SpuriousLayout {
  /** The class whose item each image carries. */
  readonly values: Int32Array;
  /** The patch (cell, quadrant) holding it, per image. */
  readonly patch: Int32Array;
}

/** Checks spurious items given as digits/classes: one per class, distinct, among the fillers, leaving at least one other filler. */
export function spuriousItemsProblem(items: readonly number[], classes: number, fillers: readonly number[], what: string): string | undefined {
  if (items.length !== classes) return `must list one item per class (${classes}), got ${items.length}`;
  if (new Set(items).size !== items.length) return 'must not repeat an item';
  const outside = items.filter((item) => !fillers.includes(item));
  if (outside.length > 0) return `must be ${what} (${fillers.join(', ')}); ${outside.join(', ')} ${outside.length > 1 ? 'are' : 'is'} not`;
  if (fillers.every((filler) => items.includes(filler)))
    return `must leave at least one ${what.replace(/s$/, '')} that is not a spurious item, for the other patches`;
  return undefined;
}
