// Recovery: a restarted aggregator rebuilds the pipeline (hierarchy, observers' windows,
// situations, open narratives) by feeding it the journal's tail — the accepted signals of the
// last `windowMs`, each at the time it was first heard, with the pipeline's ticks in between —
// so it knows the estate before the first new signal. The pipeline is pure and deterministic
// given the signals and the clock, so the tail rebuilds what those signals built the first time.
//
// What the tail cannot bring back is named: cells last heard before the window (they were stale
// already, with the default 5 min staleness and a 15 min window) and incidents whose evidence is
// all older than it. Narrative ids are the journal's: a narrative the tail reopens is matched to
// the one the journal has open (same root subject, else a shared chain subject) and keeps its id
// and revision numbering; one the journal has open that the tail does not reopen is resolved,
// with an event saying so, so nothing stays open forever.
import { Event, EventKind, Narrative_State, type Narrative, type Signal } from '../proto/index.js';
import type { EventPayload } from './event-log.js';
import type { Pipeline } from './pipeline.js';
import { decodeFramed, indexEvents, innerOf } from './journal/codec.js';
import type { Journal } from './journal/journal.js';

export interface FeedOptions {
  /** Ticks every this much of the signals' (recorded) time, as the aggregator's timer did. */
  tickNs: bigint;
  /** Called with what the pipeline made of each step (reused array: copy what you keep). */
  onOutput?: (events: EventPayload[], timeNs: bigint) => void;
  signal?: AbortSignal;
}

export interface FeedResult {
  signals: number;
  events: number;
  firstTime: bigint;
  lastTime: bigint;
  /** When the next regular tick would have been. */
  nextTick?: bigint;
}

/**
 * Feeds the signal events of journal blocks to `pipeline`: each at its recorded time, with a
 * tick every `tickNs` of that time. Other events (what the pipeline said then) are skipped.
 */
export async function feedBlocks(
  blocks: AsyncIterable<{ first: bigint; bytes: Uint8Array }>,
  pipeline: Pipeline,
  o: FeedOptions & { fromOffset?: bigint; toOffset?: bigint; fromTime?: bigint; toTime?: bigint },
): Promise<FeedResult> {
  const out: EventPayload[] = [];
  const r: FeedResult = { signals: 0, events: 0, firstTime: 0n, lastTime: 0n };
  let nextTick = 0n;
  let lastTick = 0n;
  const emit = (t: bigint): void => {
    if (out.length > 0) {
      o.onOutput?.(out, t);
      out.length = 0;
    }
  };
  for await (const b of blocks) {
    if (o.signal?.aborted) break;
    const idx = indexEvents(b.bytes);
    for (let i = 0; i < idx.offsets.length; i++) {
      const offset = idx.offsets[i]!;
      if (o.fromOffset !== undefined && offset < o.fromOffset) continue;
      if (o.toOffset !== undefined && o.toOffset > 0n && offset >= o.toOffset) return finish();
      r.events++;
      const t = idx.times[i]!;
      if (idx.kinds[i] !== EventKind.SIGNAL) {
        // An event later than the last signal came from a tick at its time: tick then too.
        if (r.firstTime !== 0n && t > r.lastTime && t > lastTick && (o.toTime === undefined || o.toTime === 0n || t < o.toTime)) {
          while (nextTick < t) {
            pipeline.tick(nextTick, out);
            emit(nextTick);
            nextTick += o.tickNs;
          }
          pipeline.tick(t, out);
          emit(t);
          lastTick = t;
        }
        continue;
      }
      if (o.fromTime !== undefined && o.fromTime > 0n && t < o.fromTime) continue;
      if (o.toTime !== undefined && o.toTime > 0n && t >= o.toTime) return finish();
      if (r.firstTime === 0n) {
        r.firstTime = t;
        nextTick = t + o.tickNs;
      }
      while (nextTick <= t) {
        pipeline.tick(nextTick, out);
        emit(nextTick);
        lastTick = nextTick;
        nextTick += o.tickNs;
      }
      const signal: Signal = Event.decode(innerOf(b.bytes, idx.starts[i]!)).signal!;
      pipeline.ingest(signal, t, out);
      emit(t);
      r.signals++;
      r.lastTime = t;
    }
  }
  return finish();

  function finish(): FeedResult {
    r.nextTick = nextTick;
    return r;
  }
}

/** Ticks `pipeline` every `tickNs` from `fromNs` up to `toNs` (time passing after the last signal). */
export function tickThrough(pipeline: Pipeline, fromNs: bigint, toNs: bigint, tickNs: bigint, onOutput?: (events: EventPayload[], timeNs: bigint) => void): void {
  const out: EventPayload[] = [];
  for (let t = fromNs; t <= toNs; t += tickNs) {
    pipeline.tick(t, out);
    if (out.length > 0) onOutput?.(out, t);
    out.length = 0;
  }
}

/** Rebuilt narrative ids → the journal's, with the revision numbering continued. */
export class NarrativeIds {
  private readonly map = new Map<string, { id: string; base: number; from: number }>();

  set(rebuiltId: string, journalId: string, rebuiltRevision: number, journalRevision: number): void {
    this.map.set(rebuiltId, { id: journalId, base: journalRevision, from: rebuiltRevision });
  }

  get size(): number {
    return this.map.size;
  }

  /** The narrative as subscribers know it (the same object when nothing maps). */
  translate(n: Narrative): Narrative {
    const m = this.map.get(n.id);
    if (!m) return n;
    return { ...n, id: m.id, revision: m.base + (n.revision - m.from), state: n.state === Narrative_State.OPEN ? Narrative_State.UPDATED : n.state };
  }
}

export interface RecoveryReport {
  tailFromOffset: bigint;
  tailSignals: number;
  tailEvents: number;
  ms: number;
  cells: number;
  openNarratives: number;
  matched: number;
  /** Narratives the journal had open that the tail did not reopen: resolved at recovery. */
  closed: Narrative[];
  capped: boolean;
}

export interface RecoveryOptions {
  windowMs: number;
  maxEvents: number;
  tickMs: number;
  nowNs: bigint;
}

/** Narratives the journal has open: the latest revision of each id, when that is not RESOLVED (newest verdicts first, bounded). */
async function openInJournal(journal: Journal, sinceNs: bigint): Promise<Map<string, Narrative>> {
  const latest = new Map<string, Narrative>();
  let scanned = 0;
  for await (const v of journal.verdicts({ reverse: true })) {
    const idx = indexEvents(v.framed);
    if (idx.times[0]! < sinceNs || ++scanned > 200_000) break;
    if (idx.kinds[0] !== EventKind.NARRATIVE) continue;
    const n = decodeFramed(v.framed, 0).narrative!;
    // A leaf's narrative (federation) is the leaf's to resolve, not this pipeline's.
    if (!n.leaf && !latest.has(n.id)) latest.set(n.id, n);
  }
  for (const [id, n] of latest) if (n.state === Narrative_State.RESOLVED) latest.delete(id);
  return latest;
}

/** Feeds the journal's tail to `pipeline` and maps its open narratives to the journal's. */
export async function recover(journal: Journal, pipeline: Pipeline, ids: NarrativeIds, o: RecoveryOptions): Promise<RecoveryReport> {
  const t0 = performance.now();
  let from = await journal.offsetAtTime(o.nowNs - BigInt(o.windowMs) * 1_000_000n);
  let capped = false;
  if (journal.nextOffset - from > BigInt(o.maxEvents)) {
    from = journal.nextOffset - BigInt(o.maxEvents);
    capped = true;
  }
  const fed = await feedBlocks(journal.blocksFrom(from), pipeline, { tickNs: BigInt(o.tickMs) * 1_000_000n, fromOffset: from });
  // A final tick at the last recorded time: what was due then is due now.
  if (fed.lastTime > 0n) pipeline.tick(fed.lastTime, []);
  const rebuilt = pipeline.listNarratives({ includeResolved: false, limit: 100_000, subjectPrefix: '' }).narratives;
  // Evidence older than a day is not looked for: such an incident would have been resolved or refreshed.
  const open = await openInJournal(journal, o.nowNs - 24n * 3600n * 1_000_000_000n);
  const taken = new Set<string>();
  let matched = 0;
  for (const n of rebuilt) {
    const subjects = new Set(n.causalChain.map((e) => e.subject));
    let best: Narrative | undefined;
    for (const j of open.values()) {
      if (taken.has(j.id)) continue;
      if (j.rootSubject === n.rootSubject) {
        best = j;
        break;
      }
      if (!best && j.causalChain.some((e) => subjects.has(e.subject))) best = j;
    }
    if (best) {
      taken.add(best.id);
      ids.set(n.id, best.id, n.revision, best.revision);
      matched++;
    }
  }
  const closed: Narrative[] = [];
  for (const j of open.values()) {
    if (taken.has(j.id)) continue;
    closed.push({ ...j, state: Narrative_State.RESOLVED, revision: j.revision + 1, updatedAt: o.nowNs, resolvedAt: o.nowNs });
  }
  return {
    tailFromOffset: from,
    tailSignals: fed.signals,
    tailEvents: fed.events,
    ms: performance.now() - t0,
    cells: pipeline.hierarchy.size,
    openNarratives: rebuilt.length,
    matched,
    closed,
    capped,
  };
}
