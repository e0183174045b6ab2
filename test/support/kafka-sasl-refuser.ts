// A Kafka-protocol listener that checks SASL logins, for what the librdkafka mock cluster cannot
// do (it has no SASL). It speaks the real wire protocol for the requests a client sends first —
// ApiVersions (v0-v2), SaslHandshake (v0-v1), SaslAuthenticate (v0-v1) — and records what each
// login asked for: the mechanism named in the handshake and the auth bytes sent.
//
// - A mechanism it does not enable is answered UNSUPPORTED_SASL_MECHANISM (33) with the list it
//   enables, and the connection closed, as a broker does.
// - The auth bytes go to `accept`: refused, it answers SASL_AUTHENTICATION_FAILED (58) and closes
//   the connection, as a broker does for a wrong password or an expired token; accepted, it
//   answers success (for AWS_MSK_IAM with the JSON MSK answers: version and request-id) and then
//   serves Metadata v0 naming itself as the only broker, with no topics, so a client goes on
//   (listing groups, which it does not serve: the client says so and carries on).
// It counts connection attempts, so a test can see a client retry with backoff.
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

const API_VERSIONS = 18;
const SASL_HANDSHAKE = 17;
const SASL_AUTHENTICATE = 36;
const METADATA = 3;
const UNSUPPORTED_SASL_MECHANISM = 33;
const SASL_AUTHENTICATION_FAILED = 58;

export interface Login {
  at: number;
  mechanism: string;
  /** The SaslAuthenticate auth bytes (undefined: the client stopped at the handshake). */
  authBytes?: Buffer;
  accepted?: boolean;
}

export interface SaslStandIn {
  bootstrap: string;
  port: number;
  /** When each connection arrived (ms since epoch). */
  readonly attempts: number[];
  /** The SASL mechanisms clients asked for. */
  readonly mechanisms: string[];
  /** Every login: mechanism, auth bytes, whether accepted. */
  readonly logins: Login[];
  /** Closes every client connection (clients reconnect and log in again). */
  dropConnections(): void;
  stop(): Promise<void>;
}

export interface SaslStandInOptions {
  /** The mechanisms this listener enables (default PLAIN, SCRAM-SHA-256, SCRAM-SHA-512). */
  mechanisms?: string[];
  /** Judges a login's auth bytes; default: refuse every login. */
  accept?: (mechanism: string, authBytes: Buffer) => boolean;
}

/** The refusing listener (startSaslRefuser) is the stand-in with its defaults. */
export type SaslRefuser = SaslStandIn;

function str(s: string): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(s));
  b.writeInt16BE(Buffer.byteLength(s), 0);
  b.write(s, 2);
  return b;
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

function bytes(b: Buffer): Buffer {
  return Buffer.concat([int32(b.length), b]);
}

function respond(socket: Socket, correlationId: number, body: Buffer): void {
  socket.write(Buffer.concat([int32(4 + body.length), int32(correlationId), body]));
}

function apiVersionsBody(version: number): Buffer {
  const apis: [number, number, number][] = [
    [API_VERSIONS, 0, 2],
    [SASL_HANDSHAKE, 0, 1],
    [SASL_AUTHENTICATE, 0, 1],
    [METADATA, 0, 0],
  ];
  const b = Buffer.alloc(2 + 4 + apis.length * 6 + (version >= 1 ? 4 : 0));
  let o = b.writeInt16BE(0, 0);
  o = b.writeInt32BE(apis.length, o);
  for (const [k, min, max] of apis) {
    o = b.writeInt16BE(k, o);
    o = b.writeInt16BE(min, o);
    o = b.writeInt16BE(max, o);
  }
  if (version >= 1) b.writeInt32BE(0, o); // throttle_time_ms
  return b;
}

interface Conn {
  mechanism?: string;
  authenticated: boolean;
}

export async function startSaslStandIn(o: SaslStandInOptions = {}): Promise<SaslStandIn> {
  const enabled = o.mechanisms ?? ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'];
  const accept = o.accept ?? (() => false);
  const attempts: number[] = [];
  const mechanisms: string[] = [];
  const logins: Login[] = [];
  const sockets = new Set<Socket>();
  let port = 0;

  const handle = (socket: Socket, conn: Conn, frame: Buffer): void => {
    const apiKey = frame.readInt16BE(0);
    const version = frame.readInt16BE(2);
    const correlationId = frame.readInt32BE(4);
    const clientIdLength = frame.readInt16BE(8);
    const body = frame.subarray(10 + Math.max(0, clientIdLength));
    if (apiKey === API_VERSIONS) {
      respond(socket, correlationId, apiVersionsBody(version));
    } else if (apiKey === SASL_HANDSHAKE) {
      const len = body.readInt16BE(0);
      const mechanism = body.subarray(2, 2 + len).toString();
      mechanisms.push(mechanism);
      const list = enabled.map(str);
      const known = enabled.includes(mechanism);
      respond(socket, correlationId, Buffer.concat([int16(known ? 0 : UNSUPPORTED_SASL_MECHANISM), int32(list.length), ...list]));
      if (!known) {
        logins.push({ at: Date.now(), mechanism });
        socket.end();
        return;
      }
      conn.mechanism = mechanism;
    } else if (apiKey === SASL_AUTHENTICATE) {
      const authBytes = Buffer.from(body.subarray(4, 4 + body.readInt32BE(0)));
      const mechanism = conn.mechanism ?? '';
      const ok = conn.mechanism !== undefined && accept(mechanism, authBytes);
      logins.push({ at: Date.now(), mechanism, authBytes, accepted: ok });
      const session = version >= 1 ? [Buffer.alloc(8)] : []; // session_lifetime_ms: 0 (no re-login)
      if (ok) {
        conn.authenticated = true;
        const answer = mechanism === 'AWS_MSK_IAM' ? Buffer.from(JSON.stringify({ version: '2020_10_22', 'request-id': `stand-in-${logins.length}` })) : Buffer.alloc(0);
        respond(socket, correlationId, Buffer.concat([int16(0), str(''), bytes(answer), ...session]));
        return;
      }
      respond(socket, correlationId, Buffer.concat([int16(SASL_AUTHENTICATION_FAILED), str(`Authentication failed during authentication due to invalid credentials with SASL mechanism ${mechanism}`), bytes(Buffer.alloc(0)), ...session]));
      // As a broker does: after a failed authentication the connection is closed.
      socket.end();
    } else if (apiKey === METADATA && conn.authenticated) {
      // v0: brokers [node_id, host, port], topics [] (none).
      respond(socket, correlationId, Buffer.concat([int32(1), int32(1), str('127.0.0.1'), int32(port), int32(0)]));
    } else {
      socket.destroy();
    }
  };

  const server: Server = createServer((socket) => {
    attempts.push(Date.now());
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const conn: Conn = { authenticated: false };
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const size = buf.readInt32BE(0);
        handle(socket, conn, buf.subarray(4, 4 + size));
        buf = buf.subarray(4 + size);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;
  return {
    bootstrap: `127.0.0.1:${port}`,
    port,
    attempts,
    mechanisms,
    logins,
    dropConnections() {
      for (const s of sockets) s.destroy();
    },
    async stop() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** A listener that refuses every login (PLAIN and SCRAM enabled), as a broker does a wrong password. */
export function startSaslRefuser(): Promise<SaslStandIn> {
  return startSaslStandIn();
}
