import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SystemClock } from '../../../../src/adapters/node/system-clock.js';

describe('SystemClock timers', () => {
  it('a delay beyond setTimeout\'s limit (a 9,000,000,000 s lease) does not fire at once', async () => {
    const clock = new SystemClock();
    let fired = 0;
    const cancel = clock.after(9_000_000_000_000, () => fired++);
    await new Promise((r) => setTimeout(r, 50));
    cancel();
    assert.equal(fired, 0);
  });

  it('a short delay fires once; a cancelled one never', async () => {
    const clock = new SystemClock();
    let fired = 0;
    let cancelledFired = 0;
    clock.after(5, () => fired++);
    clock.after(5, () => cancelledFired++)();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual([fired, cancelledFired], [1, 0]);
  });
});
