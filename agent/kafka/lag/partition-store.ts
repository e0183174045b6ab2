// The state of every group-partition in one slab of float64 records (no object per partition,
// none per reading): a ring of the last W committed-offset readings (time, committed offset), a
// ring of the last C commits (busy time since the previous one, lag and log end at the commit), and a few
// scalars (among them the last time it was caught up, which is all the window rules need of the
// lag at each reading). record() takes one reading; fill() pairs the newest reading with
// the log end read just after it (the sensor reads committed offsets first, then log ends).
//
// A reading is one poll; a *commit* is a reading whose committed offset moved forward. An
// unchanged offset is not a commit, but it is not a sign of death either: the consumer may be
// caught up (idle) or in the middle of a long batch. When the broker's commit timestamp is known,
// a new timestamp with the same offset is a commit of the same offset: a sign of life.
import { Slab } from './slab.js';
import type { LogEndHistory } from './log-end-history.js';

// Scalars (indexes from the record's base). Times are the agent's reading times, ms.
export const F_TP = 0; // slot of the topic-partition's log-end history
export const F_RHEAD = 1;
export const F_RCOUNT = 2;
export const F_CHEAD = 3;
export const F_CCOUNT = 4;
export const F_PREV = 5; // last known committed offset
export const F_PROGRESS = 6; // reading time of the last advance of the committed offset
export const F_LIFE = 7; // reading time of the last same-offset commit (broker timestamp moved)
export const F_LASTTS = 8; // last broker commit timestamp seen
export const F_CAUGHTUP = 9; // reading time of the last reading with lag <= allowedLag
export const F_FIRST = 10; // time of the first reading
export const F_READINGS = 11; // readings taken
export const F_REWIND_AT = 12; // reading number of the last rewind (NaN: none pending)
export const F_REWIND_FROM = 13;
export const F_REWIND_TO = 14;
export const F_REWIND_SHOWN = 15; // 1 once evaluate() has reported it
export const F_COMMIT_PENDING = 16; // while the newest reading waits for its log end: 1 a commit (or the first offset), 2 a rewind
export const F_PENDING_ADVANCE = 17; // records the pending commit advanced by
export const F_ANCHOR_L = 18; // log end when last active (commit, caught-up, rewind or first reading)
export const F_RATIO = 19; // records written per record consumed over the last busy gap
export const F_SLOW_GAPS = 20; // consecutive busy gaps with F_RATIO >= SLOW_RATIO
export const F_FILLED = 21; // 1 once the newest reading has been paired with a log end
export const F_REWIND_LAG = 22; // lag at the last rewind's reading (NaN: no rewind, or not paired yet)
export const F_RT_OFFSET = 23; // the committed offset whose record timestamp is known (NaN: none)
export const F_RT_MS = 24; // the broker's timestamp of the first record at or after F_RT_OFFSET, ms
export const F_RET_RISK = 25; // 1 while retention risk is flagged (hysteresis), else 0
const SCALARS = 26;

/** F_COMMIT_PENDING values: what the newest reading's log end is wanted for. */
const PENDING_COMMIT = 1;
const PENDING_REWIND = 2;

/** A busy gap in which at least this many records were written per record consumed is "slow". */
export const SLOW_RATIO = 1.25;

/** Where the rings are in a record, for a given window and commit history. */
export interface Layout {
  w: number;
  c: number;
  rT: number;
  rC: number;
  cGap: number;
  cLag: number;
  cEnd: number;
}

export class PartitionStore {
  readonly slab: Slab;
  readonly layout: Layout;

  constructor(windowSize: number, commitHistory: number, private readonly allowedLag: number) {
    const w = windowSize;
    const c = commitHistory;
    this.layout = { w, c, rT: SCALARS, rC: SCALARS + w, cGap: SCALARS + 2 * w, cLag: SCALARS + 2 * w + c, cEnd: SCALARS + 2 * w + 2 * c };
    this.slab = new Slab(SCALARS + 2 * w + 3 * c);
  }

  alloc(tpSlot: number): number {
    const slot = this.slab.alloc();
    const a = this.slab.chunk(slot);
    const b = this.slab.base(slot);
    a[b + F_TP] = tpSlot;
    a[b + F_RHEAD] = 0;
    a[b + F_RCOUNT] = 0;
    a[b + F_CHEAD] = 0;
    a[b + F_CCOUNT] = 0;
    a[b + F_READINGS] = 0;
    a[b + F_REWIND_SHOWN] = 0;
    a[b + F_COMMIT_PENDING] = 0;
    a[b + F_SLOW_GAPS] = 0;
    a[b + F_RET_RISK] = 0;
    return slot;
  }

  release(slot: number): void {
    this.slab.release(slot);
  }

  tpOf(slot: number): number {
    return this.slab.chunk(slot)[this.slab.base(slot) + F_TP]!;
  }

  /** The record timestamp of `offset` (the first record at or after it), for lag in seconds. */
  recordTime(slot: number, offset: number, timestampMs: number): void {
    const a = this.slab.chunk(slot);
    const b = this.slab.base(slot);
    a[b + F_RT_OFFSET] = offset;
    a[b + F_RT_MS] = timestampMs;
  }

  /**
   * One reading of the committed offset (NaN: none) at nowMs. commitMs: the broker's commit
   * timestamp when known (only compared with the previous one: clocks may differ).
   */
  record(slot: number, history: LogEndHistory, offset: number, nowMs: number, commitMs: number): void {
    const a = this.slab.chunk(slot);
    const b = this.slab.base(slot);
    const L = this.layout;
    this.fill(slot, history, true); // the previous reading: its log end has been read since
    const rCount = a[b + F_RCOUNT]!;
    const rHead = a[b + F_RHEAD]!;
    if (rCount > 0 && nowMs <= a[b + L.rT + ((rHead - 1 + L.w) % L.w)]!) return; // out of order
    const readings = a[b + F_READINGS]! + 1;
    a[b + F_READINGS] = readings;
    if (Number.isNaN(a[b + F_FIRST]!)) a[b + F_FIRST] = nowMs;
    const prev = a[b + F_PREV]!;
    if (offset < prev) {
      // REWIND: a new lineage starts here; the windows of the old one no longer apply.
      a[b + F_REWIND_AT] = readings;
      a[b + F_REWIND_FROM] = prev;
      a[b + F_REWIND_TO] = offset;
      a[b + F_REWIND_SHOWN] = 0;
      a[b + F_RHEAD] = 0;
      a[b + F_RCOUNT] = 0;
      a[b + F_CHEAD] = 0;
      a[b + F_CCOUNT] = 0;
      a[b + F_PROGRESS] = nowMs;
      a[b + F_LIFE] = nowMs;
      a[b + F_CAUGHTUP] = NaN;
      a[b + F_ANCHOR_L] = NaN;
      a[b + F_RATIO] = NaN;
      a[b + F_SLOW_GAPS] = 0;
      a[b + F_COMMIT_PENDING] = PENDING_REWIND; // its log end anchors the new lineage
      a[b + F_REWIND_LAG] = NaN;
    } else if (offset > prev || (Number.isNaN(prev) && offset >= 0 && readings > 1)) {
      // A commit that advanced (or a first offset after readings without one).
      const lastProgress = a[b + F_PROGRESS]!;
      const caughtUp = a[b + F_CAUGHTUP]!;
      // Busy time since the previous commit or, when later, since it was last at the log end
      // (time with nothing to do does not count). Unknown before either was seen.
      const since = Number.isNaN(caughtUp) ? lastProgress : Number.isNaN(lastProgress) ? caughtUp : Math.max(lastProgress, caughtUp);
      const gap = Number.isNaN(since) ? NaN : Math.max(0, nowMs - since);
      const cHead = a[b + F_CHEAD]!;
      a[b + L.cGap + cHead] = gap;
      a[b + L.cLag + cHead] = NaN;
      a[b + L.cEnd + cHead] = NaN;
      a[b + F_CHEAD] = (cHead + 1) % L.c;
      if (a[b + F_CCOUNT]! < L.c) a[b + F_CCOUNT] = a[b + F_CCOUNT]! + 1;
      a[b + F_COMMIT_PENDING] = PENDING_COMMIT;
      a[b + F_PENDING_ADVANCE] = Number.isNaN(prev) ? NaN : offset - prev;
      a[b + F_PROGRESS] = nowMs;
    } else if (offset === prev && commitMs > a[b + F_LASTTS]!) {
      a[b + F_LIFE] = nowMs; // committed again, same offset
    } else if (Number.isNaN(prev) && offset >= 0) {
      // The first offset ever read: not a commit seen (no progress, no gap), but its lag is a
      // point of the WARN rules' series (a bound from above of the lag at the commit before it,
      // so it can only make "never went down" harder), and its log end is where "arrived since"
      // counts from.
      const cHead = a[b + F_CHEAD]!;
      a[b + L.cGap + cHead] = NaN;
      a[b + L.cLag + cHead] = NaN;
      a[b + L.cEnd + cHead] = NaN;
      a[b + F_CHEAD] = (cHead + 1) % L.c;
      if (a[b + F_CCOUNT]! < L.c) a[b + F_CCOUNT] = a[b + F_CCOUNT]! + 1;
      a[b + F_COMMIT_PENDING] = PENDING_COMMIT;
      a[b + F_PENDING_ADVANCE] = NaN;
    }
    if (offset >= 0) a[b + F_PREV] = offset;
    if (commitMs >= 0 && !(commitMs <= a[b + F_LASTTS]!)) a[b + F_LASTTS] = commitMs;
    const head = a[b + F_RHEAD]!;
    a[b + L.rT + head] = nowMs;
    a[b + L.rC + head] = offset;
    a[b + F_FILLED] = 0;
    a[b + F_RHEAD] = (head + 1) % L.w;
    if (a[b + F_RCOUNT]! < L.w) a[b + F_RCOUNT] = a[b + F_RCOUNT]! + 1;
  }

  /**
   * Gives the newest reading its log end: the first read at or after it, or (orLatest) the newest
   * known when none was read since. Updates caught-up time, lag and log end at the pending commit,
   * the produce/consume ratio of the last busy gap, and the log end when last active (anchor).
   */
  fill(slot: number, history: LogEndHistory, orLatest: boolean): void {
    const a = this.slab.chunk(slot);
    const b = this.slab.base(slot);
    const L = this.layout;
    if (a[b + F_RCOUNT] === 0) return;
    const newest = (a[b + F_RHEAD]! - 1 + L.w) % L.w;
    if (a[b + F_FILLED] === 1) return;
    const tp = a[b + F_TP]!;
    const t = a[b + L.rT + newest]!;
    let end = history.atOrAfter(tp, t);
    if (Number.isNaN(end) && orLatest) end = history.latest(tp);
    if (Number.isNaN(end)) return;
    a[b + F_FILLED] = 1;
    const c = a[b + L.rC + newest]!;
    if (Number.isNaN(c)) return;
    const lag = Math.max(0, end - c);
    const pending = a[b + F_COMMIT_PENDING]!;
    if (pending === PENDING_REWIND) {
      a[b + F_REWIND_LAG] = lag;
      a[b + F_ANCHOR_L] = end;
      a[b + F_COMMIT_PENDING] = 0;
    } else if (pending === PENDING_COMMIT) {
      const at = (a[b + F_CHEAD]! - 1 + L.c) % L.c;
      a[b + L.cLag + at] = lag;
      a[b + L.cEnd + at] = end;
      const anchor = a[b + F_ANCHOR_L]!;
      const advance = a[b + F_PENDING_ADVANCE]!;
      const ratio = advance > 0 && !Number.isNaN(anchor) ? (end - anchor) / advance : NaN;
      a[b + F_RATIO] = ratio;
      a[b + F_SLOW_GAPS] = ratio >= SLOW_RATIO ? a[b + F_SLOW_GAPS]! + 1 : 0;
      a[b + F_ANCHOR_L] = end;
      a[b + F_COMMIT_PENDING] = 0;
    }
    if (lag <= this.allowedLag) {
      a[b + F_CAUGHTUP] = t;
      a[b + F_ANCHOR_L] = end;
    }
  }
}
