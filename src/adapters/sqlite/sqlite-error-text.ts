/**
 * An error from better-sqlite3 as text: its message and SQLite's code ("disk I/O error
 * (SQLITE_IOERR_SHORT_READ)"). Works on a SqliteError and on one that crossed a worker boundary,
 * which arrives as a bare object (its message and stack are not enumerable, so often only `code`).
 */
export function sqliteErrorText(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error);
  const { message, code } = error as { message?: unknown; code?: unknown };
  const text = typeof message === 'string' && message !== '' ? message : 'unknown error';
  return typeof code === 'string' ? `${text} (${code})` : text;
}
