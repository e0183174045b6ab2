// Which record timestamps the Kafka source reads each round, and what it remembers of them (pure:
// no I/O, time passed in). Lag in seconds is exact when the broker's timestamp of the record at
// a group's committed offset is known (agent/kafka/lag/evaluator.ts); reading it costs a Fetch,
// so:
// - only partitions with lag are read (caught up is 0 s without reading anything);
// - a record's timestamp never changes, so it is read once per (topic, partition, offset) and kept
//   while some group's committed offset is still there (a stopped consumer costs one read, ever);
//   a committed offset that moves needs a new read;
// - at most `maxReadsPerRound` reads a round (the same offset of several groups is one read);
//   past that, the partitions waiting longest go first, then the largest lag, and the others are
//   interpolated this round (counted as deferred);
// - a topic whose records the agent may not read (TOPIC_AUTHORIZATION_FAILED: the principal has
//   Describe, not Read) is not asked again for `retryDeniedMs`; its partitions are interpolated
//   (counted), and the sensor says so once.
import type { RecordRead, RecordTime } from './record-fetch.js';

export interface RecordTimeSettings {
  /** Reads a round at most; 0 turns record-timestamp reads off (lag seconds interpolated). */
  maxReadsPerRound: number;
  /** A topic refused for Read is asked again after this long, ms. */
  retryDeniedMs: number;
}

export const RECORD_TIME_DEFAULTS: RecordTimeSettings = { maxReadsPerRound: 200, retryDeniedMs: 600_000 };

/** A group-partition with lag this round: its committed offset is the record wanted. */
export interface LaggingPartition {
  topic: string;
  partition: number;
  offset: number;
  lag: number;
}

export interface RecordTimeStats {
  /** Reads asked of the cluster (partition entries in Fetch requests). */
  reads: number;
  /** Reads that found the record: exactly, or estimated inside a compressed or cut-short batch. */
  exact: number;
  inexact: number;
  /** Reads that found no record (caught up since) or an offset already deleted. */
  none: number;
  deleted: number;
  /** Reads that failed, by reason (permission, unreachable, ...). */
  failed: Record<string, number>;
  /** Lagging partitions not read this round for the budget (interpolated instead), in total. */
  deferred: number;
  /** Lagging partitions interpolated because their topic refused Read, in total. */
  denied: number;
  /** Rounds whose whole read failed. */
  roundsFailed: number;
  /** Timestamps held now. */
  cached: number;
}

interface Held {
  ts: number;
  used: boolean;
}

const key = (topic: string, partition: number, offset: number): string => `${topic}\u0000${partition}\u0000${offset}`;
const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export class RecordTimes {
  private readonly held = new Map<string, Held>();
  /** Per topic-partition: when its record time was last read (any offset). */
  private readonly lastRead = new Map<string, number>();
  /** Topics refused for Read: until when they are not asked. */
  private readonly deniedUntil = new Map<string, number>();
  private readonly counts: RecordTimeStats = { reads: 0, exact: 0, inexact: 0, none: 0, deleted: 0, failed: {}, deferred: 0, denied: 0, roundsFailed: 0, cached: 0 };
  /** Off for good (the client cannot read records). */
  off = false;

  constructor(readonly settings: RecordTimeSettings = RECORD_TIME_DEFAULTS) {}

  /** The reads to make this round (deduplicated, the budget applied); marks held timestamps in use. */
  plan(lagging: readonly LaggingPartition[], nowMs: number): RecordRead[] {
    if (this.off || this.settings.maxReadsPerRound <= 0) return [];
    const wanted = new Map<string, LaggingPartition>();
    for (const l of lagging) {
      const h = this.held.get(key(l.topic, l.partition, l.offset));
      if (h) {
        h.used = true;
        continue;
      }
      const until = this.deniedUntil.get(l.topic);
      if (until !== undefined && nowMs < until) {
        this.counts.denied++;
        continue;
      }
      const k = key(l.topic, l.partition, l.offset);
      const w = wanted.get(k);
      if (!w || l.lag > w.lag) wanted.set(k, l);
    }
    const queue = [...wanted.values()].sort((a, b) => (this.lastRead.get(tpKey(a.topic, a.partition)) ?? -Infinity) - (this.lastRead.get(tpKey(b.topic, b.partition)) ?? -Infinity) || b.lag - a.lag);
    const take = queue.slice(0, this.settings.maxReadsPerRound);
    this.counts.deferred += queue.length - take.length;
    return take.map(({ topic, partition, offset }) => ({ topic, partition, offset }));
  }

  /** What the reads found. A permission refusal puts the topic aside; returns the topics newly refused. */
  absorb(results: readonly RecordTime[], nowMs: number): string[] {
    const refused: string[] = [];
    for (const r of results) {
      this.counts.reads++;
      this.lastRead.set(tpKey(r.topic, r.partition), nowMs);
      const o = r.outcome;
      if (o.kind === 'ok') {
        o.exact ? this.counts.exact++ : this.counts.inexact++;
        this.held.set(key(r.topic, r.partition, r.offset), { ts: o.timestampMs, used: true });
      } else if (o.kind === 'none') this.counts.none++;
      else if (o.kind === 'deleted') this.counts.deleted++;
      else {
        this.counts.failed[o.reason] = (this.counts.failed[o.reason] ?? 0) + 1;
        if (o.reason === 'permission' && !this.deniedUntil.has(r.topic)) refused.push(r.topic);
        if (o.reason === 'permission') this.deniedUntil.set(r.topic, nowMs + this.settings.retryDeniedMs);
        if (o.reason === 'unsupported' && /no cluster to fetch with|cluster shape/.test(o.message)) this.off = true;
      }
    }
    return refused;
  }

  /** A whole round's read failed (the cluster, not a partition): counted; 'unsupported' turns reads off. */
  roundFailed(reason: string): void {
    this.counts.roundsFailed++;
    this.counts.failed[reason] = (this.counts.failed[reason] ?? 0) + 1;
    if (reason === 'unsupported') this.off = true;
  }

  /** The broker's timestamp of the first record at or after `offset`, if held. */
  lookup(topic: string, partition: number, offset: number): number | undefined {
    return this.held.get(key(topic, partition, offset))?.ts;
  }

  /** Ends a round: timestamps no group's committed offset points at any more are dropped. */
  endRound(): void {
    for (const [k, h] of this.held) {
      if (!h.used) this.held.delete(k);
      else h.used = false;
    }
  }

  stats(): RecordTimeStats {
    return { ...this.counts, failed: { ...this.counts.failed }, cached: this.held.size };
  }
}
