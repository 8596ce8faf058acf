/**
 * Where the convolution kernels get their products: the fp32 tiled GEMM (implicit-gemm.ts) or, when
 * the choice carries a subgroup-matrix shape, the f16 tensor-core one (implicit-gemm-matrix.ts).
 */
import { chooseTile, gemmSource, type GemmOperands, type GemmShape, type TileChoice } from './implicit-gemm.js';
import { matrixGemmSource, type MatrixShape } from './implicit-gemm-matrix.js';

export interface GemmChoice extends TileChoice {
  /** Multiply on subgroup matrices of this shape (precision `mixed`). */
  readonly matrix?: MatrixShape;
}

/** Operands of a product, with the scales of a mixed product's operands (ignored in fp32). */
export type ScaledOperands = GemmOperands & { readonly scaleA?: string; readonly scaleB?: string };

export function productSource(shape: GemmShape, choice: GemmChoice, operands: ScaledOperands): { code: string; workgroups: [number, number, number] } {
  if (choice.matrix) return matrixGemmSource(shape, operands, choice.matrix);
  return gemmSource(shape, chooseTile(shape.m, shape.n, choice), operands);
}

export type { MatrixShape };
