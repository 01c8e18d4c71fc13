import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTcpFaultProxy, type TcpFaultProxy } from '../../support/tcp-fault-proxy.js';

interface Outcome {
  /** Everything received before the connection ended or the wait ran out. */
  readonly data: string;
  /** 'closed' (FIN/destroy seen), 'error:<code>', or 'timeout' (still open, nothing more came). */
  readonly end: string;
}

/** Opens a connection, sends `message`, and collects what comes back until `expect` is seen or waitMs passes. */
function exchange(port: number, message: string, waitMs: number, expect = message): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    let done = false;
    const finish = (end: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data, end });
    };
    const timer = setTimeout(() => finish('timeout'), waitMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(message));
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (data === expect) finish('complete');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish(`error:${err.code ?? err.message}`));
    socket.on('close', () => finish('closed'));
  });
}

/** An open connection through the proxy that has already echoed once. */
async function openEchoed(port: number): Promise<{ socket: Socket; ended: Promise<string> }> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.setEncoding('utf8');
  const ended = new Promise<string>((resolve) => {
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`error:${err.code ?? err.message}`));
    socket.on('close', () => resolve('closed'));
  });
  await new Promise<void>((resolve) => {
    socket.once('data', () => resolve());
    socket.on('connect', () => socket.write('hello'));
  });
  return { socket, ended };
}

describe('tcp fault proxy', () => {
  let echo: Server;
  let echoPort: number;
  const echoSockets = new Set<Socket>();
  let proxy: TcpFaultProxy;

  before(async () => {
    echo = createServer((socket) => {
      echoSockets.add(socket);
      socket.on('close', () => echoSockets.delete(socket));
      socket.on('error', () => {});
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as AddressInfo).port;
    proxy = await startTcpFaultProxy('127.0.0.1', echoPort);
  });
  after(async () => {
    await proxy.close();
    for (const s of echoSockets) s.destroy();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  it('listens on a loopback port of its own and names it as an http endpoint', () => {
    assert.notEqual(proxy.port, echoPort);
    assert.ok(proxy.port > 0);
    assert.equal(proxy.endpoint, `http://127.0.0.1:${proxy.port}`);
    assert.equal(proxy.mode, 'pass');
  });

  it("'pass' forwards both ways", async () => {
    const out = await exchange(proxy.port, 'ping-1', 2_000);
    assert.deepEqual(out, { data: 'ping-1', end: 'complete' });
  });

  it("'refuse' closes new connections at once and destroys open ones; 'pass' recovers", async () => {
    const open = await openEchoed(proxy.port);
    proxy.setMode('refuse');
    assert.equal(await open.ended, 'closed');
    const refused = await exchange(proxy.port, 'ping-2', 2_000);
    assert.equal(refused.data, '');
    assert.match(refused.end, /^(closed|error:ECONNRESET|error:EPIPE)$/);
    proxy.setMode('pass');
    assert.deepEqual(await exchange(proxy.port, 'ping-3', 2_000), { data: 'ping-3', end: 'complete' });
  });

  it("'blackhole' accepts but never answers, on new and open connections; 'pass' recovers for new ones", async () => {
    const open = await openEchoed(proxy.port);
    proxy.setMode('blackhole');
    const got: string[] = [];
    open.socket.on('data', (d: string) => got.push(d));
    open.socket.write('lost');
    const fresh = await exchange(proxy.port, 'ping-4', 500);
    assert.deepEqual(fresh, { data: '', end: 'timeout' });
    assert.deepEqual(got, []);
    assert.equal(open.socket.destroyed, false, 'a blackholed connection stays open');
    proxy.setMode('pass');
    assert.deepEqual(await exchange(proxy.port, 'ping-5', 2_000), { data: 'ping-5', end: 'complete' });
    open.socket.destroy();
  });

  it("'reset' resets open connections and new ones on their first byte; 'pass' recovers", async () => {
    const open = await openEchoed(proxy.port);
    proxy.setMode('reset');
    assert.match(await open.ended, /^(error:ECONNRESET|closed)$/);
    const before = proxy.accepted;
    const fresh = await exchange(proxy.port, 'ping-6', 2_000);
    assert.equal(fresh.data, '');
    assert.match(fresh.end, /^(error:ECONNRESET|closed)$/);
    assert.equal(proxy.accepted, before + 1, 'the connection was accepted before it was reset');
    proxy.setMode('pass');
    assert.deepEqual(await exchange(proxy.port, 'ping-7', 2_000), { data: 'ping-7', end: 'complete' });
  });

  it('close() stops listening and ends open connections', async () => {
    const other = await startTcpFaultProxy('127.0.0.1', echoPort);
    const open = await openEchoed(other.port);
    await other.close();
    assert.equal(await open.ended, 'closed');
    const after = await exchange(other.port, 'ping-8', 1_000);
    assert.equal(after.end, 'error:ECONNREFUSED');
  });
});
