// The bounds of the local intake (issue 14): what a caller of POST /v1/signals or
// kafkaobs.v1.LocalAgent/Emit may cost the agent, and a precise, counted refusal beyond it.
//
// HTTP: a body declared larger than the limit is refused before it is read (413, connection
// closed so the rest is never read); a body without Content-Length is cut at the limit; headers
// and whole requests have deadlines (slowloris sockets are closed); requests in flight and open
// connections are capped. gRPC: the same byte limit as the largest message (refused by grpc-js
// from the length prefix, before the message is read), the same in-flight cap (calls and
// requests together) and the same whole-request deadline. Every refusal is counted by channel and
// reason (kafkaobs_agent_intake_refusals_total) and logged, at most once per reason per 10 s.
import type { IncomingMessage, Server, ServerOptions as HttpServerOptions, ServerResponse } from 'node:http';
import { constants as http2Constants } from 'node:http2';
import type { Socket } from 'node:net';
import { ServerInterceptingCall, status as GrpcStatus, type ServerInterceptor, type ServerOptions as GrpcServerOptions } from '@grpc/grpc-js';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import type { Logger } from 'pino';
import type { IntakeBounds } from './config.js';

/** Why the intake refused, per channel: every reason is exported (at 0) before the first refusal. */
export const REFUSAL_REASONS = {
  http: ['body_too_large', 'too_deep', 'too_many_signals', 'too_many_requests', 'header_timeout', 'body_timeout', 'too_many_connections', 'header_too_large', 'bad_request'],
  grpc: ['body_too_large', 'too_many_signals', 'too_many_requests', 'body_timeout', 'malformed'],
} as const;
export type Channel = keyof typeof REFUSAL_REASONS;
export type RefusalReason<C extends Channel = Channel> = (typeof REFUSAL_REASONS)[C][number];

const LOG_EVERY_MS = 10_000;

const mib = (n: number): string => (n % 1024 === 0 && n >= 1024 ? (n % (1024 * 1024) === 0 ? `${n / 1024 / 1024} MiB` : `${n / 1024} KiB`) : `${n} bytes`);

export class IntakeGuard {
  /** Refusals by channel, then reason. */
  readonly refusals: Map<Channel, Map<string, number>> = new Map();
  private inFlightNow = 0;
  private readonly lastLogged = new Map<string, { at: number; suppressed: number }>();

  constructor(
    readonly bounds: IntakeBounds,
    private readonly logger?: Logger,
    private readonly clock: () => number = () => performance.now(),
  ) {
    for (const channel of Object.keys(REFUSAL_REASONS) as Channel[]) {
      this.refusals.set(channel, new Map(REFUSAL_REASONS[channel].map((r) => [r, 0])));
    }
  }

  /** Requests and calls being handled now (HTTP POST /v1/signals and gRPC Emit together). */
  get inFlight(): number {
    return this.inFlightNow;
  }

  /** Takes a slot for a request or call; false when `maxInFlight` are in flight already. */
  tryAcquire(): boolean {
    if (this.inFlightNow >= this.bounds.maxInFlight) return false;
    this.inFlightNow++;
    return true;
  }

  release(): void {
    if (this.inFlightNow > 0) this.inFlightNow--;
  }

  /** Counts a refusal and logs it (the first of a reason at once, then at most once per 10 s with how many were not logged). */
  refuse<C extends Channel>(channel: C, reason: RefusalReason<C>, message: string, peer?: string): void {
    const m = this.refusals.get(channel)!;
    m.set(reason, (m.get(reason) ?? 0) + 1);
    if (!this.logger) return;
    const key = `${channel}/${reason}`;
    const now = this.clock();
    const last = this.lastLogged.get(key);
    if (last && now - last.at < LOG_EVERY_MS) {
      last.suppressed++;
      return;
    }
    // Only what the agent decided: never the request's headers or body (they may carry secrets).
    this.logger.warn({ channel, reason, peer, notLoggedSinceLast: last?.suppressed ?? 0 }, 'intake refused a request: %s', message);
    this.lastLogged.set(key, { at: now, suppressed: 0 });
  }

  // ---- HTTP ----

  /** Options for node:http's createServer: header size, header and request deadlines, keep-alive. */
  httpServerOptions(): HttpServerOptions {
    const b = this.bounds;
    const headersTimeout = Math.min(b.headersTimeoutMs, b.requestTimeoutMs);
    return {
      maxHeaderSize: b.maxHeaderBytes,
      headersTimeout,
      requestTimeout: b.requestTimeoutMs,
      keepAliveTimeout: b.keepAliveTimeoutMs,
      // Node checks the two deadlines on this interval (30 s by default): check often enough
      // that a socket is closed within a quarter of its deadline (at most 1 s) after it passes.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
    };
  }

  /** Caps connections and turns node:http's own refusals (deadlines, header size, bad framing) into counted, precise answers. */
  watchHttp(server: Server): void {
    server.maxConnections = this.bounds.maxConnections;
    // Headers beyond this many are ignored by node:http (their size is bounded by maxHeaderSize).
    server.maxHeadersCount = 100;
    const current = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      current.set(req.socket, { req, res });
    });
    server.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => {
      this.refuse('http', 'too_many_connections', `${this.bounds.maxConnections} connections are open already (--intake-max-connections); the new one was closed`, peerOf(data));
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      const open = current.get(socket);
      const peer = peerOf(socket);
      let code: number;
      let reason: RefusalReason<'http'>;
      let message: string;
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        // A request whose headers were read but not its whole body ran out of the request deadline;
        // anything else (nothing sent yet, or headers still arriving) out of the headers deadline.
        if (open && !open.req.complete && !open.res.writableEnded) {
          code = 408;
          reason = 'body_timeout';
          message = `the request's body did not arrive within ${this.bounds.requestTimeoutMs} ms of its start (--intake-request-timeout-ms)`;
        } else {
          code = 408;
          reason = 'header_timeout';
          message = `the request's headers did not arrive within ${Math.min(this.bounds.headersTimeoutMs, this.bounds.requestTimeoutMs)} ms (--intake-headers-timeout-ms)`;
        }
      } else if (err.code === 'HPE_HEADER_OVERFLOW') {
        code = 431;
        reason = 'header_too_large';
        message = `the request line and headers are larger than ${mib(this.bounds.maxHeaderBytes)} (--intake-max-header-bytes)`;
      } else if (err.code === 'HPE_INVALID_EOF_STATE') {
        // The client closed its side mid-request: it went away, nothing was refused.
        socket.destroy();
        return;
      } else if (typeof err.code === 'string' && err.code.startsWith('HPE_')) {
        code = 400;
        reason = 'bad_request';
        message = `not a valid HTTP/1.1 request (${err.code}: ${String((err as { reason?: unknown }).reason ?? err.message).slice(0, 100)})`;
      } else {
        // The client went away (ECONNRESET, EPIPE...): nothing to answer, nothing refused.
        socket.destroy();
        return;
      }
      this.refuse('http', reason, message, peer);
      if (socket.writable && !(open && open.res.headersSent)) {
        const body = `${JSON.stringify({ error: message })}\n`;
        const status = code === 408 ? 'Request Timeout' : code === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
        socket.write(`HTTP/1.1 ${code} ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
      socket.destroy();
    });
  }

  /**
   * Reads a POST body within the bounds and hands it to `onBody`; or answers the refusal itself
   * (503 over the in-flight cap, 413 over the size) and closes the connection, so what the client
   * still sends is never read. The in-flight slot is held until the response is over.
   */
  receiveHttpBody(req: IncomingMessage, res: ServerResponse, onBody: (body: Buffer) => void): void {
    const peer = peerOf(req.socket);
    if (!this.tryAcquire()) {
      const message = `the intake is handling ${this.bounds.maxInFlight} requests already (--intake-max-in-flight); retry after a second`;
      this.refuse('http', 'too_many_requests', message, peer);
      return refuseHttp(req, res, 503, message, { 'retry-after': '1' });
    }
    res.once('close', () => this.release());
    const max = this.bounds.maxBodyBytes;
    const declared = req.headers['content-length'];
    if (declared !== undefined) {
      const n = Number(declared);
      if (n > max) {
        const message = `body of ${n} bytes (Content-Length) is more than the intake's limit of ${max} bytes (${mib(max)}, --intake-max-body-bytes); send smaller requests`;
        this.refuse('http', 'body_too_large', message, peer);
        return refuseHttp(req, res, 413, message);
      }
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size <= max) {
        chunks.push(c);
        return;
      }
      // Sent without Content-Length (chunked) and past the limit: stop reading, answer, close.
      req.off('data', onData);
      req.off('end', onEnd);
      chunks.length = 0;
      const message = `body is more than the intake's limit of ${max} bytes (${mib(max)}, --intake-max-body-bytes): cut after ${size} bytes; send smaller requests`;
      this.refuse('http', 'body_too_large', message, peer);
      refuseHttp(req, res, 413, message);
    };
    const onEnd = (): void => onBody(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    req.on('data', onData);
    req.on('end', onEnd);
  }

  // ---- gRPC ----

  /** Options for the LocalAgent gRPC server: largest message, streams per connection, and the interceptor that caps calls. */
  grpcServerOptions(): GrpcServerOptions {
    return {
      'grpc.max_receive_message_length': this.bounds.maxBodyBytes,
      'grpc.max_concurrent_streams': this.bounds.maxInFlight,
      interceptors: [this.grpcInterceptor()],
    };
  }

  /**
   * Holds an in-flight slot from a call's headers to its status (RESOURCE_EXHAUSTED when none is
   * free, before the message is read), ends a call whose message has not arrived within the
   * request deadline, and counts grpc-js's own refusal of an oversize message.
   */
  private grpcInterceptor(): ServerInterceptor {
    return (_method, call) => {
      let holding = false;
      let gotMessage = false;
      let ended = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (timer) clearTimeout(timer);
        if (holding) {
          holding = false;
          this.release();
        }
      };
      // grpc-js refuses a message whose length prefix is over grpc.max_receive_message_length
      // itself, on the innermost call, past every interceptor. Its status goes out through this
      // method of that call, so the refusal is seen (and explained) here. (grpc-js is pinned; the
      // intake test fails if this stops being true.)
      const sendStatus = call.sendStatus.bind(call);
      call.sendStatus = (status) => {
        if (!ended && !gotMessage && holding && status.code === GrpcStatus.RESOURCE_EXHAUSTED) {
          const declared = /\((\d+) vs\.? \d+\)/.exec(status.details ?? '')?.[1];
          const message = `SignalBatch${declared ? ` of ${declared} bytes` : ''} is more than the intake's limit of ${this.bounds.maxBodyBytes} bytes (${mib(this.bounds.maxBodyBytes)}, --intake-max-body-bytes); send smaller batches`;
          this.refuse('grpc', 'body_too_large', message, call.getPeer());
          status = { ...status, details: message };
        }
        const refusedUnread = !ended && !gotMessage;
        ended = true;
        finish();
        sendStatus(status);
        // Answered before the message was read (refused): tell the client to stop sending
        // (RST_STREAM NO_ERROR after the status, as RFC 9113 8.1 allows), so a caller cannot hold
        // the stream open. The stream is the innermost call's own (not in grpc-js's types).
        if (refusedUnread) resetAfterStatus(call);
      };
      return new ServerInterceptingCall(call, {
        start: (next) =>
          next({
            onReceiveMetadata: (metadata, nextMetadata) => {
              if (!this.tryAcquire()) {
                const message = `the intake is handling ${this.bounds.maxInFlight} requests already (--intake-max-in-flight); retry after a second`;
                this.refuse('grpc', 'too_many_requests', message, call.getPeer());
                call.sendStatus({ code: GrpcStatus.RESOURCE_EXHAUSTED, details: message });
                return;
              }
              holding = true;
              timer = setTimeout(() => {
                const message = `the call's message did not arrive within ${this.bounds.requestTimeoutMs} ms (--intake-request-timeout-ms)`;
                this.refuse('grpc', 'body_timeout', message, call.getPeer());
                call.sendStatus({ code: GrpcStatus.DEADLINE_EXCEEDED, details: message });
              }, this.bounds.requestTimeoutMs);
              nextMetadata(metadata);
            },
            onReceiveMessage: (message, nextMessage) => {
              gotMessage = true;
              if (timer) clearTimeout(timer);
              nextMessage(message);
            },
            onCancel: finish,
          }),
      });
    };
  }
}

/** The signals (field 1) of an encoded SignalBatch, counted without decoding them; stops past `max`. Throws on a malformed frame. */
export function countSignals(bytes: Uint8Array, max: number): number {
  const reader = new BinaryReader(bytes);
  let n = 0;
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && ++n > max) return n;
    reader.skip(wireType, field);
  }
  return n;
}

function resetAfterStatus(call: object): void {
  const stream = (call as { stream?: unknown }).stream;
  if (typeof stream !== 'object' || stream === null) return;
  const h2 = stream as { closed?: boolean; destroyed?: boolean; close?: (code?: number) => void };
  if (typeof h2.close !== 'function') return;
  setImmediate(() => {
    if (!h2.closed && !h2.destroyed) h2.close!(http2Constants.NGHTTP2_NO_ERROR);
  });
}

/** How long a refused connection stays open, unread, after its answer (so the client reads the answer before the reset). */
const LINGER_MS = 1000;

/**
 * Answers a refusal and closes the connection after it, without reading what the client still
 * sends. Reading stops (the request is paused: node:http stops reading the socket once the
 * request's small buffer is full, and does not drain it after the answer since it is marked
 * consumed); the answer goes out with `Connection: close` and a FIN; the socket is destroyed a
 * second later. Destroying it at once (node:http's own way) resets a connection with unread data
 * under a client still uploading, and the client may lose the answer to EPIPE (measured: 1 in 2
 * uploads of 100 MB with node:http's client); the delay lets it read the answer first, as Go's
 * server and nginx's lingering close do. Until then the client can only fill the socket buffers.
 */
function refuseHttp(req: IncomingMessage, res: ServerResponse, code: number, message: string, headers: Record<string, string> = {}): void {
  const socket = req.socket;
  if (!req.complete) {
    req.pause();
    req.read(0); // marks the request consumed: node:http then does not read (discard) the rest of it
    socket.destroySoon = () => {
      if (socket.writable) socket.end();
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    };
  }
  const body = `${JSON.stringify({ error: message })}\n`;
  res.writeHead(code, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

function peerOf(s: { remoteAddress?: string | undefined; remotePort?: number | undefined } | undefined): string | undefined {
  return s?.remoteAddress ? `${s.remoteAddress}:${s.remotePort ?? ''}` : undefined;
}
