// Bearer-token check for every gRPC call. The token comes from a file or the environment and is
// compared in constant time; it is never logged.
import { timingSafeEqual, createHash } from 'node:crypto';
import { ServerError, Status, type ServerMiddleware } from 'nice-grpc';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Calls that stay open without a token: health checks (kubelet probes cannot send one). */
const OPEN_PATHS = new Set(['/grpc.health.v1.Health/Check', '/grpc.health.v1.Health/Watch', '/grpc.health.v1.Health/List']);

export function bearerAuth(token: string, onFailure: (reason: 'missing' | 'wrong') => void): ServerMiddleware {
  const expected = digest(token);
  return async function* auth(call, context) {
    if (!OPEN_PATHS.has(call.method.path)) {
      const header = context.metadata.get('authorization');
      if (!header) {
        onFailure('missing');
        throw new ServerError(Status.UNAUTHENTICATED, 'missing bearer token: send metadata "authorization: Bearer <token>"');
      }
      const m = /^Bearer\s+(.+)$/i.exec(header);
      if (!m || !timingSafeEqual(digest(m[1]!.trim()), expected)) {
        onFailure('wrong');
        throw new ServerError(Status.UNAUTHENTICATED, 'bearer token not accepted');
      }
    }
    return yield* call.next(call.request, context);
  };
}
