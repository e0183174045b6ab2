// Hands signals to the agent beside the service: POST /v1/signals (NDJSON) on its local HTTP
// intake, over one keep-alive connection, one request in flight at a time. Signals wait in a
// bounded buffer (the oldest dropped when full, counted); when the agent is away they wait
// there and the sender retries with exponential backoff and jitter, telling `onError` once per
// outage instead of once per attempt. Nothing here throws to the caller.
import { Agent, request } from 'node:http';
import { Signal } from '../../proto/gen/kafkaobs/v1/signal.js';

export interface SenderOptions {
  /** The agent's local HTTP intake, e.g. http://127.0.0.1:8081 (the path /v1/signals is added when missing). */
  url: string;
  /** Signals kept while the agent is slow or away; beyond it the oldest are dropped (counted). */
  maxBuffered: number;
  /** Signals per POST. */
  maxBatch: number;
  /** A POST that takes longer is abandoned and retried. */
  timeoutMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  /** Told when the agent becomes unreachable (once per outage) and when it refuses signals. */
  onError?: (error: Error) => void;
}

export interface SenderStats {
  /** Signals waiting to be sent (or in flight). */
  buffered: number;
  /** Signals the agent accepted. */
  sent: number;
  /** Signals the agent refused as invalid (a bug here: reported through onError). */
  rejected: number;
  /** Signals dropped because the buffer was full, or lost with a POST that failed after they were dropped from it. */
  dropped: number;
  posts: number;
  /** POSTs that failed (agent away, timed out, answered 5xx): their signals are retried. */
  failedPosts: number;
  /** The last failure, if the agent is away now. */
  lastError: string | undefined;
}

interface IntakeReply {
  accepted?: number;
  rejections?: { index?: number; reason?: string }[];
  error?: string;
}

export function intakeUrl(base: string): URL {
  const u = new URL(base);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/v1/signals';
  return u;
}

export class Sender {
  private buf: string[] = [];
  private head = 0;
  /** Absolute index of buf[head] (lines ever pushed before it). */
  private base = 0;
  /** Absolute end of the batch in flight (0: none). */
  private inflightEnd = 0;
  private inflight: Promise<void> | undefined;
  private nextAttemptAt = 0;
  private backoffMs: number;
  private away = false;
  private failuresInARow = 0;
  private readonly reported = new Set<string>();
  private readonly url: URL;
  private readonly agent: Agent;
  private closed = false;
  readonly stats: SenderStats = { buffered: 0, sent: 0, rejected: 0, dropped: 0, posts: 0, failedPosts: 0, lastError: undefined };

  constructor(private readonly o: SenderOptions, private readonly clock: () => number = Date.now) {
    this.url = intakeUrl(o.url);
    this.backoffMs = o.backoffMinMs;
    // Idle sockets are closed before the agent's own keep-alive timeout (Node's default 5 s) can
    // close them under a request just being written.
    this.agent = new Agent({ keepAlive: true, maxSockets: 1, timeout: 4000 });
  }

  get size(): number {
    return this.buf.length - this.head;
  }

  /** Queues signals (serialised now, off the service's hot path). */
  push(signals: readonly Signal[]): void {
    for (const s of signals) {
      let line: string;
      try {
        line = JSON.stringify(Signal.toJSON(s));
      } catch {
        this.stats.rejected++;
        continue;
      }
      if (this.size >= this.o.maxBuffered) {
        // Drop the oldest; one in flight is not lost yet (it is lost if that POST fails).
        if (this.base >= this.inflightEnd) this.stats.dropped++;
        this.buf[this.head++] = '';
        this.base++;
      }
      this.buf.push(line);
    }
    this.compact();
    this.stats.buffered = this.size;
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.buf.length) {
      this.buf = this.buf.slice(this.head);
      this.head = 0;
    }
  }

  /** Starts a POST if there is something to send, none is in flight and no backoff is pending. */
  pump(): void {
    if (this.closed || this.inflight || this.size === 0 || this.clock() < this.nextAttemptAt) return;
    this.inflight = this.post().finally(() => {
      this.inflight = undefined;
    });
  }

  /** Sends everything buffered, or gives up after `timeoutMs` or at the first failure. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = this.clock() + timeoutMs;
    while (!this.closed && this.clock() < deadline) {
      if (this.inflight) {
        await this.inflight;
        continue;
      }
      if (this.size === 0) return;
      const before = this.stats.failedPosts;
      this.nextAttemptAt = 0;
      this.pump();
      if (!this.inflight) return;
      await this.inflight;
      if (this.stats.failedPosts > before) return;
    }
  }

  close(): void {
    this.closed = true;
    this.agent.destroy();
  }

  private post(): Promise<void> {
    const start = this.base;
    const n = Math.min(this.size, this.o.maxBatch);
    const lines = this.buf.slice(this.head, this.head + n);
    this.inflightEnd = start + n;
    const body = `${lines.join('\n')}\n`;
    this.stats.posts++;
    return new Promise<void>((resolve) => {
      let settled = false;
      const done = (status: number | undefined, text: string, err: Error | undefined): void => {
        if (settled) return;
        settled = true;
        try {
          this.finish(start, n, status, text, err);
        } catch {
          // Never throw into the timer (or the service).
        }
        resolve();
      };
      try {
        const req = request(this.url, {
          method: 'POST',
          agent: this.agent,
          timeout: this.o.timeoutMs,
          headers: { 'content-type': 'application/x-ndjson', 'content-length': Buffer.byteLength(body) },
        }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => done(res.statusCode, Buffer.concat(chunks).toString('utf8'), undefined));
          res.on('error', (e) => done(undefined, '', e));
        });
        req.on('timeout', () => req.destroy(new Error(`no answer within ${this.o.timeoutMs} ms`)));
        req.on('error', (e) => done(undefined, '', e));
        req.end(body);
      } catch (e) {
        done(undefined, '', e as Error);
      }
    });
  }

  /** Settles the batch [start, start + n) (absolute indices) after its POST. */
  private finish(start: number, n: number, status: number | undefined, text: string, err: Error | undefined): void {
    this.inflightEnd = 0;
    const end = start + n;
    // Lines of the batch still in the buffer (drop-oldest may have removed some meanwhile).
    const stillHere = Math.max(0, end - this.base);
    const lostMeanwhile = n - Math.min(n, stillHere);
    const failed = err !== undefined || status === undefined || status >= 500 || status === 408 || status === 429;
    if (failed) {
      this.stats.failedPosts++;
      this.stats.dropped += lostMeanwhile;
      const why = err ? `${err.message}` : `HTTP ${status}: ${text.slice(0, 200)}`;
      this.stats.lastError = `agent at ${this.url.origin}: ${why}`;
      this.nextAttemptAt = this.clock() + this.backoffMs * (0.5 + Math.random());
      this.backoffMs = Math.min(this.o.backoffMaxMs, this.backoffMs * 2);
      // Told once per outage, and only from the second failure in a row (one reset is a hiccup).
      if (!this.away && ++this.failuresInARow >= 2) {
        this.away = true;
        this.report(`kafka-obs instrumentation: cannot reach the agent at ${this.url.href} (${why}); keeping up to ${this.o.maxBuffered} signals and retrying`, false);
      }
      return;
    }
    // Answered: the batch is settled either way (a 4xx will not get better by resending it).
    this.away = false;
    this.failuresInARow = 0;
    this.backoffMs = this.o.backoffMinMs;
    this.nextAttemptAt = 0;
    this.stats.lastError = undefined;
    const removed = Math.min(stillHere, this.size);
    for (let i = 0; i < removed; i++) this.buf[this.head + i] = '';
    this.head += removed;
    this.base += removed;
    this.compact();
    this.stats.buffered = this.size;
    let reply: IntakeReply = {};
    try {
      reply = JSON.parse(text) as IntakeReply;
    } catch {
      // Not JSON: judged by the status alone.
    }
    const rejections = Array.isArray(reply.rejections) ? reply.rejections : [];
    if (status !== undefined && status >= 200 && status < 300) {
      this.stats.sent += typeof reply.accepted === 'number' ? reply.accepted : n - rejections.length;
      this.stats.rejected += rejections.length;
    } else {
      this.stats.rejected += n;
    }
    const reason = rejections[0]?.reason ?? (status !== undefined && (status < 200 || status >= 300) ? `HTTP ${status}: ${reply.error ?? text.slice(0, 200)}` : undefined);
    if (reason !== undefined) this.report(`kafka-obs instrumentation: the agent refused ${rejections.length || n} signal(s): ${reason}`, true);
  }

  private report(message: string, once: boolean): void {
    if (!this.o.onError) return;
    if (once) {
      if (this.reported.has(message) || this.reported.size > 100) return;
      this.reported.add(message);
    }
    try {
      this.o.onError(new Error(message));
    } catch {
      // The callback's own trouble is not ours to raise.
    }
  }
}
