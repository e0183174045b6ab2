// The journal: every event the aggregator produces (accepted signals, cell changes, findings,
// situations, narratives, actions), on RocksDB (@nxtedition/rocksdb) under <data-dir>/journal.
//
// Keys (one prefix byte, then big-endian numbers so keys sort as the numbers do):
//   M format                                   {"format":"kafka-obs-journal","version":1,...}
//   E <u64 first offset>                       a block: the framed events of one group commit (an EventBatch)
//   T <u64 time ns> <u64 first offset>         time index, one per block: <u32 bytes><u32 events>
//   S <entity> 0x00 <u64 first offset>         subject index: the entities (first 4 path segments) a block touches
//   V <u64 offset>                             verdicts (findings, situations, narratives, actions), kept longer
//   N <narrative id> 0x00 <u32 revision>       a narrative's revisions: <u64 offset> of its V entry
//   H <source id>                              dedupe high-water: <u64 seq>, written with the events it covers
// A group commit (blocks, their index entries, verdicts, high-waters) is one atomic RocksDB write.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import { RocksLevel } from '@nxtedition/rocksdb';
import { writeBatchSync } from './batch.js';
import { Event, EventKind, entityOf } from '../../proto/index.js';
import { indexEvents, u64be } from './codec.js';
import type { WriteReply, WriteRequest } from './writer.js';

export const JOURNAL_FORMAT = 'kafka-obs-journal';
export const JOURNAL_VERSION = 1;

export type JournalWriter = 'inline' | 'thread' | 'auto';

/** With writer 'auto', a group commit of at least this many events goes to the writer thread. */
export const AUTO_THREAD_EVENTS = 500;

/** fsync: an ack waits for the WAL to be synced to disk (survives power loss); os: for the OS to have it (survives a crash of the process, not of the machine). */
export type SyncPolicy = 'fsync' | 'os';

export interface RetentionSettings {
  /** Events (signals and everything in the main log) older than this are deleted; 0 = never. */
  signalsMs: number;
  /** ... and the oldest go when the main log is larger than this; 0 = no limit. */
  signalsBytes: number;
  /** Verdicts (narratives, findings, situations, actions) are kept this long; 0 = never deleted. */
  verdictsMs: number;
  verdictsBytes: number;
}

export interface JournalOptions {
  /** The journal's directory (the aggregator uses <data-dir>/journal). */
  path: string;
  sync: SyncPolicy;
  retention: RetentionSettings;
  /** Open an existing journal only (the replay tool): never create one. */
  mustExist?: boolean;
  /**
   * Where writes run: on the event loop (inline: the ack goes out in the same turn), a worker
   * thread (the loop never waits for the disk), or auto: inline for a small group, the thread for
   * a large one (a busy loop does not stop for the sync; a quiet one skips the thread's hop).
   */
  writer?: JournalWriter;
  /** ZSTD-compress the write-ahead log (smaller WAL files, more CPU per write; off by default: the WAL only lives until its memtable is flushed to compressed tables). */
  walCompression?: boolean;
}

export type JournalErrorCode = 'corrupt' | 'foreign' | 'version' | 'locked' | 'missing' | 'io';

export class JournalError extends Error {
  constructor(message: string, readonly code: JournalErrorCode) {
    super(message);
  }
}

export interface BlockRecord {
  first: bigint;
  time: bigint;
  count: number;
  bytes: Buffer;
  /** Entities (first 4 path segments of subjects) the block's events are about. */
  entities: Iterable<string>;
}

export interface VerdictRecord {
  offset: bigint;
  /** The framed event. */
  framed: Buffer;
  narrative?: { id: string; revision: number };
}

export interface CommitGroup {
  blocks: BlockRecord[];
  verdicts: VerdictRecord[];
  highWater: Map<string, bigint>;
}

export interface JournalState {
  /** The offset the next event gets: offsets continue across restarts. */
  nextOffset: bigint;
  /** The oldest offset still in the main log (equals nextOffset when empty). */
  firstOffset: bigint;
  highWater: Map<string, bigint>;
  blocks: number;
}

export interface JournalStats {
  commits: number;
  bytesWritten: number;
  lastCommitMs: number;
  /** Bytes of event blocks kept (before RocksDB's compression). */
  logBytes: number;
  verdictBytes: number;
  blocksDeleted: number;
  verdictsDeleted: number;
  writeErrors: number;
  /** Group commits written by the writer thread (the rest were written on the event loop). */
  threadCommits: number;
}

const P = { meta: 0x4d, block: 0x45, time: 0x54, subject: 0x53, verdict: 0x56, narrative: 0x4e, high: 0x48 } as const;
const key = (prefix: number, ...parts: (Uint8Array | string)[]): Buffer => Buffer.concat([Buffer.of(prefix), ...parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p))]);
const ZERO = Buffer.of(0);
const EMPTY = Buffer.alloc(0);
const u32be = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const blockKey = (first: bigint): Buffer => key(P.block, u64be(first));
const META_KEY = key(P.meta, 'format');

/**
 * The subject index's bucket for a subject: its entity (proto's grammar: the path before any
 * '#aspect') cut to at most 4 segments (a broker, a topic, a group, a pod), so one bucket serves
 * every partition, client and JVM below it and a prefix query reads few buckets.
 */
export function indexBucketOf(subject: string): string {
  const path = entityOf(subject);
  let i = -1;
  for (let n = 0; n < 4; n++) {
    i = path.indexOf('/', i + 1);
    if (i < 0) return path;
  }
  return path.slice(0, i);
}

/** How a RocksDB error reads to an operator. */
function classify(e: Error, path: string): JournalError {
  const m = e.message || String(e);
  if (/lock/i.test(m) && /(hold|Resource temporarily unavailable|LOCK)/i.test(m)) {
    return new JournalError(`the journal at ${path} is in use by another process (RocksDB lock: ${m}); stop the other aggregator or give this one another --data-dir`, 'locked');
  }
  if (/corrupt/i.test(m) || /checksum/i.test(m) || /bad (magic|table)/i.test(m)) {
    return new JournalError(`the journal at ${path} is corrupt (RocksDB: ${m}). Move the directory aside (keep it for analysis) and start again with an empty data directory; nothing in it will be served`, 'corrupt');
  }
  return new JournalError(`cannot open the journal at ${path}: ${m}`, 'io');
}

export function isDiskFull(message: string): boolean {
  return /No space left|ENOSPC|disk quota|Quota exceeded/i.test(message);
}

export class Journal {
  readonly stats: JournalStats = { commits: 0, bytesWritten: 0, lastCommitMs: 0, logBytes: 0, verdictBytes: 0, blocksDeleted: 0, verdictsDeleted: 0, writeErrors: 0, threadCommits: 0 };
  id = '';
  createdAt = '';
  private db: RocksLevel | undefined;
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  /** Writes go one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();
  /** Oldest offset kept in the main log. */
  firstOffset = 1n;
  nextOffset = 1n;
  /** Kept blocks in offset order (first offset, time, bytes): for retention by age and size. */
  private readonly blocks = new BlockTable();

  constructor(readonly options: JournalOptions) {}

  get path(): string {
    return this.options.path;
  }

  /** Opens (or creates) the journal, checks it is ours and of this version, and reads where it ends. */
  async open(): Promise<JournalState> {
    const path = this.options.path;
    const exists = existsSync(path);
    if (exists && !statSync(path).isDirectory()) throw new JournalError(`${path} is a file, not a journal directory; point --data-dir at a directory`, 'foreign');
    const entries = exists ? readdirSync(path) : [];
    if (this.options.mustExist && entries.length === 0) throw new JournalError(`no journal at ${path} (is --data-dir the aggregator's?)`, 'missing');
    if (entries.length > 0 && !entries.includes('CURRENT')) {
      throw new JournalError(`${path} is not a kafka-obs journal (it holds ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''} but no RocksDB database); move it away or choose another --data-dir`, 'foreign');
    }
    const db = new RocksLevel(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open({ createIfMissing: !this.options.mustExist, infoLogLevel: null, walCompression: this.options.walCompression ?? false });
    } catch (e) {
      throw classify((e as { cause?: Error }).cause ?? (e as Error), path);
    }
    this.db = db;
    try {
      return await this.readState(entries.length === 0);
    } catch (e) {
      await db.close().catch(() => {});
      this.db = undefined;
      if (e instanceof JournalError) throw e;
      throw classify(e as Error, path);
    }
  }

  private async readState(fresh: boolean): Promise<JournalState> {
    const db = this.db!;
    const [meta] = await db.getMany([META_KEY]);
    if (!meta) {
      const any = await this.scan(Buffer.of(0), Buffer.of(0xff), { limit: 1 });
      if (!fresh && any.length > 0) throw new JournalError(`${this.path} is a RocksDB database but not a kafka-obs journal (no format record); move it away or choose another --data-dir`, 'foreign');
      this.id = randomUUID();
      this.createdAt = new Date().toISOString();
      const record = { format: JOURNAL_FORMAT, version: JOURNAL_VERSION, id: this.id, createdAt: this.createdAt };
      writeBatchSync(db, [META_KEY, Buffer.from(JSON.stringify(record))], [], true);
    } else {
      let record: { format?: string; version?: number; id?: string; createdAt?: string };
      try {
        record = JSON.parse(meta.toString('utf8')) as typeof record;
      } catch {
        throw new JournalError(`${this.path}: the journal's format record is unreadable; the directory is corrupt or not ours. Move it aside and start with an empty data directory`, 'corrupt');
      }
      if (record.format !== JOURNAL_FORMAT) throw new JournalError(`${this.path} holds a "${record.format}" database, not a kafka-obs journal; move it away or choose another --data-dir`, 'foreign');
      if (record.version !== JOURNAL_VERSION) {
        const newer = (record.version ?? 0) > JOURNAL_VERSION;
        throw new JournalError(
          `${this.path} was written in journal format version ${record.version}; this kafka-obs reads version ${JOURNAL_VERSION}. ${newer ? 'Run the newer kafka-obs that wrote it' : 'Replay what you need from it with the kafka-obs that wrote it, then move it aside and start with an empty data directory'} (nothing was changed)`,
          'version',
        );
      }
      this.id = record.id ?? '';
      this.createdAt = record.createdAt ?? '';
    }
    // Where the log ends: the last block's first offset plus its events.
    const last = await this.scan(key(P.block), key(P.block + 1), { reverse: true, limit: 1 });
    if (last.length > 0) {
      const [k, v] = last[0]!;
      const first = k.readBigUInt64BE(1);
      this.nextOffset = first + BigInt(indexEvents(v).offsets.length);
    }
    const firstBlock = await this.scan(key(P.block), key(P.block + 1), { limit: 1, values: false });
    this.firstOffset = firstBlock.length > 0 ? firstBlock[0]![0].readBigUInt64BE(1) : this.nextOffset;
    // Verdicts may outlive the blocks; offsets never go back below them.
    const lastVerdict = await this.scan(key(P.verdict), key(P.verdict + 1), { reverse: true, limit: 1, values: false });
    if (lastVerdict.length > 0) {
      const o = lastVerdict[0]![0].readBigUInt64BE(1) + 1n;
      if (o > this.nextOffset) this.nextOffset = o;
    }
    // Block sizes (for retention by size), from the time index: one entry per block.
    await this.each(key(P.time), key(P.time + 1), (k, v) => {
      this.blocks.insert(k.readBigUInt64BE(9), k.readBigInt64BE(1), v.readUInt32BE(0));
      this.stats.logBytes += v.readUInt32BE(0);
    });
    await this.each(key(P.verdict), key(P.verdict + 1), (_k, v) => {
      this.stats.verdictBytes += v.length;
    });
    const highWater = new Map<string, bigint>();
    await this.each(key(P.high), key(P.high + 1), (k, v) => {
      highWater.set(k.subarray(1).toString('utf8'), v.readBigUInt64BE(0));
    });
    this.startWorker();
    return { nextOffset: this.nextOffset, firstOffset: this.firstOffset, highWater, blocks: this.blocks.length };
  }

  private startWorker(): void {
    const worker = new Worker(new URL('./writer.js', import.meta.url), { workerData: this.db!.handle });
    worker.on('message', (m: WriteReply | 'ready' | 'closed') => {
      if (typeof m === 'string') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      this.stats.lastCommitMs = m.ms;
      if (m.error) p.reject(new Error(m.error));
      else p.resolve();
    });
    worker.on('error', (e) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    });
    worker.unref();
    this.worker = worker;
  }

  /** Group commits handed to the writer thread and not yet answered: later ones queue behind them. */
  private groupsInThread = 0;

  /** Whether a group commit of `events` events is written on the event loop. */
  private inline(events: number): boolean {
    const w = this.options.writer ?? 'thread';
    if (w === 'inline') return true;
    // In order: never inline past a group still in the thread's queue.
    return w === 'auto' && events < AUTO_THREAD_EVENTS && this.groupsInThread === 0;
  }

  private request(r: Omit<WriteRequest, 'id'>, inline = this.options.writer === 'inline'): Promise<void> {
    if (inline && r.deleteRanges.length === 0) {
      // Synchronous on the event loop: a group commit is one RocksDB write (plus its sync).
      if (!this.db) return Promise.reject(new Error('the journal is closed'));
      const t0 = performance.now();
      try {
        writeBatchSync(this.db, r.puts, r.dels, r.sync);
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      } finally {
        this.stats.lastCommitMs = performance.now() - t0;
      }
      return Promise.resolve();
    }
    const run = (): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        if (!this.worker) return reject(new Error('the journal is closed'));
        const id = this.nextId++;
        this.pending.set(id, { resolve, reject });
        this.worker.ref(); // a write in progress keeps the process alive
        this.worker.postMessage({ ...r, id } satisfies WriteRequest);
      });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  /**
   * Writes one group commit atomically; resolves once it is durable under the sync policy.
   * Rejects with the RocksDB error (e.g. "No space left on device"): nothing of the group was written.
   */
  async write(group: CommitGroup): Promise<void> {
    const puts: Uint8Array[] = [];
    let bytes = 0;
    for (const b of group.blocks) {
      puts.push(blockKey(b.first), b.bytes);
      const meta = Buffer.allocUnsafe(8);
      meta.writeUInt32BE(b.bytes.length, 0);
      meta.writeUInt32BE(b.count, 4);
      const timeKey = key(P.time, u64be(b.time), u64be(b.first));
      puts.push(timeKey, meta);
      for (const e of b.entities) puts.push(key(P.subject, e, ZERO, u64be(b.first)), EMPTY);
      bytes += b.bytes.length;
    }
    let verdictBytes = 0;
    for (const v of group.verdicts) {
      puts.push(key(P.verdict, u64be(v.offset)), v.framed);
      if (v.narrative) puts.push(key(P.narrative, v.narrative.id, ZERO, u32be(v.narrative.revision)), u64be(v.offset));
      verdictBytes += v.framed.length;
    }
    for (const [source, seq] of group.highWater) puts.push(key(P.high, source), u64be(seq));
    let events = 0;
    for (const b of group.blocks) events += b.count;
    const inline = this.inline(events);
    if (!inline) {
      this.groupsInThread++;
      this.stats.threadCommits++;
    }
    try {
      await this.request({ sync: this.options.sync === 'fsync', puts, dels: [], deleteRanges: [] }, inline);
    } catch (e) {
      this.stats.writeErrors++;
      throw e;
    } finally {
      if (!inline) this.groupsInThread--;
    }
    this.stats.commits++;
    this.stats.bytesWritten += bytes + verdictBytes;
    this.stats.logBytes += bytes;
    this.stats.verdictBytes += verdictBytes;
    for (const b of group.blocks) {
      // Kept in offset order (a group written again after an error may complete after later ones).
      const none = this.blocks.length === 0;
      this.blocks.insert(b.first, b.time, b.bytes.length);
      if (none || b.first < this.firstOffset) this.firstOffset = b.first;
      const end = b.first + BigInt(b.count);
      if (end > this.nextOffset) this.nextOffset = end;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  private async scan(gte: Buffer, lt: Buffer, o: { reverse?: boolean; limit?: number; values?: boolean } = {}): Promise<[Buffer, Buffer][]> {
    const it = this.db!.iterator({ gte, lt, reverse: o.reverse, limit: o.limit ?? -1, values: o.values });
    try {
      const out: [Buffer, Buffer][] = [];
      for (;;) {
        const rows = await it.nextv(1000);
        if (rows.length === 0) return out;
        out.push(...rows);
        if (o.limit !== undefined && out.length >= o.limit) return out.slice(0, o.limit);
      }
    } finally {
      await it.close();
    }
  }

  private async each(gte: Buffer, lt: Buffer, f: (k: Buffer, v: Buffer) => void | false, o: { reverse?: boolean; values?: boolean } = {}): Promise<void> {
    const it = this.db!.iterator({ gte, lt, reverse: o.reverse, values: o.values });
    try {
      for (;;) {
        const rows = await it.nextv(256);
        if (rows.length === 0) return;
        for (const [k, v] of rows) if (f(k, v) === false) return;
      }
    } finally {
      await it.close();
    }
  }

  /** The block holding `offset` or the first after it, then every later block up to `toOffset` (exclusive; 0 = the end). */
  async *blocksFrom(offset: bigint, toOffset = 0n, signal?: AbortSignal): AsyncGenerator<{ first: bigint; bytes: Buffer }> {
    const db = this.db;
    if (!db) return;
    const before = await this.scan(key(P.block), blockKey(offset + 1n), { reverse: true, limit: 1, values: false });
    const start = before.length > 0 ? before[0]![0] : key(P.block);
    const it = db.iterator({ gte: start, lt: toOffset > 0n ? blockKey(toOffset) : key(P.block + 1) });
    try {
      for (;;) {
        if (signal?.aborted) return;
        const rows = await it.nextv(8);
        if (rows.length === 0) return;
        for (const [k, v] of rows) yield { first: k.readBigUInt64BE(1), bytes: v };
      }
    } finally {
      await it.close();
    }
  }

  /** Blocks that start before `beforeOffset`, newest first. */
  async *blocksBackward(beforeOffset: bigint): AsyncGenerator<{ first: bigint; bytes: Buffer }> {
    const db = this.db;
    if (!db) return;
    const it = db.iterator({ gte: key(P.block), lt: blockKey(beforeOffset), reverse: true });
    try {
      for (;;) {
        const rows = await it.nextv(4);
        if (rows.length === 0) return;
        for (const [k, v] of rows) yield { first: k.readBigUInt64BE(1), bytes: v };
      }
    } finally {
      await it.close();
    }
  }

  /** The first offset of the first block whose events may be at or after `timeNs` (the block before it, to be safe). */
  async offsetAtTime(timeNs: bigint): Promise<bigint> {
    const before = await this.scan(key(P.time), key(P.time, u64be(timeNs)), { reverse: true, limit: 1, values: false });
    if (before.length > 0) return before[0]![0].readBigUInt64BE(9);
    return this.firstOffset;
  }

  /** First offsets of the blocks that hold events about subjects under `prefix` (ascending). */
  async blocksForSubject(prefix: string, fromOffset = 0n, toOffset = 0n): Promise<bigint[]> {
    prefix = prefix.replace(/\/+$/, '');
    const entity = indexBucketOf(prefix);
    const exact = prefix.includes('#') || prefix.split('/').length >= 4;
    const firsts = new Set<bigint>();
    const lo = exact ? key(P.subject, entity, ZERO) : key(P.subject, prefix);
    const hi = exact ? key(P.subject, entity, Buffer.of(1)) : key(P.subject, prefix, Buffer.of(0xff));
    const plen = 1 + Buffer.byteLength(prefix);
    await this.each(lo, hi, (k) => {
      if (!exact) {
        const next = k[plen];
        if (next !== 0x2f && next !== 0x00 && prefix !== '') return; // whole segments only
      }
      const first = k.readBigUInt64BE(k.length - 8);
      if (first >= this.firstOffset && (toOffset === 0n || first < toOffset)) firsts.add(first);
    }, { values: false });
    const sorted = [...firsts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    // From the last block that starts at or before fromOffset (it may hold fromOffset).
    let i = 0;
    while (i + 1 < sorted.length && sorted[i + 1]! <= fromOffset) i++;
    return sorted.slice(i);
  }

  async block(first: bigint): Promise<Buffer | undefined> {
    if (!this.db) return undefined;
    const [b] = await this.db.getMany([blockKey(first)]);
    return b;
  }

  /** Verdict events (framed), oldest first from `fromOffset`, or newest first with `reverse`. */
  async *verdicts(o: { fromOffset?: bigint; toOffset?: bigint; reverse?: boolean } = {}): AsyncGenerator<{ offset: bigint; framed: Buffer }> {
    const db = this.db;
    if (!db) return;
    const it = db.iterator({ gte: key(P.verdict, u64be(o.fromOffset ?? 0n)), lt: o.toOffset ? key(P.verdict, u64be(o.toOffset)) : key(P.verdict + 1), reverse: o.reverse });
    try {
      for (;;) {
        const rows = await it.nextv(64);
        if (rows.length === 0) return;
        for (const [k, v] of rows) yield { offset: k.readBigUInt64BE(1), framed: v };
      }
    } finally {
      await it.close();
    }
  }

  /** Every revision of one narrative, oldest first (decoded events). */
  async narrativeHistory(id: string): Promise<Event[]> {
    const rows = await this.scan(key(P.narrative, id, ZERO), key(P.narrative, id, Buffer.of(1)));
    if (rows.length === 0) return [];
    const frames = await this.db!.getMany(rows.map(([, v]) => key(P.verdict, v)));
    const out: Event[] = [];
    for (const f of frames) if (f) out.push(Event.decode(f.subarray(readLen(f))));
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Retention

  /** Deletes what retention no longer keeps; returns how many blocks and verdicts went. */
  async retain(nowNs: bigint): Promise<{ blocks: number; verdicts: number }> {
    const r = this.options.retention;
    const dels: Uint8Array[] = [];
    // Main log: by age, then by size; never the last block (it says where offsets continue).
    const cutoff = r.signalsMs > 0 ? nowNs - BigInt(r.signalsMs) * 1_000_000n : undefined;
    let bytes = this.stats.logBytes;
    const t = this.blocks;
    let upTo = 0;
    while (upTo < t.length - 1) {
      const old = cutoff !== undefined && t.time(upTo + 1) <= cutoff;
      const big = r.signalsBytes > 0 && bytes > r.signalsBytes;
      if (!old && !big) break;
      bytes -= t.bytes(upTo);
      dels.push(key(P.time, u64be(t.time(upTo)), u64be(t.first(upTo))));
      upTo++;
    }
    const deletedBlocks = upTo;
    const ranges: Uint8Array[] = [];
    let newFirst = this.firstOffset;
    if (deletedBlocks > 0) {
      newFirst = t.first(upTo);
      ranges.push(key(P.block), blockKey(newFirst));
    }
    // Verdicts: by age, then by size (decoded one at a time from the oldest).
    const vcut = r.verdictsMs > 0 ? nowNs - BigInt(r.verdictsMs) * 1_000_000n : undefined;
    let vbytes = this.stats.verdictBytes;
    let verdicts = 0;
    if (vcut !== undefined || (r.verdictsBytes > 0 && vbytes > r.verdictsBytes)) {
      for await (const v of this.verdicts()) {
        const idx = indexEvents(v.framed);
        const old = vcut !== undefined && (idx.times[0] ?? 0n) < vcut;
        const big = r.verdictsBytes > 0 && vbytes > r.verdictsBytes;
        if (!old && !big) break;
        dels.push(key(P.verdict, u64be(v.offset)));
        const n = idx.kinds[0] === EventKind.NARRATIVE ? Event.decode(v.framed.subarray(readLen(v.framed))).narrative : undefined;
        if (n) dels.push(key(P.narrative, n.id, ZERO, u32be(n.revision)));
        vbytes -= v.framed.length;
        verdicts++;
        if (dels.length > 20_000) break;
      }
    }
    if (dels.length === 0 && ranges.length === 0) return { blocks: 0, verdicts: 0 };
    await this.request({ sync: false, puts: [], dels, deleteRanges: ranges });
    if (deletedBlocks > 0) {
      this.blocks.dropOldest(upTo);
      this.firstOffset = newFirst;
      this.stats.logBytes = bytes;
      // Subject index entries of deleted blocks: per entity (keys sort by entity, then offset), a
      // range delete below the new first offset; entities are visited by seeking past each one.
      const ranges2: Uint8Array[] = [];
      let from = key(P.subject);
      for (;;) {
        const next = await this.scan(from, key(P.subject + 1), { limit: 1, values: false });
        if (next.length === 0) break;
        const k = next[0]![0];
        const entityEnd = k.length - 9; // <entity> 0x00 <u64>
        const prefix = k.subarray(0, entityEnd + 1); // S <entity> 0x00
        ranges2.push(Buffer.from(prefix), Buffer.concat([prefix, u64be(newFirst)]));
        from = Buffer.concat([k.subarray(0, entityEnd), Buffer.of(1)]);
      }
      for (let i = 0; i < ranges2.length; i += 2000) await this.request({ sync: false, puts: [], dels: [], deleteRanges: ranges2.slice(i, i + 2000) });
    }
    this.stats.blocksDeleted += deletedBlocks;
    this.stats.verdictsDeleted += verdicts;
    this.stats.verdictBytes = vbytes;
    return { blocks: deletedBlocks, verdicts };
  }

  /** Closes the writer and the database (waits for writes in progress). */
  async close(): Promise<void> {
    await this.queue;
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
    const db = this.db;
    this.db = undefined;
    if (db) await db.close();
  }

  /** Closes and reopens the database (after a write error such as a full disk, RocksDB accepts no writes until reopened). */
  async reopen(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    for (const p of this.pending.values()) p.reject(new Error('journal reopened'));
    this.pending.clear();
    if (w) await w.terminate();
    const db = this.db;
    this.db = undefined;
    if (db) await db.close().catch(() => {});
    const fresh = new RocksLevel(this.path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await fresh.open({ createIfMissing: false, infoLogLevel: null, walCompression: this.options.walCompression ?? false });
    this.db = fresh;
    this.queue = Promise.resolve();
    this.startWorker();
  }

  get isOpen(): boolean {
    return this.db !== undefined;
  }
}

/** Blocks kept, in offset order, as columns of typed arrays (24 bytes a block; a week of blocks stays small). */
class BlockTable {
  private firsts = new Float64Array(1024);
  private times = new BigInt64Array(1024);
  private sizes = new Uint32Array(1024);
  private head = 0;
  private tail = 0;

  get length(): number {
    return this.tail - this.head;
  }

  first(i: number): bigint {
    return BigInt(this.firsts[this.head + i]!);
  }

  time(i: number): bigint {
    return this.times[this.head + i]!;
  }

  bytes(i: number): number {
    return this.sizes[this.head + i]!;
  }

  /** Adds a block, keeping offset order (a group written again after an error may come late). */
  insert(first: bigint, time: bigint, bytes: number): void {
    if (this.tail === this.firsts.length) this.grow();
    const f = Number(first);
    let i = this.tail;
    while (i > this.head && this.firsts[i - 1]! > f) {
      this.firsts[i] = this.firsts[i - 1]!;
      this.times[i] = this.times[i - 1]!;
      this.sizes[i] = this.sizes[i - 1]!;
      i--;
    }
    this.firsts[i] = f;
    this.times[i] = time;
    this.sizes[i] = bytes;
    this.tail++;
  }

  dropOldest(n: number): void {
    this.head += n;
  }

  private grow(): void {
    const n = this.length;
    const size = Math.max(1024, n * 2);
    const firsts = new Float64Array(size);
    const times = new BigInt64Array(size);
    const sizes = new Uint32Array(size);
    firsts.set(this.firsts.subarray(this.head, this.tail));
    times.set(this.times.subarray(this.head, this.tail));
    sizes.set(this.sizes.subarray(this.head, this.tail));
    this.firsts = firsts;
    this.times = times;
    this.sizes = sizes;
    this.head = 0;
    this.tail = n;
  }
}

/** Length of the frame header (0x0a + varint) of a framed event. */
function readLen(f: Buffer): number {
  let pos = 1;
  while (f[pos]! >= 0x80) pos++;
  return pos + 1;
}
