// Bytes of the event log, shared by the live ring, the journal on disk and the wire.
//
// An event is stored once, encoded as protobuf, in its *framed* form: the bytes of field 1 of an
// EventBatch (tag 0x0a, length, Event). A run of framed events is therefore itself a valid
// EventBatch, so a block read from the journal or the ring goes to a SubscribeBatches client as
// it is, and one event's inner bytes go to a Subscribe client as they are.
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { Event, EventKind, Signal, type Narrative } from '../../proto/index.js';

/** Payload field number (Event.signal = 10 ... Event.action = 16) to EventKind. */
export const kindOfField = (field: number): EventKind => (field >= 10 && field <= 16 ? ((field - 9) as EventKind) : EventKind.EVENT_KIND_UNSPECIFIED);

/** A growable byte buffer for building blocks of framed events. */
export class ByteWriter {
  buf: Buffer;
  pos = 0;

  constructor(initial = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** A varint of a non-negative number below 2^53. */
  varint(v: number): void {
    this.ensure(10);
    const buf = this.buf;
    let x = v;
    while (x >= 0x80) {
      buf[this.pos++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    buf[this.pos++] = x;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** The bytes written so far (a copy, so the writer can be reused). */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    return out;
  }
}

/** Varint bytes of an unsigned 64-bit value (int64 times are positive here). */
export function varint64(v: bigint): Uint8Array {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return Uint8Array.from(out);
}

function varintLength(v: number): number {
  let n = 1;
  let x = v;
  while (x >= 0x80) {
    x = Math.floor(x / 0x80);
    n++;
  }
  return n;
}

/**
 * Appends one framed signal event: offset, time (given as its varint bytes), and the signal's
 * own encoding (the bytes the agent sent, when known). Returns nothing: the caller knows where it starts.
 */
export function writeSignalEvent(w: ByteWriter, offset: number, timeVarint: Uint8Array, signalBytes: Uint8Array): void {
  writeSignalEventSpan(w, offset, timeVarint, signalBytes, 0, signalBytes.length);
}

/** Appends one framed signal event whose encoding is frame[start, end) (copied without a view). */
export function writeSignalEventSpan(w: ByteWriter, offset: number, timeVarint: Uint8Array, frame: Uint8Array, start: number, end: number): void {
  const len = end - start;
  const inner = 1 + varintLength(offset) + 1 + timeVarint.length + 1 + varintLength(len) + len;
  w.byte(0x0a);
  w.varint(inner);
  w.byte(0x08);
  w.varint(offset);
  w.byte(0x10);
  w.bytes(timeVarint);
  w.byte(0x52);
  w.varint(len);
  w.ensure(len);
  if (Buffer.isBuffer(frame)) frame.copy(w.buf, w.pos, start, end);
  else w.buf.set(frame.subarray(start, end), w.pos);
  w.pos += len;
}

/** One writer for every event encoded here: its buffer is kept, not grown again for each event. */
let eventWriter = new BinaryWriter();

/** Appends one framed event of any kind, encoded by ts-proto. */
export function writeEvent(w: ByteWriter, e: Event): void {
  let inner: Uint8Array;
  try {
    inner = Event.encode(e, eventWriter).finish();
  } catch (err) {
    eventWriter = new BinaryWriter(); // left mid-message: start clean
    throw err;
  }
  w.byte(0x0a);
  w.varint(inner.length);
  w.bytes(inner);
}

export const encodeSignal = (s: Signal): Uint8Array => Signal.encode(s).finish();

/** Reads a varint at `pos`; returns [value, next position]. Values up to 2^53 are exact. */
export function readVarint(b: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (;;) {
    const byte = b[pos++];
    if (byte === undefined) throw new RangeError('truncated varint');
    result += (byte & 0x7f) * mul;
    if (byte < 0x80) return [result, pos];
    mul *= 0x80;
    if (mul > 2 ** 63) throw new RangeError('varint too long');
  }
}

/** Where the events of a run of framed events start: positions of each frame, and its end. */
export interface EventIndex {
  /** starts[i] is where event i's frame begins; starts[count] is the end. */
  starts: number[];
  offsets: bigint[];
  times: bigint[];
  kinds: EventKind[];
  subjects: string[];
}

const textDecoder = new TextDecoder();

/** Position after the last varint read by `vint` (module state: no tuple per varint on the hot path). */
let at = 0;

/** Reads a varint at `pos` (values up to 2^53 exact); the position after it is left in `at`. */
function vint(b: Uint8Array, pos: number): number {
  let byte = b[pos++]!;
  if (byte < 0x80) {
    at = pos;
    return byte;
  }
  let result = byte & 0x7f;
  let mul = 0x80;
  for (;;) {
    byte = b[pos++]!;
    if (byte === undefined) throw new RangeError('truncated varint');
    result += (byte & 0x7f) * mul;
    if (byte < 0x80) {
      at = pos;
      return result;
    }
    mul *= 0x80;
    if (mul > 2 ** 63) throw new RangeError('varint too long');
  }
}

/** A varint as a 64-bit bigint (times and offsets past 2^53). */
function vint64(b: Uint8Array, pos: number): bigint {
  let lo = 0;
  let shift = 0;
  let p = pos;
  // The low 28 bits as a number, the rest as a bigint only when present.
  for (let i = 0; i < 4; i++) {
    const byte = b[p++]!;
    if (byte === undefined) throw new RangeError('truncated varint');
    lo |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      at = p;
      return BigInt(lo >>> 0);
    }
    shift += 7;
  }
  let hi = 0n;
  let hshift = 0n;
  for (;;) {
    const byte = b[p++];
    if (byte === undefined) throw new RangeError('truncated varint');
    hi |= BigInt(byte & 0x7f) << hshift;
    if (byte < 0x80) break;
    hshift += 7n;
    if (hshift > 42n) throw new RangeError('varint too long');
  }
  at = p;
  return BigInt.asIntN(64, (hi << 28n) | BigInt(lo >>> 0));
}

const utf8 = (b: Uint8Array, start: number, end: number): string => (Buffer.isBuffer(b) ? b.toString('utf8', start, end) : textDecoder.decode(b.subarray(start, end)));

/** Field `want` (a string) of the message in b[start, end), or ''. */
function stringField(b: Uint8Array, start: number, end: number, want: number): string {
  let pos = start;
  while (pos < end) {
    const tag = vint(b, pos);
    pos = at;
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 2) {
      const len = vint(b, pos);
      pos = at;
      if (field === want) return utf8(b, pos, pos + len);
      pos += len;
    } else if (wire === 0) {
      vint(b, pos);
      pos = at;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new RangeError(`unexpected wire type ${wire}`);
  }
  return '';
}

/** The subject-carrying field of each payload (signal.subject, cell_change.path, ...). */
const SUBJECT_FIELD: Record<number, number> = { 10: 3, 11: 1, 13: 3, 14: 1, 15: 6, 16: 4 };

/** Offset, time, kind and subject of each framed event in `b`, without decoding them. */
export function indexEvents(b: Uint8Array): EventIndex {
  const idx: EventIndex = { starts: [], offsets: [], times: [], kinds: [], subjects: [] };
  let pos = 0;
  const n = b.length;
  while (pos < n) {
    idx.starts.push(pos);
    if (b[pos] !== 0x0a) throw new RangeError(`not a framed event at byte ${pos}`);
    const len = vint(b, pos + 1);
    pos = at;
    const end = pos + len;
    if (end > n) throw new RangeError('truncated event');
    let offset = 0n;
    let time = 0n;
    let kind = EventKind.EVENT_KIND_UNSPECIFIED;
    let subject = '';
    let p = pos;
    while (p < end) {
      const tag = vint(b, p);
      p = at;
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === 1 && wire === 0) {
        offset = BigInt(vint(b, p));
        p = at;
      } else if (field === 2 && wire === 0) {
        time = vint64(b, p);
        p = at;
      } else if (wire === 2) {
        const l = vint(b, p);
        p = at;
        const k = kindOfField(field);
        if (k !== EventKind.EVENT_KIND_UNSPECIFIED) {
          kind = k;
          const sf = SUBJECT_FIELD[field];
          if (sf !== undefined) subject = stringField(b, p, p + l, sf);
        }
        p += l;
      } else if (wire === 0) {
        vint(b, p);
        p = at;
      } else if (wire === 1) p += 8;
      else if (wire === 5) p += 4;
      else throw new RangeError(`unexpected wire type ${wire}`);
    }
    idx.offsets.push(offset);
    idx.times.push(time);
    idx.kinds.push(kind);
    idx.subjects.push(subject);
    pos = end;
  }
  idx.starts.push(pos);
  return idx;
}

/** The inner bytes (an Event) of the framed event at b[start, end). */
export function innerOf(b: Uint8Array, start: number): Uint8Array {
  const [len, pos] = readVarint(b, start + 1);
  return b.subarray(pos, pos + len);
}

export function decodeFramed(b: Uint8Array, start: number): Event {
  return Event.decode(innerOf(b, start));
}

/** A framed event's narrative, for filters that look into a causal chain. */
export function narrativeOf(b: Uint8Array, start: number): Narrative | undefined {
  return decodeFramed(b, start).narrative;
}

// ---------------------------------------------------------------------------------------------
// Keys: one byte of prefix, then big-endian numbers so that keys sort as the numbers do.

export const u64be = (v: bigint): Buffer => {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, v));
  return b;
};
