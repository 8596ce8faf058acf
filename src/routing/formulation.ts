/**
 * How a patch-level MoE over a feature map is computed (PatchMoE; WRN-pMoE's `formulation`).
 * - `sparse` (pmoe's default): each expert gathers its l patches and convolves inside each patch
 *   (zero padding at the patch border); the gate scales the expert's output (bias included);
 *   positions an expert did not take are zero. In WRN-pMoE one shared BN-ReLU (`moe_pre`) comes
 *   before routers and experts.
 * - `official` (the authors' Keras code): the routers read the layer's input; expert s multiplies
 *   the map by its gate map (the gate value of each chosen patch tiled over the patch, zero
 *   elsewhere), then runs its own BatchNormalization, ReLU and conv densely over the whole map
 *   ('same' padding, so a 3x3 kernel reaches across patch borders); positions it did not take carry
 *   conv(ReLU(BN(0))) + bias, a learned constant.
 */
export const FORMULATIONS = ['sparse', 'official'] as const;
export type Formulation = (typeof FORMULATIONS)[number];
