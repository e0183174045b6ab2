// Reading the broker's timestamp of the record at an offset: one Fetch request per leader broker
// for many partitions at once, each at its own offset with a small byte budget, answered at once
// (max wait 0, min bytes 0, read-uncommitted). Only the first record at or after each offset is
// looked at, straight from the bytes (no record is decompressed or decoded beyond its timestamp):
//
// - a record batch (magic 2, Kafka >= 0.11): its header carries the first and the max timestamp;
//   uncompressed records are walked to the one wanted (exact); with LogAppendTime every record has
//   the batch's max timestamp (exact); gzip is inflated when the batch came whole; other codecs
//   (snappy, lz4, zstd) and a batch cut short by the byte budget are estimated between the last
//   record read (or the batch's first timestamp) and the batch's max timestamp, by offset — off by
//   at most the batch's own time span (a producer's linger), flagged inexact;
// - control batches (transaction markers) are skipped: the oldest unconsumed record is the next
//   real one;
// - legacy message sets: magic 1 messages carry a timestamp (a compressed wrapper's is its
//   newest, inexact); magic 0 has none (unsupported).
// A Java broker returns, for the first partition of a response, the whole first batch even when it
// is larger than the budget; for the others it cuts the bytes at the budget, which is why a partial
// batch is still read here. Pure functions below; the kafkajs plumbing is in kafkajs-client.ts.
import { gunzipSync } from 'node:zlib';
import type { KafkaFailureReason } from './client.js';

/** Bytes asked per partition: a batch header (61 bytes) and, usually, the records around the offset. */
export const PARTITION_MAX_BYTES = 16 * 1024;

export interface RecordRead {
  topic: string;
  partition: number;
  /** Usually a group's committed offset: the next record it will consume. */
  offset: number;
}

export type RecordReadOutcome =
  /** The first record at or after the offset: its offset and the broker's timestamp of it (ms). */
  | { kind: 'ok'; recordOffset: number; timestampMs: number; exact: boolean }
  /** No record at or after the offset (the log end is there: caught up since). */
  | { kind: 'none' }
  /** The offset is below the log start: its records were deleted. */
  | { kind: 'deleted'; logStart: number | undefined }
  /** Not read: why, in the adapter's words ('permission' needs Read on the topic). */
  | { kind: 'failed'; reason: KafkaFailureReason; message: string };

export interface RecordTime extends RecordRead {
  outcome: RecordReadOutcome;
  /** The partition's log start in the same answer (Fetch v5+), when given. */
  logStart?: number;
}

/** What one record set says about the first record at or after `offset`. */
export type RecordFind = { kind: 'ok'; recordOffset: number; timestampMs: number; exact: boolean } | { kind: 'none' } | { kind: 'unsupported'; message: string };

class Reader {
  o = 0;
  constructor(readonly b: Buffer) {}
  left(): number {
    return this.b.length - this.o;
  }
  i8(): number {
    const v = this.b.readInt8(this.o);
    this.o += 1;
    return v;
  }
  i16(): number {
    const v = this.b.readInt16BE(this.o);
    this.o += 2;
    return v;
  }
  i32(): number {
    const v = this.b.readInt32BE(this.o);
    this.o += 4;
    return v;
  }
  i64(): number {
    const v = Number(this.b.readBigInt64BE(this.o));
    this.o += 8;
    return v;
  }
  str(): string {
    const n = this.i16();
    const v = this.b.toString('utf8', this.o, this.o + Math.max(0, n));
    this.o += Math.max(0, n);
    return v;
  }
  /** A zigzag varint (records use them for lengths and deltas); up to 64 bits, as a Number. */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.o >= this.b.length) throw new RangeError('varint past the end');
      const byte = this.b[this.o++]!;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
      scale *= 128;
    }
    throw new RangeError('varint too long');
  }
}

const BATCH_HEADER = 61;
const COMPRESSION = 0x07;
const LOG_APPEND_TIME = 0x08;
const CONTROL = 0x20;

/**
 * The first record at or after `offset` in a Fetch answer's record set (possibly cut short), and
 * the broker's timestamp of it. 'none' when the bytes hold no such record.
 */
export function findRecordTime(records: Buffer, offset: number): RecordFind {
  const r = new Reader(records);
  while (r.left() >= 17) {
    const start = r.o;
    const base = r.i64();
    const length = r.i32();
    const end = start + 12 + length;
    const whole = end <= records.length;
    const magic = records.readInt8(start + 16);
    if (magic < 2) return legacy(records, start, offset);
    if (records.length - start < BATCH_HEADER) return { kind: 'none' };
    r.o = start + 21;
    const attributes = r.i16();
    const lastOffset = base + r.i32();
    const firstTs = r.i64();
    const maxTs = r.i64();
    r.o = start + 57;
    const count = r.i32();
    if ((attributes & CONTROL) !== 0 || lastOffset < offset) {
      if (!whole) return { kind: 'none' };
      r.o = end;
      continue;
    }
    const at = Math.max(base, offset);
    if ((attributes & LOG_APPEND_TIME) !== 0) return { kind: 'ok', recordOffset: at, timestampMs: maxTs, exact: true };
    const codec = attributes & COMPRESSION;
    let body: Buffer | undefined;
    if (codec === 0) body = records.subarray(start + BATCH_HEADER, Math.min(end, records.length));
    else if (codec === 1 && whole) {
      try {
        body = gunzipSync(records.subarray(start + BATCH_HEADER, end));
      } catch {
        body = undefined;
      }
    }
    // The records' own timestamps, up to the one wanted (or as far as the bytes go).
    let knownOffset = base;
    let knownTs = firstTs;
    if (body) {
      const rr = new Reader(body);
      try {
        for (let i = 0; i < count; i++) {
          const len = rr.varint();
          const next = rr.o + len;
          if (next > body.length) break;
          rr.i8(); // attributes
          const tsDelta = rr.varint();
          const recordOffset = base + rr.varint();
          if (recordOffset >= offset) return { kind: 'ok', recordOffset, timestampMs: firstTs + tsDelta, exact: true };
          knownOffset = recordOffset;
          knownTs = firstTs + tsDelta;
          rr.o = next;
        }
      } catch {
        // A record cut short: estimate from what was read.
      }
    }
    if (at === base && knownOffset === base && knownTs === firstTs) return { kind: 'ok', recordOffset: at, timestampMs: firstTs, exact: codec === 0 || body !== undefined };
    // Between the last record read and the batch's newest, by offset.
    const span = lastOffset - knownOffset;
    const ts = span > 0 ? knownTs + ((at - knownOffset) / span) * (maxTs - knownTs) : maxTs;
    return { kind: 'ok', recordOffset: at, timestampMs: Math.round(Math.min(Math.max(ts, Math.min(knownTs, maxTs)), Math.max(knownTs, maxTs))), exact: false };
  }
  return { kind: 'none' };
}

/** Magic 0/1 message sets: offset, size, crc, magic, attributes, [timestamp (magic 1)], key, value. */
function legacy(records: Buffer, from: number, offset: number): RecordFind {
  let o = from;
  while (records.length - o >= 26) {
    const at = Number(records.readBigInt64BE(o));
    const size = records.readInt32BE(o + 8);
    const magic = records.readInt8(o + 16);
    const attributes = records.readInt8(o + 17);
    if (at >= offset) {
      if (magic === 0) return { kind: 'unsupported', message: 'the topic holds message format v0, which has no timestamps' };
      if (records.length - o < 26) return { kind: 'none' };
      const ts = Number(records.readBigInt64BE(o + 18));
      const compressed = (attributes & COMPRESSION) !== 0;
      // A compressed wrapper's offset is its last inner record's, its timestamp the newest.
      return { kind: 'ok', recordOffset: compressed ? offset : at, timestampMs: ts, exact: !compressed || (attributes & LOG_APPEND_TIME) !== 0 };
    }
    o += 12 + size;
  }
  return { kind: 'none' };
}

/**
 * A Fetch request body, version 4 or 5 (every broker since 0.11 and 1.0; Kafka 4 still serves
 * both): one entry per partition, at most one per partition (callers split repeats).
 */
export function encodeFetch(version: 4 | 5, reads: readonly RecordRead[], partitionMaxBytes = PARTITION_MAX_BYTES): Buffer {
  const byTopic = new Map<string, RecordRead[]>();
  for (const x of reads) {
    let l = byTopic.get(x.topic);
    if (!l) byTopic.set(x.topic, (l = []));
    l.push(x);
  }
  const parts: Buffer[] = [];
  const head = Buffer.alloc(4 + 4 + 4 + 4 + 1 + 4);
  let o = head.writeInt32BE(-1, 0); // replica_id: a consumer
  o = head.writeInt32BE(0, o); // max_wait_ms: answer now
  o = head.writeInt32BE(0, o); // min_bytes: even with nothing
  o = head.writeInt32BE(Math.min(0x7fffffff, Math.max(1, reads.length) * partitionMaxBytes), o); // max_bytes
  o = head.writeInt8(0, o); // isolation_level: read uncommitted (any offset up to the high watermark)
  head.writeInt32BE(byTopic.size, o);
  parts.push(head);
  for (const [topic, ps] of byTopic) {
    const name = Buffer.from(topic, 'utf8');
    const t = Buffer.alloc(2 + name.length + 4);
    t.writeInt16BE(name.length, 0);
    name.copy(t, 2);
    t.writeInt32BE(ps.length, 2 + name.length);
    parts.push(t);
    for (const p of ps) {
      const e = Buffer.alloc(4 + 8 + (version >= 5 ? 8 : 0) + 4);
      let q = e.writeInt32BE(p.partition, 0);
      q = e.writeBigInt64BE(BigInt(p.offset), q);
      if (version >= 5) q = e.writeBigInt64BE(-1n, q); // log_start_offset: only followers send it
      e.writeInt32BE(partitionMaxBytes, q);
      parts.push(e);
    }
  }
  return Buffer.concat(parts);
}

export interface FetchedPartition {
  topic: string;
  partition: number;
  errorCode: number;
  highWatermark: number;
  logStart: number | undefined;
  records: Buffer | undefined;
}

/** A Fetch response body, version 4 or 5 (after the correlation id). */
export function decodeFetch(version: 4 | 5, body: Buffer): FetchedPartition[] {
  const r = new Reader(body);
  r.i32(); // throttle_time_ms
  const out: FetchedPartition[] = [];
  for (let nt = r.i32(); nt > 0; nt--) {
    const topic = r.str();
    for (let np = r.i32(); np > 0; np--) {
      const partition = r.i32();
      const errorCode = r.i16();
      const highWatermark = r.i64();
      r.i64(); // last_stable_offset
      const logStart = version >= 5 ? r.i64() : -1;
      const aborted = r.i32();
      if (aborted > 0) r.o += aborted * 16;
      const size = r.i32();
      let records: Buffer | undefined;
      if (size > 0) {
        records = body.subarray(r.o, Math.min(body.length, r.o + size));
        r.o += size;
      }
      out.push({ topic, partition, errorCode, highWatermark, logStart: logStart >= 0 ? logStart : undefined, records });
    }
  }
  return out;
}

/** Kafka error codes a Fetch partition may carry, and what they mean here. */
export const FETCH_ERRORS: Record<number, { name: string; reason: 'permission' | 'not-found' | 'protocol'; stale?: boolean }> = {
  3: { name: 'UNKNOWN_TOPIC_OR_PARTITION', reason: 'not-found', stale: true },
  5: { name: 'LEADER_NOT_AVAILABLE', reason: 'protocol', stale: true },
  6: { name: 'NOT_LEADER_OR_FOLLOWER', reason: 'protocol', stale: true },
  29: { name: 'TOPIC_AUTHORIZATION_FAILED', reason: 'permission' },
  74: { name: 'FENCED_LEADER_EPOCH', reason: 'protocol', stale: true },
  75: { name: 'UNKNOWN_LEADER_EPOCH', reason: 'protocol', stale: true },
};

/** What one partition of a Fetch answer says about the record at `offset`. */
export function outcomeOf(p: FetchedPartition, offset: number): { outcome: RecordReadOutcome; stale: boolean } {
  if (p.errorCode === 1) {
    // OFFSET_OUT_OF_RANGE: below the log start (deleted), or past the log end (a log truncated under it).
    const below = p.logStart !== undefined ? offset < p.logStart : offset < p.highWatermark;
    return { outcome: below ? { kind: 'deleted', logStart: p.logStart } : { kind: 'none' }, stale: false };
  }
  if (p.errorCode !== 0) {
    const e = FETCH_ERRORS[p.errorCode];
    const message = e?.reason === 'permission' ? `not allowed (${e.name}): reading record timestamps needs Read on topic ${p.topic}` : `partition ${p.topic}/${p.partition}: ${e?.name ?? `error code ${p.errorCode}`}`;
    return { outcome: { kind: 'failed', reason: e?.reason ?? 'protocol', message }, stale: e?.stale ?? false };
  }
  if (!p.records) return { outcome: { kind: 'none' }, stale: false };
  const found = findRecordTime(p.records, offset);
  if (found.kind === 'unsupported') return { outcome: { kind: 'failed', reason: 'unsupported', message: `${p.topic}/${p.partition}: ${found.message}` }, stale: false };
  return { outcome: found, stale: false };
}

/** Splits reads into waves with at most one offset per partition each (a Fetch names a partition once). */
export function waves(reads: readonly RecordRead[]): RecordRead[][] {
  const out: RecordRead[][] = [];
  const depth = new Map<string, number>();
  for (const x of reads) {
    const k = `${x.topic}\u0000${x.partition}`;
    const d = depth.get(k) ?? 0;
    depth.set(k, d + 1);
    (out[d] ??= []).push(x);
  }
  return out;
}
