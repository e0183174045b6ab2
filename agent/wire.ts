// The agent's encoder of SignalBatch, for the stream to the aggregator: the same bytes as the
// generated SignalBatch.encode (test/unit-agent-wire.test.ts compares them), written into one
// reused buffer. The generated encoder gives every string a Uint8Array of its own, every
// sub-message and map entry a fork of the writer and every map an Object.entries array: at
// 20,000 signals/s that garbage was a good part of the agent's young-generation collections.
import type { Signal } from '../proto/index.js';

const MAX_U64 = (1n << 64n) - 1n;
const MIN_I64 = -(1n << 63n);
const MAX_I64 = (1n << 63n) - 1n;

/** Bytes written so far are kept when the buffer grows; it shrinks back after an outsized batch. */
const INITIAL = 64 * 1024;
let buf = Buffer.allocUnsafe(INITIAL);
let pos = 0;
/** 64-bit halves of a bigint without bigint arithmetic (which allocates). */
const halves = new DataView(new ArrayBuffer(8));

function room(n: number): void {
  if (pos + n <= buf.length) return;
  const next = Buffer.allocUnsafe(Math.max(buf.length * 2, pos + n));
  buf.copy(next, 0, 0, pos);
  buf = next;
}

function varint32(v: number): void {
  // v is an unsigned 32-bit value here.
  while (v > 127) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
}

function varint64(lo: number, hi: number): void {
  while (hi > 0 || lo > 127) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[pos++] = lo;
}

function varintSize(v: number): number {
  let n = 1;
  while (v > 127) {
    v >>>= 7;
    n++;
  }
  return n;
}

function uint64(v: bigint, field: string): void {
  if (v < 0n || v > MAX_U64) throw new Error(`value provided for field message.${field} of type uint64 too large`);
  halves.setBigUint64(0, v, true);
  varint64(halves.getUint32(0, true), halves.getUint32(4, true));
}

function int64(v: bigint, field: string): void {
  if (v < MIN_I64 || v > MAX_I64) throw new Error(`value provided for field message.${field} of type int64 too large`);
  // Negative: its 64-bit two's complement, ten bytes.
  halves.setBigInt64(0, v, true);
  varint64(halves.getUint32(0, true), halves.getUint32(4, true));
}

/** An enum (int32) as protobuf writes it: negative ones sign-extended to ten bytes. */
function int32(v: number): void {
  if (!Number.isInteger(v) || v > 0x7fffffff || v < -0x80000000) throw new Error(`invalid int32: ${v}`);
  if (v >= 0) varint32(v);
  else varint64(v >>> 0, 0xffffffff);
}

/** A length-delimited string (tag already written). */
function string(s: string): void {
  const n = s.length;
  // At most 3 bytes per UTF-16 unit: a one-byte length prefix is enough below 43 units.
  if (n < 43) {
    room(1 + 3 * n);
    const at = pos++;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        ascii = false;
        break;
      }
      buf[pos + i] = c;
    }
    const len = ascii ? n : buf.write(s, pos, 'utf8');
    pos += len;
    buf[at] = len;
    return;
  }
  const len = Buffer.byteLength(s, 'utf8');
  room(5 + len);
  varint32(len);
  pos += buf.write(s, pos, len, 'utf8');
}

/** A sign's message: its enum (field 1) and an enum or a double (field 2), each left out when 0. */
function sign(tag: number, first: number, second: number, double: boolean): void {
  room(32);
  varint32(tag);
  const lengthAt = pos++;
  const start = pos;
  if (first !== 0) {
    buf[pos++] = 8;
    int32(first);
  }
  if (second !== 0) {
    if (double) {
      buf[pos++] = 17;
      buf.writeDoubleLE(second, pos);
      pos += 8;
    } else {
      buf[pos++] = 16;
      int32(second);
    }
  }
  buf[lengthAt] = pos - start; // at most 22 bytes: one byte of length
}

/**
 * A message whose length is known only once it is written: `open` leaves room for the longest
 * length, `close` writes the length and moves the body up to it.
 */
function open(tag: number): number {
  room(10);
  varint32(tag);
  pos += 5;
  return pos;
}

function close(start: number): void {
  const len = pos - start;
  const lengthAt = start - 5;
  const size = varintSize(len);
  if (size < 5) buf.copyWithin(lengthAt + size, start, pos);
  pos = lengthAt;
  varint32(len);
  pos += len;
}

/** A string field (`tag` is its key byte), left out when empty as proto3 leaves it. */
function stringField(tag: number, value: string): void {
  if (value === '') return;
  room(1);
  buf[pos++] = tag;
  string(value);
}

function signal(s: Signal): void {
  room(32);
  stringField(10, s.sourceId);
  if (s.seq !== 0n) {
    room(11);
    buf[pos++] = 16;
    uint64(s.seq, 'seq');
  }
  stringField(26, s.subject);
  if (s.timestamp !== 0n) {
    room(11);
    buf[pos++] = 32;
    int64(s.timestamp, 'timestamp');
  }
  if (s.status !== undefined) sign(82, s.status.condition, s.status.confidence, false);
  if (s.queue !== undefined) sign(90, s.queue.sign, s.queue.units, true);
  if (s.service !== undefined) sign(98, s.service.sign, s.service.orientation, false);
  if (s.probe !== undefined) sign(106, s.probe.sign, s.probe.orientation, false);
  if (s.resource !== undefined) sign(114, s.resource.sign, s.resource.units, true);
  if (s.gauge !== undefined) sign(122, s.gauge.sign, s.gauge.value, true);
  if (s.counter !== undefined) sign(130, s.counter.sign, s.counter.value, true);
  const context = s.context;
  for (const key in context) {
    const value = context[key]!;
    const start = open(162);
    stringField(10, key);
    stringField(18, value);
    close(start);
  }
  const clock = s.clock;
  for (const key in clock) {
    const value = clock[key]!;
    const start = open(170);
    stringField(10, key);
    if (value !== 0n) {
      room(11);
      buf[pos++] = 16;
      uint64(value, 'value');
    }
    close(start);
  }
}

/** SignalBatch { signals } encoded, as SignalBatch.encode({ signals }).finish() would. */
export function encodeSignalBatch(batch: { signals: readonly Signal[] }): Uint8Array {
  pos = 0;
  try {
    for (const s of batch.signals) {
      const start = open(10);
      signal(s);
      close(start);
    }
    // A copy: the buffer is reused by the next batch while this one may wait to be written.
    return Uint8Array.prototype.slice.call(buf, 0, pos);
  } finally {
    if (buf.length > 4 * INITIAL && pos < INITIAL) buf = Buffer.allocUnsafe(INITIAL);
    pos = 0;
  }
}
