// The calibration target: T4's own gRPC server (Http2GrpcServer, T4's HTTP/2) with an empty
// handler: every KV call is answered at once with an empty message, so a run against it measures
// the benchmark client plus T4's transport and nothing else. Its round trip is the "empty handler"
// in the seq-put target (docs/performance.md). `--node-http2` serves the same from a bare
// node:http2 server instead. Prints {"msg":"echo ready","address":"127.0.0.1:PORT"} when listening.
import http2 from 'node:http2';
import { Http2GrpcServer } from '../../dist/src/adapters/grpc/http2-grpc-server.js';
import { KV } from '../../dist/src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';

const EMPTY_MESSAGE = Buffer.alloc(0);
const ready = (port) => console.log(JSON.stringify({ msg: 'echo ready', address: `127.0.0.1:${port}` }));

if (process.argv.includes('--node-http2')) {
  const EMPTY = Buffer.from([0, 0, 0, 0, 0]);
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
  server.on('stream', (stream) => {
    stream.on('data', () => {});
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(EMPTY);
    });
    stream.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => ready(server.address().port));
} else {
  const silent = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
  const server = new Http2GrpcServer({ requestBytesMax: 1536 * 1024, keepaliveTimeMs: 2 * 60 * 60 * 1000, keepaliveTimeoutMs: 20_000, logger: silent });
  const handlers = {};
  for (const method of KV.methods) handlers[method.name] = () => EMPTY_MESSAGE;
  server.register(KV, handlers, { encoded: true });
  const address = await server.listen('127.0.0.1:0');
  ready(Number(address.slice(address.lastIndexOf(':') + 1)));
}
