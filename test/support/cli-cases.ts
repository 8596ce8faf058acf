/**
 * Bad command lines for the real `pmoe`: each must fail before any work with a message that holds
 * every string in `expect` (the option, the value given, what is allowed), and write nothing.
 * `out` is a fresh folder that must stay empty; `results` a valid results file to report on.
 */
export interface CliCase {
  readonly args: readonly string[];
  readonly expect: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

export function cliCases(out: string, results: string): CliCase[] {
  const file = `${out}/r.jsonl`;
  const sweep = (...args: string[]) => ['reproduce', 'fig4', '--out', file, ...args];
  const scaling = (...args: string[]) => ['scaling', '--quick', '--out', file, '--report-dir', `${out}/report`, ...args];
  const report = (...args: string[]) => ['report', results, '--out', `${out}/report`, ...args];
  const train = (...args: string[]) => ['train', '--out', file, ...args];
  return [
    // pmoe train: every flag is checked before the engine starts.
    { args: train('--wings', '2'), expect: ["unknown option '--wings'", 'see `pmoe train --help`'] },
    { args: train('--data', 'mnist-patch', '--d', '10'), expect: ['--d', 'read by --data synthetic only', 'not by --data mnist-patch'] },
    { args: train('--data', 'mnist-patch', '--patches-per-expert', 'lstar'), expect: ['--patches-per-expert lstar', '--data synthetic only'] },
    { args: train('--epochs', '-1'), expect: ['--epochs', '(got -1)', 'integer >= 0'] },
    { args: train('--model', 'cnn', '--epochs', '0'), expect: ['--epochs', '(got 0)', 'integer >= 1 for the cnn model'] },
    { args: train('--lr', '0'), expect: ['--lr', '(got 0)', 'finite number > 0'] },
    { args: train('--train-size', '2.5'), expect: ['--train-size', "'2.5'", 'integer'] },
    { args: train('--patches-per-expert', '20'), expect: ['--patches-per-expert', '(got 20)', '1..16'] },
    { args: train('--n', '4', '--patches-per-expert', '5'), expect: ['--patches-per-expert', '(got 5)', '1..4'] },
    { args: train('--model', 'separate', '--experts', '3'), expect: ['--experts', 'got 3', 'number of classes (2)'] },
    { args: train('--model', 'big'), expect: ['--model', "'big'", 'cnn, separate, joint'] },
    { args: ['train', '--out', out], expect: ['--out', out, 'it is a folder'] },
    // Resources: refused with the estimate and the limit.
    { args: train('--train-size', '100000000'), expect: ['100000000 training', 'would need about 572.2 GB', 'over the limit of'] },
    { args: train(), env: { PMOE_MEMORY_LIMIT_MB: '1' }, expect: ['200 training', 'would need about 7.0 MB', 'limit of 1.0 MB (PMOE_MEMORY_LIMIT_MB=1)'] },
    { args: train(), env: { PMOE_MEMORY_LIMIT_MB: 'lots' }, expect: ['PMOE_MEMORY_LIMIT_MB', "'lots'", 'number of megabytes > 0'] },
    // pmoe reproduce: --set keys and values go through the experiment's schema, then every run is checked.
    { args: sweep('--set', 'wings=2'), expect: ["unknown option 'wings'", '(got 2)', 'known: seeds'] },
    { args: sweep('--set', 'epochs=-1'), expect: ['fig4.epochs', '(got -1)', 'integer in 1..100000'] },
    { args: sweep('--set', 'sizes=[100,500'), expect: ['--set sizes', "'[100,500'", 'not valid JSON'] },
    { args: sweep('--set', 'sizes=100,500'), expect: ['fig4.sizes', "(got '100,500')", 'write a list in brackets, as [100,500]'] },
    { args: sweep('--set', 'models=["cnn","big"]'), expect: ['fig4.models.1', "(got 'big')", "'cnn', 'separate', 'joint'"] },
    { args: sweep('--set', '=3'), expect: ['--set', "'=3'", 'key=value'] },
    { args: sweep('--jobs', '0'), expect: ['--jobs', "'0'", 'integer >= 1'] },
    { args: sweep('--backend', 'gpu'), expect: ['--backend', "'gpu'", 'auto, wasm, cpu, tensorflow'] },
    { args: ['reproduce', 'fig7', '--quick', '--out', file, '--set', 'patchesPerExpert=[20]'], expect: ['patchesPerExpert', '(got 20)', '1..16'] },
    // Counts are bounded, and so is the sweep they plan, before a run is planned (a billion seeds aborted V8).
    { args: sweep('--set', 'seeds=1e9'), expect: ['fig4.seeds', '(got 1000000000)', 'integer in 1..1000'] },
    { args: sweep('--set', 'epochs=1e12'), expect: ['fig4.epochs', '(got 1000000000000)', 'integer in 1..100000'] },
    {
      args: sweep('--set', 'seeds=1000', '--set', `sizes=[${Array.from({ length: 40 }, (_, i) => 100 + 2 * i)}]`),
      expect: ['fig4 would plan 120000 runs', 'more than one sweep takes (100000)'],
    },
    {
      args: sweep('--set', 'seeds=1000'),
      env: { PMOE_MEMORY_LIMIT_MB: '100' },
      expect: ['planning 18000 runs of fig4', 'would need about 210.9 MB', 'limit of 100.0 MB'],
    },
    // Names that are properties of every object are not experiments.
    { args: ['reproduce', '__proto__', '--out', file], expect: ["unknown experiment '__proto__'", 'known: fig4'] },
    { args: ['reproduce', 'constructor', '--out', file], expect: ["unknown experiment 'constructor'", 'known: fig4'] },
    // pmoe scaling
    { args: scaling('--set', 'seeds=0'), expect: ['scaling.seeds', '(got 0)', 'integer in 1..1000'] },
    { args: scaling('--set', 'bogus=1'), expect: ["unknown option 'bogus'", '(got 1)', 'known: seeds'] },
    { args: scaling('--set', 'low=8', '--set', 'high=4'), expect: ['scaling.high', '(got 4)', '>= low = 8'] },
    { args: scaling('--set', 'seeds=1e9'), expect: ['scaling.seeds', '(got 1000000000)', 'integer in 1..1000'] },
    { args: scaling('--set', 'high=100000000'), expect: ['100000000 training', 'would need about', 'over the limit of'] },
    // pmoe report
    { args: report('--success-accuracy', '2'), expect: ['--success-accuracy', "'2'", '<= 1'] },
    { args: report('--router-l', '0,2'), expect: ['--router-l', "'0,2'", 'integer >= 1'] },
    { args: ['report', `${out}/missing.jsonl`, '--out', `${out}/report`], expect: [`${out}/missing.jsonl`, 'not found'] },
    { args: ['report', '--out', `${out}/report`], expect: ["missing required argument 'results'"] },
    // pmoe demo and serve
    { args: ['demo', '--sizes', '0,3'], expect: ['--sizes', "'0,3'", 'integer >= 1'] },
    { args: ['serve', '--port', '70000'], expect: ['--port', "'70000'", '0..65535'] },
  ];
}
