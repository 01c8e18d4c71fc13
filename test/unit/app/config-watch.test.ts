import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseGoDuration, resolveRunConfig } from '../../../src/app/config.js';

describe('--watch-progress-notify-interval', () => {
  it('parses Go durations', () => {
    assert.equal(parseGoDuration('10m'), 600_000);
    assert.equal(parseGoDuration('5s'), 5_000);
    assert.equal(parseGoDuration('100ms'), 100);
    assert.equal(parseGoDuration('1h30m'), 5_400_000);
    assert.equal(parseGoDuration('1.5s'), 1_500);
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('10'), undefined);
    assert.equal(parseGoDuration('5x'), undefined);
    assert.equal(parseGoDuration(''), undefined);
  });

  it('defaults to 10m, takes the flag over T4_WATCH_PROGRESS_NOTIFY_INTERVAL, raises below 100ms, refuses junk', () => {
    assert.equal(resolveRunConfig({}, {}).watchProgressNotifyIntervalMs, 600_000);
    assert.equal(resolveRunConfig({}, { T4_WATCH_PROGRESS_NOTIFY_INTERVAL: '5s' }).watchProgressNotifyIntervalMs, 5_000);
    assert.equal(resolveRunConfig({ 'watch-progress-notify-interval': '250ms' }, { T4_WATCH_PROGRESS_NOTIFY_INTERVAL: '5s' }).watchProgressNotifyIntervalMs, 250);
    assert.equal(resolveRunConfig({ 'watch-progress-notify-interval': '1ms' }, {}).watchProgressNotifyIntervalMs, 100);
    assert.throws(() => resolveRunConfig({ 'watch-progress-notify-interval': 'soon' }, {}), (e: unknown) => e instanceof ConfigError && /--watch-progress-notify-interval: "soon"/.test(e.message));
    assert.throws(() => resolveRunConfig({ 'watch-progress-notify-interval': '0' }, {}), ConfigError);
  });
});
