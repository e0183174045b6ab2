// A Kafka-protocol listener that refuses every SASL login, for the "wrong password" case: the
// librdkafka mock cluster has no SASL. It speaks the real wire protocol for the first three
// requests a client sends — ApiVersions (v0-v2), SaslHandshake (v0-v1) and SaslAuthenticate
// (v0-v1) — and answers the last with SASL_AUTHENTICATION_FAILED (58), as a broker does for a
// wrong password. It counts connection attempts, so a test can see the client retry with backoff.
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

const API_VERSIONS = 18;
const SASL_HANDSHAKE = 17;
const SASL_AUTHENTICATE = 36;
const SASL_AUTHENTICATION_FAILED = 58;

export interface SaslRefuser {
  bootstrap: string;
  /** When each connection arrived (ms since epoch). */
  readonly attempts: number[];
  /** The SASL mechanisms clients asked for. */
  readonly mechanisms: string[];
  stop(): Promise<void>;
}

function str(s: string): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(s));
  b.writeInt16BE(Buffer.byteLength(s), 0);
  b.write(s, 2);
  return b;
}

function respond(socket: Socket, correlationId: number, body: Buffer): void {
  const head = Buffer.alloc(8);
  head.writeInt32BE(4 + body.length, 0);
  head.writeInt32BE(correlationId, 4);
  socket.write(Buffer.concat([head, body]));
}

function apiVersionsBody(version: number): Buffer {
  const apis: [number, number, number][] = [
    [API_VERSIONS, 0, 2],
    [SASL_HANDSHAKE, 0, 1],
    [SASL_AUTHENTICATE, 0, 1],
    [3, 0, 1], // Metadata: never reached
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

function handle(socket: Socket, frame: Buffer, mechanisms: string[]): void {
  const apiKey = frame.readInt16BE(0);
  const version = frame.readInt16BE(2);
  const correlationId = frame.readInt32BE(4);
  const clientIdLength = frame.readInt16BE(8);
  const body = frame.subarray(10 + Math.max(0, clientIdLength));
  if (apiKey === API_VERSIONS) {
    respond(socket, correlationId, apiVersionsBody(version));
  } else if (apiKey === SASL_HANDSHAKE) {
    const len = body.readInt16BE(0);
    mechanisms.push(body.subarray(2, 2 + len).toString());
    const list = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'].map(str);
    const count = Buffer.alloc(4);
    count.writeInt32BE(list.length);
    respond(socket, correlationId, Buffer.concat([Buffer.from([0, 0]), count, ...list]));
  } else if (apiKey === SASL_AUTHENTICATE) {
    const code = Buffer.alloc(2);
    code.writeInt16BE(SASL_AUTHENTICATION_FAILED);
    const noBytes = Buffer.alloc(4); // auth_bytes: empty
    const parts = [code, str('Authentication failed during authentication due to invalid credentials with SASL mechanism'), noBytes];
    if (version >= 1) parts.push(Buffer.alloc(8)); // session_lifetime_ms
    respond(socket, correlationId, Buffer.concat(parts));
    // As a broker does: after a failed authentication the connection is closed.
    socket.end();
  } else {
    socket.destroy();
  }
}

export async function startSaslRefuser(): Promise<SaslRefuser> {
  const attempts: number[] = [];
  const mechanisms: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    attempts.push(Date.now());
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const size = buf.readInt32BE(0);
        handle(socket, buf.subarray(4, 4 + size), mechanisms);
        buf = buf.subarray(4 + size);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    bootstrap: `127.0.0.1:${port}`,
    attempts,
    mechanisms,
    async stop() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
