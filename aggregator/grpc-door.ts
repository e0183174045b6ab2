// The gRPC front door: the listening socket, the connections and every call's ending pass here.
// nice-grpc's createServer hides the grpc-js Server, and connection bounds need it: this builds
// the grpc-js Server with nice-grpc's own method handlers, listens on a socket it owns
// (connection cap, a deadline for a connection to start its first call) and hands connections to
// grpc-js through its connection injector. A server interceptor sets the caller's verified
// certificate names for the auth middleware, refuses a stream that ends inside a message (grpc-js
// would end it OK), and counts every status that goes out, including those grpc-js sends itself
// (a frame too large). Undecodable requests are refused as INVALID_ARGUMENT (grpc-js says INTERNAL).
import { createRequire } from 'node:module';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { once } from 'node:events';
import type { ServerHttp2Stream } from 'node:http2';
import type { PeerCertificate } from 'node:tls';
import {
  Metadata,
  Server as GrpcServer,
  ServerInterceptingCall,
  status as GrpcStatus,
  type ServerCredentials,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type UntypedHandleCall,
} from '@grpc/grpc-js';
import { ServerError, Status, type ServerMiddleware, type ServiceImplementation } from 'nice-grpc';
import { PEER_CERTIFICATE_KEY } from './auth.js';

const require = createRequire(import.meta.url);

/** A nice-grpc method definition, as far as the handler factories read it. */
interface MethodDef {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize(bytes: Uint8Array): unknown;
  requestSerialize(value: unknown): Uint8Array;
  responseDeserialize(bytes: Uint8Array): unknown;
  responseSerialize(value: unknown): Uint8Array;
}
type HandlerFactory = (definition: MethodDef, implementation: (...args: never[]) => unknown, middleware: ServerMiddleware | undefined) => UntypedHandleCall;
type Definitions = {
  normalizeServiceDefinition(definition: object): Record<string, MethodDef>;
  toGrpcJsServiceDefinition(definition: Record<string, MethodDef>): Parameters<GrpcServer['addService']>[0];
};
// nice-grpc's handler factories (how an async generator becomes a grpc-js call): the package has
// no exports map, and these are what its own createServer uses.
const { createUnaryMethodHandler } = require('nice-grpc/lib/server/handleUnaryCall.js') as { createUnaryMethodHandler: HandlerFactory };
const { createServerStreamingMethodHandler } = require('nice-grpc/lib/server/handleServerStreamingCall.js') as { createServerStreamingMethodHandler: HandlerFactory };
const { createClientStreamingMethodHandler } = require('nice-grpc/lib/server/handleClientStreamingCall.js') as { createClientStreamingMethodHandler: HandlerFactory };
const { createBidiStreamingMethodHandler } = require('nice-grpc/lib/server/handleBidiStreamingCall.js') as { createBidiStreamingMethodHandler: HandlerFactory };
const { normalizeServiceDefinition, toGrpcJsServiceDefinition } = require('nice-grpc/lib/service-definitions/index.js') as Definitions;

export interface DoorLimits {
  /** Most TCP connections open at once; more are closed at accept (0: no limit). */
  maxConnections: number;
  /** A connection that has not started a call this long after it opened is closed (TLS handshake, HTTP/2 preface and all). */
  connectionStartTimeoutMs: number;
  /** A connection with no call open this long is closed (the client reconnects when it needs to). */
  connectionIdleMs: number;
  /** Most calls open at once on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxStreamsPerConnection: number;
  /** Largest message grpc-js will read (a frame declaring more is refused before it is read). */
  maxReceiveBytes: number;
}

export interface DoorCounters {
  /** A refusal at the door (connection_limit, connection_start_timeout, truncated_frame, malformed_request, message_too_large). */
  refused(reason: string): void;
  /** Every call's ending: its method and the status it got. */
  handled(method: string, code: string): void;
  connections(open: number): void;
}

const CODE_NAMES = Object.fromEntries(Object.entries(GrpcStatus).map(([k, v]) => [v, k])) as Record<number, string>;

/** What grpc-js keeps of a call's HTTP/2 stream and message decoder (not part of its API). */
interface CallInternals {
  stream?: ServerHttp2Stream & { sentHeaders?: Record<string, unknown>; sentTrailers?: Record<string, unknown> };
  decoder?: { readState?: number; readMessageSize?: number; readMessageRemaining?: number };
  /** Set once grpc-js has ended the call (a status went out, or the client went away). */
  cancelled?: boolean;
}

/** The status grpc-js itself sent on the call's stream, if it sent one. */
function sentStatus(internals: CallInternals): number | undefined {
  const s = internals.stream;
  const code = s?.sentTrailers?.['grpc-status'] ?? s?.sentHeaders?.['grpc-status'];
  return code === undefined ? undefined : Number(code);
}

/** The names a verified client certificate goes by: its CN and its DNS names. */
export function certificateNames(cert: PeerCertificate | undefined): string[] {
  if (!cert || !cert.subject) return [];
  const names: string[] = [];
  const cn = cert.subject.CN as string | string[] | undefined;
  if (typeof cn === 'string') names.push(cn);
  else if (Array.isArray(cn)) names.push(...cn);
  for (const part of (cert.subjectaltname ?? '').split(',')) {
    const m = /^\s*DNS:(.+)$/.exec(part);
    if (m) names.push(m[1]!.trim());
  }
  return names.filter((n) => n !== '' && !n.includes(','));
}

function doorInterceptor(counters: DoorCounters, onCall: (call: ServerInterceptingCallInterface) => void): ServerInterceptor {
  // Wraps grpc-js's own call directly (the first interceptor does), so its internals are in reach.
  return (method, call: ServerInterceptingCallInterface) => {
    onCall(call);
    const internals = call as unknown as CallInternals;
    let counted = false;
    const count = (code: number): void => {
      if (counted) return;
      counted = true;
      counters.handled(method.path, CODE_NAMES[code] ?? String(code));
    };
    const refuse = (code: number, reason: string, details: string): void => {
      counters.refused(reason);
      count(code);
      call.sendStatus({ code, details, metadata: new Metadata() });
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            // Only the door says who the certificate names; a caller cannot.
            metadata.remove(PEER_CERTIFICATE_KEY);
            const names = certificateNames(call.getAuthContext().sslPeerCertificate);
            if (names.length > 0) metadata.set(PEER_CERTIFICATE_KEY, names.join(','));
            nextMetadata(metadata);
          },
          onReceiveHalfClose(nextHalfClose) {
            const d = internals.decoder;
            if (d && d.readState !== undefined && d.readState !== 0 && !internals.cancelled) {
              const got = d.readState === 2 && d.readMessageSize !== undefined && d.readMessageRemaining !== undefined ? `${d.readMessageSize - d.readMessageRemaining} of ${d.readMessageSize} bytes` : 'inside its 5-byte length prefix';
              refuse(GrpcStatus.INVALID_ARGUMENT, 'truncated_frame', `truncated frame: the request stream ended inside a message (${got}); nothing of it was taken`);
              return;
            }
            nextHalfClose();
          },
          onCancel() {
            // Ended without a status from the handler: grpc-js refused something itself (e.g. a
            // frame over the size limit), or the client went away (no status sent: not counted).
            const n = sentStatus(internals);
            if (n === undefined || counted) return;
            if (n === GrpcStatus.RESOURCE_EXHAUSTED) counters.refused('message_too_large');
            count(n);
          },
        });
      },
      sendStatus(status, next) {
        count(status.code ?? GrpcStatus.UNKNOWN);
        next(status);
      },
    });
  };
}

/** A request that could not be decoded: carried to the handler, which refuses it precisely. */
class Undecodable {
  constructor(readonly message: string) {}
}
type Implementation = (request: unknown, context: unknown) => unknown;

/**
 * grpc-js answers a request it cannot decode with INTERNAL, and before any interceptor sees it.
 * So the decoder never throws: it hands the handler an Undecodable, and the handler refuses it
 * with INVALID_ARGUMENT, naming the method (for streams, at the message that could not be read).
 */
function undecodableAsRefusal(m: MethodDef, implementation: Implementation, onRefused: () => void): { definition: MethodDef; implementation: (...args: never[]) => unknown } {
  const method = m.path.split('/').pop();
  const definition: MethodDef = {
    ...m,
    requestDeserialize: (bytes) => {
      try {
        return m.requestDeserialize(bytes);
      } catch (e) {
        return new Undecodable(`malformed ${method} request (${bytes.length} bytes): ${(e as Error).message}`);
      }
    },
  };
  const refuse = (u: Undecodable): never => {
    onRefused();
    throw new ServerError(Status.INVALID_ARGUMENT, u.message);
  };
  if (!m.requestStream) {
    return {
      definition,
      implementation: (m.responseStream
        ? async function* (request: unknown, context: unknown) {
            if (request instanceof Undecodable) refuse(request);
            yield* implementation(request, context) as AsyncIterable<unknown>;
          }
        : async (request: unknown, context: unknown) => {
            if (request instanceof Undecodable) refuse(request);
            return implementation(request, context);
          }) as (...args: never[]) => unknown,
    };
  }
  async function* checked(requests: AsyncIterable<unknown>): AsyncIterable<unknown> {
    for await (const r of requests) {
      if (r instanceof Undecodable) refuse(r);
      yield r;
    }
  }
  return {
    definition,
    implementation: (m.responseStream
      ? async function* (requests: AsyncIterable<unknown>, context: unknown) {
          yield* implementation(checked(requests), context) as AsyncIterable<unknown>;
        }
      : (requests: AsyncIterable<unknown>, context: unknown) => implementation(checked(requests), context)) as (...args: never[]) => unknown,
  };
}

export interface GrpcDoor {
  add<S extends object>(definition: S, implementation: ServiceImplementation<never> | object): void;
  /** Listens on host:port (0: any free port); resolves with the port. */
  listen(host: string, port: number, credentials: ServerCredentials): Promise<number>;
  /** Stops accepting, lets open calls finish. */
  shutdown(): Promise<void>;
  forceShutdown(): void;
  readonly connectionsOpen: number;
}

export function grpcDoor(limits: DoorLimits, counters: DoorCounters, middleware?: ServerMiddleware): GrpcDoor {
  const sockets = new Set<Socket>();
  // Connections that have started a call, by their remote address and port.
  const started = new Set<string>();
  const key = (address: string | undefined, port: number | undefined): string => `${address}:${port}`;
  const markStarted = (call: ServerInterceptingCallInterface): void => {
    const c = call.getConnectionInfo();
    started.add(key(c.remoteAddress, c.remotePort));
  };
  const server = new GrpcServer({
    'grpc.max_receive_message_length': limits.maxReceiveBytes,
    'grpc.max_concurrent_streams': limits.maxStreamsPerConnection,
    ...(limits.connectionIdleMs > 0 ? { 'grpc.max_connection_idle_ms': limits.connectionIdleMs } : {}),
    interceptors: [doorInterceptor(counters, markStarted)],
  });
  let tcp: TcpServer | undefined;
  let injector: ReturnType<GrpcServer['createConnectionInjector']> | undefined;

  return {
    add(definition, implementation) {
      const normalized = normalizeServiceDefinition(definition);
      const handlers: Record<string, UntypedHandleCall> = {};
      const definitions: Record<string, MethodDef> = {};
      const impl = implementation as Record<string, (...args: never[]) => unknown>;
      for (const [name, m] of Object.entries(normalized)) {
        const checked = undecodableAsRefusal(m, impl[name]!.bind(implementation) as Implementation, () => counters.refused('malformed_request'));
        const factory = !m.requestStream
          ? m.responseStream ? createServerStreamingMethodHandler : createUnaryMethodHandler
          : m.responseStream ? createBidiStreamingMethodHandler : createClientStreamingMethodHandler;
        handlers[name] = factory(checked.definition, checked.implementation, middleware);
        definitions[name] = checked.definition;
      }
      server.addService(toGrpcJsServiceDefinition(definitions), handlers);
    },

    async listen(host, port, credentials) {
      injector = server.createConnectionInjector(credentials);
      const inject = injector;
      tcp = createTcpServer({ noDelay: true, pauseOnConnect: false }, (socket) => {
        if (limits.maxConnections > 0 && sockets.size >= limits.maxConnections) {
          counters.refused('connection_limit');
          socket.destroy();
          return;
        }
        sockets.add(socket);
        counters.connections(sockets.size);
        const id = key(socket.remoteAddress, socket.remotePort);
        let timer: NodeJS.Timeout | undefined;
        if (limits.connectionStartTimeoutMs > 0) {
          timer = setTimeout(() => {
            if (started.has(id)) return;
            counters.refused('connection_start_timeout');
            socket.destroy();
          }, limits.connectionStartTimeoutMs);
          timer.unref();
        }
        socket.once('close', () => {
          clearTimeout(timer);
          sockets.delete(socket);
          started.delete(id);
          counters.connections(sockets.size);
        });
        socket.on('error', () => {}); // reset by the peer: the close handler cleans up
        // Handed to grpc-js with its first bytes: once HTTP/2 owns a socket that never spoke,
        // destroying ours no longer closes it (the session holds the handle; it reads what we buffered).
        socket.once('readable', () => {
          if (!socket.destroyed) inject.injectConnection(socket);
        });
      });
      tcp.listen(port, host);
      await Promise.race([once(tcp, 'listening'), once(tcp, 'error').then(([e]) => Promise.reject(e as Error))]);
      const address = tcp.address();
      return typeof address === 'object' && address ? address.port : port;
    },

    shutdown() {
      tcp?.close();
      return new Promise<void>((resolve) => {
        server.tryShutdown(() => {
          injector?.destroy();
          resolve();
        });
      });
    },

    forceShutdown() {
      tcp?.close();
      server.forceShutdown();
      injector?.destroy();
      for (const s of sockets) s.destroy();
    },

    get connectionsOpen() {
      return sockets.size;
    },
  };
}
