// The architecture of src/ as dependency-cruiser rules (npm run lint; test/architecture checks them too).
// The top-level folders form a stack: each may import only from the folders below it.
const LAYERS = [
  'cli', // the pmoe command
  'cluster', // Slurm and Kubernetes job files for sweeps
  'report', // figures, tables and the HTML report from results files
  'web', // the interactive page and its data
  'experiments', // the paper's experiments as sweeps of runs, results files
  'engine', // choosing and starting a TensorFlow.js backend (wasm, cpu, webgpu)
  'io', // saving and loading models
  'training', // training loops, fused SGD steps, run records
  'analysis', // routing rates, power-law fits, statistics
  'models', // the two-layer CNN and pMoE, Wide-ResNets
  'routing', // routing, all of it: routers, their ops and kernels on plain arrays, the PatchMoE layer
  'ops', // pMoE's TensorFlow.js ops and gradients, tfjs kernel registrations
  'kernels', // WebAssembly kernels (src/kernels/*.wat) and their bindings
  'data', // data sets: synthetic, MNIST-derived, image folders
  'util', // RNG, canonical JSON, atomic writes, option parsing
];

const upward = LAYERS.map((layer, i) => ({
  name: `${layer}-imports-upward`,
  comment: `src/${layer} may import only from the folders below it: ${LAYERS.slice(i + 1).join(', ') || 'none'}`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: {
    path: `^src/(${
      LAYERS.slice(0, i + 1)
        .filter((other) => other !== layer)
        .join('|') || '$^'
    })/`,
  },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'modules import each other in a circle',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'unknown-folder',
      comment: `every folder of src/ has a place in the stack (.dependency-cruiser.cjs LAYERS)`,
      severity: 'error',
      from: { path: '^src/', pathNot: `^src/(index\\.ts|(${LAYERS.join('|')})/)` },
      to: {},
    },
    {
      name: 'routing-outside-routing',
      comment: 'routing is one folder: src/ops holds no routing (a router, route, gate or expert-choice module belongs in src/routing/)',
      severity: 'error',
      from: { path: '^src/ops/.*(rout|gate|expert-choice)[^/]*\\.ts$' },
      to: {},
    },
    ...upward,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
  },
};
