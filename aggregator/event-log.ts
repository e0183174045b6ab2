// The aggregator's event log. Every event gets the next offset and is encoded once, framed (see
// journal/codec.ts), into the block of the current group commit. A group is written to the
// journal as one atomic RocksDB write while the next group fills; only then are its events
// *committed*: subscribers see them, and the acks of the batches they came from go out. Without
// a journal (tests, benches of the pipeline) a group commits when published.
//
// Committed blocks stay in memory, up to `capacity` events, for subscribers that follow live or
// resume from a recent offset; older offsets are read back from the journal.
import { EventKind, type Event, type Signal } from '../proto/index.js';
import { ByteWriter, encodeSignal, varint64, writeEvent, writeSignalEvent, writeSignalEventSpan } from './journal/codec.js';
import { indexBucketOf, type BlockRecord, type CommitGroup, type Journal, type VerdictRecord } from './journal/journal.js';

export type EventPayload = Omit<Event, 'offset' | 'time'>;

/** Committed events of one block, with what filters need to know of each without decoding it. */
export interface LogBlock {
  first: bigint;
  count: number;
  /** Framed events: an EventBatch. */
  bytes: Buffer;
  /** starts[i]: where event i's frame begins; starts[count] = bytes.length. */
  starts: number[];
  kinds: EventKind[];
  subjects: string[];
  /** Decoded narratives by index (actors and chain filters read them). */
  narratives: Map<number, Event>;
}

/** A group commit is written as soon as it holds this many events (else at the end of the turn). */
const FLUSH_EVENTS = 2000;

/** Group commits handed to the journal's writer at once: the next is written while acks of the last go out. */
const MAX_WRITES = 4;

/** Blocks are cut at about this size so a read of one event stays small. */
const BLOCK_BYTES = 256 * 1024;

interface OpenBlock {
  first: bigint;
  time: bigint;
  starts: number[];
  kinds: EventKind[];
  subjects: string[];
  narratives: Map<number, Event>;
  entities: Set<string>;
  /** [index, narrative id, revision] of verdict events in this block. */
  verdicts: [number, string | undefined, number][];
}

interface Group {
  /** idle: filling; writing; written (waits for the groups before it); failed (waits for retry()). */
  state: 'idle' | 'writing' | 'written' | 'failed';
  blocks: { open: OpenBlock; bytes: Buffer }[];
  highWater: Map<string, bigint>;
  events: number;
  done: Promise<void>;
  resolve: () => void;
}

const VERDICT_KINDS = new Set([EventKind.FINDING, EventKind.SITUATION, EventKind.NARRATIVE, EventKind.ACTION]);

/** The kind of an event (or of what is about to become one). */
export function kindOfPayload(e: EventPayload): EventKind {
  if (e.signal) return EventKind.SIGNAL;
  if (e.cellChange) return EventKind.CELL_CHANGE;
  if (e.finding) return EventKind.FINDING;
  if (e.situation) return EventKind.SITUATION;
  if (e.narrative) return EventKind.NARRATIVE;
  if (e.action) return EventKind.ACTION;
  return EventKind.GAP;
}

function subjectOfPayload(e: EventPayload): string {
  return e.signal?.subject ?? e.cellChange?.path ?? e.finding?.subject ?? e.situation?.subject ?? e.narrative?.rootSubject ?? e.action?.target ?? '';
}

export interface EventLogOptions {
  journal?: Journal;
  /** Where offsets continue (from the journal). */
  nextOffset?: bigint;
  /** A group could not be written (e.g. the disk is full): it stays pending until retry() succeeds. */
  onWriteError?: (e: Error) => void;
  /** A group was written after an error: writing works again. */
  onWriteRecovered?: () => void;
}

export class EventLog {
  private readonly blocks: LogBlock[] = [];
  private blockHead = 0;
  private retained = 0;
  /** Offset the next appended event gets. */
  private assigned: bigint;
  /** Every event below this offset is committed (readable by subscribers). */
  private committed: bigint;
  private waiters: (() => void)[] = [];
  private readonly writer = new ByteWriter();
  private group: Group;
  private current: OpenBlock | undefined;
  /** Set by retry() until the groups that had failed are written. */
  private retrying = false;
  /** Groups handed to the journal and not yet committed, in order (a few are written at once). */
  private readonly queue: Group[] = [];
  private flushScheduled = false;
  private lastTime = 0n;
  private timeVarint = varint64(0n);
  private readonly entityCache = new Map<string, string>();
  readonly journal: Journal | undefined;
  /** Events committed since start, and groups. */
  readonly stats = { groups: 0, events: 0, writeErrors: 0, lastError: '' };

  constructor(readonly capacity: number, private readonly options: EventLogOptions = {}) {
    this.journal = options.journal;
    this.assigned = options.nextOffset ?? 1n;
    this.committed = this.assigned;
    this.group = this.newGroup();
  }

  /** Offset of the oldest event held in memory (equals nextOffset when none). */
  get firstOffset(): bigint {
    const b = this.blocks[this.blockHead];
    return b ? b.first : this.committed;
  }

  /** The offset after the last committed event: what subscribers can read up to. */
  get nextOffset(): bigint {
    return this.committed;
  }

  /** The offset the next appended event will get (committed or not). */
  get assignedOffset(): bigint {
    return this.assigned;
  }

  /** True while a group could not be written and waits for retry(). */
  get blocked(): boolean {
    return this.queue.some((g) => g.state === 'failed');
  }

  /** Events appended but not yet committed. */
  get uncommitted(): number {
    return Number(this.assigned - this.committed);
  }

  private newGroup(): Group {
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    return { state: 'idle', blocks: [], highWater: new Map(), events: 0, done, resolve };
  }

  private openBlock(time: bigint): OpenBlock {
    if (this.current && this.writer.pos < BLOCK_BYTES) return this.current;
    if (this.current) this.closeBlock();
    this.current = { first: this.assigned, time, starts: [], kinds: [], subjects: [], narratives: new Map(), entities: new Set(), verdicts: [] };
    return this.current;
  }

  private closeBlock(): void {
    const open = this.current;
    if (!open) return;
    this.current = undefined;
    if (open.starts.length === 0) return;
    this.group.blocks.push({ open, bytes: this.writer.take() });
  }

  private setTime(timeNs: bigint): void {
    if (timeNs !== this.lastTime) {
      this.lastTime = timeNs;
      this.timeVarint = varint64(timeNs);
    }
  }

  private entity(subject: string): string {
    let e = this.entityCache.get(subject);
    if (e === undefined) {
      if (this.entityCache.size > 100_000) this.entityCache.clear();
      e = indexBucketOf(subject);
      this.entityCache.set(subject, e);
    }
    return e;
  }

  /** Appends an accepted signal; `raw` is its encoding as the agent sent it (encoded here when absent). */
  appendSignal(signal: Signal, raw: Uint8Array | undefined, timeNs: bigint): bigint {
    this.setTime(timeNs);
    const b = this.openBlock(timeNs);
    const offset = this.assigned++;
    b.starts.push(this.writer.pos);
    writeSignalEvent(this.writer, Number(offset), this.timeVarint, raw ?? encodeSignal(signal));
    b.kinds.push(EventKind.SIGNAL);
    b.subjects.push(signal.subject);
    if (this.journal) b.entities.add(this.entity(signal.subject));
    this.group.events++;
    return offset;
  }

  /** Appends an accepted signal whose encoding is frame[start, end) (the bytes it arrived in). */
  appendSignalSpan(signal: Signal, frame: Uint8Array, start: number, end: number, timeNs: bigint): bigint {
    this.setTime(timeNs);
    const b = this.openBlock(timeNs);
    const offset = this.assigned++;
    b.starts.push(this.writer.pos);
    writeSignalEventSpan(this.writer, Number(offset), this.timeVarint, frame, start, end);
    b.kinds.push(EventKind.SIGNAL);
    b.subjects.push(signal.subject);
    if (this.journal) b.entities.add(this.entity(signal.subject));
    this.group.events++;
    return offset;
  }

  /** Appends one event; returns it with its offset and time. */
  append(payload: EventPayload, timeNs: bigint): Event {
    if (payload.signal) {
      const offset = this.appendSignal(payload.signal, undefined, timeNs);
      const e = payload as Event;
      e.offset = offset;
      e.time = timeNs;
      return e;
    }
    const b = this.openBlock(timeNs);
    const event = payload as Event;
    event.offset = this.assigned++;
    event.time = timeNs;
    const index = b.starts.length;
    b.starts.push(this.writer.pos);
    writeEvent(this.writer, event);
    const kind = kindOfPayload(payload);
    const subject = subjectOfPayload(payload);
    b.kinds.push(kind);
    b.subjects.push(subject);
    if (this.journal && subject !== '') b.entities.add(this.entity(subject));
    if (kind === EventKind.NARRATIVE) {
      b.narratives.set(index, event);
      // A narrative is found by every subject of its chain (as subscribers' prefix filters find it).
      if (this.journal) for (const e of event.narrative!.causalChain) b.entities.add(this.entity(e.subject));
    }
    if (VERDICT_KINDS.has(kind)) b.verdicts.push([index, event.narrative?.id, event.narrative?.revision ?? 0]);
    this.group.events++;
    return event;
  }

  /** Records that `source` has been handled up to `seq`: written with the group, so dedupe survives a restart. */
  noteHighWater(source: string, seq: bigint): void {
    this.group.highWater.set(source, seq);
  }

  /** Ends the current group: it is written (or, without a journal, committed) as soon as possible. */
  publish(): void {
    if (!this.journal) {
      this.closeBlock();
      const g = this.group;
      this.group = this.newGroup();
      this.commit(g);
      return;
    }
    // A large group goes now, mid-turn: its acks leave while this turn still reads, so agents send
    // more meanwhile (a turn of the event loop can hold tens of thousands of signals).
    if (this.group.events >= FLUSH_EVENTS && this.queue.length < MAX_WRITES) {
      this.flush();
      return;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Batches handled in this turn of the event loop join the same group.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Resolves once everything appended so far is committed. */
  committedAll(): Promise<void> {
    if (this.assigned === this.committed) return Promise.resolve();
    this.publish();
    if (!this.journal) return Promise.resolve();
    if (this.group.events > 0 || this.queue.length === 0) return this.group.done;
    return this.queue[this.queue.length - 1]!.done;
  }

  private flush(): void {
    if (!this.journal || this.blocked || this.queue.length >= MAX_WRITES) return;
    this.closeBlock();
    if (this.group.events === 0 && this.group.highWater.size === 0) return;
    const g = this.group;
    this.group = this.newGroup();
    this.queue.push(g);
    this.write(g);
  }

  private write(g: Group): void {
    g.state = 'writing';
    this.journal!.write(this.commitGroup(g)).then(
      () => {
        g.state = 'written';
        // Commit in order: a group is readable only once every group before it is.
        while (this.queue[0]?.state === 'written') this.commit(this.queue.shift()!);
        if (this.retrying && !this.queue.some((x) => x.state !== 'written')) {
          this.retrying = false;
          this.options.onWriteRecovered?.();
        }
        if (this.group.events > 0 || this.group.highWater.size > 0) this.flush();
      },
      (e: Error) => {
        const first = !this.blocked;
        g.state = 'failed';
        this.stats.writeErrors++;
        this.stats.lastError = e.message;
        if (first) this.options.onWriteError?.(e);
      },
    );
  }

  /** Writes the groups that failed again, in order (after the cause went away). */
  retry(): void {
    if (this.queue.some((g) => g.state === 'writing')) return;
    this.retrying = true;
    for (const g of this.queue) if (g.state === 'failed') this.write(g);
  }

  private commitGroup(g: Group): CommitGroup {
    const blocks: BlockRecord[] = [];
    const verdicts: VerdictRecord[] = [];
    for (const { open, bytes } of g.blocks) {
      blocks.push({ first: open.first, time: open.time, count: open.starts.length, bytes, entities: open.entities });
      for (const [i, id, revision] of open.verdicts) {
        const start = open.starts[i]!;
        const end = i + 1 < open.starts.length ? open.starts[i + 1]! : bytes.length;
        verdicts.push({ offset: open.first + BigInt(i), framed: bytes.subarray(start, end), narrative: id !== undefined ? { id, revision } : undefined });
      }
    }
    return { blocks, verdicts, highWater: g.highWater };
  }

  private commit(g: Group): void {
    for (const { open, bytes } of g.blocks) {
      const starts = open.starts;
      starts.push(bytes.length);
      this.blocks.push({ first: open.first, count: starts.length - 1, bytes, starts, kinds: open.kinds, subjects: open.subjects, narratives: open.narratives });
      this.retained += starts.length - 1;
      this.committed = open.first + BigInt(starts.length - 1);
    }
    while (this.retained > this.capacity && this.blockHead < this.blocks.length - 1) {
      this.retained -= this.blocks[this.blockHead]!.count;
      this.blocks[this.blockHead++] = undefined as unknown as LogBlock;
    }
    if (this.blockHead > 1024 && this.blockHead * 2 > this.blocks.length) {
      this.blocks.splice(0, this.blockHead);
      this.blockHead = 0;
    }
    this.stats.groups++;
    this.stats.events += g.events;
    g.resolve();
    if (this.waiters.length > 0) {
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    }
  }

  /** The committed block in memory holding `offset`, or undefined. */
  blockAt(offset: bigint): LogBlock | undefined {
    if (offset < this.firstOffset || offset >= this.committed) return undefined;
    let lo = this.blockHead;
    let hi = this.blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.blocks[mid]!.first <= offset) lo = mid;
      else hi = mid - 1;
    }
    return this.blocks[lo];
  }

  /** Committed blocks in memory, newest first (for "recent" queries). */
  *blocksNewestFirst(): Generator<LogBlock> {
    for (let i = this.blocks.length - 1; i >= this.blockHead; i--) yield this.blocks[i]!;
  }

  /** Resolves when an event at or after `offset` is committed, or when `signal` aborts. */
  waitFor(offset: bigint, signal: AbortSignal): Promise<void> {
    if (offset < this.committed || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
