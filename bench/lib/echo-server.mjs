// The calibration target: an HTTP/2 gRPC server whose every unary call returns an empty message at
// once (and whose streams echo nothing), so a run against it measures the benchmark client's own
// ceiling. Prints {"msg":"echo ready","address":"127.0.0.1:PORT"} when listening.
import http2 from 'node:http2';

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
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'echo ready', address: `127.0.0.1:${server.address().port}` }));
});
