import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, RUN_OPTIONS, resolveRunConfig } from '../../../src/app/config.js';

describe('--serving-processes', () => {
  it('defaults to 0; the flag wins over T4_SERVING_PROCESSES; negatives, fractions, junk and more than 64 are refused naming the source', () => {
    assert.equal(resolveRunConfig({}, {}).servingProcesses, 0);
    assert.equal(resolveRunConfig({}, { T4_SERVING_PROCESSES: '2' }).servingProcesses, 2);
    assert.equal(resolveRunConfig({ 'serving-processes': '0' }, { T4_SERVING_PROCESSES: '3' }).servingProcesses, 0);
    assert.equal(resolveRunConfig({ 'serving-processes': '64' }, {}).servingProcesses, 64);
    for (const bad of ['-1', '1.5', 'two', '65']) {
      assert.throws(() => resolveRunConfig({ 'serving-processes': bad }, {}), (e: unknown) => e instanceof ConfigError && /--serving-processes/.test(e.message), bad);
    }
    assert.throws(() => resolveRunConfig({}, { T4_SERVING_PROCESSES: 'x' }), (e: unknown) => e instanceof ConfigError && /T4_SERVING_PROCESSES/.test(e.message));
    assert.ok(RUN_OPTIONS.some((o) => o.flag === 'serving-processes' && o.env === 'T4_SERVING_PROCESSES'));
  });
});
