// One subscriber: a cursor over the event log with its filters. It replays retained events from
// the offset it asked for, then follows live; what the ring overwrote before it could read it
// becomes one gap event.
import { EventKind, type Event } from '../proto/index.js';
import type { EventLog } from './event-log.js';

export interface SubscriptionFilter {
  kinds: ReadonlySet<EventKind>;
  subjectPrefix: string;
}

export interface SubscriptionHooks {
  /** Called with the number of events skipped whenever a gap is emitted. */
  onGap(missed: bigint): void;
}

export function kindOf(e: Event): EventKind {
  if (e.signal) return EventKind.SIGNAL;
  if (e.cellChange) return EventKind.CELL_CHANGE;
  if (e.finding) return EventKind.FINDING;
  if (e.situation) return EventKind.SITUATION;
  if (e.narrative) return EventKind.NARRATIVE;
  if (e.action) return EventKind.ACTION;
  return EventKind.GAP;
}

export function subjectOf(e: Event): string {
  return e.signal?.subject ?? e.cellChange?.path ?? e.finding?.subject ?? e.situation?.subject ?? e.narrative?.rootSubject ?? e.action?.target ?? '';
}

/** A prefix matches whole segments: "cluster/prod" matches "cluster/prod/broker/1", not "cluster/production". */
function under(subject: string, prefix: string): boolean {
  return subject === prefix || (subject.startsWith(prefix) && (prefix.endsWith('/') || subject[prefix.length] === '/'));
}

export function matches(e: Event, f: SubscriptionFilter): boolean {
  if (f.kinds.size > 0 && !f.kinds.has(kindOf(e))) return false;
  if (f.subjectPrefix === '') return true;
  if (under(subjectOf(e), f.subjectPrefix)) return true;
  // A narrative concerns every subject of its chain: a service's owner sees the broker's story too.
  return e.narrative !== undefined && e.narrative.causalChain.some((x) => under(x.subject, f.subjectPrefix));
}

/**
 * Yields the events of `log` that match `filter`, from `fromOffset` (undefined: live only)
 * until `signal` aborts, in batches of what is already there (at most `maxBatch`).
 */
export async function* followBatches(
  log: EventLog,
  filter: SubscriptionFilter,
  fromOffset: bigint | undefined,
  signal: AbortSignal,
  hooks: SubscriptionHooks,
  nowNs: () => bigint,
  maxBatch: number,
): AsyncGenerator<Event[]> {
  let cursor = fromOffset === undefined ? log.nextOffset : fromOffset < 1n ? 1n : fromOffset;
  if (cursor > log.nextOffset) cursor = log.nextOffset;
  let gapReason = fromOffset !== undefined ? 'requested offset is no longer retained' : SLOW;
  while (!signal.aborted) {
    const batch: Event[] = [];
    const first = log.firstOffset;
    if (cursor < first) {
      const missed = first - cursor;
      hooks.onGap(missed);
      batch.push({ offset: first - 1n, time: nowNs(), gap: { missed, fromOffset: cursor, toOffset: first - 1n, reason: gapReason } });
      cursor = first;
    }
    gapReason = SLOW;
    const end = log.nextOffset;
    if (cursor >= end && batch.length === 0) {
      await log.waitFor(cursor, signal);
      continue;
    }
    // Everything already retained, up to the batch size; the ring may move on while this batch
    // is being written, which the next round reports as a gap.
    while (cursor < end && batch.length < maxBatch) {
      const e = log.at(cursor)!;
      cursor++;
      if (matches(e, filter)) batch.push(e);
    }
    if (batch.length > 0) yield batch;
  }
}

const SLOW = 'subscriber too slow: the retained events it had not read were overwritten';
