/**
 * The data model of the paper's theory (docs/paper.md §3), as a generator.
 *
 * Each sample has n unit patches in R^d: one class-discriminative patch o_y at a uniformly random
 * position and n - 1 class-irrelevant patches drawn from p pattern sets S_1..S_p whose law does
 * not depend on the class. Symbols: n patches, d dimension, p irrelevant sets,
 * delta_d = <o_1, o_2>, delta_r = bound on |<o_i, q>| for every irrelevant patch q.
 */
import { z } from 'zod';
import type { PatchDataset } from './dataset.js';
import { createRng, type Rng } from '../util/random.js';
import { OptionError } from '../util/options.js';
import { NO_ASSOCIATION, spuriousRng, spuriousStrengthSchema, spuriousValues, type SpuriousAssignment } from './spurious.js';

export interface SyntheticConfig {
  /** d: patch dimension; needs room for the c patterns plus one orthogonal direction. */
  readonly d: number;
  /** n: patches per sample. */
  readonly n: number;
  /** p: number of class-irrelevant pattern sets S_1..S_p. */
  readonly p: number;
  /** delta_d = <o_1, o_2> (pairwise <o_i, o_j> for more than two classes). */
  readonly deltaD: number;
  /** delta_r: every irrelevant patch q has |<o_i, q>| <= delta_r for every pattern o_i. */
  readonly deltaR: number;
  /** Spread of each irrelevant set around its centre: q = normalize(centre + noise * z / sqrt(d)). */
  readonly noise: number;
  /** Most patches per sample drawn from the near sets (those leaning towards the patterns). */
  readonly confusers: number;
  /** c: number of classes, one discriminative pattern each. */
  readonly classes: number;
  /** Seeds the fixed patterns and set centres. */
  readonly seed: number;
  /**
   * s: when set, the model has one spurious pattern per class (./spurious.ts); a training sample
   * then carries its class's with probability s in place of one irrelevant patch. Absent: no spurious patterns.
   */
  readonly spuriousStrength?: number;
}

export const SYNTHETIC_DEFAULTS: SyntheticConfig = Object.freeze({
  d: 32,
  n: 16,
  p: 8,
  deltaD: 0.3,
  deltaR: 0.6,
  noise: 0.3,
  confusers: 2,
  classes: 2,
  seed: 0,
});

/**
 * A near set's centre has |<o_i, centre>| = NEAR_CENTRE_FRACTION * delta_r at most: as close to
 * the bound as possible while leaving room for the noise (the rest is rejected, see below).
 */
export const NEAR_CENTRE_FRACTION = 0.9;

/** Redraws allowed per irrelevant patch before the bound delta_r is declared unreachable. */
export const MAX_PATCH_TRIES = 1000;

/**
 * The bound is checked on the stored float32 values; float32 rounding alone moves an inner product
 * of unit vectors by up to ~1e-7, so delta_r = 0 means "orthogonal up to float32 rounding".
 */
const FLOAT32_SLACK = 2 ** -23;

// ---------------------------------------------------------------------------------------------
// Validation

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number') return String(value);
  return JSON.stringify(value) ?? String(value);
}

const isInt = (v: unknown, min: number, max = Infinity): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

function integerField(name: string, min: number, fallback: number, allowed = `an integer >= ${min}`) {
  const message = `${name} must be ${allowed}`;
  return z
    .number({ error: message })
    .refine((v) => isInt(v, min), { message })
    .default(fallback);
}

function rangeField(message: string, ok: (v: number) => boolean, fallback: number) {
  return z
    .number({ error: message })
    .refine((v) => Number.isFinite(v) && ok(v), { message })
    .default(fallback);
}

const D = SYNTHETIC_DEFAULTS;
const SPURIOUS_MESSAGE = 'spuriousStrength must be a number in 0.5..1 (0.5: no association)';
const configSchema = z
  .strictObject({
    // Lower bounds that hold whatever the other fields are; the cross-field rules come below.
    d: integerField('d', 3, D.d, 'an integer >= classes + 1'),
    n: integerField('n', 2, D.n),
    p: integerField('p', 1, D.p),
    deltaD: rangeField('deltaD must satisfy |deltaD| < 1', (v) => Math.abs(v) < 1, D.deltaD),
    deltaR: rangeField('deltaR must satisfy 0 <= deltaR < 1', (v) => v >= 0 && v < 1, D.deltaR),
    noise: rangeField('noise must be a finite number >= 0', (v) => v >= 0, D.noise),
    confusers: integerField('confusers', 0, D.confusers, 'an integer in 0..n-1'),
    classes: integerField('classes', 2, D.classes),
    seed: z
      .number({ error: 'seed must be a safe integer' })
      .refine((v) => Number.isSafeInteger(v), { message: 'seed must be a safe integer' })
      .default(D.seed),
    spuriousStrength: z
      .number({ error: SPURIOUS_MESSAGE })
      .refine((v) => spuriousStrengthSchema.safeParse(v).success, { message: SPURIOUS_MESSAGE })
      .optional(),
    spuriousItems: z
      .never({ error: 'spuriousItems must not be given: the synthetic data model draws its spurious patterns (one per class) and takes spuriousStrength only' })
      .optional(),
  })
  .superRefine((cfg, ctx) => {
    // Each rule runs only when the fields it relates are valid on their own, so every message is about one mistake.
    const { d, n, deltaD, confusers, classes } = cfg;
    if (isInt(classes, 2) && isInt(d, 1) && d < classes + 1) {
      ctx.addIssue({ code: 'custom', path: ['d'], message: `d must be an integer >= classes + 1 = ${classes + 1}` });
    }
    if (isInt(classes, 3) && Number.isFinite(deltaD) && Math.abs(deltaD) < 1 && deltaD < 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['deltaD'],
        message: 'deltaD must satisfy 0 <= deltaD < 1 when classes > 2',
      });
    }
    const spuriousDimensions = spuriousSpanNeeded(cfg);
    if (spuriousDimensions !== undefined && isInt(d, 1) && d < spuriousDimensions) {
      ctx.addIssue({
        code: 'custom',
        path: ['d'],
        message: `d must be an integer >= ${spuriousDimensions} with spuriousStrength set (the spurious patterns are orthogonal to the class patterns and to the ${cfg.p} set centres)`,
      });
    }
    if (isInt(n, 2) && isInt(confusers, 0) && confusers > n - 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['confusers'],
        message: `confusers must be an integer in 0..n-1 = 0..${n - 1}`,
      });
    }
  });

/** Dimensions the patterns, the set centres and the spurious patterns span together; undefined without spurious patterns or valid sizes. */
function spuriousSpanNeeded(cfg: { spuriousStrength?: number; classes: number; p: number }): number | undefined {
  if (cfg.spuriousStrength === undefined || !isInt(cfg.classes, 2) || !isInt(cfg.p, 1)) return undefined;
  const binary = cfg.classes === 2;
  return (binary ? 2 : cfg.classes + 1) + cfg.p + (binary ? 1 : cfg.classes);
}

function lookup(input: unknown, key: PropertyKey | undefined): unknown {
  if (key === undefined || input === null || typeof input !== 'object') return undefined;
  return (input as Record<PropertyKey, unknown>)[key];
}

function formatIssue(input: unknown, issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown option${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map(describe).join(', ')}`;
  }
  if (issue.path.length === 0) return `synthetic config must be an object (got ${describe(input)})`;
  return `${issue.message} (got ${describe(lookup(input, issue.path[0]))})`;
}

/**
 * Fills defaults and checks every parameter against the data model; throws an OptionError naming
 * each offending parameter, its value and the allowed range (one line each).
 */
export function validateSyntheticConfig(partial: Partial<SyntheticConfig> = {}): SyntheticConfig {
  const result = configSchema.safeParse(partial);
  if (!result.success) {
    throw new OptionError(result.error.issues.map((issue) => formatIssue(partial, issue)).join('\n'));
  }
  return Object.freeze({ ...result.data });
}

function checkCount(name: string, value: number): void {
  if (!isInt(value, 1)) throw new OptionError(`${name} must be a positive integer (got ${describe(value)})`);
}

function checkSeed(name: string, value: number): void {
  if (!Number.isSafeInteger(value)) throw new OptionError(`${name} must be a safe integer (got ${describe(value)})`);
}

/** delta = 1 / (1 - max(delta_d^2, delta_r^2)), the constant in the paper's bounds. */
export function delta(config: Partial<SyntheticConfig> = {}): number {
  const { deltaD, deltaR } = validateSyntheticConfig(config);
  return 1 / (1 - Math.max(deltaD * deltaD, deltaR * deltaR));
}

// ---------------------------------------------------------------------------------------------
// Vector helpers (float64 for construction; data are float32)

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function normalizeInPlace(v: Float64Array): number {
  const norm = Math.sqrt(dot(v, v));
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
  return norm;
}

function gaussian(rng: Rng, d: number): Float64Array {
  const v = new Float64Array(d);
  for (let i = 0; i < d; i++) v[i] = rng.normal();
  return v;
}

/** Removes from v its components along the orthonormal vectors `basis`; twice, for float accuracy. */
function projectOut(v: Float64Array, basis: readonly Float64Array[]): void {
  for (let pass = 0; pass < 2; pass++) {
    for (const e of basis) {
      const c = dot(v, e);
      for (let i = 0; i < v.length; i++) v[i] -= c * e[i];
    }
  }
}

/**
 * The first `count` vectors of a random orthonormal basis of R^d (Gram-Schmidt on Gaussian vectors).
 * Only the vectors the patterns need are built: the first k of a full random basis have the same law.
 */
function randomOrthonormal(rng: Rng, d: number, count: number): Float64Array[] {
  const basis: Float64Array[] = [];
  while (basis.length < count) {
    const v = gaussian(rng, d);
    projectOut(v, basis);
    // A Gaussian vector nearly inside the span so far has probability ~0; redraw rather than divide by ~0.
    if (normalizeInPlace(v) > 1e-6) basis.push(v);
  }
  return basis;
}

/** `count` orthonormal vectors, uniformly random in the complement of the orthonormal `span`. */
function randomOrthogonalBasis(rng: Rng, d: number, span: readonly Float64Array[], count: number): Float64Array[] {
  const taken = [...span];
  const basis: Float64Array[] = [];
  while (basis.length < count) {
    const v = randomOrthogonalUnit(rng, d, taken);
    taken.push(v);
    basis.push(v);
  }
  return basis;
}

/** A uniformly random unit vector orthogonal to the orthonormal `span`. */
function randomOrthogonalUnit(rng: Rng, d: number, span: readonly Float64Array[]): Float64Array {
  for (;;) {
    const v = gaussian(rng, d);
    projectOut(v, span);
    if (normalizeInPlace(v) > 1e-6) return v;
  }
}

// ---------------------------------------------------------------------------------------------
// The model

export interface SyntheticModel {
  readonly config: SyntheticConfig;
  /** o_1..o_c as stored in the data (float32 unit vectors); o_{y+1} is the pattern of class index y. */
  readonly patterns: readonly Float32Array[];
  /** Unit centres of S_1..S_p; indices below nearSetCount are near sets, the rest far sets. */
  readonly centres: readonly Float32Array[];
  /** ceil(p/2) near sets: centres leaning towards a pattern as far as delta_r allows. */
  readonly nearSetCount: number;
  /** delta'-closeness threshold (1 - delta_d)/2 on |<o_i - o_j, q>|. */
  readonly closenessThreshold: number;
  /** Whether q is delta'-close: |<o_i - o_j, q>| > (1 - delta_d)/2 for some pair of patterns. */
  isDeltaPrimeClose(q: ArrayLike<number>): boolean;
  /** An irrelevant patch of set `setIndex`, as float32, satisfying the delta_r bound. */
  drawIrrelevantPatch(setIndex: number, rng: Rng): Float32Array;
  /**
   * The spurious patterns u_1..u_c (binary: v and -v, a pair whose sign is the label's in
   * association), unit vectors orthogonal to the class patterns and the set centres; absent
   * without config.spuriousStrength.
   */
  readonly spuriousPatterns?: readonly Float32Array[];
  /**
   * `count` samples; the stream is seeded by `seed` alone, so (model, count, seed) fixes the data.
   * With `spurious` (a model with spurious patterns), one irrelevant patch of every sample, at a
   * position drawn from a stream of its own, is replaced by the spurious pattern the assignment
   * gives it; every other value is the same as without.
   */
  sample(count: number, seed: number, spurious?: { readonly assignment: SpuriousAssignment; readonly strength: number }): PatchDataset;
}

/**
 * Builds the fixed part of the data model from an rng seeded by config.seed:
 * - Patterns on a random orthonormal basis. Binary: o_1 = e_1, o_2 = delta_d e_1 + sqrt(1 - delta_d^2) e_2.
 *   c > 2: o_i = sqrt(delta_d) u_0 + sqrt(1 - delta_d) e_i, so <o_i, o_j> = delta_d for i != j.
 * - ceil(p/2) near sets: centre = a u + sqrt(1 - a^2) w with u the unit direction of o_i - mean(o)
 *   (i rotating over the classes; binary: +-(o_1 - o_2), alternating sides), a the largest value
 *   with max_j |<o_j, centre>| <= 0.9 delta_r (capped at 1), w random and orthogonal to the patterns.
 * - floor(p/2) far sets: centres random and orthogonal to the patterns.
 */
export function createSyntheticModel(partial: Partial<SyntheticConfig> = {}): SyntheticModel {
  const config = validateSyntheticConfig(partial);
  const { d, n, p, deltaD, deltaR, noise, confusers, classes } = config;
  const rng = createRng(config.seed);

  const binary = classes === 2;
  const basis = randomOrthonormal(rng, d, binary ? 2 : classes + 1);
  const patterns64: Float64Array[] = [];
  if (binary) {
    patterns64.push(Float64Array.from(basis[0]));
    const a = deltaD;
    const b = Math.sqrt(1 - deltaD * deltaD);
    patterns64.push(basis[0].map((x, i) => a * x + b * basis[1][i]));
  } else {
    const a = Math.sqrt(deltaD);
    const b = Math.sqrt(1 - deltaD);
    for (let i = 1; i <= classes; i++) patterns64.push(basis[0].map((x, k) => a * x + b * basis[i][k]));
  }
  const patterns = patterns64.map((o) => Float32Array.from(o));

  // Orthonormal basis of span(o_1..o_c): the patterns are independent because |delta_d| < 1.
  const patternSpan: Float64Array[] = [];
  for (const o of patterns64) {
    const v = Float64Array.from(o);
    projectOut(v, patternSpan);
    normalizeInPlace(v);
    patternSpan.push(v);
  }

  const mean = new Float64Array(d);
  for (const o of patterns64) for (let k = 0; k < d; k++) mean[k] += o[k] / classes;

  const nearSetCount = Math.ceil(p / 2);
  const centres64: Float64Array[] = [];
  for (let s = 0; s < p; s++) {
    const w = randomOrthogonalUnit(rng, d, patternSpan);
    if (s >= nearSetCount) {
      centres64.push(w);
      continue;
    }
    const target = patterns64[s % classes];
    const u = target.map((x, k) => x - mean[k]);
    normalizeInPlace(u);
    const reach = Math.max(...patterns64.map((o) => Math.abs(dot(o, u))));
    const a = Math.min(1, (NEAR_CENTRE_FRACTION * deltaR) / reach);
    const b = Math.sqrt(1 - a * a);
    centres64.push(u.map((x, k) => a * x + b * w[k]));
  }
  const centres = centres64.map((c) => Float32Array.from(c));

  // Drawn after everything else from the model's stream, so the patterns and centres are those of the model without them.
  let spuriousPatterns: Float32Array[] | undefined;
  if (config.spuriousStrength !== undefined) {
    const taken = [...patternSpan];
    for (const centre of centres64) {
      const v = Float64Array.from(centre);
      projectOut(v, taken);
      if (normalizeInPlace(v) > 1e-6) taken.push(v);
    }
    const directions = randomOrthogonalBasis(rng, d, taken, binary ? 1 : classes);
    spuriousPatterns = (binary ? [directions[0], directions[0].map((x) => -x)] : directions).map((u) => Float32Array.from(u));
  }

  const limit = Math.max(deltaR, FLOAT32_SLACK);
  const noiseScale = noise / Math.sqrt(d);

  function drawIrrelevantPatch(setIndex: number, source: Rng): Float32Array {
    const centre = centres64[setIndex];
    for (let attempt = 0; attempt < MAX_PATCH_TRIES; attempt++) {
      const v = new Float64Array(d);
      for (let k = 0; k < d; k++) v[k] = centre[k] + noiseScale * source.normal();
      if (normalizeInPlace(v) === 0) continue;
      // Check what is stored: the float32 patch against the float32 patterns.
      const q = Float32Array.from(v);
      if (patterns.every((o) => Math.abs(dot(o, q)) <= limit)) return q;
    }
    throw new OptionError(
      `no patch of irrelevant set ${setIndex + 1} met |<o_i, q>| <= deltaR in ${MAX_PATCH_TRIES} tries: ` +
        `deltaR too small for noise (deltaR ${deltaR}, noise ${noise}, d ${d}); lower noise or raise deltaR`,
    );
  }

  const differences: Float64Array[] = [];
  for (let i = 0; i < classes; i++) {
    for (let j = i + 1; j < classes; j++) differences.push(Float64Array.from(patterns[i], (x, k) => x - patterns[j][k]));
  }
  const closenessThreshold = (1 - deltaD) / 2;
  const isDeltaPrimeClose = (q: ArrayLike<number>) => differences.some((diff) => Math.abs(dot(diff, q)) > closenessThreshold);

  function sample(count: number, seed: number, spurious?: { readonly assignment: SpuriousAssignment; readonly strength: number }): PatchDataset {
    checkCount('count', count);
    checkSeed('seed', seed);
    if (spurious && !spuriousPatterns) throw new OptionError('sample: spurious samples need a model with spuriousStrength set');
    // A stream of its own, so sample seed s and config seed s do not replay the same numbers.
    const source = createRng(`sample:${seed}`);
    const labels = balancedLabels(source, count, classes);
    // The spurious patch's position and pattern come from streams of their own: the rest is drawn as without them.
    const spuriousPosition = spurious ? createRng(`synthetic-spurious-position:${seed}`) : undefined;
    const layout = spurious
      ? {
          values: spuriousValues(labels, classes, spurious.assignment, spurious.strength, spuriousRng('synthetic', seed, 'sample', spurious.assignment)),
          patch: new Int32Array(count),
        }
      : undefined;
    const patchSize = d;
    const sampleSize = n * d;
    const data = new Float32Array(count * sampleSize);
    const discriminativePatch = new Int32Array(count);
    const farSetCount = p - nearSetCount;
    const others: number[] = [];
    let maxClose = 0;

    for (let i = 0; i < count; i++) {
      const base = i * sampleSize;
      const position = source.int(n);
      discriminativePatch[i] = position;
      data.set(patterns[labels[i]], base + position * patchSize);

      others.length = 0;
      for (let j = 0; j < n; j++) if (j !== position) others.push(j);
      source.shuffle(others);
      // With p = 1 there is no far set: every irrelevant patch comes from the single (near) set.
      const nearCount = farSetCount === 0 ? n - 1 : source.int(confusers + 1);
      // Positions other than the discriminative one, in order: the spurious patch takes one of them.
      const replaced = spuriousPosition ? spuriousPosition.int(n - 1) : -1;
      const replacedAt = replaced < 0 ? -1 : replaced >= position ? replaced + 1 : replaced;
      let close = 0;
      for (let t = 0; t < others.length; t++) {
        const set = t < nearCount ? source.int(nearSetCount) : nearSetCount + source.int(farSetCount);
        const q = drawIrrelevantPatch(set, source);
        if (others[t] === replacedAt) continue;
        data.set(q, base + others[t] * patchSize);
        if (isDeltaPrimeClose(q)) close++;
      }
      if (layout) {
        layout.patch[i] = replacedAt;
        data.set(spuriousPatterns![layout.values[i]], base + replacedAt * patchSize);
      }
      maxClose = Math.max(maxClose, close);
    }

    return {
      patches: data,
      labels,
      discriminativePatch,
      count,
      patchCount: n,
      patchDim: d,
      classes,
      // Counted on the data actually drawn: whether near patches are delta'-close depends on delta_r and delta_d.
      lStar: 1 + maxClose,
      ...(layout ? { spurious: layout } : {}),
    };
  }

  return {
    config,
    patterns,
    centres,
    nearSetCount,
    closenessThreshold,
    isDeltaPrimeClose,
    drawIrrelevantPatch,
    ...(spuriousPatterns ? { spuriousPatterns } : {}),
    sample,
  };
}

/** Classes as equal in number as possible (the spare ones go to randomly chosen classes), shuffled. */
function balancedLabels(rng: Rng, count: number, classes: number): Int32Array {
  const perClass = Math.floor(count / classes);
  const spare = rng.shuffle(Array.from({ length: classes }, (_, c) => c)).slice(0, count % classes);
  const labels: number[] = [];
  for (let c = 0; c < classes; c++) for (let k = 0; k < perClass; k++) labels.push(c);
  labels.push(...spare);
  return Int32Array.from(rng.shuffle(labels));
}

/** A 31-bit seed for stream `name`, derived from the config's seed. */
function deriveSeed(seed: number, name: string): number {
  return createRng(`synthetic:${seed}:${name}`).seed();
}

export interface SyntheticSplit {
  readonly train: PatchDataset;
  readonly test: PatchDataset;
  /** max of the two sets' l*. */
  readonly lStar: number;
  readonly model: SyntheticModel;
  /**
   * With spuriousStrength set: the test samples again, each carrying a spurious pattern, balanced
   * over class x spurious pattern and reversed (never its own class's); ./spurious.ts.
   */
  readonly spurious?: { readonly balanced: PatchDataset; readonly reversed: PatchDataset };
}

/**
 * Train and test sets from one model, drawn from two different seeds derived from config.seed.
 * With spuriousStrength s > 0.5 the training samples carry spurious patterns in association s; at
 * s = 0.5 they are the samples drawn without spurious patterns.
 */
export function makeSyntheticSplit(config: Partial<SyntheticConfig>, trainCount: number, testCount: number): SyntheticSplit {
  checkCount('trainCount', trainCount);
  checkCount('testCount', testCount);
  const model = createSyntheticModel(config);
  const strength = model.config.spuriousStrength;
  const trainSeed = deriveSeed(model.config.seed, 'train');
  const testSeed = deriveSeed(model.config.seed, 'test');
  const associated = strength !== undefined && strength !== NO_ASSOCIATION;
  const train = model.sample(trainCount, trainSeed, associated ? { assignment: 'training', strength } : undefined);
  const test = model.sample(testCount, testSeed);
  const spurious =
    strength === undefined
      ? undefined
      : {
          balanced: model.sample(testCount, testSeed, { assignment: 'balanced', strength }),
          reversed: model.sample(testCount, testSeed, { assignment: 'reversed', strength }),
        };
  return { train, test, lStar: Math.max(train.lStar ?? 1, test.lStar ?? 1), model, ...(spurious ? { spurious } : {}) };
}
