import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PromiseCache } from '../../src/util/promise-cache.js';

it('makes each key once, and makes again a key whose promise rejected', async () => {
  const cache = new PromiseCache<number>();
  let made = 0;
  const make = (fail: boolean) => () => {
    made++;
    return fail ? Promise.reject(new Error('unreadable')) : Promise.resolve(made);
  };
  assert.equal(await cache.get('a', make(false)), 1);
  assert.equal(await cache.get('a', make(false)), 1, 'kept');
  await assert.rejects(cache.get('b', make(true)), /unreadable/);
  assert.equal(await cache.get('b', make(false)), 3, 'the failure was forgotten');
  assert.equal(made, 3);
});
