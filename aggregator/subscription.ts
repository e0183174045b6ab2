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
  return EventKind.GAP;
}

export function subjectOf(e: Event): string {
  return e.signal?.subject ?? e.cellChange?.path ?? '';
}

export function matches(e: Event, f: SubscriptionFilter): boolean {
  if (f.kinds.size > 0 && !f.kinds.has(kindOf(e))) return false;
  if (f.subjectPrefix === '') return true;
  const subject = subjectOf(e);
  // A prefix matches whole segments: "cluster/prod" matches "cluster/prod/broker/1", not "cluster/production".
  return subject === f.subjectPrefix || (subject.startsWith(f.subjectPrefix) && (f.subjectPrefix.endsWith('/') || subject[f.subjectPrefix.length] === '/'));
}

/**
 * Yields the events of `log` that match `filter`, from `fromOffset` (undefined: live only)
 * until `signal` aborts.
 */
export async function* follow(
  log: EventLog,
  filter: SubscriptionFilter,
  fromOffset: bigint | undefined,
  signal: AbortSignal,
  hooks: SubscriptionHooks,
  nowNs: () => bigint,
): AsyncGenerator<Event> {
  let cursor = fromOffset === undefined ? log.nextOffset : fromOffset < 1n ? 1n : fromOffset;
  if (cursor > log.nextOffset) cursor = log.nextOffset;
  let gapReason = fromOffset !== undefined ? 'requested offset is no longer retained' : 'subscriber too slow: the retained events it had not read were overwritten';
  while (!signal.aborted) {
    const first = log.firstOffset;
    if (cursor < first) {
      const missed = first - cursor;
      hooks.onGap(missed);
      yield { offset: first - 1n, time: nowNs(), gap: { missed, fromOffset: cursor, toOffset: first - 1n, reason: gapReason } };
      cursor = first;
    }
    gapReason = 'subscriber too slow: the retained events it had not read were overwritten';
    const end = log.nextOffset;
    if (cursor >= end) {
      await log.waitFor(cursor, signal);
      continue;
    }
    // Yield what is retained up to `end`; a slow write lets the ring move on, checked above.
    while (cursor < end && cursor >= log.firstOffset) {
      const e = log.at(cursor)!;
      cursor++;
      if (matches(e, filter)) yield e;
      if (signal.aborted) return;
    }
  }
}
