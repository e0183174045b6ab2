// Ingress: validate, drop duplicates by (source, seq), run the pipeline (hierarchy, observers,
// reporters), append the signal and what followed from it to the event log.
// Synchronous and free of I/O so it runs the same live, in replay and under a fake clock. The
// event log makes it durable: the caller acknowledges a batch once the log has committed it.
import { signalProblem, type Ack, type Rejection, type Signal, type SignalBatch } from '../proto/index.js';
import type { EventLog, EventPayload } from './event-log.js';
import type { Pipeline } from './pipeline.js';
import type { NarrativeIds } from './recovery.js';

/** Where each signal of a batch lies in the frame it arrived in: spans[2i], spans[2i+1]. */
export interface RawSignals {
  bytes: Uint8Array;
  spans: readonly number[];
}

export interface IngressStats {
  accepted: number;
  duplicates: number;
  /** Rejected signals by reason class. */
  rejected: Map<string, number>;
  /** Times a source skipped ahead in its sequence (it dropped signals, or restarted). */
  seqJumps: number;
  sources: number;
  /** Sources forgotten (long silent) to make room under the cap. */
  sourcesEvicted: number;
}

export interface IngressLimits {
  /** Sources tracked for deduplication, at most. */
  maxSources: number;
  /** A source silent this long may be forgotten when room is needed. */
  evictAfterNs: bigint;
}

/**
 * Agents number their signals from the wall clock in microseconds at their start, one up per
 * signal: a seq further ahead of our clock than this was not made that way (it would stall the
 * real source: everything it sends below it would count as a duplicate).
 */
const SEQ_AHEAD_US = 5n * 60n * 1_000_000n;
/** How often, at most, a full table of sources is swept for silent ones. */
const SWEEP_EVERY_NS = 1_000_000_000n;

export class Ingress {
  /** Per source, the highest seq handled: anything at or below it is a duplicate. */
  private readonly highWater = new Map<string, bigint>();
  /** Per source, when it was last heard (receiver clock): who is evicted first. */
  private readonly heard = new Map<string, bigint>();
  private lastSweep = 0n;
  readonly stats: IngressStats = { accepted: 0, duplicates: 0, rejected: new Map(), seqJumps: 0, sources: 0, sourcesEvicted: 0 };
  /** What the pipeline made of one signal, before it goes to the log (reused). */
  private readonly derived: EventPayload[] = [];

  /** After recovery: narratives the journal already knows keep their ids. */
  narrativeIds: NarrativeIds | undefined;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly log: EventLog,
    private readonly nowNs: () => bigint,
    private readonly limits: IngressLimits = { maxSources: Infinity, evictAfterNs: 0n },
  ) {}

  /** Resolves once everything ingested so far is durable (committed by the event log). */
  committed(): Promise<void> {
    return this.log.committedAll();
  }

  /** Dedupe state from the journal: per source, the highest seq handled. */
  restore(highWater: ReadonlyMap<string, bigint>): void {
    const now = this.nowNs();
    for (const [source, seq] of highWater) {
      this.highWater.set(source, seq);
      this.heard.set(source, now);
    }
    this.stats.sources = this.highWater.size;
  }

  /**
   * Handles one batch; returns one Ack per source found in it. `raw`, when given, says where
   * each signal's encoding lies in the frame it arrived in (stored as it is).
   */
  ingest(batch: SignalBatch, raw?: RawSignals): Ack[] {
    // An empty batch is a hello: the answer tells the agent its stream works.
    if (batch.signals.length === 0) return [{ sourceId: '', ackedSeq: 0n, rejections: [], accepted: 0, duplicates: 0 }];
    const now = this.nowNs();
    const acks = new Map<string, Ack>();
    const signals = batch.signals;
    for (let i = 0; i < signals.length; i++) {
      const s = signals[i]!;
      let ack = acks.get(s.sourceId);
      if (!ack) {
        ack = { sourceId: s.sourceId, ackedSeq: this.highWater.get(s.sourceId) ?? 0n, rejections: [], accepted: 0, duplicates: 0 };
        acks.set(s.sourceId, ack);
        if (this.highWater.has(s.sourceId)) this.heard.set(s.sourceId, now);
      }
      const hw = this.highWater.get(s.sourceId);
      // Refused without moving the source's sequence: neither may stall the real source.
      if (s.seq > now / 1000n + SEQ_AHEAD_US) {
        this.reject(ack, s, `seq ${s.seq} is implausibly far ahead (more than 5 min past this aggregator's clock in microseconds, ${now / 1000n}); agents number signals from their clock`, 'seq_ahead');
        continue;
      }
      if (hw === undefined && s.sourceId !== '' && !this.roomForSource(now)) {
        this.reject(ack, s, `too many sources: ${this.highWater.size} tracked, the most this aggregator keeps (--max-sources), and none silent long enough to forget`, 'source_limit');
        continue;
      }
      if (hw !== undefined && s.seq <= hw && s.seq > 0n) {
        ack.duplicates++;
        this.stats.duplicates++;
        continue;
      }
      const hierarchy = this.pipeline.hierarchy;
      // A subject the tree already holds as a subject cell was read as valid when the cell was
      // made (the same grammar): it is not parsed again, and there is room for it.
      const kind = hierarchy.state(s.subject)?.info.kind;
      const known = kind !== undefined && kind !== 'container' && kind !== 'root';
      const problem = signalProblem(s, now, known) ?? (known || hierarchy.canAccept(s.subject) ? undefined : `hierarchy is full (${hierarchy.size} cells); subject not tracked`);
      if (problem) {
        this.reject(ack, s, problem, problem.startsWith('hierarchy is full') ? 'hierarchy_full' : 'invalid_signal');
      } else {
        this.accept(s, raw, i, now);
        ack.accepted++;
      }
      if (s.seq > 0n && s.sourceId !== '') this.advance(s.sourceId, s.seq, hw);
      ack.ackedSeq = this.highWater.get(s.sourceId) ?? 0n;
    }
    this.log.publish();
    return [...acks.values()];
  }

  /** Counts a rejection that happened before signals could be read (whole frame refused). */
  countRejected(reason: string, n = 1): void {
    this.stats.rejected.set(reason, (this.stats.rejected.get(reason) ?? 0) + n);
  }

  private accept(s: Signal, raw: RawSignals | undefined, i: number, now: bigint): void {
    this.stats.accepted++;
    if (raw) this.log.appendSignalSpan(s, raw.bytes, raw.spans[2 * i]!, raw.spans[2 * i + 1]!, now);
    else this.log.appendSignal(s, undefined, now);
    const derived = this.derived;
    this.pipeline.ingest(s, now, derived);
    for (let i = 0; i < derived.length; i++) this.log.append(this.translated(derived[i]!), now);
    derived.length = 0;
  }

  /** Lets time pass in the pipeline (staleness, windows, narratives); appends what follows. */
  tick(): void {
    const now = this.nowNs();
    const derived = this.derived;
    this.pipeline.tick(now, derived);
    for (let i = 0; i < derived.length; i++) this.log.append(this.translated(derived[i]!), now);
    derived.length = 0;
    this.log.publish();
  }

  private translated(e: EventPayload): EventPayload {
    if (e.narrative && this.narrativeIds) return { narrative: this.narrativeIds.translate(e.narrative) };
    return e;
  }

  private reject(ack: Ack, s: Signal, reason: string, klass: string): void {
    const r: Rejection = { seq: s.seq, reason, subject: s.subject.slice(0, 200) };
    ack.rejections.push(r);
    this.countRejected(klass);
  }

  /** Whether a new source fits: at the cap, the sources silent past the eviction age are forgotten (at most one sweep a second). */
  private roomForSource(now: bigint): boolean {
    if (this.highWater.size < this.limits.maxSources) return true;
    if (now - this.lastSweep < SWEEP_EVERY_NS) return false;
    this.lastSweep = now;
    const before = now - this.limits.evictAfterNs;
    for (const [source, at] of this.heard) {
      if (at > before) continue;
      this.heard.delete(source);
      this.highWater.delete(source);
      this.stats.sourcesEvicted++;
    }
    this.stats.sources = this.highWater.size;
    return this.highWater.size < this.limits.maxSources;
  }

  private advance(source: string, seq: bigint, hw: bigint | undefined): void {
    if (hw === undefined) {
      this.stats.sources++;
      this.heard.set(source, this.nowNs());
    }
    else if (seq > hw + 1n) this.stats.seqJumps++;
    this.highWater.set(source, seq);
    this.log.noteHighWater(source, seq);
  }
}
