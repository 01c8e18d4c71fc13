import { create } from '@bufbuild/protobuf';
import { status } from '@grpc/grpc-js';
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthCheckResponseSchema,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from './gen/grpc/health/v1/health_pb.js';
import { GrpcStatusError } from './errors.js';
import type { ServiceHandlers, StreamCall } from './handler.js';

/**
 * The standard gRPC health service, as etcd serves it: "" (the server) and every service name we
 * serve report SERVING while the node serves; other names are NOT_FOUND.
 */
export function healthHandlers(serviceNames: () => readonly string[], serving: () => boolean): ServiceHandlers {
  const statusOf = (service: string): ServingStatus | undefined => {
    if (service !== '' && !serviceNames().includes(service)) return undefined;
    return serving() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  };
  return {
    Check: (req: HealthCheckRequest): HealthCheckResponse => {
      const s = statusOf(req.service);
      if (s === undefined) throw new GrpcStatusError(status.NOT_FOUND, 'unknown service');
      return create(HealthCheckResponseSchema, { status: s });
    },
    Watch: async (call: StreamCall<HealthCheckRequest, HealthCheckResponse>): Promise<void> => {
      for await (const req of call.requests) {
        await call.send(create(HealthCheckResponseSchema, { status: statusOf(req.service) ?? ServingStatus.SERVICE_UNKNOWN }));
      }
      // The status does not change while the process lives; hold the stream until the client leaves.
      await new Promise<void>((resolve) => call.ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    },
  };
}
