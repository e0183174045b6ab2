// Who may call: every gRPC call (but health checks) proves an identity with a bearer token or a
// client certificate (see identity.ts); the identity rides in the call's context so StreamSignals
// can hold each source id to it. Tokens are compared by digest in constant time and never logged.
import { createHash, timingSafeEqual } from 'node:crypto';
import { ServerError, Status, type CallContext, type ServerMiddleware } from 'nice-grpc';
import { ANONYMOUS, SHARED_TOKEN, type Identities, type Identity } from './identity.js';

/** Metadata the front door sets from the verified client certificate (and strips from callers). */
export const PEER_CERTIFICATE_KEY = 'x-kafkaobs-peer-certificate';

/** Calls that stay open without a token: health checks (kubelet probes cannot send one). */
const OPEN_PATHS = new Set(['/grpc.health.v1.Health/Check', '/grpc.health.v1.Health/Watch', '/grpc.health.v1.Health/List']);

export type AuthFailure = 'missing' | 'wrong' | 'certificate_unknown' | 'certificate_token_mismatch';

export interface AuthSettings {
  /** The one shared token (--token-file): its holders may speak for any source. */
  sharedToken?: string;
  /** Per-caller identities (--identities-file). */
  identities?: Identities;
  /** Mutual TLS is on: every caller has a verified certificate. */
  mutualTls: boolean;
}

export interface IdentityContext {
  identity: Identity;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Whether anything proves callers' identities (otherwise every caller is ANONYMOUS). */
export const authRequired = (s: AuthSettings): boolean => s.sharedToken !== undefined || (s.identities?.tokens ?? 0) > 0 || s.mutualTls;

/**
 * Resolves the caller's identity from its certificate names and its bearer header, or says why
 * not. Shared by the gRPC middleware and the HTTP door, so both doors let in the same callers.
 */
export function identify(s: AuthSettings, certificateNames: readonly string[] | undefined, authorization: string | undefined): Identity | { failure: AuthFailure; message: string } {
  let byCertificate: Identity | undefined;
  if (s.mutualTls) {
    const names = certificateNames ?? [];
    if (names.length === 0) return { failure: 'certificate_unknown', message: 'no verified client certificate' };
    // A certificate the CA signed is who it names: listed, with the sources its entry gives; not
    // listed, its first name is the one source it may speak for.
    byCertificate = s.identities?.byCertificateName(names) ?? { name: names[0]!, via: 'certificate', sources: [names[0]!] };
  }
  const tokensRequired = s.sharedToken !== undefined || (s.identities?.tokens ?? 0) > 0;
  if (!tokensRequired) return byCertificate ?? ANONYMOUS;
  if (!authorization) return { failure: 'missing', message: 'missing bearer token: send metadata "authorization: Bearer <token>"' };
  const m = /^Bearer\s+(.+)$/i.exec(authorization);
  const token = m?.[1]?.trim();
  let byToken: Identity | undefined = token ? s.identities?.byToken(token) : undefined;
  if (!byToken && token && s.sharedToken !== undefined && timingSafeEqual(digest(token), digest(s.sharedToken))) byToken = SHARED_TOKEN;
  if (!byToken) return { failure: 'wrong', message: 'bearer token not accepted' };
  if (byCertificate && byToken.via === 'token' && byToken.name !== byCertificate.name) {
    return { failure: 'certificate_token_mismatch', message: `the client certificate names "${byCertificate.name}" but the token is "${byToken.name}"'s` };
  }
  // A certificate binds more tightly than a shared token.
  return byCertificate ?? byToken;
}

export function authMiddleware(s: AuthSettings, onFailure: (reason: AuthFailure, peer: string) => void): ServerMiddleware<IdentityContext> {
  return async function* auth(call, context: CallContext) {
    let identity: Identity = ANONYMOUS;
    if (!OPEN_PATHS.has(call.method.path)) {
      const names = context.metadata.get(PEER_CERTIFICATE_KEY)?.split(',').filter((n) => n !== '');
      const r = identify(s, names, context.metadata.get('authorization'));
      if ('failure' in r) {
        onFailure(r.failure, context.peer);
        throw new ServerError(Status.UNAUTHENTICATED, r.message);
      }
      identity = r;
    }
    return yield* call.next(call.request, { ...context, identity });
  };
}
