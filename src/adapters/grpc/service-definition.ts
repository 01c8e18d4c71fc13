import type * as grpc from '@grpc/grpc-js';
import { fromBinary, toBinary, type DescMessage, type DescService, type MessageShape } from '@bufbuild/protobuf';

/**
 * grpc-js service definitions built from protobuf-es service descriptors: one code generation
 * (protoc-gen-es) feeds grpc-js here and a Connect transport later. The encoded size of every
 * request is remembered so handlers can enforce `--max-request-bytes` on the whole request.
 */
const encodedSizes = new WeakMap<object, number>();

export function encodedSize(message: object): number {
  return encodedSizes.get(message) ?? 0;
}

/** A handler may send a response it encoded itself (the watch stream's event responses). */
function serializer<D extends DescMessage>(schema: D): (m: MessageShape<D> | Uint8Array) => Buffer {
  return (m) => {
    const bytes = m instanceof Uint8Array ? m : toBinary(schema, m);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<D extends DescMessage>(schema: D): (b: Buffer) => MessageShape<D> {
  return (b) => {
    const m = fromBinary(schema, b);
    encodedSizes.set(m, b.byteLength);
    return m;
  };
}

export function grpcServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    def[method.name] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
      responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
      requestSerialize: serializer(method.input) as (v: unknown) => Buffer,
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output) as (v: unknown) => Buffer,
      responseDeserialize: deserializer(method.output),
    };
  }
  return def;
}
