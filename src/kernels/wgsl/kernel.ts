/**
 * What a WGSL compute kernel is to the rest of pmoe: its source, the buffers it binds (in binding
 * order, all in group 0) and the grid it is dispatched on. Each kernel module in this folder turns
 * its typed attributes (shapes, strides, modes) into one of these, with the shapes written into the
 * source as constants: the compiler then knows every loop bound and divisor.
 */

/** How a kernel binds a buffer: read-only storage, read-write storage, or a uniform block. */
export type BindingKind = 'read' | 'write' | 'uniform';

export interface WgslKernel {
  /** For error messages and profiles: the kernel's file name and what it was built for. */
  readonly name: string;
  readonly code: string;
  /** One entry per binding, in order; names are the WGSL variable names (for messages). */
  readonly bindings: readonly { readonly name: string; readonly kind: BindingKind }[];
  readonly workgroups: readonly [number, number, number];
}

/** WebGPU's guaranteed minimum of workgroups per grid dimension. */
export const MAX_WORKGROUPS_PER_DIMENSION = 65535;

/** Threads per workgroup of the elementwise and reduction kernels (WebGPU's guaranteed minimum limit). */
export const WORKGROUP_SIZE = 256;

/** A u32 constant as WGSL writes it. */
export const u32 = (value: number): string => {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`wgsl: ${value} is not a u32`);
  return `${value}u`;
};

/** An f32 literal (always with a decimal point or exponent). */
export const f32 = (value: number): string => {
  if (!Number.isFinite(value)) throw new RangeError(`wgsl: ${value} is not a finite f32`);
  const text = String(Math.fround(value));
  return /[.e]/.test(text) ? text : `${text}.0`;
};

/** The declaration of binding `index`. */
export function declare(index: number, name: string, kind: BindingKind, type = 'array<f32>'): string {
  if (kind === 'uniform') return `@group(0) @binding(${index}) var<uniform> ${name}: ${type};`;
  return `@group(0) @binding(${index}) var<storage, ${kind === 'read' ? 'read' : 'read_write'}> ${name}: ${type};`;
}

/** Declarations of every binding of a list, in order, with optional WGSL types (default array<f32>). */
export function declareAll(bindings: readonly { name: string; kind: BindingKind; type?: string }[]): string {
  return bindings.map((b, i) => declare(i, b.name, b.kind, b.type)).join('\n');
}

/**
 * A grid of workgroups covering `count` items at `perWorkgroup` items each, folded into two
 * dimensions when one would exceed the per-dimension limit; `flatWorkgroup` (WGSL) gives the
 * workgroup's linear index back.
 */
export function flatGrid(count: number, perWorkgroup = WORKGROUP_SIZE): [number, number, number] {
  const groups = Math.max(1, Math.ceil(count / perWorkgroup));
  if (groups <= MAX_WORKGROUPS_PER_DIMENSION) return [groups, 1, 1];
  const columns = MAX_WORKGROUPS_PER_DIMENSION;
  const rows = Math.ceil(groups / columns);
  if (rows > MAX_WORKGROUPS_PER_DIMENSION) throw new RangeError(`wgsl: ${count} items need more than ${MAX_WORKGROUPS_PER_DIMENSION}^2 workgroups`);
  return [columns, rows, 1];
}

/** WGSL: the linear workgroup index of a `flatGrid` grid, from `@builtin(workgroup_id) wg` and the grid's x size. */
export const flatWorkgroup = (grid: readonly [number, number, number]): string => `(wg.y * ${u32(grid[0])} + wg.x)`;

/** The entry point's header of a one-dimensional kernel: `i` is the thread's linear index. */
export function flatMain(grid: readonly [number, number, number], size = WORKGROUP_SIZE): string {
  return `@compute @workgroup_size(${size})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = ${flatWorkgroup(grid)} * ${u32(size)} + li;`;
}

/** Throws unless every value is a positive integer (shapes a kernel was asked to build for). */
export function checkSizes(kernel: string, sizes: Record<string, number>): void {
  for (const [name, value] of Object.entries(sizes)) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${kernel}: ${name} must be a positive integer; got ${value}`);
  }
}
