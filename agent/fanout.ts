// Several aggregators (an HA pair): one queue per link over the same numbered signals. The first
// queue numbers and stamps each signal; the others hold the same signal (same source, seq,
// timestamp, clock), so both aggregators see it alike and an upstream can merge what they decide.
// A signal leaves a link's queue when that aggregator acknowledges it, or when the queue is full
// (the link has been away long enough for `capacity` signals to pile up): then its oldest goes,
// counted as that link's drop. Memory is bounded by links × capacity. Under "block" a caller waits
// only while every link's queue is full (a dead aggregator alone never blocks the service).
import type { Signal } from '../proto/index.js';
import { Outbox, OutboxFullError, type FullPolicy, type OutboxStats } from './outbox.js';

/** What the intake and sensors need of an outbox. */
export interface SignalQueue {
  readonly sourceId: string;
  readonly blockTimeoutMs: number;
  add(signal: Signal, nowNs: bigint, deadlineMs?: number): Promise<number>;
  /** `add` if it need not wait (the count dropped for it), else undefined and nothing is done. */
  offer(signal: Signal, nowNs: bigint): number | undefined;
}

export class FanOutbox implements SignalQueue {
  /** One queue per aggregator, in the order given. */
  readonly queues: Outbox[];

  constructor(
    readonly sourceId: string,
    links: number,
    readonly capacity: number,
    readonly policy: FullPolicy,
    readonly blockTimeoutMs = 5000,
    firstSeq: bigint = BigInt(Date.now()) * 1000n,
  ) {
    this.queues = Array.from({ length: links }, () => new Outbox(sourceId, capacity, 'drop-oldest', firstSeq, blockTimeoutMs));
  }

  offer(signal: Signal, nowNs: bigint): number | undefined {
    if (this.policy === 'block' && this.queues.every((q) => q.size >= q.capacity)) return undefined;
    return this.enqueue(signal, nowNs);
  }

  async add(signal: Signal, nowNs: bigint, deadlineMs = Infinity): Promise<number> {
    if (this.policy === 'block' && this.queues.every((q) => q.size >= q.capacity)) {
      const started = Date.now();
      this.queues[0]!.stats.blocked++;
      while (this.queues.every((q) => q.size >= q.capacity)) {
        const left = deadlineMs - (Date.now() - started);
        if (left <= 0) {
          this.queues[0]!.stats.blockTimeouts++;
          throw new OutboxFullError(deadlineMs, this.capacity);
        }
        const ac = new AbortController();
        const t = Number.isFinite(left) ? setTimeout(() => ac.abort(), left) : undefined;
        await Promise.race(this.queues.map((q) => q.nextAck(ac.signal)));
        clearTimeout(t);
        ac.abort();
      }
    }
    return this.enqueue(signal, nowNs);
  }

  private enqueue(signal: Signal, nowNs: bigint): number {
    // Numbered by the first queue (drop-oldest: it never waits); copied into the others.
    let dropped = this.queues[0]!.offer(signal, nowNs)!;
    for (let i = 1; i < this.queues.length; i++) dropped += this.queues[i]!.addNumbered(signal);
    return dropped;
  }

  /** Signals not yet acknowledged by every aggregator (the longest queue). */
  get size(): number {
    return Math.max(...this.queues.map((q) => q.size));
  }

  get lastSeq(): bigint {
    return this.queues[0]!.lastSeq;
  }

  /** The highest seq every aggregator acknowledged. */
  get ackedSeq(): bigint {
    return this.queues.reduce((m, q) => (q.ackedSeq < m ? q.ackedSeq : m), this.queues[0]!.ackedSeq);
  }

  /** The links' stats summed (each link counts its own drops and acks). */
  get stats(): OutboxStats {
    const sum: OutboxStats = { added: 0, dropped: 0, droppedUnsent: 0, evictedDelivered: 0, acked: 0, blocked: 0, blockTimeouts: 0 };
    for (const q of this.queues) for (const k of Object.keys(sum) as (keyof OutboxStats)[]) sum[k] += q.stats[k];
    return sum;
  }

  /** Resolves once every link's queue is empty (or on abort). */
  async drained(signal: AbortSignal): Promise<boolean> {
    const all = await Promise.all(this.queues.map((q) => q.drained(signal)));
    return all.every(Boolean);
  }
}

/** The aggregator URLs of AGGREGATOR_URL / --aggregator-url: one, or several separated by commas. */
export function splitUrls(value: string): string[] {
  return value.split(',').map((u) => u.trim()).filter((u) => u !== '');
}
