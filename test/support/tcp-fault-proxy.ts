// A TCP proxy on 127.0.0.1:<free port> in front of a server (MinIO, fake-gcs-server, ...), so a test
// can make that server fail and recover while T4 runs against it.
//
//   const proxy = await startTcpFaultProxy('127.0.0.1', minioPort);
//   ... point T4 at proxy.endpoint ...
//   proxy.setMode('refuse');  await sleep(2_000);  proxy.setMode('pass');
//   await proxy.close();
//
// Modes (a switch applies to new connections and to those already open):
//  - 'pass':      forward bytes both ways (connections blackholed earlier stay silent until closed);
//  - 'refuse':    close each new connection before reading a byte; destroy the open ones;
//  - 'blackhole': accept, read and drop everything, answer nothing: requests hang until the client's
//                 own timeout fires (open connections stop forwarding too);
//  - 'reset':     reset (RST) the open connections; accept new ones and reset them on their first byte,
//                 so a request is sent and then fails mid-way.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export type TcpFaultMode = 'pass' | 'refuse' | 'blackhole' | 'reset';

export interface TcpFaultProxy {
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  readonly mode: TcpFaultMode;
  setMode(mode: TcpFaultMode): void;
  /** Connections accepted so far, in any mode. */
  readonly accepted: number;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

interface Link {
  readonly client: Socket;
  upstream: Socket | undefined;
  /** Set once the link stopped forwarding (blackholed); it never forwards again. */
  silenced: boolean;
}

export async function startTcpFaultProxy(targetHost: string, targetPort: number): Promise<TcpFaultProxy> {
  let mode: TcpFaultMode = 'pass';
  let accepted = 0;
  const links = new Set<Link>();

  const drop = (link: Link, reset: boolean): void => {
    links.delete(link);
    for (const socket of [link.client, link.upstream]) {
      if (socket === undefined || socket.destroyed) continue;
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    }
  };

  const forward = (link: Link): void => {
    const { client } = link;
    const upstream = connect({ host: targetHost, port: targetPort });
    link.upstream = upstream;
    upstream.on('data', (chunk: Buffer) => {
      if (!link.silenced && !client.destroyed) client.write(chunk);
    });
    upstream.on('end', () => {
      if (!link.silenced) client.end();
    });
    upstream.on('error', () => drop(link, true));
    upstream.on('close', () => {
      if (!link.silenced) drop(link, false);
    });
  };

  const server = createServer((client) => {
    accepted += 1;
    const link: Link = { client, upstream: undefined, silenced: false };
    client.on('error', () => drop(link, false));
    if (mode === 'refuse') {
      client.destroy();
      return;
    }
    links.add(link);
    client.on('close', () => drop(link, false));
    client.on('end', () => {
      if (!link.silenced) link.upstream?.end();
    });
    client.on('data', (chunk: Buffer) => {
      if (link.silenced) return;
      if (mode === 'reset' || mode === 'refuse') return drop(link, mode === 'reset');
      if (mode === 'blackhole') {
        link.silenced = true;
        return;
      }
      if (link.upstream === undefined) forward(link);
      link.upstream?.write(chunk);
    });
    if (mode === 'blackhole') link.silenced = true;
    else if (mode === 'pass') forward(link);
    // 'reset': wait for the first byte, then reset.
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    get accepted() {
      return accepted;
    },
    setMode(next: TcpFaultMode): void {
      mode = next;
      for (const link of [...links]) {
        if (next === 'refuse') drop(link, false);
        else if (next === 'reset') drop(link, true);
        else if (next === 'blackhole') link.silenced = true;
      }
    },
    async close(): Promise<void> {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const link of [...links]) drop(link, false);
      await closed;
    },
  };
}
