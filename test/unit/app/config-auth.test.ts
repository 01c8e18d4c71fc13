import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, RUN_OPTIONS, resolveRunConfig } from '../../../src/app/config.js';

describe('--auth-enabled and --token-ttl', () => {
  it('default off and 300 s; flags win over T4_AUTH_ENABLED / T4_TOKEN_TTL; junk is refused naming the source', () => {
    const d = resolveRunConfig({}, {});
    assert.equal(d.authEnabled, false);
    assert.equal(d.tokenTtlSeconds, 300);
    assert.equal(resolveRunConfig({}, { T4_AUTH_ENABLED: 'true', T4_TOKEN_TTL: '60' }).authEnabled, true);
    assert.equal(resolveRunConfig({}, { T4_TOKEN_TTL: '60' }).tokenTtlSeconds, 60);
    assert.equal(resolveRunConfig({ 'auth-enabled': 'false' }, { T4_AUTH_ENABLED: 'true' }).authEnabled, false);
    assert.equal(resolveRunConfig({ 'token-ttl': '5' }, { T4_TOKEN_TTL: '60' }).tokenTtlSeconds, 5);
    assert.throws(() => resolveRunConfig({ 'auth-enabled': 'yes please' }, {}), (e: unknown) => e instanceof ConfigError && /--auth-enabled/.test(e.message));
    assert.throws(() => resolveRunConfig({}, { T4_TOKEN_TTL: '0' }), (e: unknown) => e instanceof ConfigError && /T4_TOKEN_TTL/.test(e.message));
    assert.ok(RUN_OPTIONS.some((o) => o.flag === 'auth-enabled' && o.env === 'T4_AUTH_ENABLED'));
    assert.ok(RUN_OPTIONS.some((o) => o.flag === 'token-ttl' && o.env === 'T4_TOKEN_TTL'));
  });
});
