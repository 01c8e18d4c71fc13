import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { sqliteErrorText } from '../../../../src/adapters/sqlite/sqlite-error-text.js';

describe('sqliteErrorText', () => {
  it('gives the message and SQLite code of a SqliteError', () => {
    const db = new Database(':memory:');
    try {
      assert.throws(() => db.exec('SELECT * FROM nowhere'), (error: unknown) => {
        assert.equal(sqliteErrorText(error), 'no such table: nowhere (SQLITE_ERROR)');
        return true;
      });
    } finally {
      db.close();
    }
  });

  it('names what a worker boundary leaves of one (a bare code), and non-errors', () => {
    assert.equal(sqliteErrorText({ code: 'SQLITE_IOERR_SHORT_READ' }), 'unknown error (SQLITE_IOERR_SHORT_READ)');
    assert.equal(sqliteErrorText(new Error('plain')), 'plain');
    assert.equal(sqliteErrorText('text'), 'text');
  });
});
