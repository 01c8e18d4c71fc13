import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenTable } from '../../../../src/domain/auth/tokens.js';
import { LoginLimiter } from '../../../../src/domain/auth/login-limiter.js';
import { VirtualClock } from '../../../../src/adapters/memory/virtual-clock.js';

let n = 0n;
const counter = { u64: () => ++n };

describe('TokenTable (simple tokens, sliding TTL)', () => {
  it('a token lives ttl after its last use, not after its issue', () => {
    const clock = new VirtualClock();
    const t = new TokenTable(clock, counter, { ttlMs: 300_000, tokensMax: 10 });
    const token = t.issue('alice');
    clock.advance(299_000);
    assert.equal(t.use(token), 'alice');
    clock.advance(299_000);
    assert.equal(t.use(token), 'alice', 'the use above extended it');
    clock.advance(300_000);
    assert.equal(t.use(token), undefined, 'expired');
    assert.equal(t.use('made-up'), undefined);
  });

  it('tokens are distinct; revoking a user drops only theirs; the table is bounded (LRU)', () => {
    const clock = new VirtualClock();
    const t = new TokenTable(clock, counter, { ttlMs: 1000, tokensMax: 2 });
    const a = t.issue('alice');
    const b = t.issue('bob');
    assert.notEqual(a, b);
    t.revokeUser('alice');
    assert.equal(t.use(a), undefined);
    assert.equal(t.use(b), 'bob');
    const c = t.issue('carol');
    const d = t.issue('dave');
    assert.equal(t.size(), 2);
    assert.equal(t.use(b), undefined, 'least recently used dropped');
    assert.equal(t.use(c), 'carol');
    assert.equal(t.use(d), 'dave');
  });
});

describe('LoginLimiter (5 failures in 5 minutes lock 15 minutes)', () => {
  it('locks on the 5th failure within the window and unlocks after 15 minutes', () => {
    const clock = new VirtualClock();
    const l = new LoginLimiter(clock);
    for (let i = 0; i < 4; i++) l.failed('alice');
    assert.equal(l.isLocked('alice'), false);
    l.failed('alice');
    assert.equal(l.isLocked('alice'), true);
    assert.equal(l.isLocked('bob'), false);
    clock.advance(15 * 60_000 - 1);
    assert.equal(l.isLocked('alice'), true);
    clock.advance(1);
    assert.equal(l.isLocked('alice'), false);
  });

  it('failures older than 5 minutes do not count; a success clears', () => {
    const clock = new VirtualClock();
    const l = new LoginLimiter(clock);
    for (let i = 0; i < 4; i++) l.failed('alice');
    clock.advance(5 * 60_000 + 1);
    l.failed('alice');
    assert.equal(l.isLocked('alice'), false);
    for (let i = 0; i < 3; i++) l.failed('alice');
    l.succeeded('alice');
    l.failed('alice');
    assert.equal(l.isLocked('alice'), false);
  });
});
