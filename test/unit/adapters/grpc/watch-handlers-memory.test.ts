// A long-lived Watch stream must not retain memory per response sent. The handler used to await
// every send as Promise.race([send, stopped]) against one long-lived "stream stopped" promise:
// each race leaves a reaction on `stopped` until the stream ends, hundreds of bytes per response,
// for the life of (say) a Kubernetes watch stream. It now awaits untilOrAborted(send, signal),
// which removes its abort listener as soon as the send completes. The control case below shows
// the measurement catches the old pattern.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { untilOrAborted } from '../../../../src/adapters/grpc/watch-handlers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap bytes retained per awaited operation, over `n` operations after a warm-up. */
async function retainedPerOp(op: () => Promise<void>, n: number): Promise<number> {
  for (let i = 0; i < 1_000; i++) await op();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) await op();
  gc();
  return (process.memoryUsage().heapUsed - before) / n;
}

const sendLater = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Watch handler memory', () => {
  it('untilOrAborted resolves with the promise, or on abort', async () => {
    const ac = new AbortController();
    await untilOrAborted(Promise.resolve(), ac.signal);
    const never = new Promise<void>(() => undefined);
    const pending = untilOrAborted(never, ac.signal);
    ac.abort();
    await pending;
    await untilOrAborted(never, ac.signal);
    await assert.rejects(untilOrAborted(Promise.reject(new Error('boom')), new AbortController().signal), /boom/);
  });

  it('awaiting sends with untilOrAborted on a live stream retains nothing per send (Promise.race against a stream-long promise does)', async () => {
    const ac = new AbortController();
    const perSend = await retainedPerOp(() => untilOrAborted(sendLater(), ac.signal), 100_000);
    assert.ok(perSend < 30, `${perSend.toFixed(0)} bytes retained per send`);

    // Control: the old pattern, measured the same way.
    const stopped = new Promise<void>((resolve) => ac.signal.addEventListener('abort', () => resolve(), { once: true }));
    const perRace = await retainedPerOp(() => Promise.race([sendLater(), stopped]), 100_000);
    assert.ok(perRace > 100, `the control retained only ${perRace.toFixed(0)} bytes per send`);
    ac.abort();
  });
});
