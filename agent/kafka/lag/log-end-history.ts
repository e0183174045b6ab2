// Log-end offset history per topic-partition, shared by every group that reads it: up to `size`
// (time, offset) readings, oldest first. It answers "what was the log end just after time t" (to
// pair a committed-offset reading with the log-end reading taken right after it) and "when did
// the log end pass offset c" (lag in seconds, interpolated as Kafka Lag Exporter does).
//
// When full, it does not simply drop the oldest reading: it drops the interior reading that
// linear interpolation between its neighbours predicts best (error in time, relative to its age;
// a reading inside a run of equal offsets costs nothing). A steady partition then keeps a few
// readings spanning a long time, a bursty one keeps its bends, and older history is coarser.
// The oldest and the newest readings are always kept.
//
// Beside it, the partition's log start (its earliest offset still held: retention deletes below
// it): the first reading and then every reading that saw it move, the last LOW_POINTS of them,
// oldest first. How fast it advances (retention at work) says when a committed offset will fall
// below it: when a group's unconsumed records are deleted.
import { Slab } from './slab.js';

const COUNT = 0;
const REFS = 1; // group-partitions pointing here
const GREW = 2; // time of the last reading that saw the log end move (NaN: none seen yet)
const LOW_COUNT = 3; // log-start points kept
const LOW_FIRST = 4; // 1 while the oldest point kept is the first reading (not a move)
const LOW_POINTS = 6; // at most this many: the first reading, then every move
const LOW_T = 5; // LOW_POINTS times, then LOW_POINTS log starts, oldest first
const T = LOW_T + 2 * LOW_POINTS; // then `size` times, then `size` offsets, oldest first

export class LogEndHistory {
  private readonly slab: Slab;
  private readonly topics = new Map<string, number[]>(); // topic -> partition -> slot (-1: none)
  private readonly o0: number;
  /** Set by lagMs(): true when its result was a bound (capped, or nothing to extrapolate with). */
  capped = false;

  constructor(readonly size: number, readonly max: number) {
    this.slab = new Slab(T + 2 * size);
    this.o0 = T + size;
  }

  get live(): number {
    return this.slab.live;
  }

  get bytes(): number {
    return this.slab.bytes;
  }

  /** The slot of a topic-partition; -1 if it has none (and `create` is false, or the limit is reached). */
  slot(topic: string, partition: number, create: boolean): number {
    let parts = this.topics.get(topic);
    const s = parts?.[partition];
    if (s !== undefined && s >= 0) return s;
    if (!create || this.slab.live >= this.max) return -1;
    if (!parts) this.topics.set(topic, (parts = []));
    while (parts.length <= partition) parts.push(-1);
    const slot = this.slab.alloc();
    const a = this.slab.chunk(slot);
    const b = this.slab.base(slot);
    a[b + COUNT] = 0;
    a[b + REFS] = 0;
    a[b + LOW_COUNT] = 0;
    parts[partition] = slot;
    return slot;
  }

  ref(slot: number, delta: number): void {
    this.slab.chunk(slot)[this.slab.base(slot) + REFS] += delta;
  }

  /** Drops a topic's histories; returns the slots dropped (their group-partitions must be dropped too). */
  forgetTopic(topic: string): number[] {
    const parts = this.topics.get(topic);
    if (!parts) return [];
    this.topics.delete(topic);
    const dropped = parts.filter((s) => s >= 0);
    for (const s of dropped) this.slab.release(s);
    return dropped;
  }

  /** Records a reading. A log end lower than the last one (topic recreated, truncated) restarts the history. */
  add(slot: number, t: number, offset: number): void {
    const a = this.slab.chunk(slot);
    const b = this.slab.base(slot);
    const ts = b + T;
    const os = b + this.o0;
    let count = a[b + COUNT]!;
    if (count > 0) {
      const lastT = a[ts + count - 1]!;
      const lastO = a[os + count - 1]!;
      if (t <= lastT) return; // out of order or repeated
      if (offset !== lastO) a[b + GREW] = t; // a lower one (restart) counts as a move too
      if (offset < lastO) {
        count = 0;
        a[b + LOW_COUNT] = 0; // a new log: its log start history starts over too
      }
      else if (count >= 2 && offset === lastO && a[os + count - 2] === lastO) {
        a[ts + count - 1] = t; // extend the run of equal offsets
        return;
      }
    }
    if (count === this.size) {
      // Drop the interior reading its neighbours predict best.
      const newestT = a[ts + count - 1]!;
      let drop = 1;
      let best = Infinity;
      for (let j = 1; j < count - 1; j++) {
        const tp = a[ts + j - 1]!;
        const op = a[os + j - 1]!;
        const tn = a[ts + j + 1]!;
        const on = a[os + j + 1]!;
        const tj = a[ts + j]!;
        const predicted = on === op ? tp : tp + ((a[os + j]! - op) / (on - op)) * (tn - tp);
        const err = Math.abs(tj - predicted) / Math.max(1, newestT - tj);
        if (err < best) {
          best = err;
          drop = j;
          if (err === 0) break;
        }
      }
      a.copyWithin(ts + drop, ts + drop + 1, ts + count);
      a.copyWithin(os + drop, os + drop + 1, os + count);
      count--;
    }
    a[ts + count] = t;
    a[os + count] = offset;
    a[b + COUNT] = count + 1;
  }

  /**
   * One reading of the log start (the earliest offset held). Kept when it is the first or it
   * moved; a lower one than the last (a recreated topic) starts the history over.
   */
  addLogStart(slot: number, t: number, low: number): void {
    const a = this.slab.chunk(slot);
    const b = this.slab.base(slot);
    const ts = b + LOW_T;
    const os = ts + LOW_POINTS;
    let n = a[b + LOW_COUNT]!;
    if (n > 0) {
      const last = a[os + n - 1]!;
      if (low === last || t <= a[ts + n - 1]!) return;
      if (low < last) n = 0;
    }
    if (n === 0) a[b + LOW_FIRST] = 1;
    if (n === LOW_POINTS) {
      a.copyWithin(ts, ts + 1, ts + n);
      a.copyWithin(os, os + 1, os + n);
      a[b + LOW_FIRST] = 0;
      n--;
    }
    a[ts + n] = t;
    a[os + n] = low;
    a[b + LOW_COUNT] = n + 1;
  }

  /** The newest log start; NaN before the first reading. */
  logStart(slot: number): number {
    const a = this.slab.chunk(slot);
    const b = this.slab.base(slot);
    const n = a[b + LOW_COUNT]!;
    return n === 0 ? NaN : a[b + LOW_T + LOW_POINTS + n - 1]!;
  }

  /**
   * How fast the log start advances, records per ms, over the moves kept: from the oldest move to
   * the newest. Retention deletes whole segments, so the log start moves in steps; the first
   * reading is not a step (the agent may start anywhere between two), so two moves at least are
   * needed (NaN before). When no move has come for longer than the moves' mean spacing, the span
   * is stretched to now less that spacing: a log start that stopped moving slows down.
   */
  logStartRate(slot: number, nowMs: number): number {
    const a = this.slab.chunk(slot);
    const b = this.slab.base(slot);
    const n = a[b + LOW_COUNT]!;
    const first = a[b + LOW_FIRST] === 1 ? 1 : 0;
    const moves = n - first;
    if (moves < 2) return NaN;
    const ts = b + LOW_T;
    const os = ts + LOW_POINTS;
    const t0 = a[ts + first]!;
    const span = a[ts + n - 1]! - t0;
    if (!(span > 0)) return NaN;
    const spacing = span / (moves - 1);
    return (a[os + n - 1]! - a[os + first]!) / Math.max(span, nowMs - t0 - spacing);
  }

  /** When the log start was last seen to move (or first read); NaN before the first reading. */
  logStartMovedAt(slot: number): number {
    const a = this.slab.chunk(slot);
    const b = this.slab.base(slot);
    const n = a[b + LOW_COUNT]!;
    return n === 0 ? NaN : a[b + LOW_T + n - 1]!;
  }

  /** The newest log end; NaN before the first reading. */
  latest(slot: number): number {
    const a = this.slab.chunk(slot);
    const b = this.slab.base(slot);
    const count = a[b + COUNT]!;
    return count === 0 ? NaN : a[b + this.o0 + count - 1]!;
  }

  /** When a reading last saw the log end move (records arriving); NaN when none has yet. */
  lastGrowth(slot: number): number {
    return this.slab.chunk(slot)[this.slab.base(slot) + GREW]!;
  }

  /** The log end read first at or after time t; NaN when none was read since t. */
  atOrAfter(slot: number, t: number): number {
    const a = this.slab.chunk(slot);
    const b = this.slab.base(slot);
    let found = NaN;
    for (let j = a[b + COUNT]! - 1; j >= 0; j--) {
      if (a[b + T + j]! < t) break;
      found = a[b + this.o0 + j]!;
    }
    return found;
  }

  /** Records per ms from the first reading at or after t to the newest; NaN with fewer than 2 such readings. */
  rateSince(slot: number, t: number): number {
    const a = this.slab.chunk(slot);
    const b = this.slab.base(slot);
    const newest = a[b + COUNT]! - 1;
    let first = -1;
    for (let j = newest; j >= 0; j--) {
      if (a[b + T + j]! < t) break;
      first = j;
    }
    if (first < 0 || first === newest) return NaN;
    return (a[b + this.o0 + newest]! - a[b + this.o0 + first]!) / (a[b + T + newest]! - a[b + T + first]!);
  }

  /**
   * How long ago (ms, at `nowMs`) the log end was at `committed`: the age of the next record to
   * consume. Interpolated between the two readings around it; extrapolated back at the history's
   * mean rate when it is older than the history, and then capped at max(capMs, age of the oldest
   * reading) (this.capped set). 0 when the log end is not past `committed`. NaN without readings.
   */
  lagMs(slot: number, committed: number, nowMs: number, capMs: number): number {
    this.capped = false;
    const a = this.slab.chunk(slot);
    const b = this.slab.base(slot);
    const ts = b + T;
    const os = b + this.o0;
    const count = a[b + COUNT]!;
    if (count === 0) return NaN;
    const newest = count - 1;
    if (a[os + newest]! <= committed) return 0; // the log end is not past it: nothing to wait for
    for (let j = newest - 1; j >= 0; j--) {
      const oj = a[os + j]!;
      if (oj <= committed) {
        // The record at `committed` arrived between this reading and the next one.
        const tj = a[ts + j]!;
        const at = tj + ((committed - oj) / (a[os + j + 1]! - oj)) * (a[ts + j + 1]! - tj);
        return Math.max(0, nowMs - at);
      }
    }
    // Older than the whole history: extrapolate at the history's mean rate.
    const oldT = a[ts]!;
    const oldO = a[os]!;
    const span = a[ts + newest]! - oldT;
    const rate = span > 0 ? (a[os + newest]! - oldO) / span : 0; // records per ms
    const floor = Math.max(0, nowMs - oldT);
    if (!(rate > 0)) {
      this.capped = true;
      return floor;
    }
    const est = nowMs - (oldT - (oldO - committed) / rate);
    const cap = Math.max(capMs, floor);
    if (est > cap) {
      this.capped = true;
      return cap;
    }
    return Math.max(floor, est);
  }
}
