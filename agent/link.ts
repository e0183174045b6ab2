// The agent's link to the aggregator: one bidirectional stream at a time, batches out, acks in.
// On any failure it reconnects with exponential backoff and full jitter and sends again, oldest
// first, everything the aggregator has not acknowledged.
import { createChannel, createClientFactory, type Channel } from 'nice-grpc';
import type { Logger } from 'pino';
import { SignalAggregatorDefinition, directDefinition, type Ack, type SignalBatch } from '../proto/index.js';
import { bearerToken, channelCredentials, channelOptions, parseTarget, type ClientTls } from './connection.js';
import type { Outbox } from './outbox.js';

export interface LinkOptions {
  url: string;
  tls: ClientTls;
  token?: string;
  maxBatch: number;
  lingerMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export interface LinkStats {
  connected: boolean;
  connects: number;
  failures: number;
  batchesSent: number;
  signalsSent: number;
  /** Signals the aggregator refused (invalid); they are acknowledged and not sent again. */
  rejectedByAggregator: number;
  lastError: string;
}

/** The delay before reconnect attempt `attempt` (0-based): full jitter over an exponential cap. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

export class AggregatorLink {
  readonly stats: LinkStats = { connected: false, connects: 0, failures: 0, batchesSent: 0, signalsSent: 0, rejectedByAggregator: 0, lastError: '' };
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
    this.channel = createChannel(target.address, channelCredentials(target, options.tls), channelOptions(options.tls));
    const factory = options.token ? createClientFactory().use(bearerToken(options.token)) : createClientFactory();
    this.client = factory.create(directDefinition(SignalAggregatorDefinition), this.channel);
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
    while (!this.stop.signal.aborted) {
      const streamStop = new AbortController();
      const onStop = (): void => streamStop.abort();
      this.stop.signal.addEventListener('abort', onStop, { once: true });
      let acked = false;
      try {
        this.outbox.rewind();
        const acks = this.client.streamSignals(this.batches(streamStop.signal), { signal: streamStop.signal });
        for await (const ack of acks) {
          if (!this.stats.connected) {
            this.stats.connected = true;
            this.stats.connects++;
            this.logger.info({ url: this.options.url }, 'connected to aggregator');
          }
          acked = true;
          attempt = 0;
          this.onAck(ack);
        }
        if (!this.stop.signal.aborted) this.logger.info('aggregator ended the stream (draining); reconnecting');
      } catch (e) {
        if (this.stop.signal.aborted) break;
        this.stats.failures++;
        this.stats.lastError = (e as Error).message;
        const delay = backoffDelay(attempt++, this.options.backoffBaseMs, this.options.backoffMaxMs);
        this.logger.warn({ err: this.stats.lastError, retryInMs: delay, unacked: this.outbox.size, wasConnected: this.stats.connected || acked }, 'aggregator stream failed');
        this.stats.connected = false;
        await sleep(delay, this.stop.signal);
        continue;
      } finally {
        streamStop.abort();
        this.stop.signal.removeEventListener('abort', onStop);
      }
      this.stats.connected = false;
      await sleep(backoffDelay(0, this.options.backoffBaseMs, this.options.backoffMaxMs), this.stop.signal);
    }
    this.stats.connected = false;
  }

  private async *batches(signal: AbortSignal): AsyncIterable<SignalBatch> {
    yield { signals: [] }; // hello: its ack confirms the stream even when there is nothing to send
    while (!signal.aborted) {
      const signals = await this.outbox.nextBatch(this.options.maxBatch, this.options.lingerMs, signal);
      if (!signals) return;
      this.stats.batchesSent++;
      this.stats.signalsSent += signals.length;
      yield { signals };
    }
  }

  private onAck(ack: Ack): void {
    if (ack.sourceId !== this.outbox.sourceId) return; // the hello's answer
    for (const r of ack.rejections) {
      this.stats.rejectedByAggregator++;
      this.logger.warn({ seq: r.seq.toString(), subject: r.subject }, 'aggregator rejected signal: %s', r.reason);
    }
    this.outbox.ack(ack.ackedSeq);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
