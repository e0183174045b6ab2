// The descriptor set built by `npm run gen` (buf build), served by gRPC server reflection.
import { readFileSync } from 'node:fs';

let cached: Uint8Array | undefined;

/** Compiled code lives in dist/proto/, the descriptor in proto/gen/. */
export function descriptorSet(): Uint8Array {
  cached ??= new Uint8Array(readFileSync(new URL('../../proto/gen/kafkaobs.binpb', import.meta.url)));
  return cached;
}

export const SERVICE_NAMES = {
  aggregator: 'kafkaobs.v1.SignalAggregator',
  localAgent: 'kafkaobs.v1.LocalAgent',
  health: 'grpc.health.v1.Health',
  reflection: 'grpc.reflection.v1.ServerReflection',
  /** The same service under its older name: grpcui, Postman, evans and older grpcurl ask for it. */
  reflectionV1alpha: 'grpc.reflection.v1alpha.ServerReflection',
} as const;
