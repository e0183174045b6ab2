// The agent's link to the aggregator: one bidirectional stream at a time, batches out, acks in.
// A stream is established when the aggregator answers its hello; only then are batches written
// (and counted as sent). On any failure it reconnects with exponential backoff and full jitter
// and sends again, oldest first, everything the aggregator has not acknowledged. While it waits
// it probes the aggregator's port cheaply (a TCP connect every ~0.5 s), so it is back within
// about a second of the aggregator returning rather than at the end of a long backoff.
import { connect } from 'node:net';
import { createChannel, createClientFactory, ClientError, Status, type Channel, type MethodDefinition } from 'nice-grpc';
import type { Logger } from 'pino';
import { Ack, SignalBatch } from '../proto/index.js';
import { bearerToken, channelCredentials, channelOptions, parseTarget, type ClientTls } from './connection.js';
import type { Outbox } from './outbox.js';
import { encodeSignalBatch } from './wire.js';
import { setTimeout as wait } from 'node:timers/promises';

export interface LinkOptions {
  url: string;
  tls: ClientTls;
  token?: string;
  maxBatch: number;
  lingerMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** With nothing to send this long, an empty batch keeps the stream alive (the aggregator ends silent streams). */
  keepaliveMs: number;
}

export interface LinkStats {
  connected: boolean;
  connects: number;
  failures: number;
  batchesSent: number;
  signalsSent: number;
  /** Signals the aggregator refused (invalid); they are acknowledged and not sent again. */
  rejectedByAggregator: number;
  /** Acks beyond anything this agent sent: someone else spoke as this source. */
  acksBeyondSent: number;
  lastError: string;
}

/** The delay before reconnect attempt `attempt` (0-based): full jitter over an exponential cap. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/**
 * The one method of kafkaobs.v1.SignalAggregator the agent calls. Not the generated service
 * definition: that one holds every method's messages (events, cells, narratives, federation),
 * which the agent would load and keep for nothing. Batches are written by the agent's own encoder
 * (the same bytes, less garbage: agent/wire.ts). test/unit-agent-wire.test.ts checks it against
 * the generated definition.
 */
export const STREAM_SIGNALS: MethodDefinition<SignalBatch, SignalBatch, Ack, Ack, true, true> = {
  path: '/kafkaobs.v1.SignalAggregator/StreamSignals',
  requestStream: true,
  responseStream: true,
  requestSerialize: encodeSignalBatch,
  requestDeserialize: (bytes) => SignalBatch.decode(bytes),
  responseSerialize: (ack) => Ack.encode(ack).finish(),
  responseDeserialize: (bytes) => Ack.decode(bytes),
  options: {},
};

/** Codes by which the aggregator answered and said no (as opposed to not being there). */
const REFUSALS = new Set([Status.RESOURCE_EXHAUSTED, Status.INVALID_ARGUMENT, Status.UNAUTHENTICATED, Status.PERMISSION_DENIED, Status.FAILED_PRECONDITION, Status.UNIMPLEMENTED]);

/** host and port of "host:port" or "[v6]:port". */
function hostPort(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  return m ? { host: m[1]!, port: Number(m[2]) } : { host: address, port: 50051 };
}

/** Whether something listens at host:port (a TCP connect that is closed at once). */
export function probe(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Waits `ms`, or less: until `ready()` probes true (tried every ~0.5 s with jitter), or `signal` aborts. */
async function waitOrProbe(ms: number, signal: AbortSignal, ready: () => Promise<boolean>, everyMs = 500): Promise<void> {
  const until = Date.now() + ms;
  while (!signal.aborted) {
    const left = until - Date.now();
    if (left <= 0) return;
    await sleep(Math.min(left, Math.round(everyMs / 2 + Math.random() * everyMs)), signal);
    if (signal.aborted || Date.now() >= until) return;
    if (await ready()) return;
  }
}

export class AggregatorLink {
  readonly stats: LinkStats = { connected: false, connects: 0, failures: 0, batchesSent: 0, signalsSent: 0, rejectedByAggregator: 0, acksBeyondSent: 0, lastError: '' };
  private readonly target: { host: string; port: number };
  private readonly channel: Channel;
  private readonly client;
  private readonly stop = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly outbox: Outbox,
    private readonly options: LinkOptions,
    private readonly logger: Logger,
  ) {
    const target = parseTarget(options.url);
    this.target = hostPort(target.address);
    this.channel = createChannel(target.address, channelCredentials(target, options.tls), channelOptions(options.tls));
    const factory = options.token ? createClientFactory().use(bearerToken(options.token)) : createClientFactory();
    this.client = factory.create({ streamSignals: STREAM_SIGNALS }, this.channel);
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Stops streaming; unacknowledged signals stay in the outbox. */
  async close(): Promise<void> {
    this.stop.abort();
    await this.running;
    this.channel.close();
  }

  private async run(): Promise<void> {
    let attempt = 0;
    const reachable = (): Promise<boolean> => probe(this.target.host, this.target.port);
    while (!this.stop.signal.aborted) {
      const streamStop = new AbortController();
      const onStop = (): void => streamStop.abort();
      this.stop.signal.addEventListener('abort', onStop, { once: true });
      let acked = false;
      let established!: () => void;
      const isEstablished = new Promise<void>((r) => (established = r));
      try {
        this.outbox.rewind();
        const acks = this.client.streamSignals(this.batches(streamStop.signal, isEstablished), { signal: streamStop.signal });
        for await (const ack of acks) {
          if (!acked) {
            acked = true;
            this.stats.connected = true;
            this.stats.connects++;
            this.logger.info({ url: this.options.url }, 'connected to aggregator');
            established();
          }
          attempt = 0;
          this.onAck(ack);
        }
        if (!this.stop.signal.aborted) this.logger.info('aggregator ended the stream (draining); reconnecting');
      } catch (e) {
        if (this.stop.signal.aborted) break;
        this.stats.failures++;
        this.stats.lastError = (e as Error).message;
        // The aggregator answered and refused (e.g. its disk is full): back off, up to 5 s, without
        // probing (it is reachable). It could not be reached: back off, probing its port meanwhile.
        const refused = /not taking signals/.test(this.stats.lastError) || (e instanceof ClientError && REFUSALS.has(e.code));
        const delay = backoffDelay(attempt++, this.options.backoffBaseMs, refused ? Math.min(5000, this.options.backoffMaxMs) : this.options.backoffMaxMs);
        this.logger.warn({ err: this.stats.lastError, retryInMs: delay, unacked: this.outbox.size, wasConnected: acked, probing: !refused }, 'aggregator stream failed');
        this.stats.connected = false;
        this.outbox.streamFailed();
        if (refused) await sleep(delay, this.stop.signal);
        else await waitOrProbe(delay, this.stop.signal, reachable);
        continue;
      } finally {
        streamStop.abort();
        this.stop.signal.removeEventListener('abort', onStop);
      }
      this.stats.connected = false;
      this.outbox.streamFailed();
      // Ended by the aggregator (it drains): another instance may take over at once.
      await waitOrProbe(backoffDelay(0, this.options.backoffBaseMs, this.options.backoffMaxMs), this.stop.signal, reachable, 100);
    }
    this.stats.connected = false;
  }

  private async *batches(signal: AbortSignal, established: Promise<void>): AsyncIterable<SignalBatch> {
    yield { signals: [] }; // hello: its ack confirms the stream even when there is nothing to send
    // Nothing is written into a stream the aggregator has not answered.
    await Promise.race([established, new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))]);
    while (!signal.aborted) {
      const signals = await this.outbox.nextBatch(this.options.maxBatch, this.options.lingerMs, signal, this.options.keepaliveMs);
      if (!signals) return;
      if (signals.length === 0) {
        yield { signals }; // keepalive
        continue;
      }
      this.stats.batchesSent++;
      this.stats.signalsSent += signals.length;
      yield { signals };
    }
  }

  private onAck(ack: Ack): void {
    if (ack.sourceId !== this.outbox.sourceId) return; // the hello's answer
    if (ack.ackedSeq > this.outbox.lastSeq) {
      this.stats.acksBeyondSent++;
      const lastSent = this.outbox.lastSeq.toString();
      const renumbered = this.outbox.renumberAfter(ack.ackedSeq);
      this.logger.error(
        { ackedSeq: ack.ackedSeq.toString(), lastSent, renumbered, sourceId: this.outbox.sourceId },
        'the aggregator acknowledged a seq beyond anything this agent sent: another client spoke as this source (give each agent its own identity on the aggregator). Unacknowledged signals are numbered after it and sent again',
      );
      throw new Error('acknowledged beyond what was sent; resending renumbered signals');
    }
    for (const r of ack.rejections) {
      this.stats.rejectedByAggregator++;
      this.logger.warn({ seq: r.seq.toString(), subject: r.subject }, 'aggregator rejected signal: %s', r.reason);
    }
    this.outbox.ack(ack.ackedSeq);
  }
}

/** Waits `ms`, or less if `signal` aborts (never rejects). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return wait(ms, undefined, { signal }).catch(() => {});
}
