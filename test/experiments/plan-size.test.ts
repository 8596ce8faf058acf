import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { z } from 'zod';
import { reproduce } from '../../src/cli/reproduce.js';
import { createRng } from '../../src/util/random.js';
import { checkPlannedRuns, MAX_PLANNED_RUNS } from '../../src/experiments/plan-size.js';
import { EXPERIMENTS } from '../../src/experiments/registry.js';
import { MemoryLimitError } from '../../src/util/memory-estimate.js';
import { OptionError, parseOptions } from '../../src/util/options.js';
import { presenceFolders } from '../support/data-folders.js';

it("every experiment's runCount is the length of its specs, and its runProblem accepts them, on random settings", async () => {
  const root = await mkdtemp(join(tmpdir(), 'pmoe-plan-'));
  try {
    const folders = await presenceFolders(root);
    const rng = createRng('plan-size');
    const list = (make: () => number) => Array.from({ length: 1 + rng.int(4) }, make);
    const pick = <T>(choices: readonly T[]) => choices.filter(() => rng.int(2) === 0).concat(choices[rng.int(choices.length)]);
    for (const [name, experiment] of Object.entries(EXPERIMENTS)) {
      const keys = Object.keys((experiment.schema as z.ZodObject).shape);
      for (let trial = 0; trial < 10; trial++) {
        const candidates: Record<string, unknown> = {
          ...folders,
          cifarRecordsPerFile: 'any',
          seeds: 1 + rng.int(3),
          sizes: list(() => 100 + 100 * rng.int(5)), // repeats, which the WRN figures merge
          sizeScale: [1, 0.05, 0.001][rng.int(3)],
          // One l (fig6, the WRN figures) or a list of them.
          // routers: an even l, so k l / n stays whole (matched compute) with k = 8, n = 16.
          patchesPerExpert: (experiment.schema as z.ZodObject).shape.patchesPerExpert?.safeParse(1).success
            ? (name === 'routers' ? 2 : 1) * (1 + rng.int(8))
            : list(() => 1 + rng.int(8)),
          experts: name === 'fig6' ? list(() => 4 + rng.int(8)) : undefined,
          cnnSize: rng.int(2) * 1000,
        };
        if (keys.includes('models')) {
          const kinds = (experiment.schema as z.ZodObject).shape.models as z.ZodType;
          const choices = [
            ['cnn', 'separate', 'joint'],
            ['wrn', 'wrn-pmoe'],
            ['cnn', 'expert-choice', 'token-choice', 'token-choice-bpr', 'batch-expert-choice', 'soft-moe'],
          ].find((models) => kinds.safeParse(models).success);
          assert.ok(choices, `${name}: models`);
          candidates.models = pick(choices);
        }
        const input = Object.fromEntries(Object.entries(candidates).filter(([key, value]) => keys.includes(key) && value !== undefined));
        const options = parseOptions(experiment.schema, input, name);
        const specs = experiment.specs(options);
        assert.equal(experiment.runCount(options), specs.length, `${name} ${JSON.stringify(input)}`);
        // What a results file read back under this name is checked against: its own runs pass.
        for (const spec of specs) assert.equal(experiment.runProblem(JSON.parse(JSON.stringify(spec))), undefined, `${name}: its own run refused`);
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

it('a sweep too large, in runs or in memory, is refused with its size before a run is planned', async () => {
  assert.throws(
    () => checkPlannedRuns('fig5', MAX_PLANNED_RUNS + 1),
    (error: unknown) => error instanceof OptionError && /fig5 would plan 100001 runs, more than one sweep takes \(100000\)/.test(error.message),
  );
  const limit = { bytes: 100 * 2 ** 20, source: 'test' };
  assert.throws(
    () => checkPlannedRuns('fig4', 18_000, limit),
    (error: unknown) => error instanceof MemoryLimitError && /planning 18000 runs of fig4 would need about 210\.9 MB/.test(error.message),
  );
  checkPlannedRuns('fig4', 90, limit);
  // Refused from the options alone: a billion seeds are never expanded (that aborted V8).
  const options = { backend: 'wasm' as const, set: ['seeds=1e9'], out: join(tmpdir(), 'never-written.jsonl') };
  await assert.rejects(
    reproduce('fig4', options),
    (error: unknown) => error instanceof OptionError && /fig4\.seeds: must be an integer in 1\.\.1000 \(got 1000000000\)/.test(error.message),
  );
  const sizes = JSON.stringify(Array.from({ length: 40 }, (_, i) => 100 + 2 * i));
  await assert.rejects(reproduce('fig5', { ...options, set: ['seeds=1000', `sizes=${sizes}`] }), /fig5 would plan 240000 runs/);
});
