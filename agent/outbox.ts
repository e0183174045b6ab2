// The agent's outbox: every signal taken from the service waits here, numbered, until the
// aggregator acknowledges it. Bounded; when full it either makes the producer wait ("block", up
// to a deadline, then OutboxFullError) or drops the oldest signal ("drop-oldest"). Drops are
// counted exactly: a signal dropped before it was ever written is lost; one dropped while in
// flight (written, not yet acknowledged) is lost only if its stream fails before the ack
// covers it — an ack that does cover it means it was delivered after all.
import { boundClock, mergeClock, type Signal, type VectorClock } from '../proto/index.js';

export type FullPolicy = 'block' | 'drop-oldest';

export interface OutboxStats {
  added: number;
  /** Signals dropped and not delivered: never written, or written on a stream that failed before acknowledging them. */
  dropped: number;
  /** Of those, dropped before they were ever written. */
  droppedUnsent: number;
  /** Signals evicted while in flight that the aggregator then acknowledged (delivered: not lost). */
  evictedDelivered: number;
  acked: number;
  /** Times a producer had to wait for room (block policy). */
  blocked: number;
  /** Times a producer gave up waiting for room (block policy, past the deadline). */
  blockTimeouts: number;
}

/** The outbox stayed full past the block deadline: the caller should retry later (HTTP 429/503). */
export class OutboxFullError extends Error {
  constructor(readonly waitedMs: number, readonly capacity: number) {
    super(`the outbox is full (${capacity} signals waiting for the aggregator's acknowledgement) and no room came within ${waitedMs} ms`);
  }
}

const MAX_CLOCK_ENTRIES = 64;

export class Outbox {
  private items: Signal[] = [];
  private head = 0;
  /** Index (from head) of the first signal not yet written on the current stream. */
  private unsent = 0;
  private nextSeq: bigint;
  private lastAcked: bigint;
  private readonly clock: VectorClock = {};
  /** Entries in `clock`, so most signals (no clock of their own) need no count of its keys. */
  private clockEntries = 0;
  /** The batch being gathered waits for `need` unsent signals: woken once, not at every signal. */
  private waitingForWork: { need: number; wake: () => void }[] = [];
  private readonly waitingForRoom: (() => void)[] = [];
  private waitingForAck: (() => void)[] = [];
  /** Seqs of signals evicted while in flight, ascending: delivered if an ack covers them, lost if their stream fails first. */
  private evictedInFlight: bigint[] = [];
  readonly stats: OutboxStats = { added: 0, dropped: 0, droppedUnsent: 0, evictedDelivered: 0, acked: 0, blocked: 0, blockTimeouts: 0 };

  constructor(
    readonly sourceId: string,
    readonly capacity: number,
    readonly policy: FullPolicy,
    /** First seq: the wall clock in microseconds, so a restarted agent keeps increasing. */
    firstSeq: bigint = BigInt(Date.now()) * 1000n,
    /** Under "block", how long a caller of the intake (HTTP, gRPC) waits for room before a 429/503. */
    readonly blockTimeoutMs = 5000,
  ) {
    this.nextSeq = firstSeq;
    this.lastAcked = firstSeq - 1n;
  }

  get size(): number {
    return this.items.length - this.head;
  }

  get pendingUnsent(): number {
    return this.size - this.unsent;
  }

  get ackedSeq(): bigint {
    return this.lastAcked;
  }

  get lastSeq(): bigint {
    return this.nextSeq - 1n;
  }

  /**
   * Numbers, stamps and queues one signal. Under "block" it waits while the outbox is full, at
   * most `deadlineMs` (then OutboxFullError); under "drop-oldest" it never waits. Returns how
   * many old signals were dropped for it that had never been sent.
   */
  async add(signal: Signal, nowNs: bigint, deadlineMs = Infinity): Promise<number> {
    const dropped = this.offer(signal, nowNs);
    if (dropped !== undefined) return dropped;
    return this.addWaiting(signal, nowNs, deadlineMs);
  }

  /**
   * `add` without waiting: queues the signal and returns how many were dropped for it, or
   * undefined (nothing done) when the policy is "block" and the outbox is full. The intake takes
   * each signal of a call this way, with no promise per signal, and waits only when it must.
   */
  offer(signal: Signal, nowNs: bigint): number | undefined {
    if (this.policy === 'block') {
      if (this.size >= this.capacity) return undefined;
      this.push(signal, nowNs);
      return 0;
    }
    const dropped = this.makeRoom();
    this.push(signal, nowNs);
    return dropped;
  }

  /** Under "block" with the outbox full: waits for room, at most `deadlineMs`, then queues. */
  private async addWaiting(signal: Signal, nowNs: bigint, deadlineMs: number): Promise<number> {
    this.stats.blocked++;
    const started = Date.now();
    while (this.size >= this.capacity) {
      const left = deadlineMs - (Date.now() - started);
      if (left <= 0) {
        this.stats.blockTimeouts++;
        throw new OutboxFullError(deadlineMs, this.capacity);
      }
      await new Promise<void>((r) => {
        const done = (): void => {
          clearTimeout(t);
          const i = this.waitingForRoom.indexOf(done);
          if (i >= 0) this.waitingForRoom.splice(i, 1);
          r();
        };
        const t = Number.isFinite(left) ? setTimeout(done, left) : undefined;
        this.waitingForRoom.push(done);
      });
    }
    this.push(signal, nowNs);
    return 0;
  }

  /** Drops the oldest until there is room for one; returns how many were lost unsent (counted). */
  private makeRoom(): number {
    let dropped = 0;
    while (this.size >= this.capacity) {
      const old = this.items[this.head]!;
      this.items[this.head++] = undefined as unknown as Signal;
      if (this.unsent > 0) {
        // Written on the current stream: its fate is decided by the next ack or the stream's failure.
        this.unsent--;
        this.evictedInFlight.push(old.seq);
      } else {
        dropped++;
      }
    }
    this.stats.dropped += dropped;
    this.stats.droppedUnsent += dropped;
    return dropped;
  }

  /** The stream failed or ended: what was evicted in flight and not acknowledged is lost. */
  streamFailed(): void {
    if (this.evictedInFlight.length === 0) return;
    this.stats.dropped += this.evictedInFlight.length;
    this.evictedInFlight = [];
  }

  /**
   * Queues a signal another outbox already numbered (several aggregators: one queue per link, the
   * same signals in the same order). Never waits: when full, the oldest is dropped as under
   * "drop-oldest", counted in this queue's stats.
   */
  addNumbered(signal: Signal): number {
    const dropped = this.makeRoom();
    this.nextSeq = signal.seq + 1n;
    this.items.push(signal);
    this.stats.added++;
    this.wakeForWork();
    return dropped;
  }

  /** Resolves at the next acknowledgement (or on abort). */
  nextAck(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waitingForAck.push(resolve);
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  private push(signal: Signal, nowNs: bigint): void {
    const seq = this.nextSeq++;
    signal.sourceId = this.sourceId;
    signal.seq = seq;
    if (signal.timestamp === 0n) signal.timestamp = nowNs;
    // The agent's clock: its own counter is its seq; what the service passed in is merged.
    let merged = false;
    for (const _ in signal.clock) {
      merged = true;
      break;
    }
    if (merged) {
      mergeClock(this.clock, signal.clock);
      this.clockEntries = -1;
    }
    if (this.clock[this.sourceId] === undefined) this.clockEntries = -1;
    this.clock[this.sourceId] = seq;
    if (this.clockEntries < 0) this.clockEntries = Object.keys(this.clock).length;
    const bounded = this.clockEntries <= MAX_CLOCK_ENTRIES ? this.clock : boundClock(this.clock, MAX_CLOCK_ENTRIES, this.sourceId);
    signal.clock = bounded === this.clock ? { ...this.clock } : bounded;
    this.items.push(signal);
    this.stats.added++;
    this.wakeForWork();
  }

  /** Wakes the batch waiting for work if there is now as much unsent as it waits for. */
  private wakeForWork(): void {
    if (this.waitingForWork.length === 0) return;
    const pending = this.pendingUnsent;
    let ready = false;
    for (const w of this.waitingForWork) if (w.need <= pending) ready = true;
    if (!ready) return;
    const all = this.waitingForWork;
    this.waitingForWork = all.filter((w) => w.need > pending);
    for (const w of all) if (w.need <= pending) w.wake();
  }

  /**
   * The next batch to write: waits for at least one unsent signal, then up to `lingerMs` for
   * the batch to fill to `max`. Resolves undefined when `signal` aborts.
   */
  async nextBatch(max: number, lingerMs: number, signal: AbortSignal, idleMs?: number): Promise<Signal[] | undefined> {
    // With nothing to send for `idleMs`, an empty batch: a keepalive the aggregator answers.
    const idleUntil = idleMs !== undefined && idleMs > 0 ? Date.now() + idleMs : undefined;
    while (this.pendingUnsent === 0) {
      if (signal.aborted) return undefined;
      if (idleUntil !== undefined) {
        const left = idleUntil - Date.now();
        if (left <= 0) return [];
        await this.waitForWork(1, signal, left);
      } else await this.waitForWork(1, signal);
    }
    // Lingers until the batch is full or the time is up: one wait, woken when `max` are there.
    if (this.pendingUnsent < max && lingerMs > 0 && !signal.aborted) await this.waitForWork(max, signal, lingerMs);
    if (signal.aborted || this.pendingUnsent === 0) return undefined;
    const start = this.head + this.unsent;
    const n = Math.min(max, this.pendingUnsent);
    this.unsent += n;
    return this.items.slice(start, start + n);
  }

  /** Forgets every signal up to and including `seq`. */
  ack(seq: bigint): void {
    if (seq <= this.lastAcked) return;
    this.lastAcked = seq;
    if (this.evictedInFlight.length > 0) {
      let n = 0;
      while (n < this.evictedInFlight.length && this.evictedInFlight[n]! <= seq) n++;
      if (n > 0) {
        this.stats.evictedDelivered += n;
        this.evictedInFlight.splice(0, n);
      }
    }
    let freed = 0;
    while (this.head < this.items.length && this.items[this.head]!.seq <= seq) {
      this.items[this.head++] = undefined as unknown as Signal;
      freed++;
    }
    this.unsent = Math.max(0, this.unsent - freed);
    this.stats.acked += freed;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.waitingForAck.length > 0) {
      const w = this.waitingForAck;
      this.waitingForAck = [];
      for (const f of w) f();
    }
    if (freed > 0 && this.waitingForRoom.length > 0) {
      for (const w of this.waitingForRoom.splice(0, freed)) w();
    }
  }

  /**
   * The aggregator acknowledged `acked`, beyond anything this agent numbered: another client spoke
   * as this source with a higher seq, and the aggregator would now take everything of ours as a
   * duplicate. Our unacknowledged signals are numbered again after it, so they are taken; the
   * caller sends them again. Returns how many were renumbered.
   */
  renumberAfter(acked: bigint): number {
    let seq = acked + 1n;
    for (let i = this.head; i < this.items.length; i++) {
      // A copy: with several aggregators the other links' queues hold the same objects, numbered as they were.
      const s = { ...this.items[i]! };
      this.items[i] = s;
      s.seq = seq;
      if (s.clock[this.sourceId] !== undefined) s.clock = { ...s.clock, [this.sourceId]: seq };
      seq++;
    }
    this.nextSeq = seq;
    this.clock[this.sourceId] = seq - 1n;
    this.clockEntries = -1;
    this.lastAcked = acked;
    this.evictedInFlight = [];
    this.unsent = 0;
    this.wakeForWork();
    return this.size;
  }

  /** After a reconnect everything not acknowledged is sent again, oldest first. */
  rewind(): void {
    this.unsent = 0;
    this.wakeForWork();
  }

  /** Resolves once nothing is waiting for acknowledgement (or on abort). */
  async drained(signal: AbortSignal): Promise<boolean> {
    while (this.size > 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        this.waitingForAck.push(resolve);
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    return this.size === 0;
  }

  /** Resolves when `need` signals are unsent, after `timeoutMs`, or on abort. */
  private waitForWork(need: number, signal: AbortSignal, timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = {
        need,
        wake: (): void => {
          if (timer) clearTimeout(timer);
          signal.removeEventListener('abort', leave);
          resolve();
        },
      };
      // Timed out or aborted: no longer waiting (a waiter left behind would hold its timer's promise).
      const leave = (): void => {
        const i = this.waitingForWork.indexOf(waiter);
        if (i >= 0) this.waitingForWork.splice(i, 1);
        waiter.wake();
      };
      if (timeoutMs !== undefined) timer = setTimeout(leave, timeoutMs);
      signal.addEventListener('abort', leave, { once: true });
      this.waitingForWork.push(waiter);
    });
  }
}
