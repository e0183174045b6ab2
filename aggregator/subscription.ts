// One subscriber: a cursor over the event log with its filters. It reads from the offset it asked
// for — from the journal while that is older than what memory holds, then from memory — and then
// follows live. Events travel as the bytes they were stored as: a chunk is a run of framed events
// (an EventBatch). Only an offset that retention has deleted becomes a gap event.
import { Event, EventKind, isUnder } from '../proto/index.js';
import { kindOfPayload, type EventLog, type LogBlock } from './event-log.js';
import { ByteWriter, decodeFramed, indexEvents, writeEvent } from './journal/codec.js';

export interface SubscriptionFilter {
  kinds: ReadonlySet<EventKind>;
  subjectPrefix: string;
}

export interface SubscriptionHooks {
  /** Called with the number of events skipped whenever a gap is emitted. */
  onGap(missed: bigint): void;
  /** Called with the offset up to which everything has been handed to the consumer (it asked for more, or waits for new events). */
  onProgress?(cursor: bigint): void;
}

/** The kind of an event. */
export const kindOf: (e: Event) => EventKind = kindOfPayload;

/** The subject an event is about, for prefix filters. */
export function eventSubject(e: Event): string {
  return e.signal?.subject ?? e.cellChange?.path ?? e.finding?.subject ?? e.situation?.subject ?? e.narrative?.rootSubject ?? e.action?.target ?? '';
}

/** A prefix matches whole names (proto's isUnder): "cluster/prod" covers "cluster/prod/broker/1" and "cluster/prod#lag", not "cluster/production". */
export const under = isUnder;

export function matches(e: Event, f: SubscriptionFilter): boolean {
  if (f.kinds.size > 0 && !f.kinds.has(kindOf(e))) return false;
  if (f.subjectPrefix === '') return true;
  if (under(eventSubject(e), f.subjectPrefix)) return true;
  // A narrative concerns every subject of its chain: a service's owner sees the broker's story too.
  return e.narrative !== undefined && e.narrative.causalChain.some((x) => under(x.subject, f.subjectPrefix));
}

/** Whether event i of a block passes the filter, reading only its kind and subject (and a narrative's chain). */
function blockEventMatches(kind: EventKind, subject: string, f: SubscriptionFilter, narrative: () => Event | undefined): boolean {
  if (f.kinds.size > 0 && !f.kinds.has(kind) && kind !== EventKind.GAP) return false;
  if (f.subjectPrefix === '') return true;
  if (under(subject, f.subjectPrefix)) return true;
  if (kind !== EventKind.NARRATIVE) return false;
  const n = narrative()?.narrative;
  return n !== undefined && n.causalChain.some((x) => under(x.subject, f.subjectPrefix));
}

const unfiltered = (f: SubscriptionFilter): boolean => f.kinds.size === 0 && f.subjectPrefix === '';

/** A run of framed events (an EventBatch's bytes), how many, and the offset after the last one read. */
export interface RawChunk {
  bytes: Uint8Array;
  events: number;
  /** The cursor after this chunk (events skipped by the filter included). */
  next: bigint;
}

interface IndexedBlock {
  first: bigint;
  bytes: Uint8Array;
  starts: number[];
  kinds: EventKind[];
  subjects: string[];
  narrative(i: number): Event | undefined;
}

function fromLog(b: LogBlock): IndexedBlock {
  return { first: b.first, bytes: b.bytes, starts: b.starts, kinds: b.kinds, subjects: b.subjects, narrative: (i) => b.narratives.get(i) ?? decodeFramed(b.bytes, b.starts[i]!) };
}

function fromJournal(first: bigint, bytes: Uint8Array): IndexedBlock {
  const idx = indexEvents(bytes);
  return { first, bytes, starts: idx.starts, kinds: idx.kinds, subjects: idx.subjects, narrative: (i) => decodeFramed(bytes, idx.starts[i]!) };
}

/** Events of `b` from `cursor` on that pass `f`, at most `max`: [bytes, events, next cursor]. */
function slice(b: IndexedBlock, cursor: bigint, f: SubscriptionFilter, max: number, out: ByteWriter): [number, bigint] {
  const count = b.starts.length - 1;
  let i = Number(cursor - b.first);
  if (i < 0) i = 0;
  let n = 0;
  if (unfiltered(f)) {
    const end = Math.min(count, i + max);
    if (end > i) {
      out.bytes(b.bytes.subarray(b.starts[i]!, b.starts[end]!));
      n = end - i;
    }
    return [n, b.first + BigInt(end)];
  }
  for (; i < count && n < max; i++) {
    if (blockEventMatches(b.kinds[i]!, b.subjects[i]!, f, () => b.narrative(i))) {
      out.bytes(b.bytes.subarray(b.starts[i]!, b.starts[i + 1]!));
      n++;
    }
  }
  return [n, b.first + BigInt(i)];
}

function gapChunk(out: ByteWriter, from: bigint, to: bigint, reason: string, nowNs: () => bigint): void {
  writeEvent(out, { offset: to - 1n, time: nowNs(), gap: { missed: to - from, fromOffset: from, toOffset: to - 1n, reason } });
}

const SLOW = 'subscriber too slow: the events it had not read were deleted by retention';
const GONE = 'requested offset is no longer retained (journal retention)';

/**
 * Yields chunks of framed events of `log` that match `filter`, from `fromOffset` (undefined:
 * live only) until `signal` aborts, each of at most `maxBatch` events.
 */
export async function* followRaw(
  log: EventLog,
  filter: SubscriptionFilter,
  fromOffset: bigint | undefined,
  signal: AbortSignal,
  hooks: SubscriptionHooks,
  nowNs: () => bigint,
  maxBatch: number,
): AsyncGenerator<RawChunk> {
  let cursor = fromOffset === undefined ? log.nextOffset : fromOffset < 1n ? 1n : fromOffset;
  if (cursor > log.nextOffset) cursor = log.nextOffset;
  let gapReason = fromOffset !== undefined ? GONE : SLOW;
  const out = new ByteWriter(64 * 1024);
  const journal = log.journal;
  while (!signal.aborted) {
    let events = 0;
    // Older than memory: from the journal, or a gap for what retention deleted.
    if (cursor < log.firstOffset) {
      const oldest = journal?.isOpen ? journal.firstOffset : log.firstOffset;
      if (cursor < oldest) {
        const to = oldest < log.firstOffset ? oldest : log.firstOffset;
        hooks.onGap(to - cursor);
        gapChunk(out, cursor, to, gapReason, nowNs);
        events++;
        cursor = to;
      }
      if (journal?.isOpen && cursor < log.firstOffset) {
        const memory = log.firstOffset;
        const firsts = filter.subjectPrefix !== '' ? await journal.blocksForSubject(filter.subjectPrefix, cursor, memory) : undefined;
        const blocks = firsts ? blocksOf(journal, firsts) : journal.blocksFrom(cursor, memory, signal);
        let moved = false;
        for await (const jb of blocks) {
          if (signal.aborted) return;
          const b = fromJournal(jb.first, jb.bytes);
          const end = b.first + BigInt(b.starts.length - 1);
          if (end <= cursor) continue;
          if (!firsts && b.first > cursor) {
            // Retention deleted what lay between (it ran while this subscriber read).
            hooks.onGap(b.first - cursor);
            gapChunk(out, cursor, b.first, gapReason, nowNs);
            events++;
            cursor = b.first;
          }
          while (cursor < end) {
            const [n, next] = slice(b, cursor, filter, maxBatch - events, out);
            events += n;
            if (next > cursor) moved = true;
            cursor = next;
            if (events >= maxBatch) {
              yield { bytes: out.take(), events, next: cursor };
              events = 0;
            }
          }
        }
        if (firsts) {
          // Blocks without the subject were skipped: the cursor moves past them.
          if (cursor < memory) cursor = memory;
          moved = true;
        }
        if (!moved && cursor < log.firstOffset) {
          // Nothing readable between the cursor and memory (retention ran meanwhile).
          hooks.onGap(log.firstOffset - cursor);
          gapChunk(out, cursor, log.firstOffset, gapReason, nowNs);
          events++;
          cursor = log.firstOffset;
        }
        if (events > 0) {
          yield { bytes: out.take(), events, next: cursor };
          events = 0;
        }
        continue;
      }
    }
    gapReason = SLOW;
    const end = log.nextOffset;
    if (cursor >= end) {
      if (events > 0) yield { bytes: out.take(), events, next: cursor };
      hooks.onProgress?.(cursor);
      await log.waitFor(cursor, signal);
      continue;
    }
    // A run within one committed block goes out as the block's own bytes: no copy, and the same
    // bytes for every subscriber. (A run spanning blocks is copied into one chunk.)
    if (events === 0 && unfiltered(filter)) {
      const b = log.blockAt(cursor);
      if (b) {
        const i = Number(cursor - b.first);
        const stop = Math.min(b.count, i + maxBatch);
        if (stop - i === maxBatch || b.first + BigInt(stop) >= end) {
          cursor = b.first + BigInt(stop);
          yield { bytes: b.bytes.subarray(b.starts[i]!, b.starts[stop]!), events: stop - i, next: cursor };
          hooks.onProgress?.(cursor);
          continue;
        }
      }
    }
    // Everything committed in memory, up to the batch size.
    while (cursor < end && events < maxBatch) {
      const b = log.blockAt(cursor);
      if (!b) break;
      const [n, next] = slice(fromLog(b), cursor, filter, maxBatch - events, out);
      events += n;
      cursor = next;
    }
    if (events > 0) yield { bytes: out.take(), events, next: cursor };
    hooks.onProgress?.(cursor);
  }
}

async function* blocksOf(journal: NonNullable<EventLog['journal']>, firsts: bigint[]): AsyncGenerator<{ first: bigint; bytes: Buffer }> {
  for (const first of firsts) {
    const bytes = await journal.block(first);
    if (bytes) yield { first, bytes };
  }
}

/** The events of a chunk, decoded. */
export function decodeChunk(bytes: Uint8Array): Event[] {
  const idx = indexEvents(bytes);
  const out: Event[] = [];
  for (let i = 0; i < idx.starts.length - 1; i++) out.push(decodeFramed(bytes, idx.starts[i]!));
  return out;
}

/**
 * Yields the events of `log` that match `filter`, decoded, from `fromOffset` (undefined: live
 * only) until `signal` aborts, in batches of at most `maxBatch`.
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
  for await (const chunk of followRaw(log, filter, fromOffset, signal, hooks, nowNs, maxBatch)) yield decodeChunk(chunk.bytes);
}
