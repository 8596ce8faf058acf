// A writer for the kill tests: rewrites a file through write-file-atomic (as models and pages are
// written) or appends result lines through appendResult (as sweeps do), version after version,
// printing each version's number once its write has returned. The parent kills it.
import writeFileAtomic from 'write-file-atomic';
import { appendResult } from '../../src/experiments/results-file.js';
import { fileVersion, resultLine } from './write-versions.js';

const [, , mode, path, first] = process.argv;
// The test runner also loads this file, without arguments: then it does nothing.
if (path)
  for (let k = Number(first); ; k++) {
    if (mode === 'atomic') await writeFileAtomic(path, fileVersion(k));
    else appendResult(path, resultLine(k));
    process.stdout.write(`${k}\n`);
  }
